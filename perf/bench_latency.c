/* SPDX-License-Identifier: MIT */
/*
 * bench_latency.c - one-way latency from a producer process to a reader
 * process through libring, measured the way the floor is: half a round
 * trip, and in the same moments as the floor.
 *
 * Two processes pinned to CPUs of their own, ping and pong, run rounds of
 * three phases, each a ping-pong for a few milliseconds:
 *
 *   floor  one cache line bounced between them (the floor of bench_floor.c)
 *   msg    a message of --size payload bytes and a 24-byte header through
 *          plain shared memory, no ring: what moving those bytes costs
 *   ring   ping publishes a record on topic "there" and busy-polls topic
 *          "back"; pong busy-polls "there" and publishes what it read on
 *          "back". Each leg is the whole path a user sees: stamp, reserve,
 *          copy, commit on one side; the reader's poll and, for an ordinary
 *          reader, its copy and validation on the other.
 *
 * Ping times every round trip with its own clock and counts half of it, so
 * no clock is read across CPUs and the ring is compared with the floor by
 * the same method. Why rounds: on the 2-vCPU build machine the two vCPUs
 * move between placements (siblings of one core, or not) within seconds,
 * which changes the floor 4-fold; a floor measured before the ring can be
 * from another placement than the ring it is compared with. Each round
 * gives a ratio (its ring p50 over its floor p50, both within ~15 ms), and
 * the report gives the median and the spread of those ratios as well as
 * the whole run's distributions.
 *
 * Pong also takes the stamped one-way time of the ring's "there" leg (its
 * receive time minus ping's send stamp: a clock read across CPUs, which
 * carries the two clocks' offset): reported for reference only.
 *
 * One message is in flight at a time, so this measures latency, never
 * queueing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libring.h>

#include "bench_util.h"

#define ROUND_PHASE_NS 4000000u		/* each phase of a round */
#define MAX_ROUNDS 4096u
/* Values the cache line never carries otherwise. */
#define MARK_PHASE_END (UINT64_MAX - 1)
#define MARK_STOP UINT64_MAX		/* the run is over */
/* On the message channel the end of a phase is the next sequence number
 * with this bit: a word left from an earlier lap of the area has a lower
 * number and is never taken for it. */
#define MSG_MARK_BIT (UINT64_C(1) << 62)
/* The top bit of the ring's sequence word: "after warm-up, count it". */
#define SEQ_MEASURED (UINT64_C(1) << 63)
#define BENCH_TYPE_PHASE 3u

enum { PH_FLOOR, PH_MSG, PH_RING, NPHASES };

struct lat_round {
	uint64_t p50_ns[NPHASES];
	uint64_t ring_p99_ns;
};

struct lat_shared {
	/* The floor's line, written by whoever's turn it is. */
	alignas(BENCH_CACHELINE) uint64_t line;
	alignas(BENCH_CACHELINE) uint64_t pong_ready;
	uint64_t pong_failed;
	int cpu_ping, cpu_pong;
	/* Set by the parent before fork. */
	uint64_t warm_ticks, run_ticks, phase_ticks, hard_deadline_ns;
	uint32_t size;
	bool gating;
	char there[64], back[64];	/* topic names */
	uint8_t *to_pong, *to_ping;	/* the message areas, shared */
	/* Ping's results. */
	unsigned nrounds;
	struct lat_round round[MAX_ROUNDS];
	alignas(BENCH_CACHELINE) struct bench_hist total[NPHASES];
	struct bench_hist stamped;	/* pong's */
};

/* Ping's scratch histograms, one round at a time. */
static struct bench_hist scratch[NPHASES];

/* ---- the sides' ring handles ---- */

struct lat_side {
	struct ring_topic *out_topic, *in_topic;
	struct ring_producer *p;
	struct ring_reader *r;
};

static int side_open(const struct lat_shared *ls, const char *out, const char *in,
		     struct lat_side *s)
{
	const struct ring_reader_config cfg = {
		.start = RING_START_EARLIEST,
		.flags = ls->gating ? RING_READER_GATING : 0,
	};
	int rc;

	rc = bench_open_producer(NULL, out, &s->out_topic, &s->p, "latency");
	if (rc < 0)
		return rc;
	rc = ring_topic_open(NULL, in, &s->in_topic);
	if (rc == 0)
		rc = ring_reader_open(s->in_topic, &cfg, &s->r);
	if (rc < 0)
		bench_err("latency: opening the reader of %s: %s", in, ring_strerror(rc));
	return rc;
}

static void side_close(struct lat_side *s)
{
	s->r = ring_reader_close(s->r);
	s->in_topic = ring_topic_close(s->in_topic);
	s->p = ring_producer_close(s->p);
	s->out_topic = ring_topic_close(s->out_topic);
}

/* Busy-poll @r for the next record (bounded by @hard_end). */
static int ring_recv(struct ring_reader *r, struct ring_record *rec, uint64_t hard_end)
{
	for (unsigned i = 0;; i++) {
		int rc = ring_reader_next(r, rec, 0);

		if (rc != -EAGAIN) {
			if (rc < 0)
				bench_err("latency: ring_reader_next: %s", ring_strerror(rc));
			return rc;
		}
		if ((i & 0xffff) == 0xffff && bench_ticks() > hard_end) {
			bench_err("latency: no record from the other side in time");
			return -ETIMEDOUT;
		}
		bench_spin_turn();
	}
}

/* Publish with a zero timeout; a full ring (housekeeping is running in
 * the other process) is retried until @hard_end. */
static int ring_send(struct ring_producer *p, uint32_t type, const void *buf, uint32_t len,
		     uint64_t hard_end)
{
	int rc;

	while ((rc = ring_producer_publish(p, type, buf, len, 0, NULL)) == -EAGAIN) {
		if (bench_ticks() > hard_end)
			break;
	}
	if (rc < 0)
		bench_err("latency: ring_producer_publish: %s", ring_strerror(rc));
	return rc;
}

/* ---- the message channel: plain shared memory ---- */

/* ---- ping: drives the rounds and measures ---- */

struct ping_state {
	struct lat_shared *ls;
	struct lat_side side;
	uint64_t *buf;
	uint64_t line_k, msg_seq, ring_seq;
	struct bench_msg_lane msg_out, msg_in;	/* to_pong, to_ping */
	uint64_t hard_end;
};

/* One phase of @phase_ticks from now; records into scratch[ph] if
 * @measured. 0 or -errno. */
static int ping_floor(struct ping_state *ps, bool measured)
{
	struct lat_shared *ls = ps->ls;
	uint64_t end = bench_ticks() + ls->phase_ticks;

	for (;;) {
		uint64_t k = ++ps->line_k, t0 = bench_ticks(), t1;

		/* Pairs with pong's acquire. */
		bench_store_release(&ls->line, 2 * k - 1);
		for (unsigned i = 0; bench_load_acquire(&ls->line) != 2 * k; i++) {
			if ((i & 0xffff) == 0xffff && bench_ticks() > ps->hard_end) {
				bench_err("latency: no answer on the floor's line");
				return -ETIMEDOUT;
			}
			bench_spin_turn();
		}
		t1 = bench_ticks();
		if (measured)
			hist_record(&scratch[PH_FLOOR], bench_ticks_to_ns(t1 - t0) / 2);
		if (t1 >= end)
			break;
	}
	bench_store_release(&ls->line, MARK_PHASE_END);
	return 0;
}

static int ping_msg(struct ping_state *ps, bool measured)
{
	struct lat_shared *ls = ps->ls;
	uint64_t end = bench_ticks() + ls->phase_ticks;

	for (;;) {
		uint64_t seq = ++ps->msg_seq, t0 = bench_ticks(), t1;

		bench_msg_send(&ps->msg_out, seq, ps->buf);
		if (bench_msg_wait(&ps->msg_in, seq, 0, ps->buf, ps->hard_end) != seq) {
			bench_err("latency: no answer on the message channel");
			return -ETIMEDOUT;
		}
		t1 = bench_ticks();
		if (measured)
			hist_record(&scratch[PH_MSG], bench_ticks_to_ns(t1 - t0) / 2);
		if (t1 >= end)
			break;
	}
	bench_msg_send(&ps->msg_out, (ps->msg_seq + 1) | MSG_MARK_BIT, ps->buf);
	return 0;
}

static int ping_ring(struct ping_state *ps, bool measured)
{
	struct lat_shared *ls = ps->ls;
	uint64_t end = bench_ticks() + ls->phase_ticks;
	int rc;

	for (;;) {
		struct ring_record rec;
		uint64_t t0 = bench_ticks(), t1, echo;
		uint64_t word = ++ps->ring_seq | (measured ? SEQ_MEASURED : 0);

		ps->buf[0] = t0;
		ps->buf[1] = word;
		rc = ring_send(ps->side.p, BENCH_TYPE_DATA, ps->buf, ls->size, ps->hard_end);
		if (rc < 0)
			return rc;
		rc = ring_recv(ps->side.r, &rec, ps->hard_end);
		if (rc < 0)
			return rc;
		t1 = bench_ticks();
		memcpy(&echo, (const uint8_t *)rec.payload + 8, 8);
		if (rec.len != ls->size || echo != word) {
			bench_err("latency: echo %llu of %u bytes, expected %llu of %u",
				  (unsigned long long)(echo & ~SEQ_MEASURED), rec.len,
				  (unsigned long long)(word & ~SEQ_MEASURED), ls->size);
			return -EBADMSG;
		}
		if (measured)
			hist_record(&scratch[PH_RING], bench_ticks_to_ns(t1 - t0) / 2);
		if (t1 >= end)
			break;
	}
	return ring_send(ps->side.p, BENCH_TYPE_PHASE, ps->buf, 16, ps->hard_end);
}

static int ping_main(void *arg)
{
	struct lat_shared *ls = arg;
	struct ping_state ps = { .ls = ls };
	uint64_t start, warm_end, end;
	int rc, cpu = bench_pin(0);

	if (cpu < 0) {
		bench_err("latency: sched_setaffinity: %s", strerror(-cpu));
		return cpu;
	}
	ls->cpu_ping = cpu;
	ps.buf = aligned_alloc(64, 64 * 1024 + 64);
	if (!ps.buf)
		return -ENOMEM;
	memset(ps.buf, 0xa5, 64 * 1024 + 64);
	(void)bench_msg_lane_init(&ps.msg_out, ls->to_pong, ls->size);
	(void)bench_msg_lane_init(&ps.msg_in, ls->to_ping, ls->size);
	rc = side_open(ls, ls->there, ls->back, &ps.side);
	if (rc < 0)
		goto out;
	rc = bench_wait_flag(&ls->pong_ready, ls->hard_deadline_ns);
	if (rc < 0) {
		bench_err("latency: the pong process did not start");
		goto out;
	}
	ps.hard_end = bench_deadline_ticks(ls->hard_deadline_ns);
	start = bench_ticks();
	warm_end = start + ls->warm_ticks;
	end = warm_end + ls->run_ticks;
	/* Bounded by the run's end and MAX_ROUNDS. */
	while (ls->nrounds < MAX_ROUNDS) {
		bool measured = bench_ticks() >= warm_end;

		for (unsigned p = 0; p < NPHASES; p++)
			hist_init(&scratch[p]);
		rc = ping_floor(&ps, measured);
		if (rc == 0)
			rc = ping_msg(&ps, measured);
		if (rc == 0)
			rc = ping_ring(&ps, measured);
		if (rc < 0)
			goto out;
		if (measured) {
			struct lat_round *rd = &ls->round[ls->nrounds++];

			for (unsigned p = 0; p < NPHASES; p++) {
				rd->p50_ns[p] = hist_percentile(&scratch[p], 50);
				hist_merge(&ls->total[p], &scratch[p]);
			}
			rd->ring_p99_ns = hist_percentile(&scratch[PH_RING], 99);
		}
		if (bench_ticks() >= end)
			break;
	}
	/* Pong waits on the floor's line between rounds. */
	bench_store_release(&ls->line, MARK_STOP);
out:
	side_close(&ps.side);
	free(ps.buf);
	return rc < 0 ? rc : 0;
}

/* ---- pong: echoes whatever phase ping is in ---- */

/* The floor phase: 1 at the end of the run, 0 at the end of the phase. */
static int pong_floor(struct lat_shared *ls, uint64_t *last, uint64_t hard_end)
{
	for (;;) {
		uint64_t v;

		for (unsigned i = 0; (v = bench_load_acquire(&ls->line)) == *last; i++) {
			if ((i & 0xffff) == 0xffff && bench_ticks() > hard_end) {
				bench_err("latency: nothing on the floor's line");
				return -ETIMEDOUT;
			}
			bench_spin_turn();
		}
		if (v == MARK_STOP)
			return 1;
		if (v == MARK_PHASE_END) {
			*last = v;
			return 0;
		}
		*last = v + 1;
		bench_store_release(&ls->line, v + 1);
	}
}

static int pong_msg(uint64_t *seq, struct bench_msg_lane *in, struct bench_msg_lane *out,
		    void *buf, uint64_t hard_end)
{
	for (;;) {
		uint64_t v = bench_msg_wait(in, *seq + 1, (*seq + 1) | MSG_MARK_BIT, buf, hard_end);

		if (v & MSG_MARK_BIT)
			return 0;
		if (v == 0) {
			bench_err("latency: nothing on the message channel");
			return -ETIMEDOUT;
		}
		*seq = v;
		bench_msg_send(out, v, buf);
	}
}

/* The ring phase: 0 at the end of the phase. */
static int pong_ring(struct lat_shared *ls, struct lat_side *s, uint64_t hard_end)
{
	for (;;) {
		struct ring_record rec;
		uint64_t now, stamp, word;
		int rc = ring_recv(s->r, &rec, hard_end);

		if (rc < 0)
			return rc;
		now = bench_ticks();
		if (rec.type == BENCH_TYPE_PHASE)
			return 0;
		if (rec.len < 16) {
			bench_err("latency: a record of %u bytes, expected %u", rec.len, ls->size);
			return -EBADMSG;
		}
		/* The echo first: the stamped figure is bookkeeping after it. */
		rc = ring_send(s->p, BENCH_TYPE_DATA, rec.payload, rec.len, hard_end);
		if (rc < 0)
			return rc;
		memcpy(&stamp, rec.payload, 8);
		memcpy(&word, (const uint8_t *)rec.payload + 8, 8);
		if ((word & SEQ_MEASURED) && now > stamp)
			hist_record(&ls->stamped, bench_ticks_to_ns(now - stamp));
	}
}

static int pong_main(void *arg)
{
	struct lat_shared *ls = arg;
	struct lat_side s = { 0 };
	uint64_t hard_end, last = 0, seq = 0;
	struct bench_msg_lane in, out;
	void *buf = malloc(64 * 1024 + 64);
	int rc, cpu = bench_pin(1);

	if (!buf)
		return -ENOMEM;
	if (cpu < 0) {
		bench_err("latency: sched_setaffinity: %s", strerror(-cpu));
		free(buf);
		return cpu;
	}
	ls->cpu_pong = cpu;
	(void)bench_msg_lane_init(&in, ls->to_pong, ls->size);
	(void)bench_msg_lane_init(&out, ls->to_ping, ls->size);
	rc = side_open(ls, ls->back, ls->there, &s);
	if (rc < 0)
		goto out;
	hard_end = bench_deadline_ticks(ls->hard_deadline_ns);
	bench_store_release(&ls->pong_ready, 1);
	/* Bounded: every phase ends by ping's mark or at hard_end. */
	for (;;) {
		rc = pong_floor(ls, &last, hard_end);
		if (rc == 0)
			rc = pong_msg(&seq, &in, &out, buf, hard_end);
		if (rc == 0)
			rc = pong_ring(ls, &s, hard_end);
		if (rc != 0)
			break;
	}
	if (rc > 0)
		rc = 0;
out:
	side_close(&s);
	free(buf);
	return rc;
}

/* ---- the mode ---- */

static int topic_create(const struct ring_topic_config *cfg, const char *suffix, char *name,
			size_t len, struct ring_topic **ret)
{
	int rc;

	(void)snprintf(name, len, "%s-%s", bench_topic_name(), suffix);
	rc = ring_topic_create(NULL, name, cfg, ret);
	if (rc < 0)
		bench_err("latency: ring_topic_create(%s): %s", name, ring_strerror(rc));
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, minimum and maximum over the rounds of phase @num's p50 (the
 * ring's p99 if @num_p99) over phase @den's p50. */
static void round_ratios(const struct lat_shared *ls, unsigned num, bool num_p99, unsigned den,
			 double *ret_med, double *ret_min, double *ret_max)
{
	double *v = malloc(ls->nrounds * sizeof(*v));
	unsigned n = 0;

	*ret_med = *ret_min = *ret_max = -1;
	if (!v)
		return;
	for (unsigned i = 0; i < ls->nrounds; i++) {
		const struct lat_round *rd = &ls->round[i];
		uint64_t x = num_p99 ? rd->ring_p99_ns : rd->p50_ns[num];

		if (rd->p50_ns[den])
			v[n++] = (double)x / (double)rd->p50_ns[den];
	}
	if (n) {
		qsort(v, n, sizeof(*v), cmp_double);
		*ret_med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
		*ret_min = v[0];
		*ret_max = v[n - 1];
	}
	free(v);
}

static void fill_floor(struct floor_result *fl, const struct lat_shared *ls)
{
	const struct bench_hist *f = &ls->total[PH_FLOOR], *m = &ls->total[PH_MSG];

	memset(fl, 0, sizeof(*fl));
	fl->round_trips = f->count;
	fl->one_way_p50_ns = hist_percentile(f, 50);
	fl->one_way_p99_ns = hist_percentile(f, 99);
	fl->one_way_p999_ns = hist_percentile(f, 99.9);
	fl->one_way_p9999_ns = hist_percentile(f, 99.99);
	fl->one_way_max_ns = f->max;
	fl->one_way_min_ns = f->min;
	fl->one_way_mean_ns = hist_mean(f);
	fl->msg_size = ls->size;
	fl->msg_round_trips = m->count;
	fl->msg_one_way_p50_ns = hist_percentile(m, 50);
	fl->msg_one_way_p99_ns = hist_percentile(m, 99);
	fl->memcpy_bytes_per_sec = -1;		/* not measured here */
	fl->memcpy_dram_bytes_per_sec = -1;
	fl->cpu_a = ls->cpu_ping;
	fl->cpu_b = ls->cpu_pong;
}

int bench_latency(const struct bench_opts *o, struct bench_report *ret_report)
{
	struct ring_topic_config cfg = {
		.capacity_bytes = o->capacity,
		.flags = RING_TOPIC_EPHEMERAL,
	};
	struct lat_shared *ls = NULL;
	uint8_t *areas = NULL;
	struct ring_topic *there = NULL, *back = NULL;
	struct ring_topic_stat st;
	struct bench_report r;
	pid_t pids[2] = { -1, -1 };
	double warm, med, lo, hi;
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
	(void)snprintf(r.mode, sizeof(r.mode), "1P1C-pingpong");

	ls = bench_shared_alloc(sizeof(*ls));
	areas = bench_shared_alloc(2 * BENCH_MSG_AREA_BYTES);
	if (!ls || !areas) {
		bench_err("latency: shared memory: %s", strerror(ENOMEM));
		rc = -ENOMEM;
		goto out;
	}
	warm = bench_warm_seconds(o->seconds, 0.05, 0.5);
	for (unsigned p = 0; p < NPHASES; p++)
		hist_init(&ls->total[p]);
	hist_init(&ls->stamped);
	ls->size = o->size;
	ls->gating = o->gating;
	ls->to_pong = areas;
	ls->to_ping = areas + BENCH_MSG_AREA_BYTES;
	ls->warm_ticks = bench_ns_to_ticks((uint64_t)(warm * 1e9));
	ls->run_ticks = bench_ns_to_ticks((uint64_t)(o->seconds * 1e9));
	ls->phase_ticks = bench_ns_to_ticks(ROUND_PHASE_NS);
	ls->hard_deadline_ns = bench_mono_ns() + (uint64_t)((warm + o->seconds + 10) * 1e9);

	rc = topic_create(&cfg, "there", ls->there, sizeof(ls->there), &there);
	if (rc == 0)
		rc = topic_create(&cfg, "back", ls->back, sizeof(ls->back), &back);
	if (rc < 0)
		goto out;
	if (!r.capacity && ring_topic_stat(there, &st) == 0)
		r.capacity = st.capacity_bytes;
	rc = bench_spawn(pong_main, ls, &pids[1]);
	if (rc == 0)
		rc = bench_spawn(ping_main, ls, &pids[0]);
	if (rc < 0) {
		bench_err("latency: fork: %s", strerror(-rc));
		bench_kill_children(pids, 2);
		goto out;
	}
	rc = bench_wait_children(pids, 2, (uint64_t)((warm + o->seconds + 20) * 1e9), "latency");
	if (rc < 0)
		goto out;
	if (!ls->nrounds || !ls->total[PH_RING].count) {
		bench_err("latency: no round measured (run longer?)");
		rc = -EPROTO;
		goto out;
	}

	r.reader_kind = o->gating ? "gating" : "ordinary";
	r.has_floor = true;
	fill_floor(&r.floor, ls);
	bench_report_hist(&r, &ls->total[PH_RING]);
	/* One record in flight at a time: the reciprocal of the round trip,
	 * not a throughput figure. */
	r.msgs_per_sec = (double)r.samples / ((double)ls->nrounds * ROUND_PHASE_NS / 1e9);
	r.bytes_per_sec = r.msgs_per_sec * o->size;
	r.deliveries_per_sec = r.msgs_per_sec;
	bench_report_extra(&r, "rounds", ls->nrounds, 0);
	round_ratios(ls, PH_RING, false, PH_FLOOR, &med, &lo, &hi);
	bench_report_extra(&r, "round_p50_ratio_to_floor_median", med, 3);
	bench_report_extra(&r, "round_p50_ratio_to_floor_min", lo, 3);
	bench_report_extra(&r, "round_p50_ratio_to_floor_max", hi, 3);
	round_ratios(ls, PH_RING, true, PH_FLOOR, &med, &lo, &hi);
	bench_report_extra(&r, "round_p99_ratio_to_floor_p50_median", med, 3);
	bench_report_extra(&r, "round_p99_ratio_to_floor_p50_min", lo, 3);
	bench_report_extra(&r, "round_p99_ratio_to_floor_p50_max", hi, 3);
	round_ratios(ls, PH_MSG, false, PH_FLOOR, &med, &lo, &hi);
	bench_report_extra(&r, "round_msg_floor_ratio_to_floor_median", med, 3);
	round_ratios(ls, PH_RING, false, PH_MSG, &med, &lo, &hi);
	bench_report_extra(&r, "round_p50_ratio_to_msg_floor_median", med, 3);
	bench_report_extra(&r, "stamped_p50_ns", (double)hist_percentile(&ls->stamped, 50), 0);
	bench_report_extra(&r, "stamped_p99_ns", (double)hist_percentile(&ls->stamped, 99), 0);
	(void)snprintf(r.notes, sizeof(r.notes),
		       "  %u rounds of %u ms floor + %u ms message + %u ms ring ping-pong (ping on "
		       "CPU %d, pong on CPU %d);\n  one-way = half a round trip, as the floor; "
		       "round_* = per-round ring / floor ratios (median, min, max);\n  stamped_* "
		       "= pong's receive time - ping's send stamp (a clock read across CPUs)\n",
		       ls->nrounds, ROUND_PHASE_NS / 1000000u, ROUND_PHASE_NS / 1000000u,
		       ROUND_PHASE_NS / 1000000u, ls->cpu_ping, ls->cpu_pong);
	if (!o->json) {
		printf("one-way latency distribution (half round trips, %llu samples):\n",
		       (unsigned long long)ls->total[PH_RING].count);
		hist_print(stdout, &ls->total[PH_RING], "  ");
	}
	*ret_report = r;
	rc = 0;
out:
	there = ring_topic_close(there);
	back = ring_topic_close(back);
	if (ls) {
		if (ls->there[0])
			(void)ring_topic_unlink(NULL, ls->there);
		if (ls->back[0])
			(void)ring_topic_unlink(NULL, ls->back);
	}
	bench_topic_unlink();
	bench_shared_free(ls, sizeof(*ls));
	bench_shared_free(areas, 2 * BENCH_MSG_AREA_BYTES);
	return rc;
}
