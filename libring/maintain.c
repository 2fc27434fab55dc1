/* SPDX-License-Identifier: MIT */
/*
 * maintain.c - the ring's housekeeping: find the committed frontier,
 * repair dead or stuck claims, free dead participants' slots, zero the
 * space that may be reused and raise the producers' limit.
 *
 * One thread in one process runs it at a time, under a lease: a word
 * holding the runner's tid and start time, taken by CAS. The lease is not
 * a lock in the sense that matters: if its holder dies, the next caller
 * sees the holder is dead and takes the lease over, and everything the
 * dead holder did is either finished or safe to do again (zeroing bytes
 * that no producer may claim yet is idempotent; the limit is raised only
 * after the zeroing).
 *
 * The repair of a claim is a CAS on its header word against the producer's
 * own CASes (P2, P3): whoever wins decides, the loser finds out.
 *   - CLAIMED by a dead owner, or stalled past claim_timeout: CAS to
 *     SKIPPED over its whole span (M4). A late commit then fails.
 *   - a zero word below the tail (its owner moved the tail but never
 *     claimed the header): CAS each zero word to an 8-byte SKIPPED (M5)
 *     until a written header; a live owner's header CAS then fails and it
 *     claims again. Its owner is found by the intent it published (P1).
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"

#define LEASE_PATIENCE_NS 10000000u	/* check a lease holder's life after this */
#define SWEEP_INTERVAL_NS 100000000u	/* free dead slots at most this often */
#define MAX_ROUNDS 8u			/* repairs per call, then let others run */

/* ---- the lease ---- */

static __thread uint64_t self_thread_owner;

static void forget_owner(void)
{
	/* After fork the child's thread has another tid. */
	self_thread_owner = 0;
}

static void register_fork_handler(void)
{
	(void)pthread_atfork(NULL, NULL, forget_owner);
}

static uint64_t self_owner(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (!self_thread_owner) {
		(void)pthread_once(&once, register_fork_handler);
		self_thread_owner = ringi_owner_self_thread();
	}
	return self_thread_owner;
}

/*
 * M1 (acq_rel): take the lease; pairs with M6 (release) of the previous
 * holder, so its state (stall, frontier, limit) is visible to us. A holder
 * that has had it for a while is checked for life, and a dead one's lease
 * is taken over.
 */
static bool lease_take(struct ring_control *ctl, uint64_t me)
{
	uint64_t holder = 0;

	if (ring_cas_acq_rel(&ctl->maint.owner, &holder, me))
		goto taken;
	if (holder == me)
		return false;	/* not re-entrant; cannot happen by design */
	if (ringi_now_ns() - ring_load_relaxed(&ctl->maint.taken_ns) < LEASE_PATIENCE_NS ||
	    ringi_owner_alive(holder))
		return false;
	if (!ring_cas_acq_rel(&ctl->maint.owner, &holder, me))
		return false;
taken:
	ring_store_relaxed(&ctl->maint.taken_ns, ringi_now_ns());	/* holder-only */
	return true;
}

static void lease_drop(struct ring_control *ctl, uint64_t me)
{
	RING_ASSERT(ring_load_relaxed(&ctl->maint.owner) == me);
	(void)me;
	/* M6 (release) pairs with M1 of the next holder. */
	ring_store_release(&ctl->maint.owner, 0);
}

/* ---- the frontier ---- */

/*
 * Walk committed records and padding from @pos up to @tail. Returns the
 * first position that is neither (the frontier), or -EBADMSG through
 * *ret_rc if a header there is malformed: the frontier then stays before
 * it and nothing past it is ever reused.
 */
static uint64_t frontier_scan(const struct ring_topic *t, uint64_t pos, uint64_t tail, int *ret_rc)
{
	uint64_t from = pos;

	while (pos < tail && pos - from < t->capacity) {
		/* M1b (acquire) pairs with P3 and with P4/M4/M5: a record
		 * counted as done is really done. */
		uint64_t w = ring_load_acquire(&ringi_header_at(t, pos)->word);
		uint64_t span;

		if (ring_word_state(w) < RING_STATE_COMMITTED)
			break;
		if (ring_word_lap(w) != ring_lap_of(pos, t->capacity_shift)) {
			*ret_rc = -EBADMSG;	/* below the tail, every lap is ours */
			break;
		}
		span = ring_word_span(w, t->max_record, t->max_span);
		if (!span || pos + span > tail) {
			*ret_rc = -EBADMSG;
			break;
		}
		pos += span;
	}
	return pos;
}

/* ---- repairs ---- */

/* Is any live producer's intent at @pos? */
static bool intent_alive(struct ring_control *ctl, uint64_t pos)
{
	for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++) {
		struct ring_producer_slot *s = &ctl->producers[i];
		uint64_t owner = ring_load_acquire(&s->owner);

		/* Relaxed: the intent was published by the owner's P1, which
		 * our acquire load of the tail has synchronised with. */
		if (owner && ring_load_relaxed(&s->claim_pos) == pos && ringi_owner_alive(owner))
			return true;
	}
	return false;
}

static bool claim_owner_alive(struct ring_control *ctl, uint64_t w)
{
	unsigned slot = ring_word_slot(w);
	uint64_t owner;

	if (slot >= RING_MAX_PRODUCERS)
		return false;
	owner = ring_load_acquire(&ctl->producers[slot].owner);
	return owner && ringi_owner_alive(owner);
}

/* M5: 8-byte padding over the zero words from @pos to the first written
 * word or the tail. */
static bool repair_zero_words(struct ring_topic *t, uint64_t pos)
{
	struct ring_control *ctl = t->ctl;
	uint64_t from = pos;

	while (pos < ring_load_acquire(&ctl->tail.pos) && pos - from < t->capacity) {
		uint64_t expected = 0;
		uint64_t skip = ring_word_make(RING_STATE_SKIPPED, RING_SLOT_MAINTAINER,
					       ring_lap_of(pos, t->capacity_shift), 8);

		/* M5 (acq_rel) pairs with P2: exactly one of us gets it. */
		if (!ring_cas_acq_rel(&ringi_header_at(t, pos)->word, &expected, skip))
			break;
		pos += 8;
	}
	return pos > from;
}

/* What repair_stall() found at the stalled frontier. */
enum stall {
	STALL_WAIT,		/* a live owner, in time: leave it */
	STALL_MOVED,		/* the owner finished first: scan on */
	STALL_REPAIRED,		/* turned into padding */
};

/*
 * The frontier @f is stalled below the tail. Repair it if its owner is dead
 * or the stall has lasted claim_timeout. The word is read again here, after
 * the scan stopped at it: its owner may have committed in between, which is
 * progress, not corruption.
 */
static enum stall repair_stall(struct ring_topic *t, uint64_t f, int *ret_rc)
{
	struct ring_control *ctl = t->ctl;
	uint64_t now = ringi_now_ns();
	uint64_t w = ring_load_acquire(&ringi_header_at(t, f)->word);
	uint32_t lap = ring_lap_of(f, t->capacity_shift);
	bool timed_out;

	if (ring_word_state(w) >= RING_STATE_COMMITTED && ring_word_lap(w) == lap)
		return STALL_MOVED;
	/* Stall bookkeeping is the lease holder's alone: relaxed. */
	if (ring_load_relaxed(&ctl->maint.stall_pos) != f) {
		ring_store_relaxed(&ctl->maint.stall_pos, f);
		ring_store_relaxed(&ctl->maint.stall_since_ns, now);
	}
	timed_out = now - ring_load_relaxed(&ctl->maint.stall_since_ns) >=
		    ctl->hdr.claim_timeout_ns;

	if (w == 0) {
		if (!timed_out && intent_alive(ctl, f))
			return STALL_WAIT;
		return repair_zero_words(t, f) ? STALL_REPAIRED : STALL_MOVED;
	}
	if (ring_word_state(w) != RING_STATE_CLAIMED || ring_word_lap(w) != lap) {
		*ret_rc = -EBADMSG;
		return STALL_WAIT;
	}
	uint32_t span = ring_word_len(w);

	if (span < RING_RECORD_HEADER_BYTES || span % 8 || span > t->max_span) {
		*ret_rc = -EBADMSG;	/* cannot skip an unknown length */
		return STALL_WAIT;
	}
	if (!timed_out && claim_owner_alive(ctl, w))
		return STALL_WAIT;
	/* M4 (acq_rel) pairs with P3: the claim becomes padding of its whole
	 * span, or the owner committed first and we scan on. */
	if (ring_cas_acq_rel(&ringi_header_at(t, f)->word, &w,
			     ring_word_make(RING_STATE_SKIPPED, ring_word_slot(w),
					    ring_word_lap(w), span)))
		return STALL_REPAIRED;
	return STALL_MOVED;
}

/* ---- dead participants ---- */

static void sweep_dead_slots(struct ring_control *ctl, uint64_t frontier)
{
	for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++) {
		struct ring_producer_slot *s = &ctl->producers[i];
		uint64_t owner = ring_load_acquire(&s->owner);
		uint64_t intent;

		if (!owner || ringi_owner_alive(owner))
			continue;
		/* A dead producer's slot is freed only once its claim, if it
		 * had one, is behind the frontier: until then its intent is
		 * how the claim's zero header is recognised. */
		intent = ring_load_relaxed(&s->claim_pos);
		if (intent != RING_POS_NONE && intent >= frontier)
			continue;
		/* R2 (release) pairs with R1 of the next owner. */
		(void)ring_cas_acq_rel(&s->owner, &owner, 0);
	}
	for (unsigned i = 0; i < RING_MAX_GATING_READERS; i++) {
		struct ring_gating_slot *g = &ctl->gating[i];
		uint64_t owner = ring_load_acquire(&g->owner);

		if (owner && !ringi_owner_alive(owner))
			(void)ring_cas_acq_rel(&g->owner, &owner, 0);
	}
}

/* ---- cleaning and the limit ---- */

/*
 * A live producer whose claim lies below the frontier (repaired while its
 * owner was stopped or slow, or an intent it has not yet retracted) may
 * still write into it: its payload through the pointer reserve gave it,
 * or its header CAS from zero, which on a reused and re-zeroed word would
 * succeed in the wrong lap. Either would tear a later lap's record, so
 * the bytes at and above such a claim are not reused while its owner
 * lives. A dead owner writes nothing: its claim holds nothing back.
 */
static uint64_t late_writer_gate(struct ring_control *ctl, uint64_t gate)
{
	for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++) {
		struct ring_producer_slot *s = &ctl->producers[i];
		/* M7 (acquire) pairs with P5 (release) in producer.c: once
		 * the intent reads past a claim, every byte its owner wrote
		 * into it is visible, so zeroing it afterwards wins. */
		uint64_t intent = ring_load_acquire(&s->claim_pos);
		uint64_t owner;

		if (intent >= gate)	/* RING_POS_NONE included */
			continue;
		owner = ring_load_acquire(&s->owner);
		if (owner && ringi_owner_alive(owner))
			gate = intent;
	}
	return gate;
}

/*
 * @gate, lowered to the position of any gating reader. G3 (seq_cst loads,
 * whose acquire half pairs with the reader's G2 release in reader.c): what
 * a reader has read below its position is done before we reuse it. The
 * same loads, made again after `oldest` is announced, are the maintainer's
 * half of G1 (clean_and_raise()).
 */
static uint64_t gating_floor(struct ring_control *ctl, uint64_t gate)
{
	for (unsigned i = 0; i < RING_MAX_GATING_READERS; i++) {
		struct ring_gating_slot *g = &ctl->gating[i];

		if (ring_load_seq_cst(&g->owner)) {
			uint64_t pos = ring_load_seq_cst(&g->pos);

			if (pos < gate)
				gate = pos;
		}
	}
	return gate;
}

/* The lowest position anyone may still need: nothing below it is read
 * again from the ring, so its bytes may be reused. */
static uint64_t gate_of(const struct ring_topic *t, uint64_t frontier)
{
	struct ring_control *ctl = t->ctl;
	uint64_t gate = frontier;

	if (ringi_is_persistent(t)) {
		/* M0 (acquire) pairs with D1 in ringd: those bytes are on disk. */
		uint64_t persisted = ring_load_acquire(&ctl->persisted.pos);

		if (persisted < gate)
			gate = persisted;
	}
	return late_writer_gate(ctl, gating_floor(ctl, gate));
}

/*
 * The last record boundary at or below @target, walking from @from (the
 * current `oldest`, a boundary). `oldest` must name a record: an overrun
 * reader resumes there, and a position inside a record would show it
 * payload bytes where it expects a header, which never become valid.
 * Everything walked lies below the frontier and at or above `oldest`, so
 * every header is final and none is being zeroed (a previous lease holder
 * that died mid-clean zeroed only below the `oldest` it announced). A
 * header that does not parse (a hostile writer) ends the walk early: the
 * ring stops reusing space there rather than guessing.
 */
static uint64_t record_boundary_below(const struct ring_topic *t, uint64_t from, uint64_t target)
{
	uint64_t pos = from;

	while (pos < target) {
		/* Acquire, as M1b: the frontier scan already saw these final. */
		uint64_t w = ring_load_acquire(&ringi_header_at(t, pos)->word);
		uint64_t span = ring_word_lap(w) == ring_lap_of(pos, t->capacity_shift)
					? ring_word_span(w, t->max_record, t->max_span)
					: 0;

		if (!span || pos + span > target)
			break;
		pos += span;
	}
	return pos;
}

/*
 * Reuse space only when producers are short of it, and then a quarter of
 * the ring at a time: what is not reused stays readable from the ring, so
 * lagging readers keep as much history as possible and cleaning is done in
 * large chunks. Producers always have room for the largest claim
 * (max_span = capacity / 4) when the gate allows it.
 */
static void clean_and_raise(struct ring_topic *t, uint64_t gate)
{
	struct ring_control *ctl = t->ctl;
	/* Only lease holders store the limit: relaxed. Everything below
	 * limit - capacity has been zeroed by a previous holder. */
	uint64_t limit = ring_load_relaxed(&ctl->limit.pos);
	uint64_t cleaned = limit - t->capacity;
	/* M1 (acquire), as in maintain_locked(). */
	uint64_t tail = ring_load_acquire(&ctl->tail.pos);
	uint64_t target = tail + t->capacity / 2 - t->capacity;
	uint64_t len, half;

	if (limit >= tail + t->max_span)
		return;		/* room enough: keep the history */
	if (target > gate)
		target = gate;
	/* Only lease holders store `oldest`: relaxed. It is >= cleaned, and
	 * above cleaned only if a holder died between M2 and M3 or a gating
	 * reader registered below it during the announcement (G1). */
	gate = record_boundary_below(t, ring_load_relaxed(&ctl->oldest.pos), target);
	if (gate <= cleaned)
		return;
	len = gate - cleaned;
	RING_ASSERT(len <= t->capacity);
	/* M2: readers of positions below the gate must see that their
	 * bytes may change before the first byte does. */
	ring_seqlock_announce(&ctl->oldest.pos, gate);
	/*
	 * G1, the maintainer's half: announce, then look at the gating slots
	 * again. A reader registering meanwhile stores its position and then
	 * loads `oldest` (reader.c, gate_register()): with both sides
	 * store-then-load and seq_cst, either it sees our announcement and
	 * moves up, or we see its position here and stop below it. The slots
	 * read in gate_of() alone would miss a reader that stored its
	 * position after that read but loaded `oldest` before the
	 * announcement (spin finds that interleaving: tests/model). A lower
	 * gate than announced only keeps bytes readable a while longer.
	 */
	gate = gating_floor(ctl, gate);
	if (gate <= cleaned)
		return;
	len = gate - cleaned;
	/* The data area is mapped twice, so a wrapping range is contiguous. */
	half = ring_align8(len / 2);
	memset(t->data + (cleaned & t->mask), 0, half);
	RING_CRASH_POINT("maintain.mid_clean");
	memset(t->data + ((cleaned + half) & t->mask), 0, len - half);
	/* M3 (seq_cst) pairs with P0 (acquire) in producer.c: the zeroes are
	 * visible before anyone claims above the old limit; seq_cst for the
	 * W1 check in ringi_wake_all() after it. */
	ring_store_seq_cst(&ctl->limit.pos, gate + t->capacity);
	ringi_wake_all(&ctl->space_wait);
}

/* ---- the whole pass ---- */

static int maintain_locked(struct ring_topic *t)
{
	struct ring_control *ctl = t->ctl;
	uint64_t frontier = ring_load_relaxed(&ctl->frontier.pos);	/* holder-only */
	int rc = 0, repaired = 0;

	for (unsigned round = 0; round < MAX_ROUNDS && rc == 0; round++) {
		/* M1 (acquire) pairs with P1: intents of claims below the
		 * tail are visible (see intent_alive()). */
		uint64_t tail = ring_load_acquire(&ctl->tail.pos);
		enum stall stall;

		frontier = frontier_scan(t, frontier, tail, &rc);
		if (frontier == tail || rc < 0)
			break;
		stall = repair_stall(t, frontier, &rc);
		if (stall == STALL_WAIT)
			break;
		if (stall == STALL_REPAIRED)
			repaired++;
	}
	ring_store_relaxed(&ctl->frontier.pos, frontier);	/* holder-only */
	if (repaired) {
		ring_fetch_add_relaxed(&ctl->maint.repaired_claims, (uint64_t)repaired);
		ringi_wake_all(&ctl->data_wait);
	}

	uint64_t now = ringi_now_ns();

	if (now - ring_load_relaxed(&ctl->maint.last_sweep_ns) >= SWEEP_INTERVAL_NS) {
		ring_store_relaxed(&ctl->maint.last_sweep_ns, now);
		sweep_dead_slots(ctl, frontier);
	}
	clean_and_raise(t, gate_of(t, frontier));
	return rc < 0 ? rc : repaired;
}

int ring_topic_maintain(struct ring_topic *t)
{
	uint64_t me;
	int rc;

	ring_validate_or_return(t, -EINVAL);
	me = self_owner();
	if (!lease_take(t->ctl, me))
		return -EBUSY;
	rc = maintain_locked(t);
	lease_drop(t->ctl, me);
	return rc;
}
