/* SPDX-License-Identifier: MIT */
/*
 * Description: ring_strerror() and ring_version(). Positive space: every
 * code errors.h (and the other public headers) documents gets its own
 * non-empty, libring-specific description; a positive code means the same
 * as its negation; 0 is success; the version matches the header macros.
 * Negative space: unknown and absurd values (INT_MIN, 4096 and beyond)
 * still give a non-NULL string, never a crash.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"

/* Every code a public header names, with its libring meaning. */
static const int documented[] = {
	-EAGAIN,  -ETIMEDOUT, -EMSGSIZE, -EINVAL,     -ENOENT,  -EEXIST,
	-EPROTO,  -EBADMSG,   -EOVERFLOW, -ENOSPC,    -EBUSY,   -ERANGE,
	-ENOTDIR, -EOPNOTSUPP, -ENOMEM,
};
#define N_DOCUMENTED (sizeof(documented) / sizeof(documented[0]))

struct fixture {
	const char *text[N_DOCUMENTED];
};

static int setup_texts(void **state)
{
	static struct fixture f;

	for (size_t i = 0; i < N_DOCUMENTED; i++)
		f.text[i] = ring_strerror(documented[i]);
	*state = &f;
	return 0;
}

static void test_strerror_every_documented_code_has_its_own_text(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < N_DOCUMENTED; i++) {
		assert_non_null(f->text[i]);
		assert_true(strlen(f->text[i]) > 3);
		assert_string_not_equal(f->text[i], "unknown error");
		for (size_t j = 0; j < i; j++)
			if (!strcmp(f->text[i], f->text[j]))
				fail_msg("%d and %d share the text \"%s\"", documented[i],
					 documented[j], f->text[i]);
	}
}

static void test_strerror_libring_codes_say_what_they_mean_here(void **state)
{
	(void)state;
	/* The generic libc texts ("Protocol error", "Value too large for
	 * defined data type") would mislead: these have ring meanings. */
	assert_non_null(strstr(ring_strerror(-EPROTO), "layout"));
	assert_non_null(strstr(ring_strerror(-EOVERFLOW), "overtaken"));
	assert_non_null(strstr(ring_strerror(-EMSGSIZE), "max_record"));
	assert_non_null(strstr(ring_strerror(-ETIMEDOUT), "claim"));
}

static void test_strerror_positive_code_means_its_negation(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < N_DOCUMENTED; i++)
		assert_string_equal(ring_strerror(-documented[i]), f->text[i]);
}

static void test_strerror_zero_is_success(void **state)
{
	(void)state;
	assert_string_equal(ring_strerror(0), "success");
}

static void test_strerror_unknown_codes_never_crash(void **state)
{
	static const int odd[] = { INT_MIN, INT_MIN + 1, INT_MAX, -4095, -4096, -5000, 4096,
				   -EHWPOISON, -1000 };

	(void)state;
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		const char *s = ring_strerror(odd[i]);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
}

static void test_version_matches_header(void **state)
{
	(void)state;
	assert_int_equal(ring_version(), (RING_VERSION_MAJOR << 16) |
						 (RING_VERSION_MINOR << 8) | RING_VERSION_PATCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_every_documented_code_has_its_own_text),
		cmocka_unit_test(test_strerror_libring_codes_say_what_they_mean_here),
		cmocka_unit_test(test_strerror_positive_code_means_its_negation),
		cmocka_unit_test(test_strerror_zero_is_success),
		cmocka_unit_test(test_strerror_unknown_codes_never_crash),
		cmocka_unit_test(test_version_matches_header),
	};

	return cmocka_run_group_tests_name("strerror", tests, setup_texts, NULL);
}
