/* SPDX-License-Identifier: MIT */
/*
 * layout.h - the only file that declares the bytes shared between
 * processes: the control area of a topic's shared-memory object and the
 * record header. Every field says who writes it and who reads it.
 *
 * The object is [control area: RING_CONTROL_BYTES][data: capacity bytes].
 * Each process maps the data area twice, back to back, right after the
 * control area, so a record that wraps around the end of the ring is still
 * contiguous in memory.
 *
 * Anything that changes the meaning or the offset of a field must bump
 * RING_LAYOUT_VERSION; RING_LAYOUT_SIGNATURE catches the changes that are
 * forgotten. Openers refuse a mismatch with -EPROTO.
 */
#ifndef RING_LAYOUT_H
#define RING_LAYOUT_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "atomics.h"
#include "libring/consumer.h"	/* RING_MAX_GROUPS, RING_MAX_MEMBERS */

#define RING_CACHELINE 64u
/* "RLRING!\n" read as a little-endian u64: a byte-order mismatch shows. */
#define RING_MAGIC UINT64_C(0x0a21474e49524c52)
#define RING_LAYOUT_VERSION 2u

#define RING_MAX_PRODUCERS 128u		/* slot numbers fit the header word */
#define RING_MAX_GATING_READERS 16u
#define RING_GROUP_INFLIGHT 256u	/* unacked deliveries per shared group */
#define RING_CONTROL_BYTES (512u * 1024u)	/* a multiple of every page size */
#define RING_MIN_CAPACITY_BYTES (64u * 1024u)
#define RING_MAX_CAPACITY_BYTES (UINT64_C(1) << 34)	/* 16 GiB */

/* A position that names no record (an empty slot's claim intent). */
#define RING_POS_NONE UINT64_MAX

/*
 * Written once by the creator, then published by O1 (release of `ready`).
 * Openers check `ready`, magic, version and signature before anything else.
 */
struct ring_shm_header {
	/* These four never move, in any layout version: they are how an
	 * opener tells "not ready yet" from "not ours". */
	uint64_t magic;
	uint32_t layout_version;
	uint32_t layout_signature;	/* RING_LAYOUT_SIGNATURE of the creator */
	ring_atomic_u32 ready;		/* 0 until set up; O1 release, O2 acquire */
	uint32_t pad0;
	uint64_t capacity_bytes;	/* data area, a power of two */
	uint64_t max_record_bytes;	/* payload limit */
	uint64_t control_bytes;		/* == RING_CONTROL_BYTES */
	uint64_t created_ns;		/* CLOCK_REALTIME */
	uint64_t claim_timeout_ns;
	uint64_t base_pos;		/* position of the first record ever in this ring */
	uint32_t flags;			/* enum ring_topic_flags */
	int32_t numa_node;		/* -1 when not bound */
	char name[128];			/* NUL-terminated topic name */
};

/* A 64-bit cursor alone on its cache line, so its writers do not slow
 * down the readers of its neighbours (false sharing). */
struct ring_cursor_line {
	alignas(RING_CACHELINE) ring_atomic_u64 pos;
};

/*
 * A futex word with its sleeper count. Sleepers increment `waiters`, read
 * `seq`, re-check their condition and sleep on `seq`; wakers change the
 * condition, read `waiters` and only if non-zero bump `seq` and call
 * FUTEX_WAKE (the W1/W2 handshake, seq_cst: store-then-load on both sides).
 */
struct ring_futex_line {
	alignas(RING_CACHELINE) ring_atomic_u32 seq;	/* written by wakers */
	ring_atomic_u32 waiters;			/* written by sleepers */
};

/*
 * The maintenance lease and the maintainer's own state. Written only by
 * the lease holder, except `owner` (CAS by anyone taking the lease).
 */
struct ring_maint_line {
	alignas(RING_CACHELINE) ring_atomic_u64 owner;	/* tid | start_ticks << 32; 0 free */
	ring_atomic_u64 taken_ns;		/* CLOCK_MONOTONIC when the lease was taken */
	ring_atomic_u64 stall_pos;		/* frontier position seen stalled */
	ring_atomic_u64 stall_since_ns;		/* CLOCK_MONOTONIC when first seen */
	ring_atomic_u64 repaired_claims;	/* statistic */
	ring_atomic_u64 last_sweep_ns;		/* last dead-slot sweep, rate limit */
};

/* Written by ringd only; read by stat and by producers (is ringd alive?). */
struct ring_daemon_line {
	alignas(RING_CACHELINE) ring_atomic_u64 owner;	/* pid | start_ticks << 32; 0 none */
	ring_atomic_u64 beat_ns;			/* CLOCK_REALTIME of the last beat */
};

/*
 * One registered producer. `owner` is taken by CAS from 0 by the producer
 * and freed by CAS to 0 by it (close) or by the maintainer (owner dead).
 * `claim_pos` is written only by the owner (P5 release): the position it is
 * about to claim (set before its tail CAS, which publishes it too: P1),
 * RING_POS_NONE when it has no open claim. The maintainer reads it (M7) to
 * learn who owns a claim whose header was never written, and to hold reuse
 * back below a live owner's claim, which it may still write into.
 */
struct ring_producer_slot {
	alignas(RING_CACHELINE) ring_atomic_u64 owner;	/* pid | start_ticks << 32; 0 free */
	ring_atomic_u64 claim_pos;
};

/*
 * One gating reader. `owner` as above; `pos` is written only by the owner:
 * everything below it has been read and may be reused (G2 release; the
 * maintainer's G3 acquire). Registration is the G1 seq_cst handshake.
 */
struct ring_gating_slot {
	alignas(RING_CACHELINE) ring_atomic_u64 owner;
	ring_atomic_u64 pos;
};

/*
 * ---- Consumer groups ----
 *
 * A group slot is found by its name's hash with linear probing, so that
 * two processes creating the same group race for the same slot. `state`
 * goes FREE -> INIT (CAS by the creator, who then writes the name, mode
 * and start) -> ACTIVE (G4 release); others read the name only after G4.
 */
enum ring_group_slot_state {
	RING_GROUP_FREE = 0,
	RING_GROUP_INIT = 1,
	RING_GROUP_ACTIVE = 2,
};

/* A member of a shared group. `owner` by CAS from 0 (the member) and back
 * (the member on close, or anyone who finds it dead); `heartbeat_ns` and
 * `delivered` by the member only. */
struct ring_member_slot {
	alignas(RING_CACHELINE) ring_atomic_u64 owner;	/* pid | start_ticks << 32 */
	ring_atomic_u64 heartbeat_ns;			/* CLOCK_REALTIME, statistic */
	ring_atomic_u64 delivered;			/* statistic */
};

/*
 * An unacked delivery of a shared group. `meta` is the entry's state word,
 * changed only by CAS (whoever wins owns the entry); `pos` is written by
 * the entry's owner while it is PENDING, and set to RING_POS_NONE before
 * the entry is freed.
 *
 *   meta bits  0..47 deadline, CLOCK_MONOTONIC ms (redeliver after it)
 *             48..55 deliveries so far
 *             56..61 member slot (63: none, an entry ringd restored
 *                    from the offsets log after a reboot)
 *             62..63 state: 0 FREE, 1 PENDING (claiming `pos`),
 *                    2 DELIVERED, 3 RELEASED (nacked or left by a closed
 *                    member: redeliverable after the deadline)
 */
struct ring_inflight {
	ring_atomic_u64 meta;
	ring_atomic_u64 pos;
};

struct ring_group_slot {
	/* Slot state in bits 0..7; while INIT also its creator, so that a
	 * dead one is told from a slow one: pid in bits 8..31, start ticks
	 * (as in owner words) in bits 32..63. */
	alignas(RING_CACHELINE) ring_atomic_u64 state;
	uint32_t mode;			/* enum ring_group_mode; written before G4 */
	uint32_t reserved;
	char name[64];			/* written before G4 */
	/* The committed position: everything below was processed. Exclusive:
	 * the owner stores it (G5 release). Shared: the low watermark of
	 * acks, raised by CAS (G6) by members and ringd. */
	alignas(RING_CACHELINE) ring_atomic_u64 committed;
	/* Exclusive: the one member (CAS), its heartbeat. */
	ring_atomic_u64 owner;
	ring_atomic_u64 heartbeat_ns;
	/* Shared: the next position to hand out (CAS by members, G7).
	 * Exclusive: the member's read position (owner only, a statistic). */
	alignas(RING_CACHELINE) ring_atomic_u64 next;
	/* Statistics, relaxed. */
	ring_atomic_u64 delivered;
	ring_atomic_u64 redelivered;
	ring_atomic_u64 dead_lettered;
	ring_atomic_u64 acked;
	struct ring_member_slot members[RING_MAX_MEMBERS];
	struct ring_inflight inflight[RING_GROUP_INFLIGHT];
};

struct ring_control {
	struct ring_shm_header hdr;

	/* Producers CAS it (P1); everyone reads it. The hot lines start on
	 * their own page, away from the read-mostly header. */
	alignas(4096) struct ring_cursor_line tail;
	/* Maintainer stores it (M3, seq_cst); producers read it (P0). */
	struct ring_cursor_line limit;
	/* Maintainer announces it (M2); readers validate against it (C2). */
	struct ring_cursor_line oldest;
	/* Maintainer only: the committed frontier found by its last scan. */
	struct ring_cursor_line frontier;
	/* ringd only (D1 release): bytes below are in segment files. */
	struct ring_cursor_line persisted;
	/* ringd only (D2 release): bytes below are fsynced. */
	struct ring_cursor_line durable;

	struct ring_futex_line data_wait;	/* readers sleep here */
	struct ring_futex_line space_wait;	/* producers sleep on a full ring */
	struct ring_futex_line durable_wait;	/* wait_durable callers sleep here */

	struct ring_maint_line maint;
	struct ring_daemon_line daemon;

	struct ring_producer_slot producers[RING_MAX_PRODUCERS];
	struct ring_gating_slot gating[RING_MAX_GATING_READERS];
	struct ring_group_slot groups[RING_MAX_GROUPS];
};

/*
 * ---- Record header: the same bytes in the ring and on disk ----
 *
 * `word` is the only field accessed atomically. The producer writes
 * timestamp_ns, type and the payload after claiming the word and before
 * committing it: its commit (P3, release) publishes them and readers read
 * them only after seeing the commit (C1, acquire). ringd writes crc32c of a
 * committed record before persisting it; readers of the ring ignore it.
 */
struct ring_record_header {
	ring_atomic_u64 word;
	uint64_t timestamp_ns;
	uint32_t type;
	uint32_t crc32c;
};

/*
 * The header word. A word of 0 is EMPTY: the ring ahead of the tail is
 * always zero, so a producer claims its header by CAS from 0.
 *
 *   bits  0..31  len:   payload bytes (COMMITTED), or the whole span in
 *                       bytes (CLAIMED, SKIPPED)
 *   bits 32..53  lap:   (position / capacity) mod 2^22; a header is trusted
 *                       only with the lap of the position it is read at
 *   bits 54..61  slot:  producer slot of the writer (for repair and stat)
 *   bits 62..63  state
 */
#define RING_WORD_LEN_BITS 32
#define RING_WORD_LAP_SHIFT 32
#define RING_WORD_LAP_BITS 22
#define RING_WORD_SLOT_SHIFT 54
#define RING_WORD_SLOT_BITS 8
#define RING_WORD_STATE_SHIFT 62

enum ring_record_state {
	RING_STATE_EMPTY = 0,
	RING_STATE_CLAIMED = 1,
	RING_STATE_COMMITTED = 2,
	RING_STATE_SKIPPED = 3,
};

/* The repairer's own slot number in SKIPPED words it writes. */
#define RING_SLOT_MAINTAINER ((1u << RING_WORD_SLOT_BITS) - 1)

/* Two builds that disagree on any of these must refuse each other's rings. */
#define RING_LAYOUT_SIGNATURE                                                          \
	((uint32_t)(sizeof(struct ring_control) ^                                     \
		    (offsetof(struct ring_control, producers) << 8) ^                  \
		    (offsetof(struct ring_control, gating) << 4) ^                     \
		    (offsetof(struct ring_control, groups) << 12) ^                    \
		    (sizeof(struct ring_group_slot) << 20) ^                           \
		    (sizeof(struct ring_record_header) << 24) ^                        \
		    (RING_MAX_PRODUCERS << 16) ^ RING_CACHELINE))

_Static_assert(sizeof(struct ring_control) <= RING_CONTROL_BYTES, "control area overflow");
_Static_assert(sizeof(struct ring_shm_header) <= 4096, "header must fit its page");
_Static_assert(offsetof(struct ring_shm_header, ready) == 16, "ready never moves");
_Static_assert(offsetof(struct ring_control, tail) == 4096, "cursors start on page 2");
_Static_assert(sizeof(struct ring_cursor_line) == RING_CACHELINE, "one cursor per line");
_Static_assert(sizeof(struct ring_futex_line) == RING_CACHELINE, "one futex per line");
_Static_assert(sizeof(struct ring_producer_slot) == RING_CACHELINE, "one slot per line");
_Static_assert(sizeof(struct ring_gating_slot) == RING_CACHELINE, "one slot per line");
_Static_assert(sizeof(struct ring_record_header) == 24, "record header is 24 bytes");
_Static_assert(offsetof(struct ring_record_header, word) == 0, "word first");
_Static_assert(RING_MAX_PRODUCERS < RING_SLOT_MAINTAINER, "slot numbers fit the word");
_Static_assert(RING_CONTROL_BYTES % 4096 == 0, "data area must be page aligned");

#endif /* RING_LAYOUT_H */
