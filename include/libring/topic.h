/* SPDX-License-Identifier: MIT */
/*
 * topic.h - create, open, inspect and remove topics.
 *
 * A topic is a named, ordered stream of records: one ring in POSIX shared
 * memory and, unless the topic is ephemeral, one directory of segment files
 * under a data directory, which ringd fills. A record's identity is its
 * position: its byte offset in the topic's log since the topic was created.
 *
 * The shared-memory object's name is derived from the canonical data
 * directory and the topic name, so two data directories on one host never
 * collide. A persistent topic lives in DATA_DIR/<name>/ (its settings file,
 * segments, time indexes and offsets log).
 */
#ifndef LIBRING_TOPIC_H
#define LIBRING_TOPIC_H

#include <stdint.h>
#include <libring/version.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ring_topic;

/* Longest topic name, not counting the terminating NUL. */
#define RING_TOPIC_NAME_MAX 100

/* Defaults used when a ring_topic_config field is 0. */
#define RING_DEFAULT_CAPACITY_BYTES   (UINT64_C(4) << 20)	/* 4 MiB */
#define RING_DEFAULT_CLAIM_TIMEOUT_NS UINT64_C(1000000000)	/* 1 s */
#define RING_DEFAULT_SEGMENT_BYTES    (UINT64_C(256) << 20)	/* 256 MiB */
#define RING_DEFAULT_FSYNC_INTERVAL_NS UINT64_C(10000000)	/* 10 ms */
#define RING_DEFAULT_FILE_MODE        0600u

/* Size of the fixed header every record carries, in the ring and on disk. */
#define RING_RECORD_HEADER_BYTES 24u

/* Wait forever, where a function takes a timeout_ns. */
#define RING_WAIT_FOREVER (-1)

/** Topic flags (ring_topic_config.flags). Unknown bits give -EINVAL. */
enum ring_topic_flags {
	/** No segment files and no daemon: the ring is the whole topic. */
	RING_TOPIC_EPHEMERAL = 1u << 0,
	/** Anonymous memory (memfd), no name in /dev/shm: for one process
	 *  and its forked children. Implies RING_TOPIC_EPHEMERAL. */
	RING_TOPIC_ANON = 1u << 1,
	/** Place the ring's memory on ring_topic_config.numa_node. */
	RING_TOPIC_NUMA = 1u << 2,
};

/** When ringd makes persisted records durable (fdatasync). */
enum ring_fsync_policy {
	RING_FSYNC_INTERVAL = 0,	/**< every fsync_interval_ns (default) */
	RING_FSYNC_ALWAYS = 1,		/**< before advancing `durable`, every batch */
	RING_FSYNC_NEVER = 2,		/**< leave it to the OS */
};

/**
 * Settings of a new topic. Zero-initialise and set what you need: every
 * field that is 0 takes the default named beside it.
 */
struct ring_topic_config {
	uint64_t capacity_bytes;	/**< ring data area: a power of two and a multiple
					     of the page size; default 4 MiB */
	uint32_t max_record_bytes;	/**< largest payload; default and upper bound
					     capacity_bytes / 4 - RING_RECORD_HEADER_BYTES */
	uint32_t flags;			/**< enum ring_topic_flags */
	uint64_t claim_timeout_ns;	/**< a live producer's claim older than this is
					     turned into padding; default 1 s */
	int32_t numa_node;		/**< node for RING_TOPIC_NUMA */
	uint32_t file_mode;		/**< shm object and files; default 0600 */
	/* The fields below are for ringd and ignored by ephemeral topics. */
	uint64_t segment_bytes;		/**< roll segments at this size; default 256 MiB */
	uint64_t retention_ns;		/**< delete segments older than this; 0 = keep */
	uint64_t retention_bytes;	/**< keep at most this much on disk; 0 = no limit */
	uint32_t fsync_policy;		/**< enum ring_fsync_policy */
	uint32_t reserved0;		/**< must be 0 */
	uint64_t fsync_interval_ns;	/**< with RING_FSYNC_INTERVAL; default 10 ms */
};

/** The most producer pids ring_topic_stat() reports. */
#define RING_STAT_MAX_PRODUCERS 32

/** A snapshot of a topic, filled by ring_topic_stat(). */
struct ring_topic_stat {
	char name[RING_TOPIC_NAME_MAX + 1];
	uint32_t flags;			/**< enum ring_topic_flags */
	uint64_t capacity_bytes;
	uint64_t max_record_bytes;
	uint64_t created_ns;		/**< CLOCK_REALTIME at creation */
	uint64_t claim_timeout_ns;
	int32_t numa_node;		/**< -1 when not bound */
	uint32_t reserved0;

	uint64_t tail_pos;		/**< next position a producer will claim */
	uint64_t frontier_pos;		/**< every record below is committed or padding */
	uint64_t persisted_pos;		/**< written to segment files by ringd */
	uint64_t durable_pos;		/**< fsynced by ringd */
	uint64_t oldest_pos;		/**< oldest position the ring still holds */
	uint64_t limit_pos;		/**< producers may claim only below it */

	uint32_t producers;		/**< registered producers */
	uint32_t gating_readers;	/**< readers that hold producers back */
	uint32_t data_waiters;		/**< readers asleep waiting for records */
	uint32_t space_waiters;		/**< producers asleep on a full ring */
	int32_t producer_pids[RING_STAT_MAX_PRODUCERS];

	uint64_t repaired_claims;	/**< claims turned into padding, ever */
	int32_t stuck_pid;		/**< owner of the claim at the frontier, if it
					     has been stalled >= 1 ms; or, once that
					     claim is repaired, its owner while still
					     alive (its bytes are not reused until it
					     lets go, so a full ring waits for it);
					     0 if none */
	uint32_t reserved1;
	uint64_t stuck_pos;		/**< its position */
	uint64_t stuck_ns;		/**< since when maintenance saw it stalled */

	int32_t daemon_pid;		/**< ringd serving the topic, 0 if none */
	uint32_t daemon_alive;		/**< 1 if that process is alive */
	uint64_t daemon_beat_ns;	/**< CLOCK_REALTIME of its last heartbeat */
};

/**
 * Create a topic and attach to it.
 *
 * @param data_dir   the data directory (must exist) of a persistent topic;
 *                   for an ephemeral topic it only namespaces the name and
 *                   may be NULL. Ignored with RING_TOPIC_ANON.
 * @param name       1..RING_TOPIC_NAME_MAX characters of [A-Za-z0-9._-],
 *                   not starting with '.'; may be NULL with RING_TOPIC_ANON
 * @param config     settings; NULL for all defaults (a persistent topic)
 * @param ret_topic  set on success only
 *
 * A persistent topic also gets DATA_DIR/<name>/ with its settings file
 * (topic.conf), which ringd reads. The ring starts empty at position 0.
 *
 * Concurrency: safe against concurrent create and open of the same name in
 * any process; exactly one creator wins, the others get -EEXIST. Openers
 * wait (at most 1 s) until the creator has finished initialising.
 *
 * @return 0, or a negative errno; nothing is left behind on error:
 *  - -EINVAL    bad name, unknown flag, capacity not a power of two or not a
 *               page multiple, max_record_bytes too large, reserved field set
 *  - -EEXIST    the topic exists
 *  - -ENOENT    data_dir does not exist
 *  - -ENOTDIR   data_dir is not a directory
 *  - -EOPNOTSUPP RING_TOPIC_NUMA on a build or host without NUMA support
 *  - -ENOMEM, -EACCES, ... from shm_open(), ftruncate(), mmap()
 */
RING_API int ring_topic_create(const char *data_dir, const char *name,
			       const struct ring_topic_config *config,
			       struct ring_topic **ret_topic);

/**
 * Attach to an existing topic.
 *
 * @param data_dir   as given to ring_topic_create() (NULL for an ephemeral
 *                   topic created with NULL)
 * @param name       the topic name
 * @param ret_topic  set on success only
 *
 * Concurrency: any number of processes may attach to one topic. A handle
 * may be shared by the threads of a process; producers and readers made
 * from it belong to one thread each.
 *
 * @return 0, or a negative errno:
 *  - -EINVAL    bad name
 *  - -ENOENT    no such topic (for a persistent topic whose ring is gone
 *               after a reboot, start ringd, which recreates it)
 *  - -EPROTO    the shared memory has another magic, layout version or
 *               layout signature (made by another build)
 *  - -ETIMEDOUT its creator did not finish initialising within 1 s
 *  - -EBADMSG   the header is inconsistent (size, capacity, limits)
 */
RING_API int ring_topic_open(const char *data_dir, const char *name,
			     struct ring_topic **ret_topic);

/**
 * Detach from a topic. Producers and readers made from it must be closed
 * first. The topic itself lives on.
 *
 * Concurrency: not with other calls on the same handle.
 *
 * @return NULL, so that `t = ring_topic_close(t);` clears the handle.
 *         NULL is accepted and ignored.
 */
RING_API struct ring_topic *ring_topic_close(struct ring_topic *topic);

/**
 * Remove a topic's shared-memory ring. Processes still attached keep their
 * mapping; new opens get -ENOENT. A persistent topic's directory is left
 * in place (ringctl delete removes it).
 *
 * @return 0, or -EINVAL (bad name), -ENOENT (no such ring), or an errno
 *         from shm_unlink().
 */
RING_API int ring_topic_unlink(const char *data_dir, const char *name);

/**
 * Take a snapshot of a topic's positions and participants.
 *
 * @param topic     an attached topic
 * @param ret_stat  filled on success only
 *
 * The positions are read one by one without a lock, so they may be from
 * slightly different instants; each is individually exact.
 *
 * Concurrency: thread-safe; never blocks producers or readers.
 *
 * @return 0, or -EINVAL for a NULL argument.
 */
RING_API int ring_topic_stat(struct ring_topic *topic, struct ring_topic_stat *ret_stat);

/**
 * Wait until the record published at @p position is durable: ringd has
 * written it to a segment file and fsynced it (Kafka's acks=all). Waiting
 * producers share fsyncs (group commit): with the `always` fsync policy one
 * fdatasync covers every record written before it; with `interval` the wait
 * lasts until the next periodic sync.
 *
 * @param topic       a persistent topic
 * @param position    a position returned by ring_producer_publish() (or any
 *                    position: the wait is for every byte below it + 1)
 * @param timeout_ns  0 to test without waiting, RING_WAIT_FOREVER, or ns
 *
 * Concurrency: thread-safe; sleeps on a futex (no CPU while waiting).
 *
 * @return 0 once durable, or
 *  - -EAGAIN     not durable yet and @p timeout_ns is 0
 *  - -ETIMEDOUT  not durable within @p timeout_ns (is ringd running? see
 *                ring_topic_stat().daemon_alive; a failed fsync stops
 *                `durable` until ringd is restarted, and ringd logs it)
 *  - -EINVAL     NULL topic, or an ephemeral topic (never durable)
 *  - -ERANGE     @p position is not below the tail: nothing published there
 */
RING_API int ring_topic_wait_durable(struct ring_topic *topic, uint64_t position,
				     int64_t timeout_ns);

/**
 * Do the ring's housekeeping once: find the committed frontier, repair the
 * claim of a dead producer (at once) or of a stuck one (after the claim
 * timeout), release the slots of dead producers and readers, zero the space
 * that may be reused and raise the producers' limit.
 *
 * A repaired claim is skipped by readers at once, but while its owner is
 * alive its bytes are not reused: the owner may still write into them, and
 * those late writes must land in its own padding, never in a later record.
 * So a producer stopped (SIGSTOP, a debugger) in the middle of a claim lets
 * the ring run on for up to one lap, then holds producers back until it
 * continues (its commit then fails with -ETIMEDOUT) or dies.
 *
 * For an ephemeral topic the library calls this itself whenever a producer
 * finds the ring full or a reader finds it stalled; ringd calls it for
 * persistent topics. Calling it yourself is harmless.
 *
 * Concurrency: any process may call it; one runs at a time (a lease held
 * by pid and start time, taken over if its holder dies). If another live
 * process holds the lease the call returns at once.
 *
 * @return the number of claims repaired (>= 0), -EBUSY if another process
 *         is doing it, or -EBADMSG if a header in the ring is corrupt (the
 *         frontier then stops there and nothing is reused past it).
 */
RING_API int ring_topic_maintain(struct ring_topic *topic);

#ifdef __cplusplus
}
#endif

#endif /* LIBRING_TOPIC_H */
