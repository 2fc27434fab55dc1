/* SPDX-License-Identifier: MIT */
/*
 * history.c - positions older than the ring: where a group starts
 * (earliest, by time), and reading on from the segment files when the ring
 * has moved past a consumer.
 *
 * A consumer that falls behind the ring keeps a cursor here: one open
 * segment and an iterator over it, so reading history is a sequential walk
 * of checked records (segment_reader.c), and the hand-over back to the
 * ring happens at whatever record boundary the consumer has reached: the
 * ring holds every position from `oldest`, and `oldest` never passes
 * `persisted`, so the files and the ring overlap and nothing is skipped or
 * read twice.
 */
#include <string.h>

#include "internal.h"
#include "segment_reader.h"

struct ringi_history {
	char dir[4200];
	uint64_t *bases;
	size_t count;
	struct ringi_segment seg;
	bool iter_live;
	struct ringi_seg_iter iter;
};

static bool has_files(const struct ring_topic *t)
{
	return ringi_is_persistent(t) && t->data_dir[0];
}

static void history_reset(struct ringi_history *h)
{
	if (h->iter_live)
		ringi_seg_iter_free(&h->iter);
	h->iter_live = false;
	ringi_seg_close(&h->seg);
	h->seg.fd = -1;
}

void ringi_history_free(struct ringi_history *h)
{
	if (!h)
		return;
	history_reset(h);
	free(h->bases);
	free(h);
}

/* Position the cursor's iterator at @pos, opening the right segment. */
static int history_seek(struct ringi_history *h, const struct ring_topic *t, uint64_t pos)
{
	uint64_t persisted = ring_load_acquire(&t->ctl->persisted.pos);	/* M0's partner */
	int64_t i;
	int rc;

	if (h->iter_live && h->iter.pos == pos)
		return 0;
	history_reset(h);
	i = h->count ? ringi_seg_find(h->bases, h->count, pos) : -ENOENT;
	if (i < 0 || (size_t)i + 1 == h->count) {
		/* Unknown, or the last known segment: the list may be stale
		 * (rolls, retention). */
		free(h->bases);
		h->bases = NULL;
		rc = ringi_seg_list(h->dir, &h->bases, &h->count);
		if (rc < 0)
			return rc == -ENOENT ? -ERANGE : rc;
		i = ringi_seg_find(h->bases, h->count, pos);
	}
	if (i < 0)
		return -ERANGE;	/* below the first segment: retention took it */
	rc = ringi_seg_open(h->dir, h->bases[i], &h->seg, NULL);
	if (rc < 0)
		return rc == -ENOENT ? -ERANGE : rc;
	/* Never read past what ringd has published as written. */
	rc = ringi_seg_iter_init(&h->iter, &h->seg, pos, persisted, t->max_record);
	if (rc < 0)
		return rc == -EINVAL ? -ERANGE : rc;
	h->iter_live = true;
	return 0;
}

int ringi_history_read(struct ringi_history **hp, struct ring_topic *t, uint64_t pos, void *buf,
		       struct ring_record *rec)
{
	struct ringi_history *h = *hp;
	struct ringi_seg_rec r;
	int rc;

	if (!has_files(t))
		return -ERANGE;
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->seg.fd = -1;
		snprintf(h->dir, sizeof(h->dir), "%s/%s", t->data_dir, t->name);
		*hp = h;
	}
	/* Two turns at most: the end of one segment is the next one's base. */
	for (int turn = 0; turn < 2; turn++) {
		rc = history_seek(h, t, pos);
		if (rc < 0)
			return rc;
		rc = ringi_seg_iter_next(&h->iter, &r);
		if (rc < 0)
			return rc;
		if (rc == 1)
			break;
		/* The end of this segment's records: on to the next file. */
		history_reset(h);
		if (turn == 1)
			return -ERANGE;
	}
	RING_ASSERT(r.pos == pos);
	rec->position = pos;
	rec->next_position = pos + r.span;
	if (!r.committed)
		return 0;
	memcpy(buf, r.bytes + RING_RECORD_HEADER_BYTES, r.len);
	rec->payload = buf;
	rec->len = r.len;
	rec->type = r.type;
	rec->timestamp_ns = r.timestamp_ns;
	rec->deliveries = 1;
	rec->reserved = 0;
	return 1;
}

/* The first committed record at or after @from in the ring whose
 * timestamp is >= @ts_ns, scanning with C1 acquire loads; the position
 * where the scan stopped if none. */
static uint64_t ring_scan_time(const struct ring_topic *t, uint64_t from, uint64_t ts_ns)
{
	uint64_t tail = ring_load_acquire(&t->ctl->tail.pos);
	uint64_t pos = from;

	while (pos < tail && pos - from <= t->capacity) {
		struct ring_record_header *h = ringi_header_at(t, pos);
		uint64_t w = ring_load_acquire(&h->word);
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
	uint64_t oldest = ring_load_acquire(&t->ctl->oldest.pos);
	uint64_t *bases = NULL;
	size_t count = 0;
	char dir[4200];

	if (!has_files(t))
		return oldest;
	snprintf(dir, sizeof(dir), "%s/%s", t->data_dir, t->name);
	if (ringi_seg_list(dir, &bases, &count) == 0 && count && bases[0] < oldest)
		oldest = bases[0];
	free(bases);
	return oldest;
}

uint64_t ringi_position_for_time(struct ring_topic *t, uint64_t ts_ns)
{
	uint64_t oldest = ring_load_acquire(&t->ctl->oldest.pos), pos;
	char dir[4200];

	if (has_files(t)) {
		snprintf(dir, sizeof(dir), "%s/%s", t->data_dir, t->name);
		switch (ringi_seg_time_lookup(dir, ts_ns, t->max_record, &pos)) {
		case 1:
			return pos;
		case 0:
			/* Nothing on disk is that late: on in the ring. */
			return ring_scan_time(t, pos > oldest ? pos : oldest, ts_ns);
		default:
			break;	/* no files or damage: the ring is all we have */
		}
	}
	return ring_scan_time(t, oldest, ts_ns);
}
