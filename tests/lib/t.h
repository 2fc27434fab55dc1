/* SPDX-License-Identifier: MIT */
/*
 * t.h - helpers shared by the cmocka suites: errno assertions, unique names,
 * temporary data directories, forked children, seeds, self-checking
 * payloads and bounded waits.
 *
 * Include it after <cmocka.h>. Everything here is bounded in time and in
 * count, and nothing in it calls a cmocka assertion from a forked child:
 * a child reports through its exit status or shared memory, never by
 * longjmp-ing into the parent's test runner.
 */
#ifndef RING_TEST_T_H
#define RING_TEST_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libring.h"

/*
 * cmocka 1.1.5 prints a negative int as 0xffff...; this prints both codes
 * as numbers and as ring_strerror() text.
 */
#define assert_rc(expr, expected)                                                        \
	do {                                                                             \
		int rc_ = (int)(expr), want_ = (int)(expected);                          \
		if (rc_ != want_)                                                        \
			fail_msg("%s = %d (%s), expected %d (%s)", #expr, rc_,           \
				 ring_strerror(rc_), want_, ring_strerror(want_));       \
	} while (0)

/* Unit tests that run a whole binary with nothing to test exit with this. */
#define T_EXIT_SKIP 77

/* ---- time ---- */

uint64_t t_now_ns(void);	/* CLOCK_MONOTONIC */
uint64_t t_realtime_ns(void);	/* CLOCK_REALTIME, the clock of record timestamps */
void t_sleep_ns(uint64_t ns);

/*
 * Poll @pred(@arg) every @step_ns until it holds or @timeout_ns passes.
 * Returns true if it held.
 */
bool t_wait_until(bool (*pred)(void *), void *arg, uint64_t timeout_ns, uint64_t step_ns);

/* ---- names and directories ---- */

/* A topic name unique to this process and call ("t<pid>-<counter>-<tag>"),
 * so that tests run in parallel never share a ring. */
void t_unique_name(char *buf, size_t len, const char *tag);

/* mkdtemp() under /tmp; 0 or -errno. @len >= 64. */
int t_tmpdir_create(char *buf, size_t len);
/* Remove @path and everything under it (no symlinks followed); 0 or -errno. */
int t_tmpdir_remove(const char *path);

/* ---- processes ---- */

/*
 * Fork a child that runs @fn(@arg) and _exit()s with its return value. The
 * child dies with SIGKILL if the parent dies (PR_SET_PDEATHSIG), so no test
 * leaves orphans behind. Returns the pid, or -errno.
 */
pid_t t_fork_child(int (*fn)(void *), void *arg);

/*
 * Wait at most @timeout_ns for @pid; on timeout kill it with SIGKILL, reap
 * it and return -ETIMEDOUT. Otherwise 0, with the wait status in
 * *ret_status (if not NULL).
 */
int t_wait_child(pid_t pid, uint64_t timeout_ns, int *ret_status);

/* "exit 0", "exit 3", "killed by signal 9": for failure messages. */
const char *t_status_str(int status, char *buf, size_t len);

/* Map @len bytes of zeroed memory shared with children forked later. */
void *t_shared_alloc(size_t len);
void t_shared_free(void *p, size_t len);

/*
 * Wait (bounded by @timeout_ns) for child *@pid to exit 0, and clear
 * *@pid once it is reaped. 0, or -1 with @msg saying how it ended ("exit
 * 1", "killed by signal 9", or that it did not end in time) and what it
 * left in @err, its error slot ("" for nothing).
 */
int t_reap_ok(pid_t *pid, uint64_t timeout_ns, const char *err, char *msg, size_t len);

/* In a child: write its failure into @buf (an error slot in shared
 * memory, for the parent to report) and return 1, its exit status. */
__attribute__((format(printf, 3, 4))) int t_child_fail(char *buf, size_t len, const char *fmt,
							...);

/*
 * The end of a multi-process test on one topic: the children still
 * running (@pids > 0) are killed and reaped (a failed test may leave them
 * behind; SIGKILL ends a stopped one too), @shared is unmapped, *@topic
 * closed and the topic unlinked, and @dir removed if it is not "".
 * Returns 0, or -1 if @dir could not be removed.
 */
int t_topic_teardown(const pid_t *pids, unsigned n, void *shared, size_t shared_len,
		     struct ring_topic **topic, const char *dir, const char *name);

/* ---- randomness ---- */

/*
 * The seed of a randomised test: RING_TEST_SEED if set, else from the clock
 * and the pid. Prints it, with how to replay it.
 */
uint64_t t_seed(void);
/* splitmix64: a fast, decent generator with a 64-bit state. */
uint64_t t_rand(uint64_t *state);
/* Uniform in [lo, hi]. */
uint64_t t_rand_range(uint64_t *state, uint64_t lo, uint64_t hi);

/* ---- environment ---- */

/* RING_STRESS_SECONDS, or @fallback if unset or not a positive number. */
unsigned t_stress_seconds(unsigned fallback);

/* ---- self-checking payloads ---- */

/*
 * A test payload is [producer_id u32][crc32 u32][seq u64][filler...], at
 * least T_PAYLOAD_MIN bytes. The filler is derived from (producer_id, seq)
 * and the CRC-32 covers every byte except its own field, so a torn, stale
 * or mixed-up record fails the check.
 */
#define T_PAYLOAD_MIN 16u

uint32_t t_crc32(uint32_t crc, const void *buf, size_t len);

/* A length in [@min, @max] (@min >= T_PAYLOAD_MIN) derived from the pair. */
size_t t_payload_len(uint32_t producer_id, uint64_t seq, size_t min, size_t max);
void t_payload_fill(void *buf, size_t len, uint32_t producer_id, uint64_t seq);
/* 0 and the pair, or -EBADMSG (too short, bad CRC). */
int t_payload_check(const void *buf, size_t len, uint32_t *ret_producer_id, uint64_t *ret_seq);

/*
 * Checks one reader's stream: per producer, sequence numbers arrive in
 * order with no gap and no duplicate, every payload passes its CRC, record
 * positions increase. A gap is accepted only right after an overflow
 * (t_tracker_overflow()), for ordinary readers that producers overtook.
 * Lives in caller memory (possibly shared with the parent), fixed size.
 */
#define T_TRACKER_MAX_PRODUCERS 64u

struct t_tracker {
	uint32_t nproducers;
	uint32_t errors;
	uint64_t delivered;
	uint64_t overflows;
	uint64_t skipped;			/* records lost to overflows */
	uint64_t last_next_pos;			/* next_position of the last record */
	uint64_t next_seq[T_TRACKER_MAX_PRODUCERS];
	uint8_t gap_ok[T_TRACKER_MAX_PRODUCERS];
	char first_error[256];
};

void t_tracker_init(struct t_tracker *tr, uint32_t nproducers);
/* 0, or -1 after recording the first error in tr->first_error. */
int t_tracker_record(struct t_tracker *tr, const struct ring_record *rec);
void t_tracker_overflow(struct t_tracker *tr);
/* Have all producers delivered @per_producer[i] records (NULL: @count each)? */
bool t_tracker_complete(const struct t_tracker *tr, const uint64_t *per_producer, uint64_t count);

/* ---- latency statistics (per worker, no allocation) ---- */

/*
 * A log-linear histogram: 8 sub-buckets per power of two, so a percentile
 * is exact to 12.5 %. Enough for min/max/p50/p99 reports; timing is
 * printed, never asserted.
 */
#define T_HIST_BUCKETS (64u * 8u)

struct t_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t sum;
	uint64_t bucket[T_HIST_BUCKETS];
};

void t_hist_init(struct t_hist *h);
void t_hist_add(struct t_hist *h, uint64_t v);
/* The upper bound of the bucket holding the @p-th percentile (0..100). */
uint64_t t_hist_percentile(const struct t_hist *h, double p);
void t_hist_print(const struct t_hist *h, const char *label);

#endif /* RING_TEST_T_H */
