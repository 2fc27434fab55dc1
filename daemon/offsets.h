/* SPDX-License-Identifier: MIT */
/*
 * offsets.h - a topic's consumer group offsets log: DATA_DIR/<topic>/
 * offsets.log, append-only and checksummed, so that groups resume from
 * their committed position after a reboot (when the shared memory, which
 * holds them while the host is up, is gone).
 *
 * ringd appends an entry whenever a group's committed position changed,
 * and for a shared group also its next position and in-flight records
 * when they changed (at most every 10 ms), so that a reboot redelivers
 * only what was in flight. It syncs the file with the same group commit
 * as the data (and on the topic's fsync policy when only offsets
 * changed), replays it at start (a
 * torn or damaged tail is dropped), and compacts it when it grows. A
 * replayed position is never past the log's end: offsets never point past
 * durable data.
 *
 * Single-threaded: one ringd worker owns a topic's log.
 */
#ifndef RINGD_OFFSETS_H
#define RINGD_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

struct offsets;

/* Past this size the log is rewritten with one entry per group. */
#define OFFSETS_COMPACT_BYTES (UINT64_C(1) << 20)

/*
 * Open DIR/offsets.log and replay it. If @restore, the groups it names are
 * created in @ring's group table at their last committed position, capped
 * at @log_end (the ring was recreated after a reboot); a shared group also
 * gets its last logged next (capped likewise) and its in-flight records
 * below it, as deliveries of no member due at once, with their delivery
 * counts: records between the committed position and next that are not
 * among them were acked and are not delivered again. Otherwise the ring's
 * own table (which survived, and is newer) is kept, and whatever in it
 * differs from the log (commits made while no ringd ran) is appended by the
 * next offsets_collect().
 *
 * @return 0, or -errno. A torn or corrupt tail is truncated and logged.
 */
int offsets_open(const char *dir, struct ring_topic *ring, int restore, uint64_t log_end,
		 struct offsets **ret);

/* Append an entry for every group whose committed position differs from
 * the last one logged (raising shared groups' watermarks first), or, for
 * a shared group, whose next or in-flight records changed and were last
 * logged 10 ms ago or more (at once if next went back: a reset); then
 * compact if the log grew past OFFSETS_COMPACT_BYTES. Written, not
 * synced; returns the number of entries appended or -errno. */
int offsets_collect(struct offsets *o, struct ring_topic *ring);

/* As offsets_collect(), but every shared group's changed state is logged
 * now, however recently the last was: for ringd's last pass before it
 * stops, so that a reboot after a clean stop delivers again exactly what
 * was in flight. */
int offsets_collect_now(struct offsets *o, struct ring_topic *ring);

/* Is a sync of the log due on its own, with no data to sync? Appended
 * entries wait for the next data sync, but no longer than the topic's
 * fsync policy allows (always: at once; interval: fsync_interval_ns;
 * never: not at all, unless @final). NULL: false. */
bool offsets_sync_due(const struct offsets *o, const struct ring_topic_config *cfg, uint64_t now,
		      bool final);

/* fdatasync the log if anything was appended since the last sync. NULL:
 * nothing to do. */
int offsets_sync(struct offsets *o);

void offsets_close(struct offsets *o);

#endif /* RINGD_OFFSETS_H */
