/* SPDX-License-Identifier: MIT */
/*
 * main.c - ringd: the persister daemon of one data directory.
 *
 * It owns the directory (a lock file refuses a second ringd), finds its
 * persistent topics, drains each ring into segment files, makes them
 * durable by each topic's fsync policy, and keeps the rings flowing
 * (housekeeping, heartbeat). It runs in the foreground, logs to stderr,
 * and stops cleanly on SIGTERM or SIGINT: drain, fsync, exit 0. SIGHUP
 * re-reads the topics' settings.
 *
 * One thread serves every topic (one per NUMA node with bound topics, run
 * on that node): a pass over its topics does the work that is ready; when
 * there is none it sleeps on all the rings' data futexes at once
 * (futex_waitv), so producers wake it when they commit and pay nothing
 * while it is busy.
 */
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_side.h"
#include "drain.h"
#include "fault_ctl.h"
#include "internal.h"
#include "log.h"
#include "topics.h"

#if RING_HAVE_NUMA
#include <numa.h>
#endif

#define DISCOVER_INTERVAL_NS 50000000u	/* new topics picked up within 100 ms */
#define BEAT_INTERVAL_NS 100000000u
#define RETENTION_INTERVAL_NS 1000000000u
#define IDLE_SPIN_NS 50000u		/* poll this long before sleeping */
#define MAX_SLEEP_NS 10000000u		/* housekeeping at least every 10 ms */

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

static int install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a signal must interrupt the futex sleep. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* The lock file: held (flock) for ringd's lifetime, released by the
 * kernel when it dies, so a crash never leaves the directory locked. */
static int lock_data_dir(const char *data_dir)
{
	char path[PATH_MAX], buf[32];
	int fd, n;

	if ((size_t)snprintf(path, sizeof(path), "%s/ringd.lock", data_dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return log_errno(LOG_LVL_ERROR, -errno, "cannot open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = -errno;

		n = (int)pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		(void)close(fd);
		if (err == -EWOULDBLOCK) {
			log_error("another ringd (pid %s) already serves %s", buf[0] ? buf : "?",
				  data_dir);
			return -EBUSY;
		}
		return log_errno(LOG_LVL_ERROR, err, "cannot lock %s", path);
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warn("cannot write the pid into %s", path);
	return fd;
}

struct daemon_options {
	const char *data_dir;
	const char *config_path;
	enum log_level level;
	int direct_io;		/* 1: O_DIRECT; 0 (default): buffered, see
				   docs/design/segment-format.md */
	size_t staging_bytes;
};

/* ringd's own settings file: key=value lines (the same keys as the
 * long options). Unknown keys are errors: a typo must not pass. */
static int read_config(const char *path, struct daemon_options *o)
{
	char line[512];
	FILE *f = fopen(path, "re");
	int lineno = 0;

	if (!f)
		return log_errno(LOG_LVL_ERROR, -errno, "cannot read %s", path);
	while (fgets(line, sizeof(line), f)) {
		char *key = line, *val, *eq;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			goto bad;
		*eq = '\0';
		val = eq + 1;
		if (!strcmp(key, "log-level")) {
			if (log_parse_level(val, &o->level) < 0)
				goto bad;
		} else if (!strcmp(key, "direct-io")) {
			if (!strcmp(val, "on"))
				o->direct_io = 1;
			else if (!strcmp(val, "off"))
				o->direct_io = 0;
			else
				goto bad;
		} else if (!strcmp(key, "staging-bytes")) {
			o->staging_bytes = strtoull(val, NULL, 0);
			if (o->staging_bytes % 4096)
				goto bad;
		} else {
			goto bad;
		}
	}
	(void)fclose(f);
	return 0;
bad:
	(void)fclose(f);
	log_error("%s:%d: not a valid setting", path, lineno);
	return -EINVAL;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ringd --data-dir DIR [--config FILE] [--log-level LEVEL]\n"
		"\n"
		"Persist every topic of DIR into segment files, keep consumer offsets, and\n"
		"recover after crashes. Runs in the foreground; stop it with SIGTERM.\n"
		"\n"
		"  -d, --data-dir DIR     the data directory (or RINGLOG_DATA_DIR)\n"
		"  -c, --config FILE      settings: log-level=, direct-io=on|off,\n"
		"                         staging-bytes= (key=value lines)\n"
		"  -l, --log-level LEVEL  error, warn, info (default) or debug\n"
		"      --direct-io on|off O_DIRECT segment writes (default off: buffered\n"
		"                         writes measured faster, docs/benchmarks.md)\n"
		"  -h, --help             this text\n"
		"  -V, --version          the version\n"
		"\n"
		"Signals: SIGTERM/SIGINT drain, fsync and exit 0; SIGHUP re-reads topic settings.\n"
		"Exit status: 0 clean stop, 1 error (or a stop that could not write or sync\n"
		"everything), 2 usage.\n");
}

static int parse_args(int argc, char **argv, struct daemon_options *o)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "direct-io", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;

	o->data_dir = getenv("RINGLOG_DATA_DIR");
	o->level = LOG_LVL_INFO;
	o->direct_io = 0;
	while ((c = getopt_long(argc, argv, "d:c:l:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->data_dir = optarg;
			break;
		case 'c':
			o->config_path = optarg;
			if (read_config(optarg, o) < 0)
				return 2;
			break;
		case 'l':
			if (log_parse_level(optarg, &o->level) < 0) {
				fprintf(stderr, "ringd: unknown log level '%s'\n", optarg);
				return 2;
			}
			break;
		case 'D':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "ringd: --direct-io takes on or off, not '%s'\n", optarg);
				return 2;
			}
			o->direct_io = !strcmp(optarg, "on");
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("ringd %d.%d.%d\n", RING_VERSION_MAJOR, RING_VERSION_MINOR,
			       RING_VERSION_PATCH);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !o->data_dir) {
		fprintf(stderr, "ringd: %s\n",
			optind < argc ? "unexpected argument" : "--data-dir is required");
		usage(stderr);
		return 2;
	}
	return 0;
}

/* ---- the loop ---- */

struct idle_check {
	struct topic_set *set;
	uint64_t now;
};

static bool work_ready(void *arg)
{
	const struct idle_check *c = arg;

	if (stop_requested || reload_requested)
		return true;
	for (unsigned i = 0; i < c->set->count; i++)
		if (drain_pending(c->set->topics[i], c->now))
			return true;
	return false;
}

/* Sleep until a producer commits on any ring, a timer is due or a signal
 * arrives. */
static void sleep_until_work(struct topic_set *set, uint64_t now, uint64_t next_timer)
{
	struct ring_futex_line *lines[RING_WAIT_MANY_MAX];
	struct idle_check check = { .set = set, .now = now };
	uint64_t timeout = next_timer > now ? next_timer - now : 0;
	unsigned n = 0;

	if (timeout > MAX_SLEEP_NS)
		timeout = MAX_SLEEP_NS;
	for (unsigned i = 0; i < set->count && n < RING_WAIT_MANY_MAX; i++)
		lines[n++] = &set->topics[i]->ring->ctl->data_wait;
	if (timeout)
		ringi_wait_many(lines, n, work_ready, &check, timeout);
}

static void heartbeat(struct topic_set *set)
{
	for (unsigned i = 0; i < set->count; i++)
		ringi_daemon_beat(set->topics[i]->ring);
}

static void retention(struct topic_set *set)
{
	uint64_t now = ringi_realtime_ns();

	for (unsigned i = 0; i < set->count; i++) {
		struct dtopic *t = set->topics[i];
		int n = seglog_retention(t->log, &t->config, now);

		if (n > 0)
			log_info("topic %s: retention deleted %d old segment%s", t->name, n,
				 n == 1 ? "" : "s");
		else if (n < 0)
			log_errno(LOG_LVL_WARN, n, "topic %s: retention", t->name);
	}
}

/* Drain everything committed, write and sync it: the clean stop. Counts
 * the topics whose data could not be written or synced (set->unclean). */
static void final_drain(struct topic_set *set)
{
	for (unsigned i = 0; i < set->count; i++) {
		struct dtopic *t = set->topics[i];

		/* Bounded: a ring holds at most capacity bytes, and each pass
		 * stages up to that much. */
		for (unsigned pass = 0; pass < 16; pass++)
			if (!drain_topic(t, ringi_now_ns(), true))
				break;
		(void)drain_topic(t, ringi_now_ns(), true);
		if (t->io_error) {
			/* What is not written stays in the ring, which outlives
			 * ringd: the next one writes it, unless the host goes
			 * down first. Say so, and do not exit 0. */
			log_errno(LOG_LVL_ERROR, t->io_error,
				  "topic %s: stopped with its log written to %llu and durable "
				  "to %llu of %llu",
				  t->name, (unsigned long long)t->persisted,
				  (unsigned long long)t->durable, (unsigned long long)t->drained);
			set->unclean++;
			continue;
		}
		log_info("topic %s: stopped at position %llu, durable to %llu", t->name,
			 (unsigned long long)t->persisted, (unsigned long long)t->durable);
	}
}

static void serve(struct topic_set *set)
{
	uint64_t now = ringi_now_ns();
	uint64_t next_discover = now, next_beat = now, next_retention = now;
	uint64_t last_work = now;

	while (!stop_requested) {
		bool busy = false;
		uint64_t next_timer;

		now = ringi_now_ns();
		/* Test builds only: a fault command from outside (no-op
		 * otherwise). The fault layer is process-wide and not
		 * thread-safe: node 0's worker alone drives it. */
		if (set->node == 0)
			fault_ctl_poll(now);
		if (reload_requested) {
			reload_requested = 0;
			topics_reload(set);
		}
		if (now >= next_discover) {
			topics_discover(set);
			next_discover = now + DISCOVER_INTERVAL_NS;
		}
		for (unsigned i = 0; i < set->count; i++)
			busy |= drain_topic(set->topics[i], now, false);
		if (now >= next_beat) {
			heartbeat(set);
			next_beat = now + BEAT_INTERVAL_NS;
		}
		if (now >= next_retention) {
			retention(set);
			next_retention = now + RETENTION_INTERVAL_NS;
		}
		if (busy) {
			last_work = now;
			continue;
		}
		if (now - last_work < IDLE_SPIN_NS) {
			ring_cpu_relax();
			continue;
		}
		next_timer = next_discover < next_beat ? next_discover : next_beat;
		for (unsigned i = 0; i < set->count; i++) {
			uint64_t d = drain_next_deadline(set->topics[i]);

			if (d < next_timer)
				next_timer = d;
		}
		sleep_until_work(set, ringi_now_ns(), next_timer);
	}
}

/* One worker: a topic set served by one thread until the stop signal. */
struct worker {
	struct topic_set set;
	pthread_t thread;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

#if RING_HAVE_NUMA
	/* The drain of a node's topics runs on that node, next to the ring
	 * memory it copies from. */
	if (w->set.node > 0 && numa_run_on_node(w->set.node) < 0)
		log_warn("cannot run on NUMA node %d; draining its topics from anywhere",
			 w->set.node);
#endif
	serve(&w->set);
	log_info("stopping: draining %u topic%s", w->set.count, w->set.count == 1 ? "" : "s");
	final_drain(&w->set);
	topics_close_all(&w->set);
	return NULL;
}

static int numa_nodes(void)
{
#if RING_HAVE_NUMA
	if (numa_available() >= 0)
		return numa_max_node() + 1;
#endif
	return 1;
}

int main(int argc, char **argv)
{
	struct daemon_options o = { 0 };
	struct worker *workers;
	struct stat st;
	int rc, lock_fd, nodes;
	unsigned unclean = 0;

	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	log_set_level(o.level);
	if (stat(o.data_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("%s is not a directory", o.data_dir);
		return 1;
	}
	lock_fd = lock_data_dir(o.data_dir);
	if (lock_fd < 0)
		return 1;
	rc = install_signals();
	if (rc < 0) {
		log_errno(LOG_LVL_ERROR, rc, "installing signal handlers");
		return 1;
	}
	nodes = numa_nodes();
	workers = calloc((size_t)nodes, sizeof(*workers));
	if (!workers) {
		log_error("out of memory");
		return 1;
	}
	log_info("serving %s (pid %d, %d NUMA node%s)", o.data_dir, (int)getpid(), nodes,
		 nodes == 1 ? "" : "s");
	/* Worker 0 (this thread, not pinned) serves node 0 and unbound
	 * topics; one more per node. On one node that is all there is. */
	for (int i = 0; i < nodes; i++) {
		struct topic_set *set = &workers[i].set;

		set->data_dir = o.data_dir;
		set->node = i;
		set->nodes = nodes;
		set->self = ringi_owner_self_process();
		set->seg_options.direct_io = o.direct_io;
		set->seg_options.staging_bytes = o.staging_bytes;
	}
	for (int i = 1; i < nodes; i++)
		if (pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]) != 0) {
			log_error("cannot start the worker of NUMA node %d", i);
			stop_requested = 1;
			nodes = i;
			break;
		}
	worker_run(&workers[0]);
	for (int i = 1; i < nodes; i++)
		(void)pthread_join(workers[i].thread, NULL);
	for (int i = 0; i < nodes; i++)
		unclean += workers[i].set.unclean;
	free(workers);
	(void)close(lock_fd);
	if (unclean) {
		log_error("stopped, but %u topic%s could not be written or synced to the end", unclean,
			  unclean == 1 ? "" : "s");
		return 1;
	}
	log_info("stopped cleanly");
	return 0;
}
