/* SPDX-License-Identifier: MIT */
/*
 * Description: many producer threads and many reader threads on one
 * anonymous topic in one process, for about RING_STRESS_SECONDS in all:
 * the threaded twin of tests/integration/test_mpmc_processes.c, which is
 * what ThreadSanitizer can see (it cannot follow memory across processes).
 * Producers publish self-checking records (producer id, sequence number,
 * CRC-32 of the payload) by every path: single publishes that block or
 * fail at once, batches, zero-copy reserve/commit and reserve/abort.
 * Gating readers (polling and reading one by one) and ordinary readers
 * (which dawdle now and then, so that producers lap them) read throughout;
 * the main thread takes stat snapshots. Four mixes: two not oversubscribed
 * (two threads on the two vCPUs: a producer with a gating reader, a
 * producer with an ordinary reader) and two oversubscribed (four producers
 * with two gating and two ordinary readers; three producers with three
 * ordinary readers and nothing gating, where producers run the
 * maintenance themselves on every full ring). In one of them a
 * housekeeping thread calls ring_topic_maintain() all the time, as ringd
 * does.
 * Positive space: every gating reader receives every record of every
 * producer, per producer in order, with no gap, no duplicate and an intact
 * CRC; every ordinary reader receives only intact records in per-producer
 * order, loses records only behind an -EOVERFLOW that moved it forward,
 * and ends at the tail; tail and limit only grow, the tail never passes
 * the limit; afterwards the frontier is at the tail and nothing was
 * repaired or is stuck. Per-thread latency figures are printed, never
 * judged.
 * Negative space: no torn, corrupt, duplicated or reordered record, no
 * unexpected error from any call (maintenance never reports -EBADMSG on a
 * sound ring, never repairs a live producer's claim in time), no thread
 * stuck past its deadline.
 * Under ThreadSanitizer (a -Db_sanitize=thread build) it must also be free
 * of reports, with no suppression: the only reads TSan is told to ignore
 * are libring's racy-by-design seqlock reads (libring/reader.c, and why in
 * libring/atomics.h); the gating readers' in-place reads, every producer
 * write and all of the maintainer's are checked.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"

#define NS_PER_S UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)
#define MAX_THREADS 9u
#define PAYLOAD_MAX 400u
#define BATCH_MAX 8u
/* After the producers stop, how long readers may take to finish: a
 * generous bound on a bounded loop, not a timing requirement. */
#define DRAIN_NS (60 * NS_PER_S)
/* Nobody dies and nobody sleeps in a claim, but a thread of an
 * oversubscribed TSan build can be preempted for a long time: no claim
 * may look stuck. */
#define CLAIM_TIMEOUT_NS (60 * NS_PER_S)



enum role { PRODUCER, GATING, ORDINARY, MAINTAINER };

struct scenario {
	const char *name;
	unsigned producers, gating, ordinary;
	bool maintainer; /* a thread calling ring_topic_maintain(), as ringd */
	uint64_t capacity;
};

struct run;

struct worker {
	struct run *run;
	enum role role;
	unsigned id; /* producer id, or reader number */
	pthread_t thread;
	struct ring_reader *reader; /* opened by the main thread */
	struct t_tracker tr;
	struct t_hist hist; /* producers: per-call latency */
	uint64_t ops, retries, aborts, overflows;
	char error[256];
};

struct run {
	const struct scenario *sc;
	struct ring_topic *topic;
	uint64_t seed;	      /* RING_TEST_SEED replays the operation mix */
	uint64_t stop_ns;     /* producers stop at this instant */
	uint64_t deadline_ns; /* everyone fails after this one */
	_Atomic uint32_t stop;
	_Atomic uint32_t producers_done; /* published[] and final_tail are set */
	_Atomic uint64_t published[T_TRACKER_MAX_PRODUCERS];
	_Atomic uint64_t final_tail;
	unsigned nworkers;
	struct worker w[MAX_THREADS];
};

__attribute__((format(printf, 2, 3))) static void *worker_fail(struct worker *w, const char *fmt,
							       ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->error, sizeof(w->error), fmt, ap);
	va_end(ap);
	atomic_store(&w->run->stop, 1);
	return NULL;
}

/* ---- producers ---- */

/*
 * One operation of producer @w at @seq: how many records it published
 * (0 after an abort or a full ring), or a negative errno that ends the run.
 */
static int produce_one(struct worker *w, struct ring_producer *p, uint64_t seq, uint64_t *rng)
{
	static _Thread_local uint8_t buf[BATCH_MAX][PAYLOAD_MAX];
	unsigned op = (unsigned)t_rand_range(rng, 0, 15);
	/* Blocking in bounded slices, or not at all: both are retried. */
	int64_t timeout = (op & 1) ? 0 : (int64_t)(50 * NS_PER_MS);
	uint32_t id = w->id;
	int rc;

	if (op < 8) {
		size_t len = t_payload_len(id, seq, T_PAYLOAD_MIN, PAYLOAD_MAX);

		t_payload_fill(buf[0], len, id, seq);
		rc = ring_producer_publish(p, id + 1, buf[0], len, timeout, NULL);
		return rc == 0 ? 1 : rc;
	}
	if (op < 11) {
		struct ring_message m[BATCH_MAX];
		unsigned n = (unsigned)t_rand_range(rng, 2, BATCH_MAX);

		for (unsigned i = 0; i < n; i++) {
			size_t len = t_payload_len(id, seq + i, T_PAYLOAD_MIN, PAYLOAD_MAX);

			t_payload_fill(buf[i], len, id, seq + i);
			m[i] = (struct ring_message){ .data = buf[i],
						      .len = (uint32_t)len,
						      .type = id + 1 };
		}
		rc = ring_producer_publish_batch(p, m, n, timeout, NULL);
		return rc;
	}

	struct ring_claim c;
	size_t len = t_payload_len(id, seq, T_PAYLOAD_MIN, PAYLOAD_MAX);

	rc = ring_producer_reserve(p, id + 1, len, timeout, &c);
	if (rc < 0)
		return rc;
	/* Zero copy: the record is built in place. */
	t_payload_fill(c.payload, len, id, seq);
	if (op == 15) {
		w->aborts++;
		rc = ring_producer_abort(p, &c);
		return rc < 0 ? rc : 0;
	}
	rc = ring_producer_commit(p, &c);
	return rc == 0 ? 1 : rc;
}

static void *producer_thread(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	struct ring_producer *p = NULL;
	uint64_t seq = 0, rng = run->seed ^ ((uint64_t)w->id << 56);
	int rc;

	rc = ring_producer_open(run->topic, &p);
	if (rc < 0)
		return worker_fail(w, "producer %u: open: %s", w->id, ring_strerror(rc));
	while (!atomic_load(&run->stop) && t_now_ns() < run->stop_ns) {
		uint64_t t0 = t_now_ns();

		rc = produce_one(w, p, seq, &rng);
		t_hist_add(&w->hist, t_now_ns() - t0);
		w->ops++;
		if (rc == -EAGAIN || rc == -ETIMEDOUT) {
			/* A full ring: nothing was published, same seq again. */
			w->retries++;
			continue;
		}
		if (rc < 0) {
			(void)ring_producer_close(p);
			return worker_fail(w, "producer %u: seq %" PRIu64 ": %s", w->id, seq,
					   ring_strerror(rc));
		}
		seq += (uint64_t)rc;
	}
	atomic_store(&run->published[w->id], seq);
	p = ring_producer_close(p);
	return NULL;
}

/* ---- readers ---- */

struct poll_ctx {
	struct worker *w;
	int bad;
};

static int poll_record(const struct ring_record *rec, void *arg)
{
	struct poll_ctx *c = arg;

	if (t_tracker_record(&c->w->tr, rec) < 0)
		c->bad = 1;
	return c->bad;
}

/* Has this reader read all there is, once the producers are done? */
static bool reader_done(struct worker *w)
{
	struct run *run = w->run;
	uint64_t counts[T_TRACKER_MAX_PRODUCERS];

	if (!atomic_load(&run->producers_done))
		return false;
	if (ring_reader_position(w->reader) != atomic_load(&run->final_tail))
		return false;
	if (w->role == ORDINARY)
		return true;
	for (unsigned i = 0; i < run->sc->producers; i++)
		counts[i] = atomic_load(&run->published[i]);
	return t_tracker_complete(&w->tr, counts, 0);
}

static void *reader_thread(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	const char *kind = w->role == GATING ? "gating" : "ordinary";
	/* Half of the readers poll in batches, half read one by one. */
	bool polls = w->id % 2 == 1;

	while (!reader_done(w)) {
		uint64_t before = ring_reader_position(w->reader);
		struct ring_record rec;
		int rc;

		if (t_now_ns() >= run->deadline_ns)
			return worker_fail(w,
					   "%s %u: stuck at %" PRIu64 " after %" PRIu64 " records",
					   kind, w->id, before, w->tr.delivered);
		if (atomic_load(&run->stop))
			return NULL; /* another thread failed: the run is over */
		if (polls) {
			struct poll_ctx c = { .w = w };

			rc = ring_reader_poll(w->reader, poll_record, &c, 64, 20 * NS_PER_MS);
			if (c.bad)
				return worker_fail(w, "%s %u: %s", kind, w->id, w->tr.first_error);
		} else {
			rc = ring_reader_next(w->reader, &rec, 20 * NS_PER_MS);
			if (rc == 0 && t_tracker_record(&w->tr, &rec) < 0)
				return worker_fail(w, "%s %u: %s", kind, w->id, w->tr.first_error);
		}
		if (rc >= 0) {
			w->ops++;
			/* Ordinary readers dawdle now and then, so that the
			 * producers lap them and the seqlock check is exercised. */
			if (w->role == ORDINARY && w->ops % 1024 == 0)
				t_sleep_ns(NS_PER_MS);
			continue;
		}
		if (rc == -ETIMEDOUT)
			continue;
		if (rc == -EOVERFLOW && w->role == ORDINARY) {
			/* Moved forward, by this call, or by the poll before it
			 * that delivered records first and reports the loss now. */
			if (ring_reader_position(w->reader) < before ||
			    (!polls && ring_reader_position(w->reader) == before))
				return worker_fail(w, "ordinary %u: -EOVERFLOW left it at %" PRIu64,
						   w->id, before);
			w->overflows++;
			t_tracker_overflow(&w->tr);
			continue;
		}
		return worker_fail(w, "%s %u: read at %" PRIu64 ": %s", kind, w->id, before,
				   ring_strerror(rc));
	}
	return NULL;
}

/* ---- a housekeeper, as ringd is for persistent topics ---- */

/*
 * Runs maintenance over and over while everyone else works: it must never
 * report corruption (-EBADMSG) on a ring where nothing is corrupt, however
 * its frontier scan interleaves with claims and commits, and -EBUSY only
 * means another thread holds the lease.
 */
static void *maintainer_thread(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;

	while (!atomic_load(&run->producers_done) && !atomic_load(&run->stop)) {
		int rc = ring_topic_maintain(run->topic);

		if (rc < 0 && rc != -EBUSY)
			return worker_fail(w, "maintainer: %s", ring_strerror(rc));
		if (rc > 0)
			return worker_fail(w, "maintainer: repaired %d claims of live producers",
					   rc);
		w->ops++;
		if (rc == -EBUSY)
			w->retries++;
		if (t_now_ns() >= run->deadline_ns)
			return worker_fail(w, "maintainer: not stopped in time");
	}
	return NULL;
}

/* ---- the run ---- */

static unsigned stress_ms_per_case(unsigned ncases)
{
	unsigned s = t_stress_seconds(10);

	/* The whole binary takes about RING_STRESS_SECONDS. */
	return (unsigned)((uint64_t)s * 1000u / ncases);
}

#define NCASES 4u

static void run_scenario(const struct scenario *sc)
{
	const struct ring_topic_config cfg = {
		.capacity_bytes = sc->capacity,
		.flags = RING_TOPIC_ANON,
		.claim_timeout_ns = CLAIM_TIMEOUT_NS,
	};
	static struct run run;
	struct ring_topic_stat st;
	uint64_t last_tail = 0, last_limit = 0, snapshots = 0, t0;
	uint64_t total = 0;

	memset(&run, 0, sizeof(run));
	run.sc = sc;
	run.seed = t_seed();
	assert_true(sc->producers + sc->gating + sc->ordinary <= MAX_THREADS);
	assert_true(sc->producers <= T_TRACKER_MAX_PRODUCERS);
	assert_rc(ring_topic_create(NULL, NULL, &cfg, &run.topic), 0);

	/* Readers first, at position 0, so that they see every record. */
	for (unsigned i = 0; i < sc->gating + sc->ordinary; i++) {
		struct worker *w = &run.w[run.nworkers++];
		const struct ring_reader_config rc = {
			.start = RING_START_POSITION,
			.position = 0,
			.flags = i < sc->gating ? RING_READER_GATING : 0,
		};

		w->run = &run;
		w->role = i < sc->gating ? GATING : ORDINARY;
		w->id = i;
		t_tracker_init(&w->tr, sc->producers);
		assert_rc(ring_reader_open(run.topic, &rc, &w->reader), 0);
	}
	for (unsigned i = 0; i < sc->producers; i++) {
		struct worker *w = &run.w[run.nworkers++];

		w->run = &run;
		w->role = PRODUCER;
		w->id = i;
		t_hist_init(&w->hist);
	}

	if (sc->maintainer) {
		struct worker *w = &run.w[run.nworkers++];

		w->run = &run;
		w->role = MAINTAINER;
	}

	t0 = t_now_ns();
	run.stop_ns = t0 + (uint64_t)stress_ms_per_case(NCASES) * NS_PER_MS;
	run.deadline_ns = run.stop_ns + DRAIN_NS;
	for (unsigned i = 0; i < run.nworkers; i++) {
		struct worker *w = &run.w[i];

		void *(*fn)(void *) = w->role == PRODUCER   ? producer_thread :
				      w->role == MAINTAINER ? maintainer_thread :
							      reader_thread;

		assert_int_equal(pthread_create(&w->thread, NULL, fn, w), 0);
	}

	/* Watch from outside while they run: stat is safe at any time. */
	while (t_now_ns() < run.stop_ns && !atomic_load(&run.stop)) {
		assert_rc(ring_topic_stat(run.topic, &st), 0);
		if (st.tail_pos < last_tail || st.limit_pos < last_limit ||
		    st.tail_pos > st.limit_pos)
			fail_msg("stat: tail %" PRIu64 " (was %" PRIu64 "), limit %" PRIu64
				 " (was %" PRIu64 ")",
				 st.tail_pos, last_tail, st.limit_pos, last_limit);
		last_tail = st.tail_pos;
		last_limit = st.limit_pos;
		snapshots++;
		t_sleep_ns(5 * NS_PER_MS);
	}

	for (unsigned i = 0; i < run.nworkers; i++)
		if (run.w[i].role == PRODUCER)
			assert_int_equal(pthread_join(run.w[i].thread, NULL), 0);
	assert_rc(ring_topic_stat(run.topic, &st), 0);
	atomic_store(&run.final_tail, st.tail_pos);
	atomic_store(&run.producers_done, 1);
	for (unsigned i = 0; i < run.nworkers; i++)
		if (run.w[i].role != PRODUCER)
			assert_int_equal(pthread_join(run.w[i].thread, NULL), 0);
	for (unsigned i = 0; i < run.nworkers; i++)
		if (run.w[i].role == MAINTAINER)
			printf("# maintainer: %" PRIu64 " passes, %" PRIu64
			       " found the lease taken\n",
			       run.w[i].ops, run.w[i].retries);

	for (unsigned i = 0; i < run.nworkers; i++)
		if (run.w[i].error[0])
			fail_msg("%s", run.w[i].error);
	for (unsigned i = 0; i < sc->producers; i++)
		total += atomic_load(&run.published[i]);
	printf("# %s: %" PRIu64 " records, %" PRIu64 " bytes (%.1f laps) in %.2f s, %" PRIu64
	       " stat snapshots\n",
	       sc->name, total, st.tail_pos, (double)st.tail_pos / (double)sc->capacity,
	       (double)(t_now_ns() - t0) / 1e9, snapshots);
	assert_true(total > 0);

	for (unsigned i = 0; i < run.nworkers; i++) {
		struct worker *w = &run.w[i];
		char label[64];

		if (w->role == MAINTAINER)
			continue;
		if (w->role == PRODUCER) {
			snprintf(label, sizeof(label), "producer %u call", w->id);
			t_hist_print(&w->hist, label);
			printf("#   %" PRIu64 " records, %" PRIu64 " full-ring retries, %" PRIu64
			       " aborts\n",
			       atomic_load(&run.published[w->id]), w->retries, w->aborts);
			continue;
		}
		assert_int_equal(w->tr.errors, 0);
		assert_int_equal(ring_reader_position(w->reader), st.tail_pos);
		if (w->role == GATING) {
			/* Everything, exactly once, in order. */
			assert_int_equal(w->tr.overflows, 0);
			assert_int_equal(w->tr.delivered, total);
			for (unsigned p = 0; p < sc->producers; p++)
				assert_int_equal(w->tr.next_seq[p], atomic_load(&run.published[p]));
		} else {
			/* Losses only behind an overflow. */
			assert_true(w->tr.delivered + w->tr.skipped <= total);
			if (w->tr.overflows == 0)
				assert_int_equal(w->tr.delivered, total);
		}
		printf("# %s reader %u: %" PRIu64 " records, %" PRIu64 " overflows, %" PRIu64
		       " lost to them\n",
		       w->role == GATING ? "gating" : "ordinary", w->id, w->tr.delivered,
		       w->tr.overflows, w->tr.skipped);
		w->reader = ring_reader_close(w->reader);
	}

	/* Quiet afterwards: nothing in front of the readers, nothing fixed. */
	assert_rc(ring_topic_maintain(run.topic), 0);
	assert_rc(ring_topic_stat(run.topic, &st), 0);
	assert_int_equal(st.frontier_pos, st.tail_pos);
	assert_int_equal(st.repaired_claims, 0);
	assert_int_equal(st.stuck_pid, 0);
	assert_int_equal(st.producers, 0);
	assert_int_equal(st.gating_readers, 0);
	run.topic = ring_topic_close(run.topic);
}

static void test_mpmc_threads_every_record_intact_in_order(void **state)
{
	run_scenario(*state);
}

static const struct scenario scenarios[] = {
	/* Not oversubscribed: two threads, two vCPUs. */
	{ "1 producer, 1 gating reader", 1, 1, 0, false, UINT64_C(64) << 10 },
	{ "1 producer, 1 ordinary reader", 1, 0, 1, false, UINT64_C(64) << 10 },
	/* Oversubscribed. */
	{ "4 producers, 2 gating + 2 ordinary readers, a housekeeper", 4, 2, 2, true,
	  UINT64_C(128) << 10 },
	{ "3 producers, 3 ordinary readers, no gate", 3, 0, 3, false, UINT64_C(64) << 10 },
};

#define CASE(i)                                                                   \
	cmocka_unit_test_prestate(test_mpmc_threads_every_record_intact_in_order, \
				  (void *)&scenarios[i])

int main(void)
{
	const struct CMUnitTest tests[] = { CASE(0), CASE(1), CASE(2), CASE(3) };

	_Static_assert(sizeof(scenarios) / sizeof(scenarios[0]) == NCASES, "one test per case");
	printf("# %u s in all (RING_STRESS_SECONDS)\n", t_stress_seconds(10));
	return cmocka_run_group_tests_name("mpmc_threads", tests, NULL, NULL);
}
