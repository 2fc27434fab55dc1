/* SPDX-License-Identifier: MIT */
/*
 * bench_throughput.c - P producer processes -> R reader processes on one
 * ephemeral named topic, as fast as they go.
 *
 * Readers are gating readers: they hold producers back, so nothing is ever
 * overwritten unread, and every record is checked: each payload starts
 * with its producer's index and sequence number, and a reader fails the
 * run on the first record that is not the next one of its producer (lost,
 * duplicated or reordered), or if its count differs from what the
 * producers published. Producers publish with ring_producer_publish(), or
 * ring_producer_publish_batch() for --batch > 1, with a zero timeout,
 * retrying on a full ring. Readers take records with ring_reader_poll()
 * and load one word of every cache line of each payload, so all the bytes
 * really cross from one CPU to the other.
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

/* The first payload word: producer index in the top byte, then its
 * sequence number (from 1). Payloads are at least 8 bytes. */
#define SEQ_PRODUCER_SHIFT 56
#define SEQ_MASK ((UINT64_C(1) << SEQ_PRODUCER_SHIFT) - 1)

struct tp_producer_stat {
	alignas(BENCH_CACHELINE) uint64_t sent;	/* records, warm-up included */
	double rate;			/* records per second in the window */
	uint64_t full;			/* publish calls that found the ring full */
	int cpu;
};

struct tp_reader_stat {
	alignas(BENCH_CACHELINE) uint64_t count;	/* records, warm-up included */
	uint64_t bytes;
	uint64_t stops;
	uint64_t sum;			/* of the touched words: keeps the loads */
	double rate;			/* records per second in the window */
	uint64_t empty_polls;
	int cpu;
};

struct tp_shared {
	struct bench_phase phase;
	/* Set by the parent before fork. */
	uint32_t size, batch, producers, readers, poll_max, idle_pause;
	bool oversubscribed;		/* more processes than CPUs: yield */
	char topic[64];
	struct tp_producer_stat prod[BENCH_MAX_PRODUCERS];
	struct tp_reader_stat rd[BENCH_MAX_READERS];
};

struct tp_child {
	struct tp_shared *ts;
	unsigned index;
};

static struct tp_child children[BENCH_MAX_PRODUCERS + BENCH_MAX_READERS];

static int producer_main(void *arg)
{
	const struct tp_child *c = arg;
	struct tp_shared *ts = c->ts;
	struct tp_producer_stat *st = &ts->prod[c->index];
	struct ring_message msgs[RING_BATCH_MAX];
	struct bench_window win = { 0 };
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	size_t stride = (ts->size + 63) / 64 * 64;
	uint64_t sent = 0, full = 0, tag = (uint64_t)c->index << SEQ_PRODUCER_SHIFT;
	uint8_t *buf = NULL;
	int rc, cpu = bench_pin(c->index);

	if (cpu < 0) {
		bench_err("throughput: sched_setaffinity: %s", strerror(-cpu));
		return cpu;
	}
	st->cpu = cpu;
	/* One source buffer per message of a batch: each carries its own
	 * sequence number. */
	buf = aligned_alloc(64, stride * ts->batch);
	if (!buf) {
		bench_err("throughput: producer buffer: out of memory");
		return -ENOMEM;
	}
	memset(buf, 0x3c, stride * ts->batch);
	for (unsigned i = 0; i < ts->batch; i++)
		msgs[i] = (struct ring_message){ .data = buf + i * stride, .len = ts->size,
						 .type = BENCH_TYPE_DATA };
	rc = bench_open_producer(NULL, ts->topic, &t, &p, "throughput");
	if (rc < 0)
		goto out;
	rc = bench_phase_ready(&ts->phase, "throughput producer");
	if (rc < 0)
		goto out;
	/* Bounded by the stop flag, and on a full ring by the deadline. */
	for (;;) {
		bench_window_update(&win, &ts->phase, sent);
		if (bench_load_relaxed(&ts->phase.stop))
			break;
		for (unsigned i = 0; i < ts->batch; i++) {
			uint64_t word = tag | (sent + 1 + i);

			memcpy(buf + i * stride, &word, 8);
		}
		if (ts->batch == 1)
			rc = ring_producer_publish(p, BENCH_TYPE_DATA, buf, ts->size, 0, NULL);
		else
			rc = ring_producer_publish_batch(p, msgs, ts->batch, 0, NULL);
		if (rc == -EAGAIN) {
			/* Full: the readers are behind. With more processes
			 * than CPUs, let the readers have the CPU. */
			full++;
			if (ts->oversubscribed && (full & 15) == 0)
				(void)sched_yield();
			if ((full & 1023) == 0 && bench_mono_ns() > ts->phase.hard_deadline_ns) {
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
	st->rate = bench_window_close(&win, sent, NULL);
	st->sent = sent;
	st->full = full;
	/* The stop record: readers finish when they have one per producer,
	 * which, coming after every record of this producer, proves they
	 * have them all. */
	do {
		rc = ring_producer_publish(p, BENCH_TYPE_STOP, buf, 8, 100000000, NULL);
	} while (rc == -ETIMEDOUT && bench_mono_ns() < ts->phase.hard_deadline_ns);
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
	uint32_t producers;
	int bad;			/* -EPROTO after the first bad record */
	uint64_t next[BENCH_MAX_PRODUCERS];	/* expected sequence numbers */
};

static int on_record(const struct ring_record *rec, void *arg)
{
	struct reader_local *l = arg;
	const uint8_t *p = rec->payload;
	uint64_t word, v;
	unsigned prod;

	if (rec->type == BENCH_TYPE_STOP) {
		l->stops++;
		return 0;
	}
	memcpy(&word, p, 8);
	prod = (unsigned)(word >> SEQ_PRODUCER_SHIFT);
	if (BENCH_UNLIKELY(rec->len < 8 || prod >= l->producers ||
			   (word & SEQ_MASK) != l->next[prod])) {
		bench_err("throughput: record %llu of producer %u where %llu was next: lost, "
			  "duplicated or reordered",
			  (unsigned long long)(word & SEQ_MASK), prod,
			  prod < l->producers ? (unsigned long long)l->next[prod] : 0ull);
		l->bad = -EPROTO;
		return 1;	/* stop this poll */
	}
	l->next[prod]++;
	l->count++;
	l->bytes += rec->len;
	/* One word of every cache line the payload covers: the whole
	 * record crosses to this CPU, as it would for a consumer that
	 * reads it. */
	for (uint32_t off = 64; off < rec->len; off += 64) {
		memcpy(&v, p + off - (off + 8 > rec->len ? off + 8 - rec->len : 0), 8);
		word ^= v;
	}
	memcpy(&v, p + rec->len - 8, 8);
	l->sum += word ^ v;
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
	struct reader_local *l = calloc(1, sizeof(*l));
	struct bench_window win = { 0 };
	struct ring_topic *t = NULL;
	struct ring_reader *r = NULL;
	uint64_t empty = 0;
	int rc, cpu = bench_pin(ts->producers + c->index);

	if (!l)
		return -ENOMEM;
	if (cpu < 0) {
		bench_err("throughput: sched_setaffinity: %s", strerror(-cpu));
		free(l);
		return cpu;
	}
	st->cpu = cpu;
	l->producers = ts->producers;
	for (unsigned i = 0; i < ts->producers; i++)
		l->next[i] = 1;
	rc = ring_topic_open(NULL, ts->topic, &t);
	if (rc < 0) {
		bench_err("throughput: ring_topic_open(%s): %s", ts->topic, ring_strerror(rc));
		goto out;
	}
	/* Registered before any producer may publish: gating from the
	 * first record on. */
	rc = ring_reader_open(t, &cfg, &r);
	if (rc < 0) {
		bench_err("throughput: ring_reader_open: %s", ring_strerror(rc));
		goto out;
	}
	rc = bench_phase_ready(&ts->phase, "throughput reader");
	if (rc < 0)
		goto out;
	while (l->stops < ts->producers) {
		bench_window_update(&win, &ts->phase, l->count);
		rc = ring_reader_poll(r, on_record, l, ts->poll_max, 0);
		if (BENCH_UNLIKELY(l->bad)) {
			rc = l->bad;
			goto out;
		}
		if (rc == -EAGAIN) {
			empty++;
			/* Back off: polling the line the producer is about to
			 * write steals it from the producer on every poll. */
			for (uint32_t k = 0; k < ts->idle_pause; k++)
				bench_relax();
			if (ts->oversubscribed && (empty & 15) == 0)
				(void)sched_yield();
			if ((empty & 1023) == 0 && bench_mono_ns() > ts->phase.hard_deadline_ns) {
				bench_err("throughput: reader %u: records missing at the deadline "
					  "(%llu read, %llu stop records)",
					  c->index, (unsigned long long)l->count,
					  (unsigned long long)l->stops);
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
	st->rate = bench_window_close(&win, l->count, NULL);
	st->count = l->count;
	st->bytes = l->bytes;
	st->stops = l->stops;
	st->sum = l->sum;
	st->empty_polls = empty;
	rc = 0;
out:
	r = ring_reader_close(r);
	t = ring_topic_close(t);
	free(l);
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
	uint64_t total_sent = 0, capacity, fulls = 0;
	double warm, slowest = -1, sum_rates = 0, pub_rate = 0;
	int rc;

	for (unsigned i = 0; i < nproc; i++)
		pids[i] = -1;
	bench_report_init(&r, o, "throughput");
	r.reader_kind = "gating";
	r.lossless = true;
	if (o->size < 8) {
		bench_err("throughput: --size must be at least 8 (producer and sequence number)");
		return -EINVAL;
	}
	if (o->batch < 1 || o->batch > RING_BATCH_MAX) {
		bench_err("throughput: --batch must be 1..%u", RING_BATCH_MAX);
		return -EINVAL;
	}

	rc = bench_floor_measure(o, bench_floor_pingpong_seconds(o->seconds), 0,
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
	warm = bench_warm_seconds(o->seconds, 0.02, 0.5);
	bench_phase_init(&ts->phase, warm + o->seconds);

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
	rc = bench_phase_run(&ts->phase, pids, nproc, warm, o->seconds, "throughput");
	if (rc < 0)
		goto out;
	rc = bench_wait_children(pids, nproc, 30000000000u, "throughput");
	if (rc < 0)
		goto out;

	for (unsigned i = 0; i < o->producers; i++) {
		const struct tp_producer_stat *p = &ts->prod[i];

		total_sent += p->sent;
		fulls += p->full;
		pub_rate += p->rate;
	}
	for (unsigned i = 0; i < o->readers; i++) {
		const struct tp_reader_stat *rd = &ts->rd[i];

		if (rd->count != total_sent || rd->bytes != total_sent * o->size) {
			bench_err("throughput: reader %u counted %llu records (%llu bytes), "
				  "producers published %llu: records lost",
				  i, (unsigned long long)rd->count, (unsigned long long)rd->bytes,
				  (unsigned long long)total_sent);
			rc = -EPROTO;
			goto out;
		}
		if (rd->rate <= 0) {
			bench_err("throughput: reader %u measured nothing", i);
			rc = -EPROTO;
			goto out;
		}
		sum_rates += rd->rate;
		if (slowest < 0 || rd->rate < slowest)
			slowest = rd->rate;
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
			"  %llu records published (warm-up included), every reader got each "
			"producer's in order, none missing;\n"
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
