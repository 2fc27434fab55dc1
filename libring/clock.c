/* SPDX-License-Identifier: MIT */
/*
 * clock.c - the two clocks libring uses: CLOCK_MONOTONIC for timeouts and
 * stall detection, CLOCK_REALTIME for record timestamps (replay by time).
 */
#include <time.h>

#include "internal.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	/* Cannot fail for these clocks on Linux; a zero would show in tests. */
	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ringi_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t ringi_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}
