/* SPDX-License-Identifier: MIT */
/*
 * bench_seglog.c - the disk floor under ringd: sequential writes of
 * 1 MiB batches through io_uring, O_DIRECT against buffered, measured two
 * ways:
 *   raw     one pre-filled aligned buffer written again and again at
 *           growing offsets (daemon/uring.c only): what the disk and the
 *           kernel give;
 *   seglog  ring-like records (1 KiB payloads) through seglog_append(),
 *           seglog_flush() and seglog_sync(): the copy, the validation,
 *           the CRC32C and the segment rolls on top.
 * Each runs with an fdatasync after every batch (what RING_FSYNC_ALWAYS
 * costs) and with one fdatasync at the end (the time until all of it is
 * durable). Files go to --dir (default /tmp) and are removed afterwards.
 *
 *   bench_seglog [--dir D] [--total-mib N] [--batch-kib K] [--record-bytes R]
 *
 * Prints one line per run; exits 0, or 1 on an error (with its errno).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "seglog.h"
#include "segment_writer.h"
#include "t_seg.h"
#include "uring.h"

struct opts {
	const char *dir;
	uint64_t total_bytes;
	size_t batch_bytes;
	uint32_t record_bytes;
};

struct result {
	double seconds;
	double batch_us_max;
	bool direct;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_raw(const struct opts *o, bool direct, bool sync_each, struct result *ret)
{
	char path[512];
	struct uring *u = NULL;
	uint8_t *buf = NULL;
	double t0, tb, worst = 0;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/bench-raw-%d", o->dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0), 0600);
	if (fd < 0)
		return -errno;
	rc = uring_open(&u);
	if (rc < 0)
		goto out;
	if (posix_memalign((void **)&buf, 4096, o->batch_bytes) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < o->batch_bytes; i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	(void)fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)o->total_bytes);
	t0 = now_s();
	for (uint64_t off = 0; off < o->total_bytes; off += o->batch_bytes) {
		tb = now_s();
		rc = uring_write_all(u, fd, buf, o->batch_bytes, off, -1);
		if (rc == 0 && sync_each)
			rc = uring_sync(u, fd, true);
		if (rc < 0)
			goto out;
		if (now_s() - tb > worst)
			worst = now_s() - tb;
	}
	rc = uring_sync(u, fd, true);
	if (rc < 0)
		goto out;
	ret->seconds = now_s() - t0;
	ret->batch_us_max = worst * 1e6;
	ret->direct = direct;
out:
	free(buf);
	uring_close(u);
	(void)close(fd);
	(void)unlink(path);
	return rc;
}

/* One batch of ring-like records: committed, 1 KiB payloads. */
static size_t make_batch(uint8_t *buf, size_t cap, uint64_t pos, uint32_t payload, uint64_t *ts)
{
	uint64_t span = ring_record_span(payload);
	size_t off = 0;

	while (off + span <= cap) {
		uint64_t w = ring_word_make(RING_STATE_COMMITTED, 1,
					    ring_lap_of(pos + off, 22), payload);

		memcpy(buf + off, &w, 8);
		++*ts;
		memcpy(buf + off + 8, ts, 8);
		off += (size_t)span;
	}
	return off;
}

static int bench_seglog(const struct opts *o, bool direct, bool sync_each, struct result *ret)
{
	struct ring_topic_config cfg;
	struct seglog_options so = { .direct_io = direct };
	struct seglog_recovery rec;
	struct seglog *log = NULL;
	char dir[256];
	uint8_t *buf = malloc(o->batch_bytes);
	uint64_t pos = 0, ts = 1, done;
	double t0, tb, worst = 0;
	int rc;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < o->batch_bytes; i++)
		buf[i] = (uint8_t)(i * 131 + 1);
	rc = tseg_tmpdir(o->dir, dir, sizeof(dir));
	if (rc < 0) {
		free(buf);
		return rc;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity_bytes = UINT64_C(16) << 20;	/* max record 4 MiB - 24 */
	cfg.segment_bytes = UINT64_C(64) << 20;
	rc = seglog_open(dir, &cfg, &so, &log, &rec);
	if (rc < 0)
		goto out;
	t0 = now_s();
	while (pos < o->total_bytes) {
		size_t n = make_batch(buf, o->batch_bytes, pos, o->record_bytes, &ts), off = 0;

		tb = now_s();
		/* Bounded: staging holds at least one batch; at most one
		 * flush per buffer. */
		for (unsigned i = 0; off < n && i < 16; i++) {
			int64_t r = seglog_append(log, pos, buf + off, n - off);

			if (r < 0) {
				rc = (int)r;
				goto out;
			}
			if (r == 0) {
				rc = seglog_flush(log, &done);
				if (rc < 0)
					goto out;
			}
			off += (size_t)r;
			pos += (uint64_t)r;
		}
		rc = seglog_flush(log, &done);
		if (rc == 0 && sync_each)
			rc = seglog_sync(log, &done);
		if (rc < 0)
			goto out;
		if (now_s() - tb > worst)
			worst = now_s() - tb;
	}
	rc = seglog_sync(log, &done);
	if (rc < 0)
		goto out;
	ret->seconds = now_s() - t0;
	ret->batch_us_max = worst * 1e6;
	ret->direct = seglog_direct_io(log);
out:
	seglog_close(log);
	tseg_rmdir(dir);
	free(buf);
	return rc;
}

static int parse(int argc, char **argv, struct opts *o)
{
	o->dir = "/tmp";
	o->total_bytes = UINT64_C(256) << 20;
	o->batch_bytes = 1u << 20;
	o->record_bytes = 1024;
	for (int i = 1; i + 1 < argc; i += 2) {
		unsigned long long v = strtoull(argv[i + 1], NULL, 10);

		if (!strcmp(argv[i], "--dir"))
			o->dir = argv[i + 1];
		else if (!strcmp(argv[i], "--total-mib") && v)
			o->total_bytes = (uint64_t)v << 20;
		else if (!strcmp(argv[i], "--batch-kib") && v && v % 4 == 0)
			o->batch_bytes = (size_t)v << 10;
		else if (!strcmp(argv[i], "--record-bytes") && v && v < (1u << 20))
			o->record_bytes = (uint32_t)v;
		else
			return -EINVAL;
	}
	return argc % 2 ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct opts o;
	int failed = 0;

	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: %s [--dir D] [--total-mib N] [--batch-kib K] "
				"[--record-bytes R]\n",
			argv[0]);
		return 1;
	}
	printf("# %llu MiB in %zu KiB batches under %s\n",
	       (unsigned long long)(o.total_bytes >> 20), o.batch_bytes >> 10, o.dir);
	for (int path = 0; path < 2; path++) {
		for (int sync_each = 1; sync_each >= 0; sync_each--) {
			for (int direct = 1; direct >= 0; direct--) {
				struct result r = { 0 };
				int rc = path ? bench_seglog(&o, direct, sync_each, &r)
					      : bench_raw(&o, direct, sync_each, &r);

				if (rc < 0) {
					fprintf(stderr, "%s %s: %s\n", path ? "seglog" : "raw",
						direct ? "direct" : "buffered", strerror(-rc));
					failed = 1;
					continue;
				}
				printf("%-6s %-8s %-16s %8.0f MiB/s  %7.0f us/batch  max %7.0f us\n",
				       path ? "seglog" : "raw", r.direct ? "direct" : "buffered",
				       sync_each ? "fdatasync/batch" : "fdatasync/end",
				       (double)o.total_bytes / (1 << 20) / r.seconds,
				       r.seconds * 1e6 /
					       (double)(o.total_bytes / o.batch_bytes),
				       r.batch_us_max);
				fflush(stdout);
			}
		}
	}
	return failed;
}
