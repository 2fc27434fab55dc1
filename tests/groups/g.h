/* SPDX-License-Identifier: MIT */
/*
 * g.h - helpers of the consumer-group suites: ringd as a child process,
 * topics to clean up, finding a group's statistics by name, and the
 * processing log that forked members write in shared memory.
 *
 * Include after <cmocka.h> and t.h. Nothing here calls a cmocka assertion,
 * so every helper may run in a forked child; everything waits with a bound.
 */
#ifndef RING_TEST_GROUPS_G_H
#define RING_TEST_GROUPS_G_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libring.h"

/* ---- ringd as a child ---- */

/* The environment variable meson sets to ringd's executable. */
#define G_RINGD_ENV "RING_TEST_RINGD"

struct g_ringd {
	pid_t pid;			/* 0 when not running */
	char data_dir[128];		/* mkdtemp() */
	char log_path[192];		/* its stderr and stdout, appended */
	unsigned starts;		/* how many times it was started */
};

/* ringd's path from the environment, or NULL (the test then skips). */
const char *g_ringd_path(void);

/*
 * Make a fresh data directory in @d and leave ringd stopped. 0 or -errno.
 * The log file lives beside the data directory's contents (ringd ignores
 * anything that has no topic.conf).
 */
int g_ringd_init(struct g_ringd *d);

/*
 * Start ringd on @d->data_dir: fork, PR_SET_PDEATHSIG(SIGKILL), exec, with
 * its output appended to the log. Returns once it holds the data
 * directory's lock (its pid is in ringd.lock), at most 10 s: 0, or -errno
 * (-ECHILD if it exited).
 */
int g_ringd_start(struct g_ringd *d);

/*
 * SIGTERM, then SIGKILL if it has not exited within @timeout_ns. Returns
 * the wait status (0 for a clean stop), or -ETIMEDOUT if it had to be
 * killed, or -ECHILD if it was not running.
 */
int g_ringd_stop(struct g_ringd *d, uint64_t timeout_ns);

/* SIGKILL and reap (a crash of ringd). */
void g_ringd_kill(struct g_ringd *d);

/* Copy ringd's log to stdout, each line prefixed with "# ringd: ". */
void g_ringd_print_log(const struct g_ringd *d);

/* Does ringd's log contain @needle? */
bool g_ringd_log_contains(const struct g_ringd *d, const char *needle);

/*
 * Wait until ringd (@d->pid) serves @topic: ring_topic_stat() names it as
 * the live daemon. 0 or -ETIMEDOUT.
 */
int g_ringd_wait_serving(const struct g_ringd *d, struct ring_topic *topic, uint64_t timeout_ns);

/* Stop ringd if it runs, print its log if @print_log, remove the data
 * directory. */
void g_ringd_fini(struct g_ringd *d, bool print_log);

/*
 * ring_topic_open(), retried while it gives -ENOENT (ringd recreating the
 * ring after a reboot) for at most @timeout_ns.
 */
int g_topic_open_wait(const char *data_dir, const char *name, uint64_t timeout_ns,
		      struct ring_topic **ret_topic);

/* ---- topics to remove at teardown ---- */

#define G_TOPICS_MAX 16

struct g_topics {
	const char *data_dir;		/* NULL for ephemeral topics */
	unsigned count;
	char name[G_TOPICS_MAX][RING_TOPIC_NAME_MAX + 1];
};

/* Remember @name, and "<name>.dlq", for g_topics_unlink(). */
void g_topics_add(struct g_topics *ts, const char *name);
/* ring_topic_unlink() every remembered topic and its ".dlq" (ignoring
 * -ENOENT), then forget them. */
void g_topics_unlink(struct g_topics *ts);

/* ---- groups ---- */

/* ring_group_stat() of the group named @group: 1 if found, 0 if not, or
 * -errno. */
int g_group_stat(struct ring_topic *topic, const char *group, struct ring_group_stat *ret_stat);

/* The group's committed position; UINT64_MAX if there is no such group. */
uint64_t g_group_committed(struct ring_topic *topic, const char *group);

/* The topic's tail position. */
uint64_t g_tail(struct ring_topic *topic);

/* ---- payloads ---- */

/*
 * Publish @count self-checking records (t_payload_fill(), producer @id,
 * type @id + 1) with sequence numbers from @first_seq, payload lengths in
 * [@min_len, @max_len], each with @timeout_ns. Their positions go to
 * @ret_pos[seq] if not NULL. 0, or the first failure's -errno.
 */
int g_publish(struct ring_producer *producer, uint32_t id, uint64_t first_seq, uint64_t count,
	      size_t min_len, size_t max_len, int64_t timeout_ns, uint64_t *ret_pos);

/* Check a record made by g_publish(): 0 with its sequence number, or
 * -EBADMSG (torn payload, wrong producer or type). */
int g_check(const struct ring_record *rec, uint32_t id, uint64_t *ret_seq);

/* ---- the processing log of forked members ---- */

/*
 * Members (possibly killed at any instruction) report what they processed
 * here, in shared memory. An entry is claimed with a fetch-add on `count`
 * and becomes valid when its state is stored last (release): an entry
 * still 0 was never processed (the member died before it counted).
 */
enum g_entry_state {
	G_ENTRY_NONE = 0,
	G_ENTRY_PROCESSED = 1,		/* delivered and processed */
	G_ENTRY_ACKED = 2,		/* shared groups: and then acked */
};

struct g_entry {
	uint64_t pos;
	uint64_t seq;
	uint32_t round;			/* which member incarnation */
	uint32_t deliveries;
	_Atomic uint32_t state;		/* enum g_entry_state */
	uint32_t pad;
};

struct g_log {
	_Atomic uint64_t count;		/* entries claimed */
	uint64_t max;			/* entries available */
	struct g_entry entry[];
};

/* A log of @max entries in shared memory (children forked later see it). */
struct g_log *g_log_alloc(uint64_t max);
void g_log_free(struct g_log *log);
/* Claim an entry and fill it as PROCESSED: its index, or -ENOSPC. */
int64_t g_log_append(struct g_log *log, uint32_t round, const struct ring_record *rec,
		     uint64_t seq);

#endif /* RING_TEST_GROUPS_G_H */
