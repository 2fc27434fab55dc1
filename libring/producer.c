/* SPDX-License-Identifier: MIT */
/*
 * producer.c - the write path: claim space, write in place, commit.
 *
 * A claim is two CASes: the tail (P1) gives this producer the bytes
 * [pos, pos + span); the header word (P2) marks them CLAIMED by its slot.
 * The commit is a third CAS (P3), CLAIMED -> COMMITTED, which publishes the
 * payload. Between them a producer may die, or stop, at any instruction:
 * ring_topic_maintain() then turns the claim into padding (maintain.c), and
 * the CASes are what make that race-free: a repaired header makes this
 * producer's later CAS fail instead of tearing anything.
 *
 * Nothing here takes a lock or allocates. The only syscalls are a futex
 * wake when a reader sleeps and the waits of a caller that asked to block.
 */
#include <string.h>

#include "internal.h"

struct ring_producer {
	struct ring_topic *topic;
	struct ring_producer_slot *slot;
	unsigned slot_index;
	bool claim_open;
	uint64_t claim_pos;	/* the open claim, to check what commit is given */
	uint64_t claim_word;
	struct ringi_clock clock;	/* record timestamps (clock.c) */
};

/*
 * P5 (release) pairs with M7 (acquire) in maintain.c: whatever this
 * producer wrote into its previous claim is visible before the slot's
 * intent reads anything newer, so the maintainer, which holds reuse back
 * below a live producer's intent, never zeroes those bytes under a write
 * still in flight. Every store to claim_pos goes through here.
 */
static void intent_store(struct ring_producer_slot *s, uint64_t pos)
{
	ring_store_release(&s->claim_pos, pos);
}

static int slot_take(struct ring_topic *t, uint64_t owner, unsigned *ret_index)
{
	for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++) {
		struct ring_producer_slot *s = &t->ctl->producers[i];
		uint64_t expected = 0;

		if (ring_load_relaxed(&s->owner) != 0)
			continue;
		/* R1 (acq_rel): the slot is ours; pairs with R2 (release of a
		 * freed slot), so the previous owner's last writes are done. */
		if (ring_cas_acq_rel(&s->owner, &expected, owner)) {
			intent_store(s, RING_POS_NONE);
			*ret_index = i;
			return 0;
		}
	}
	return -ENOSPC;
}

int ring_producer_open(struct ring_topic *t, struct ring_producer **ret_producer)
{
	struct ring_producer *p;
	uint64_t owner;
	unsigned index;
	int rc;

	ring_validate_or_return(t && ret_producer, -EINVAL);
	owner = ringi_owner_self_process();
	rc = slot_take(t, owner, &index);
	if (rc == -ENOSPC) {
		/* Slots of dead producers are freed by maintenance. */
		(void)ring_topic_maintain(t);
		rc = slot_take(t, owner, &index);
	}
	if (rc < 0)
		return rc;
	p = ringi_alloc_lines(sizeof(*p));
	if (!p) {
		ring_store_release(&t->ctl->producers[index].owner, 0);
		return -ENOMEM;
	}
	p->topic = t;
	p->slot = &t->ctl->producers[index];
	p->slot_index = index;
	ringi_clock_init(&p->clock, CLOCK_REALTIME);
	*ret_producer = p;
	return 0;
}

struct ring_producer *ring_producer_close(struct ring_producer *p)
{
	struct ring_claim c;

	if (!p)
		return NULL;
	if (p->claim_open) {
		c = (struct ring_claim){ .position = p->claim_pos, .word_ = p->claim_word };
		(void)ring_producer_abort(p, &c);
	}
	intent_store(p->slot, RING_POS_NONE);
	/* R2 (release) pairs with R1 of the next owner. */
	ring_store_release(&p->slot->owner, 0);
	free(p);
	return NULL;
}

/* Sleep condition for a full ring: seq_cst, as ringi_wait_slice() needs. */
struct space_wait {
	struct ring_topic *topic;
	uint64_t span;
};

static bool space_ready(void *arg)
{
	const struct space_wait *w = arg;
	struct ring_control *ctl = w->topic->ctl;

	return ring_load_seq_cst(&ctl->tail.pos) + w->span <= ring_load_seq_cst(&ctl->limit.pos);
}

/* Wait until a claim of @span bytes might fit; -EAGAIN / -ETIMEDOUT. */
static int space_wait(struct ring_topic *t, uint64_t span, int64_t timeout_ns, uint64_t *deadline)
{
	struct space_wait w = { .topic = t, .span = span };
	uint64_t now;

	/* Housekeeping may free space at once: it is what raises the limit
	 * when no ringd is there to do it. */
	(void)ring_topic_maintain(t);
	if (space_ready(&w))
		return 0;
	if (timeout_ns == 0)
		return -EAGAIN;
	now = ringi_now_ns();
	if (*deadline == 0)
		*deadline = ringi_deadline(timeout_ns, now);
	if (now >= *deadline)
		return -ETIMEDOUT;
	/* Sleep in short slices: whoever frees space may have no way to know
	 * we sleep (a reader moving on), and the next slice's maintenance
	 * call notices it. */
	ringi_wait_slice(&t->ctl->space_wait, space_ready, &w,
			 *deadline - now < 1000000u ? *deadline - now : 1000000u);
	return 0;
}

/* P1: claim [pos, pos + span) by moving the tail; the space is zero. */
static int claim_space(struct ring_producer *p, uint64_t span, int64_t timeout_ns,
		       uint64_t *ret_pos)
{
	struct ring_topic *t = p->topic;
	struct ring_control *ctl = t->ctl;
	uint64_t deadline = 0;
	int rc;

	for (;;) {
		/* Relaxed: re-read under the CAS below, which catches staleness. */
		uint64_t tail = ring_load_relaxed(&ctl->tail.pos);

		/* P0 (acquire) pairs with M3 in maintain.c: the space below
		 * the limit has been zeroed for reuse. */
		while (tail + span <= ring_load_acquire(&ctl->limit.pos)) {
			/* The intent, so that maintenance can tell whose claim
			 * this is if we die before writing its header, and
			 * holds reuse back while we may still write (P5; the
			 * CAS below publishes it too). */
			intent_store(p->slot, tail);
			/* P1 (acq_rel) pairs with P1 of other producers and
			 * with M1's acquire load of the tail in maintain.c. */
			if (ring_cas_acq_rel(&ctl->tail.pos, &tail, tail + span)) {
				*ret_pos = tail;
				return 0;
			}
		}
		/* Full. A stale intent must not look like a claim. */
		intent_store(p->slot, RING_POS_NONE);
		rc = space_wait(t, span, timeout_ns, &deadline);
		if (rc < 0)
			return rc;
	}
}

/*
 * Claim @span bytes and take their first header word (P2). The header CAS
 * fails only if maintenance already turned the zero word into padding
 * (this producer was held up between its two CASes past the repair): the
 * space is lost to padding and we simply claim again, a bounded number of
 * times.
 */
static int claim(struct ring_producer *p, uint64_t span, int64_t timeout_ns, uint64_t *ret_pos,
		 uint64_t *ret_word)
{
	struct ring_topic *t = p->topic;

	for (unsigned attempt = 0; attempt < 64; attempt++) {
		uint64_t pos, expected = 0, word;
		int rc = claim_space(p, span, timeout_ns, &pos);

		if (rc < 0)
			return rc;
		RING_CRASH_POINT("producer.after_tail");
		word = ring_word_make(RING_STATE_CLAIMED, p->slot_index,
				      ring_lap_of(pos, t->capacity_shift), (uint32_t)span);
		/* P2 (acq_rel) pairs with the maintainer's repair CASes (M4,
		 * M5): exactly one of us owns the word. */
		if (ring_cas_acq_rel(&ringi_header_at(t, pos)->word, &expected, word)) {
			RING_CRASH_POINT("producer.after_header");
			*ret_pos = pos;
			*ret_word = word;
			return 0;
		}
	}
	intent_store(p->slot, RING_POS_NONE);
	return -EAGAIN;
}

static void header_fill(struct ring_record_header *h, uint32_t type, uint64_t ts)
{
	/* Plain stores: published by the commit (P3). */
	h->timestamp_ns = ts;
	h->type = type;
	h->crc32c = 0;
}

/*
 * Claim a record of @len payload bytes and fill its header: the clock is
 * read before the claim, because between the header CAS and the commit a
 * reader may be polling the header's line, and every moment the line is
 * ours then saves it a trip back. Shared by reserve and publish, so that
 * publish needs no call through the exported reserve/commit (which, being
 * interposable in the shared library, would go through the PLT).
 */
static int claim_record(struct ring_producer *p, uint32_t type, size_t len, int64_t timeout_ns,
			uint64_t *ret_pos, uint64_t *ret_word)
{
	uint64_t ts;
	int rc;

	if (len > p->topic->max_record)
		return -EMSGSIZE;
	ts = ringi_clock_now(&p->clock);
	rc = claim(p, ring_record_span(len), timeout_ns, ret_pos, ret_word);
	if (rc == 0)
		header_fill(ringi_header_at(p->topic, *ret_pos), type, ts);
	return rc;
}

int ring_producer_reserve(struct ring_producer *p, uint32_t type, size_t len, int64_t timeout_ns,
			  struct ring_claim *ret_claim)
{
	uint64_t pos, word;
	int rc;

	ring_validate_or_return(p && ret_claim && !p->claim_open, -EINVAL);
	rc = claim_record(p, type, len, timeout_ns, &pos, &word);
	if (rc < 0)
		return rc;
	p->claim_open = true;
	p->claim_pos = pos;
	p->claim_word = word;
	*ret_claim = (struct ring_claim){
		.payload = ringi_header_at(p->topic, pos) + 1,
		.len = (uint32_t)len,
		.type = type,
		.position = pos,
		.word_ = word,
	};
	return 0;
}

static bool claim_matches(const struct ring_producer *p, const struct ring_claim *c)
{
	return p->claim_open && c->position == p->claim_pos && c->word_ == p->claim_word;
}

static void claim_close(struct ring_producer *p)
{
	p->claim_open = false;
	intent_store(p->slot, RING_POS_NONE);
}

/* CLAIMED -> COMMITTED(len) for the claim at @pos; false if repaired. */
static bool commit_word(struct ring_producer *p, uint64_t pos, uint64_t claimed, uint32_t len)
{
	struct ring_topic *t = p->topic;
	uint64_t committed = ring_word_make(RING_STATE_COMMITTED, p->slot_index,
					    ring_word_lap(claimed), len);
	bool ok;

	RING_CRASH_POINT("producer.before_commit");
	/* P3 (seq_cst) pairs with C1 (acquire) in reader.c: the payload,
	 * timestamp and type written before it are visible with it. seq_cst
	 * rather than release because the W1 load of the waiter count in
	 * ringi_wake_all() must not be ordered before it (wait.c). */
	ok = ring_cas_seq_cst(&ringi_header_at(t, pos)->word, &claimed, committed);
	claim_close(p);
	if (ok)
		ringi_wake_all(&t->ctl->data_wait);
	return ok;
}

int ring_producer_commit(struct ring_producer *p, const struct ring_claim *c)
{
	ring_validate_or_return(p && c && claim_matches(p, c), -EINVAL);
	return commit_word(p, c->position, c->word_, c->len) ? 0 : -ETIMEDOUT;
}

int ring_producer_abort(struct ring_producer *p, const struct ring_claim *c)
{
	struct ring_topic *t;
	uint64_t expected;

	ring_validate_or_return(p && c && claim_matches(p, c), -EINVAL);
	t = p->topic;
	expected = c->word_;
	/* P4 (release): the claim becomes padding of its whole span. If the
	 * CAS fails, maintenance made it padding already: same outcome. */
	(void)ring_cas_acq_rel(&ringi_header_at(t, c->position)->word, &expected,
			       ring_word_make(RING_STATE_SKIPPED, p->slot_index,
					      ring_word_lap(c->word_), ring_word_len(c->word_)));
	claim_close(p);
	ringi_wake_all(&t->ctl->data_wait);
	return 0;
}

int ring_producer_publish(struct ring_producer *p, uint32_t type, const void *data, size_t len,
			  int64_t timeout_ns, uint64_t *ret_position)
{
	uint64_t pos, word;
	void *payload;
	int rc;

	ring_validate_or_return(p && !p->claim_open && (data || len == 0), -EINVAL);
	/* No claim is handed out: nothing else can see or close it, so the
	 * bookkeeping of reserve (claim_open, claim_pos) is not needed. */
	rc = claim_record(p, type, len, timeout_ns, &pos, &word);
	if (rc < 0)
		return rc;
	payload = ringi_header_at(p->topic, pos) + 1;
#if RING_CRASH_POINTS
	memcpy(payload, data, len / 2);
	RING_CRASH_POINT("producer.mid_payload");
	memcpy((uint8_t *)payload + len / 2, (const uint8_t *)data + len / 2, len - len / 2);
#else
	if (len)
		memcpy(payload, data, len);
#endif
	if (!commit_word(p, pos, word, (uint32_t)len))
		return -ETIMEDOUT;
	if (ret_position)
		*ret_position = pos;
	return 0;
}

int ring_producer_publish_batch(struct ring_producer *p, const struct ring_message *m,
				unsigned count, int64_t timeout_ns, uint64_t *ret_position)
{
	struct ring_topic *t;
	uint64_t span = 0, pos, word, at, ts;

	ring_validate_or_return(p && m && !p->claim_open, -EINVAL);
	ring_validate_or_return(count >= 1 && count <= RING_BATCH_MAX, -EINVAL);
	t = p->topic;
	for (unsigned i = 0; i < count; i++) {
		ring_validate_or_return(m[i].data || m[i].len == 0, -EINVAL);
		if (m[i].len > t->max_record)
			return -EMSGSIZE;
		span += ring_record_span(m[i].len);
	}
	if (span > t->max_span)
		return -EMSGSIZE;

	/* One claim for the whole batch: its first header holds
	 * CLAIMED(span), so a repair skips the batch whole. The clock
	 * first, as in ring_producer_reserve(). */
	ts = ringi_clock_now(&p->clock);
	int rc = claim(p, span, timeout_ns, &pos, &word);

	if (rc < 0)
		return rc;
	p->claim_open = true;
	p->claim_pos = pos;
	p->claim_word = word;
	at = pos + ring_record_span(m[0].len);
	for (unsigned i = 1; i < count; i++) {
		struct ring_record_header *h = ringi_header_at(t, at);

		header_fill(h, m[i].type, ts);
		if (m[i].len)
			memcpy(h + 1, m[i].data, m[i].len);
		/* Relaxed: no reader looks past the first header until P3
		 * publishes it, and everything before P3 with it. */
		ring_store_relaxed(&h->word, ring_word_make(RING_STATE_COMMITTED, p->slot_index,
							    ring_lap_of(at, t->capacity_shift),
							    m[i].len));
		if (i == count / 2)
			RING_CRASH_POINT("producer.batch_mid");
		at += ring_record_span(m[i].len);
	}
	header_fill(ringi_header_at(t, pos), m[0].type, ts);
	if (m[0].len)
		memcpy(ringi_header_at(t, pos) + 1, m[0].data, m[0].len);
	if (!commit_word(p, pos, word, m[0].len))
		return -ETIMEDOUT;
	if (ret_position)
		*ret_position = pos;
	return (int)count;
}
