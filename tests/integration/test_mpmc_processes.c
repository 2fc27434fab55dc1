/* SPDX-License-Identifier: MIT */
/*
 * Description: many producers and readers in separate processes on one
 * named ephemeral topic (real fork, real POSIX shared memory, a temporary
 * data directory). Four producer processes publish self-checking records
 * (producer id, sequence number, CRC-32), one at a time and in batches;
 * three gating reader processes (one polling, two reading one by one) and
 * one ordinary reader process read them.
 * Positive space: every gating reader receives every record of every
 * producer, per producer in order, with no gap, no duplicate and an intact
 * CRC; the ordinary reader, which dawdles on purpose so that producers lap
 * it, only ever receives intact records in per-producer order, and every
 * -EOVERFLOW it gets moves it forward; afterwards the ring is quiet
 * (frontier at the tail, nothing stuck, nothing repaired).
 * Negative space: no reader ever sees a torn, corrupt, duplicated or
 * reordered record; no producer waits out its bounded retries.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "t.h"

#define CAP (UINT64_C(128) << 10)
#define PRODUCERS 4u
#define GATING 3u
#define PER_PRODUCER 20000u
#define BATCH 4u
#define PAYLOAD_MAX 300u
#define NS_PER_S UINT64_C(1000000000)
#define CHILD_DEADLINE_NS (60 * NS_PER_S)	/* inside the 120 s test timeout */
#define NCHILD (PRODUCERS + GATING + 1)

/* Written by the children, read by the parent after they exit. */
struct shared {
	_Atomic uint32_t producers_done;	/* set by the parent */
	struct t_tracker gating[GATING];
	struct t_tracker ordinary;
	uint64_t ordinary_final_pos;
	char error[NCHILD][256];		/* one line per child, "" if fine */
};

struct fixture {
	char dir[128];
	char name[64];
	struct ring_topic *topic;
	struct shared *sh;
	pid_t pid[NCHILD];
	unsigned index;			/* the child being forked */
};

static struct fixture fx;

/* A child's failure, into its error slot (t_child_fail()). */
#define child_fail(index, ...) \
	t_child_fail(fx.sh->error[index], sizeof(fx.sh->error[index]), __VA_ARGS__)

/* ---- children ---- */

static int producer_main(void *arg)
{
	unsigned index = (unsigned)(uintptr_t)arg;
	uint32_t id = index;
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	static uint8_t buf[BATCH][PAYLOAD_MAX];
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS;
	int rc;

	rc = ring_topic_open(fx.dir, fx.name, &t);
	if (rc < 0)
		return child_fail(index, "producer %u: open: %s", id, ring_strerror(rc));
	rc = ring_producer_open(t, &p);
	if (rc < 0)
		return child_fail(index, "producer %u: producer_open: %s", id, ring_strerror(rc));
	for (uint64_t seq = 0; seq < PER_PRODUCER;) {
		struct ring_message m[BATCH];
		unsigned n = (seq % 16 == 0 && seq + BATCH <= PER_PRODUCER) ? BATCH : 1;

		for (unsigned i = 0; i < n; i++) {
			size_t len = t_payload_len(id, seq + i, T_PAYLOAD_MIN, PAYLOAD_MAX);

			t_payload_fill(buf[i], len, id, seq + i);
			m[i] = (struct ring_message){ .data = buf[i], .len = (uint32_t)len,
						      .type = id + 1 };
		}
		/* A full ring is normal (the gating readers are slower than
		 * four producers on two cores): wait in bounded slices. */
		if (n == 1)
			rc = ring_producer_publish(p, id + 1, buf[0], m[0].len, NS_PER_S / 10,
						   NULL);
		else
			rc = ring_producer_publish_batch(p, m, n, NS_PER_S / 10, NULL);
		if (rc == -ETIMEDOUT && t_now_ns() < deadline)
			continue;
		if (rc < 0)
			return child_fail(index, "producer %u: publish seq %" PRIu64 ": %s", id,
					  seq, ring_strerror(rc));
		seq += n;
	}
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return 0;
}

struct poll_ctx {
	struct t_tracker *tr;
	int bad;
};

static int poll_record(const struct ring_record *rec, void *arg)
{
	struct poll_ctx *c = arg;

	if (t_tracker_record(c->tr, rec) < 0)
		c->bad = 1;
	return c->bad;
}

static int gating_main(void *arg)
{
	unsigned index = (unsigned)(uintptr_t)arg, g = index - PRODUCERS;
	const struct ring_reader_config cfg = {
		.start = RING_START_POSITION,
		.flags = RING_READER_GATING,
		.position = 0,
	};
	struct t_tracker *tr = &fx.sh->gating[g];
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS;
	struct ring_topic *t = NULL;
	struct ring_reader *r = NULL;
	int rc;

	t_tracker_init(tr, PRODUCERS);
	rc = ring_topic_open(fx.dir, fx.name, &t);
	if (rc < 0)
		return child_fail(index, "gating %u: open: %s", g, ring_strerror(rc));
	rc = ring_reader_open(t, &cfg, &r);
	if (rc < 0)
		return child_fail(index, "gating %u: reader_open: %s", g, ring_strerror(rc));
	while (!t_tracker_complete(tr, NULL, PER_PRODUCER)) {
		struct ring_record rec;

		if (t_now_ns() >= deadline)
			return child_fail(index, "gating %u: only %" PRIu64 " records in time", g,
					  tr->delivered);
		if (g == 1) {
			struct poll_ctx c = { .tr = tr };

			rc = ring_reader_poll(r, poll_record, &c, 64, NS_PER_S / 10);
			if (c.bad)
				return child_fail(index, "gating %u: %s", g, tr->first_error);
		} else {
			rc = ring_reader_next(r, &rec, NS_PER_S / 10);
			if (rc == 0 && t_tracker_record(tr, &rec) < 0)
				return child_fail(index, "gating %u: %s", g, tr->first_error);
		}
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return child_fail(index, "gating %u: read: %s", g, ring_strerror(rc));
	}
	r = ring_reader_close(r);
	t = ring_topic_close(t);
	return 0;
}

static int ordinary_main(void *arg)
{
	unsigned index = (unsigned)(uintptr_t)arg;
	struct t_tracker *tr = &fx.sh->ordinary;
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS;
	struct ring_topic *t = NULL;
	struct ring_reader *r = NULL;
	int rc;

	t_tracker_init(tr, PRODUCERS);
	rc = ring_topic_open(fx.dir, fx.name, &t);
	if (rc < 0)
		return child_fail(index, "ordinary: open: %s", ring_strerror(rc));
	rc = ring_reader_open(t, NULL, &r);
	if (rc < 0)
		return child_fail(index, "ordinary: reader_open: %s", ring_strerror(rc));
	for (;;) {
		struct ring_topic_stat st;
		struct ring_record rec;
		uint64_t before = ring_reader_position(r);

		if (t_now_ns() >= deadline) {
			/* Where it is stuck, and on what: the header word. */
			uint64_t pos = ring_reader_position(r);

			(void)ring_topic_stat(t, &st);
			return child_fail(index,
					  "ordinary: not done in time (%" PRIu64 " read): at %" PRIu64
					  ", word %#" PRIx64 "; tail %" PRIu64 " oldest %" PRIu64
					  " frontier %" PRIu64 " limit %" PRIu64,
					  tr->delivered, pos, ringi_seqlock_word(t, pos), st.tail_pos,
					  st.oldest_pos, st.frontier_pos, st.limit_pos);
		}
		rc = ring_reader_next(r, &rec, NS_PER_S / 20);
		if (rc == 0) {
			if (t_tracker_record(tr, &rec) < 0)
				return child_fail(index, "ordinary: %s", tr->first_error);
			/* Dawdle now and then, so that producers lap us. */
			if (tr->delivered % 2048 == 0)
				t_sleep_ns(5 * 1000 * 1000);
			continue;
		}
		if (rc == -EOVERFLOW) {
			if (ring_reader_position(r) <= before)
				return child_fail(index,
						  "ordinary: -EOVERFLOW left it at %" PRIu64
						  " (was %" PRIu64 ")",
						  ring_reader_position(r), before);
			t_tracker_overflow(tr);
			continue;
		}
		if (rc != -ETIMEDOUT)
			return child_fail(index, "ordinary: read: %s", ring_strerror(rc));
		if (!fx.sh->producers_done)
			continue;
		if (ring_topic_stat(t, &st) == 0 && ring_reader_position(r) == st.tail_pos)
			break;
	}
	fx.sh->ordinary_final_pos = ring_reader_position(r);
	r = ring_reader_close(r);
	t = ring_topic_close(t);
	return 0;
}

/* ---- the fixture ---- */

static int setup_processes(void **state)
{
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_EPHEMERAL,
	};

	memset(&fx, 0, sizeof(fx));
	if (t_tmpdir_create(fx.dir, sizeof(fx.dir)) < 0)
		return -1;
	t_unique_name(fx.name, sizeof(fx.name), "mpmc");
	if (ring_topic_create(fx.dir, fx.name, &cfg, &fx.topic) < 0)
		return -1;
	fx.sh = t_shared_alloc(sizeof(*fx.sh));
	if (!fx.sh)
		return -1;
	*state = &fx;
	return 0;
}

static int teardown_processes(void **state)
{
	struct fixture *f = *state;

	return t_topic_teardown(f->pid, NCHILD, f->sh, sizeof(*f->sh), &f->topic, f->dir, f->name);
}

static bool gating_registered(void *arg)
{
	struct ring_topic_stat st;

	return ring_topic_stat(arg, &st) == 0 && st.gating_readers == GATING;
}

static void reap(struct fixture *f, unsigned i, uint64_t timeout_ns)
{
	char msg[512];

	if (t_reap_ok(&f->pid[i], timeout_ns, f->sh->error[i], msg, sizeof(msg)) < 0)
		fail_msg("child %u: %s", i, msg);
}

static void test_mpmc_processes_deliver_every_record_intact_in_order(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;
	uint64_t t0 = t_now_ns();

	for (unsigned g = 0; g < GATING; g++) {
		f->pid[PRODUCERS + g] = t_fork_child(gating_main,
						     (void *)(uintptr_t)(PRODUCERS + g));
		assert_true(f->pid[PRODUCERS + g] > 0);
	}
	f->pid[PRODUCERS + GATING] = t_fork_child(ordinary_main,
						  (void *)(uintptr_t)(PRODUCERS + GATING));
	assert_true(f->pid[PRODUCERS + GATING] > 0);
	/* Producers start only once every gating reader holds position 0. */
	assert_true(t_wait_until(gating_registered, f->topic, 10 * NS_PER_S, 1000000));
	for (unsigned i = 0; i < PRODUCERS; i++) {
		f->pid[i] = t_fork_child(producer_main, (void *)(uintptr_t)i);
		assert_true(f->pid[i] > 0);
	}

	for (unsigned i = 0; i < PRODUCERS; i++)
		reap(f, i, CHILD_DEADLINE_NS + 5 * NS_PER_S);
	f->sh->producers_done = 1;
	for (unsigned i = PRODUCERS; i < NCHILD; i++)
		reap(f, i, CHILD_DEADLINE_NS + 5 * NS_PER_S);

	for (unsigned g = 0; g < GATING; g++) {
		const struct t_tracker *tr = &f->sh->gating[g];

		assert_int_equal(tr->errors, 0);
		assert_int_equal(tr->delivered, (uint64_t)PRODUCERS * PER_PRODUCER);
		assert_true(t_tracker_complete(tr, NULL, PER_PRODUCER));
	}
	const struct t_tracker *o = &f->sh->ordinary;

	assert_int_equal(o->errors, 0);
	assert_true(o->delivered + o->skipped <= (uint64_t)PRODUCERS * PER_PRODUCER);
	if (o->overflows == 0)
		assert_int_equal(o->delivered, (uint64_t)PRODUCERS * PER_PRODUCER);

	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_int_equal(st.frontier_pos, st.tail_pos);
	assert_int_equal(f->sh->ordinary_final_pos, st.tail_pos);
	assert_int_equal(st.repaired_claims, 0);
	assert_int_equal(st.gating_readers, 0);
	assert_int_equal(st.stuck_pid, 0);
	printf("# %u records, %" PRIu64 " bytes in %.2f s; ordinary reader: %" PRIu64
	       " delivered, %" PRIu64 " overflows, %" PRIu64 " lost to them\n",
	       PRODUCERS * PER_PRODUCER, st.tail_pos, (double)(t_now_ns() - t0) / 1e9,
	       o->delivered, o->overflows, o->skipped);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mpmc_processes_deliver_every_record_intact_in_order,
						setup_processes, teardown_processes),
	};

	return cmocka_run_group_tests_name("mpmc_processes", tests, NULL, NULL);
}
