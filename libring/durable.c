/* SPDX-License-Identifier: MIT */
/*
 * durable.c - the daemon's side of a topic's cursors, and waiting for them.
 *
 * ringd is the only writer of `persisted` and `durable` and of the daemon
 * line (heartbeat). It publishes `persisted` once the bytes are in segment
 * files (D1) and `durable` once they are fsynced (D2), and wakes whoever
 * waits for either. Producers wait for `durable` here.
 */
#include "internal.h"
#include "daemon_side.h"

int ringi_daemon_attach(struct ring_topic *t, uint64_t me)
{
	struct ring_daemon_line *d = &t->ctl->daemon;
	uint64_t holder = ring_load_acquire(&d->owner);

	if (holder == me)
		return 0;
	if (holder && ringi_owner_alive(holder))
		return -EBUSY;
	/* D0 (acq_rel): the line is ours; a dead ringd's last writes (its
	 * cursors) are visible to us. */
	if (!ring_cas_acq_rel(&d->owner, &holder, me))
		return -EBUSY;
	ringi_daemon_beat(t);
	return 0;
}

void ringi_daemon_detach(struct ring_topic *t, uint64_t me)
{
	uint64_t expected = me;

	(void)ring_cas_acq_rel(&t->ctl->daemon.owner, &expected, 0);
}

void ringi_daemon_beat(struct ring_topic *t)
{
	/* A statistic for people and tools: orders nothing. */
	ring_store_relaxed(&t->ctl->daemon.beat_ns, ringi_realtime_ns());
}

void ringi_publish_persisted(struct ring_topic *t, uint64_t pos)
{
	RING_ASSERT(pos >= ring_load_relaxed(&t->ctl->persisted.pos));
	/* D1 (release) pairs with M0 in maintain.c: bytes below are in
	 * segment files, the ring may reuse them. seq_cst, not just
	 * release, for the W1 wake-up check of durable readers after it. */
	ring_store_seq_cst(&t->ctl->persisted.pos, pos);
}

unsigned ringi_publish_durable(struct ring_topic *t, uint64_t pos)
{
	RING_ASSERT(pos >= ring_load_relaxed(&t->ctl->durable.pos));
	/* D2 (seq_cst) pairs with D3 in ring_topic_wait_durable() and with
	 * durable readers (reader.c); seq_cst for the W1 check that follows. */
	ring_store_seq_cst(&t->ctl->durable.pos, pos);
	return ringi_wake_all(&t->ctl->durable_wait);
}

uint64_t ringi_committed_end(const struct ring_topic *t, uint64_t from, uint64_t max_bytes,
			     int *ret_rc)
{
	/* C1 (acquire) per header, as a reader: the bytes below the returned
	 * position are complete records or padding, and stay so until the
	 * gate, which this caller holds at `persisted`, passes them. */
	uint64_t tail = ring_load_acquire(&t->ctl->tail.pos);
	uint64_t pos = from;

	*ret_rc = 0;
	while (pos < tail && pos - from < max_bytes) {
		uint64_t w = ring_load_acquire(&ringi_header_at(t, pos)->word);
		uint64_t span;

		if (ring_word_state(w) < RING_STATE_COMMITTED)
			break;
		if (ring_word_lap(w) != ring_lap_of(pos, t->capacity_shift)) {
			*ret_rc = -EBADMSG;
			break;
		}
		span = ring_word_span(w, t->max_record, t->max_span);
		if (!span || pos + span > tail) {
			*ret_rc = -EBADMSG;
			break;
		}
		if (pos + span - from > max_bytes)
			break;
		pos += span;
	}
	return pos;
}

struct durable_wait {
	struct ring_topic *topic;
	uint64_t position;
};

static bool durable_ready(void *arg)
{
	const struct durable_wait *w = arg;

	/* D3 (seq_cst) pairs with D2. */
	return ring_load_seq_cst(&w->topic->ctl->durable.pos) > w->position;
}

int ring_topic_wait_durable(struct ring_topic *t, uint64_t position, int64_t timeout_ns)
{
	struct durable_wait w = { .topic = t, .position = position };
	uint64_t deadline = 0;

	ring_validate_or_return(t && ringi_is_persistent(t), -EINVAL);
	if (position >= ring_load_acquire(&t->ctl->tail.pos))
		return -ERANGE;
	for (;;) {
		uint64_t now;

		if (durable_ready(&w))
			return 0;
		if (timeout_ns == 0)
			return -EAGAIN;
		now = ringi_now_ns();
		if (!deadline)
			deadline = ringi_deadline(timeout_ns, now);
		if (now >= deadline)
			return -ETIMEDOUT;
		ringi_wait_slice(&t->ctl->durable_wait, durable_ready, &w,
				 deadline - now < RING_SLEEP_SLICE_NS ? deadline - now
								      : RING_SLEEP_SLICE_NS);
	}
}
