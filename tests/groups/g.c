/* SPDX-License-Identifier: MIT */
/*
 * g.c - the helpers declared in g.h.
 *
 * No cmocka calls here: the helpers run in forked children too.
 */
#include <errno.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "t.h"
#include "g.h"

/* ---- ringd ---- */

int g_ringd_init(struct rd_daemon *d)
{
	char dir[sizeof(d->data_dir)], log[sizeof(d->log_path)];
	int rc;

	memset(d, 0, sizeof(*d));	/* g_ringd_fini() is safe after a failure */
	rc = t_tmpdir_create(dir, sizeof(dir));
	if (rc < 0)
		return rc;
	snprintf(log, sizeof(log), "%s/ringd.log", dir);
	rd_daemon_init(d, dir, log);
	rd_daemon_arg(d, "--log-level");
	rd_daemon_arg(d, "debug");
	return 0;
}

int g_ringd_start(struct rd_daemon *d)
{
	int rc = rd_daemon_start(d);

	return rc < 0 ? rc : rd_daemon_wait_locked(d, 10 * RD_NS_PER_S);
}

void g_ringd_fini(struct rd_daemon *d, bool print_log)
{
	int rc = rd_daemon_stop_clean(d);

	if (rc != 0)
		printf("# ringd did not stop cleanly (%d)\n", rc);
	if (print_log)
		rd_log_print(d);
	if (d->data_dir[0])
		(void)t_tmpdir_remove(d->data_dir);
	d->data_dir[0] = '\0';
}

/* ---- the topic of a test ---- */

int g_topic_setup(struct g_topics *ts, const struct rd_daemon *d, const char *tag,
		  const struct ring_topic_config *cfg, char *name, struct ring_topic **ret_topic,
		  struct ring_producer **ret_prod)
{
	int rc;

	ts->data_dir = d ? d->data_dir : NULL;
	t_unique_name(name, RING_TOPIC_NAME_MAX + 1, tag);
	rc = ring_topic_create(ts->data_dir, name, cfg, ret_topic);
	if (rc < 0)
		return rc;
	/* g_topic_teardown() unlinks it, and its ".dlq". */
	if (ts->count < G_TOPICS_MAX)
		snprintf(ts->name[ts->count++], sizeof(ts->name[0]), "%s", name);
	if (d && !rd_wait_served(d, *ret_topic, 10 * RD_NS_PER_S))
		return -ETIMEDOUT;
	return ring_producer_open(*ret_topic, ret_prod);
}

void g_topic_teardown(struct g_topics *ts, struct ring_topic **topic, struct ring_producer **prod)
{
	char dlq[RING_TOPIC_NAME_MAX + 8];

	*prod = ring_producer_close(*prod);
	*topic = ring_topic_close(*topic);
	for (unsigned i = 0; i < ts->count; i++) {
		(void)ring_topic_unlink(ts->data_dir, ts->name[i]);
		snprintf(dlq, sizeof(dlq), "%s.dlq", ts->name[i]);
		(void)ring_topic_unlink(ts->data_dir, dlq);
	}
	ts->count = 0;
}

void g_kill_children(pid_t *pid, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (pid[i] <= 0)
			continue;
		(void)kill(pid[i], SIGKILL);
		(void)t_wait_child(pid[i], 10 * RD_NS_PER_S, NULL);
		pid[i] = 0;
	}
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
