/* SPDX-License-Identifier: MIT */
/*
 * bench_util.c - clocks, pinning, child processes, the histogram and the
 * report of ring-bench. Nothing here is on a measured path except
 * bench_ticks() (inline in the header) and hist_record().
 *
 * Every wait in this file is bounded by a deadline, and the parent sleeps
 * in sigtimedwait() rather than polling, so that it steals no CPU from the
 * pinned processes it measures.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libring.h>

#include "ring_config.h"
#include "bench_util.h"

bool bench_use_tsc;
bool bench_single_cpu;
double bench_ns_per_tick = 1.0;

static sigset_t orig_mask;
static sigset_t wait_set;		/* SIGCHLD and the terminating signals */
static pid_t parent_pid;
static int cpu_list[CPU_SETSIZE];
static unsigned cpu_count;

/* ---- errors ---- */

void bench_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("ring-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- clocks ---- */

uint64_t bench_mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The kernel reports a TSC that ticks at one rate in every power state
 * and on every CPU with these two flags. */
static bool tsc_is_usable(void)
{
#if defined(__x86_64__)
	char line[4096];
	bool constant = false, nonstop = false;
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		constant = strstr(line, " constant_tsc") != NULL;
		nonstop = strstr(line, " nonstop_tsc") != NULL;
		break;
	}
	fclose(f);
	return constant && nonstop;
#else
	return false;
#endif
}

static void clock_init(bool force_monotonic)
{
	uint64_t m0, m1, t0, t1;

	bench_use_tsc = false;
	bench_ns_per_tick = 1.0;
	if (force_monotonic || !tsc_is_usable())
		return;
	bench_use_tsc = true;
	/* 50 ms against CLOCK_MONOTONIC: a few ppm of error at worst. */
	m0 = bench_mono_ns();
	t0 = bench_ticks();
	do {
		m1 = bench_mono_ns();
		t1 = bench_ticks();
	} while (m1 - m0 < 50000000u);
	if (t1 <= t0) {
		bench_use_tsc = false;
		return;
	}
	bench_ns_per_tick = (double)(m1 - m0) / (double)(t1 - t0);
}

double bench_clock_overhead_ns(void)
{
	enum { N = 100000 };
	uint64_t t0 = bench_ticks(), t1, sink = 0;

	for (unsigned i = 0; i < N; i++)
		sink += bench_ticks();
	t1 = bench_ticks();
	(void)sink;
	return (double)bench_ticks_to_ns(t1 - t0) / N;
}

/* ---- shared memory ---- */

void *bench_shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Fault every page in now, not during a measurement. */
	memset(p, 0, size);
	return p;
}

void bench_shared_free(void *p, size_t size)
{
	if (p)
		(void)munmap(p, size);
}

/* ---- CPUs ---- */

static int cpus_init(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	cpu_count = 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpu_list[cpu_count++] = c;
	bench_single_cpu = cpu_count < 2;
	return cpu_count ? 0 : -ENODEV;
}

void bench_yield(void)
{
	(void)sched_yield();
}

unsigned bench_cpu_count(void)
{
	return cpu_count;
}

int bench_pin(unsigned index)
{
	cpu_set_t set;
	int cpu;

	if (!cpu_count)
		return -ENODEV;
	cpu = cpu_list[index % cpu_count];
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return cpu;
}

/* ---- processes ---- */

static void on_sigchld(int sig)
{
	/* Only there so that SIGCHLD is queued, never discarded: the parent
	 * takes it with sigtimedwait(). */
	(void)sig;
}

int bench_init(const struct bench_opts *o)
{
	struct sigaction sa;
	int rc;

	parent_pid = getpid();
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGCHLD);
	sigaddset(&wait_set, SIGINT);
	sigaddset(&wait_set, SIGTERM);
	sigaddset(&wait_set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &wait_set, &orig_mask) < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, NULL) < 0)
		return -errno;
	rc = cpus_init();
	if (rc < 0)
		return rc;
	clock_init(o->force_monotonic);
	return 0;
}

int bench_spawn(int (*fn)(void *arg), void *arg, pid_t *ret_pid)
{
	pid_t pid;

	/* Buffered output would be written twice. */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct sigaction sa;

		/* Die with the parent, even if it is SIGKILLed; and if it
		 * already died before the prctl, go at once. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent_pid)
			_exit(1);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		(void)sigaction(SIGCHLD, &sa, NULL);
		(void)sigprocmask(SIG_SETMASK, &orig_mask, NULL);
		_exit(fn(arg) < 0 ? 1 : 0);
	}
	*ret_pid = pid;
	return 0;
}

void bench_kill_children(pid_t *pids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (pids[i] > 0)
			(void)kill(pids[i], SIGKILL);
	for (unsigned i = 0; i < n; i++) {
		if (pids[i] > 0) {
			/* SIGKILL cannot be ignored: this returns promptly. */
			(void)waitpid(pids[i], NULL, 0);
			pids[i] = -1;
		}
	}
}

/*
 * Reap the children that have exited. Returns the number still running,
 * or -ECHILD if one exited with an error (after saying so).
 */
static int reap(pid_t *pids, unsigned n, const char *what)
{
	int running = 0, failed = 0;

	for (unsigned i = 0; i < n; i++) {
		int status;
		pid_t r;

		if (pids[i] <= 0)
			continue;
		r = waitpid(pids[i], &status, WNOHANG);
		if (r == 0) {
			running++;
			continue;
		}
		if (r < 0) {
			bench_err("%s: waitpid(%d): %s", what, (int)pids[i], strerror(errno));
			failed = 1;
		} else if (WIFSIGNALED(status)) {
			bench_err("%s: process %d killed by signal %d", what, (int)pids[i],
				  WTERMSIG(status));
			failed = 1;
		} else if (WEXITSTATUS(status) != 0) {
			bench_err("%s: process %d failed (exit %d)", what, (int)pids[i],
				  WEXITSTATUS(status));
			failed = 1;
		}
		pids[i] = -1;
	}
	return failed ? -ECHILD : running;
}

/* Sleep until a signal of wait_set or @until_ns: -EINTR on a terminating
 * signal, else 0. */
static int sleep_for_signal(uint64_t until_ns)
{
	uint64_t now = bench_mono_ns(), left;
	struct timespec ts;
	int sig;

	if (now >= until_ns)
		return 0;
	left = until_ns - now;
	ts.tv_sec = (time_t)(left / 1000000000u);
	ts.tv_nsec = (long)(left % 1000000000u);
	sig = sigtimedwait(&wait_set, NULL, &ts);
	if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
		bench_err("interrupted by signal %d", sig);
		return -EINTR;
	}
	return 0;
}

int bench_wait_children(pid_t *pids, unsigned n, uint64_t timeout_ns, const char *what)
{
	uint64_t deadline = bench_mono_ns() + timeout_ns;

	/* Bounded: each turn ends at the deadline at the latest. */
	for (;;) {
		int rc = reap(pids, n, what);

		if (rc == 0)
			return 0;
		if (rc < 0) {
			bench_kill_children(pids, n);
			return rc;
		}
		if (bench_mono_ns() >= deadline) {
			bench_err("%s: %d process(es) still running after %.1f s; killed", what, rc,
				  (double)timeout_ns / 1e9);
			bench_kill_children(pids, n);
			return -ETIMEDOUT;
		}
		rc = sleep_for_signal(deadline);
		if (rc < 0) {
			bench_kill_children(pids, n);
			return rc;
		}
	}
}

int bench_sleep_until(uint64_t deadline_ns, pid_t *pids, unsigned n)
{
	for (;;) {
		int rc = reap(pids, n, "run");

		if (rc < 0)
			return rc;
		if (bench_mono_ns() >= deadline_ns)
			return 0;
		rc = sleep_for_signal(deadline_ns);
		if (rc < 0)
			return rc;
	}
}

int bench_wait_flag(const uint64_t *flag, uint64_t deadline_ns)
{
	for (unsigned i = 0;; i++) {
		if (bench_load_acquire(flag))
			return 0;
		if ((i & 1023) == 0 && bench_mono_ns() >= deadline_ns)
			return -ETIMEDOUT;
		bench_relax();
		bench_spin_turn();
	}
}

int bench_wait_count(const uint64_t *counter, uint64_t want, uint64_t deadline_ns, pid_t *pids,
		     unsigned n, const char *what)
{
	for (;;) {
		int rc;

		if (bench_load_acquire(counter) >= want)
			return 0;
		rc = reap(pids, n, what);
		if (rc < 0)
			return rc;
		if (rc < (int)n) {
			bench_err("%s: a process exited before it was ready", what);
			return -ECHILD;
		}
		if (bench_mono_ns() >= deadline_ns) {
			bench_err("%s: processes not ready in time", what);
			return -ETIMEDOUT;
		}
		rc = sleep_for_signal(bench_mono_ns() + 1000000u);
		if (rc < 0)
			return rc;
	}
}

/* ---- the phases of a run ---- */

void bench_phase_init(struct bench_phase *ph, double run_seconds)
{
	ph->measure = ph->stop = ph->ready = ph->go = 0;
	ph->hard_deadline_ns = bench_mono_ns() + (uint64_t)((run_seconds + 30) * 1e9);
}

int bench_phase_ready(struct bench_phase *ph, const char *what)
{
	int rc;

	(void)bench_fetch_add(&ph->ready, 1);
	rc = bench_wait_flag(&ph->go, ph->hard_deadline_ns);
	if (rc < 0)
		bench_err("%s: no start signal", what);
	return rc;
}

int bench_phase_start(struct bench_phase *ph, pid_t *pids, unsigned n, double warm_seconds,
		      const char *what)
{
	int rc;

	rc = bench_wait_count(&ph->ready, n, bench_mono_ns() + UINT64_C(10000000000), pids, n,
			      what);
	if (rc == 0) {
		bench_store_release(&ph->go, 1);
		rc = bench_sleep_until(bench_mono_ns() + (uint64_t)(warm_seconds * 1e9), pids, n);
	}
	if (rc < 0) {
		bench_store_release(&ph->stop, 1);
		bench_kill_children(pids, n);
		return rc;
	}
	bench_store_release(&ph->measure, 1);
	return 0;
}

void bench_phase_stop(struct bench_phase *ph)
{
	bench_store_release(&ph->stop, 1);
}

int bench_phase_run(struct bench_phase *ph, pid_t *pids, unsigned n, double warm_seconds,
		    double seconds, const char *what)
{
	int rc = bench_phase_start(ph, pids, n, warm_seconds, what);

	if (rc < 0)
		return rc;
	rc = bench_sleep_until(bench_mono_ns() + (uint64_t)(seconds * 1e9), pids, n);
	bench_phase_stop(ph);
	if (rc < 0)
		bench_kill_children(pids, n);
	return rc;
}

double bench_warm_seconds(double seconds, double lo, double hi)
{
	double w = seconds / 10;

	return w < lo ? lo : w > hi ? hi : w;
}

double bench_window_close(struct bench_window *w, uint64_t count, uint64_t *ret_in_window)
{
	w->end_ns = bench_mono_ns();
	if (!w->open) {
		w->count0 = count;
		w->start_ns = w->end_ns;
	}
	if (ret_in_window)
		*ret_in_window = count - w->count0;
	if (w->end_ns <= w->start_ns)
		return 0;
	return (double)(count - w->count0) * 1e9 / (double)(w->end_ns - w->start_ns);
}

int bench_open_producer(const char *data_dir, const char *name, struct ring_topic **ret_topic,
			struct ring_producer **ret_producer, const char *what)
{
	struct ring_topic *t = NULL;
	int rc = ring_topic_open(data_dir, name, &t);

	if (rc < 0) {
		bench_err("%s: ring_topic_open(%s): %s", what, name, ring_strerror(rc));
		return rc;
	}
	rc = ring_producer_open(t, ret_producer);
	if (rc < 0) {
		bench_err("%s: ring_producer_open: %s", what, ring_strerror(rc));
		(void)ring_topic_close(t);
		return rc;
	}
	*ret_topic = t;
	return 0;
}

/* ---- topics ---- */

static char topic_name[64];

static void topic_unlink_at_exit(void)
{
	/* Children leave with _exit() and never get here; the check is for
	 * a child that might exit() by mistake. */
	if (getpid() == parent_pid)
		bench_topic_unlink();
}

const char *bench_topic_name(void)
{
	static unsigned serial;

	if (!topic_name[0]) {
		(void)snprintf(topic_name, sizeof(topic_name), "ring-bench-%d-%u", (int)getpid(),
			       serial++);
		(void)atexit(topic_unlink_at_exit);
	}
	return topic_name;
}

void bench_topic_sweep(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	if (!d)
		return;
	/* Bounded by the directory's size. */
	while ((e = readdir(d)) != NULL) {
		const char *name = strstr(e->d_name, "ring-bench-");
		long pid;

		if (!name || (name != e->d_name && name[-1] != '.') || strchr(name, '.'))
			continue;
		pid = strtol(name + strlen("ring-bench-"), NULL, 10);
		if (pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (ring_topic_unlink(NULL, name) == 0)
			printf("removed the topic %s left by a killed run\n", name);
	}
	closedir(d);
}

void bench_topic_unlink(void)
{
	if (topic_name[0]) {
		(void)ring_topic_unlink(NULL, topic_name);
		topic_name[0] = '\0';
	}
}

/* ---- the histogram ---- */

#define HIST_HALF (1u << (HIST_SUB_BITS - 1u))
#define HIST_LIMIT (UINT64_C(1) << HIST_MAX_BITS)

static unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < (1u << HIST_SUB_BITS))
		return (unsigned)v;
	if (v >= HIST_LIMIT)
		v = HIST_LIMIT - 1;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - (HIST_SUB_BITS - 1u);
	/* v >> shift keeps the top HIST_SUB_BITS bits: in [HALF, 2 * HALF). */
	return shift * HIST_HALF + (unsigned)(v >> shift);
}

/* The largest value counted in bucket @idx. */
static uint64_t hist_upper(unsigned idx)
{
	unsigned shift, sub;

	if (idx < (1u << HIST_SUB_BITS))
		return idx;
	shift = idx / HIST_HALF - 1u;
	sub = idx - shift * HIST_HALF;
	return ((uint64_t)sub << shift) + ((UINT64_C(1) << shift) - 1u);
}

void hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void hist_record(struct bench_hist *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t hist_percentile(const struct bench_hist *h, double q)
{
	uint64_t target, cum = 0;

	if (!h->count)
		return 0;
	target = (uint64_t)ceil(q / 100.0 * (double)h->count);
	if (target < 1)
		target = 1;
	if (target > h->count)
		target = h->count;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		if (cum >= target) {
			uint64_t v = hist_upper(i);

			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double hist_mean(const struct bench_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

void hist_print(FILE *f, const struct bench_hist *h, const char *indent)
{
	uint64_t cum = 0;
	unsigned i = 0;

	if (!h->count)
		return;
	/* One row per power of two: the exact region is split the same way. */
	for (unsigned band = 0; band < 64 && i < HIST_BUCKETS; band++) {
		uint64_t lo = band ? UINT64_C(1) << (band - 1) : 0, hi = UINT64_C(1) << band;
		uint64_t n = 0;
		char bar[41];
		unsigned len;

		while (i < HIST_BUCKETS && hist_upper(i) < hi)
			n += h->bucket[i++];
		if (!n)
			continue;
		cum += n;
		len = (unsigned)(40.0 * (double)n / (double)h->count + 0.5);
		memset(bar, '#', len);
		bar[len] = '\0';
		fprintf(f, "%s%10llu .. %-10llu ns %12llu %7.3f%%  %s\n", indent,
			(unsigned long long)lo, (unsigned long long)hi - 1, (unsigned long long)n,
			100.0 * (double)cum / (double)h->count, bar);
	}
}

static int check(bool ok, const char *what)
{
	if (!ok)
		bench_err("histogram self-test: %s", what);
	return ok ? 0 : -EPROTO;
}

int hist_selftest(void)
{
	static struct bench_hist a, b, all;
	uint64_t p;
	int rc = 0;

	hist_init(&a);
	rc |= check(hist_percentile(&a, 50) == 0, "empty histogram");

	/* Exact region. */
	for (unsigned i = 0; i < 10; i++)
		hist_record(&a, 5);
	hist_record(&a, 100);
	rc |= check(hist_percentile(&a, 50) == 5 && hist_percentile(&a, 90) == 5,
		    "exact small values");
	rc |= check(hist_percentile(&a, 99) == 100 && a.max == 100 && a.min == 5,
		    "exact maximum and minimum");

	/* Log-linear region: within one sub-bucket (1.6 %) above the truth. */
	hist_init(&a);
	hist_init(&b);
	hist_init(&all);
	for (uint64_t v = 1; v <= 100000; v++) {
		hist_record(v % 2 ? &a : &b, v);
		hist_record(&all, v);
	}
	p = hist_percentile(&all, 50);
	rc |= check(p >= 50000 && p <= 50000 + 50000 / HIST_HALF, "p50 of 1..100000");
	p = hist_percentile(&all, 99);
	rc |= check(p >= 99000 && p <= 99000 + 99000 / HIST_HALF, "p99 of 1..100000");
	p = hist_percentile(&all, 99.99);
	rc |= check(p >= 99990 && p <= 100000, "p99.99 of 1..100000 (clamped to max)");
	rc |= check(hist_percentile(&all, 100) == 100000, "p100 is the maximum");
	rc |= check(fabs(hist_mean(&all) - 50000.5) < 1e-6, "mean");

	/* Merging two halves gives the whole. */
	hist_merge(&a, &b);
	rc |= check(a.count == all.count && a.min == all.min && a.max == all.max &&
			    memcmp(a.bucket, all.bucket, sizeof(a.bucket)) == 0,
		    "merge");

	/* Every bucket's upper bound maps back to the bucket. */
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (hist_index(hist_upper(i)) != i) {
			rc |= check(false, "bucket bounds");
			break;
		}
	}

	/* Out of range values land in the last bucket; max stays exact. */
	hist_init(&a);
	hist_record(&a, UINT64_C(1) << 50);
	rc |= check(a.bucket[HIST_BUCKETS - 1] == 1 && a.max == UINT64_C(1) << 50 &&
			    hist_percentile(&a, 50) <= a.max,
		    "values beyond the range");
	return rc ? -EPROTO : 0;
}

/* ---- the report ---- */

void bench_report_init(struct bench_report *r, const struct bench_opts *o, const char *bench)
{
	memset(r, 0, sizeof(*r));
	r->bench = bench;
	r->size = o->size;
	r->batch = o->batch;
	r->producers = o->producers;
	r->readers = o->readers;
	r->capacity = o->capacity;
	r->seconds = o->seconds;
	r->msgs_per_sec = -1;
	r->bytes_per_sec = -1;
	r->deliveries_per_sec = -1;
	r->memcpy_ratio = -1;
	r->memcpy_dram_ratio = -1;
	(void)snprintf(r->mode, sizeof(r->mode), "%uP%uC", o->producers, o->readers);
}

void bench_report_hist(struct bench_report *r, const struct bench_hist *h)
{
	r->has_latency = h->count > 0;
	r->samples = h->count;
	r->p50_ns = hist_percentile(h, 50);
	r->p99_ns = hist_percentile(h, 99);
	r->p999_ns = hist_percentile(h, 99.9);
	r->p9999_ns = hist_percentile(h, 99.99);
	r->max_ns = h->count ? h->max : 0;
	r->min_ns = h->count ? h->min : 0;
	r->mean_ns = hist_mean(h);
}

void bench_report_extra(struct bench_report *r, const char *key, double value, int decimals)
{
	struct bench_extra *e;

	if (r->nextra >= BENCH_MAX_EXTRA)
		return;
	e = &r->extra[r->nextra++];
	(void)snprintf(e->key, sizeof(e->key), "%s", key);
	e->value = value;
	e->decimals = decimals;
}

void bench_report_ratios(struct bench_report *r)
{
	if (!r->has_floor)
		return;
	if (r->bytes_per_sec > 0 && r->floor.memcpy_bytes_per_sec > 0)
		r->memcpy_ratio = r->bytes_per_sec / r->floor.memcpy_bytes_per_sec;
	if (r->bytes_per_sec > 0 && r->floor.memcpy_dram_bytes_per_sec > 0)
		r->memcpy_dram_ratio = r->bytes_per_sec / r->floor.memcpy_dram_bytes_per_sec;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : -1;
}

/* ---- JSON ---- */

struct json {
	FILE *f;
	bool first;
};

static void json_key(struct json *j, const char *key)
{
	fprintf(j->f, "%s\"%s\":", j->first ? "" : ",", key);
	j->first = false;
}

static void json_str(struct json *j, const char *key, const char *v)
{
	json_key(j, key);
	if (!v) {
		fputs("null", j->f);
		return;
	}
	fputc('"', j->f);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(j->f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(j->f, "\\u%04x", *p);
		else
			fputc(*p, j->f);
	}
	fputc('"', j->f);
}

static void json_u64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

/* A negative value means "not measured": null. */
static void json_num(struct json *j, const char *key, double v, int decimals)
{
	json_key(j, key);
	if (v < 0 || !isfinite(v))
		fputs("null", j->f);
	else
		fprintf(j->f, "%.*f", decimals, v);
}

static void json_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

static void json_lat(struct json *j, const char *key, bool has, uint64_t v)
{
	if (has)
		json_u64(j, key, v);
	else
		json_num(j, key, -1, 0);
}

static void cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "re");

	(void)snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon || (strncmp(line, "model name", 10) != 0 &&
			       strncmp(line, "Hardware", 8) != 0 && strncmp(line, "cpu model", 9) != 0))
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		(void)snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

void bench_report_json(FILE *f, const struct bench_report *r)
{
	struct json j = { .f = f, .first = true };
	const struct floor_result *fl = &r->floor;
	bool lat = r->has_latency, fh = r->has_floor;
	struct utsname u;
	char cpu[256];

	fputc('{', f);
	json_str(&j, "bench", r->bench);
	json_str(&j, "mode", r->mode);
	json_u64(&j, "size", r->size);
	json_u64(&j, "batch", r->batch);
	json_u64(&j, "producers", r->producers);
	json_u64(&j, "readers", r->readers);
	json_str(&j, "reader", r->reader_kind);
	json_bool(&j, "lossless", r->lossless);
	json_u64(&j, "idle_pause", r->idle_pause);
	json_u64(&j, "capacity_bytes", r->capacity);
	json_num(&j, "seconds", r->seconds, 3);
	json_u64(&j, "samples", r->samples);
	json_lat(&j, "p50_ns", lat, r->p50_ns);
	json_lat(&j, "p99_ns", lat, r->p99_ns);
	json_lat(&j, "p999_ns", lat, r->p999_ns);
	json_lat(&j, "p9999_ns", lat, r->p9999_ns);
	json_lat(&j, "max_ns", lat, r->max_ns);
	json_lat(&j, "min_ns", lat, r->min_ns);
	json_num(&j, "mean_ns", lat ? r->mean_ns : -1, 1);
	json_num(&j, "msgs_per_sec", r->msgs_per_sec, 0);
	json_num(&j, "bytes_per_sec", r->bytes_per_sec, 0);
	json_num(&j, "deliveries_per_sec", r->deliveries_per_sec, 0);
	json_lat(&j, "one_way_p50_ns", fh, fl->one_way_p50_ns);
	json_lat(&j, "one_way_p99_ns", fh, fl->one_way_p99_ns);
	json_lat(&j, "one_way_p999_ns", fh, fl->one_way_p999_ns);
	json_lat(&j, "one_way_max_ns", fh, fl->one_way_max_ns);
	json_lat(&j, "stamped_one_way_p50_ns", fh && fl->stamped_p50_ns, fl->stamped_p50_ns);
	json_lat(&j, "stamped_one_way_p99_ns", fh && fl->stamped_p50_ns, fl->stamped_p99_ns);
	json_num(&j, "memcpy_bytes_per_sec", fh ? fl->memcpy_bytes_per_sec : -1, 0);
	json_num(&j, "memcpy_dram_bytes_per_sec", fh ? fl->memcpy_dram_bytes_per_sec : -1, 0);
	json_u64(&j, "memcpy_area_bytes", fh ? fl->memcpy_area_bytes : 0);
	json_u64(&j, "msg_floor_size", fh ? fl->msg_size : 0);
	json_lat(&j, "msg_floor_one_way_p50_ns", fh && fl->msg_size, fl->msg_one_way_p50_ns);
	json_lat(&j, "msg_floor_one_way_p99_ns", fh && fl->msg_size, fl->msg_one_way_p99_ns);
	json_num(&j, "p50_ratio_to_floor",
		 lat && fh && strcmp(r->bench, "floor") ? ratio(r->p50_ns, fl->one_way_p50_ns) : -1,
		 3);
	json_num(&j, "p99_ratio_to_floor",
		 lat && fh && strcmp(r->bench, "floor") ? ratio(r->p99_ns, fl->one_way_p99_ns) : -1,
		 3);
	json_num(&j, "p99_ratio_to_floor_p50",
		 lat && fh && strcmp(r->bench, "floor") ? ratio(r->p99_ns, fl->one_way_p50_ns) : -1,
		 3);
	json_num(&j, "p50_ratio_to_msg_floor",
		 lat && fh && fl->msg_size && strcmp(r->bench, "floor")
			 ? ratio(r->p50_ns, fl->msg_one_way_p50_ns)
			 : -1,
		 3);
	json_num(&j, "memcpy_ratio", r->memcpy_ratio, 4);
	json_num(&j, "memcpy_dram_ratio", r->memcpy_dram_ratio, 4);
	for (unsigned i = 0; i < r->nextra; i++)
		json_num(&j, r->extra[i].key, r->extra[i].value, r->extra[i].decimals);
	json_str(&j, "clock", bench_use_tsc ? "tsc" : "monotonic");

	json_key(&j, "machine");
	fputc('{', f);
	j.first = true;
	cpu_model(cpu, sizeof(cpu));
	json_str(&j, "cpu", cpu);
	json_u64(&j, "nproc", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
	if (uname(&u) == 0) {
		json_str(&j, "kernel", u.release);
		json_str(&j, "arch", u.machine);
	} else {
		json_str(&j, "kernel", NULL);
		json_str(&j, "arch", NULL);
	}
	fputc('}', f);
	j.first = false;
	json_str(&j, "git", RING_GIT_REVISION);
	fputs("}\n", f);
}

/* ---- human-readable ---- */

static void print_rate(FILE *f, const char *what, double v, const char *unit)
{
	if (v >= 1e9)
		fprintf(f, "  %-22s %10.3f G%s\n", what, v / 1e9, unit);
	else if (v >= 1e6)
		fprintf(f, "  %-22s %10.3f M%s\n", what, v / 1e6, unit);
	else
		fprintf(f, "  %-22s %10.0f %s\n", what, v, unit);
}

void bench_report_print(FILE *f, const struct bench_report *r)
{
	const struct floor_result *fl = &r->floor;

	if (r->has_floor) {
		fprintf(f, "floor (same run; CPUs %d and %d; clock %s):\n", fl->cpu_a, fl->cpu_b,
			bench_use_tsc ? "tsc" : "monotonic");
		fprintf(f, "  cache line one-way     p50 %llu ns  p99 %llu ns  p99.9 %llu ns  "
			   "max %llu ns  (half of %llu round trips)\n",
			(unsigned long long)fl->one_way_p50_ns, (unsigned long long)fl->one_way_p99_ns,
			(unsigned long long)fl->one_way_p999_ns,
			(unsigned long long)fl->one_way_max_ns, (unsigned long long)fl->round_trips);
		if (fl->stamped_p50_ns)
			fprintf(f, "  stamped one-way        p50 %llu ns  p99 %llu ns  (receive - send "
				   "stamp)\n",
				(unsigned long long)fl->stamped_p50_ns,
				(unsigned long long)fl->stamped_p99_ns);
		if (fl->msg_size)
			fprintf(f, "  %u B message one-way   p50 %llu ns  p99 %llu ns  (plain shared "
				   "memory, no ring: half of %llu round trips)\n",
				fl->msg_size, (unsigned long long)fl->msg_one_way_p50_ns,
				(unsigned long long)fl->msg_one_way_p99_ns,
				(unsigned long long)fl->msg_round_trips);
		if (fl->memcpy_bytes_per_sec >= 0) {
			print_rate(f, "memcpy 64K, ring area", fl->memcpy_bytes_per_sec, "B/s");
			print_rate(f, "memcpy 64K, 64M (DRAM)", fl->memcpy_dram_bytes_per_sec, "B/s");
		}
	}
	if (!strcmp(r->bench, "floor"))
		return;
	fprintf(f, "%s %s: size %u B, batch %u, %s reader%s, capacity %llu B, %.2f s\n", r->bench,
		r->mode, r->size, r->batch, r->reader_kind ? r->reader_kind : "-",
		r->lossless ? " (lossless: every record counted)" : "",
		(unsigned long long)r->capacity, r->seconds);
	if (r->has_latency) {
		fprintf(f, "  one-way latency        p50 %llu ns  p99 %llu ns  p99.9 %llu ns  "
			   "p99.99 %llu ns  max %llu ns  (%llu samples, min %llu, mean %.1f)\n",
			(unsigned long long)r->p50_ns, (unsigned long long)r->p99_ns,
			(unsigned long long)r->p999_ns, (unsigned long long)r->p9999_ns,
			(unsigned long long)r->max_ns, (unsigned long long)r->samples,
			(unsigned long long)r->min_ns, r->mean_ns);
		if (r->has_floor)
			fprintf(f, "  ratio to floor         p50 %.2fx  p99 %.2fx (p99 / floor p50 "
				   "%.2fx)\n",
				ratio(r->p50_ns, fl->one_way_p50_ns),
				ratio(r->p99_ns, fl->one_way_p99_ns),
				ratio(r->p99_ns, fl->one_way_p50_ns));
	}
	if (r->msgs_per_sec >= 0) {
		print_rate(f, "messages", r->msgs_per_sec, "msg/s");
		print_rate(f, "payload", r->bytes_per_sec, "B/s");
		if (r->readers > 1)
			print_rate(f, "deliveries (all readers)", r->deliveries_per_sec, "msg/s");
	}
	for (unsigned i = 0; i < r->nextra; i++) {
		if (r->extra[i].value < 0)
			fprintf(f, "  %-30s %14s\n", r->extra[i].key, "-");
		else
			fprintf(f, "  %-30s %14.*f\n", r->extra[i].key, r->extra[i].decimals,
				r->extra[i].value);
	}
	if (r->memcpy_ratio >= 0 && r->size >= 4096)
		fprintf(f, "  ratio to memcpy        %.1f %% of the copy into a ring-sized area "
			   "(%.1f %% of the DRAM-bound copy)\n",
			100 * r->memcpy_ratio, 100 * r->memcpy_dram_ratio);
	fputs(r->notes, f);
}
