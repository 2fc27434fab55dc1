/* SPDX-License-Identifier: MIT */
/*
 * wait.c - sleeping and waking through a futex word in shared memory.
 *
 * The handshake (edges W1/W2) makes a waker pay a syscall only when someone
 * sleeps, without ever losing a wake-up:
 *
 *   sleeper                             waker
 *   W2: waiters++          (seq_cst)    change the condition (seq_cst)
 *       s = seq            (seq_cst)    W1: if (waiters == 0) done (seq_cst)
 *       if condition: done                  seq++; FUTEX_WAKE
 *       FUTEX_WAIT(seq, s)
 *       waiters--
 *
 * Both sides store then load: only seq_cst forbids the outcome where each
 * misses the other's store. If the waker bumps `seq` after the sleeper read
 * it, FUTEX_WAIT returns at once because the word changed.
 *
 * The words are in memory shared between processes, so the futex calls are
 * the shared (not FUTEX_PRIVATE) kind.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static void futex_wait(ring_atomic_u32 *word, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / 1000000000u),
		.tv_nsec = (long)(timeout_ns % 1000000000u),
	};

	/* EAGAIN (word changed), EINTR and ETIMEDOUT all mean "look again". */
	(void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static void futex_wake(ring_atomic_u32 *word)
{
	(void)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void ringi_wait_slice(struct ring_futex_line *f, bool (*ready)(void *), void *arg,
		      uint64_t timeout_ns)
{
	uint32_t seq;

	/* W2 (seq_cst) pairs with W1 in ringi_wake_all(). */
	ring_fetch_add_seq_cst_u32(&f->waiters, 1);
	seq = ring_load_seq_cst_u32(&f->seq);
	if (!ready(arg))
		futex_wait(&f->seq, seq, timeout_ns);
	ring_fetch_sub_seq_cst_u32(&f->waiters, 1);
}

unsigned ringi_wake_all(struct ring_futex_line *f)
{
	/* W1 (seq_cst) pairs with W2 in ringi_wait_slice(). */
	uint32_t waiters = ring_load_seq_cst_u32(&f->waiters);

	if (RING_LIKELY(waiters == 0))
		return 0;
	ring_fetch_add_seq_cst_u32(&f->seq, 1);
	futex_wake(&f->seq);
	return waiters;
}

/* The kernel's futex_waitv() vector entry (linux/futex.h, Linux 5.16). */
struct waitv_entry {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define WAITV_SIZE_U32 0x02u	/* FUTEX2_SIZE_U32; no FUTEX2_PRIVATE: shared memory */

void ringi_wait_many(struct ring_futex_line *const *lines, unsigned n, bool (*ready)(void *),
		     void *arg, uint64_t timeout_ns)
{
	struct waitv_entry v[RING_WAIT_MANY_MAX];
	struct timespec ts;
	uint64_t deadline;

	if (n > RING_WAIT_MANY_MAX)
		n = RING_WAIT_MANY_MAX;
	/* W2 on every line, then one check of the whole condition. */
	for (unsigned i = 0; i < n; i++) {
		ring_fetch_add_seq_cst_u32(&lines[i]->waiters, 1);
		v[i] = (struct waitv_entry){
			.val = ring_load_seq_cst_u32(&lines[i]->seq),
			.uaddr = (uint64_t)(uintptr_t)&lines[i]->seq,
			.flags = WAITV_SIZE_U32,
		};
	}
	if (!ready(arg)) {
		deadline = ringi_now_ns() + timeout_ns;
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		if (n == 0 || syscall(SYS_futex_waitv, v, n, 0, &ts, CLOCK_MONOTONIC) < 0) {
			/* ENOSYS (a kernel before 5.16), or nothing to wait on:
			 * a plain sleep keeps the caller's loop bounded. EAGAIN,
			 * EINTR and ETIMEDOUT need nothing. */
			if (n == 0 || errno == ENOSYS) {
				struct timespec d = { 0, (long)(timeout_ns < 1000000u ? timeout_ns
										      : 1000000u) };

				(void)nanosleep(&d, NULL);
			}
		}
	}
	for (unsigned i = 0; i < n; i++)
		ring_fetch_sub_seq_cst_u32(&lines[i]->waiters, 1);
}
