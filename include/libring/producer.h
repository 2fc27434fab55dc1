/* SPDX-License-Identifier: MIT */
/*
 * producer.h - write records into a topic.
 *
 * Two ways to write: zero-copy, by reserving space in the ring, writing the
 * payload in place and committing it; or by copy, with publish(). Either
 * way a record becomes visible to readers only when it is committed, and
 * never torn. Many producers in many processes may write to one topic at
 * once; none ever takes a lock, and a producer that dies at any instruction
 * never wedges the ring: its claim is turned into padding by
 * ring_topic_maintain() (docs/design/ring-protocol.md).
 */
#ifndef LIBRING_PRODUCER_H
#define LIBRING_PRODUCER_H

#include <stddef.h>
#include <stdint.h>
#include <libring/version.h>
#include <libring/topic.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ring_producer;

/**
 * Space claimed by ring_producer_reserve(): write exactly @c len bytes at
 * @c payload, then pass the claim to ring_producer_commit() or
 * ring_producer_abort(). The fields after @c position are private.
 */
struct ring_claim {
	void *payload;		/**< where the payload goes (8-byte aligned) */
	uint32_t len;		/**< payload bytes */
	uint32_t type;		/**< the record type given to reserve */
	uint64_t position;	/**< the record's position in the topic */
	uint64_t word_;		/**< private: the claimed header word */
};

/** One record of a batch for ring_producer_publish_batch(). */
struct ring_message {
	const void *data;	/**< payload, len bytes */
	uint32_t len;		/**< payload bytes, 0..max_record_bytes */
	uint32_t type;		/**< application record type, any value */
};

/**
 * Register a producer on a topic.
 *
 * @param topic         an attached topic
 * @param ret_producer  set on success only
 *
 * The producer takes a slot in the topic's producer table, recorded with
 * this process's pid and start time, so that its claims can be repaired if
 * it dies.
 *
 * Concurrency: thread-safe. The producer belongs to the calling thread.
 *
 * @return 0, or -EINVAL (NULL argument), -ENOSPC (producer table full:
 *         RING_MAX_PRODUCERS live producers), -ENOMEM.
 */
RING_API int ring_producer_open(struct ring_topic *topic, struct ring_producer **ret_producer);

/**
 * Unregister and free a producer. A claim still open is aborted first.
 *
 * @return NULL, so that `p = ring_producer_close(p);` clears the handle.
 */
RING_API struct ring_producer *ring_producer_close(struct ring_producer *producer);

/**
 * Claim space for one record of @p len payload bytes (zero copy).
 *
 * @param producer    from ring_producer_open()
 * @param type        application record type, any value
 * @param len         payload bytes, 0..max_record_bytes of the topic
 * @param timeout_ns  how long to wait while the ring is full: 0 not at all,
 *                    RING_WAIT_FOREVER without limit, else that many ns
 *                    (spin briefly, then sleep on a futex)
 * @param ret_claim   filled on success only
 *
 * At most one claim per producer may be open at a time.
 *
 * Concurrency: any number of producers, in any number of processes, may
 * reserve on one topic at once, lock-free. One ring_producer belongs to one
 * thread. Never allocates.
 *
 * @return 0, or a negative errno; nothing is claimed on error:
 *  - -EAGAIN     the ring is full and @p timeout_ns is 0
 *  - -ETIMEDOUT  the ring stayed full for @p timeout_ns
 *  - -EMSGSIZE   @p len exceeds max_record_bytes
 *  - -EINVAL     NULL argument, or a claim is already open
 */
RING_API int ring_producer_reserve(struct ring_producer *producer, uint32_t type, size_t len,
				   int64_t timeout_ns, struct ring_claim *ret_claim);

/**
 * Publish a record claimed by ring_producer_reserve(). A reader whose read
 * starts after this returns sees the complete payload.
 *
 * If the producer was stopped (or debugged) longer than the topic's claim
 * timeout between reserve and commit, ring_topic_maintain() may already
 * have turned the claim into padding; the commit then fails and nothing
 * torn is ever seen. Writing the payload late is harmless too: the ring
 * does not reuse a live producer's claim until it is committed or aborted,
 * so the bytes land in its own padding. Publish the record again if it
 * must be delivered.
 *
 * Concurrency: as ring_producer_reserve(). Wakes sleeping readers only if
 * there are any (no syscall otherwise).
 *
 * @return 0, or
 *  - -ETIMEDOUT  the claim had been repaired into padding; not published
 *  - -EINVAL     NULL argument or no open claim
 */
RING_API int ring_producer_commit(struct ring_producer *producer, const struct ring_claim *claim);

/**
 * Give up a claim: it becomes padding that readers skip.
 *
 * @return 0, or -EINVAL (no open claim). Aborting a claim that was already
 *         repaired succeeds.
 */
RING_API int ring_producer_abort(struct ring_producer *producer, const struct ring_claim *claim);

/**
 * Copy one record into the topic: reserve, copy, commit.
 *
 * @param data          @p len bytes of payload (may be NULL if @p len is 0)
 * @param ret_position  if not NULL, set to the record's position on success
 *
 * Other parameters, concurrency and errors as ring_producer_reserve(); in
 * addition -ETIMEDOUT if the commit was refused (see ring_producer_commit()).
 */
RING_API int ring_producer_publish(struct ring_producer *producer, uint32_t type, const void *data,
				   size_t len, int64_t timeout_ns, uint64_t *ret_position);

/**
 * Copy @p count records into the topic with one claim: they get consecutive
 * positions and become visible to readers together (all or none).
 *
 * @param messages      @p count records, 1..RING_BATCH_MAX
 * @param ret_position  if not NULL, set to the first record's position
 *
 * The batch as a whole must fit in the ring: its total size (each record
 * with its header, 8-byte aligned) must not exceed capacity_bytes / 4.
 *
 * @return @p count on success, or as ring_producer_publish(); -EMSGSIZE if
 *         one record or the whole batch is too large.
 */
RING_API int ring_producer_publish_batch(struct ring_producer *producer,
					 const struct ring_message *messages, unsigned count,
					 int64_t timeout_ns, uint64_t *ret_position);

/** Most records in one ring_producer_publish_batch(). */
#define RING_BATCH_MAX 1024u

#ifdef __cplusplus
}
#endif

#endif /* LIBRING_PRODUCER_H */
