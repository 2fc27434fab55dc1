/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what libring's files share and nobody else sees: the
 * process-local topic handle, assertions, and the ringi_* functions.
 * ringd and the tests include it through libring_internal_dep.
 */
#ifndef RING_INTERNAL_H
#define RING_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "libring.h"
#include "layout.h"
#include "record.h"
#include "ring_config.h"

/* ---- assertions (STYLE 4.6) ---- */

void ringi_assert_fail(const char *expr, const char *file, int line, const char *func)
	__attribute__((noreturn, cold));

/* Invariants of our own code: active unless NDEBUG. */
#ifdef NDEBUG
#define RING_ASSERT(expr) ((void)0)
#else
#define RING_ASSERT(expr) \
	((expr) ? (void)0 : ringi_assert_fail(#expr, __FILE__, __LINE__, __func__))
#endif

/* Always on; for cheap checks on cold paths. */
#define RING_VERIFY(expr) \
	((expr) ? (void)0 : ringi_assert_fail(#expr, __FILE__, __LINE__, __func__))

/* Public input validation: return the error, never abort (STYLE 4.4). */
#define ring_validate_or_return(cond, err) \
	do {                               \
		if (!(cond))               \
			return (err);      \
	} while (0)

#define RING_LIKELY(x) __builtin_expect(!!(x), 1)
#define RING_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- the process-local topic handle ---- */

struct ring_topic {
	struct ring_control *ctl;	/* the shared control area */
	uint8_t *data;			/* data area, mapped twice back to back */
	void *map_base;			/* whole reservation, for munmap */
	size_t map_len;
	uint64_t capacity;		/* copied from the validated header: */
	uint64_t mask;			/* a hostile writer cannot change */
	uint64_t max_record;		/* what this process relies on */
	uint64_t max_span;		/* largest claim: capacity / 4 */
	unsigned capacity_shift;
	uint32_t flags;
	char name[RING_TOPIC_NAME_MAX + 1];
	char data_dir[4096];		/* canonical; "" when the topic has none */
};

static inline struct ring_record_header *ringi_header_at(const struct ring_topic *t, uint64_t pos)
{
	return (struct ring_record_header *)(t->data + (pos & t->mask));
}

/*
 * May a reader load the header word at @pos? Only below the limit: the
 * bytes of a position at or past it may be being zeroed for this lap
 * right now. C3 (acquire) pairs with M3 in maintain.c: the bytes of every
 * position below the limit were zeroed for its lap before the limit was
 * raised past it, so reading its word races with no cleaning; what it
 * holds is zero, or a word a producer of this lap put there by CAS (P2,
 * P3). *@limit_seen caches the last limit loaded (by one reader or group
 * member): the limit moves once per half ring, so it is reloaded only when
 * @pos reaches it. (Checking the tail instead would do as well but cost a
 * cache miss per record, on the line every producer writes, and steal it
 * from them: memory-ordering.md, "C3".)
 */
static inline bool ringi_below_limit(const struct ring_topic *t, uint64_t pos,
				     uint64_t *limit_seen)
{
	if (RING_LIKELY(pos < *limit_seen))
		return true;
	*limit_seen = ring_load_acquire(&t->ctl->limit.pos);
	return pos < *limit_seen;
}

static inline bool ringi_is_persistent(const struct ring_topic *t)
{
	return !(t->flags & RING_TOPIC_EPHEMERAL);
}

/*
 * Handles written on every record (producers, readers) get cache lines of
 * their own: two threads' handles sharing a line would bounce it between
 * cores on every record (false sharing). Zeroed, like calloc().
 */
void *ringi_alloc_lines(size_t size);

/* ---- speculative reads of the ring (reader.c) ---- */

/*
 * A header word read by code that holds nothing back: an ordinary reader,
 * stat. The maintainer may be zeroing it for reuse, or a producer writing
 * the next lap over it, while it is read; the caller validates what it
 * got (the record's lap, then `oldest`: C2) before trusting it. These,
 * and an ordinary reader's copy of a record (reader.c), are the only reads
 * of ring memory made that way: racy by design, so ThreadSanitizer builds
 * are told to ignore them (atomics.h, "The seqlock pair"). The acquire
 * form is C1; the seq_cst one is for futex sleep conditions (W2).
 */
uint64_t ringi_seqlock_word(const struct ring_topic *t, uint64_t pos);
uint64_t ringi_seqlock_word_seq_cst(const struct ring_topic *t, uint64_t pos);

/* ---- names (name.c) ---- */

/* 0 if @name is a valid topic name, else -EINVAL. */
int ringi_topic_name_check(const char *name);
/* The shm object name for (data_dir, name): "/ringlog.<hash of the
 * canonical data_dir>.<name>". @data_dir NULL is the ephemeral namespace. */
int ringi_shm_name(const char *data_dir, const char *name, char *buf, size_t size);
/* The prefix every shm name of @data_dir starts with ("ringlog.<hash>."),
 * without the leading '/', as listed in /dev/shm. */
int ringi_shm_prefix(const char *data_dir, char *buf, size_t size);

/* ---- mapping (shm.c) ---- */

/* Create and size a new shm object (O_EXCL) or a memfd for
 * RING_TOPIC_ANON; map it. On success the control area is zero. */
int ringi_map_create(const char *shm_name, uint64_t capacity, uint32_t flags, unsigned mode,
		     int numa_node, struct ring_topic *t);
/* Open and map an existing object, after validating its header. */
int ringi_map_open(const char *shm_name, struct ring_topic *t);
void ringi_unmap(struct ring_topic *t);

/* ---- topics (topic.c) ---- */

/* Create the shm ring of a topic whose settings are already resolved, with
 * its first position at @base_pos (ringd recreates a persistent topic's
 * ring at the end of its log after a reboot). */
int ringi_topic_create_ring(const char *data_dir, const char *name,
			    const struct ring_topic_config *config, uint64_t base_pos,
			    struct ring_topic **ret_topic);

/* ---- history: what is older than the ring (history.c) ---- */

/* A reader's cursor over the segment files (history.c). */
struct ringi_history;

/* Read the record at @pos from the topic's segment files into @buf
 * (max_record bytes), through the cursor *@h (created on first use):
 * 1 record, 0 padding (rec->next_position set), -ERANGE if no file holds
 * it (retention, or an ephemeral topic), -EBADMSG if it is damaged. */
int ringi_history_read(struct ringi_history **h, struct ring_topic *t, uint64_t pos, void *buf,
		       struct ring_record *rec);
void ringi_history_free(struct ringi_history *h);
/* The oldest retained position: the first segment's base, or the ring's
 * oldest for an ephemeral topic. */
uint64_t ringi_earliest_position(struct ring_topic *t);
/* The first record with timestamp >= @ts_ns (segment time indexes, then
 * the ring); the tail if there is none. */
uint64_t ringi_position_for_time(struct ring_topic *t, uint64_t ts_ns);

/* ---- time (clock.c) ---- */

uint64_t ringi_now_ns(void);		/* CLOCK_MONOTONIC */
uint64_t ringi_realtime_ns(void);	/* CLOCK_REALTIME */

/* A clock read through the TSC between anchors (clock.c), for what reads
 * the time on every record: a producer's timestamps (CLOCK_REALTIME), a
 * group member's deadlines (CLOCK_MONOTONIC). One state per thread. */
struct ringi_clock {
	uint64_t tsc, ns;	/* the last anchor */
	uint64_t mult;		/* ns per tick, 32.32 fixed point; 0: not calibrated */
	clockid_t id;
	bool enabled;		/* the kernel keeps time with the TSC */
};

void ringi_clock_init(struct ringi_clock *c, clockid_t id);
/* The clock's time within about a microsecond, in a few ns. */
uint64_t ringi_clock_now(struct ringi_clock *c);

/* ---- process liveness (liveness.c) ---- */

/* pid | (start ticks & 0xffffffff) << 32 for this process or thread. */
uint64_t ringi_owner_self_process(void);
uint64_t ringi_owner_self_thread(void);
/* false only if the owner is certainly gone: no such pid, a zombie, or a
 * pid reused by a process that started at another time. */
bool ringi_owner_alive(uint64_t owner);
static inline int32_t ringi_owner_pid(uint64_t owner)
{
	return (int32_t)(owner & 0xffffffffu);
}

/* ---- futex waits (wait.c) ---- */

/* Sleep on @f for at most @timeout_ns unless @ready(@arg) holds after
 * registering as a waiter. @ready must read its condition with seq_cst. */
void ringi_wait_slice(struct ring_futex_line *f, bool (*ready)(void *), void *arg,
		      uint64_t timeout_ns);
/* Sleep until any of @n lines is woken, @timeout_ns passes or a signal
 * arrives, unless @ready(@arg) holds after registering on all of them
 * (ringd waits for any of its topics this way: futex_waitv). */
#define RING_WAIT_MANY_MAX 128u
void ringi_wait_many(struct ring_futex_line *const *lines, unsigned n, bool (*ready)(void *),
		     void *arg, uint64_t timeout_ns);
/* Wake every sleeper on @f; free (one load) when nobody sleeps. Returns
 * how many were registered as sleepers when it looked. */
unsigned ringi_wake_all(struct ring_futex_line *f);

/* How long to spin before sleeping, and the longest single sleep: waiters
 * wake at least this often to run the housekeeping a dead peer needs. */
#define RING_SPIN_NS 20000u
#define RING_SLEEP_SLICE_NS 10000000u

/* Deadline helpers for timeout_ns arguments (0, RING_WAIT_FOREVER, n). */
static inline uint64_t ringi_deadline(int64_t timeout_ns, uint64_t now)
{
	if (timeout_ns < 0)
		return UINT64_MAX;
	return now + (uint64_t)timeout_ns;
}

/* ---- checksums (crc32c.c) ---- */

uint32_t ringi_crc32c(uint32_t crc, const void *buf, size_t len);
/* The table-driven fallback, exposed so tests can compare it with the
 * hardware path. */
uint32_t ringi_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* ---- crash points (crashpoint.c) ---- */

#if RING_CRASH_POINTS
void ringi_crash_point(const char *name);
#define RING_CRASH_POINT(name) ringi_crash_point(name)
#else
#define RING_CRASH_POINT(name) ((void)0)
#endif

#endif /* RING_INTERNAL_H */
