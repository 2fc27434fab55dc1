/* SPDX-License-Identifier: MIT */
/*
 * reader.c - the read path: a private cursor over the ring.
 *
 * A header is trusted only once it reads COMMITTED (or SKIPPED) with the lap
 * of the position it is read at (C1). An ordinary reader then copies the
 * record out and checks that the maintainer has not started reusing it
 * meanwhile (C2, the seqlock pair in atomics.h): the copy is either intact
 * or thrown away with -EOVERFLOW, never torn. A gating reader holds the
 * maintainer back instead (G1/G2), so it can hand out pointers into the ring.
 */
#include <string.h>

#include "internal.h"

struct ring_reader {
	struct ring_topic *topic;
	uint64_t pos;			/* next record to deliver */
	uint32_t flags;
	struct ring_gating_slot *gate;	/* NULL for an ordinary reader */
	uint64_t gate_pos;		/* last position published in gate */
	uint64_t limit_seen;		/* a limit this reader has loaded (C3) */
	uint8_t *buf;			/* ordinary readers' copies, max_record bytes */
	bool overflow_pending;		/* overtaken after poll delivered some records */
};

#define KNOWN_FLAGS (RING_READER_GATING | RING_READER_DURABLE)

static bool in_ring(const struct ring_topic *t, uint64_t pos)
{
	struct ring_control *ctl = t->ctl;

	return pos >= ring_load_acquire(&ctl->oldest.pos) &&
	       pos <= ring_load_acquire(&ctl->tail.pos);
}

/*
 * G1: register a gating reader at *pos. Store-then-load on both sides (we
 * store our position then read `oldest`; the maintainer reads our position
 * then stores `oldest`), so both are seq_cst: either the maintainer sees
 * our position and does not clean past it, or we see that it already has
 * and move up (EARLIEST) or refuse.
 */
static int gate_register(struct ring_reader *r, uint32_t start, uint64_t *pos)
{
	struct ring_control *ctl = r->topic->ctl;
	uint64_t owner = ringi_owner_self_process();

	for (unsigned i = 0; i < RING_MAX_GATING_READERS; i++) {
		struct ring_gating_slot *g = &ctl->gating[i];
		uint64_t expected = 0;

		if (ring_load_relaxed(&g->owner) != 0)
			continue;
		/* R1 (acq_rel), as for producer slots. Until our position is
		 * stored below, the slot holds a stale position: at worst it
		 * holds the maintainer back a moment longer. */
		if (!ring_cas_acq_rel(&g->owner, &expected, owner))
			continue;
		for (unsigned tries = 0; tries < 1000; tries++) {
			uint64_t oldest;

			ring_store_seq_cst(&g->pos, *pos);		/* G1 */
			oldest = ring_load_seq_cst(&ctl->oldest.pos);	/* G1 */
			if (oldest <= *pos) {
				r->gate = g;
				r->gate_pos = *pos;
				return 0;
			}
			if (start != RING_START_EARLIEST)
				break;
			*pos = oldest;
		}
		ring_store_release(&g->owner, 0);	/* R2 */
		return start == RING_START_EARLIEST ? -EAGAIN : -ERANGE;
	}
	return -ENOSPC;
}

int ring_reader_open(struct ring_topic *t, const struct ring_reader_config *config,
		     struct ring_reader **ret_reader)
{
	struct ring_reader_config c = { 0 };
	struct ring_reader *r;
	uint64_t pos;
	int rc;

	ring_validate_or_return(t && ret_reader, -EINVAL);
	if (config)
		c = *config;
	ring_validate_or_return(!(c.flags & ~(uint32_t)KNOWN_FLAGS), -EINVAL);
	ring_validate_or_return(c.start <= RING_START_POSITION, -EINVAL);
	/* Ephemeral topics are never fsynced: nothing would ever be durable. */
	ring_validate_or_return(!(c.flags & RING_READER_DURABLE) || ringi_is_persistent(t),
				-EINVAL);
	switch (c.start) {
	case RING_START_EARLIEST:
		pos = ring_load_acquire(&t->ctl->oldest.pos);
		break;
	case RING_START_LATEST:
		pos = ring_load_acquire(&t->ctl->tail.pos);
		break;
	default:
		ring_validate_or_return(c.position % 8 == 0, -EINVAL);
		if (!in_ring(t, c.position))
			return -ERANGE;
		pos = c.position;
		break;
	}
	r = ringi_alloc_lines(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->topic = t;
	r->flags = c.flags;
	if (c.flags & RING_READER_GATING) {
		rc = gate_register(r, c.start, &pos);
	} else {
		r->buf = aligned_alloc(8, ring_align8(t->max_record) ? ring_align8(t->max_record) : 8);
		rc = r->buf ? 0 : -ENOMEM;
	}
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->pos = pos;
	*ret_reader = r;
	return 0;
}

struct ring_reader *ring_reader_close(struct ring_reader *r)
{
	if (!r)
		return NULL;
	if (r->gate) {
		/* R2 (release): our reads are done before the slot is free. */
		ring_store_release(&r->gate->owner, 0);
		/* Producers may be waiting on us. */
		ringi_wake_all(&r->topic->ctl->space_wait);
	}
	free(r->buf);
	free(r);
	return NULL;
}

uint64_t ring_reader_position(const struct ring_reader *r)
{
	return r ? r->pos : 0;
}

int ring_reader_seek(struct ring_reader *r, uint64_t pos)
{
	ring_validate_or_return(r && pos % 8 == 0, -EINVAL);
	if (!in_ring(r->topic, pos))
		return -ERANGE;
	if (r->gate) {
		/* Moving back below what we published would need the G1
		 * handshake again; moving forward is a plain release. */
		if (pos < r->gate_pos)
			return -ERANGE;
	}
	r->pos = pos;
	return 0;
}

/* G2 (release): everything below r->pos has been read; pairs with the
 * maintainer's seq_cst (acquire) load of the slot in maintain.c. */
static void gate_publish(struct ring_reader *r)
{
	if (!r->gate || r->gate_pos == r->pos)
		return;
	ring_store_release(&r->gate->pos, r->pos);
	r->gate_pos = r->pos;
	/* A producer sleeping on a full ring needs housekeeping to run to
	 * see the space we just freed. */
	if (ring_load_seq_cst_u32(&r->topic->ctl->space_wait.waiters))
		(void)ring_topic_maintain(r->topic);
}

static int overrun(struct ring_reader *r)
{
	r->pos = ring_load_acquire(&r->topic->ctl->oldest.pos);
	return -EOVERFLOW;
}

/*
 * The racy-by-design reads below are invisible to ThreadSanitizer: their
 * result is used only once validated, and a read that is accepted is
 * ordered before any reuse by the read-modify-write pair TSan builds use
 * for M2/C2 (atomics.h). The atomic loads keep their acquire semantics for
 * TSan; only the access itself is not recorded. Nothing else in libring is
 * hidden from it.
 */
#ifdef RING_TSAN
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define SEQLOCK_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define SEQLOCK_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define SEQLOCK_READS_BEGIN() ((void)0)
#define SEQLOCK_READS_END() ((void)0)
#endif

uint64_t ringi_seqlock_word(const struct ring_topic *t, uint64_t pos)
{
	uint64_t w;

	SEQLOCK_READS_BEGIN();
	/* C1 (acquire) pairs with P3 in producer.c (and M4/M5, the repairs,
	 * in maintain.c): a COMMITTED word of the position's lap makes the
	 * payload, timestamp and type written before it visible. */
	w = ring_load_acquire(&ringi_header_at(t, pos)->word);
	SEQLOCK_READS_END();
	return w;
}

uint64_t ringi_seqlock_word_seq_cst(const struct ring_topic *t, uint64_t pos)
{
	uint64_t w;

	SEQLOCK_READS_BEGIN();
	/* As C1, and seq_cst for the W2 sleep check (wait.c). */
	w = ring_load_seq_cst(&ringi_header_at(t, pos)->word);
	SEQLOCK_READS_END();
	return w;
}

/*
 * An ordinary reader's copy of a committed record: its header fields and
 * payload, read while the maintainer may already be zeroing them for the
 * next lap. Whatever this reads is used only if the C2 check after it
 * says the maintainer had not started (the seqlock in atomics.h).
 */
static void seqlock_copy(uint8_t *buf, const struct ring_record_header *h, uint32_t len,
			 struct ring_record *rec)
{
	SEQLOCK_READS_BEGIN();
	rec->timestamp_ns = h->timestamp_ns;
	rec->type = h->type;
	memcpy(buf, h + 1, len);
	SEQLOCK_READS_END();
}

/*
 * Deliver the record at r->pos if it is ready: 0, -EAGAIN (not yet),
 * -EOVERFLOW, -EBADMSG. Padding is skipped on the way.
 */
static int read_one(struct ring_reader *r, struct ring_record *rec)
{
	struct ring_topic *t = r->topic;
	struct ring_control *ctl = t->ctl;

	/* Bounded: each turn advances by at least 8 bytes of padding. */
	for (uint64_t walked = 0; walked <= t->capacity;) {
		uint64_t pos = r->pos, w, span;
		struct ring_record_header *h = ringi_header_at(t, pos);

		/* C3: nothing at or past the limit is read (internal.h). */
		if (!ringi_below_limit(t, pos, &r->limit_seen))
			return -EAGAIN;
		/* C1: a gating reader's word is held from reuse, an ordinary
		 * reader's may be being reused (then the lap or C2 says so). */
		w = r->gate ? ring_load_acquire(&h->word) : ringi_seqlock_word(t, pos);
		if (ring_word_lap(w) != ring_lap_of(pos, t->capacity_shift) ||
		    ring_word_state(w) < RING_STATE_COMMITTED) {
			/* Not written yet, or already reused by a later lap. */
			if (!r->gate && pos < ring_load_acquire(&ctl->oldest.pos))
				return overrun(r);
			return -EAGAIN;
		}
		span = ring_word_span(w, t->max_record, t->max_span);
		if (!span)
			return -EBADMSG;
		if (ring_word_state(w) == RING_STATE_SKIPPED) {
			r->pos = pos + span;
			walked += span;
			continue;
		}
		if ((r->flags & RING_READER_DURABLE) &&
		    pos + span > ring_load_acquire(&ctl->durable.pos))
			return -EAGAIN;

		uint32_t len = ring_word_len(w);

		rec->len = len;
		rec->position = pos;
		rec->next_position = pos + span;
		rec->deliveries = 1;
		rec->reserved = 0;
		if (r->gate) {
			/* In place: our gate keeps these bytes from reuse. */
			rec->timestamp_ns = h->timestamp_ns;
			rec->type = h->type;
			rec->payload = h + 1;
		} else {
			seqlock_copy(r->buf, h, len, rec);
			rec->payload = r->buf;
			/* C2 pairs with M2 in maintain.c: if the maintainer had
			 * started reusing this record, the copy may be torn. */
			if (ring_seqlock_validate(&ctl->oldest.pos) > pos)
				return overrun(r);
		}
		r->pos = pos + span;
		return 0;
	}
	return -EAGAIN;
}

/* Sleep condition for readers: seq_cst, as ringi_wait_slice() needs. */
static bool data_ready(void *arg)
{
	const struct ring_reader *r = arg;
	const struct ring_topic *t = r->topic;
	uint64_t w = ringi_seqlock_word_seq_cst(t, r->pos);

	if (r->flags & RING_READER_DURABLE)
		return ring_load_seq_cst(&t->ctl->durable.pos) > r->pos;
	return (ring_word_state(w) >= RING_STATE_COMMITTED &&
		ring_word_lap(w) == ring_lap_of(r->pos, t->capacity_shift)) ||
	       ring_load_seq_cst(&t->ctl->oldest.pos) > r->pos;
}

/* True if the record at our position is claimed (or not even claimed)
 * while producers have moved past it: housekeeping may need to repair it. */
static bool stalled(const struct ring_reader *r)
{
	return ring_load_acquire(&r->topic->ctl->tail.pos) > r->pos && !data_ready((void *)r);
}

int ring_reader_next(struct ring_reader *r, struct ring_record *ret_record, int64_t timeout_ns)
{
	struct ring_record rec;
	uint64_t start, deadline;
	int rc;

	ring_validate_or_return(r && ret_record, -EINVAL);
	if (r->overflow_pending) {
		r->overflow_pending = false;
		return -EOVERFLOW;
	}
	gate_publish(r);
	rc = read_one(r, &rec);
	if (rc == -EAGAIN && timeout_ns != 0) {
		start = ringi_now_ns();
		deadline = ringi_deadline(timeout_ns, start);
		/* Spin first: a record is usually a few hundred ns away. */
		for (unsigned i = 0; rc == -EAGAIN; i++) {
			uint64_t now = (i & 63) ? 0 : ringi_now_ns();

			if (now && now - start >= RING_SPIN_NS)
				break;
			if (now && now >= deadline)
				return -ETIMEDOUT;
			ring_cpu_relax();
			rc = read_one(r, &rec);
		}
		/* Then sleep, in slices; each slice ends with housekeeping if
		 * a claim blocks us, which is how a dead producer's claim is
		 * repaired when no ringd serves the topic. */
		while (rc == -EAGAIN) {
			uint64_t now = ringi_now_ns();
			struct ring_futex_line *f = (r->flags & RING_READER_DURABLE)
							    ? &r->topic->ctl->durable_wait
							    : &r->topic->ctl->data_wait;

			if (now >= deadline)
				return -ETIMEDOUT;
			if (stalled(r))
				(void)ring_topic_maintain(r->topic);
			ringi_wait_slice(f, data_ready, r,
					 deadline - now < RING_SLEEP_SLICE_NS ? deadline - now
									      : RING_SLEEP_SLICE_NS);
			rc = read_one(r, &rec);
		}
	}
	if (rc == 0)
		*ret_record = rec;
	return rc;
}

int ring_reader_poll(struct ring_reader *r, ring_record_fn fn, void *arg, unsigned max_count,
		     int64_t timeout_ns)
{
	struct ring_record rec;
	unsigned n = 0;
	int rc;

	ring_validate_or_return(r && fn && max_count > 0, -EINVAL);
	rc = ring_reader_next(r, &rec, timeout_ns);
	while (rc == 0) {
		n++;
		if (fn(&rec, arg) != 0 || n == max_count)
			break;
		rc = read_one(r, &rec);
	}
	/* Records were delivered before the reader was overtaken: report the
	 * loss on the next call rather than hide it behind a count. */
	if (rc == -EOVERFLOW && n > 0)
		r->overflow_pending = true;
	/* The views handed to fn are no longer needed. */
	gate_publish(r);
	return n > 0 ? (int)n : rc;
}
