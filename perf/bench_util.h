/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h - what ring-bench's modes share: options, clocks, CPU
 * pinning, child processes, a log-linear latency histogram, and the report
 * that ends as one JSON line.
 *
 * The benchmark compares libring against the machine's own limit measured
 * in the same run (bench_floor.c), so every figure it prints can be read as
 * a ratio and survives a change of machine.
 */
#ifndef RING_BENCH_UTIL_H
#define RING_BENCH_UTIL_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct ring_topic;
struct ring_topic_config;
struct ring_producer;

#define BENCH_CACHELINE 64
#define BENCH_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Record types on the benchmark's topics. */
#define BENCH_TYPE_DATA 1u
#define BENCH_TYPE_STOP 2u

/* Upper bounds on the process counts accepted on the command line. */
#define BENCH_MAX_PRODUCERS 64u
#define BENCH_MAX_READERS 16u	/* gating reader slots of a topic */

/* ---- options ---- */

enum bench_mode {
	BENCH_FLOOR,
	BENCH_LATENCY,
	BENCH_THROUGHPUT,
	BENCH_SELFTEST,
	BENCH_DISK_FLOOR,
	BENCH_PERSIST,
	BENCH_DURABLE,
	BENCH_GROUPS,
};

/* Consumer kinds of the groups mode. */
enum bench_group_kind {
	BENCH_GROUP_EXCLUSIVE,
	BENCH_GROUP_SHARED,
};

/* The default of --idle-pause: pause instructions a throughput reader
 * spends after an empty poll (about 20 us on a CPU whose pause takes
 * 20 ns). See bench_throughput.c for why a reader must back off. */
#define BENCH_DEFAULT_IDLE_PAUSE 1024u

struct bench_opts {
	enum bench_mode mode;
	uint32_t size;		/* payload bytes */
	uint32_t producers;
	uint32_t readers;
	uint32_t batch;		/* records per publish call */
	double seconds;		/* measured time, warm-up not included */
	uint64_t capacity;	/* ring data bytes; 0 = libring's default */
	bool json;
	bool gating;		/* latency: gating reader instead of ordinary */
	bool force_monotonic;	/* never use the TSC */
	uint32_t idle_pause;	/* throughput readers: pauses after an empty poll */
	/* disk-floor, persist, durable */
	const char *data_dir;	/* where files and persistent topics go */
	const char *ringd;	/* the ringd executable; NULL: found next to us */
	int fsync_policy;	/* enum ring_fsync_policy; -1: the mode's default */
	/* groups */
	enum bench_group_kind group_kind;
	uint32_t members;
	uint32_t ack_batch;
};

/* ---- clocks ---- */

/*
 * Timestamps on the hot path are "ticks": the TSC where it runs at a
 * constant rate and is synchronised across CPUs (the kernel says so with
 * constant_tsc and nonstop_tsc), else CLOCK_MONOTONIC in ns. The TSC is
 * read behind an lfence so that the read is not hoisted above the load
 * that saw a message arrive.
 */
extern bool bench_use_tsc;
extern double bench_ns_per_tick;

uint64_t bench_mono_ns(void);

static inline uint64_t bench_ticks(void)
{
#if defined(__x86_64__)
	if (bench_use_tsc) {
		uint32_t lo, hi;

		__asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
		return ((uint64_t)hi << 32) | lo;
	}
#endif
	return bench_mono_ns();
}

static inline uint64_t bench_ticks_to_ns(uint64_t ticks)
{
	return (uint64_t)((double)ticks * bench_ns_per_tick + 0.5);
}

static inline uint64_t bench_ns_to_ticks(uint64_t ns)
{
	return (uint64_t)((double)ns / bench_ns_per_tick);
}

/* The tick count at which CLOCK_MONOTONIC reaches @deadline_ns (now if it
 * has passed), so hot loops can check a deadline without a clock call. */
static inline uint64_t bench_deadline_ticks(uint64_t deadline_ns)
{
	uint64_t now = bench_mono_ns();

	return bench_ticks() + (deadline_ns > now ? bench_ns_to_ticks(deadline_ns - now) : 0);
}

/* Rough cost of one bench_ticks() call, in ns. */
double bench_clock_overhead_ns(void);

static inline void bench_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/*
 * Called on every turn of a busy-wait loop. With two CPUs or more it does
 * nothing (each process has a CPU of its own, and the floor's loops have
 * no pause either); on a single CPU it yields, so that the process waited
 * for can run at all.
 */
extern bool bench_single_cpu;
void bench_yield(void);

static inline void bench_spin_turn(void)
{
	if (BENCH_UNLIKELY(bench_single_cpu))
		bench_yield();
}

/* ---- shared words between the benchmark's processes ----
 *
 * The processes meet in an anonymous shared mapping made before fork.
 * Flags and counters there go through these wrappers (GCC/Clang builtins,
 * so that libring/atomics.h stays the only user of <stdatomic.h>).
 */
static inline uint64_t bench_load_acquire(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint64_t bench_load_relaxed(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void bench_store_release(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void bench_store_relaxed(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline uint64_t bench_fetch_add(uint64_t *p, uint64_t v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL);
}

/* An anonymous MAP_SHARED mapping of @size bytes, zeroed; NULL on error. */
void *bench_shared_alloc(size_t size);
void bench_shared_free(void *p, size_t size);

/* ---- a message through plain shared memory: the message floor ----
 *
 * What moving a record's bytes from one CPU to another costs without the
 * ring (bench_floor.c, bench_latency.c). The writer copies the payload
 * behind a header as large as the ring's and stores the header's first
 * word with release; the reader polls that word (acquire) and copies the
 * payload out. Messages follow each other at 8-aligned positions of an
 * area of BENCH_MSG_AREA_BYTES, wrapping to its start; each side keeps its
 * own position in each area (a lane).
 */
#define BENCH_MSG_AREA_BYTES (UINT64_C(4) << 20)
#define BENCH_MSG_HEADER_BYTES 24u

struct bench_msg_lane {
	uint8_t *area;
	uint64_t pos;
	uint32_t size, stride;
};

/* A lane over @area for @size-byte payloads: false if two of them do
 * not fit in the area. */
static inline bool bench_msg_lane_init(struct bench_msg_lane *l, uint8_t *area, uint32_t size)
{
	l->area = area;
	l->pos = 0;
	l->size = size;
	l->stride = (uint32_t)((BENCH_MSG_HEADER_BYTES + (uint64_t)size + 7) / 8 * 8);
	return 2 * (uint64_t)l->stride <= BENCH_MSG_AREA_BYTES;
}

static inline void bench_msg_advance(struct bench_msg_lane *l)
{
	l->pos += l->stride;
	if (l->pos + l->stride > BENCH_MSG_AREA_BYTES)
		l->pos = 0;
}

/* Send @src (the lane's size) with header word @word (never 0). */
static inline void bench_msg_send(struct bench_msg_lane *l, uint64_t word, const void *src)
{
	__builtin_memcpy(l->area + l->pos + BENCH_MSG_HEADER_BYTES, src, l->size);
	/* Pairs with bench_msg_wait()'s acquire: the payload travels with it. */
	bench_store_release((uint64_t *)(void *)(l->area + l->pos), word);
	bench_msg_advance(l);
}

/* Wait until the header word at the lane's position is @want or @alt
 * (0: only @want), copy the payload to @dst and move on. Returns the word
 * seen, or 0 if none came by @hard_end (ticks). */
static inline uint64_t bench_msg_wait(struct bench_msg_lane *l, uint64_t want, uint64_t alt,
				      void *dst, uint64_t hard_end)
{
	const uint64_t *w = (const uint64_t *)(void *)(l->area + l->pos);
	uint64_t v;

	for (unsigned i = 0; (v = bench_load_acquire(w)) != want && (!alt || v != alt); i++) {
		if ((i & 0xffff) == 0xffff && bench_ticks() > hard_end)
			return 0;
		bench_spin_turn();
	}
	__builtin_memcpy(dst, l->area + l->pos + BENCH_MSG_HEADER_BYTES, l->size);
	bench_msg_advance(l);
	return v;
}

/* ---- CPUs and processes ---- */

/* Number of CPUs this process may run on (its affinity mask). */
unsigned bench_cpu_count(void);

/* Pin the calling process to the @index-th CPU of the parent's affinity
 * mask, modulo their number. Returns the CPU number, or -errno. */
int bench_pin(unsigned index);

/*
 * Fork a child that runs @fn(@arg) and exits with its return value. The
 * child dies with its parent (PR_SET_PDEATHSIG) and has the default signal
 * mask. Returns 0 and the pid, or -errno.
 */
int bench_spawn(int (*fn)(void *arg), void *arg, pid_t *ret_pid);

/*
 * Wait for every child in @pids (-1 entries are skipped) for at most
 * @timeout_ns. Children that exit are set to -1 in @pids.
 * Returns 0 if all exited with status 0; -ECHILD if one failed (its
 * message is on stderr); -ETIMEDOUT; -EINTR if SIGINT/SIGTERM/SIGHUP
 * arrived. On any error the remaining children are killed and reaped.
 */
int bench_wait_children(pid_t *pids, unsigned n, uint64_t timeout_ns, const char *what);

/* Sleep until CLOCK_MONOTONIC reaches @deadline_ns, unless a child exits
 * or a terminating signal arrives first: 0, -ECHILD or -EINTR. A child
 * that exits with status 0 does not interrupt the sleep. */
int bench_sleep_until(uint64_t deadline_ns, pid_t *pids, unsigned n);

/* Kill (SIGKILL) and reap every child in @pids not yet reaped. */
void bench_kill_children(pid_t *pids, unsigned n);

/*
 * Set up the process before anything else: block the signals the parent
 * waits for (children get the default mask back), note the CPUs it may
 * use, and choose and calibrate the clock. Returns 0 or -errno.
 */
int bench_init(const struct bench_opts *o);

/* Children: spin until *@flag is nonzero or CLOCK_MONOTONIC passes
 * @deadline_ns: 0 or -ETIMEDOUT. */
int bench_wait_flag(const uint64_t *flag, uint64_t deadline_ns);

/* Parent: sleep-poll (1 ms) until *@counter >= @want: 0, -ETIMEDOUT,
 * -ECHILD (a child exited first) or -EINTR. */
int bench_wait_count(const uint64_t *counter, uint64_t want, uint64_t deadline_ns,
		     pid_t *pids, unsigned n, const char *what);

/* ---- the phases of a run ----
 *
 * Every mode with child processes runs the same way: the children open
 * what they need and say so (`ready`), the parent lets them all start at
 * once (`go`), then flips `measure` after a warm-up and `stop` after the
 * measured time. Children read `measure` and `stop` on every turn of
 * their loop; both live on one line that is written twice per run.
 */
struct bench_phase {
	alignas(BENCH_CACHELINE) uint64_t measure;	/* warm-up is over */
	uint64_t stop;					/* finish now */
	alignas(BENCH_CACHELINE) uint64_t ready;	/* children set up */
	uint64_t go;
	uint64_t hard_deadline_ns;	/* no child waits past this */
};

/* Reset @ph for a run that may last @run_seconds, plus a margin. */
void bench_phase_init(struct bench_phase *ph, double run_seconds);

/* Child: count itself ready, then wait for `go`: 0 or -ETIMEDOUT. */
int bench_phase_ready(struct bench_phase *ph, const char *what);

/* Parent: wait until @n children are ready, let them go, and flip
 * `measure` after @warm_seconds. On an error the children are killed.
 * 0, or -errno (said on stderr). */
int bench_phase_start(struct bench_phase *ph, pid_t *pids, unsigned n, double warm_seconds,
		      const char *what);
/* Parent: flip `stop`. The children are left to be reaped
 * (bench_wait_children()). */
void bench_phase_stop(struct bench_phase *ph);
/* Both, with @seconds of measuring in between (sleeping, unless a child
 * fails first or a terminating signal arrives). */
int bench_phase_run(struct bench_phase *ph, pid_t *pids, unsigned n, double warm_seconds,
		    double seconds, const char *what);

/* The warm-up for a run of @seconds: a tenth of it, within [@lo, @hi]. */
double bench_warm_seconds(double seconds, double lo, double hi);

/* What a child counted in the measured window: bench_window_update() on
 * every turn (cheap: one relaxed load until the window opens), then
 * bench_window_close() once at the end. */
struct bench_window {
	bool open;
	uint64_t count0;	/* the count when the window opened */
	uint64_t start_ns, end_ns;
};

static inline void bench_window_update(struct bench_window *w, const struct bench_phase *ph,
				       uint64_t count)
{
	if (BENCH_UNLIKELY(!w->open) && __atomic_load_n(&ph->measure, __ATOMIC_RELAXED)) {
		w->open = true;
		w->count0 = count;
		w->start_ns = bench_mono_ns();
	}
}

/* Close the window at @count; one that never opened is empty. Returns
 * the count in the window per second (0 when empty). */
double bench_window_close(struct bench_window *w, uint64_t count, uint64_t *ret_in_window);

/* Open topic @name of @data_dir (NULL: ephemeral) and a producer on it. */
int bench_open_producer(const char *data_dir, const char *name, struct ring_topic **ret_topic,
			struct ring_producer **ret_producer, const char *what);

/* Print "ring-bench: <what>: <message>" to stderr. */
void bench_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- topics ---- */

/* A fresh ephemeral topic name for this run, unlinked at exit (also if
 * the run fails). Returns the name (static storage). */
const char *bench_topic_name(void);
void bench_topic_unlink(void);
/* Unlink the topics of earlier runs whose process is gone (a run killed
 * with SIGKILL cannot clean up after itself). */
void bench_topic_sweep(void);

/* ---- the latency histogram ----
 *
 * Log-linear in the manner of HdrHistogram: values below 2^HIST_SUB_BITS ns
 * are counted exactly, larger ones in 2^(HIST_SUB_BITS - 1) buckets per
 * power of two, so a percentile is off by less than 1 / 2^(HIST_SUB_BITS-1)
 * of its value (1.6 % here). Values from 2^HIST_MAX_BITS ns (18 minutes) up
 * are counted in the last bucket. Fixed size: no allocation, fits in shared
 * memory.
 */
#define HIST_SUB_BITS 7u
#define HIST_MAX_BITS 40u
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 2u) << (HIST_SUB_BITS - 1u))

struct bench_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	double sum;
	uint64_t bucket[HIST_BUCKETS];
};

void hist_init(struct bench_hist *h);
void hist_record(struct bench_hist *h, uint64_t value_ns);
void hist_merge(struct bench_hist *into, const struct bench_hist *from);
/* The highest value equivalent to the @q-th percentile (0 < q <= 100),
 * clamped to the exact maximum; 0 for an empty histogram. */
uint64_t hist_percentile(const struct bench_hist *h, double q);
double hist_mean(const struct bench_hist *h);
/* Checks the histogram on known inputs: 0, or -EPROTO after printing why. */
int hist_selftest(void);
/* Print the distribution, one line per power of two with any count. */
void hist_print(FILE *f, const struct bench_hist *h, const char *indent);

/* ---- results ---- */

struct floor_result {
	double seconds;			/* ping-pong time measured */
	uint64_t round_trips;
	uint64_t one_way_p50_ns;	/* half the round trip */
	uint64_t one_way_p99_ns;
	uint64_t one_way_p999_ns;
	uint64_t one_way_p9999_ns;
	uint64_t one_way_max_ns;
	uint64_t one_way_min_ns;
	double one_way_mean_ns;
	uint64_t stamped_p50_ns;	/* receive time - send stamp, across CPUs */
	uint64_t stamped_p99_ns;
	/* The same ping-pong with a message of msg_size payload bytes (and a
	 * 24-byte header, as a record) through plain shared memory: what
	 * moving those bytes costs without the ring. 0 when not measured. */
	uint32_t msg_size;
	uint64_t msg_round_trips;
	uint64_t msg_one_way_p50_ns;
	uint64_t msg_one_way_p99_ns;
	/* 64 KiB copies from one hot buffer into an area of the ring's
	 * capacity: the limit for records copied into a cache-resident ring. */
	double memcpy_bytes_per_sec;
	uint64_t memcpy_area_bytes;
	double memcpy_dram_bytes_per_sec;	/* 64 KiB copies over 64 MiB areas */
	int cpu_a, cpu_b;
};

/* What bench_disk_measure() found in a directory. A figure it could not
 * measure (O_DIRECT refused by the file system) is negative. */
struct disk_result {
	double direct_bytes_per_sec;	/* 1 MiB O_DIRECT writes, one in flight */
	double buffered_bytes_per_sec;	/* 1 MiB buffered writes + the final fdatasync */
	uint64_t direct_bytes, buffered_bytes;
	uint64_t fdatasync_samples;
	uint64_t fdatasync_p50_ns;	/* fdatasync after a buffered 4 KiB append */
	uint64_t fdatasync_p99_ns;
	uint64_t fdatasync_max_ns;
	uint64_t append_sync_p50_ns;	/* the append and the fdatasync together */
	uint64_t append_sync_p99_ns;
	uint64_t direct_fdatasync_p50_ns;	/* after an O_DIRECT append; 0: none */
	uint64_t direct_fdatasync_p99_ns;
	uint64_t direct_append_sync_p50_ns;
};

/* Extra figures a mode reports beside the common ones (JSON keys). */
#define BENCH_MAX_EXTRA 32u

struct bench_extra {
	char key[48];
	double value;		/* < 0: null */
	int decimals;
};

/*
 * What a mode measured. Fields a mode does not measure stay negative (or
 * false) and come out as JSON null.
 */
struct bench_report {
	const char *bench;		/* "floor", "latency", "throughput" */
	char mode[32];			/* "1P1C", "pingpong" */
	uint32_t size, batch, producers, readers;
	uint64_t capacity;
	double seconds;
	const char *reader_kind;	/* "ordinary", "gating", NULL */
	uint32_t idle_pause;
	char notes[2048];		/* printed after the figures */
	bool lossless;

	bool has_latency;
	uint64_t samples;
	uint64_t p50_ns, p99_ns, p999_ns, p9999_ns, max_ns, min_ns;
	double mean_ns;

	double msgs_per_sec;		/* < 0: not measured */
	double bytes_per_sec;
	double deliveries_per_sec;	/* msgs_per_sec x readers */

	bool has_floor;
	struct floor_result floor;
	double memcpy_ratio;		/* bytes_per_sec / memcpy; < 0: none */
	double memcpy_dram_ratio;	/* bytes_per_sec / memory-bound memcpy */

	unsigned nextra;
	struct bench_extra extra[BENCH_MAX_EXTRA];
};

void bench_report_init(struct bench_report *r, const struct bench_opts *o, const char *bench);
/* Fill the latency fields (p50 ... max, samples) from @h. */
void bench_report_hist(struct bench_report *r, const struct bench_hist *h);
/* Add a figure under JSON key @key (printed too); ignored when full. */
void bench_report_extra(struct bench_report *r, const char *key, double value, int decimals);
/* Fill the ratios from the figures and the floor. */
void bench_report_ratios(struct bench_report *r);
/* The JSON object, on one line, to @f. */
void bench_report_json(FILE *f, const struct bench_report *r);
/* Human-readable figures to @f. */
void bench_report_print(FILE *f, const struct bench_report *r);

/* ---- the modes ---- */

/* Each returns 0 and fills @ret_report, or a negative errno after saying
 * what failed on stderr. */
/* The floor: the cache-line ping-pong for @pingpong_seconds, the message
 * ping-pong of @msg_size bytes (0: none) for half that, and memcpy for
 * @memcpy_seconds. */
int bench_floor_measure(const struct bench_opts *o, double pingpong_seconds, uint32_t msg_size,
			double memcpy_seconds, struct floor_result *ret_floor);
int bench_floor(const struct bench_opts *o, struct bench_report *ret_report);
int bench_latency(const struct bench_opts *o, struct bench_report *ret_report);
int bench_throughput(const struct bench_opts *o, struct bench_report *ret_report);
int bench_disk_floor(const struct bench_opts *o, struct bench_report *ret_report);
int bench_persist(const struct bench_opts *o, struct bench_report *ret_report);
int bench_durable(const struct bench_opts *o, struct bench_report *ret_report);
int bench_groups(const struct bench_opts *o, struct bench_report *ret_report);

/* ---- the disk (bench_disk.c) ---- */

/*
 * Measure the disk under @dir: sequential write bandwidth through
 * io_uring, O_DIRECT and buffered, for about @seconds in all, and the
 * latency of fdatasync after an append (at least @min_syncs of them).
 * Its files are removed before it returns. 0, or -errno (said on stderr).
 */
int bench_disk_measure(const char *dir, double seconds, unsigned min_syncs,
		       struct disk_result *ret_disk);
/* Add the disk figures to a report (JSON keys direct_bytes_per_sec, ...). */
void bench_disk_report(struct bench_report *r, const struct disk_result *d);

/* ---- ringd as a child, on a throw-away data directory (bench_ringd.c) ---- */

struct bench_ringd {
	pid_t pid;
	char path[4096];
	char log_path[4200];	/* its stderr, printed if it fails */
};

/*
 * Start ringd (o->ringd, else $RINGD, else ../daemon/ringd beside this
 * executable) on @data_dir, its stderr to a file in @data_dir. 0 or -errno.
 */
int bench_ringd_start(const struct bench_opts *o, const char *data_dir, struct bench_ringd *d);
/* Wait (at most @timeout_ns) until ringd serves @topic. 0, -ETIMEDOUT, -ECHILD. */
int bench_ringd_wait_served(struct bench_ringd *d, struct ring_topic *topic, uint64_t timeout_ns);
/* SIGTERM it (a clean stop: drain, fsync), SIGKILL after 10 s; reap it.
 * 0 if it exited 0; else -ECHILD and its log on stderr. */
int bench_ringd_stop(struct bench_ringd *d);

/*
 * A fresh persistent topic in a new directory under @data_dir (named by
 * bench_topic_name()), whose ring and directory are removed by
 * bench_persistent_cleanup() (also at exit).
 */
int bench_persistent_create(const char *data_dir, const struct ring_topic_config *cfg,
			    struct ring_topic **ret_topic);
void bench_persistent_cleanup(void);
/* The data directory bench_persistent_create() made (ringd's). */
const char *bench_run_data_dir(void);

/* A persistent topic, the disk floor in its directory, and ringd serving it. */
struct bench_session {
	struct ring_topic *topic;
	struct bench_ringd ringd;
	struct disk_result disk;
};

/* Create the topic with @cfg under o->data_dir, measure the disk there
 * (bench_disk_measure(@disk_seconds, @min_syncs)), start ringd and wait
 * until it serves the topic. 0, or -errno (said on stderr; nothing left). */
int bench_session_open(const struct bench_opts *o, const struct ring_topic_config *cfg,
		       double disk_seconds, unsigned min_syncs, struct bench_session *s);
/* Stop ringd cleanly: 0, or -ECHILD if it did not exit 0. */
int bench_session_stop_ringd(struct bench_session *s);
/* Stop ringd if it runs, close the topic, remove its directory. */
void bench_session_close(struct bench_session *s);

/* The floor measurement run before another mode: shorter than --seconds. */
double bench_floor_pingpong_seconds(double seconds);
double bench_floor_memcpy_seconds(double seconds);

#endif /* RING_BENCH_UTIL_H */
