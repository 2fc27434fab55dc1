/* SPDX-License-Identifier: MIT */
/*
 * Description: the real ringd's offsets log across crashes and reboots, on
 * a persistent topic. A "reboot" is: ringd SIGKILLed, the shared-memory
 * ring removed, ringd started again, which recreates the ring at the end
 * of the log and restores the groups from DATA_DIR/<topic>/offsets.log.
 *
 * Positive space: a commit reaches the log and survives a reboot; with the
 * last entry torn (cut at its start, middle and end), damaged (a flipped
 * byte in its header, position and name) or followed by garbage, ringd
 * recovers to the entry before it, truncates the file there and says so in
 * its log, and appends after it so that the next reboot restores the next
 * commit; a member committing every record while ringd is killed at
 * random instants, and finally killed with it, is restored at a position
 * it really committed and never past its last commit or the log's end.
 *
 * Skipped (exit 77) when ringd was not built. Prints its seed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define CAP (UINT64_C(64) << 10)
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)
#define WAIT_NS (10 * NS_PER_S)
#define MAX_SEQ 4096u
#define LEN 40u

static uint64_t seed_state;

struct shared {
	_Atomic uint32_t stop;
	_Atomic uint32_t ready;
	_Atomic uint64_t last_commit; /* the member's last commit that returned 0 */
	char error[200];
};

struct fixture {
	struct rd_daemon d;
	struct g_topics topics;
	char name[RING_TOPIC_NAME_MAX + 1];
	char log_path[512];
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct ring_consumer *c;
	struct shared *sh;
	pid_t member;
	uint64_t seq;
	uint64_t pos[MAX_SEQ + 1];
};

static struct fixture fx;

static const struct ring_consumer_config manual = { .flags = RING_CONSUMER_MANUAL_COMMIT };

static int setup(void **state)
{
	struct fixture *f = &fx;
	const struct ring_topic_config cfg = { .capacity_bytes = CAP };

	memset(f, 0, sizeof(*f));
	f->sh = t_shared_alloc(sizeof(*f->sh));
	if (!f->sh || g_ringd_init(&f->d) < 0 || g_ringd_start(&f->d) < 0 ||
	    g_topic_setup(&f->topics, &f->d, "goff", &cfg, f->name, &f->topic, &f->prod) < 0)
		return -1;
	snprintf(f->log_path, sizeof(f->log_path), "%.127s/%.100s/offsets.log", f->d.data_dir,
		 f->name);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	g_kill_children(&f->member, 1);
	f->c = ring_consumer_close(f->c);
	g_topic_teardown(&f->topics, &f->topic, &f->prod);
	g_ringd_fini(&f->d, false);
	t_shared_free(f->sh, sizeof(*f->sh));
	return 0;
}

static void publish(struct fixture *f, uint64_t n)
{
	assert_true(f->seq + n <= MAX_SEQ);
	assert_rc(g_publish(f->prod, 0, f->seq, n, LEN, LEN, WAIT_NS, f->pos), 0);
	f->seq += n;
	f->pos[f->seq] = g_tail(f->topic);
}

static uint64_t log_size(const struct fixture *f)
{
	struct stat st;

	return stat(f->log_path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

struct grow {
	const struct fixture *f;
	uint64_t from;
};

static bool log_grew(void *arg)
{
	const struct grow *g = arg;

	return log_size(g->f) > g->from;
}

/* Commit @pos and wait until ringd has appended it: the log's size
 * after it. */
static uint64_t commit_logged(struct fixture *f, uint64_t pos)
{
	struct grow g = { .f = f, .from = log_size(f) };

	assert_rc(ring_consumer_commit(f->c, pos), 0);
	assert_true(t_wait_until(log_grew, &g, WAIT_NS, NS_PER_MS));
	/* One entry per change: wait a little for the whole of it. */
	t_sleep_ns(5 * NS_PER_MS);
	return log_size(f);
}

/* Kill ringd, let @damage do its worst to the log, remove the ring and
 * start ringd again. */
static void reboot(struct fixture *f, void (*damage)(struct fixture *, uint64_t), uint64_t arg)
{
	assert_true(rd_wait_drained(f->topic, WAIT_NS));
	f->c = ring_consumer_close(f->c);
	(void)rd_daemon_stop(&f->d, SIGKILL, WAIT_NS, NULL);
	if (damage)
		damage(f, arg);
	f->prod = ring_producer_close(f->prod);
	f->topic = ring_topic_close(f->topic);
	assert_rc(ring_topic_unlink(f->d.data_dir, f->name), 0);
	assert_rc(g_ringd_start(&f->d), 0);
	assert_rc(rd_wait_open(f->d.data_dir, f->name, WAIT_NS, &f->topic), 0);
	assert_true(rd_wait_served(&f->d, f->topic, WAIT_NS));
	assert_rc(ring_producer_open(f->topic, &f->prod), 0);
}

static void cut_at(struct fixture *f, uint64_t size)
{
	assert_int_equal(truncate(f->log_path, (off_t)size), 0);
}

static void flip_at(struct fixture *f, uint64_t off)
{
	int fd = open(f->log_path, O_RDWR);
	uint8_t b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	(void)close(fd);
}

static void append_garbage(struct fixture *f, uint64_t len)
{
	uint8_t junk[64];
	int fd = open(f->log_path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0 && len <= sizeof(junk));
	for (size_t i = 0; i < len; i++)
		junk[i] = (uint8_t)t_rand(&seed_state);
	assert_int_equal(write(fd, junk, len), (ssize_t)len);
	(void)close(fd);
}

/* Restored where the log says: join and look. */
static void expect_restored(struct fixture *f, uint64_t pos)
{
	uint64_t got = g_group_committed(f->topic, "ex");

	if (got != pos)
		fail_msg("group restored at %llu, expected %llu", (unsigned long long)got,
			 (unsigned long long)pos);
	assert_rc(ring_consumer_open(f->topic, "ex", &manual, &f->c), 0);
	assert_int_equal(ring_consumer_position(f->c), pos);
}

static void test_offsets_log_survives_reboot_and_recovers_from_torn_tail(void **state)
{
	struct fixture *f = *state;
	struct {
		void (*damage)(struct fixture *, uint64_t);
		const char *what;
		uint64_t where; /* relative to the last entry */
		bool torn;	/* the last entry is lost */
		bool dropped;	/* ringd finds bytes to drop */
	} cases[] = {
		{ NULL, "nothing", 0, false, false },
		/* A clean cut: nothing torn, the entry is just not there. */
		{ cut_at, "cut at the start of the last entry", 0, true, false },
		{ cut_at, "cut in the middle of the last entry", 20, true, true },
		{ cut_at, "cut at the last byte of the last entry", UINT64_MAX, true, true },
		{ flip_at, "a flipped byte in the header", 5, true, true },
		{ flip_at, "a flipped byte in the position", 17, true, true },
		{ flip_at, "a flipped byte in the name", 33, true, true },
		{ append_garbage, "garbage after the last entry", 19, false, true },
	};
	uint64_t before, after, s = 0;

	publish(f, 200);
	assert_rc(ring_consumer_open(f->topic, "ex", &manual, &f->c), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *drop_line = "dropped a torn or damaged tail";
		uint64_t want, where;
		unsigned drops_before;

		before = commit_logged(f, f->pos[s + 3]);
		after = commit_logged(f, f->pos[s + 7]);
		assert_true(after > before);
		where = cases[i].where == UINT64_MAX ? after - before - 1 : cases[i].where;
		if (cases[i].damage == append_garbage)
			where = cases[i].where;
		else
			where += before;
		printf("# %s\n", cases[i].what);
		drops_before = rd_log_count(&f->d, drop_line);
		reboot(f, cases[i].damage, where);
		want = cases[i].torn ? f->pos[s + 3] : f->pos[s + 7];
		expect_restored(f, want);
		/* Truncated to the last whole entry, and said so. */
		assert_int_equal(log_size(f), cases[i].torn ? before : after);
		assert_int_equal(rd_log_count(&f->d, drop_line) > drops_before, cases[i].dropped);
		s += 10;
		publish(f, 10);
	}
	/* Appending went on behind the recovered entries: one more reboot
	 * brings the latest commit back. */
	(void)commit_logged(f, f->pos[s + 5]);
	reboot(f, NULL, 0);
	expect_restored(f, f->pos[s + 5]);
}

/* A member that commits every record it reads, as fast as it can. */
static int committer_main(void *arg)
{
	struct fixture *f = arg;
	struct ring_consumer *c;
	struct ring_topic *t;
	int rc;

	rc = ring_topic_open(f->d.data_dir, f->name, &t);
	if (rc == 0)
		rc = ring_consumer_open(t, "ex", &manual, &c);
	if (rc < 0) {
		snprintf(f->sh->error, sizeof(f->sh->error), "open: %d", rc);
		return 1;
	}
	atomic_store(&f->sh->ready, 1);
	while (!atomic_load(&f->sh->stop)) {
		struct ring_record rec;

		rc = ring_consumer_next(c, &rec, 10 * NS_PER_MS);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0 || ring_consumer_commit(c, rec.next_position) < 0) {
			snprintf(f->sh->error, sizeof(f->sh->error), "next/commit: %d", rc);
			return 1;
		}
		atomic_store(&f->sh->last_commit, rec.next_position);
		/* Each commit its own entry, mostly. */
		t_sleep_ns(200000);
	}
	return 0;
}

static bool member_ready(void *arg)
{
	struct fixture *f = arg;

	return atomic_load(&f->sh->ready) != 0;
}

static void test_offsets_log_under_random_ringd_kills_never_ahead(void **state)
{
	struct fixture *f = *state;
	uint64_t last, got;
	bool boundary = false;
	int status;

	f->member = t_fork_child(committer_main, f);
	assert_true(f->member > 0);
	assert_true(t_wait_until(member_ready, f, WAIT_NS, NS_PER_MS));
	for (unsigned round = 0; round < 6; round++) {
		publish(f, 300);
		t_sleep_ns(t_rand_range(&seed_state, 0, 50) * NS_PER_MS);
		(void)rd_daemon_stop(&f->d, SIGKILL, WAIT_NS, NULL);
		t_sleep_ns(t_rand_range(&seed_state, 0, 5) * NS_PER_MS);
		assert_rc(g_ringd_start(&f->d), 0);
	}
	publish(f, 200);
	t_sleep_ns(t_rand_range(&seed_state, 5, 60) * NS_PER_MS);
	/* Both die at once, then the host "reboots". */
	assert_true(rd_wait_drained(f->topic, WAIT_NS));
	(void)kill(f->member, SIGKILL);
	assert_rc(t_wait_child(f->member, WAIT_NS, &status), 0);
	f->member = 0;
	if (WIFEXITED(status))
		fail_msg("member exited: %s", f->sh->error);
	last = atomic_load(&f->sh->last_commit);
	reboot(f, NULL, 0);
	got = g_group_committed(f->topic, "ex");
	printf("# restored at %llu; the member's last commit was %llu\n", (unsigned long long)got,
	       (unsigned long long)last);
	/* A commit the member made (or the one it was making when killed),
	 * never past the log's end. */
	for (uint64_t seq = 0; seq <= f->seq; seq++)
		boundary |= f->pos[seq] == got;
	assert_true(boundary);
	assert_true(got <= f->pos[f->seq]);
	assert_true(got > 0);
	for (uint64_t seq = 0; seq < f->seq; seq++)
		if (f->pos[seq] == last)
			assert_true(got <= f->pos[seq + 1]); /* at most the commit in progress */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_offsets_log_survives_reboot_and_recovers_from_torn_tail),
		T(test_offsets_log_under_random_ringd_kills_never_ahead),
	};
#undef T

	if (rd_skip())
		return T_EXIT_SKIP;
	seed_state = t_seed();
	return cmocka_run_group_tests_name("group_crash_offsets", tests, NULL, NULL);
}
