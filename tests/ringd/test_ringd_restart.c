/* SPDX-License-Identifier: MIT */
/*
 * Description: ringd stopped (SIGTERM) and started again while producer
 * processes keep publishing. Positive space: each stop exits 0; each start
 * resumes from the surviving ring at the end of the log; producers that
 * found the ring full while ringd was down carry on once it is back; in
 * the end the segment files hold every acknowledged record exactly once,
 * in order, at the position publish returned, and every record a
 * producer's wait_durable acknowledged is durable. Negative space: a ring
 * whose positions do not match the log (the log lost bytes the ring says
 * were persisted) is refused with a message, not served.
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
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment_format.h"
#include "t.h"
#include "rd.h"

#define KIB 1024u
#define CAPACITY (128u * KIB)
#define MAX_RECORD 2048u
#define SEGMENT_BYTES (256u * KIB)
#define RESTARTS 4u

static const struct ring_topic_config topic_cfg = {
	.capacity_bytes = CAPACITY,
	.max_record_bytes = MAX_RECORD,
	.segment_bytes = SEGMENT_BYTES,
	.fsync_policy = RING_FSYNC_INTERVAL,
	.fsync_interval_ns = 5 * RD_NS_PER_MS,
};

static void test_sigterm_restart_mid_stream(void **state)
{
	struct rd_fixture *f = *state;
	/* Paced so that a run spans every restart; producer 1 waits for
	 * durability after each record. */
	const struct rd_prod_spec spec[2] = {
		{ .min_len = 16, .max_len = 1500, .max_records = 40000, .burst = 50,
		  .pause_ns = RD_NS_PER_MS, .batch_every = 3, .timeout_ns = 200 * RD_NS_PER_MS },
		{ .min_len = 16, .max_len = 600, .max_records = 40000, .burst = 20,
		  .pause_ns = RD_NS_PER_MS, .timeout_ns = 200 * RD_NS_PER_MS,
		  .wait_durable = true },
	};
	uint64_t acked[RD_MAX_PRODUCERS], durable[RD_MAX_PRODUCERS];
	struct ring_topic *t = NULL;
	struct ring_topic_stat st;
	struct rd_check c;
	char name[RING_TOPIC_NAME_MAX + 1], dir[256], why[256];
	uint64_t blocked = 0;

	assert_rc(rd_topic_create(f, "restart", &topic_cfg, name, sizeof(name), &t), 0);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	assert_rc(rd_producers_start(&f->ps, f->dir, name, 2, spec, 60 * RD_NS_PER_S), 0);
	f->ps_live = true;

	for (unsigned r = 0; r < RESTARTS; r++) {
		uint64_t down_ns = t_rand_range(&f->rng, 20, 200) * RD_NS_PER_MS;

		/* Some traffic, then stop at a random instant. */
		assert_true(rd_producers_wait_more(&f->ps, 200, 20 * RD_NS_PER_S));
		t_sleep_ns(t_rand_range(&f->rng, 0, 100) * RD_NS_PER_MS);
		assert_rc(rd_daemon_stop_clean(&f->d), 0);
		/* While ringd is down the ring fills and producers wait. */
		t_sleep_ns(down_ns);
		assert_rc(ring_topic_stat(t, &st), 0);
		assert_int_equal(st.daemon_pid, 0);
		if (st.tail_pos - st.persisted_pos + 2 * (MAX_RECORD + 32) > CAPACITY)
			blocked++;
		assert_rc(rd_daemon_start(&f->d), 0);
		assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	}
	printf("# %u restarts, the ring was full during %" PRIu64 " of them, %" PRIu64
	       " publishes retried\n",
	       RESTARTS, blocked, f->ps.sh->p[0].timeouts + f->ps.sh->p[1].timeouts);
	/* Flow after the last restart, then the end. */
	assert_true(rd_producers_wait_more(&f->ps, 200, 20 * RD_NS_PER_S));
	assert_rc(rd_producers_stop(&f->ps, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	/* Every start found the ring (the test created it) and resumed. */
	assert_int_equal(rd_log_count(&f->d, "resuming from the surviving ring"), RESTARTS + 1);
	assert_int_equal(rd_log_count(&f->d, "not serving"), 0);

	rd_topic_dir(f, name, dir, sizeof(dir));
	if (rd_check_producers(dir, MAX_RECORD, &f->ps, false, acked, durable, &c) < 0)
		fail_msg("%s", c.error);
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_int_equal(c.walk.end_pos, st.tail_pos);
	assert_int_equal(st.durable_pos, st.tail_pos);
	assert_true(durable[1] <= acked[1]);
	assert_true(durable[1] > 0);
	printf("# %" PRIu64 " + %" PRIu64 " records in %u segments, %" PRIu64
	       " of producer 1's waited durable\n",
	       acked[0], acked[1], c.walk.segments, durable[1]);
	rd_producers_free(&f->ps);
	f->ps_live = false;
	t = ring_topic_close(t);
	f->passed = true;
}

/*
 * The files lost bytes the surviving ring says were persisted (an
 * operator truncated the active segment): ringd must not resume, since
 * the ring may already have reused those bytes; it says so and serves
 * nothing of that topic, while still serving the others.
 */
static void test_ring_ahead_of_log_refused(void **state)
{
	struct rd_fixture *f = *state;
	const struct rd_prod_spec spec[1] = {
		{ .min_len = 100, .max_len = 200, .max_records = 300, .timeout_ns = RD_NS_PER_S },
	};
	struct ring_topic *t = NULL, *other = NULL;
	char name[RING_TOPIC_NAME_MAX + 1], oname[RING_TOPIC_NAME_MAX + 1], path[512], why[256];
	struct ring_topic_stat st;
	int fd;

	assert_rc(rd_topic_create(f, "damaged", &topic_cfg, name, sizeof(name), &t), 0);
	assert_rc(rd_topic_create(f, "healthy", &topic_cfg, oname, sizeof(oname), &other), 0);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	assert_rc(rd_producers_start(&f->ps, f->dir, name, 1, spec, 30 * RD_NS_PER_S), 0);
	f->ps_live = true;
	assert_true(rd_producers_wait_done(&f->ps, 20 * RD_NS_PER_S));
	assert_rc(rd_producers_stop(&f->ps, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));
	assert_rc(rd_daemon_stop_clean(&f->d), 0);

	/* Cut the log to its first 1000 bytes behind the ring's back. */
	snprintf(path, sizeof(path), "%s/%s/%020d%s", f->dir, name, 0, RING_SEG_SUFFIX);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, RING_SEG_HEADER_BYTES + 1000), 0);
	(void)close(fd);

	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, other, 10 * RD_NS_PER_S));
	assert_true(rd_log_wait(&f->d, "bytes are missing from the segment files; not serving it",
				1, 10 * RD_NS_PER_S));
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_int_equal(st.daemon_pid, 0);
	/* Nothing was appended to the refused topic's log (recovery may
	 * only have cut a torn record at the cut). */
	{
		struct stat sb;

		assert_int_equal(stat(path, &sb), 0);
		assert_true(sb.st_size <= RING_SEG_HEADER_BYTES + 1000);
	}
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	rd_producers_free(&f->ps);
	f->ps_live = false;
	t = ring_topic_close(t);
	other = ring_topic_close(other);
	f->passed = true;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, rd_setup, rd_teardown)
	const struct CMUnitTest tests[] = {
		T(test_sigterm_restart_mid_stream),
		T(test_ring_ahead_of_log_refused),
	};
#undef T

	if (rd_skip())
		return T_EXIT_SKIP;
	return cmocka_run_group_tests_name("ringd_restart", tests, NULL, NULL);
}
