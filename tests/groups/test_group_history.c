/* SPDX-License-Identifier: MIT */
/*
 * Description: consumer groups reading what the ring no longer holds,
 * from the segment files the real ringd writes, on a persistent 64 KiB
 * topic with 32 KiB segments.
 *
 * Positive space: a group that starts at the earliest record after three
 * ring capacities were published reads every record, first from the files
 * and then from the ring, in order and exactly once, while a producer in
 * another process keeps publishing (the hand-over happens under a moving
 * ring); a group started at a timestamp begins at the first record at or
 * after it, found through the segments' time index; a member asking for
 * durable records only never gets a record at or past `durable` (from the
 * ring or from the files), and gets them all once ringd has synced.
 * Negative space: a group whose position retention deleted gets -ERANGE
 * once, and its reset policy decides where it goes on: the earliest
 * retained record (then everything from there in order) or the tail.
 *
 * Skipped (exit 77) when ringd was not built.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"
#include "g.h"
#include "internal.h"
#include "segment_reader.h"

#define CAP (UINT64_C(64) << 10)
#define SEGMENT_BYTES (UINT64_C(32) << 10)
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)
#define PUBLISH_TIMEOUT_NS (10 * NS_PER_S) /* ringd drains long before */
#define READ_TIMEOUT_NS (10 * NS_PER_S)
#define MAX_SEQ 20000u
/* Four segments' worth: ringd's retention pass, every second, deletes the
 * oldest segments until the rest fit. */
#define RETENTION_BYTES (4 * SEGMENT_BYTES)
#define MIN_LEN 40u
#define MAX_LEN 300u

struct fixture {
	struct rd_daemon d;
	struct g_topics topics;
	char name[RING_TOPIC_NAME_MAX + 1];
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct ring_consumer *c[2];
	uint64_t seq;  /* next sequence number */
	uint64_t *pos; /* position of each sequence number */
	bool failed_setup;
};

static struct fixture fx;

static int setup_with(void **state, uint32_t fsync_policy, uint64_t retention_bytes)
{
	struct fixture *f = &fx;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.segment_bytes = SEGMENT_BYTES,
		.fsync_policy = fsync_policy,
		.retention_bytes = retention_bytes,
	};

	memset(f, 0, sizeof(*f));
	f->pos = calloc(MAX_SEQ, sizeof(*f->pos));
	if (!f->pos || g_ringd_init(&f->d) < 0 || g_ringd_start(&f->d) < 0)
		return -1;
	if (g_topic_setup(&f->topics, &f->d, "hist", &cfg, f->name, &f->topic, &f->prod) < 0) {
		g_ringd_fini(&f->d, true);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup_interval(void **state)
{
	return setup_with(state, RING_FSYNC_INTERVAL, 0);
}

static int setup_never_sync(void **state)
{
	return setup_with(state, RING_FSYNC_NEVER, 0);
}

static int setup_retention(void **state)
{
	return setup_with(state, RING_FSYNC_INTERVAL, RETENTION_BYTES);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < 2; i++)
		f->c[i] = ring_consumer_close(f->c[i]);
	g_topic_teardown(&f->topics, &f->topic, &f->prod);
	/* Print ringd's log only when something failed (cmocka does not tell
	 * teardown, so print when the ringd did not stop cleanly). */
	g_ringd_fini(&f->d, false);
	free(f->pos);
	return 0;
}

static void publish(struct fixture *f, uint64_t n)
{
	assert_true(f->seq + n <= MAX_SEQ);
	assert_rc(g_publish(f->prod, 0, f->seq, n, MIN_LEN, MAX_LEN, PUBLISH_TIMEOUT_NS, f->pos),
		  0);
	f->seq += n;
}

/* Publish until @bytes more of log exist. */
static void publish_bytes(struct fixture *f, uint64_t bytes)
{
	uint64_t end = g_tail(f->topic) + bytes;

	while (g_tail(f->topic) < end)
		publish(f, 64);
}

/* The next record of @c, which must be sequence number @seq. */
static void expect_seq(struct fixture *f, struct ring_consumer *c, uint64_t seq)
{
	struct ring_record rec;
	uint64_t got;

	assert_rc(ring_consumer_next(c, &rec, READ_TIMEOUT_NS), 0);
	assert_rc(g_check(&rec, 0, &got), 0);
	if (got != seq || rec.position != f->pos[seq])
		fail_msg("delivered seq %llu at %llu, expected seq %llu at %llu",
			 (unsigned long long)got, (unsigned long long)rec.position,
			 (unsigned long long)seq, (unsigned long long)f->pos[seq]);
	assert_int_equal(rec.deliveries, 1);
}

static uint64_t oldest(struct ring_topic *t)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(t, &st), 0);
	return st.oldest_pos;
}

/* ---- files, then the ring ---- */

struct more_args {
	struct ring_topic *topic;
	uint64_t first_seq;
	uint64_t count;
	uint64_t *pos; /* shared with the parent */
};

/* A second process keeps publishing while the group reads history. */
static int publish_more_main(void *arg)
{
	const struct more_args *a = arg;
	struct ring_producer *p;
	int rc = ring_producer_open(a->topic, &p);

	if (rc < 0)
		return 2;
	rc = g_publish(p, 0, a->first_seq, a->count, MIN_LEN, MAX_LEN, PUBLISH_TIMEOUT_NS, a->pos);
	p = ring_producer_close(p);
	return rc < 0 ? 3 : 0;
}

static void
test_group_earliest_after_three_capacities_reads_files_then_ring_exactly_once(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config early = { .start = RING_GROUP_START_EARLIEST };
	struct more_args more;
	uint64_t *shared_pos, first_more, more_count = 1500;
	struct ring_record rec;
	int status;
	pid_t pid;

	publish_bytes(f, 3 * CAP);
	/* The ring has been reused: position 0 is only in the files. */
	assert_true(oldest(f->topic) > f->pos[0]);
	assert_rc(ring_consumer_open(f->topic, "early", &early, &f->c[0]), 0);
	assert_int_equal(ring_consumer_position(f->c[0]), 0);

	/* The rest is published by another process while we read, so the
	 * ring keeps moving under the hand-over from the files to it. */
	shared_pos = t_shared_alloc(MAX_SEQ * sizeof(uint64_t));
	assert_non_null(shared_pos);
	first_more = f->seq;
	more = (struct more_args){
		.topic = f->topic, .first_seq = first_more, .count = more_count, .pos = shared_pos
	};
	pid = t_fork_child(publish_more_main, &more);
	assert_true(pid > 0);
	for (uint64_t s = 0; s < first_more; s++)
		expect_seq(f, f->c[0], s);
	assert_rc(t_wait_child(pid, 60 * NS_PER_S, &status), 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	memcpy(f->pos + first_more, shared_pos + first_more, more_count * sizeof(uint64_t));
	t_shared_free(shared_pos, MAX_SEQ * sizeof(uint64_t));
	f->seq += more_count;
	for (uint64_t s = first_more; s < f->seq; s++)
		expect_seq(f, f->c[0], s);
	/* Exactly once: nothing after the last one. */
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EAGAIN);
	assert_int_equal(ring_consumer_position(f->c[0]), g_tail(f->topic));
}

static void test_group_exclusive_reopened_in_files_resumes_at_commit(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config manual = {
		.start = RING_GROUP_START_EARLIEST,
		.flags = RING_CONSUMER_MANUAL_COMMIT,
	};

	publish_bytes(f, 2 * CAP);
	assert_rc(ring_consumer_open(f->topic, "resume", &manual, &f->c[0]), 0);
	for (uint64_t s = 0; s < 50; s++)
		expect_seq(f, f->c[0], s);
	assert_rc(ring_consumer_commit(f->c[0], f->pos[40]), 0);
	f->c[0] = ring_consumer_close(f->c[0]);
	publish_bytes(f, 2 * CAP);
	assert_true(oldest(f->topic) > f->pos[40]);
	assert_rc(ring_consumer_open(f->topic, "resume", &manual, &f->c[0]), 0);
	for (uint64_t s = 40; s < f->seq; s++)
		expect_seq(f, f->c[0], s);
	assert_rc(ring_consumer_next(f->c[0], &(struct ring_record){ 0 }, 0), -EAGAIN);
}

static void test_group_shared_member_reads_history_in_order(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config shared = { .mode = RING_GROUP_SHARED };
	struct ring_record rec;

	publish_bytes(f, 3 * CAP);
	assert_true(oldest(f->topic) > f->pos[0]);
	assert_rc(ring_consumer_open(f->topic, "sh", &shared, &f->c[0]), 0);
	for (uint64_t s = 0; s < f->seq; s++) {
		expect_seq(f, f->c[0], s);
		assert_rc(ring_consumer_ack(f->c[0], f->pos[s]), 0);
	}
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EAGAIN);
	assert_int_equal(g_group_committed(f->topic, "sh"), g_tail(f->topic));
}

/* ---- by time, through the time index ---- */

static void test_group_start_time_finds_record_in_files(void **state)
{
	struct fixture *f = *state;
	uint64_t when, first;

	publish_bytes(f, CAP);
	t_sleep_ns(2 * NS_PER_MS);
	when = t_realtime_ns();
	t_sleep_ns(2 * NS_PER_MS);
	first = f->seq;
	/* Past the time index interval, so the lookup uses an entry and
	 * scans on from it, and past the ring, so it must use the files. */
	publish_bytes(f, 3 * CAP);
	assert_true(oldest(f->topic) > f->pos[first]);
	assert_rc(ring_consumer_open(f->topic, "by-time",
				     &(struct ring_consumer_config){ .start = RING_GROUP_START_TIME,
								     .start_time_ns = when },
				     &f->c[0]),
		  0);
	assert_int_equal(ring_consumer_position(f->c[0]), f->pos[first]);
	for (uint64_t s = first; s < first + 100; s++)
		expect_seq(f, f->c[0], s);
}

/* ---- durable only ---- */

static bool durable_reached(void *arg)
{
	struct fixture *f = arg;
	struct ring_topic_stat st;

	return ring_topic_stat(f->topic, &st) == 0 && st.durable_pos == st.tail_pos;
}

static void test_group_durable_member_sees_only_durable_records(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config durable = {
		.start = RING_GROUP_START_EARLIEST,
		.flags = RING_CONSUMER_DURABLE,
	};
	struct ring_topic_stat st;
	struct ring_record rec;
	uint64_t got;

	/* fsync never: ringd writes the files but syncs only when it stops
	 * (and syncs what an earlier ringd wrote when it starts). */
	publish_bytes(f, 3 * CAP);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_true(st.durable_pos < st.oldest_pos); /* history beyond durable */
	assert_rc(ring_consumer_open(f->topic, "dur", &durable, &f->c[0]), 0);
	assert_rc(ring_consumer_open(f->topic, "plain", NULL, &f->c[1]), 0);
	/* An ordinary member reads what is not durable yet. */
	assert_rc(ring_consumer_next(f->c[1], &rec, READ_TIMEOUT_NS), 0);
	assert_true(rec.next_position > st.durable_pos);
	/* The durable one gets only records that end at or below `durable`. */
	for (uint64_t n = 0;; n++) {
		int rc = ring_consumer_next(f->c[0], &rec, 0);

		if (rc == -EAGAIN)
			break;
		assert_rc(rc, 0);
		assert_rc(g_check(&rec, 0, &got), 0);
		assert_int_equal(got, n);
		assert_true(rec.next_position <= st.durable_pos);
	}
	assert_true(ring_consumer_position(f->c[0]) <= st.durable_pos);
	assert_rc(ring_consumer_next(f->c[0], &rec, 50 * NS_PER_MS), -ETIMEDOUT);

	/* A clean stop syncs everything; a new ringd publishes it. */
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	assert_rc(g_ringd_start(&f->d), 0);
	assert_true(t_wait_until(durable_reached, f, 10 * NS_PER_S, NS_PER_MS));
	for (uint64_t s = 0; s < f->seq; s++) {
		uint64_t pos = ring_consumer_position(f->c[0]);

		if (pos > f->pos[s])
			continue; /* delivered before the stop */
		expect_seq(f, f->c[0], s);
	}
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EAGAIN);
}

/* ---- older than retention: -ERANGE, then the reset policy ---- */

/* Retention has deleted the start of the log and has nothing more to do
 * (the files fit in retention_bytes, counted as ringd counts them), so no
 * later pass deletes under the test. */
static bool retention_settled(void *arg)
{
	const struct fixture *f = arg;
	char dir[4200], path[4300];
	uint64_t *bases = NULL, total = 0;
	size_t count = 0;
	bool settled;

	snprintf(dir, sizeof(dir), "%s/%s", f->d.data_dir, f->name);
	if (ringi_seg_list(dir, &bases, &count) < 0)
		return false;
	for (size_t i = 0; i < count; i++) {
		static const char *const suffix[] = { RING_SEG_SUFFIX, RING_TIX_SUFFIX };

		for (unsigned k = 0; k < 2; k++) {
			struct stat st;

			if (ringi_seg_path(path, sizeof(path), dir, bases[i], suffix[k]) == 0 &&
			    stat(path, &st) == 0)
				total += (uint64_t)st.st_size;
		}
	}
	settled = count > 0 && bases[0] > f->pos[100] && total <= RETENTION_BYTES;
	free(bases);
	return settled;
}

static uint64_t first_segment_base(const struct fixture *f)
{
	char dir[4200];
	uint64_t *bases = NULL, base;
	size_t count = 0;

	snprintf(dir, sizeof(dir), "%s/%s", f->d.data_dir, f->name);
	assert_rc(ringi_seg_list(dir, &bases, &count), 0);
	assert_true(count > 0);
	base = bases[0];
	free(bases);
	return base;
}

static void test_group_older_than_retention_is_erange_then_reset_policy(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config to_earliest = {
		.start = RING_GROUP_START_EARLIEST,
		.reset = RING_RESET_EARLIEST,
	};
	const struct ring_consumer_config to_latest = {
		.start = RING_GROUP_START_EARLIEST,
		.reset = RING_RESET_LATEST,
	};
	const struct ring_consumer_config shared_earliest = {
		.mode = RING_GROUP_SHARED,
		.start = RING_GROUP_START_EARLIEST,
		.reset = RING_RESET_EARLIEST,
	};
	struct ring_consumer *sh = NULL;
	struct ring_record rec;
	uint64_t base, first, got;

	publish(f, 200);
	assert_rc(ring_consumer_open(f->topic, "to-earliest", &to_earliest, &f->c[0]), 0);
	assert_rc(ring_consumer_open(f->topic, "to-latest", &to_latest, &f->c[1]), 0);
	assert_rc(ring_consumer_open(f->topic, "sh-earliest", &shared_earliest, &sh), 0);
	assert_int_equal(ring_consumer_position(f->c[0]), 0);
	/* Ten segments more: retention (4 segments) deletes the first ones. */
	publish_bytes(f, 10 * SEGMENT_BYTES);
	assert_true(t_wait_until(retention_settled, f, 10 * NS_PER_S, 5 * NS_PER_MS));

	base = first_segment_base(f);
	assert_rc(ring_consumer_next(f->c[0], &rec, READ_TIMEOUT_NS), -ERANGE);
	/* Moved to the earliest retained record. */
	assert_int_equal(ring_consumer_position(f->c[0]), base);
	for (first = 0; f->pos[first] < ring_consumer_position(f->c[0]); first++)
		;
	for (uint64_t s = first; s < f->seq; s++)
		expect_seq(f, f->c[0], s);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EAGAIN);

	assert_rc(ring_consumer_next(f->c[1], &rec, READ_TIMEOUT_NS), -ERANGE);
	assert_int_equal(ring_consumer_position(f->c[1]), g_tail(f->topic));
	assert_rc(ring_consumer_next(f->c[1], &rec, 0), -EAGAIN);
	publish(f, 1);
	expect_seq(f, f->c[1], f->seq - 1);

	/* A shared group moves its hand-out position the same way. */
	assert_rc(ring_consumer_next(sh, &rec, READ_TIMEOUT_NS), -ERANGE);
	assert_int_equal(ring_consumer_position(sh), base);
	assert_rc(ring_consumer_next(sh, &rec, READ_TIMEOUT_NS), 0);
	assert_rc(g_check(&rec, 0, &got), 0);
	assert_int_equal(rec.position, base);
	assert_int_equal(rec.position, f->pos[got]);
	assert_rc(ring_consumer_ack(sh, rec.position), 0);
	sh = ring_consumer_close(sh);
}

int main(void)
{
#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_group_earliest_after_three_capacities_reads_files_then_ring_exactly_once,
		  setup_interval),
		T(test_group_exclusive_reopened_in_files_resumes_at_commit, setup_interval),
		T(test_group_shared_member_reads_history_in_order, setup_interval),
		T(test_group_start_time_finds_record_in_files, setup_interval),
		T(test_group_durable_member_sees_only_durable_records, setup_never_sync),
		T(test_group_older_than_retention_is_erange_then_reset_policy, setup_retention),
	};
#undef T

	if (rd_skip())
		return T_EXIT_SKIP;
	return cmocka_run_group_tests_name("group_history", tests, NULL, NULL);
}
