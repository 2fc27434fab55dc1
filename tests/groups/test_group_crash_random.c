/* SPDX-License-Identifier: MIT */
/*
 * Description: consumer group members and ringd SIGKILLed at random
 * instants under load, on a persistent 256 KiB topic that the real ringd
 * persists into 256 KiB segments, so that members who fall behind read
 * from the files.
 *
 * The test process publishes self-checking records in random batches for
 * a few seconds while an exclusive member (manual commits every C
 * records) and two shared members (ack every record) consume them in
 * processes of their own. Between batches, at random: a member is killed
 * and replaced; ringd is killed and restarted under the members; ringd and
 * every member are killed together, ringd restarted, the members reopen;
 * and once, a "reboot": members stopped, ringd killed, the shared-memory
 * ring removed, ringd restarted, which recreates the ring at the end of
 * the log and restores both groups from its offsets log. Then the load
 * stops and the last members drain the topic.
 *
 * Afterwards, the exclusive group: every record processed at least once;
 * each member incarnation processed consecutive records, starting at or
 * after the last commit its predecessor saw succeed and at most one past
 * the last record processed, so no more than C records twice per takeover;
 * committed at the tail. The shared group: every record processed at least
 * once; records processed twice at most two per member killed, plus, for
 * the reboot, the records between the group's committed watermark and its
 * hand-out position at that moment (a loose bound: ringd logs the group's
 * in-flight records and next, so only those, and whatever was handed out
 * after the last logged state, come again); committed at the tail.
 *
 * Prints its seed; RING_TEST_SEED replays the sequence of events. Skipped
 * (exit 77) when ringd was not built.
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

#define CAP (UINT64_C(256) << 10)
#define SEGMENT_BYTES (UINT64_C(256) << 10)
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)
#define CHAOS_NS (6 * NS_PER_S)
#define DRAIN_NS (40 * NS_PER_S)
#define CHILD_WAIT_NS (20 * NS_PER_S)
#define PUBLISH_TIMEOUT_NS (10 * NS_PER_S)
#define MAX_SEQ 40000u
#define LOG_MAX (4u * MAX_SEQ)
#define MIN_LEN 32u
#define MAX_LEN 200u
#define COMMIT_EVERY 5u /* C */

enum { M_EXCL, M_SHARED0, M_SHARED1, NMEMBERS };

static uint64_t seed_state;

/* Written by the members, read by the parent. */
struct shared {
	_Atomic uint32_t stop;
	_Atomic uint64_t ex_commit_seq; /* seq after the last commit that returned 0 */
	char error[NMEMBERS][200];
};

struct fixture {
	struct rd_daemon d;
	struct g_topics topics;
	char name[RING_TOPIC_NAME_MAX + 1];
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct shared *sh;
	struct g_log *log;
	pid_t member[NMEMBERS];
	uint32_t round[NMEMBERS]; /* incarnations so far */
	uint64_t kills[NMEMBERS];
	uint64_t ringd_kills;
	uint64_t seq;  /* records published */
	uint64_t *pos; /* their positions; pos[seq] is the tail */
	/* Exclusive takeovers: the commit seq its predecessor saw last,
	 * per incarnation. */
	uint64_t ex_commit_at_start[4096];
	uint64_t reboot_allowance; /* shared records the reboot may repeat */
};

static struct fixture fx;

static int setup(void **state)
{
	struct fixture *f = &fx;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.segment_bytes = SEGMENT_BYTES,
	};

	memset(f, 0, sizeof(*f));
	f->pos = calloc(MAX_SEQ + 1, sizeof(*f->pos));
	f->sh = t_shared_alloc(sizeof(*f->sh));
	f->log = g_log_alloc(LOG_MAX);
	if (!f->pos || !f->sh || !f->log || g_ringd_init(&f->d) < 0 || g_ringd_start(&f->d) < 0 ||
	    g_topic_setup(&f->topics, &f->d, "gcr", &cfg, f->name, &f->topic, &f->prod) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	g_kill_children(f->member, NMEMBERS);
	g_topic_teardown(&f->topics, &f->topic, &f->prod);
	g_ringd_fini(&f->d, false);
	t_shared_free(f->sh, sizeof(*f->sh));
	g_log_free(f->log);
	free(f->pos);
	return 0;
}

/* ---- members ---- */

struct member_args {
	struct fixture *f;
	unsigned index;
	uint32_t round;
};

static uint32_t tag(unsigned index, uint32_t round)
{
	return (uint32_t)index << 24 | round;
}

static int member_fail(const struct member_args *a, const char *what, int rc)
{
	snprintf(a->f->sh->error[a->index], sizeof(a->f->sh->error[0]), "round %u: %s: %d (%s)",
		 a->round, what, rc, ring_strerror(rc));
	return 1;
}

static int member_main(void *arg)
{
	const struct member_args *a = arg;
	const struct ring_consumer_config excl = { .flags = RING_CONSUMER_MANUAL_COMMIT };
	const struct ring_consumer_config shared = { .mode = RING_GROUP_SHARED };
	struct shared *sh = a->f->sh;
	uint64_t deadline = t_now_ns() + CHAOS_NS + DRAIN_NS, n = 0, seq;
	struct ring_consumer *c = NULL;
	struct ring_topic *t;
	int rc;

	/* After a reboot the ring is back once ringd has recreated it. */
	rc = rd_wait_open(a->f->d.data_dir, a->f->name, 10 * NS_PER_S, &t);
	if (rc < 0)
		return member_fail(a, "topic open", rc);
	for (unsigned tries = 0; tries < 1000; tries++) {
		rc = ring_consumer_open(t, a->index == M_EXCL ? "ex" : "sh",
					a->index == M_EXCL ? &excl : &shared, &c);
		if (rc != -EBUSY && rc != -ETIMEDOUT)
			break;
		t_sleep_ns(NS_PER_MS); /* a predecessor not yet seen dead */
	}
	if (rc < 0)
		return member_fail(a, "consumer open", rc);
	while (!atomic_load(&sh->stop)) {
		struct ring_record rec;
		int64_t i;

		if (t_now_ns() > deadline)
			return member_fail(a, "not stopped in time", -ETIMEDOUT);
		rc = ring_consumer_next(c, &rec, 10 * NS_PER_MS);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return member_fail(a, "next", rc);
		if (g_check(&rec, 0, &seq) < 0 || seq >= MAX_SEQ)
			return member_fail(a, "payload", -EBADMSG);
		i = g_log_append(a->f->log, tag(a->index, a->round), &rec, seq);
		if (i < 0)
			return member_fail(a, "log", -ENOSPC);
		if (a->index == M_EXCL) {
			if (++n % COMMIT_EVERY)
				continue;
			rc = ring_consumer_commit(c, rec.next_position);
			if (rc < 0)
				return member_fail(a, "commit", rc);
			atomic_store(&sh->ex_commit_seq, seq + 1);
		} else {
			rc = ring_consumer_ack(c, rec.position);
			if (rc < 0)
				return member_fail(a, "ack", rc);
			atomic_store(&a->f->log->entry[i].state, G_ENTRY_ACKED);
		}
	}
	if (a->index == M_EXCL) {
		rc = ring_consumer_commit(c, ring_consumer_position(c));
		if (rc < 0)
			return member_fail(a, "last commit", rc);
	}
	c = ring_consumer_close(c);
	t = ring_topic_close(t);
	return 0;
}

static void start_member(struct fixture *f, unsigned index)
{
	struct member_args a = { .f = f, .index = index, .round = ++f->round[index] };

	assert_true(f->round[index] < 4096);
	if (index == M_EXCL)
		f->ex_commit_at_start[a.round] = atomic_load(&f->sh->ex_commit_seq);
	f->member[index] = t_fork_child(member_main, &a);
	assert_true(f->member[index] > 0);
}

/* SIGKILL a member and reap it; it must not have died of anything else. */
static void kill_member(struct fixture *f, unsigned index)
{
	int status;
	char buf[64];

	(void)kill(f->member[index], SIGKILL);
	assert_rc(t_wait_child(f->member[index], CHILD_WAIT_NS, &status), 0);
	f->member[index] = 0;
	if (WIFEXITED(status))
		fail_msg("member %u exited before its kill: %s: %s", index,
			 t_status_str(status, buf, sizeof(buf)), f->sh->error[index]);
	f->kills[index]++;
}

static void check_members_alive(struct fixture *f)
{
	for (unsigned i = 0; i < NMEMBERS; i++) {
		int status;
		char buf[64];

		if (waitpid(f->member[i], &status, WNOHANG) == f->member[i]) {
			f->member[i] = 0;
			fail_msg("member %u died on its own: %s: %s", i,
				 t_status_str(status, buf, sizeof(buf)), f->sh->error[i]);
		}
	}
}

/* ---- the load and the events ---- */

static void publish_batch(struct fixture *f, uint64_t n)
{
	if (f->seq + n > MAX_SEQ)
		n = MAX_SEQ - f->seq;
	assert_rc(g_publish(f->prod, 0, f->seq, n, MIN_LEN, MAX_LEN, PUBLISH_TIMEOUT_NS, f->pos),
		  0);
	f->seq += n;
	f->pos[f->seq] = g_tail(f->topic);
}

static void restart_ringd(struct fixture *f)
{
	(void)rd_daemon_stop(&f->d, SIGKILL, 10 * NS_PER_S, NULL);
	f->ringd_kills++;
	assert_rc(g_ringd_start(&f->d), 0);
}

/* Records of the shared group between its watermark and its hand-out
 * position: at most what a reboot hands out again. */
static uint64_t shared_window(struct fixture *f)
{
	struct ring_group_stat s;
	uint64_t n = 0;

	if (g_group_stat(f->topic, "sh", &s) != 1)
		return 0;
	for (uint64_t seq = 0; seq < f->seq; seq++)
		n += f->pos[seq] >= s.committed_pos && f->pos[seq] < s.next_pos;
	return n;
}

static void reboot(struct fixture *f)
{
	for (unsigned i = 0; i < NMEMBERS; i++)
		kill_member(f, i);
	/* ringd appends committed positions every millisecond or so; give
	 * it time to log the members' last ones, and to write every record
	 * (a reboot keeps what was written: no power loss here). */
	t_sleep_ns(100 * NS_PER_MS);
	assert_true(rd_wait_drained(f->topic, 10 * NS_PER_S));
	f->reboot_allowance += shared_window(f);
	(void)rd_daemon_stop(&f->d, SIGKILL, 10 * NS_PER_S, NULL);
	f->ringd_kills++;
	f->prod = ring_producer_close(f->prod);
	f->topic = ring_topic_close(f->topic);
	assert_rc(ring_topic_unlink(f->d.data_dir, f->name), 0);
	assert_rc(g_ringd_start(&f->d), 0);
	assert_rc(rd_wait_open(f->d.data_dir, f->name, 10 * NS_PER_S, &f->topic), 0);
	assert_true(rd_wait_served(&f->d, f->topic, 10 * NS_PER_S));
	assert_rc(ring_producer_open(f->topic, &f->prod), 0);
	/* The log ends where the old ring's tail was: positions go on. */
	assert_int_equal(g_tail(f->topic), f->pos[f->seq]);
	for (unsigned i = 0; i < NMEMBERS; i++)
		start_member(f, i);
}

/* ---- the checks ---- */

struct drain_state {
	struct fixture *f;
	uint8_t *ex_seen, *sh_seen;
};

static bool drained(void *arg)
{
	struct drain_state *ds = arg;
	struct fixture *f = ds->f;
	uint64_t count = atomic_load(&f->log->count);

	for (uint64_t i = 0; i < count && i < f->log->max; i++) {
		const struct g_entry *e = &f->log->entry[i];
		uint32_t st = atomic_load(&e->state);

		if (st == G_ENTRY_NONE || e->seq >= MAX_SEQ)
			continue;
		if (e->round >> 24 == M_EXCL)
			ds->ex_seen[e->seq] = 1;
		else
			ds->sh_seen[e->seq] = 1;
	}
	for (uint64_t seq = 0; seq < f->seq; seq++)
		if (!ds->ex_seen[seq] || !ds->sh_seen[seq])
			return false;
	return g_group_committed(f->topic, "sh") == f->pos[f->seq];
}

static void check_exclusive(struct fixture *f)
{
	uint64_t max_seq = 0, dups = 0, processed = 0;
	bool any = false;

	for (uint32_t round = 1; round <= f->round[M_EXCL]; round++) {
		bool first = true;
		uint64_t prev = 0;

		for (uint64_t i = 0; i < atomic_load(&f->log->count); i++) {
			const struct g_entry *e = &f->log->entry[i];

			if (e->round != tag(M_EXCL, round) ||
			    atomic_load(&e->state) == G_ENTRY_NONE)
				continue;
			assert_int_equal(e->pos, f->pos[e->seq]);
			if (first) {
				uint64_t committed = f->ex_commit_at_start[round];

				if (e->seq < committed || (any && e->seq > max_seq + 1) ||
				    (!any && e->seq != 0))
					fail_msg(
						"exclusive round %u starts at seq %llu: last commit "
						"%llu, last processed %llu",
						round, (unsigned long long)e->seq,
						(unsigned long long)committed,
						(unsigned long long)max_seq);
				if (any && e->seq <= max_seq) {
					if (max_seq + 1 - e->seq > COMMIT_EVERY)
						fail_msg(
							"exclusive round %u repeats %llu records",
							round,
							(unsigned long long)(max_seq + 1 - e->seq));
					dups += max_seq + 1 - e->seq;
				}
			} else if (e->seq != prev + 1) {
				fail_msg("exclusive round %u: seq %llu after %llu", round,
					 (unsigned long long)e->seq, (unsigned long long)prev);
			}
			first = false;
			prev = e->seq;
			if (!any || e->seq > max_seq)
				max_seq = e->seq;
			any = true;
			processed++;
		}
	}
	/* dups sums the ranges each takeover went back over (each at most
	 * C); a member killed again inside one repeats less than that. */
	printf("# exclusive: %u members, %llu killed, %llu processed, %llu twice (takeovers "
	       "went back %llu)\n",
	       f->round[M_EXCL], (unsigned long long)f->kills[M_EXCL],
	       (unsigned long long)processed, (unsigned long long)(processed - f->seq),
	       (unsigned long long)dups);
	assert_int_equal(max_seq + 1, f->seq);
	assert_true(processed >= f->seq && processed - f->seq <= dups);
	assert_true(dups <= f->kills[M_EXCL] * COMMIT_EVERY);
	assert_int_equal(g_group_committed(f->topic, "ex"), f->pos[f->seq]);
}

static void check_shared(struct fixture *f)
{
	uint32_t *times = calloc(MAX_SEQ, sizeof(*times));
	uint64_t extra = 0, kills = f->kills[M_SHARED0] + f->kills[M_SHARED1];

	assert_non_null(times);
	for (uint64_t i = 0; i < atomic_load(&f->log->count); i++) {
		const struct g_entry *e = &f->log->entry[i];

		if (e->round >> 24 == M_EXCL || atomic_load(&e->state) == G_ENTRY_NONE)
			continue;
		assert_int_equal(e->pos, f->pos[e->seq]);
		times[e->seq]++;
	}
	for (uint64_t seq = 0; seq < f->seq; seq++) {
		if (!times[seq])
			fail_msg("shared: seq %llu never processed", (unsigned long long)seq);
		extra += times[seq] - 1;
	}
	free(times);
	printf("# shared: %llu members killed, %llu processed twice (allowed %llu + %llu for the "
	       "reboot)\n",
	       (unsigned long long)kills, (unsigned long long)extra,
	       (unsigned long long)(2 * kills), (unsigned long long)f->reboot_allowance);
	assert_true(extra <= 2 * kills + f->reboot_allowance);
	assert_int_equal(g_group_committed(f->topic, "sh"), f->pos[f->seq]);
}

static void test_members_and_ringd_killed_at_random_under_load(void **state)
{
	struct fixture *f = *state;
	uint64_t start = t_now_ns(), iterations = 0;
	bool rebooted = false;
	struct drain_state ds = { .f = f };

	for (unsigned i = 0; i < NMEMBERS; i++)
		start_member(f, i);
	while (t_now_ns() - start < CHAOS_NS && f->seq < MAX_SEQ) {
		uint64_t dice = t_rand_range(&seed_state, 0, 999);

		iterations++;
		publish_batch(f, t_rand_range(&seed_state, 1, 40));
		check_members_alive(f);
		if (!rebooted && (t_now_ns() - start > CHAOS_NS / 2 || f->seq > MAX_SEQ / 2)) {
			reboot(f);
			rebooted = true;
		} else if (dice < 60) {
			unsigned victim = (unsigned)t_rand_range(&seed_state, 0, NMEMBERS - 1);

			kill_member(f, victim);
			start_member(f, victim);
		} else if (dice < 68) {
			/* ringd alone: members go on, producers wait for it. */
			restart_ringd(f);
		} else if (dice < 74) {
			/* Both: every member and ringd, then all come back. */
			for (unsigned i = 0; i < NMEMBERS; i++)
				kill_member(f, i);
			restart_ringd(f);
			for (unsigned i = 0; i < NMEMBERS; i++)
				start_member(f, i);
		}
		t_sleep_ns(t_rand_range(&seed_state, 0, 2 * NS_PER_MS));
	}
	assert_true(rebooted);
	printf("# %llu records in %llu rounds; ringd killed %llu times\n",
	       (unsigned long long)f->seq, (unsigned long long)iterations,
	       (unsigned long long)f->ringd_kills);

	/* The load stops; the last members drain the topic. */
	ds.ex_seen = calloc(MAX_SEQ, 1);
	ds.sh_seen = calloc(MAX_SEQ, 1);
	assert_non_null(ds.ex_seen);
	assert_non_null(ds.sh_seen);
	if (!t_wait_until(drained, &ds, DRAIN_NS, 5 * NS_PER_MS)) {
		for (unsigned i = 0; i < NMEMBERS; i++)
			printf("# member %u: %s\n", i, f->sh->error[i]);
		rd_log_print(&f->d);
		fail_msg("not drained in time: shared committed %llu of %llu",
			 (unsigned long long)g_group_committed(f->topic, "sh"),
			 (unsigned long long)f->pos[f->seq]);
	}
	free(ds.ex_seen);
	free(ds.sh_seen);
	atomic_store(&f->sh->stop, 1);
	for (unsigned i = 0; i < NMEMBERS; i++) {
		char msg[512];

		if (t_reap_ok(&f->member[i], CHILD_WAIT_NS, f->sh->error[i], msg, sizeof(msg)) < 0)
			fail_msg("member %u: %s", i, msg);
	}
	check_exclusive(f);
	check_shared(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_members_and_ringd_killed_at_random_under_load,
						setup, teardown),
	};

	if (rd_skip())
		return T_EXIT_SKIP;
	seed_state = t_seed();
	return cmocka_run_group_tests_name("group_crash_random", tests, NULL, NULL);
}
