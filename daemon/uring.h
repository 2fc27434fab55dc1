/* SPDX-License-Identifier: MIT */
/*
 * uring.h - ringd's file I/O: batches of writes and fsyncs submitted to an
 * io_uring and waited for together. uring.c is the only includer of
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
 */
int uring_run(struct uring *u, struct uring_io *ios, unsigned n);

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
