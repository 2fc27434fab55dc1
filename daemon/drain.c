/* SPDX-License-Identifier: MIT */
/*
 * drain.c - see drain.h. The order of one pass is the data path's:
 *
 *   committed ring bytes --stage (copy, validate, CRC)--> staging buffers
 *   --write (io_uring, left in flight)--> segment files: once it completes,
 *   publish `persisted` (D1)
 *   --sync (one fdatasync for all)--> publish `durable` (D2), wake waiters
 *   --ring_topic_maintain()--> the ring reuses what is persisted
 *
 * The write overlaps the next passes: a pass stages what producers
 * committed meanwhile into the other staging buffer and only looks whether
 * the write has completed; a pass that finds nothing to stage waits for it.
 * Once it is reaped (and `persisted` published, which frees ring space for
 * the producers) the next pass submits what was staged meanwhile. So the
 * kernel's copy into the page cache (or the device's transfer, O_DIRECT)
 * runs beside ringd's own copy and CRC instead of after it. The final
 * drain and retries after an I/O error write and wait (seglog_flush()).
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

/* @pos is written: publish it. true if that is news. */
static bool persisted_to(struct dtopic *t, uint64_t pos)
{
	if (pos <= t->persisted)
		return false;
	t->persisted = pos;
	ringi_publish_persisted(t->ring, pos);
	return true;
}

static bool sync_due(const struct dtopic *t, uint64_t now, bool final)
{
	if (t->persisted <= t->durable)
		return false;
	if (final)
		return true;
	/* The next one after the one in flight (interval, never). */
	if (seglog_syncing(t->log))
		return false;
	switch (t->config.fsync_policy) {
	case RING_FSYNC_ALWAYS:
		return now >= t->sync_hold_until_ns;
	case RING_FSYNC_INTERVAL:
		return now - t->last_sync_ns >= t->config.fsync_interval_ns;
	default:
		return false;
	}
}

/*
 * Sync now and wait (`always`, and the final drain): publish `durable`,
 * and hold the next sync after one that woke several waiters. false if
 * it failed (the episode is started).
 */
static bool sync_wait(struct dtopic *t, uint64_t now, bool *moved)
{
	uint64_t start = ringi_now_ns(), end, pos;
	unsigned woken = 0;
	int rc = seglog_sync(t->log, &pos);

	/* It waited for the write in flight: `persisted` first, never
	 * behind `durable`. */
	*moved |= persisted_to(t, seglog_persisted(t->log));
	if (rc < 0) {
		io_failed(t, rc, STEP_SYNC, now);
		return false;
	}
	io_recovered(t, STEP_SYNC);
	t->last_sync_ns = now;
	if (pos > t->durable) {
		t->durable = pos;
		woken = ringi_publish_durable(t->ring, pos);
		*moved = true;
	}
	end = ringi_now_ns();
	t->sync_hold_until_ns = 0;
	if (woken >= SYNC_HOLD_MIN_WAITERS)
		t->sync_hold_until_ns =
			end + ((end - start) / 4 < SYNC_HOLD_MAX_NS ? (end - start) / 4
								  : SYNC_HOLD_MAX_NS);
	return true;
}

static bool drain_pass(struct dtopic *t, uint64_t now, bool final)
{
	bool moved = false;
	uint64_t pos;
	int rc;

	if (!t->broken)
		moved = stage(t);
	if (t->drained > t->persisted || t->io_error) {
		/* Wait for the write in flight only when this pass has nothing
		 * else to do: staging found nothing new (or no room). Under
		 * `always` the sync waits for every write anyway, and a write
		 * waited for at once lets it start sooner. */
		if (final || t->io_error || t->config.fsync_policy == RING_FSYNC_ALWAYS)
			rc = seglog_flush(t->log, &pos);
		else
			rc = seglog_write_async(t->log, !moved, &pos);
		if (rc < 0) {
			io_failed(t, rc, STEP_WRITE, now);
			return moved;
		}
		io_recovered(t, STEP_WRITE);
		moved |= persisted_to(t, pos);
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
		if (final || t->config.fsync_policy == RING_FSYNC_ALWAYS) {
			if (!sync_wait(t, now, &moved))
				return moved;
		} else {
			/* Overlapped with the writes: reaped below, by this pass
			 * or a later one. */
			rc = seglog_sync_start(t->log);
			if (rc < 0) {
				io_failed(t, rc, STEP_SYNC, now);
				return moved;
			}
			t->last_sync_ns = now;
		}
	}
	if (seglog_syncing(t->log)) {
		/* Waited for only by a pass that has nothing else to do. */
		rc = seglog_sync_reap(t->log, !moved, &pos);
		if (rc < 0) {
			io_failed(t, rc, STEP_SYNC, now);
			return moved;
		}
		if (!seglog_syncing(t->log))
			io_recovered(t, STEP_SYNC);
		if (pos > t->durable) {
			t->durable = pos;
			(void)ringi_publish_durable(t->ring, pos);
			moved = true;
		}
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

bool drain_topic(struct dtopic *t, uint64_t now, bool final)
{
	/* Backing off after an I/O error: whatever is in flight waits for
	 * the retry too (or ringd would spin until then). */
	if (t->io_error && now < t->retry_at_ns && !final)
		return false;
	/* A write or sync in flight is work: ringd must come back to reap
	 * it, and no producer's commit would wake it for that. */
	return drain_pass(t, now, final) || seglog_writing(t->log) || seglog_syncing(t->log);
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
	if (sync_due(t, now, false) || seglog_writing(t->log) || seglog_syncing(t->log))
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
