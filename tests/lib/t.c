/* SPDX-License-Identifier: MIT */
/*
 * t.c - the test helpers declared in t.h.
 *
 * No cmocka calls here: the helpers run in forked children too, where a
 * failing cmocka assertion would jump into a copy of the parent's runner.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"

/* ---- time ---- */

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t t_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t t_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

void t_sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000u),
		.tv_nsec = (long)(ns % 1000000000u),
	};

	/* Bounded: each EINTR retry sleeps only what is left. */
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool t_wait_until(bool (*pred)(void *), void *arg, uint64_t timeout_ns, uint64_t step_ns)
{
	uint64_t deadline = t_now_ns() + timeout_ns;

	for (;;) {
		if (pred(arg))
			return true;
		if (t_now_ns() >= deadline)
			return false;
		t_sleep_ns(step_ns);
	}
}

/* ---- names and directories ---- */

void t_unique_name(char *buf, size_t len, const char *tag)
{
	static _Atomic unsigned counter;
	unsigned n = counter++;

	snprintf(buf, len, "t%d-%u-%s", (int)getpid(), n, tag ? tag : "x");
}

int t_tmpdir_create(char *buf, size_t len)
{
	if (len < 64)
		return -EINVAL;
	snprintf(buf, len, "/tmp/ringlog-test.XXXXXX");
	return mkdtemp(buf) ? 0 : -errno;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

int t_tmpdir_remove(const char *path)
{
	/* Depth first, physical: files before their directory, and a symlink
	 * is removed, never followed out of the tree. */
	if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

/* ---- processes ---- */

pid_t t_fork_child(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid();
	pid_t pid;

	/* Buffered output would otherwise be printed once by each child. */
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(126);
	/* The parent may have died before prctl() took effect. */
	if (getppid() != parent)
		_exit(126);
	_exit(fn(arg) & 0xff);
}

int t_wait_child(pid_t pid, uint64_t timeout_ns, int *ret_status)
{
	uint64_t deadline = t_now_ns() + timeout_ns;
	int status = 0;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid) {
			if (ret_status)
				*ret_status = status;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (t_now_ns() >= deadline)
			break;
		t_sleep_ns(1000000);
	}
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, &status, 0);
	return -ETIMEDOUT;
}

const char *t_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status 0x%x", (unsigned)status);
	return buf;
}

void *t_shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void t_shared_free(void *p, size_t len)
{
	if (p)
		(void)munmap(p, len);
}

int t_reap_ok(pid_t *pid, uint64_t timeout_ns, const char *err, char *msg, size_t len)
{
	char what[64];
	int status = 0, rc = t_wait_child(*pid, timeout_ns, &status);

	if (rc < 0) {
		snprintf(msg, len, "not ended in time (%s)", strerror(-rc));
		return -1;
	}
	*pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(msg, len, "%s: %s", t_status_str(status, what, sizeof(what)),
		 err[0] ? err : "(no message)");
	return -1;
}

int t_child_fail(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return 1;
}

int t_topic_teardown(const pid_t *pids, unsigned n, void *shared, size_t shared_len,
		     struct ring_topic **topic, const char *dir, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (pids[i] > 0)
			(void)t_wait_child(pids[i], 0, NULL);
	t_shared_free(shared, shared_len);
	*topic = ring_topic_close(*topic);
	(void)ring_topic_unlink(dir, name);
	return dir[0] && t_tmpdir_remove(dir) < 0 ? -1 : 0;
}

/* ---- randomness ---- */

uint64_t t_seed(void)
{
	const char *env = getenv("RING_TEST_SEED");
	uint64_t seed;

	if (env && *env)
		seed = strtoull(env, NULL, 0);
	else
		seed = t_realtime_ns() ^ ((uint64_t)getpid() << 32);
	printf("# seed %" PRIu64 " (replay with RING_TEST_SEED=%" PRIu64 ")\n", seed, seed);
	fflush(stdout);
	return seed;
}

uint64_t t_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t t_rand_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + t_rand(state) % (hi - lo + 1);
}

/* ---- environment ---- */

unsigned t_stress_seconds(unsigned fallback)
{
	const char *env = getenv("RING_STRESS_SECONDS");
	long v;

	if (!env || !*env)
		return fallback;
	v = strtol(env, NULL, 10);
	return v > 0 && v <= 3600 ? (unsigned)v : fallback;
}

/* ---- payloads ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	/* CRC-32 (IEEE 802.3, reflected): independent of libring's CRC32C,
	 * so a bug there cannot hide one here. */
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t t_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	(void)pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint64_t mix(uint32_t producer_id, uint64_t seq)
{
	uint64_t s = ((uint64_t)producer_id << 48) ^ seq ^ UINT64_C(0x5bd1e9955bd1e995);

	return t_rand(&s);
}

size_t t_payload_len(uint32_t producer_id, uint64_t seq, size_t min, size_t max)
{
	if (min < T_PAYLOAD_MIN)
		min = T_PAYLOAD_MIN;
	if (max <= min)
		return min;
	return min + (size_t)(mix(producer_id, seq) % (max - min + 1));
}

static uint32_t payload_crc(const uint8_t *p, size_t len)
{
	uint32_t crc = t_crc32(0, p, 4);

	return t_crc32(crc, p + 8, len - 8);
}

void t_payload_fill(void *buf, size_t len, uint32_t producer_id, uint64_t seq)
{
	uint8_t *p = buf;
	uint64_t s = mix(producer_id, seq);
	uint32_t crc;

	memcpy(p, &producer_id, 4);
	memcpy(p + 8, &seq, 8);
	for (size_t i = 16; i < len; i++) {
		if ((i & 7) == 0)
			s = t_rand(&s);
		p[i] = (uint8_t)(s >> ((i & 7) * 8));
	}
	crc = payload_crc(p, len);
	memcpy(p + 4, &crc, 4);
}

int t_payload_check(const void *buf, size_t len, uint32_t *ret_producer_id, uint64_t *ret_seq)
{
	const uint8_t *p = buf;
	uint32_t id, crc;
	uint64_t seq;

	if (len < T_PAYLOAD_MIN)
		return -EBADMSG;
	memcpy(&id, p, 4);
	memcpy(&crc, p + 4, 4);
	memcpy(&seq, p + 8, 8);
	if (crc != payload_crc(p, len))
		return -EBADMSG;
	*ret_producer_id = id;
	*ret_seq = seq;
	return 0;
}

/* ---- the stream checker ---- */

void t_tracker_init(struct t_tracker *tr, uint32_t nproducers)
{
	memset(tr, 0, sizeof(*tr));
	tr->nproducers = nproducers < T_TRACKER_MAX_PRODUCERS ? nproducers
							      : T_TRACKER_MAX_PRODUCERS;
}

__attribute__((format(printf, 2, 3))) static int tracker_fail(struct t_tracker *tr,
							      const char *fmt, ...)
{
	va_list ap;

	if (tr->errors++ == 0) {
		int n;

		va_start(ap, fmt);
		n = vsnprintf(tr->first_error, sizeof(tr->first_error), fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < sizeof(tr->first_error))
			snprintf(tr->first_error + n, sizeof(tr->first_error) - (size_t)n,
				 " [after %" PRIu64 " records, %" PRIu64 " overflows]",
				 tr->delivered, tr->overflows);
	}
	return -1;
}

int t_tracker_record(struct t_tracker *tr, const struct ring_record *rec)
{
	uint32_t id;
	uint64_t seq;

	if (rec->position < tr->last_next_pos)
		return tracker_fail(tr, "position %" PRIu64 " below the previous record's end %"
				   PRIu64, rec->position, tr->last_next_pos);
	if (rec->next_position <= rec->position || rec->position % 8 != 0)
		return tracker_fail(tr, "record at %" PRIu64 " has next_position %" PRIu64,
				    rec->position, rec->next_position);
	tr->last_next_pos = rec->next_position;
	if (((uintptr_t)rec->payload & 7) != 0)
		return tracker_fail(tr, "payload at %" PRIu64 " not 8-byte aligned",
				    rec->position);
	if (t_payload_check(rec->payload, rec->len, &id, &seq) < 0)
		return tracker_fail(tr, "corrupt payload at %" PRIu64 " (len %u)", rec->position,
				    rec->len);
	if (id >= tr->nproducers)
		return tracker_fail(tr, "unknown producer %u at %" PRIu64, id, rec->position);
	if (rec->type != id + 1)
		return tracker_fail(tr, "type %u for producer %u at %" PRIu64, rec->type, id,
				    rec->position);
	if (seq != tr->next_seq[id]) {
		if (seq < tr->next_seq[id])
			return tracker_fail(tr,
					    "producer %u: seq %" PRIu64 " after %" PRIu64
					    " (duplicate or reorder) at %" PRIu64,
					    id, seq, tr->next_seq[id] - 1, rec->position);
		if (!tr->gap_ok[id])
			return tracker_fail(tr,
					    "producer %u: seq %" PRIu64 ", expected %" PRIu64
					    " (gap) at %" PRIu64,
					    id, seq, tr->next_seq[id], rec->position);
		tr->skipped += seq - tr->next_seq[id];
	}
	tr->gap_ok[id] = 0;
	tr->next_seq[id] = seq + 1;
	tr->delivered++;
	return 0;
}

void t_tracker_overflow(struct t_tracker *tr)
{
	tr->overflows++;
	memset(tr->gap_ok, 1, sizeof(tr->gap_ok));
}

bool t_tracker_complete(const struct t_tracker *tr, const uint64_t *per_producer, uint64_t count)
{
	for (uint32_t i = 0; i < tr->nproducers; i++)
		if (tr->next_seq[i] < (per_producer ? per_producer[i] : count))
			return false;
	return true;
}

/* ---- latency histogram ---- */

void t_hist_init(struct t_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static unsigned hist_index(uint64_t v)
{
	unsigned msb, sub;

	if (v < 8)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	sub = (unsigned)(v >> (msb - 3)) & 7u;
	return (msb - 2) * 8u + sub;
}

static uint64_t hist_upper(unsigned index)
{
	unsigned msb, sub;

	if (index < 8)
		return index;
	msb = index / 8u + 2u;
	sub = index % 8u;
	return ((UINT64_C(8) + sub + 1) << (msb - 3)) - 1;
}

void t_hist_add(struct t_hist *h, uint64_t v)
{
	unsigned i = hist_index(v);

	h->bucket[i < T_HIST_BUCKETS ? i : T_HIST_BUCKETS - 1]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

uint64_t t_hist_percentile(const struct t_hist *h, double p)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	want = (uint64_t)((double)h->count * p / 100.0);
	if (want >= h->count)
		want = h->count - 1;
	for (unsigned i = 0; i < T_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > want) {
			uint64_t up = hist_upper(i);

			return up > h->max ? h->max : up;
		}
	}
	return h->max;
}

void t_hist_print(const struct t_hist *h, const char *label)
{
	if (!h->count) {
		printf("# %-28s no samples\n", label);
		return;
	}
	printf("# %-28s n=%-9" PRIu64 " min=%-8" PRIu64 " p50=%-8" PRIu64 " p99=%-9" PRIu64
	       " max=%-10" PRIu64 " (ns)\n",
	       label, h->count, h->min, t_hist_percentile(h, 50), t_hist_percentile(h, 99), h->max);
}
