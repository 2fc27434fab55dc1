/* SPDX-License-Identifier: MIT */
/*
 * bench_ringd.c - what the persist and durable modes share: a throw-away
 * data directory under --data-dir with one persistent topic, the disk
 * floor measured in it, and the ringd built beside ring-bench as a child
 * serving it (bench_session_open()).
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

void bench_persistent_cleanup(void)
{
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
		bench_persistent_cleanup();
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

/* ---- the session ---- */

int bench_session_open(const struct bench_opts *o, const struct ring_topic_config *cfg,
		       double disk_seconds, unsigned min_syncs, struct bench_session *s)
{
	int rc;

	memset(s, 0, sizeof(*s));
	/* The topic's directory first: the disk floor goes in the same
	 * directory (and file system) the segments will. */
	rc = bench_persistent_create(o->data_dir, cfg, &s->topic);
	if (rc < 0)
		return rc;
	rc = bench_disk_measure(bench_run_data_dir(), disk_seconds, min_syncs, &s->disk);
	if (rc == 0)
		rc = bench_ringd_start(o, bench_run_data_dir(), &s->ringd);
	if (rc == 0)
		rc = bench_ringd_wait_served(&s->ringd, s->topic, UINT64_C(10000000000));
	if (rc < 0)
		bench_session_close(s);
	return rc;
}

int bench_session_stop_ringd(struct bench_session *s)
{
	return bench_ringd_stop(&s->ringd);
}

void bench_session_close(struct bench_session *s)
{
	if (s->ringd.pid > 0)
		(void)bench_ringd_stop(&s->ringd);
	s->topic = ring_topic_close(s->topic);
	bench_persistent_cleanup();
}
