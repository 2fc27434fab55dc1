/* SPDX-License-Identifier: MIT */
/*
 * Description: shared consumer groups (competing consumers with acks) on a
 * named ephemeral 1 MiB topic, with members in this process and in forked
 * processes that are really SIGKILLed.
 *
 * Positive space: three member processes split the records (each gets
 * some, none gets one another had) and ack every one, after which the
 * group's committed position is the tail and nothing is in flight; a nack
 * comes back at once or after its delay, to the same lone member, with its
 * delivery count raised; a record past its ack wait goes to the next member
 * that asks, and the late ack of the first member is refused; a killed
 * member's unacked records go to the others at once (no ack wait), and to a
 * member that inherits its slot in a full member table; after max_deliver
 * deliveries a record goes to "<topic>.dlq", byte for byte, and is counted;
 * the committed position is the low watermark of acks; the group's figures
 * show live members with their pids, in flight, delivered, redelivered,
 * dead-lettered and acked.
 * Negative space: an ack of a record not in flight for this member, twice,
 * or after it was taken over gives -ENOENT; 256 unacked records give
 * -ENOBUFS until one is acked; a seventeenth live member gets -ENOSPC; an
 * anonymous topic has no dead-letter topic (-EOPNOTSUPP, the record stays
 * in flight).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"
#include "g.h"

#define CAP (UINT64_C(1) << 20)
#define MAX_SEQ 8192u
#define LEN 96u
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)
#define CHILD_WAIT_NS (30 * NS_PER_S)
#define MEMBERS 3u
#define SPLIT_RECORDS 1500u
#define INFLIGHT 256u	/* unacked records a group holds (-ENOBUFS past it) */

/* Written by member processes, read by the parent. */
struct members_shared {
	_Atomic uint32_t ready; /* members that have joined */
	_Atomic uint32_t stop;	/* parent: everything acked, leave */
	_Atomic uint64_t acked;
	_Atomic uint64_t taken;		 /* the victim: records it holds */
	_Atomic uint32_t owner[MAX_SEQ]; /* 1 + member index that processed seq */
	_Atomic uint32_t times[MAX_SEQ]; /* how often seq was delivered */
	char error[MEMBERS][160];
};

struct fixture {
	char name[RING_TOPIC_NAME_MAX + 1];
	struct g_topics topics;
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct ring_consumer *c[RING_MAX_MEMBERS + 1];
	struct members_shared *sh;
	pid_t child[RING_MAX_MEMBERS];
	uint64_t seq;
	uint64_t pos[MAX_SEQ];
};

static struct fixture fx;

static const struct ring_consumer_config shared_cfg = { .mode = RING_GROUP_SHARED };

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
	    g_topic_setup(&f->topics, NULL, "shared", &cfg, f->name, &f->topic, &f->prod) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	g_kill_children(f->child, RING_MAX_MEMBERS);
	for (unsigned i = 0; i < RING_MAX_MEMBERS + 1; i++)
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

/* The next delivery of @c: its sequence number, with the delivery count
 * checked against @deliveries. */
static uint64_t next_seq(struct fixture *f, struct ring_consumer *c, int64_t timeout_ns,
			 uint32_t deliveries)
{
	struct ring_record rec;
	uint64_t seq = 0;

	assert_rc(ring_consumer_next(c, &rec, timeout_ns), 0);
	assert_rc(g_check(&rec, 0, &seq), 0);
	assert_int_equal(rec.position, f->pos[seq]);
	if (rec.deliveries != deliveries)
		fail_msg("seq %llu delivered with count %u, expected %u", (unsigned long long)seq,
			 rec.deliveries, deliveries);
	return seq;
}

static bool all_ready(void *arg)
{
	const struct members_shared *sh = arg;

	return atomic_load(&sh->ready) >= MEMBERS;
}

static bool all_acked(void *arg)
{
	const struct members_shared *sh = arg;

	return atomic_load(&sh->acked) >= SPLIT_RECORDS;
}

/* ---- three member processes split the work ---- */

struct member_args {
	const char *topic;
	struct members_shared *sh;
	unsigned index;
};

static int member_fail(const struct member_args *a, const char *what, int rc)
{
	snprintf(a->sh->error[a->index], sizeof(a->sh->error[0]), "%s: %d (%s)", what, rc,
		 ring_strerror(rc));
	return 1;
}

static int member_main(void *arg)
{
	const struct member_args *a = arg;
	struct ring_topic *t;
	struct ring_consumer *c;
	struct ring_record rec;
	uint64_t deadline = t_now_ns() + CHILD_WAIT_NS, seq;
	int rc;

	rc = ring_topic_open(NULL, a->topic, &t);
	if (rc < 0)
		return member_fail(a, "topic open", rc);
	rc = ring_consumer_open(t, "workers", &shared_cfg, &c);
	if (rc < 0)
		return member_fail(a, "consumer open", rc);
	atomic_fetch_add(&a->sh->ready, 1);
	while (!atomic_load(&a->sh->stop) && t_now_ns() < deadline) {
		rc = ring_consumer_next(c, &rec, 20 * NS_PER_MS);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return member_fail(a, "next", rc);
		if (g_check(&rec, 0, &seq) < 0 || seq >= MAX_SEQ)
			return member_fail(a, "payload", -EBADMSG);
		atomic_fetch_add(&a->sh->times[seq], 1);
		atomic_store(&a->sh->owner[seq], a->index + 1);
		/* Work takes a while: one member alone could not keep up,
		 * so all of them get some. */
		t_sleep_ns(100000);
		rc = ring_consumer_ack(c, rec.position);
		if (rc < 0)
			return member_fail(a, "ack", rc);
		atomic_fetch_add(&a->sh->acked, 1);
	}
	c = ring_consumer_close(c);
	t = ring_topic_close(t);
	return atomic_load(&a->sh->stop) ? 0 : member_fail(a, "not stopped in time", -ETIMEDOUT);
}

static void test_shared_three_members_split_the_work_and_ack_everything(void **state)
{
	struct fixture *f = *state;
	struct member_args args[MEMBERS];
	uint64_t got[MEMBERS] = { 0 };
	struct ring_group_stat s;

	for (unsigned i = 0; i < MEMBERS; i++) {
		args[i] = (struct member_args){ .topic = f->name, .sh = f->sh, .index = i };
		f->child[i] = t_fork_child(member_main, &args[i]);
		assert_true(f->child[i] > 0);
	}
	assert_true(t_wait_until(all_ready, f->sh, CHILD_WAIT_NS, NS_PER_MS));
	assert_rc(g_group_stat(f->topic, "workers", &s), 1);
	assert_int_equal(s.mode, RING_GROUP_SHARED);
	assert_int_equal(s.members, MEMBERS);
	for (unsigned i = 0; i < MEMBERS; i++) {
		bool found = false;

		for (unsigned m = 0; m < s.members; m++)
			found |= s.member[m].pid == f->child[i] && s.member[m].alive;
		assert_true(found);
	}

	publish(f, SPLIT_RECORDS);
	if (!t_wait_until(all_acked, f->sh, CHILD_WAIT_NS, NS_PER_MS)) {
		for (unsigned i = 0; i < MEMBERS; i++)
			printf("# member %u: %s\n", i, f->sh->error[i]);
		fail_msg("only %llu of %u acked", (unsigned long long)atomic_load(&f->sh->acked),
			 SPLIT_RECORDS);
	}
	assert_rc(g_group_stat(f->topic, "workers", &s), 1);
	atomic_store(&f->sh->stop, 1);
	for (unsigned i = 0; i < MEMBERS; i++) {
		char msg[512];

		if (t_reap_ok(&f->child[i], CHILD_WAIT_NS, f->sh->error[i], msg, sizeof(msg)) < 0)
			fail_msg("member %u: %s", i, msg);
	}
	/* Each record exactly once (nobody died, nothing timed out). */
	for (uint64_t seq = 0; seq < SPLIT_RECORDS; seq++) {
		if (atomic_load(&f->sh->times[seq]) != 1)
			fail_msg("seq %llu delivered %u times", (unsigned long long)seq,
				 atomic_load(&f->sh->times[seq]));
		got[atomic_load(&f->sh->owner[seq]) - 1]++;
	}
	for (unsigned i = 0; i < MEMBERS; i++) {
		printf("# member %u processed %llu records\n", i, (unsigned long long)got[i]);
		assert_true(got[i] > 0);
	}
	assert_int_equal(s.delivered, SPLIT_RECORDS);
	assert_int_equal(s.acked, SPLIT_RECORDS);
	assert_int_equal(s.redelivered, 0);
	assert_int_equal(s.dead_lettered, 0);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(s.committed_pos, g_tail(f->topic));
	assert_int_equal(s.lag_bytes, 0);
	assert_int_equal(s.lag_records, 0);
	/* They all left. */
	assert_rc(g_group_stat(f->topic, "workers", &s), 1);
	assert_int_equal(s.members, 0);
}

/* ---- nack, ack wait ---- */

static void test_shared_nack_redelivers_at_once_or_after_delay_with_counts(void **state)
{
	struct fixture *f = *state;
	struct ring_group_stat s;
	uint64_t t0;

	publish(f, 3);
	assert_rc(ring_consumer_open(f->topic, "nack", &shared_cfg, &f->c[0]), 0);
	assert_int_equal(next_seq(f, f->c[0], 0, 1), 0);
	/* A lone member gets its own nack back at once... */
	assert_rc(ring_consumer_nack(f->c[0], f->pos[0], 0), 0);
	assert_int_equal(next_seq(f, f->c[0], 0, 2), 0);
	/* ...or after the delay; meanwhile the other records. */
	assert_rc(ring_consumer_nack(f->c[0], f->pos[0], 50 * NS_PER_MS), 0);
	t0 = t_now_ns();
	assert_int_equal(next_seq(f, f->c[0], 0, 1), 1);
	assert_int_equal(next_seq(f, f->c[0], 0, 1), 2);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[1]), 0);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[2]), 0);
	assert_int_equal(next_seq(f, f->c[0], NS_PER_S, 3), 0);
	assert_true(t_now_ns() - t0 >= 45 * NS_PER_MS); /* ms rounding */
	/* A nacked record is not in flight for the member any more. */
	assert_rc(ring_consumer_nack(f->c[0], f->pos[0], NS_PER_S), 0);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[0]), -ENOENT);
	assert_rc(ring_consumer_nack(f->c[0], f->pos[0], 0), -ENOENT);
	assert_rc(g_group_stat(f->topic, "nack", &s), 1);
	assert_int_equal(s.delivered, 3);
	assert_int_equal(s.redelivered, 2);
	assert_int_equal(s.acked, 2);
	assert_int_equal(s.in_flight, 1);
	/* The unacked record holds the watermark. */
	assert_int_equal(s.committed_pos, f->pos[0]);
}

static void test_shared_ack_wait_redelivers_to_next_member_and_refuses_late_ack(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config cfg = { .mode = RING_GROUP_SHARED,
						  .ack_wait_ns = 30 * NS_PER_MS };
	struct ring_record rec;
	struct ring_group_stat s;

	publish(f, 1);
	assert_rc(ring_consumer_open(f->topic, "wait", &cfg, &f->c[0]), 0);
	assert_rc(ring_consumer_open(f->topic, "wait", &cfg, &f->c[1]), 0);
	assert_int_equal(next_seq(f, f->c[0], 0, 1), 0);
	/* Not due before the ack wait. */
	assert_rc(ring_consumer_next(f->c[1], &rec, 0), -EAGAIN);
	assert_int_equal(next_seq(f, f->c[1], NS_PER_S, 2), 0);
	/* The first member's ack comes too late: not its record any more. */
	assert_rc(ring_consumer_ack(f->c[0], f->pos[0]), -ENOENT);
	assert_rc(ring_consumer_ack(f->c[1], f->pos[0]), 0);
	assert_rc(ring_consumer_ack(f->c[1], f->pos[0]), -ENOENT);
	assert_rc(g_group_stat(f->topic, "wait", &s), 1);
	assert_int_equal(s.acked, 1);
	assert_int_equal(s.redelivered, 1);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(s.committed_pos, g_tail(f->topic));
}

static void test_shared_committed_is_the_low_watermark_of_acks(void **state)
{
	struct fixture *f = *state;

	publish(f, 4);
	assert_rc(ring_consumer_open(f->topic, "wm", &shared_cfg, &f->c[0]), 0);
	for (uint64_t seq = 0; seq < 4; seq++)
		assert_int_equal(next_seq(f, f->c[0], 0, 1), seq);
	assert_int_equal(g_group_committed(f->topic, "wm"), f->pos[0]);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[3]), 0);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[1]), 0);
	assert_int_equal(g_group_committed(f->topic, "wm"), f->pos[0]);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[0]), 0);
	assert_int_equal(g_group_committed(f->topic, "wm"), f->pos[2]);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[2]), 0);
	assert_int_equal(g_group_committed(f->topic, "wm"), g_tail(f->topic));
	assert_rc(ring_consumer_ack(f->c[0], f->pos[2]), -ENOENT);
	assert_rc(ring_consumer_ack(f->c[0], 12), -ENOENT);
}

struct ack_in_poll {
	struct ring_consumer *c;
	unsigned n;
	int rc;
};

static int ack_fn(const struct ring_record *rec, void *arg)
{
	struct ack_in_poll *p = arg;

	p->n++;
	p->rc = ring_consumer_ack(p->c, rec->position);
	return p->rc < 0;
}

/* More records than the in-flight table holds, each acked from inside the
 * poll callback: the table never fills and the watermark ends at the tail. */
static void test_shared_ack_from_the_poll_callback(void **state)
{
	struct fixture *f = *state;
	struct ack_in_poll p = { 0 };
	struct ring_group_stat s;

	publish(f, 2 * INFLIGHT);
	assert_rc(ring_consumer_open(f->topic, "cb", &shared_cfg, &f->c[0]), 0);
	p.c = f->c[0];
	assert_rc(ring_consumer_poll(f->c[0], ack_fn, &p, 4 * INFLIGHT, 0),
		  2 * INFLIGHT);
	assert_rc(p.rc, 0);
	assert_int_equal(p.n, 2 * INFLIGHT);
	assert_rc(g_group_stat(f->topic, "cb", &s), 1);
	assert_int_equal(s.acked, 2 * INFLIGHT);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(s.committed_pos, g_tail(f->topic));
	/* Closing leaves the watermark itself in the slot, for ringd. */
	f->c[0] = ring_consumer_close(f->c[0]);
	assert_int_equal(g_group_committed(f->topic, "cb"), g_tail(f->topic));
}

static void test_shared_full_in_flight_table_is_enobufs_until_an_ack(void **state)
{
	struct fixture *f = *state;
	struct ring_record rec;
	unsigned n = 0;

	publish(f, 300);
	assert_rc(ring_consumer_open(f->topic, "full", &shared_cfg, &f->c[0]), 0);
	for (int rc; (rc = ring_consumer_next(f->c[0], &rec, 0)) == 0;)
		n++;
	assert_int_equal(n, 256);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -ENOBUFS);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[100]), 0);
	assert_int_equal(next_seq(f, f->c[0], 0, 1), 256);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -ENOBUFS);
}

/* ---- a killed member ---- */

/* Join, take @a->index records without acking them, report, wait to be
 * killed. */
static int victim_main(void *arg)
{
	const struct member_args *a = arg;
	struct ring_topic *t;
	struct ring_consumer *c;
	struct ring_record rec;
	int rc;

	rc = ring_topic_open(NULL, a->topic, &t);
	if (rc < 0)
		return member_fail(a, "topic open", rc);
	rc = ring_consumer_open(t, "victims", &shared_cfg, &c);
	if (rc < 0)
		return member_fail(a, "consumer open", rc);
	for (unsigned i = 0; i < a->index; i++) {
		rc = ring_consumer_next(c, &rec, NS_PER_S);
		if (rc < 0)
			return member_fail(a, "next", rc);
		atomic_fetch_add(&a->sh->taken, 1);
	}
	for (;;)
		pause();
}

static bool victim_took_all(void *arg)
{
	const struct fixture *f = arg;

	return atomic_load(&f->sh->taken) >= 5;
}

static void kill_victim(struct fixture *f)
{
	int status;

	assert_int_equal(kill(f->child[0], SIGKILL), 0);
	assert_rc(t_wait_child(f->child[0], CHILD_WAIT_NS, &status), 0);
	f->child[0] = 0;
	assert_true(WIFSIGNALED(status));
}

static void test_shared_killed_member_records_go_to_others_at_once(void **state)
{
	struct fixture *f = *state;
	struct member_args a = { .topic = f->name, .sh = f->sh, .index = 5 };
	bool seen[5] = { false };
	struct ring_group_stat s;
	uint64_t t0;

	publish(f, 6);
	/* The default ack wait is 30 s: a redelivery within the bound below
	 * comes from the member's death. */
	assert_rc(ring_consumer_open(f->topic, "victims", &shared_cfg, &f->c[0]), 0);
	f->child[0] = t_fork_child(victim_main, &a);
	assert_true(f->child[0] > 0);
	assert_true(t_wait_until(victim_took_all, f, CHILD_WAIT_NS, NS_PER_MS));
	assert_rc(g_group_stat(f->topic, "victims", &s), 1);
	assert_int_equal(s.in_flight, 5);
	assert_int_equal(s.members, 2);
	/* Ours is the one left. */
	assert_int_equal(next_seq(f, f->c[0], 0, 1), 5);
	kill_victim(f);
	t0 = t_now_ns();
	for (unsigned i = 0; i < 5; i++) {
		uint64_t seq = next_seq(f, f->c[0], 5 * NS_PER_S, 2);

		assert_true(seq < 5 && !seen[seq]);
		seen[seq] = true;
		assert_rc(ring_consumer_ack(f->c[0], f->pos[seq]), 0);
	}
	assert_true(t_now_ns() - t0 < 10 * NS_PER_S);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[5]), 0);
	assert_rc(g_group_stat(f->topic, "victims", &s), 1);
	assert_int_equal(s.redelivered, 5);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(s.members, 1);
	assert_int_equal(s.committed_pos, g_tail(f->topic));
}

static void test_shared_member_inheriting_a_dead_slot_gets_its_records(void **state)
{
	struct fixture *f = *state;
	struct member_args a = { .topic = f->name, .sh = f->sh, .index = 5 };
	struct ring_consumer *sentinel = (struct ring_consumer *)(uintptr_t)0x5a5a, *c = sentinel;
	bool seen[5] = { false };

	publish(f, 5);
	f->child[0] = t_fork_child(victim_main, &a);
	assert_true(f->child[0] > 0);
	assert_true(t_wait_until(victim_took_all, f, CHILD_WAIT_NS, NS_PER_MS));
	/* Fill the member table around it; with all sixteen alive there is
	 * no room. */
	for (unsigned i = 0; i < RING_MAX_MEMBERS - 1; i++)
		assert_rc(ring_consumer_open(f->topic, "victims", &shared_cfg, &f->c[i]), 0);
	assert_rc(ring_consumer_open(f->topic, "victims", &shared_cfg, &c), -ENOSPC);
	assert_ptr_equal(c, sentinel);
	kill_victim(f);
	/* The next opener takes the dead member's slot, and with it its
	 * deliveries: due at once, not after the 30 s ack wait. No other
	 * member has polled, so nobody else noticed the death. */
	assert_rc(ring_consumer_open(f->topic, "victims", &shared_cfg, &f->c[RING_MAX_MEMBERS]), 0);
	for (unsigned i = 0; i < 5; i++) {
		uint64_t seq = next_seq(f, f->c[RING_MAX_MEMBERS], 5 * NS_PER_S, 2);

		assert_true(seq < 5 && !seen[seq]);
		seen[seq] = true;
	}
}

/* ---- dead letters ---- */

static void test_shared_max_deliver_moves_record_to_dead_letter_topic(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config cfg = { .mode = RING_GROUP_SHARED, .max_deliver = 3 };
	char dlq_name[RING_TOPIC_NAME_MAX + 8];
	struct ring_topic *dlq = NULL;
	struct ring_reader *r = NULL;
	struct ring_group_stat s;
	struct ring_record rec;
	uint64_t seq;

	assert_rc(ring_consumer_open(f->topic, "dl",
				     &(struct ring_consumer_config){ .mode = RING_GROUP_SHARED,
								     .max_deliver = 256 },
				     &f->c[1]),
		  -EINVAL);
	publish(f, 2);
	assert_rc(ring_consumer_open(f->topic, "dl", &cfg, &f->c[0]), 0);
	/* The poisoned record: delivered three times, nacked each time. */
	for (uint32_t d = 1; d <= 3; d++) {
		assert_int_equal(next_seq(f, f->c[0], 0, d), 0);
		assert_rc(ring_consumer_nack(f->c[0], f->pos[0], 0), 0);
	}
	/* The fourth attempt sends it to the dead-letter topic instead, and
	 * the member gets the next record. */
	assert_int_equal(next_seq(f, f->c[0], 0, 1), 1);
	assert_rc(ring_consumer_ack(f->c[0], f->pos[1]), 0);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EAGAIN);
	assert_rc(g_group_stat(f->topic, "dl", &s), 1);
	assert_int_equal(s.dead_lettered, 1);
	assert_int_equal(s.redelivered, 2);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(s.committed_pos, g_tail(f->topic));

	snprintf(dlq_name, sizeof(dlq_name), "%s.dlq", f->name);
	assert_rc(ring_topic_open(NULL, dlq_name, &dlq), 0);
	assert_rc(ring_reader_open(dlq, NULL, &r), 0);
	assert_rc(ring_reader_next(r, &rec, 0), 0);
	assert_rc(g_check(&rec, 0, &seq), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(rec.len, LEN);
	assert_rc(ring_reader_next(r, &rec, 0), -EAGAIN);
	r = ring_reader_close(r);
	dlq = ring_topic_close(dlq);
}

static void test_shared_anonymous_topic_has_no_dead_letter_topic(void **state)
{
	const struct ring_topic_config anon_cfg = { .capacity_bytes = CAP,
						    .flags = RING_TOPIC_ANON };
	const struct ring_consumer_config cfg = { .mode = RING_GROUP_SHARED, .max_deliver = 1 };
	struct ring_topic *anon = NULL;
	struct ring_producer *p = NULL;
	struct ring_consumer *c = NULL;
	struct ring_group_stat s;
	struct ring_record rec;

	assert_rc(ring_topic_create(NULL, NULL, &anon_cfg, &anon), 0);
	assert_rc(ring_producer_open(anon, &p), 0);
	assert_rc(g_publish(p, 0, 0, 1, LEN, LEN, 0, NULL), 0);
	assert_rc(ring_consumer_open(anon, "dl", &cfg, &c), 0);
	assert_rc(ring_consumer_next(c, &rec, 0), 0);
	assert_rc(ring_consumer_nack(c, rec.position, 0), 0);
	assert_rc(ring_consumer_next(c, &rec, 0), -EOPNOTSUPP);
	/* Still in flight, not counted, not lost. */
	assert_rc(g_group_stat(anon, "dl", &s), 1);
	assert_int_equal(s.in_flight, 1);
	assert_int_equal(s.dead_lettered, 0);
	assert_int_equal(s.committed_pos, 0);
	c = ring_consumer_close(c);
	p = ring_producer_close(p);
	anon = ring_topic_close(anon);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_shared_three_members_split_the_work_and_ack_everything),
		T(test_shared_nack_redelivers_at_once_or_after_delay_with_counts),
		T(test_shared_ack_wait_redelivers_to_next_member_and_refuses_late_ack),
		T(test_shared_committed_is_the_low_watermark_of_acks),
		T(test_shared_ack_from_the_poll_callback),
		T(test_shared_full_in_flight_table_is_enobufs_until_an_ack),
		T(test_shared_killed_member_records_go_to_others_at_once),
		T(test_shared_member_inheriting_a_dead_slot_gets_its_records),
		T(test_shared_max_deliver_moves_record_to_dead_letter_topic),
		T(test_shared_anonymous_topic_has_no_dead_letter_topic),
	};
#undef T

	return cmocka_run_group_tests_name("group_shared", tests, NULL, NULL);
}
