/* SPDX-License-Identifier: MIT */
/*
 * Description: producer processes SIGKILLed at random instants, on a named
 * ephemeral topic with nobody but the library to clean up. Three producer
 * lanes publish self-checking records (single, batch and zero-copy); for
 * 20 rounds the parent sleeps a random time, kills one lane's producer
 * with SIGKILL wherever it happens to be (claiming, writing, committing,
 * in maintenance holding the lease, opening or closing) and starts a new
 * incarnation with a fresh producer id. Two gating readers and one
 * ordinary reader read throughout.
 * A second test is the late commit across processes: a live producer that
 * holds its claim past the claim timeout (sleeping) has it repaired by a
 * reader in another process, its commit fails with -ETIMEDOUT, and it
 * publishes again.
 *
 * Positive space: every incarnation's records arrive intact (CRC), in
 * order, with no gap and no duplicate, up to its death: exactly its
 * acknowledged records, plus possibly the one operation it was killed in
 * if that had committed (whole: a batch all or nothing); the incarnations
 * stopped at the end deliver all they acknowledged; readers reach the tail;
 * dead producers' slots are freed. Late commit: records behind the stuck
 * claim reach the reader, the republished record too.
 * Negative space: no torn, partial, stale or duplicated record; the gating
 * readers are never overtaken; the stale claim is never delivered.
 *
 * RING_TEST_SEED replays the kill schedule (not the kernel's scheduling).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "t.h"

#define CAP (UINT64_C(64) << 10)
#define NS_PER_S UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)
#define LANES 3u
#define ROUNDS 20u
#define NIDS (LANES + ROUNDS)		/* one producer id per incarnation */
#define GATING 2u
#define NREADERS (GATING + 1u)		/* the last one is ordinary */
#define PAYLOAD_MAX 240u
#define BATCH 4u
#define CHILD_DEADLINE_NS (60 * NS_PER_S)
#define MAX_PER_ID 2000000u		/* far more than a lane publishes */

_Static_assert(NIDS <= T_TRACKER_MAX_PRODUCERS, "one tracker slot per incarnation");

struct prod_state {
	_Atomic uint64_t attempted;	/* seq after the operation in progress */
	_Atomic uint64_t acked;		/* seq after the last one that returned */
	_Atomic uint32_t started;	/* has its producer registered */
};

struct shared {
	_Atomic uint32_t readers_open;	/* readers that have opened at position 0 */
	_Atomic uint32_t stop_producing;
	_Atomic uint32_t producers_done;
	struct prod_state prod[NIDS];
	struct t_tracker readers[NREADERS];
	char reader_error[NREADERS][256];
	char prod_error[NIDS][256];
	/* The late-commit test. */
	_Atomic uint32_t claimed;
	_Atomic uint64_t claim_pos;
	_Atomic int32_t late_commit_rc;
	_Atomic int32_t republish_rc;
};

struct fixture {
	char dir[128];
	char name[64];
	struct ring_topic *topic;
	struct shared *sh;
	pid_t prod_pid[NIDS];
	pid_t reader_pid[NREADERS];
	uint64_t rng;
};

static struct fixture fx;

__attribute__((format(printf, 2, 3))) static int fail_into(char *line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, 256, fmt, ap);
	va_end(ap);
	return 1;
}

/* ---- children ---- */

/*
 * One incarnation: publish until told to stop, mixing the three ways to
 * write. Progress goes to shared memory around every operation, so that
 * whatever instant the SIGKILL lands on, the parent knows what may show.
 */
static int producer_main(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	struct prod_state *ps = &fx.sh->prod[id];
	char *err = fx.sh->prod_error[id];
	static uint8_t buf[BATCH][PAYLOAD_MAX];
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS;
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	uint64_t seq = 0;
	int rc;

	rc = ring_topic_open(fx.dir, fx.name, &t);
	if (rc < 0)
		return fail_into(err, "producer %u: open: %s", id, ring_strerror(rc));
	rc = ring_producer_open(t, &p);
	if (rc < 0)
		return fail_into(err, "producer %u: producer_open: %s", id, ring_strerror(rc));
	ps->started = 1;
	while (!fx.sh->stop_producing && seq + BATCH < MAX_PER_ID) {
		unsigned op = (unsigned)(seq % 8), n = 1;

		if (t_now_ns() >= deadline)
			return fail_into(err, "producer %u: never told to stop", id);
		if (op == 3) {
			struct ring_message m[BATCH];

			n = BATCH;
			for (unsigned i = 0; i < n; i++) {
				size_t len = t_payload_len(id, seq + i, T_PAYLOAD_MIN, PAYLOAD_MAX);

				t_payload_fill(buf[i], len, id, seq + i);
				m[i] = (struct ring_message){ .data = buf[i], .len = (uint32_t)len,
							      .type = id + 1 };
			}
			ps->attempted = seq + n;
			rc = ring_producer_publish_batch(p, m, n, 100 * NS_PER_MS, NULL);
			if (rc == (int)n)
				rc = 0;
		} else if (op >= 6) {
			size_t len = t_payload_len(id, seq, T_PAYLOAD_MIN, PAYLOAD_MAX);
			struct ring_claim c;

			ps->attempted = seq + 1;
			rc = ring_producer_reserve(p, id + 1, len, 100 * NS_PER_MS, &c);
			if (rc == 0) {
				t_payload_fill(c.payload, len, id, seq);
				rc = ring_producer_commit(p, &c);
			}
		} else {
			size_t len = t_payload_len(id, seq, T_PAYLOAD_MIN, PAYLOAD_MAX);

			t_payload_fill(buf[0], len, id, seq);
			ps->attempted = seq + 1;
			rc = ring_producer_publish(p, id + 1, buf[0], len, 100 * NS_PER_MS, NULL);
		}
		/* Full ring or a refused commit: same records again. */
		if (rc == -ETIMEDOUT || rc == -EAGAIN)
			continue;
		if (rc < 0)
			return fail_into(err, "producer %u: seq %" PRIu64 ": %s", id, seq,
					 ring_strerror(rc));
		seq += n;
		ps->acked = seq;
	}
	ps->attempted = seq;
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return 0;
}

static int reader_main(void *arg)
{
	unsigned g = (unsigned)(uintptr_t)arg;
	bool gating = g < GATING;
	const struct ring_reader_config cfg = {
		.start = RING_START_POSITION,
		.flags = gating ? RING_READER_GATING : 0,
	};
	struct t_tracker *tr = &fx.sh->readers[g];
	char *err = fx.sh->reader_error[g];
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS + 20 * NS_PER_S;
	struct ring_topic *t = NULL;
	struct ring_reader *r = NULL;
	int rc;

	t_tracker_init(tr, NIDS);
	rc = ring_topic_open(fx.dir, fx.name, &t);
	if (rc < 0)
		return fail_into(err, "reader %u: open: %s", g, ring_strerror(rc));
	rc = ring_reader_open(t, &cfg, &r);
	if (rc < 0)
		return fail_into(err, "reader %u: reader_open: %s", g, ring_strerror(rc));
	atomic_fetch_add(&fx.sh->readers_open, 1);
	for (;;) {
		struct ring_topic_stat st;
		struct ring_record rec;
		uint64_t before = ring_reader_position(r);

		if (t_now_ns() >= deadline)
			return fail_into(err, "reader %u: stuck at %" PRIu64 " after %" PRIu64
					 " records", g, before, tr->delivered);
		rc = ring_reader_next(r, &rec, 100 * NS_PER_MS);
		if (rc == 0) {
			if (t_tracker_record(tr, &rec) < 0)
				return fail_into(err, "reader %u: %s", g, tr->first_error);
			/* The ordinary reader dawdles now and then, to be lapped. */
			if (!gating && tr->delivered % 1024 == 0)
				t_sleep_ns(3 * NS_PER_MS);
			continue;
		}
		if (rc == -EOVERFLOW && !gating && ring_reader_position(r) > before) {
			t_tracker_overflow(tr);
			continue;
		}
		if (rc != -ETIMEDOUT)
			return fail_into(err, "reader %u: read at %" PRIu64 ": %s", g, before,
					 ring_strerror(rc));
		if (fx.sh->producers_done && ring_topic_stat(t, &st) == 0 &&
		    ring_reader_position(r) == st.tail_pos)
			break;
	}
	r = ring_reader_close(r);
	t = ring_topic_close(t);
	return 0;
}

/* ---- the fixture ---- */

static int setup_topic(void **state)
{
	const struct ring_topic_config *cfg = *state;

	memset(&fx, 0, sizeof(fx));
	fx.rng = t_seed();
	if (t_tmpdir_create(fx.dir, sizeof(fx.dir)) < 0)
		return -1;
	t_unique_name(fx.name, sizeof(fx.name), "killrnd");
	if (ring_topic_create(fx.dir, fx.name, cfg, &fx.topic) < 0)
		return -1;
	fx.sh = t_shared_alloc(sizeof(*fx.sh));
	if (!fx.sh)
		return -1;
	*state = &fx;
	return 0;
}

static int teardown_topic(void **state)
{
	struct fixture *f = *state;
	int rc;

	for (unsigned i = 0; i < NREADERS; i++)
		if (f->reader_pid[i] > 0)
			(void)t_wait_child(f->reader_pid[i], 0, NULL);
	rc = t_topic_teardown(f->prod_pid, NIDS, f->sh, sizeof(*f->sh), &f->topic, f->dir,
			      f->name);
	memset(f, 0, sizeof(*f));
	return rc;
}

static void reap_ok(pid_t *pid, uint64_t timeout_ns, const char *err)
{
	char msg[512];

	if (t_reap_ok(pid, timeout_ns, err, msg, sizeof(msg)) < 0)
		fail_msg("%s", msg);
}

static struct ring_topic_stat stat_of(struct ring_topic *t)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(t, &st), 0);
	return st;
}

/* Every reader has opened at position 0: only then may producers start,
 * or an ordinary reader opening late could find position 0 reused. */
static bool readers_open(void *arg)
{
	const struct shared *sh = arg;

	return atomic_load(&sh->readers_open) == NREADERS;
}

static bool no_producers(void *arg)
{
	(void)ring_topic_maintain(arg);
	return stat_of(arg).producers == 0;
}

static bool started(void *arg)
{
	return ((struct prod_state *)arg)->started != 0;
}

/* ---- random kills ---- */

static void test_kill_random_producers_lose_nothing_acknowledged(void **state)
{
	struct fixture *f = *state;
	unsigned lane_id[LANES], next_id = LANES, killed = 0;
	bool was_killed[NIDS] = { false };
	struct ring_topic_stat st;
	uint64_t t0 = t_now_ns();

	for (unsigned g = 0; g < NREADERS; g++) {
		f->reader_pid[g] = t_fork_child(reader_main, (void *)(uintptr_t)g);
		assert_true(f->reader_pid[g] > 0);
	}
	assert_true(t_wait_until(readers_open, f->sh, 10 * NS_PER_S, NS_PER_MS));
	assert_int_equal(stat_of(f->topic).gating_readers, GATING);
	for (unsigned l = 0; l < LANES; l++) {
		lane_id[l] = l;
		f->prod_pid[l] = t_fork_child(producer_main, (void *)(uintptr_t)l);
		assert_true(f->prod_pid[l] > 0);
	}

	for (unsigned round = 0; round < ROUNDS; round++) {
		unsigned lane = (unsigned)t_rand_range(&f->rng, 0, LANES - 1);
		unsigned id = lane_id[lane];
		int status = 0;

		/* A random instant: anywhere from before the producer has
		 * registered to deep in its stream. */
		t_sleep_ns(t_rand_range(&f->rng, 0, 40 * 1000) * 1000);
		assert_int_equal(kill(f->prod_pid[id], SIGKILL), 0);
		assert_rc(t_wait_child(f->prod_pid[id], 10 * NS_PER_S, &status), 0);
		f->prod_pid[id] = 0;
		if (!WIFSIGNALED(status))
			fail_msg("producer %u exited before its kill: %s", id,
				 f->sh->prod_error[id]);
		was_killed[id] = true;
		killed++;

		lane_id[lane] = next_id++;
		f->prod_pid[lane_id[lane]] = t_fork_child(producer_main,
							  (void *)(uintptr_t)lane_id[lane]);
		assert_true(f->prod_pid[lane_id[lane]] > 0);
	}
	/* Let the last incarnations register and write a little. */
	for (unsigned l = 0; l < LANES; l++)
		assert_true(t_wait_until(started, &f->sh->prod[lane_id[l]], 10 * NS_PER_S,
					 NS_PER_MS));
	t_sleep_ns(50 * NS_PER_MS);
	f->sh->stop_producing = 1;
	for (unsigned l = 0; l < LANES; l++)
		reap_ok(&f->prod_pid[lane_id[l]], CHILD_DEADLINE_NS,
			f->sh->prod_error[lane_id[l]]);
	f->sh->producers_done = 1;
	for (unsigned g = 0; g < NREADERS; g++)
		reap_ok(&f->reader_pid[g], CHILD_DEADLINE_NS + 30 * NS_PER_S,
			f->sh->reader_error[g]);

	uint64_t expected_min = 0, expected_max = 0;

	for (unsigned id = 0; id < NIDS; id++) {
		const struct prod_state *ps = &f->sh->prod[id];

		expected_min += ps->acked;
		expected_max += ps->attempted;
		if (!was_killed[id])
			assert_int_equal(ps->acked, ps->attempted);
	}
	for (unsigned g = 0; g < NREADERS; g++) {
		const struct t_tracker *tr = &f->sh->readers[g];

		if (tr->errors)
			fail_msg("reader %u: %s", g, tr->first_error);
		for (unsigned id = 0; id < NIDS; id++) {
			const struct prod_state *ps = &f->sh->prod[id];
			uint64_t got = tr->next_seq[id];

			if (g >= GATING) {
				/* Overtaken now and then: never more than was
				 * attempted, and in order (the tracker). */
				assert_true(got <= ps->attempted);
				continue;
			}
			/* Whole or absent: the acked records, or those plus
			 * the operation the kill landed in. */
			if (got != ps->acked && got != ps->attempted)
				fail_msg("reader %u: producer %u delivered %" PRIu64
					 ", acked %" PRIu64 ", attempted %" PRIu64,
					 g, id, got, (uint64_t)ps->acked,
					 (uint64_t)ps->attempted);
		}
		if (g < GATING) {
			assert_int_equal(tr->overflows, 0);
			assert_true(tr->delivered >= expected_min);
			assert_true(tr->delivered <= expected_max);
		}
	}
	st = stat_of(f->topic);
	assert_int_equal(st.frontier_pos, st.tail_pos);
	assert_int_equal(st.stuck_pid, 0);
	assert_true(t_wait_until(no_producers, f->topic, 5 * NS_PER_S, 10 * NS_PER_MS));
	printf("# %u kills, %" PRIu64 " records acked, %" PRIu64 " claims repaired, %" PRIu64
	       " bytes, ordinary reader lapped %" PRIu64 " times, %.2f s\n",
	       killed, expected_min, st.repaired_claims, st.tail_pos,
	       f->sh->readers[GATING].overflows, (double)(t_now_ns() - t0) / 1e9);
}

/* ---- the late commit ---- */

#define LATE_TIMEOUT_NS (200 * NS_PER_MS)
#define LATE_SLEEP_NS (1500 * NS_PER_MS)	/* well past the claim timeout */
#define LATE_ID 0u
#define BEHIND_ID 1u
#define BEHIND_COUNT 1500u			/* several laps of the ring */

static int late_main(void *arg)
{
	char *err = fx.sh->prod_error[LATE_ID];
	size_t len = t_payload_len(LATE_ID, 0, T_PAYLOAD_MIN, PAYLOAD_MAX);
	uint8_t buf[PAYLOAD_MAX];
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	struct ring_claim c;
	int rc;

	(void)arg;
	if (ring_topic_open(fx.dir, fx.name, &t) < 0 || ring_producer_open(t, &p) < 0)
		return fail_into(err, "late: open failed");
	rc = ring_producer_reserve(p, LATE_ID + 1, len, 0, &c);
	if (rc < 0)
		return fail_into(err, "late: reserve: %s", ring_strerror(rc));
	t_payload_fill(c.payload, len, LATE_ID, 0);
	fx.sh->claim_pos = c.position;
	fx.sh->claimed = 1;
	/* Alive but slow: a page fault storm, a debugger, a long GC. */
	t_sleep_ns(LATE_SLEEP_NS);
	fx.sh->late_commit_rc = ring_producer_commit(p, &c);
	/* The record was never published: publish it again. */
	t_payload_fill(buf, len, LATE_ID, 0);
	fx.sh->republish_rc = ring_producer_publish(p, LATE_ID + 1, buf, len,
						    10 * NS_PER_S, NULL);
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return 0;
}

static int behind_main(void *arg)
{
	char *err = fx.sh->prod_error[BEHIND_ID];
	uint8_t buf[PAYLOAD_MAX];
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS;
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;

	(void)arg;
	if (ring_topic_open(fx.dir, fx.name, &t) < 0 || ring_producer_open(t, &p) < 0)
		return fail_into(err, "behind: open failed");
	for (uint64_t seq = 0; seq < BEHIND_COUNT;) {
		size_t len = t_payload_len(BEHIND_ID, seq, T_PAYLOAD_MIN, PAYLOAD_MAX);
		int rc;

		t_payload_fill(buf, len, BEHIND_ID, seq);
		rc = ring_producer_publish(p, BEHIND_ID + 1, buf, len, 100 * NS_PER_MS, NULL);
		if (rc == -ETIMEDOUT && t_now_ns() < deadline)
			continue;
		if (rc < 0)
			return fail_into(err, "behind: seq %" PRIu64 ": %s", seq,
					 ring_strerror(rc));
		fx.sh->prod[BEHIND_ID].acked = ++seq;
	}
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return 0;
}

static bool claimed(void *arg)
{
	return ((struct shared *)arg)->claimed != 0;
}

static void test_kill_random_late_commit_across_processes(void **state)
{
	struct fixture *f = *state;
	const struct ring_reader_config cfg = {
		.start = RING_START_POSITION,
		.flags = RING_READER_GATING,
	};
	struct t_tracker tr;
	struct ring_reader *r = NULL;
	struct ring_topic_stat st;
	uint64_t deadline;

	t_tracker_init(&tr, 2);
	assert_rc(ring_reader_open(f->topic, &cfg, &r), 0);
	f->prod_pid[LATE_ID] = t_fork_child(late_main, NULL);
	assert_true(f->prod_pid[LATE_ID] > 0);
	assert_true(t_wait_until(claimed, f->sh, 10 * NS_PER_S, NS_PER_MS));
	f->prod_pid[BEHIND_ID] = t_fork_child(behind_main, NULL);
	assert_true(f->prod_pid[BEHIND_ID] > 0);

	/* This process's reader is what repairs: it waits on the stuck claim
	 * and runs maintenance in its sleep slices. */
	deadline = t_now_ns() + CHILD_DEADLINE_NS;
	while (!t_tracker_complete(&tr, (const uint64_t[]){ 1, BEHIND_COUNT }, 0)) {
		struct ring_record rec;
		int rc = ring_reader_next(r, &rec, 100 * NS_PER_MS);

		if (t_now_ns() >= deadline)
			fail_msg("only %" PRIu64 " records in time", tr.delivered);
		if (rc == -ETIMEDOUT)
			continue;
		assert_rc(rc, 0);
		if (t_tracker_record(&tr, &rec) < 0)
			fail_msg("%s", tr.first_error);
		assert_int_not_equal(rec.position, f->sh->claim_pos);
	}
	reap_ok(&f->prod_pid[LATE_ID], 30 * NS_PER_S, f->sh->prod_error[LATE_ID]);
	reap_ok(&f->prod_pid[BEHIND_ID], 30 * NS_PER_S, f->sh->prod_error[BEHIND_ID]);
	r = ring_reader_close(r);

	assert_rc(f->sh->late_commit_rc, -ETIMEDOUT);
	assert_rc(f->sh->republish_rc, 0);
	assert_int_equal(tr.errors, 0);
	assert_int_equal(tr.delivered, 1 + BEHIND_COUNT);
	st = stat_of(f->topic);
	assert_int_equal(st.repaired_claims, 1);
	assert_int_equal(st.frontier_pos, st.tail_pos);
	printf("# stale claim at %" PRIu64 " refused; %" PRIu64 " bytes published (%.1f laps)\n",
	       (uint64_t)f->sh->claim_pos, st.tail_pos, (double)st.tail_pos / (double)CAP);
}

int main(void)
{
	static const struct ring_topic_config random_cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_EPHEMERAL,
	};
	static const struct ring_topic_config late_cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_EPHEMERAL,
		.claim_timeout_ns = LATE_TIMEOUT_NS,
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate_setup_teardown(
			test_kill_random_producers_lose_nothing_acknowledged, setup_topic,
			teardown_topic, (void *)&random_cfg),
		cmocka_unit_test_prestate_setup_teardown(
			test_kill_random_late_commit_across_processes, setup_topic,
			teardown_topic, (void *)&late_cfg),
	};

	return cmocka_run_group_tests_name("kill_random", tests, NULL, NULL);
}
