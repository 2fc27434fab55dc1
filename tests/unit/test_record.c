/* SPDX-License-Identifier: MIT */
/*
 * Description: record framing on one anonymous 64 KiB topic in one process.
 * Positive space: records of 0, 1, 7, 8, 9, 24 and max_record_bytes payload
 * bytes round-trip byte for byte with their type, position, timestamp and
 * next_position (position + 8-aligned header + payload); reserve/commit
 * writes in place (a gating reader sees the very bytes the claim pointed
 * to) and is invisible until committed; an aborted claim becomes padding
 * that readers skip; a batch arrives whole, in order, at consecutive
 * positions. Negative space: a payload over max_record_bytes, a batch with
 * one oversize record or a total over capacity / 4, an empty or too long
 * batch, a second open claim: each fails with its documented errno,
 * publishes nothing and leaves ret_ parameters untouched.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"

#define CAP (UINT64_C(64) << 10)
#define MAX_RECORD ((uint32_t)(CAP / 4 - RING_RECORD_HEADER_BYTES))

struct fixture {
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct ring_reader *reader;	/* ordinary, from the earliest record */
	uint64_t rng;
	uint8_t buf[CAP / 4];
};

static int setup_topic(void **state)
{
	static struct fixture f;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_ANON,
	};

	memset(&f, 0, sizeof(f));
	f.rng = 0x1234;
	if (ring_topic_create(NULL, NULL, &cfg, &f.topic) < 0 ||
	    ring_producer_open(f.topic, &f.prod) < 0 ||
	    ring_reader_open(f.topic, NULL, &f.reader) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown_topic(void **state)
{
	struct fixture *f = *state;

	f->reader = ring_reader_close(f->reader);
	f->prod = ring_producer_close(f->prod);
	f->topic = ring_topic_close(f->topic);
	return 0;
}

static uint64_t span_of(uint64_t len)
{
	return (RING_RECORD_HEADER_BYTES + len + 7) & ~UINT64_C(7);
}

static uint64_t tail_of(struct ring_topic *t)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(t, &st), 0);
	return st.tail_pos;
}

static void fill_random(struct fixture *f, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)t_rand(&f->rng);
}

static void test_publish_sizes_round_trip_byte_for_byte(void **state)
{
	struct fixture *f = *state;
	static const uint32_t sizes[] = { 0, 1, 7, 8, 9, 24, 100, 4095, MAX_RECORD };
	uint64_t expect_pos = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t len = sizes[i], type = 0xabc00000u + (uint32_t)i;
		uint64_t pos = UINT64_MAX, before, after;
		struct ring_record rec;

		fill_random(f, f->buf, len);
		before = t_realtime_ns();
		assert_rc(ring_producer_publish(f->prod, type, len ? f->buf : NULL, len, 0, &pos),
			  0);
		after = t_realtime_ns();
		assert_int_equal(pos, expect_pos);

		assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
		assert_int_equal(rec.len, len);
		assert_int_equal(rec.type, type);
		assert_int_equal(rec.position, pos);
		assert_int_equal(rec.next_position, pos + span_of(len));
		assert_true(rec.timestamp_ns >= before && rec.timestamp_ns <= after);
		assert_int_equal((uintptr_t)rec.payload % 8, 0);
		if (len)
			assert_memory_equal(rec.payload, f->buf, len);
		assert_int_equal(ring_reader_position(f->reader), rec.next_position);
		expect_pos = rec.next_position;
	}
	assert_int_equal(tail_of(f->topic), expect_pos);
	assert_rc(ring_reader_next(f->reader, &(struct ring_record){ 0 }, 0), -EAGAIN);
}

static void test_publish_zero_length_with_null_data_succeeds(void **state)
{
	struct fixture *f = *state;
	struct ring_record rec;

	assert_rc(ring_producer_publish(f->prod, 7, NULL, 0, 0, NULL), 0);
	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_int_equal(rec.len, 0);
	assert_int_equal(rec.type, 7);
	assert_int_equal(rec.next_position, RING_RECORD_HEADER_BYTES);
	/* NULL data with a length is a caller bug, not an empty record. */
	assert_rc(ring_producer_publish(f->prod, 7, NULL, 1, 0, NULL), -EINVAL);
}

static void test_reserve_commit_writes_in_place_and_is_hidden_until_commit(void **state)
{
	struct fixture *f = *state;
	const struct ring_reader_config gcfg = { .start = RING_START_EARLIEST,
						 .flags = RING_READER_GATING };
	struct ring_reader *gating = NULL;
	struct ring_claim claim;
	struct ring_record rec;

	assert_rc(ring_reader_open(f->topic, &gcfg, &gating), 0);
	assert_rc(ring_producer_reserve(f->prod, 42, 100, 0, &claim), 0);
	assert_non_null(claim.payload);
	assert_int_equal((uintptr_t)claim.payload % 8, 0);
	assert_int_equal(claim.len, 100);
	assert_int_equal(claim.type, 42);
	assert_int_equal(claim.position, 0);
	assert_int_equal(tail_of(f->topic), span_of(100));

	/* Claimed is not published: neither kind of reader may see it. */
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EAGAIN);
	assert_rc(ring_reader_next(gating, &rec, 0), -EAGAIN);

	fill_random(f, claim.payload, 100);
	memcpy(f->buf, claim.payload, 100);
	assert_rc(ring_producer_commit(f->prod, &claim), 0);

	/* Zero copy: the gating reader is handed the bytes in the ring. */
	assert_rc(ring_reader_next(gating, &rec, 0), 0);
	assert_ptr_equal(rec.payload, claim.payload);
	assert_int_equal(rec.len, 100);
	assert_int_equal(rec.type, 42);
	/* The ordinary reader gets a validated copy of the same bytes. */
	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_ptr_not_equal(rec.payload, claim.payload);
	assert_memory_equal(rec.payload, f->buf, 100);
	gating = ring_reader_close(gating);
}

static void test_reserve_twice_is_einval_and_claim_untouched(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim, second, before;

	assert_rc(ring_producer_reserve(f->prod, 1, 16, 0, &claim), 0);
	memset(&second, 0x5a, sizeof(second));
	before = second;
	assert_rc(ring_producer_reserve(f->prod, 1, 16, 0, &second), -EINVAL);
	assert_memory_equal(&second, &before, sizeof(second));
	assert_int_equal(tail_of(f->topic), span_of(16));
	/* No batch either while a claim is open. */
	assert_rc(ring_producer_publish_batch(f->prod, &(struct ring_message){ "x", 1, 1 }, 1, 0,
					      NULL),
		  -EINVAL);
	assert_rc(ring_producer_commit(f->prod, &claim), 0);
	/* The claim is closed now: committing it again is a caller bug. */
	assert_rc(ring_producer_commit(f->prod, &claim), -EINVAL);
	assert_rc(ring_producer_abort(f->prod, &claim), -EINVAL);
}

static void test_commit_of_foreign_claim_is_einval(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim, forged;

	assert_rc(ring_producer_reserve(f->prod, 1, 16, 0, &claim), 0);
	forged = claim;
	forged.position += 8;
	assert_rc(ring_producer_commit(f->prod, &forged), -EINVAL);
	assert_rc(ring_producer_commit(NULL, &claim), -EINVAL);
	assert_rc(ring_producer_commit(f->prod, NULL), -EINVAL);
	assert_rc(ring_producer_commit(f->prod, &claim), 0);
}

static void test_abort_becomes_padding_that_readers_skip(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim;
	struct ring_record rec;
	struct ring_topic_stat st;
	uint64_t a, c;

	assert_rc(ring_producer_publish(f->prod, 1, "first", 5, 0, &a), 0);
	assert_rc(ring_producer_reserve(f->prod, 2, 300, 0, &claim), 0);
	memset(claim.payload, 0xee, 300);
	assert_rc(ring_producer_abort(f->prod, &claim), 0);
	assert_rc(ring_producer_publish(f->prod, 3, "third", 5, 0, &c), 0);
	assert_int_equal(claim.position, a + span_of(5));
	assert_int_equal(c, claim.position + span_of(300));

	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_int_equal(rec.position, a);
	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_int_equal(rec.position, c);
	assert_int_equal(rec.type, 3);
	assert_memory_equal(rec.payload, "third", 5);
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EAGAIN);

	/* Padding counts as done: nothing holds the frontier back. */
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_int_equal(st.frontier_pos, st.tail_pos);
	assert_int_equal(st.repaired_claims, 0);
}

static void test_reserve_over_max_record_is_emsgsize_and_reserves_nothing(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim;
	uint64_t pos = 777;

	memset(&claim, 0, sizeof(claim));
	assert_rc(ring_producer_reserve(f->prod, 1, (size_t)MAX_RECORD + 1, 0, &claim),
		  -EMSGSIZE);
	assert_rc(ring_producer_reserve(f->prod, 1, (size_t)1 << 40, 0, &claim), -EMSGSIZE);
	assert_null(claim.payload);
	assert_rc(ring_producer_publish(f->prod, 1, f->buf, (size_t)MAX_RECORD + 1, 0, &pos),
		  -EMSGSIZE);
	assert_int_equal(pos, 777);
	assert_int_equal(tail_of(f->topic), 0);
	/* The producer is still usable. */
	assert_rc(ring_producer_reserve(f->prod, 1, MAX_RECORD, 0, &claim), 0);
	assert_rc(ring_producer_abort(f->prod, &claim), 0);
}

static void test_publish_batch_arrives_whole_in_order(void **state)
{
	struct fixture *f = *state;
	struct ring_message m[10];
	uint8_t data[10][64];
	uint64_t first = UINT64_MAX, expect;
	struct ring_record rec;

	for (unsigned i = 0; i < 10; i++) {
		fill_random(f, data[i], sizeof(data[i]));
		m[i] = (struct ring_message){ .data = data[i], .len = i * 7, .type = 500 + i };
	}
	assert_rc(ring_producer_publish(f->prod, 1, "x", 1, 0, NULL), 0);
	assert_rc(ring_producer_publish_batch(f->prod, m, 10, 0, &first), 10);
	assert_int_equal(first, span_of(1));

	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	expect = first;
	for (unsigned i = 0; i < 10; i++) {
		assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
		assert_int_equal(rec.position, expect);
		assert_int_equal(rec.len, i * 7);
		assert_int_equal(rec.type, 500 + i);
		assert_int_equal(rec.next_position, expect + span_of(i * 7));
		if (rec.len)
			assert_memory_equal(rec.payload, data[i], rec.len);
		expect = rec.next_position;
	}
	assert_int_equal(tail_of(f->topic), expect);
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EAGAIN);
}

static void test_publish_batch_of_max_span_succeeds(void **state)
{
	struct fixture *f = *state;
	struct ring_message m[4];
	const uint32_t len = (uint32_t)(CAP / 16 - RING_RECORD_HEADER_BYTES);

	/* Four records of CAP/16 bytes each: exactly capacity / 4. */
	for (unsigned i = 0; i < 4; i++)
		m[i] = (struct ring_message){ .data = f->buf, .len = len, .type = i };
	assert_rc(ring_producer_publish_batch(f->prod, m, 4, 0, NULL), 4);
	assert_int_equal(tail_of(f->topic), CAP / 4);
}

static void test_publish_batch_oversize_is_emsgsize_and_publishes_nothing(void **state)
{
	struct fixture *f = *state;
	struct ring_message m[8];
	struct ring_record rec;
	uint64_t first = 777;

	for (unsigned i = 0; i < 8; i++)
		m[i] = (struct ring_message){ .data = f->buf, .len = 10, .type = i };
	/* One record in the middle over max_record_bytes. */
	m[4].len = MAX_RECORD + 1;
	assert_rc(ring_producer_publish_batch(f->prod, m, 8, 0, &first), -EMSGSIZE);
	/* Every record fits alone, the batch does not fit capacity / 4. */
	for (unsigned i = 0; i < 8; i++)
		m[i].len = 2048;
	assert_rc(ring_producer_publish_batch(f->prod, m, 8, 0, &first), -EMSGSIZE);
	assert_int_equal(first, 777);
	assert_int_equal(tail_of(f->topic), 0);
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EAGAIN);
}

static void test_publish_batch_bad_count_is_einval(void **state)
{
	struct fixture *f = *state;
	static struct ring_message m[RING_BATCH_MAX + 1];

	for (unsigned i = 0; i <= RING_BATCH_MAX; i++)
		m[i] = (struct ring_message){ .data = NULL, .len = 0, .type = 1 };
	assert_rc(ring_producer_publish_batch(f->prod, m, 0, 0, NULL), -EINVAL);
	assert_rc(ring_producer_publish_batch(f->prod, m, RING_BATCH_MAX + 1, 0, NULL), -EINVAL);
	assert_rc(ring_producer_publish_batch(f->prod, NULL, 1, 0, NULL), -EINVAL);
	m[0] = (struct ring_message){ .data = NULL, .len = 5, .type = 1 };
	assert_rc(ring_producer_publish_batch(f->prod, m, 1, 0, NULL), -EINVAL);
	assert_int_equal(tail_of(f->topic), 0);
	/* RING_BATCH_MAX empty records take 24 KiB, more than capacity / 4
	 * (16 KiB): -EMSGSIZE for the whole batch; 600 take 14400 bytes. */
	m[0].len = 0;
	assert_rc(ring_producer_publish_batch(f->prod, m, RING_BATCH_MAX, 0, NULL), -EMSGSIZE);
	assert_rc(ring_producer_publish_batch(f->prod, m, 600, 0, NULL), 600);
	assert_int_equal(tail_of(f->topic), 600 * RING_RECORD_HEADER_BYTES);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_topic, teardown_topic)
	const struct CMUnitTest tests[] = {
		T(test_publish_sizes_round_trip_byte_for_byte),
		T(test_publish_zero_length_with_null_data_succeeds),
		T(test_reserve_commit_writes_in_place_and_is_hidden_until_commit),
		T(test_reserve_twice_is_einval_and_claim_untouched),
		T(test_commit_of_foreign_claim_is_einval),
		T(test_abort_becomes_padding_that_readers_skip),
		T(test_reserve_over_max_record_is_emsgsize_and_reserves_nothing),
		T(test_publish_batch_arrives_whole_in_order),
		T(test_publish_batch_of_max_span_succeeds),
		T(test_publish_batch_oversize_is_emsgsize_and_publishes_nothing),
		T(test_publish_batch_bad_count_is_einval),
	};
#undef T

	return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
