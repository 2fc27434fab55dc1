/* SPDX-License-Identifier: MIT */
/*
 * rd.h - helpers for the tests that run ringd as a real process: start and
 * stop it (its stderr goes to a log file that is printed when a test
 * fails), wait for it to serve a topic, run producer processes that
 * publish self-checking records and remember every acknowledged position,
 * and check a topic's segment files against what was acknowledged. The
 * consumer-group suites (tests/groups/g.h) run ringd through it too.
 *
 * Include after <cmocka.h> and t.h. Nothing here calls a cmocka assertion:
 * the helpers return errors (and fill in a message) and the tests assert.
 * Everything is bounded in time and in count; every child process dies
 * with its parent (PR_SET_PDEATHSIG).
 */
#ifndef RING_TEST_RD_H
#define RING_TEST_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libring.h"

#define RD_NS_PER_MS UINT64_C(1000000)
#define RD_NS_PER_S UINT64_C(1000000000)

/*
 * Whether the ringd tests cannot run here (RINGD not set or not
 * executable, io_uring refused by the kernel): if so it prints why, and
 * main() exits 77 (T_EXIT_SKIP).
 */
bool rd_skip(void);

/* ---- ringd as a child process ---- */

#define RD_MAX_EXTRA 4u

struct rd_daemon {
	char ringd[4096];	/* the executable, from $RINGD */
	char data_dir[128];
	char log_path[192];	/* every run appends to it */
	pid_t pid;		/* 0 when not running */
	unsigned starts;
	/* Set before rd_daemon_start(): more arguments ("--direct-io", "on")
	 * and NAME=VALUE environment entries for every later start. */
	char args[RD_MAX_EXTRA][256];
	unsigned nargs;
	char env[RD_MAX_EXTRA][256];
	unsigned nenv;
};

/* Set up (not start) a ringd for @data_dir that logs to @log_path. */
void rd_daemon_init(struct rd_daemon *d, const char *data_dir, const char *log_path);

/* Start it: 0, or -errno. The log gets a marker line per start. */
int rd_daemon_start(struct rd_daemon *d);

/* Add an argument / a NAME=VALUE environment entry for later starts. */
void rd_daemon_arg(struct rd_daemon *d, const char *arg);
void rd_daemon_env(struct rd_daemon *d, const char *name, const char *value);

/*
 * Use the test build of ringd with the io_fault layer ($RINGD_FAULT) and
 * give it the control file @ctl_path (daemon/fault_ctl.h). Returns false
 * if there is no such build (the caller skips).
 */
bool rd_daemon_use_fault_build(struct rd_daemon *d, const char *ctl_path);

/*
 * Send one io_fault command (e.g. "fail-writes ENOSPC") through the
 * control file and wait until ringd's log says it was applied (a
 * "power-loss" command is answered by ringd's exit instead: this then
 * returns once the log says it happened). 0, or -ETIMEDOUT / -errno.
 */
int rd_daemon_fault(struct rd_daemon *d, const char *ctl_path, const char *cmd,
		    uint64_t timeout_ns);

/* CPU time (user + system) ringd has used so far, from /proc; 0 if unknown. */
uint64_t rd_daemon_cpu_ns(const struct rd_daemon *d);

/*
 * Stop it with @sig (SIGTERM: a clean stop, SIGKILL: a crash) and reap it;
 * if it is still there after @timeout_ns, SIGKILL it. 0 with the wait
 * status in *ret_status (if not NULL), -ETIMEDOUT if it had to be killed,
 * or -errno. Does nothing (0, status 0) if it is not running.
 */
int rd_daemon_stop(struct rd_daemon *d, int sig, uint64_t timeout_ns, int *ret_status);

/*
 * A clean stop: SIGTERM, reaped within 20 s. 0 if it exited 0 (or was not
 * running), its wait status (> 0) if it exited otherwise, -ETIMEDOUT if it
 * had to be killed, or -errno.
 */
int rd_daemon_stop_clean(struct rd_daemon *d);

/* Reap it if it has exited on its own: true with *ret_status. */
bool rd_daemon_exited(struct rd_daemon *d, int *ret_status);

/* Poll until it holds the data directory's lock (its pid is in
 * DATA_DIR/ringd.lock): 0, -ECHILD if it exited meanwhile (reaped), or
 * -ETIMEDOUT after @timeout_ns (it is then killed). */
int rd_daemon_wait_locked(struct rd_daemon *d, uint64_t timeout_ns);

/* How often @needle occurs in the log so far. */
unsigned rd_log_count(const struct rd_daemon *d, const char *needle);
/* Poll the log until @needle occurs at least @count times. */
bool rd_log_wait(const struct rd_daemon *d, const char *needle, unsigned count,
		 uint64_t timeout_ns);
/* Print the log (its last 48 KiB) to stdout, each line behind "# ". */
void rd_log_print(const struct rd_daemon *d);

/* Poll until ringd @d serves @topic (it holds the topic's daemon line). */
bool rd_wait_served(const struct rd_daemon *d, struct ring_topic *topic, uint64_t timeout_ns);
/* Poll until the topic's persisted position reaches its tail. */
bool rd_wait_drained(struct ring_topic *topic, uint64_t timeout_ns);
/* Poll until the topic can be opened (ringd recreated its ring). */
int rd_wait_open(const char *data_dir, const char *name, uint64_t timeout_ns,
		 struct ring_topic **ret_topic);

/* ---- producer processes ---- */

#define RD_MAX_PRODUCERS 4u
#define RD_BATCH 4u

/* How one producer publishes. */
struct rd_prod_spec {
	uint32_t min_len;	/* payload bytes, >= T_PAYLOAD_MIN */
	uint32_t max_len;
	uint64_t max_records;	/* stops after this many (and at most the capacity) */
	unsigned burst;		/* records between pauses; 0: no pauses */
	uint64_t pause_ns;
	unsigned batch_every;	/* every n-th publish is a batch of RD_BATCH; 0: never */
	int64_t timeout_ns;	/* per publish; -ETIMEDOUT is retried with the same record */
	bool wait_durable;	/* after each publish, ring_topic_wait_durable() on it
				   (retried after -ETIMEDOUT) before the next one */
};

/* Shared with the children; read by the parent once they are gone. */
struct rd_prod_shared {
	_Atomic uint32_t stop;
	struct {
		_Atomic uint64_t acked;		/* records acknowledged (publish returned 0) */
		_Atomic uint64_t timeouts;	/* publishes retried after -ETIMEDOUT */
		_Atomic uint64_t durable;	/* with wait_durable: records whose
						   wait returned 0 (a prefix of acked) */
		_Atomic uint64_t durable_timeouts; /* waits retried after -ETIMEDOUT */
		char error[200];		/* "" if the child had no error */
	} p[RD_MAX_PRODUCERS];
};

struct rd_producers {
	char data_dir[128];
	char name[RING_TOPIC_NAME_MAX + 1];
	unsigned n;
	struct rd_prod_spec spec[RD_MAX_PRODUCERS];
	struct rd_prod_shared *sh;
	uint64_t *pos[RD_MAX_PRODUCERS];	/* pos[i][seq]: position publish returned */
	uint64_t pos_cap;			/* entries per producer */
	pid_t pid[RD_MAX_PRODUCERS];
	uint64_t deadline_ns;			/* children give up here */
	unsigned id_base;			/* producer i writes as id id_base + i */
};

/*
 * Fork @n producers on topic @name of @data_dir; producer i publishes with
 * @spec[i], records of type i + 1 whose payload says (i, seq). They run
 * until rd_producers_stop(), their max_records, or @run_limit_ns.
 * 0, or -errno (nothing left running).
 */
int rd_producers_start(struct rd_producers *ps, const char *data_dir, const char *name,
		       unsigned n, const struct rd_prod_spec *spec, uint64_t run_limit_ns);
/* The same, but producer i publishes as id @id_base + i (type id + 1), so
 * that a second set of producers on the same topic is told apart from an
 * earlier one in rd_check_log() (@id_base + @n <= RD_MAX_PRODUCERS). */
int rd_producers_start_ids(struct rd_producers *ps, const char *data_dir, const char *name,
			   unsigned n, const struct rd_prod_spec *spec, uint64_t run_limit_ns,
			   unsigned id_base);
/* Records of producer @i whose wait_durable returned 0 so far. */
uint64_t rd_producers_durable(const struct rd_producers *ps, unsigned i);
/* Acknowledged records of producer @i so far. */
uint64_t rd_producers_acked(const struct rd_producers *ps, unsigned i);
/* ... and of all of them together. */
uint64_t rd_producers_total_acked(const struct rd_producers *ps);
/* Poll until the producers together have acknowledged more than @records
 * beyond what they had at the call: true if they did within @timeout_ns. */
bool rd_producers_wait_more(const struct rd_producers *ps, uint64_t records, uint64_t timeout_ns);
/*
 * Ask the producers to stop, wait for them (at most @timeout_ns), kill
 * what is left. 0 if every one exited 0, else -1 with a message in @why.
 */
int rd_producers_stop(struct rd_producers *ps, uint64_t timeout_ns, char *why, size_t why_len);
/* Poll until every producer has acknowledged its max_records (or died):
 * true if they all did within @timeout_ns. */
bool rd_producers_wait_done(const struct rd_producers *ps, uint64_t timeout_ns);
/* Kill and reap whatever is still running, free the shared memory. */
void rd_producers_free(struct rd_producers *ps);

/* ---- the log on disk ---- */

struct ringi_seg_rec;

/* What a walk over a topic's segment files found. */
struct rd_walk {
	uint64_t start_pos;	/* base of the first segment */
	uint64_t end_pos;	/* end of the valid log */
	unsigned segments;
	uint64_t records;	/* committed */
	uint64_t skips;
	uint64_t closed_min;	/* smallest and largest closed segment, log bytes */
	uint64_t closed_max;
	uint64_t last_base;	/* base of the last (active) segment */
};

typedef int (*rd_rec_fn)(const struct ringi_seg_rec *rec, void *arg);

/*
 * Walk every segment of @topic_dir in order with the library's segment
 * reader: each header, each record (span, CRC), the contiguity of the
 * segments, and that nothing but zeros follows the last record of a
 * file. @fn (may be NULL) sees every record and may stop the walk with a
 * nonzero return, which is returned.
 *
 * @return 0, -EBADMSG (damage, described in @why), or -errno.
 */
int rd_log_walk(const char *topic_dir, uint64_t max_record, rd_rec_fn fn, void *arg,
		struct rd_walk *ret_walk, char *why, size_t why_len);

/* Records of one segment (its base given), for picking damage. */
struct rd_seg_rec {
	uint64_t pos;
	uint64_t span;
	uint32_t len;
	bool committed;
};
int rd_segment_records(const char *topic_dir, uint64_t base, uint64_t max_record,
		       struct rd_seg_rec **ret_recs, size_t *ret_count);

/*
 * Check a topic's files against producers' acknowledgements: per producer
 * the sequence numbers in order with no gap and no duplicate, each
 * payload byte-identical to what was published (length, type, contents),
 * and its position the one publish returned.
 */
struct rd_check {
	/* inputs */
	unsigned nproducers;
	const struct rd_prod_spec *spec;	/* per producer: the payload lengths */
	const uint64_t *acked;			/* per producer: exactly seq [first, acked)
						   must be there; NULL: not checked */
	const uint64_t *at_least;		/* if not NULL, acked is only an upper
						   bound: seq [first, at_least) must be
						   there, and nothing past acked */
	uint64_t *const *pos;			/* per producer, or NULL */
	uint64_t pos_cap;
	bool head_may_be_gone;			/* retention: a producer may start past 0 */
	/* results */
	uint64_t first_seq[RD_MAX_PRODUCERS];
	uint64_t next_seq[RD_MAX_PRODUCERS];
	bool seen[RD_MAX_PRODUCERS];
	struct rd_walk walk;
	char error[320];
};

/* 0, or -1 with c->error set. */
int rd_check_log(const char *topic_dir, uint64_t max_record, struct rd_check *c);

/*
 * rd_check_log() for the producers @ps (started with id base 0), after
 * they stopped: exactly what they acknowledged, at the positions publish
 * returned; with @durable_floor, at least what their wait_durable
 * acknowledged and nothing they did not publish. @acked and @durable are
 * filled from @ps (RD_MAX_PRODUCERS each) and must outlive @c's use.
 */
int rd_check_producers(const char *topic_dir, uint64_t max_record, const struct rd_producers *ps,
		       bool durable_floor, uint64_t *acked, uint64_t *durable, struct rd_check *c);

/* Sum of the sizes of the .seg and .tix files, and the number of .seg. */
uint64_t rd_dir_bytes(const char *topic_dir, unsigned *ret_segments);

/* ---- the fixture every ringd test file uses ---- */

#define RD_MAX_TOPICS 16u

struct rd_fixture {
	char dir[128];			/* data directory (mkdtemp) */
	char log_path[192];
	struct rd_daemon d;
	struct rd_producers ps;
	bool ps_live;
	char topics[RD_MAX_TOPICS][RING_TOPIC_NAME_MAX + 1];
	unsigned ntopics;
	bool passed;			/* set by a test as its last act */
	uint64_t seed;
	uint64_t rng;
};

int rd_fixture_setup(struct rd_fixture *f);
/* Stop everything, print the ringd log unless f->passed, unlink every
 * topic, remove the directory and the log. */
int rd_fixture_teardown(struct rd_fixture *f);

/* The same as cmocka's setup and teardown of a test: *state is the one
 * fixture of the process (cmocka runs one test at a time). */
int rd_setup(void **state);
int rd_teardown(void **state);

/* Create a persistent topic (and remember it for teardown). */
int rd_topic_create(struct rd_fixture *f, const char *tag, const struct ring_topic_config *cfg,
		    char *ret_name, size_t name_len, struct ring_topic **ret_topic);
/* Remember a topic name someone else (ringd) may create. */
void rd_topic_remember(struct rd_fixture *f, const char *name);
/* DATA_DIR/<name> into @buf. */
void rd_topic_dir(const struct rd_fixture *f, const char *name, char *buf, size_t len);

#endif /* RING_TEST_RD_H */
