/* SPDX-License-Identifier: MIT */
/*
 * t_seg.h - helpers for the storage tests: temporary directories,
 * synthetic ring bytes (committed records and skips, with laps, as a ring
 * would hold them), an expected-log model and a reader of the log on disk
 * that checks it independently of the writer.
 *
 * Include after <cmocka.h>. Nothing here calls exit(); everything is
 * bounded by its arguments.
 */
#ifndef RING_TEST_T_SEG_H
#define RING_TEST_T_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libring.h"

/* cmocka 1.1.5 prints negative ints as huge hex numbers. */
#define tseg_assert_rc(expr, expected)                                                   \
	do {                                                                             \
		long long rc_ = (long long)(expr), want_ = (long long)(expected);        \
		if (rc_ != want_)                                                        \
			fail_msg("%s = %lld (%s), expected %lld", #expr, rc_,            \
				 rc_ < 0 ? ring_strerror((int)rc_) : "", want_);         \
	} while (0)

/* The fake ring the records seem to come from: laps change every 64 KiB. */
#define TSEG_CAP_SHIFT 16u
#define TSEG_MAX_RECORD 4000u

uint64_t tseg_rand(uint64_t *state);

/* A fresh directory under @parent ("/tmp" or "/dev/shm"): 0 or -errno. */
int tseg_tmpdir(const char *parent, char *buf, size_t len);
/* Remove a directory made by tseg_tmpdir() and the files in it. */
void tseg_rmdir(const char *path);

/* Synthetic records. */
struct tseg_gen {
	uint64_t rng;
	uint64_t ts_ns;		/* timestamps grow by 0..999 ns per record */
	uint32_t max_len;	/* committed payloads are 0..max_len bytes */
	unsigned skip_every;	/* about one record in skip_every is a skip; 0: none */
};

void tseg_gen_init(struct tseg_gen *g, uint64_t seed);

/*
 * Fill @buf with whole records for positions from @pos, at most @cap
 * bytes: committed records (random payload, a wrong crc32c the writer must
 * replace) and skips (garbage inside). Returns the bytes made.
 */
size_t tseg_make(struct tseg_gen *g, uint8_t *buf, size_t cap, uint64_t pos);

/* Committed records' CRC32C filled in and skip bodies zeroed, as the log
 * must hold them; the CRC is computed with the table-driven CRC (not the
 * writer's helper). */
void tseg_expect_fixup(uint8_t *buf, size_t len);

/* A growing copy of what the log should hold, from position `start`. */
struct tseg_model {
	uint8_t *bytes;
	uint64_t start, end;
	size_t cap;
};

int tseg_model_init(struct tseg_model *m, uint64_t start, size_t cap);
void tseg_model_free(struct tseg_model *m);
/* Append ring bytes (fixed up) at the model's end. */
void tseg_model_add(struct tseg_model *m, const uint8_t *ring_bytes, size_t len);

/*
 * Read the whole log in @dir: every segment's header, contiguity (the base
 * of each segment is the end of the previous one) and every record (span,
 * CRC), with the reader in libring/segment_reader.c. On success
 * *ret_bytes is a malloc()ed copy of the log bytes [*ret_start, *ret_end).
 *
 * @return 0, -EBADMSG (damage: message in @why), -errno.
 */
int tseg_read_log(const char *dir, uint64_t max_record, uint8_t **ret_bytes,
		  uint64_t *ret_start, uint64_t *ret_end, char *why, size_t why_len);

/* Size of a file, or -errno. */
int64_t tseg_file_size(const char *path);

/* Number of "*.seg" files in @dir. */
unsigned tseg_count_segments(const char *dir);

/* A file's path in @dir: "<dir>/<20-digit base><suffix>". */
void tseg_path(char *buf, size_t len, const char *dir, uint64_t base, const char *suffix);

#endif /* RING_TEST_T_SEG_H */
