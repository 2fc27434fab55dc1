/* SPDX-License-Identifier: MIT */
/*
 * Description: a producer process stopped with SIGSTOP while it holds a
 * claim (reserved, half written, not committed), on a named ephemeral
 * topic (the library's own housekeeping repairs) and on a persistent one
 * (a child stands in for ringd: it advances `persisted` and runs
 * ring_topic_maintain()). The claim timeout is the default, 1 s.
 * Positive space: while the owner is stopped the claim is reported stuck
 * (ring_topic_stat() names its pid) and left alone until the claim
 * timeout has passed; then it is repaired and the reader moves on to the
 * records another producer committed behind it. The repaired claim's
 * bytes are not reused while its owner lives: the other producer runs on
 * for up to one lap, then feels back-pressure, and stat still names the
 * stopped pid as what the ring waits for. After SIGCONT the owner writes
 * the rest of its payload into the claim, its commit returns -ETIMEDOUT,
 * the ring flows again for several laps and its republished record
 * arrives.
 * Negative space: nothing behind the stuck claim is delivered before the
 * timeout; the stale claim is never delivered; the late payload write and
 * the late commit corrupt no record (every record keeps its CRC, no
 * reader error) and publish nothing.
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
#include "daemon_side.h"
#include "t.h"

#define CAP (UINT64_C(64) << 10)
#define NS_PER_S UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)
#define CLAIM_TIMEOUT_NS RING_DEFAULT_CLAIM_TIMEOUT_NS
#define CHILD_DEADLINE_NS (60 * NS_PER_S)
#define PAYLOAD_MAX 240u
#define STOPPED_ID 0u
#define OTHER_ID 1u
#define OTHER_COUNT 2000u		/* several laps of the ring */

enum { C_STOPPED, C_OTHER, C_DAEMON, NCHILD };

struct shared {
	_Atomic uint32_t claimed;	/* the stopped-to-be producer holds its claim */
	_Atomic uint32_t go;		/* commit now (set while it is stopped) */
	_Atomic uint32_t daemon_stop;
	_Atomic uint64_t claim_pos;
	_Atomic uint64_t claim_ns;	/* CLOCK_MONOTONIC right after the reserve */
	_Atomic int32_t commit_rc;
	_Atomic int32_t republish_rc;
	_Atomic uint64_t other_acked;
	char error[NCHILD][256];
};

struct fixture {
	bool persistent;
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

static int stopped_main(void *arg)
{
	size_t len = t_payload_len(STOPPED_ID, 0, T_PAYLOAD_MIN, PAYLOAD_MAX);
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS;
	uint8_t buf[PAYLOAD_MAX];
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	struct ring_claim c;
	int rc;

	(void)arg;
	if (ring_topic_open(fx.dir, fx.name, &t) < 0 || ring_producer_open(t, &p) < 0)
		return child_fail(C_STOPPED, "open failed");
	rc = ring_producer_reserve(p, STOPPED_ID + 1, len, 0, &c);
	if (rc < 0)
		return child_fail(C_STOPPED, "reserve: %s", ring_strerror(rc));
	fx.sh->claim_ns = t_now_ns();
	/* Half of the payload before the stop, the rest after SIGCONT: the
	 * late half is written into a claim that has long been repaired. */
	t_payload_fill(buf, len, STOPPED_ID, 0);
	memcpy(c.payload, buf, len / 2);
	fx.sh->claim_pos = c.position;
	fx.sh->claimed = 1;
	/* The parent stops us here, then sets `go`. */
	while (!fx.sh->go) {
		if (t_now_ns() >= deadline)
			return child_fail(C_STOPPED, "never let go");
		t_sleep_ns(NS_PER_MS);
	}
	memcpy((uint8_t *)c.payload + len / 2, buf + len / 2, len - len / 2);
	fx.sh->commit_rc = ring_producer_commit(p, &c);
	t_payload_fill(buf, len, STOPPED_ID, 0);
	fx.sh->republish_rc = ring_producer_publish(p, STOPPED_ID + 1, buf, len, 10 * NS_PER_S,
						    NULL);
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return 0;
}

static int other_main(void *arg)
{
	uint64_t deadline = t_now_ns() + CHILD_DEADLINE_NS;
	uint8_t buf[PAYLOAD_MAX];
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;

	(void)arg;
	if (ring_topic_open(fx.dir, fx.name, &t) < 0 || ring_producer_open(t, &p) < 0)
		return child_fail(C_OTHER, "open failed");
	for (uint64_t seq = 0; seq < OTHER_COUNT;) {
		size_t len = t_payload_len(OTHER_ID, seq, T_PAYLOAD_MIN, PAYLOAD_MAX);
		int rc;

		t_payload_fill(buf, len, OTHER_ID, seq);
		/* Blocks on the full ring while the stuck claim holds it. */
		rc = ring_producer_publish(p, OTHER_ID + 1, buf, len, 100 * NS_PER_MS, NULL);
		if (rc == -ETIMEDOUT && t_now_ns() < deadline)
			continue;
		if (rc < 0)
			return child_fail(C_OTHER, "seq %" PRIu64 ": %s", seq, ring_strerror(rc));
		fx.sh->other_acked = ++seq;
	}
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	return 0;
}

/* What ringd does to the ring, minus the files (persistent topic only). */
static int daemon_main(void *arg)
{
	uint64_t deadline = t_now_ns() + 2 * CHILD_DEADLINE_NS;
	uint64_t me = ringi_owner_self_process();
	struct ring_topic *t = NULL;
	int rc;

	(void)arg;
	if (ring_topic_open(fx.dir, fx.name, &t) < 0)
		return child_fail(C_DAEMON, "open failed");
	rc = ringi_daemon_attach(t, me);
	if (rc < 0)
		return child_fail(C_DAEMON, "attach: %s", ring_strerror(rc));
	while (!fx.sh->daemon_stop) {
		uint64_t persisted = ring_load_acquire(&t->ctl->persisted.pos);
		uint64_t end = ringi_committed_end(t, persisted, CAP, &rc);

		if (t_now_ns() >= deadline)
			return child_fail(C_DAEMON, "never stopped");
		if (rc < 0)
			return child_fail(C_DAEMON, "corrupt header at %" PRIu64, end);
		ringi_daemon_beat(t);
		if (end > persisted)
			ringi_publish_persisted(t, end);
		rc = ring_topic_maintain(t);
		if (rc < 0 && rc != -EBUSY)
			return child_fail(C_DAEMON, "maintain: %s", ring_strerror(rc));
		t_sleep_ns(NS_PER_MS);
	}
	ringi_daemon_detach(t, me);
	t = ring_topic_close(t);
	return 0;
}

/* ---- the fixture ---- */

static int setup_topic(void **state)
{
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.flags = *state ? 0 : RING_TOPIC_EPHEMERAL,
	};

	memset(&fx, 0, sizeof(fx));
	fx.persistent = *state != NULL;
	if (t_tmpdir_create(fx.dir, sizeof(fx.dir)) < 0)
		return -1;
	t_unique_name(fx.name, sizeof(fx.name), "stopped");
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

static void reap(struct fixture *f, unsigned i, uint64_t timeout_ns)
{
	char msg[512];

	if (t_reap_ok(&f->pid[i], timeout_ns, f->sh->error[i], msg, sizeof(msg)) < 0)
		fail_msg("child %u: %s", i, msg);
}

/* Wait (bounded) until @pid reports that it stopped. (There is no such
 * wait for SIGCONT: a continued child may finish and exit before the
 * parent asks, and the records it then sends say that it runs.) */
static void wait_stopped(pid_t pid)
{
	uint64_t deadline = t_now_ns() + 10 * NS_PER_S;
	int status = 0;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG | WUNTRACED);

		if (r == pid) {
			if (WIFSTOPPED(status))
				return;
			fail_msg("child changed state unexpectedly: 0x%x", (unsigned)status);
		}
		if (r < 0 && errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
		if (t_now_ns() >= deadline)
			fail_msg("child not stopped in time");
		t_sleep_ns(NS_PER_MS);
	}
}

static bool claimed(void *arg)
{
	return ((struct shared *)arg)->claimed != 0;
}

static struct ring_topic_stat stat_of(struct ring_topic *t)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(t, &st), 0);
	return st;
}

/* The reader has everything there is, and the other producer cannot
 * claim its next record without reusing the stopped producer's claim. */
struct held_ctx {
	struct fixture *f;
	struct ring_reader *r;
	struct t_tracker *tr;
};

static bool read_until_held(void *arg)
{
	struct held_ctx *h = arg;
	struct ring_topic_stat st = stat_of(h->f->topic);
	struct ring_record rec;
	int rc;

	while ((rc = ring_reader_next(h->r, &rec, 0)) == 0)
		if (t_tracker_record(h->tr, &rec) < 0)
			fail_msg("%s", h->tr->first_error);
	assert_rc(rc, -EAGAIN);
	return ring_reader_position(h->r) == st.tail_pos &&
	       st.tail_pos + ring_align8(RING_RECORD_HEADER_BYTES + PAYLOAD_MAX) >
		       h->f->sh->claim_pos + CAP;
}

static void test_stopped_producer_claim_repaired_after_timeout(void **state)
{
	struct fixture *f = *state;
	const struct ring_reader_config cfg = {
		.start = RING_START_POSITION,
		.flags = RING_READER_GATING,
	};
	struct ring_reader *r = NULL;
	struct ring_topic_stat st;
	struct t_tracker tr;
	struct held_ctx held = { .f = f, .tr = &tr };
	uint64_t claim_ns, first_ns = 0, deadline, held_tail, acked_while_stopped;
	bool saw_stuck = false;

	t_tracker_init(&tr, 2);
	assert_rc(ring_reader_open(f->topic, &cfg, &r), 0);
	held.r = r;
	if (f->persistent) {
		f->pid[C_DAEMON] = t_fork_child(daemon_main, NULL);
		assert_true(f->pid[C_DAEMON] > 0);
	}
	f->pid[C_STOPPED] = t_fork_child(stopped_main, NULL);
	assert_true(f->pid[C_STOPPED] > 0);
	assert_true(t_wait_until(claimed, f->sh, 10 * NS_PER_S, NS_PER_MS));
	assert_int_equal(kill(f->pid[C_STOPPED], SIGSTOP), 0);
	wait_stopped(f->pid[C_STOPPED]);
	f->sh->go = 1;		/* seen only after SIGCONT */
	claim_ns = f->sh->claim_ns;
	f->pid[C_OTHER] = t_fork_child(other_main, NULL);
	assert_true(f->pid[C_OTHER] > 0);

	/*
	 * Wait for the first record behind the stuck claim. Until it comes
	 * the claim must be reported stuck, by pid.
	 */
	deadline = t_now_ns() + CHILD_DEADLINE_NS;
	while (!first_ns) {
		struct ring_record rec;
		int rc = ring_reader_next(r, &rec, 20 * NS_PER_MS);

		if (t_now_ns() >= deadline)
			fail_msg("no record behind the stuck claim in time");
		if (rc == -ETIMEDOUT) {
			st = stat_of(f->topic);
			if (st.stuck_pid == f->pid[C_STOPPED] && st.stuck_pos == f->sh->claim_pos) {
				saw_stuck = true;
				assert_int_equal(st.repaired_claims, 0);
			}
			continue;
		}
		assert_rc(rc, 0);
		first_ns = t_now_ns();
		if (t_tracker_record(&tr, &rec) < 0)
			fail_msg("%s", tr.first_error);
	}
	/* Not before the timeout (which runs from when maintenance first
	 * saw the stall, itself after the claim); a heavily loaded machine
	 * can only make it later. */
	if (first_ns - claim_ns < CLAIM_TIMEOUT_NS)
		fail_msg("repaired %.1f ms after the claim, before the %.0f ms timeout",
			 (double)(first_ns - claim_ns) / 1e6, (double)CLAIM_TIMEOUT_NS / 1e6);
	assert_true(saw_stuck);

	/* The ring runs on up to one lap past the claim, then holds: the
	 * stopped owner may still write into it. */
	assert_true(t_wait_until(read_until_held, &held, 30 * NS_PER_S, NS_PER_MS));
	held_tail = stat_of(f->topic).tail_pos;
	t_sleep_ns(100 * NS_PER_MS);
	assert_true(read_until_held(&held));
	st = stat_of(f->topic);
	acked_while_stopped = f->sh->other_acked;
	assert_int_equal(st.tail_pos, held_tail);
	assert_true(st.tail_pos <= f->sh->claim_pos + CAP);
	assert_true(acked_while_stopped < OTHER_COUNT);
	assert_int_equal(st.repaired_claims, 1);
	assert_int_equal(st.stuck_pid, f->pid[C_STOPPED]);
	assert_int_equal(st.stuck_pos, f->sh->claim_pos);
	assert_int_equal(tr.next_seq[STOPPED_ID], 0);
	assert_int_equal(tr.next_seq[OTHER_ID], acked_while_stopped);

	/* Continued: the late half of the payload, the refused commit, the
	 * republished record; the other producer finishes. */
	assert_int_equal(kill(f->pid[C_STOPPED], SIGCONT), 0);
	deadline = t_now_ns() + CHILD_DEADLINE_NS;
	while (tr.next_seq[OTHER_ID] < OTHER_COUNT || tr.next_seq[STOPPED_ID] == 0) {
		struct ring_record rec;
		int rc = ring_reader_next(r, &rec, 20 * NS_PER_MS);

		if (t_now_ns() >= deadline)
			fail_msg("only %" PRIu64 " records in time", tr.delivered);
		if (rc == -ETIMEDOUT)
			continue;
		assert_rc(rc, 0);
		if (t_tracker_record(&tr, &rec) < 0)
			fail_msg("%s", tr.first_error);
	}
	reap(f, C_STOPPED, 30 * NS_PER_S);
	reap(f, C_OTHER, 30 * NS_PER_S);
	assert_rc(f->sh->commit_rc, -ETIMEDOUT);
	assert_rc(f->sh->republish_rc, 0);
	{
		struct ring_record rec;

		/* Nothing more: the late commit made nothing visible. */
		assert_rc(ring_reader_next(r, &rec, 50 * NS_PER_MS), -ETIMEDOUT);
	}
	r = ring_reader_close(r);
	if (f->persistent) {
		f->sh->daemon_stop = 1;
		reap(f, C_DAEMON, 30 * NS_PER_S);
	}
	assert_int_equal(tr.errors, 0);
	assert_int_equal(tr.delivered, OTHER_COUNT + 1);
	st = stat_of(f->topic);
	assert_int_equal(st.frontier_pos, st.tail_pos);
	assert_int_equal(st.repaired_claims, 1);
	assert_int_equal(st.stuck_pid, 0);
	/* Once let go, the claim's bytes were reused, several times. */
	assert_true(st.tail_pos - f->sh->claim_pos >= 2 * CAP);
	printf("# first record behind the claim after %.1f ms (timeout %.0f ms); held at %"
	       PRIu64 " bytes past the claim (%" PRIu64 " records) while stopped\n",
	       (double)(first_ns - claim_ns) / 1e6, (double)CLAIM_TIMEOUT_NS / 1e6,
	       held_tail - f->sh->claim_pos, acked_while_stopped);
}

int main(void)
{
	static const int persistent = 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate_setup_teardown(
			test_stopped_producer_claim_repaired_after_timeout, setup_topic,
			teardown_topic, NULL),
		cmocka_unit_test_prestate_setup_teardown(
			test_stopped_producer_claim_repaired_after_timeout, setup_topic,
			teardown_topic, (void *)&persistent),
	};

	return cmocka_run_group_tests_name("stopped_producer", tests, NULL, NULL);
}
