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
 * A position that retention deleted as well is reported once as -ERANGE,
 * after the group's reset policy moved the consumer on.
 *
 * docs/design/consumer-groups.md describes the protocol and what each
 * kind of crash costs.
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
/* Groups per topic (groups are never deleted: a full table stays full),
 * and members per shared group. */
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
	uint64_t ack_wait_ns;		/**< shared: redeliver after; default 30 s,
					     rounded up to whole milliseconds */
	uint32_t max_deliver;		/**< shared: deliveries before a record goes
					     to the dead-letter topic; default 5,
					     at most 255 */
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
 * consumer takes the next undelivered record, or a redelivery. A new
 * group starts where @p config says; an existing group ignores that and
 * goes on from its committed position.
 *
 * A shared member that takes over the member slot of one that died
 * makes that member's unacked deliveries due for redelivery at once.
 *
 * Concurrency: thread-safe and process-safe; the consumer belongs to the
 * calling thread. Creation races between processes resolve to one group.
 *
 * @return 0, or
 *  - -EINVAL    bad name, unknown flag or mode, mode differs from the
 *               group's, max_deliver over 255, RING_CONSUMER_DURABLE on an
 *               ephemeral topic, an unaligned start_position
 *  - -EBUSY     exclusive group with a live member (a stopped one counts
 *               as live: kill it to take over)
 *  - -ENOSPC    the topic's group table already holds RING_MAX_GROUPS
 *               other groups (groups are never deleted), or the shared
 *               group's RING_MAX_MEMBERS member slots all hold live members
 *  - -ETIMEDOUT another process is creating a group in the slot this name
 *               probes and has been stopped for seconds (it still lives)
 *  - -EBADMSG   a new group with RING_GROUP_START_POSITION: no record starts
 *               at start_position (or the segment file there is damaged)
 *  - -ERANGE    a new group with RING_GROUP_START_POSITION: start_position
 *               is past the tail or older than retention kept
 *  - -EAGAIN    a new group with RING_GROUP_START_POSITION: a record not yet
 *               committed lies before start_position; try again
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
 * With RING_CONSUMER_DURABLE, only records below the topic's `durable`
 * position are delivered, from the ring or from the files.
 *
 * The view is valid until the next call on this consumer.
 *
 * Overtaking by producers is handled inside: the consumer reads on from
 * the segment files. Only if they do not hold the position either
 * (retention deleted it; an ephemeral topic has no files) is it an error.
 *
 * @return 0, or
 *  - -EAGAIN    nothing to deliver and @p timeout_ns is 0
 *  - -ETIMEDOUT nothing within @p timeout_ns
 *  - -ERANGE    the position was gone from the ring and the files: the
 *               records there are lost to this group. The reset policy has
 *               already moved the consumer (ring_consumer_position() says
 *               where): call again to go on from there. Returned once per
 *               loss.
 *  - -EBUSY     exclusive: this consumer lost the group (it was judged
 *               dead and another member took over); close it
 *  - -ENOBUFS   shared: 256 records of the group are unacked; ack some
 *  - -EBADMSG   a corrupt record in the ring or a segment
 *  - -EOPNOTSUPP, -ENAMETOOLONG, or an error of ring_topic_create() or
 *               ring_producer_publish(): shared, a record reached
 *               max_deliver and could not be published to the dead-letter
 *               topic "<topic>.dlq" (an anonymous topic has none; the name
 *               is too long; the dead-letter ring is full): it stays in
 *               flight and is tried again 100 ms later
 *  - -EINVAL    NULL argument
 */
RING_API int ring_consumer_next(struct ring_consumer *consumer, struct ring_record *ret_record,
				int64_t timeout_ns);

/**
 * Deliver up to @p max_count records to @p fn, as ring_consumer_next()
 * does one by one. Waits only for the first; stops early when @p fn
 * returns non-zero. @p fn may commit, ack or nack the records it is given
 * (ring_consumer_commit(), _ack(), _nack() on this consumer), as a Kafka
 * consumer does in its loop over a poll's records; it must not call
 * ring_consumer_next(), _poll() or _close().
 *
 * Concurrency: as ring_consumer_next().
 *
 * @return the number delivered (>= 1), or as ring_consumer_next() when
 *         none was (an error after the first record ends the batch and is
 *         returned by the next call).
 */
RING_API int ring_consumer_poll(struct ring_consumer *consumer, ring_record_fn fn, void *arg,
				unsigned max_count, int64_t timeout_ns);

/**
 * Exclusive groups: commit @p position (usually a record's next_position):
 * every record below it is processed. Stored at once in shared memory,
 * where a member that takes over after a crash finds it; ringd appends it
 * to the topic's offsets log and syncs it with its next group commit, so
 * that it survives a reboot too.
 *
 * Any record boundary may be committed, also one behind the last commit
 * (to be delivered again after a restart).
 *
 * Concurrency: the owning thread only.
 *
 * @return 0, or -EINVAL (shared group, not 8-aligned), -EBUSY (this
 *         consumer lost the group: it was found dead and another member
 *         took over).
 */
RING_API int ring_consumer_commit(struct ring_consumer *consumer, uint64_t position);

/**
 * Shared groups: the record at @p position is processed. The group's
 * committed position (the low watermark below which everything is acked)
 * moves up when this was the lowest unacked record: at once in what
 * ring_group_stat() reports; in the group's slot, which ringd logs, on one
 * such ack in 32 (raising it there scans the whole in-flight table), at
 * the member's next redelivery scan or close, or by ringd within about a
 * millisecond, whichever comes first.
 *
 * Concurrency: the owning thread only; acks of different members run in
 * parallel.
 *
 * @return 0, or -ENOENT (not in flight for this member: already acked,
 *         nacked, or taken over for redelivery after its ack wait),
 *         -EINVAL (exclusive group, NULL).
 */
RING_API int ring_consumer_ack(struct ring_consumer *consumer, uint64_t position);

/**
 * Shared groups: give the record at @p position back for redelivery after
 * @p delay_ns (0: at once), to any member including this one, with its
 * delivery count raised. The delivery counts towards max_deliver: the
 * max_deliver-th nack sends the record to the dead-letter topic.
 *
 * Concurrency: as ring_consumer_ack().
 *
 * @return 0, or as ring_consumer_ack().
 */
RING_API int ring_consumer_nack(struct ring_consumer *consumer, uint64_t position,
				uint64_t delay_ns);

/** The next position this consumer reads (exclusive), or the group's
 *  next undelivered position (shared); 0 for NULL. The owning thread
 *  only. */
RING_API uint64_t ring_consumer_position(const struct ring_consumer *consumer);

/** A group member, as ring_group_stat() reports it. */
struct ring_member_stat {
	int32_t pid;		/**< 0: no member in this entry */
	uint32_t alive;		/**< 0 once the process is gone (or a zombie) */
	uint64_t heartbeat_ns;	/**< CLOCK_REALTIME of its last poll (beats at
				     most every 100 ms) */
	uint64_t delivered;	/**< records delivered to it since it joined */
};

/** A snapshot of one group. */
struct ring_group_stat {
	char name[RING_GROUP_NAME_MAX + 1];
	uint32_t mode;			/**< enum ring_group_mode */
	uint32_t members;		/**< live members among member[] */
	uint64_t committed_pos;		/**< everything below is processed */
	uint64_t next_pos;		/**< exclusive: the member's read position;
					     shared: the next record to hand out */
	uint64_t lag_bytes;		/**< tail - committed */
	uint64_t lag_records;		/**< records in [committed, tail) */
	uint32_t lag_exact;		/**< 0 if part of the lag is older than the
					     ring: lag_records then counts only
					     the ring's part (ringctl groups
					     counts the files too) */
	uint32_t reserved;
	uint64_t in_flight;		/**< records delivered and not yet acked
					     (shared) or committed (exclusive):
					     what a crash would deliver again */
	uint64_t delivered;		/**< deliveries, first ones only */
	uint64_t redelivered;		/**< deliveries after the first */
	uint64_t dead_lettered;		/**< records sent to "<topic>.dlq" */
	uint64_t acked;
	/** Exclusive: the owner in member[0] (alive or not); shared: every
	 *  member slot in use, first ones first, the rest zero. */
	struct ring_member_stat member[RING_MAX_MEMBERS];
};

/**
 * Describe group @p index (0..RING_MAX_GROUPS-1) of a topic.
 *
 * The figures are read one by one without a lock: each is exact, they
 * may be from slightly different instants. Counting records walks the
 * ring's headers (at most its capacity), never the files.
 *
 * Concurrency: thread-safe; never blocks a member.
 *
 * @return 1 if that slot holds a group (filled in), 0 if it is empty,
 *         -EINVAL (NULL, index out of range).
 */
RING_API int ring_group_stat(struct ring_topic *topic, unsigned index,
			     struct ring_group_stat *ret_stat);

/**
 * Set a group's committed position (operators: ringctl reset-offsets).
 * Refused while the group has a live member unless @p force. A shared
 * group forgets its in-flight deliveries and hands out from @p position.
 * @p position must be where a record starts, in the ring or in the
 * segment files, or the tail; finding that out walks the ring from its
 * oldest record, so this is an operator's call, not a hot path.
 *
 * Concurrency: thread-safe. With @p force, live members go on as they
 * were: an exclusive member's next commit overwrites the reset, a shared
 * member's acks of forgotten deliveries give -ENOENT, and a record a
 * shared member was claiming at that instant counts as acked. Stop the
 * members first.
 *
 * @return 0, or
 *  - -ENOENT  no such group
 *  - -EBUSY   a live member and no @p force
 *  - -EBADMSG no record starts at @p position (or the segment file there
 *             is damaged)
 *  - -ERANGE  @p position is past the tail or older than retention kept
 *  - -EAGAIN  a record not yet committed lies before @p position: it
 *             cannot be told yet; try again
 *  - -EINVAL  NULL, a bad group name, @p position not a multiple of 8
 */
RING_API int ring_group_reset(struct ring_topic *topic, const char *group, uint64_t position,
			      int force);

#ifdef __cplusplus
}
#endif

#endif /* LIBRING_CONSUMER_H */
