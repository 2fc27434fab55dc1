/* SPDX-License-Identifier: MIT */
/*
 * rd.c - the helpers declared in rd.h.
 *
 * No cmocka calls here: the producer code runs in forked children, where
 * a failing assertion would jump into a copy of the parent's runner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record.h"
#include "segment_reader.h"
#include "t.h"
#include "rd.h"

#define LOG_MAX_BYTES (16u << 20)
#define LOG_PRINT_BYTES (48u << 10)
#define POLL_STEP_NS (2 * RD_NS_PER_MS)

/* Why ringd cannot run here, or NULL. */
static const char *skip_reason(void)
{
	static char why[256];
	struct io_uring_params p;
	const char *ringd = getenv("RINGD");
	long fd;

	if (!ringd || !*ringd)
		return "RINGD is not set (run through meson test)";
	if (access(ringd, X_OK) < 0) {
		snprintf(why, sizeof(why), "%s is not executable: %s", ringd, strerror(errno));
		return why;
	}
	/* ringd cannot write without io_uring: a container or a sysctl may
	 * refuse it. */
	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0) {
		snprintf(why, sizeof(why), "io_uring_setup: %s", strerror(errno));
		return why;
	}
	(void)close((int)fd);
	return NULL;
}

bool rd_skip(void)
{
	const char *why = skip_reason();

	if (why)
		printf("# skipped: %s\n", why);
	return why != NULL;
}

/* ---- ringd ---- */

void rd_daemon_init(struct rd_daemon *d, const char *data_dir, const char *log_path)
{
	const char *ringd = getenv("RINGD");

	memset(d, 0, sizeof(*d));
	snprintf(d->ringd, sizeof(d->ringd), "%s", ringd ? ringd : "ringd");
	snprintf(d->data_dir, sizeof(d->data_dir), "%s", data_dir);
	snprintf(d->log_path, sizeof(d->log_path), "%s", log_path);
}

__attribute__((format(printf, 2, 3))) static void log_note(const struct rd_daemon *d,
							   const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) != n) {
		/* The log is for people; a short note is no test failure. */
	}
	(void)close(fd);
}

int rd_daemon_start(struct rd_daemon *d)
{
	pid_t parent = getpid(), pid;
	sigset_t none;

	if (d->pid)
		return -EBUSY;
	d->starts++;
	log_note(d, "---- test: start #%u of ringd ----\n", d->starts);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd;

		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(126);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(126);
		if (fd > STDERR_FILENO)
			(void)close(fd);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0 && fd != STDIN_FILENO) {
			(void)dup2(fd, STDIN_FILENO);
			(void)close(fd);
		}
		/* JOURNAL_STREAM would switch ringd to syslog prefixes. */
		(void)unsetenv("JOURNAL_STREAM");
		(void)unsetenv("RINGLOG_DATA_DIR");
		for (unsigned i = 0; i < d->nenv; i++)
			(void)putenv(d->env[i]);
		{
			char *argv[4 + RD_MAX_EXTRA] = { "ringd", "--data-dir", d->data_dir };
			unsigned n = 3;

			for (unsigned i = 0; i < d->nargs; i++)
				argv[n++] = d->args[i];
			argv[n] = NULL;
			execv(d->ringd, argv);
		}
		_exit(127);
	}
	d->pid = pid;
	return 0;
}

void rd_daemon_arg(struct rd_daemon *d, const char *arg)
{
	if (d->nargs < RD_MAX_EXTRA)
		snprintf(d->args[d->nargs++], sizeof(d->args[0]), "%s", arg);
}

void rd_daemon_env(struct rd_daemon *d, const char *name, const char *value)
{
	if (d->nenv < RD_MAX_EXTRA)
		snprintf(d->env[d->nenv++], sizeof(d->env[0]), "%s=%s", name, value);
}

bool rd_daemon_use_fault_build(struct rd_daemon *d, const char *ctl_path)
{
	const char *exe = getenv("RINGD_FAULT");

	if (!exe || !*exe || access(exe, X_OK) < 0)
		return false;
	snprintf(d->ringd, sizeof(d->ringd), "%s", exe);
	rd_daemon_env(d, "RINGD_IO_FAULT_CTL", ctl_path);
	return true;
}

int rd_daemon_fault(struct rd_daemon *d, const char *ctl_path, const char *cmd,
		    uint64_t timeout_ns)
{
	char tmp[512], needle[200], verb[64], arg[64];
	unsigned before;
	int fd, n;

	/* ringd answers "io_fault: VERB[ ARG]: applied". */
	n = sscanf(cmd, "%63s %63s", verb, arg);
	if (n < 1)
		return -EINVAL;
	snprintf(needle, sizeof(needle), "io_fault: %s%s%s: applied", verb, n > 1 ? " " : "",
		 n > 1 ? arg : "");
	before = rd_log_count(d, needle);
	snprintf(tmp, sizeof(tmp), "%s.tmp", ctl_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = (int)strlen(cmd);
	if (write(fd, cmd, (size_t)n) != n || write(fd, "\n", 1) != 1) {
		(void)close(fd);
		return -EIO;
	}
	(void)close(fd);
	/* A new inode at the path: ringd applies each command once. */
	if (rename(tmp, ctl_path) < 0)
		return -errno;
	return rd_log_wait(d, needle, before + 1, timeout_ns) ? 0 : -ETIMEDOUT;
}

/* The start of a small file (/proc, a lock file) as a string in @buf:
 * true, or false if it is missing or empty. */
static bool read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	(void)close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

uint64_t rd_daemon_cpu_ns(const struct rd_daemon *d)
{
	char path[64], buf[1024], *p;
	unsigned long utime = 0, stime = 0;

	if (!d->pid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)d->pid);
	if (!read_small_file(path, buf, sizeof(buf)))
		return 0;
	/* After the command name in parentheses: fields 3.. ; utime is 14th,
	 * stime 15th of the whole line. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
			 &stime) != 2)
		return 0;
	return (uint64_t)(utime + stime) * (RD_NS_PER_S / (uint64_t)sysconf(_SC_CLK_TCK));
}

int rd_daemon_stop(struct rd_daemon *d, int sig, uint64_t timeout_ns, int *ret_status)
{
	int status = 0, rc;

	if (!d->pid) {
		if (ret_status)
			*ret_status = 0;
		return 0;
	}
	(void)kill(d->pid, sig);
	rc = t_wait_child(d->pid, timeout_ns, &status);
	log_note(d, "---- test: ringd pid %d stopped with signal %d (%s) ----\n", (int)d->pid, sig,
		 rc == -ETIMEDOUT ? "did not exit in time: killed" : "reaped");
	d->pid = 0;
	if (rc < 0)
		return rc;
	if (ret_status)
		*ret_status = status;
	return 0;
}

int rd_daemon_stop_clean(struct rd_daemon *d)
{
	int status = 0, rc;

	rc = rd_daemon_stop(d, SIGTERM, 20 * RD_NS_PER_S, &status);
	if (rc < 0)
		return rc;
	/* 0 is "exited 0"; any other wait status is positive (at most
	 * 0xffff), so it cannot pass for an errno. */
	return status;
}

bool rd_daemon_exited(struct rd_daemon *d, int *ret_status)
{
	int status;

	if (!d->pid || waitpid(d->pid, &status, WNOHANG) != d->pid)
		return false;
	d->pid = 0;
	*ret_status = status;
	return true;
}

int rd_daemon_wait_locked(struct rd_daemon *d, uint64_t timeout_ns)
{
	uint64_t deadline = t_now_ns() + timeout_ns;
	char path[sizeof(d->data_dir) + 16], buf[32];
	int status;

	snprintf(path, sizeof(path), "%s/ringd.lock", d->data_dir);
	/* Bounded by the deadline. */
	while (t_now_ns() < deadline) {
		if (rd_daemon_exited(d, &status))
			return -ECHILD;
		/* ringd writes its pid into the file once it holds the lock. */
		if (read_small_file(path, buf, sizeof(buf)) &&
		    (pid_t)strtol(buf, NULL, 10) == d->pid)
			return 0;
		t_sleep_ns(RD_NS_PER_MS);
	}
	(void)rd_daemon_stop(d, SIGKILL, 10 * RD_NS_PER_S, NULL);
	return -ETIMEDOUT;
}

/* The log file's contents (at most LOG_MAX_BYTES, the last ones), NUL
 * terminated, malloc()ed; NULL if it cannot be read. */
static char *log_read(const struct rd_daemon *d, size_t max, size_t *ret_len)
{
	int fd = open(d->log_path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	off_t from = 0;
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		(void)close(fd);
		return NULL;
	}
	if ((size_t)st.st_size > max)
		from = st.st_size - (off_t)max;
	buf = malloc((size_t)(st.st_size - from) + 1);
	if (!buf) {
		(void)close(fd);
		return NULL;
	}
	n = pread(fd, buf, (size_t)(st.st_size - from), from);
	(void)close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (ret_len)
		*ret_len = (size_t)n;
	return buf;
}

unsigned rd_log_count(const struct rd_daemon *d, const char *needle)
{
	char *buf = log_read(d, LOG_MAX_BYTES, NULL);
	unsigned count = 0;
	size_t step = strlen(needle);

	if (!buf || !step) {
		free(buf);
		return 0;
	}
	/* Bounded by the log's size: each hit moves past itself. */
	for (const char *p = strstr(buf, needle); p; p = strstr(p + step, needle))
		count++;
	free(buf);
	return count;
}

struct log_wait {
	const struct rd_daemon *d;
	const char *needle;
	unsigned count;
};

static bool log_has(void *arg)
{
	const struct log_wait *w = arg;

	return rd_log_count(w->d, w->needle) >= w->count;
}

bool rd_log_wait(const struct rd_daemon *d, const char *needle, unsigned count,
		 uint64_t timeout_ns)
{
	struct log_wait w = { .d = d, .needle = needle, .count = count };

	return t_wait_until(log_has, &w, timeout_ns, 5 * RD_NS_PER_MS);
}

void rd_log_print(const struct rd_daemon *d)
{
	size_t len = 0;
	char *buf = log_read(d, LOG_PRINT_BYTES, &len);
	char *line, *save = NULL;

	if (!buf) {
		printf("# (no ringd log at %s)\n", d->log_path);
		return;
	}
	printf("# ---- ringd log %s (last %zu bytes) ----\n", d->log_path, len);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("# %s\n", line);
	printf("# ---- end of ringd log ----\n");
	fflush(stdout);
	free(buf);
}

struct served_wait {
	const struct rd_daemon *d;
	struct ring_topic *topic;
};

static bool is_served(void *arg)
{
	const struct served_wait *w = arg;
	struct ring_topic_stat st;

	return ring_topic_stat(w->topic, &st) == 0 && w->d->pid &&
	       st.daemon_pid == (int32_t)w->d->pid && st.daemon_alive;
}

bool rd_wait_served(const struct rd_daemon *d, struct ring_topic *topic, uint64_t timeout_ns)
{
	struct served_wait w = { .d = d, .topic = topic };

	return t_wait_until(is_served, &w, timeout_ns, POLL_STEP_NS);
}

static bool is_drained(void *arg)
{
	struct ring_topic_stat st;

	return ring_topic_stat(arg, &st) == 0 && st.persisted_pos == st.tail_pos;
}

bool rd_wait_drained(struct ring_topic *topic, uint64_t timeout_ns)
{
	return t_wait_until(is_drained, topic, timeout_ns, POLL_STEP_NS);
}

int rd_wait_open(const char *data_dir, const char *name, uint64_t timeout_ns,
		 struct ring_topic **ret_topic)
{
	uint64_t deadline = t_now_ns() + timeout_ns;
	int rc;

	/* Bounded by the deadline. */
	for (;;) {
		rc = ring_topic_open(data_dir, name, ret_topic);
		if (rc != -ENOENT || t_now_ns() >= deadline)
			return rc;
		t_sleep_ns(POLL_STEP_NS);
	}
}

/* ---- producers ---- */

static struct rd_producers *child_ps;

__attribute__((format(printf, 3, 4))) static int child_fail(struct rd_producers *ps, unsigned id,
							    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->sh->p[id].error, sizeof(ps->sh->p[id].error), fmt, ap);
	va_end(ap);
	return 1;
}

/*
 * Wait until @pos is durable, retrying timeouts (ringd may be down) until
 * the producers are stopped or their deadline: 0 once durable, 1 if given
 * up, or -errno. When it returns 0 the topic's durable cursor must be past
 * @pos: the wait trusts nothing else.
 */
static int wait_durable(struct rd_producers *ps, unsigned me, struct ring_topic *t, uint64_t pos)
{
	/* Bounded by the deadline and the stop flag. */
	while (!ps->sh->stop && t_now_ns() < ps->deadline_ns) {
		struct ring_topic_stat st;
		int rc = ring_topic_wait_durable(t, pos, 100 * RD_NS_PER_MS);

		if (rc == -ETIMEDOUT) {
			ps->sh->p[me].durable_timeouts++;
			continue;
		}
		if (rc < 0)
			return rc;
		if (ring_topic_stat(t, &st) < 0 || st.durable_pos <= pos)
			return -EPROTO;
		return 0;
	}
	return 1;
}

static int producer_main(void *arg)
{
	struct rd_producers *ps = child_ps;
	unsigned me = (unsigned)(uintptr_t)arg;
	unsigned id = ps->id_base + me;	/* in payloads and types */
	const struct rd_prod_spec *s = &ps->spec[me];
	uint64_t limit = s->max_records < ps->pos_cap ? s->max_records : ps->pos_cap;
	struct ring_topic *t = NULL;
	struct ring_producer *p = NULL;
	uint8_t *buf[RD_BATCH] = { 0 };
	uint64_t seq = 0, publishes = 0;
	unsigned in_burst = 0;
	int rc = 0, ret = 0;

	for (unsigned i = 0; i < RD_BATCH; i++) {
		buf[i] = malloc(s->max_len);
		if (!buf[i]) {
			ret = child_fail(ps, me, "producer %u: out of memory", id);
			goto out;
		}
	}
	rc = ring_topic_open(ps->data_dir, ps->name, &t);
	if (rc < 0) {
		ret = child_fail(ps, me, "producer %u: open: %s", id, ring_strerror(rc));
		goto out;
	}
	rc = ring_producer_open(t, &p);
	if (rc < 0) {
		ret = child_fail(ps, me, "producer %u: producer_open: %s", id, ring_strerror(rc));
		goto out;
	}
	/* Bounded by the record limit and the deadline. */
	while (seq < limit && !ps->sh->stop && t_now_ns() < ps->deadline_ns) {
		struct ring_message m[RD_BATCH];
		unsigned n = 1;
		uint64_t pos = 0;

		if (s->batch_every && publishes % s->batch_every == s->batch_every - 1 &&
		    seq + RD_BATCH <= limit)
			n = RD_BATCH;
		for (unsigned i = 0; i < n; i++) {
			size_t len = t_payload_len(id, seq + i, s->min_len, s->max_len);

			t_payload_fill(buf[i], len, id, seq + i);
			m[i] = (struct ring_message){ .data = buf[i], .len = (uint32_t)len,
						      .type = id + 1 };
		}
		if (n == 1)
			rc = ring_producer_publish(p, id + 1, buf[0], m[0].len, s->timeout_ns, &pos);
		else
			rc = ring_producer_publish_batch(p, m, n, s->timeout_ns, &pos);
		if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			/* ringd is down and the ring is full, or a claim of ours
			 * was repaired: nothing was published, try again. */
			ps->sh->p[me].timeouts++;
			continue;
		}
		if (rc < 0) {
			ret = child_fail(ps, me, "producer %u: publish seq %" PRIu64 ": %s", id, seq,
					 ring_strerror(rc));
			break;
		}
		publishes++;
		for (unsigned i = 0; i < n; i++) {
			ps->pos[me][seq + i] = pos;
			pos += ring_record_span(m[i].len);
		}
		seq += n;
		/* After the positions: the parent reads them up to `acked`. */
		ps->sh->p[me].acked = seq;
		if (s->wait_durable) {
			uint64_t last = pos - ring_record_span(m[n - 1].len);

			rc = wait_durable(ps, me, t, last);
			if (rc < 0) {
				ret = child_fail(ps, me, "producer %u: wait_durable at %" PRIu64 ": %s",
						 id, last, ring_strerror(rc));
				break;
			}
			if (rc == 0)
				ps->sh->p[me].durable = seq;
		}
		if (s->burst && ++in_burst >= s->burst) {
			in_burst = 0;
			t_sleep_ns(s->pause_ns);
		}
	}
out:
	p = ring_producer_close(p);
	t = ring_topic_close(t);
	for (unsigned i = 0; i < RD_BATCH; i++)
		free(buf[i]);
	return ret;
}

int rd_producers_start(struct rd_producers *ps, const char *data_dir, const char *name,
		       unsigned n, const struct rd_prod_spec *spec, uint64_t run_limit_ns)
{
	return rd_producers_start_ids(ps, data_dir, name, n, spec, run_limit_ns, 0);
}

uint64_t rd_producers_durable(const struct rd_producers *ps, unsigned i)
{
	return ps->sh->p[i].durable;
}

int rd_producers_start_ids(struct rd_producers *ps, const char *data_dir, const char *name,
			   unsigned n, const struct rd_prod_spec *spec, uint64_t run_limit_ns,
			   unsigned id_base)
{
	uint64_t cap = 0;

	if (n == 0 || id_base + n > RD_MAX_PRODUCERS)
		return -EINVAL;
	memset(ps, 0, sizeof(*ps));
	ps->id_base = id_base;
	snprintf(ps->data_dir, sizeof(ps->data_dir), "%s", data_dir);
	snprintf(ps->name, sizeof(ps->name), "%s", name);
	ps->n = n;
	for (unsigned i = 0; i < n; i++) {
		ps->spec[i] = spec[i];
		if (spec[i].min_len < T_PAYLOAD_MIN || spec[i].max_len < spec[i].min_len)
			return -EINVAL;
		if (spec[i].max_records > cap)
			cap = spec[i].max_records;
	}
	ps->pos_cap = cap;
	ps->sh = t_shared_alloc(sizeof(*ps->sh));
	if (!ps->sh)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		ps->pos[i] = t_shared_alloc(cap * sizeof(uint64_t));
		if (!ps->pos[i]) {
			rd_producers_free(ps);
			return -ENOMEM;
		}
	}
	ps->deadline_ns = t_now_ns() + run_limit_ns;
	child_ps = ps;
	for (unsigned i = 0; i < n; i++) {
		pid_t pid = t_fork_child(producer_main, (void *)(uintptr_t)i);

		if (pid < 0) {
			rd_producers_free(ps);
			return pid;
		}
		ps->pid[i] = pid;
	}
	return 0;
}

uint64_t rd_producers_acked(const struct rd_producers *ps, unsigned i)
{
	return ps->sh->p[i].acked;
}

uint64_t rd_producers_total_acked(const struct rd_producers *ps)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < ps->n; i++)
		n += rd_producers_acked(ps, i);
	return n;
}

struct acked_wait {
	const struct rd_producers *ps;
	uint64_t past;
};

static bool acked_past(void *arg)
{
	const struct acked_wait *w = arg;

	return rd_producers_total_acked(w->ps) > w->past;
}

bool rd_producers_wait_more(const struct rd_producers *ps, uint64_t records, uint64_t timeout_ns)
{
	struct acked_wait w = { .ps = ps, .past = rd_producers_total_acked(ps) + records };

	return t_wait_until(acked_past, &w, timeout_ns, RD_NS_PER_MS);
}

int rd_producers_stop(struct rd_producers *ps, uint64_t timeout_ns, char *why, size_t why_len)
{
	uint64_t deadline = t_now_ns() + timeout_ns;
	int ret = 0;

	why[0] = '\0';
	if (!ps->sh)
		return 0;
	ps->sh->stop = 1;
	for (unsigned i = 0; i < ps->n; i++) {
		uint64_t now = t_now_ns();
		char st[64];
		int status = 0, rc;

		if (!ps->pid[i])
			continue;
		rc = t_wait_child(ps->pid[i], deadline > now ? deadline - now : 1, &status);
		ps->pid[i] = 0;
		if (ret)
			continue;
		if (rc < 0) {
			snprintf(why, why_len, "producer %u did not stop in time", i);
			ret = -1;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			snprintf(why, why_len, "producer %u: %s: %s", i,
				 t_status_str(status, st, sizeof(st)), ps->sh->p[i].error);
			ret = -1;
		}
	}
	return ret;
}

static bool all_done(void *arg)
{
	const struct rd_producers *ps = arg;

	for (unsigned i = 0; i < ps->n; i++) {
		uint64_t want = ps->spec[i].max_records < ps->pos_cap ? ps->spec[i].max_records
								       : ps->pos_cap;

		/* A producer that failed stops acknowledging: the caller's
		 * timeout ends the wait and rd_producers_stop() says why. */
		if (ps->sh->p[i].acked < want && !ps->sh->p[i].error[0])
			return false;
	}
	return true;
}

bool rd_producers_wait_done(const struct rd_producers *ps, uint64_t timeout_ns)
{
	if (!t_wait_until(all_done, (void *)ps, timeout_ns, 5 * RD_NS_PER_MS))
		return false;
	for (unsigned i = 0; i < ps->n; i++)
		if (ps->sh->p[i].acked < (ps->spec[i].max_records < ps->pos_cap
						  ? ps->spec[i].max_records
						  : ps->pos_cap))
			return false;
	return true;
}

void rd_producers_free(struct rd_producers *ps)
{
	for (unsigned i = 0; i < ps->n; i++) {
		if (ps->pid[i]) {
			(void)kill(ps->pid[i], SIGKILL);
			(void)t_wait_child(ps->pid[i], 5 * RD_NS_PER_S, NULL);
			ps->pid[i] = 0;
		}
		t_shared_free(ps->pos[i], ps->pos_cap * sizeof(uint64_t));
		ps->pos[i] = NULL;
	}
	t_shared_free(ps->sh, sizeof(*ps->sh));
	ps->sh = NULL;
	ps->n = 0;
}

/* ---- the log on disk ---- */

__attribute__((format(printf, 3, 4))) static int say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* 1 if the segment file holds only zeros from log position @pos on. */
static int zeros_after(const struct ringi_segment *seg, uint64_t pos)
{
	uint8_t buf[8192];
	uint64_t off = RING_SEG_HEADER_BYTES + (pos - seg->base_pos);

	/* Bounded by the file's size. */
	while (off < seg->file_bytes) {
		ssize_t n = pread(seg->fd, buf, sizeof(buf), (off_t)off);

		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i])
				return 0;
		off += (uint64_t)n;
	}
	return 1;
}

int rd_log_walk(const char *topic_dir, uint64_t max_record, rd_rec_fn fn, void *arg,
		struct rd_walk *ret_walk, char *why, size_t why_len)
{
	struct rd_walk w = { .closed_min = UINT64_MAX };
	uint64_t *bases = NULL;
	size_t count = 0;
	int rc;

	why[0] = '\0';
	rc = ringi_seg_list(topic_dir, &bases, &count);
	if (rc < 0)
		return say(why, why_len, "listing %s: %s", topic_dir, ring_strerror(rc)), rc;
	if (count == 0) {
		free(bases);
		return say(why, why_len, "no segment files in %s", topic_dir);
	}
	w.start_pos = bases[0];
	w.segments = (unsigned)count;
	w.last_base = bases[count - 1];
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct ringi_segment seg;
		struct ringi_seg_iter it;
		struct ringi_seg_rec rec;
		const char *reason = NULL;
		int n;

		if (i > 0 && bases[i] != w.end_pos) {
			rc = say(why, why_len,
				 "segment %020" PRIu64 " starts at %" PRIu64
				 " but the one before it ends at %" PRIu64,
				 bases[i], bases[i], w.end_pos);
			break;
		}
		rc = ringi_seg_open(topic_dir, bases[i], &seg, &reason);
		if (rc < 0) {
			rc = say(why, why_len, "segment %020" PRIu64 ": %s", bases[i],
				 reason ? reason : ring_strerror(rc));
			break;
		}
		rc = ringi_seg_iter_init(&it, &seg, bases[i], UINT64_MAX, max_record);
		if (rc < 0) {
			ringi_seg_close(&seg);
			break;
		}
		/* Bounded: each record advances within the file. */
		while ((n = ringi_seg_iter_next(&it, &rec)) == 1) {
			if (rec.committed)
				w.records++;
			else
				w.skips++;
			if (fn) {
				rc = fn(&rec, arg);
				if (rc)
					break;
			}
		}
		if (rc == 0 && n < 0)
			rc = say(why, why_len, "segment %020" PRIu64 ": damage at %" PRIu64 ": %s",
				 bases[i], it.stop_pos, it.stop_reason ? it.stop_reason : "?");
		if (rc == 0 && it.stop_reason && zeros_after(&seg, it.stop_pos) != 1)
			rc = say(why, why_len,
				 "segment %020" PRIu64 ": a zero header at %" PRIu64
				 " with data after it",
				 bases[i], it.stop_pos);
		w.end_pos = it.stop_pos;
		if (i + 1 < count) {
			uint64_t bytes = w.end_pos - bases[i];

			if (bytes < w.closed_min)
				w.closed_min = bytes;
			if (bytes > w.closed_max)
				w.closed_max = bytes;
		}
		ringi_seg_iter_free(&it);
		ringi_seg_close(&seg);
	}
	free(bases);
	if (w.closed_min == UINT64_MAX)
		w.closed_min = 0;
	if (ret_walk)
		*ret_walk = w;
	return rc;
}

int rd_segment_records(const char *topic_dir, uint64_t base, uint64_t max_record,
		       struct rd_seg_rec **ret_recs, size_t *ret_count)
{
	struct ringi_segment seg;
	struct ringi_seg_iter it;
	struct ringi_seg_rec rec;
	struct rd_seg_rec *v = NULL;
	size_t n = 0, cap = 0;
	int rc, r;

	rc = ringi_seg_open(topic_dir, base, &seg, NULL);
	if (rc < 0)
		return rc;
	rc = ringi_seg_iter_init(&it, &seg, base, UINT64_MAX, max_record);
	if (rc < 0) {
		ringi_seg_close(&seg);
		return rc;
	}
	/* Bounded by the file. */
	while ((r = ringi_seg_iter_next(&it, &rec)) == 1) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct rd_seg_rec *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = (struct rd_seg_rec){ .pos = rec.pos, .span = rec.span, .len = rec.len,
					      .committed = rec.committed };
	}
	if (rc == 0 && r < 0)
		rc = r;
	ringi_seg_iter_free(&it);
	ringi_seg_close(&seg);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*ret_recs = v;
	*ret_count = n;
	return 0;
}

struct check_ctx {
	struct rd_check *c;
	uint8_t *expect;
	size_t expect_cap;
};

__attribute__((format(printf, 2, 3))) static int check_fail(struct rd_check *c, const char *fmt,
							     ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	return -1;
}

static int check_record(const struct ringi_seg_rec *rec, void *arg)
{
	struct check_ctx *x = arg;
	struct rd_check *c = x->c;
	const uint8_t *payload = rec->bytes + RING_RECORD_HEADER_BYTES;
	uint32_t id;
	uint64_t seq;
	size_t want_len;

	if (!rec->committed)
		return 0;
	if (t_payload_check(payload, rec->len, &id, &seq) < 0)
		return check_fail(c, "record at %" PRIu64 " (len %u): payload fails its CRC",
				  rec->pos, rec->len);
	if (id >= c->nproducers)
		return check_fail(c, "record at %" PRIu64 ": unknown producer %u", rec->pos, id);
	if (rec->type != id + 1)
		return check_fail(c, "record at %" PRIu64 ": type %u, producer %u published %u",
				  rec->pos, rec->type, id, id + 1);
	if (!c->seen[id]) {
		c->seen[id] = true;
		if (!c->head_may_be_gone && seq != 0)
			return check_fail(c,
					  "producer %u: the first record in the files is seq %" PRIu64
					  " at %" PRIu64 " (lost the head)",
					  id, seq, rec->pos);
		c->first_seq[id] = seq;
		c->next_seq[id] = seq;
	}
	if (seq != c->next_seq[id])
		return check_fail(c,
				  "producer %u: seq %" PRIu64 " at %" PRIu64 ", expected %" PRIu64
				  " (%s)",
				  id, seq, rec->pos, c->next_seq[id],
				  seq < c->next_seq[id] ? "duplicate or reordered" : "gap: lost");
	if (c->acked && seq >= c->acked[id])
		return check_fail(c,
				  "producer %u: seq %" PRIu64 " at %" PRIu64
				  " was never acknowledged (%" PRIu64 " were)",
				  id, seq, rec->pos, c->acked[id]);
	want_len = t_payload_len(id, seq, c->spec[id].min_len, c->spec[id].max_len);
	if (rec->len != want_len)
		return check_fail(c,
				  "producer %u seq %" PRIu64 ": %u bytes in the file, %zu published",
				  id, seq, rec->len, want_len);
	if (want_len > x->expect_cap)
		return check_fail(c, "record of %zu bytes: larger than the test expects", want_len);
	t_payload_fill(x->expect, want_len, id, seq);
	if (memcmp(x->expect, payload, want_len) != 0)
		return check_fail(c, "producer %u seq %" PRIu64 " at %" PRIu64
				  ": payload differs from what was published",
				  id, seq, rec->pos);
	if (c->pos && seq < c->pos_cap && c->pos[id][seq] != rec->pos)
		return check_fail(c,
				  "producer %u seq %" PRIu64 ": at %" PRIu64
				  " in the files, publish returned %" PRIu64,
				  id, seq, rec->pos, c->pos[id][seq]);
	c->next_seq[id] = seq + 1;
	return 0;
}

int rd_check_log(const char *topic_dir, uint64_t max_record, struct rd_check *c)
{
	struct check_ctx x = { .c = c };
	char why[256];
	int rc;

	c->error[0] = '\0';
	memset(c->seen, 0, sizeof(c->seen));
	memset(c->first_seq, 0, sizeof(c->first_seq));
	memset(c->next_seq, 0, sizeof(c->next_seq));
	for (unsigned i = 0; i < c->nproducers; i++)
		if (c->spec[i].max_len > x.expect_cap)
			x.expect_cap = c->spec[i].max_len;
	x.expect = malloc(x.expect_cap ? x.expect_cap : 1);
	if (!x.expect)
		return check_fail(c, "out of memory");
	rc = rd_log_walk(topic_dir, max_record, check_record, &x, &c->walk, why, sizeof(why));
	free(x.expect);
	if (rc == -1)
		return -1;	/* c->error says why */
	if (rc < 0)
		return check_fail(c, "%s", why);
	for (unsigned i = 0; c->acked && i < c->nproducers; i++) {
		uint64_t must = c->at_least ? c->at_least[i] : c->acked[i];

		if (c->at_least ? c->next_seq[i] < must
				: c->next_seq[i] != must && (must > 0 || c->seen[i]))
			return check_fail(c,
					  "producer %u: the files end at seq %" PRIu64 " but %" PRIu64
					  " records were acknowledged%s (lost)",
					  i, c->next_seq[i], must, c->at_least ? " durable" : "");
	}
	return 0;
}

uint64_t rd_dir_bytes(const char *topic_dir, unsigned *ret_segments)
{
	DIR *d = opendir(topic_dir);
	struct dirent *e;
	uint64_t total = 0;
	unsigned segs = 0;

	if (!d) {
		if (ret_segments)
			*ret_segments = 0;
		return 0;
	}
	while ((e = readdir(d))) {
		uint64_t base;
		struct stat st;
		bool seg = ring_seg_name_parse(e->d_name, RING_SEG_SUFFIX, &base) == 0;

		if (!seg && ring_seg_name_parse(e->d_name, RING_TIX_SUFFIX, &base) < 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, 0) < 0)
			continue;	/* deleted by retention meanwhile */
		total += (uint64_t)st.st_size;
		segs += seg;
	}
	(void)closedir(d);
	if (ret_segments)
		*ret_segments = segs;
	return total;
}

/* ---- fixture ---- */

int rd_fixture_setup(struct rd_fixture *f)
{
	int rc;

	memset(f, 0, sizeof(*f));
	rc = t_tmpdir_create(f->dir, sizeof(f->dir));
	if (rc < 0) {
		printf("# mkdtemp: %s\n", strerror(-rc));
		return -1;
	}
	snprintf(f->log_path, sizeof(f->log_path), "%s.ringd.log", f->dir);
	rd_daemon_init(&f->d, f->dir, f->log_path);
	f->seed = t_seed();
	f->rng = f->seed;
	return 0;
}

int rd_fixture_teardown(struct rd_fixture *f)
{
	int rc;

	if (f->ps_live) {
		rd_producers_free(&f->ps);
		f->ps_live = false;
	}
	(void)rd_daemon_stop(&f->d, SIGTERM, 10 * RD_NS_PER_S, NULL);
	if (!f->passed)
		rd_log_print(&f->d);
	for (unsigned i = 0; i < f->ntopics; i++) {
		rc = ring_topic_unlink(f->dir, f->topics[i]);
		if (rc < 0 && rc != -ENOENT)
			printf("# unlink %s: %s\n", f->topics[i], ring_strerror(rc));
	}
	rc = t_tmpdir_remove(f->dir);
	if (rc < 0)
		printf("# removing %s: %s\n", f->dir, strerror(-rc));
	(void)unlink(f->log_path);
	return 0;
}

static struct rd_fixture the_fixture;

int rd_setup(void **state)
{
	if (rd_fixture_setup(&the_fixture) < 0)
		return -1;
	*state = &the_fixture;
	return 0;
}

int rd_teardown(void **state)
{
	return rd_fixture_teardown(*state);
}

void rd_topic_remember(struct rd_fixture *f, const char *name)
{
	for (unsigned i = 0; i < f->ntopics; i++)
		if (!strcmp(f->topics[i], name))
			return;
	if (f->ntopics < RD_MAX_TOPICS)
		snprintf(f->topics[f->ntopics++], sizeof(f->topics[0]), "%s", name);
}

int rd_topic_create(struct rd_fixture *f, const char *tag, const struct ring_topic_config *cfg,
		    char *ret_name, size_t name_len, struct ring_topic **ret_topic)
{
	int rc;

	if (f->ntopics >= RD_MAX_TOPICS)
		return -ENOSPC;
	t_unique_name(ret_name, name_len, tag);
	rc = ring_topic_create(f->dir, ret_name, cfg, ret_topic);
	if (rc == 0)
		rd_topic_remember(f, ret_name);
	return rc;
}

void rd_topic_dir(const struct rd_fixture *f, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", f->dir, name);
}

int rd_check_producers(const char *topic_dir, uint64_t max_record, const struct rd_producers *ps,
		       bool durable_floor, uint64_t *acked, uint64_t *durable, struct rd_check *c)
{
	memset(c, 0, sizeof(*c));
	if (ps->id_base != 0)
		return check_fail(c, "rd_check_producers: id base %u, not 0", ps->id_base);
	for (unsigned i = 0; i < ps->n; i++) {
		acked[i] = ps->sh->p[i].acked;
		durable[i] = ps->sh->p[i].durable;
	}
	c->nproducers = ps->n;
	c->spec = ps->spec;
	c->acked = acked;
	c->at_least = durable_floor ? durable : NULL;
	c->pos = ps->pos;
	c->pos_cap = ps->pos_cap;
	return rd_check_log(topic_dir, max_record, c);
}
