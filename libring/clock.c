/* SPDX-License-Identifier: MIT */
/*
 * clock.c - the clocks libring uses: CLOCK_MONOTONIC for timeouts and
 * stall detection, CLOCK_REALTIME for record timestamps (replay by time).
 *
 * Record timestamps are taken on every publish, and clock_gettime() is a
 * large part of a publish's cost (about 30 ns of some 60 on the 2-vCPU
 * build machine, where the vDSO reads the TSC behind a fence); consumer
 * group members look at CLOCK_MONOTONIC on every delivery (heartbeats,
 * auto-commit, ack deadlines). They therefore read their clock through the
 * TSC (ringi_clock_now(), one state per thread):
 * it takes an anchor (the TSC and CLOCK_REALTIME together) about every
 * millisecond of TSC time and interpolates in between, at the rate measured
 * between its last two anchors. Only when the kernel itself keeps time with
 * the TSC (its clocksource is "tsc", which it chooses only for a TSC that
 * is invariant and synchronised across CPUs); otherwise, and on other
 * architectures, every timestamp is a clock_gettime(). Between anchors the
 * error is the rate's over at most one interval: with anchors ~1 ms apart,
 * each read within ~30 ns (one read more slowly than 1024 ticks, because
 * the thread was preempted, is taken again), it is about 100 ns and at
 * worst about a microsecond, also while NTP slews the clock (at most
 * 500 ppm). Like CLOCK_REALTIME
 * itself, timestamps are not monotonic: an anchor may step them back by
 * about that error. tests/unit/test_clock.c holds it against clock_gettime().
 */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Re-anchor after this many TSC ticks (about 1 ms at 2 GHz); calibrate
 * the rate over at least half of that. */
#define ANCHOR_TICKS (UINT64_C(1) << 21)
#define CALIBRATE_TICKS (UINT64_C(1) << 20)
/* A rate above this many ns per tick (2^8, a TSC under 4 MHz) or one
 * that changed by more than 1/64 between intervals is not believed. */
#define MULT_MAX (UINT64_C(1) << 40)
/* An anchor whose clock_gettime() took longer than this (the thread was
 * preempted in it) does not say when it was read: it is taken again. */
#define ANCHOR_READ_MAX_TICKS (UINT64_C(1) << 10)
#define ANCHOR_TRIES 4u

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

/* ---- clocks read through the TSC ---- */

static bool tsc_trusted;
static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;

static void tsc_check(void)
{
#if defined(__x86_64__)
	char buf[16] = { 0 };
	int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		      O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	tsc_trusted = n >= 3 && strncmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
#endif
}

static inline uint64_t tsc_read(void)
{
#if defined(__x86_64__)
	/* No fence: a timestamp a few instructions early or late is as good. */
	return __builtin_ia32_rdtsc();
#else
	return 0;
#endif
}

void ringi_clock_init(struct ringi_clock *c, clockid_t id)
{
	memset(c, 0, sizeof(*c));
	(void)pthread_once(&tsc_once, tsc_check);
	c->id = id;
	c->enabled = tsc_trusted;
}

/* Take an anchor: the clock, and the TSC half-way through reading it;
 * measure the rate since the previous anchor. Returns the time. */
static __attribute__((noinline)) uint64_t clock_anchor(struct ringi_clock *c)
{
	uint64_t a, b, ns, tsc, mult;
	unsigned tries = 0;

	do {
		a = tsc_read();
		ns = clock_ns(c->id);
		b = tsc_read();
	} while (b - a > ANCHOR_READ_MAX_TICKS && ++tries < ANCHOR_TRIES);
	if (b - a > ANCHOR_READ_MAX_TICKS)
		return ns;	/* a good time, but no anchor */
	tsc = a + (b - a) / 2;
	if (!c->tsc || tsc <= c->tsc || ns <= c->ns) {
		/* The first anchor, or a clock that went back (another
		 * CPU's TSC, an NTP step): start from here. */
		c->tsc = tsc;
		c->ns = ns;
		return ns;
	}
	if (!c->mult && tsc - c->tsc < CALIBRATE_TICKS)
		return ns;	/* keep the base until the interval is long enough */
	mult = (uint64_t)(((unsigned __int128)(ns - c->ns) << 32) / (tsc - c->tsc));
	if (mult >= MULT_MAX ||
	    (c->mult && (mult > c->mult + c->mult / 64 || mult < c->mult - c->mult / 64)))
		mult = 0;	/* a jump, not a rate: calibrate again */
	c->mult = mult;
	c->tsc = tsc;
	c->ns = ns;
	return ns;
}

uint64_t ringi_clock_now(struct ringi_clock *c)
{
	uint64_t d;

	if (!c->enabled)
		return clock_ns(c->id);
	d = tsc_read() - c->tsc;
	/* d < 2^21 and mult < 2^40: the product fits in 64 bits. */
	if (RING_LIKELY(c->mult && d < ANCHOR_TICKS))
		return c->ns + ((d * c->mult) >> 32);
	return clock_anchor(c);
}
