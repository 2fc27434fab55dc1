/* SPDX-License-Identifier: MIT */
/*
 * seglog.h - one topic's log on disk: its directory of segment files, as
 * ringd appends to it. The drain loop (drain.c) is its only user.
 *
 * The data path through it: seglog_append() copies whole records from the
 * ring into the log's own aligned staging buffers, validating every header
 * in that private copy (a process scribbling on the ring afterwards cannot
 * change what is written) and filling in each record's CRC32C; then
 * seglog_write_async() (or seglog_flush(), which also waits) writes the
 * staged bytes with io_uring and says how far the log is written
 * (`persisted`), and seglog_sync() makes it durable with one fdatasync for
 * everything written before it (group commit). While one buffer's write is
 * in flight the next records are staged into the other.
 *
 * Nothing here touches shared memory and nothing here logs except through
 * log.h, once, where an error is handled.
 */
#ifndef RINGD_SEGLOG_H
#define RINGD_SEGLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libring/topic.h"

struct seglog;

struct seglog_options {
	int direct_io;		/* 1: O_DIRECT writes (staged, 4096-aligned); 0: buffered */
	size_t staging_bytes;	/* per buffer, a multiple of 4096; 0 = default (4 MiB) */
};

/* What startup recovery found in the last segment. */
struct seglog_recovery {
	uint64_t end_pos;	/* the log's end after recovery: the next position */
	uint64_t cut_bytes;	/* bytes truncated from a torn or damaged tail */
	uint64_t cut_pos;	/* where the cut was made (== end_pos) */
	char reason[96];	/* why, e.g. "zero header", "crc mismatch"; "" if none */
	unsigned segments;	/* segment files found */
};

/*
 * Open the log in @topic_dir (creating the first segment at position 0 if
 * there is none), recover it (validate the last segment record by record,
 * truncate a torn tail, drop a torn time index entry) and get ready to
 * append at its end.
 *
 * @return 0, or -errno (-EBADMSG: a segment header is damaged, -ENOSPC...).
 */
int seglog_open(const char *topic_dir, const struct ring_topic_config *config,
		const struct seglog_options *options, struct seglog **ret_log,
		struct seglog_recovery *ret_recovery);

/* The next position to append: everything below is staged or written. */
uint64_t seglog_end(const struct seglog *log);

/*
 * Copy the log bytes [pos, pos + len) from @src into staging. @pos must be
 * seglog_end(); @src holds whole records (committed or padding) as they are
 * in the ring. Records are validated in the copy and get their CRC32C.
 *
 * @return the bytes accepted (a prefix of whole records, possibly 0 when the
 *         staging buffers are full: flush first), or -EBADMSG if the record
 *         at the end of the accepted prefix is malformed (nothing past it is
 *         taken; the caller reports it and stops draining this topic).
 */
int64_t seglog_append(struct seglog *log, uint64_t pos, const void *src, size_t len);

/*
 * Write everything staged (io_uring), rolling segments as needed, and wait
 * for the writes, beginning with the one in flight from
 * seglog_write_async(), if any. On success *ret_persisted is the position
 * below which every byte is in a segment file, and nothing is in flight.
 *
 * @return 0, or -errno from the write (-ENOSPC, -EIO): nothing staged is
 *         lost; call again later to retry.
 */
int seglog_flush(struct seglog *log, uint64_t *ret_persisted);

/*
 * Write what is staged without waiting, so that the caller can stage the
 * next records meanwhile. First the write in flight, if any, is handed
 * back once it has completed (@wait: waiting for that; else only if it
 * has); then, if none is in flight any more, the next one is submitted:
 * the older, sealed buffer, or else the current one, which is sealed for
 * it (staging goes on in the other buffer). At most one write is in
 * flight; segment rolls happen here, with nothing in flight.
 *
 * On success *ret_persisted is the position below which every byte is in
 * a segment file: it covers completed writes only, and moves in order.
 *
 * @return 0, or -errno of a write that failed (-ENOSPC, -EIO), also one
 *         that failed while seglog_sync() waited for it: nothing staged is
 *         lost; the failed buffer is written first when called again (or
 *         by seglog_flush()).
 */
int seglog_write_async(struct seglog *log, bool wait, uint64_t *ret_persisted);

/* true while a write from seglog_write_async() is in flight: the caller
 * must come back (seglog_write_async(), seglog_flush()) to reap it. */
bool seglog_writing(const struct seglog *log);

/* The position below which every byte is written (as *ret_persisted of the
 * last call that wrote; seglog_sync() may move it by reaping a write). */
uint64_t seglog_persisted(const struct seglog *log);

/*
 * fdatasync every segment written since the last sync (and the time
 * index), and wait. A write in flight is waited for first and covered if
 * it completed (see seglog_persisted(); a failure of it is reported by
 * the next seglog_write_async()), and so is a sync in flight
 * (seglog_sync_start()). On success *ret_durable is the position below
 * which every byte is durable.
 *
 * @return 0, or -errno (retry later; *ret_durable unchanged).
 */
int seglog_sync(struct seglog *log, uint64_t *ret_durable);

/*
 * Start the fdatasync of seglog_sync() and return without waiting: writes
 * (seglog_write_async()) go on while it runs. It covers every write
 * completed now, and nothing later. Nothing happens if a sync is in flight
 * already or nothing was written since the last one.
 *
 * @return 0, or -errno (a failed sync is sticky, as for seglog_sync()).
 */
int seglog_sync_start(struct seglog *log);

/*
 * Hand back the sync in flight once it has completed (@wait: waiting for
 * that; else only if it has). On success *ret_durable is the position
 * below which every byte is durable (still the old one while the sync is
 * in flight, and when none was).
 *
 * @return 0, or -errno of the sync (sticky; *ret_durable unchanged).
 */
int seglog_sync_reap(struct seglog *log, bool wait, uint64_t *ret_durable);

/* true while a sync from seglog_sync_start() has not been handed back. */
bool seglog_syncing(const struct seglog *log);

/*
 * Delete whole old segments (never the active one) while the log is older
 * than @config's retention_ns or larger than retention_bytes.
 *
 * @return the number of segments deleted, or -errno.
 */
int seglog_retention(struct seglog *log, const struct ring_topic_config *config, uint64_t now_ns);

/* Bytes on disk and segment count, for stat. */
void seglog_usage(const struct seglog *log, uint64_t *ret_bytes, unsigned *ret_segments,
		  uint64_t *ret_first_pos);

/* Flush nothing, free everything (the caller flushes and syncs first); a
 * write still in flight is waited for, its result ignored. */
void seglog_close(struct seglog *log);

#endif /* RINGD_SEGLOG_H */
