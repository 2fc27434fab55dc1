/* SPDX-License-Identifier: MIT */
/*
 * topics.c - see topics.h.
 *
 * Attaching a topic is its startup recovery: the log is recovered first
 * (seglog_open() truncates a torn tail), then its end E is reconciled with
 * the ring:
 *   - no ring (the host rebooted): a new ring is created starting at E;
 *   - a ring (ringd itself crashed): the ring still holds everything not
 *     yet persisted, since producers are gated by `persisted`; draining
 *     resumes at E, which is >= the ring's `persisted` because ringd
 *     publishes `persisted` only after the write. No loss, no duplicate.
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_side.h"
#include "internal.h"
#include "log.h"
#include "segment_reader.h"
#include "topic_config.h"
#include "topics.h"

static void topic_free(struct dtopic *t, uint64_t self)
{
	if (t->ring) {
		ringi_daemon_detach(t->ring, self);
		t->ring = ring_topic_close(t->ring);
	}
	if (t->log)
		seglog_close(t->log);
	offsets_close(t->offsets);
	free(t);
}

/* Reconcile a surviving ring with the recovered log end @end. */
static int ring_resume(struct dtopic *t, uint64_t end)
{
	struct ring_control *ctl = t->ring->ctl;
	uint64_t persisted = ring_load_acquire(&ctl->persisted.pos);
	uint64_t tail = ring_load_acquire(&ctl->tail.pos);

	if (end > tail) {
		log_error("topic %s: the log ends at %llu but its ring only reached %llu: the "
			  "ring is not this log's; not serving it (remove the ring with "
			  "'ringctl delete' or restore the log)",
			  t->name, (unsigned long long)end, (unsigned long long)tail);
		return -EBADMSG;
	}
	if (end < persisted) {
		/* ringd publishes `persisted` only after its writes completed,
		 * and a crash of ringd alone loses nothing written: the files
		 * lost data (damage, or an operator). The ring may already be
		 * reusing those bytes, so they cannot be rewritten from it. */
		log_error("topic %s: the log ends at %llu but the ring says %llu was persisted: "
			  "%llu bytes are missing from the segment files; not serving it (see "
			  "'ringctl verify' and 'ringctl recover')",
			  t->name, (unsigned long long)end, (unsigned long long)persisted,
			  (unsigned long long)(persisted - end));
		return -EBADMSG;
	}
	if (end > persisted)
		ringi_publish_persisted(t->ring, end);
	log_info("topic %s: resuming from the surviving ring at position %llu (ring tail %llu)",
		 t->name, (unsigned long long)end, (unsigned long long)tail);
	return 0;
}

/*
 * ring_topic_create() writes DIR/<topic>/topic.conf first and creates the
 * ring right after. A discovery pass in between finds a topic without a
 * ring, which is also what a reboot leaves; creating the ring then (as
 * after a reboot) would make the creator's own create fail with -EEXIST
 * and leave a half-made topic. So a topic that no ringd has ever written
 * (no segment file) and whose settings are younger than this is left to
 * its creator; past it the creator is taken for dead and ringd creates the
 * ring, as it does after a reboot.
 */
#define CREATE_GRACE_NS 2000000000u

static bool topic_being_created(const char *dir)
{
	char path[PATH_MAX];
	uint64_t *bases = NULL, mtime, now;
	size_t count = 0;
	struct stat st;

	if ((size_t)snprintf(path, sizeof(path), "%s/topic.conf", dir) >= sizeof(path) ||
	    stat(path, &st) < 0)
		return false;
	mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
	now = ringi_realtime_ns();
	/* A clock stepped backwards makes the file look young: that only
	 * delays serving it by the grace. */
	if (now > mtime && now - mtime >= CREATE_GRACE_NS)
		return false;
	if (ringi_seg_list(dir, &bases, &count) < 0)
		return false;
	free(bases);
	return count == 0;
}

static int topic_attach(struct topic_set *set, const char *name, struct dtopic **ret)
{
	struct seglog_recovery rec = { 0 };
	struct dtopic *t;
	bool created = false, have_ring;
	uint64_t end;
	int rc;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* The name was validated by the caller: at most RING_TOPIC_NAME_MAX. */
	memcpy(t->name, name, strnlen(name, RING_TOPIC_NAME_MAX));
	snprintf(t->dir, sizeof(t->dir), "%s/%s", set->data_dir, t->name);
	rc = ringi_config_read(t->dir, &t->config);
	if (rc < 0) {
		log_errno(LOG_LVL_ERROR, rc, "topic %s: reading %s/topic.conf", name, t->dir);
		goto fail;
	}
	rc = ring_topic_open(set->data_dir, name, &t->ring);
	if (rc == -ENOENT && topic_being_created(t->dir)) {
		rc = -EAGAIN;	/* quietly, at the next discovery pass */
		goto fail;
	}
	if (rc < 0 && rc != -ENOENT) {
		log_errno(LOG_LVL_ERROR, rc, "topic %s: opening its ring", name);
		goto fail;
	}
	have_ring = rc == 0;
	rc = seglog_open(t->dir, &t->config, &set->seg_options, &t->log, &rec);
	if (rc < 0) {
		log_errno(LOG_LVL_ERROR, rc, "topic %s: opening its segment files", name);
		goto fail;
	}
	if (rec.cut_bytes)
		log_warn("topic %s: recovery cut %llu bytes of torn or damaged log at position "
			 "%llu (%s)",
			 name, (unsigned long long)rec.cut_bytes, (unsigned long long)rec.cut_pos,
			 rec.reason);
	end = seglog_end(t->log);

	if (have_ring) {
		rc = ring_resume(t, end);
	} else {
		rc = ringi_topic_create_ring(set->data_dir, name, &t->config, end, &t->ring);
		created = rc == 0;
		if (rc == 0)
			log_info("topic %s: created its ring (%llu bytes) at position %llu", name,
				 (unsigned long long)t->config.capacity_bytes,
				 (unsigned long long)end);
		else
			log_errno(LOG_LVL_ERROR, rc, "topic %s: creating its ring", name);
	}
	if (rc < 0)
		goto fail;
	if (ringi_is_persistent(t->ring) == false) {
		log_error("topic %s: its ring is ephemeral but it has a directory; not serving it",
			  name);
		rc = -EINVAL;
		goto fail;
	}
	/* Groups live in the ring while the host is up; after a reboot they
	 * come back from the offsets log. Before attaching: consumers wait
	 * for ringd's attach before creating a group in a ring ringd
	 * recreated (consumer.c), so that none is created afresh while the
	 * log is being replayed. */
	rc = offsets_open(t->dir, t->ring, created, end, &t->offsets);
	if (rc < 0) {
		log_errno(LOG_LVL_ERROR, rc, "topic %s: opening its offsets log", name);
		goto fail;
	}
	rc = ringi_daemon_attach(t->ring, set->self);
	if (rc < 0) {
		log_errno(LOG_LVL_ERROR, rc, "topic %s: another ringd serves its ring", name);
		goto fail;
	}
	/* What a previous ringd wrote may still be only in the page cache:
	 * one sync makes the whole recovered log durable. */
	rc = seglog_sync(t->log, &t->durable);
	if (rc < 0) {
		log_errno(LOG_LVL_ERROR, rc, "topic %s: syncing its log", name);
		goto fail;
	}
	t->drained = end;
	t->persisted = end;
	if (t->durable > ring_load_relaxed(&t->ring->ctl->durable.pos))
		ringi_publish_durable(t->ring, t->durable);
	t->last_sync_ns = ringi_now_ns();
	*ret = t;
	return 0;
fail:
	topic_free(t, set->self);
	return rc;
}

static struct dtopic *find(struct topic_set *set, const char *name)
{
	for (unsigned i = 0; i < set->count; i++)
		if (!strcmp(set->topics[i]->name, name))
			return set->topics[i];
	return NULL;
}

static bool is_topic_dir(const char *data_dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (ringi_topic_name_check(name) < 0)
		return false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/topic.conf", data_dir, name) >=
	    sizeof(path))
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Is @name this worker's? Each NUMA node has a worker; topics not bound,
 * or bound to a node that does not exist, belong to node 0's. */
static bool is_mine(const struct topic_set *set, const char *name)
{
	struct ring_topic_config c;
	char dir[PATH_MAX];
	int node;

	if (set->nodes <= 1)
		return true;
	snprintf(dir, sizeof(dir), "%s/%s", set->data_dir, name);
	if (ringi_config_read(dir, &c) < 0)
		return set->node == 0;	/* the attach will report it */
	node = (c.flags & RING_TOPIC_NUMA) && c.numa_node < set->nodes ? c.numa_node : 0;
	return node == set->node;
}

/* Topics that failed to attach are retried at most this often. */
#define ATTACH_RETRY_NS 5000000000u

void topics_discover(struct topic_set *set)
{
	struct dirent *e;
	DIR *d = opendir(set->data_dir);

	if (!d)
		return;
	for (unsigned i = 0; i < set->count; i++)
		set->topics[i]->seen = false;
	while ((e = readdir(d))) {
		struct dtopic *t = find(set, e->d_name);
		uint64_t now = ringi_now_ns();
		unsigned slot = 64;
		int rc;

		if (t) {
			t->seen = true;
			continue;
		}
		if (!is_topic_dir(set->data_dir, e->d_name) || !is_mine(set, e->d_name))
			continue;
		for (unsigned i = 0; i < 64; i++)
			if (!strcmp(set->failed[i].name, e->d_name))
				slot = i;
		if (slot < 64 && now - set->failed[slot].at_ns < ATTACH_RETRY_NS)
			continue;
		if (set->count == set->cap) {
			unsigned cap = set->cap ? set->cap * 2 : 16;
			struct dtopic **n = realloc(set->topics, cap * sizeof(*n));

			if (!n)
				break;
			set->topics = n;
			set->cap = cap;
		}
		rc = topic_attach(set, e->d_name, &t);
		if (rc == 0) {
			t->seen = true;
			set->topics[set->count++] = t;
			log_info("serving topic %s", t->name);
		} else if (rc != -EAGAIN) {
			if (slot == 64)
				slot = (unsigned)(now % 64);
			/* The name was validated: at most RING_TOPIC_NAME_MAX. */
			size_t len = strnlen(e->d_name, RING_TOPIC_NAME_MAX);

			memcpy(set->failed[slot].name, e->d_name, len);
			set->failed[slot].name[len] = '\0';
			set->failed[slot].at_ns = now;
		}
	}
	(void)closedir(d);
	for (unsigned i = 0; i < set->count;) {
		struct dtopic *t = set->topics[i];

		if (t->seen) {
			i++;
			continue;
		}
		log_info("topic %s: its directory is gone; no longer serving it", t->name);
		topic_free(t, set->self);
		set->topics[i] = set->topics[--set->count];
	}
}

void topics_reload(struct topic_set *set)
{
	for (unsigned i = 0; i < set->count; i++) {
		struct dtopic *t = set->topics[i];
		struct ring_topic_config c;
		int rc = ringi_config_read(t->dir, &c);

		if (rc < 0) {
			log_errno(LOG_LVL_WARN, rc, "topic %s: keeping its old settings", t->name);
			continue;
		}
		t->config = c;
	}
	log_info("settings reloaded for %u topics", set->count);
}

void topics_close_all(struct topic_set *set)
{
	for (unsigned i = 0; i < set->count; i++)
		topic_free(set->topics[i], set->self);
	free(set->topics);
	set->topics = NULL;
	set->count = set->cap = 0;
}
