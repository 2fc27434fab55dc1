/* SPDX-License-Identifier: MIT */
/*
 * g.c - the helpers declared in g.h.
 *
 * No cmocka calls here: the helpers run in forked children too.
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"
#include "g.h"

/* ---- ringd ---- */

const char *g_ringd_path(void)
{
	const char *p = getenv(G_RINGD_ENV);

	return p && *p && access(p, X_OK) == 0 ? p : NULL;
}

int g_ringd_init(struct g_ringd *d)
{
	int rc;

	memset(d, 0, sizeof(*d));
	rc = t_tmpdir_create(d->data_dir, sizeof(d->data_dir));
	if (rc < 0)
		return rc;
	snprintf(d->log_path, sizeof(d->log_path), "%s/ringd.log", d->data_dir);
	return 0;
}

/* The pid ringd wrote into its lock file, or 0. */
static pid_t lock_pid(const struct g_ringd *d)
{
	char path[256], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/ringd.lock", d->data_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

int g_ringd_start(struct g_ringd *d)
{
	const char *path = g_ringd_path();
	pid_t parent = getpid(), pid;
	uint64_t deadline;

	if (!path)
		return -ENOENT;
	if (d->pid > 0)
		return -EBUSY;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd;

		/* ringd must never outlive the test, even a crashed one. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(126);
		fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		execl(path, "ringd", "--data-dir", d->data_dir, "--log-level", "debug",
		      (char *)NULL);
		_exit(127);
	}
	d->pid = pid;
	d->starts++;
	deadline = t_now_ns() + UINT64_C(10000000000);
	while (t_now_ns() < deadline) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			d->pid = 0;
			return -ECHILD;
		}
		if (lock_pid(d) == pid)
			return 0;
		t_sleep_ns(1000000);
	}
	g_ringd_kill(d);
	return -ETIMEDOUT;
}

int g_ringd_stop(struct g_ringd *d, uint64_t timeout_ns)
{
	int status = 0, rc;

	if (d->pid <= 0)
		return -ECHILD;
	(void)kill(d->pid, SIGTERM);
	rc = t_wait_child(d->pid, timeout_ns, &status);
	d->pid = 0;
	return rc < 0 ? rc : status;
}

void g_ringd_kill(struct g_ringd *d)
{
	if (d->pid <= 0)
		return;
	(void)kill(d->pid, SIGKILL);
	(void)t_wait_child(d->pid, UINT64_C(10000000000), NULL);
	d->pid = 0;
}

void g_ringd_print_log(const struct g_ringd *d)
{
	char line[1024];
	FILE *f = fopen(d->log_path, "re");
	unsigned n = 0;

	if (!f) {
		printf("# ringd: no log at %s\n", d->log_path);
		return;
	}
	/* Bounded: a failing test prints at most 4000 lines of it. */
	while (n++ < 4000 && fgets(line, sizeof(line), f))
		printf("# ringd: %s%s", line, strchr(line, '\n') ? "" : "\n");
	(void)fclose(f);
	fflush(stdout);
}

bool g_ringd_log_contains(const struct g_ringd *d, const char *needle)
{
	char line[1024];
	FILE *f = fopen(d->log_path, "re");
	bool found = false;

	if (!f)
		return false;
	for (unsigned n = 0; !found && n < 1000000 && fgets(line, sizeof(line), f); n++)
		found = strstr(line, needle) != NULL;
	(void)fclose(f);
	return found;
}

int g_ringd_wait_serving(const struct g_ringd *d, struct ring_topic *topic, uint64_t timeout_ns)
{
	uint64_t deadline = t_now_ns() + timeout_ns;

	for (;;) {
		struct ring_topic_stat st;

		if (ring_topic_stat(topic, &st) == 0 && st.daemon_pid == d->pid &&
		    st.daemon_alive)
			return 0;
		if (t_now_ns() >= deadline)
			return -ETIMEDOUT;
		t_sleep_ns(2000000);
	}
}

void g_ringd_fini(struct g_ringd *d, bool print_log)
{
	if (d->pid > 0) {
		int rc = g_ringd_stop(d, UINT64_C(10000000000));

		if (rc != 0)
			printf("# ringd did not stop cleanly (%d)\n", rc);
	}
	if (print_log)
		g_ringd_print_log(d);
	if (d->data_dir[0])
		(void)t_tmpdir_remove(d->data_dir);
	d->data_dir[0] = '\0';
}

int g_topic_open_wait(const char *data_dir, const char *name, uint64_t timeout_ns,
		      struct ring_topic **ret_topic)
{
	uint64_t deadline = t_now_ns() + timeout_ns;

	for (;;) {
		int rc = ring_topic_open(data_dir, name, ret_topic);

		if (rc != -ENOENT || t_now_ns() >= deadline)
			return rc;
		t_sleep_ns(5000000);
	}
}

/* ---- topics ---- */

void g_topics_add(struct g_topics *ts, const char *name)
{
	if (ts->count < G_TOPICS_MAX)
		snprintf(ts->name[ts->count++], sizeof(ts->name[0]), "%s", name);
}

void g_topics_unlink(struct g_topics *ts)
{
	char dlq[RING_TOPIC_NAME_MAX + 8];

	for (unsigned i = 0; i < ts->count; i++) {
		(void)ring_topic_unlink(ts->data_dir, ts->name[i]);
		snprintf(dlq, sizeof(dlq), "%s.dlq", ts->name[i]);
		(void)ring_topic_unlink(ts->data_dir, dlq);
	}
	ts->count = 0;
}

/* ---- groups ---- */

int g_group_stat(struct ring_topic *topic, const char *group, struct ring_group_stat *ret_stat)
{
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		struct ring_group_stat s;
		int rc = ring_group_stat(topic, i, &s);

		if (rc < 0)
			return rc;
		if (rc == 1 && !strcmp(s.name, group)) {
			*ret_stat = s;
			return 1;
		}
	}
	return 0;
}

uint64_t g_group_committed(struct ring_topic *topic, const char *group)
{
	struct ring_group_stat s;

	return g_group_stat(topic, group, &s) == 1 ? s.committed_pos : UINT64_MAX;
}

uint64_t g_tail(struct ring_topic *topic)
{
	struct ring_topic_stat st;

	return ring_topic_stat(topic, &st) == 0 ? st.tail_pos : 0;
}

/* ---- payloads ---- */

int g_publish(struct ring_producer *producer, uint32_t id, uint64_t first_seq, uint64_t count,
	      size_t min_len, size_t max_len, int64_t timeout_ns, uint64_t *ret_pos)
{
	uint8_t buf[4096];

	if (max_len > sizeof(buf) || min_len < T_PAYLOAD_MIN)
		return -EINVAL;
	for (uint64_t seq = first_seq; seq < first_seq + count; seq++) {
		size_t len = t_payload_len(id, seq, min_len, max_len);
		uint64_t pos;
		int rc;

		t_payload_fill(buf, len, id, seq);
		rc = ring_producer_publish(producer, id + 1, buf, len, timeout_ns, &pos);
		if (rc < 0)
			return rc;
		if (ret_pos)
			ret_pos[seq] = pos;
	}
	return 0;
}

int g_check(const struct ring_record *rec, uint32_t id, uint64_t *ret_seq)
{
	uint32_t got;
	uint64_t seq;

	if (t_payload_check(rec->payload, rec->len, &got, &seq) < 0 || got != id ||
	    rec->type != id + 1)
		return -EBADMSG;
	*ret_seq = seq;
	return 0;
}

/* ---- the processing log ---- */

struct g_log *g_log_alloc(uint64_t max)
{
	struct g_log *log = t_shared_alloc(sizeof(*log) + max * sizeof(struct g_entry));

	if (log)
		log->max = max;
	return log;
}

void g_log_free(struct g_log *log)
{
	if (log)
		t_shared_free(log, sizeof(*log) + log->max * sizeof(struct g_entry));
}

int64_t g_log_append(struct g_log *log, uint32_t round, const struct ring_record *rec,
		     uint64_t seq)
{
	uint64_t i = atomic_fetch_add(&log->count, 1);
	struct g_entry *e;

	if (i >= log->max)
		return -ENOSPC;
	e = &log->entry[i];
	e->pos = rec->position;
	e->seq = seq;
	e->round = round;
	e->deliveries = rec->deliveries;
	/* Release: the fields above are complete once the state says so;
	 * the parent reads it after the member is dead or done (acquire). */
	atomic_store_explicit(&e->state, G_ENTRY_PROCESSED, memory_order_release);
	return (int64_t)i;
}
