/* SPDX-License-Identifier: MIT */
/*
 * record.h - encode and decode record header words; record spans.
 *
 * Pure functions over the bit layout declared in layout.h. Shared by the
 * producer, the reader, the maintainer and (later) ringd's segment code, so
 * that writer and reader agree on one definition.
 */
#ifndef RING_RECORD_H
#define RING_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"
#include "libring/topic.h"

_Static_assert(RING_RECORD_HEADER_BYTES == sizeof(struct ring_record_header),
	       "public header size must match the layout");

#define RING_WORD_LEN_MASK ((UINT64_C(1) << RING_WORD_LEN_BITS) - 1)
#define RING_WORD_LAP_MASK ((UINT64_C(1) << RING_WORD_LAP_BITS) - 1)
#define RING_WORD_SLOT_MASK ((UINT64_C(1) << RING_WORD_SLOT_BITS) - 1)

static inline uint64_t ring_align8(uint64_t n)
{
	return (n + 7) & ~UINT64_C(7);
}

/* Bytes a committed record of @len payload bytes occupies. */
static inline uint64_t ring_record_span(uint64_t len)
{
	return ring_align8(RING_RECORD_HEADER_BYTES + len);
}

static inline uint32_t ring_lap_of(uint64_t pos, unsigned capacity_shift)
{
	return (uint32_t)((pos >> capacity_shift) & RING_WORD_LAP_MASK);
}

static inline uint64_t ring_word_make(enum ring_record_state state, unsigned slot, uint32_t lap,
				      uint32_t len)
{
	return ((uint64_t)state << RING_WORD_STATE_SHIFT) |
	       ((uint64_t)(slot & RING_WORD_SLOT_MASK) << RING_WORD_SLOT_SHIFT) |
	       ((uint64_t)(lap & RING_WORD_LAP_MASK) << RING_WORD_LAP_SHIFT) | len;
}

static inline enum ring_record_state ring_word_state(uint64_t w)
{
	return (enum ring_record_state)(w >> RING_WORD_STATE_SHIFT);
}

static inline unsigned ring_word_slot(uint64_t w)
{
	return (unsigned)((w >> RING_WORD_SLOT_SHIFT) & RING_WORD_SLOT_MASK);
}

static inline uint32_t ring_word_lap(uint64_t w)
{
	return (uint32_t)((w >> RING_WORD_LAP_SHIFT) & RING_WORD_LAP_MASK);
}

static inline uint32_t ring_word_len(uint64_t w)
{
	return (uint32_t)(w & RING_WORD_LEN_MASK);
}

/*
 * The span of a word that has been found COMMITTED or SKIPPED at its own
 * lap, or 0 if the word is malformed: a committed payload over
 * @max_record, a skip that is not a positive multiple of 8 or is larger
 * than @max_span. Everything read from shared memory is validated here
 * before a position is advanced by it.
 */
static inline uint64_t ring_word_span(uint64_t w, uint64_t max_record, uint64_t max_span)
{
	uint32_t len = ring_word_len(w);

	switch (ring_word_state(w)) {
	case RING_STATE_COMMITTED:
		return len <= max_record ? ring_record_span(len) : 0;
	case RING_STATE_SKIPPED:
		return (len >= 8 && len % 8 == 0 && len <= max_span) ? len : 0;
	default:
		return 0;
	}
}

#endif /* RING_RECORD_H */
