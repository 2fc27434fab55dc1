/* SPDX-License-Identifier: MIT */
/*
 * drain.c - see drain.h. The order of one pass is the data path's:
 *
 *   committed ring bytes --stage (copy, validate, CRC)--> staging buffers
 *   --flush (io_uring writes)--> segment files: publish `persisted` (D1)
 *   --sync (one fdatasync for all)--> publish `durable` (D2), wake waiters
 *   --ring_topic_maintain()--> the ring reuses what is persisted
 *
 * Producers are gated by `persisted`, so while writes fail (a full disk,
 * EIO) the ring fills and producers feel back-pressure; nothing is dropped
 * and nothing is reordered. The episode is logged once when it starts and
 * once when it ends, and retried with exponential backoff.
 */
#include "daemon_side.h"
#include "drain.h"
#include "internal.h"
#include "log.h"

#define BACKOFF_MIN_NS 10000000u	/* 10 ms */
#define BACKOFF_MAX_NS 1000000000u	/* 1 s */

/*
 * Group commit under `always`. A sync that woke several durable waiters is
 * followed by a short hold before the next one, so that the producers it
 * woke can publish their next records in time for it. Without the hold,
 * the next sync starts at once and covers only what arrived during the
 * previous one; a producer that waits for each record before sending the
 * next then gets one record per two syncs. The hold is a quarter of the
 * last sync's time, at most SYNC_HOLD_MAX_NS; there is none after a sync
 * that woke one waiter or none, so a lone producer waits for its fsync
 * and nothing else. Records keep being staged and written meanwhile.
 * Measured in docs/benchmarks.md (ring-bench durable).
 */
#define SYNC_HOLD_MAX_NS 200000u	/* 200 us */
#define SYNC_HOLD_MIN_WAITERS 2u

static void io_failed(struct dtopic *t, int rc, const char *what, uint64_t now)
{
	if (!t->io_error) {
		log_errno(LOG_LVL_ERROR, rc,
			  "topic %s: %s failed; producers are held back until it succeeds, "
			  "retrying",
			  t->name, what);
		t->backoff_ns = BACKOFF_MIN_NS;
	} else {
		t->backoff_ns = t->backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS
								    : t->backoff_ns * 2;
	}
	t->io_error = rc;
	t->io_what = what;
	t->retry_at_ns = now + t->backoff_ns;
}

/*
 * The step @what succeeded: the episode ends if that is the step that
 * failed last. Another step succeeding proves nothing (a failed fsync is
 * sticky while writes still work), and ending the episode on it would log
 * a new one on every retry.
 */
static void io_recovered(struct dtopic *t, const char *what)
{
	if (!t->io_error || t->io_what != what)
		return;
	log_info("topic %s: %s works again; draining resumed", t->name, what);
	t->io_error = 0;
	t->io_what = NULL;
}

static const char STEP_WRITE[] = "writing segment files";
static const char STEP_OFFSETS[] = "appending to the offsets log";
static const char STEP_OFFSETS_SYNC[] = "fsync of the offsets log";
static const char STEP_SYNC[] = "fsync of segment files";

/* Copy committed records into staging: true if anything was staged. */
static bool stage(struct dtopic *t)
{
	struct ring_topic *r = t->ring;
	int rc;
	uint64_t end = ringi_committed_end(r, t->drained, r->capacity, &rc);
	int64_t n = 0;

	if (end > t->drained) {
		/* Contiguous even across the ring's end: it is mapped twice. */
		n = seglog_append(t->log, t->drained, r->data + (t->drained & r->mask),
				  end - t->drained);
		if (n > 0)
			t->drained += (uint64_t)n;
	}
	if (rc < 0 || n < 0) {
		t->broken = true;
		log_error("topic %s: a malformed record header at position %llu in the ring; "
			  "nothing from there on is written to disk (a process is writing "
			  "garbage into the ring?)",
			  t->name, (unsigned long long)t->drained);
	}
	return n > 0;
}

static bool sync_due(const struct dtopic *t, uint64_t now, bool final)
{
	if (t->persisted <= t->durable)
		return false;
	if (final)
		return true;
	switch (t->config.fsync_policy) {
	case RING_FSYNC_ALWAYS:
		return now >= t->sync_hold_until_ns;
	case RING_FSYNC_INTERVAL:
		return now - t->last_sync_ns >= t->config.fsync_interval_ns;
	default:
		return false;
	}
}

bool drain_topic(struct dtopic *t, uint64_t now, bool final)
{
	bool moved = false;
	uint64_t pos;
	int rc;

	if (t->io_error && now < t->retry_at_ns && !final)
		return false;
	if (!t->broken)
		moved = stage(t);
	if (t->drained > t->persisted || t->io_error) {
		rc = seglog_flush(t->log, &pos);
		if (rc < 0) {
			io_failed(t, rc, STEP_WRITE, now);
			return moved;
		}
		io_recovered(t, STEP_WRITE);
		if (pos > t->persisted) {
			t->persisted = pos;
			ringi_publish_persisted(t->ring, pos);
			moved = true;
		}
	}
	/* Committed group positions, at most every millisecond: appended
	 * now, synced with the data below. */
	if (final || now - t->last_offsets_ns >= 1000000u) {
		t->last_offsets_ns = now;
		rc = final ? offsets_collect_now(t->offsets, t->ring)
			   : offsets_collect(t->offsets, t->ring);
		if (rc < 0)
			io_failed(t, rc, STEP_OFFSETS, now);
		else
			io_recovered(t, STEP_OFFSETS);
	}
	/* With the data's sync (group commit), or on its own when only
	 * offsets changed, as the fsync policy says. */
	if (sync_due(t, now, final) || offsets_sync_due(t->offsets, &t->config, now, final)) {
		rc = offsets_sync(t->offsets);
		if (rc < 0) {
			io_failed(t, rc, STEP_OFFSETS_SYNC, now);
			return moved;
		}
		io_recovered(t, STEP_OFFSETS_SYNC);
	}
	if (sync_due(t, now, final)) {
		uint64_t start = ringi_now_ns(), end;
		unsigned woken = 0;

		rc = seglog_sync(t->log, &pos);
		if (rc < 0) {
			io_failed(t, rc, STEP_SYNC, now);
			return moved;
		}
		io_recovered(t, STEP_SYNC);
		t->last_sync_ns = now;
		if (pos > t->durable) {
			t->durable = pos;
			woken = ringi_publish_durable(t->ring, pos);
		}
		end = ringi_now_ns();
		t->sync_hold_until_ns = 0;
		if (woken >= SYNC_HOLD_MIN_WAITERS)
			t->sync_hold_until_ns =
				end + ((end - start) / 4 < SYNC_HOLD_MAX_NS ? (end - start) / 4
									  : SYNC_HOLD_MAX_NS);
	}
	/* Reuse what is persisted; also repairs claims of dead producers,
	 * which would otherwise stall this drain. At most every millisecond
	 * when idle: a stalled frontier costs a /proc lookup per call.
	 * -EBUSY: a producer is doing it right now, which is as good. */
	if (moved || now - t->last_maintain_ns >= 1000000u) {
		t->last_maintain_ns = now;
		(void)ring_topic_maintain(t->ring);
	}
	return moved;
}

bool drain_pending(const struct dtopic *t, uint64_t now)
{
	const struct ring_topic *r = t->ring;
	uint64_t w;

	if (t->broken)
		return false;
	/* Backing off after an I/O error: the ring is full of committed
	 * records that cannot be staged, which must not count as work, or
	 * the idle sleep returns at once and ringd spins through the whole
	 * episode. The retry time bounds the sleep instead. */
	if (t->io_error && now < t->retry_at_ns)
		return false;
	if (sync_due(t, now, false))
		return true;
	/* seq_cst: this is the condition checked after registering as a
	 * sleeper on the data futex (the W2 side of the handshake). */
	w = ring_load_seq_cst(&ringi_header_at(r, t->drained)->word);
	return ring_word_state(w) >= RING_STATE_COMMITTED &&
	       ring_word_lap(w) == ring_lap_of(t->drained, r->capacity_shift);
}

uint64_t drain_next_deadline(const struct dtopic *t)
{
	uint64_t d = UINT64_MAX;

	/* In an I/O episode everything waits for the retry: an interval
	 * sync that is overdue (because the episode stopped it) would
	 * otherwise be a deadline in the past, and ringd would spin. */
	if (t->io_error)
		return t->retry_at_ns;
	if (t->persisted > t->durable && t->config.fsync_policy == RING_FSYNC_INTERVAL &&
	    t->last_sync_ns + t->config.fsync_interval_ns < d)
		d = t->last_sync_ns + t->config.fsync_interval_ns;
	if (t->persisted > t->durable && t->config.fsync_policy == RING_FSYNC_ALWAYS &&
	    t->sync_hold_until_ns < d)
		d = t->sync_hold_until_ns;
	return d;
}
