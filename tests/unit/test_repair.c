/* SPDX-License-Identifier: MIT */
/*
 * Description: repair of a stuck claim, simulated in one process: an
 * anonymous topic with a 1 ms claim timeout, a claim left open and
 * ring_topic_maintain() called after the timeout. Positive space: a claim
 * younger than the timeout is left alone; once repaired it becomes padding
 * that readers skip, so records committed after it by another producer
 * reach the reader; the repair is counted in ring_topic_stat(); the
 * producer publishes again normally afterwards; maintenance with nothing
 * stuck repairs nothing. Negative space: the late commit of a repaired
 * claim returns -ETIMEDOUT and publishes nothing (no torn or stale
 * record ever appears); aborting a repaired claim still succeeds; while
 * the owner of a repaired claim is alive its bytes are not reused, so a
 * payload it writes late lands in its own padding and corrupts no later
 * record (producers feel back-pressure a lap later instead).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"
#include "t.h"

#define CAP (UINT64_C(64) << 10)
#define CLAIM_TIMEOUT_NS UINT64_C(1000000)	/* 1 ms */

struct fixture {
	struct ring_topic *topic;
	struct ring_producer *prod;	/* the one that gets stuck */
	struct ring_producer *other;	/* a healthy one */
	struct ring_reader *reader;	/* ordinary, from the start */
};

static int setup_topic(void **state)
{
	static struct fixture f;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_ANON,
		.claim_timeout_ns = CLAIM_TIMEOUT_NS,
	};

	memset(&f, 0, sizeof(f));
	if (ring_topic_create(NULL, NULL, &cfg, &f.topic) < 0 ||
	    ring_producer_open(f.topic, &f.prod) < 0 ||
	    ring_producer_open(f.topic, &f.other) < 0 ||
	    ring_reader_open(f.topic, NULL, &f.reader) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown_topic(void **state)
{
	struct fixture *f = *state;

	f->reader = ring_reader_close(f->reader);
	f->other = ring_producer_close(f->other);
	f->prod = ring_producer_close(f->prod);
	f->topic = ring_topic_close(f->topic);
	return 0;
}

/*
 * Run maintenance until it repairs something, sleeping 1 ms between calls
 * (the first call only notices the stall; the timeout runs from there).
 * Bounded: at most 1000 calls. Returns the number of calls it took.
 */
static unsigned maintain_until_repaired(struct ring_topic *t)
{
	for (unsigned i = 1; i <= 1000; i++) {
		int rc = ring_topic_maintain(t);

		assert_true(rc >= 0);
		if (rc > 0) {
			assert_int_equal(rc, 1);
			return i;
		}
		t_sleep_ns(CLAIM_TIMEOUT_NS);
	}
	fail_msg("the stuck claim was not repaired within 1000 maintenance calls");
	return 0;
}

static struct ring_topic_stat stat_of(struct ring_topic *t)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(t, &st), 0);
	return st;
}

static void test_repair_late_commit_is_etimedout_and_publishes_nothing(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim;
	struct ring_record rec;
	struct ring_topic_stat st;

	assert_rc(ring_producer_reserve(f->prod, 9, 64, 0, &claim), 0);
	memset(claim.payload, 0xab, 32);	/* half written, then stuck */
	assert_true(maintain_until_repaired(f->topic) >= 2);
	memset((uint8_t *)claim.payload + 32, 0xcd, 32);
	assert_rc(ring_producer_commit(f->prod, &claim), -ETIMEDOUT);

	/* Nothing of it is ever delivered: the reader skips the padding. */
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EAGAIN);
	assert_int_equal(ring_reader_position(f->reader), claim.position + 88);
	st = stat_of(f->topic);
	assert_int_equal(st.repaired_claims, 1);
	assert_int_equal(st.frontier_pos, st.tail_pos);

	/* The producer's claim is closed; it publishes normally again. */
	assert_rc(ring_producer_publish(f->prod, 10, "again", 5, 0, NULL), 0);
	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_int_equal(rec.type, 10);
	assert_memory_equal(rec.payload, "again", 5);
}

/* Publish self-checking records as producer 0 with timeout 0 until the
 * ring refuses or @max are out; the count. */
static uint64_t publish_until_full(struct ring_producer *p, uint64_t seq, uint64_t max)
{
	uint8_t buf[256];
	uint64_t n;

	for (n = 0; n < max; n++) {
		size_t len = t_payload_len(0, seq + n, T_PAYLOAD_MIN, sizeof(buf));
		int rc;

		t_payload_fill(buf, len, 0, seq + n);
		rc = ring_producer_publish(p, 1, buf, len, 0, NULL);
		if (rc == -EAGAIN)
			break;
		assert_rc(rc, 0);
	}
	return n;
}

/* Every record the ring holds is intact and every byte ahead of the tail
 * is still zero (the invariant producers' claims rely on). */
static void assert_ring_intact(struct ring_topic *t)
{
	const struct ring_reader_config cfg = { .start = RING_START_EARLIEST };
	struct ring_topic_stat st = stat_of(t);
	struct ring_reader *r = NULL;
	struct ring_record rec;
	unsigned n = 0;
	int rc;

	for (uint64_t pos = st.tail_pos; pos < st.limit_pos; pos += 8)
		if (*(const uint64_t *)(t->data + (pos & t->mask)) != 0)
			fail_msg("byte %" PRIu64 " ahead of the tail %" PRIu64 " is not zero", pos,
				 st.tail_pos);
	assert_rc(ring_reader_open(t, &cfg, &r), 0);
	while ((rc = ring_reader_next(r, &rec, 0)) == 0) {
		uint32_t id;
		uint64_t seq;

		if (t_payload_check(rec.payload, rec.len, &id, &seq) < 0)
			fail_msg("record at %" PRIu64 " (len %u) is corrupt", rec.position, rec.len);
		n++;
	}
	assert_rc(rc, -EAGAIN);
	assert_true(n > 0);
	r = ring_reader_close(r);
}

static void test_repair_late_write_of_live_owner_corrupts_no_later_record(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim;
	uint64_t n, more;

	/* The ordinary reader of the fixture holds nothing back. */
	assert_rc(ring_producer_reserve(f->prod, 9, 200, 0, &claim), 0);
	maintain_until_repaired(f->topic);
	/* Its owner is alive (this process) and may still write into the
	 * claim: the ring flows up to a lap past it, then refuses. */
	n = publish_until_full(f->other, 0, 4 * CAP / 32);
	assert_true(n < 4 * CAP / 32);
	assert_true(stat_of(f->topic).tail_pos <= claim.position + CAP);
	assert_ring_intact(f->topic);

	/* The late writer wakes up, writes its whole payload, commits. */
	memset(claim.payload, 0x5a, 200);
	assert_rc(ring_producer_commit(f->prod, &claim), -ETIMEDOUT);
	assert_ring_intact(f->topic);

	/* Its claim is closed: the space is reused again. */
	more = publish_until_full(f->other, n, 4 * CAP / 32);
	assert_true(more > 0);
	assert_true(stat_of(f->topic).tail_pos > claim.position + CAP);
	assert_ring_intact(f->topic);
}

static void test_repair_unblocks_records_committed_behind_the_claim(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim;
	struct ring_record rec;
	uint64_t behind;

	assert_rc(ring_producer_reserve(f->prod, 9, 100, 0, &claim), 0);
	assert_rc(ring_producer_publish(f->other, 20, "behind", 6, 0, &behind), 0);
	assert_true(behind > claim.position);
	/* Committed but not deliverable: records arrive in position order. */
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EAGAIN);

	maintain_until_repaired(f->topic);
	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_int_equal(rec.position, behind);
	assert_int_equal(rec.type, 20);
	assert_rc(ring_producer_commit(f->prod, &claim), -ETIMEDOUT);
	assert_rc(ring_reader_next(f->reader, &rec, 0), -EAGAIN);
}

static void test_repair_blocked_reader_with_timeout_repairs_by_itself(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim;
	struct ring_record rec;
	uint64_t behind;

	/* No explicit maintenance: an ephemeral topic's waiting reader runs
	 * it on its own when the claim in front of it stalls. */
	assert_rc(ring_producer_reserve(f->prod, 9, 100, 0, &claim), 0);
	assert_rc(ring_producer_publish(f->other, 21, "behind", 6, 0, &behind), 0);
	assert_rc(ring_reader_next(f->reader, &rec, 2000 * 1000 * 1000), 0);
	assert_int_equal(rec.position, behind);
	assert_rc(ring_producer_commit(f->prod, &claim), -ETIMEDOUT);
	assert_int_equal(stat_of(f->topic).repaired_claims, 1);
}

static void test_repair_abort_of_repaired_claim_succeeds(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim;

	assert_rc(ring_producer_reserve(f->prod, 9, 8, 0, &claim), 0);
	maintain_until_repaired(f->topic);
	assert_rc(ring_producer_abort(f->prod, &claim), 0);
	assert_rc(ring_producer_abort(f->prod, &claim), -EINVAL);	/* closed now */
}

static void test_repair_batch_claim_is_skipped_whole(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim;
	struct ring_record rec;

	/* A reserved claim stands in for a batch stuck before its commit;
	 * a batch is one claim, so its repair covers the whole span. */
	assert_rc(ring_producer_reserve(f->prod, 9, 1000, 0, &claim), 0);
	assert_rc(ring_producer_publish(f->other, 22, "x", 1, 0, NULL), 0);
	maintain_until_repaired(f->topic);
	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_int_equal(rec.type, 22);
	assert_int_equal(rec.position, claim.position + 1024);
	assert_rc(ring_producer_commit(f->prod, &claim), -ETIMEDOUT);
}

static void test_maintain_with_nothing_stuck_repairs_nothing(void **state)
{
	struct fixture *f = *state;
	struct ring_record rec;

	assert_rc(ring_topic_maintain(f->topic), 0);
	assert_rc(ring_producer_publish(f->prod, 1, "a", 1, 0, NULL), 0);
	for (unsigned i = 0; i < 5; i++) {
		assert_rc(ring_topic_maintain(f->topic), 0);
		t_sleep_ns(CLAIM_TIMEOUT_NS);
	}
	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_int_equal(stat_of(f->topic).repaired_claims, 0);
	assert_rc(ring_topic_maintain(NULL), -EINVAL);
}

static void test_repair_fresh_claim_is_left_alone(void **state)
{
	struct fixture *f = *state;
	struct ring_claim claim;
	struct ring_record rec;

	assert_rc(ring_producer_reserve(f->prod, 9, 16, 0, &claim), 0);
	/* The first call sees the stall for the first time: the timeout has
	 * not run, and the owner (this process) is alive. */
	assert_rc(ring_topic_maintain(f->topic), 0);
	memcpy(claim.payload, "0123456789abcdef", 16);
	assert_rc(ring_producer_commit(f->prod, &claim), 0);
	assert_rc(ring_reader_next(f->reader, &rec, 0), 0);
	assert_memory_equal(rec.payload, "0123456789abcdef", 16);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_topic, teardown_topic)
	const struct CMUnitTest tests[] = {
		T(test_repair_late_commit_is_etimedout_and_publishes_nothing),
		T(test_repair_unblocks_records_committed_behind_the_claim),
		T(test_repair_late_write_of_live_owner_corrupts_no_later_record),
		T(test_repair_blocked_reader_with_timeout_repairs_by_itself),
		T(test_repair_abort_of_repaired_claim_succeeds),
		T(test_repair_batch_claim_is_skipped_whole),
		T(test_maintain_with_nothing_stuck_repairs_nothing),
		T(test_repair_fresh_claim_is_left_alone),
	};
#undef T

	return cmocka_run_group_tests_name("repair", tests, NULL, NULL);
}
