/* SPDX-License-Identifier: MIT */
/*
 * Description: the segment writer under the io_fault layer (crash suite).
 * Power loss: after random batches, some synced and some only written,
 * a simulated power loss keeps, drops or tears (per 512-byte sector) each
 * unsynced write, with segments rolling in between; after recovery the
 * log ends at or after the last synced position, on a record boundary,
 * and every record in it is the one appended. Keeping everything loses
 * nothing written; dropping everything ends exactly at a synced point.
 * Write errors (ENOSPC, EIO) for the next N writes, at any point of a
 * flush or a roll: the flush fails, nothing staged is lost, and a retry
 * writes it all. A failed sync is sticky (the kernel may have dropped
 * the pages it could not write) until the log is reopened.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"
#include "io_fault.h"
#include "seglog.h"
#include "segment_format.h"
#include "segment_reader.h"
#include "segment_writer.h"
#include "t_seg.h"

#define BUF_BYTES (64u * 1024u)
#define MODEL_BYTES (8u << 20)

struct fixture {
	char dir[128];
	struct ring_topic_config cfg;
	struct seglog_options opt;
	struct seglog *log;
	struct tseg_gen gen;
	struct tseg_model model;
	uint64_t durable;		/* what seglog_sync() last said */
	uint64_t rng;
	uint8_t buf[BUF_BYTES];
};

static struct fixture *fixture_new(uint64_t seed, int direct, uint64_t segment_bytes)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(tseg_tmpdir("/tmp", f->dir, sizeof(f->dir)), 0);
	f->cfg.capacity_bytes = UINT64_C(1) << TSEG_CAP_SHIFT;
	f->cfg.max_record_bytes = TSEG_MAX_RECORD;
	f->cfg.segment_bytes = segment_bytes;
	f->opt.direct_io = direct;
	f->opt.staging_bytes = 64 * 1024;	/* both buffers in play often */
	f->rng = seed * 7919 + 1;
	tseg_gen_init(&f->gen, seed);
	assert_int_equal(tseg_model_init(&f->model, 0, MODEL_BYTES), 0);
	io_fault_reset();
	return f;
}

static void fixture_free(struct fixture *f)
{
	seglog_close(f->log);
	io_fault_reset();
	tseg_rmdir(f->dir);
	tseg_model_free(&f->model);
	free(f);
}

static void open_log(struct fixture *f, struct seglog_recovery *rec)
{
	tseg_assert_rc(seglog_open(f->dir, &f->cfg, &f->opt, &f->log, rec), 0);
}

/* Stage one random batch, flushing when staging is full (no faults). */
static void append_batch(struct fixture *f)
{
	size_t want = 1 + (size_t)(tseg_rand(&f->rng) % (BUF_BYTES - 1));
	size_t n = tseg_make(&f->gen, f->buf, want, f->model.end), off = 0;
	unsigned stalls = 0;
	uint64_t pos;

	while (off < n) {
		int64_t r = seglog_append(f->log, f->model.end, f->buf + off, n - off);

		assert_true(r >= 0);
		if (r == 0) {
			assert_true(++stalls < 4);
			tseg_assert_rc(seglog_flush(f->log, &pos), 0);
			continue;
		}
		stalls = 0;
		tseg_model_add(&f->model, f->buf + off, (size_t)r);
		off += (size_t)r;
	}
}

/* The record boundaries of the model: is @pos one? */
static bool model_boundary(const struct tseg_model *m, uint64_t pos)
{
	uint64_t p = m->start;

	while (p < pos) {
		uint64_t w;

		memcpy(&w, m->bytes + (p - m->start), 8);
		p += ring_word_state(w) == RING_STATE_COMMITTED ? ring_record_span(ring_word_len(w))
								: ring_word_len(w);
	}
	return p == pos;
}

/*
 * The log on disk reads cleanly up to @end and every record is the model's:
 * committed records byte for byte, skips by their word (what is inside a
 * skip is never interpreted, and a torn one may hold older bytes).
 */
static void check_records(struct fixture *f, uint64_t end)
{
	uint8_t *bytes = NULL;
	uint64_t start, got_end, p;
	char why[256];

	if (tseg_read_log(f->dir, TSEG_MAX_RECORD, &bytes, &start, &got_end, why,
			  sizeof(why)) < 0)
		fail_msg("reading the log: %s", why);
	assert_int_equal(start, 0);
	assert_int_equal(got_end, end);
	for (p = 0; p < end;) {
		const uint8_t *want = f->model.bytes + p, *got = bytes + p;
		uint64_t w, span;

		memcpy(&w, want, 8);
		if (ring_word_state(w) == RING_STATE_COMMITTED) {
			span = ring_record_span(ring_word_len(w));
			if (memcmp(want, got, (size_t)span) != 0)
				fail_msg("record at %llu differs", (unsigned long long)p);
		} else {
			span = ring_word_len(w);
			if (memcmp(want, got, 8) != 0)
				fail_msg("skip at %llu differs", (unsigned long long)p);
		}
		p += span;
	}
	assert_int_equal(p, end);
	free(bytes);
}

/* Random batches, flushed; synced now and then; the last few never. */
static void crash_workload(struct fixture *f, unsigned batches, unsigned unsynced_tail)
{
	uint64_t pos;

	for (unsigned b = 0; b < batches; b++) {
		append_batch(f);
		tseg_assert_rc(seglog_flush(f->log, &pos), 0);
		assert_int_equal(pos, f->model.end);
		if (b + unsynced_tail < batches && tseg_rand(&f->rng) % 2) {
			tseg_assert_rc(seglog_sync(f->log, &f->durable), 0);
			assert_int_equal(f->durable, f->model.end);
		}
	}
	/* And something staged but not even written. */
	append_batch(f);
}

/* Is @pos the base of one of the log's segments? */
static bool segment_base(const char *dir, uint64_t pos)
{
	uint64_t *bases = NULL;
	size_t n = 0;
	bool found = false;

	tseg_assert_rc(ringi_seg_list(dir, &bases, &n), 0);
	for (size_t i = 0; i < n; i++)
		found |= bases[i] == pos;
	free(bases);
	return found;
}

/* What the rounds saw, so that the test knows it tested something. */
static struct {
	unsigned rounds, cut, beyond_durable, lost_written;
} seen;

static void power_loss_round(uint64_t seed, enum io_fault_loss mode)
{
	struct fixture *f = fixture_new(seed, (int)(seed % 2), 48 * 1024);
	struct seglog_recovery rec;
	uint64_t written, pos;
	int lost;

	io_fault_track(true);
	open_log(f, &rec);
	tseg_assert_rc(seglog_sync(f->log, &f->durable), 0);
	crash_workload(f, 12 + (unsigned)(seed % 20), 1 + (unsigned)(seed % 4));
	written = f->model.end;	/* staged; flushed up to the last flush */
	assert_true(io_fault_unsynced_writes() > 0);
	lost = io_fault_power_loss(mode, seed);
	assert_true(lost >= 0);
	/* The machine is off: nothing gets through any more. */
	tseg_assert_rc(seglog_flush(f->log, &pos), -EIO);
	seglog_close(f->log);
	f->log = NULL;
	io_fault_reset();

	open_log(f, &rec);
	seen.rounds++;
	seen.cut += rec.cut_bytes > 0;
	seen.beyond_durable += rec.end_pos > f->durable;
	seen.lost_written += rec.end_pos < written;
	assert_true(rec.end_pos >= f->durable);
	assert_true(rec.end_pos <= written);
	assert_true(model_boundary(&f->model, rec.end_pos));
	if (mode == IO_FAULT_KEEP_ALL)
		assert_int_equal(lost, 0);
	if (mode == IO_FAULT_DROP_ALL)
		assert_true(rec.end_pos == f->durable || segment_base(f->dir, rec.end_pos));
	/* The log goes on from there. */
	seglog_close(f->log);
	f->log = NULL;
	check_records(f, rec.end_pos);
	f->model.end = rec.end_pos;
	open_log(f, &rec);
	append_batch(f);
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	tseg_assert_rc(seglog_sync(f->log, &pos), 0);
	assert_int_equal(pos, f->model.end);
	seglog_close(f->log);
	f->log = NULL;
	check_records(f, f->model.end);
	fixture_free(f);
}

static void test_power_loss_random(void **state)
{
	(void)state;
	memset(&seen, 0, sizeof(seen));
	for (uint64_t seed = 1; seed <= 60; seed++)
		power_loss_round(seed, IO_FAULT_RANDOM);
	print_message("%u rounds: %u cut a torn tail, %u kept unsynced records, %u lost some\n",
		      seen.rounds, seen.cut, seen.beyond_durable, seen.lost_written);
	assert_true(seen.cut >= 5);
	assert_true(seen.beyond_durable >= 5);
	assert_true(seen.lost_written >= 5);
}

static void test_power_loss_keep_all(void **state)
{
	struct fixture *f = fixture_new(5, 1, 48 * 1024);
	struct seglog_recovery rec;
	uint64_t pos, flushed;

	(void)state;
	io_fault_track(true);
	open_log(f, &rec);
	crash_workload(f, 20, 20);	/* never synced */
	tseg_assert_rc(seglog_flush(f->log, &flushed), 0);
	assert_int_equal(io_fault_power_loss(IO_FAULT_KEEP_ALL, 1), 0);
	seglog_close(f->log);
	f->log = NULL;
	io_fault_reset();
	open_log(f, &rec);
	assert_int_equal(rec.end_pos, flushed);
	assert_int_equal(rec.cut_bytes, 0);
	tseg_assert_rc(seglog_sync(f->log, &pos), 0);
	seglog_close(f->log);
	f->log = NULL;
	check_records(f, flushed);
	fixture_free(f);
}

static void test_power_loss_drop_all(void **state)
{
	(void)state;
	for (uint64_t seed = 100; seed < 110; seed++)
		power_loss_round(seed, IO_FAULT_DROP_ALL);
}

static void test_write_errors_retried(void **state)
{
	struct fixture *f = fixture_new(77, 1, 40 * 1024);
	struct seglog_recovery rec;
	unsigned failures = 0;
	uint64_t pos;

	(void)state;
	open_log(f, &rec);
	for (unsigned b = 0; b < 150; b++) {
		int err = tseg_rand(&f->rng) % 2 ? ENOSPC : EIO;
		unsigned tries;
		int rc = 0;

		append_batch(f);
		/* Fail the next 1..3 writes, after letting 0..2 through: the
		 * header of a new segment, the older buffer, the newer one or
		 * a time index. */
		if (tseg_rand(&f->rng) % 2)
			io_fault_fail_writes(err, (unsigned)(tseg_rand(&f->rng) % 3),
					     1 + (unsigned)(tseg_rand(&f->rng) % 3));
		for (tries = 0; tries < 10; tries++) {
			rc = seglog_flush(f->log, &pos);
			if (rc == 0)
				break;
			assert_int_equal(rc, -err);
			failures++;
		}
		tseg_assert_rc(rc, 0);
		assert_int_equal(pos, f->model.end);
		io_fault_fail_writes(0, 0, 0);
		if (b % 10 == 0)
			tseg_assert_rc(seglog_sync(f->log, &pos), 0);
	}
	assert_true(failures > 30);
	tseg_assert_rc(seglog_sync(f->log, &pos), 0);
	assert_int_equal(pos, f->model.end);
	seglog_close(f->log);
	f->log = NULL;
	/* Nothing lost, nothing doubled, segments contiguous. */
	{
		uint8_t *bytes = NULL;
		uint64_t start, end;
		char why[256];

		if (tseg_read_log(f->dir, TSEG_MAX_RECORD, &bytes, &start, &end, why,
				  sizeof(why)) < 0)
			fail_msg("reading the log: %s", why);
		assert_int_equal(end, f->model.end);
		assert_memory_equal(bytes, f->model.bytes, (size_t)end);
		free(bytes);
	}
	assert_true(tseg_count_segments(f->dir) > 10);
	fixture_free(f);
}

static void test_enospc_nothing_lost(void **state)
{
	struct fixture *f = fixture_new(8, 1, 1u << 20);
	struct seglog_recovery rec;
	uint64_t pos = 12345;

	(void)state;
	open_log(f, &rec);
	append_batch(f);
	/* Three writes fail: a flush writes the data and its time index
	 * entries, so two or three flushes fail before one succeeds. */
	io_fault_fail_writes(ENOSPC, 0, 3);
	tseg_assert_rc(seglog_flush(f->log, &pos), -ENOSPC);
	assert_int_equal(pos, 12345);	/* untouched on error */
	tseg_assert_rc(seglog_flush(f->log, &pos), -ENOSPC);
	assert_int_equal(pos, 12345);
	if (seglog_flush(f->log, &pos) < 0)
		tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	assert_int_equal(pos, f->model.end);
	tseg_assert_rc(seglog_sync(f->log, &pos), 0);
	seglog_close(f->log);
	f->log = NULL;
	check_records(f, f->model.end);
	fixture_free(f);
}

static void test_sync_error_sticky(void **state)
{
	struct fixture *f = fixture_new(9, 1, 1u << 20);
	struct seglog_recovery rec;
	uint64_t pos, durable = 777;

	(void)state;
	open_log(f, &rec);
	append_batch(f);
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	io_fault_fail_syncs(EIO, 0, 1);
	tseg_assert_rc(seglog_sync(f->log, &durable), -EIO);
	/* The fault is spent, but the kernel may have dropped the pages it
	 * failed to write: no durability is claimed any more. */
	tseg_assert_rc(seglog_sync(f->log, &durable), -EIO);
	assert_int_equal(durable, 777);
	/* Writing goes on. */
	append_batch(f);
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	assert_int_equal(pos, f->model.end);
	seglog_close(f->log);
	f->log = NULL;
	/* A restart checks the log and may claim durability again. */
	open_log(f, &rec);
	assert_int_equal(rec.end_pos, f->model.end);
	tseg_assert_rc(seglog_sync(f->log, &durable), 0);
	assert_int_equal(durable, f->model.end);
	seglog_close(f->log);
	f->log = NULL;
	check_records(f, f->model.end);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enospc_nothing_lost),
		cmocka_unit_test(test_write_errors_retried),
		cmocka_unit_test(test_sync_error_sticky),
		cmocka_unit_test(test_power_loss_keep_all),
		cmocka_unit_test(test_power_loss_drop_all),
		cmocka_unit_test(test_power_loss_random),
	};

	return cmocka_run_group_tests_name("seg_crash", tests, NULL, NULL);
}
