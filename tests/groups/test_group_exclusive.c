/* SPDX-License-Identifier: MIT */
/*
 * Description: exclusive consumer groups (Kafka partition semantics) on a
 * named ephemeral 64 KiB topic, with members in forked processes that are
 * really SIGKILLed.
 *
 * Positive space: the second opener of a group gets -EBUSY while the first
 * lives, in this process and in another one; once the first is killed (a
 * zombie not yet reaped is dead too) the next opener takes over at the
 * committed position and reads on in order; auto-commit commits what was
 * delivered when the next record is asked for after the interval, and at
 * close; a manual-commit member commits only what it says, also from
 * inside its poll callback; an operator's
 * reset is refused under a live member, forced, or applied once it left;
 * the group's figures show the committed position, lag in bytes and
 * records, records in flight (delivered, not committed), deliveries, and
 * the member's pid and heartbeat.
 * Negative space: a member that lost its group (judged dead, taken over)
 * gets -EBUSY from next and commit; commit of an unaligned position, on a
 * shared group, and ack/nack on an exclusive one give -EINVAL; a position
 * producers overtook gives -ERANGE once, then the reset policy's record.
 */
#include <errno.h>
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

#include "libring.h"
#include "t.h"
#include "g.h"
#include "group.h"

#define CAP (UINT64_C(64) << 10)
#define MAX_SEQ 4096u
#define LEN 64u
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)
#define CHILD_WAIT_NS (20 * NS_PER_S)

/* Written by the child member, read by the parent. */
struct child_shared {
	_Atomic uint32_t ready;	 /* the child holds the group */
	_Atomic int32_t open_rc; /* what its open returned */
	_Atomic uint64_t read;	 /* records it read */
};

struct fixture {
	char name[RING_TOPIC_NAME_MAX + 1];
	struct g_topics topics;
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct ring_consumer *c[2];
	struct child_shared *sh;
	pid_t child;
	uint64_t seq;
	uint64_t pos[MAX_SEQ];
};

static struct fixture fx;

static int setup(void **state)
{
	struct fixture *f = &fx;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_EPHEMERAL,
	};

	memset(f, 0, sizeof(*f));
	f->sh = t_shared_alloc(sizeof(*f->sh));
	if (!f->sh ||
	    g_topic_setup(&f->topics, NULL, "excl", &cfg, f->name, &f->topic, &f->prod) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	g_kill_children(&f->child, 1);
	for (unsigned i = 0; i < 2; i++)
		f->c[i] = ring_consumer_close(f->c[i]);
	g_topic_teardown(&f->topics, &f->topic, &f->prod);
	t_shared_free(f->sh, sizeof(*f->sh));
	return 0;
}

static void publish(struct fixture *f, uint64_t n)
{
	assert_true(f->seq + n <= MAX_SEQ);
	assert_rc(g_publish(f->prod, 0, f->seq, n, LEN, LEN, 0, f->pos), 0);
	f->seq += n;
}

static void expect_seq(struct fixture *f, struct ring_consumer *c, uint64_t seq)
{
	struct ring_record rec;
	uint64_t got;

	assert_rc(ring_consumer_next(c, &rec, 0), 0);
	assert_rc(g_check(&rec, 0, &got), 0);
	if (got != seq || rec.position != f->pos[seq])
		fail_msg("delivered seq %llu at %llu, expected seq %llu at %llu",
			 (unsigned long long)got, (unsigned long long)rec.position,
			 (unsigned long long)seq, (unsigned long long)f->pos[seq]);
}

static bool child_ready(void *arg)
{
	const struct child_shared *sh = arg;

	return atomic_load(&sh->ready) != 0;
}

/* ---- two openers, with a real kill -9 ---- */

struct holder_args {
	const char *topic;
	struct child_shared *sh;
	uint64_t commit_pos;
};

/* Open the group in another process, read 10 records, commit, and hold
 * the group until killed. */
static int holder_main(void *arg)
{
	const struct holder_args *a = arg;
	const struct ring_consumer_config manual = { .flags = RING_CONSUMER_MANUAL_COMMIT };
	struct ring_topic *t;
	struct ring_consumer *c;
	struct ring_record rec;
	int rc;

	if (ring_topic_open(NULL, a->topic, &t) < 0)
		return 2;
	rc = ring_consumer_open(t, "g", &manual, &c);
	atomic_store(&a->sh->open_rc, rc);
	if (rc < 0) {
		atomic_store(&a->sh->ready, 1);
		return 3;
	}
	for (unsigned i = 0; i < 10; i++) {
		if (ring_consumer_next(c, &rec, NS_PER_S) < 0)
			return 4;
		atomic_fetch_add(&a->sh->read, 1);
	}
	if (ring_consumer_commit(c, a->commit_pos) < 0)
		return 5;
	atomic_store(&a->sh->ready, 1);
	for (;;)
		pause();
}

/* Try to open the group once in another process: exit 0 iff -EBUSY. */
static int second_opener_main(void *arg)
{
	const struct holder_args *a = arg;
	struct ring_topic *t;
	struct ring_consumer *c = NULL;

	if (ring_topic_open(NULL, a->topic, &t) < 0)
		return 2;
	return ring_consumer_open(t, "g", NULL, &c) == -EBUSY && c == NULL ? 0 : 1;
}

static void test_exclusive_second_opener_ebusy_until_first_is_killed(void **state)
{
	struct fixture *f = *state;
	struct ring_consumer *sentinel = (struct ring_consumer *)(uintptr_t)0x5a5a, *c = sentinel;
	struct holder_args a;
	struct ring_group_stat s;
	int status;
	pid_t other;

	publish(f, 40);
	a = (struct holder_args){ .topic = f->name, .sh = f->sh, .commit_pos = f->pos[7] };
	f->child = t_fork_child(holder_main, &a);
	assert_true(f->child > 0);
	assert_true(t_wait_until(child_ready, f->sh, CHILD_WAIT_NS, NS_PER_MS));
	assert_rc(atomic_load(&f->sh->open_rc), 0);

	/* While it lives: -EBUSY here and in a third process. */
	assert_rc(ring_consumer_open(f->topic, "g", NULL, &c), -EBUSY);
	assert_ptr_equal(c, sentinel);
	other = t_fork_child(second_opener_main, &a);
	assert_true(other > 0);
	assert_rc(t_wait_child(other, CHILD_WAIT_NS, &status), 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_rc(g_group_stat(f->topic, "g", &s), 1);
	assert_int_equal(s.member[0].pid, f->child);
	assert_int_equal(s.member[0].alive, 1);
	assert_int_equal(s.members, 1);
	assert_int_equal(s.committed_pos, f->pos[7]);

	/* kill -9, not yet reaped: a zombie never commits, so it is dead. */
	assert_int_equal(kill(f->child, SIGKILL), 0);
	for (unsigned i = 0; i < 1000; i++) {
		assert_rc(g_group_stat(f->topic, "g", &s), 1);
		if (!s.member[0].alive)
			break;
		t_sleep_ns(NS_PER_MS);
	}
	assert_int_equal(s.member[0].alive, 0);
	assert_int_equal(s.members, 0);
	assert_rc(ring_consumer_open(f->topic, "g", NULL, &f->c[0]), 0);
	assert_rc(t_wait_child(f->child, CHILD_WAIT_NS, &status), 0);
	f->child = 0;
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* Taken over at the committed position, not where it had read. */
	assert_int_equal(ring_consumer_position(f->c[0]), f->pos[7]);
	for (uint64_t s2 = 7; s2 < f->seq; s2++)
		expect_seq(f, f->c[0], s2);
	assert_rc(g_group_stat(f->topic, "g", &s), 1);
	assert_int_equal(s.member[0].pid, getpid());
	assert_int_equal(s.member[0].alive, 1);
	/* And now we hold it. */
	assert_rc(ring_consumer_open(f->topic, "g", NULL, &c), -EBUSY);
}

/* In another process: take the group "lost" over as if its owner had
 * been judged dead (clear the owner word, then open), commit, hold it. */
static int usurper_main(void *arg)
{
	const struct holder_args *a = arg;
	const struct ring_consumer_config manual = { .flags = RING_CONSUMER_MANUAL_COMMIT };
	struct ring_group_slot *g;
	struct ring_topic *t;
	struct ring_consumer *c;

	if (ring_topic_open(NULL, a->topic, &t) < 0 ||
	    ringi_group_find(t, "lost", false, 0, 0, &g) < 0)
		return 2;
	ring_store_release(&g->owner, 0);
	if (ring_consumer_open(t, "lost", &manual, &c) < 0 ||
	    ring_consumer_commit(c, a->commit_pos) < 0)
		return 3;
	atomic_store(&a->sh->ready, 1);
	for (;;)
		pause();
}

static void test_exclusive_lost_group_is_ebusy_on_next_and_commit(void **state)
{
	struct fixture *f = *state;
	struct holder_args a;
	struct ring_record rec;

	publish(f, 5);
	assert_rc(ring_consumer_open(f->topic, "lost", NULL, &f->c[0]), 0);
	expect_seq(f, f->c[0], 0);
	/* What a takeover looks like to a member that was judged dead while
	 * it was only stopped: another process owns the group now. */
	a = (struct holder_args){ .topic = f->name, .sh = f->sh, .commit_pos = f->pos[3] };
	f->child = t_fork_child(usurper_main, &a);
	assert_true(f->child > 0);
	assert_true(t_wait_until(child_ready, f->sh, CHILD_WAIT_NS, NS_PER_MS));
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EBUSY);
	assert_rc(ring_consumer_commit(f->c[0], f->pos[1]), -EBUSY);
	/* Its close does not commit over the new owner's position, nor free
	 * the group under it. */
	f->c[0] = ring_consumer_close(f->c[0]);
	assert_int_equal(g_group_committed(f->topic, "lost"), f->pos[3]);
	assert_rc(ring_consumer_open(f->topic, "lost", NULL, &f->c[1]), -EBUSY);
}

static void test_exclusive_wrong_calls_are_einval(void **state)
{
	struct fixture *f = *state;

	publish(f, 2);
	assert_rc(ring_consumer_open(f->topic, "ex", NULL, &f->c[0]), 0);
	assert_rc(ring_consumer_open(f->topic, "sh",
				     &(struct ring_consumer_config){ .mode = RING_GROUP_SHARED },
				     &f->c[1]),
		  0);
	assert_rc(ring_consumer_commit(f->c[0], 12), -EINVAL);
	assert_rc(ring_consumer_commit(f->c[1], 16), -EINVAL);
	assert_rc(ring_consumer_commit(NULL, 16), -EINVAL);
	assert_rc(ring_consumer_ack(f->c[0], 0), -EINVAL);
	assert_rc(ring_consumer_nack(f->c[0], 0, 0), -EINVAL);
	assert_rc(ring_consumer_next(NULL, &(struct ring_record){ 0 }, 0), -EINVAL);
	assert_rc(ring_consumer_next(f->c[0], NULL, 0), -EINVAL);
	assert_rc(ring_consumer_poll(f->c[0], NULL, NULL, 1, 0), -EINVAL);
	assert_int_equal(ring_consumer_position(NULL), 0);
	assert_null(ring_consumer_close(NULL));
	/* The failures committed nothing. */
	assert_int_equal(g_group_committed(f->topic, "ex"), 0);
}

/* ---- commits ---- */

static void test_exclusive_auto_commit_after_interval_and_at_close(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config cfg = { .auto_commit_interval_ns = 5 * NS_PER_MS };
	struct ring_record rec;

	publish(f, 20);
	assert_rc(ring_consumer_open(f->topic, "auto", &cfg, &f->c[0]), 0);
	for (uint64_t s = 0; s < 5; s++)
		expect_seq(f, f->c[0], s);
	/* Within the interval nothing is committed... */
	assert_int_equal(g_group_committed(f->topic, "auto"), 0);
	t_sleep_ns(10 * NS_PER_MS);
	/* ...after it, asking for the next record commits the five before. */
	expect_seq(f, f->c[0], 5);
	assert_int_equal(g_group_committed(f->topic, "auto"), f->pos[5]);
	for (uint64_t s = 6; s < 9; s++)
		expect_seq(f, f->c[0], s);
	/* Close commits everything delivered. */
	f->c[0] = ring_consumer_close(f->c[0]);
	assert_int_equal(g_group_committed(f->topic, "auto"), f->pos[9]);
	assert_rc(ring_consumer_open(f->topic, "auto", &cfg, &f->c[0]), 0);
	expect_seq(f, f->c[0], 9);
	/* An empty poll commits too, so a drained consumer catches up. */
	while (ring_consumer_next(f->c[0], &rec, 0) == 0)
		;
	t_sleep_ns(10 * NS_PER_MS);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EAGAIN);
	assert_int_equal(g_group_committed(f->topic, "auto"), g_tail(f->topic));
}

static void test_exclusive_manual_commit_commits_only_what_it_says(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config manual = {
		.flags = RING_CONSUMER_MANUAL_COMMIT,
		.auto_commit_interval_ns = 1,
	};

	publish(f, 10);
	assert_rc(ring_consumer_open(f->topic, "man", &manual, &f->c[0]), 0);
	for (uint64_t s = 0; s < 6; s++)
		expect_seq(f, f->c[0], s);
	assert_int_equal(g_group_committed(f->topic, "man"), 0);
	assert_rc(ring_consumer_commit(f->c[0], f->pos[3]), 0);
	f->c[0] = ring_consumer_close(f->c[0]);
	assert_int_equal(g_group_committed(f->topic, "man"), f->pos[3]);
	assert_rc(ring_consumer_open(f->topic, "man", &manual, &f->c[0]), 0);
	expect_seq(f, f->c[0], 3);
	/* Committing backwards is allowed (redo from there after a restart). */
	assert_rc(ring_consumer_commit(f->c[0], f->pos[1]), 0);
	assert_int_equal(g_group_committed(f->topic, "man"), f->pos[1]);
}

static int count_fn(const struct ring_record *rec, void *arg)
{
	(*(unsigned *)arg)++;
	(void)rec;
	return 0;
}

static void test_exclusive_poll_delivers_a_batch_in_order(void **state)
{
	struct fixture *f = *state;
	unsigned n = 0;

	publish(f, 30);
	assert_rc(ring_consumer_open(f->topic, "poll", NULL, &f->c[0]), 0);
	assert_rc(ring_consumer_poll(f->c[0], count_fn, &n, 16, 0), 16);
	assert_int_equal(n, 16);
	assert_int_equal(ring_consumer_position(f->c[0]), f->pos[16]);
	assert_rc(ring_consumer_poll(f->c[0], count_fn, &n, 64, 0), 14);
	assert_rc(ring_consumer_poll(f->c[0], count_fn, &n, 64, 0), -EAGAIN);
	assert_rc(ring_consumer_poll(f->c[0], count_fn, &n, 64, 10 * NS_PER_MS), -ETIMEDOUT);
}

/* Commits from inside the poll callback: every third record, and stops
 * after the twentieth. */
struct commit_in_poll {
	struct ring_consumer *c;
	unsigned n;
	uint64_t last_commit;
	int rc;
};

static int commit_fn(const struct ring_record *rec, void *arg)
{
	struct commit_in_poll *p = arg;

	if (++p->n % 3 == 0) {
		p->rc = ring_consumer_commit(p->c, rec->next_position);
		p->last_commit = rec->next_position;
	}
	return p->rc < 0 || p->n == 20;
}

static void test_exclusive_commit_from_the_poll_callback(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config manual = { .flags = RING_CONSUMER_MANUAL_COMMIT };
	struct commit_in_poll p = { 0 };

	publish(f, 30);
	assert_rc(ring_consumer_open(f->topic, "cb", &manual, &f->c[0]), 0);
	p.c = f->c[0];
	assert_rc(ring_consumer_poll(f->c[0], commit_fn, &p, 64, 0), 20);
	assert_rc(p.rc, 0);
	/* The 18th record's commit is the last: the group resumes after it. */
	assert_int_equal(p.last_commit, f->pos[18]);
	assert_int_equal(g_group_committed(f->topic, "cb"), f->pos[18]);
	assert_int_equal(ring_consumer_position(f->c[0]), f->pos[20]);
	expect_seq(f, f->c[0], 20);
	f->c[0] = ring_consumer_close(f->c[0]);
	assert_int_equal(g_group_committed(f->topic, "cb"), f->pos[18]);
	assert_rc(ring_consumer_open(f->topic, "cb", &manual, &f->c[0]), 0);
	expect_seq(f, f->c[0], 18);
}

/* ---- operators ---- */

static void test_exclusive_reset_refused_under_live_member_unless_forced(void **state)
{
	struct fixture *f = *state;
	struct ring_group_stat s;

	publish(f, 10);
	assert_rc(ring_group_reset(f->topic, "nobody", 0, 0), -ENOENT);
	assert_rc(ring_group_reset(f->topic, "bad/name", 0, 0), -EINVAL);
	assert_rc(ring_consumer_open(f->topic, "ops", NULL, &f->c[0]), 0);
	assert_rc(ring_group_reset(f->topic, "ops", f->pos[4], 0), -EBUSY);
	assert_rc(ring_group_reset(f->topic, "ops", 12, 1), -EINVAL);
	assert_rc(ring_group_reset(f->topic, "ops", f->pos[4], 1), 0);
	assert_int_equal(g_group_committed(f->topic, "ops"), f->pos[4]);
	f->c[0] = ring_consumer_close(f->c[0]);
	/* No member: no force needed; the next member starts there. */
	assert_rc(ring_group_reset(f->topic, "ops", f->pos[6], 0), 0);
	assert_rc(g_group_stat(f->topic, "ops", &s), 1);
	assert_int_equal(s.committed_pos, f->pos[6]);
	assert_rc(ring_consumer_open(f->topic, "ops", NULL, &f->c[0]), 0);
	expect_seq(f, f->c[0], 6);
}

static void test_exclusive_stat_shows_lag_in_flight_and_member(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config manual = { .flags = RING_CONSUMER_MANUAL_COMMIT };
	struct ring_group_stat s;
	uint64_t before = t_realtime_ns();

	publish(f, 50);
	assert_rc(ring_consumer_open(f->topic, "st", &manual, &f->c[0]), 0);
	for (uint64_t s2 = 0; s2 < 12; s2++)
		expect_seq(f, f->c[0], s2);
	assert_rc(ring_consumer_commit(f->c[0], f->pos[5]), 0);
	assert_rc(g_group_stat(f->topic, "st", &s), 1);
	assert_string_equal(s.name, "st");
	assert_int_equal(s.mode, RING_GROUP_EXCLUSIVE);
	assert_int_equal(s.committed_pos, f->pos[5]);
	assert_int_equal(s.next_pos, f->pos[12]);
	assert_int_equal(s.lag_bytes, g_tail(f->topic) - f->pos[5]);
	assert_int_equal(s.lag_records, 45);
	assert_int_equal(s.lag_exact, 1);
	assert_int_equal(s.in_flight, 7); /* delivered 5..11, not committed */
	assert_int_equal(s.delivered, 12);
	assert_int_equal(s.members, 1);
	assert_int_equal(s.member[0].pid, getpid());
	assert_int_equal(s.member[0].alive, 1);
	assert_true(s.member[0].heartbeat_ns >= before);
	assert_true(s.member[0].heartbeat_ns <= t_realtime_ns());
	assert_int_equal(s.member[1].pid, 0);
}

/* ---- overtaken by producers: -ERANGE, then the reset policy ---- */

static void test_exclusive_overtaken_is_erange_once_then_reset_policy(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config early = { .reset = RING_RESET_EARLIEST };
	const struct ring_consumer_config late = { .reset = RING_RESET_LATEST };
	struct ring_topic_stat st;
	struct ring_record rec;
	uint64_t first = 0;

	publish(f, 2);
	assert_rc(ring_consumer_open(f->topic, "early", &early, &f->c[0]), 0);
	assert_rc(ring_consumer_open(f->topic, "late", &late, &f->c[1]), 0);
	/* An ephemeral topic has no files: three capacities later, position
	 * 0 is gone for good. */
	publish(f, 3 * CAP / ring_record_span(LEN));
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_true(st.oldest_pos > 0);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -ERANGE);
	assert_int_equal(ring_consumer_position(f->c[0]), st.oldest_pos);
	while (f->pos[first] < st.oldest_pos)
		first++;
	for (uint64_t s = first; s < f->seq; s++)
		expect_seq(f, f->c[0], s);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EAGAIN);

	assert_rc(ring_consumer_next(f->c[1], &rec, 0), -ERANGE);
	assert_int_equal(ring_consumer_position(f->c[1]), g_tail(f->topic));
	assert_rc(ring_consumer_next(f->c[1], &rec, 0), -EAGAIN);
}

/* On the first record of a poll, publish three capacities: the rest of
 * the batch is overtaken under the poll. */
static int overtake_fn(const struct ring_record *rec, void *arg)
{
	struct fixture *f = arg;
	uint64_t n = 3 * CAP / ring_record_span(LEN);

	(void)rec;
	if (g_publish(f->prod, 0, f->seq, n, LEN, LEN, 0, f->pos) == 0)
		f->seq += n;
	return 0;
}

static void test_exclusive_erange_in_a_poll_is_not_lost(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;
	struct ring_record rec;

	publish(f, 3);
	assert_rc(ring_consumer_open(f->topic, "pollr", NULL, &f->c[0]), 0);
	/* One record, then the loss: the count is returned now and the loss
	 * by the next call, which has already moved on. */
	assert_rc(ring_consumer_poll(f->c[0], overtake_fn, f, 8, 0), 1);
	assert_int_equal(f->seq, 3 + 3 * CAP / ring_record_span(LEN));
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -ERANGE);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_int_equal(ring_consumer_position(f->c[0]), st.oldest_pos);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), 0);
	assert_int_equal(rec.position, st.oldest_pos);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_exclusive_second_opener_ebusy_until_first_is_killed),
		T(test_exclusive_lost_group_is_ebusy_on_next_and_commit),
		T(test_exclusive_wrong_calls_are_einval),
		T(test_exclusive_auto_commit_after_interval_and_at_close),
		T(test_exclusive_manual_commit_commits_only_what_it_says),
		T(test_exclusive_poll_delivers_a_batch_in_order),
		T(test_exclusive_commit_from_the_poll_callback),
		T(test_exclusive_reset_refused_under_live_member_unless_forced),
		T(test_exclusive_stat_shows_lag_in_flight_and_member),
		T(test_exclusive_overtaken_is_erange_once_then_reset_policy),
		T(test_exclusive_erange_in_a_poll_is_not_lost),
	};
#undef T

	return cmocka_run_group_tests_name("group_exclusive", tests, NULL, NULL);
}
