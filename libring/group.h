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
