/* SPDX-License-Identifier: MIT */
/*
 * crashpoint.c - named places where the crash suite kills a process
 * (compiled only with -Dcrash_points=true).
 *
 * RING_CRASH_AT=<name> makes the process SIGKILL itself at that point;
 * RING_CRASH_SKIP=<n> lets the first n hits pass. SIGKILL, not abort():
 * nothing may run on the way out, exactly as with kill -9.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#if RING_CRASH_POINTS
void ringi_crash_point(const char *name)
{
	/* Crash tests hit a point from one thread of the child: a plain
	 * counter is enough. */
	static long skip_left = -1;
	const char *at = getenv("RING_CRASH_AT");
	const char *skip;

	if (!at || strcmp(at, name) != 0)
		return;
	if (skip_left < 0) {
		skip = getenv("RING_CRASH_SKIP");
		skip_left = skip ? atol(skip) : 0;
	}
	if (skip_left-- > 0)
		return;
	(void)kill(getpid(), SIGKILL);
	pause();
}
#endif
