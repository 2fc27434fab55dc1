/* SPDX-License-Identifier: MIT */
/*
 * reader.h - read a topic's records in position order from the ring.
 *
 * A reader is a private cursor: it sees every record from where it starts,
 * in order, and never a torn one. An ordinary reader never holds producers
 * back: if producers overtake it, its next read fails with -EOVERFLOW and
 * it moves to the oldest record the ring still holds. A gating reader
 * (RING_READER_GATING) instead holds producers back until it has read, and
 * in exchange reads in place with no copy. Consumer groups with committed
 * offsets are built on top of readers (consumer.h).
 */
#ifndef LIBRING_READER_H
#define LIBRING_READER_H

#include <stdint.h>
#include <libring/version.h>
#include <libring/topic.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ring_reader;

/** Where a new reader starts (ring_reader_config.start). */
enum ring_reader_start {
	RING_START_EARLIEST = 0,	/**< the oldest record the ring holds */
	RING_START_LATEST = 1,		/**< the next record to be published */
	RING_START_POSITION = 2,	/**< ring_reader_config.position */
};

/** Reader flags (ring_reader_config.flags). Unknown bits give -EINVAL. */
enum ring_reader_flags {
	/** Hold producers back until this reader has read: zero-copy views. */
	RING_READER_GATING = 1u << 0,
	/** Deliver only durable records (position below `durable`). */
	RING_READER_DURABLE = 1u << 1,
};

/** How to open a reader. Zero-initialised: earliest, ordinary. */
struct ring_reader_config {
	uint32_t start;		/**< enum ring_reader_start */
	uint32_t flags;		/**< enum ring_reader_flags */
	uint64_t position;	/**< with RING_START_POSITION: a record boundary */
};

/**
 * A record as a reader sees it. @c payload is valid until the next call on
 * the same reader: for an ordinary reader it points into the reader's own
 * buffer (a validated copy), for a gating reader into the ring itself.
 */
struct ring_record {
	const void *payload;	/**< @c len bytes, 8-byte aligned */
	uint32_t len;		/**< payload bytes */
	uint32_t type;		/**< as given by the producer */
	uint64_t position;	/**< the record's position */
	uint64_t next_position;	/**< the position after it */
	uint64_t timestamp_ns;	/**< CLOCK_REALTIME when it was reserved */
	uint32_t deliveries;	/**< 1 on first delivery; more when a shared
				     consumer group redelivers it */
	uint32_t reserved;
};

/**
 * Called by ring_reader_poll() for each record, in order.
 * @return 0 to go on, anything else to stop after this record.
 */
typedef int (*ring_record_fn)(const struct ring_record *record, void *arg);

/**
 * Open a reader on a topic.
 *
 * @param topic       an attached topic
 * @param config      where to start and how to read; NULL = earliest, ordinary
 * @param ret_reader  set on success only
 *
 * Concurrency: thread-safe; the reader belongs to the calling thread.
 *
 * @return 0, or
 *  - -EINVAL     NULL topic, unknown start or flag, position not 8-aligned
 *  - -ERANGE     RING_START_POSITION outside [oldest, tail] of the ring
 *  - -ENOSPC     gating reader table full (RING_MAX_GATING_READERS)
 *  - -ENOMEM
 */
RING_API int ring_reader_open(struct ring_topic *topic, const struct ring_reader_config *config,
			      struct ring_reader **ret_reader);

/**
 * Close a reader (a gating reader stops holding producers back).
 * @return NULL, so that `r = ring_reader_close(r);` clears the handle.
 */
RING_API struct ring_reader *ring_reader_close(struct ring_reader *reader);

/**
 * Read the next record.
 *
 * @param reader      from ring_reader_open()
 * @param ret_record  filled on success only
 * @param timeout_ns  how long to wait for a record: 0 not at all,
 *                    RING_WAIT_FOREVER without limit, else that many ns
 *                    (spin briefly, then sleep on a futex)
 *
 * Concurrency: one thread per reader; any number of readers run at once.
 *
 * @return 0, or
 *  - -EAGAIN     no record yet and @p timeout_ns is 0
 *  - -ETIMEDOUT  no record within @p timeout_ns
 *  - -EOVERFLOW  producers overtook the reader: it has been moved to the
 *                oldest record still held (ring_reader_position() tells
 *                where); read again to go on
 *  - -EBADMSG    a corrupt header at the reader's position (a position
 *                that is not a record boundary, or a hostile writer)
 *  - -EINVAL     NULL argument
 */
RING_API int ring_reader_next(struct ring_reader *reader, struct ring_record *ret_record,
			      int64_t timeout_ns);

/**
 * Read up to @p max_count records, calling @p fn for each. Waits (as
 * ring_reader_next()) only until the first record is available; then takes
 * what is ready without waiting.
 *
 * @return the number of records handed to @p fn (>= 1), or as
 *         ring_reader_next(); -EOVERFLOW is returned only if no record was
 *         delivered before it was detected.
 */
RING_API int ring_reader_poll(struct ring_reader *reader, ring_record_fn fn, void *arg,
			      unsigned max_count, int64_t timeout_ns);

/**
 * The position of the next record this reader will deliver.
 * Concurrency: the owning thread only. NULL returns 0.
 */
RING_API uint64_t ring_reader_position(const struct ring_reader *reader);

/**
 * Move the reader to @p position, which must be a record boundary (a
 * position a record was published at, or the tail).
 *
 * @return 0, or -EINVAL (not 8-aligned), -ERANGE (outside [oldest, tail]).
 *         A position inside a record is found out at the next read, which
 *         returns -EBADMSG.
 */
RING_API int ring_reader_seek(struct ring_reader *reader, uint64_t position);

#ifdef __cplusplus
}
#endif

#endif /* LIBRING_READER_H */
