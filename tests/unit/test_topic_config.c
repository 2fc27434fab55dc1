/* SPDX-License-Identifier: MIT */
/*
 * Description: validation of a new topic's settings and name, on anonymous
 * (and, for names, named ephemeral) topics in one process.
 * Positive space: a minimal valid config creates a topic whose stat shows
 * the documented defaults; the largest max_record_bytes and the longest
 * name are accepted. Negative space: a capacity that is not a power of two,
 * not a page multiple, too small or too large; a max_record_bytes over
 * capacity / 4 - header; unknown flags; a reserved field set; names "",
 * ".", "..", "a/b", 101 characters, a leading '.', characters outside
 * [A-Za-z0-9._-]: every one is -EINVAL, creates nothing, and leaves the
 * ret_ parameter untouched.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"

#define CAP (UINT64_C(64) << 10)

struct fixture {
	struct ring_topic_config cfg;	/* a valid anonymous config to spoil */
	struct ring_topic *sentinel;	/* what ret_ must still hold on failure */
	struct ring_topic *topic;
};

static int setup_config(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.cfg.capacity_bytes = CAP;
	f.cfg.flags = RING_TOPIC_ANON;
	f.sentinel = (struct ring_topic *)&f;
	f.topic = f.sentinel;
	*state = &f;
	return 0;
}

static int teardown_config(void **state)
{
	struct fixture *f = *state;

	if (f->topic != f->sentinel)
		f->topic = ring_topic_close(f->topic);
	return 0;
}

/* Create must fail with -EINVAL and leave the out-parameter alone. */
static void expect_einval(struct fixture *f, const char *name, const struct ring_topic_config *c)
{
	f->topic = f->sentinel;
	assert_rc(ring_topic_create(NULL, name, c, &f->topic), -EINVAL);
	assert_ptr_equal(f->topic, f->sentinel);
}

static void test_create_minimal_anon_config_uses_defaults(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;

	assert_rc(ring_topic_create(NULL, NULL, &f->cfg, &f->topic), 0);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_int_equal(st.capacity_bytes, CAP);
	assert_int_equal(st.max_record_bytes, CAP / 4 - RING_RECORD_HEADER_BYTES);
	assert_int_equal(st.claim_timeout_ns, RING_DEFAULT_CLAIM_TIMEOUT_NS);
	assert_true(st.flags & RING_TOPIC_ANON);
	assert_true(st.flags & RING_TOPIC_EPHEMERAL);	/* implied by ANON */
	assert_int_equal(st.numa_node, -1);
	assert_int_equal(st.tail_pos, 0);
}

static void test_create_default_capacity_is_4mib(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;

	f->cfg.capacity_bytes = 0;
	assert_rc(ring_topic_create(NULL, NULL, &f->cfg, &f->topic), 0);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_int_equal(st.capacity_bytes, RING_DEFAULT_CAPACITY_BYTES);
}

static void test_create_capacity_not_power_of_two_is_einval(void **state)
{
	struct fixture *f = *state;
	static const uint64_t bad[] = { 3 * CAP, 5 * CAP, CAP * 2 + 4096 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f->cfg.capacity_bytes = bad[i];	/* all page multiples */
		expect_einval(f, NULL, &f->cfg);
	}
}

static void test_create_capacity_not_page_multiple_is_einval(void **state)
{
	struct fixture *f = *state;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	const uint64_t bad[] = { CAP + 8, CAP + page / 2, 2 * CAP - 8 };

	/* Every power of two at or above the minimum is a page multiple, so
	 * these also fail the power-of-two rule; both must refuse them. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f->cfg.capacity_bytes = bad[i];
		expect_einval(f, NULL, &f->cfg);
	}
}

static void test_create_capacity_too_small_is_einval(void **state)
{
	struct fixture *f = *state;
	static const uint64_t bad[] = { 8, 1024, 4096, CAP / 2 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f->cfg.capacity_bytes = bad[i];
		expect_einval(f, NULL, &f->cfg);
	}
}

static void test_create_capacity_too_large_is_einval(void **state)
{
	struct fixture *f = *state;

	f->cfg.capacity_bytes = UINT64_C(1) << 40;
	expect_einval(f, NULL, &f->cfg);
	f->cfg.capacity_bytes = UINT64_C(1) << 63;
	expect_einval(f, NULL, &f->cfg);
}

static void test_create_max_record_too_large_is_einval(void **state)
{
	struct fixture *f = *state;

	f->cfg.max_record_bytes = (uint32_t)(CAP / 4 - RING_RECORD_HEADER_BYTES + 1);
	expect_einval(f, NULL, &f->cfg);
	f->cfg.max_record_bytes = (uint32_t)CAP;
	expect_einval(f, NULL, &f->cfg);
	f->cfg.max_record_bytes = UINT32_MAX;
	expect_einval(f, NULL, &f->cfg);
}

static void test_create_max_record_at_limit_succeeds(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;

	f->cfg.max_record_bytes = (uint32_t)(CAP / 4 - RING_RECORD_HEADER_BYTES);
	assert_rc(ring_topic_create(NULL, NULL, &f->cfg, &f->topic), 0);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_int_equal(st.max_record_bytes, CAP / 4 - RING_RECORD_HEADER_BYTES);
}

static void test_create_unknown_flags_is_einval(void **state)
{
	struct fixture *f = *state;
	static const uint32_t bad[] = { 1u << 3, 1u << 15, 1u << 31 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f->cfg.flags = RING_TOPIC_ANON | bad[i];
		expect_einval(f, NULL, &f->cfg);
	}
}

static void test_create_reserved_field_is_einval(void **state)
{
	struct fixture *f = *state;

	f->cfg.reserved0 = 1;
	expect_einval(f, NULL, &f->cfg);
	f->cfg.reserved0 = 0x80000000u;
	expect_einval(f, NULL, &f->cfg);
}

static void test_create_bad_names_are_einval(void **state)
{
	struct fixture *f = *state;
	char long_name[RING_TOPIC_NAME_MAX + 2];
	const char *bad[] = { "", ".", "..", "a/b", "/abs", long_name, ".hidden",
			      "sp ace", "t\ab", "caf\xc3\xa9", "a:b", "a*" };
	struct ring_topic_config named = f->cfg;

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';	/* 101 characters */
	named.flags = RING_TOPIC_EPHEMERAL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* An anonymous topic checks a name it is given ... */
		expect_einval(f, bad[i], &f->cfg);
		/* ... and a named one must never reach shm_open() with it. */
		expect_einval(f, bad[i], &named);
		f->topic = f->sentinel;
		assert_rc(ring_topic_open(NULL, bad[i], &f->topic), -EINVAL);
		assert_ptr_equal(f->topic, f->sentinel);
	}
}

static void test_create_named_topic_without_name_is_einval(void **state)
{
	struct fixture *f = *state;

	f->cfg.flags = RING_TOPIC_EPHEMERAL;
	expect_einval(f, NULL, &f->cfg);
}

static void test_create_longest_name_succeeds(void **state)
{
	struct fixture *f = *state;
	char name[RING_TOPIC_NAME_MAX + 1];
	struct ring_topic_stat st;

	memset(name, 'a', RING_TOPIC_NAME_MAX);
	name[RING_TOPIC_NAME_MAX] = '\0';
	name[1] = '.';
	name[2] = '_';
	name[3] = '-';
	name[4] = 'Z';
	name[5] = '9';
	assert_rc(ring_topic_create(NULL, name, &f->cfg, &f->topic), 0);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_string_equal(st.name, name);
}

static void test_create_null_out_parameter_is_einval(void **state)
{
	struct fixture *f = *state;

	assert_rc(ring_topic_create(NULL, NULL, &f->cfg, NULL), -EINVAL);
	assert_rc(ring_topic_open(NULL, "x", NULL), -EINVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_config, teardown_config)
	const struct CMUnitTest tests[] = {
		T(test_create_minimal_anon_config_uses_defaults),
		T(test_create_default_capacity_is_4mib),
		T(test_create_capacity_not_power_of_two_is_einval),
		T(test_create_capacity_not_page_multiple_is_einval),
		T(test_create_capacity_too_small_is_einval),
		T(test_create_capacity_too_large_is_einval),
		T(test_create_max_record_too_large_is_einval),
		T(test_create_max_record_at_limit_succeeds),
		T(test_create_unknown_flags_is_einval),
		T(test_create_reserved_field_is_einval),
		T(test_create_bad_names_are_einval),
		T(test_create_named_topic_without_name_is_einval),
		T(test_create_longest_name_succeeds),
		T(test_create_null_out_parameter_is_einval),
	};
#undef T

	return cmocka_run_group_tests_name("topic_config", tests, NULL, NULL);
}
