/* SPDX-License-Identifier: MIT */
/*
 * Description: a "reboot": ringd stopped, the topic's shared-memory ring
 * removed (as a host restart removes /dev/shm), ringd started again.
 * Positive space: ringd recreates the ring at the end of the log (tail,
 * persisted, durable and the oldest position all there), says so, and new
 * producers continue at exactly that position; the files then hold the
 * records of before and after the reboot, each once, in order, at the
 * positions publish returned. The same holds after ringd was killed
 * (SIGKILL) before the reboot, with records of a producer that waited for
 * durability. Negative space: before ringd recreates the ring, opening the
 * topic fails with -ENOENT.
 * And a shared group across the reboot: two member processes deliver part
 * of the topic and ack all but some records; the host goes down with them
 * (SIGKILL, then the reboot); two new member processes get exactly the
 * unacked records again, as redeliveries counted on, then every record
 * from where the group had got to, each once, and none that was acked.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdatomic.h>

#include "t.h"
#include "rd.h"

#define KIB 1024u
#define CAPACITY (128u * KIB)
#define MAX_RECORD 2048u
#define SEGMENT_BYTES (128u * KIB)

static const struct ring_topic_config topic_cfg = {
	.capacity_bytes = CAPACITY,
	.max_record_bytes = MAX_RECORD,
	.segment_bytes = SEGMENT_BYTES,
	.fsync_policy = RING_FSYNC_INTERVAL,
	.fsync_interval_ns = 5 * RD_NS_PER_MS,
};

static const struct rd_prod_spec spec[2] = {
	{ .min_len = 16, .max_len = 1800, .max_records = 1200, .batch_every = 3,
	  .timeout_ns = RD_NS_PER_S },
	{ .min_len = 16, .max_len = 400, .max_records = 120, .timeout_ns = RD_NS_PER_S,
	  .wait_durable = true },
};

/* Run the two producers of @spec as ids @id_base, @id_base + 1 to the end. */
static void run_producers(struct rd_fixture *f, struct rd_producers *ps, const char *name,
			  unsigned id_base)
{
	char why[256];

	assert_rc(rd_producers_start_ids(ps, f->dir, name, 2, spec, 30 * RD_NS_PER_S, id_base), 0);
	assert_true(rd_producers_wait_done(ps, 25 * RD_NS_PER_S));
	assert_rc(rd_producers_stop(ps, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
}

static void reboot(struct rd_fixture *f, const char *name, int stop_signal)
{
	struct ring_topic *t = NULL;
	int status = -1;

	assert_rc(rd_daemon_stop(&f->d, stop_signal, 20 * RD_NS_PER_S, &status), 0);
	if (stop_signal == SIGTERM)
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The host went down: its shared memory with it. */
	assert_rc(ring_topic_unlink(f->dir, name), 0);
	assert_rc(ring_topic_open(f->dir, name, &t), -ENOENT);
	assert_null(t);
	assert_rc(rd_daemon_start(&f->d), 0);
}

static void reboot_and_continue(struct rd_fixture *f, int stop_signal)
{
	struct rd_producers before = { 0 }, after = { 0 };
	struct rd_prod_spec both[4];
	uint64_t acked[4], durable[4], *pos[4];
	struct ring_topic *t = NULL;
	struct ring_topic_stat st;
	struct rd_check c = { 0 };
	char name[RING_TOPIC_NAME_MAX + 1], dir[256], needle[200];
	uint64_t end, first_after = UINT64_MAX;

	assert_rc(rd_topic_create(f, "reboot", &topic_cfg, name, sizeof(name), &t), 0);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	run_producers(f, &before, name, 0);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));
	assert_rc(ring_topic_stat(t, &st), 0);
	end = st.tail_pos;
	t = ring_topic_close(t);

	reboot(f, name, stop_signal);
	assert_rc(rd_wait_open(f->dir, name, 10 * RD_NS_PER_S, &t), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	snprintf(needle, sizeof(needle), "topic %s: created its ring (%" PRIu64
		 " bytes) at position %" PRIu64,
		 name, (uint64_t)CAPACITY, end);
	assert_int_equal(rd_log_count(&f->d, needle), 1);
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_int_equal(st.tail_pos, end);
	assert_int_equal(st.persisted_pos, end);
	assert_int_equal(st.durable_pos, end);
	assert_int_equal(st.oldest_pos, end);
	assert_int_equal(st.capacity_bytes, CAPACITY);

	/* New producers carry on where the log ends. */
	run_producers(f, &after, name, 2);
	for (unsigned i = 0; i < 2; i++)
		if (after.pos[i][0] < first_after)
			first_after = after.pos[i][0];
	assert_int_equal(first_after, end);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));
	assert_rc(rd_daemon_stop(&f->d, SIGTERM, 20 * RD_NS_PER_S, NULL), 0);

	/* Both runs' records, as ids 0, 1 (before) and 2, 3 (after). */
	for (unsigned i = 0; i < 2; i++) {
		both[i] = both[i + 2] = spec[i];
		acked[i] = rd_producers_acked(&before, i);
		acked[i + 2] = rd_producers_acked(&after, i);
		durable[i] = rd_producers_durable(&before, i);
		durable[i + 2] = rd_producers_durable(&after, i);
		pos[i] = before.pos[i];
		pos[i + 2] = after.pos[i];
	}
	assert_int_equal(acked[1], spec[1].max_records);
	assert_int_equal(durable[1], spec[1].max_records);
	c.nproducers = 4;
	c.spec = both;
	c.acked = acked;
	c.pos = pos;
	c.pos_cap = before.pos_cap < after.pos_cap ? before.pos_cap : after.pos_cap;
	rd_topic_dir(f, name, dir, sizeof(dir));
	if (rd_check_log(dir, MAX_RECORD, &c) < 0)
		fail_msg("%s", c.error);
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_int_equal(c.walk.end_pos, st.tail_pos);
	printf("# log end %" PRIu64 " at the reboot, %" PRIu64 " after, %u segments\n", end,
	       c.walk.end_pos, c.walk.segments);
	rd_producers_free(&before);
	rd_producers_free(&after);
	t = ring_topic_close(t);
}

static void test_reboot_after_clean_stop(void **state)
{
	struct rd_fixture *f = *state;

	reboot_and_continue(f, SIGTERM);
	f->passed = true;
}

static void test_reboot_after_ringd_crash(void **state)
{
	struct rd_fixture *f = *state;

	reboot_and_continue(f, SIGKILL);
	f->passed = true;
}

/* ---- a shared group across a reboot ---- */

#define SH_RECORDS 300u
#define SH_HANDED_OUT 200u	/* members before the reboot stop about here */
#define SH_UNACKED(seq) ((seq) % 13 == 5)
#define SH_LOG_MAX 1024u
#define SH_GROUP "work"

/* What member processes delivered, in shared memory. */
struct sh_log {
	atomic_uint count;
	atomic_uint stop;
	atomic_uint ready;	/* members that finished their part */
	struct {
		uint64_t seq;
		uint64_t pos;
		uint32_t deliveries;
		atomic_uint valid;
	} rec[SH_LOG_MAX];
};

/*
 * A member process: deliver from the group, log each record, ack it unless
 * @keep_unacked says so. Before the reboot (@budget > 0) it stops once the
 * members together delivered @budget records, and waits to be killed; after
 * it, it goes on until told to stop, then closes. Returns an exit code.
 */
static int sh_member(const char *dir, const char *topic, struct sh_log *log, unsigned budget,
		     bool keep_unacked)
{
	const struct ring_consumer_config cfg = { .mode = RING_GROUP_SHARED };
	struct ring_consumer *c = NULL;
	struct ring_topic *t = NULL;
	uint64_t end = t_now_ns() + 60 * RD_NS_PER_S;

	if (ring_topic_open(dir, topic, &t) < 0 || ring_consumer_open(t, SH_GROUP, &cfg, &c) < 0)
		return 2;
	while (t_now_ns() < end && !atomic_load(&log->stop) &&
	       (!budget || atomic_load(&log->count) < budget)) {
		struct ring_record rec;
		uint32_t id;
		uint64_t seq;
		unsigned i;
		int rc = ring_consumer_next(c, &rec, 10 * RD_NS_PER_MS);

		if (rc == -ETIMEDOUT || rc == -EAGAIN)
			continue;
		if (rc < 0)
			return 3;
		if (t_payload_check(rec.payload, rec.len, &id, &seq) < 0 || id != 0)
			return 4;
		i = atomic_fetch_add(&log->count, 1);
		if (i >= SH_LOG_MAX)
			return 5;
		log->rec[i].seq = seq;
		log->rec[i].pos = rec.position;
		log->rec[i].deliveries = rec.deliveries;
		atomic_store(&log->rec[i].valid, 1);
		if (!(keep_unacked && SH_UNACKED(seq)) && ring_consumer_ack(c, rec.position) < 0)
			return 6;
	}
	if (budget) {
		/* Done: the host goes down with us (SIGKILL). */
		atomic_fetch_add(&log->ready, 1);
		for (;;)
			pause();
	}
	c = ring_consumer_close(c);
	t = ring_topic_close(t);
	return 0;
}

static void sh_fork_members(pid_t pid[2], const char *dir, const char *topic, struct sh_log *log,
			    unsigned budget, bool keep_unacked)
{
	for (unsigned i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0)
			_exit(sh_member(dir, topic, log, budget, keep_unacked));
	}
}

static void test_reboot_shared_group_redelivers_only_in_flight(void **state)
{
	struct rd_fixture *f = *state;
	struct sh_log *before = t_shared_alloc(sizeof(*before));
	struct sh_log *after = t_shared_alloc(sizeof(*after));
	static uint64_t pos[SH_RECORDS + 1];
	static uint8_t delivered[SH_RECORDS], seen[SH_RECORDS];
	struct ring_producer *p = NULL;
	struct ring_topic *t = NULL;
	struct ring_group_stat gs;
	struct ring_topic_stat st;
	bool found = false;
	char name[RING_TOPIC_NAME_MAX + 1], needle[256];
	unsigned handed = 0, unacked = 0, want, got;
	uint64_t low = UINT64_MAX, deadline;
	uint8_t buf[MAX_RECORD];
	pid_t pid[2];

	assert_non_null(before);
	assert_non_null(after);
	assert_rc(rd_topic_create(f, "shared", &topic_cfg, name, sizeof(name), &t), 0);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	/* More than the ring holds: the members read the first ones from
	 * the segment files. */
	assert_rc(ring_producer_open(t, &p), 0);
	for (uint64_t seq = 0; seq < SH_RECORDS; seq++) {
		size_t len = t_payload_len(0, seq, 16, 1000);

		t_payload_fill(buf, len, 0, seq);
		assert_rc(ring_producer_publish(p, 1, buf, len, 10 * RD_NS_PER_S, &pos[seq]), 0);
	}
	p = ring_producer_close(p);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));

	sh_fork_members(pid, f->dir, name, before, SH_HANDED_OUT, true);
	deadline = t_now_ns() + 60 * RD_NS_PER_S;
	while (atomic_load(&before->ready) < 2 && t_now_ns() < deadline)
		t_sleep_ns(RD_NS_PER_MS);
	assert_int_equal(atomic_load(&before->ready), 2);
	for (unsigned i = 0; i < 2; i++) {
		int status = 0;

		kill(pid[i], SIGKILL);
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFSIGNALED(status));
	}
	/* Handed out in order: records 0 .. handed - 1, each once. */
	handed = atomic_load(&before->count);
	assert_true(handed >= SH_HANDED_OUT && handed < SH_RECORDS);
	for (unsigned i = 0; i < handed; i++) {
		uint64_t seq = before->rec[i].seq;

		assert_int_equal(atomic_load(&before->rec[i].valid), 1);
		assert_true(seq < handed && !delivered[seq]);
		assert_int_equal(before->rec[i].pos, pos[seq]);
		assert_int_equal(before->rec[i].deliveries, 1);
		delivered[seq] = 1;
		if (SH_UNACKED(seq)) {
			unacked++;
			if (pos[seq] < low)
				low = pos[seq];
		}
	}
	assert_true(unacked > 10);
	t = ring_topic_close(t);

	/* The host goes down; ringd logged the group's state as it stopped. */
	reboot(f, name, SIGTERM);
	assert_rc(rd_wait_open(f->dir, name, 10 * RD_NS_PER_S, &t), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	snprintf(needle, sizeof(needle),
		 "group " SH_GROUP " restored at position %" PRIu64 ", next %" PRIu64
		 ", %u in flight",
		 low, pos[handed], unacked);
	assert_int_equal(rd_log_count(&f->d, needle), 1);

	sh_fork_members(pid, f->dir, name, after, 0, false);
	want = unacked + (SH_RECORDS - handed);
	deadline = t_now_ns() + 60 * RD_NS_PER_S;
	while (atomic_load(&after->count) < want && t_now_ns() < deadline)
		t_sleep_ns(RD_NS_PER_MS);
	/* A while longer: anything delivered twice would show. */
	t_sleep_ns(300 * RD_NS_PER_MS);
	atomic_store(&after->stop, 1);
	for (unsigned i = 0; i < 2; i++) {
		int status = 0;

		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("member %u after the reboot: status 0x%x", i, status);
	}
	got = atomic_load(&after->count);
	printf("# %u handed out, %u unacked before the reboot; %u delivered after\n", handed,
	       unacked, got);
	assert_int_equal(got, want);
	for (unsigned i = 0; i < got; i++) {
		uint64_t seq = after->rec[i].seq;

		assert_int_equal(atomic_load(&after->rec[i].valid), 1);
		assert_true(seq < SH_RECORDS);
		if (seen[seq])
			fail_msg("record %" PRIu64 " delivered twice after the reboot", seq);
		seen[seq] = 1;
		assert_int_equal(after->rec[i].pos, pos[seq]);
		if (seq < handed) {
			if (!SH_UNACKED(seq))
				fail_msg("record %" PRIu64 " was acked and came again", seq);
			assert_int_equal(after->rec[i].deliveries, 2);
		} else {
			assert_int_equal(after->rec[i].deliveries, 1);
		}
	}
	/* Everything acked: the group is at the end. */
	assert_rc(ring_topic_stat(t, &st), 0);
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		if (ring_group_stat(t, i, &gs) == 1 && !strcmp(gs.name, SH_GROUP)) {
			assert_int_equal(gs.committed_pos, st.tail_pos);
			assert_int_equal(gs.in_flight, 0);
			found = true;
		}
	}
	assert_true(found);
	t = ring_topic_close(t);
	t_shared_free(before, sizeof(*before));
	t_shared_free(after, sizeof(*after));
	f->passed = true;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, rd_setup, rd_teardown)
	const struct CMUnitTest tests[] = {
		T(test_reboot_after_clean_stop),
		T(test_reboot_after_ringd_crash),
		T(test_reboot_shared_group_redelivers_only_in_flight),
	};
#undef T

	if (rd_skip())
		return T_EXIT_SKIP;
	return cmocka_run_group_tests_name("ringd_reboot", tests, NULL, NULL);
}
