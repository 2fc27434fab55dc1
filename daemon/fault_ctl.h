/* SPDX-License-Identifier: MIT */
/*
 * fault_ctl.h - lets a test drive the io_fault layer (io_fault.h) of a
 * running ringd from outside, so that a disk-full episode or a power loss
 * can be exercised end to end, with real producer processes, on any file
 * system and without root (no tmpfs, no loop device, no LD_PRELOAD).
 *
 * Only in test builds (RINGD_IO_FAULT: `ringd-fault`, or ringd itself
 * with -Dcrash_points=true). The test sets RINGD_IO_FAULT_CTL=PATH in
 * ringd's environment and replaces PATH (write a temporary file, rename
 * it over PATH) with one command line:
 *
 *   fail-writes ERR     every write fails with ERR (ENOSPC, EIO or a number)
 *   fail-syncs ERR      every fsync/fdatasync fails with ERR
 *   heal                writes and syncs work again
 *   track               record unsynced writes for a later power loss
 *   power-loss MODE [SEED]
 *                       MODE drop, keep or random: roll the files back to
 *                       what was synced and replay unsynced writes by MODE,
 *                       then exit at once with FAULT_CTL_POWER_LOSS_EXIT,
 *                       as a machine that lost power (no drain, no sync)
 *
 * ringd notices a new file within a few milliseconds and logs
 * "io_fault: <command>: applied" (or why not), which the test waits for.
 * In a build without the layer, or without the variable, this is inert.
 */
#ifndef RINGD_FAULT_CTL_H
#define RINGD_FAULT_CTL_H

#include <stdint.h>

/* Exit status of a ringd after a simulated power loss. */
#define FAULT_CTL_POWER_LOSS_EXIT 86

/* Check for a new command (cheap: one stat() every 2 ms at most) and
 * apply it. Call from the thread that does the I/O. */
void fault_ctl_poll(uint64_t now_ns);

#endif /* RINGD_FAULT_CTL_H */
