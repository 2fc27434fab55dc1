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

void ringi_wake_all(struct ring_futex_line *f)
{
	/* W1 (seq_cst) pairs with W2 in ringi_wait_slice(). */
	if (RING_LIKELY(ring_load_seq_cst_u32(&f->waiters) == 0))
		return;
	ring_fetch_add_seq_cst_u32(&f->seq, 1);
	futex_wake(&f->seq);
}
