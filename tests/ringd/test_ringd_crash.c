/* SPDX-License-Identifier: MIT */
/*
 * Description: ringd under crashes and disk faults, end to end with
 * producer processes (crash suite).
 *  - kill -9 at 20 random instants under load, restarting each time: the
 *    files are valid after every kill (at most a torn tail, which the next
 *    start cuts), each start resumes from the surviving ring, and in the
 *    end every acknowledged record is there once, in order.
 *  - the last segment truncated inside a record, then bits flipped at
 *    random offsets of its log: recovery cuts at the damaged record, logs
 *    how much it cut and where, and the ring is recreated there; what is
 *    before the cut is intact.
 *  - a power loss under `always` (the io_fault layer rolls the files back
 *    to their last sync and keeps, drops or tears each unsynced write):
 *    every record whose wait_durable returned is there after the reboot,
 *    nothing that was not published, no duplicate. (tests/daemon's
 *    seg_crash checks the same of the segment writer alone.)
 *  - a full disk (ENOSPC on every write): producers are held back, ringd
 *    logs the episode once and does not spin while it backs off; when
 *    space returns the flow resumes, and nothing is lost or reordered.
 *  - a failing fdatasync (EIO): records are persisted but never declared
 *    durable, wait_durable times out, the stop reports it (exit 1); the
 *    next ringd's recovery syncs and declares them durable.
 * The fault cases use ringd-fault (the io_fault layer, daemon/fault_ctl.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "segment_format.h"
#include "t.h"
#include "rd.h"

#define KIB 1024u
#define CAPACITY (128u * KIB)
#define MAX_RECORD 2048u
#define KILLS 20u
/* ringd-fault's exit status after a simulated power loss (fault_ctl.h). */
#define POWER_LOSS_EXIT 86

/* rd_teardown(), and the fault layer's control file (use_fault_build()). */
static int teardown(void **state)
{
	struct rd_fixture *f = *state;
	char ctl[256];

	snprintf(ctl, sizeof(ctl), "%s.ctl", f->dir);
	(void)unlink(ctl);
	return rd_teardown(state);
}

static struct ring_topic_config topic_cfg(uint32_t policy, uint64_t segment_bytes)
{
	return (struct ring_topic_config){
		.capacity_bytes = CAPACITY,
		.max_record_bytes = MAX_RECORD,
		.segment_bytes = segment_bytes,
		.fsync_policy = policy,
		.fsync_interval_ns = 5 * RD_NS_PER_MS,
	};
}

static void use_fault_build(struct rd_fixture *f, char *ctl, size_t len)
{
	snprintf(ctl, len, "%s.ctl", f->dir);
	if (!rd_daemon_use_fault_build(&f->d, ctl))
		fail_msg("RINGD_FAULT does not name the ringd-fault executable (run through "
			 "meson test)");
}

/* ---- kill -9 ---- */

static void test_kill9_twenty_times_under_load(void **state)
{
	struct rd_fixture *f = *state;
	const struct ring_topic_config cfg = topic_cfg(RING_FSYNC_INTERVAL, 256 * KIB);
	const struct rd_prod_spec spec[3] = {
		{ .min_len = 16, .max_len = 1800, .max_records = 400000, .burst = 20,
		  .pause_ns = RD_NS_PER_MS, .batch_every = 3, .timeout_ns = 100 * RD_NS_PER_MS },
		{ .min_len = 16, .max_len = 300, .max_records = 400000, .burst = 20,
		  .pause_ns = RD_NS_PER_MS, .timeout_ns = 100 * RD_NS_PER_MS },
		{ .min_len = 16, .max_len = 500, .max_records = 400000,
		  .timeout_ns = 100 * RD_NS_PER_MS, .wait_durable = true },
	};
	uint64_t acked[RD_MAX_PRODUCERS], durable[RD_MAX_PRODUCERS];
	struct ring_topic *t = NULL;
	struct ring_topic_stat st;
	struct rd_check c;
	char name[RING_TOPIC_NAME_MAX + 1], dir[256], why[320];
	unsigned torn = 0;

	assert_rc(rd_topic_create(f, "kill9", &cfg, name, sizeof(name), &t), 0);
	rd_topic_dir(f, name, dir, sizeof(dir));
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	assert_rc(rd_producers_start(&f->ps, f->dir, name, 3, spec, 80 * RD_NS_PER_S), 0);
	f->ps_live = true;

	for (unsigned k = 0; k < KILLS; k++) {
		struct rd_walk w;
		uint64_t persisted;
		int status = -1, rc;

		assert_true(rd_producers_wait_more(&f->ps, 50, 20 * RD_NS_PER_S));
		t_sleep_ns(t_rand_range(&f->rng, 0, 250) * RD_NS_PER_MS);
		assert_rc(ring_topic_stat(t, &st), 0);
		persisted = st.persisted_pos;
		assert_rc(rd_daemon_stop(&f->d, SIGKILL, 10 * RD_NS_PER_S, &status), 0);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

		/* Dead ringd: the files hold a valid log, up to at most a torn
		 * write at the very end of the last segment. */
		rc = rd_log_walk(dir, MAX_RECORD, NULL, NULL, &w, why, sizeof(why));
		if (rc == -EBADMSG && w.end_pos >= w.last_base && w.end_pos >= persisted)
			torn++;
		else if (rc < 0)
			fail_msg("after kill %u: %s", k + 1, why);
		/* ringd publishes `persisted` only after its writes. */
		assert_true(w.end_pos >= persisted);

		assert_rc(rd_daemon_start(&f->d), 0);
		assert_true(rd_wait_served(&f->d, t, 20 * RD_NS_PER_S));
		assert_rc(ring_topic_stat(t, &st), 0);
		assert_true(st.persisted_pos >= persisted);
	}
	assert_true(rd_producers_wait_more(&f->ps, 100, 20 * RD_NS_PER_S));
	assert_rc(rd_producers_stop(&f->ps, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	assert_int_equal(rd_log_count(&f->d, "resuming from the surviving ring"), KILLS + 1);
	assert_int_equal(rd_log_count(&f->d, "not serving"), 0);

	if (rd_check_producers(dir, MAX_RECORD, &f->ps, false, acked, durable, &c) < 0)
		fail_msg("%s", c.error);
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_int_equal(c.walk.end_pos, st.tail_pos);
	printf("# %u kills (%u left a torn tail, %u cuts logged): %" PRIu64 "/%" PRIu64 "/%" PRIu64
	       " records, %" PRIu64 " waited durable, %u segments\n",
	       KILLS, torn, rd_log_count(&f->d, "recovery cut"), acked[0], acked[1], acked[2],
	       durable[2], c.walk.segments);
	for (unsigned i = 0; i < 3; i++)
		assert_true(acked[i] > 0);
	rd_producers_free(&f->ps);
	f->ps_live = false;
	t = ring_topic_close(t);
	f->passed = true;
}

/* ---- damage to the last segment ---- */

/* Records of each producer the files must keep when cut at @cut. */
static void count_below(const struct rd_producers *ps, uint64_t cut, uint64_t *ret)
{
	for (unsigned i = 0; i < ps->n; i++) {
		uint64_t n = rd_producers_acked(ps, i);

		ret[i] = 0;
		while (ret[i] < n && ps->pos[i][ret[i]] < cut)
			ret[i]++;
	}
}

/* The cut that ringd's log reported for @topic after @starts starts. */
static bool reported_cut(const struct rd_fixture *f, uint64_t *ret_bytes, uint64_t *ret_pos,
			 char *reason, size_t len)
{
	char path[256], line[512];
	bool found = false;
	FILE *in;

	snprintf(path, sizeof(path), "%s", f->d.log_path);
	in = fopen(path, "r");
	if (!in)
		return false;
	/* The last such line wins: earlier starts may have cut too. */
	while (fgets(line, sizeof(line), in)) {
		const char *p = strstr(line, "recovery cut ");
		unsigned long long b, pos;
		char why[128];

		if (p && sscanf(p, "recovery cut %llu bytes of torn or damaged log at position %llu "
				   "(%127[^)])",
				&b, &pos, why) == 3) {
			*ret_bytes = b;
			*ret_pos = pos;
			snprintf(reason, len, "%s", why);
			found = true;
		}
	}
	(void)fclose(in);
	return found;
}

/* Where the damage at file offset @off (of segment @base) hits: the
 * record holding it. */
static const struct rd_seg_rec *record_at(const struct rd_seg_rec *recs, size_t n, uint64_t base,
					  uint64_t off)
{
	uint64_t pos = base + (off - RING_SEG_HEADER_BYTES);

	for (size_t i = 0; i < n; i++)
		if (pos >= recs[i].pos && pos < recs[i].pos + recs[i].span)
			return &recs[i];
	return NULL;
}

static void test_torn_and_flipped_tail_cut_and_reported(void **state)
{
	struct rd_fixture *f = *state;
	/* One big segment: every round damages the same, last one. */
	const struct ring_topic_config cfg = topic_cfg(RING_FSYNC_INTERVAL, 64u << 20);
	const struct rd_prod_spec spec[2] = {
		{ .min_len = 16, .max_len = 1200, .max_records = 700, .batch_every = 4,
		  .timeout_ns = RD_NS_PER_S },
		{ .min_len = 16, .max_len = 300, .max_records = 700, .timeout_ns = RD_NS_PER_S },
	};
	struct ring_topic *t = NULL;
	char name[RING_TOPIC_NAME_MAX + 1], dir[256], seg[512], why[320];
	struct rd_check c;
	uint64_t must[RD_MAX_PRODUCERS];

	assert_rc(rd_topic_create(f, "damage", &cfg, name, sizeof(name), &t), 0);
	rd_topic_dir(f, name, dir, sizeof(dir));
	snprintf(seg, sizeof(seg), "%s/%020d%s", dir, 0, RING_SEG_SUFFIX);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	assert_rc(rd_producers_start(&f->ps, f->dir, name, 2, spec, 30 * RD_NS_PER_S), 0);
	f->ps_live = true;
	assert_true(rd_producers_wait_done(&f->ps, 25 * RD_NS_PER_S));
	assert_rc(rd_producers_stop(&f->ps, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));
	t = ring_topic_close(t);

	/* Round 0 truncates inside a record; rounds 1.. flip 1..3 bits. */
	for (unsigned round = 0; round < 5; round++) {
		struct rd_seg_rec *recs = NULL;
		const struct rd_seg_rec *hit = NULL;
		uint64_t file_end, cut_bytes = 0, cut_pos = 0;
		char reason[128];
		struct ring_topic_stat st;
		struct stat sb;
		size_t n = 0;
		int fd;

		assert_rc(rd_daemon_stop_clean(&f->d), 0);
		assert_rc(rd_segment_records(dir, 0, MAX_RECORD, &recs, &n), 0);
		assert_true(n > 40);
		assert_int_equal(stat(seg, &sb), 0);
		fd = open(seg, O_RDWR);
		assert_true(fd >= 0);
		if (round == 0) {
			/* Inside a record of the second half. */
			const struct rd_seg_rec *r = &recs[t_rand_range(&f->rng, n / 2, n - 1)];
			uint64_t off = RING_SEG_HEADER_BYTES + r->pos + 1 +
				       t_rand_range(&f->rng, 0, r->span - 2);

			assert_int_equal(ftruncate(fd, (off_t)off), 0);
			hit = r;
			file_end = off - RING_SEG_HEADER_BYTES;
			printf("# round 0: truncated at log byte %" PRIu64 ", inside the record at %" PRIu64
			       "\n",
			       file_end, r->pos);
		} else {
			/* In the upper half, so that later rounds have a log. */
			uint64_t lo = RING_SEG_HEADER_BYTES + recs[n / 2].pos;
			uint64_t hi = RING_SEG_HEADER_BYTES + recs[n - 1].pos + recs[n - 1].span;

			for (unsigned k = 0; k < round && k < 3; k++) {
				uint64_t off = t_rand_range(&f->rng, lo, hi - 1);
				unsigned bit = (unsigned)t_rand_range(&f->rng, 0, 7);
				const struct rd_seg_rec *r = record_at(recs, n, 0, off);
				uint8_t b;

				assert_non_null(r);
				assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
				b ^= (uint8_t)(1u << bit);
				assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
				if (!hit || r->pos < hit->pos)
					hit = r;
				printf("# round %u: flipped bit %u of log byte %" PRIu64
				       " (record at %" PRIu64 ", %s, span %" PRIu64 ")\n",
				       round, bit, off - RING_SEG_HEADER_BYTES, r->pos,
				       r->committed ? "committed" : "skip", r->span);
			}
			file_end = (uint64_t)sb.st_size - RING_SEG_HEADER_BYTES;
		}
		(void)close(fd);

		/* Damage shows after a crash of the host: the ring is gone. */
		assert_rc(ring_topic_unlink(f->dir, name), 0);
		assert_rc(rd_daemon_start(&f->d), 0);
		assert_rc(rd_wait_open(f->dir, name, 10 * RD_NS_PER_S, &t), 0);
		assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
		assert_true(reported_cut(f, &cut_bytes, &cut_pos, reason, sizeof(reason)));
		printf("# ringd: cut %" PRIu64 " bytes at %" PRIu64 " (%s)\n", cut_bytes, cut_pos,
		       reason);
		/* At the damaged record (inside it only if the damage made a
		 * shorter valid record of its start), all the rest cut. */
		assert_true(cut_pos >= hit->pos && cut_pos < hit->pos + hit->span);
		assert_int_equal(cut_bytes, file_end - cut_pos);
		assert_rc(ring_topic_stat(t, &st), 0);
		assert_int_equal(st.tail_pos, cut_pos);
		/* Before the cut, everything as published. */
		count_below(&f->ps, hit->pos, must);
		memset(&c, 0, sizeof(c));
		c.nproducers = f->ps.n;
		c.spec = f->ps.spec;
		c.acked = must;
		c.pos = f->ps.pos;
		c.pos_cap = f->ps.pos_cap;
		if (rd_check_log(dir, MAX_RECORD, &c) < 0)
			fail_msg("round %u: %s", round, c.error);
		assert_int_equal(c.walk.end_pos, cut_pos);
		free(recs);
		t = ring_topic_close(t);
	}
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	rd_producers_free(&f->ps);
	f->ps_live = false;
	f->passed = true;
}

/* ---- power loss ---- */

static void power_loss_round(struct rd_fixture *f, const char *mode, unsigned round)
{
	/* 256 KiB segments: a few rolls, few files for the fault layer. */
	const struct ring_topic_config cfg = topic_cfg(RING_FSYNC_ALWAYS, 256 * KIB);
	const struct rd_prod_spec spec[3] = {
		{ .min_len = 16, .max_len = 1500, .max_records = 20000, .wait_durable = true,
		  .timeout_ns = RD_NS_PER_S },
		{ .min_len = 16, .max_len = 700, .max_records = 20000, .wait_durable = true,
		  .batch_every = 3, .timeout_ns = RD_NS_PER_S },
		/* Does not wait: its records are the unsynced tail. */
		{ .min_len = 16, .max_len = 900, .max_records = 20000, .burst = 20,
		  .pause_ns = RD_NS_PER_MS, .timeout_ns = RD_NS_PER_S },
	};
	/* Beside it a `never` topic: all of its writes are unsynced, so the
	 * power loss drops or tears them, and recovery must cut cleanly. */
	const struct ring_topic_config lazy_cfg = topic_cfg(RING_FSYNC_NEVER, 256 * KIB);
	const struct rd_prod_spec lazy_spec[1] = {
		{ .min_len = 16, .max_len = 1000, .max_records = 3000, .burst = 10,
		  .pause_ns = RD_NS_PER_MS, .timeout_ns = RD_NS_PER_S },
	};
	uint64_t acked[RD_MAX_PRODUCERS], durable[RD_MAX_PRODUCERS], durable_pos = 0;
	struct rd_producers lazy = { 0 };
	struct ring_topic *t = NULL, *lt = NULL;
	struct ring_topic_stat st;
	struct rd_check c;
	char name[RING_TOPIC_NAME_MAX + 1], lname[RING_TOPIC_NAME_MAX + 1];
	char dir[256], ldir[256], ctl[256], cmd[64], why[320];
	unsigned lost_before, none_lost;
	int status = -1;

	use_fault_build(f, ctl, sizeof(ctl));
	assert_rc(rd_topic_create(f, "power", &cfg, name, sizeof(name), &t), 0);
	assert_rc(rd_topic_create(f, "lazy", &lazy_cfg, lname, sizeof(lname), &lt), 0);
	rd_topic_dir(f, name, dir, sizeof(dir));
	rd_topic_dir(f, lname, ldir, sizeof(ldir));
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	assert_true(rd_wait_served(&f->d, lt, 10 * RD_NS_PER_S));
	assert_rc(rd_daemon_fault(&f->d, ctl, "track", 10 * RD_NS_PER_S), 0);
	assert_rc(rd_producers_start(&f->ps, f->dir, name, 3, spec, 30 * RD_NS_PER_S), 0);
	f->ps_live = true;
	assert_rc(rd_producers_start(&lazy, f->dir, lname, 1, lazy_spec, 30 * RD_NS_PER_S), 0);
	assert_true(rd_producers_wait_more(&f->ps, 600, 20 * RD_NS_PER_S));
	assert_true(rd_producers_wait_more(&lazy, 200, 20 * RD_NS_PER_S));
	t_sleep_ns(t_rand_range(&f->rng, 0, 200) * RD_NS_PER_MS);
	lost_before = rd_log_count(&f->d, "unsynced write");

	/* The power goes: ringd rolls the files back and dies. */
	snprintf(cmd, sizeof(cmd), "power-loss %s %" PRIu64, mode, f->seed + round);
	assert_rc(rd_daemon_fault(&f->d, ctl, cmd, 10 * RD_NS_PER_S), 0);
	for (unsigned i = 0; i < 1000 && !rd_daemon_exited(&f->d, &status); i++)
		t_sleep_ns(5 * RD_NS_PER_MS);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == POWER_LOSS_EXIT);
	/* The producers stop too (cleanly, so that what they count as
	 * acknowledged is exact; records they publish into the orphaned
	 * ring meanwhile are lost with it, as on a host that went down). */
	assert_rc(rd_producers_stop(&f->ps, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
	assert_rc(rd_producers_stop(&lazy, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
	assert_rc(ring_topic_stat(t, &st), 0);
	durable_pos = st.durable_pos;
	t = ring_topic_close(t);
	lt = ring_topic_close(lt);
	assert_rc(ring_topic_unlink(f->dir, name), 0);
	assert_rc(ring_topic_unlink(f->dir, lname), 0);
	{
		/* "applied, N unsynced writes not kept whole" */
		char line[64];

		assert_int_equal(rd_log_count(&f->d, "unsynced write"), lost_before + 1);
		snprintf(line, sizeof(line), "applied, 0 unsynced");
		none_lost = rd_log_count(&f->d, line);
	}

	/* Reboot: an ordinary ringd recovers. */
	f->d.nenv = 0;
	snprintf(f->d.ringd, sizeof(f->d.ringd), "%s", getenv("RINGD"));
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_rc(rd_wait_open(f->dir, name, 10 * RD_NS_PER_S, &t), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	assert_rc(rd_daemon_stop_clean(&f->d), 0);

	if (rd_check_producers(dir, MAX_RECORD, &f->ps, true, acked, durable, &c) < 0)
		fail_msg("%s (%s)", c.error, mode);
	/* Everything that was durable, and the ring starts where the
	 * recovered log ends. */
	assert_true(c.walk.end_pos >= durable_pos);
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_int_equal(st.tail_pos, c.walk.end_pos);
	printf("# power loss (%s): durable %" PRIu64 "+%" PRIu64 " of %" PRIu64 "+%" PRIu64
	       " acknowledged; files kept %" PRIu64 "+%" PRIu64 "+%" PRIu64
	       "; durable was %" PRIu64 ", the log ends at %" PRIu64 "\n",
	       mode, durable[0], durable[1], acked[0], acked[1], c.next_seq[0], c.next_seq[1],
	       c.next_seq[2], durable_pos, c.walk.end_pos);
	assert_true(durable[0] > 0 && durable[1] > 0);

	/* The `never` topic: a valid log, a prefix of what was published
	 * (whatever the power loss kept), no duplicate. */
	if (rd_check_producers(ldir, MAX_RECORD, &lazy, true, acked, durable, &c) < 0)
		fail_msg("never topic: %s (%s)", c.error, mode);
	printf("# the never topic kept %" PRIu64 " of %" PRIu64 " records\n", c.next_seq[0],
	       acked[0]);
	/* Its active segment was never synced: dropping every unsynced
	 * write must have undone some of its records. (A random fate may
	 * happen to keep them all.) */
	if (!strcmp(mode, "drop")) {
		assert_int_equal(none_lost, 0);
		assert_true(c.next_seq[0] < acked[0]);
	}
	rd_producers_free(&lazy);
	rd_producers_free(&f->ps);
	f->ps_live = false;
	t = ring_topic_close(t);
}

static void test_power_loss_drop_unsynced(void **state)
{
	struct rd_fixture *f = *state;

	power_loss_round(f, "drop", 0);
	f->passed = true;
}

static void test_power_loss_tear_unsynced(void **state)
{
	struct rd_fixture *f = *state;

	power_loss_round(f, "random", 1);
	f->passed = true;
}

/* ---- a full disk ---- */

static void test_enospc_backpressure_then_resume(void **state)
{
	struct rd_fixture *f = *state;
	const struct ring_topic_config cfg = topic_cfg(RING_FSYNC_INTERVAL, 256 * KIB);
	const struct rd_prod_spec spec[2] = {
		{ .min_len = 16, .max_len = 1500, .max_records = 60000, .batch_every = 3,
		  .timeout_ns = 50 * RD_NS_PER_MS },
		{ .min_len = 16, .max_len = 400, .max_records = 60000, .burst = 50,
		  .pause_ns = RD_NS_PER_MS, .timeout_ns = 50 * RD_NS_PER_MS },
	};
	uint64_t acked[RD_MAX_PRODUCERS], durable[RD_MAX_PRODUCERS];
	uint64_t persisted, held, cpu0, cpu1, wall0, wall1, timeouts0;
	struct ring_topic *t = NULL;
	struct ring_topic_stat st;
	struct rd_check c;
	char name[RING_TOPIC_NAME_MAX + 1], dir[256], ctl[256], why[320];

	use_fault_build(f, ctl, sizeof(ctl));
	assert_rc(rd_topic_create(f, "enospc", &cfg, name, sizeof(name), &t), 0);
	rd_topic_dir(f, name, dir, sizeof(dir));
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	assert_rc(rd_producers_start(&f->ps, f->dir, name, 2, spec, 60 * RD_NS_PER_S), 0);
	f->ps_live = true;
	assert_true(rd_producers_wait_more(&f->ps, 300, 20 * RD_NS_PER_S));

	/* The disk is full. */
	assert_rc(rd_daemon_fault(&f->d, ctl, "fail-writes ENOSPC", 10 * RD_NS_PER_S), 0);
	assert_true(rd_log_wait(&f->d, "producers are held back until it succeeds", 1,
				10 * RD_NS_PER_S));
	/* The ring fills up and the producers wait for space. */
	timeouts0 = f->ps.sh->p[0].timeouts + f->ps.sh->p[1].timeouts;
	for (unsigned i = 0; i < 2000; i++) {
		if (f->ps.sh->p[0].timeouts + f->ps.sh->p[1].timeouts > timeouts0 + 4)
			break;
		t_sleep_ns(5 * RD_NS_PER_MS);
	}
	assert_true(f->ps.sh->p[0].timeouts + f->ps.sh->p[1].timeouts > timeouts0 + 4);
	assert_rc(ring_topic_stat(t, &st), 0);
	persisted = st.persisted_pos;
	held = rd_producers_total_acked(&f->ps);
	assert_true(st.tail_pos - st.persisted_pos > CAPACITY / 2);

	/* A second of the episode: nothing moves, one log line, and ringd
	 * sleeps between its retries instead of spinning. */
	cpu0 = rd_daemon_cpu_ns(&f->d);
	wall0 = t_now_ns();
	t_sleep_ns(RD_NS_PER_S);
	cpu1 = rd_daemon_cpu_ns(&f->d);
	wall1 = t_now_ns();
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_int_equal(st.persisted_pos, persisted);
	assert_int_equal(rd_producers_total_acked(&f->ps), held);
	assert_int_equal(rd_log_count(&f->d, "producers are held back until it succeeds"), 1);
	printf("# during the episode ringd used %" PRIu64 " ms of CPU in %" PRIu64
	       " ms; %" PRIu64 " publishes timed out\n",
	       (cpu1 - cpu0) / RD_NS_PER_MS, (wall1 - wall0) / RD_NS_PER_MS,
	       f->ps.sh->p[0].timeouts + f->ps.sh->p[1].timeouts);
	assert_true(cpu1 - cpu0 < (wall1 - wall0) / 4);

	/* Space again: the flow resumes where it stopped. */
	assert_rc(rd_daemon_fault(&f->d, ctl, "heal", 10 * RD_NS_PER_S), 0);
	assert_true(rd_log_wait(&f->d, "writing segment files works again; draining resumed", 1,
				10 * RD_NS_PER_S));
	assert_true(rd_producers_wait_more(&f->ps, 300, 20 * RD_NS_PER_S));
	assert_rc(rd_producers_stop(&f->ps, 10 * RD_NS_PER_S, why, sizeof(why)), 0);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	if (rd_check_producers(dir, MAX_RECORD, &f->ps, false, acked, durable, &c) < 0)
		fail_msg("%s", c.error);
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_int_equal(c.walk.end_pos, st.tail_pos);
	assert_true(acked[0] + acked[1] > held);
	rd_producers_free(&f->ps);
	f->ps_live = false;
	t = ring_topic_close(t);
	f->passed = true;
}

/* ---- a failing fsync ---- */

static void test_fsync_error_never_claims_durable(void **state)
{
	struct rd_fixture *f = *state;
	const struct ring_topic_config cfg = topic_cfg(RING_FSYNC_ALWAYS, 256 * KIB);
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	struct ring_topic_stat st;
	char name[RING_TOPIC_NAME_MAX + 1], ctl[256];
	uint64_t pos, first;
	int status = -1;

	use_fault_build(f, ctl, sizeof(ctl));
	assert_rc(rd_topic_create(f, "eio", &cfg, name, sizeof(name), &t), 0);
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_true(rd_wait_served(&f->d, t, 10 * RD_NS_PER_S));
	assert_rc(ring_producer_open(t, &p), 0);
	assert_rc(ring_producer_publish(p, 1, "before", 6, RD_NS_PER_S, &first), 0);
	assert_rc(ring_topic_wait_durable(t, first, 10 * RD_NS_PER_S), 0);

	assert_rc(rd_daemon_fault(&f->d, ctl, "fail-syncs EIO", 10 * RD_NS_PER_S), 0);
	assert_rc(ring_producer_publish(p, 1, "written, never synced", 21, RD_NS_PER_S, &pos), 0);
	assert_true(rd_wait_drained(t, 10 * RD_NS_PER_S));
	assert_rc(ring_topic_wait_durable(t, pos, 300 * RD_NS_PER_MS), -ETIMEDOUT);
	assert_true(rd_log_wait(&f->d, "fsync of segment files failed", 1, 10 * RD_NS_PER_S));
	/* Even once syncs work again: Linux may have dropped the pages it
	 * could not write, so this log never claims them durable. */
	assert_rc(rd_daemon_fault(&f->d, ctl, "heal", 10 * RD_NS_PER_S), 0);
	assert_rc(ring_topic_wait_durable(t, pos, 300 * RD_NS_PER_MS), -ETIMEDOUT);
	/* One episode, logged once, however often it was retried. */
	assert_int_equal(rd_log_count(&f->d, "fsync of segment files failed"), 1);
	assert_int_equal(rd_log_count(&f->d, "works again"), 0);
	assert_rc(ring_topic_stat(t, &st), 0);
	assert_true(st.persisted_pos > pos);
	assert_true(st.durable_pos <= pos);
	/* The stop says it could not sync everything. */
	assert_rc(rd_daemon_stop(&f->d, SIGTERM, 20 * RD_NS_PER_S, &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(rd_log_count(&f->d, "could not be written or synced to the end"), 1);

	/* The next ringd re-checks the log and syncs it. */
	assert_rc(rd_daemon_start(&f->d), 0);
	assert_rc(ring_topic_wait_durable(t, pos, 10 * RD_NS_PER_S), 0);
	assert_rc(rd_daemon_stop_clean(&f->d), 0);
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	f->passed = true;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, rd_setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_kill9_twenty_times_under_load),
		T(test_torn_and_flipped_tail_cut_and_reported),
		T(test_power_loss_drop_unsynced),
		T(test_power_loss_tear_unsynced),
		T(test_enospc_backpressure_then_resume),
		T(test_fsync_error_never_claims_durable),
	};
#undef T

	if (rd_skip())
		return T_EXIT_SKIP;
	return cmocka_run_group_tests_name("ringd_crash", tests, NULL, NULL);
}
