/* SPDX-License-Identifier: MIT */
/*
 * g.h - helpers of the consumer-group suites: ringd as a child process
 * (rd.h's, with a data directory of its own), the topic of a test and its
 * cleanup, finding a group's statistics by name, and the processing log
 * that forked members write in shared memory.
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
#include "rd.h"

/* ---- ringd as a child: tests/ringd/rd.h's rd_daemon ---- */

/*
 * Set @d up (not started) on a fresh data directory (mkdtemp), with
 * ringd's log inside it (ringd ignores what has no topic.conf) at debug
 * level. 0 or -errno.
 */
int g_ringd_init(struct rd_daemon *d);

/* rd_daemon_start(), then rd_daemon_wait_locked() for at most 10 s, so
 * that the test goes on with a ringd that owns the data directory. */
int g_ringd_start(struct rd_daemon *d);

/* Stop ringd cleanly if it runs (saying so if it did not), print its log
 * if @print_log, remove the data directory. */
void g_ringd_fini(struct rd_daemon *d, bool print_log);

/* ---- the topic of a test, and what to remove at teardown ---- */

#define G_TOPICS_MAX 16

struct g_topics {
	const char *data_dir;		/* NULL for ephemeral topics */
	unsigned count;
	char name[G_TOPICS_MAX][RING_TOPIC_NAME_MAX + 1];
};

/*
 * Create the topic "t<pid>-<n>-@tag" (t_unique_name()) with @cfg, in the
 * data directory of ringd @d or, with @d NULL, ephemeral; remember it (and
 * its ".dlq") in @ts; with @d, wait until ringd serves it (10 s); open a
 * producer on it. @name has room for RING_TOPIC_NAME_MAX + 1 bytes.
 * 0, or -errno (-ETIMEDOUT: not served).
 */
int g_topic_setup(struct g_topics *ts, const struct rd_daemon *d, const char *tag,
		  const struct ring_topic_config *cfg, char *name, struct ring_topic **ret_topic,
		  struct ring_producer **ret_prod);
/* Close the producer and the topic (either may be NULL), then
 * ring_topic_unlink() every topic of @ts and its ".dlq" (ignoring
 * -ENOENT), and forget them. */
void g_topic_teardown(struct g_topics *ts, struct ring_topic **topic, struct ring_producer **prod);

/* SIGKILL and reap each of the @n children whose pid is > 0, and zero
 * their pids. */
void g_kill_children(pid_t *pid, unsigned n);

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
