/* SPDX-License-Identifier: MIT */
/*
 * Description: clocks read through the TSC (libring/clock.c,
 * ringi_clock_now()) agree with clock_gettime(): CLOCK_REALTIME, as record
 * timestamps use it, and CLOCK_MONOTONIC, as group members do.
 * Positive space: over some 200 ms of calls, each time lies between the
 * clock_gettime() read just before it and the one just after, give or
 * take 100 us (the interpolation is within a microsecond; the margin is
 * for a loaded or instrumented machine); where the kernel keeps time with
 * the TSC, the clock does calibrate (the fast path is used). Negative
 * space: a disabled clock, or one whose anchor lies in the future (a TSC
 * that went back), still returns the right time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "internal.h"

#define MARGIN_NS UINT64_C(100000)

static uint64_t clock_of(clockid_t id)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(id, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One timestamp, checked against the clock read around it. */
static void check_one(struct ringi_clock *c)
{
	uint64_t before = clock_of(c->id), ts = ringi_clock_now(c), after = clock_of(c->id);

	if (ts + MARGIN_NS < before || ts > after + MARGIN_NS)
		fail_msg("timestamp %llu outside [%llu, %llu] +- %llu ns", (unsigned long long)ts,
			 (unsigned long long)before, (unsigned long long)after,
			 (unsigned long long)MARGIN_NS);
}

static void tracks(clockid_t id)
{
	struct ringi_clock c;
	uint64_t start = clock_of(id);
	unsigned calls = 0;

	ringi_clock_init(&c, id);
	/* Bounded: 200 ms, or 20 million calls. */
	while (clock_of(id) - start < 200000000u && calls < 20000000u) {
		check_one(&c);
		calls++;
	}
	if (c.enabled)
		assert_true(c.mult != 0);	/* calibrated within 200 ms */
	else
		assert_int_equal(c.mult, 0);
}

static void test_clock_tracks_realtime(void **state)
{
	(void)state;
	tracks(CLOCK_REALTIME);
}

static void test_clock_tracks_monotonic(void **state)
{
	(void)state;
	tracks(CLOCK_MONOTONIC);
}

static void test_clock_disabled_falls_back(void **state)
{
	struct ringi_clock c;

	(void)state;
	ringi_clock_init(&c, CLOCK_REALTIME);
	c.enabled = false;
	for (unsigned i = 0; i < 1000; i++)
		check_one(&c);
	assert_int_equal(c.mult, 0);
}

static void test_clock_anchor_in_the_future(void **state)
{
	struct ringi_clock c;

	(void)state;
	ringi_clock_init(&c, CLOCK_REALTIME);
	for (unsigned i = 0; i < 1000; i++)
		check_one(&c);
	/* A TSC behind the anchor (another CPU's, slightly behind): the
	 * difference wraps, the clock re-anchors, the time is still right. */
	c.tsc = UINT64_MAX / 2 + c.tsc / 2;
	for (unsigned i = 0; i < 1000; i++)
		check_one(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock_tracks_realtime),
		cmocka_unit_test(test_clock_tracks_monotonic),
		cmocka_unit_test(test_clock_disabled_falls_back),
		cmocka_unit_test(test_clock_anchor_in_the_future),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
