/* SPDX-License-Identifier: MIT */
/*
 * io_fault.h - a test-only fault layer under uring.c, in the spirit of
 * SQLite's crash VFS (test6.c): fail the next writes or syncs with a
 * chosen errno, and simulate a power loss.
 *
 * For the power loss it records every write that has not been made
 * durable by a later fsync/fdatasync of the same file (before and after
 * images). io_fault_power_loss() then rolls the files on disk back to
 * their last synced state and replays, in order, what a disk could have
 * kept: each unsynced write whole, not at all, or torn (each 512-byte
 * sector kept or not). The process then reopens the files as after a
 * reboot.
 *
 * Compiled in when RINGD_IO_FAULT is 1: by default in builds with
 * -Dcrash_points=true, or with -DRINGD_IO_FAULT=1 (the storage tests).
 * Not thread-safe; one process-wide state, inert until armed.
 */
#ifndef RINGD_IO_FAULT_H
#define RINGD_IO_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring_config.h"

#ifndef RINGD_IO_FAULT
#define RINGD_IO_FAULT RING_CRASH_POINTS
#endif

#if RINGD_IO_FAULT

/* Forget every armed fault and every recorded write; stop recording. */
void io_fault_reset(void);

/* Fail @count writes with -@err after letting @skip writes through. */
void io_fault_fail_writes(int err, unsigned skip, unsigned count);
/* Fail @count syncs (fsync and fdatasync) with -@err after @skip. */
void io_fault_fail_syncs(int err, unsigned skip, unsigned count);

/* Start (or stop) recording unsynced writes for io_fault_power_loss().
 * At most IO_FAULT_MAX_BYTES of images are kept; a write past that
 * fails with -ENOMEM, so a test cannot silently lose track. */
#define IO_FAULT_MAX_BYTES (256u << 20)
void io_fault_track(bool on);
/* Writes recorded and not yet synced. */
unsigned io_fault_unsynced_writes(void);

enum io_fault_loss {
	IO_FAULT_KEEP_ALL,	/* every unsynced write reached the disk */
	IO_FAULT_DROP_ALL,	/* none did */
	IO_FAULT_RANDOM,	/* each whole, lost or torn, chosen by the seed */
};

/*
 * Simulate a power loss now: apply @mode to every recorded unsynced write,
 * on the files themselves, then forget them. Afterwards every write and
 * sync fails with -EIO (the machine is "off") until io_fault_reset().
 *
 * @return the number of writes that were not kept whole (>= 0), or -errno.
 */
int io_fault_power_loss(enum io_fault_loss mode, uint64_t seed);

/* Make opens with O_DIRECT fail with EINVAL, as on file systems without
 * it (tmpfs before Linux 6.6), to exercise the buffered fallback. */
void io_fault_refuse_direct(bool on);

/* ---- hooks for uring.c and segment_writer.c ---- */

/* True while io_fault_refuse_direct() is on. */
bool io_fault_direct_refused(void);


/* Before a write runs: 0 to let it run (*ret_token to pass to _end), or
 * the -errno to fail it with. */
int io_fault_write_begin(int fd, const void *buf, size_t len, uint64_t off, void **ret_token);
/* After it ran, with its result. */
void io_fault_write_end(void *token, int res);
int io_fault_sync_begin(int fd);
void io_fault_sync_end(int fd, int res);

#endif /* RINGD_IO_FAULT */

#endif /* RINGD_IO_FAULT_H */
