/* SPDX-License-Identifier: MIT */
/*
 * Description: back-pressure on one anonymous 64 KiB topic with a gating
 * reader, in one process. Positive space: the ring takes exactly
 * capacity / span records; a gating reader frees space as it reads (a
 * record's view is held until the reader's next call, so reading k records
 * frees k - 1 of them, and polling frees all it delivered); closing the
 * gating reader releases producers. Negative space: a full ring gives
 * -EAGAIN with timeout 0 and -ETIMEDOUT after a small timeout, and in
 * both cases nothing is reserved: the tail does not move and the claim is
 * untouched.
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
#define LEN 1000u		/* span 1024: the ring holds exactly 64 */
#define SPAN 1024u
#define PER_RING ((unsigned)(CAP / SPAN))

struct fixture {
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct ring_reader *gating;	/* from position 0 */
	uint8_t payload[LEN];
};

static int setup_gated_topic(void **state)
{
	static struct fixture f;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_ANON,
	};
	const struct ring_reader_config rcfg = {
		.start = RING_START_POSITION,
		.flags = RING_READER_GATING,
		.position = 0,
	};

	memset(&f, 0, sizeof(f));
	if (ring_topic_create(NULL, NULL, &cfg, &f.topic) < 0 ||
	    ring_producer_open(f.topic, &f.prod) < 0 ||
	    ring_reader_open(f.topic, &rcfg, &f.gating) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown_gated_topic(void **state)
{
	struct fixture *f = *state;

	f->gating = ring_reader_close(f->gating);
	f->prod = ring_producer_close(f->prod);
	f->topic = ring_topic_close(f->topic);
	return 0;
}

static uint64_t tail_of(struct ring_topic *t)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(t, &st), 0);
	return st.tail_pos;
}

/* Publish with timeout 0 until the ring refuses; the number published. */
static unsigned fill(struct fixture *f, unsigned at_most)
{
	unsigned n = 0;
	int rc = 0;

	while (n < at_most && (rc = ring_producer_publish(f->prod, 1, f->payload, LEN, 0,
							   NULL)) == 0)
		n++;
	if (n < at_most)
		assert_rc(rc, -EAGAIN);
	return n;
}

static void test_full_ring_is_eagain_and_reserves_nothing(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim, before;
	uint64_t tail;

	assert_int_equal(fill(f, 10 * PER_RING), PER_RING);
	tail = tail_of(f->topic);
	assert_int_equal(tail, CAP);

	memset(&claim, 0x77, sizeof(claim));
	before = claim;
	assert_rc(ring_producer_reserve(f->prod, 1, LEN, 0, &claim), -EAGAIN);
	assert_memory_equal(&claim, &before, sizeof(claim));
	/* Even the smallest record does not fit. */
	assert_rc(ring_producer_reserve(f->prod, 1, 0, 0, &claim), -EAGAIN);
	assert_rc(ring_producer_publish_batch(f->prod, &(struct ring_message){ "x", 1, 1 }, 1, 0,
					      NULL),
		  -EAGAIN);
	assert_int_equal(tail_of(f->topic), tail);
}

static void test_full_ring_with_timeout_is_etimedout_and_reserves_nothing(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim, before;
	const uint64_t timeout = 20 * 1000 * 1000;
	uint64_t t0, waited;

	assert_int_equal(fill(f, 10 * PER_RING), PER_RING);
	memset(&claim, 0x11, sizeof(claim));
	before = claim;
	t0 = t_now_ns();
	assert_rc(ring_producer_reserve(f->prod, 1, LEN, (int64_t)timeout, &claim), -ETIMEDOUT);
	waited = t_now_ns() - t0;
	assert_true(waited >= timeout);
	assert_true(waited < 5000u * 1000 * 1000);	/* bounded, not forever */
	assert_memory_equal(&claim, &before, sizeof(claim));
	assert_rc(ring_producer_publish(f->prod, 1, f->payload, LEN, (int64_t)timeout, NULL),
		  -ETIMEDOUT);
	assert_int_equal(tail_of(f->topic), CAP);
	assert_int_equal(ring_reader_position(f->gating), 0);
}

static void test_gating_reader_frees_space_only_as_it_reads(void **state)
{
	struct fixture *f = *state;
	struct ring_record rec;

	assert_int_equal(fill(f, 10 * PER_RING), PER_RING);
	/* Ten records read; the tenth's view is still held. */
	for (unsigned i = 0; i < 10; i++) {
		assert_rc(ring_reader_next(f->gating, &rec, 0), 0);
		assert_int_equal(rec.position, (uint64_t)i * SPAN);
	}
	assert_int_equal(fill(f, 10 * PER_RING), 9);
	/* Reading everything (up to -EAGAIN) releases everything. */
	for (unsigned i = 10; i < PER_RING + 9; i++)
		assert_rc(ring_reader_next(f->gating, &rec, 0), 0);
	assert_rc(ring_reader_next(f->gating, &rec, 0), -EAGAIN);
	assert_int_equal(fill(f, 10 * PER_RING), PER_RING);
	assert_int_equal(tail_of(f->topic), 2 * CAP + 9 * SPAN);
}

static int count_record(const struct ring_record *rec, void *arg)
{
	(void)rec;
	(*(unsigned *)arg)++;
	return 0;
}

static void test_gating_poll_frees_all_it_delivered(void **state)
{
	struct fixture *f = *state;
	unsigned seen = 0;

	assert_int_equal(fill(f, 10 * PER_RING), PER_RING);
	assert_rc(ring_reader_poll(f->gating, count_record, &seen, 16, 0), 16);
	assert_int_equal(seen, 16);
	assert_int_equal(fill(f, 10 * PER_RING), 16);
}

static void test_full_ring_blocked_until_space_returns_in_time(void **state)
{
	struct fixture *f = *state;
	struct ring_record rec;

	assert_int_equal(fill(f, 10 * PER_RING), PER_RING);
	for (unsigned i = 0; i < 3; i++)
		assert_rc(ring_reader_next(f->gating, &rec, 0), 0);
	/* Space exists (two records' worth): a blocking publish succeeds at
	 * once and does not wait out its timeout. */
	assert_rc(ring_producer_publish(f->prod, 1, f->payload, LEN, 1000000000, NULL), 0);
	assert_rc(ring_producer_publish(f->prod, 1, f->payload, LEN, 1000000000, NULL), 0);
	assert_rc(ring_producer_publish(f->prod, 1, f->payload, LEN, 0, NULL), -EAGAIN);
}

static void test_closing_gating_reader_releases_producers(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;

	assert_int_equal(fill(f, 10 * PER_RING), PER_RING);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_int_equal(st.gating_readers, 1);
	f->gating = ring_reader_close(f->gating);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_int_equal(st.gating_readers, 0);
	/* Nobody holds the ring now: producers never block again. */
	assert_int_equal(fill(f, 3 * PER_RING), 3 * PER_RING);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_gated_topic, teardown_gated_topic)
	const struct CMUnitTest tests[] = {
		T(test_full_ring_is_eagain_and_reserves_nothing),
		T(test_full_ring_with_timeout_is_etimedout_and_reserves_nothing),
		T(test_gating_reader_frees_space_only_as_it_reads),
		T(test_gating_poll_frees_all_it_delivered),
		T(test_full_ring_blocked_until_space_returns_in_time),
		T(test_closing_gating_reader_releases_producers),
	};
#undef T

	return cmocka_run_group_tests_name("backpressure", tests, NULL, NULL);
}
