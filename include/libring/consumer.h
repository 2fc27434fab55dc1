/* SPDX-License-Identifier: MIT */
/*
 * consumer.h - consumer groups: named readers whose position survives any
 * crash.
 *
 * A group has a committed position: everything below it has been
 * processed. Groups are independent (each sees every record of the topic),
 * are created on first open, and are kept in the topic's shared memory; for
 * a persistent topic ringd also logs every committed position to the
 * topic's offsets log, so a group resumes where it left off after a crash
 * of its member, of ringd, or of the whole host (at-least-once: what was in
 * flight at the crash is delivered again).
 *
 * Two modes, as in Kafka and in Redis/NATS:
 *  - exclusive: one active member reads in order and commits; a second
 *    opener gets -EBUSY while the first lives, and takes over from the
 *    committed position once it is dead.
 *  - shared: competing members; each record goes to one member, which acks
 *    it; unacked records of a dead member, or past the ack wait, go to
 *    another member, with a delivery count; after max_deliver deliveries a
 *    record goes to the dead-letter topic.
 *
 * A consumer whose position is older than the ring holds reads on from the
 * segment files, then hands over to the ring with no gap and no duplicate.
 */
#ifndef LIBRING_CONSUMER_H
#define LIBRING_CONSUMER_H

#include <stdint.h>
#include <libring/version.h>
#include <libring/topic.h>
#include <libring/reader.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ring_consumer;

/* Longest group name, not counting the NUL. Same characters as topics. */
#define RING_GROUP_NAME_MAX 63
/* Groups per topic, and members per shared group. */
#define RING_MAX_GROUPS 64u
#define RING_MAX_MEMBERS 16u

/** How a group shares its records among members. */
enum ring_group_mode {
	RING_GROUP_EXCLUSIVE = 0,	/**< one member at a time, in order */
	RING_GROUP_SHARED = 1,		/**< competing members with acks */
};

/** Where a group that does not exist yet starts. */
enum ring_group_start {
	RING_GROUP_START_EARLIEST = 0,	/**< the oldest retained record */
	RING_GROUP_START_LATEST = 1,	/**< the next record to be published */
	RING_GROUP_START_POSITION = 2,	/**< ring_consumer_config.start_position */
	RING_GROUP_START_TIME = 3,	/**< first record at or after start_time_ns */
};

/** What to do when the group's position is older than retention. */
enum ring_group_reset {
	RING_RESET_EARLIEST = 0,	/**< go on from the oldest retained record */
	RING_RESET_LATEST = 1,		/**< skip to the newest */
};

/** Consumer flags. Unknown bits give -EINVAL. */
enum ring_consumer_flags {
	/** Deliver only durable (fsynced) records. */
	RING_CONSUMER_DURABLE = 1u << 0,
	/** Exclusive groups: never commit automatically. */
	RING_CONSUMER_MANUAL_COMMIT = 1u << 1,
};

/** How to open a consumer. Zero-initialised fields take the defaults. */
struct ring_consumer_config {
	uint32_t mode;			/**< enum ring_group_mode (only used to
					     create the group; an existing group
					     keeps its mode, -EINVAL on mismatch) */
	uint32_t start;			/**< enum ring_group_start, for a new group */
	uint64_t start_position;	/**< with RING_GROUP_START_POSITION */
	uint64_t start_time_ns;		/**< with RING_GROUP_START_TIME (CLOCK_REALTIME) */
	uint32_t reset;			/**< enum ring_group_reset */
	uint32_t flags;			/**< enum ring_consumer_flags */
	uint64_t auto_commit_interval_ns;	/**< exclusive; default 1 s */
	uint64_t ack_wait_ns;		/**< shared: redeliver after; default 30 s */
	uint32_t max_deliver;		/**< shared: then dead-letter; default 5 */
	uint32_t reserved;		/**< must be 0 */
};

/**
 * Join (creating it if needed) a consumer group of a topic.
 *
 * @param topic         an attached topic
 * @param group         the group name, 1..RING_GROUP_NAME_MAX characters of
 *                      [A-Za-z0-9._-], not starting with '.'
 * @param config        NULL for an exclusive group starting at the earliest
 *                      record with auto-commit
 * @param ret_consumer  set on success only
 *
 * An exclusive consumer starts at the group's committed position. A shared
 * consumer takes the next undelivered record, or a redelivery.
 *
 * Concurrency: thread-safe and process-safe; the consumer belongs to the
 * calling thread. Creation races between processes resolve to one group.
 *
 * @return 0, or
 *  - -EINVAL  bad name, unknown flag or mode, mode differs from the group's
 *  - -EBUSY   exclusive group with a live member
 *  - -ENOSPC  the topic's group table (RING_MAX_GROUPS) or the group's
 *             member table is full
 *  - -ENOMEM
 */
RING_API int ring_consumer_open(struct ring_topic *topic, const char *group,
				const struct ring_consumer_config *config,
				struct ring_consumer **ret_consumer);

/**
 * Leave the group. An exclusive consumer with auto-commit commits what it
 * delivered; a shared consumer's unacked records become redeliverable at
 * once.
 *
 * @return NULL, so that `c = ring_consumer_close(c);` clears the handle.
 */
RING_API struct ring_consumer *ring_consumer_close(struct ring_consumer *consumer);

/**
 * Deliver the next record.
 *
 * Exclusive: the next record after the last one delivered, in order; with
 * auto-commit, calling this commits what was delivered before, at most
 * every auto_commit_interval_ns. Shared: a redelivery if one is due, else
 * the next record no member has had.
 *
 * The view is valid until the next call on this consumer.
 *
 * @return 0, or -EAGAIN (nothing, @p timeout_ns 0), -ETIMEDOUT, -EBADMSG
 *         (a corrupt record in the ring or a segment), -ENOBUFS (shared:
 *         RING_GROUP_INFLIGHT records unacked; ack some), -EINVAL.
 *         Overtaking by producers is handled inside: the consumer reads on
 *         from the segment files, or applies the reset policy if they are
 *         gone too (retention).
 */
RING_API int ring_consumer_next(struct ring_consumer *consumer, struct ring_record *ret_record,
				int64_t timeout_ns);

/**
 * Deliver up to @p max_count records to @p fn, as ring_consumer_next()
 * does one by one. Waits only for the first.
 *
 * @return the number delivered (>= 1), or as ring_consumer_next().
 */
RING_API int ring_consumer_poll(struct ring_consumer *consumer, ring_record_fn fn, void *arg,
				unsigned max_count, int64_t timeout_ns);

/**
 * Exclusive groups: commit @p position (usually a record's next_position):
 * every record below it is processed. Stored at once in shared memory;
 * ringd makes it durable in the offsets log with its next sync.
 *
 * @return 0, or -EINVAL (shared group, not 8-aligned), -EBUSY (this
 *         consumer lost the group: it was found dead or stopped and another
 *         member took over).
 */
RING_API int ring_consumer_commit(struct ring_consumer *consumer, uint64_t position);

/**
 * Shared groups: the record at @p position is processed.
 * @return 0, or -ENOENT (not in flight for this member: already acked, or
 *         redelivered to another after the ack wait), -EINVAL.
 */
RING_API int ring_consumer_ack(struct ring_consumer *consumer, uint64_t position);

/**
 * Shared groups: give the record at @p position back for redelivery after
 * @p delay_ns (0: at once). Counts as a delivery.
 * @return 0, or as ring_consumer_ack().
 */
RING_API int ring_consumer_nack(struct ring_consumer *consumer, uint64_t position,
				uint64_t delay_ns);

/** The next position this consumer reads (exclusive), or the group's
 *  next undelivered position (shared). */
RING_API uint64_t ring_consumer_position(const struct ring_consumer *consumer);

/** A group member, as ring_group_stat() reports it. */
struct ring_member_stat {
	int32_t pid;
	uint32_t alive;
	uint64_t heartbeat_ns;	/**< CLOCK_REALTIME of its last poll */
	uint64_t delivered;
};

/** A snapshot of one group. */
struct ring_group_stat {
	char name[RING_GROUP_NAME_MAX + 1];
	uint32_t mode;			/**< enum ring_group_mode */
	uint32_t members;		/**< live members, up to RING_MAX_MEMBERS */
	uint64_t committed_pos;
	uint64_t lag_bytes;		/**< tail - committed */
	uint64_t in_flight;		/**< shared: unacked deliveries */
	uint64_t delivered;
	uint64_t redelivered;
	uint64_t dead_lettered;
	uint64_t acked;
	struct ring_member_stat member[RING_MAX_MEMBERS];
};

/**
 * Describe group @p index (0..RING_MAX_GROUPS-1) of a topic.
 * @return 1 if that slot holds a group (filled in), 0 if it is empty,
 *         -EINVAL (NULL, index out of range).
 */
RING_API int ring_group_stat(struct ring_topic *topic, unsigned index,
			     struct ring_group_stat *ret_stat);

/**
 * Set a group's committed position (operators: ringctl reset-offsets).
 * Refused while an exclusive group has a live member unless @p force.
 *
 * @return 0, or -ENOENT (no such group), -EBUSY (live member), -EINVAL.
 */
RING_API int ring_group_reset(struct ring_topic *topic, const char *group, uint64_t position,
			      int force);

#ifdef __cplusplus
}
#endif

#endif /* LIBRING_CONSUMER_H */
