/* SPDX-License-Identifier: MIT */
/*
 * recovery.h - the startup scan of a topic's segment directory, before
 * ringd appends to it (seglog_open() runs it).
 *
 * What it does, and nothing more:
 *  - removes leftovers of an interrupted segment creation (*.seg.tmp) and
 *    time indexes without a segment (neither holds log data);
 *  - checks the header of every segment and that they follow each other
 *    (the base of segment n+1 is the end of segment n): damage there is
 *    reported, and the data is left alone;
 *  - checks the last segment record by record (span and CRC), truncates a
 *    torn or damaged tail and reports what was cut, where and why;
 *  - makes the last segment's time index agree with its records (a torn
 *    entry, entries past the new end, entries never written).
 *
 * Plain system calls, no io_uring: it runs once, before the ring exists.
 */
#ifndef RINGD_RECOVERY_H
#define RINGD_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One segment as recovery leaves it. */
struct recovery_segment {
	uint64_t base_pos;
	uint64_t end_pos;		/* one past its last byte of log */
	uint64_t file_bytes;		/* the .seg file's size */
	uint64_t tix_bytes;		/* the .tix file's size */
	uint64_t created_ns;		/* from the header (0 if damaged) */
	uint64_t first_ts_ns;		/* first and last time index entries, */
	uint64_t last_ts_ns;		/* valid when has_tix */
	uint64_t last_tix_pos;
	bool has_tix;
	bool damaged;			/* header unreadable: not a source of data */
};

struct recovery_result {
	struct recovery_segment *segs;	/* ascending by base; malloc()ed */
	size_t count;
	unsigned found;			/* segment files found */
	uint64_t end_pos;		/* the log's end: where appending resumes */
	uint64_t cut_bytes;		/* damaged or torn bytes cut from the last segment */
	uint64_t cut_pos;
	char reason[96];		/* why they were cut; "" if nothing was */
	unsigned damaged;		/* older segments with a damaged header */
	unsigned breaks;		/* places where a segment does not start at
					   the previous one's end */
	char damage[160];		/* the first of those, for the log; "" if none */
};

/*
 * Recover @dir (an existing topic directory). @max_record_bytes bounds
 * committed payloads (the topic's setting).
 *
 * @return 0 with *ret filled (free it with recovery_result_free(); no
 *         segments is count 0), or -EBADMSG if the last segment's header is
 *         damaged (ret->damage then says which file and why, and nothing
 *         else in *ret is set), or -errno.
 */
int recovery_run(const char *dir, uint64_t max_record_bytes, struct recovery_result *ret);
void recovery_result_free(struct recovery_result *r);

/* fsync the directory @dir, so that files created, renamed or removed in
 * it stay so after a crash. 0 or -errno. */
int recovery_sync_dir(const char *dir);

#endif /* RINGD_RECOVERY_H */
