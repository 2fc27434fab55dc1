/* SPDX-License-Identifier: MIT */
/*
 * Description: ringd's segment writer (daemon/segment_writer.c through
 * seglog.h) on real files under /tmp (ext4 here: O_DIRECT) and /dev/shm
 * (tmpfs: O_DIRECT refused, buffered fallback).
 * Positive space: synthetic ring bytes (committed records and skips, laps
 * changing) appended in random batches, flushed, synced and reopened read
 * back byte for byte, with each committed record's CRC32C filled in and
 * the end position right, in O_DIRECT and buffered mode; staging accepts
 * whole records only and says 0 when full; segments roll at
 * segment_bytes and follow each other exactly; retention deletes old
 * segments by size and by age and never the active one; the time index
 * finds the first record at or after a timestamp.
 * Negative space: a malformed record (bad state, too long, bad skip, cut
 * short) is refused with -EBADMSG after the valid prefix, and a position
 * other than the end with -EINVAL.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"
#include "io_fault.h"
#include "seglog.h"
#include "segment_format.h"
#include "segment_reader.h"
#include "segment_writer.h"
#include "t_seg.h"

#define BUF_BYTES (256u * 1024u)
#define MODEL_BYTES (16u << 20)

struct fixture {
	char dir[128];
	struct ring_topic_config cfg;
	struct seglog_options opt;
	struct seglog *log;
	struct tseg_gen gen;
	struct tseg_model model;
	uint64_t rng;
	uint8_t *buf;
};

static struct ring_topic_config config_make(uint64_t segment_bytes)
{
	struct ring_topic_config c;

	memset(&c, 0, sizeof(c));
	c.capacity_bytes = UINT64_C(1) << TSEG_CAP_SHIFT;	/* skips up to 16 KiB */
	c.max_record_bytes = TSEG_MAX_RECORD;
	c.segment_bytes = segment_bytes;
	return c;
}

static int setup_in(void **state, const char *parent, int direct)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || tseg_tmpdir(parent, f->dir, sizeof(f->dir)) < 0)
		return -1;
	f->cfg = config_make(UINT64_C(1) << 20);
	f->opt.direct_io = direct;
	f->opt.staging_bytes = 0;
	f->rng = 0x5eed;
	tseg_gen_init(&f->gen, 42);
	f->buf = malloc(BUF_BYTES);
	if (!f->buf || tseg_model_init(&f->model, 0, MODEL_BYTES) < 0)
		return -1;
	*state = f;
	return 0;
}

static int setup_direct(void **state)
{
	return setup_in(state, "/tmp", 1);
}

static int setup_buffered(void **state)
{
	return setup_in(state, "/tmp", 0);
}

static int setup_tmpfs(void **state)
{
	return setup_in(state, "/dev/shm", 1);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	seglog_close(f->log);
	tseg_rmdir(f->dir);
	tseg_model_free(&f->model);
	free(f->buf);
	free(f);
	return 0;
}

static void open_log(struct fixture *f, struct seglog_recovery *rec)
{
	struct seglog_recovery local;

	tseg_assert_rc(seglog_open(f->dir, &f->cfg, &f->opt, &f->log, rec ? rec : &local), 0);
}

static void close_log(struct fixture *f)
{
	seglog_close(f->log);
	f->log = NULL;
}

/* Append @n bytes of @buf (whole records) at the log's end, flushing
 * whenever staging is full; the model follows. */
static void append_all(struct fixture *f, const uint8_t *buf, size_t n)
{
	size_t off = 0;
	unsigned stalls = 0;

	while (off < n) {
		int64_t r = seglog_append(f->log, f->model.end, buf + off, n - off);
		uint64_t persisted;

		assert_true(r >= 0);
		if (r == 0) {
			assert_true(++stalls < 4);
			tseg_assert_rc(seglog_flush(f->log, &persisted), 0);
			assert_int_equal(persisted, f->model.end);
			continue;
		}
		stalls = 0;
		tseg_model_add(&f->model, buf + off, (size_t)r);
		off += (size_t)r;
		assert_int_equal(seglog_end(f->log), f->model.end);
	}
}

/* Random batches up to @total bytes of log; flushes and syncs now and then. */
static void drive(struct fixture *f, uint64_t total, size_t max_batch)
{
	uint64_t stop = f->model.end + total, pos;

	while (f->model.end < stop) {
		size_t want = 1 + (size_t)(tseg_rand(&f->rng) % max_batch);
		size_t n = tseg_make(&f->gen, f->buf, want, f->model.end);

		append_all(f, f->buf, n);
		switch (tseg_rand(&f->rng) % 4) {
		case 0:
			tseg_assert_rc(seglog_flush(f->log, &pos), 0);
			assert_int_equal(pos, f->model.end);
			break;
		case 1:
			tseg_assert_rc(seglog_flush(f->log, &pos), 0);
			tseg_assert_rc(seglog_sync(f->log, &pos), 0);
			assert_int_equal(pos, f->model.end);
			break;
		default:
			break;
		}
	}
}

static void finish(struct fixture *f)
{
	uint64_t pos;

	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	assert_int_equal(pos, f->model.end);
	tseg_assert_rc(seglog_sync(f->log, &pos), 0);
	assert_int_equal(pos, f->model.end);
}

/* The log on disk is exactly the model. */
static void check_log(struct fixture *f)
{
	uint8_t *bytes = NULL;
	uint64_t start, end;
	char why[256];
	int rc = tseg_read_log(f->dir, TSEG_MAX_RECORD, &bytes, &start, &end, why, sizeof(why));

	if (rc < 0)
		fail_msg("reading the log: %d %s", rc, why);
	assert_int_equal(start, f->model.start);
	assert_int_equal(end, f->model.end);
	assert_memory_equal(bytes, f->model.bytes, (size_t)(end - start));
	free(bytes);
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct seglog_recovery rec;

	open_log(f, &rec);
	assert_int_equal(rec.end_pos, 0);
	assert_int_equal(rec.segments, 0);
	assert_int_equal(seglog_end(f->log), 0);
	assert_int_equal(seglog_direct_io(f->log), f->opt.direct_io);
	drive(f, 3u << 20, 100000);
	finish(f);
	close_log(f);
	check_log(f);

	/* Reopen: nothing to recover, appending resumes at the end, also
	 * from a position in the middle of a block (O_DIRECT keeps the
	 * partial block). */
	open_log(f, &rec);
	assert_int_equal(rec.end_pos, f->model.end);
	assert_int_equal(seglog_end(f->log), f->model.end);
	assert_int_equal(rec.cut_bytes, 0);
	assert_string_equal(rec.reason, "");
	assert_true(rec.segments >= 3);
	drive(f, 1u << 20, 5000);
	finish(f);
	close_log(f);
	check_log(f);
}

static void test_direct_padding(void **state)
{
	struct fixture *f = *state;
	char path[512];
	uint64_t pos;
	size_t n;

	open_log(f, NULL);
	assert_true(seglog_direct_io(f->log));
	n = tseg_make(&f->gen, f->buf, 1000, 0);
	append_all(f, f->buf, n);
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	assert_int_equal(pos, n);
	/* Whole blocks on disk; the zeros after the log end read as its end. */
	tseg_path(path, sizeof(path), f->dir, 0, RING_SEG_SUFFIX);
	assert_int_equal(tseg_file_size(path) % RING_SEG_BLOCK_BYTES, 0);
	check_log(f);
	/* More, into the same partial block. */
	n = tseg_make(&f->gen, f->buf, 100, f->model.end);
	append_all(f, f->buf, n);
	finish(f);
	check_log(f);
	close_log(f);
	/* Reopening cuts the padding: the file is exactly the log. */
	open_log(f, NULL);
	assert_int_equal(tseg_file_size(path), RING_SEG_HEADER_BYTES + f->model.end);
}

/* Whether the file system of @dir takes O_DIRECT (tmpfs does since
 * Linux 6.6; before, open() failed with EINVAL). */
static bool direct_supported(const char *dir)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/probe", dir);
	fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0600);
	if (fd >= 0)
		close(fd);
	unlink(path);
	return fd >= 0;
}

static void test_tmpfs_falls_back(void **state)
{
	struct fixture *f = *state;
	bool direct = direct_supported(f->dir);

	/* Where the file system takes O_DIRECT anyway, the fault layer
	 * refuses it the same way. */
	if (direct)
		io_fault_refuse_direct(true);
	open_log(f, NULL);
	io_fault_refuse_direct(false);
	/* The log works, and says that it is not using O_DIRECT. */
	assert_false(seglog_direct_io(f->log));
	drive(f, 1u << 20, 50000);
	finish(f);
	close_log(f);
	check_log(f);
}

static void test_staging_full_gives_whole_records(void **state)
{
	struct fixture *f = *state;
	uint8_t *big = malloc(4u << 20);
	size_t n, off = 0;
	unsigned zeros = 0;
	uint64_t pos;

	assert_non_null(big);
	f->opt.staging_bytes = 64 * 1024;
	open_log(f, NULL);
	assert_true(seglog_staging_bytes(f->log) >= 64 * 1024);
	n = tseg_make(&f->gen, big, 4u << 20, 0);
	/* Without flushing, two buffers fill up and then nothing more fits. */
	for (unsigned i = 0; i < 1000 && off < n; i++) {
		int64_t r = seglog_append(f->log, off, big + off, n - off);

		assert_true(r >= 0);
		if (r == 0) {
			zeros++;
			break;
		}
		tseg_model_add(&f->model, big + off, (size_t)r);
		off += (size_t)r;
	}
	assert_int_equal(zeros, 1);
	assert_true(off <= 2 * seglog_staging_bytes(f->log));
	assert_true(off > seglog_staging_bytes(f->log));
	/* Every prefix taken ends on a record boundary: the rest parses. */
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	assert_int_equal(pos, off);
	append_all(f, big + off, n - off);
	finish(f);
	close_log(f);
	check_log(f);
	free(big);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void test_malformed_refused(void **state)
{
	struct fixture *f = *state;
	const uint64_t bad_words[] = {
		ring_word_make(RING_STATE_CLAIMED, 1, 0, 64),
		ring_word_make(RING_STATE_COMMITTED, 1, 0, TSEG_MAX_RECORD + 1),
		ring_word_make(RING_STATE_SKIPPED, 1, 0, 12),
		ring_word_make(RING_STATE_SKIPPED, 1, 0, 0),
		ring_word_make(RING_STATE_EMPTY, 0, 1, 0),
		ring_word_make(RING_STATE_COMMITTED, 1, 0, 1000),	/* cut short below */
	};
	uint64_t pos;

	open_log(f, NULL);
	for (size_t i = 0; i < sizeof(bad_words) / sizeof(bad_words[0]); i++) {
		size_t good = tseg_make(&f->gen, f->buf, 3000, f->model.end);
		size_t total = good + 64;
		int64_t r;

		memset(f->buf + good, 0x5a, 64);
		put64(f->buf + good, bad_words[i]);
		r = seglog_append(f->log, f->model.end, f->buf, total);
		tseg_assert_rc(r, (int64_t)good);
		tseg_model_add(&f->model, f->buf, good);
		tseg_assert_rc(seglog_append(f->log, f->model.end, f->buf + good, 64), -EBADMSG);
		assert_int_equal(seglog_end(f->log), f->model.end);
	}
	/* Not at the end. */
	tseg_assert_rc(seglog_append(f->log, f->model.end + 8, f->buf, 8), -EINVAL);
	tseg_assert_rc(seglog_append(f->log, f->model.end - 8, f->buf, 8), -EINVAL);
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	assert_int_equal(pos, f->model.end);
	finish(f);
	close_log(f);
	check_log(f);
}

/* Each segment's bounds: closed ones hold segment_bytes .. + one record,
 * and their files are exactly header + log. */
static void check_segments(struct fixture *f, unsigned min_count)
{
	uint64_t *bases = NULL;
	size_t count = 0;

	tseg_assert_rc(ringi_seg_list(f->dir, &bases, &count), 0);
	assert_true(count >= min_count);
	for (size_t i = 0; i + 1 < count; i++) {
		char path[512];
		uint64_t len = bases[i + 1] - bases[i];

		assert_true(len >= f->cfg.segment_bytes);
		assert_true(len < f->cfg.segment_bytes + 16384 + 4096);
		tseg_path(path, sizeof(path), f->dir, bases[i], RING_SEG_SUFFIX);
		assert_int_equal(tseg_file_size(path), RING_SEG_HEADER_BYTES + len);
	}
	free(bases);
}

static void test_rolling(void **state)
{
	struct fixture *f = *state;
	struct seglog_recovery rec;
	uint64_t bytes, first;
	unsigned segs;

	f->cfg.segment_bytes = 64 * 1024;
	open_log(f, NULL);
	drive(f, 2u << 20, 40000);
	finish(f);
	seglog_usage(f->log, &bytes, &segs, &first);
	assert_int_equal(first, 0);
	assert_int_equal(segs, tseg_count_segments(f->dir));
	assert_true(segs >= 2u * 1024 / 64 - 2);
	assert_true(bytes >= f->model.end);
	close_log(f);
	check_segments(f, 20);
	check_log(f);
	open_log(f, &rec);
	assert_int_equal(rec.segments, segs);
	assert_string_equal(rec.reason, "");
	drive(f, 300000, 40000);
	finish(f);
	close_log(f);
	check_segments(f, 20);
	check_log(f);
}

static void test_retention_bytes(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_config keep = f->cfg;
	uint64_t bytes, first, before;
	unsigned segs, segs_before;
	int n;

	f->cfg.segment_bytes = 32 * 1024;
	open_log(f, NULL);
	drive(f, 1u << 20, 20000);
	finish(f);
	seglog_usage(f->log, &before, &segs_before, &first);
	assert_true(segs_before > 20);

	/* No limits: nothing goes. */
	keep.retention_bytes = 0;
	keep.retention_ns = 0;
	tseg_assert_rc(seglog_retention(f->log, &keep, UINT64_MAX / 2), 0);

	/* Keep about half: the oldest go, whole, until under the limit. */
	keep.retention_bytes = before / 2;
	n = seglog_retention(f->log, &keep, 0);
	assert_true(n > 0);
	seglog_usage(f->log, &bytes, &segs, &first);
	assert_int_equal(segs, segs_before - (unsigned)n);
	assert_true(bytes <= keep.retention_bytes);
	assert_int_equal(segs, tseg_count_segments(f->dir));
	{
		uint64_t *bases = NULL;
		size_t count = 0;

		tseg_assert_rc(ringi_seg_list(f->dir, &bases, &count), 0);
		assert_int_equal(bases[0], first);
		free(bases);
	}

	/* A limit of one byte: everything but the active segment. */
	keep.retention_bytes = 1;
	n = seglog_retention(f->log, &keep, 0);
	assert_true(n > 0);
	seglog_usage(f->log, &bytes, &segs, &first);
	assert_int_equal(segs, 1);
	assert_int_equal(tseg_count_segments(f->dir), 1);
	tseg_assert_rc(seglog_retention(f->log, &keep, 0), 0);

	/* The log goes on from where it was. */
	drive(f, 100000, 20000);
	finish(f);
	close_log(f);
	{
		uint8_t *bytes_on_disk = NULL;
		uint64_t start, end;
		char why[256];

		tseg_assert_rc(tseg_read_log(f->dir, TSEG_MAX_RECORD, &bytes_on_disk, &start,
					     &end, why, sizeof(why)),
			       0);
		assert_int_equal(end, f->model.end);
		assert_true(start >= first);
		assert_memory_equal(bytes_on_disk, f->model.bytes + start,
				    (size_t)(end - start));
		free(bytes_on_disk);
	}
}

/* First index timestamp of each segment, from the files. */
static uint64_t first_ts_of(const char *dir, uint64_t base)
{
	struct ring_tix_entry *e = NULL;
	size_t n = 0;
	uint64_t ts;

	tseg_assert_rc(ringi_tix_read(dir, base, &e, &n), 0);
	assert_true(n > 0);
	ts = e[0].timestamp_ns;
	free(e);
	return ts;
}

static void test_retention_age(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_config keep = f->cfg;
	uint64_t *bases = NULL, now;
	size_t count = 0, expect = 0;
	unsigned segs;
	int n;

	f->cfg.segment_bytes = 32 * 1024;
	f->gen.skip_every = 0;	/* every segment starts with a committed record */
	open_log(f, NULL);
	drive(f, 600000, 20000);
	finish(f);
	tseg_assert_rc(ringi_seg_list(f->dir, &bases, &count), 0);
	assert_true(count > 8);

	/* Segment i's newest record is older than the next one's first index
	 * entry. Pick "now" so that those up to segment 4 are past a 1 ms
	 * retention and the rest are not. */
	keep.retention_ns = 1000000;
	now = first_ts_of(f->dir, bases[5]) + keep.retention_ns + 1;
	for (size_t i = 0; i + 1 < count; i++) {
		uint64_t newest = first_ts_of(f->dir, bases[i + 1]);

		if (now > newest && now - newest > keep.retention_ns)
			expect++;
	}
	assert_int_equal(expect, 5);
	n = seglog_retention(f->log, &keep, now);
	assert_int_equal(n, 5);
	seglog_usage(f->log, NULL, &segs, NULL);
	assert_int_equal(segs, count - 5);
	assert_int_equal(tseg_count_segments(f->dir), count - 5);

	/* Far in the future everything is old, but the active one stays. */
	n = seglog_retention(f->log, &keep, UINT64_MAX / 2);
	assert_int_equal(n, (int)(count - 6));
	assert_int_equal(tseg_count_segments(f->dir), 1);
	free(bases);
}

/* The first committed record of the model with timestamp >= ts. */
static uint64_t model_lookup(const struct tseg_model *m, uint64_t ts, bool *found)
{
	uint64_t pos = m->start;

	while (pos < m->end) {
		const uint8_t *p = m->bytes + (pos - m->start);
		uint64_t w, t;

		memcpy(&w, p, 8);
		memcpy(&t, p + 8, 8);
		if (ring_word_state(w) == RING_STATE_COMMITTED) {
			if (t >= ts) {
				*found = true;
				return pos;
			}
			pos += ring_record_span(ring_word_len(w));
		} else {
			pos += ring_word_len(w);
		}
	}
	*found = false;
	return pos;
}

static void test_time_index(void **state)
{
	struct fixture *f = *state;
	uint64_t *bases = NULL, t0 = f->gen.ts_ns, t1;
	size_t count = 0;

	f->cfg.segment_bytes = 200 * 1024;
	open_log(f, NULL);
	drive(f, 2u << 20, 50000);
	finish(f);
	close_log(f);
	t1 = f->gen.ts_ns;

	/* The index itself: ascending, one entry at the segment's first
	 * committed record, then at most one per 64 KiB. */
	tseg_assert_rc(ringi_seg_list(f->dir, &bases, &count), 0);
	assert_true(count >= 8);
	for (size_t i = 0; i < count; i++) {
		struct ring_tix_entry *e = NULL;
		size_t n = 0;
		bool found;
		uint64_t first = model_lookup(&f->model, 0, &found);

		tseg_assert_rc(ringi_tix_read(f->dir, bases[i], &e, &n), 0);
		assert_true(n >= (i + 1 < count ? 3u : 1u));
		/* The segment's first committed record. */
		{
			struct tseg_model seg = f->model;

			seg.bytes += bases[i] - f->model.start;
			seg.start = bases[i];
			first = model_lookup(&seg, 0, &found);
			assert_true(found);
		}
		assert_int_equal(e[0].pos, first);
		for (size_t k = 1; k < n; k++) {
			assert_true(e[k].pos - e[k - 1].pos >= RING_TIX_INTERVAL_BYTES);
			assert_true(e[k].timestamp_ns >= e[k - 1].timestamp_ns);
		}
		/* Exactly an entry's timestamp: earlier records may share it. */
		for (size_t k = 0; k < n; k++) {
			uint64_t pos = 0;

			tseg_assert_rc(ringi_seg_time_lookup(f->dir, e[k].timestamp_ns,
							     TSEG_MAX_RECORD, &pos), 1);
			assert_int_equal(pos, model_lookup(&f->model, e[k].timestamp_ns, &found));
		}
		free(e);
	}
	free(bases);

	/* Lookups agree with a scan of the model. */
	for (unsigned i = 0; i < 300; i++) {
		uint64_t ts = t0 + tseg_rand(&f->rng) % (t1 - t0 + 2000) - 1000, pos = 0, want;
		bool found;
		int rc = ringi_seg_time_lookup(f->dir, ts, TSEG_MAX_RECORD, &pos);

		want = model_lookup(&f->model, ts, &found);
		tseg_assert_rc(rc, found ? 1 : 0);
		assert_int_equal(pos, want);
	}
	{
		uint64_t pos = 0;
		bool found;

		tseg_assert_rc(ringi_seg_time_lookup(f->dir, 0, TSEG_MAX_RECORD, &pos), 1);
		assert_int_equal(pos, model_lookup(&f->model, 0, &found));
		tseg_assert_rc(ringi_seg_time_lookup(f->dir, UINT64_MAX, TSEG_MAX_RECORD, &pos), 0);
		assert_int_equal(pos, f->model.end);
	}
}

static void test_reader_find(void **state)
{
	const uint64_t bases[] = { 0, 100, 200, 208 };

	(void)state;
	assert_int_equal(ringi_seg_find(bases, 4, 0), 0);
	assert_int_equal(ringi_seg_find(bases, 4, 99), 0);
	assert_int_equal(ringi_seg_find(bases, 4, 100), 1);
	assert_int_equal(ringi_seg_find(bases, 4, 207), 2);
	assert_int_equal(ringi_seg_find(bases, 4, 208), 3);
	assert_int_equal(ringi_seg_find(bases, 4, UINT64_MAX), 3);
	assert_int_equal(ringi_seg_find(bases + 1, 3, 99), -ENOENT);
	assert_int_equal(ringi_seg_find(bases, 0, 5), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup_buffered, teardown),
		cmocka_unit_test_setup_teardown(test_direct_padding, setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_tmpfs_falls_back, setup_tmpfs, teardown),
		cmocka_unit_test_setup_teardown(test_staging_full_gives_whole_records,
						setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_refused, setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_rolling, setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_rolling, setup_buffered, teardown),
		cmocka_unit_test_setup_teardown(test_retention_bytes, setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_retention_age, setup_buffered, teardown),
		cmocka_unit_test_setup_teardown(test_time_index, setup_direct, teardown),
		cmocka_unit_test(test_reader_find),
	};

	return cmocka_run_group_tests_name("seglog", tests, NULL, NULL);
}
