/* SPDX-License-Identifier: MIT */
/*
 * uring.h - ringd's file I/O: batches of writes and fsyncs submitted to an
 * io_uring and waited for together, either at once (uring_run()) or later
 * (uring_submit(), then uring_reap()), so that the caller can work while
 * the kernel writes. uring.c is the only includer of
 * <liburing.h>, which makes it the seam where the test-only fault layer
 * (io_fault.h) replaces results.
 *
 * One struct uring belongs to one thread. Every result is a byte count or
 * a negative errno; nothing here logs.
 */
#ifndef RINGD_URING_H
#define RINGD_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct uring;

/* The most I/Os one uring_run() takes: the submission queue's size. */
#define URING_MAX_BATCH 32u

enum uring_op {
	URING_OP_WRITE = 0,	/* pwrite(fd, buf, len, off) */
	URING_OP_FDATASYNC,	/* fdatasync(fd) */
	URING_OP_FSYNC,		/* fsync(fd): also for directories */
	URING_OP_WRITEBACK,	/* sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE):
				   start writing dirty pages back, wait for nothing;
				   makes nothing durable, so the fault layer
				   neither fails nor records it */
};

/* One I/O of a batch. */
struct uring_io {
	enum uring_op op;
	int fd;
	const void *buf;	/* URING_OP_WRITE */
	uint32_t len;
	uint64_t off;
	int buf_index;		/* >= 0: a registered buffer holding buf (write_fixed) */
	bool link;		/* run the next I/O only if this one succeeds in full */
	int res;		/* out: bytes written, 0 for a sync, or -errno;
				   -ECANCELED if a linked predecessor failed */
};

/*
 * Set up a ring of URING_MAX_BATCH entries.
 *
 * @return 0, or -errno from io_uring_queue_init() (-ENOSYS or -EPERM where
 *         io_uring is unavailable or forbidden, -ENOMEM).
 */
int uring_open(struct uring **ret_uring);
/* Waits for batches still in flight first, then frees everything. */
void uring_close(struct uring *u);

/*
 * Register @n buffers for write_fixed (pinned once instead of on every
 * write). Replaces any earlier registration.
 *
 * @return 0, or -errno (-ENOMEM or -EPERM over RLIMIT_MEMLOCK): the caller
 *         then writes with buf_index -1, which works the same, slower.
 */
int uring_register_buffers(struct uring *u, const struct iovec *iov, unsigned n);
void uring_unregister_buffers(struct uring *u);

/*
 * Submit @n (<= URING_MAX_BATCH) I/Os at once and wait until all have
 * completed; each one's result is in its `res`. Linked I/Os run in order;
 * unlinked ones in any order.
 *
 * @return 0 once every I/O has a result (which may be an error), or -errno
 *         if the batch could not be submitted or waited for (-EINVAL for
 *         a bad batch); the `res` fields are then all set to that error.
 *         Batches of uring_submit() in flight meanwhile are unaffected.
 */
int uring_run(struct uring *u, struct uring_io *ios, unsigned n);

/* Batches that can be in flight at once beside uring_run()'s: one per
 * slot, 0 .. URING_SLOTS - 1 (ringd: writes, a sync, a writeback hint). */
#define URING_SLOTS 3u

/*
 * Submit @n (<= URING_MAX_BATCH) I/Os like uring_run() but return without
 * waiting: the batch is then in flight in @slot, and @ios and every buffer
 * it names belong to the kernel until uring_reap() has handed it back.
 * Batches of different slots (and uring_run()'s, which waits only for its
 * own) run side by side, in any order; the caller orders what must be
 * ordered by waiting. In builds with the fault layer (RINGD_IO_FAULT) the
 * batch completes inside this call, because the fault layer's record of
 * writes must not see one half done; uring_reap() then only hands it back.
 *
 * @return 0 (the batch is in flight; its results come with uring_reap()),
 *         or -errno as for uring_run() (-EBUSY: @slot has a batch in
 *         flight; -EINVAL: bad slot or batch), with nothing in flight.
 */
int uring_submit(struct uring *u, unsigned slot, struct uring_io *ios, unsigned n);

/*
 * Hand back @slot's batch once every I/O of it has completed: waiting for
 * that if @wait, else only looking.
 *
 * @return 0 when the batch is complete, with each result in its `res`
 *         (also when nothing was in flight); -EAGAIN if !@wait and it is
 *         not complete yet (still in flight); or -errno if the completions
 *         could not be waited for (every `res` is then set to it, and the
 *         ring refuses every later batch).
 */
int uring_reap(struct uring *u, unsigned slot, bool wait);

/* true while @slot's batch from uring_submit() has not been handed back. */
bool uring_busy(const struct uring *u, unsigned slot);

/*
 * Write all of @len bytes at @off, resubmitting the rest after short
 * writes (at most 64 times, then -EIO). For O_DIRECT the remainder stays
 * aligned because short direct writes end on a block boundary.
 *
 * @return 0, or -errno (nothing is known about how much reached the file).
 */
int uring_write_all(struct uring *u, int fd, const void *buf, size_t len, uint64_t off,
		    int buf_index);

/* fdatasync (@datasync) or fsync @fd: 0 or -errno. */
int uring_sync(struct uring *u, int fd, bool datasync);

/* Write @len bytes at @off and fdatasync @fd, linked in one submission:
 * 0, or -errno of the first step that failed. */
int uring_write_sync(struct uring *u, int fd, const void *buf, size_t len, uint64_t off);

#endif /* RINGD_URING_H */
