/* SPDX-License-Identifier: MIT */
/*
 * group.c - the consumer group table in a topic's shared memory: finding
 * or creating a group, membership, the shared groups' low watermark, and
 * what ringctl reads and resets.
 *
 * A group's slot is found by hashing its name and probing linearly, and a
 * group is created by CAS on a FREE slot's state, so two processes opening
 * the same new group at once race for the same slot: one creates it, the
 * other waits for it to become ACTIVE (G4) and joins. A creator that dies
 * half-way leaves an INIT slot, which the next opener reclaims.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "internal.h"

#define INIT_CHECK_NS 1000000u	/* a creator needs microseconds: after 1 ms, ask /proc */
#define INIT_WAIT_NS 2000000000u	/* a live creator this slow is stopped: give up */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int ringi_group_name_check(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, RING_GROUP_NAME_MAX + 1);
	if (len > RING_GROUP_NAME_MAX)
		return -EINVAL;
	return ringi_topic_name_check(name);
}

/*
 * The state word: the slot state in bits 0..7, and while INIT, its
 * creator as an owner word folded in (pid in bits 8..31, start ticks in
 * bits 32..63), so that an opener can tell a dead creator from a slow one.
 */
static uint64_t state_make(enum ring_group_slot_state st, uint64_t owner)
{
	return (uint64_t)st | (owner & 0xffffffu) << 8 | (owner & ~UINT64_C(0xffffffff));
}

static uint64_t state_creator(uint64_t st)
{
	return ((st >> 8) & 0xffffffu) | (st & ~UINT64_C(0xffffffff));
}

/*
 * Wait (bounded) for a slot in INIT to become ACTIVE; reclaim it if its
 * creator died. A live creator is never robbed of its slot, however slow
 * (stopped, traced): it may still be writing the name, and taking the slot
 * from under it would mix two groups. 0 with the state word it ends with,
 * or -ETIMEDOUT.
 */
static int settle(struct ring_group_slot *g, uint64_t *ret_state)
{
	uint64_t start = ringi_now_ns();

	for (;;) {
		/* G4 (acquire) pairs with the creator's release: name, mode
		 * and start position are visible once ACTIVE is. */
		uint64_t st = ring_load_acquire(&g->state);

		if ((st & 0xff) != RING_GROUP_INIT) {
			*ret_state = st;
			return 0;
		}
		if (ringi_now_ns() - start > INIT_CHECK_NS &&
		    !ringi_owner_alive(state_creator(st))) {
			/* G4 (acq_rel): start over from FREE. */
			if (ring_cas_acq_rel(&g->state, &st, RING_GROUP_FREE)) {
				*ret_state = RING_GROUP_FREE;
				return 0;
			}
			continue;
		}
		if (ringi_now_ns() - start > INIT_WAIT_NS)
			return -ETIMEDOUT;
		usleep(100);
	}
}

/* Fill in a slot we hold in INIT from @init (nobody reads it before G4). */
static void slot_init(struct ring_group_slot *g, const char *name, uint32_t mode,
		      const struct ringi_group_init *init)
{
	memset(g->name, 0, sizeof(g->name));
	memcpy(g->name, name, strlen(name));
	g->mode = mode;
	/* Nobody reads these before G4 (in find_or_create()): relaxed. */
	ring_store_relaxed(&g->committed, init->committed);
	ring_store_relaxed(&g->next, init->next);
	ring_store_relaxed(&g->owner, 0);
	ring_store_relaxed(&g->heartbeat_ns, 0);
	ring_store_relaxed(&g->delivered, 0);
	ring_store_relaxed(&g->redelivered, 0);
	ring_store_relaxed(&g->dead_lettered, 0);
	ring_store_relaxed(&g->acked, 0);
	for (unsigned i = 0; i < RING_MAX_MEMBERS; i++) {
		ring_store_relaxed(&g->members[i].owner, 0);
		ring_store_relaxed(&g->members[i].heartbeat_ns, 0);
		ring_store_relaxed(&g->members[i].delivered, 0);
	}
	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
		bool restored = i < init->count;

		/* A restored delivery: released by no member, due at once
		 * (deadline 0), with the deliveries it had. The first scan
		 * of any member takes it over as a redelivery. */
		ring_store_relaxed(&g->inflight[i].pos, restored ? init->pos[i] : RING_POS_NONE);
		ring_store_relaxed(&g->inflight[i].meta,
				   restored ? ringi_inflight_make(RING_INFLIGHT_RELEASED,
								  RING_INFLIGHT_NO_MEMBER,
								  init->deliveries[i], 0)
					    : 0);
	}
}

static int find_or_create(struct ring_topic *t, const char *name, bool create, uint32_t mode,
			  const struct ringi_group_init *init, struct ring_group_slot **ret_slot)
{
	struct ring_control *ctl = t->ctl;
	uint32_t h = name_hash(name);
	uint64_t me = 0;

	/* Bounded: a probe is repeated only when another creator took the
	 * slot under us, at most once per slot. */
	for (unsigned probe = 0, turns = 0; probe < RING_MAX_GROUPS && turns < 2 * RING_MAX_GROUPS;
	     probe++, turns++) {
		struct ring_group_slot *g = &ctl->groups[(h + probe) % RING_MAX_GROUPS];
		uint64_t st, mine;
		int rc = settle(g, &st);

		if (rc < 0)
			return rc;
		if ((st & 0xff) == RING_GROUP_ACTIVE) {
			if (!strncmp(g->name, name, sizeof(g->name))) {
				*ret_slot = g;
				return 0;
			}
			continue;
		}
		/* A FREE slot ends the probe chain (groups are never deleted,
		 * so there are no tombstones to look past). */
		if (!create)
			return -ENOENT;
		if (!me)
			me = ringi_owner_self_process();
		mine = state_make(RING_GROUP_INIT, me);
		/* G4 (acq_rel): the slot is ours to fill in. */
		if (!ring_cas_acq_rel(&g->state, &st, mine)) {
			probe--;	/* someone else took it: look at it again */
			continue;
		}
		RING_CRASH_POINT("group.create.mid_init");
		slot_init(g, name, mode, init);
		/* G4 (release): publish the group. Only a dead creator's slot
		 * is reclaimed, so the state is still ours. */
		ring_store_release(&g->state, state_make(RING_GROUP_ACTIVE, 0));
		*ret_slot = g;
		return 0;
	}
	return create ? -ENOSPC : -ENOENT;
}

int ringi_group_find(struct ring_topic *t, const char *name, bool create, uint32_t mode,
		     uint64_t start_pos, struct ring_group_slot **ret_slot)
{
	const struct ringi_group_init init = { .committed = start_pos, .next = start_pos };

	return find_or_create(t, name, create, mode, &init, ret_slot);
}

int ringi_group_restore(struct ring_topic *t, const char *name, uint32_t mode,
			const struct ringi_group_init *init, struct ring_group_slot **ret_slot)
{
	if (init->count > RING_GROUP_INFLIGHT || init->next < init->committed ||
	    (mode != RING_GROUP_SHARED && init->count))
		return -EINVAL;
	for (unsigned i = 0; i < init->count; i++)
		if (init->pos[i] % 8 || init->pos[i] < init->committed ||
		    init->pos[i] >= init->next || !init->deliveries[i])
			return -EINVAL;
	return find_or_create(t, name, true, mode, init, ret_slot);
}

/* ---- shared groups: in-flight entries and the low watermark ---- */

uint64_t ringi_group_watermark(struct ring_group_slot *g)
{
	/* G7 (acquire) pairs with members' CAS on next. */
	uint64_t low = ring_load_acquire(&g->next);

	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
		struct ring_inflight *e = &g->inflight[i];
		uint64_t meta = ring_load_acquire(&e->meta);
		uint64_t pos;

		if (ringi_inflight_state(meta) == RING_INFLIGHT_FREE)
			continue;
		pos = ring_load_acquire(&e->pos);
		/* A PENDING entry may not have claimed its position yet
		 * (pos >= next) or may still hold an older one: either way
		 * the minimum stays on the safe side. */
		if (pos < low)
			low = pos;
	}
	return low;
}

/*
 * The in-flight snapshot ringd logs, so that a reboot (which takes the
 * table with the shared memory) redelivers only what was in flight.
 *
 * Why it is a superset of the positions below *ret_next that are unacked
 * when the scan ends: a member records an entry's claim (G10 on meta, then
 * its pos store) before its CAS on `next` moves past the position (G7,
 * shared_claim() in consumer.c), and next moves only by such CASes (or
 * over padding and lost records, which hold nothing to deliver; or by an
 * operator's reset, which empties the table first). So for a
 * record p below the `next` we load first (G7 acquire, pairing with the
 * claim's CAS; later CASes continue its release sequence), the claimer's
 * meta and pos stores happen before our loads of that entry: we see
 * PENDING(claimer) or a later meta, and p or a later pos. A record stays
 * in its entry from claim to ack (redelivery, nack and hand-back change
 * meta in place), and the entry turns FREE and its pos NONE only after
 * the ack's CAS (entry_free(); or once the record went to the dead-letter
 * topic or was lost to retention: done with all the same). So an entry we
 * see FREE, or holding NONE or another position, had its record acked;
 * one not acked is seen with p. ringi_group_watermark() rests on the
 * same order. What we may log needlessly (a duplicate after a reboot, allowed by
 * at-least-once): a record acked during the scan; a lost claim not yet
 * cleared (its winner's entry holds it too, deduplicated below); a
 * PENDING claim that won but was not yet handed out; an ack in progress.
 *
 * Sorted by position, each once (the larger delivery count kept); a
 * position that is not 8-aligned is damage and left out.
 */
unsigned ringi_group_inflight_snapshot(struct ring_group_slot *g, uint64_t *ret_next,
				       uint64_t pos[RING_GROUP_INFLIGHT],
				       uint8_t deliveries[RING_GROUP_INFLIGHT])
{
	/* G7 (acquire) first: see above. */
	uint64_t next = ring_load_acquire(&g->next);
	unsigned n = 0;

	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
		struct ring_inflight *e = &g->inflight[i];
		/* G9 (acquire) pairs with the releases on meta; then pos,
		 * acquire as in ringi_group_watermark(). */
		uint64_t meta = ring_load_acquire(&e->meta);
		uint64_t p;
		unsigned d, k;

		if (ringi_inflight_state(meta) == RING_INFLIGHT_FREE)
			continue;
		p = ring_load_acquire(&e->pos);
		if (p >= next || p % 8)
			continue;
		d = ringi_inflight_deliveries(meta);
		if (!d)
			d = 1;	/* never stored by a member; a record counts once */
		/* Insertion into the sorted prefix: at most 256 entries. */
		for (k = n; k > 0 && pos[k - 1] > p; k--)
			;
		if (k > 0 && pos[k - 1] == p) {
			if (d > deliveries[k - 1])
				deliveries[k - 1] = (uint8_t)d;
			continue;
		}
		memmove(pos + k + 1, pos + k, (n - k) * sizeof(*pos));
		memmove(deliveries + k + 1, deliveries + k, (n - k) * sizeof(*deliveries));
		pos[k] = p;
		deliveries[k] = (uint8_t)d;
		n++;
	}
	*ret_next = next;
	return n;
}

void ringi_group_raise_committed(struct ring_group_slot *g, uint64_t pos)
{
	uint64_t cur = ring_load_relaxed(&g->committed);

	/* G6 (acq_rel): the committed position only moves forward; the CAS
	 * loop is bounded by the number of concurrent raisers. */
	for (unsigned i = 0; i < 64 && pos > cur; i++) {
		if (ring_cas_acq_rel(&g->committed, &cur, pos))
			return;
	}
}

/* ---- what operators see and change ---- */

/* The most headers one count walks: a stat call stays well under a
 * millisecond even on a 16 GiB ring. */
#define COUNT_MAX_STEPS (1u << 18)

/*
 * Records in [from, to) counted by walking the ring's headers (C1 acquire
 * loads, each checked for its lap, as a reader does). *ret_exact is false
 * if part of the range is older than the ring, a header was reused or not
 * yet committed under the walk, or the walk hit its bound: the count is
 * then what was seen.
 */
static uint64_t ring_count(struct ring_topic *t, uint64_t from, uint64_t to, bool *ret_exact)
{
	uint64_t oldest = ring_load_acquire(&t->ctl->oldest.pos), pos = from, n = 0;

	*ret_exact = true;
	if (pos < oldest) {
		*ret_exact = false;
		pos = oldest;
	}
	for (unsigned steps = 0; pos < to; steps++) {
		uint64_t w = ring_load_acquire(&ringi_header_at(t, pos)->word);
		uint64_t span;

		if (steps == COUNT_MAX_STEPS) {
			*ret_exact = false;
			break;
		}
		if (ring_word_lap(w) != ring_lap_of(pos, t->capacity_shift)) {
			*ret_exact = false;
			break;
		}
		span = ring_word_span(w, t->max_record, t->max_span);
		if (!span) {
			*ret_exact = false; /* a claim in progress, or damage */
			break;
		}
		if (ring_word_state(w) == RING_STATE_COMMITTED)
			n++;
		pos += span;
	}
	return n;
}

int ring_group_stat(struct ring_topic *t, unsigned index, struct ring_group_stat *ret)
{
	struct ring_group_stat s;
	struct ring_group_slot *g;
	uint64_t tail;
	bool exact;

	ring_validate_or_return(t && ret && index < RING_MAX_GROUPS, -EINVAL);
	g = &t->ctl->groups[index];
	if ((ring_load_acquire(&g->state) & 0xff) != RING_GROUP_ACTIVE)	/* G4 */
		return 0;
	memset(&s, 0, sizeof(s));
	memcpy(s.name, g->name, sizeof(s.name) - 1);
	s.mode = g->mode;
	/* Statistics: relaxed reads, each exact, not mutually consistent. */
	s.committed_pos = ring_load_relaxed(&g->committed);
	/* Members raise a shared group's watermark on some acks only
	 * (consumer.c, ACK_RAISE_EVERY): report where it is, without
	 * writing it (stat may not own the group). */
	if (g->mode == RING_GROUP_SHARED) {
		uint64_t w = ringi_group_watermark(g);

		if (w > s.committed_pos)
			s.committed_pos = w;
	}
	s.next_pos = ring_load_relaxed(&g->next);
	tail = ring_load_relaxed(&t->ctl->tail.pos);
	s.lag_bytes = tail > s.committed_pos ? tail - s.committed_pos : 0;
	s.lag_records = ring_count(t, s.committed_pos, tail, &exact);
	s.lag_exact = exact;
	s.delivered = ring_load_relaxed(&g->delivered);
	s.redelivered = ring_load_relaxed(&g->redelivered);
	s.dead_lettered = ring_load_relaxed(&g->dead_lettered);
	s.acked = ring_load_relaxed(&g->acked);
	if (s.mode == RING_GROUP_EXCLUSIVE) {
		uint64_t owner = ring_load_relaxed(&g->owner);

		if (owner) {
			s.member[0].pid = ringi_owner_pid(owner);
			s.member[0].alive = ringi_owner_alive(owner);
			s.member[0].heartbeat_ns = ring_load_relaxed(&g->heartbeat_ns);
			s.member[0].delivered = s.delivered;
			s.members = s.member[0].alive;
		}
		/* Delivered but not committed: what a crash now would
		 * deliver again. */
		if (s.next_pos > s.committed_pos)
			s.in_flight = ring_count(t, s.committed_pos, s.next_pos, &exact);
		*ret = s;
		return 1;
	}
	for (unsigned i = 0, n = 0; i < RING_MAX_MEMBERS; i++) {
		struct ring_member_slot *m = &g->members[i];
		uint64_t owner = ring_load_relaxed(&m->owner);

		if (!owner)
			continue;
		s.member[n] = (struct ring_member_stat){
			.pid = ringi_owner_pid(owner),
			.alive = ringi_owner_alive(owner),
			.heartbeat_ns = ring_load_relaxed(&m->heartbeat_ns),
			.delivered = ring_load_relaxed(&m->delivered),
		};
		s.members += s.member[n].alive;
		n++;
	}
	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
		uint64_t meta = ring_load_relaxed(&g->inflight[i].meta);

		/* Claims in progress are not deliveries yet. */
		if (ringi_inflight_state(meta) == RING_INFLIGHT_DELIVERED ||
		    (ringi_inflight_state(meta) == RING_INFLIGHT_RELEASED &&
		     ringi_inflight_deadline(meta) != RING_INFLIGHT_DEADLINE_MASK))
			s.in_flight++;
	}
	*ret = s;
	return 1;
}

/* A position older than the ring: is a record there in the segment files? */
static int history_check(struct ring_topic *t, uint64_t pos)
{
	struct ringi_history *h = NULL;
	struct ring_record rec;
	void *buf = malloc(t->max_record ? t->max_record : 1);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = ringi_history_read(&h, t, pos, buf, &rec);
	ringi_history_free(h);
	free(buf);
	return rc < 0 ? rc : 0;
}

int ringi_position_check(struct ring_topic *t, uint64_t pos)
{
	struct ring_control *ctl = t->ctl;

	/* A few turns: the maintainer may reuse the ring under the walk. */
	for (unsigned turn = 0; turn < 4; turn++) {
		/* C1-style acquires: the headers below the tail we walk are
		 * final once COMMITTED or SKIPPED with their lap. */
		uint64_t oldest = ring_load_acquire(&ctl->oldest.pos);
		uint64_t tail = ring_load_acquire(&ctl->tail.pos);
		uint64_t p = oldest;
		int rc = 0;

		if (pos > tail)
			return -ERANGE;
		if (pos == tail)
			return 0;
		if (pos < oldest)
			return history_check(t, pos);
		/* `oldest` is a record boundary (maintain.c): walk from it. */
		while (p < pos) {
			uint64_t w = ring_load_acquire(&ringi_header_at(t, p)->word);
			uint64_t span;

			if (ring_word_lap(w) != ring_lap_of(p, t->capacity_shift) ||
			    ring_word_state(w) < RING_STATE_COMMITTED) {
				rc = -EAGAIN;	/* a claim in progress, or reused meanwhile */
				break;
			}
			span = ring_word_span(w, t->max_record, t->max_span);
			if (!span) {
				rc = -EBADMSG;
				break;
			}
			p += span;
		}
		if (rc == 0 && p != pos)
			rc = -EBADMSG;	/* the walk stepped over @pos: inside a record */
		/* C2 pairs with M2: unless the ring was reused under the walk,
		 * what it read was final. */
		if (ring_seqlock_validate(&ctl->oldest.pos) == oldest)
			return rc;
	}
	return -EAGAIN;
}

int ring_group_reset(struct ring_topic *t, const char *group, uint64_t position, int force)
{
	struct ring_group_slot *g;
	uint64_t owner;
	int rc;

	ring_validate_or_return(t && position % 8 == 0, -EINVAL);
	rc = ringi_group_name_check(group);
	if (rc < 0)
		return rc;
	rc = ringi_group_find(t, group, false, 0, 0, &g);
	if (rc < 0)
		return rc;
	rc = ringi_position_check(t, position);
	if (rc < 0)
		return rc;
	owner = ring_load_acquire(&g->owner);
	if (!force && g->mode == RING_GROUP_EXCLUSIVE && owner && ringi_owner_alive(owner))
		return -EBUSY;
	if (!force && g->mode == RING_GROUP_SHARED) {
		for (unsigned i = 0; i < RING_MAX_MEMBERS; i++) {
			uint64_t m = ring_load_acquire(&g->members[i].owner);

			if (m && ringi_owner_alive(m))
				return -EBUSY;
		}
	}
	/* G5 (release), as a member's commit; shared groups restart handing
	 * out from there, and their in-flight deliveries are forgotten. */
	if (g->mode == RING_GROUP_SHARED) {
		for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
			ring_store_relaxed(&g->inflight[i].pos, RING_POS_NONE);
			ring_store_release(&g->inflight[i].meta, 0);
		}
		ring_store_release(&g->next, position);
	} else {
		ring_store_relaxed(&g->next, position); /* a statistic for exclusive groups */
	}
	ring_store_release(&g->committed, position);
	return 0;
}
