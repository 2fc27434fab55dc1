/* SPDX-License-Identifier: MIT */
/*
 * logread.h - read a topic's whole log in position order: the segment
 * files first, then the ring, as one stream of records.
 *
 * ringctl's readers (dump, export, groups' lag in records, reset-offsets
 * --shift-by) need every record from a position on, however old. The
 * ring holds only the newest `capacity` bytes, and libring's reader reads
 * only the ring; the segment files hold everything ringd has persisted.
 * This walker reads the files (libring/segment_reader.h, checking every
 * record's CRC) up to where they end, then hands over to an ordinary ring
 * reader at that record boundary. Since the ring keeps every position
 * from `oldest` on and `oldest` never passes `persisted`, the hand-over
 * has no gap; if producers overtake the ring reader, the walker goes back
 * to the files at the position it had reached.
 *
 * A persistent topic whose ring is absent (after a reboot, before ringd
 * ran) is read from its files alone. Nothing here writes anything.
 */
#ifndef RINGCTL_LOGREAD_H
#define RINGCTL_LOGREAD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "ringctl.h"
#include "segment_reader.h"

struct ctl_log {
	const struct ctl *ctl;
	const char *name;
	struct ring_topic *topic;	/* NULL when the ring is absent */
	bool has_dir;			/* a persistent topic: segment files */
	char dir[PATH_MAX];		/* DATA_DIR/<name> */
	uint64_t max_record;
	uint64_t claim_timeout_ns;	/* the ring's; 0 when it is absent */

	uint64_t pos;			/* the next record's position */
	/* Segment files. */
	uint64_t *bases;
	size_t count;
	struct ringi_segment seg;	/* fd -1 when none is open */
	struct ringi_seg_iter iter;
	bool iter_live;
	uint8_t *buf;			/* a committed record's payload, copied */
	/* The ring, once the files are exhausted. */
	struct ring_reader *reader;

	/* Why the last ctl_log_next() returned -EBADMSG. */
	uint64_t bad_pos;
	uint64_t bad_base;		/* the segment's base (when bad_in_file) */
	bool bad_in_file;
	const char *bad_reason;
	/* Bytes that could be read from neither the files nor the ring
	 * (retention took them, or an ephemeral ring was overwritten). */
	uint64_t lost_bytes;

	/* Where ctl_log_idle_or_report() last saw the log sit still, and
	 * since when (CLOCK_MONOTONIC s; 0: not stalled). */
	uint64_t stalled_pos;
	double stalled_since;
};

/*
 * Attach to topic @name for reading, after ctl_check_data_dir_or_report()
 * and the name's check. With @ring_optional, a persistent topic whose ring
 * is absent is opened on its files alone. Reports every error itself;
 * returns an exit code.
 */
int ctl_log_open_or_report(const struct ctl *ctl, const char *name, bool ring_optional,
			   struct ctl_log *log);
void ctl_log_close(struct ctl_log *log);

/* The oldest position on disk or in the ring (the topic's earliest
 * record), and the end of the log: the ring's tail, or without a ring the
 * end of the valid records of the last segment. */
int ctl_log_bounds(struct ctl_log *log, uint64_t *ret_earliest, uint64_t *ret_end);

/* Go to @pos, a record boundary in [earliest, end]. 0 or -errno (checked
 * lazily: a position inside a record shows up as -EBADMSG on the next
 * read). */
int ctl_log_seek(struct ctl_log *log, uint64_t pos);

/*
 * The next committed record (padding is passed over), waiting at most
 * @timeout_ns for one in the ring. @rec->payload is valid until the next
 * call. Returns 1, 0 when there is nothing more (yet), or -errno:
 * -EBADMSG (damage: bad_* say where and why), -ERANGE (the position is
 * past the end of the log), ...
 */
int ctl_log_next(struct ctl_log *log, struct ring_record *rec, int64_t timeout_ns);

/*
 * For a loop that reads with ctl_log_next() up to some end: what to do
 * after it returned @rc other than 1, having been called at position @pos.
 * CTL_CONTINUE: read again (nothing yet, or the log moved past lost
 * bytes). CTL_EXIT_OK: the log ends here (no ring: the files are all).
 * Otherwise the exit code of the one error line printed: damage, a
 * reader sitting inside a record, or a claim below the tail that is still
 * not committed (or repaired) a few seconds past the topic's claim
 * timeout. @from, if not NULL, is the position the user asked to start
 * at: damage or a stall there is reported as "not a record boundary".
 */
int ctl_log_idle_or_report(struct ctl_log *log, int rc, uint64_t pos, const uint64_t *from);

/* Whether a ring reader that finds nothing to read at @pos sits inside a
 * record rather than before a claim not committed yet: everything below
 * the frontier is committed or padding. False without a ring. */
bool ctl_log_inside_record(const struct ctl_log *log, uint64_t pos);

/* The first committed record at or after CLOCK_REALTIME @ts_ns, or the
 * end of the log if none is that late. */
int ctl_log_position_for_time(struct ctl_log *log, uint64_t ts_ns, uint64_t *ret_pos);

/* Report the last -EBADMSG of ctl_log_next() as one error line naming
 * the segment file and the position; returns the exit code. */
int ctl_log_report_damage(const struct ctl_log *log);

/* "2024-05-01T12:34:56[.123456789][Z|+02:00]" (no zone: local time), or
 * "@SECONDS[.frac]" since the epoch, as CLOCK_REALTIME ns. 0 or -EINVAL. */
int ctl_parse_datetime(const char *s, uint64_t *ret_ns);

#endif /* RINGCTL_LOGREAD_H */
