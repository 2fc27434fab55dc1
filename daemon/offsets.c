/* SPDX-License-Identifier: MIT */
/*
 * offsets.c - see offsets.h.
 *
 * Entry (little-endian, 8-byte aligned):
 *   u32 magic "ROFF"   u32 bytes (whole entry)   u32 crc32c   u32 mode
 *   u64 committed      u64 time_ns               u8 name_len  name  pad
 * The CRC covers everything after itself. Replay stops at the first entry
 * that is short, has a bad magic, size or CRC: that is the torn tail, and
 * the file is truncated there. An append that fails half-way is cut off
 * at once, so a later append never lands behind a torn entry.
 *
 * The group table lives in shared memory that any process of the topic
 * may write: every name and mode is copied out and checked before it is
 * logged, so a buggy member cannot make ringd write an entry that a later
 * replay would refuse.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "group.h"
#include "log.h"
#include "offsets.h"

#define OFFSETS_MAGIC 0x46464f52u /* "ROFF" */
#define ENTRY_FIXED 33u
#define ENTRY_MAX 128u

struct offsets {
	char dir[4096];
	char path[4200];
	int fd;
	uint64_t size;	     /* bytes of whole entries in the file */
	uint64_t compact_at; /* compact when size passes this */
	bool dirty;	     /* appended since the last sync */
	uint64_t last_sync_ns;
	/* What the log says of each slot of the group table. */
	bool logged[RING_MAX_GROUPS];
	uint64_t logged_pos[RING_MAX_GROUPS];
};

struct entry {
	uint32_t mode;
	uint64_t committed;
	char name[RING_GROUP_NAME_MAX + 1];
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* the build targets little-endian hosts */
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static size_t encode(uint8_t *buf, const struct entry *e)
{
	size_t len = strnlen(e->name, RING_GROUP_NAME_MAX);
	size_t bytes = (ENTRY_FIXED + len + 7) & ~(size_t)7;

	memset(buf, 0, bytes);
	put32(buf, OFFSETS_MAGIC);
	put32(buf + 4, (uint32_t)bytes);
	put32(buf + 12, e->mode);
	put64(buf + 16, e->committed);
	put64(buf + 24, ringi_realtime_ns());
	buf[32] = (uint8_t)len;
	memcpy(buf + 33, e->name, len);
	put32(buf + 8, ringi_crc32c(0, buf + 12, bytes - 12));
	return bytes;
}

/* Decode one entry at @p with @avail bytes: its size, or 0 if torn. */
static size_t decode(const uint8_t *p, size_t avail, struct entry *e)
{
	uint32_t bytes;
	size_t len;

	if (avail < ENTRY_FIXED || get32(p) != OFFSETS_MAGIC)
		return 0;
	bytes = get32(p + 4);
	if (bytes < ENTRY_FIXED || bytes > ENTRY_MAX || bytes % 8 || bytes > avail)
		return 0;
	if (ringi_crc32c(0, p + 12, bytes - 12) != get32(p + 8))
		return 0;
	len = p[32];
	if (len == 0 || len > RING_GROUP_NAME_MAX || ENTRY_FIXED + len > bytes)
		return 0;
	e->mode = get32(p + 12);
	e->committed = get64(p + 16);
	memcpy(e->name, p + 33, len);
	e->name[len] = '\0';
	return bytes;
}

static bool entry_valid(const struct entry *e)
{
	return e->mode <= RING_GROUP_SHARED && e->committed % 8 == 0 &&
	       ringi_group_name_check(e->name) == 0;
}

/* Slot @i of @ring as an entry, copied out of shared memory and checked:
 * false if the slot holds no group, or one that makes no sense. */
static bool slot_entry(struct ring_topic *ring, unsigned i, struct entry *e)
{
	struct ring_group_slot *g = &ring->ctl->groups[i];

	/* G4 (acquire): name and mode are complete once ACTIVE is seen. */
	if ((ring_load_acquire(&g->state) & 0xff) != RING_GROUP_ACTIVE)
		return false;
	memcpy(e->name, g->name, RING_GROUP_NAME_MAX);
	e->name[RING_GROUP_NAME_MAX] = '\0';
	e->mode = g->mode;
	if (e->mode == RING_GROUP_SHARED)
		ringi_group_raise_committed(g, ringi_group_watermark(g));
	/* G5 (acquire) pairs with the member's commit. */
	e->committed = ring_load_acquire(&g->committed);
	return entry_valid(e);
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Append whole entries; on failure cut the file back to its last whole
 * entry, so the next append does not follow a torn one. */
static int append(struct offsets *o, const uint8_t *buf, size_t len)
{
	int rc = pwrite_all(o->fd, buf, len, o->size);

	if (rc < 0) {
		(void)ftruncate(o->fd, (off_t)o->size);
		return rc;
	}
	o->size += len;
	o->dirty = true;
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	(void)close(fd);
	return rc;
}

/* Rewrite the log with one entry per group of @ring (temporary file,
 * fsync, rename, fsync of the directory), so it stays small however long
 * ringd runs. A crash at any point leaves the old log or the new one. */
static int compact(struct offsets *o, struct ring_topic *ring)
{
	static const char suffix[] = ".tmp";
	uint8_t buf[ENTRY_MAX * RING_MAX_GROUPS];
	bool logged[RING_MAX_GROUPS] = { false };
	uint64_t pos[RING_MAX_GROUPS];
	char tmp[sizeof(o->path) + sizeof(suffix)];
	size_t used = 0;
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s%s", o->path, suffix);
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		struct entry e;

		if (!slot_entry(ring, i, &e))
			continue;
		used += encode(buf + used, &e);
		logged[i] = true;
		pos[i] = e.committed;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = pwrite_all(fd, buf, used, 0);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, o->path) < 0)
		rc = -errno;
	if (rc < 0) {
		(void)close(fd);
		(void)unlink(tmp);
		return rc;
	}
	/* The rename is durable only once the directory is. */
	rc = fsync_dir(o->dir);
	if (rc < 0)
		log_errno(LOG_LVL_WARN, rc, "%s: fsync of the directory after compaction", o->dir);
	(void)close(o->fd);
	o->fd = fd;
	o->size = used;
	o->dirty = false;
	o->last_sync_ns = ringi_now_ns();
	memcpy(o->logged, logged, sizeof(logged));
	memcpy(o->logged_pos, pos, sizeof(pos));
	return 0;
}

/* Read the whole log and keep each group's last entry in @last (at most
 * RING_MAX_GROUPS names): the size of the valid prefix, or -errno. */
static int64_t replay(struct offsets *o, struct entry *last, unsigned *ret_count)
{
	uint8_t *data = NULL;
	unsigned n = 0, skipped = 0;
	struct stat st;
	size_t off = 0;

	if (fstat(o->fd, &st) < 0)
		return -errno;
	if (st.st_size > 0) {
		data = malloc((size_t)st.st_size);
		if (!data)
			return -ENOMEM;
		if (pread(o->fd, data, (size_t)st.st_size, 0) != st.st_size) {
			free(data);
			return -EIO;
		}
	}
	while (off < (size_t)st.st_size) {
		struct entry e;
		size_t len = decode(data + off, (size_t)st.st_size - off, &e);
		unsigned i;

		if (!len)
			break;
		off += len;
		if (!entry_valid(&e)) {
			skipped++; /* whole and checksummed, but nonsense */
			continue;
		}
		for (i = 0; i < n && strcmp(last[i].name, e.name); i++)
			;
		if (i == n && n == RING_MAX_GROUPS) {
			skipped++;
			continue;
		}
		n += i == n;
		last[i] = e;
	}
	free(data);
	if (skipped)
		log_warn("%s: ignored %u entries with an invalid group name or mode, or beyond "
			 "%u groups",
			 o->path, skipped, RING_MAX_GROUPS);
	if (off < (size_t)st.st_size) {
		log_warn("%s: dropped a torn or damaged tail of %llu bytes at offset %zu", o->path,
			 (unsigned long long)((size_t)st.st_size - off), off);
		if (ftruncate(o->fd, (off_t)off) < 0)
			return -errno;
	}
	*ret_count = n;
	return (int64_t)off;
}

int offsets_open(const char *dir, struct ring_topic *ring, int restore, uint64_t log_end,
		 struct offsets **ret)
{
	struct entry *last;
	unsigned nlast = 0;
	struct offsets *o;
	int64_t size;
	int rc;

	o = calloc(1, sizeof(*o));
	last = calloc(RING_MAX_GROUPS, sizeof(*last));
	if (!o || !last) {
		free(o);
		free(last);
		return -ENOMEM;
	}
	snprintf(o->dir, sizeof(o->dir), "%s", dir);
	snprintf(o->path, sizeof(o->path), "%s/offsets.log", dir);
	o->fd = open(o->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (o->fd < 0) {
		rc = -errno;
		goto fail;
	}
	size = replay(o, last, &nlast);
	if (size < 0) {
		rc = (int)size;
		goto fail;
	}
	o->size = (uint64_t)size;
	o->compact_at = OFFSETS_COMPACT_BYTES;
	o->last_sync_ns = ringi_now_ns();

	for (unsigned i = 0; restore && i < nlast; i++) {
		struct ring_group_slot *g;
		uint64_t pos = last[i].committed > log_end ? log_end : last[i].committed;

		rc = ringi_group_find(ring, last[i].name, true, last[i].mode, pos, &g);
		if (rc < 0) {
			log_errno(LOG_LVL_ERROR, rc, "%s: restoring group %s", o->path,
				  last[i].name);
			continue;
		}
		log_info("%s: group %s restored at position %llu", o->path, last[i].name,
			 (unsigned long long)pos);
	}
	/* What the log holds for each group now in the table; anything else
	 * (a position capped above, commits made while no ringd ran, groups
	 * created meanwhile) goes in with the next collect. */
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		struct entry e;

		if (!slot_entry(ring, i, &e))
			continue;
		for (unsigned k = 0; k < nlast; k++) {
			if (!strcmp(last[k].name, e.name)) {
				o->logged[i] = true;
				o->logged_pos[i] = last[k].committed;
			}
		}
	}
	free(last);
	*ret = o;
	return 0;
fail:
	free(last);
	if (o->fd >= 0)
		(void)close(o->fd);
	free(o);
	return rc;
}

int offsets_collect(struct offsets *o, struct ring_topic *ring)
{
	uint8_t buf[ENTRY_MAX * RING_MAX_GROUPS];
	uint64_t pos[RING_MAX_GROUPS];
	bool changed[RING_MAX_GROUPS] = { false };
	size_t used = 0;
	int n = 0, rc;

	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		struct entry e;

		/* By position: whatever stored a new committed position,
		 * and whenever it died afterwards, the change is logged. */
		if (!slot_entry(ring, i, &e) || (o->logged[i] && o->logged_pos[i] == e.committed))
			continue;
		used += encode(buf + used, &e);
		changed[i] = true;
		pos[i] = e.committed;
		n++;
	}
	if (used) {
		rc = append(o, buf, used);
		if (rc < 0)
			return rc; /* nothing marked logged: tried again next time */
		for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
			if (changed[i]) {
				o->logged[i] = true;
				o->logged_pos[i] = pos[i];
			}
		}
	}
	if (o->size > o->compact_at) {
		rc = compact(o, ring);
		if (rc < 0) {
			log_errno(LOG_LVL_WARN, rc, "%s: compaction failed; still appending",
				  o->path);
			o->compact_at = o->size + OFFSETS_COMPACT_BYTES;
		} else {
			o->compact_at = OFFSETS_COMPACT_BYTES;
		}
	}
	return n;
}

bool offsets_sync_due(const struct offsets *o, const struct ring_topic_config *cfg, uint64_t now,
		      bool final)
{
	if (!o || !o->dirty)
		return false;
	if (final)
		return true;
	switch (cfg->fsync_policy) {
	case RING_FSYNC_ALWAYS:
		return true;
	case RING_FSYNC_INTERVAL:
		return now - o->last_sync_ns >= cfg->fsync_interval_ns;
	default:
		return false;
	}
}

int offsets_sync(struct offsets *o)
{
	if (!o || !o->dirty)
		return 0;
	if (fdatasync(o->fd) < 0)
		return -errno;
	o->dirty = false;
	o->last_sync_ns = ringi_now_ns();
	return 0;
}

void offsets_close(struct offsets *o)
{
	if (!o)
		return;
	(void)close(o->fd);
	free(o);
}
