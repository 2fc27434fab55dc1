/* SPDX-License-Identifier: MIT */
/*
 * bench_throughput.c - P producer processes -> R reader processes on one
 * ephemeral named topic, as fast as they go.
 *
 * Readers are gating readers: they hold producers back, so nothing is ever
 * overwritten unread and every record is counted (the run fails if a
 * reader's count differs from what the producers published). Producers
 * publish with ring_producer_publish(), or ring_producer_publish_batch()
 * for --batch > 1, with a zero timeout, retrying on a full ring. Readers
 * take records with ring_reader_poll() and touch each payload's first and
 * last word, so the bytes really cross from one CPU to the other.
 *
 * The run: everyone opens and registers, then a warm-up (the first lap
 * faults the ring's pages in), then --seconds measured, then each producer
 * publishes a stop record and the readers drain up to the last stop
 * record. Rates are taken over the measured window as each process saw it.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <libring.h>

#include "bench_util.h"

struct tp_producer_stat {
	alignas(BENCH_CACHELINE) uint64_t sent;	/* records, warm-up included */
	uint64_t win_sent;		/* at the start of the window */
	uint64_t win_start_ns, end_ns;
	uint64_t full;			/* publish calls that found the ring full */
	int cpu;
};

struct tp_reader_stat {
	alignas(BENCH_CACHELINE) uint64_t count;	/* records, warm-up included */
	uint64_t bytes;
	uint64_t stops;
	uint64_t sum;			/* of the touched words: keeps the reads */
	uint64_t win_count;
	uint64_t win_start_ns, done_ns;
	uint64_t empty_polls;
	int cpu;
};

struct tp_shared {
	/* Parent -> everyone; written twice in a run, read on every turn. */
	alignas(BENCH_CACHELINE) uint64_t measure;	/* warm-up is over */
	uint64_t stop;					/* producers: stop now */
	alignas(BENCH_CACHELINE) uint64_t ready;	/* processes registered */
	uint64_t go;
	/* Set by the parent before fork. */
	uint32_t size, batch, producers, readers, poll_max, idle_pause;
	bool oversubscribed;		/* more processes than CPUs: yield */
	uint64_t hard_deadline_ns;
	char topic[64];
	struct tp_producer_stat prod[BENCH_MAX_PRODUCERS];
	struct tp_reader_stat rd[BENCH_MAX_READERS];
};

struct tp_child {
	struct tp_shared *ts;
	unsigned index;
};

static struct tp_child children[BENCH_MAX_PRODUCERS + BENCH_MAX_READERS];

static int open_topic(const struct tp_shared *ts, struct ring_topic **ret_topic)
{
	int rc = ring_topic_open(NULL, ts->topic, ret_topic);

	if (rc < 0)
		bench_err("throughput: ring_topic_open(%s): %s", ts->topic, ring_strerror(rc));
	return rc;
}

static int producer_main(void *arg)
{
	const struct tp_child *c = arg;
	struct tp_shared *ts = c->ts;
	struct tp_producer_stat *st = &ts->prod[c->index];
	struct ring_message msgs[RING_BATCH_MAX];
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	uint8_t *buf = NULL;
	uint64_t sent = 0, full = 0;
	bool measuring = false;
	int rc, cpu = bench_pin(c->index);

	if (cpu < 0) {
		bench_err("throughput: sched_setaffinity: %s", strerror(-cpu));
		return cpu;
	}
	st->cpu = cpu;
	buf = aligned_alloc(64, (ts->size + 63) / 64 * 64 + 64);
	if (!buf) {
		bench_err("throughput: producer buffer: out of memory");
		return -ENOMEM;
	}
	memset(buf, 0x3c, ts->size + 64);
	for (unsigned i = 0; i < ts->batch; i++)
		msgs[i] = (struct ring_message){ .data = buf, .len = ts->size,
						 .type = BENCH_TYPE_DATA };
	rc = open_topic(ts, &t);
	if (rc < 0)
		goto out;
	rc = ring_producer_open(t, &p);
	if (rc < 0) {
		bench_err("throughput: ring_producer_open: %s", ring_strerror(rc));
		goto out;
	}
	(void)bench_fetch_add(&ts->ready, 1);
	rc = bench_wait_flag(&ts->go, ts->hard_deadline_ns);
	if (rc < 0) {
		bench_err("throughput: producer %u: no start signal", c->index);
		goto out;
	}
	for (;;) {
		if (BENCH_UNLIKELY(!measuring) && bench_load_relaxed(&ts->measure)) {
			measuring = true;
			st->win_sent = sent;
			st->win_start_ns = bench_mono_ns();
		}
		if (bench_load_relaxed(&ts->stop))
			break;
		if (ts->batch == 1)
			rc = ring_producer_publish(p, BENCH_TYPE_DATA, buf, ts->size, 0, NULL);
		else
			rc = ring_producer_publish_batch(p, msgs, ts->batch, 0, NULL);
		if (rc == -EAGAIN) {
			/* Full: the readers are behind. Bounded by the
			 * deadline; with more processes than CPUs, let the
			 * readers have the CPU. */
			full++;
			if (ts->oversubscribed && (full & 15) == 0)
				(void)sched_yield();
			if ((full & 1023) == 0 && bench_mono_ns() > ts->hard_deadline_ns) {
				bench_err("throughput: producer %u: ring full until the deadline",
					  c->index);
				rc = -ETIMEDOUT;
				goto out;
			}
			continue;
		}
		if (rc < 0) {
			bench_err("throughput: publish: %s", ring_strerror(rc));
			goto out;
		}
		sent += ts->batch;
	}
	st->end_ns = bench_mono_ns();
	if (!measuring) {
		st->win_sent = sent;
		st->win_start_ns = st->end_ns;
	}
	st->sent = sent;
	st->full = full;
	/* The stop record: readers finish when they have one per producer,
	 * which, coming after every record of this producer, proves they
	 * have them all. */
	do {
		rc = ring_producer_publish(p, BENCH_TYPE_STOP, buf, 8, 100000000, NULL);
	} while (rc == -ETIMEDOUT && bench_mono_ns() < ts->hard_deadline_ns);
	if (rc < 0)
		bench_err("throughput: publishing the stop record: %s", ring_strerror(rc));
out:
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	free(buf);
	return rc < 0 ? rc : 0;
}

struct reader_local {
	uint64_t count, bytes, stops, sum;
};

static int on_record(const struct ring_record *rec, void *arg)
{
	struct reader_local *l = arg;
	uint64_t first, last;

	if (rec->type == BENCH_TYPE_STOP) {
		l->stops++;
		return 0;
	}
	l->count++;
	l->bytes += rec->len;
	if (rec->len >= 8) {
		memcpy(&first, rec->payload, 8);
		memcpy(&last, (const uint8_t *)rec->payload + rec->len - 8, 8);
		l->sum += first ^ last;
	}
	return 0;
}

static int reader_main(void *arg)
{
	const struct tp_child *c = arg;
	struct tp_shared *ts = c->ts;
	struct tp_reader_stat *st = &ts->rd[c->index];
	const struct ring_reader_config cfg = {
		.start = RING_START_EARLIEST,
		.flags = RING_READER_GATING,
	};
	struct reader_local l = { 0 };
	struct ring_topic *t = NULL;
	struct ring_reader *r = NULL;
	uint64_t empty = 0;
	bool measuring = false;
	int rc, cpu = bench_pin(ts->producers + c->index);

	if (cpu < 0) {
		bench_err("throughput: sched_setaffinity: %s", strerror(-cpu));
		return cpu;
	}
	st->cpu = cpu;
	rc = open_topic(ts, &t);
	if (rc < 0)
		return rc;
	/* Registered before any producer may publish: gating from the
	 * first record on. */
	rc = ring_reader_open(t, &cfg, &r);
	if (rc < 0) {
		bench_err("throughput: ring_reader_open: %s", ring_strerror(rc));
		goto out;
	}
	(void)bench_fetch_add(&ts->ready, 1);
	rc = bench_wait_flag(&ts->go, ts->hard_deadline_ns);
	if (rc < 0) {
		bench_err("throughput: reader %u: no start signal", c->index);
		goto out;
	}
	while (l.stops < ts->producers) {
		if (BENCH_UNLIKELY(!measuring) && bench_load_relaxed(&ts->measure)) {
			measuring = true;
			st->win_count = l.count;
			st->win_start_ns = bench_mono_ns();
		}
		rc = ring_reader_poll(r, on_record, &l, ts->poll_max, 0);
		if (rc == -EAGAIN) {
			empty++;
			/* Back off: polling the line the producer is about to
			 * write steals it from the producer on every poll. */
			for (uint32_t k = 0; k < ts->idle_pause; k++)
				bench_relax();
			if (ts->oversubscribed && (empty & 15) == 0)
				(void)sched_yield();
			if ((empty & 1023) == 0 && bench_mono_ns() > ts->hard_deadline_ns) {
				bench_err("throughput: reader %u: records missing at the deadline "
					  "(%llu read, %llu stop records)",
					  c->index, (unsigned long long)l.count,
					  (unsigned long long)l.stops);
				rc = -ETIMEDOUT;
				goto out;
			}
			continue;
		}
		if (rc < 0) {
			bench_err("throughput: ring_reader_poll: %s", ring_strerror(rc));
			goto out;
		}
	}
	st->done_ns = bench_mono_ns();
	if (!measuring) {
		st->win_count = l.count;
		st->win_start_ns = st->done_ns;
	}
	st->count = l.count;
	st->bytes = l.bytes;
	st->stops = l.stops;
	st->sum = l.sum;
	st->empty_polls = empty;
	rc = 0;
out:
	r = ring_reader_close(r);
	t = ring_topic_close(t);
	return rc;
}

static uint64_t span_of(uint32_t size)
{
	return (RING_RECORD_HEADER_BYTES + (uint64_t)size + 7) / 8 * 8;
}

int bench_throughput(const struct bench_opts *o, struct bench_report *ret_report)
{
	struct ring_topic_config cfg = {
		.capacity_bytes = o->capacity,
		.flags = RING_TOPIC_EPHEMERAL,
	};
	pid_t pids[BENCH_MAX_PRODUCERS + BENCH_MAX_READERS];
	unsigned nproc = o->producers + o->readers, n = 0;
	struct ring_topic *topic = NULL;
	struct ring_topic_stat tstat;
	struct tp_shared *ts = NULL;
	struct bench_report r;
	uint64_t total_sent = 0, t_go, t_measure, capacity, fulls = 0;
	double warm, slowest = -1, sum_rates = 0, pub_rate = 0;
	int rc;

	for (unsigned i = 0; i < nproc; i++)
		pids[i] = -1;
	bench_report_init(&r, o, "throughput");
	r.reader_kind = "gating";
	r.lossless = true;
	if (o->size < 1) {
		bench_err("throughput: --size must be at least 1");
		return -EINVAL;
	}
	if (o->batch < 1 || o->batch > RING_BATCH_MAX) {
		bench_err("throughput: --batch must be 1..%u", RING_BATCH_MAX);
		return -EINVAL;
	}

	rc = bench_floor_measure(o, bench_floor_pingpong_seconds(o->seconds),
				 bench_floor_memcpy_seconds(o->seconds), &r.floor);
	if (rc < 0)
		return rc;
	r.has_floor = true;

	ts = bench_shared_alloc(sizeof(*ts));
	if (!ts) {
		bench_err("throughput: shared memory: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	(void)snprintf(ts->topic, sizeof(ts->topic), "%s", bench_topic_name());
	rc = ring_topic_create(NULL, ts->topic, &cfg, &topic);
	if (rc < 0) {
		bench_err("throughput: ring_topic_create(%s): %s", ts->topic, ring_strerror(rc));
		goto out;
	}
	rc = ring_topic_stat(topic, &tstat);
	if (rc < 0) {
		bench_err("throughput: ring_topic_stat: %s", ring_strerror(rc));
		goto out;
	}
	capacity = tstat.capacity_bytes;
	r.capacity = capacity;
	if (o->size > tstat.max_record_bytes) {
		bench_err("throughput: --size %u exceeds the topic's max_record_bytes %llu "
			  "(raise --capacity)", o->size, (unsigned long long)tstat.max_record_bytes);
		rc = -EMSGSIZE;
		goto out;
	}
	if (o->batch * span_of(o->size) > capacity / 4) {
		bench_err("throughput: a batch of %u x %u B exceeds a quarter of the ring "
			  "(raise --capacity)", o->batch, o->size);
		rc = -EMSGSIZE;
		goto out;
	}
	ts->size = o->size;
	ts->batch = o->batch;
	ts->producers = o->producers;
	ts->readers = o->readers;
	/* Small enough that readers free space for producers often. */
	ts->poll_max = (uint32_t)(capacity / (4 * span_of(o->size)));
	if (ts->poll_max < 1)
		ts->poll_max = 1;
	if (ts->poll_max > 1024)
		ts->poll_max = 1024;
	ts->oversubscribed = nproc > bench_cpu_count();
	ts->idle_pause = o->idle_pause;
	r.idle_pause = o->idle_pause;
	warm = o->seconds / 10;
	if (warm < 0.02)
		warm = 0.02;
	if (warm > 0.5)
		warm = 0.5;
	ts->hard_deadline_ns = bench_mono_ns() + (uint64_t)((warm + o->seconds + 20) * 1e9);

	for (unsigned i = 0; i < o->readers && rc == 0; i++, n++) {
		children[n] = (struct tp_child){ .ts = ts, .index = i };
		rc = bench_spawn(reader_main, &children[n], &pids[n]);
	}
	for (unsigned i = 0; i < o->producers && rc == 0; i++, n++) {
		children[n] = (struct tp_child){ .ts = ts, .index = i };
		rc = bench_spawn(producer_main, &children[n], &pids[n]);
	}
	if (rc < 0) {
		bench_err("throughput: fork: %s", strerror(-rc));
		bench_kill_children(pids, nproc);
		goto out;
	}
	rc = bench_wait_count(&ts->ready, nproc, bench_mono_ns() + 10000000000u, pids, nproc,
			      "throughput start");
	if (rc < 0) {
		bench_kill_children(pids, nproc);
		goto out;
	}
	t_go = bench_mono_ns();
	bench_store_release(&ts->go, 1);
	rc = bench_sleep_until(t_go + (uint64_t)(warm * 1e9), pids, nproc);
	if (rc == 0) {
		t_measure = bench_mono_ns();
		bench_store_release(&ts->measure, 1);
		rc = bench_sleep_until(t_measure + (uint64_t)(o->seconds * 1e9), pids, nproc);
	}
	bench_store_release(&ts->stop, 1);
	if (rc < 0) {
		bench_kill_children(pids, nproc);
		goto out;
	}
	rc = bench_wait_children(pids, nproc, 30000000000u, "throughput");
	if (rc < 0)
		goto out;

	for (unsigned i = 0; i < o->producers; i++) {
		const struct tp_producer_stat *p = &ts->prod[i];

		total_sent += p->sent;
		fulls += p->full;
		if (p->end_ns > p->win_start_ns)
			pub_rate += (double)(p->sent - p->win_sent) * 1e9 /
				    (double)(p->end_ns - p->win_start_ns);
	}
	for (unsigned i = 0; i < o->readers; i++) {
		const struct tp_reader_stat *rd = &ts->rd[i];
		double rate;

		if (rd->count != total_sent || rd->bytes != total_sent * o->size) {
			bench_err("throughput: reader %u counted %llu records (%llu bytes), "
				  "producers published %llu: records lost",
				  i, (unsigned long long)rd->count, (unsigned long long)rd->bytes,
				  (unsigned long long)total_sent);
			rc = -EPROTO;
			goto out;
		}
		if (rd->done_ns <= rd->win_start_ns) {
			bench_err("throughput: reader %u measured nothing", i);
			rc = -EPROTO;
			goto out;
		}
		rate = (double)(rd->count - rd->win_count) * 1e9 /
		       (double)(rd->done_ns - rd->win_start_ns);
		sum_rates += rate;
		if (slowest < 0 || rate < slowest)
			slowest = rate;
	}
	/* Each reader sees every record: the slowest reader's rate is the
	 * topic's delivered rate. */
	r.msgs_per_sec = slowest;
	r.bytes_per_sec = slowest * o->size;
	r.deliveries_per_sec = sum_rates;
	r.samples = total_sent;
	bench_report_ratios(&r);
	{
		size_t len = 0, cap = sizeof(r.notes);

		len += (size_t)snprintf(r.notes + len, cap - len,
			"  %llu records published (warm-up included), every reader counted all;\n"
			"  producers' own rate %.3f M msg/s; %llu publish calls found the ring "
			"full;\n  readers poll up to %u records, pause %u times after an empty poll\n",
			(unsigned long long)total_sent, pub_rate / 1e6, (unsigned long long)fulls,
			ts->poll_max, ts->idle_pause);
		for (unsigned i = 0; i < o->producers && len < cap; i++)
			len += (size_t)snprintf(r.notes + len, cap - len, "  producer %u on CPU %d\n",
						i, ts->prod[i].cpu);
		for (unsigned i = 0; i < o->readers && len < cap; i++)
			len += (size_t)snprintf(r.notes + len, cap - len,
						"  reader %u on CPU %d, %llu empty polls\n", i,
						ts->rd[i].cpu,
						(unsigned long long)ts->rd[i].empty_polls);
	}
	*ret_report = r;
	rc = 0;
out:
	topic = ring_topic_close(topic);
	bench_topic_unlink();
	bench_shared_free(ts, sizeof(*ts));
	return rc;
}
