/* SPDX-License-Identifier: MIT */
/*
 * Description: where readers start and how they move, on one anonymous
 * 64 KiB topic in one process with no gating reader (producers never
 * wait). Positive space: EARLIEST starts at the oldest record, LATEST at
 * the tail, POSITION at a given record; seek re-reads from a record
 * boundary; poll delivers up to its count; an ordinary reader overtaken by
 * producers gets -EOVERFLOW once, is moved forward to the oldest record the
 * ring holds, and then reads intact, consecutive records up to the tail.
 * Negative space: unknown start or flags, a durable reader on an
 * ephemeral topic, an unaligned position give -EINVAL; a position past
 * the tail or below the oldest record gives -ERANGE; an empty ring gives
 * -EAGAIN at once or -ETIMEDOUT after the timeout; ret_ parameters and the
 * reader's position are untouched by every failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "libring.h"
#include "record.h"
#include "t.h"

#define CAP (UINT64_C(64) << 10)

struct fixture {
	struct ring_topic *topic;
	struct ring_producer *prod;
	struct ring_reader *reader;	/* opened by each test */
	uint64_t seq;			/* next sequence number to publish */
	uint64_t pos[4096];		/* position of each sequence number */
};

static int setup_topic(void **state)
{
	static struct fixture f;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_ANON,
	};

	memset(&f, 0, sizeof(f));
	if (ring_topic_create(NULL, NULL, &cfg, &f.topic) < 0 ||
	    ring_producer_open(f.topic, &f.prod) < 0)
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

/* Publish @n self-checking records of producer 0, @len bytes each. */
static void publish(struct fixture *f, unsigned n, size_t len)
{
	uint8_t buf[1024];

	assert_true(len >= T_PAYLOAD_MIN && len <= sizeof(buf));
	for (unsigned i = 0; i < n; i++) {
		assert_true(f->seq < sizeof(f->pos) / sizeof(f->pos[0]));
		t_payload_fill(buf, len, 0, f->seq);
		assert_rc(ring_producer_publish(f->prod, 1, buf, len, 0, &f->pos[f->seq]), 0);
		f->seq++;
	}
}

/* Read one record and return its sequence number. */
static uint64_t next_seq(struct fixture *f)
{
	struct ring_record rec;
	uint32_t id;
	uint64_t seq;

	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_rc(t_payload_check(rec.payload, rec.len, &id, &seq), 0);
	assert_int_equal(id, 0);
	assert_int_equal(rec.position, f->pos[seq]);
	return seq;
}

static struct ring_topic_stat stat_of(struct fixture *f)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(f->topic, &st), 0);
	return st;
}

static void test_reader_start_earliest_reads_from_first_record(void **state)
{
	struct fixture *f = *state;

	publish(f, 3, 40);
	assert_rc(ring_reader_open(f->topic, NULL, &f->reader), 0);	/* NULL = earliest */
	assert_int_equal(ring_reader_position(f->reader), 0);
	assert_int_equal(next_seq(f), 0);
	assert_int_equal(next_seq(f), 1);
	assert_int_equal(next_seq(f), 2);
	assert_rc(ring_reader_next(f->reader, &(struct ring_record){ 0 }, 0), -EAGAIN);
}

static void test_reader_start_latest_sees_only_new_records(void **state)
{
	struct fixture *f = *state;
	const struct ring_reader_config c = { .start = RING_START_LATEST };

	publish(f, 3, 40);
	assert_rc(ring_reader_open(f->topic, &c, &f->reader), 0);
	assert_int_equal(ring_reader_position(f->reader), stat_of(f).tail_pos);
	assert_rc(ring_reader_next(f->reader, &(struct ring_record){ 0 }, 0), -EAGAIN);
	publish(f, 1, 40);
	assert_int_equal(next_seq(f), 3);
}

static void test_reader_start_position_begins_at_that_record(void **state)
{
	struct fixture *f = *state;
	struct ring_reader_config c = { .start = RING_START_POSITION };

	publish(f, 5, 64);
	c.position = f->pos[2];
	assert_rc(ring_reader_open(f->topic, &c, &f->reader), 0);
	assert_int_equal(next_seq(f), 2);
	assert_int_equal(next_seq(f), 3);
	f->reader = ring_reader_close(f->reader);
	/* The tail itself is a valid place to wait. */
	c.position = stat_of(f).tail_pos;
	assert_rc(ring_reader_open(f->topic, &c, &f->reader), 0);
	assert_rc(ring_reader_next(f->reader, &(struct ring_record){ 0 }, 0), -EAGAIN);
}

static void test_reader_open_bad_config_is_einval_and_reader_untouched(void **state)
{
	struct fixture *f = *state;
	struct ring_reader *sentinel = (struct ring_reader *)f, *r = sentinel;
	struct ring_reader_config c;

	publish(f, 2, 32);
	c = (struct ring_reader_config){ .start = 3 };
	assert_rc(ring_reader_open(f->topic, &c, &r), -EINVAL);
	c = (struct ring_reader_config){ .flags = 1u << 7 };
	assert_rc(ring_reader_open(f->topic, &c, &r), -EINVAL);
	c = (struct ring_reader_config){ .flags = RING_READER_DURABLE };
	assert_rc(ring_reader_open(f->topic, &c, &r), -EINVAL);	/* never durable */
	c = (struct ring_reader_config){ .start = RING_START_POSITION, .position = 4 };
	assert_rc(ring_reader_open(f->topic, &c, &r), -EINVAL);
	assert_rc(ring_reader_open(NULL, NULL, &r), -EINVAL);
	assert_rc(ring_reader_open(f->topic, NULL, NULL), -EINVAL);
	assert_ptr_equal(r, sentinel);
}

static void test_reader_start_position_past_tail_is_erange(void **state)
{
	struct fixture *f = *state;
	struct ring_reader *sentinel = (struct ring_reader *)f, *r = sentinel;
	struct ring_reader_config c = { .start = RING_START_POSITION };

	publish(f, 2, 32);
	c.position = stat_of(f).tail_pos + 8;
	assert_rc(ring_reader_open(f->topic, &c, &r), -ERANGE);
	c.position = UINT64_C(1) << 40;
	assert_rc(ring_reader_open(f->topic, &c, &r), -ERANGE);
	c.flags = RING_READER_GATING;
	assert_rc(ring_reader_open(f->topic, &c, &r), -ERANGE);
	assert_ptr_equal(r, sentinel);
}

static void test_reader_seek_rereads_and_refuses_out_of_range(void **state)
{
	struct fixture *f = *state;
	uint64_t tail;

	publish(f, 4, 48);
	assert_rc(ring_reader_open(f->topic, NULL, &f->reader), 0);
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(next_seq(f), i);
	assert_rc(ring_reader_seek(f->reader, f->pos[1]), 0);
	assert_int_equal(ring_reader_position(f->reader), f->pos[1]);
	assert_int_equal(next_seq(f), 1);
	assert_int_equal(next_seq(f), 2);

	tail = stat_of(f).tail_pos;
	assert_rc(ring_reader_seek(f->reader, tail + 8), -ERANGE);
	assert_rc(ring_reader_seek(f->reader, f->pos[1] + 4), -EINVAL);
	assert_rc(ring_reader_seek(NULL, 0), -EINVAL);
	/* Failures leave the reader where it was. */
	assert_int_equal(ring_reader_position(f->reader), f->pos[3]);
	assert_rc(ring_reader_seek(f->reader, tail), 0);
	assert_rc(ring_reader_next(f->reader, &(struct ring_record){ 0 }, 0), -EAGAIN);
}

static void test_reader_seek_inside_record_is_ebadmsg_at_next_read(void **state)
{
	struct fixture *f = *state;
	struct ring_record rec;
	uint64_t payload[25] = { 0 };
	/* A payload word that looks like a committed header of this lap with
	 * an impossible length: what a reader must refuse, not trust. */
	const uint64_t fake = ring_word_make(RING_STATE_COMMITTED, 0, 0, UINT32_MAX);

	payload[5] = fake;	/* record offset 24 + 40 = 64 */
	assert_rc(ring_producer_publish(f->prod, 1, payload, sizeof(payload), 0, NULL), 0);
	assert_rc(ring_reader_open(f->topic, NULL, &f->reader), 0);
	/* 8-aligned and in range, but payload bytes, not a header. */
	assert_rc(ring_reader_seek(f->reader, 64), 0);
	memset(&rec, 0, sizeof(rec));
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EBADMSG);
	assert_int_equal(rec.len, 0);
}

static void test_reader_empty_ring_is_eagain_or_etimedout(void **state)
{
	struct fixture *f = *state;
	struct ring_record rec, before;
	uint64_t t0, waited;

	assert_rc(ring_reader_open(f->topic, NULL, &f->reader), 0);
	memset(&rec, 0x3c, sizeof(rec));
	before = rec;
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EAGAIN);
	t0 = t_now_ns();
	assert_rc(ring_reader_next(f->reader, &rec, 5 * 1000 * 1000), -ETIMEDOUT);
	waited = t_now_ns() - t0;
	assert_true(waited >= 5 * 1000 * 1000);
	assert_true(waited < 5000ull * 1000 * 1000);
	assert_memory_equal(&rec, &before, sizeof(rec));
	assert_rc(ring_reader_next(f->reader, NULL, 0), -EINVAL);
}

static int collect(const struct ring_record *rec, void *arg)
{
	uint64_t *last = arg;
	uint32_t id;

	if (t_payload_check(rec->payload, rec->len, &id, last) < 0)
		return -1;
	return 0;
}

static void test_reader_poll_delivers_up_to_its_count(void **state)
{
	struct fixture *f = *state;
	uint64_t last = UINT64_MAX;

	publish(f, 10, 32);
	assert_rc(ring_reader_open(f->topic, NULL, &f->reader), 0);
	assert_rc(ring_reader_poll(f->reader, collect, &last, 4, 0), 4);
	assert_int_equal(last, 3);
	assert_rc(ring_reader_poll(f->reader, collect, &last, 100, 0), 6);
	assert_int_equal(last, 9);
	assert_rc(ring_reader_poll(f->reader, collect, &last, 100, 0), -EAGAIN);
	assert_rc(ring_reader_poll(f->reader, collect, &last, 0, 0), -EINVAL);
	assert_rc(ring_reader_poll(f->reader, NULL, &last, 1, 0), -EINVAL);
}

/*
 * A reader lapped by one and a half rings of records of @len payload bytes
 * gets -EOVERFLOW once, lands on the oldest record the ring holds, and then
 * reads every record intact and consecutive up to the tail.
 */
static void overtaken(struct fixture *f, size_t len)
{
	uint64_t span = ring_record_span(len);
	struct ring_topic_stat st;
	struct ring_record rec;
	uint64_t seq, prev, before;

	assert_rc(ring_reader_open(f->topic, NULL, &f->reader), 0);
	publish(f, 1, len);
	assert_int_equal(next_seq(f), 0);
	/* Nothing gates the producer, so it laps the reader. */
	publish(f, (unsigned)(CAP * 3 / 2 / span), len);
	st = stat_of(f);
	assert_true(st.oldest_pos > 0);
	/* `oldest` is always a record boundary. */
	assert_int_equal(st.oldest_pos % span, 0);

	before = ring_reader_position(f->reader);
	memset(&rec, 0, sizeof(rec));
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EOVERFLOW);
	assert_int_equal(rec.len, 0);	/* ret_ untouched */
	assert_true(ring_reader_position(f->reader) > before);
	assert_int_equal(ring_reader_position(f->reader), stat_of(f).oldest_pos);

	/* From there on: every record intact and consecutive, up to the tail. */
	prev = next_seq(f);
	assert_true(prev > 0);
	for (unsigned n = 0; n < 4096; n++) {
		int rc = ring_reader_next(f->reader, &rec, 0);
		uint32_t id;

		if (rc == -EAGAIN)
			break;
		assert_rc(rc, 0);
		assert_rc(t_payload_check(rec.payload, rec.len, &id, &seq), 0);
		assert_int_equal(seq, prev + 1);
		assert_int_equal(rec.position, f->pos[seq]);
		prev = seq;
	}
	assert_int_equal(prev, f->seq - 1);
	assert_int_equal(ring_reader_position(f->reader), stat_of(f).tail_pos);
}

static void test_reader_overtaken_gets_eoverflow_then_intact_records(void **state)
{
	overtaken(*state, 232);		/* 256-byte spans divide the ring */
}

/* 80-byte spans do not divide the ring: the space reused for producers
 * must still end on a record, or the overtaken reader would stop for good
 * at a position inside one. */
static void test_reader_overtaken_by_odd_spans_lands_on_a_record(void **state)
{
	overtaken(*state, 56);
}

static void test_reader_position_below_oldest_is_erange(void **state)
{
	struct fixture *f = *state;
	struct ring_reader *sentinel = (struct ring_reader *)f, *r = sentinel;
	struct ring_reader_config c = { .start = RING_START_POSITION, .position = 0 };
	struct ring_topic_stat st;

	publish(f, (unsigned)(CAP * 3 / 2 / 64), 40);
	st = stat_of(f);
	assert_true(st.oldest_pos > 0);
	assert_rc(ring_reader_open(f->topic, &c, &r), -ERANGE);
	assert_ptr_equal(r, sentinel);
	/* EARLIEST means the oldest record still held. */
	assert_rc(ring_reader_open(f->topic, NULL, &f->reader), 0);
	assert_int_equal(ring_reader_position(f->reader), st.oldest_pos);
	assert_rc(ring_reader_seek(f->reader, 0), -ERANGE);
	assert_int_equal(ring_reader_position(f->reader), st.oldest_pos);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_topic, teardown_topic)
	const struct CMUnitTest tests[] = {
		T(test_reader_start_earliest_reads_from_first_record),
		T(test_reader_start_latest_sees_only_new_records),
		T(test_reader_start_position_begins_at_that_record),
		T(test_reader_open_bad_config_is_einval_and_reader_untouched),
		T(test_reader_start_position_past_tail_is_erange),
		T(test_reader_seek_rereads_and_refuses_out_of_range),
		T(test_reader_seek_inside_record_is_ebadmsg_at_next_read),
		T(test_reader_empty_ring_is_eagain_or_etimedout),
		T(test_reader_poll_delivers_up_to_its_count),
		T(test_reader_overtaken_gets_eoverflow_then_intact_records),
		T(test_reader_overtaken_by_odd_spans_lands_on_a_record),
		T(test_reader_position_below_oldest_is_erange),
	};
#undef T

	return cmocka_run_group_tests_name("reader", tests, NULL, NULL);
}
