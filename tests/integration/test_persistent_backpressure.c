/* SPDX-License-Identifier: MIT */
/*
 * Description: a persistent topic is gated by `persisted`, the position
 * ringd publishes once bytes are in segment files; with no ringd running
 * the ring simply fills and back-pressures. Real processes on a named
 * persistent topic in a temporary data directory: producers, a gating and
 * an ordinary reader are forked children; the parent either stays out of
 * the way (no ringd) or plays ringd's part in shared memory, publishing
 * `persisted` with ringi_publish_persisted() over the committed records it
 * has walked and checked (as ringd does before it writes them).
 * Positive space: with no ringd a producer fills exactly one ring's worth
 * and then gets -EAGAIN (timeout 0) or -ETIMEDOUT (a timeout); raising
 * `persisted` releases a producer blocked in publish, and with it moving
 * on a producer writes several laps; every record arrives at the gating
 * reader and passes the persist step exactly once, in per-producer order,
 * with an intact CRC; the limit never passes `persisted` + capacity.
 * Negative space: readers that have read everything, gating or not, and
 * their maintenance calls, free no space while `persisted` stays put (the
 * tail, the limit and `oldest` do not move); nothing is lost, reordered or
 * torn.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "daemon_side.h"
#include "t.h"

#define CAP (UINT64_C(64) << 10)
#define NS_PER_S UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)
#define PAYLOAD_MAX 300u
#define MAX_SPAN (RING_RECORD_HEADER_BYTES + PAYLOAD_MAX + 8)
#define CHILD_DEADLINE_NS (40 * NS_PER_S) /* inside the 120 s test timeout */
#define LAPS 4u				  /* what the flowing producer writes */

enum { C_PRODUCER, C_PRODUCER2, C_GATING, C_ORDINARY, NCHILD };

/* Written by the children, read by the parent (and `stop` the other way). */
struct shared {
	_Atomic uint32_t stop;		    /* readers: finish once at `expect` */
	_Atomic uint64_t expect;	    /* records the readers must end with */
	_Atomic uint64_t acked;		    /* producer: records published */
	_Atomic uint64_t produced_bytes;    /* producer: the tail after its last */
	_Atomic int32_t rc_nowait;	    /* a publish with timeout 0 when full */
	_Atomic int32_t rc_timeout;	    /* a publish with a timeout when full */
	_Atomic uint32_t readers_open;	    /* readers that have opened */
	_Atomic uint32_t readers_caught_up; /* readers at the tail, maintained */
	struct t_tracker gating, ordinary;
	char error[NCHILD][256];
};

struct fixture {
	char dir[128];
	char name[64];
	struct ring_topic *topic;
	struct shared *sh;
	pid_t pid[NCHILD];
};

static struct fixture fx;

/* A child's failure, into its error slot (t_child_fail()). */
#define child_fail(index, ...) \
	t_child_fail(fx.sh->error[index], sizeof(fx.sh->error[index]), __VA_ARGS__)

/* ---- children ---- */

/*
 * Producer 0: publish with timeout 0 until the ring refuses, then once
 * more with a timeout; both refusals are reported. Publishes nothing more.
 */
static int filler_main(void *arg)
{
	static uint8_t buf[PAYLOAD_MAX];
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	size_t len = T_PAYLOAD_MIN;
	uint64_t seq;
	int rc = 0;

	(void)arg;
	if (ring_topic_open(fx.dir, fx.name, &t) < 0 || ring_producer_open(t, &p) < 0)
		return child_fail(C_PRODUCER, "filler: open failed");
	for (seq = 0; seq < CAP; seq++) {
		len = t_payload_len(0, seq, T_PAYLOAD_MIN, PAYLOAD_MAX);
		t_payload_fill(buf, len, 0, seq);
		rc = ring_producer_publish(p, 1, buf, len, 0, NULL);
		if (rc < 0)
			break;
		fx.sh->acked = seq + 1;
	}
	fx.sh->rc_nowait = rc;
	fx.sh->produced_bytes = ring_load_acquire(&t->ctl->tail.pos);
	fx.sh->rc_timeout = ring_producer_publish(p, 1, buf, len, 50 * NS_PER_MS, NULL);
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return 0;
}

/* A second producer on the full ring, once the readers have read it all. */
static int refiller_main(void *arg)
{
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	uint8_t buf[PAYLOAD_MAX];

	(void)arg;
	if (ring_topic_open(fx.dir, fx.name, &t) < 0 || ring_producer_open(t, &p) < 0)
		return child_fail(C_PRODUCER2, "refiller: open failed");
	/* The largest record: it cannot fit where the filler's last did not. */
	t_payload_fill(buf, sizeof(buf), 1, 0);
	fx.sh->rc_nowait = ring_producer_publish(p, 2, buf, sizeof(buf), 0, NULL);
	fx.sh->rc_timeout = ring_producer_publish(p, 2, buf, sizeof(buf), 100 * NS_PER_MS, NULL);
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return 0;
}

/* Producer 0, for LAPS rings' worth, blocking (bounded) on a full ring. */
static int flowing_main(void *arg)
{
	static uint8_t buf[PAYLOAD_MAX];
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS;
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	uint64_t seq = 0;

	(void)arg;
	if (ring_topic_open(fx.dir, fx.name, &t) < 0 || ring_producer_open(t, &p) < 0)
		return child_fail(C_PRODUCER, "producer: open failed");
	while (ring_load_acquire(&t->ctl->tail.pos) < LAPS * CAP) {
		size_t len = t_payload_len(0, seq, T_PAYLOAD_MIN, PAYLOAD_MAX);
		int rc;

		t_payload_fill(buf, len, 0, seq);
		rc = ring_producer_publish(p, 1, buf, len, NS_PER_S, NULL);
		if (rc == -ETIMEDOUT && t_now_ns() < deadline)
			continue;
		if (rc < 0)
			return child_fail(C_PRODUCER, "producer: seq %" PRIu64 ": %s", seq,
					  ring_strerror(rc));
		fx.sh->acked = ++seq;
	}
	fx.sh->produced_bytes = ring_load_acquire(&t->ctl->tail.pos);
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return 0;
}

/*
 * Has the reader all it will get? Told to stop, and it holds `expect`
 * records, or, an ordinary reader that was overtaken (a slow machine),
 * it has read on to the tail: what it missed it was told about.
 */
static bool reader_done(const struct t_tracker *tr, struct ring_reader *r,
			struct ring_topic *t)
{
	if (!fx.sh->stop)
		return false;
	if (tr->delivered >= fx.sh->expect)
		return true;
	return tr->overflows && ring_reader_position(r) == ring_load_acquire(&t->ctl->tail.pos);
}

/*
 * A reader from position 0 (gating or ordinary) that reads until it is
 * done (reader_done()); on the way, each time it has read all there is,
 * it runs maintenance itself, which must free nothing.
 */
static int reader_main(void *arg)
{
	unsigned index = (unsigned)(uintptr_t)arg;
	bool gating = index == C_GATING;
	const struct ring_reader_config cfg = {
		.start = RING_START_POSITION,
		.flags = gating ? RING_READER_GATING : 0,
	};
	struct t_tracker *tr = gating ? &fx.sh->gating : &fx.sh->ordinary;
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS;
	struct ring_topic *t = NULL;
	struct ring_reader *r = NULL;
	int rc;

	t_tracker_init(tr, 2);
	if (ring_topic_open(fx.dir, fx.name, &t) < 0)
		return child_fail(index, "reader: open failed");
	rc = ring_reader_open(t, &cfg, &r);
	if (rc < 0)
		return child_fail(index, "reader: reader_open: %s", ring_strerror(rc));
	fx.sh->readers_open++;
	while (!reader_done(tr, r, t)) {
		struct ring_record rec;

		if (t_now_ns() >= deadline)
			return child_fail(index, "reader: %" PRIu64 " records in time",
					  tr->delivered);
		rc = ring_reader_next(r, &rec, 20 * NS_PER_MS);
		if (rc == 0) {
			if (t_tracker_record(tr, &rec) < 0)
				return child_fail(index, "reader: %s", tr->first_error);
			continue;
		}
		if (rc == -EOVERFLOW && !gating) {
			t_tracker_overflow(tr);
			continue;
		}
		if (rc != -ETIMEDOUT)
			return child_fail(index, "reader: %s", ring_strerror(rc));
		/* Caught up: try to make space the only way a reader could. */
		rc = ring_topic_maintain(t);
		if (rc < 0 && rc != -EBUSY)
			return child_fail(index, "reader: maintain: %s", ring_strerror(rc));
		if (ring_reader_position(r) == ring_load_acquire(&t->ctl->tail.pos))
			fx.sh->readers_caught_up |= 1u << index;
	}
	r = ring_reader_close(r);
	t = ring_topic_close(t);
	return 0;
}

/* ---- the fixture ---- */

static int setup_topic(void **state)
{
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP, .max_record_bytes = PAYLOAD_MAX,
		/* Persistent: flags 0. */
	};

	memset(&fx, 0, sizeof(fx));
	if (t_tmpdir_create(fx.dir, sizeof(fx.dir)) < 0)
		return -1;
	t_unique_name(fx.name, sizeof(fx.name), "persist");
	if (ring_topic_create(fx.dir, fx.name, &cfg, &fx.topic) < 0)
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

	rc = t_topic_teardown(f->pid, NCHILD, f->sh, sizeof(*f->sh), &f->topic, f->dir, f->name);
	memset(f, 0, sizeof(*f));
	return rc;
}

static void fork_child(struct fixture *f, unsigned i, int (*fn)(void *))
{
	f->pid[i] = t_fork_child(fn, (void *)(uintptr_t)i);
	assert_true(f->pid[i] > 0);
}

static void reap(struct fixture *f, unsigned i)
{
	char msg[512];

	if (t_reap_ok(&f->pid[i], CHILD_DEADLINE_NS + 10 * NS_PER_S, f->sh->error[i], msg, sizeof(msg)) < 0)
		fail_msg("child %u: %s", i, msg);
}

static struct ring_topic_stat stat_of(struct ring_topic *t)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(t, &st), 0);
	return st;
}

/* Both readers are at position 0 before anything is published. */
static bool readers_open(void *arg)
{
	const struct shared *sh = arg;

	return sh->readers_open == 2;
}

static bool readers_caught_up(void *arg)
{
	const struct shared *sh = arg;

	return sh->readers_caught_up == (1u << C_GATING | 1u << C_ORDINARY);
}

static void stop_readers(struct fixture *f, uint64_t expect)
{
	f->sh->expect = expect;
	f->sh->stop = 1;
	reap(f, C_GATING);
	reap(f, C_ORDINARY);
}

/* ---- no ringd: the ring fills and stays full ---- */

static void test_persistent_without_ringd_fills_and_readers_free_nothing(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat full, after;
	uint64_t n;

	fork_child(f, C_GATING, reader_main);
	fork_child(f, C_ORDINARY, reader_main);
	assert_true(t_wait_until(readers_open, f->sh, 10 * NS_PER_S, NS_PER_MS));
	assert_int_equal(stat_of(f->topic).gating_readers, 1);
	fork_child(f, C_PRODUCER, filler_main);
	reap(f, C_PRODUCER);
	assert_rc(f->sh->rc_nowait, -EAGAIN);
	assert_rc(f->sh->rc_timeout, -ETIMEDOUT);
	n = f->sh->acked;
	full = stat_of(f->topic);
	/* One ring's worth, up to the last record that fitted. */
	assert_int_equal(full.tail_pos, f->sh->produced_bytes);
	assert_true(full.tail_pos <= CAP && full.tail_pos + MAX_SPAN > CAP);
	assert_int_equal(full.persisted_pos, 0);
	assert_int_equal(full.limit_pos, CAP);

	/* Both readers read it all and run maintenance: nothing is freed. */
	assert_true(t_wait_until(readers_caught_up, f->sh, 20 * NS_PER_S, NS_PER_MS));
	fork_child(f, C_PRODUCER2, refiller_main);
	reap(f, C_PRODUCER2);
	assert_rc(f->sh->rc_nowait, -EAGAIN);
	assert_rc(f->sh->rc_timeout, -ETIMEDOUT);
	for (int rc; (rc = ring_topic_maintain(f->topic)) != 0;)
		assert_rc(rc, -EBUSY); /* a reader holds the lease: again */
	after = stat_of(f->topic);
	assert_int_equal(after.tail_pos, full.tail_pos);
	assert_int_equal(after.limit_pos, CAP);
	assert_int_equal(after.oldest_pos, 0);
	assert_int_equal(after.persisted_pos, 0);
	assert_int_equal(after.frontier_pos, after.tail_pos);

	stop_readers(f, n);
	assert_int_equal(f->sh->gating.errors, 0);
	assert_int_equal(f->sh->ordinary.errors, 0);
	assert_int_equal(f->sh->gating.next_seq[0], n);
	assert_int_equal(f->sh->ordinary.next_seq[0], n);
	assert_int_equal(f->sh->ordinary.overflows, 0);
	printf("# full after %" PRIu64 " records, %" PRIu64 " bytes; stayed full\n", n,
	       full.tail_pos);
}

/* ---- `persisted` moving on: producers go on, nothing lost ---- */

/* What ringd checks before it writes records out: each one is whole. */
static void persist_walk(struct ring_topic *t, uint64_t from, uint64_t to, struct t_tracker *tr)
{
	while (from < to) {
		const struct ring_record_header *h = ringi_header_at(t, from);
		uint64_t w = ring_load_acquire((ring_atomic_u64 *)&h->word);
		uint64_t span = ring_word_span(w, t->max_record, t->max_span);
		struct ring_record rec = {
			.payload = h + 1,
			.len = ring_word_len(w),
			.type = h->type,
			.position = from,
			.next_position = from + span,
		};

		assert_true(span > 0);
		if (ring_word_state(w) == RING_STATE_COMMITTED && t_tracker_record(tr, &rec) < 0)
			fail_msg("persisting: %s", tr->first_error);
		from += span;
	}
}

static bool producer_blocked(void *arg)
{
	struct fixture *f = arg;
	struct ring_topic_stat st = stat_of(f->topic);

	return st.tail_pos + MAX_SPAN > CAP && st.space_waiters > 0;
}

static void test_persistent_raising_persisted_lets_producers_on_with_nothing_lost(void **state)
{
	struct fixture *f = *state;
	struct ring_topic *t = f->topic;
	struct t_tracker persisted_tr;
	struct ring_topic_stat st;
	uint64_t persisted = 0, steps = 0, deadline;

	t_tracker_init(&persisted_tr, 2);
	fork_child(f, C_GATING, reader_main);
	fork_child(f, C_ORDINARY, reader_main);
	assert_true(t_wait_until(readers_open, f->sh, 10 * NS_PER_S, NS_PER_MS));
	assert_int_equal(stat_of(t).gating_readers, 1);
	fork_child(f, C_PRODUCER, flowing_main);

	/* First the producer fills the ring and sleeps in publish. */
	assert_true(t_wait_until(producer_blocked, f, 20 * NS_PER_S, NS_PER_MS));
	st = stat_of(t);
	assert_int_equal(st.limit_pos, CAP);
	assert_int_equal(st.persisted_pos, 0);

	/*
	 * Then ringd's part: walk the committed records from `persisted`, a
	 * few KiB at a time, check them and publish the new `persisted`.
	 * The blocked producer wakes up on its own (its wait runs the
	 * maintenance that raises the limit).
	 */
	deadline = t_now_ns() + CHILD_DEADLINE_NS;
	for (;;) {
		int rc;
		uint64_t end = ringi_committed_end(t, persisted, 8192, &rc);

		assert_rc(rc, 0);
		if (f->sh->error[C_PRODUCER][0])
			fail_msg("%s", f->sh->error[C_PRODUCER]);
		assert_true(t_now_ns() < deadline);
		persist_walk(t, persisted, end, &persisted_tr);
		if (end > persisted) {
			ringi_publish_persisted(t, end);
			persisted = end;
			steps++;
		}
		st = stat_of(t);
		/* The gate never passes what is persisted. */
		assert_true(st.limit_pos <= st.persisted_pos + CAP);
		assert_true(st.oldest_pos <= st.persisted_pos);
		if (f->sh->produced_bytes && persisted == f->sh->produced_bytes)
			break;
		t_sleep_ns(NS_PER_MS);
	}
	reap(f, C_PRODUCER);
	stop_readers(f, f->sh->acked);

	st = stat_of(t);
	assert_true(st.tail_pos >= LAPS * CAP);
	assert_int_equal(st.persisted_pos, st.tail_pos);
	assert_int_equal(persisted_tr.errors, 0);
	assert_int_equal(persisted_tr.next_seq[0], f->sh->acked);
	assert_int_equal(persisted_tr.delivered, f->sh->acked);
	assert_int_equal(f->sh->gating.errors, 0);
	assert_int_equal(f->sh->gating.delivered, f->sh->acked);
	assert_int_equal(f->sh->gating.next_seq[0], f->sh->acked);
	assert_int_equal(f->sh->ordinary.errors, 0);
	printf("# %" PRIu64 " records, %" PRIu64 " bytes (%.1f laps) through %" PRIu64
	       " persist steps; ordinary reader %" PRIu64 " records, %" PRIu64 " overflows\n",
	       f->sh->acked, st.tail_pos, (double)st.tail_pos / (double)CAP, steps,
	       f->sh->ordinary.delivered, f->sh->ordinary.overflows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_persistent_without_ringd_fills_and_readers_free_nothing, setup_topic,
			teardown_topic),
		cmocka_unit_test_setup_teardown(
			test_persistent_raising_persisted_lets_producers_on_with_nothing_lost,
			setup_topic, teardown_topic),
	};

	return cmocka_run_group_tests_name("persistent_backpressure", tests, NULL, NULL);
}
