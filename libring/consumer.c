/* SPDX-License-Identifier: MIT */
/*
 * consumer.c - consumer groups' members: exclusive (one reader, commits)
 * and shared (competing readers, acks, redelivery, dead letters).
 *
 * Records are read at explicit positions (read_at): from the ring while it
 * holds them, validated as an ordinary reader validates (C1, C2), else from
 * the segment files. An exclusive member owns the group's slot (owner word
 * with pid and start time, taken over from a dead owner) and publishes its
 * committed position (G5). Shared members claim positions by CAS on the
 * group's `next` (G7) after recording the claim in an in-flight entry, so
 * that a member dying at any instruction leaves its records redeliverable:
 *
 *   entry: FREE -CAS-> PENDING(me) ; pos = p ; next: p -CAS-> p + span
 *          ; PENDING -CAS-> DELIVERED(me, deadline)
 *   ack:   DELIVERED(me) -CAS-> RELEASED(me, never) ; pos = NONE ; FREE
 *   nack:  DELIVERED(me) -CAS-> RELEASED(me, now + delay)
 *   redelivery: DELIVERED/RELEASED past its deadline, or of a dead member
 *          -CAS-> DELIVERED(any member, deliveries + 1)
 *
 * The group's committed position is then the lowest position still in an
 * entry, or `next` (ringi_group_watermark()).
 *
 * A position older than the ring holds is read from the segment files
 * (history.c); one that retention deleted too is reported once as -ERANGE,
 * after the group's reset policy has moved the consumer on.
 */
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "internal.h"

#define KNOWN_FLAGS (RING_CONSUMER_DURABLE | RING_CONSUMER_MANUAL_COMMIT)
#define DEFAULT_AUTO_COMMIT_NS 1000000000u
#define DEFAULT_ACK_WAIT_NS UINT64_C(30000000000)
#define DEFAULT_MAX_DELIVER 5u
#define MAX_DELIVER_LIMIT 255u		/* the in-flight entry counts in 8 bits */
#define DLQ_RETRY_NS 100000000u		/* a failed dead-letter publish, again after */
#define BEAT_INTERVAL_NS 100000000u
#define SCAN_INTERVAL_NS 1000000u	/* redelivery scans at most every ms */
#define PEER_CHECK_NS 10000000u		/* a peer's liveness, from /proc, at most */
#define RESTORE_WAIT_NS 2000000000u	/* ringd replaying the offsets log, at most */
#define RECENT_SLOTS 64u		/* remembered deliveries, for acks */
/* An ack that frees the group's lowest in-flight record raises the
 * committed watermark, which scans the whole in-flight table; a member does
 * that on one such ack in this many. Whatever it skips, the redelivery scan
 * (every SCAN_INTERVAL_NS), ringd (every millisecond) and close raise;
 * ring_group_stat() reports the exact watermark meanwhile. */
#define ACK_RAISE_EVERY 32u
#define POLL_CLOCK_EVERY 16u
#define NEVER_MS RING_INFLIGHT_DEADLINE_MASK

struct ring_consumer {
	struct ring_topic *topic;
	struct ring_group_slot *g;
	uint32_t mode;
	uint32_t flags;
	uint32_t reset;
	unsigned member;		/* shared: our member slot */
	uint64_t owner;			/* our owner word */
	uint64_t pos;			/* exclusive: next position to read; everything
				   below was delivered (or padding), so auto-commit
				   and close commit it */
	uint64_t last_commit_ns;
	uint64_t auto_commit_ns;
	uint64_t ack_wait_ns;
	unsigned max_deliver;
	unsigned inflight_hint;		/* where to look for a free entry */
	uint64_t next_scan_ns;
	uint64_t last_beat_ns;
	unsigned acks_unraised;		/* shared: acks since our last raise */
	uint64_t delivered_unflushed;	/* exclusive: deliveries not yet in g->delivered */
	uint64_t limit_seen;		/* a limit loaded (C3), as a reader's */
	/* CLOCK_MONOTONIC through the TSC: every delivery looks at the
	 * time (heartbeat, auto-commit, ack deadlines). Within one poll
	 * the time is read once per POLL_CLOCK_EVERY records (now_cached):
	 * a delivery a few records later is stamped that much earlier. */
	struct ringi_clock mono;
	uint64_t now;
	bool now_cached;
	uint8_t *buf;			/* copies of records, max_record bytes */
	struct ring_producer *dlq;	/* dead letters, opened on first use */
	struct ring_topic *dlq_topic;
	struct ringi_history *hist;	/* reading behind the ring, if ever */
	int pending_rc;			/* an error met after a poll's first record */
	/* Shared: where our recent deliveries are in the in-flight table,
	 * 1 + index by position, so that an ack rarely scans the table. */
	uint16_t recent[RECENT_SLOTS];
	struct {			/* shared: what we last learnt of each peer */
		uint64_t owner;
		uint64_t checked_ns;
		bool alive;
	} peers[RING_MAX_MEMBERS];
};

static uint64_t now_ns(struct ring_consumer *c)
{
	return c->now_cached ? c->now : ringi_clock_now(&c->mono);
}

/* ---- reading a record at a position ---- */

static bool durable_only(const struct ring_consumer *c)
{
	return c->flags & RING_CONSUMER_DURABLE;
}

/*
 * From the ring: 1, a record in @rec (payload copied into c->buf); 0,
 * padding of *ret_span bytes; -EAGAIN, not committed (or not durable)
 * yet; -ERANGE, older than the ring holds; -EBADMSG, a malformed header.
 */
static inline int read_ring(struct ring_consumer *c, uint64_t pos, struct ring_record *rec,
			    uint64_t *ret_span)
{
	struct ring_topic *t = c->topic;
	struct ring_control *ctl = t->ctl;
	struct ring_record_header *h = ringi_header_at(t, pos);
	uint64_t w, span;
	uint32_t len;

	/* C3: nothing at or past the limit is read (internal.h). */
	if (!ringi_below_limit(t, pos, &c->limit_seen))
		return -EAGAIN;
	/* C1 (acquire) pairs with P3: payload visible with the commit. */
	w = ring_load_acquire(&h->word);
	if (ring_word_lap(w) != ring_lap_of(pos, t->capacity_shift) ||
	    ring_word_state(w) < RING_STATE_COMMITTED)
		return pos < ring_load_acquire(&ctl->oldest.pos) ? -ERANGE : -EAGAIN;
	span = ring_word_span(w, t->max_record, t->max_span);
	if (!span)
		return -EBADMSG;
	if (durable_only(c) && pos + span > ring_load_acquire(&ctl->durable.pos))
		return -EAGAIN;
	if (ring_word_state(w) == RING_STATE_SKIPPED) {
		*ret_span = span;
		return 0;
	}
	len = ring_word_len(w);
	memcpy(c->buf, h + 1, len);
	rec->timestamp_ns = h->timestamp_ns;
	rec->type = h->type;
	/* C2 pairs with M2: the copy is intact only if nothing below it was
	 * announced for reuse meanwhile. */
	if (ring_seqlock_validate(&ctl->oldest.pos) > pos)
		return -ERANGE;
	rec->payload = c->buf;
	rec->len = len;
	rec->position = pos;
	rec->next_position = pos + span;
	rec->deliveries = 1;
	rec->reserved = 0;
	*ret_span = span;
	return 1;
}

/*
 * The ring, then the segment files: as read_ring(), but -ERANGE only when
 * neither holds @pos (retention deleted it, or producers overtook a
 * consumer of an ephemeral topic).
 */
static int read_any(struct ring_consumer *c, uint64_t pos, struct ring_record *rec,
		    uint64_t *ret_span)
{
	int rc = read_ring(c, pos, rec, ret_span);

	if (rc != -ERANGE)
		return rc;
	rc = ringi_history_read(&c->hist, c->topic, pos, c->buf, rec);
	if (rc < 0)
		return rc;
	/* The files hold what ringd wrote, synced or not: a durable-only
	 * member waits for the sync as it would in the ring. */
	if (durable_only(c) &&
	    rec->next_position > ring_load_acquire(&c->topic->ctl->durable.pos))
		return -EAGAIN;
	*ret_span = rec->next_position - pos;
	return rc;
}

/*
 * Where a consumer whose position @lost is gone from the ring and the
 * files goes: the reset policy. EARLIEST is the oldest retained record; if
 * that is not past @lost (the files have a hole there), the oldest the
 * ring holds, which is.
 */
static uint64_t reset_position(struct ring_consumer *c, uint64_t lost)
{
	struct ring_control *ctl = c->topic->ctl;
	uint64_t to;

	if (c->reset == RING_RESET_LATEST)
		return ring_load_acquire(&ctl->tail.pos);
	to = ringi_earliest_position(c->topic);
	if (to <= lost)
		to = ring_load_acquire(&ctl->oldest.pos);
	return to;
}

/* ---- waiting ---- */

struct data_wait {
	struct ring_consumer *c;
	uint64_t pos;
};

static bool data_ready(void *arg)
{
	const struct data_wait *d = arg;
	const struct ring_topic *t = d->c->topic;
	uint64_t w = ring_load_seq_cst(&ringi_header_at(t, d->pos)->word);

	if (durable_only(d->c))
		return ring_load_seq_cst(&t->ctl->durable.pos) > d->pos;
	return (ring_word_state(w) >= RING_STATE_COMMITTED &&
		ring_word_lap(w) == ring_lap_of(d->pos, t->capacity_shift)) ||
	       ring_load_seq_cst(&t->ctl->oldest.pos) > d->pos;
}

/*
 * Wait until the record at @pos may be ready: spin first, then sleep in
 * slices (running housekeeping when a claim blocks it). 0 to look again,
 * or -EAGAIN / -ETIMEDOUT.
 */
static int wait_for(struct ring_consumer *c, uint64_t pos, int64_t timeout_ns, uint64_t *deadline)
{
	struct data_wait d = { .c = c, .pos = pos };
	struct ring_topic *t = c->topic;
	uint64_t now = ringi_now_ns();
	struct ring_futex_line *f;

	if (timeout_ns == 0)
		return -EAGAIN;
	c->now_cached = false;	/* time passes while we wait */
	if (!*deadline)
		*deadline = ringi_deadline(timeout_ns, now);
	if (now >= *deadline)
		return -ETIMEDOUT;
	for (unsigned i = 0; i < 256; i++) {
		if (data_ready(&d))
			return 0;
		ring_cpu_relax();
	}
	if (ring_load_acquire(&t->ctl->tail.pos) > pos && !data_ready(&d))
		(void)ring_topic_maintain(t);
	f = durable_only(c) ? &t->ctl->durable_wait : &t->ctl->data_wait;
	/* Shared members also wake for redeliveries: sleep at most a slice. */
	ringi_wait_slice(f, data_ready, &d,
			 *deadline - now < RING_SLEEP_SLICE_NS ? *deadline - now
							      : RING_SLEEP_SLICE_NS);
	return 0;
}

static void heartbeat(struct ring_consumer *c, uint64_t now)
{
	if (now - c->last_beat_ns < BEAT_INTERVAL_NS)
		return;
	c->last_beat_ns = now;
	/* Statistics for people: relaxed. */
	if (c->mode == RING_GROUP_EXCLUSIVE)
		ring_store_relaxed(&c->g->heartbeat_ns, ringi_realtime_ns());
	else
		ring_store_relaxed(&c->g->members[c->member].heartbeat_ns, ringi_realtime_ns());
}

/* ---- exclusive groups ---- */

static bool still_owner(const struct ring_consumer *c)
{
	return ring_load_acquire(&c->g->owner) == c->owner;
}

int ring_consumer_commit(struct ring_consumer *c, uint64_t pos)
{
	ring_validate_or_return(c && c->mode == RING_GROUP_EXCLUSIVE && pos % 8 == 0, -EINVAL);
	if (!still_owner(c))
		return -EBUSY;
	/* G5 (release): pairs with ringd's acquire when it logs the group,
	 * and with the next owner's acquire at takeover. */
	ring_store_release(&c->g->committed, pos);
	/* ringd logs by comparing positions, so dying here loses nothing. */
	RING_CRASH_POINT("group.exclusive.mid_commit");
	/* The time of the commit matters to auto-commit only. */
	if (!(c->flags & RING_CONSUMER_MANUAL_COMMIT))
		c->last_commit_ns = now_ns(c);
	return 0;
}

/*
 * The read position, for stat's in-flight figure (records delivered, not
 * yet committed), and the count of deliveries: owner-only statistics,
 * published at the end of each next() or poll() rather than per record.
 */
static void exclusive_stats_flush(struct ring_consumer *c)
{
	struct ring_group_slot *g = c->g;

	ring_store_relaxed(&g->next, c->pos);
	if (c->delivered_unflushed) {
		/* Written by the owner alone: no read-modify-write needed. */
		ring_store_relaxed(&g->delivered,
				   ring_load_relaxed(&g->delivered) + c->delivered_unflushed);
		c->delivered_unflushed = 0;
	}
}

static void exclusive_delivered(struct ring_consumer *c, const struct ring_record *rec)
{
	c->pos = rec->next_position;
	c->delivered_unflushed++;
}

/*
 * The next record for the exclusive owner. @more: a further record of the
 * same poll, for which the owner check, the heartbeat and auto-commit
 * were done with the first.
 */
static int exclusive_next(struct ring_consumer *c, struct ring_record *rec, int64_t timeout_ns,
			  bool more)
{
	uint64_t deadline = 0, span = 0;
	int rc;

	if (!more) {
		uint64_t now = now_ns(c);

		if (!still_owner(c))
			return -EBUSY;
		heartbeat(c, now);
		/* Auto-commit: the caller asking for more means it is done
		 * with what it had (Kafka's rule). */
		if (!(c->flags & RING_CONSUMER_MANUAL_COMMIT) &&
		    now - c->last_commit_ns >= c->auto_commit_ns &&
		    c->pos != ring_load_relaxed(&c->g->committed))
			(void)ring_consumer_commit(c, c->pos);
	}

	/* Bounded: each turn delivers, skips padding, or waits. */
	for (uint64_t turns = 0; turns < c->topic->capacity; turns++) {
		rc = read_any(c, c->pos, rec, &span);
		if (rc == 1) {
			exclusive_delivered(c, rec);
			RING_CRASH_POINT("group.exclusive.after_read");
			return 0;
		}
		if (rc == 0) {
			c->pos += span;
			continue;
		}
		if (rc == -ERANGE) {
			/* Gone from the ring and the files: the reset policy
			 * moves us on, and the caller learns that records
			 * were lost. Committing goes on from there. */
			c->pos = reset_position(c, c->pos);
			return -ERANGE;
		}
		if (rc != -EAGAIN)
			return rc;
		rc = wait_for(c, c->pos, timeout_ns, &deadline);
		if (rc < 0)
			return rc;
	}
	return timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
}

static int exclusive_join(struct ring_consumer *c)
{
	struct ring_group_slot *g = c->g;
	uint64_t holder = 0;

	/* G8 (acq_rel): we are the member; the previous owner's commits are
	 * visible to the acquire half. */
	if (!ring_cas_acq_rel(&g->owner, &holder, c->owner)) {
		if (ringi_owner_alive(holder))
			return -EBUSY;
		if (!ring_cas_acq_rel(&g->owner, &holder, c->owner))
			return -EBUSY;
	}
	RING_CRASH_POINT("group.exclusive.after_join");
	c->pos = ring_load_acquire(&g->committed);
	c->last_commit_ns = now_ns(c);
	ring_store_relaxed(&g->next, c->pos);	/* statistic, as above */
	ring_store_relaxed(&g->heartbeat_ns, ringi_realtime_ns());
	return 0;
}

/* ---- shared groups ---- */

static unsigned recent_slot(uint64_t pos)
{
	return (unsigned)(pos >> 3) % RECENT_SLOTS;
}

static void remember(struct ring_consumer *c, uint64_t pos, unsigned index)
{
	c->recent[recent_slot(pos)] = (uint16_t)(index + 1);
}

static uint64_t deadline_after(struct ring_consumer *c, uint64_t ns)
{
	return now_ns(c) / 1000000u + (ns + 999999u) / 1000000u;
}

/* Publish a record that failed max_deliver times to "<topic>.dlq". */
static int dead_letter(struct ring_consumer *c, const struct ring_record *rec)
{
	struct ring_topic *t = c->topic;
	char name[RING_TOPIC_NAME_MAX + 8];
	int rc;

	if (!c->dlq) {
		struct ring_topic_config cfg = {
			.capacity_bytes = t->capacity,
			.flags = t->flags & RING_TOPIC_EPHEMERAL,
		};
		const char *dir = t->data_dir[0] ? t->data_dir : NULL;

		if (t->flags & RING_TOPIC_ANON)
			return -EOPNOTSUPP;	/* an anonymous topic has no namespace */
		if ((size_t)snprintf(name, sizeof(name), "%s.dlq", t->name) > RING_TOPIC_NAME_MAX)
			return -ENAMETOOLONG;
		if (!c->dlq_topic) {
			rc = ring_topic_open(dir, name, &c->dlq_topic);
			if (rc == -ENOENT)
				rc = ring_topic_create(dir, name, &cfg, &c->dlq_topic);
			if (rc == -EEXIST)	/* another member created it first */
				rc = ring_topic_open(dir, name, &c->dlq_topic);
			if (rc < 0)
				return rc;
		}
		rc = ring_producer_open(c->dlq_topic, &c->dlq);
		if (rc < 0)
			return rc;
	}
	return ring_producer_publish(c->dlq, rec->type, rec->payload, rec->len, 0, NULL);
}

/* Read the record of an entry we took over: ring, then files. */
static int read_claimed(struct ring_consumer *c, uint64_t pos, struct ring_record *rec)
{
	uint64_t span = 0;

	return read_any(c, pos, rec, &span);
}

/* Free an entry whose state word is @meta: false if it changed (someone
 * took it over first). */
static bool entry_free(struct ring_inflight *e, uint64_t meta)
{
	/* Mark it closing first, so that no one takes it over while its
	 * position is cleared; then free it (release: pairs with the next
	 * claimer's G10 acquire). */
	uint64_t closing = ringi_inflight_make(RING_INFLIGHT_RELEASED, ringi_inflight_member(meta),
					       ringi_inflight_deliveries(meta), NEVER_MS);

	if (!ring_cas_acq_rel(&e->meta, &meta, closing))
		return false;
	RING_CRASH_POINT("group.shared.mid_free");
	ring_store_relaxed(&e->pos, RING_POS_NONE);
	ring_store_release(&e->meta, 0);
	return true;
}

/*
 * Is member slot @m's owner alive? Asked of /proc at most every
 * PEER_CHECK_NS per peer, and at once when the slot changes hands.
 */
static bool peer_alive(struct ring_consumer *c, unsigned m, uint64_t now)
{
	uint64_t owner;

	if (m >= RING_MAX_MEMBERS)
		return false;	/* no such member: a damaged entry */
	if (m == c->member)
		return true;
	owner = ring_load_acquire(&c->g->members[m].owner);
	if (!owner)
		return false;	/* closed (or freed as dead) */
	if (c->peers[m].owner != owner || now - c->peers[m].checked_ns >= PEER_CHECK_NS) {
		c->peers[m].owner = owner;
		c->peers[m].checked_ns = now;
		c->peers[m].alive = ringi_owner_alive(owner);
	}
	return c->peers[m].alive;
}

/*
 * Does an entry other than @self hold @pos? 1 if as a delivery (DELIVERED,
 * or RELEASED for redelivery): its member won the claim of @pos. 2 if as
 * a live member's claim in progress: that claim may still win or lose.
 * 0 if none.
 */
static int claimed_elsewhere(struct ring_consumer *c, unsigned self, uint64_t pos, uint64_t now)
{
	struct ring_group_slot *g = c->g;
	int found = 0;

	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
		uint64_t meta = ring_load_acquire(&g->inflight[i].meta);
		enum ring_inflight_state st = ringi_inflight_state(meta);

		if (i == self || st == RING_INFLIGHT_FREE ||
		    ring_load_acquire(&g->inflight[i].pos) != pos)
			continue;
		if (st == RING_INFLIGHT_DELIVERED ||
		    (st == RING_INFLIGHT_RELEASED && ringi_inflight_deadline(meta) != NEVER_MS))
			return 1;
		if (st == RING_INFLIGHT_PENDING && peer_alive(c, ringi_inflight_member(meta), now))
			found = 2;
	}
	return found;
}

/*
 * Entry @i of a member that is gone (dead or closed) and was not a
 * delivery: a claim in progress (PENDING) or an ack in progress (RELEASED
 * with no deadline). Free it if it holds no record the member may have
 * claimed: 0 (freed, or changed under us). 1 if it holds one: redeliver
 * it. -1 if that cannot be told yet.
 *
 * A PENDING entry holding a position below `next` is the ambiguous case:
 * the member recorded the position, then died before or after its CAS on
 * `next`. If another entry delivers that position, the other member won
 * and this one holds nothing. If a live member's claim of it is still in
 * progress, its outcome will tell. Otherwise the dead member may have won:
 * redelivered (a duplicate if the winner was another member whose ack is
 * already done: at most one per death, docs/design/consumer-groups.md).
 */
static int settle_orphan(struct ring_consumer *c, unsigned i, uint64_t meta, uint64_t now)
{
	struct ring_group_slot *g = c->g;
	struct ring_inflight *e = &g->inflight[i];
	uint64_t pos = ring_load_acquire(&e->pos);
	/* G7 (acquire): a claim whose CAS on next succeeded is below it. */
	uint64_t next = ring_load_acquire(&g->next);

	if (ringi_inflight_state(meta) == RING_INFLIGHT_PENDING && pos != RING_POS_NONE &&
	    pos < next) {
		switch (claimed_elsewhere(c, i, pos, now)) {
		case 0:
			return 1;
		case 2:
			return -1;
		default:
			break;
		}
	}
	(void)entry_free(e, meta);
	return 0;
}

/*
 * Look for a delivery that is due again (its member died or left, its
 * ack wait passed, or it was nacked) and take it over: 1 with @rec
 * filled, 0 if none, or -errno. Our own entries count too: a lone member
 * gets back what it nacked or let time out.
 */
static int redeliver_scan(struct ring_consumer *c, struct ring_record *rec, bool *freed)
{
	struct ring_group_slot *g = c->g;
	uint64_t now = now_ns(c), ms = now / 1000000u;

	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
		struct ring_inflight *e = &g->inflight[i];
		uint64_t meta = ring_load_acquire(&e->meta), pos, taken;
		enum ring_inflight_state st = ringi_inflight_state(meta);
		unsigned m = ringi_inflight_member(meta), d = ringi_inflight_deliveries(meta);
		bool gone;
		int rc;

		if (st == RING_INFLIGHT_FREE)
			continue;
		gone = !peer_alive(c, m, now);
		if (!gone && ringi_inflight_deadline(meta) > ms)
			continue;
		if (st == RING_INFLIGHT_PENDING || ringi_inflight_deadline(meta) == NEVER_MS) {
			/* A claim or an ack in progress: only its member's
			 * death makes it ours to settle. */
			if (!gone)
				continue;
			rc = settle_orphan(c, i, meta, now);
			if (rc <= 0) {
				*freed |= rc == 0;
				continue;
			}
		}
		pos = ring_load_acquire(&e->pos);
		if (pos == RING_POS_NONE) {
			*freed |= entry_free(e, meta);
			continue;
		}
		taken = ringi_inflight_make(RING_INFLIGHT_DELIVERED, c->member, d + 1,
					    deadline_after(c, c->ack_wait_ns));
		/* G9 (acq_rel): the delivery is ours now; pairs with the
		 * release of whoever set the entry before. */
		if (!ring_cas_acq_rel(&e->meta, &meta, taken))
			continue;
		RING_CRASH_POINT("group.shared.after_retake");
		rc = read_claimed(c, pos, rec);
		if (rc == -EAGAIN) {
			/* Not durable yet, and we see durable records only:
			 * give it back as it was, due at once. */
			uint64_t back = ringi_inflight_make(RING_INFLIGHT_RELEASED, m, d, ms);

			(void)ring_cas_acq_rel(&e->meta, &taken, back);
			continue;
		}
		if (rc < 1) {
			/* Gone (retention) or corrupt: nothing to redeliver;
			 * drop the entry so the group moves on. */
			*freed |= entry_free(e, taken);
			if (rc < 0 && rc != -ERANGE)
				return rc;
			continue;
		}
		if (d >= c->max_deliver) {
			rc = dead_letter(c, rec);
			if (rc < 0) {
				/* Try again soon, without counting a delivery. */
				(void)ring_cas_acq_rel(
					&e->meta, &taken,
					ringi_inflight_make(RING_INFLIGHT_RELEASED, c->member, d,
							    ms + DLQ_RETRY_NS / 1000000u));
				return rc;
			}
			RING_CRASH_POINT("group.shared.after_dead_letter");
			ring_fetch_add_relaxed(&g->dead_lettered, 1);
			*freed |= entry_free(e, taken);
			continue;
		}
		rec->deliveries = d + 1;
		ring_fetch_add_relaxed(&g->redelivered, 1);
		remember(c, pos, i);
		return 1;
	}
	return 0;
}

static int redeliver(struct ring_consumer *c, struct ring_record *rec)
{
	struct ring_group_slot *g = c->g;
	uint64_t now = now_ns(c);
	bool freed = false;
	int rc;

	if (now < c->next_scan_ns)
		return 0;
	c->next_scan_ns = now + SCAN_INTERVAL_NS;
	/* Acks that did not raise the watermark (another member's ack of a
	 * lower record was under way) let it move now... */
	ringi_group_raise_committed(g, ringi_group_watermark(g));
	rc = redeliver_scan(c, rec, &freed);
	/* ...and so do entries the scan freed without an ack: dead letters,
	 * records retention took, dead members' unused claims. */
	if (freed)
		ringi_group_raise_committed(g, ringi_group_watermark(g));
	return rc;
}

/* Take a FREE in-flight entry as PENDING: its index, or -ENOBUFS. */
static int entry_take(struct ring_consumer *c)
{
	struct ring_group_slot *g = c->g;

	for (unsigned k = 0; k < RING_GROUP_INFLIGHT; k++) {
		unsigned i = (c->inflight_hint + k) % RING_GROUP_INFLIGHT;
		uint64_t expected = 0;

		if (ring_load_relaxed(&g->inflight[i].meta) != 0)
			continue;
		/* G10 (acq_rel) pairs with entry_free()'s release. */
		if (ring_cas_acq_rel(&g->inflight[i].meta, &expected,
				     ringi_inflight_make(RING_INFLIGHT_PENDING, c->member, 1, NEVER_MS))) {
			c->inflight_hint = i + 1;
			return (int)i;
		}
	}
	return -ENOBUFS;
}

/*
 * Claim the next record no member has had, into our PENDING entry @e: 1,
 * 2 (a redelivery came due while we waited: @rec holds it instead), or
 * -errno (-ERANGE once if we applied the reset policy).
 */
static int shared_claim(struct ring_consumer *c, struct ring_inflight *e, struct ring_record *rec,
			int64_t timeout_ns)
{
	struct ring_group_slot *g = c->g;
	uint64_t deadline = 0;
	int rc;

	for (uint64_t turns = 0; turns < c->topic->capacity; turns++) {
		/* G7 (acquire) pairs with other members' CAS on next. */
		uint64_t pos = ring_load_acquire(&g->next), span = 0;

		rc = read_any(c, pos, rec, &span);
		if (rc == -ERANGE) {
			/* Gone everywhere: move the group on; whoever wins
			 * the CAS tells its caller. */
			if (ring_cas_acq_rel(&g->next, &pos, reset_position(c, pos)))
				return -ERANGE;
			continue;
		}
		if (rc == 0) {
			/* Padding: move next past it; whoever wins, fine. */
			(void)ring_cas_acq_rel(&g->next, &pos, pos + span);
			continue;
		}
		if (rc == -EAGAIN) {
			rc = wait_for(c, pos, timeout_ns, &deadline);
			if (rc < 0)
				return rc;
			rc = redeliver(c, rec);
			if (rc != 0)
				return rc < 0 ? rc : 2;
			continue;
		}
		if (rc < 0)
			return rc;
		/* Record the claim before making it: if we die after the CAS
		 * below, the entry says which record was ours. */
		ring_store_release(&e->pos, pos);
		RING_CRASH_POINT("group.shared.before_claim");
		/* G7 (acq_rel): the record is ours. */
		if (!ring_cas_acq_rel(&g->next, &pos, rec->next_position)) {
			/* Lost it: forget the position at once, so that dying
			 * now does not leave it looking claimed (the window
			 * left is the two stores; docs: at-least-once). */
			ring_store_release(&e->pos, RING_POS_NONE);
			continue;
		}
		RING_CRASH_POINT("group.shared.after_claim");
		return 1;
	}
	return timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
}

static int shared_next(struct ring_consumer *c, struct ring_record *rec, int64_t timeout_ns)
{
	struct ring_group_slot *g = c->g;
	struct ring_inflight *e;
	uint64_t meta;
	int idx, rc;

	heartbeat(c, now_ns(c));
	rc = redeliver(c, rec);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	idx = entry_take(c);
	if (idx < 0) {
		/* Full: maybe some are due for redelivery. */
		c->next_scan_ns = 0;
		rc = redeliver(c, rec);
		return rc == 1 ? 0 : rc < 0 ? rc : -ENOBUFS;
	}
	e = &g->inflight[idx];
	rc = shared_claim(c, e, rec, timeout_ns);
	meta = ring_load_relaxed(&e->meta);	/* ours while PENDING */
	if (rc != 1) {
		/* Nothing claimed (or a redelivery returned instead). */
		ring_store_relaxed(&e->pos, RING_POS_NONE);
		ring_store_release(&e->meta, 0);
		return rc == 2 ? 0 : rc;
	}
	/* G9 (release): the delivery is complete; others may now judge its
	 * deadline. */
	ring_store_release(&e->meta,
			   ringi_inflight_make(RING_INFLIGHT_DELIVERED, c->member,
					       ringi_inflight_deliveries(meta),
					       deadline_after(c, c->ack_wait_ns)));
	ring_fetch_add_relaxed(&g->delivered, 1);
	/* The member's own count: written by it alone. */
	ring_store_relaxed(&g->members[c->member].delivered,
			   ring_load_relaxed(&g->members[c->member].delivered) + 1);
	remember(c, rec->position, (unsigned)idx);
	return 0;
}

static bool entry_is(struct ring_consumer *c, unsigned i, uint64_t pos, uint64_t *ret_meta)
{
	struct ring_inflight *e = &c->g->inflight[i];
	uint64_t meta = ring_load_acquire(&e->meta);

	if (ringi_inflight_state(meta) != RING_INFLIGHT_DELIVERED ||
	    ringi_inflight_member(meta) != c->member || ring_load_acquire(&e->pos) != pos)
		return false;
	*ret_meta = meta;
	return true;
}

/* Our delivered entry holding @pos: its index, or -ENOENT. Where we
 * remembered it first; the whole table if it is not there (evicted by a
 * later delivery, or moved: taken over and given back). */
static int entry_find(struct ring_consumer *c, uint64_t pos, uint64_t *ret_meta)
{
	unsigned hint = c->recent[recent_slot(pos)];

	if (hint && entry_is(c, hint - 1u, pos, ret_meta))
		return (int)(hint - 1u);
	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++)
		if (entry_is(c, i, pos, ret_meta))
			return (int)i;
	return -ENOENT;
}

int ring_consumer_ack(struct ring_consumer *c, uint64_t pos)
{
	uint64_t meta;
	int i;

	ring_validate_or_return(c && c->mode == RING_GROUP_SHARED, -EINVAL);
	i = entry_find(c, pos, &meta);
	if (i < 0)
		return i;
	RING_CRASH_POINT("group.shared.before_ack");
	/* The entry may have been taken over since we found it (its ack wait
	 * passed): then it is not ours to ack. */
	if (!entry_free(&c->g->inflight[i], meta))
		return -ENOENT;
	ring_fetch_add_relaxed(&c->g->acked, 1);
	/* Only the lowest unacked record's ack can raise the watermark, and
	 * only one in ACK_RAISE_EVERY does; anything this misses (those, and
	 * a race with another member's ack) the next scan, ringd or close
	 * raises. */
	if (++c->acks_unraised >= ACK_RAISE_EVERY && pos <= ring_load_relaxed(&c->g->committed)) {
		c->acks_unraised = 0;
		ringi_group_raise_committed(c->g, ringi_group_watermark(c->g));
	}
	return 0;
}

int ring_consumer_nack(struct ring_consumer *c, uint64_t pos, uint64_t delay_ns)
{
	struct ring_inflight *e;
	uint64_t meta;
	int i;

	ring_validate_or_return(c && c->mode == RING_GROUP_SHARED, -EINVAL);
	i = entry_find(c, pos, &meta);
	if (i < 0)
		return i;
	e = &c->g->inflight[i];
	/* G9 (acq_rel): back to the group, due after the delay. */
	if (!ring_cas_acq_rel(&e->meta, &meta,
			      ringi_inflight_make(RING_INFLIGHT_RELEASED, c->member,
						  ringi_inflight_deliveries(meta),
						  delay_ns ? deadline_after(c, delay_ns) : 0)))
		return -ENOENT;
	c->next_scan_ns = 0;
	return 0;
}

/*
 * Entries that name the member slot we just took belong to whoever had it
 * before (a member that closed, or died and whose slot was freed): with
 * our slot alive, no scan would judge them by that member's death, so
 * settle them now. Deliveries become due at once; claims and acks in
 * progress are settled as a dead member's are.
 */
static void adopt_slot(struct ring_consumer *c)
{
	struct ring_group_slot *g = c->g;

	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
		struct ring_inflight *e = &g->inflight[i];
		uint64_t meta = ring_load_acquire(&e->meta), due;
		enum ring_inflight_state st = ringi_inflight_state(meta);
		unsigned d = ringi_inflight_deliveries(meta);

		if (st == RING_INFLIGHT_FREE || ringi_inflight_member(meta) != c->member)
			continue;
		if (st == RING_INFLIGHT_PENDING || ringi_inflight_deadline(meta) == NEVER_MS) {
			/* Settled as a dead member's. One that cannot be told
			 * yet is made due like a delivery: no scan would ever
			 * judge it (its slot is ours now, and alive), and a
			 * duplicate is better than a record stuck for ever. */
			if (settle_orphan(c, i, meta, now_ns(c)) == 0)
				continue;
		} else if (st == RING_INFLIGHT_RELEASED) {
			continue;	/* due by its own deadline */
		}
		/* G9 (acq_rel), as a scan would: redeliverable now. */
		due = ringi_inflight_make(RING_INFLIGHT_RELEASED, c->member, d, 0);
		(void)ring_cas_acq_rel(&e->meta, &meta, due);
	}
}

static int shared_join(struct ring_consumer *c)
{
	struct ring_group_slot *g = c->g;

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < RING_MAX_MEMBERS; i++) {
			uint64_t expected = 0;

			if (ring_cas_acq_rel(&g->members[i].owner, &expected, c->owner)) {
				c->member = i;
				ring_store_relaxed(&g->members[i].delivered, 0);
				ring_store_relaxed(&g->members[i].heartbeat_ns,
						   ringi_realtime_ns());
				adopt_slot(c);
				return 0;
			}
		}
		/* Full: free the slots of dead members (whoever takes one
		 * adopts its entries, above). */
		for (unsigned i = 0; pass == 0 && i < RING_MAX_MEMBERS; i++) {
			uint64_t owner = ring_load_acquire(&g->members[i].owner);

			if (owner && !ringi_owner_alive(owner))
				(void)ring_cas_acq_rel(&g->members[i].owner, &owner, 0);
		}
	}
	return -ENOSPC;
}

/* ---- common ---- */

/*
 * A ring that ringd recreated at the end of its log (after a reboot: its
 * base is past 0) gets its groups back from the offsets log before ringd
 * attaches to it (daemon/topics.c). A group created before that would
 * race the replay and start afresh, delivering the whole log again, so a
 * new group waits for the attach: a few milliseconds, at most
 * RESTORE_WAIT_NS if ringd died on the way (then nothing is restored).
 */
static void wait_for_restore(struct ring_topic *t)
{
	struct ring_control *ctl = t->ctl;
	uint64_t deadline = ringi_now_ns() + RESTORE_WAIT_NS;

	if (!ringi_is_persistent(t) || ctl->hdr.base_pos == 0)
		return;
	/* D0 (acquire) pairs with ringd's attach CAS, which follows the
	 * replay. A beat without an owner is a ringd that attached and left
	 * (a clean stop), long after its replay; relaxed, it orders nothing
	 * and only saves the wait. */
	while (!ring_load_acquire(&ctl->daemon.owner) && !ring_load_relaxed(&ctl->daemon.beat_ns) &&
	       ringi_now_ns() < deadline)
		usleep(1000);
}

static uint64_t start_position(struct ring_topic *t, const struct ring_consumer_config *cfg)
{
	struct ring_control *ctl = t->ctl;

	switch (cfg->start) {
	case RING_GROUP_START_LATEST:
		return ring_load_acquire(&ctl->tail.pos);
	case RING_GROUP_START_POSITION:
		return cfg->start_position;
	case RING_GROUP_START_TIME:
		return ringi_position_for_time(t, cfg->start_time_ns);
	default:
		return ringi_earliest_position(t);
	}
}

int ring_consumer_open(struct ring_topic *t, const char *group,
		       const struct ring_consumer_config *config, struct ring_consumer **ret)
{
	struct ring_consumer_config cfg = { 0 };
	struct ring_consumer *c;
	int rc;

	ring_validate_or_return(t && ret, -EINVAL);
	if (config)
		cfg = *config;
	ring_validate_or_return(cfg.mode <= RING_GROUP_SHARED && cfg.start <= RING_GROUP_START_TIME &&
					cfg.reset <= RING_RESET_LATEST && !cfg.reserved &&
					!(cfg.flags & ~(uint32_t)KNOWN_FLAGS) &&
					cfg.max_deliver <= MAX_DELIVER_LIMIT,
				-EINVAL);
	ring_validate_or_return(cfg.start != RING_GROUP_START_POSITION || cfg.start_position % 8 == 0,
				-EINVAL);
	ring_validate_or_return(!(cfg.flags & RING_CONSUMER_DURABLE) || ringi_is_persistent(t),
				-EINVAL);
	rc = ringi_group_name_check(group);
	if (rc < 0)
		return rc;
	c = ringi_alloc_lines(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->buf = aligned_alloc(8, ring_align8(t->max_record) ? ring_align8(t->max_record) : 8);
	if (!c->buf) {
		free(c);
		return -ENOMEM;
	}
	c->topic = t;
	ringi_clock_init(&c->mono, CLOCK_MONOTONIC);
	c->flags = cfg.flags;
	c->reset = cfg.reset;
	c->auto_commit_ns = cfg.auto_commit_interval_ns ? cfg.auto_commit_interval_ns
							: DEFAULT_AUTO_COMMIT_NS;
	c->ack_wait_ns = cfg.ack_wait_ns ? cfg.ack_wait_ns : DEFAULT_ACK_WAIT_NS;
	c->max_deliver = cfg.max_deliver ? cfg.max_deliver : DEFAULT_MAX_DELIVER;
	c->owner = ringi_owner_self_process();
	rc = ringi_group_find(t, group, false, 0, 0, &c->g);
	if (rc == -ENOENT) {
		wait_for_restore(t);
		rc = cfg.start == RING_GROUP_START_POSITION
			     ? ringi_position_check(t, cfg.start_position)
			     : 0;
		if (rc == 0)
			rc = ringi_group_find(t, group, true, cfg.mode, start_position(t, &cfg),
					      &c->g);
	}
	if (rc == 0 && c->g->mode != cfg.mode && config)
		rc = -EINVAL;
	if (rc == 0) {
		c->mode = c->g->mode;
		rc = c->mode == RING_GROUP_EXCLUSIVE ? exclusive_join(c) : shared_join(c);
	}
	if (rc < 0) {
		free(c->buf);
		free(c);
		return rc;
	}
	*ret = c;
	return 0;
}

struct ring_consumer *ring_consumer_close(struct ring_consumer *c)
{
	if (!c)
		return NULL;
	if (c->mode == RING_GROUP_EXCLUSIVE) {
		uint64_t me = c->owner;

		if (!(c->flags & RING_CONSUMER_MANUAL_COMMIT) && still_owner(c))
			(void)ring_consumer_commit(c, c->pos);
		RING_CRASH_POINT("group.exclusive.mid_close");
		/* G8 (release): our commits are done before the group is free. */
		(void)ring_cas_acq_rel(&c->g->owner, &me, 0);
	} else {
		struct ring_group_slot *g = c->g;
		uint64_t me = c->owner;

		/* Hand our unacked deliveries back, due at once. */
		for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
			uint64_t meta = ring_load_acquire(&g->inflight[i].meta);

			if (ringi_inflight_state(meta) == RING_INFLIGHT_DELIVERED &&
			    ringi_inflight_member(meta) == c->member)
				(void)ring_cas_acq_rel(
					&g->inflight[i].meta, &meta,
					ringi_inflight_make(RING_INFLIGHT_RELEASED, c->member,
							    ringi_inflight_deliveries(meta), 0));
		}
		/* Acks whose raise was skipped: leave the watermark exact. */
		ringi_group_raise_committed(g, ringi_group_watermark(g));
		(void)ring_cas_acq_rel(&g->members[c->member].owner, &me, 0);
	}
	c->dlq = ring_producer_close(c->dlq);
	c->dlq_topic = ring_topic_close(c->dlq_topic);
	ringi_history_free(c->hist);
	free(c->buf);
	free(c);
	return NULL;
}

int ring_consumer_next(struct ring_consumer *c, struct ring_record *ret, int64_t timeout_ns)
{
	struct ring_record rec;
	int rc;

	ring_validate_or_return(c && ret, -EINVAL);
	if (c->pending_rc) {
		rc = c->pending_rc;
		c->pending_rc = 0;
		return rc;
	}
	if (c->mode == RING_GROUP_EXCLUSIVE) {
		rc = exclusive_next(c, &rec, timeout_ns, false);
		exclusive_stats_flush(c);
	} else {
		rc = shared_next(c, &rec, timeout_ns);
	}
	if (rc == 0)
		*ret = rec;
	return rc;
}

int ring_consumer_poll(struct ring_consumer *c, ring_record_fn fn, void *arg, unsigned max_count,
		       int64_t timeout_ns)
{
	struct ring_record rec;
	unsigned n = 0;
	int rc;

	ring_validate_or_return(c && fn && max_count > 0, -EINVAL);
	if (c->mode == RING_GROUP_EXCLUSIVE && !c->pending_rc) {
		/* The owner's checks once, then record after record: straight
		 * from the ring while it has them, else the general path. */
		rc = exclusive_next(c, &rec, timeout_ns, false);
		while (rc == 0) {
			uint64_t span;

			n++;
			if (fn(&rec, arg) != 0 || n == max_count)
				break;
			if (read_ring(c, c->pos, &rec, &span) == 1) {
				exclusive_delivered(c, &rec);
				RING_CRASH_POINT("group.exclusive.after_read");
				continue;
			}
			rc = exclusive_next(c, &rec, 0, true);
		}
		exclusive_stats_flush(c);
	} else {
		rc = ring_consumer_next(c, &rec, timeout_ns);
		while (rc == 0) {
			n++;
			if (fn(&rec, arg) != 0 || n == max_count)
				break;
			if (n % POLL_CLOCK_EVERY == 1) {
				c->now = ringi_clock_now(&c->mono);
				c->now_cached = true;
			}
			rc = ring_consumer_next(c, &rec, 0);
		}
		c->now_cached = false;
	}
	/* An error after the first record (a loss to -ERANGE, say) must not
	 * vanish behind the count: the next call returns it. */
	if (n > 0 && rc < 0 && rc != -EAGAIN && rc != -ETIMEDOUT)
		c->pending_rc = rc;
	return n > 0 ? (int)n : rc;
}

uint64_t ring_consumer_position(const struct ring_consumer *c)
{
	if (!c)
		return 0;
	return c->mode == RING_GROUP_EXCLUSIVE ? c->pos : ring_load_acquire(&c->g->next);
}
