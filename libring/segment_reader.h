/* SPDX-License-Identifier: MIT */
/*
 * segment_reader.h - the read side of a topic's segment files (format in
 * segment_format.h): list a topic directory's segments, open one and check
 * its header, walk its records from a position checking each one, find the
 * segment that holds a position, and look a timestamp up in the time
 * indexes.
 *
 * Users: ringd's recovery, consumer groups reading behind the ring, and
 * ringctl verify/dump. Reads use pread() into private buffers only, never
 * mmap(): ringd may truncate the tail of a segment (recovery, rolling) and
 * a mapping past the new end would fault.
 *
 * Every function returns 0 (or a count) or -errno; damage is -EBADMSG with
 * the position and a reason, never an abort.
 */
#ifndef RING_SEGMENT_READER_H
#define RING_SEGMENT_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "segment_format.h"

/* The most segment files a directory listing returns: a bound on memory
 * (-E2BIG beyond it). 1M segments of 256 MiB are 256 TiB of log. */
#define RINGI_SEG_LIST_MAX (1u << 20)
/* The most time index entries read from one .tix file (-E2BIG beyond). */
#define RINGI_TIX_MAX_ENTRIES (1u << 24)

/*
 * The bases of the "<20 digits>.seg" files in @dir, ascending, in a
 * malloc()ed array the caller frees (NULL when there are none).
 *
 * @return 0, or -ENOENT (no such directory), -ENOMEM, -E2BIG, -errno.
 */
int ringi_seg_list(const char *dir, uint64_t **ret_bases, size_t *ret_count);

/* "@dir/<20-digit base><suffix>" into @buf; 0 or -ENAMETOOLONG. */
int ringi_seg_path(char *buf, size_t size, const char *dir, uint64_t base_pos,
		   const char *suffix);

/*
 * The index of the segment that holds @pos: the last base <= @pos in the
 * ascending @bases. Whether @pos is below that segment's end is for the
 * caller to see (it may be past the end of the log).
 *
 * @return the index, or -ENOENT if @pos is below the first base (deleted
 *         by retention) or there are no segments.
 */
int64_t ringi_seg_find(const uint64_t *bases, size_t count, uint64_t pos);

/* An open segment file. */
struct ringi_segment {
	int fd;				/* O_RDONLY, -1 when closed */
	uint64_t base_pos;
	uint64_t created_ns;
	uint64_t file_bytes;		/* size at open or last refresh */
};

/*
 * Open @dir's segment at @base_pos read-only and check its header, which
 * must name the same base as the file name.
 *
 * @return 0, or -ENOENT, -EBADMSG (header damaged: *ret_reason if not NULL
 *         says why; the file is not opened), -errno.
 */
int ringi_seg_open(const char *dir, uint64_t base_pos, struct ringi_segment *ret_seg,
		   const char **ret_reason);
/* Re-read the file size (the active segment grows). 0 or -errno. */
int ringi_seg_refresh(struct ringi_segment *seg);
void ringi_seg_close(struct ringi_segment *seg);

/* One position past the last byte the file holds (which may be zero
 * padding: records say where the log really ends). */
static inline uint64_t ringi_seg_file_end(const struct ringi_segment *seg)
{
	return seg->file_bytes <= RING_SEG_HEADER_BYTES
		       ? seg->base_pos
		       : seg->base_pos + (seg->file_bytes - RING_SEG_HEADER_BYTES);
}

/* A record as the iterator returns it; `bytes` points into the
 * iterator's buffer and is valid until the next call. */
struct ringi_seg_rec {
	uint64_t pos;
	uint64_t span;			/* bytes the record occupies, header included */
	uint64_t word;
	uint64_t timestamp_ns;		/* meaningful for committed records */
	uint32_t type;
	uint32_t len;			/* payload bytes (committed) */
	bool committed;			/* false: a SKIPPED span */
	const uint8_t *bytes;		/* committed: the whole span (header, payload,
					   padding); a skip: its word (the rest is
					   zeros, checked) */
};

/* Walks one segment's records. */
struct ringi_seg_iter {
	const struct ringi_segment *seg;
	uint64_t pos;			/* the next record */
	uint64_t limit_pos;		/* stop here: the file's end or a caller's bound */
	uint64_t max_record;		/* payload bound for committed records */
	uint8_t *buf;			/* read window */
	size_t buf_cap;
	uint64_t win_pos;		/* position of buf[0] */
	size_t win_len;			/* valid bytes in buf */
	/* Where and why the walk stopped (after 0 or -EBADMSG). */
	uint64_t stop_pos;
	const char *stop_reason;	/* NULL: clean end of file or limit;
					   "zero header": a zero word; else damage */
};

/*
 * Start walking @seg from @pos (a record boundary, >= its base) up to
 * @limit_pos (UINT64_MAX: to the end of the file as last refreshed).
 * @max_record_bytes bounds committed payloads (the topic's setting).
 *
 * @return 0, or -EINVAL (@pos outside the segment), -ENOMEM.
 */
int ringi_seg_iter_init(struct ringi_seg_iter *it, const struct ringi_segment *seg, uint64_t pos,
			uint64_t limit_pos, uint64_t max_record_bytes);
void ringi_seg_iter_free(struct ringi_seg_iter *it);

/*
 * The next record, checked (span, CRC): 1 and *ret_rec, or 0 at the end
 * (it->stop_reason NULL at the file's end or the limit, "zero header" at a
 * zero word: the normal end of a preallocated or padded file), or
 * -EBADMSG at damage: it->stop_pos and it->stop_reason say where and why,
 * and every later call returns the same. -errno from pread().
 */
int ringi_seg_iter_next(struct ringi_seg_iter *it, struct ringi_seg_rec *ret_rec);

/*
 * Read @dir's time index of the segment at @base_pos into a malloc()ed
 * array (NULL when empty). A torn last entry (a file size that is not a
 * multiple of 16) is ignored; so are entries that break the order (a
 * position or timestamp going backwards), from the first such one on.
 *
 * @return 0 (a missing file is an empty index), or -ENOMEM, -E2BIG, -errno.
 */
int ringi_tix_read(const char *dir, uint64_t base_pos, struct ring_tix_entry **ret_entries,
		   size_t *ret_count);

/* The index of the last entry with timestamp_ns < @ts_ns, or -1 if there
 * is none (entries ascend by timestamp). Strictly before: with equal
 * timestamps, the records just before an entry may match too. */
int64_t ringi_tix_search(const struct ring_tix_entry *entries, size_t count, uint64_t ts_ns);

/*
 * The first committed record on disk with timestamp >= @ts_ns: the last
 * time index entry with timestamp < @ts_ns (over all segments), then a
 * scan forward. Exact when record timestamps never decrease along the
 * log; otherwise the first such record at or after that entry. Bounded by
 * the log's size on disk.
 *
 * @return 1 with *ret_pos its position; 0 if no record on disk is that
 *         late, with *ret_pos the end of the valid log on disk (continue in
 *         the ring from there); -ENOENT (no segments), -EBADMSG (damage met
 *         while scanning: no answer), -errno.
 */
int ringi_seg_time_lookup(const char *dir, uint64_t ts_ns, uint64_t max_record_bytes,
			  uint64_t *ret_pos);

#endif /* RING_SEGMENT_READER_H */
