/* SPDX-License-Identifier: MIT */
/*
 * Description: startup recovery of a topic's segment files
 * (daemon/recovery.c, through seglog_open() and recovery_run()).
 * Positive space: a clean log recovers to its end with nothing cut; zero
 * padding after the end is cut silently; leftovers of an unfinished
 * segment creation and time indexes without a segment are removed; a torn
 * or missing time index is rebuilt to what the records say; zero padding
 * after a closed segment's end is cut.
 * Negative space: the last segment cut at every interesting offset of
 * every record (inside the word, the header, the payload, the padding)
 * recovers to the start of the cut record and reports the cut; a bit
 * flipped anywhere (seeded) in the log is detected: the log is cut inside
 * the flipped record, exactly at its start unless the flip turned one
 * valid word into a shorter valid one, and the survivors are the original
 * bytes; data after a zero header is cut and reported; a damaged
 * header of an older segment, or a gap between segments, is reported and
 * no file is changed; a damaged header of the last segment fails with
 * -EBADMSG and says which file.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "recovery.h"
#include "seglog.h"
#include "segment_format.h"
#include "segment_reader.h"
#include "t_seg.h"

#define LOG_BYTES (96u * 1024u)

struct rec_info {
	uint64_t pos;
	uint64_t span;
	uint32_t len;
	bool committed;
};

/* A pristine one-segment log, built once, and a work directory. */
struct fixture {
	char dir[128];
	struct ring_topic_config cfg;
	struct tseg_model model;
	uint8_t *seg;			/* the pristine .seg file */
	size_t seg_len;
	uint8_t *tix;			/* the pristine .tix file */
	size_t tix_len;
	struct rec_info *recs;
	size_t nrecs;
};

static struct ring_topic_config config_make(uint64_t segment_bytes)
{
	struct ring_topic_config c;

	memset(&c, 0, sizeof(c));
	c.capacity_bytes = UINT64_C(1) << TSEG_CAP_SHIFT;
	c.max_record_bytes = TSEG_MAX_RECORD;
	c.segment_bytes = segment_bytes;
	return c;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	int64_t size = tseg_file_size(path);
	uint8_t *b;
	int fd;

	if (size < 0)
		return (int)size;
	b = malloc((size_t)size + 1);
	fd = open(path, O_RDONLY);
	if (!b || fd < 0 || pread(fd, b, (size_t)size, 0) != size) {
		free(b);
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	*ret = b;
	*ret_len = (size_t)size;
	return 0;
}

static void write_file(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
	close(fd);
}

/* Write @n bytes of synthetic records through seglog into @dir. */
static int build_log(const char *dir, const struct ring_topic_config *cfg, int direct,
		     uint64_t seed, size_t n, struct tseg_model *model)
{
	struct seglog_options opt = { .direct_io = direct };
	struct seglog_recovery rec;
	struct seglog *log;
	struct tseg_gen g;
	uint8_t *buf = malloc(n);
	size_t len, off = 0;
	uint64_t pos;
	int rc;

	if (!buf)
		return -ENOMEM;
	tseg_gen_init(&g, seed);
	rc = seglog_open(dir, cfg, &opt, &log, &rec);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	len = tseg_make(&g, buf, n, 0);
	/* Bounded: each pass takes something or flushes, which frees room. */
	for (unsigned i = 0; off < len && i < 100000; i++) {
		int64_t r = seglog_append(log, off, buf + off, len - off);

		if (r < 0) {
			rc = (int)r;
			break;
		}
		if (r == 0) {
			rc = seglog_flush(log, &pos);
			if (rc < 0)
				break;
			continue;
		}
		tseg_model_add(model, buf + off, (size_t)r);
		off += (size_t)r;
	}
	if (rc == 0)
		rc = seglog_flush(log, &pos);
	if (rc == 0)
		rc = seglog_sync(log, &pos);
	seglog_close(log);
	free(buf);
	return rc;
}

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[512];
	uint64_t pos = 0;

	/* tmpfs: the exhaustive loops run recovery thousands of times, and
	 * its fsyncs cost nothing there. */
	if (!f || tseg_tmpdir("/dev/shm", f->dir, sizeof(f->dir)) < 0 ||
	    tseg_model_init(&f->model, 0, LOG_BYTES) < 0)
		return -1;
	f->cfg = config_make(UINT64_C(1) << 20);
	if (build_log(f->dir, &f->cfg, 0, 7, LOG_BYTES, &f->model) < 0)
		return -1;
	tseg_path(path, sizeof(path), f->dir, 0, RING_SEG_SUFFIX);
	if (read_file(path, &f->seg, &f->seg_len) < 0)
		return -1;
	tseg_path(path, sizeof(path), f->dir, 0, RING_TIX_SUFFIX);
	if (read_file(path, &f->tix, &f->tix_len) < 0)
		return -1;
	f->recs = calloc(LOG_BYTES / 8, sizeof(*f->recs));
	if (!f->recs)
		return -1;
	while (pos < f->model.end) {
		const uint8_t *p = f->model.bytes + pos;
		struct rec_info *r = &f->recs[f->nrecs++];
		uint64_t w;

		memcpy(&w, p, 8);
		r->pos = pos;
		r->committed = ring_word_state(w) == RING_STATE_COMMITTED;
		r->len = r->committed ? ring_word_len(w) : 0;
		r->span = r->committed ? ring_record_span(ring_word_len(w)) : ring_word_len(w);
		pos += r->span;
	}
	if (f->seg_len != RING_SEG_HEADER_BYTES + f->model.end || f->tix_len < 2 * 16)
		return -1;
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;

	tseg_rmdir(f->dir);
	tseg_model_free(&f->model);
	free(f->seg);
	free(f->tix);
	free(f->recs);
	free(f);
	return 0;
}

/* Put the pristine files back, with the .seg cut to @seg_len bytes. */
static void restore(struct fixture *f, size_t seg_len)
{
	char path[512];

	tseg_path(path, sizeof(path), f->dir, 0, RING_SEG_SUFFIX);
	write_file(path, f->seg, seg_len);
	tseg_path(path, sizeof(path), f->dir, 0, RING_TIX_SUFFIX);
	write_file(path, f->tix, f->tix_len);
}

/* The log now on disk is the model's prefix [0, end), its .seg is
 * exactly that long and its time index is the pristine one's entries
 * below end. */
static void check_prefix(struct fixture *f, uint64_t end)
{
	uint8_t *bytes = NULL, *tix = NULL;
	uint64_t start, got_end;
	size_t tix_len = 0, want_tix = 0;
	char why[256], path[512];

	if (tseg_read_log(f->dir, TSEG_MAX_RECORD, &bytes, &start, &got_end, why,
			  sizeof(why)) < 0)
		fail_msg("reading the recovered log: %s", why);
	assert_int_equal(start, 0);
	assert_int_equal(got_end, end);
	assert_memory_equal(bytes, f->model.bytes, (size_t)end);
	free(bytes);
	tseg_path(path, sizeof(path), f->dir, 0, RING_SEG_SUFFIX);
	assert_int_equal(tseg_file_size(path), RING_SEG_HEADER_BYTES + end);
	tseg_path(path, sizeof(path), f->dir, 0, RING_TIX_SUFFIX);
	assert_int_equal(read_file(path, &tix, &tix_len), 0);
	while (want_tix + 16 <= f->tix_len) {
		uint64_t p;

		memcpy(&p, f->tix + want_tix + 8, 8);
		if (p >= end)
			break;
		want_tix += 16;
	}
	assert_int_equal(tix_len, want_tix);
	assert_memory_equal(tix, f->tix, want_tix);
	free(tix);
}

static void recover(struct fixture *f, struct recovery_result *r)
{
	tseg_assert_rc(recovery_run(f->dir, TSEG_MAX_RECORD, r), 0);
	assert_int_equal(r->count, 1);
}

static void test_clean_log(void **state)
{
	struct fixture *f = *state;
	struct seglog_recovery rec;
	struct seglog *log;
	struct seglog_options opt = { .direct_io = 1 };

	restore(f, f->seg_len);
	tseg_assert_rc(seglog_open(f->dir, &f->cfg, &opt, &log, &rec), 0);
	assert_int_equal(rec.end_pos, f->model.end);
	assert_int_equal(rec.cut_bytes, 0);
	assert_int_equal(rec.cut_pos, f->model.end);
	assert_string_equal(rec.reason, "");
	assert_int_equal(rec.segments, 1);
	assert_int_equal(seglog_end(log), f->model.end);
	seglog_close(log);
	check_prefix(f, f->model.end);
}

static bool any_nonzero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return true;
	return false;
}

static void test_truncate_everywhere(void **state)
{
	struct fixture *f = *state;
	unsigned cases = 0, cut_reported = 0;

	for (size_t i = 0; i < f->nrecs; i++) {
		const struct rec_info *ri = &f->recs[i];
		uint64_t offs[] = { 0, 1, 4, 7, 8, 12, 16, 20, 23, 24,
				    24 + ri->len / 2, ri->span - 1 };

		for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
			struct recovery_result r;
			uint64_t cut = ri->pos + offs[k];
			const uint8_t *torn = f->model.bytes + ri->pos;

			if (offs[k] >= ri->span || (k > 0 && offs[k] == offs[k - 1]))
				continue;
			restore(f, (size_t)(RING_SEG_HEADER_BYTES + cut));
			recover(f, &r);
			/* Always back to the start of the torn record. */
			assert_int_equal(r.end_pos, ri->pos);
			if (any_nonzero(torn, (size_t)offs[k])) {
				assert_true(r.reason[0] != 0);
				assert_int_equal(r.cut_bytes, offs[k]);
				assert_int_equal(r.cut_pos, ri->pos);
				cut_reported++;
			} else {
				/* Only zeros past the end: padding, not damage. */
				assert_int_equal(r.cut_bytes, 0);
				assert_string_equal(r.reason, "");
			}
			recovery_result_free(&r);
			/* Sampled: the full check reads the whole log. */
			if (cases++ % 16 == 0)
				check_prefix(f, ri->pos);
		}
	}
	assert_true(cases > 1000);
	assert_true(cut_reported > 900);
}

static void test_truncate_then_append(void **state)
{
	struct fixture *f = *state;
	const struct rec_info *ri = &f->recs[f->nrecs / 2];
	struct seglog_options opt = { .direct_io = 1 };
	struct seglog_recovery rec;
	struct seglog *log;
	struct tseg_model m2;
	struct tseg_gen g;
	uint8_t buf[8192], *bytes = NULL;
	uint64_t pos, start, end;
	size_t n;
	char why[256];

	restore(f, (size_t)(RING_SEG_HEADER_BYTES + ri->pos + 13));
	tseg_assert_rc(seglog_open(f->dir, &f->cfg, &opt, &log, &rec), 0);
	assert_int_equal(rec.end_pos, ri->pos);
	assert_int_equal(rec.cut_bytes, 13);
	assert_int_equal(rec.cut_pos, ri->pos);
	assert_true(rec.reason[0] != 0);
	/* Appending resumes at the cut, mid-block, and reads back. */
	assert_int_equal(tseg_model_init(&m2, 0, LOG_BYTES + sizeof(buf)), 0);
	tseg_model_add(&m2, f->model.bytes, (size_t)ri->pos);
	tseg_gen_init(&g, 99);
	n = tseg_make(&g, buf, sizeof(buf), ri->pos);
	tseg_assert_rc(seglog_append(log, ri->pos, buf, n), (int64_t)n);
	tseg_model_add(&m2, buf, n);
	tseg_assert_rc(seglog_flush(log, &pos), 0);
	tseg_assert_rc(seglog_sync(log, &pos), 0);
	assert_int_equal(pos, m2.end);
	seglog_close(log);
	tseg_assert_rc(tseg_read_log(f->dir, TSEG_MAX_RECORD, &bytes, &start, &end, why,
				     sizeof(why)),
		       0);
	assert_int_equal(end, m2.end);
	assert_memory_equal(bytes, m2.bytes, (size_t)end);
	free(bytes);
	tseg_model_free(&m2);
}

/* Which record holds log offset @pos. */
static const struct rec_info *record_at(const struct fixture *f, uint64_t pos)
{
	size_t lo = 0, hi = f->nrecs;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (f->recs[mid].pos <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return &f->recs[lo];
}

static void test_bit_flips(void **state)
{
	struct fixture *f = *state;
	uint64_t rng = 0xb17f11b5;
	unsigned exact = 0, weak_hits = 0;
	uint8_t *copy = malloc(f->seg_len);

	assert_non_null(copy);
	for (unsigned iter = 0; iter < 600; iter++) {
		uint64_t r = tseg_rand(&rng);
		uint64_t off = RING_SEG_HEADER_BYTES + r % f->model.end;
		unsigned bit = (unsigned)(r >> 40) % 8;
		uint64_t pos = off - RING_SEG_HEADER_BYTES;
		const struct rec_info *ri = record_at(f, pos);
		uint64_t rel = pos - ri->pos;
		struct recovery_result res;
		char path[512];
		bool weak;

		memcpy(copy, f->seg, f->seg_len);
		copy[off] ^= (uint8_t)(1u << bit);
		tseg_path(path, sizeof(path), f->dir, 0, RING_SEG_SUFFIX);
		write_file(path, copy, f->seg_len);
		tseg_path(path, sizeof(path), f->dir, 0, RING_TIX_SUFFIX);
		write_file(path, f->tix, f->tix_len);

		/* The CRC covers a committed record's header and payload; its
		 * padding, a skip's body and a skip's canonical word are
		 * checked to be what the writer makes them. Only a flip that
		 * turns a word into a shorter valid one (a skip's length, or
		 * COMMITTED -> SKIPPED) may move the cut inside the record. */
		weak = (!ri->committed && rel < 4) || (ri->committed && rel == 7 && bit == 6);
		recover(f, &res);
		assert_true(res.end_pos >= ri->pos);
		assert_true(res.end_pos < ri->pos + ri->span);
		assert_true(res.reason[0] != 0);
		assert_int_equal(res.cut_bytes, f->model.end - res.end_pos);
		if (!weak) {
			assert_int_equal(res.end_pos, ri->pos);
			exact++;
		} else {
			weak_hits++;
		}
		recovery_result_free(&res);
		/* What survived before the damaged record is the original. */
		{
			uint8_t *bytes = NULL;
			uint64_t start, end;
			char why[256];

			tseg_assert_rc(tseg_read_log(f->dir, TSEG_MAX_RECORD, &bytes, &start,
						     &end, why, sizeof(why)),
				       0);
			assert_int_equal(end, res.end_pos);
			assert_memory_equal(bytes, f->model.bytes, (size_t)ri->pos);
			free(bytes);
		}
	}
	assert_true(exact > 500);
	assert_true(weak_hits < 100);
	free(copy);
}

static void test_zero_header_then_data(void **state)
{
	struct fixture *f = *state;
	struct recovery_result r;
	uint8_t *b = calloc(1, f->seg_len + 8192);
	char path[512];

	assert_non_null(b);
	memcpy(b, f->seg, f->seg_len);
	b[f->seg_len + 5000] = 0x42;	/* a stray byte after a hole */
	tseg_path(path, sizeof(path), f->dir, 0, RING_SEG_SUFFIX);
	write_file(path, b, f->seg_len + 8192);
	tseg_path(path, sizeof(path), f->dir, 0, RING_TIX_SUFFIX);
	write_file(path, f->tix, f->tix_len);
	recover(f, &r);
	assert_int_equal(r.end_pos, f->model.end);
	assert_int_equal(r.cut_bytes, 8192);
	assert_string_equal(r.reason, "zero header with data after it");
	recovery_result_free(&r);
	check_prefix(f, f->model.end);

	/* Zeros only: O_DIRECT padding, cut without a word. */
	b[f->seg_len + 5000] = 0;
	tseg_path(path, sizeof(path), f->dir, 0, RING_SEG_SUFFIX);
	write_file(path, b, f->seg_len + 8192);
	recover(f, &r);
	assert_int_equal(r.end_pos, f->model.end);
	assert_int_equal(r.cut_bytes, 0);
	assert_string_equal(r.reason, "");
	recovery_result_free(&r);
	check_prefix(f, f->model.end);
	free(b);
}

static void test_time_index_repaired(void **state)
{
	struct fixture *f = *state;
	struct recovery_result r;
	char path[512];
	uint8_t *b = malloc(f->tix_len + 16);

	assert_non_null(b);
	tseg_path(path, sizeof(path), f->dir, 0, RING_TIX_SUFFIX);

	/* A torn last entry. */
	restore(f, f->seg_len);
	memcpy(b, f->tix, f->tix_len);
	memset(b + f->tix_len, 0x77, 9);
	write_file(path, b, f->tix_len + 9);
	recover(f, &r);
	recovery_result_free(&r);
	check_prefix(f, f->model.end);

	/* A damaged entry in the middle. */
	memcpy(b, f->tix, f->tix_len);
	memset(b + 16, 0xff, 16);
	write_file(path, b, f->tix_len);
	recover(f, &r);
	recovery_result_free(&r);
	check_prefix(f, f->model.end);

	/* No index at all. */
	assert_int_equal(unlink(path), 0);
	recover(f, &r);
	recovery_result_free(&r);
	check_prefix(f, f->model.end);
	free(b);
}

static void test_leftovers_removed(void **state)
{
	struct fixture *f = *state;
	struct recovery_result r;
	char tmp[512], orphan[512];

	restore(f, f->seg_len);
	tseg_path(tmp, sizeof(tmp), f->dir, 1u << 20, RING_SEG_TMP_SUFFIX);
	write_file(tmp, f->seg, 100);
	tseg_path(orphan, sizeof(orphan), f->dir, 1u << 21, RING_TIX_SUFFIX);
	write_file(orphan, f->tix, 32);
	recover(f, &r);
	recovery_result_free(&r);
	assert_int_equal(tseg_file_size(tmp), -ENOENT);
	assert_int_equal(tseg_file_size(orphan), -ENOENT);
	check_prefix(f, f->model.end);
}

/* A log of several segments in its own directory. */
struct multi {
	char dir[128];
	struct tseg_model model;
	uint64_t *bases;
	size_t count;
};

static void multi_make(struct multi *m, const struct ring_topic_config *cfg)
{
	assert_int_equal(tseg_tmpdir("/tmp", m->dir, sizeof(m->dir)), 0);
	assert_int_equal(tseg_model_init(&m->model, 0, 1u << 20), 0);
	tseg_assert_rc(build_log(m->dir, cfg, 1, 11, 200000, &m->model), 0);
	tseg_assert_rc(ringi_seg_list(m->dir, &m->bases, &m->count), 0);
	assert_true(m->count >= 5);
}

static void multi_free(struct multi *m)
{
	tseg_rmdir(m->dir);
	tseg_model_free(&m->model);
	free(m->bases);
}

static void test_old_segment_damage_reported(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_config cfg = config_make(32 * 1024);
	struct seglog_options opt = { .direct_io = 1 };
	struct seglog_recovery rec;
	struct seglog *log;
	struct multi m;
	uint8_t *before, *after;
	size_t before_len, after_len;
	char path[512];

	(void)f;
	multi_make(&m, &cfg);
	tseg_path(path, sizeof(path), m.dir, m.bases[1], RING_SEG_SUFFIX);
	assert_int_equal(read_file(path, &before, &before_len), 0);
	before[20] ^= 1;	/* inside base_pos: the header CRC no longer matches */
	write_file(path, before, before_len);
	tseg_assert_rc(seglog_open(m.dir, &cfg, &opt, &log, &rec), 0);
	assert_int_equal(rec.cut_bytes, 0);
	assert_int_equal(rec.end_pos, m.model.end);
	assert_non_null(strstr(rec.reason, "header crc mismatch"));
	assert_int_equal(rec.segments, m.count);
	seglog_close(log);
	/* The damaged file is left as it was. */
	assert_int_equal(read_file(path, &after, &after_len), 0);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	free(before);
	free(after);
	multi_free(&m);
}

static void test_gap_reported(void **state)
{
	struct ring_topic_config cfg = config_make(32 * 1024);
	struct seglog_options opt = { .direct_io = 0 };
	struct seglog_recovery rec;
	struct seglog *log;
	struct multi m;
	char path[512];

	(void)state;
	multi_make(&m, &cfg);
	tseg_path(path, sizeof(path), m.dir, m.bases[2], RING_SEG_SUFFIX);
	assert_int_equal(unlink(path), 0);
	tseg_assert_rc(seglog_open(m.dir, &cfg, &opt, &log, &rec), 0);
	assert_int_equal(rec.cut_bytes, 0);
	assert_int_equal(rec.end_pos, m.model.end);
	assert_non_null(strstr(rec.reason, "gap"));
	assert_int_equal(rec.segments, m.count - 1);
	seglog_close(log);
	assert_int_equal(tseg_count_segments(m.dir), m.count - 1);
	multi_free(&m);
}

static void test_closed_segment_padding_cut(void **state)
{
	struct ring_topic_config cfg = config_make(32 * 1024);
	struct recovery_result r;
	struct multi m;
	uint8_t *b;
	size_t len;
	char path[512];
	uint8_t zeros[4096] = { 0 };

	(void)state;
	multi_make(&m, &cfg);
	tseg_path(path, sizeof(path), m.dir, m.bases[1], RING_SEG_SUFFIX);
	assert_int_equal(read_file(path, &b, &len), 0);
	{
		int fd = open(path, O_WRONLY | O_APPEND);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
		close(fd);
	}
	tseg_assert_rc(recovery_run(m.dir, TSEG_MAX_RECORD, &r), 0);
	assert_int_equal(r.breaks, 0);
	assert_string_equal(r.damage, "");
	assert_int_equal(r.end_pos, m.model.end);
	recovery_result_free(&r);
	assert_int_equal(tseg_file_size(path), (int64_t)len);
	free(b);
	multi_free(&m);
}

static void test_last_header_damage_fails(void **state)
{
	struct fixture *f = *state;
	struct seglog_options opt = { .direct_io = 1 };
	struct seglog_recovery rec;
	struct seglog *log = NULL;
	uint8_t *b = malloc(f->seg_len);
	char path[512];

	assert_non_null(b);
	memcpy(b, f->seg, f->seg_len);
	b[0] ^= 0x80;
	tseg_path(path, sizeof(path), f->dir, 0, RING_SEG_SUFFIX);
	write_file(path, b, f->seg_len);
	tseg_assert_rc(seglog_open(f->dir, &f->cfg, &opt, &log, &rec), -EBADMSG);
	assert_null(log);
	assert_non_null(strstr(rec.reason, "bad magic"));
	assert_non_null(strstr(rec.reason, "00000000000000000000"));
	/* Untouched. */
	free(b);
	assert_int_equal(read_file(path, &b, &(size_t){ 0 }), 0);
	assert_int_equal(b[0], f->seg[0] ^ 0x80);
	free(b);
	restore(f, f->seg_len);
}

static void test_format_helpers(void **state)
{
	uint8_t hdr[RING_SEG_HEADER_BYTES];
	struct ring_seg_header h;
	const char *why = NULL;
	uint64_t base = 0;
	char name[RING_SEG_NAME_BYTES];

	(void)state;
	assert_int_equal(ringi_crc32c(0, "123456789", 9), 0xe3069283u);
	ring_seg_header_make(hdr, 123456, 42);
	assert_memory_equal(hdr, "RLSEG\0\0\x01", 8);
	assert_int_equal(ring_seg_header_check(hdr, sizeof(hdr), &h, &why), 0);
	assert_int_equal(h.base_pos, 123456);
	assert_int_equal(h.created_ns, 42);
	assert_int_equal(h.header_bytes, 4096);
	for (size_t i = 40; i < sizeof(hdr); i++)
		assert_int_equal(hdr[i], 0);
	hdr[9] ^= 1;
	assert_int_equal(ring_seg_header_check(hdr, sizeof(hdr), &h, &why), -EBADMSG);
	assert_int_equal(ring_seg_header_check(hdr, 39, &h, &why), -EBADMSG);
	assert_string_equal(why, "header truncated");

	assert_int_equal(ring_seg_name(name, sizeof(name), 4096, RING_SEG_SUFFIX), 0);
	assert_string_equal(name, "00000000000000004096.seg");
	assert_int_equal(ring_seg_name_parse(name, RING_SEG_SUFFIX, &base), 0);
	assert_int_equal(base, 4096);
	assert_int_equal(ring_seg_name_parse(name, RING_TIX_SUFFIX, &base), -EINVAL);
	assert_int_equal(ring_seg_name_parse("0000000000000000409x.seg", RING_SEG_SUFFIX, &base),
			 -EINVAL);
	assert_int_equal(ring_seg_name_parse("99999999999999999999.seg", RING_SEG_SUFFIX, &base),
			 -EINVAL);
	assert_int_equal(ring_seg_name_parse("00000000000000004096.seg.tmp", RING_SEG_SUFFIX,
					     &base),
			 -EINVAL);
	assert_true(ring_tix_wants(false, 0, 0));
	assert_false(ring_tix_wants(true, 0, 65535));
	assert_true(ring_tix_wants(true, 0, 65536));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_helpers),
		cmocka_unit_test(test_clean_log),
		cmocka_unit_test(test_truncate_everywhere),
		cmocka_unit_test(test_truncate_then_append),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_zero_header_then_data),
		cmocka_unit_test(test_time_index_repaired),
		cmocka_unit_test(test_leftovers_removed),
		cmocka_unit_test(test_old_segment_damage_reported),
		cmocka_unit_test(test_gap_reported),
		cmocka_unit_test(test_closed_segment_padding_cut),
		cmocka_unit_test(test_last_header_damage_fails),
	};

	return cmocka_run_group_tests_name("seg_recovery", tests, group_setup, group_teardown);
}
