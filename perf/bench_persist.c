/* SPDX-License-Identifier: MIT */
/*
 * bench_persist.c - producers -> ringd -> segment files, with the ringd
 * built beside ring-bench started as a child on a fresh subdirectory of
 * --data-dir; and the helpers the durable mode shares (ringd as a child,
 * a persistent topic in a throw-away data directory).
 *
 * The run: the disk floor of the same directory (bench_disk.c), then a
 * persistent topic with the chosen fsync policy, ringd, one producer
 * process publishing as fast as ringd lets it (the ring is gated by
 * `persisted`, so a producer that outruns the disk blocks), and the parent
 * sampling every millisecond how far `persisted` and `durable` trail the
 * tail. The figure to hold against the disk floor is the rate at which
 * `persisted` advances in the measured window, in log bytes (headers
 * included: what ringd writes).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libring.h>

#include "bench_util.h"

/* ---- a throw-away data directory ---- */

static char run_dir[PATH_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

void bench_persistent_cleanup(const char *data_dir)
{
	(void)data_dir;
	if (!run_dir[0])
		return;
	(void)ring_topic_unlink(run_dir, bench_topic_name());
	/* Depth first, not following links: only what this run made. */
	(void)nftw(run_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	run_dir[0] = '\0';
}

static pid_t cleanup_pid;

static void cleanup_at_exit(void)
{
	if (getpid() == cleanup_pid)
		bench_persistent_cleanup(NULL);
}

int bench_persistent_create(const char *data_dir, const struct ring_topic_config *cfg,
			    struct ring_topic **ret_topic)
{
	int rc;

	if (!run_dir[0]) {
		if ((size_t)snprintf(run_dir, sizeof(run_dir), "%s/ring-bench-%d", data_dir,
				     (int)getpid()) >= sizeof(run_dir)) {
			run_dir[0] = '\0';
			return -ENAMETOOLONG;
		}
		if (mkdir(run_dir, 0700) < 0) {
			rc = -errno;
			bench_err("mkdir %s: %s", run_dir, strerror(errno));
			run_dir[0] = '\0';
			return rc;
		}
		cleanup_pid = getpid();
		(void)atexit(cleanup_at_exit);
	}
	rc = ring_topic_create(run_dir, bench_topic_name(), cfg, ret_topic);
	if (rc < 0)
		bench_err("ring_topic_create(%s, %s): %s", run_dir, bench_topic_name(),
			  ring_strerror(rc));
	return rc;
}

const char *bench_run_data_dir(void)
{
	return run_dir;
}

/* ---- ringd as a child ---- */

static int find_ringd(const struct bench_opts *o, char *buf, size_t len)
{
	const char *env = getenv("RINGD");
	char self[PATH_MAX - 32];
	ssize_t n;
	char *slash;

	if (o->ringd || (env && env[0])) {
		(void)snprintf(buf, len, "%s", o->ringd ? o->ringd : env);
		return access(buf, X_OK) == 0 ? 0 : -errno;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/../daemon/ringd", self) >= len)
		return -ENAMETOOLONG;
	return access(buf, X_OK) == 0 ? 0 : -errno;
}

static void print_log(const struct bench_ringd *d)
{
	char line[512];
	FILE *f = fopen(d->log_path, "re");

	if (!f)
		return;
	fprintf(stderr, "ring-bench: ringd's log (%s):\n", d->log_path);
	/* Bounded by the file's size. */
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  %s", line);
	fclose(f);
}

int bench_ringd_start(const struct bench_opts *o, const char *data_dir, struct bench_ringd *d)
{
	pid_t parent = getpid(), pid;
	int rc, fd;

	memset(d, 0, sizeof(*d));
	rc = find_ringd(o, d->path, sizeof(d->path));
	if (rc < 0) {
		bench_err("ringd not found at %s (%s): give --ringd PATH", d->path, strerror(-rc));
		return rc;
	}
	(void)snprintf(d->log_path, sizeof(d->log_path), "%s/ringd.log", data_dir);
	fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		bench_err("%s: %s", d->log_path, strerror(errno));
		return rc;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		(void)close(fd);
		return rc;
	}
	if (pid == 0) {
		sigset_t none;

		/* Never outlive the benchmark. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		(void)signal(SIGCHLD, SIG_DFL);
		if (dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execl(d->path, "ringd", "--data-dir", data_dir, "--log-level", "warn",
		      (char *)NULL);
		_exit(127);
	}
	(void)close(fd);
	d->pid = pid;
	return 0;
}

int bench_ringd_wait_served(struct bench_ringd *d, struct ring_topic *topic, uint64_t timeout_ns)
{
	uint64_t deadline = bench_mono_ns() + timeout_ns;
	struct ring_topic_stat st;
	struct timespec ts = { .tv_nsec = 1000000 };
	int status;

	/* Bounded by the deadline. */
	while (bench_mono_ns() < deadline) {
		if (ring_topic_stat(topic, &st) == 0 && st.daemon_pid == (int32_t)d->pid &&
		    st.daemon_alive)
			return 0;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			bench_err("ringd exited before serving the topic (status 0x%x)", status);
			print_log(d);
			return -ECHILD;
		}
		(void)nanosleep(&ts, NULL);
	}
	bench_err("ringd did not serve the topic within %.0f s", (double)timeout_ns / 1e9);
	print_log(d);
	return -ETIMEDOUT;
}

int bench_ringd_stop(struct bench_ringd *d)
{
	struct timespec ts = { .tv_nsec = 1000000 };
	uint64_t deadline;
	int status = 0;
	pid_t r = 0;

	if (d->pid <= 0)
		return 0;
	(void)kill(d->pid, SIGTERM);
	deadline = bench_mono_ns() + UINT64_C(10000000000);
	/* Bounded by the deadline, then SIGKILL (which cannot be ignored). */
	while ((r = waitpid(d->pid, &status, WNOHANG)) == 0 && bench_mono_ns() < deadline)
		(void)nanosleep(&ts, NULL);
	if (r == 0) {
		bench_err("ringd did not stop within 10 s of SIGTERM; killed");
		(void)kill(d->pid, SIGKILL);
		(void)waitpid(d->pid, &status, 0);
		d->pid = 0;
		print_log(d);
		return -ECHILD;
	}
	d->pid = 0;
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		bench_err("ringd stopped with status 0x%x", status);
		print_log(d);
		return -ECHILD;
	}
	return 0;
}

/* ---- the persist mode ---- */

struct ps_shared {
	alignas(BENCH_CACHELINE) uint64_t measure;
	uint64_t stop;
	alignas(BENCH_CACHELINE) uint64_t ready;
	uint64_t go;
	alignas(BENCH_CACHELINE) uint64_t sent;
	uint64_t win_sent, win_start_ns, end_ns, timeouts;
	uint32_t size, batch;
	uint64_t hard_deadline_ns;
	char data_dir[PATH_MAX];
	char topic[64];
};

static int ps_producer(void *arg)
{
	struct ps_shared *s = arg;
	struct ring_message msgs[RING_BATCH_MAX];
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	uint64_t sent = 0, timeouts = 0;
	bool measuring = false;
	uint8_t *buf;
	int rc;

	(void)bench_pin(0);
	buf = malloc(s->size + 8);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0x5a, s->size + 8);
	for (unsigned i = 0; i < s->batch; i++)
		msgs[i] = (struct ring_message){ .data = buf, .len = s->size,
						 .type = BENCH_TYPE_DATA };
	rc = ring_topic_open(s->data_dir, s->topic, &t);
	if (rc == 0)
		rc = ring_producer_open(t, &p);
	if (rc < 0) {
		bench_err("persist: opening the topic: %s", ring_strerror(rc));
		goto out;
	}
	(void)bench_fetch_add(&s->ready, 1);
	rc = bench_wait_flag(&s->go, s->hard_deadline_ns);
	if (rc < 0)
		goto out;
	/* Bounded by the stop flag, and by the hard deadline on timeouts. */
	while (!bench_load_relaxed(&s->stop)) {
		if (BENCH_UNLIKELY(!measuring) && bench_load_relaxed(&s->measure)) {
			measuring = true;
			s->win_sent = sent;
			s->win_start_ns = bench_mono_ns();
		}
		/* Blocking: a full ring waits for ringd to persist. */
		if (s->batch == 1)
			rc = ring_producer_publish(p, BENCH_TYPE_DATA, buf, s->size, 100000000, NULL);
		else
			rc = ring_producer_publish_batch(p, msgs, s->batch, 100000000, NULL);
		if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			timeouts++;
			if (bench_mono_ns() > s->hard_deadline_ns) {
				bench_err("persist: the ring stayed full until the deadline");
				goto out;
			}
			continue;
		}
		if (rc < 0) {
			bench_err("persist: publish: %s", ring_strerror(rc));
			goto out;
		}
		sent += s->batch;
	}
	s->end_ns = bench_mono_ns();
	if (!measuring) {
		s->win_sent = sent;
		s->win_start_ns = s->end_ns;
	}
	s->sent = sent;
	s->timeouts = timeouts;
	rc = 0;
out:
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	free(buf);
	return rc < 0 ? rc : 0;
}

static uint64_t record_span(uint32_t size)
{
	return (RING_RECORD_HEADER_BYTES + (uint64_t)size + 7) / 8 * 8;
}

int bench_persist(const struct bench_opts *o, struct bench_report *ret_report)
{
	struct ring_topic_config cfg = {
		.capacity_bytes = o->capacity ? o->capacity : UINT64_C(64) << 20,
		.fsync_policy = o->fsync_policy >= 0 ? (uint32_t)o->fsync_policy
						     : RING_FSYNC_INTERVAL,
	};
	struct bench_hist *lag_p = NULL, *lag_d = NULL;
	struct ring_topic *topic = NULL;
	struct ring_topic_stat st, st0, st1;
	struct bench_ringd d = { 0 };
	struct ps_shared *s = NULL;
	struct bench_report r;
	struct disk_result disk;
	pid_t pid = -1;
	uint64_t t_go, t_measure, t_end, t_drained = 0, t_durable = 0, deadline;
	double warm, disk_s, log_rate, floor_bw;
	const char *policy;
	int rc;

	bench_report_init(&r, o, "persist");
	r.readers = 0;
	(void)snprintf(r.mode, sizeof(r.mode), "1P-ringd");
	if (o->size < 1) {
		bench_err("persist: --size must be at least 1");
		return -EINVAL;
	}
	policy = cfg.fsync_policy == RING_FSYNC_ALWAYS ? "always"
		 : cfg.fsync_policy == RING_FSYNC_NEVER ? "never" : "interval";
	lag_p = malloc(sizeof(*lag_p));
	lag_d = malloc(sizeof(*lag_d));
	s = bench_shared_alloc(sizeof(*s));
	if (!lag_p || !lag_d || !s) {
		rc = -ENOMEM;
		goto out;
	}
	hist_init(lag_p);
	hist_init(lag_d);

	/* The topic's directory first: the disk floor goes in the same
	 * directory (and file system) the segments will. */
	rc = bench_persistent_create(o->data_dir, &cfg, &topic);
	if (rc < 0)
		goto out;
	disk_s = o->seconds < 0.5 ? 0.3 : o->seconds > 4 ? 2 : o->seconds / 2;
	rc = bench_disk_measure(bench_run_data_dir(), disk_s, 20, &disk);
	if (rc < 0)
		goto out;
	rc = ring_topic_stat(topic, &st);
	if (rc < 0)
		goto out;
	r.capacity = st.capacity_bytes;
	if (o->size > st.max_record_bytes || o->batch * record_span(o->size) > st.capacity_bytes / 4) {
		bench_err("persist: records too large for the ring (raise --capacity)");
		rc = -EMSGSIZE;
		goto out;
	}
	rc = bench_ringd_start(o, bench_run_data_dir(), &d);
	if (rc < 0)
		goto out;
	rc = bench_ringd_wait_served(&d, topic, UINT64_C(10000000000));
	if (rc < 0)
		goto out;

	s->size = o->size;
	s->batch = o->batch;
	(void)snprintf(s->data_dir, sizeof(s->data_dir), "%s", bench_run_data_dir());
	(void)snprintf(s->topic, sizeof(s->topic), "%s", bench_topic_name());
	warm = o->seconds / 10 < 0.05 ? 0.05 : o->seconds / 10 > 0.5 ? 0.5 : o->seconds / 10;
	s->hard_deadline_ns = bench_mono_ns() + (uint64_t)((warm + o->seconds + 30) * 1e9);
	rc = bench_spawn(ps_producer, s, &pid);
	if (rc < 0)
		goto out;
	rc = bench_wait_count(&s->ready, 1, bench_mono_ns() + UINT64_C(10000000000), &pid, 1,
			      "persist start");
	if (rc < 0)
		goto out;
	t_go = bench_mono_ns();
	bench_store_release(&s->go, 1);
	rc = bench_sleep_until(t_go + (uint64_t)(warm * 1e9), &pid, 1);
	if (rc < 0)
		goto out;
	(void)ring_topic_stat(topic, &st0);
	t_measure = bench_mono_ns();
	bench_store_release(&s->measure, 1);
	/* Sample the lags every millisecond of the window. */
	t_end = t_measure + (uint64_t)(o->seconds * 1e9);
	for (uint64_t now = t_measure; now < t_end; now = bench_mono_ns()) {
		rc = bench_sleep_until(now + 1000000u < t_end ? now + 1000000u : t_end, &pid, 1);
		if (rc < 0)
			goto out;
		if (ring_topic_stat(topic, &st) == 0) {
			hist_record(lag_p, st.tail_pos - st.persisted_pos);
			hist_record(lag_d, st.tail_pos - st.durable_pos);
		}
	}
	(void)ring_topic_stat(topic, &st1);
	t_end = bench_mono_ns();
	bench_store_release(&s->stop, 1);
	rc = bench_wait_children(&pid, 1, UINT64_C(30000000000), "persist");
	if (rc < 0)
		goto out;
	/* How long ringd takes to catch up once the producer stops. */
	deadline = bench_mono_ns() + UINT64_C(30000000000);
	(void)ring_topic_stat(topic, &st);
	{
		uint64_t stop_ns = bench_mono_ns(), tail = st.tail_pos;
		struct timespec ts = { .tv_nsec = 100000 };

		/* Bounded by the deadline. */
		while ((!t_drained || (!t_durable && cfg.fsync_policy != RING_FSYNC_NEVER)) &&
		       bench_mono_ns() < deadline) {
			(void)ring_topic_stat(topic, &st);
			if (!t_drained && st.persisted_pos >= tail)
				t_drained = bench_mono_ns() - stop_ns + 1;
			if (!t_durable && st.durable_pos >= tail)
				t_durable = bench_mono_ns() - stop_ns + 1;
			(void)nanosleep(&ts, NULL);
		}
		if (!t_drained) {
			bench_err("persist: ringd did not catch up within 30 s");
			rc = -ETIMEDOUT;
			goto out;
		}
	}
	rc = bench_ringd_stop(&d);
	if (rc < 0)
		goto out;

	r.samples = s->sent;
	r.msgs_per_sec = s->end_ns > s->win_start_ns
				 ? (double)(s->sent - s->win_sent) * 1e9 /
					   (double)(s->end_ns - s->win_start_ns)
				 : -1;
	r.bytes_per_sec = r.msgs_per_sec * o->size;
	log_rate = (double)(st1.persisted_pos - st0.persisted_pos) * 1e9 /
		   (double)(t_end - t_measure);
	floor_bw = disk.direct_bytes_per_sec > disk.buffered_bytes_per_sec
			   ? disk.direct_bytes_per_sec
			   : disk.buffered_bytes_per_sec;
	bench_report_extra(&r, "persisted_log_bytes_per_sec", log_rate, 0);
	bench_report_extra(&r, "durable_log_bytes_per_sec",
			   (double)(st1.durable_pos - st0.durable_pos) * 1e9 /
				   (double)(t_end - t_measure),
			   0);
	bench_report_extra(&r, "persist_ratio_to_disk", floor_bw > 0 ? log_rate / floor_bw : -1,
			   3);
	bench_report_extra(&r, "persist_ratio_to_direct",
			   disk.direct_bytes_per_sec > 0 ? log_rate / disk.direct_bytes_per_sec : -1,
			   3);
	bench_report_extra(&r, "persist_ratio_to_buffered",
			   disk.buffered_bytes_per_sec > 0 ? log_rate / disk.buffered_bytes_per_sec
							   : -1,
			   3);
	bench_report_extra(&r, "persisted_lag_p50_bytes", (double)hist_percentile(lag_p, 50), 0);
	bench_report_extra(&r, "persisted_lag_p99_bytes", (double)hist_percentile(lag_p, 99), 0);
	bench_report_extra(&r, "persisted_lag_max_bytes", (double)lag_p->max, 0);
	bench_report_extra(&r, "durable_lag_p50_bytes", (double)hist_percentile(lag_d, 50), 0);
	bench_report_extra(&r, "durable_lag_p99_bytes", (double)hist_percentile(lag_d, 99), 0);
	bench_report_extra(&r, "durable_lag_max_bytes", (double)lag_d->max, 0);
	bench_report_extra(&r, "drain_after_stop_ns", (double)t_drained, 0);
	bench_report_extra(&r, "durable_after_stop_ns", t_durable ? (double)t_durable : -1, 0);
	bench_disk_report(&r, &disk);
	(void)snprintf(r.notes, sizeof(r.notes),
		       "  fsync %s, ring %llu B, %llu records published (warm-up included), "
		       "%llu publish calls timed out on a full ring;\n"
		       "  lags sampled every ms (%llu samples): tail - persisted, tail - durable;\n"
		       "  persist_ratio_to_disk = persisted log bytes/s over the better of the "
		       "disk floor's direct and buffered\n",
		       policy, (unsigned long long)r.capacity, (unsigned long long)s->sent,
		       (unsigned long long)s->timeouts, (unsigned long long)lag_p->count);
	*ret_report = r;
	rc = 0;
out:
	if (pid > 0)
		bench_kill_children(&pid, 1);
	if (d.pid > 0)
		(void)bench_ringd_stop(&d);
	topic = ring_topic_close(topic);
	bench_persistent_cleanup(o->data_dir);
	if (s)
		bench_shared_free(s, sizeof(*s));
	free(lag_p);
	free(lag_d);
	return rc;
}
