/* SPDX-License-Identifier: MIT */
/*
 * segment_format.h - the bytes of a topic's segment files and time indexes,
 * shared by the one writer (ringd's segment_writer.c and recovery.c) and
 * every reader (segment_reader.c, ringctl verify/dump). docs/design/
 * segment-format.md explains the format; this file is its only definition.
 *
 * DATA_DIR/<topic>/<20-digit base position>.seg holds a 4096-byte header
 * and then the log bytes [base, end) verbatim: position p is at file offset
 * RING_SEG_HEADER_BYTES + (p - base). The records are the ring's own bytes
 * (layout.h struct ring_record_header + payload padded to 8), except that
 * ringd fills in each committed record's crc32c field. <same>.tix is the
 * segment's sparse time index.
 *
 * Everything here is a pure function over bytes: no I/O, no allocation.
 * A record is always read from a private copy (a buffer the caller owns)
 * and never re-read after it was checked.
 */
#ifndef RING_SEGMENT_FORMAT_H
#define RING_SEGMENT_FORMAT_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "layout.h"
#include "record.h"

/* The format is little-endian and the records are copied from the ring in
 * host byte order: a big-endian host would write another format. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "segment files are little-endian");

/* "RLSEG\0\0\x01": the last byte doubles as a format generation marker. */
#define RING_SEG_MAGIC "RLSEG\0\0\x01"
#define RING_SEG_MAGIC_BYTES 8u
#define RING_SEG_FORMAT_VERSION 1u
#define RING_SEG_HEADER_BYTES 4096u
/* O_DIRECT unit: file offsets, lengths and buffer addresses of direct
 * writes are multiples of it. Also the size of the header, so that the
 * log bytes start on a block boundary when base is block-aligned. */
#define RING_SEG_BLOCK_BYTES 4096u

#define RING_SEG_SUFFIX ".seg"
#define RING_TIX_SUFFIX ".tix"
/* A segment being created: written, synced, then renamed to its name, so
 * that a ".seg" file always has a complete header. Leftovers are garbage. */
#define RING_SEG_TMP_SUFFIX ".seg.tmp"
#define RING_SEG_NAME_DIGITS 20u
/* "<20 digits>" and the longest suffix (".seg.tmp"), plus the NUL. */
#define RING_SEG_NAME_BYTES (RING_SEG_NAME_DIGITS + 8u + 1u)

/* One time index entry at most every this many bytes of log (and always
 * one for the first committed record of a segment). */
#define RING_TIX_INTERVAL_BYTES 65536u

/*
 * The segment file header: the first 40 bytes of the file, then zeros up
 * to RING_SEG_HEADER_BYTES. header_crc32c covers bytes [0, 36).
 */
struct ring_seg_header {
	uint8_t magic[RING_SEG_MAGIC_BYTES];	/* RING_SEG_MAGIC */
	uint32_t format_version;		/* RING_SEG_FORMAT_VERSION */
	uint32_t header_bytes;			/* RING_SEG_HEADER_BYTES */
	uint64_t base_pos;			/* position of the first byte of log */
	uint64_t created_ns;			/* CLOCK_REALTIME when the file was made */
	uint32_t flags;				/* 0; nonzero is refused */
	uint32_t header_crc32c;			/* CRC32C of the bytes before it */
};

_Static_assert(offsetof(struct ring_seg_header, format_version) == 8, "segment header");
_Static_assert(offsetof(struct ring_seg_header, header_bytes) == 12, "segment header");
_Static_assert(offsetof(struct ring_seg_header, base_pos) == 16, "segment header");
_Static_assert(offsetof(struct ring_seg_header, created_ns) == 24, "segment header");
_Static_assert(offsetof(struct ring_seg_header, flags) == 32, "segment header");
_Static_assert(offsetof(struct ring_seg_header, header_crc32c) == 36, "segment header");
_Static_assert(sizeof(struct ring_seg_header) == 40, "segment header is 40 bytes");
_Static_assert(sizeof(struct ring_seg_header) <= RING_SEG_HEADER_BYTES, "header fits");
_Static_assert(RING_SEG_HEADER_BYTES % RING_SEG_BLOCK_BYTES == 0, "log starts on a block");

/* A time index entry: the records from `pos` on (in this segment) have
 * timestamps >= roughly timestamp_ns. Timestamps never decrease along the
 * file: each is the maximum of its record's and the previous entry's. */
struct ring_tix_entry {
	uint64_t timestamp_ns;
	uint64_t pos;
};

_Static_assert(sizeof(struct ring_tix_entry) == 16, "time index entries are 16 bytes");
#define RING_TIX_ENTRY_BYTES 16u

/*
 * The record header as bytes: these offsets are what the CRC covers, so
 * they are pinned here as well as in layout.h.
 */
#define RING_REC_OFF_WORD 0u
#define RING_REC_OFF_TIMESTAMP 8u
#define RING_REC_OFF_TYPE 16u
#define RING_REC_OFF_CRC 20u
_Static_assert(offsetof(struct ring_record_header, timestamp_ns) == RING_REC_OFF_TIMESTAMP,
	       "record header");
_Static_assert(offsetof(struct ring_record_header, type) == RING_REC_OFF_TYPE, "record header");
_Static_assert(offsetof(struct ring_record_header, crc32c) == RING_REC_OFF_CRC, "record header");

/* ---- unaligned little-endian access to private copies ---- */

static inline uint64_t ring_seg_get64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t ring_seg_get32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void ring_seg_put32(void *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* ---- the file header ---- */

/* Fill @buf (RING_SEG_HEADER_BYTES) with the header of a new segment. */
static inline void ring_seg_header_make(void *buf, uint64_t base_pos, uint64_t created_ns)
{
	struct ring_seg_header h;

	memset(buf, 0, RING_SEG_HEADER_BYTES);
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, RING_SEG_MAGIC, RING_SEG_MAGIC_BYTES);
	h.format_version = RING_SEG_FORMAT_VERSION;
	h.header_bytes = RING_SEG_HEADER_BYTES;
	h.base_pos = base_pos;
	h.created_ns = created_ns;
	h.flags = 0;
	h.header_crc32c = ringi_crc32c(0, &h, offsetof(struct ring_seg_header, header_crc32c));
	memcpy(buf, &h, sizeof(h));
}

/*
 * Check a header read from disk (@len bytes at @buf, at least its first 40
 * are needed). On success *ret_header is a copy of it.
 *
 * @return 0, or -EBADMSG with *ret_reason set (a static string).
 */
static inline int ring_seg_header_check(const void *buf, size_t len,
					struct ring_seg_header *ret_header,
					const char **ret_reason)
{
	struct ring_seg_header h;
	const char *why = NULL;

	if (len < sizeof(h)) {
		*ret_reason = "header truncated";
		return -EBADMSG;
	}
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, RING_SEG_MAGIC, RING_SEG_MAGIC_BYTES) != 0)
		why = "bad magic";
	else if (h.header_crc32c !=
		 ringi_crc32c(0, &h, offsetof(struct ring_seg_header, header_crc32c)))
		why = "header crc mismatch";
	else if (h.format_version != RING_SEG_FORMAT_VERSION)
		why = "unknown format version";
	else if (h.header_bytes != RING_SEG_HEADER_BYTES)
		why = "bad header size";
	else if (h.flags != 0)
		why = "unknown header flags";
	else if (h.base_pos % 8)
		why = "base not a record boundary";
	if (why) {
		*ret_reason = why;
		return -EBADMSG;
	}
	*ret_header = h;
	return 0;
}

/* ---- records ---- */

/*
 * CRC32C of a committed record: header bytes [0, 20) (word, timestamp_ns,
 * type), then the @len payload bytes that follow the 24-byte header. The
 * crc32c field itself and the padding to 8 are not covered.
 */
static inline uint32_t ring_seg_record_crc(const void *rec, uint32_t len)
{
	const uint8_t *p = rec;
	uint32_t crc = ringi_crc32c(0, p, RING_REC_OFF_CRC);

	/* One CRC over two pieces: ringi_crc32c pre- and post-inverts, so
	 * feeding its result back in as the seed continues the stream. */
	return ringi_crc32c(crc, p + RING_RECORD_HEADER_BYTES, len);
}

/* The word of a skip of @len bytes as it is on disk: the maintainer's
 * slot and lap 0, whatever the ring had (ringctl recover writes these). */
static inline uint64_t ring_seg_skip_word(uint32_t len)
{
	return ring_word_make(RING_STATE_SKIPPED, RING_SLOT_MAINTAINER, 0, len);
}

/* What a word at a position says about the record there. */
enum ring_seg_verdict {
	RING_SEG_REC_OK = 0,	/* a valid record of *ret_span bytes */
	RING_SEG_REC_END,	/* a zero word or no bytes: the normal end of the log */
	RING_SEG_REC_BAD,	/* damage: *ret_reason says what */
};

/*
 * Judge the record whose first @avail bytes (up to the end of the file or
 * of the caller's limit) are at @rec, by its word alone: the span it
 * claims and whether that span fits. The CRC is checked separately by
 * ring_seg_record_check() once the whole span is in memory.
 *
 * The lap bits are not checked: a segment outlives the ring's capacity.
 */
static inline enum ring_seg_verdict ring_seg_word_judge(const void *rec, uint64_t avail,
							uint64_t max_record,
							uint64_t *ret_span,
							const char **ret_reason)
{
	uint64_t w, span;
	uint32_t len;

	if (avail == 0)
		return RING_SEG_REC_END;
	if (avail < 8) {
		/* A partial word: zeros are padding, anything else is torn. */
		const uint8_t *p = rec;

		for (uint64_t i = 0; i < avail; i++) {
			if (p[i]) {
				*ret_reason = "truncated header";
				return RING_SEG_REC_BAD;
			}
		}
		return RING_SEG_REC_END;
	}
	w = ring_seg_get64(rec);
	if (w == 0)
		return RING_SEG_REC_END;
	len = ring_word_len(w);
	switch (ring_word_state(w)) {
	case RING_STATE_COMMITTED:
		if (len > max_record) {
			*ret_reason = "record longer than max_record_bytes";
			return RING_SEG_REC_BAD;
		}
		span = ring_record_span(len);
		break;
	case RING_STATE_SKIPPED:
		if (len < 8 || len % 8) {
			*ret_reason = "bad skip length";
			return RING_SEG_REC_BAD;
		}
		/* On disk every skip word is canonical (no CRC covers it):
		 * see ring_seg_record_normalize(). */
		if (w != ring_seg_skip_word(len)) {
			*ret_reason = "bad skip word";
			return RING_SEG_REC_BAD;
		}
		span = len;
		break;
	default:
		*ret_reason = "bad record state";
		return RING_SEG_REC_BAD;
	}
	if (span > avail) {
		*ret_reason = avail < RING_RECORD_HEADER_BYTES &&
					      ring_word_state(w) == RING_STATE_COMMITTED
				      ? "truncated header"
				      : "truncated record";
		return RING_SEG_REC_BAD;
	}
	*ret_span = span;
	return RING_SEG_REC_OK;
}

/* True if the @n bytes at @p are all zero. */
static inline bool ring_seg_all_zero(const void *p, uint64_t n)
{
	const uint8_t *b = p;

	for (uint64_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/*
 * Make the record at @rec (ring_seg_word_judge() said OK, @span bytes)
 * canonical for the disk: a committed record's padding after its payload
 * and everything of a skip after its word become zeros, and a skip's word
 * loses the ring's lap and slot (ring_seg_skip_word()). The ring may hold
 * anything there (a dead producer's half-written payload under a repaired
 * claim, bytes a producer wrote past its length); on disk they are zero,
 * so that a reader can check them: a flipped bit anywhere in the log is
 * then detected, including one that turns a committed record into a skip
 * (the state bits are outside the CRC's reach otherwise).
 */
static inline void ring_seg_record_normalize(void *rec, uint64_t span)
{
	uint8_t *p = rec;
	uint64_t w = ring_seg_get64(p);

	if (ring_word_state(w) == RING_STATE_COMMITTED) {
		uint64_t end = RING_RECORD_HEADER_BYTES + ring_word_len(w);

		if (end < span)
			memset(p + end, 0, (size_t)(span - end));
	} else {
		uint64_t canon = ring_seg_skip_word(ring_word_len(w));

		memcpy(p, &canon, sizeof(canon));
		if (span > 8)
			memset(p + 8, 0, (size_t)(span - 8));
	}
}

/*
 * Judge a whole record in memory: ring_seg_word_judge() and then, for a
 * committed record, its CRC and zero padding; for a skip, that all of it
 * after the word is zero (ring_seg_record_normalize()). @avail bytes are
 * readable at @rec, and must cover the span; a reader that cannot hold a
 * large skip in memory judges its word with ring_seg_word_judge() and its
 * body piecewise with ring_seg_all_zero() (segment_reader.c does).
 */
static inline enum ring_seg_verdict ring_seg_record_check(const void *rec, uint64_t avail,
							  uint64_t max_record,
							  uint64_t *ret_span,
							  const char **ret_reason)
{
	const uint8_t *p = rec;
	uint64_t span = 0, w;
	enum ring_seg_verdict v = ring_seg_word_judge(rec, avail, max_record, &span, ret_reason);

	if (v != RING_SEG_REC_OK)
		return v;
	w = ring_seg_get64(rec);
	if (ring_word_state(w) == RING_STATE_COMMITTED) {
		uint64_t end = RING_RECORD_HEADER_BYTES + ring_word_len(w);

		if (ring_seg_get32(p + RING_REC_OFF_CRC) !=
		    ring_seg_record_crc(rec, ring_word_len(w))) {
			*ret_reason = "crc mismatch";
			return RING_SEG_REC_BAD;
		}
		if (end < span && !ring_seg_all_zero(p + end, span - end)) {
			*ret_reason = "nonzero record padding";
			return RING_SEG_REC_BAD;
		}
	} else if (span > 8 && !ring_seg_all_zero(p + 8, span - 8)) {
		*ret_reason = "nonzero bytes in a skip";
		return RING_SEG_REC_BAD;
	}
	*ret_span = span;
	return RING_SEG_REC_OK;
}

/* ---- names ---- */

/* "<20-digit base><suffix>" into @buf; 0 or -ENAMETOOLONG. */
static inline int ring_seg_name(char *buf, size_t size, uint64_t base_pos, const char *suffix)
{
	int n = snprintf(buf, size, "%020" PRIu64 "%s", base_pos, suffix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Parse "<20 digits><suffix>": 0 and *ret_base, or -EINVAL for any other
 * name (so that temporary and foreign files are ignored). */
static inline int ring_seg_name_parse(const char *name, const char *suffix, uint64_t *ret_base)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < RING_SEG_NAME_DIGITS; i++) {
		unsigned d;

		if (name[i] < '0' || name[i] > '9')
			return -EINVAL;
		d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (strcmp(name + RING_SEG_NAME_DIGITS, suffix) != 0)
		return -EINVAL;
	*ret_base = v;
	return 0;
}

/* ---- time index rule, shared by the writer and recovery ---- */

/*
 * Whether a committed record at @pos gets a time index entry, given the
 * segment's last entry so far (@have_last false: none yet).
 */
static inline bool ring_tix_wants(bool have_last, uint64_t last_pos, uint64_t pos)
{
	return !have_last || pos - last_pos >= RING_TIX_INTERVAL_BYTES;
}

#endif /* RING_SEGMENT_FORMAT_H */
