/* SPDX-License-Identifier: MIT */
/*
 * Description: ringd's offsets log (daemon/offsets.c, compiled into this
 * test) over the group table of an anonymous topic, in one process, with
 * the log in a temporary directory. Each "reboot" replays the log into
 * the group table of a new ring, as ringd does when the shared memory is
 * gone.
 *
 * Positive space: a collect appends one entry per group whose committed
 * position changed, and nothing when none did; replay restores every
 * group (name, mode, position), capped at the end of the recovered data; a
 * commit whose member was killed right after storing it is logged all the
 * same; commits made while no ringd ran (the ring survived) are logged by
 * the next ringd; past OFFSETS_COMPACT_BYTES the log is compacted to one
 * entry per group and still replays to the latest positions; a sync is
 * due on its own as the fsync policy says. A shared group's state (next
 * and in-flight records) survives a reboot: exactly the records left
 * unacked come back, as redeliveries counted on, then those from the old
 * next, none acked before; the state is capped at the log's end, logged
 * by an ordinary collect after its interval, at once after a reset back,
 * kept by compaction, merged with commits logged after it; a log of the
 * old kind of entry alone replays as before; snapshots taken while two
 * members claim and ack never miss a record that is never acked.
 * Negative space: a log cut at every byte of its last entry, or with a
 * flipped byte in it, replays to the entry before and is truncated to it;
 * a slot with a nonsense mode or name in shared memory is never logged;
 * the same for a state entry cut anywhere or with any byte flipped; a
 * whole state entry that makes no sense (misaligned, out of range,
 * unsorted or repeated positions, a count of 0 deliveries, an exclusive
 * mode, a bad name) is skipped and the file kept whole; one whose count
 * does not match its size is a torn tail.
 * And the other side of the restore: a group opened in a ring ringd
 * recreated after a reboot waits until ringd has replayed the log into it
 * (its attach), so that it resumes where the log says instead of starting
 * afresh.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"
#include "g.h"
#include "group.h"
#include "daemon_side.h"
#include "log.h"
#include "offsets.h"
#include "topic_config.h"

#define CAP (UINT64_C(64) << 10)
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)
#define BIG_END UINT64_MAX

struct fixture {
	char dir[128];
	char path[160];
	struct ring_topic *topic;
	struct offsets *o;
	struct ring_consumer *c[4];
};

static struct fixture fx;

static struct ring_topic *new_ring(void)
{
	const struct ring_topic_config cfg = { .capacity_bytes = CAP, .flags = RING_TOPIC_ANON };
	struct ring_topic *t = NULL;

	assert_rc(ring_topic_create(NULL, NULL, &cfg, &t), 0);
	return t;
}

static int setup(void **state)
{
	struct fixture *f = &fx;

	memset(f, 0, sizeof(*f));
	if (t_tmpdir_create(f->dir, sizeof(f->dir)) < 0)
		return -1;
	if ((size_t)snprintf(f->path, sizeof(f->path), "%.128s/offsets.log", f->dir) >=
	    sizeof(f->path))
		return -1;
	log_set_level(LOG_LVL_ERROR);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < 4; i++)
		f->c[i] = ring_consumer_close(f->c[i]);
	offsets_close(f->o);
	f->topic = ring_topic_close(f->topic);
	(void)t_tmpdir_remove(f->dir);
	return 0;
}

static uint64_t file_size(const struct fixture *f)
{
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	return (uint64_t)st.st_size;
}

static struct ring_consumer *open_group(struct fixture *f, const char *name, uint32_t mode)
{
	const struct ring_consumer_config cfg = {
		.mode = mode,
		.start = RING_GROUP_START_POSITION,
		.start_position = 0,
		.flags = mode == RING_GROUP_EXCLUSIVE ? RING_CONSUMER_MANUAL_COMMIT : 0,
	};
	struct ring_consumer *c = NULL;

	assert_rc(ring_consumer_open(f->topic, name, &cfg, &c), 0);
	return c;
}

/* Publish @n records of 80 bytes each (24-byte header, 56-byte payload). */
static void publish_spans_of_80(struct fixture *f, uint64_t n)
{
	struct ring_producer *p = NULL;

	assert_rc(ring_producer_open(f->topic, &p), 0);
	assert_rc(g_publish(p, 0, 0, n, 56, 56, 0, NULL), 0);
	p = ring_producer_close(p);
}

/* The same, sequence numbers from @first_seq: record k is at k * 80. */
static void publish_seq_from(struct fixture *f, uint64_t first_seq, uint64_t n)
{
	struct ring_producer *p = NULL;

	assert_rc(ring_producer_open(f->topic, &p), 0);
	assert_rc(g_publish(p, 0, first_seq, n, 56, 56, 0, NULL), 0);
	p = ring_producer_close(p);
}

/* Replay the log into a new ring, as after a reboot with the data's log
 * ending at @log_end. */
static void reboot(struct fixture *f, uint64_t log_end)
{
	for (unsigned i = 0; i < 4; i++)
		f->c[i] = ring_consumer_close(f->c[i]);
	offsets_close(f->o);
	f->o = NULL;
	f->topic = ring_topic_close(f->topic);
	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 1, log_end, &f->o), 0);
}

static void expect_group(struct fixture *f, const char *name, uint32_t mode, uint64_t pos)
{
	struct ring_group_stat s;

	if (g_group_stat(f->topic, name, &s) != 1)
		fail_msg("group %s was not restored", name);
	assert_int_equal(s.mode, mode);
	if (s.committed_pos != pos)
		fail_msg("group %s restored at %llu, expected %llu", name,
			 (unsigned long long)s.committed_pos, (unsigned long long)pos);
}

static struct ring_group_slot *slot_of(struct fixture *f, const char *name)
{
	struct ring_group_slot *g = NULL;

	assert_rc(ringi_group_find(f->topic, name, false, 0, 0, &g), 0);
	return g;
}

static void test_offsets_collect_appends_only_changes(void **state)
{
	struct fixture *f = *state;
	uint64_t size;

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	assert_rc(offsets_collect(f->o, f->topic), 0);
	assert_int_equal(file_size(f), 0);
	f->c[0] = open_group(f, "ex", RING_GROUP_EXCLUSIVE);
	f->c[1] = open_group(f, "sh", RING_GROUP_SHARED);
	/* New groups are logged, at their start. */
	assert_rc(offsets_collect(f->o, f->topic), 2);
	size = file_size(f);
	assert_true(size > 0 && size % 8 == 0);
	assert_rc(offsets_collect(f->o, f->topic), 0);
	assert_int_equal(file_size(f), size);
	assert_rc(ring_consumer_commit(f->c[0], 4096), 0);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	assert_true(file_size(f) > size);
	/* The same position committed again is no change. */
	assert_rc(ring_consumer_commit(f->c[0], 4096), 0);
	assert_rc(offsets_collect(f->o, f->topic), 0);
}

static void test_offsets_replay_restores_groups_capped_at_log_end(void **state)
{
	struct fixture *f = *state;

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	f->c[0] = open_group(f, "ex", RING_GROUP_EXCLUSIVE);
	f->c[1] = open_group(f, "sh", RING_GROUP_SHARED);
	f->c[2] = open_group(f, "far", RING_GROUP_EXCLUSIVE);
	assert_rc(ring_consumer_commit(f->c[0], 800), 0);
	assert_rc(ring_consumer_commit(f->c[2], 9000), 0);
	/* A shared group's committed position is its ack watermark; move it
	 * the way an operator would. */
	f->c[1] = ring_consumer_close(f->c[1]);
	publish_spans_of_80(f, 25);	/* a reset must land on a record */
	assert_rc(ring_group_reset(f->topic, "sh", 1600, 0), 0);
	assert_true(offsets_collect(f->o, f->topic) >= 3);
	assert_rc(offsets_sync(f->o), 0);

	reboot(f, 5000);
	expect_group(f, "ex", RING_GROUP_EXCLUSIVE, 800);
	expect_group(f, "sh", RING_GROUP_SHARED, 1600);
	/* Never past the end of the data that survived. */
	expect_group(f, "far", RING_GROUP_EXCLUSIVE, 5000);
	/* The capped position goes into the log at the next collect. */
	assert_rc(offsets_collect(f->o, f->topic), 1);
	assert_rc(offsets_collect(f->o, f->topic), 0);
	reboot(f, BIG_END);
	expect_group(f, "far", RING_GROUP_EXCLUSIVE, 5000);
}

static void test_offsets_commit_of_a_killed_member_is_logged(void **state)
{
	struct fixture *f = *state;
	struct ring_group_slot *g;

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	f->c[0] = open_group(f, "ex", RING_GROUP_EXCLUSIVE);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	/* What ring_consumer_commit() leaves when its member is killed at
	 * group.exclusive.mid_commit: the position stored, nothing else of
	 * the commit done. */
	g = slot_of(f, "ex");
	ring_store_release(&g->committed, 2400);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	reboot(f, BIG_END);
	expect_group(f, "ex", RING_GROUP_EXCLUSIVE, 2400);
}

static void test_offsets_commits_while_no_ringd_ran_are_logged_next_time(void **state)
{
	struct fixture *f = *state;

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	f->c[0] = open_group(f, "ex", RING_GROUP_EXCLUSIVE);
	assert_rc(ring_consumer_commit(f->c[0], 1000), 0);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	/* ringd goes (crash); the member commits on; ringd comes back to the
	 * surviving ring. */
	offsets_close(f->o);
	f->o = NULL;
	assert_rc(ring_consumer_commit(f->c[0], 3000), 0);
	f->c[1] = open_group(f, "late", RING_GROUP_SHARED);
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	assert_rc(offsets_collect(f->o, f->topic), 2);
	reboot(f, BIG_END);
	expect_group(f, "ex", RING_GROUP_EXCLUSIVE, 3000);
	expect_group(f, "late", RING_GROUP_SHARED, 0);
}

/* Build a log whose last entry is "ex" at 2000, after "ex" at 1000 and
 * "other" at 512; its size before the last entry in *ret_before. */
static void build_log(struct fixture *f, uint64_t *ret_before)
{
	(void)unlink(f->path);
	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	f->c[0] = open_group(f, "ex", RING_GROUP_EXCLUSIVE);
	f->c[1] = open_group(f, "other", RING_GROUP_EXCLUSIVE);
	assert_rc(ring_consumer_commit(f->c[0], 1000), 0);
	assert_rc(ring_consumer_commit(f->c[1], 512), 0);
	assert_rc(offsets_collect(f->o, f->topic), 2);
	*ret_before = file_size(f);
	assert_rc(ring_consumer_commit(f->c[0], 2000), 0);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	assert_rc(offsets_sync(f->o), 0);
	for (unsigned i = 0; i < 4; i++)
		f->c[i] = ring_consumer_close(f->c[i]);
	offsets_close(f->o);
	f->o = NULL;
	f->topic = ring_topic_close(f->topic);
}

static void test_offsets_torn_tail_recovers_to_last_whole_entry(void **state)
{
	struct fixture *f = *state;
	uint64_t before, full;

	build_log(f, &before);
	full = file_size(f);
	assert_true(full > before);
	/* Every cut inside the last entry: the entry before it wins. */
	for (uint64_t cut = before; cut < full; cut++) {
		assert_int_equal(truncate(f->path, (off_t)cut), 0);
		f->topic = new_ring();
		assert_rc(offsets_open(f->dir, f->topic, 1, BIG_END, &f->o), 0);
		expect_group(f, "ex", RING_GROUP_EXCLUSIVE, 1000);
		expect_group(f, "other", RING_GROUP_EXCLUSIVE, 512);
		assert_int_equal(file_size(f), before);
		offsets_close(f->o);
		f->o = NULL;
		f->topic = ring_topic_close(f->topic);
		/* Put the whole entry back for the next cut. */
		build_log(f, &before);
	}
}

static void flip_byte(const char *path, uint64_t off)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	(void)close(fd);
}

static void test_offsets_corrupt_tail_entry_is_dropped(void **state)
{
	struct fixture *f = *state;
	uint64_t before, full;

	build_log(f, &before);
	full = file_size(f);
	/* A flipped bit anywhere in the last entry: magic, size, CRC, mode,
	 * position, time or name. */
	for (uint64_t off = before; off < full; off += 3) {
		flip_byte(f->path, off);
		f->topic = new_ring();
		assert_rc(offsets_open(f->dir, f->topic, 1, BIG_END, &f->o), 0);
		expect_group(f, "ex", RING_GROUP_EXCLUSIVE, 1000);
		assert_int_equal(file_size(f), before);
		/* Appends go on behind the last good entry. */
		f->c[0] = open_group(f, "ex", RING_GROUP_EXCLUSIVE);
		assert_rc(ring_consumer_commit(f->c[0], 7000), 0);
		assert_rc(offsets_collect(f->o, f->topic), 1);
		reboot(f, BIG_END);
		expect_group(f, "ex", RING_GROUP_EXCLUSIVE, 7000);
		offsets_close(f->o);
		f->o = NULL;
		f->topic = ring_topic_close(f->topic);
		build_log(f, &before);
	}
}

static void test_offsets_compacted_when_large_and_still_replays(void **state)
{
	struct fixture *f = *state;
	uint64_t pos = 0, max_size = 0, compactions = 0, last_size = 0;

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	f->c[0] = open_group(f, "busy", RING_GROUP_EXCLUSIVE);
	f->c[1] = open_group(f, "idle", RING_GROUP_EXCLUSIVE);
	f->c[2] = open_group(f, "sh", RING_GROUP_SHARED);
	assert_rc(ring_consumer_commit(f->c[1], 64), 0);
	assert_rc(offsets_collect(f->o, f->topic), 3);
	/* Enough commits to pass the threshold twice. */
	for (unsigned i = 0; i < 3 * OFFSETS_COMPACT_BYTES / 48; i++) {
		uint64_t size;

		pos += 8;
		assert_rc(ring_consumer_commit(f->c[0], pos), 0);
		assert_rc(offsets_collect(f->o, f->topic), 1);
		size = file_size(f);
		if (size < last_size)
			compactions++;
		last_size = size;
		if (size > max_size)
			max_size = size;
	}
	assert_true(compactions >= 2);
	assert_true(max_size <= OFFSETS_COMPACT_BYTES + 128);
	reboot(f, BIG_END);
	expect_group(f, "busy", RING_GROUP_EXCLUSIVE, pos);
	expect_group(f, "idle", RING_GROUP_EXCLUSIVE, 64);
	expect_group(f, "sh", RING_GROUP_SHARED, 0);
	/* Nothing is left of the temporary file. */
	{
		char tmp[sizeof(f->path) + 8];

		snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
		assert_int_equal(access(tmp, F_OK), -1);
	}
}

static void test_offsets_sync_due_follows_fsync_policy(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_config always = { .fsync_policy = RING_FSYNC_ALWAYS };
	struct ring_topic_config interval = { .fsync_policy = RING_FSYNC_INTERVAL,
					      .fsync_interval_ns = 50 * NS_PER_MS };
	struct ring_topic_config never = { .fsync_policy = RING_FSYNC_NEVER };
	uint64_t now;

	assert_false(offsets_sync_due(NULL, &always, 0, true));
	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	now = t_now_ns();
	/* Nothing appended: never due. */
	assert_false(offsets_sync_due(f->o, &always, now, true));
	f->c[0] = open_group(f, "ex", RING_GROUP_EXCLUSIVE);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	now = t_now_ns();
	assert_true(offsets_sync_due(f->o, &always, now, false));
	assert_false(offsets_sync_due(f->o, &interval, now, false));
	assert_true(offsets_sync_due(f->o, &interval, now + 60 * NS_PER_MS, false));
	assert_false(offsets_sync_due(f->o, &never, now + 3600 * NS_PER_MS, false));
	assert_true(offsets_sync_due(f->o, &never, now, true));
	assert_rc(offsets_sync(f->o), 0);
	assert_false(offsets_sync_due(f->o, &always, t_now_ns(), true));
}

static void test_offsets_nonsense_slot_is_never_logged(void **state)
{
	struct fixture *f = *state;
	struct ring_group_slot *g;
	uint64_t size;

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	f->c[0] = open_group(f, "good", RING_GROUP_EXCLUSIVE);
	f->c[1] = open_group(f, "bad", RING_GROUP_EXCLUSIVE);
	assert_rc(offsets_collect(f->o, f->topic), 2);
	size = file_size(f);
	/* A buggy process scribbles over a slot: a mode that does not exist,
	 * then a name with a '/'. */
	g = slot_of(f, "bad");
	g->mode = 7;
	assert_rc(ring_consumer_commit(f->c[1], 80), 0);
	assert_rc(offsets_collect(f->o, f->topic), 0);
	assert_int_equal(file_size(f), size);
	g->mode = RING_GROUP_EXCLUSIVE;
	g->name[1] = '/';
	assert_rc(offsets_collect(f->o, f->topic), 0);
	assert_rc(ring_consumer_commit(f->c[0], 96), 0);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	reboot(f, BIG_END);
	expect_group(f, "good", RING_GROUP_EXCLUSIVE, 96);
	expect_group(f, "bad", RING_GROUP_EXCLUSIVE, 0);
}

/* ---- shared groups' in-flight state across a reboot ---- */

#define REC 80u /* publish_seq_from()'s span */

/* Deliver records until @n have come, ack none of them: their sequence
 * numbers (also their positions / REC) in @seq, deliveries in @d. */
static void deliver_n(struct ring_consumer *c, unsigned n, uint64_t *seq, unsigned *d)
{
	for (unsigned i = 0; i < n; i++) {
		struct ring_record rec;
		uint64_t sq;

		assert_rc(ring_consumer_next(c, &rec, NS_PER_S), 0);
		assert_rc(g_check(&rec, 0, &sq), 0);
		assert_int_equal(rec.position, sq * REC);
		seq[i] = sq;
		d[i] = rec.deliveries;
	}
}

/* Slot @name holds exactly the restored deliveries @pos (with @d), in
 * order, as entries of no member due at once; committed and next as
 * given. */
static void expect_restored(struct fixture *f, const char *name, uint64_t committed,
			    uint64_t next, unsigned n, const uint64_t *pos, const unsigned *d)
{
	struct ring_group_slot *g = slot_of(f, name);
	struct ring_group_stat s;

	assert_int_equal(g_group_stat(f->topic, name, &s), 1);
	assert_int_equal(s.mode, RING_GROUP_SHARED);
	assert_int_equal(ring_load_relaxed(&g->committed), committed);
	assert_int_equal(ring_load_relaxed(&g->next), next);
	assert_int_equal(s.in_flight, n);
	for (unsigned i = 0; i < RING_GROUP_INFLIGHT; i++) {
		uint64_t meta = ring_load_relaxed(&g->inflight[i].meta);

		if (i >= n) {
			assert_int_equal(meta, 0);
			assert_int_equal(ring_load_relaxed(&g->inflight[i].pos), RING_POS_NONE);
			continue;
		}
		assert_int_equal(ring_load_relaxed(&g->inflight[i].pos), pos[i]);
		assert_int_equal(ringi_inflight_state(meta), RING_INFLIGHT_RELEASED);
		assert_int_equal(ringi_inflight_member(meta), RING_INFLIGHT_NO_MEMBER);
		assert_int_equal(ringi_inflight_deadline(meta), 0);
		assert_int_equal(ringi_inflight_deliveries(meta), d[i]);
	}
}

static void test_offsets_shared_reboot_redelivers_only_what_was_in_flight(void **state)
{
	struct fixture *f = *state;
	/* Left unacked: 3, 5 (nacked and delivered again first), 17, 29 and
	 * 39, the last one handed out. */
	static const uint64_t unacked[] = { 3, 5, 17, 29, 39 };
	static const unsigned before_d[] = { 1, 2, 1, 1, 1 };
	uint64_t seq[40], pos[5], got_seq[64];
	unsigned d[40], got_d[64], n = 0, expect_d[5];
	struct ring_record rec;
	bool seen[50] = { false };

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	publish_seq_from(f, 0, 40);
	f->c[0] = open_group(f, "sh", RING_GROUP_SHARED);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	deliver_n(f->c[0], 40, seq, d);
	for (unsigned i = 0; i < 40; i++) {
		assert_int_equal(seq[i], i);
		assert_int_equal(d[i], 1);
	}
	/* 5 comes back at once when nacked with no delay. */
	assert_rc(ring_consumer_nack(f->c[0], 5 * REC, 0), 0);
	assert_rc(ring_consumer_next(f->c[0], &rec, NS_PER_S), 0);
	assert_int_equal(rec.position, 5 * REC);
	assert_int_equal(rec.deliveries, 2);
	for (uint64_t k = 0; k < 40; k++) {
		bool keep = false;

		for (unsigned i = 0; i < 5; i++)
			keep |= unacked[i] == k;
		if (!keep)
			assert_rc(ring_consumer_ack(f->c[0], k * REC), 0);
	}
	assert_true(offsets_collect_now(f->o, f->topic) >= 1);
	assert_rc(offsets_sync(f->o), 0);

	/* The host goes down with the member; the log says what was in
	 * flight. The new ring gets the same records at the same positions
	 * (what the recovered log would hold), and 10 more. */
	reboot(f, BIG_END);
	for (unsigned i = 0; i < 5; i++) {
		pos[i] = unacked[i] * REC;
		expect_d[i] = before_d[i];
	}
	expect_restored(f, "sh", 3 * REC, 40 * REC, 5, pos, expect_d);
	publish_seq_from(f, 0, 50);
	f->c[0] = open_group(f, "sh", RING_GROUP_SHARED);
	f->c[1] = open_group(f, "sh", RING_GROUP_SHARED);
	/* Two members: the unacked five come back as redeliveries, each
	 * once, counted on; then 40..49, each once, and nothing else. */
	for (unsigned turns = 0; n < 15 && turns < 10000; turns++) {
		int rc = ring_consumer_next(f->c[turns % 2], &rec, 10 * NS_PER_MS);

		if (rc == -ETIMEDOUT || rc == -EAGAIN)
			continue;
		assert_rc(rc, 0);
		assert_true(n < 64);
		assert_rc(g_check(&rec, 0, &got_seq[n]), 0);
		got_d[n] = rec.deliveries;
		n++;
	}
	assert_int_equal(n, 15);
	for (unsigned i = 0; i < n; i++) {
		uint64_t k = got_seq[i];
		unsigned want = 1;

		assert_true(k < 50);
		if (seen[k])
			fail_msg("record %llu delivered twice after the reboot",
				 (unsigned long long)k);
		seen[k] = true;
		for (unsigned u = 0; u < 5; u++)
			if (unacked[u] == k)
				want = before_d[u] + 1;
		if (k < 40 && want == 1)
			fail_msg("record %llu was acked before the reboot and came again",
				 (unsigned long long)k);
		assert_int_equal(got_d[i], want);
	}
	for (unsigned k = 40; k < 50; k++)
		assert_true(seen[k]);
	/* Nothing else is due: everything is in flight with a 30 s wait. */
	assert_rc(ring_consumer_next(f->c[0], &rec, 30 * NS_PER_MS), -ETIMEDOUT);
	assert_rc(ring_consumer_next(f->c[1], &rec, 30 * NS_PER_MS), -ETIMEDOUT);
	/* Acked now, the watermark passes them all. */
	for (unsigned i = 0; i < n; i++) {
		int rc = ring_consumer_ack(f->c[0], got_seq[i] * REC);

		if (rc == -ENOENT)
			rc = ring_consumer_ack(f->c[1], got_seq[i] * REC);
		assert_rc(rc, 0);
	}
	f->c[0] = ring_consumer_close(f->c[0]);
	f->c[1] = ring_consumer_close(f->c[1]);
	expect_group(f, "sh", RING_GROUP_SHARED, 50 * REC);
}

static void test_offsets_shared_state_capped_at_log_end(void **state)
{
	struct fixture *f = *state;
	uint64_t seq[30], pos[2] = { 4 * REC, 12 * REC };
	unsigned d[30], one[2] = { 1, 1 };

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	publish_seq_from(f, 0, 30);
	f->c[0] = open_group(f, "sh", RING_GROUP_SHARED);
	deliver_n(f->c[0], 30, seq, d);
	for (unsigned k = 0; k < 30; k++)
		if (k != 4 && k != 12 && k != 25)
			assert_rc(ring_consumer_ack(f->c[0], k * REC), 0);
	assert_true(offsets_collect_now(f->o, f->topic) >= 1);
	/* The recovered log ends at record 20: 25 is not in it (a new record
	 * will take its place), and next stops there. */
	reboot(f, 20 * REC);
	expect_restored(f, "sh", 4 * REC, 20 * REC, 2, pos, one);
	/* The trimmed state goes into the log at the next collect. */
	assert_rc(offsets_collect(f->o, f->topic), 1);
	reboot(f, BIG_END);
	expect_restored(f, "sh", 4 * REC, 20 * REC, 2, pos, one);
}

static void test_offsets_shared_state_logged_after_the_interval(void **state)
{
	struct fixture *f = *state;
	uint64_t seq[10], pos[1] = { 2 * REC };
	unsigned d[10], one[1] = { 1 };

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	publish_seq_from(f, 0, 10);
	f->c[0] = open_group(f, "sh", RING_GROUP_SHARED);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	deliver_n(f->c[0], 10, seq, d);
	for (unsigned k = 0; k < 10; k++)
		if (k != 2)
			assert_rc(ring_consumer_ack(f->c[0], k * REC), 0);
	/* More than the interval later, an ordinary collect logs it. */
	t_sleep_ns(15 * NS_PER_MS);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	assert_rc(offsets_collect(f->o, f->topic), 0);	/* and only once */
	reboot(f, BIG_END);
	expect_restored(f, "sh", 2 * REC, 10 * REC, 1, pos, one);
}

static void test_offsets_shared_reset_back_is_logged_at_once(void **state)
{
	struct fixture *f = *state;
	uint64_t seq[30];
	unsigned d[30];

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	publish_seq_from(f, 0, 30);
	f->c[0] = open_group(f, "sh", RING_GROUP_SHARED);
	deliver_n(f->c[0], 30, seq, d);
	for (unsigned k = 0; k < 30; k++)
		if (k != 20)
			assert_rc(ring_consumer_ack(f->c[0], k * REC), 0);
	assert_true(offsets_collect_now(f->o, f->topic) >= 1);
	f->c[0] = ring_consumer_close(f->c[0]);
	/* An operator sends the group back to record 10: no interval holds
	 * that back, or a reboot would skip what the reset asked for. */
	assert_rc(ring_group_reset(f->topic, "sh", 10 * REC, 0), 0);
	assert_rc(offsets_collect(f->o, f->topic), 1);
	reboot(f, BIG_END);
	expect_restored(f, "sh", 10 * REC, 10 * REC, 0, NULL, NULL);
}

/* ---- the log's bytes, written by hand ---- */

static void put32le(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64le(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* An entry of the kind every ringd writes ("ROFF"): its size. */
static size_t old_entry(uint8_t *buf, const char *name, uint32_t mode, uint64_t committed)
{
	size_t len = strlen(name), bytes = (33 + len + 7) & ~(size_t)7;

	memset(buf, 0, bytes);
	put32le(buf, 0x46464f52u);
	put32le(buf + 4, (uint32_t)bytes);
	put32le(buf + 12, mode);
	put64le(buf + 16, committed);
	put64le(buf + 24, 1);
	buf[32] = (uint8_t)len;
	memcpy(buf + 33, name, len);
	put32le(buf + 8, ringi_crc32c(0, buf + 12, bytes - 12));
	return bytes;
}

/* A shared group's state ("ROFS", offsets.c's format): its size. */
static size_t state_entry(uint8_t *buf, const char *name, uint32_t mode, uint64_t committed,
			  uint64_t next, unsigned count, const uint64_t *pos, const uint8_t *d)
{
	size_t len = strlen(name), at = 48 + ((len + 7) & ~(size_t)7);
	size_t bytes = at + count * 8u + ((count + 7u) & ~7u);

	memset(buf, 0, bytes);
	put32le(buf, 0x53464f52u);
	put32le(buf + 4, (uint32_t)bytes);
	put32le(buf + 12, mode);
	put64le(buf + 16, committed);
	put64le(buf + 24, 1);
	put64le(buf + 32, next);
	put32le(buf + 40, count);
	buf[44] = (uint8_t)len;
	memcpy(buf + 48, name, len);
	for (unsigned i = 0; i < count; i++)
		put64le(buf + at + 8 * i, pos[i]);
	if (count)
		memcpy(buf + at + 8 * count, d, count);
	put32le(buf + 8, ringi_crc32c(0, buf + 12, bytes - 12));
	return bytes;
}

static void write_log(struct fixture *f, const uint8_t *buf, size_t len)
{
	int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	(void)close(fd);
}

static void test_offsets_old_format_log_still_replays(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];
	size_t used = 0;

	/* What a ringd from before in-flight states wrote. */
	used += old_entry(buf + used, "ex", RING_GROUP_EXCLUSIVE, 800);
	used += old_entry(buf + used, "sh", RING_GROUP_SHARED, 1600);
	used += old_entry(buf + used, "sh", RING_GROUP_SHARED, 2400);
	write_log(f, buf, used);
	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 1, BIG_END, &f->o), 0);
	assert_int_equal(file_size(f), used);
	expect_group(f, "ex", RING_GROUP_EXCLUSIVE, 800);
	/* A shared group without a logged state goes on from its watermark,
	 * as it always did. */
	expect_restored(f, "sh", 2400, 2400, 0, NULL, NULL);
	/* Nothing differs from the table but the new kind of state, which
	 * goes in once. */
	assert_rc(offsets_collect(f->o, f->topic), 1);
	assert_rc(offsets_collect(f->o, f->topic), 0);
}

static void test_offsets_state_merges_with_later_commits(void **state)
{
	struct fixture *f = *state;
	static const uint64_t pos[3] = { 1600, 2000, 3200 };
	static const uint8_t d[3] = { 1, 4, 2 };
	uint64_t want_pos[2] = { 2000, 3200 };
	unsigned want_d[2] = { 4, 2 };
	uint8_t buf[2048];
	size_t used = 0;

	/* A state, then a watermark logged on its own past its first
	 * record: that one was acked since, the others still count. */
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 800, 4000, 3, pos, d);
	used += old_entry(buf + used, "sh", RING_GROUP_SHARED, 2000);
	/* A state, then an operator's reset back below it: the reset wins. */
	used += state_entry(buf + used, "back", RING_GROUP_SHARED, 800, 4000, 3, pos, d);
	used += old_entry(buf + used, "back", RING_GROUP_SHARED, 400);
	/* A watermark moved past the state's next: from there on. */
	used += state_entry(buf + used, "past", RING_GROUP_SHARED, 800, 4000, 3, pos, d);
	used += old_entry(buf + used, "past", RING_GROUP_SHARED, 4800);
	write_log(f, buf, used);
	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 1, BIG_END, &f->o), 0);
	expect_restored(f, "sh", 2000, 4000, 2, want_pos, want_d);
	expect_restored(f, "back", 400, 400, 0, NULL, NULL);
	expect_restored(f, "past", 4800, 4800, 0, NULL, NULL);
}

static void test_offsets_nonsense_state_entries_are_skipped(void **state)
{
	struct fixture *f = *state;
	static const uint64_t good[2] = { 1600, 2400 };
	static const uint8_t one[2] = { 1, 1 }, zero[2] = { 1, 0 };
	static const uint64_t odd[2] = { 1600, 2404 }, high[2] = { 1600, 4000 };
	static const uint64_t low[2] = { 400, 1600 }, unsorted[2] = { 2400, 1600 };
	static const uint64_t twice[2] = { 1600, 1600 };
	uint64_t want_pos[2] = { 1600, 2400 };
	unsigned want_d[2] = { 1, 1 };
	uint8_t buf[4096];
	size_t used = 0;

	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 800, 4000, 2, good, one);
	/* Whole and checksummed, but each makes no sense. */
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 800, 4000, 2, odd, one);
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 800, 4000, 2, high, one);
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 800, 4000, 2, low, one);
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 800, 4000, 2, unsorted, one);
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 800, 4000, 2, twice, one);
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 800, 4000, 2, good, zero);
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 4800, 4000, 0, NULL, NULL);
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 804, 4000, 0, NULL, NULL);
	used += state_entry(buf + used, "sh", RING_GROUP_SHARED, 800, 4004, 0, NULL, NULL);
	used += state_entry(buf + used, "sh", RING_GROUP_EXCLUSIVE, 800, 4000, 2, good, one);
	used += state_entry(buf + used, "s/h", RING_GROUP_SHARED, 800, 4000, 2, good, one);
	write_log(f, buf, used);
	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 1, BIG_END, &f->o), 0);
	/* Skipped, not taken for a torn tail: the file is whole. (The
	 * watermark is raised to the lowest record in flight as soon as
	 * ringd looks at the group, at the end of the replay.) */
	assert_int_equal(file_size(f), used);
	expect_restored(f, "sh", 1600, 4000, 2, want_pos, want_d);
}

static void test_offsets_state_with_bad_count_is_a_torn_tail(void **state)
{
	struct fixture *f = *state;
	static const uint64_t good[1] = { 1600 };
	static const uint8_t one[1] = { 1 };
	uint64_t want_pos[1] = { 1600 };
	unsigned want_d[1] = { 1 };
	uint8_t buf[4096];
	size_t first, used;

	first = state_entry(buf, "sh", RING_GROUP_SHARED, 800, 4000, 1, good, one);
	used = first + state_entry(buf + first, "sh", RING_GROUP_SHARED, 800, 4800, 1, good, one);
	/* A count that does not match the size (CRC made to match): the
	 * entry cannot be parsed, so it and what follows are dropped. */
	put32le(buf + first + 40, 300);
	put32le(buf + first + 8, ringi_crc32c(0, buf + first + 12, used - first - 12));
	write_log(f, buf, used);
	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 1, BIG_END, &f->o), 0);
	assert_int_equal(file_size(f), first);
	expect_restored(f, "sh", 1600, 4000, 1, want_pos, want_d);
}

/*
 * A log whose last entry is a shared group's state (record 25 in flight,
 * next at 30) after an earlier one (records 4 and 12 in flight, next at
 * 20); its size before the last entry in *ret_before.
 */
static void build_state_log(struct fixture *f, uint64_t *ret_before)
{
	uint64_t seq[30];
	unsigned d[30];

	(void)unlink(f->path);
	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	publish_seq_from(f, 0, 30);
	f->c[0] = open_group(f, "sh", RING_GROUP_SHARED);
	deliver_n(f->c[0], 20, seq, d);
	for (unsigned k = 0; k < 20; k++)
		if (k != 4 && k != 12)
			assert_rc(ring_consumer_ack(f->c[0], k * REC), 0);
	assert_rc(offsets_collect_now(f->o, f->topic), 1);
	*ret_before = file_size(f);
	deliver_n(f->c[0], 10, seq, d);
	for (unsigned k = 0; k < 30; k++)
		if (k != 25)
			(void)ring_consumer_ack(f->c[0], k * REC);
	assert_rc(offsets_collect_now(f->o, f->topic), 1);
	assert_rc(offsets_sync(f->o), 0);
	f->c[0] = ring_consumer_close(f->c[0]);
	offsets_close(f->o);
	f->o = NULL;
	f->topic = ring_topic_close(f->topic);
}

static void expect_earlier_state(struct fixture *f)
{
	uint64_t pos[2] = { 4 * REC, 12 * REC };
	unsigned one[2] = { 1, 1 };

	expect_restored(f, "sh", 4 * REC, 20 * REC, 2, pos, one);
}

static void test_offsets_torn_or_garbled_state_is_dropped(void **state)
{
	struct fixture *f = *state;
	uint64_t before, full, pos[1] = { 25 * REC };
	unsigned one[1] = { 1 };

	build_state_log(f, &before);
	full = file_size(f);
	assert_true(full > before);
	/* Whole, the last state wins. */
	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 1, BIG_END, &f->o), 0);
	expect_restored(f, "sh", 25 * REC, 30 * REC, 1, pos, one);
	offsets_close(f->o);
	f->o = NULL;
	f->topic = ring_topic_close(f->topic);
	/* Cut anywhere inside it: the one before. */
	for (uint64_t cut = before; cut < full; cut++) {
		build_state_log(f, &before);
		assert_int_equal(truncate(f->path, (off_t)cut), 0);
		f->topic = new_ring();
		assert_rc(offsets_open(f->dir, f->topic, 1, BIG_END, &f->o), 0);
		expect_earlier_state(f);
		assert_int_equal(file_size(f), before);
		offsets_close(f->o);
		f->o = NULL;
		f->topic = ring_topic_close(f->topic);
	}
	/* A flipped bit anywhere in it: the same. */
	for (uint64_t off = before; off < full; off += 3) {
		build_state_log(f, &before);
		flip_byte(f->path, off);
		f->topic = new_ring();
		assert_rc(offsets_open(f->dir, f->topic, 1, BIG_END, &f->o), 0);
		expect_earlier_state(f);
		assert_int_equal(file_size(f), before);
		offsets_close(f->o);
		f->o = NULL;
		f->topic = ring_topic_close(f->topic);
	}
}

static void test_offsets_compaction_keeps_in_flight_state(void **state)
{
	struct fixture *f = *state;
	uint64_t seq[20], cpos = 0, last_size = 0, pos[3] = { 1 * REC, 7 * REC, 19 * REC };
	unsigned d[20], compactions = 0, want_d[3] = { 1, 2, 1 };
	struct ring_record rec;

	f->topic = new_ring();
	assert_rc(offsets_open(f->dir, f->topic, 0, BIG_END, &f->o), 0);
	publish_seq_from(f, 0, 20);
	f->c[0] = open_group(f, "sh", RING_GROUP_SHARED);
	f->c[1] = open_group(f, "busy", RING_GROUP_EXCLUSIVE);
	deliver_n(f->c[0], 20, seq, d);
	assert_rc(ring_consumer_nack(f->c[0], 7 * REC, 0), 0);
	assert_rc(ring_consumer_next(f->c[0], &rec, NS_PER_S), 0);
	assert_int_equal(rec.deliveries, 2);
	for (unsigned k = 0; k < 20; k++)
		if (k != 1 && k != 7 && k != 19)
			assert_rc(ring_consumer_ack(f->c[0], k * REC), 0);
	assert_rc(offsets_collect_now(f->o, f->topic), 2);
	/* Commits of another group until the log was rewritten twice. */
	for (unsigned i = 0; compactions < 2 && i < 4 * OFFSETS_COMPACT_BYTES / 48; i++) {
		uint64_t size;

		cpos += 8;
		assert_rc(ring_consumer_commit(f->c[1], cpos), 0);
		assert_rc(offsets_collect(f->o, f->topic), 1);
		size = file_size(f);
		compactions += size < last_size;
		last_size = size;
	}
	assert_int_equal(compactions, 2);
	reboot(f, BIG_END);
	expect_restored(f, "sh", 1 * REC, 20 * REC, 3, pos, want_d);
	expect_group(f, "busy", RING_GROUP_EXCLUSIVE, cpos);
}

/* ---- the snapshot is a superset of what is unacked, under members ---- */

#define SNAP_RECORDS 600u
#define SNAP_NEVER_ACKED(k) ((k) % 7 == 3)

struct snap_member {
	struct ring_consumer *c;
	_Atomic unsigned *done;
	int rc;
};

/* Deliver and ack everything but the records SNAP_NEVER_ACKED keeps. */
static void *snap_member_main(void *arg)
{
	struct snap_member *m = arg;

	for (unsigned idle = 0; idle < 20;) {
		struct ring_record rec;
		int rc = ring_consumer_next(m->c, &rec, 5 * NS_PER_MS);

		if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			idle++;
			continue;
		}
		if (rc < 0) {
			m->rc = rc;
			break;
		}
		idle = 0;
		if (!SNAP_NEVER_ACKED(rec.position / REC) &&
		    ring_consumer_ack(m->c, rec.position) < 0) {
			m->rc = -EPROTO;
			break;
		}
	}
	(*m->done)++;
	return NULL;
}

static void test_offsets_snapshot_holds_every_unacked_record(void **state)
{
	struct fixture *f = *state;
	struct snap_member m[2];
	pthread_t th[2];
	_Atomic unsigned done = 0;
	unsigned snapshots = 0;

	f->topic = new_ring();
	publish_seq_from(f, 0, SNAP_RECORDS);	/* 48000 bytes: the ring holds them */
	for (unsigned i = 0; i < 2; i++) {
		f->c[i] = open_group(f, "sh", RING_GROUP_SHARED);
		m[i] = (struct snap_member){ .c = f->c[i], .done = &done };
		assert_int_equal(pthread_create(&th[i], NULL, snap_member_main, &m[i]), 0);
	}
	/* While two members claim and ack, every snapshot holds each
	 * record below its next that is never acked. */
	while (done < 2) {
		uint64_t pos[RING_GROUP_INFLIGHT], next;
		uint8_t d[RING_GROUP_INFLIGHT];
		unsigned n = ringi_group_inflight_snapshot(slot_of(f, "sh"), &next, pos, d), at = 0;

		snapshots++;
		for (unsigned i = 1; i < n; i++)
			assert_true(pos[i - 1] < pos[i]);
		for (uint64_t k = 0; k * REC < next && k < SNAP_RECORDS; k++) {
			if (!SNAP_NEVER_ACKED(k))
				continue;
			while (at < n && pos[at] < k * REC)
				at++;
			if (at == n || pos[at] != k * REC)
				fail_msg("snapshot %u (next %llu) lost unacked record %llu", snapshots,
					 (unsigned long long)next, (unsigned long long)k);
			assert_true(d[at] >= 1);
		}
	}
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_rc(m[i].rc, 0);
	}
	/* At the end: exactly the never-acked ones. */
	{
		uint64_t pos[RING_GROUP_INFLIGHT], next;
		uint8_t d[RING_GROUP_INFLIGHT];
		unsigned n = ringi_group_inflight_snapshot(slot_of(f, "sh"), &next, pos, d), want = 0;

		assert_int_equal(next, SNAP_RECORDS * REC);
		for (uint64_t k = 0; k < SNAP_RECORDS; k++) {
			if (!SNAP_NEVER_ACKED(k))
				continue;
			assert_true(want < n);
			assert_int_equal(pos[want], k * REC);
			want++;
		}
		assert_int_equal(n, want);
	}
	printf("# %u snapshots under two members\n", snapshots);
}

/* ---- groups in a ring ringd recreated wait for its replay ---- */

struct restorer {
	struct ring_topic *ring;
	uint64_t delay_ns;
	uint64_t self; /* owner word to attach as */
};

/* ringd's order after a reboot: replay the log into the new ring, then
 * attach (daemon/topics.c). */
static void *restorer_main(void *arg)
{
	struct restorer *r = arg;
	struct ring_group_slot *g;

	t_sleep_ns(r->delay_ns);
	if (ringi_group_find(r->ring, "kept", true, RING_GROUP_EXCLUSIVE, 8192, &g) == 0)
		(void)ringi_daemon_attach(r->ring, r->self);
	return NULL;
}

static void test_new_group_in_recreated_ring_waits_for_restore(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_config cfg;
	struct restorer r;
	struct ring_consumer *c = NULL;
	char name[RING_TOPIC_NAME_MAX + 1];
	pthread_t th;
	uint64_t t0;

	(void)f;
	assert_rc(ringi_config_resolve(&(struct ring_topic_config){ .capacity_bytes = CAP }, &cfg),
		  0);
	t_unique_name(name, sizeof(name), "restore");
	/* A persistent ring starting past 0: what ringd makes after a
	 * reboot, before it attaches. */
	assert_rc(ringi_topic_create_ring(f->dir, name, &cfg, 65536, &f->topic), 0);
	r = (struct restorer){ .ring = f->topic,
			       .delay_ns = 100 * NS_PER_MS,
			       .self = ringi_owner_self_process() };
	assert_int_equal(pthread_create(&th, NULL, restorer_main, &r), 0);
	t0 = t_now_ns();
	/* Opened with "start at the tail": had it not waited, the group
	 * would start at 65536, not where the log says. */
	assert_rc(ring_consumer_open(
			  f->topic, "kept",
			  &(struct ring_consumer_config){ .start = RING_GROUP_START_LATEST }, &c),
		  0);
	assert_true(t_now_ns() - t0 >= 90 * NS_PER_MS);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(ring_consumer_position(c), 8192);
	c = ring_consumer_close(c);
	/* Once attached, new groups are created at once. */
	t0 = t_now_ns();
	assert_rc(ring_consumer_open(f->topic, "new", NULL, &c), 0);
	assert_true(t_now_ns() - t0 < NS_PER_S); /* not the 2 s wait */
	c = ring_consumer_close(c);
	ringi_daemon_detach(f->topic, r.self);
	(void)ring_topic_unlink(f->dir, name);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_offsets_collect_appends_only_changes),
		T(test_offsets_replay_restores_groups_capped_at_log_end),
		T(test_offsets_commit_of_a_killed_member_is_logged),
		T(test_offsets_commits_while_no_ringd_ran_are_logged_next_time),
		T(test_offsets_torn_tail_recovers_to_last_whole_entry),
		T(test_offsets_corrupt_tail_entry_is_dropped),
		T(test_offsets_compacted_when_large_and_still_replays),
		T(test_offsets_sync_due_follows_fsync_policy),
		T(test_offsets_nonsense_slot_is_never_logged),
		T(test_new_group_in_recreated_ring_waits_for_restore),
		T(test_offsets_shared_reboot_redelivers_only_what_was_in_flight),
		T(test_offsets_shared_state_capped_at_log_end),
		T(test_offsets_shared_state_logged_after_the_interval),
		T(test_offsets_shared_reset_back_is_logged_at_once),
		T(test_offsets_old_format_log_still_replays),
		T(test_offsets_state_merges_with_later_commits),
		T(test_offsets_nonsense_state_entries_are_skipped),
		T(test_offsets_state_with_bad_count_is_a_torn_tail),
		T(test_offsets_torn_or_garbled_state_is_dropped),
		T(test_offsets_compaction_keeps_in_flight_state),
		T(test_offsets_snapshot_holds_every_unacked_record),
	};
#undef T

	return cmocka_run_group_tests_name("group_offsets", tests, NULL, NULL);
}
