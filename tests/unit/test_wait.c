/* SPDX-License-Identifier: MIT */
/*
 * Description: the futex handshake of libring/wait.c (edges W1/W2), seen
 * from the syscalls it makes. The binary is linked with
 * -Wl,--wrap=syscall, so every syscall() libring makes goes through
 * __wrap_syscall() below, which counts FUTEX_WAKE and FUTEX_WAIT calls and
 * passes them on. One anonymous 64 KiB topic, threads in one process.
 * Positive space: a reader asleep in ring_reader_next() (stat shows it as
 * a data waiter) is woken by the commit of the next record, with exactly
 * one FUTEX_WAKE, and gets that record; a producer asleep on a full ring
 * (a space waiter) is woken when a gating reader frees space, and its
 * publish succeeds.
 * Negative space: with nobody asleep, publishing, committing, aborting,
 * batches, reading, polling and maintenance make no FUTEX_WAKE at all, and
 * a reader that finds its record at once never sleeps (no FUTEX_WAIT).
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <cmocka.h>

#include "libring.h"
#include "t.h"

#define CAP (UINT64_C(64) << 10)
#define NS_PER_S UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)

static _Atomic uint64_t futex_wakes, futex_waits;

/*
 * syscall() is variadic; libring passes at most six arguments, all
 * integers or pointers, so six longs are read and passed on (the x86-64
 * and aarch64 conventions put them where the real syscall() reads them).
 */
long __real_syscall(long number, ...);
long __wrap_syscall(long number, ...);
long __wrap_syscall(long number, ...)
{
	long a[6];
	va_list ap;

	va_start(ap, number);
	for (unsigned i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_futex) {
		int op = (int)a[1] & FUTEX_CMD_MASK;

		if (op == FUTEX_WAKE)
			atomic_fetch_add(&futex_wakes, 1);
		else if (op == FUTEX_WAIT)
			atomic_fetch_add(&futex_waits, 1);
	}
	return __real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

struct fixture {
	struct ring_topic *topic;
	struct ring_producer *prod;
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
	atomic_store(&futex_wakes, 0);
	atomic_store(&futex_waits, 0);
	*state = &f;
	return 0;
}

static int teardown_topic(void **state)
{
	struct fixture *f = *state;

	f->prod = ring_producer_close(f->prod);
	f->topic = ring_topic_close(f->topic);
	return 0;
}

static struct ring_topic_stat stat_of(struct ring_topic *t)
{
	struct ring_topic_stat st;

	assert_rc(ring_topic_stat(t, &st), 0);
	return st;
}

static int count_record(const struct ring_record *rec, void *arg)
{
	(void)rec;
	(*(unsigned *)arg)++;
	return 0;
}

static void test_wait_nobody_asleep_means_no_wake_syscall(void **state)
{
	struct fixture *f = *state;
	struct ring_reader *r = NULL;
	struct ring_record rec;
	struct ring_claim c;
	unsigned n = 0;
	int rc;

	assert_rc(ring_reader_open(f->topic, NULL, &r), 0);
	/* Several laps of every kind of write, with an ordinary reader
	 * behind, so that maintenance reuses space (and wakes nobody). */
	for (unsigned i = 0; i < 3000; i++) {
		const struct ring_message m[2] = { { "ab", 2, 1 }, { "cd", 2, 1 } };

		switch (i % 4) {
		case 0:
			assert_rc(ring_producer_publish(f->prod, 1, "0123456789", 10, 0, NULL), 0);
			break;
		case 1:
			assert_rc(ring_producer_publish_batch(f->prod, m, 2, 0, NULL), 2);
			break;
		case 2:
			assert_rc(ring_producer_reserve(f->prod, 1, 64, 0, &c), 0);
			memset(c.payload, 7, 64);
			assert_rc(ring_producer_commit(f->prod, &c), 0);
			break;
		default:
			assert_rc(ring_producer_reserve(f->prod, 1, 64, 0, &c), 0);
			assert_rc(ring_producer_abort(f->prod, &c), 0);
			/* Padding alone would leave the reader waiting. */
			assert_rc(ring_producer_publish(f->prod, 1, "x", 1, 0, NULL), 0);
			break;
		}
		/* A record is there: a reader with a timeout never sleeps. */
		rc = i % 2 ? ring_reader_next(r, &rec, NS_PER_S) :
			     ring_reader_poll(r, count_record, &n, 4, NS_PER_S);
		if (rc == -EOVERFLOW)
			continue;
		assert_true(rc >= 0);
		if (i % 97 == 0)
			assert_true(ring_topic_maintain(f->topic) >= 0);
	}
	assert_true(stat_of(f->topic).tail_pos > 3 * CAP);
	assert_int_equal(atomic_load(&futex_wakes), 0);
	assert_int_equal(atomic_load(&futex_waits), 0);
	r = ring_reader_close(r);
}

struct sleeper {
	struct ring_topic *topic;
	struct ring_reader *reader;
	struct ring_producer *prod;
	int rc;
	struct ring_record rec;
	char payload[16];
};

static void *reader_sleeps(void *arg)
{
	struct sleeper *s = arg;

	s->rc = ring_reader_next(s->reader, &s->rec, 10 * NS_PER_S);
	if (s->rc == 0)
		memcpy(s->payload, s->rec.payload, s->rec.len < 16 ? s->rec.len : 16);
	return NULL;
}

static bool data_waiter(void *arg)
{
	return stat_of(arg).data_waiters == 1;
}

static void test_wait_sleeping_reader_woken_by_one_wake(void **state)
{
	struct fixture *f = *state;
	const struct ring_reader_config cfg = { .start = RING_START_LATEST };
	struct sleeper s = { .topic = f->topic };
	pthread_t th;

	assert_rc(ring_reader_open(f->topic, &cfg, &s.reader), 0);
	assert_int_equal(pthread_create(&th, NULL, reader_sleeps, &s), 0);
	/* Asleep: it spun, registered as a waiter and called FUTEX_WAIT. */
	assert_true(t_wait_until(data_waiter, f->topic, 5 * NS_PER_S, NS_PER_MS));
	assert_int_equal(atomic_load(&futex_wakes), 0);
	assert_rc(ring_producer_publish(f->prod, 3, "wake up", 7, 0, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_rc(s.rc, 0);
	assert_memory_equal(s.payload, "wake up", 7);
	assert_int_equal(atomic_load(&futex_wakes), 1);
	assert_true(atomic_load(&futex_waits) >= 1);

	/* Nobody asleep any more: the next commit pays nothing. */
	assert_int_equal(stat_of(f->topic).data_waiters, 0);
	assert_rc(ring_producer_publish(f->prod, 3, "again", 5, 0, NULL), 0);
	assert_int_equal(atomic_load(&futex_wakes), 1);
	s.reader = ring_reader_close(s.reader);
}

static void *producer_sleeps(void *arg)
{
	struct sleeper *s = arg;

	s->rc = ring_producer_publish(s->prod, 4, "room?", 5, 10 * NS_PER_S, NULL);
	return NULL;
}

static bool space_waiter(void *arg)
{
	return stat_of(arg).space_waiters == 1;
}

static void test_wait_sleeping_producer_woken_when_space_returns(void **state)
{
	struct fixture *f = *state;
	const struct ring_reader_config cfg = { .flags = RING_READER_GATING };
	struct sleeper s = { .topic = f->topic };
	pthread_t th;
	unsigned n = 0, filled = 0;
	int rc;

	assert_rc(ring_reader_open(f->topic, &cfg, &s.reader), 0);
	assert_rc(ring_producer_open(f->topic, &s.prod), 0);
	while ((rc = ring_producer_publish(f->prod, 4, "fill", 4, 0, NULL)) == 0)
		filled++;
	assert_rc(rc, -EAGAIN);
	assert_int_equal(atomic_load(&futex_wakes), 0);

	assert_int_equal(pthread_create(&th, NULL, producer_sleeps, &s), 0);
	assert_true(t_wait_until(space_waiter, f->topic, 5 * NS_PER_S, NS_PER_MS));
	/* Reading frees space; with a producer asleep the reader runs the
	 * maintenance that raises the limit, and that wakes it. */
	while (n < filled) {
		rc = ring_reader_poll(s.reader, count_record, &n, 64, 0);
		assert_true(rc > 0);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_rc(s.rc, 0);
	assert_true(atomic_load(&futex_wakes) >= 1);
	assert_int_equal(stat_of(f->topic).space_waiters, 0);
	s.prod = ring_producer_close(s.prod);
	s.reader = ring_reader_close(s.reader);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_topic, teardown_topic)
	const struct CMUnitTest tests[] = {
		T(test_wait_nobody_asleep_means_no_wake_syscall),
		T(test_wait_sleeping_reader_woken_by_one_wake),
		T(test_wait_sleeping_producer_woken_when_space_returns),
	};
#undef T

	return cmocka_run_group_tests_name("wait", tests, NULL, NULL);
}
