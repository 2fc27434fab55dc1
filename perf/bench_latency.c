/* SPDX-License-Identifier: MIT */
/*
 * bench_latency.c - one-way latency from a producer process to a reader
 * process on one ephemeral named topic, each pinned to a CPU of its own.
 *
 * The producer stamps its send time (bench_ticks()) into the payload just
 * before ring_producer_publish(); the reader busy-polls ring_reader_next()
 * with a zero timeout and takes the receive time as soon as the call
 * returns the record. The difference is the whole path a user sees:
 * reserve, copy, commit, and the reader's read (and, for an ordinary
 * reader, its copy and validation).
 *
 * Sends are paced: the producer sends the next record only once the reader
 * has acknowledged the last one on a separate shared line. So this measures
 * latency, never queueing, and its structure is the same as the floor's
 * ping-pong, which it is compared with.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libring.h>

#include "bench_util.h"

/* The top bit of the sequence word says "after warm-up: count it". */
#define SEQ_MEASURED (UINT64_C(1) << 63)

struct lat_shared {
	/* Reader -> producer: sequence number of the last record read. */
	alignas(BENCH_CACHELINE) uint64_t ack;
	/* Set once each; read by the other processes. */
	alignas(BENCH_CACHELINE) uint64_t reader_ready;
	uint64_t sent;			/* producer: records published */
	uint64_t received;		/* reader: measured records */
	uint64_t first_ticks;		/* reader: send stamp of the first measured */
	uint64_t last_ticks;		/* reader: receive time of the last measured */
	int cpu_producer, cpu_reader;
	/* Set by the parent before fork. */
	uint64_t warm_ticks, run_ticks, hard_deadline_ns;
	uint32_t size;
	bool gating;
	char topic[64];
	alignas(BENCH_CACHELINE) struct bench_hist hist;	/* reader's */
};

static int open_topic(const struct lat_shared *ls, struct ring_topic **ret_topic)
{
	int rc = ring_topic_open(NULL, ls->topic, ret_topic);

	if (rc < 0)
		bench_err("latency: ring_topic_open(%s): %s", ls->topic, ring_strerror(rc));
	return rc;
}

static int producer_main(void *arg)
{
	struct lat_shared *ls = arg;
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	uint64_t buf[64 * 1024 / 8 + 8];	/* a 64-bit aligned payload */
	uint8_t *payload = (uint8_t *)buf;
	uint64_t start, warm_end, end, hard_end, seq = 0;
	int rc, cpu = bench_pin(0);

	if (cpu < 0) {
		bench_err("latency: sched_setaffinity: %s", strerror(-cpu));
		return cpu;
	}
	ls->cpu_producer = cpu;
	memset(buf, 0xa5, sizeof(buf));
	rc = open_topic(ls, &t);
	if (rc < 0)
		return rc;
	rc = ring_producer_open(t, &p);
	if (rc < 0) {
		bench_err("latency: ring_producer_open: %s", ring_strerror(rc));
		goto out;
	}
	rc = bench_wait_flag(&ls->reader_ready, ls->hard_deadline_ns);
	if (rc < 0) {
		bench_err("latency: the reader did not start");
		goto out;
	}
	start = bench_ticks();
	warm_end = start + ls->warm_ticks;
	end = warm_end + ls->run_ticks;
	hard_end = bench_deadline_ticks(ls->hard_deadline_ns);
	for (;;) {
		uint64_t now, word;

		/* Pacing: the reader has read the last record. Pairs with
		 * the reader's release of ack. */
		for (unsigned i = 0; bench_load_acquire(&ls->ack) != seq; i++) {
			if ((i & 0xffff) == 0 && bench_ticks() > hard_end) {
				bench_err("latency: the reader stopped acknowledging (seq %llu)",
					  (unsigned long long)seq);
				rc = -ETIMEDOUT;
				goto out;
			}
			bench_spin_turn();
		}
		if (seq && bench_ticks() >= end)
			break;
		seq++;
		now = bench_ticks();
		word = seq | (now >= warm_end ? SEQ_MEASURED : 0);
		memcpy(payload, &now, 8);
		memcpy(payload + 8, &word, 8);
		/* Zero timeout: the producer never sleeps. A full ring (only
		 * while housekeeping runs elsewhere) is retried. */
		while ((rc = ring_producer_publish(p, BENCH_TYPE_DATA, payload, ls->size, 0,
						   NULL)) == -EAGAIN) {
			if (bench_ticks() > hard_end)
				break;
		}
		if (rc < 0) {
			bench_err("latency: ring_producer_publish: %s", ring_strerror(rc));
			goto out;
		}
	}
	ls->sent = seq;
	rc = ring_producer_publish(p, BENCH_TYPE_STOP, payload, 16, 1000000000, NULL);
	if (rc < 0)
		bench_err("latency: publishing the stop record: %s", ring_strerror(rc));
out:
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return rc < 0 ? rc : 0;
}

static int reader_main(void *arg)
{
	struct lat_shared *ls = arg;
	struct ring_reader_config rc_cfg = {
		.start = RING_START_EARLIEST,
		.flags = ls->gating ? RING_READER_GATING : 0,
	};
	struct ring_topic *t = NULL;
	struct ring_reader *r = NULL;
	uint64_t hard_end;
	int rc, cpu = bench_pin(1);

	if (cpu < 0) {
		bench_err("latency: sched_setaffinity: %s", strerror(-cpu));
		return cpu;
	}
	ls->cpu_reader = cpu;
	rc = open_topic(ls, &t);
	if (rc < 0)
		return rc;
	rc = ring_reader_open(t, &rc_cfg, &r);
	if (rc < 0) {
		bench_err("latency: ring_reader_open: %s", ring_strerror(rc));
		goto out;
	}
	hard_end = bench_deadline_ticks(ls->hard_deadline_ns);
	bench_store_release(&ls->reader_ready, 1);
	for (unsigned i = 0;; i++) {
		struct ring_record rec;
		uint64_t now, stamp, word;

		rc = ring_reader_next(r, &rec, 0);
		if (rc == -EAGAIN) {
			if ((i & 0xffff) == 0 && bench_ticks() > hard_end) {
				bench_err("latency: no record from the producer in time");
				rc = -ETIMEDOUT;
				goto out;
			}
			bench_spin_turn();
			continue;
		}
		now = bench_ticks();
		if (rc < 0) {
			/* Paced sends never overtake the reader: any error,
			 * -EOVERFLOW included, is a failure of the run. */
			bench_err("latency: ring_reader_next: %s", ring_strerror(rc));
			goto out;
		}
		if (rec.type == BENCH_TYPE_STOP)
			break;
		if (rec.len < 16) {
			bench_err("latency: a record of %u bytes, expected %u", rec.len, ls->size);
			rc = -EBADMSG;
			goto out;
		}
		memcpy(&stamp, rec.payload, 8);
		memcpy(&word, (const uint8_t *)rec.payload + 8, 8);
		if (word & SEQ_MEASURED) {
			hist_record(&ls->hist, bench_ticks_to_ns(now > stamp ? now - stamp : 0));
			if (!ls->received++)
				ls->first_ticks = stamp;
			ls->last_ticks = now;
		}
		/* Pairs with the producer's acquire in its pacing loop. */
		bench_store_release(&ls->ack, word & ~SEQ_MEASURED);
	}
	rc = 0;
out:
	r = ring_reader_close(r);
	t = ring_topic_close(t);
	return rc;
}

int bench_latency(const struct bench_opts *o, struct bench_report *ret_report)
{
	struct ring_topic_config cfg = {
		.capacity_bytes = o->capacity,
		.flags = RING_TOPIC_EPHEMERAL,
	};
	struct lat_shared *ls = NULL;
	struct ring_topic *topic = NULL;
	struct bench_report r;
	pid_t pids[2] = { -1, -1 };
	double warm;
	int rc;

	bench_report_init(&r, o, "latency");
	if (o->size < 16) {
		bench_err("latency: --size must be at least 16 (send stamp and sequence number)");
		return -EINVAL;
	}
	if (o->size > 64 * 1024) {
		bench_err("latency: --size at most 65536");
		return -EINVAL;
	}
	if (o->producers != 1 || o->readers != 1 || o->batch != 1)
		bench_err("latency: measures 1 producer, 1 reader, batch 1; other values ignored");
	r.producers = 1;
	r.readers = 1;
	r.batch = 1;
	(void)snprintf(r.mode, sizeof(r.mode), "1P1C");

	rc = bench_floor_measure(o, bench_floor_pingpong_seconds(o->seconds),
				 bench_floor_memcpy_seconds(o->seconds), &r.floor);
	if (rc < 0)
		return rc;
	r.has_floor = true;

	ls = bench_shared_alloc(sizeof(*ls));
	if (!ls) {
		bench_err("latency: shared memory: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	warm = o->seconds / 10;
	if (warm < 0.02)
		warm = 0.02;
	if (warm > 0.5)
		warm = 0.5;
	hist_init(&ls->hist);
	ls->size = o->size;
	ls->gating = o->gating;
	ls->warm_ticks = bench_ns_to_ticks((uint64_t)(warm * 1e9));
	ls->run_ticks = bench_ns_to_ticks((uint64_t)(o->seconds * 1e9));
	ls->hard_deadline_ns = bench_mono_ns() + (uint64_t)((warm + o->seconds + 10) * 1e9);
	(void)snprintf(ls->topic, sizeof(ls->topic), "%s", bench_topic_name());

	rc = ring_topic_create(NULL, ls->topic, &cfg, &topic);
	if (rc < 0) {
		bench_err("latency: ring_topic_create(%s): %s", ls->topic, ring_strerror(rc));
		goto out;
	}
	if (!r.capacity) {
		struct ring_topic_stat st;

		if (ring_topic_stat(topic, &st) == 0)
			r.capacity = st.capacity_bytes;
	}
	rc = bench_spawn(reader_main, ls, &pids[1]);
	if (rc == 0)
		rc = bench_spawn(producer_main, ls, &pids[0]);
	if (rc < 0) {
		bench_err("latency: fork: %s", strerror(-rc));
		bench_kill_children(pids, 2);
		goto out;
	}
	rc = bench_wait_children(pids, 2, (uint64_t)((warm + o->seconds + 20) * 1e9), "latency");
	if (rc < 0)
		goto out;
	if (!ls->received) {
		bench_err("latency: no record measured (run longer?)");
		rc = -EPROTO;
		goto out;
	}

	r.reader_kind = o->gating ? "gating" : "ordinary";
	r.has_latency = true;
	r.samples = ls->hist.count;
	r.p50_ns = hist_percentile(&ls->hist, 50);
	r.p99_ns = hist_percentile(&ls->hist, 99);
	r.p999_ns = hist_percentile(&ls->hist, 99.9);
	r.p9999_ns = hist_percentile(&ls->hist, 99.99);
	r.max_ns = ls->hist.max;
	r.min_ns = ls->hist.min;
	r.mean_ns = hist_mean(&ls->hist);
	if (ls->last_ticks > ls->first_ticks) {
		double secs = (double)bench_ticks_to_ns(ls->last_ticks - ls->first_ticks) / 1e9;

		/* Paced: one record in flight at a time, so this is the
		 * reciprocal of the round trip, not a throughput figure. */
		r.msgs_per_sec = (double)ls->received / secs;
		r.bytes_per_sec = r.msgs_per_sec * o->size;
		r.deliveries_per_sec = r.msgs_per_sec;
	}
	if (!o->json) {
		printf("one-way latency distribution (%llu samples):\n",
		       (unsigned long long)ls->hist.count);
		hist_print(stdout, &ls->hist, "  ");
	}
	*ret_report = r;
	rc = 0;
out:
	topic = ring_topic_close(topic);
	bench_topic_unlink();
	bench_shared_free(ls, sizeof(*ls));
	return rc;
}
