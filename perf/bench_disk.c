/* SPDX-License-Identifier: MIT */
/*
 * bench_disk.c - the disk's own limit in a data directory, measured the
 * way ringd uses the disk, so that persist and durable figures can be read
 * as ratios to it:
 *
 *   direct    1 MiB O_DIRECT writes at growing offsets through io_uring,
 *             one in flight (ringd's drain writes one batch and waits),
 *             then one fdatasync; bytes / (writes + sync).
 *   buffered  the same without O_DIRECT: the page cache takes the writes
 *             and the final fdatasync pays for them, so the figure is the
 *             disk's, not memcpy's (the total is capped so the sync ends).
 *   fdatasync a 4 KiB buffered append followed by fdatasync, as a durable
 *             wait with the `always` policy costs under ringd's default
 *             (buffered writes): the fdatasync alone and the pair are
 *             timed. Then the same with O_DIRECT appends, whose fdatasync
 *             finds the data already written (direct_fdatasync_*).
 *
 * Files are preallocated with FALLOC_FL_KEEP_SIZE as ringd's segments are,
 * so appends change the file size and fdatasync commits that, as it does
 * under ringd. liburing is used directly (the daemon's uring.c carries the
 * fault-injection seam, which a benchmark does not want).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"

#define DISK_BLOCK_BYTES (UINT64_C(1) << 20)
#define DISK_SYNC_BYTES 4096u
#define DISK_MAX_FILE_BYTES (UINT64_C(1) << 30)	/* per bandwidth run */
#define DISK_MAX_SYNCS 100000u

struct disk_io {
	struct io_uring ring;
	bool ready;
};

/* Submit one write or fdatasync and wait for it: bytes, 0 or -errno. */
static int disk_run(struct disk_io *io, int fd, const void *buf, unsigned len, uint64_t off,
		    bool sync)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	struct io_uring_cqe *cqe;
	int rc;

	if (!sqe)
		return -EBUSY;
	if (sync)
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	else
		io_uring_prep_write(sqe, fd, buf, len, off);
	rc = io_uring_submit_and_wait(&io->ring, 1);
	if (rc < 0)
		return rc;
	rc = io_uring_wait_cqe(&io->ring, &cqe);
	if (rc < 0)
		return rc;
	rc = cqe->res;
	io_uring_cqe_seen(&io->ring, cqe);
	return rc;
}

/* Write all of @len at @off (short writes resubmitted, bounded). */
static int disk_write(struct disk_io *io, int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
	for (unsigned tries = 0; len > 0 && tries < 64; tries++) {
		int rc = disk_run(io, fd, buf, (unsigned)len, off, false);

		if (rc < 0)
			return rc;
		if (rc == 0)
			return -EIO;
		buf += rc;
		off += (uint64_t)rc;
		len -= (uint64_t)rc;
	}
	return len ? -EIO : 0;
}

static int disk_open(const char *dir, const char *what, bool direct, char *path, size_t len)
{
	int fd;

	(void)snprintf(path, len, "%s/ring-bench-%s-%d", dir, what, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0), 0600);
	if (fd < 0)
		return -errno;
	return fd;
}

/* Sequential 1 MiB writes for @seconds (or DISK_MAX_FILE_BYTES), then one
 * fdatasync. Bytes per second, with the bytes in *ret_bytes, or -errno;
 * -EINVAL if the file system refuses O_DIRECT. */
static double disk_bandwidth(struct disk_io *io, const char *dir, bool direct, double seconds,
			     const uint8_t *buf, uint64_t *ret_bytes, int *ret_rc)
{
	char path[4200];
	uint64_t off = 0, t0, deadline, t1;
	int fd, rc = 0;

	fd = disk_open(dir, direct ? "direct" : "buffered", direct, path, sizeof(path));
	if (fd < 0) {
		*ret_rc = fd;
		return -1;
	}
	(void)fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)DISK_MAX_FILE_BYTES);
	t0 = bench_mono_ns();
	deadline = t0 + (uint64_t)(seconds * 1e9);
	/* Bounded by the deadline and by the file size cap. */
	while (off < DISK_MAX_FILE_BYTES && bench_mono_ns() < deadline) {
		rc = disk_write(io, fd, buf, DISK_BLOCK_BYTES, off);
		if (rc < 0)
			break;
		off += DISK_BLOCK_BYTES;
	}
	if (rc == 0)
		rc = disk_run(io, fd, NULL, 0, 0, true);
	t1 = bench_mono_ns();
	(void)close(fd);
	(void)unlink(path);
	*ret_rc = rc < 0 ? rc : 0;
	*ret_bytes = off;
	if (rc < 0 || t1 <= t0)
		return -1;
	return (double)off * 1e9 / (double)(t1 - t0);
}

/* What disk_sync_latency() measured. */
struct sync_figures {
	uint64_t samples, p50_ns, p99_ns, max_ns, pair_p50_ns, pair_p99_ns;
};

/* 4 KiB appends each followed by fdatasync, for @seconds and at least
 * @min_syncs times (bounded by DISK_MAX_SYNCS and a 30 s cap); O_DIRECT
 * appends if @direct (-EINVAL if the file system refuses them). */
static int disk_sync_latency(struct disk_io *io, const char *dir, double seconds,
			     unsigned min_syncs, const uint8_t *buf, bool direct,
			     struct sync_figures *ret)
{
	struct bench_hist *sync_h = malloc(sizeof(*sync_h)), *pair_h = malloc(sizeof(*pair_h));
	char path[4200];
	uint64_t t0 = bench_mono_ns(), deadline = t0 + (uint64_t)(seconds * 1e9);
	uint64_t cap = t0 + UINT64_C(30000000000), off = 0;
	int fd, rc = 0;

	if (!sync_h || !pair_h) {
		free(sync_h);
		free(pair_h);
		return -ENOMEM;
	}
	hist_init(sync_h);
	hist_init(pair_h);
	fd = disk_open(dir, direct ? "sync-direct" : "sync", direct, path, sizeof(path));
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	(void)fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)DISK_SYNC_BYTES * DISK_MAX_SYNCS);
	for (unsigned i = 0; i < DISK_MAX_SYNCS; i++) {
		uint64_t a, b, c;

		a = bench_mono_ns();
		if ((a >= deadline && i >= min_syncs) || a >= cap)
			break;
		rc = disk_write(io, fd, buf, DISK_SYNC_BYTES, off);
		if (rc < 0)
			break;
		b = bench_mono_ns();
		rc = disk_run(io, fd, NULL, 0, 0, true);
		if (rc < 0)
			break;
		c = bench_mono_ns();
		off += DISK_SYNC_BYTES;
		hist_record(sync_h, c - b);
		hist_record(pair_h, c - a);
	}
	(void)close(fd);
	(void)unlink(path);
	if (rc < 0)
		goto out;
	*ret = (struct sync_figures){
		.samples = sync_h->count,
		.p50_ns = hist_percentile(sync_h, 50),
		.p99_ns = hist_percentile(sync_h, 99),
		.max_ns = sync_h->max,
		.pair_p50_ns = hist_percentile(pair_h, 50),
		.pair_p99_ns = hist_percentile(pair_h, 99),
	};
out:
	free(sync_h);
	free(pair_h);
	return rc;
}

int bench_disk_measure(const char *dir, double seconds, unsigned min_syncs,
		       struct disk_result *ret_disk)
{
	struct disk_result d = { .direct_bytes_per_sec = -1, .buffered_bytes_per_sec = -1 };
	struct disk_io io = { 0 };
	uint8_t *buf = NULL;
	int rc;

	rc = io_uring_queue_init(4, &io.ring, 0);
	if (rc < 0) {
		bench_err("disk: io_uring_queue_init: %s", strerror(-rc));
		return rc;
	}
	if (posix_memalign((void **)&buf, 4096, DISK_BLOCK_BYTES) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	/* Not zeros: a file system or device that compresses or dedups
	 * zero blocks would flatter the figure. */
	for (uint64_t i = 0; i < DISK_BLOCK_BYTES; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 12));

	d.direct_bytes_per_sec = disk_bandwidth(&io, dir, true, seconds * 0.4, buf,
						&d.direct_bytes, &rc);
	if (rc == -EINVAL) {
		/* No O_DIRECT here (tmpfs): a figure we cannot have. */
		d.direct_bytes_per_sec = -1;
		rc = 0;
	}
	if (rc < 0) {
		bench_err("disk: O_DIRECT writes in %s: %s", dir, strerror(-rc));
		goto out;
	}
	d.buffered_bytes_per_sec = disk_bandwidth(&io, dir, false, seconds * 0.4, buf,
						  &d.buffered_bytes, &rc);
	if (rc < 0) {
		bench_err("disk: buffered writes in %s: %s", dir, strerror(-rc));
		goto out;
	}
	{
		struct sync_figures f;

		/* Buffered appends first: ringd's default, so that is the
		 * fdatasync the durable figures are held against. */
		rc = disk_sync_latency(&io, dir, seconds * 0.12, min_syncs, buf, false, &f);
		if (rc < 0) {
			bench_err("disk: append + fdatasync in %s: %s", dir, strerror(-rc));
			goto out;
		}
		d.fdatasync_samples = f.samples;
		d.fdatasync_p50_ns = f.p50_ns;
		d.fdatasync_p99_ns = f.p99_ns;
		d.fdatasync_max_ns = f.max_ns;
		d.append_sync_p50_ns = f.pair_p50_ns;
		d.append_sync_p99_ns = f.pair_p99_ns;
		rc = disk_sync_latency(&io, dir, seconds * 0.08, min_syncs / 4 + 1, buf, true, &f);
		if (rc == -EINVAL) {
			rc = 0;		/* no O_DIRECT here: no figure */
		} else if (rc < 0) {
			bench_err("disk: O_DIRECT append + fdatasync in %s: %s", dir, strerror(-rc));
			goto out;
		} else {
			d.direct_fdatasync_p50_ns = f.p50_ns;
			d.direct_fdatasync_p99_ns = f.p99_ns;
			d.direct_append_sync_p50_ns = f.pair_p50_ns;
		}
	}
	*ret_disk = d;
out:
	free(buf);
	io_uring_queue_exit(&io.ring);
	return rc;
}

void bench_disk_report(struct bench_report *r, const struct disk_result *d)
{
	bench_report_extra(r, "direct_bytes_per_sec", d->direct_bytes_per_sec, 0);
	bench_report_extra(r, "buffered_bytes_per_sec", d->buffered_bytes_per_sec, 0);
	bench_report_extra(r, "fdatasync_p50_ns", (double)d->fdatasync_p50_ns, 0);
	bench_report_extra(r, "fdatasync_p99_ns", (double)d->fdatasync_p99_ns, 0);
	bench_report_extra(r, "fdatasync_max_ns", (double)d->fdatasync_max_ns, 0);
	bench_report_extra(r, "append_sync_p50_ns", (double)d->append_sync_p50_ns, 0);
	bench_report_extra(r, "append_sync_p99_ns", (double)d->append_sync_p99_ns, 0);
	bench_report_extra(r, "fdatasync_samples", (double)d->fdatasync_samples, 0);
	bench_report_extra(r, "direct_fdatasync_p50_ns",
			   d->direct_fdatasync_p50_ns ? (double)d->direct_fdatasync_p50_ns : -1, 0);
	bench_report_extra(r, "direct_fdatasync_p99_ns",
			   d->direct_fdatasync_p99_ns ? (double)d->direct_fdatasync_p99_ns : -1, 0);
	bench_report_extra(r, "direct_append_sync_p50_ns",
			   d->direct_append_sync_p50_ns ? (double)d->direct_append_sync_p50_ns : -1,
			   0);
}

int bench_disk_floor(const struct bench_opts *o, struct bench_report *ret_report)
{
	struct bench_report r;
	struct disk_result d;
	int rc;

	bench_report_init(&r, o, "disk-floor");
	(void)snprintf(r.mode, sizeof(r.mode), "disk");
	rc = bench_disk_measure(o->data_dir, o->seconds, 20, &d);
	if (rc < 0)
		return rc;
	bench_disk_report(&r, &d);
	r.bytes_per_sec = d.direct_bytes_per_sec > d.buffered_bytes_per_sec
				  ? d.direct_bytes_per_sec
				  : d.buffered_bytes_per_sec;
	(void)snprintf(r.notes, sizeof(r.notes),
		       "  in %s: %llu MiB O_DIRECT, %llu MiB buffered (1 MiB writes, one in "
		       "flight, fdatasync included);\n  fdatasync_*: %llu buffered appends of "
		       "4 KiB (as ringd writes by default), each followed by fdatasync;\n"
		       "  direct_fdatasync_*: the same with O_DIRECT appends (the data is on the "
		       "disk before the sync)\n",
		       o->data_dir, (unsigned long long)(d.direct_bytes >> 20),
		       (unsigned long long)(d.buffered_bytes >> 20),
		       (unsigned long long)d.fdatasync_samples);
	*ret_report = r;
	return 0;
}
