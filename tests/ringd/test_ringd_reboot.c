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

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, rd_setup, rd_teardown)
	const struct CMUnitTest tests[] = {
		T(test_reboot_after_clean_stop),
		T(test_reboot_after_ringd_crash),
	};
#undef T

	if (rd_skip())
		return T_EXIT_SKIP;
	return cmocka_run_group_tests_name("ringd_reboot", tests, NULL, NULL);
}
