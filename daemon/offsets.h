/* SPDX-License-Identifier: MIT */
/*
 * offsets.h - a topic's consumer group offsets log: DATA_DIR/<topic>/
 * offsets.log, append-only and checksummed, so that groups resume from
 * their committed position after a reboot (when the shared memory, which
 * holds them while the host is up, is gone).
 *
 * ringd appends an entry whenever a group's committed position changed,
 * syncs the file with the same group commit as the data, replays it at
 * start (a torn tail is dropped), and compacts it when it grows. A
 * replayed position is never past the log's end: offsets never point past
 * durable data.
 */
#ifndef RINGD_OFFSETS_H
#define RINGD_OFFSETS_H

#include <stdint.h>

#include "internal.h"

struct offsets;

/*
 * Open DIR/offsets.log and replay it. If @restore, the groups it names are
 * created in @ring's group table at their last committed position, capped
 * at @log_end (the ring was recreated after a reboot); otherwise the ring's
 * own table (which survived, and is newer) is kept.
 *
 * @return 0, or -errno. A torn or corrupt tail is truncated and logged.
 */
int offsets_open(const char *dir, struct ring_topic *ring, int restore, uint64_t log_end,
		 struct offsets **ret);

/* Append an entry for every group whose committed position changed
 * (raising shared groups' watermarks first). Buffered; returns the number
 * of entries written or -errno. */
int offsets_collect(struct offsets *o, struct ring_topic *ring);

/* fdatasync the log if anything was appended since the last sync. */
int offsets_sync(struct offsets *o);

void offsets_close(struct offsets *o);

#endif /* RINGD_OFFSETS_H */
