/* SPDX-License-Identifier: MIT */
/*
 * topic.c - create, open, close, unlink and stat a topic.
 *
 * Creation fills the whole control area and only then publishes it (O1);
 * openers (shm.c) wait for that. A persistent topic first gets its
 * directory and settings file, so that ringd, which watches the data
 * directory, never sees a ring without its settings.
 */
#include <dirent.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "topic_config.h"

static int topic_dir(const char *data_dir, const char *name, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s", data_dir, name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int check_data_dir(const char *data_dir)
{
	struct stat st;

	if (stat(data_dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* A topic directory is searchable by whoever may read its files. */
static mode_t dir_mode(unsigned file_mode)
{
	return 0700 | ((file_mode & 0060) ? 0050 : 0) | ((file_mode & 0006) ? 0005 : 0);
}

static void set_data_dir(struct ring_topic *t, const char *data_dir)
{
	char canon[PATH_MAX];

	t->data_dir[0] = '\0';
	if (data_dir && realpath(data_dir, canon))
		snprintf(t->data_dir, sizeof(t->data_dir), "%s", canon);
}

static unsigned capacity_shift(uint64_t cap)
{
	return (unsigned)__builtin_ctzll(cap);
}

static void handle_init(struct ring_topic *t)
{
	t->mask = t->capacity - 1;
	t->capacity_shift = capacity_shift(t->capacity);
	t->max_span = t->capacity / 4;
}

/* Fill a freshly zeroed control area and publish it. */
static void control_init(struct ring_topic *t, const struct ring_topic_config *c,
			 const char *name, uint64_t base_pos)
{
	struct ring_control *ctl = t->ctl;
	struct ring_shm_header *h = &ctl->hdr;

	h->magic = RING_MAGIC;
	h->layout_version = RING_LAYOUT_VERSION;
	h->layout_signature = RING_LAYOUT_SIGNATURE;
	h->capacity_bytes = c->capacity_bytes;
	h->max_record_bytes = c->max_record_bytes;
	h->control_bytes = RING_CONTROL_BYTES;
	h->created_ns = ringi_realtime_ns();
	h->claim_timeout_ns = c->claim_timeout_ns;
	h->base_pos = base_pos;
	h->flags = c->flags;
	h->numa_node = c->numa_node;
	if (name)
		snprintf(h->name, sizeof(h->name), "%s", name);

	/* Nobody else can see these yet (ready is 0): relaxed is enough,
	 * and O1 below publishes them all. */
	ring_store_relaxed(&ctl->tail.pos, base_pos);
	ring_store_relaxed(&ctl->limit.pos, base_pos + c->capacity_bytes);
	ring_store_relaxed(&ctl->oldest.pos, base_pos);
	ring_store_relaxed(&ctl->frontier.pos, base_pos);
	ring_store_relaxed(&ctl->persisted.pos, base_pos);
	ring_store_relaxed(&ctl->durable.pos, base_pos);
	ring_store_relaxed(&ctl->maint.stall_pos, RING_POS_NONE);
	for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++)
		ring_store_relaxed(&ctl->producers[i].claim_pos, RING_POS_NONE);

	/* O1 (release) pairs with O2 in shm.c: openers see all of the above. */
	ring_store_release_u32(&h->ready, 1);
}

int ringi_topic_create_ring(const char *data_dir, const char *name,
			    const struct ring_topic_config *c, uint64_t base_pos,
			    struct ring_topic **ret_topic)
{
	char shm_name[256];
	struct ring_topic *t;
	int rc;

	if (!(c->flags & RING_TOPIC_ANON)) {
		rc = ringi_shm_name(data_dir, name, shm_name, sizeof(shm_name));
		if (rc < 0)
			return rc;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = ringi_map_create(shm_name, c->capacity_bytes, c->flags, c->file_mode, c->numa_node,
			      t);
	if (rc < 0) {
		free(t);
		return rc;
	}
	t->capacity = c->capacity_bytes;
	t->max_record = c->max_record_bytes;
	t->flags = c->flags;
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "");
	if (!(c->flags & RING_TOPIC_ANON))
		set_data_dir(t, data_dir);
	handle_init(t);
	control_init(t, c, name, base_pos);
	*ret_topic = t;
	return 0;
}

int ring_topic_create(const char *data_dir, const char *name,
		      const struct ring_topic_config *config, struct ring_topic **ret_topic)
{
	struct ring_topic_config c;
	char dir[4096];
	bool made_dir = false;
	int rc;

	ring_validate_or_return(ret_topic, -EINVAL);
	rc = ringi_config_resolve(config, &c);
	if (rc < 0)
		return rc;
	if (!(c.flags & RING_TOPIC_ANON) || name) {
		rc = ringi_topic_name_check(name);
		if (rc < 0)
			return rc;
	}
	if (!(c.flags & RING_TOPIC_EPHEMERAL)) {
		ring_validate_or_return(data_dir, -EINVAL);
		rc = check_data_dir(data_dir);
		if (rc < 0)
			return rc;
		rc = topic_dir(data_dir, name, dir, sizeof(dir));
		if (rc < 0)
			return rc;
		if (mkdir(dir, dir_mode(c.file_mode)) < 0)
			return -errno;
		made_dir = true;
		rc = ringi_config_write(dir, &c);
		if (rc < 0)
			goto fail;
	} else if (data_dir && !(c.flags & RING_TOPIC_ANON)) {
		rc = check_data_dir(data_dir);
		if (rc < 0)
			return rc;
	}
	rc = ringi_topic_create_ring(data_dir, name, &c, 0, ret_topic);
	if (rc == 0)
		return 0;
fail:
	if (made_dir) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/topic.conf", dir);
		(void)unlink(path);
		(void)rmdir(dir);
	}
	return rc;
}

int ring_topic_open(const char *data_dir, const char *name, struct ring_topic **ret_topic)
{
	char shm_name[256];
	struct ring_topic *t;
	int rc;

	ring_validate_or_return(ret_topic, -EINVAL);
	rc = ringi_shm_name(data_dir, name, shm_name, sizeof(shm_name));
	if (rc < 0)
		return rc;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = ringi_map_open(shm_name, t);
	if (rc < 0) {
		free(t);
		return rc;
	}
	handle_init(t);
	set_data_dir(t, data_dir);
	*ret_topic = t;
	return 0;
}

struct ring_topic *ring_topic_close(struct ring_topic *t)
{
	if (!t)
		return NULL;
	ringi_unmap(t);
	free(t);
	return NULL;
}

int ring_topic_unlink(const char *data_dir, const char *name)
{
	char shm_name[256];
	int rc;

	rc = ringi_shm_name(data_dir, name, shm_name, sizeof(shm_name));
	if (rc < 0)
		return rc;
	return shm_unlink(shm_name) < 0 ? -errno : 0;
}

/* The first position at or after the maintainer's frontier that is not a
 * committed record or padding: a read-only scan, bounded by the ring. */
static uint64_t scan_frontier_readonly(const struct ring_topic *t, uint64_t from, uint64_t tail)
{
	uint64_t pos = from;

	while (pos < tail && pos - from < t->capacity) {
		/* As an ordinary reader's C1: the maintainer may be reusing
		 * the bytes of a stale frontier; the lap check stops there. */
		uint64_t w = ringi_seqlock_word(t, pos);
		uint64_t span;

		if (ring_word_lap(w) != ring_lap_of(pos, t->capacity_shift))
			break;
		span = ring_word_span(w, t->max_record, t->max_span);
		if (!span)
			break;
		pos += span;
	}
	return pos;
}

int ring_topic_stat(struct ring_topic *t, struct ring_topic_stat *ret)
{
	struct ring_control *ctl;
	struct ring_topic_stat s;
	uint64_t daemon, frontier;

	ring_validate_or_return(t && ret, -EINVAL);
	ctl = t->ctl;
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", t->name);
	s.flags = t->flags;
	s.capacity_bytes = t->capacity;
	s.max_record_bytes = t->max_record;
	s.created_ns = ctl->hdr.created_ns;
	s.claim_timeout_ns = ctl->hdr.claim_timeout_ns;
	s.numa_node = ctl->hdr.numa_node;

	/* A snapshot for people: every value below is a statistic, read
	 * with acquire only where a later read depends on it. */
	s.tail_pos = ring_load_acquire(&ctl->tail.pos);
	s.persisted_pos = ring_load_relaxed(&ctl->persisted.pos);
	s.durable_pos = ring_load_relaxed(&ctl->durable.pos);
	s.oldest_pos = ring_load_relaxed(&ctl->oldest.pos);
	s.limit_pos = ring_load_relaxed(&ctl->limit.pos);
	frontier = ring_load_relaxed(&ctl->frontier.pos);
	if (frontier < s.oldest_pos || frontier > s.tail_pos)
		frontier = s.oldest_pos;
	s.frontier_pos = scan_frontier_readonly(t, frontier, s.tail_pos);
	s.data_waiters = ring_load_relaxed_u32(&ctl->data_wait.waiters);
	s.space_waiters = ring_load_relaxed_u32(&ctl->space_wait.waiters);
	s.repaired_claims = ring_load_relaxed(&ctl->maint.repaired_claims);

	for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++) {
		uint64_t owner = ring_load_relaxed(&ctl->producers[i].owner);

		if (!owner)
			continue;
		if (s.producers < RING_STAT_MAX_PRODUCERS)
			s.producer_pids[s.producers] = ringi_owner_pid(owner);
		s.producers++;
	}
	for (unsigned i = 0; i < RING_MAX_GATING_READERS; i++)
		if (ring_load_relaxed(&ctl->gating[i].owner))
			s.gating_readers++;

	/* The claim holding the frontier back, if maintenance has seen it
	 * stalled for at least a millisecond. */
	if (s.frontier_pos < s.tail_pos &&
	    ring_load_relaxed(&ctl->maint.stall_pos) == s.frontier_pos) {
		uint64_t since = ring_load_relaxed(&ctl->maint.stall_since_ns);
		uint64_t now = ringi_now_ns();
		uint64_t w = ringi_seqlock_word(t, s.frontier_pos);
		unsigned slot = ring_word_slot(w);

		if (now > since && now - since >= 1000000u) {
			s.stuck_pos = s.frontier_pos;
			s.stuck_ns = now - since;
			if (w != 0 && slot < RING_MAX_PRODUCERS)
				s.stuck_pid = ringi_owner_pid(
					ring_load_relaxed(&ctl->producers[slot].owner));
			for (unsigned i = 0; w == 0 && i < RING_MAX_PRODUCERS; i++)
				if (ring_load_relaxed(&ctl->producers[i].claim_pos) ==
				    s.frontier_pos)
					s.stuck_pid = ringi_owner_pid(
						ring_load_relaxed(&ctl->producers[i].owner));
		}
	}

	/* Or a claim that stalled there, was repaired, and whose owner is
	 * still alive: the ring does not reuse its bytes until the owner
	 * lets go (maintain.c, late_writer_gate()), so it is what a full
	 * ring waits for. */
	if (!s.stuck_pid) {
		uint64_t stall = ring_load_relaxed(&ctl->maint.stall_pos);

		for (unsigned i = 0; stall < s.frontier_pos && i < RING_MAX_PRODUCERS; i++) {
			uint64_t owner = ring_load_relaxed(&ctl->producers[i].owner);
			uint64_t w;

			if (!owner || ring_load_relaxed(&ctl->producers[i].claim_pos) != stall)
				continue;
			w = ringi_seqlock_word(t, stall);
			if (ring_word_state(w) != RING_STATE_SKIPPED ||
			    ring_word_lap(w) != ring_lap_of(stall, t->capacity_shift) ||
			    !ringi_owner_alive(owner))
				continue;
			s.stuck_pid = ringi_owner_pid(owner);
			s.stuck_pos = stall;
			s.stuck_ns = ringi_now_ns() - ring_load_relaxed(&ctl->maint.stall_since_ns);
			break;
		}
	}

	daemon = ring_load_relaxed(&ctl->daemon.owner);
	if (daemon) {
		s.daemon_pid = ringi_owner_pid(daemon);
		s.daemon_alive = ringi_owner_alive(daemon);
		s.daemon_beat_ns = ring_load_relaxed(&ctl->daemon.beat_ns);
	}
	*ret = s;
	return 0;
}
