/* SPDX-License-Identifier: MIT */
/*
 * offsets.c - see offsets.h.
 *
 * Entry (little-endian, 8-byte aligned):
 *   u32 magic "ROFF"   u32 bytes (whole entry)   u32 crc32c   u32 mode
 *   u64 committed      u64 time_ns               u8 name_len  name  pad
 * The CRC covers everything after itself. Replay stops at the first entry
 * that is short, has a bad magic, size or CRC: that is the torn tail, and
 * the file is truncated there.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "group.h"
#include "log.h"
#include "offsets.h"

#define OFFSETS_MAGIC 0x46464f52u	/* "ROFF" */
#define ENTRY_FIXED 33u
#define ENTRY_MAX 128u
#define COMPACT_BYTES (1u << 20)

struct offsets {
	char path[4096];
	int fd;
	uint64_t size;
	int dirty;
	uint64_t seen_seq[RING_MAX_GROUPS];	/* commit_seq last logged per slot */
	uint64_t seen_pos[RING_MAX_GROUPS];
};

struct entry {
	uint32_t mode;
	uint64_t committed;
	char name[RING_GROUP_NAME_MAX + 1];
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);	/* the build targets little-endian hosts */
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

static size_t encode(uint8_t *buf, const char *name, uint32_t mode, uint64_t committed)
{
	size_t len = strnlen(name, RING_GROUP_NAME_MAX);
	size_t bytes = (ENTRY_FIXED + len + 7) & ~(size_t)7;

	memset(buf, 0, bytes);
	put32(buf, OFFSETS_MAGIC);
	put32(buf + 4, (uint32_t)bytes);
	put32(buf + 12, mode);
	put64(buf + 16, committed);
	put64(buf + 24, ringi_realtime_ns());
	buf[32] = (uint8_t)len;
	memcpy(buf + 33, name, len);
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

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Rewrite the log with one entry per group of @ring (temp file, fsync,
 * rename), so it stays small however long ringd runs. */
static int compact(struct offsets *o, struct ring_topic *ring)
{
	char tmp[4200];
	uint8_t buf[ENTRY_MAX];
	uint64_t size = 0;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", o->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (unsigned i = 0; i < RING_MAX_GROUPS && rc == 0; i++) {
		struct ring_group_stat s;
		size_t n;

		if (ring_group_stat(ring, i, &s) != 1)
			continue;
		n = encode(buf, s.name, s.mode, s.committed_pos);
		rc = write_all(fd, buf, n);
		size += n;
	}
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, o->path) < 0)
		rc = -errno;
	if (rc < 0) {
		(void)close(fd);
		(void)unlink(tmp);
		return rc;
	}
	(void)close(o->fd);
	o->fd = fd;
	o->size = size;
	(void)lseek(fd, 0, SEEK_END);
	return 0;
}

int offsets_open(const char *dir, struct ring_topic *ring, int restore, uint64_t log_end,
		 struct offsets **ret)
{
	static struct entry last[RING_MAX_GROUPS];
	unsigned nlast = 0;
	struct offsets *o;
	uint8_t *data = NULL;
	struct stat st;
	size_t off = 0;
	int rc;

	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	snprintf(o->path, sizeof(o->path), "%s/offsets.log", dir);
	o->fd = open(o->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (o->fd < 0 || fstat(o->fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	if (st.st_size > 0) {
		data = malloc((size_t)st.st_size);
		if (!data || pread(o->fd, data, (size_t)st.st_size, 0) != st.st_size) {
			rc = data ? -EIO : -ENOMEM;
			goto fail;
		}
	}
	while (off < (size_t)st.st_size) {
		struct entry e;
		size_t n = decode(data + off, (size_t)st.st_size - off, &e);
		unsigned i;

		if (!n)
			break;
		off += n;
		for (i = 0; i < nlast && strcmp(last[i].name, e.name); i++)
			;
		if (i == nlast && nlast < RING_MAX_GROUPS)
			nlast++;
		if (i < RING_MAX_GROUPS)
			last[i] = e;
	}
	if (off < (size_t)st.st_size) {
		log_warn("%s: dropped a torn or damaged tail of %llu bytes at offset %zu",
			 o->path, (unsigned long long)((size_t)st.st_size - off), off);
		if (ftruncate(o->fd, (off_t)off) < 0) {
			rc = -errno;
			goto fail;
		}
	}
	free(data);
	data = NULL;
	o->size = off;
	(void)lseek(o->fd, (off_t)off, SEEK_SET);

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
	/* Everything now in the table counts as logged. */
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		o->seen_seq[i] = ring_load_acquire(&ring->ctl->groups[i].commit_seq);
		o->seen_pos[i] = ring_load_acquire(&ring->ctl->groups[i].committed);
	}
	*ret = o;
	return 0;
fail:
	free(data);
	if (o->fd >= 0)
		(void)close(o->fd);
	free(o);
	return rc;
}

int offsets_collect(struct offsets *o, struct ring_topic *ring)
{
	uint8_t buf[ENTRY_MAX * 8];
	size_t used = 0;
	int n = 0, rc;

	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		struct ring_group_slot *g = &ring->ctl->groups[i];
		uint64_t seq, pos;

		if ((ring_load_acquire(&g->state) & 0xff) != RING_GROUP_ACTIVE)	/* G4 */
			continue;
		if (g->mode == RING_GROUP_SHARED)
			ringi_group_raise_committed(g, ringi_group_watermark(g));
		seq = ring_load_acquire(&g->commit_seq);
		if (seq == o->seen_seq[i])
			continue;
		/* G5 (acquire) pairs with the member's commit. */
		pos = ring_load_acquire(&g->committed);
		o->seen_seq[i] = seq;
		if (pos == o->seen_pos[i])
			continue;
		o->seen_pos[i] = pos;
		if (used + ENTRY_MAX > sizeof(buf)) {
			rc = write_all(o->fd, buf, used);
			if (rc < 0)
				return rc;
			o->size += used;
			used = 0;
		}
		used += encode(buf + used, g->name, g->mode, pos);
		n++;
	}
	if (used) {
		rc = write_all(o->fd, buf, used);
		if (rc < 0)
			return rc;
		o->size += used;
		o->dirty = 1;
	}
	if (o->size > COMPACT_BYTES) {
		rc = compact(o, ring);
		if (rc < 0)
			log_errno(LOG_LVL_WARN, rc, "%s: compaction failed; still appending", o->path);
	}
	return n;
}

int offsets_sync(struct offsets *o)
{
	if (!o->dirty)
		return 0;
	if (fdatasync(o->fd) < 0)
		return -errno;
	o->dirty = 0;
	return 0;
}

void offsets_close(struct offsets *o)
{
	if (!o)
		return;
	(void)close(o->fd);
	free(o);
}
