/* SPDX-License-Identifier: MIT */
/*
 * uring.c - the only user of liburing (see uring.h). A batch is submitted
 * in one system call. uring_run() reaps its completions before it returns;
 * uring_submit() leaves it in flight, one batch per slot, until
 * uring_reap() hands it back. Each completion is tagged with its slot and
 * index, so waiting for one batch files the completions of the others
 * where they belong. The kernel owns the caller's buffers in between.
 *
 * In builds with RINGD_IO_FAULT (tests), every write and sync first asks
 * io_fault.c, which may fail it without running it and records what runs
 * for its power-loss simulation.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io_fault.h"
#include "uring.h"

/* Submission retries on EINTR/EAGAIN/EBUSY before giving up. */
#define SUBMIT_TRIES 1000u
/* Resubmissions of the rest of a short write. */
#define SHORT_WRITE_TRIES 64u

/* uring_run()'s own slot, after the caller's. */
#define RUN_SLOT URING_SLOTS
#define ALL_SLOTS (URING_SLOTS + 1)

/* A batch submitted and not yet handed back: at most one per slot. */
struct batch {
	struct uring_io *ios;	/* the caller's, until handed back */
	unsigned n, submitted, reaped;
	bool active;
	bool ended;		/* the fault layer has been told the results */
	bool run[URING_MAX_BATCH];
#if RINGD_IO_FAULT
	void *token[URING_MAX_BATCH];
#endif
};

struct uring {
	struct io_uring ring;
	bool buffers;		/* buffers are registered */
	int broken;		/* sticky: SQEs may be stuck in the queue */
	struct batch b[ALL_SLOTS];
};

static bool batch_collect(struct uring *u, unsigned slot, bool wait);
static void batch_end(struct uring *u, unsigned slot);

int uring_open(struct uring **ret_uring)
{
	struct uring *u = calloc(1, sizeof(*u));
	int rc;

	if (!u)
		return -ENOMEM;
	rc = io_uring_queue_init(URING_MAX_BATCH, &u->ring, 0);
	if (rc < 0) {
		free(u);
		return rc;
	}
	*ret_uring = u;
	return 0;
}

void uring_close(struct uring *u)
{
	if (!u)
		return;
	/* The kernel must be done with the caller's buffers before they go. */
	for (unsigned slot = 0; slot < ALL_SLOTS; slot++) {
		if (u->b[slot].active) {
			(void)batch_collect(u, slot, true);
			batch_end(u, slot);
		}
	}
	io_uring_queue_exit(&u->ring);
	free(u);
}

int uring_register_buffers(struct uring *u, const struct iovec *iov, unsigned n)
{
	int rc;

	uring_unregister_buffers(u);
	rc = io_uring_register_buffers(&u->ring, iov, n);
	if (rc < 0)
		return rc;
	u->buffers = true;
	return 0;
}

void uring_unregister_buffers(struct uring *u)
{
	if (u->buffers) {
		(void)io_uring_unregister_buffers(&u->ring);
		u->buffers = false;
	}
}

#if RINGD_IO_FAULT
/* Ask the fault layer about @io before it runs: -errno to fail it. */
static int fault_begin(struct uring_io *io, void **ret_token)
{
	*ret_token = NULL;
	if (io->op == URING_OP_WRITEBACK)
		return 0;	/* changes no file and makes nothing durable */
	if (io->op == URING_OP_WRITE)
		return io_fault_write_begin(io->fd, io->buf, io->len, io->off, ret_token);
	return io_fault_sync_begin(io->fd);
}

static void fault_end(struct uring_io *io, void *token)
{
	if (io->op == URING_OP_WRITE)
		io_fault_write_end(token, io->res);
	else if (io->op != URING_OP_WRITEBACK)
		io_fault_sync_end(io->fd, io->res);
}
#endif

static void prep(struct io_uring_sqe *sqe, const struct uring_io *io, bool fixed)
{
	switch (io->op) {
	case URING_OP_WRITE:
		if (fixed)
			io_uring_prep_write_fixed(sqe, io->fd, io->buf, io->len, io->off,
						  io->buf_index);
		else
			io_uring_prep_write(sqe, io->fd, io->buf, io->len, io->off);
		break;
	case URING_OP_FDATASYNC:
		io_uring_prep_fsync(sqe, io->fd, IORING_FSYNC_DATASYNC);
		break;
	case URING_OP_FSYNC:
		io_uring_prep_fsync(sqe, io->fd, 0);
		break;
	case URING_OP_WRITEBACK:
		io_uring_prep_sync_file_range(sqe, io->fd, io->len, io->off,
					      SYNC_FILE_RANGE_WRITE);
		break;
	}
}

static void fail_all(struct uring_io *ios, unsigned n, int rc)
{
	for (unsigned i = 0; i < n; i++)
		ios[i].res = rc;
}

/*
 * Queue and submit @n I/Os as the batch of @slot. The fault layer decides
 * first which run; the rest get their result at once.
 */
static void batch_start(struct uring *u, unsigned slot, struct uring_io *ios, unsigned n)
{
	struct batch *b = &u->b[slot];
	unsigned queued = 0, tries = 0, i;
	int rc;

	*b = (struct batch){ .ios = ios, .n = n };
	/* Decide what runs: an injected failure fails its I/O and cancels
	 * the rest of its link chain, as the kernel would. */
	for (i = 0; i < n; i++) {
		bool cancel = i > 0 && ios[i - 1].link && (!b->run[i - 1] || ios[i - 1].res < 0);

		b->run[i] = false;
		ios[i].res = 0;
		if (cancel) {
			ios[i].res = -ECANCELED;
			continue;
		}
#if RINGD_IO_FAULT
		rc = fault_begin(&ios[i], &b->token[i]);
		if (rc < 0) {
			ios[i].res = rc;
			continue;
		}
#endif
		b->run[i] = true;
	}

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe;

		if (!b->run[i])
			continue;
		sqe = io_uring_get_sqe(&u->ring);
		/* The queue is empty between calls (everything queued is
		 * submitted, or the ring is broken) and n <= its size. */
		RING_VERIFY(sqe != NULL);
		prep(sqe, &ios[i], u->buffers && ios[i].buf_index >= 0);
		/* Link only to an I/O that runs: a chain cut by an injected
		 * failure must not swallow the next chain's first I/O. */
		if (ios[i].link && i + 1 < n && b->run[i + 1])
			io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
		io_uring_sqe_set_data64(sqe, (uint64_t)slot << 32 | i);
		queued++;
	}

	while (b->submitted < queued) {
		rc = io_uring_submit(&u->ring);
		if (rc > 0) {
			b->submitted += (unsigned)rc;
			continue;
		}
		if ((rc == -EINTR || rc == -EAGAIN || rc == -EBUSY || rc == 0) &&
		    ++tries < SUBMIT_TRIES)
			continue;
		/* Unsubmitted SQEs would go out with the next batch: refuse
		 * every later batch instead. */
		u->broken = rc < 0 ? rc : -EIO;
		break;
	}
	b->active = true;
}

/*
 * Take completions until @slot's batch has all of its own: waiting for
 * them (@wait), or only those already there. A completion of another
 * slot's batch goes to that batch. true once @slot's batch is complete.
 */
static bool batch_collect(struct uring *u, unsigned slot, bool wait)
{
	struct batch *b = &u->b[slot];

	while (b->reaped < b->submitted && !u->broken) {
		struct io_uring_cqe *cqe;
		struct batch *o;
		uint64_t tag;
		unsigned i;
		int rc = wait ? io_uring_wait_cqe(&u->ring, &cqe) : io_uring_peek_cqe(&u->ring, &cqe);

		if (rc == -EAGAIN && !wait)
			return false;
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			u->broken = rc;
			break;
		}
		tag = io_uring_cqe_get_data64(cqe);
		i = (unsigned)tag;
		if (tag >> 32 < ALL_SLOTS) {
			o = &u->b[tag >> 32];
			if (o->active && i < o->n) {
				o->ios[i].res = cqe->res;
				o->reaped++;
			}
		}
		io_uring_cqe_seen(&u->ring, cqe);
	}
	return true;
}

/* Every completion of @slot's batch is in: tell the fault layer. */
static void batch_end(struct uring *u, unsigned slot)
{
#if RINGD_IO_FAULT
	struct batch *b = &u->b[slot];

	if (b->ended)
		return;
	for (unsigned i = 0; i < b->n; i++) {
		if (b->run[i])
			fault_end(&b->ios[i], b->token[i]);
	}
	b->ended = true;
#else
	(void)u;
	(void)slot;
#endif
}

/* @slot's batch is complete: hand it back. */
static int batch_finish(struct uring *u, unsigned slot)
{
	struct batch *b = &u->b[slot];

	batch_end(u, slot);
	b->active = false;
	if (u->broken) {
		fail_all(b->ios, b->n, u->broken);
		return u->broken;
	}
	return 0;
}

/* What every batch must be; sets the results when it is not. */
static int batch_check(struct uring *u, unsigned slot, struct uring_io *ios, unsigned n)
{
	if (n > URING_MAX_BATCH || !ios || slot >= ALL_SLOTS) {
		if (ios)
			fail_all(ios, n > URING_MAX_BATCH ? URING_MAX_BATCH : n, -EINVAL);
		return -EINVAL;
	}
	if (u->b[slot].active) {
		fail_all(ios, n, -EBUSY);
		return -EBUSY;
	}
	if (u->broken) {
		fail_all(ios, n, u->broken);
		return u->broken;
	}
	return 0;
}

int uring_run(struct uring *u, struct uring_io *ios, unsigned n)
{
	int rc;

	if (n == 0)
		return 0;
	rc = batch_check(u, RUN_SLOT, ios, n);
	if (rc < 0)
		return rc;
	batch_start(u, RUN_SLOT, ios, n);
	(void)batch_collect(u, RUN_SLOT, true);
	return batch_finish(u, RUN_SLOT);
}

int uring_submit(struct uring *u, unsigned slot, struct uring_io *ios, unsigned n)
{
	int rc;

	if (n == 0)
		return 0;
	if (slot >= URING_SLOTS) {
		fail_all(ios, n > URING_MAX_BATCH ? URING_MAX_BATCH : n, -EINVAL);
		return -EINVAL;
	}
	rc = batch_check(u, slot, ios, n);
	if (rc < 0)
		return rc;
	batch_start(u, slot, ios, n);
#if RINGD_IO_FAULT
	/* The fault layer keeps one process-wide record of the writes
	 * between their _begin and _end, which a sync or a simulated power
	 * loss must not see half done: with it compiled in, the batch
	 * completes here, and uring_reap() only hands it back. */
	(void)batch_collect(u, slot, true);
	batch_end(u, slot);
#endif
	return 0;
}

int uring_reap(struct uring *u, unsigned slot, bool wait)
{
	if (slot >= URING_SLOTS || !u->b[slot].active)
		return 0;
	if (!batch_collect(u, slot, wait))
		return -EAGAIN;
	return batch_finish(u, slot);
}

bool uring_busy(const struct uring *u, unsigned slot)
{
	return slot < URING_SLOTS && u->b[slot].active;
}

int uring_write_all(struct uring *u, int fd, const void *buf, size_t len, uint64_t off,
		    int buf_index)
{
	size_t done = 0;

	for (unsigned tries = 0; done < len; tries++) {
		size_t chunk = len - done;
		struct uring_io io = {
			.op = URING_OP_WRITE,
			.fd = fd,
			.buf = (const uint8_t *)buf + done,
			.len = chunk > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)chunk,
			.off = off + done,
			.buf_index = buf_index,
		};
		int rc;

		if (tries >= SHORT_WRITE_TRIES)
			return -EIO;
		rc = uring_run(u, &io, 1);
		if (rc < 0)
			return rc;
		if (io.res < 0)
			return io.res;
		if (io.res == 0)
			return -EIO;	/* no progress and no error: give up, don't spin */
		done += (size_t)io.res;
	}
	return 0;
}

int uring_sync(struct uring *u, int fd, bool datasync)
{
	struct uring_io io = {
		.op = datasync ? URING_OP_FDATASYNC : URING_OP_FSYNC,
		.fd = fd,
		.buf_index = -1,
	};
	int rc = uring_run(u, &io, 1);

	return rc < 0 ? rc : io.res;
}

int uring_write_sync(struct uring *u, int fd, const void *buf, size_t len, uint64_t off)
{
	struct uring_io io[2] = {
		{
			.op = URING_OP_WRITE,
			.fd = fd,
			.buf = buf,
			.len = (uint32_t)len,
			.off = off,
			.buf_index = -1,
			.link = true,
		},
		{
			.op = URING_OP_FDATASYNC,
			.fd = fd,
			.buf_index = -1,
		},
	};
	int rc;

	if (len > UINT32_MAX / 2)
		return -EINVAL;
	rc = uring_run(u, io, 2);
	if (rc < 0)
		return rc;
	if (io[0].res < 0)
		return io[0].res;
	if ((size_t)io[0].res != len) {
		/* A short write cancelled the sync: finish both the slow way. */
		rc = uring_write_all(u, fd, (const uint8_t *)buf + io[0].res,
				     len - (size_t)io[0].res, off + (uint64_t)io[0].res, -1);
		return rc < 0 ? rc : uring_sync(u, fd, true);
	}
	return io[1].res;
}
