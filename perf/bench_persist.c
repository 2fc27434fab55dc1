/* SPDX-License-Identifier: MIT */
/*
 * bench_persist.c - producers -> ringd -> segment files, with the ringd
 * built beside ring-bench started as a child on a fresh subdirectory of
 * --data-dir (bench_ringd.c).
 *
 * The run: the disk floor of the same directory (bench_disk.c), then a
 * persistent topic with the chosen fsync policy, ringd, one producer
 * process publishing as fast as ringd lets it (the ring is gated by
 * `persisted`, so a producer that outruns the disk blocks), and the parent
 * sampling every millisecond how far `persisted` and `durable` trail the
 * tail. The figure to hold against the disk floor is the rate at which
 * `persisted` advances in the measured window, in log bytes (headers
 * included: what ringd writes).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libring.h>

#include "bench_util.h"

struct ps_shared {
	struct bench_phase phase;
	uint64_t sent;			/* records, warm-up included */
	double rate;			/* records per second in the window */
	uint64_t timeouts;
	uint32_t size, batch;
	char data_dir[PATH_MAX];
	char topic[64];
};

static int ps_producer(void *arg)
{
	struct ps_shared *s = arg;
	struct ring_message msgs[RING_BATCH_MAX];
	struct bench_window win = { 0 };
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	uint64_t sent = 0, timeouts = 0;
	uint8_t *buf;
	int rc;

	(void)bench_pin(0);
	buf = malloc(s->size + 8);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0x5a, s->size + 8);
	for (unsigned i = 0; i < s->batch; i++)
		msgs[i] = (struct ring_message){ .data = buf, .len = s->size,
						 .type = BENCH_TYPE_DATA };
	rc = bench_open_producer(s->data_dir, s->topic, &t, &p, "persist");
	if (rc == 0)
		rc = bench_phase_ready(&s->phase, "persist producer");
	if (rc < 0)
		goto out;
	/* Bounded by the stop flag, and by the hard deadline on timeouts. */
	while (!bench_load_relaxed(&s->phase.stop)) {
		bench_window_update(&win, &s->phase, sent);
		/* Blocking: a full ring waits for ringd to persist. */
		if (s->batch == 1)
			rc = ring_producer_publish(p, BENCH_TYPE_DATA, buf, s->size, 100000000, NULL);
		else
			rc = ring_producer_publish_batch(p, msgs, s->batch, 100000000, NULL);
		if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			timeouts++;
			if (bench_mono_ns() > s->phase.hard_deadline_ns) {
				bench_err("persist: the ring stayed full until the deadline");
				goto out;
			}
			continue;
		}
		if (rc < 0) {
			bench_err("persist: publish: %s", ring_strerror(rc));
			goto out;
		}
		sent += s->batch;
	}
	s->rate = bench_window_close(&win, sent, NULL);
	s->sent = sent;
	s->timeouts = timeouts;
	rc = 0;
out:
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	free(buf);
	return rc < 0 ? rc : 0;
}

static uint64_t record_span(uint32_t size)
{
	return (RING_RECORD_HEADER_BYTES + (uint64_t)size + 7) / 8 * 8;
}

/* Sample tail - persisted and tail - durable every millisecond until
 * @t_end (the producer is measuring meanwhile). */
static int sample_lags(struct ring_topic *topic, uint64_t t_end, pid_t *pid,
		       struct bench_hist *lag_p, struct bench_hist *lag_d)
{
	struct ring_topic_stat st;

	for (uint64_t now = bench_mono_ns(); now < t_end; now = bench_mono_ns()) {
		int rc = bench_sleep_until(now + 1000000u < t_end ? now + 1000000u : t_end, pid, 1);

		if (rc < 0)
			return rc;
		if (ring_topic_stat(topic, &st) == 0) {
			hist_record(lag_p, st.tail_pos - st.persisted_pos);
			hist_record(lag_d, st.tail_pos - st.durable_pos);
		}
	}
	return 0;
}

/* How long ringd takes to have everything persisted (and durable, unless
 * @never) once the producer has stopped: 0, or -ETIMEDOUT after 30 s. */
static int catch_up(struct ring_topic *topic, bool never, uint64_t *ret_drained,
		    uint64_t *ret_durable)
{
	uint64_t deadline = bench_mono_ns() + UINT64_C(30000000000), start = bench_mono_ns();
	struct timespec ts = { .tv_nsec = 100000 };
	struct ring_topic_stat st;
	uint64_t tail;

	*ret_drained = *ret_durable = 0;
	(void)ring_topic_stat(topic, &st);
	tail = st.tail_pos;
	/* Bounded by the deadline. */
	while ((!*ret_drained || (!*ret_durable && !never)) && bench_mono_ns() < deadline) {
		(void)ring_topic_stat(topic, &st);
		if (!*ret_drained && st.persisted_pos >= tail)
			*ret_drained = bench_mono_ns() - start + 1;
		if (!*ret_durable && st.durable_pos >= tail)
			*ret_durable = bench_mono_ns() - start + 1;
		(void)nanosleep(&ts, NULL);
	}
	if (!*ret_drained) {
		bench_err("persist: ringd did not catch up within 30 s");
		return -ETIMEDOUT;
	}
	return 0;
}

int bench_persist(const struct bench_opts *o, struct bench_report *ret_report)
{
	struct ring_topic_config cfg = {
		.capacity_bytes = o->capacity ? o->capacity : UINT64_C(64) << 20,
		.fsync_policy = o->fsync_policy >= 0 ? (uint32_t)o->fsync_policy
						     : RING_FSYNC_INTERVAL,
	};
	struct bench_hist *lag_p = NULL, *lag_d = NULL;
	struct bench_session sess = { 0 };
	struct ring_topic_stat st, st0, st1;
	struct ps_shared *s = NULL;
	struct bench_report r;
	pid_t pid = -1;
	uint64_t t_measure, t_end, t_drained = 0, t_durable = 0;
	double warm, disk_s, log_rate, floor_bw;
	const char *policy;
	int rc;

	bench_report_init(&r, o, "persist");
	r.readers = 0;
	(void)snprintf(r.mode, sizeof(r.mode), "1P-ringd");
	if (o->size < 1) {
		bench_err("persist: --size must be at least 1");
		return -EINVAL;
	}
	policy = cfg.fsync_policy == RING_FSYNC_ALWAYS ? "always"
		 : cfg.fsync_policy == RING_FSYNC_NEVER ? "never" : "interval";
	lag_p = malloc(sizeof(*lag_p));
	lag_d = malloc(sizeof(*lag_d));
	s = bench_shared_alloc(sizeof(*s));
	if (!lag_p || !lag_d || !s) {
		rc = -ENOMEM;
		goto out;
	}
	hist_init(lag_p);
	hist_init(lag_d);

	disk_s = o->seconds < 0.5 ? 0.3 : o->seconds > 4 ? 2 : o->seconds / 2;
	rc = bench_session_open(o, &cfg, disk_s, 20, &sess);
	if (rc < 0)
		goto out;
	rc = ring_topic_stat(sess.topic, &st);
	if (rc < 0)
		goto out;
	r.capacity = st.capacity_bytes;
	if (o->size > st.max_record_bytes || o->batch * record_span(o->size) > st.capacity_bytes / 4) {
		bench_err("persist: records too large for the ring (raise --capacity)");
		rc = -EMSGSIZE;
		goto out;
	}

	s->size = o->size;
	s->batch = o->batch;
	(void)snprintf(s->data_dir, sizeof(s->data_dir), "%s", bench_run_data_dir());
	(void)snprintf(s->topic, sizeof(s->topic), "%s", bench_topic_name());
	warm = bench_warm_seconds(o->seconds, 0.05, 0.5);
	bench_phase_init(&s->phase, warm + o->seconds);
	rc = bench_spawn(ps_producer, s, &pid);
	if (rc < 0)
		goto out;
	rc = bench_phase_start(&s->phase, &pid, 1, warm, "persist");
	if (rc < 0)
		goto out;
	(void)ring_topic_stat(sess.topic, &st0);
	t_measure = bench_mono_ns();
	rc = sample_lags(sess.topic, t_measure + (uint64_t)(o->seconds * 1e9), &pid, lag_p, lag_d);
	(void)ring_topic_stat(sess.topic, &st1);
	t_end = bench_mono_ns();
	bench_phase_stop(&s->phase);
	if (rc < 0)
		goto out;
	rc = bench_wait_children(&pid, 1, UINT64_C(30000000000), "persist");
	if (rc < 0)
		goto out;
	rc = catch_up(sess.topic, cfg.fsync_policy == RING_FSYNC_NEVER, &t_drained, &t_durable);
	if (rc == 0)
		rc = bench_session_stop_ringd(&sess);
	if (rc < 0)
		goto out;

	r.samples = s->sent;
	r.msgs_per_sec = s->rate > 0 ? s->rate : -1;
	r.bytes_per_sec = r.msgs_per_sec * o->size;
	log_rate = (double)(st1.persisted_pos - st0.persisted_pos) * 1e9 /
		   (double)(t_end - t_measure);
	floor_bw = sess.disk.direct_bytes_per_sec > sess.disk.buffered_bytes_per_sec
			   ? sess.disk.direct_bytes_per_sec
			   : sess.disk.buffered_bytes_per_sec;
	bench_report_extra(&r, "persisted_log_bytes_per_sec", log_rate, 0);
	bench_report_extra(&r, "durable_log_bytes_per_sec",
			   (double)(st1.durable_pos - st0.durable_pos) * 1e9 /
				   (double)(t_end - t_measure),
			   0);
	bench_report_extra(&r, "persist_ratio_to_disk", floor_bw > 0 ? log_rate / floor_bw : -1,
			   3);
	bench_report_extra(&r, "persist_ratio_to_direct",
			   sess.disk.direct_bytes_per_sec > 0
				   ? log_rate / sess.disk.direct_bytes_per_sec
				   : -1,
			   3);
	bench_report_extra(&r, "persist_ratio_to_buffered",
			   sess.disk.buffered_bytes_per_sec > 0
				   ? log_rate / sess.disk.buffered_bytes_per_sec
				   : -1,
			   3);
	bench_report_extra(&r, "persisted_lag_p50_bytes", (double)hist_percentile(lag_p, 50), 0);
	bench_report_extra(&r, "persisted_lag_p99_bytes", (double)hist_percentile(lag_p, 99), 0);
	bench_report_extra(&r, "persisted_lag_max_bytes", (double)lag_p->max, 0);
	bench_report_extra(&r, "durable_lag_p50_bytes", (double)hist_percentile(lag_d, 50), 0);
	bench_report_extra(&r, "durable_lag_p99_bytes", (double)hist_percentile(lag_d, 99), 0);
	bench_report_extra(&r, "durable_lag_max_bytes", (double)lag_d->max, 0);
	bench_report_extra(&r, "drain_after_stop_ns", (double)t_drained, 0);
	bench_report_extra(&r, "durable_after_stop_ns", t_durable ? (double)t_durable : -1, 0);
	bench_disk_report(&r, &sess.disk);
	(void)snprintf(r.notes, sizeof(r.notes),
		       "  fsync %s, ring %llu B, %llu records published (warm-up included), "
		       "%llu publish calls timed out on a full ring;\n"
		       "  lags sampled every ms (%llu samples): tail - persisted, tail - durable;\n"
		       "  persist_ratio_to_disk = persisted log bytes/s over the better of the "
		       "disk floor's direct and buffered\n",
		       policy, (unsigned long long)r.capacity, (unsigned long long)s->sent,
		       (unsigned long long)s->timeouts, (unsigned long long)lag_p->count);
	*ret_report = r;
	rc = 0;
out:
	if (pid > 0)
		bench_kill_children(&pid, 1);
	bench_session_close(&sess);
	if (s)
		bench_shared_free(s, sizeof(*s));
	free(lag_p);
	free(lag_d);
	return rc;
}
