/* SPDX-License-Identifier: MIT */
/*
 * bench_floor.c - the machine's own limits, measured in the same run as
 * the ring so that the ring's figures can be read as ratios:
 *
 *  - one cache line bounced between two pinned processes through shared
 *    memory (ping-pong). Half the round trip is the least time any
 *    shared-memory message can take from one CPU to the other; the ring's
 *    one-way latency is compared with it.
 *  - a message of the run's size bounced the same way through plain
 *    shared memory, without the ring (the writer copies the payload and
 *    then stores a sequence word with release; the other side polls the
 *    word and copies the payload out). A 64-byte payload with the ring's
 *    24-byte header spans two cache lines, so this is what moving the
 *    bytes alone costs; what the ring adds is the rest.
 *  - memcpy bandwidth: 64 KiB copies from one hot buffer into an area the
 *    size of the ring (what a producer copying into a cache-resident ring
 *    does at best: the figure records are compared with), and 64 KiB
 *    copies over 64 MiB areas (memory-bound, for reference).
 *
 * The spin loops have no pause instruction: the ring's busy-polling reader
 * has none either, and both sides are pinned to CPUs of their own. They
 * look at the clock for their deadline only every 65536th turn, never on
 * the first: a clock read there would delay noticing a message that
 * arrives during it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench_util.h"

#define PINGPONG_STOP UINT64_MAX
#define MEMCPY_CHUNK (64u * 1024u)
#define MEMCPY_AREA (64u * 1024u * 1024u)

struct pingpong {
	/* The line that bounces: written by whoever's turn it is. */
	alignas(BENCH_CACHELINE) uint64_t seq;
	uint64_t stamp;			/* ping's send time, in ticks */
	/* Written once each, read by the other side and the parent. */
	alignas(BENCH_CACHELINE) uint64_t pong_ready;
	uint64_t ping_done;
	uint64_t round_trips;
	int cpu_a, cpu_b;
	/* Set by the parent before fork. */
	uint64_t warm_ticks, run_ticks, hard_deadline_ns;
	alignas(BENCH_CACHELINE) struct bench_hist one_way;	/* ping's: half round trip */
	struct bench_hist stamped;	/* pong's: receive time - stamp */
};

static int ping(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t start, warm_end, end, hard_end;
	int cpu = bench_pin(0);

	if (cpu < 0) {
		bench_err("floor: sched_setaffinity: %s", strerror(-cpu));
		return cpu;
	}
	pp->cpu_a = cpu;
	if (bench_wait_flag(&pp->pong_ready, pp->hard_deadline_ns) < 0) {
		bench_err("floor: the pong process did not start");
		return -ETIMEDOUT;
	}
	start = bench_ticks();
	warm_end = start + pp->warm_ticks;
	end = warm_end + pp->run_ticks;
	hard_end = end + bench_ns_to_ticks(5000000000u);
	for (uint64_t k = 1;; k++) {
		uint64_t t0 = bench_ticks(), t1;

		bench_store_relaxed(&pp->stamp, t0);
		/* Pairs with pong's acquire: the stamp travels with seq. */
		bench_store_release(&pp->seq, 2 * k - 1);
		for (unsigned i = 0; bench_load_acquire(&pp->seq) != 2 * k; i++) {
			if ((i & 0xffff) == 0xffff && bench_ticks() > hard_end) {
				bench_err("floor: no answer from the pong process");
				return -ETIMEDOUT;
			}
			bench_spin_turn();
		}
		t1 = bench_ticks();
		if (t0 >= warm_end) {
			hist_record(&pp->one_way, bench_ticks_to_ns(t1 - t0) / 2);
			pp->round_trips++;
		}
		if (t1 >= end)
			break;
	}
	bench_store_release(&pp->seq, PINGPONG_STOP);
	bench_store_release(&pp->ping_done, 1);
	return 0;
}

static int pong(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t last = 0, hard_end;
	int cpu = bench_pin(1);

	if (cpu < 0) {
		bench_err("floor: sched_setaffinity: %s", strerror(-cpu));
		return cpu;
	}
	pp->cpu_b = cpu;
	hard_end = bench_deadline_ticks(pp->hard_deadline_ns);
	bench_store_release(&pp->pong_ready, 1);
	for (;;) {
		uint64_t seq, stamp, t;

		for (unsigned i = 0; (seq = bench_load_acquire(&pp->seq)) == last; i++) {
			if ((i & 0xffff) == 0xffff && bench_ticks() > hard_end) {
				bench_err("floor: no message from the ping process");
				return -ETIMEDOUT;
			}
			bench_spin_turn();
		}
		if (seq == PINGPONG_STOP)
			return 0;
		stamp = bench_load_relaxed(&pp->stamp);
		last = seq + 1;
		bench_store_release(&pp->seq, last);
		/* After the answer, so that the round trip does not pay for
		 * this clock read: it only adds a store to the stamped time. */
		t = bench_ticks();
		if (t > stamp)
			hist_record(&pp->stamped, bench_ticks_to_ns(t - stamp));
	}
}

/* ---- the message floor ---- */

/* The stop: a sequence number pong never echoes. */
#define MSG_STOP UINT64_MAX

struct msgpong {
	alignas(BENCH_CACHELINE) uint64_t pong_ready;
	uint64_t round_trips;
	uint32_t size;
	uint64_t warm_ticks, run_ticks, hard_deadline_ns;
	struct bench_hist one_way;	/* ping's: half round trip */
	uint8_t *to_pong, *to_ping;	/* BENCH_MSG_AREA_BYTES each, shared */
};

static int msg_ping(void *arg)
{
	struct msgpong *m = arg;
	uint8_t *buf = malloc(m->size + 8);
	struct bench_msg_lane out, in;
	uint64_t start, warm_end, end, hard_end;
	int rc = bench_pin(0);

	if (!buf || rc < 0) {
		free(buf);
		return rc < 0 ? rc : -ENOMEM;
	}
	memset(buf, 0x6b, m->size + 8);
	(void)bench_msg_lane_init(&out, m->to_pong, m->size);
	(void)bench_msg_lane_init(&in, m->to_ping, m->size);
	if (bench_wait_flag(&m->pong_ready, m->hard_deadline_ns) < 0) {
		free(buf);
		return -ETIMEDOUT;
	}
	hard_end = bench_deadline_ticks(m->hard_deadline_ns);
	start = bench_ticks();
	warm_end = start + m->warm_ticks;
	end = warm_end + m->run_ticks;
	for (uint64_t seq = 1;; seq++) {
		uint64_t t0 = bench_ticks(), t1;

		bench_msg_send(&out, seq, buf);
		if (bench_msg_wait(&in, seq, 0, buf, hard_end) != seq) {
			bench_err("floor: no answer from the message pong process");
			rc = -ETIMEDOUT;
			break;
		}
		t1 = bench_ticks();
		if (t0 >= warm_end) {
			hist_record(&m->one_way, bench_ticks_to_ns(t1 - t0) / 2);
			m->round_trips++;
		}
		if (t1 >= end) {
			bench_msg_send(&out, MSG_STOP, buf);
			break;
		}
	}
	free(buf);
	return rc;
}

static int msg_pong(void *arg)
{
	struct msgpong *m = arg;
	uint8_t *buf = malloc(m->size + 8);
	struct bench_msg_lane in, out;
	uint64_t hard_end;
	int rc = bench_pin(1);

	if (!buf || rc < 0) {
		free(buf);
		return rc < 0 ? rc : -ENOMEM;
	}
	(void)bench_msg_lane_init(&in, m->to_pong, m->size);
	(void)bench_msg_lane_init(&out, m->to_ping, m->size);
	hard_end = bench_deadline_ticks(m->hard_deadline_ns);
	bench_store_release(&m->pong_ready, 1);
	rc = 0;
	for (uint64_t seq = 1;; seq++) {
		uint64_t v = bench_msg_wait(&in, seq, MSG_STOP, buf, hard_end);

		if (v == MSG_STOP)
			break;
		if (v != seq) {
			bench_err("floor: no message from the message ping process");
			rc = -ETIMEDOUT;
			break;
		}
		bench_msg_send(&out, seq, buf);
	}
	free(buf);
	return rc;
}

/* Half the round trip of a @size-byte message through plain shared memory. */
static int msg_floor_measure(uint32_t size, double seconds, struct floor_result *fr)
{
	struct msgpong *m = bench_shared_alloc(sizeof(*m));
	uint8_t *areas = bench_shared_alloc(2 * BENCH_MSG_AREA_BYTES);
	struct bench_msg_lane probe;
	double warm = bench_warm_seconds(seconds, 0.01, 0.1);
	pid_t pids[2] = { -1, -1 };
	int rc = -ENOMEM;

	if (!m || !areas) {
		bench_err("floor: shared memory: %s", strerror(ENOMEM));
		goto out;
	}
	m->size = size;
	if (!bench_msg_lane_init(&probe, areas, size)) {
		rc = 0;		/* too large to bounce here: no figure */
		goto out;
	}
	m->to_pong = areas;
	m->to_ping = areas + BENCH_MSG_AREA_BYTES;
	hist_init(&m->one_way);
	m->warm_ticks = bench_ns_to_ticks((uint64_t)(warm * 1e9));
	m->run_ticks = bench_ns_to_ticks((uint64_t)(seconds * 1e9));
	m->hard_deadline_ns = bench_mono_ns() + (uint64_t)((warm + seconds + 10) * 1e9);
	rc = bench_spawn(msg_pong, m, &pids[1]);
	if (rc == 0)
		rc = bench_spawn(msg_ping, m, &pids[0]);
	if (rc < 0) {
		bench_err("floor: fork: %s", strerror(-rc));
		bench_kill_children(pids, 2);
		goto out;
	}
	rc = bench_wait_children(pids, 2, (uint64_t)((warm + seconds + 15) * 1e9),
				 "floor message ping-pong");
	if (rc < 0)
		goto out;
	fr->msg_size = size;
	fr->msg_one_way_p50_ns = hist_percentile(&m->one_way, 50);
	fr->msg_one_way_p99_ns = hist_percentile(&m->one_way, 99);
	fr->msg_round_trips = m->round_trips;
out:
	bench_shared_free(m, sizeof(*m));
	bench_shared_free(areas, 2 * BENCH_MSG_AREA_BYTES);
	return rc;
}

/* ---- memcpy ---- */

struct memcpy_run {
	double seconds;
	uint64_t cached_area;
	double bytes_per_sec;
	double cached_bytes_per_sec;
	uint64_t sink;
	int cpu;
};

static void *map_area(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Fault in now, and with non-zero bytes: no zero-page tricks. */
	memset(p, 0x5a, len);
	return p;
}

static int memcpy_child(void *arg)
{
	struct memcpy_run *m = arg;
	uint8_t *src = map_area(MEMCPY_AREA), *dst = map_area(MEMCPY_AREA);
	uint8_t *hot = map_area(MEMCPY_CHUNK), *ring = map_area(m->cached_area);
	uint64_t bytes = 0, t0, t1, budget = (uint64_t)(m->seconds * 1e9 * 2 / 3);
	int cpu = bench_pin(0);

	if (!src || !dst || !hot || !ring) {
		bench_err("floor: memcpy areas: out of memory");
		return -ENOMEM;
	}
	if (cpu < 0)
		return cpu;
	m->cpu = cpu;

	/* Memory-bound: whole areas copied in 64 KiB pieces, one pass of
	 * warm-up, then passes for two thirds of the time. */
	for (size_t off = 0; off < MEMCPY_AREA; off += MEMCPY_CHUNK)
		memcpy(dst + off, src + off, MEMCPY_CHUNK);
	t0 = bench_mono_ns();
	do {
		for (size_t off = 0; off < MEMCPY_AREA; off += MEMCPY_CHUNK)
			memcpy(dst + off, src + off, MEMCPY_CHUNK);
		bytes += MEMCPY_AREA;
		t1 = bench_mono_ns();
	} while (t1 - t0 < budget);
	m->bytes_per_sec = (double)bytes * 1e9 / (double)(t1 - t0);

	/* Cache-resident: one hot 64 KiB source into a ring-sized area. */
	budget /= 2;
	bytes = 0;
	t0 = bench_mono_ns();
	do {
		for (size_t off = 0; off < m->cached_area; off += MEMCPY_CHUNK)
			memcpy(ring + off, hot, MEMCPY_CHUNK);
		bytes += m->cached_area;
		t1 = bench_mono_ns();
	} while (t1 - t0 < budget);
	m->cached_bytes_per_sec = (double)bytes * 1e9 / (double)(t1 - t0);
	m->sink = dst[MEMCPY_AREA / 2] + ring[m->cached_area / 2];

	(void)munmap(src, MEMCPY_AREA);
	(void)munmap(dst, MEMCPY_AREA);
	(void)munmap(hot, MEMCPY_CHUNK);
	(void)munmap(ring, m->cached_area);
	return 0;
}

double bench_floor_pingpong_seconds(double seconds)
{
	double s = seconds / 2;

	return s < 0.1 ? 0.1 : s > 1.0 ? 1.0 : s;
}

double bench_floor_memcpy_seconds(double seconds)
{
	double s = seconds / 4;

	return s < 0.05 ? 0.05 : s > 0.5 ? 0.5 : s;
}

int bench_floor_measure(const struct bench_opts *o, double pingpong_seconds, uint32_t msg_size,
			double memcpy_seconds, struct floor_result *ret_floor)
{
	struct pingpong *pp = bench_shared_alloc(sizeof(*pp));
	struct memcpy_run *m = bench_shared_alloc(sizeof(*m));
	struct floor_result fr = { 0 };
	double warm = pingpong_seconds / 10;
	pid_t pids[2] = { -1, -1 };
	int rc = -ENOMEM;

	if (!pp || !m) {
		bench_err("floor: shared memory: %s", strerror(ENOMEM));
		goto out;
	}
	if (warm < 0.01)
		warm = 0.01;
	if (warm > 0.2)
		warm = 0.2;
	hist_init(&pp->one_way);
	hist_init(&pp->stamped);
	pp->warm_ticks = bench_ns_to_ticks((uint64_t)(warm * 1e9));
	pp->run_ticks = bench_ns_to_ticks((uint64_t)(pingpong_seconds * 1e9));
	pp->hard_deadline_ns = bench_mono_ns() + (uint64_t)((warm + pingpong_seconds + 10) * 1e9);
	rc = bench_spawn(pong, pp, &pids[1]);
	if (rc == 0)
		rc = bench_spawn(ping, pp, &pids[0]);
	if (rc < 0) {
		bench_err("floor: fork: %s", strerror(-rc));
		bench_kill_children(pids, 2);
		goto out;
	}
	rc = bench_wait_children(pids, 2, (uint64_t)((warm + pingpong_seconds + 15) * 1e9),
				 "floor ping-pong");
	if (rc < 0)
		goto out;
	if (!pp->one_way.count) {
		bench_err("floor: no round trip measured");
		rc = -EPROTO;
		goto out;
	}

	if (msg_size) {
		rc = msg_floor_measure(msg_size, pingpong_seconds / 2, &fr);
		if (rc < 0)
			goto out;
	}

	m->seconds = memcpy_seconds;
	m->cached_area = o->capacity ? o->capacity : (4u << 20);
	rc = bench_spawn(memcpy_child, m, &pids[0]);
	if (rc < 0) {
		bench_err("floor: fork: %s", strerror(-rc));
		goto out;
	}
	rc = bench_wait_children(pids, 1, (uint64_t)((memcpy_seconds + 30) * 1e9), "floor memcpy");
	if (rc < 0)
		goto out;

	fr.seconds = pingpong_seconds;
	fr.round_trips = pp->round_trips;
	fr.one_way_p50_ns = hist_percentile(&pp->one_way, 50);
	fr.one_way_p99_ns = hist_percentile(&pp->one_way, 99);
	fr.one_way_p999_ns = hist_percentile(&pp->one_way, 99.9);
	fr.one_way_p9999_ns = hist_percentile(&pp->one_way, 99.99);
	fr.one_way_max_ns = pp->one_way.max;
	fr.one_way_min_ns = pp->one_way.min;
	fr.one_way_mean_ns = hist_mean(&pp->one_way);
	fr.stamped_p50_ns = hist_percentile(&pp->stamped, 50);
	fr.stamped_p99_ns = hist_percentile(&pp->stamped, 99);
	fr.memcpy_bytes_per_sec = m->cached_bytes_per_sec;
	fr.memcpy_dram_bytes_per_sec = m->bytes_per_sec;
	fr.memcpy_area_bytes = m->cached_area;
	fr.cpu_a = pp->cpu_a;
	fr.cpu_b = pp->cpu_b;
	*ret_floor = fr;
	rc = 0;
out:
	bench_shared_free(pp, sizeof(*pp));
	bench_shared_free(m, sizeof(*m));
	return rc;
}

int bench_floor(const struct bench_opts *o, struct bench_report *ret_report)
{
	struct bench_report r;
	double mseconds = o->seconds / 2;
	int rc;

	bench_report_init(&r, o, "floor");
	(void)snprintf(r.mode, sizeof(r.mode), "pingpong");
	r.producers = 1;
	r.readers = 1;
	r.size = BENCH_CACHELINE;
	if (mseconds < 0.05)
		mseconds = 0.05;
	if (mseconds > 1.0)
		mseconds = 1.0;
	rc = bench_floor_measure(o, o->seconds, o->size <= 65536 ? o->size : 0, mseconds, &r.floor);
	if (rc < 0)
		return rc;
	r.has_floor = true;
	r.capacity = r.floor.memcpy_area_bytes;
	/* The floor's own distribution fills the latency fields. */
	r.has_latency = true;
	r.samples = r.floor.round_trips;
	r.p50_ns = r.floor.one_way_p50_ns;
	r.p99_ns = r.floor.one_way_p99_ns;
	r.p999_ns = r.floor.one_way_p999_ns;
	r.p9999_ns = r.floor.one_way_p9999_ns;
	r.max_ns = r.floor.one_way_max_ns;
	r.min_ns = r.floor.one_way_min_ns;
	r.mean_ns = r.floor.one_way_mean_ns;
	*ret_report = r;
	return 0;
}
