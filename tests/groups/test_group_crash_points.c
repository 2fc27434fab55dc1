/* SPDX-License-Identifier: MIT */
/*
 * Description: consumer group members SIGKILLed at each named crash point
 * of libring/consumer.c and libring/group.c (RING_CRASH_AT, after a random
 * number of hits), on a named ephemeral 1 MiB topic holding every record,
 * then replaced by new member processes that reopen the group.
 *
 * Exclusive groups (points group.exclusive.after_join, .after_read,
 * .mid_commit, .mid_close): one member process at a time reads in order,
 * commits every C records and reopens the group every 2C; three of them
 * die at the point, a fourth finishes. Afterwards every record was
 * processed at least once; each member processed consecutive records; each
 * member started at or after the last commit its predecessor saw succeed
 * and at most one past the last record processed (no gap); the records
 * processed twice at each takeover were at most C, those delivered since
 * the last commit; the group ends committed at the tail.
 *
 * Shared groups (points group.shared.before_claim, .after_claim,
 * .before_ack, .mid_free, .after_retake, .after_dead_letter): two members
 * that live and a victim that dies at the point four times and is
 * replaced. Members nack every 11th record once (redeliveries) and every
 * record of a poisoned set always (max_deliver 3: dead letters).
 * Afterwards every record was processed at least once; the records
 * processed more often than their nacks explain are at most two per
 * death (the victim's one unacked delivery, and a claim it may have won in
 * the instant it died); every poisoned record is in "<topic>.dlq"; the
 * group's committed position is the tail, nothing is in flight, and no
 * member is left.
 *
 * Group creation (group.create.mid_init): a creator dies between taking a
 * slot and publishing the group; the next opener reclaims the slot at once
 * (the creator is dead, not slow) and the group works.
 *
 * Skipped (exit 77) unless built with -Dcrash_points=true. Prints its
 * seed; RING_TEST_SEED replays it.
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

#include "internal.h"
#include "t.h"
#include "g.h"

#define CAP (UINT64_C(1) << 20)
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)
#define CHILD_WAIT_NS (30 * NS_PER_S)
#define SCENARIO_NS (40 * NS_PER_S) /* a scenario's bound; it needs a few s */
#define MIN_LEN 32u
#define MAX_LEN 200u

#define EX_RECORDS 1200u
#define EX_COMMIT_EVERY 7u /* C */
#define EX_CRASHES 3u

#define SH_RECORDS 1500u
#define SH_SURVIVORS 2u
#define SH_DEATHS 4u
#define SH_MAX_DELIVER 3u
#define SH_WORK_NS 200000u
#define LOG_MAX (4u * SH_RECORDS)

static uint64_t seed_state;

/* Test state shared with the member processes. */
struct shared {
	_Atomic uint32_t stop;		    /* parent: leave now */
	_Atomic uint64_t commit_seq;	    /* exclusive: seq after the last
						   commit that returned 0 */
	_Atomic uint32_t nacks[SH_RECORDS]; /* shared: nacks that returned 0 */
	char error[8][200];
};

struct fixture {
	char name[RING_TOPIC_NAME_MAX + 1];
	struct g_topics topics;
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct shared *sh;
	struct g_log *log;
	pid_t child[8];
	const char *point; /* the crash point under test */
	uint64_t pos[SH_RECORDS + 1];
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
	f->log = g_log_alloc(LOG_MAX);
	if (!f->sh || !f->log ||
	    g_topic_setup(&f->topics, NULL, "gcp", &cfg, f->name, &f->topic, &f->prod) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	g_kill_children(f->child, 8);
	g_topic_teardown(&f->topics, &f->topic, &f->prod);
	t_shared_free(f->sh, sizeof(*f->sh));
	g_log_free(f->log);
	return 0;
}

static void publish(struct fixture *f, uint64_t n)
{
	assert_rc(g_publish(f->prod, 0, 0, n, MIN_LEN, MAX_LEN, 0, f->pos), 0);
	f->pos[n] = g_tail(f->topic);
}

/* In a child: die at @point after @skip hits (NULL: never). */
static void arm(const char *point, uint64_t skip)
{
	char buf[32];

	if (!point) {
		(void)unsetenv("RING_CRASH_AT");
		return;
	}
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)skip);
	(void)setenv("RING_CRASH_SKIP", buf, 1);
	(void)setenv("RING_CRASH_AT", point, 1);
}

struct member_args {
	struct fixture *f;
	unsigned index;	   /* error line and log tag */
	uint32_t round;	   /* incarnation, in the log */
	const char *point; /* NULL: no crash */
	uint64_t skip;
};

static int fail_child(const struct member_args *a, const char *what, int rc)
{
	snprintf(a->f->sh->error[a->index], sizeof(a->f->sh->error[0]), "round %u: %s: %d (%s)",
		 a->round, what, rc, ring_strerror(rc));
	return 1;
}

static char *status_text(int status, char *buf, size_t len)
{
	return (char *)t_status_str(status, buf, len);
}

/* ---- exclusive ---- */

static int exclusive_open(struct ring_topic *t, struct ring_consumer **ret)
{
	const struct ring_consumer_config cfg = { .flags = RING_CONSUMER_MANUAL_COMMIT };

	return ring_consumer_open(t, "ex", &cfg, ret);
}

static int exclusive_member_main(void *arg)
{
	const struct member_args *a = arg;
	struct shared *sh = a->f->sh;
	struct ring_consumer *c = NULL;
	struct ring_topic *t;
	uint64_t n = 0, seq = 0, deadline = t_now_ns() + CHILD_WAIT_NS;
	int rc;

	arm(a->point, a->skip);
	rc = ring_topic_open(NULL, a->f->name, &t);
	if (rc < 0)
		return fail_child(a, "topic open", rc);
	rc = exclusive_open(t, &c);
	if (rc < 0)
		return fail_child(a, "open", rc);
	while (t_now_ns() < deadline) {
		struct ring_record rec;

		rc = ring_consumer_next(c, &rec, 20 * NS_PER_MS);
		if (rc == -ETIMEDOUT) {
			if (ring_consumer_position(c) == a->f->pos[EX_RECORDS])
				break; /* everything read */
			continue;
		}
		if (rc < 0)
			return fail_child(a, "next", rc);
		if (g_check(&rec, 0, &seq) < 0)
			return fail_child(a, "payload", -EBADMSG);
		if (g_log_append(a->f->log, a->round, &rec, seq) < 0)
			return fail_child(a, "log", -ENOSPC);
		if (++n % EX_COMMIT_EVERY == 0) {
			rc = ring_consumer_commit(c, rec.next_position);
			if (rc < 0)
				return fail_child(a, "commit", rc);
			atomic_store(&sh->commit_seq, seq + 1);
		}
		/* Reopen right after a commit (so that it delivers nothing
		 * twice): takeovers of our own group, close and join again. */
		if (n % (2 * EX_COMMIT_EVERY) == 0) {
			c = ring_consumer_close(c);
			rc = exclusive_open(t, &c);
			if (rc < 0)
				return fail_child(a, "reopen", rc);
		}
	}
	rc = ring_consumer_commit(c, ring_consumer_position(c));
	if (rc < 0)
		return fail_child(a, "last commit", rc);
	atomic_store(&sh->commit_seq, EX_RECORDS);
	c = ring_consumer_close(c);
	t = ring_topic_close(t);
	return 0;
}

/* What a point can be hit at: once per open (join, close), per record
 * (read), per commit. A skip below the hits a member has keeps it dying. */
static uint64_t exclusive_skip(const char *point)
{
	if (!strcmp(point, "group.exclusive.after_read"))
		return t_rand_range(&seed_state, 0, 300);
	if (!strcmp(point, "group.exclusive.mid_commit"))
		return t_rand_range(&seed_state, 0, 40);
	return t_rand_range(&seed_state, 0, 5);
}

static void test_exclusive_member_killed_at_point(void **state)
{
	struct fixture *f = *state;
	const char *point = f->point;
	struct member_args a;
	uint64_t kills = 0, dups = 0, max_seq = 0, logged = 0, next_round_at = 0;
	uint64_t commit_at_death[EX_CRASHES + 2] = { 0 };
	uint32_t rounds = 0;
	bool any = false;
	static uint8_t seen[EX_RECORDS];
	char buf[64];

	memset(seen, 0, sizeof(seen));
	publish(f, EX_RECORDS);
	printf("# %s: %u records, commit every %u\n", point, EX_RECORDS, EX_COMMIT_EVERY);
	for (uint32_t round = 1; round <= EX_CRASHES + 1; round++) {
		bool crash = round <= EX_CRASHES;
		int status;

		a = (struct member_args){ .f = f,
					  .index = 0,
					  .round = round,
					  .point = crash ? point : NULL,
					  .skip = crash ? exclusive_skip(point) : 0 };
		f->child[1] = t_fork_child(exclusive_member_main, &a);
		assert_true(f->child[1] > 0);
		assert_rc(t_wait_child(f->child[1], CHILD_WAIT_NS, &status), 0);
		f->child[1] = 0;
		rounds = round;
		commit_at_death[round] = atomic_load(&f->sh->commit_seq);
		printf("# round %u (skip %llu): %s\n", round, (unsigned long long)a.skip,
		       status_text(status, buf, sizeof(buf)));
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			kills++;
			continue;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("round %u: %s: %s", round, buf, f->sh->error[0]);
		if (!crash)
			break;
	}
	assert_true(kills >= 1);

	/* Walk the log in processing order: one member at a time. */
	for (uint32_t round = 1; round <= rounds; round++) {
		bool first = true;
		uint64_t prev = 0;

		for (uint64_t i = next_round_at; i < atomic_load(&f->log->count); i++) {
			const struct g_entry *e = &f->log->entry[i];

			assert_int_equal(atomic_load(&e->state), G_ENTRY_PROCESSED);
			if (e->round != round)
				break;
			next_round_at = i + 1;
			assert_int_equal(e->pos, f->pos[e->seq]);
			if (first) {
				/* A takeover: at or after the last commit seen to
				 * succeed, and no record skipped. */
				uint64_t committed = commit_at_death[round - 1];

				if (e->seq < committed || (any && e->seq > max_seq + 1) ||
				    (!any && e->seq != 0))
					fail_msg("round %u starts at seq %llu: last commit %llu, "
						 "last processed %llu",
						 round, (unsigned long long)e->seq,
						 (unsigned long long)committed,
						 (unsigned long long)max_seq);
				if (any && e->seq <= max_seq) {
					assert_true(max_seq + 1 - e->seq <= EX_COMMIT_EVERY);
					dups += max_seq + 1 - e->seq;
				}
			} else if (e->seq != prev + 1) {
				fail_msg("round %u: seq %llu after %llu", round,
					 (unsigned long long)e->seq, (unsigned long long)prev);
			}
			first = false;
			prev = e->seq;
			seen[e->seq] = 1;
			if (!any || e->seq > max_seq)
				max_seq = e->seq;
			any = true;
			logged++;
		}
	}
	assert_int_equal(next_round_at, atomic_load(&f->log->count));
	for (uint64_t seq = 0; seq < EX_RECORDS; seq++)
		if (!seen[seq])
			fail_msg("seq %llu never processed", (unsigned long long)seq);
	/* dups is the sum of the ranges each takeover went back over; a
	 * member killed again inside such a range repeats less than that. */
	printf("# %llu kills, %llu processed, %llu twice (takeovers went back %llu)\n",
	       (unsigned long long)kills, (unsigned long long)logged,
	       (unsigned long long)(logged - EX_RECORDS), (unsigned long long)dups);
	assert_true(logged - EX_RECORDS <= dups);
	assert_true(dups <= kills * EX_COMMIT_EVERY);
	assert_int_equal(g_group_committed(f->topic, "ex"), f->pos[EX_RECORDS]);
}

/* ---- shared ---- */

static bool poisoned(uint64_t seq)
{
	return seq % 23 == 5;
}

static int shared_member_main(void *arg)
{
	const struct member_args *a = arg;
	const struct ring_consumer_config cfg = { .mode = RING_GROUP_SHARED,
						  .max_deliver = SH_MAX_DELIVER };
	struct shared *sh = a->f->sh;
	struct ring_consumer *c;
	struct ring_topic *t;
	uint64_t deadline = t_now_ns() + CHILD_WAIT_NS, seq;
	int rc;

	arm(a->point, a->skip);
	rc = ring_topic_open(NULL, a->f->name, &t);
	if (rc < 0)
		return fail_child(a, "topic open", rc);
	rc = ring_consumer_open(t, "sh", &cfg, &c);
	if (rc < 0)
		return fail_child(a, "open", rc);
	while (!atomic_load(&sh->stop)) {
		struct ring_record rec;
		int64_t i;

		if (t_now_ns() > deadline)
			return fail_child(a, "not stopped in time", -ETIMEDOUT);
		rc = ring_consumer_next(c, &rec, 10 * NS_PER_MS);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return fail_child(a, "next", rc);
		if (g_check(&rec, 0, &seq) < 0 || seq >= SH_RECORDS)
			return fail_child(a, "payload", -EBADMSG);
		i = g_log_append(a->f->log, a->round, &rec, seq);
		if (i < 0)
			return fail_child(a, "log", -ENOSPC);
		/* Processing takes a while, so that the work lasts long
		 * enough for the victim to take its share, and die, again
		 * and again. */
		t_sleep_ns(SH_WORK_NS);
		if (poisoned(seq) || (seq % 11 == 0 && rec.deliveries == 1)) {
			rc = ring_consumer_nack(c, rec.position, 0);
			if (rc == 0)
				atomic_fetch_add(&sh->nacks[seq], 1);
		} else {
			rc = ring_consumer_ack(c, rec.position);
			if (rc == 0)
				atomic_store(&a->f->log->entry[i].state, G_ENTRY_ACKED);
		}
		if (rc < 0 && rc != -ENOENT)
			return fail_child(a, "ack", rc);
	}
	c = ring_consumer_close(c);
	t = ring_topic_close(t);
	return 0;
}

/* Points met per record (claims, acks, frees) get a wider random skip
 * than those met only on redeliveries. */
static uint64_t shared_skip(const char *point)
{
	if (!strcmp(point, "group.shared.after_dead_letter"))
		return t_rand_range(&seed_state, 0, 2);
	if (!strcmp(point, "group.shared.after_retake"))
		return t_rand_range(&seed_state, 0, 10);
	return t_rand_range(&seed_state, 0, 30);
}

static bool group_drained(struct fixture *f)
{
	struct ring_group_stat s;

	return g_group_stat(f->topic, "sh", &s) == 1 && s.committed_pos == f->pos[SH_RECORDS] &&
	       s.in_flight == 0;
}

static void test_shared_member_killed_at_point(void **state)
{
	struct fixture *f = *state;
	const char *point = f->point;
	struct member_args args[SH_SURVIVORS + 1], victim;
	static uint32_t times[SH_RECORDS];
	uint64_t deaths = 0, extra = 0, deadline, npoisoned = 0;
	uint32_t round = 1;
	struct ring_group_stat s;
	char dlq_name[RING_TOPIC_NAME_MAX + 8], buf[64];
	struct ring_topic *dlq;
	struct ring_reader *r;
	struct ring_record rec;
	uint8_t in_dlq[SH_RECORDS] = { 0 };

	memset(times, 0, sizeof(times));
	publish(f, SH_RECORDS);
	for (unsigned i = 0; i < SH_SURVIVORS; i++) {
		args[i] = (struct member_args){ .f = f, .index = i, .round = 100 + i };
		f->child[i] = t_fork_child(shared_member_main, &args[i]);
		assert_true(f->child[i] > 0);
	}
	deadline = t_now_ns() + SCENARIO_NS;
	for (;;) {
		int status;

		victim = (struct member_args){
			.f = f,
			.index = SH_SURVIVORS,
			.round = round,
			.point = deaths < SH_DEATHS ? point : NULL,
			.skip = shared_skip(point),
		};
		f->child[SH_SURVIVORS] = t_fork_child(shared_member_main, &victim);
		assert_true(f->child[SH_SURVIVORS] > 0);
		/* Until it dies, or the work is done. */
		while (t_now_ns() < deadline && !group_drained(f) &&
		       waitpid(f->child[SH_SURVIVORS], &status, WNOHANG) == 0)
			t_sleep_ns(NS_PER_MS);
		if (t_now_ns() >= deadline || group_drained(f))
			break;
		f->child[SH_SURVIVORS] = 0;
		printf("# victim %u (skip %llu): %s\n", round, (unsigned long long)victim.skip,
		       status_text(status, buf, sizeof(buf)));
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("victim %u: %s: %s", round, buf, f->sh->error[SH_SURVIVORS]);
		deaths++;
		round++;
	}
	if (!group_drained(f)) {
		assert_rc(g_group_stat(f->topic, "sh", &s), 1);
		for (unsigned i = 0; i <= SH_SURVIVORS; i++)
			printf("# member %u: %s\n", i, f->sh->error[i]);
		fail_msg("not drained in time: committed %llu of %llu, %llu in flight",
			 (unsigned long long)s.committed_pos,
			 (unsigned long long)f->pos[SH_RECORDS], (unsigned long long)s.in_flight);
	}
	atomic_store(&f->sh->stop, 1);
	for (unsigned i = 0; i <= SH_SURVIVORS; i++) {
		int status;

		if (f->child[i] <= 0)
			continue;
		assert_rc(t_wait_child(f->child[i], CHILD_WAIT_NS, &status), 0);
		f->child[i] = 0;
		/* The last victim may still die at its point on the way out. */
		if (i == SH_SURVIVORS && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			deaths++;
			continue;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("member %u: %s: %s", i, status_text(status, buf, sizeof(buf)),
				 f->sh->error[i]);
	}
	printf("# %s: %llu victim deaths\n", point, (unsigned long long)deaths);
	assert_true(deaths >= 1);

	for (uint64_t i = 0; i < atomic_load(&f->log->count); i++) {
		const struct g_entry *e = &f->log->entry[i];

		assert_true(atomic_load(&e->state) != G_ENTRY_NONE);
		assert_int_equal(e->pos, f->pos[e->seq]);
		times[e->seq]++;
	}
	snprintf(dlq_name, sizeof(dlq_name), "%s.dlq", f->name);
	assert_rc(ring_topic_open(NULL, dlq_name, &dlq), 0);
	assert_rc(ring_reader_open(dlq, NULL, &r), 0);
	while (ring_reader_next(r, &rec, 0) == 0) {
		uint64_t seq;

		assert_rc(g_check(&rec, 0, &seq), 0);
		assert_true(seq < SH_RECORDS);
		in_dlq[seq] = 1;
	}
	r = ring_reader_close(r);
	dlq = ring_topic_close(dlq);
	for (uint64_t seq = 0; seq < SH_RECORDS; seq++) {
		if (!times[seq])
			fail_msg("seq %llu never processed", (unsigned long long)seq);
		if (poisoned(seq)) {
			npoisoned++;
			if (!in_dlq[seq])
				fail_msg("poisoned seq %llu not in the dead-letter topic",
					 (unsigned long long)seq);
			continue;
		}
		/* Deliveries the nacks explain, the first one included. */
		if (times[seq] > 1 + atomic_load(&f->sh->nacks[seq]))
			extra += times[seq] - 1 - atomic_load(&f->sh->nacks[seq]);
	}
	assert_rc(g_group_stat(f->topic, "sh", &s), 1);
	printf("# %llu processed more often than nacked; %llu redelivered, %llu dead-lettered\n",
	       (unsigned long long)extra, (unsigned long long)s.redelivered,
	       (unsigned long long)s.dead_lettered);
	assert_true(extra <= 2 * deaths);
	assert_true(s.dead_lettered >= npoisoned);
	assert_int_equal(s.committed_pos, f->pos[SH_RECORDS]);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(s.members, 0);
}

/* ---- group creation ---- */

static int creator_main(void *arg)
{
	const struct member_args *a = arg;
	struct ring_consumer *c;
	struct ring_topic *t;
	int rc;

	arm(a->point, 0);
	rc = ring_topic_open(NULL, a->f->name, &t);
	if (rc < 0)
		return fail_child(a, "topic open", rc);
	rc = ring_consumer_open(t, "born", NULL, &c);
	return fail_child(a, "open survived its crash point", rc);
}

static void test_creator_killed_mid_init_leaves_slot_reclaimable(void **state)
{
	struct fixture *f = *state;
	struct member_args a = { .f = f, .round = 1, .point = "group.create.mid_init" };
	struct ring_consumer *c = NULL;
	struct ring_group_stat s;
	struct ring_record rec;
	unsigned groups = 0;
	uint64_t t0;
	int status;
	char buf[64];

	publish(f, 3);
	f->child[1] = t_fork_child(creator_main, &a);
	assert_true(f->child[1] > 0);
	assert_rc(t_wait_child(f->child[1], CHILD_WAIT_NS, &status), 0);
	f->child[1] = 0;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("creator: %s: %s", status_text(status, buf, sizeof(buf)), f->sh->error[0]);
	/* The slot is half made: no group yet. */
	assert_rc(g_group_stat(f->topic, "born", &s), 0);
	t0 = t_now_ns();
	assert_rc(ring_consumer_open(f->topic, "born", NULL, &c), 0);
	/* Reclaimed because its creator is dead: no need to wait for the
	 * two seconds a live creator gets. */
	assert_true(t_now_ns() - t0 < NS_PER_S);
	assert_rc(ring_consumer_next(c, &rec, 0), 0);
	assert_int_equal(rec.position, f->pos[0]);
	c = ring_consumer_close(c);
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++)
		groups += ring_group_stat(f->topic, i, &s) == 1;
	assert_int_equal(groups, 1);
	assert_rc(g_group_stat(f->topic, "born", &s), 1);
	assert_int_equal(s.committed_pos, f->pos[1]);
}

/* The crash point's name comes in as the prestate. */
static int setup_point(void **state)
{
	const char *point = *state;

	if (setup(state) < 0)
		return -1;
	fx.point = point;
	return 0;
}

#define POINT_TEST(fn, pt) \
	cmocka_unit_test_prestate_setup_teardown(fn, setup_point, teardown, (void *)(pt))

int main(void)
{
	const struct CMUnitTest tests[] = {
		POINT_TEST(test_exclusive_member_killed_at_point, "group.exclusive.after_join"),
		POINT_TEST(test_exclusive_member_killed_at_point, "group.exclusive.after_read"),
		POINT_TEST(test_exclusive_member_killed_at_point, "group.exclusive.mid_commit"),
		POINT_TEST(test_exclusive_member_killed_at_point, "group.exclusive.mid_close"),
		POINT_TEST(test_shared_member_killed_at_point, "group.shared.before_claim"),
		POINT_TEST(test_shared_member_killed_at_point, "group.shared.after_claim"),
		POINT_TEST(test_shared_member_killed_at_point, "group.shared.before_ack"),
		POINT_TEST(test_shared_member_killed_at_point, "group.shared.mid_free"),
		POINT_TEST(test_shared_member_killed_at_point, "group.shared.after_retake"),
		POINT_TEST(test_shared_member_killed_at_point, "group.shared.after_dead_letter"),
		POINT_TEST(test_creator_killed_mid_init_leaves_slot_reclaimable,
			   "group.create.mid_init"),
	};

	if (!RING_CRASH_POINTS) {
		printf("# skipped: this build has no crash points (meson -Dcrash_points=true)\n");
		return T_EXIT_SKIP;
	}
	seed_state = t_seed();
	return cmocka_run_group_tests_name("group_crash_points", tests, NULL, NULL);
}
