/* SPDX-License-Identifier: MIT */
/*
 * Description: the segment writer's overlapped writes (seglog_write_async()
 * in daemon/seglog.h), as ringd's drain loop uses them: one write in
 * flight while the next records are staged into the other buffer.
 * Built twice: without the fault layer (the write really is in flight in
 * the kernel while the test stages more) and with it (-DRINGD_IO_FAULT=1:
 * writes complete at submission, and fail on demand).
 * Positive space: random batches appended, written with or without
 * waiting, synced now and then, across segment rolls, in O_DIRECT and
 * buffered mode: `persisted` never goes back, never passes what is staged,
 * and whenever nothing is in flight the log on disk ends exactly at it,
 * byte for byte the model; a write is seen in flight at some point (the
 * overlap happens); after a sync the log is durable to `persisted`; the
 * final flush leaves nothing in flight and the reopened log is the model.
 * An overlapped sync (seglog_sync_start()) covers at least what was
 * written when it started and at most what is written when it is reaped.
 * Negative space (fault build): writes failing with -ENOSPC while one is
 * in flight, also one reaped by a sync, are reported, leave `persisted`
 * where it was, and a retry writes everything in order, nothing lost, also
 * with the O_DIRECT partial block shared by consecutive buffers; an
 * overlapped sync that fails is sticky like a blocking one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"
#include "io_fault.h"
#include "seglog.h"
#include "segment_format.h"
#include "segment_writer.h"
#include "t_seg.h"

#define BUF_BYTES (256u * 1024u)
#define MODEL_BYTES (24u << 20)

struct fixture {
	char dir[128];
	struct ring_topic_config cfg;
	struct seglog_options opt;
	struct seglog *log;
	struct tseg_gen gen;
	struct tseg_model model;
	uint64_t rng;
	uint8_t *buf;
	uint64_t persisted;	/* the last one reported */
	unsigned seen_in_flight;
	bool sync_started;	/* an overlapped sync was started ... */
	uint64_t sync_target;	/* ... when this much was written */
	unsigned syncs_overlapped;	/* reaped after writes went on */
};

static int setup(void **state, int direct)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || tseg_tmpdir("/tmp", f->dir, sizeof(f->dir)) < 0)
		return -1;
	f->cfg.capacity_bytes = UINT64_C(1) << TSEG_CAP_SHIFT;
	f->cfg.max_record_bytes = TSEG_MAX_RECORD;
	f->cfg.segment_bytes = UINT64_C(1) << 20;	/* rolls every 1 MiB */
	f->opt.direct_io = direct;
	f->opt.staging_bytes = 128u * 1024u;		/* many writes per segment */
	f->rng = 0xa5f0 + (uint64_t)direct;
	tseg_gen_init(&f->gen, 7 + (uint64_t)direct);
	f->buf = malloc(BUF_BYTES);
	if (!f->buf || tseg_model_init(&f->model, 0, MODEL_BYTES) < 0)
		return -1;
	*state = f;
	return 0;
}

static int setup_direct(void **state)
{
	return setup(state, 1);
}

static int setup_buffered(void **state)
{
	return setup(state, 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

#if RINGD_IO_FAULT
	io_fault_reset();
#endif
	seglog_close(f->log);
	tseg_rmdir(f->dir);
	tseg_model_free(&f->model);
	free(f->buf);
	free(f);
	return 0;
}

static void open_log(struct fixture *f)
{
	struct seglog_recovery rec;

	tseg_assert_rc(seglog_open(f->dir, &f->cfg, &f->opt, &f->log, &rec), 0);
	assert_int_equal(rec.end_pos, f->model.end);
	f->persisted = f->model.end;
}

/* A `persisted` just reported: in order, and never past what is staged. */
static void saw_persisted(struct fixture *f, uint64_t pos)
{
	assert_true(pos >= f->persisted);
	assert_true(pos <= f->model.end);
	assert_int_equal(pos, seglog_persisted(f->log));
	f->persisted = pos;
}

/* With nothing in flight, the log on disk is the model up to `persisted`,
 * and ends there. */
static void check_disk(struct fixture *f)
{
	uint8_t *bytes = NULL;
	uint64_t start, end;
	char why[256];
	int rc;

	assert_false(seglog_writing(f->log));
	rc = tseg_read_log(f->dir, TSEG_MAX_RECORD, &bytes, &start, &end, why, sizeof(why));
	if (rc < 0)
		fail_msg("reading the log: %d %s", rc, why);
	assert_int_equal(start, f->model.start);
	assert_int_equal(end, f->persisted);
	assert_memory_equal(bytes, f->model.bytes, (size_t)(end - start));
	free(bytes);
}

/* One write step as the drain loop does it: -errno passed through. */
static int write_step(struct fixture *f, bool wait)
{
	uint64_t pos = f->persisted;
	int rc = seglog_write_async(f->log, wait, &pos);

	if (rc < 0)
		return rc;
	saw_persisted(f, pos);
	if (seglog_writing(f->log))
		f->seen_in_flight++;
	return 0;
}

/* Stage all of @buf, writing (and, when staging is full, waiting) as
 * needed. */
static void stage_all(struct fixture *f, const uint8_t *buf, size_t n)
{
	size_t off = 0;
	unsigned stalls = 0;

	while (off < n) {
		int64_t r = seglog_append(f->log, f->model.end, buf + off, n - off);

		assert_true(r >= 0);
		if (r == 0) {
			/* Both buffers taken: the drain loop waits here. */
			assert_true(++stalls < 8);
			tseg_assert_rc(write_step(f, true), 0);
			continue;
		}
		stalls = 0;
		tseg_model_add(&f->model, buf + off, (size_t)r);
		off += (size_t)r;
		/* Overlap: start or look at the write, don't wait. */
		tseg_assert_rc(write_step(f, false), 0);
	}
}

/* Random batches of @total bytes; random waits, syncs, disk checks. */
static void drive(struct fixture *f, uint64_t total)
{
	uint64_t stop = f->model.end + total, durable, pos;

	while (f->model.end < stop) {
		size_t want = 1 + (size_t)(tseg_rand(&f->rng) % 60000);
		size_t n = tseg_make(&f->gen, f->buf, want, f->model.end);

		stage_all(f, f->buf, n);
		switch (tseg_rand(&f->rng) % 8) {
		case 0:
		case 1:
			tseg_assert_rc(write_step(f, true), 0);
			break;
		case 2:
			/* A sync waits for the write in flight and covers it. */
			tseg_assert_rc(seglog_sync(f->log, &durable), 0);
			saw_persisted(f, seglog_persisted(f->log));
			assert_false(seglog_writing(f->log));
			assert_int_equal(durable, f->persisted);
			check_disk(f);
			break;
		case 3:
			tseg_assert_rc(seglog_flush(f->log, &pos), 0);
			saw_persisted(f, pos);
			assert_int_equal(pos, f->model.end);
			check_disk(f);
			break;
		case 4:
			/* An overlapped sync: it covers what is written now, and
			 * writing goes on while it runs. */
			if (!f->sync_started) {
				tseg_assert_rc(seglog_sync_start(f->log), 0);
				f->sync_started = seglog_syncing(f->log);
				f->sync_target = seglog_persisted(f->log);
			}
			break;
		case 5:
			if (f->sync_started) {
				bool waited = seglog_persisted(f->log) > f->sync_target;

				tseg_assert_rc(seglog_sync_reap(f->log, true, &durable), 0);
				assert_false(seglog_syncing(f->log));
				assert_true(durable >= f->sync_target);
				assert_true(durable <= seglog_persisted(f->log));
				f->syncs_overlapped += waited;
				f->sync_started = false;
			}
			break;
		default:
			break;
		}
	}
}

static void finish_and_check(struct fixture *f)
{
	uint64_t pos;

	/* A blocking sync reaps an overlapped one too. */
	f->sync_started = false;
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	saw_persisted(f, pos);
	assert_int_equal(pos, f->model.end);
	assert_false(seglog_writing(f->log));
	tseg_assert_rc(seglog_sync(f->log, &pos), 0);
	assert_int_equal(pos, f->model.end);
	check_disk(f);
	seglog_close(f->log);
	f->log = NULL;
	/* Reopened: the same log, and appending goes on from its end. */
	open_log(f);
	check_disk(f);
}

static void test_overlapped_roundtrip(void **state)
{
	struct fixture *f = *state;

	open_log(f);
	assert_int_equal(seglog_direct_io(f->log), f->opt.direct_io);
	drive(f, 6u << 20);
	finish_and_check(f);
	assert_true(tseg_count_segments(f->dir) >= 5);
	drive(f, 2u << 20);
	finish_and_check(f);
	/* Writes were left in flight while more was staged, and writes
	 * completed while a sync was in flight. */
	assert_true(f->seen_in_flight > 0);
	assert_true(f->syncs_overlapped > 0);
}

#if RINGD_IO_FAULT
/* Stage one batch and start its write; the fault layer fails it. */
static void stage_and_fail(struct fixture *f, size_t want)
{
	size_t n = tseg_make(&f->gen, f->buf, want, f->model.end);
	int64_t r = seglog_append(f->log, f->model.end, f->buf, n);
	uint64_t before = f->persisted;

	assert_int_equal(r, (int64_t)n);
	tseg_model_add(&f->model, f->buf, n);
	/* Submitted; the failure comes when it is reaped. */
	tseg_assert_rc(write_step(f, false), 0);
	tseg_assert_rc(write_step(f, true), -ENOSPC);
	assert_int_equal(seglog_persisted(f->log), before);
	assert_false(seglog_writing(f->log));
}

static void test_enospc_in_flight(void **state)
{
	struct fixture *f = *state;
	uint64_t durable, before;
	unsigned errors = 0;
	size_t n;
	int rc;

	open_log(f);
	drive(f, 1u << 20);
	tseg_assert_rc(seglog_flush(f->log, &f->persisted), 0);

	/* A write fails; meanwhile the next records were staged into the
	 * other buffer (starting with the failed one's partial block). */
	io_fault_fail_writes(ENOSPC, 0, 1);
	stage_and_fail(f, 3000);
	n = tseg_make(&f->gen, f->buf, 5000, f->model.end);
	assert_int_equal(seglog_append(f->log, f->model.end, f->buf, n), (int64_t)n);
	tseg_model_add(&f->model, f->buf, n);
	/* Still failing (the data write, or it and its time index write):
	 * reported again, nothing moves; then the sealed (older) buffer
	 * goes first and the rest after it. */
	io_fault_fail_writes(ENOSPC, 0, 2);
	before = f->persisted;
	for (unsigned i = 0; i < 12; i++) {
		if (f->persisted == f->model.end && !seglog_writing(f->log))
			break;
		rc = write_step(f, true);
		if (rc == -ENOSPC) {
			errors++;
			assert_int_equal(f->persisted, before);
			continue;
		}
		tseg_assert_rc(rc, 0);
	}
	assert_true(errors >= 1);
	assert_int_equal(f->persisted, f->model.end);
	check_disk(f);

	/* A failure reaped by a sync: the sync covers what completed and
	 * the next write step reports the failure; a retry writes it. */
	n = tseg_make(&f->gen, f->buf, 4000, f->model.end);
	assert_int_equal(seglog_append(f->log, f->model.end, f->buf, n), (int64_t)n);
	tseg_model_add(&f->model, f->buf, n);
	tseg_assert_rc(seglog_sync(f->log, &durable), 0);
	assert_int_equal(durable, f->persisted);
	io_fault_fail_writes(ENOSPC, 0, 1);
	before = f->persisted;
	tseg_assert_rc(write_step(f, false), 0);
	assert_true(seglog_writing(f->log));
	tseg_assert_rc(seglog_sync(f->log, &durable), 0);
	assert_int_equal(durable, before);
	assert_int_equal(seglog_persisted(f->log), before);
	tseg_assert_rc(write_step(f, false), -ENOSPC);
	tseg_assert_rc(write_step(f, true), 0);
	tseg_assert_rc(write_step(f, true), 0);
	assert_int_equal(f->persisted, f->model.end);

	/* And overlapped writing goes on. */
	drive(f, 1u << 20);
	finish_and_check(f);
}

/* An overlapped sync that fails is as sticky as a blocking one. */
static void test_sync_failure_in_flight(void **state)
{
	struct fixture *f = *state;
	uint64_t durable = 4242, pos;

	open_log(f);
	drive(f, 1u << 20);
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	tseg_assert_rc(seglog_sync(f->log, &durable), 0);
	stage_all(f, f->buf, tseg_make(&f->gen, f->buf, 20000, f->model.end));
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	saw_persisted(f, pos);
	io_fault_fail_syncs(EIO, 0, 1);
	tseg_assert_rc(seglog_sync_start(f->log), 0);
	assert_true(seglog_syncing(f->log));
	pos = durable;
	tseg_assert_rc(seglog_sync_reap(f->log, true, &pos), -EIO);
	assert_int_equal(pos, durable);		/* untouched */
	assert_false(seglog_syncing(f->log));
	/* The fault is spent, but no durability is claimed any more. */
	tseg_assert_rc(seglog_sync_start(f->log), -EIO);
	tseg_assert_rc(seglog_sync(f->log, &pos), -EIO);
	/* Writing goes on; a reopen checks the log and may sync again. */
	for (unsigned i = 0; i < 8; i++)
		stage_all(f, f->buf, tseg_make(&f->gen, f->buf, 30000, f->model.end));
	tseg_assert_rc(seglog_flush(f->log, &pos), 0);
	saw_persisted(f, pos);
	check_disk(f);
	seglog_close(f->log);
	f->log = NULL;
	open_log(f);
	tseg_assert_rc(seglog_sync(f->log, &pos), 0);
	assert_int_equal(pos, f->model.end);
	check_disk(f);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_overlapped_roundtrip, setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_overlapped_roundtrip, setup_buffered, teardown),
#if RINGD_IO_FAULT
		cmocka_unit_test_setup_teardown(test_enospc_in_flight, setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_enospc_in_flight, setup_buffered, teardown),
		cmocka_unit_test_setup_teardown(test_sync_failure_in_flight, setup_buffered, teardown),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
