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
 * due on its own as the fsync policy says.
 * Negative space: a log cut at every byte of its last entry, or with a
 * flipped byte in it, replays to the entry before and is truncated to it;
 * a slot with a nonsense mode or name in shared memory is never logged.
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
	};
#undef T

	return cmocka_run_group_tests_name("group_offsets", tests, NULL, NULL);
}
