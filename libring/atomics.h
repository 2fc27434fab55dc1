/* SPDX-License-Identifier: MIT */
/*
 * atomics.h - the only file in libring that spells a memory order.
 *
 * Every field that another thread or process may touch concurrently is
 * declared with a ring_atomic_* type (layout.h) and accessed only through
 * these wrappers. Each call site names its edge (P1, C1, M3, ...) and the
 * partner it pairs with; docs/design/memory-ordering.md is the table.
 *
 * Orders used, and why each exists:
 *  - relaxed: values the caller owns, statistics, or values re-read under a
 *    CAS that will catch staleness.
 *  - acquire/release: publication (a record's payload by its commit, the
 *    zeroed space by the limit, a reader's consumption by its position).
 *  - seq_cst: only for the three store-then-load ("Dekker") handshakes that
 *    acquire/release cannot order: sleeper vs waker on a futex word, and a
 *    gating reader registering vs the maintainer moving `oldest`.
 *  - one fence pair (ring_seqlock_*): an ordinary reader validates a copy
 *    it made of bytes the maintainer may be zeroing at the same time
 *    (read-modify-writes instead under ThreadSanitizer, see below).
 */
#ifndef RING_ATOMICS_H
#define RING_ATOMICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Rings are mapped by unrelated processes: a lock-based fallback would be a
 * process-local lock and silently wrong.
 */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

typedef _Atomic uint64_t ring_atomic_u64;
typedef _Atomic uint32_t ring_atomic_u32;

/* ---- 64-bit ---- */

static inline uint64_t ring_load_relaxed(ring_atomic_u64 *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static inline uint64_t ring_load_acquire(ring_atomic_u64 *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

static inline uint64_t ring_load_seq_cst(ring_atomic_u64 *p)
{
	return atomic_load_explicit(p, memory_order_seq_cst);
}

static inline void ring_store_relaxed(ring_atomic_u64 *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_relaxed);
}

static inline void ring_store_release(ring_atomic_u64 *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

static inline void ring_store_seq_cst(ring_atomic_u64 *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_seq_cst);
}

/*
 * Strong CAS: a spurious failure would be misread as "someone else changed
 * the word" (a repair, a lost race), so the weak form is never used.
 * On failure *expected is refreshed with acquire, so a retry sees what the
 * winner published.
 */
static inline bool ring_cas_acq_rel(ring_atomic_u64 *p, uint64_t *expected, uint64_t desired)
{
	return atomic_compare_exchange_strong_explicit(p, expected, desired, memory_order_acq_rel,
						       memory_order_acquire);
}

static inline bool ring_cas_seq_cst(ring_atomic_u64 *p, uint64_t *expected, uint64_t desired)
{
	return atomic_compare_exchange_strong_explicit(p, expected, desired, memory_order_seq_cst,
						       memory_order_seq_cst);
}

static inline uint64_t ring_fetch_add_relaxed(ring_atomic_u64 *p, uint64_t v)
{
	return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

/* ---- 32-bit (futex words and waiter counts) ---- */

static inline uint32_t ring_load_relaxed_u32(ring_atomic_u32 *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static inline uint32_t ring_load_seq_cst_u32(ring_atomic_u32 *p)
{
	return atomic_load_explicit(p, memory_order_seq_cst);
}

static inline void ring_store_release_u32(ring_atomic_u32 *p, uint32_t v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

static inline uint32_t ring_load_acquire_u32(ring_atomic_u32 *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

static inline uint32_t ring_fetch_add_seq_cst_u32(ring_atomic_u32 *p, uint32_t v)
{
	return atomic_fetch_add_explicit(p, v, memory_order_seq_cst);
}

static inline uint32_t ring_fetch_sub_seq_cst_u32(ring_atomic_u32 *p, uint32_t v)
{
	return atomic_fetch_sub_explicit(p, v, memory_order_seq_cst);
}

/*
 * ---- The seqlock pair (edges M2 and C2) ----
 *
 * An ordinary reader copies a record out of the ring while the maintainer
 * may, at the same moment, be zeroing those bytes for reuse. The reader
 * cannot prevent that (it must never hold producers back), so it detects it
 * afterwards: the maintainer announces "everything below X is being reused"
 * before it touches a byte, and the reader checks the announcement after
 * its copy. For "after" to mean anything, the plain byte loads of the copy
 * must not drift past the check, and the announcement must not drift past
 * the zeroing stores: that takes an acquire fence on the reader's side and a
 * release fence on the maintainer's side (the seqlock argument; an atomic
 * load or store alone orders only in the other direction). This is the one
 * place libring uses standalone fences. They cost nothing on x86 (compiler
 * barriers only) and one barrier instruction elsewhere.
 *
 * ThreadSanitizer does not model standalone fences (and GCC refuses to
 * compile them with -fsanitize=thread). Its builds use read-modify-writes
 * instead, which order at least as strongly and which it does model: the
 * maintainer's exchange (acquire half) keeps the zeroing after it, the
 * reader's fetch_add of 0 (release half) keeps the copy before it, and the
 * two synchronise whenever the reader's comes first in `oldest`'s
 * modification order, which is exactly when its copy is accepted. They
 * are not used in other builds because every reader would then write the
 * `oldest` line on every record. The copy of a record the maintainer is
 * already reusing is still a race by the letter of C11 (that is what a
 * seqlock is: a racy read, detected and thrown away): such reads live only
 * in reader.c (ringi_seqlock_word*(), seqlock_copy()), which TSan builds
 * tell to ignore them, with this reason.
 */
#if defined(__SANITIZE_THREAD__)
#define RING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RING_TSAN 1
#endif
#endif

/* M2: announce the new `oldest` before any byte below it is reused. The
 * store is seq_cst because it is also the maintainer's half of the gating
 * reader handshake (G1). */
static inline void ring_seqlock_announce(ring_atomic_u64 *oldest, uint64_t v)
{
#ifdef RING_TSAN
	(void)atomic_exchange_explicit(oldest, v, memory_order_seq_cst);
#else
	atomic_store_explicit(oldest, v, memory_order_seq_cst);
	atomic_thread_fence(memory_order_release);
#endif
}

/* C2: read `oldest` after the copy; pairs with M2. */
static inline uint64_t ring_seqlock_validate(ring_atomic_u64 *oldest)
{
#ifdef RING_TSAN
	return atomic_fetch_add_explicit(oldest, 0, memory_order_acq_rel);
#else
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(oldest, memory_order_relaxed);
#endif
}

/* Busy-wait hint: lets the sibling hyperthread run and saves power. */
static inline void ring_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif /* RING_ATOMICS_H */
