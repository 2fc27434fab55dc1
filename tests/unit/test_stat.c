/* SPDX-License-Identifier: MIT */
/*
 * Description: ring_topic_stat() on one anonymous 128 KiB topic in one
 * process. Positive space: it reports the topic's settings as created
 * (capacity, max record, claim timeout, flags, creation time, no NUMA
 * node, no daemon); the tail, frontier, oldest and limit positions follow
 * publishes, claims and wraps; producers and gating readers are counted,
 * with this process's pid for each producer; a claim that holds the
 * frontier back for over a millisecond is named with its pid and
 * position. Negative space: NULL arguments give -EINVAL and leave the
 * output untouched.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"

#define CAP (UINT64_C(128) << 10)
#define MAX_RECORD 1000u
#define CLAIM_TIMEOUT_NS (UINT64_C(10) * 1000 * 1000 * 1000)	/* never reached here */

struct fixture {
	struct ring_topic *topic;
	uint64_t created_after;		/* CLOCK_REALTIME bounds of the creation */
	uint64_t created_before;
	struct ring_producer *prod[4];
	struct ring_reader *reader[2];
};

static int setup_topic(void **state)
{
	static struct fixture f;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.max_record_bytes = MAX_RECORD,
		.flags = RING_TOPIC_ANON,
		.claim_timeout_ns = CLAIM_TIMEOUT_NS,
	};

	memset(&f, 0, sizeof(f));
	f.created_after = t_realtime_ns();
	if (ring_topic_create(NULL, "stat-topic", &cfg, &f.topic) < 0)
		return -1;
	f.created_before = t_realtime_ns();
	*state = &f;
	return 0;
}

static int teardown_topic(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < 2; i++)
		f->reader[i] = ring_reader_close(f->reader[i]);
	for (unsigned i = 0; i < 4; i++)
		f->prod[i] = ring_producer_close(f->prod[i]);
	f->topic = ring_topic_close(f->topic);
	return 0;
}

static struct ring_topic_stat stat_of(struct fixture *f)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(f->topic, &st), 0);
	return st;
}

static void test_stat_reports_settings_as_created(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st = stat_of(f);

	assert_string_equal(st.name, "stat-topic");
	assert_int_equal(st.capacity_bytes, CAP);
	assert_int_equal(st.max_record_bytes, MAX_RECORD);
	assert_int_equal(st.claim_timeout_ns, CLAIM_TIMEOUT_NS);
	assert_int_equal(st.flags, RING_TOPIC_ANON | RING_TOPIC_EPHEMERAL);
	assert_true(st.created_ns >= f->created_after && st.created_ns <= f->created_before);
	assert_int_equal(st.numa_node, -1);
	assert_int_equal(st.daemon_pid, 0);
	assert_int_equal(st.daemon_alive, 0);
	assert_int_equal(st.producers, 0);
	assert_int_equal(st.gating_readers, 0);
	assert_int_equal(st.repaired_claims, 0);
	assert_int_equal(st.stuck_pid, 0);
	assert_int_equal(st.tail_pos, 0);
	assert_int_equal(st.frontier_pos, 0);
	assert_int_equal(st.oldest_pos, 0);
	assert_int_equal(st.limit_pos, CAP);
}

static void test_stat_positions_follow_publishes_and_claims(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;
	struct ring_claim claim;
	uint8_t buf[MAX_RECORD] = { 0 };

	assert_rc(ring_producer_open(f->topic, &f->prod[0]), 0);
	assert_rc(ring_producer_publish(f->prod[0], 1, buf, 100, 0, NULL), 0);	/* span 128 */
	assert_rc(ring_producer_publish(f->prod[0], 1, buf, 0, 0, NULL), 0);	/* span 24 */
	st = stat_of(f);
	assert_int_equal(st.tail_pos, 152);
	assert_int_equal(st.frontier_pos, 152);

	/* An open claim moves the tail but not the frontier. */
	assert_rc(ring_producer_reserve(f->prod[0], 1, 40, 0, &claim), 0);
	st = stat_of(f);
	assert_int_equal(st.tail_pos, 152 + 64);
	assert_int_equal(st.frontier_pos, 152);
	assert_rc(ring_producer_commit(f->prod[0], &claim), 0);
	assert_int_equal(stat_of(f).frontier_pos, 152 + 64);

	/* Past a whole ring the limit and the oldest position move up. */
	for (unsigned i = 0; i < 2 * CAP / 1024; i++)
		assert_rc(ring_producer_publish(f->prod[0], 1, buf, MAX_RECORD, 0, NULL), 0);
	st = stat_of(f);
	assert_true(st.tail_pos > CAP);
	assert_true(st.oldest_pos > 0 && st.oldest_pos <= st.tail_pos);
	assert_true(st.limit_pos > CAP && st.limit_pos <= st.oldest_pos + CAP);
	assert_true(st.tail_pos <= st.limit_pos);
	assert_int_equal(st.frontier_pos, st.tail_pos);
}

static void test_stat_counts_producers_with_their_pids(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;

	for (unsigned i = 0; i < 4; i++)
		assert_rc(ring_producer_open(f->topic, &f->prod[i]), 0);
	st = stat_of(f);
	assert_int_equal(st.producers, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(st.producer_pids[i], getpid());
	assert_int_equal(st.producer_pids[4], 0);
	f->prod[1] = ring_producer_close(f->prod[1]);
	f->prod[3] = ring_producer_close(f->prod[3]);
	st = stat_of(f);
	assert_int_equal(st.producers, 2);
	assert_int_equal(st.producer_pids[0], getpid());
	assert_int_equal(st.producer_pids[1], getpid());
}

static void test_stat_counts_gating_readers_only(void **state)
{
	struct fixture *f = *state;
	const struct ring_reader_config gating = { .flags = RING_READER_GATING };

	assert_rc(ring_reader_open(f->topic, NULL, &f->reader[0]), 0);
	assert_int_equal(stat_of(f).gating_readers, 0);
	assert_rc(ring_reader_open(f->topic, &gating, &f->reader[1]), 0);
	assert_int_equal(stat_of(f).gating_readers, 1);
	f->reader[1] = ring_reader_close(f->reader[1]);
	assert_int_equal(stat_of(f).gating_readers, 0);
}

static void test_stat_names_the_stuck_claim(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;
	struct ring_claim claim;

	assert_rc(ring_producer_open(f->topic, &f->prod[0]), 0);
	assert_rc(ring_producer_open(f->topic, &f->prod[1]), 0);
	assert_rc(ring_producer_publish(f->prod[1], 1, "before", 6, 0, NULL), 0);
	assert_rc(ring_producer_reserve(f->prod[0], 1, 16, 0, &claim), 0);
	assert_rc(ring_producer_publish(f->prod[1], 1, "after", 5, 0, NULL), 0);
	/* Maintenance notices the stall; stat reports it after 1 ms. */
	assert_rc(ring_topic_maintain(f->topic), 0);
	t_sleep_ns(3 * 1000 * 1000);
	st = stat_of(f);
	assert_int_equal(st.frontier_pos, claim.position);
	assert_int_equal(st.stuck_pos, claim.position);
	assert_int_equal(st.stuck_pid, getpid());
	assert_true(st.stuck_ns >= 1000 * 1000);
	assert_rc(ring_producer_commit(f->prod[0], &claim), 0);
	st = stat_of(f);
	assert_int_equal(st.stuck_pid, 0);
	assert_int_equal(st.frontier_pos, st.tail_pos);
}

static void test_stat_null_argument_is_einval(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st, before;

	memset(&st, 0x42, sizeof(st));
	before = st;
	assert_rc(ring_topic_stat(NULL, &st), -EINVAL);
	assert_rc(ring_topic_stat(f->topic, NULL), -EINVAL);
	assert_memory_equal(&st, &before, sizeof(st));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_topic, teardown_topic)
	const struct CMUnitTest tests[] = {
		T(test_stat_reports_settings_as_created),
		T(test_stat_positions_follow_publishes_and_claims),
		T(test_stat_counts_producers_with_their_pids),
		T(test_stat_counts_gating_readers_only),
		T(test_stat_names_the_stuck_claim),
		T(test_stat_null_argument_is_einval),
	};
#undef T

	return cmocka_run_group_tests_name("stat", tests, NULL, NULL);
}
