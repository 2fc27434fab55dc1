/* SPDX-License-Identifier: MIT */
/*
 * bench_durable.c - the latency of a durable publish (Kafka's acks=all):
 * ring_producer_publish() followed by ring_topic_wait_durable() on the
 * position it returned, timed together, by P producer processes at once
 * on a persistent topic served by a ringd started here.
 *
 * With the `always` fsync policy (the default here) ringd fdatasyncs
 * after every drain pass and one fdatasync covers every record written
 * before it (group commit), so P producers waiting at once should get
 * close to P times the durable records per second of one, at about the
 * same latency. To make that comparison in one run, P > 1 first runs one
 * producer alone for the same time. The latency floor is the disk's: the
 * fdatasync after a 4 KiB append in the same directory (bench_disk.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libring.h>

#include "bench_util.h"

struct du_producer {
	alignas(BENCH_CACHELINE) uint64_t durable;	/* records made durable in the window */
	uint64_t win_start_ns, end_ns;
	uint64_t timeouts;
	struct bench_hist hist;				/* publish + wait, ns, in the window */
};

struct du_shared {
	alignas(BENCH_CACHELINE) uint64_t measure;
	uint64_t stop;
	alignas(BENCH_CACHELINE) uint64_t ready;
	uint64_t go;
	uint32_t size;
	uint64_t hard_deadline_ns;
	char data_dir[PATH_MAX];
	char topic[64];
	struct du_producer prod[BENCH_MAX_PRODUCERS];
};

struct du_child {
	struct du_shared *s;
	unsigned index;
};

static struct du_child du_children[BENCH_MAX_PRODUCERS];

static int du_producer_main(void *arg)
{
	const struct du_child *c = arg;
	struct du_shared *s = c->s;
	struct du_producer *st = &s->prod[c->index];
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	uint64_t n = 0, timeouts = 0;
	bool measuring = false;
	uint8_t *buf;
	int rc;

	buf = malloc(s->size + 8);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0xa5, s->size + 8);
	rc = ring_topic_open(s->data_dir, s->topic, &t);
	if (rc == 0)
		rc = ring_producer_open(t, &p);
	if (rc < 0) {
		bench_err("durable: opening the topic: %s", ring_strerror(rc));
		goto out;
	}
	(void)bench_fetch_add(&s->ready, 1);
	rc = bench_wait_flag(&s->go, s->hard_deadline_ns);
	if (rc < 0)
		goto out;
	/* Bounded by the stop flag; every wait by a timeout. */
	while (!bench_load_relaxed(&s->stop)) {
		uint64_t pos, t0, t1;

		if (BENCH_UNLIKELY(!measuring) && bench_load_relaxed(&s->measure)) {
			measuring = true;
			st->win_start_ns = bench_mono_ns();
			n = 0;
		}
		t0 = bench_ticks();
		rc = ring_producer_publish(p, BENCH_TYPE_DATA, buf, s->size, 1000000000, &pos);
		if (rc == 0)
			rc = ring_topic_wait_durable(t, pos, 10000000000);
		t1 = bench_ticks();
		if (rc == -ETIMEDOUT) {
			timeouts++;
			if (bench_mono_ns() > s->hard_deadline_ns) {
				bench_err("durable: no progress until the deadline (ringd?)");
				goto out;
			}
			continue;
		}
		if (rc < 0) {
			bench_err("durable: publish or wait: %s", ring_strerror(rc));
			goto out;
		}
		if (measuring) {
			hist_record(&st->hist, bench_ticks_to_ns(t1 - t0));
			n++;
		}
	}
	st->end_ns = bench_mono_ns();
	if (!measuring)
		st->win_start_ns = st->end_ns;
	st->durable = n;
	st->timeouts = timeouts;
	rc = 0;
out:
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	free(buf);
	return rc < 0 ? rc : 0;
}

struct du_phase {
	double msgs_per_sec;
	struct bench_hist hist;
	uint64_t timeouts;
};

/* One run of @np producers for @seconds after a warm-up. */
static int du_run(struct du_shared *s, unsigned np, double seconds, struct du_phase *ret)
{
	pid_t pids[BENCH_MAX_PRODUCERS];
	double warm = seconds / 10 < 0.05 ? 0.05 : seconds / 10 > 0.5 ? 0.5 : seconds / 10;
	uint64_t t_go;
	int rc = 0;

	s->measure = s->stop = s->ready = s->go = 0;
	memset(s->prod, 0, sizeof(s->prod));
	for (unsigned i = 0; i < np; i++) {
		hist_init(&s->prod[i].hist);
		pids[i] = -1;
	}
	s->hard_deadline_ns = bench_mono_ns() + (uint64_t)((warm + seconds + 30) * 1e9);
	for (unsigned i = 0; i < np && rc == 0; i++) {
		du_children[i] = (struct du_child){ .s = s, .index = i };
		rc = bench_spawn(du_producer_main, &du_children[i], &pids[i]);
	}
	if (rc == 0)
		rc = bench_wait_count(&s->ready, np, bench_mono_ns() + UINT64_C(10000000000), pids,
				      np, "durable start");
	if (rc < 0) {
		bench_kill_children(pids, np);
		return rc;
	}
	t_go = bench_mono_ns();
	bench_store_release(&s->go, 1);
	rc = bench_sleep_until(t_go + (uint64_t)(warm * 1e9), pids, np);
	if (rc == 0) {
		bench_store_release(&s->measure, 1);
		rc = bench_sleep_until(bench_mono_ns() + (uint64_t)(seconds * 1e9), pids, np);
	}
	bench_store_release(&s->stop, 1);
	if (rc < 0) {
		bench_kill_children(pids, np);
		return rc;
	}
	rc = bench_wait_children(pids, np, UINT64_C(30000000000), "durable");
	if (rc < 0)
		return rc;
	hist_init(&ret->hist);
	ret->msgs_per_sec = 0;
	ret->timeouts = 0;
	for (unsigned i = 0; i < np; i++) {
		const struct du_producer *p = &s->prod[i];

		hist_merge(&ret->hist, &p->hist);
		ret->timeouts += p->timeouts;
		if (p->end_ns > p->win_start_ns)
			ret->msgs_per_sec += (double)p->durable * 1e9 /
					     (double)(p->end_ns - p->win_start_ns);
	}
	return 0;
}

int bench_durable(const struct bench_opts *o, struct bench_report *ret_report)
{
	struct ring_topic_config cfg = {
		.capacity_bytes = o->capacity,
		.fsync_policy = o->fsync_policy >= 0 ? (uint32_t)o->fsync_policy : RING_FSYNC_ALWAYS,
	};
	struct du_phase *one = NULL, *many = NULL;
	struct bench_session sess = { 0 };
	const struct disk_result *disk = &sess.disk;
	struct du_shared *s = NULL;
	struct bench_report r;
	const struct du_phase *res;
	int rc;

	bench_report_init(&r, o, "durable");
	r.readers = 0;
	(void)snprintf(r.mode, sizeof(r.mode), "%uP-ringd", o->producers);
	if (o->size < 1) {
		bench_err("durable: --size must be at least 1");
		return -EINVAL;
	}
	if (cfg.fsync_policy == RING_FSYNC_NEVER) {
		bench_err("durable: with --fsync never nothing becomes durable");
		return -EINVAL;
	}
	one = malloc(sizeof(*one));
	many = malloc(sizeof(*many));
	s = bench_shared_alloc(sizeof(*s));
	if (!one || !many || !s) {
		rc = -ENOMEM;
		goto out;
	}
	/* Only the fdatasync figures of the disk floor matter here: keep the
	 * bandwidth part short, and take enough syncs for a p99. */
	rc = bench_session_open(o, &cfg, 0.5, 200, &sess);
	if (rc < 0)
		goto out;
	s->size = o->size;
	(void)snprintf(s->data_dir, sizeof(s->data_dir), "%s", bench_run_data_dir());
	(void)snprintf(s->topic, sizeof(s->topic), "%s", bench_topic_name());

	if (o->producers > 1) {
		rc = du_run(s, 1, o->seconds, one);
		if (rc < 0)
			goto out;
	}
	rc = du_run(s, o->producers, o->seconds, many);
	if (rc < 0)
		goto out;
	if (o->producers == 1)
		*one = *many;
	rc = bench_session_stop_ringd(&sess);
	if (rc < 0)
		goto out;

	res = many;
	bench_report_hist(&r, &res->hist);
	r.msgs_per_sec = res->msgs_per_sec;
	r.bytes_per_sec = res->msgs_per_sec * o->size;
	bench_report_extra(&r, "p50_ratio_to_fdatasync",
			   disk->fdatasync_p50_ns ? (double)r.p50_ns / disk->fdatasync_p50_ns : -1, 3);
	bench_report_extra(&r, "p50_ratio_to_append_sync",
			   disk->append_sync_p50_ns ? (double)r.p50_ns / disk->append_sync_p50_ns : -1,
			   3);
	bench_report_extra(&r, "one_producer_msgs_per_sec", one->msgs_per_sec, 0);
	bench_report_extra(&r, "one_producer_p50_ns", (double)hist_percentile(&one->hist, 50), 0);
	bench_report_extra(&r, "one_producer_p99_ns", (double)hist_percentile(&one->hist, 99), 0);
	bench_report_extra(&r, "throughput_ratio_to_one_producer",
			   one->msgs_per_sec > 0 ? res->msgs_per_sec / one->msgs_per_sec : -1, 3);
	bench_disk_report(&r, disk);
	(void)snprintf(r.notes, sizeof(r.notes),
		       "  fsync %s; latency = publish + ring_topic_wait_durable, per record, "
		       "%llu samples;\n  %llu waits timed out; the one-producer figures are %s\n",
		       cfg.fsync_policy == RING_FSYNC_ALWAYS ? "always" : "interval",
		       (unsigned long long)res->hist.count, (unsigned long long)res->timeouts,
		       o->producers > 1 ? "from a run of their own before this one"
					: "this run's");
	*ret_report = r;
	rc = 0;
out:
	bench_session_close(&sess);
	if (s)
		bench_shared_free(s, sizeof(*s));
	free(one);
	free(many);
	return rc;
}
