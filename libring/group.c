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
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "internal.h"

#define INIT_WAIT_NS 100000000u	/* a creator needs microseconds; 100 ms is death */

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

static uint64_t state_make(enum ring_group_slot_state st)
{
	return ((uint64_t)(uint32_t)getpid() << 8) | st;
}

/* Wait (bounded) for a slot in INIT to become ACTIVE; reclaim it if its
 * creator died. Returns the state word it ends with. */
static uint64_t settle(struct ring_group_slot *g)
{
	uint64_t start = ringi_now_ns();

	for (;;) {
		/* G4 (acquire) pairs with the creator's release: name, mode
		 * and start position are visible once ACTIVE is. */
		uint64_t st = ring_load_acquire(&g->state);

		if ((st & 0xff) != RING_GROUP_INIT)
			return st;
		if (ringi_now_ns() - start > INIT_WAIT_NS) {
			/* The creator is dead or stopped far longer than it
			 * takes: start over from FREE. */
			if (ring_cas_acq_rel(&g->state, &st, RING_GROUP_FREE))
				return RING_GROUP_FREE;
			continue;
		}
		usleep(100);
	}
}

int ringi_group_find(struct ring_topic *t, const char *name, bool create, uint32_t mode,
		     uint64_t start_pos, struct ring_group_slot **ret_slot)
{
	struct ring_control *ctl = t->ctl;
	uint32_t h = name_hash(name);

	for (unsigned probe = 0; probe < RING_MAX_GROUPS; probe++) {
		struct ring_group_slot *g = &ctl->groups[(h + probe) % RING_MAX_GROUPS];
		uint64_t st = settle(g);

		if ((st & 0xff) == RING_GROUP_ACTIVE) {
			if (!strncmp(g->name, name, sizeof(g->name))) {
				*ret_slot = g;
				return 0;
			}
			continue;
		}
		/* A FREE slot ends the probe chain (groups are never deleted
		 * yet, so there are no tombstones to look past). */
		if (!create)
			return -ENOENT;
		uint64_t expected = st;

		/* G4 (acq_rel): the slot is ours to fill in. */
		if (!ring_cas_acq_rel(&g->state, &expected, state_make(RING_GROUP_INIT))) {
			probe--;	/* someone else took it: look at it again */
			continue;
		}
		memset(g->name, 0, sizeof(g->name));
		memcpy(g->name, name, strlen(name));
		g->mode = mode;
		/* Nobody reads these before G4 below: relaxed. */
		ring_store_relaxed(&g->committed, start_pos);
		ring_store_relaxed(&g->next, start_pos);
		ring_store_relaxed(&g->owner, 0);
		for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
			ring_store_relaxed(&g->inflight[i].pos, RING_POS_NONE);
			ring_store_relaxed(&g->inflight[i].meta, 0);
		}
		ring_fetch_add_relaxed(&g->commit_seq, 1);
		/* G4 (release): publish the group. */
		ring_store_release(&g->state, state_make(RING_GROUP_ACTIVE));
		*ret_slot = g;
		return 0;
	}
	return create ? -ENOSPC : -ENOENT;
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

void ringi_group_raise_committed(struct ring_group_slot *g, uint64_t pos)
{
	uint64_t cur = ring_load_relaxed(&g->committed);

	/* G6 (acq_rel): the committed position only moves forward; the CAS
	 * loop is bounded by the number of concurrent raisers. */
	for (unsigned i = 0; i < 64 && pos > cur; i++) {
		if (ring_cas_acq_rel(&g->committed, &cur, pos)) {
			ring_fetch_add_relaxed(&g->commit_seq, 1);
			return;
		}
	}
}

/* ---- what operators see and change ---- */

int ring_group_stat(struct ring_topic *t, unsigned index, struct ring_group_stat *ret)
{
	struct ring_group_stat s;
	struct ring_group_slot *g;
	uint64_t tail;

	ring_validate_or_return(t && ret && index < RING_MAX_GROUPS, -EINVAL);
	g = &t->ctl->groups[index];
	if ((ring_load_acquire(&g->state) & 0xff) != RING_GROUP_ACTIVE)	/* G4 */
		return 0;
	memset(&s, 0, sizeof(s));
	memcpy(s.name, g->name, sizeof(s.name) - 1);
	s.mode = g->mode;
	/* Statistics: relaxed reads, each exact, not mutually consistent. */
	s.committed_pos = ring_load_relaxed(&g->committed);
	tail = ring_load_relaxed(&t->ctl->tail.pos);
	s.lag_bytes = tail > s.committed_pos ? tail - s.committed_pos : 0;
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
		*ret = s;
		return 1;
	}
	for (unsigned i = 0; i < RING_MAX_MEMBERS; i++) {
		struct ring_member_slot *m = &g->members[i];
		uint64_t owner = ring_load_relaxed(&m->owner);

		if (!owner)
			continue;
		s.member[s.members] = (struct ring_member_stat){
			.pid = ringi_owner_pid(owner),
			.alive = ringi_owner_alive(owner),
			.heartbeat_ns = ring_load_relaxed(&m->heartbeat_ns),
			.delivered = ring_load_relaxed(&m->delivered),
		};
		s.members++;
	}
	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++)
		if (ringi_inflight_state(ring_load_relaxed(&g->inflight[i].meta)) !=
		    RING_INFLIGHT_FREE)
			s.in_flight++;
	*ret = s;
	return 1;
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
	}
	ring_store_release(&g->committed, position);
	ring_fetch_add_relaxed(&g->commit_seq, 1);
	return 0;
}
