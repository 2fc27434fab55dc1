/* SPDX-License-Identifier: MIT */
/*
 * group.h - consumer groups' shared state: slots, in-flight entries and
 * the committed position (group.c), used by consumer.c and ringd.
 */
#ifndef RING_GROUP_H
#define RING_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

enum ring_inflight_state {
	RING_INFLIGHT_FREE = 0,
	RING_INFLIGHT_PENDING = 1,
	RING_INFLIGHT_DELIVERED = 2,
	RING_INFLIGHT_RELEASED = 3,
};

#define RING_INFLIGHT_DEADLINE_MASK ((UINT64_C(1) << 48) - 1)
/* The member of an entry ringd restored after a reboot: none (no member
 * slot has this number, so every scan judges it gone). */
#define RING_INFLIGHT_NO_MEMBER 63u

static inline uint64_t ringi_inflight_make(enum ring_inflight_state st, unsigned member,
					   unsigned deliveries, uint64_t deadline_ms)
{
	return ((uint64_t)st << 62) | ((uint64_t)(member & 0x3f) << 56) |
	       ((uint64_t)(deliveries > 255 ? 255 : deliveries) << 48) |
	       (deadline_ms & RING_INFLIGHT_DEADLINE_MASK);
}

static inline enum ring_inflight_state ringi_inflight_state(uint64_t meta)
{
	return (enum ring_inflight_state)(meta >> 62);
}

static inline unsigned ringi_inflight_member(uint64_t meta)
{
	return (unsigned)((meta >> 56) & 0x3f);
}

static inline unsigned ringi_inflight_deliveries(uint64_t meta)
{
	return (unsigned)((meta >> 48) & 0xff);
}

static inline uint64_t ringi_inflight_deadline(uint64_t meta)
{
	return meta & RING_INFLIGHT_DEADLINE_MASK;
}

int ringi_group_name_check(const char *name);

/* Find group @name; with @create, create it (mode, committed = next =
 * @start_pos) if it does not exist. -ENOENT, -ENOSPC (table full), or
 * -ETIMEDOUT (a live creator has held a slot on the probe path in INIT
 * for seconds). Thread- and process-safe. */
int ringi_group_find(struct ring_topic *t, const char *name, bool create, uint32_t mode,
		     uint64_t start_pos, struct ring_group_slot **ret_slot);

/* A group's state as ringd restores it from the offsets log. */
struct ringi_group_init {
	uint64_t committed;
	uint64_t next;			/* shared: the next position to hand out */
	unsigned count;			/* shared: in-flight records, at most RING_GROUP_INFLIGHT */
	const uint64_t *pos;		/* their positions, in [committed, next), 8-aligned */
	const uint8_t *deliveries;	/* and deliveries so far, each at least 1 */
};

/*
 * Create group @name as ringi_group_find() does, but with committed and
 * next from @init and @init's in-flight records as entries released by no
 * member (RING_INFLIGHT_NO_MEMBER), due at once with their delivery
 * counts, all written before the slot is published (G4): a member that
 * joins sees the whole restored state or no group. An existing group is
 * returned as it is. -EINVAL if @init makes no sense (see its fields; in
 * flight records for an exclusive group), else as ringi_group_find().
 * For ringd, before it attaches to a ring it recreated.
 */
int ringi_group_restore(struct ring_topic *t, const char *name, uint32_t mode,
			const struct ringi_group_init *init, struct ring_group_slot **ret_slot);

/*
 * Shared groups: a snapshot for the offsets log. *ret_next is `next`,
 * loaded first; @pos and @deliveries get, sorted by position and each
 * once, the positions below it of every entry that is not FREE, with
 * their delivery counts; returns how many. A superset of the records
 * below *ret_next still unacked when the call returns (the argument is at
 * the definition, group.c); a record acked during the call may be in it.
 * Reads only; any thread or process.
 */
unsigned ringi_group_inflight_snapshot(struct ring_group_slot *g, uint64_t *ret_next,
				       uint64_t pos[RING_GROUP_INFLIGHT],
				       uint8_t deliveries[RING_GROUP_INFLIGHT]);

/* Shared groups: the lowest position not yet acked (or `next`). A
 * snapshot that is never above the true watermark: entries are read one
 * by one, and a position leaves the table only once it is acked. */
uint64_t ringi_group_watermark(struct ring_group_slot *g);

/*
 * Does a record start at @pos (or is it the tail)? 0 if so; -EBADMSG if it
 * falls inside a record (or the segment file there is damaged); -ERANGE if
 * it is past the tail or older than the files and the ring hold; -EAGAIN
 * if a claim not yet committed lies between the ring's oldest record and
 * @pos, so it cannot be told yet. Walks the ring from its oldest record:
 * for operators and for opening a group, not for a hot path.
 */
int ringi_position_check(struct ring_topic *t, uint64_t pos);

/* Move the committed position forward to @pos (never back; G6). */
void ringi_group_raise_committed(struct ring_group_slot *g, uint64_t pos);

#endif /* RING_GROUP_H */
