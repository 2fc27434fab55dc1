/* SPDX-License-Identifier: MIT */
/*
 * Description: the real ringd persisting what producer processes publish.
 * Positive space: every acknowledged record is in the segment files, byte
 * for byte (type, length, payload) at the position publish returned, in
 * order, once, across many segment rolls, with buffered and with O_DIRECT
 * writes; closed segments are rolled at their size; wait_durable returns
 * only once `durable` (fsync) has passed the record, for each fsync policy;
 * SIGTERM stops an idle ringd promptly with exit 0, and ringd beats its
 * heartbeat while it runs. Negative space: under the `never` policy a
 * persisted record is not durable and wait_durable times out; a second
 * ringd on the same data directory is refused with a message naming the
 * first one's pid, and the first one keeps serving.
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
#define CAPACITY (256u * KIB)
#define MAX_RECORD 4096u
#define SEGMENT_BYTES (64u * KIB)

static struct ring_topic_config small_topic(uint32_t policy)
{
	return (struct ring_topic_config){
		.capacity_bytes = CAPACITY,
		.max_record_bytes = MAX_RECORD,
		.segment_bytes = SEGMENT_BYTES,
		.fsync_policy = policy,
		.fsync_interval_ns = 5 * RD_NS_PER_MS,
	};
}

/* Publish from this process: the position of the record. */
static uint64_t publish_one(struct ring_topic *t, const char *text)
{
	struct ring_producer *p = NULL;
	uint64_t pos = UINT64_MAX;

	assert_rc(ring_producer_open(t, &p), 0);
	assert_rc(ring_producer_publish(p, 9, text, strlen(text), 5 * RD_NS_PER_S, &pos), 0);
	p = ring_producer_close(p);
	return pos;
}

static bool persisted_past(void *arg)
{
	struct ring_topic_stat st;
	struct {
		struct ring_topic *t;
		uint64_t pos;
	} *w = arg;

	return ring_topic_stat(w->t, &st) == 0 && st.persisted_pos > w->pos;
}

static void wait_persisted(struct ring_topic *t, uint64_t pos)
{
	struct {
		struct ring_topic *t;
		uint64_t pos;
	} w = { t, pos };

	assert_true(t_wait_until(persisted_past, &w, 10 * RD_NS_PER_S, 2 * RD_NS_PER_MS));
}

/*
 * Two producers (one publishing batches) through a 64 KiB segment size:
 * dozens of rolls. The files must hold exactly what was acknowledged.
 */
static void persist_across_rolls(struct rd_fixture *f)
{
	const struct ring_topic_config cfg = small_topic(RING_FSYNC_INTERVAL);
	const struct rd_prod_spec spec[2] = {
		{ .min_len = 16, .max_len = 3000, .max_records = 1500, .timeout_ns = RD_NS_PER_S },
		{ .min_len = T_PAYLOAD_MIN, .max_len = 700, .max_records = 3000, .batch_every = 5,
		  .timeout_ns = RD_NS_PER_S },
	};
	uint64_t acked[RD_MAX_PRODUCERS], durable[RD_MAX_PRODUCERS];
	struct ring_topic *t = NULL;
	struct ring_topic_stat st;
	struct rd_check c;
	char name[RING_TOPIC_NAME_MAX + 1], dir[256], why[256];

	assert_rc(rd_topic_create(f, "persist", &cfg, name, sizeof(name), &t), 0);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	assert_rc(rd_producers_start(&f->ps, f->dir, name, 2, spec, 60 * RD_NS_PER_S), 0);
	f->ps_live = true;
	assert_true(rd_producers_wait_done(&f->ps, 25 * RD_NS_PER_S));
	assert_rc(rd_producers_stop(&f->ps, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	assert_rc(ring_topic_stat(t, &st), 0);
	/* A clean stop syncs: everything persisted is durable. */
	assert_int_equal(st.durable_pos, st.tail_pos);

	rd_topic_dir(f, name, dir, sizeof(dir));
	if (rd_check_producers(dir, MAX_RECORD, &f->ps, false, acked, durable, &c) < 0)
		fail_msg("%s", c.error);
	assert_int_equal(c.walk.start_pos, 0);
	assert_int_equal(c.walk.end_pos, st.tail_pos);
	assert_int_equal(c.walk.records, spec[0].max_records + spec[1].max_records);
	printf("# %u segments, %" PRIu64 " records, %" PRIu64 " skips, closed %" PRIu64
	       "..%" PRIu64 " bytes\n",
	       c.walk.segments, c.walk.records, c.walk.skips, c.walk.closed_min, c.walk.closed_max);
	/* About 5 MiB through 64 KiB segments. */
	assert_true(c.walk.segments >= 20);
	/* A segment is rolled by the first record that starts at or past its
	 * size, so a closed one holds at least segment_bytes and less than
	 * one record more. */
	assert_true(c.walk.closed_min >= SEGMENT_BYTES);
	assert_true(c.walk.closed_max < SEGMENT_BYTES + RING_RECORD_HEADER_BYTES + MAX_RECORD + 8);
	rd_producers_free(&f->ps);
	f->ps_live = false;
	t = ring_topic_close(t);
}

static void test_published_bytes_in_segments_across_rolls(void **state)
{
	struct rd_fixture *f = *state;

	persist_across_rolls(f);
	f->passed = true;
}

static void test_published_bytes_in_segments_direct_io(void **state)
{
	struct rd_fixture *f = *state;

	rd_daemon_arg(&f->d, "--direct-io");
	rd_daemon_arg(&f->d, "on");
	persist_across_rolls(f);
	f->passed = true;
}

/*
 * wait_durable waits for `durable`, which only an fsync moves: with
 * `never`, a persisted record stays non-durable (the wait times out)
 * until the clean stop syncs it; with `always` and `interval` the wait
 * returns, and only once `durable` is past the record.
 */
static void test_wait_durable_follows_fsync(void **state)
{
	struct rd_fixture *f = *state;
	const struct ring_topic_config never = small_topic(RING_FSYNC_NEVER);
	const struct ring_topic_config always = small_topic(RING_FSYNC_ALWAYS);
	struct ring_topic_config interval = small_topic(RING_FSYNC_INTERVAL);
	const struct rd_prod_spec spec[3] = {
		{ .min_len = 16, .max_len = 900, .max_records = 150, .timeout_ns = RD_NS_PER_S,
		  .wait_durable = true },
		{ .min_len = 16, .max_len = 900, .max_records = 150, .timeout_ns = RD_NS_PER_S,
		  .wait_durable = true },
		{ .min_len = 16, .max_len = 900, .max_records = 150, .timeout_ns = RD_NS_PER_S,
		  .wait_durable = true },
	};
	struct ring_topic *tn = NULL, *ta = NULL, *ti = NULL;
	char nn[RING_TOPIC_NAME_MAX + 1], na[RING_TOPIC_NAME_MAX + 1], ni[RING_TOPIC_NAME_MAX + 1];
	uint64_t acked[RD_MAX_PRODUCERS], durable[RD_MAX_PRODUCERS];
	struct ring_topic_stat st;
	struct rd_check c;
	char why[256], dir[256];
	uint64_t pn, pi;

	interval.fsync_interval_ns = 50 * RD_NS_PER_MS;
	assert_rc(rd_topic_create(f, "never", &never, nn, sizeof(nn), &tn), 0);
	assert_rc(rd_topic_create(f, "always", &always, na, sizeof(na), &ta), 0);
	assert_rc(rd_topic_create(f, "interval", &interval, ni, sizeof(ni), &ti), 0);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, tn, 10 * RD_NS_PER_S));
	assert_true(rd_wait_served(&f->d, ta, 10 * RD_NS_PER_S));
	assert_true(rd_wait_served(&f->d, ti, 10 * RD_NS_PER_S));

	/* never: written, not synced. */
	pn = publish_one(tn, "written but never synced");
	wait_persisted(tn, pn);
	assert_rc(ring_topic_wait_durable(tn, pn, 0), -EAGAIN);
	assert_rc(ring_topic_wait_durable(tn, pn, 300 * RD_NS_PER_MS), -ETIMEDOUT);
	assert_rc(ring_topic_stat(tn, &st), 0);
	assert_true(st.persisted_pos > pn);
	assert_true(st.durable_pos <= pn);
	/* Nothing was published there. */
	assert_rc(ring_topic_wait_durable(tn, st.tail_pos, 0), -ERANGE);

	/* always: every wait returns, and each producer checks that the
	 * topic's durable cursor is then past its record (rd.c); three
	 * producers waiting at once share the fsyncs. */
	assert_rc(rd_producers_start(&f->ps, f->dir, na, 3, spec, 60 * RD_NS_PER_S), 0);
	f->ps_live = true;
	assert_true(rd_producers_wait_done(&f->ps, 25 * RD_NS_PER_S));
	assert_rc(rd_producers_stop(&f->ps, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(rd_producers_acked(&f->ps, i), spec[i].max_records);
		assert_int_equal(rd_producers_durable(&f->ps, i), spec[i].max_records);
	}

	/* interval: the wait lasts until the next periodic sync. */
	pi = publish_one(ti, "synced by the next interval");
	assert_rc(ring_topic_wait_durable(ti, pi, 10 * RD_NS_PER_S), 0);
	assert_rc(ring_topic_stat(ti, &st), 0);
	assert_true(st.durable_pos > pi);

	/* never: still not durable; the clean stop syncs it. */
	assert_rc(ring_topic_stat(tn, &st), 0);
	assert_true(st.durable_pos <= pn);
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	assert_rc(ring_topic_stat(tn, &st), 0);
	assert_true(st.durable_pos > pn);
	assert_rc(ring_topic_wait_durable(tn, pn, 0), 0);

	/* The producers' records, each waited for, are all in the files. */
	rd_topic_dir(f, na, dir, sizeof(dir));
	if (rd_check_producers(dir, MAX_RECORD, &f->ps, false, acked, durable, &c) < 0)
		fail_msg("%s", c.error);
	rd_producers_free(&f->ps);
	f->ps_live = false;
	tn = ring_topic_close(tn);
	ta = ring_topic_close(ta);
	ti = ring_topic_close(ti);
	f->passed = true;
}

static void test_second_ringd_refused(void **state)
{
	struct rd_fixture *f = *state;
	const struct ring_topic_config cfg = small_topic(RING_FSYNC_INTERVAL);
	struct rd_daemon second;
	struct ring_topic *t = NULL;
	struct ring_topic_stat st;
	char name[RING_TOPIC_NAME_MAX + 1], log2[256], needle[256];
	int status = -1;
	uint64_t pos;

	assert_rc(rd_topic_create(f, "lock", &cfg, name, sizeof(name), &t), 0);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));

	snprintf(log2, sizeof(log2), "%s.second", f->log_path);
	rd_daemon_init(&second, f->dir, log2);
	assert_rc(rd_daemon_start(&second), 0);
	/* It exits by itself: bounded wait, then it would be killed. */
	for (unsigned i = 0; i < 1000 && !rd_daemon_exited(&second, &status); i++)
		t_sleep_ns(10 * RD_NS_PER_MS);
	if (second.pid) {
		(void)rd_daemon_stop(&second, SIGKILL, RD_NS_PER_S, NULL);
		rd_log_print(&second);
		fail_msg("the second ringd did not exit");
	}
	snprintf(needle, sizeof(needle), "another ringd (pid %d) already serves %s", (int)f->d.pid,
		 f->dir);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || rd_log_count(&second, needle) != 1) {
		rd_log_print(&second);
		fail_msg("expected exit 1 and '%s'", needle);
	}
	(void)unlink(log2);

	/* The first one still serves: a record still gets persisted. */
	assert_int_equal(kill(f->d.pid, 0), 0);
	pos = publish_one(t, "still served");
	wait_persisted(t, pos);
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_int_equal(st.daemon_pid, f->d.pid);
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	t = ring_topic_close(t);
	f->passed = true;
}

static bool beat_moved(void *arg)
{
	struct {
		struct ring_topic *t;
		uint64_t beat;
	} *w = arg;
	struct ring_topic_stat st;

	return ring_topic_stat(w->t, &st) == 0 && st.daemon_beat_ns > w->beat;
}

static void test_heartbeat_and_prompt_sigterm(void **state)
{
	struct rd_fixture *f = *state;
	const struct ring_topic_config cfg = small_topic(RING_FSYNC_INTERVAL);
	struct {
		struct ring_topic *t;
		uint64_t beat;
	} w = { 0 };
	struct ring_topic_stat st;
	char name[RING_TOPIC_NAME_MAX + 1];
	uint64_t t0, elapsed;
	int status = -1;

	assert_rc(rd_topic_create(f, "beat", &cfg, name, sizeof(name), &w.t), 0);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, w.t, 10 * RD_NS_PER_S));
	assert_rc(ring_topic_stat(w.t, &st), 0);
	assert_true(st.daemon_alive);
	assert_true(st.daemon_beat_ns > 0);
	w.beat = st.daemon_beat_ns;
	/* The beat moves while ringd is idle (every 100 ms). */
	assert_true(t_wait_until(beat_moved, &w, 10 * RD_NS_PER_S, 10 * RD_NS_PER_MS));

	/* Let it go idle (asleep on the futexes), then stop it. */
	t_sleep_ns(200 * RD_NS_PER_MS);
	t0 = t_now_ns();
	assert_rc(rd_daemon_stop(&f->d, SIGTERM, 20 * RD_NS_PER_S, &status), 0);
	elapsed = t_now_ns() - t0;
	printf("# idle ringd stopped %" PRIu64 " ms after SIGTERM\n", elapsed / RD_NS_PER_MS);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The issue asks for 1 s; the bound is generous for a loaded
	 * machine, the figure is printed above. */
	assert_true(elapsed < 5 * RD_NS_PER_S);
	assert_int_equal(rd_log_count(&f->d, "stopped cleanly"), 1);
	/* It let go of the ring. */
	assert_rc(ring_topic_stat(w.t, &st), 0);
	assert_int_equal(st.daemon_pid, 0);
	w.t = ring_topic_close(w.t);
	f->passed = true;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, rd_setup, rd_teardown)
	const struct CMUnitTest tests[] = {
		T(test_published_bytes_in_segments_across_rolls),
		T(test_published_bytes_in_segments_direct_io),
		T(test_wait_durable_follows_fsync),
		T(test_second_ringd_refused),
		T(test_heartbeat_and_prompt_sigterm),
	};
#undef T

	if (rd_skip())
		return T_EXIT_SKIP;
	return cmocka_run_group_tests_name("ringd_persist", tests, NULL, NULL);
}
