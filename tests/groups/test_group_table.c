/* SPDX-License-Identifier: MIT */
/*
 * Description: opening consumer groups on one anonymous 64 KiB topic in
 * one process: the group table and where a new group starts. Positive
 * space: a 63-character name of every allowed character opens; groups are
 * independent (each sees every record); a new group starts at the oldest
 * record the ring holds (EARLIEST, also after producers wrapped the ring),
 * at the tail (LATEST), at a given record (POSITION) or at the first
 * record stamped at or after a time (TIME); an existing group keeps its
 * committed position whatever start its next opener asks for; the table
 * takes RING_MAX_GROUPS groups and ring_group_stat() lists them all.
 * Negative space: bad names, unknown modes, starts, resets, flags, a
 * reserved field, an unaligned start position, RING_CONSUMER_DURABLE on an
 * ephemeral topic and a mode that differs from the group's give -EINVAL; a
 * start or reset position inside a record gives -EBADMSG, past the tail
 * -ERANGE; a
 * full table gives -ENOSPC; ring_group_stat() out of range gives -EINVAL;
 * a slot left half made by a live creator is not taken from it (the
 * opener gives up with -ETIMEDOUT), one left by a dead creator is taken
 * back at once; ret_consumer is untouched by every failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"
#include "g.h"
#include "group.h"

#define CAP (UINT64_C(64) << 10)
#define MAX_SEQ 8192u
#define NS_PER_S UINT64_C(1000000000)

struct fixture {
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct ring_consumer *c[2];
	uint64_t seq;			/* next sequence number */
	uint64_t pos[MAX_SEQ];		/* position of each sequence number */
};

static int setup_topic(void **state)
{
	static struct fixture f;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_ANON,
	};

	memset(&f, 0, sizeof(f));
	if (ring_topic_create(NULL, NULL, &cfg, &f.topic) < 0 ||
	    ring_producer_open(f.topic, &f.prod) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown_topic(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < 2; i++)
		f->c[i] = ring_consumer_close(f->c[i]);
	f->prod = ring_producer_close(f->prod);
	f->topic = ring_topic_close(f->topic);
	return 0;
}

static void publish(struct fixture *f, uint64_t n, size_t len)
{
	assert_true(f->seq + n <= MAX_SEQ);
	assert_rc(g_publish(f->prod, 0, f->seq, n, len, len, 0, f->pos), 0);
	f->seq += n;
}

/* The next record of @c, which must be sequence number @seq. */
static void expect_seq(struct fixture *f, struct ring_consumer *c, uint64_t seq)
{
	struct ring_record rec;
	uint64_t got;

	assert_rc(ring_consumer_next(c, &rec, 0), 0);
	assert_rc(g_check(&rec, 0, &got), 0);
	if (got != seq)
		fail_msg("delivered seq %llu at %llu, expected seq %llu at %llu",
			 (unsigned long long)got, (unsigned long long)rec.position,
			 (unsigned long long)seq, (unsigned long long)f->pos[seq]);
	assert_int_equal(rec.position, f->pos[seq]);
	assert_int_equal(rec.deliveries, 1);
	assert_true(rec.next_position > rec.position);
}

static void test_group_name_invalid_is_einval_and_consumer_untouched(void **state)
{
	struct fixture *f = *state;
	struct ring_consumer *sentinel = (struct ring_consumer *)(uintptr_t)0x5a5a, *c = sentinel;
	char too_long[RING_GROUP_NAME_MAX + 2];
	const char *bad[] = { "", ".hidden", "a/b", "a b", "tab\t", "caf\xc3\xa9", "x:y", too_long };

	memset(too_long, 'g', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_rc(ring_consumer_open(f->topic, NULL, NULL, &c), -EINVAL);
	assert_ptr_equal(c, sentinel);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ring_consumer_open(f->topic, bad[i], NULL, &c);

		if (rc != -EINVAL)
			fail_msg("group name \"%s\": %d (%s), expected -EINVAL", bad[i], rc,
				 ring_strerror(rc));
		assert_ptr_equal(c, sentinel);
	}
	/* Nothing was created by the failures. */
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		struct ring_group_stat s;

		assert_rc(ring_group_stat(f->topic, i, &s), 0);
	}
}

static void test_group_name_longest_and_all_characters_accepted(void **state)
{
	struct fixture *f = *state;
	char longest[RING_GROUP_NAME_MAX + 1];
	struct ring_group_stat s;

	memset(longest, 'z', RING_GROUP_NAME_MAX);
	longest[RING_GROUP_NAME_MAX] = '\0';
	assert_rc(ring_consumer_open(f->topic, longest, NULL, &f->c[0]), 0);
	assert_rc(ring_consumer_open(f->topic, "AZaz09._-x", NULL, &f->c[1]), 0);
	assert_rc(g_group_stat(f->topic, longest, &s), 1);
	assert_string_equal(s.name, longest);
	assert_int_equal(s.mode, RING_GROUP_EXCLUSIVE);
	assert_rc(g_group_stat(f->topic, "AZaz09._-x", &s), 1);
}

static void test_group_config_invalid_is_einval(void **state)
{
	struct fixture *f = *state;
	struct ring_consumer *sentinel = (struct ring_consumer *)(uintptr_t)0x5a5a, *c = sentinel;
	struct ring_consumer_config bad[] = {
		{ .mode = 2 },
		{ .start = RING_GROUP_START_TIME + 1 },
		{ .reset = RING_RESET_LATEST + 1 },
		{ .reserved = 1 },
		{ .flags = 1u << 2 },
		{ .flags = 1u << 31 },
		{ .start = RING_GROUP_START_POSITION, .start_position = 12 },
		/* An ephemeral topic is never durable. */
		{ .flags = RING_CONSUMER_DURABLE },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = ring_consumer_open(f->topic, "g", &bad[i], &c);

		if (rc != -EINVAL)
			fail_msg("config %zu: %d (%s), expected -EINVAL", i, rc, ring_strerror(rc));
		assert_ptr_equal(c, sentinel);
	}
	assert_rc(ring_consumer_open(NULL, "g", NULL, &c), -EINVAL);
	assert_rc(ring_consumer_open(f->topic, "g", NULL, NULL), -EINVAL);
	assert_ptr_equal(c, sentinel);
	assert_rc(g_group_stat(f->topic, "g", &(struct ring_group_stat){ 0 }), 0);
}

static void test_group_table_full_is_enospc_after_max_groups(void **state)
{
	struct fixture *f = *state;
	struct ring_consumer *sentinel = (struct ring_consumer *)(uintptr_t)0x5a5a, *c = sentinel;
	bool seen[RING_MAX_GROUPS] = { false };
	unsigned found = 0;
	char name[32];

	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		snprintf(name, sizeof(name), "group-%u", i);
		c = NULL;
		assert_rc(ring_consumer_open(f->topic, name, NULL, &c), 0);
		c = ring_consumer_close(c);
	}
	c = sentinel;
	assert_rc(ring_consumer_open(f->topic, "one-too-many", NULL, &c), -ENOSPC);
	assert_ptr_equal(c, sentinel);
	assert_rc(ring_consumer_open(f->topic, "another",
				     &(struct ring_consumer_config){ .mode = RING_GROUP_SHARED },
				     &c),
		  -ENOSPC);
	assert_ptr_equal(c, sentinel);
	/* The groups that exist still open in a full table. */
	assert_rc(ring_consumer_open(f->topic, "group-17", NULL, &f->c[0]), 0);
	assert_rc(ring_consumer_open(f->topic, "group-63", NULL, &f->c[1]), 0);
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		struct ring_group_stat s;
		unsigned n;

		assert_rc(ring_group_stat(f->topic, i, &s), 1);
		assert_int_equal(sscanf(s.name, "group-%u", &n), 1);
		assert_true(n < RING_MAX_GROUPS);
		assert_false(seen[n]);
		seen[n] = true;
		found++;
	}
	assert_int_equal(found, RING_MAX_GROUPS);
}

static void test_group_stat_out_of_range_is_einval_and_empty_slot_is_zero(void **state)
{
	struct fixture *f = *state;
	struct ring_group_stat s, sentinel;

	memset(&sentinel, 0x5a, sizeof(sentinel));
	s = sentinel;
	assert_rc(ring_group_stat(f->topic, RING_MAX_GROUPS, &s), -EINVAL);
	assert_rc(ring_group_stat(NULL, 0, &s), -EINVAL);
	assert_rc(ring_group_stat(f->topic, 0, NULL), -EINVAL);
	assert_memory_equal(&s, &sentinel, sizeof(s));
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++)
		assert_rc(ring_group_stat(f->topic, i, &s), 0);
}

static void test_group_mode_mismatch_is_einval(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config shared = { .mode = RING_GROUP_SHARED };
	const struct ring_consumer_config exclusive = { .mode = RING_GROUP_EXCLUSIVE };
	struct ring_consumer *sentinel = (struct ring_consumer *)(uintptr_t)0x5a5a, *c = sentinel;
	struct ring_group_stat s;

	assert_rc(ring_consumer_open(f->topic, "ex", &exclusive, &f->c[0]), 0);
	f->c[0] = ring_consumer_close(f->c[0]);
	assert_rc(ring_consumer_open(f->topic, "ex", &shared, &c), -EINVAL);
	assert_ptr_equal(c, sentinel);

	assert_rc(ring_consumer_open(f->topic, "sh", &shared, &f->c[1]), 0);
	assert_rc(ring_consumer_open(f->topic, "sh", &exclusive, &c), -EINVAL);
	assert_ptr_equal(c, sentinel);

	/* The groups keep their modes. */
	assert_rc(g_group_stat(f->topic, "ex", &s), 1);
	assert_int_equal(s.mode, RING_GROUP_EXCLUSIVE);
	assert_rc(g_group_stat(f->topic, "sh", &s), 1);
	assert_int_equal(s.mode, RING_GROUP_SHARED);
}

static void test_groups_are_independent_each_sees_every_record(void **state)
{
	struct fixture *f = *state;

	publish(f, 20, 40);
	assert_rc(ring_consumer_open(f->topic, "a", NULL, &f->c[0]), 0);
	assert_rc(ring_consumer_open(f->topic, "b", NULL, &f->c[1]), 0);
	for (uint64_t s = 0; s < 20; s++) {
		expect_seq(f, f->c[0], s);
		if (s % 2)
			expect_seq(f, f->c[1], s / 2);
	}
	for (uint64_t s = 10; s < 20; s++)
		expect_seq(f, f->c[1], s);
	assert_rc(ring_consumer_next(f->c[0], &(struct ring_record){ 0 }, 0), -EAGAIN);
	assert_rc(ring_consumer_next(f->c[1], &(struct ring_record){ 0 }, 0), -EAGAIN);
}

static void test_group_start_earliest_reads_from_oldest_record(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;
	uint64_t first = 0;

	/* Three ring capacities: the ring has wrapped, oldest > 0. */
	publish(f, 3 * CAP / 128, 120);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_true(st.oldest_pos > 0);
	while (f->pos[first] < st.oldest_pos)
		first++;
	assert_rc(ring_consumer_open(f->topic, "early",
				     &(struct ring_consumer_config){
					     .start = RING_GROUP_START_EARLIEST },
				     &f->c[0]),
		  0);
	assert_int_equal(ring_consumer_position(f->c[0]), f->pos[first]);
	assert_int_equal(g_group_committed(f->topic, "early"), f->pos[first]);
	for (uint64_t s = first; s < f->seq; s++)
		expect_seq(f, f->c[0], s);
	assert_rc(ring_consumer_next(f->c[0], &(struct ring_record){ 0 }, 0), -EAGAIN);
}

static void test_group_start_latest_sees_only_new_records(void **state)
{
	struct fixture *f = *state;
	struct ring_record rec;

	publish(f, 10, 64);
	assert_rc(ring_consumer_open(f->topic, "late",
				     &(struct ring_consumer_config){
					     .start = RING_GROUP_START_LATEST },
				     &f->c[0]),
		  0);
	assert_int_equal(ring_consumer_position(f->c[0]), g_tail(f->topic));
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EAGAIN);
	assert_rc(ring_consumer_next(f->c[0], &rec, 20000000), -ETIMEDOUT);
	publish(f, 3, 64);
	for (uint64_t s = 10; s < 13; s++)
		expect_seq(f, f->c[0], s);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), -EAGAIN);
}

static void test_group_start_position_begins_at_that_record(void **state)
{
	struct fixture *f = *state;

	publish(f, 10, 48);
	assert_rc(ring_consumer_open(f->topic, "at5",
				     &(struct ring_consumer_config){
					     .start = RING_GROUP_START_POSITION,
					     .start_position = f->pos[5] },
				     &f->c[0]),
		  0);
	assert_int_equal(g_group_committed(f->topic, "at5"), f->pos[5]);
	for (uint64_t s = 5; s < 10; s++)
		expect_seq(f, f->c[0], s);
}

/* A group must never sit inside a record: it would wait forever on payload
 * bytes that never read as a header. Both ways of placing one are checked. */
static void test_group_start_or_reset_inside_a_record_is_ebadmsg(void **state)
{
	struct fixture *f = *state;
	struct ring_consumer *sentinel = (struct ring_consumer *)(uintptr_t)0x5a5a, *c = sentinel;
	struct ring_consumer_config cfg = { .start = RING_GROUP_START_POSITION };
	uint64_t tail;

	publish(f, 10, 48);
	tail = g_tail(f->topic);
	cfg.start_position = f->pos[5] + 8;
	assert_rc(ring_consumer_open(f->topic, "inside", &cfg, &c), -EBADMSG);
	assert_ptr_equal(c, sentinel);
	cfg.start_position = tail + 8;
	assert_rc(ring_consumer_open(f->topic, "past", &cfg, &c), -ERANGE);
	assert_ptr_equal(c, sentinel);
	assert_int_equal(g_group_committed(f->topic, "inside"), UINT64_MAX);	/* not created */

	/* The tail itself is a record boundary: the next record starts there. */
	cfg.start_position = tail;
	assert_rc(ring_consumer_open(f->topic, "g", &cfg, &f->c[0]), 0);
	f->c[0] = ring_consumer_close(f->c[0]);
	assert_rc(ring_group_reset(f->topic, "g", f->pos[3] + 16, 0), -EBADMSG);
	assert_rc(ring_group_reset(f->topic, "g", tail + 8, 0), -ERANGE);
	assert_int_equal(g_group_committed(f->topic, "g"), tail);
	assert_rc(ring_group_reset(f->topic, "g", f->pos[3], 0), 0);
	assert_rc(ring_consumer_open(f->topic, "g", NULL, &f->c[0]), 0);
	for (uint64_t s = 3; s < 10; s++)
		expect_seq(f, f->c[0], s);
}

static void test_group_start_time_begins_at_first_record_at_or_after_it(void **state)
{
	struct fixture *f = *state;
	uint64_t when, later;

	publish(f, 10, 48);
	/* The clock of record timestamps is CLOCK_REALTIME; a millisecond on
	 * either side keeps the boundary unambiguous. */
	t_sleep_ns(2000000);
	when = t_realtime_ns();
	t_sleep_ns(2000000);
	publish(f, 10, 48);
	assert_rc(ring_consumer_open(f->topic, "by-time",
				     &(struct ring_consumer_config){
					     .start = RING_GROUP_START_TIME,
					     .start_time_ns = when },
				     &f->c[0]),
		  0);
	assert_int_equal(g_group_committed(f->topic, "by-time"), f->pos[10]);
	for (uint64_t s = 10; s < 20; s++)
		expect_seq(f, f->c[0], s);

	/* A time later than every record: the next record published. */
	later = t_realtime_ns() + 1000000;
	assert_rc(ring_consumer_open(f->topic, "future",
				     &(struct ring_consumer_config){
					     .start = RING_GROUP_START_TIME,
					     .start_time_ns = later },
				     &f->c[1]),
		  0);
	assert_int_equal(ring_consumer_position(f->c[1]), g_tail(f->topic));
	assert_rc(ring_consumer_next(f->c[1], &(struct ring_record){ 0 }, 0), -EAGAIN);
}

static void test_group_existing_keeps_its_position_and_ignores_start(void **state)
{
	struct fixture *f = *state;
	const struct ring_consumer_config latest = {
		.start = RING_GROUP_START_LATEST,
		.flags = RING_CONSUMER_MANUAL_COMMIT,
	};
	const struct ring_consumer_config at2 = {
		.start = RING_GROUP_START_POSITION,
		.start_position = 0,
		.flags = RING_CONSUMER_MANUAL_COMMIT,
	};
	struct ring_record rec;

	publish(f, 10, 56);
	assert_rc(ring_consumer_open(f->topic, "kept", &at2, &f->c[0]), 0);
	for (uint64_t s = 0; s < 4; s++)
		expect_seq(f, f->c[0], s);
	assert_rc(ring_consumer_commit(f->c[0], f->pos[4]), 0);
	f->c[0] = ring_consumer_close(f->c[0]);
	/* LATEST is for a new group only: this one resumes at its commit. */
	assert_rc(ring_consumer_open(f->topic, "kept", &latest, &f->c[0]), 0);
	assert_int_equal(ring_consumer_position(f->c[0]), f->pos[4]);
	expect_seq(f, f->c[0], 4);
	assert_rc(ring_consumer_next(f->c[0], &rec, 0), 0);
	assert_int_equal(rec.position, f->pos[5]);
}

/* The state word of a slot being created by @creator (layout.h). */
static uint64_t init_state(uint64_t creator)
{
	return RING_GROUP_INIT | (creator & 0xffffffu) << 8 | (creator & ~UINT64_C(0xffffffff));
}

static int exit_at_once(void *arg)
{
	*(uint64_t *)arg = ringi_owner_self_process();
	return 0;
}

static void test_group_slot_in_creation_is_kept_for_live_creator_reclaimed_from_dead(
	void **state)
{
	struct fixture *f = *state;
	struct ring_consumer *sentinel = (struct ring_consumer *)(uintptr_t)0x5a5a, *c = sentinel;
	struct ring_group_slot *g;
	uint64_t *dead = t_shared_alloc(sizeof(*dead)), t0;
	struct ring_group_stat s;
	int status;
	pid_t pid;

	assert_non_null(dead);
	publish(f, 4, 48);
	/* Find the slot the name hashes to by creating the group, then put
	 * it back half made, as by a creator that is still at work. */
	assert_rc(ring_consumer_open(f->topic, "slow", NULL, &f->c[0]), 0);
	f->c[0] = ring_consumer_close(f->c[0]);
	assert_rc(ringi_group_find(f->topic, "slow", false, 0, 0, &g), 0);
	ring_store_release(&g->state, init_state(ringi_owner_self_process()));
	t0 = t_now_ns();
	assert_rc(ring_consumer_open(f->topic, "slow", NULL, &c), -ETIMEDOUT);
	assert_ptr_equal(c, sentinel);
	assert_true(t_now_ns() - t0 >= NS_PER_S);	/* it waited */
	assert_rc(g_group_stat(f->topic, "slow", &s), 0);

	/* Its creator dead (exited and reaped): the slot is taken back at
	 * once and the group made anew. */
	pid = t_fork_child(exit_at_once, dead);
	assert_true(pid > 0);
	assert_rc(t_wait_child(pid, 10 * NS_PER_S, &status), 0);
	ring_store_release(&g->state, init_state(*dead));
	assert_rc(ring_consumer_open(f->topic, "slow", NULL, &f->c[0]), 0);
	assert_rc(g_group_stat(f->topic, "slow", &s), 1);
	assert_int_equal(ring_consumer_position(f->c[0]), 0);
	expect_seq(f, f->c[0], 0);
	t_shared_free(dead, sizeof(*dead));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_topic, teardown_topic)
	const struct CMUnitTest tests[] = {
		T(test_group_name_invalid_is_einval_and_consumer_untouched),
		T(test_group_name_longest_and_all_characters_accepted),
		T(test_group_config_invalid_is_einval),
		T(test_group_table_full_is_enospc_after_max_groups),
		T(test_group_stat_out_of_range_is_einval_and_empty_slot_is_zero),
		T(test_group_mode_mismatch_is_einval),
		T(test_groups_are_independent_each_sees_every_record),
		T(test_group_start_earliest_reads_from_oldest_record),
		T(test_group_start_latest_sees_only_new_records),
		T(test_group_start_position_begins_at_that_record),
		T(test_group_start_or_reset_inside_a_record_is_ebadmsg),
		T(test_group_start_time_begins_at_first_record_at_or_after_it),
		T(test_group_existing_keeps_its_position_and_ignores_start),
		T(test_group_slot_in_creation_is_kept_for_live_creator_reclaimed_from_dead),
	};
#undef T

	return cmocka_run_group_tests_name("group_table", tests, NULL, NULL);
}
