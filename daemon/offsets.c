/* SPDX-License-Identifier: MIT */
/*
 * offsets.c - see offsets.h.
 *
 * Two kinds of entry (little-endian, 8-byte aligned). A committed
 * position, the only kind before shared groups' state was logged:
 *   u32 magic "ROFF"   u32 bytes (whole entry)   u32 crc32c   u32 mode
 *   u64 committed      u64 time_ns               u8 name_len  name  pad
 * A shared group's whole state, committed position, next and in flight:
 *   u32 magic "ROFS"   u32 bytes                 u32 crc32c   u32 mode
 *   u64 committed      u64 time_ns               u64 next
 *   u32 count          u8 name_len  3 zero bytes name, pad to 8
 *   u64 pos[count]     u8 deliveries[count], pad to 8
 * (at most RING_GROUP_INFLIGHT in flight: SNAP_MAX bytes). The CRC covers
 * everything after itself. Replay stops at the first entry that is short,
 * has a bad magic, size or CRC: that is the torn tail, and the file is
 * truncated there. An append that fails half-way is cut off at once, so a
 * later append never lands behind a torn entry. A whole entry whose
 * content makes no sense (mode, name, alignment, an in-flight position
 * outside [committed, next) or out of order, a delivery count of 0) is
 * skipped with a warning.
 *
 * Replay keeps, per group, the last committed position (either kind) and
 * the last in-flight state. A committed position logged after the state
 * only moves it on: positions below it were acked, and next is at least
 * it. A committed position below the state's (an operator reset back)
 * drops the state: the group goes on from that position, as the reset
 * said. Any older state is safe to restore, only with more duplicates:
 * whatever is unacked now was unacked then, so it is in that state's set
 * or at or above its next.
 *
 * How often the state is logged: a committed position that changed, at
 * every collect (at most every millisecond, drain.c); a shared group's
 * in-flight state that changed, at most every SNAPSHOT_INTERVAL_NS (each
 * entry is up to 2.4 KiB, and a busy group changes it on every ack), but
 * at once when next went back (a reset) and at ringd's last pass. The
 * records a reboot delivers again beyond what was in flight are those
 * handed out or acked since the last state: one interval's worth.
 *
 * The group table lives in shared memory that any process of the topic
 * may write: every name, mode and position is copied out and checked
 * before it is logged, so a buggy member cannot make ringd write an entry
 * that a later replay would refuse.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "group.h"
#include "log.h"
#include "offsets.h"
#include "recovery.h"

#define OFFSETS_MAGIC 0x46464f52u /* "ROFF" */
#define SNAP_MAGIC 0x53464f52u	  /* "ROFS" */
#define ENTRY_FIXED 33u
#define ENTRY_MAX 128u
#define SNAP_FIXED 48u
#define SNAP_MAX (SNAP_FIXED + ((RING_GROUP_NAME_MAX + 7u) & ~7u) + RING_GROUP_INFLIGHT * 9u)
#define SNAPSHOT_INTERVAL_NS 10000000u /* a changed in-flight state, at most every 10 ms */

_Static_assert(SNAP_MAX % 8 == 0 && SNAP_MAX > ENTRY_MAX, "entry sizes");

/* What the log holds for the group in one slot of the table. */
struct logged {
	bool any; /* an entry */
	uint64_t committed;
	bool snap;	  /* an in-flight state (shared groups) */
	uint64_t next;	  /* its next */
	uint32_t crc;	  /* of next and the in-flight set, to see changes */
	uint64_t snap_ns; /* when it was appended (CLOCK_MONOTONIC) */
};

struct entry {
	uint32_t mode;
	uint64_t committed;
	char name[RING_GROUP_NAME_MAX + 1];
	/* Shared groups' state, with a "ROFS" entry. */
	bool snap;
	uint64_t next;
	unsigned count;
	uint64_t pos[RING_GROUP_INFLIGHT];
	uint8_t deliveries[RING_GROUP_INFLIGHT];
};

struct offsets {
	char dir[4096];
	char path[4200];
	int fd;
	uint64_t size;	     /* bytes of whole entries in the file */
	uint64_t compact_at; /* compact when size passes this */
	bool dirty;	     /* appended since the last sync */
	uint64_t last_sync_ns;
	struct logged logged[RING_MAX_GROUPS];
	uint8_t *buf; /* one collect's or compaction's entries, grown as needed */
	size_t buf_cap;
	struct entry scratch; /* one collect or compaction's current entry */
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

static size_t snap_bytes(size_t name_len, unsigned count)
{
	return SNAP_FIXED + ((name_len + 7) & ~(size_t)7) + (size_t)count * 8 +
	       (((size_t)count + 7) & ~(size_t)7);
}

/* The in-flight state's checksum, to tell a changed one from the logged. */
static uint32_t snap_crc(const struct entry *e)
{
	uint32_t crc = ringi_crc32c(0, &e->next, sizeof(e->next));

	crc = ringi_crc32c(crc, &e->count, sizeof(e->count));
	crc = ringi_crc32c(crc, e->pos, e->count * sizeof(e->pos[0]));
	return ringi_crc32c(crc, e->deliveries, e->count);
}

/* The part both kinds of entry share (all but the CRC), over @bytes of
 * zeros. */
static void encode_head(uint8_t *buf, uint32_t magic, size_t bytes, const struct entry *e)
{
	memset(buf, 0, bytes);
	put32(buf, magic);
	put32(buf + 4, (uint32_t)bytes);
	put32(buf + 12, e->mode);
	put64(buf + 16, e->committed);
	put64(buf + 24, ringi_realtime_ns());
}

static size_t encode(uint8_t *buf, const struct entry *e)
{
	size_t len = strnlen(e->name, RING_GROUP_NAME_MAX);
	size_t bytes, at;

	if (!e->snap) {
		bytes = (ENTRY_FIXED + len + 7) & ~(size_t)7;
		encode_head(buf, OFFSETS_MAGIC, bytes, e);
		buf[32] = (uint8_t)len;
		memcpy(buf + 33, e->name, len);
	} else {
		bytes = snap_bytes(len, e->count);
		encode_head(buf, SNAP_MAGIC, bytes, e);
		put64(buf + 32, e->next);
		put32(buf + 40, e->count);
		buf[44] = (uint8_t)len;
		memcpy(buf + SNAP_FIXED, e->name, len);
		at = SNAP_FIXED + ((len + 7) & ~(size_t)7);
		for (unsigned i = 0; i < e->count; i++, at += 8)
			put64(buf + at, e->pos[i]);
		memcpy(buf + at, e->deliveries, e->count);
	}
	put32(buf + 8, ringi_crc32c(0, buf + 12, bytes - 12));
	return bytes;
}

/* A "ROFS" entry at @p, whole and checksummed (decode()): its fields. */
static size_t decode_snap(const uint8_t *p, size_t bytes, struct entry *e)
{
	size_t len = p[44], at;
	uint32_t count = get32(p + 40);

	if (len == 0 || len > RING_GROUP_NAME_MAX || count > RING_GROUP_INFLIGHT ||
	    snap_bytes(len, count) != bytes || p[45] || p[46] || p[47])
		return 0;
	e->mode = get32(p + 12);
	e->committed = get64(p + 16);
	e->snap = true;
	e->next = get64(p + 32);
	e->count = count;
	memcpy(e->name, p + SNAP_FIXED, len);
	e->name[len] = '\0';
	at = SNAP_FIXED + ((len + 7) & ~(size_t)7);
	for (unsigned i = 0; i < count; i++, at += 8)
		e->pos[i] = get64(p + at);
	memcpy(e->deliveries, p + at, count);
	return bytes;
}

/* Decode one entry at @p with @avail bytes: its size, or 0 if torn. */
static size_t decode(const uint8_t *p, size_t avail, struct entry *e)
{
	uint32_t bytes, magic;
	size_t len;

	if (avail < ENTRY_FIXED)
		return 0;
	magic = get32(p);
	if (magic != OFFSETS_MAGIC && magic != SNAP_MAGIC)
		return 0;
	bytes = get32(p + 4);
	if (bytes % 8 || bytes > avail ||
	    (magic == OFFSETS_MAGIC ? bytes < ENTRY_FIXED || bytes > ENTRY_MAX :
				      bytes < SNAP_FIXED || bytes > SNAP_MAX))
		return 0;
	if (ringi_crc32c(0, p + 12, bytes - 12) != get32(p + 8))
		return 0;
	if (magic == SNAP_MAGIC)
		return decode_snap(p, bytes, e);
	len = p[32];
	if (len == 0 || len > RING_GROUP_NAME_MAX || ENTRY_FIXED + len > bytes)
		return 0;
	e->mode = get32(p + 12);
	e->committed = get64(p + 16);
	e->snap = false;
	memcpy(e->name, p + 33, len);
	e->name[len] = '\0';
	return bytes;
}

static bool entry_valid(const struct entry *e)
{
	if (e->mode > RING_GROUP_SHARED || e->committed % 8 != 0 ||
	    ringi_group_name_check(e->name) != 0)
		return false;
	if (!e->snap)
		return true;
	if (e->mode != RING_GROUP_SHARED || e->next % 8 || e->next < e->committed ||
	    e->count > RING_GROUP_INFLIGHT)
		return false;
	for (unsigned i = 0; i < e->count; i++) {
		/* Strictly increasing: sorted and each once, as written. */
		if (e->pos[i] % 8 || e->pos[i] < e->committed || e->pos[i] >= e->next ||
		    (i > 0 && e->pos[i] <= e->pos[i - 1]) || e->deliveries[i] == 0)
			return false;
	}
	return true;
}

/*
 * Slot @i of @ring as an entry, copied out of shared memory and checked:
 * false if the slot holds no group, or one that makes no sense. A shared
 * group's entry carries its in-flight state, taken before its committed
 * position: whatever is below that position was acked, and next is never
 * below it (all was acked up to there, whatever the snapshot saw).
 */
static bool slot_entry(struct ring_topic *ring, unsigned i, struct entry *e)
{
	struct ring_group_slot *g = &ring->ctl->groups[i];

	/* G4 (acquire): name and mode are complete once ACTIVE is seen. */
	if ((ring_load_acquire(&g->state) & 0xff) != RING_GROUP_ACTIVE)
		return false;
	memcpy(e->name, g->name, RING_GROUP_NAME_MAX);
	e->name[RING_GROUP_NAME_MAX] = '\0';
	e->mode = g->mode;
	e->snap = e->mode == RING_GROUP_SHARED;
	e->count = 0;
	if (e->snap) {
		unsigned n = ringi_group_inflight_snapshot(g, &e->next, e->pos, e->deliveries);

		/* The snapshot is sorted: its first position, or next, is the
		 * ack watermark as of the scan, never above the true one (as
		 * ringi_group_watermark()'s): one scan of the table, not two. */
		ringi_group_raise_committed(g, n ? e->pos[0] : e->next);
		/* G6 (acquire half of the raisers' CAS). */
		e->committed = ring_load_acquire(&g->committed);
		if (e->next < e->committed)
			e->next = e->committed;
		for (unsigned k = 0; k < n; k++) {
			if (e->pos[k] < e->committed)
				continue;
			e->pos[e->count] = e->pos[k];
			e->deliveries[e->count] = e->deliveries[k];
			e->count++;
		}
		/* A member's next that is not 8-aligned is damage: log the
		 * committed position alone, as before in-flight states. */
		if (e->next % 8)
			e->snap = false;
	} else {
		/* G5 (acquire) pairs with the member's commit. */
		e->committed = ring_load_acquire(&g->committed);
	}
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

/* Room in o->buf for one more entry after @used bytes: grown as needed
 * (most groups' entries are small; a topic whose 64 shared groups all
 * have 256 records in flight needs SNAP_MAX each). */
static int buf_room(struct offsets *o, size_t used)
{
	size_t cap = o->buf_cap ? o->buf_cap : 8192;
	uint8_t *p;

	if (used + SNAP_MAX <= o->buf_cap)
		return 0;
	while (cap < used + SNAP_MAX)
		cap *= 2;
	p = realloc(o->buf, cap);
	if (!p)
		return -ENOMEM;
	o->buf = p;
	o->buf_cap = cap;
	return 0;
}

/* What the log holds for a group (@l), once entry @e follows. */
static void note_logged(struct logged *l, const struct entry *e, uint64_t now)
{
	/* As replay_merge() combines them. */
	if (e->snap) {
		l->snap = true;
		l->next = e->next;
		l->crc = snap_crc(e);
		l->snap_ns = now;
	} else if (!l->any || e->mode != RING_GROUP_SHARED || e->committed < l->committed) {
		l->snap = false;
	}
	l->any = true;
	l->committed = e->committed;
}

/* Rewrite the log with one entry per group of @ring (temporary file,
 * fsync, rename, fsync of the directory), so it stays small however long
 * ringd runs: each group's latest whole state, in-flight records
 * included. A crash at any point leaves the old log or the new one. */
static int compact(struct offsets *o, struct ring_topic *ring)
{
	static const char suffix[] = ".tmp";
	struct entry *e = &o->scratch;
	bool done[RING_MAX_GROUPS] = { false };
	size_t offs[RING_MAX_GROUPS];
	char tmp[sizeof(o->path) + sizeof(suffix)];
	uint64_t now = ringi_now_ns();
	size_t used = 0;
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s%s", o->path, suffix);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		offs[i] = used;
		if (!slot_entry(ring, i, e))
			continue;
		rc = buf_room(o, used);
		if (rc < 0) {
			(void)close(fd);
			(void)unlink(tmp);
			return rc;
		}
		used += encode(o->buf + used, e);
		done[i] = true;
	}
	rc = pwrite_all(fd, o->buf, used, 0);
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
	rc = recovery_sync_dir(o->dir);
	if (rc < 0)
		log_errno(LOG_LVL_WARN, rc, "%s: fsync of the directory after compaction", o->dir);
	(void)close(o->fd);
	o->fd = fd;
	o->size = used;
	o->dirty = false;
	o->last_sync_ns = now;
	/* What the new log holds, decoded back from what was written: the
	 * bookkeeping is what a replay would see. */
	memset(o->logged, 0, sizeof(o->logged));
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++)
		if (done[i] && decode(o->buf + offs[i], used - offs[i], e))
			note_logged(&o->logged[i], e, now);
	return 0;
}

/* Entry @e, just read from the log, over @last, the group's state so far
 * (the rules are at the top of this file). */
static void replay_merge(struct entry *last, const struct entry *e)
{
	if (e->snap || !last->snap || e->mode != last->mode || e->committed < last->committed) {
		*last = *e;
		return;
	}
	last->committed = e->committed; /* the state stays; restore applies it */
}

/* Read the whole log and keep each group's last state in @last (at most
 * RING_MAX_GROUPS names): the size of the valid prefix, or -errno. */
static int64_t replay(struct offsets *o, struct entry *last, unsigned *ret_count)
{
	uint8_t *data = NULL;
	unsigned n = 0, skipped = 0;
	struct entry *e = &o->scratch;
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
		size_t len = decode(data + off, (size_t)st.st_size - off, e);
		unsigned i;

		if (!len)
			break;
		off += len;
		if (!entry_valid(e)) {
			skipped++; /* whole and checksummed, but nonsense */
			continue;
		}
		for (i = 0; i < n && strcmp(last[i].name, e->name); i++)
			;
		if (i == n && n == RING_MAX_GROUPS) {
			skipped++;
			continue;
		}
		if (i == n) {
			n++;
			last[i] = *e;
		} else {
			replay_merge(&last[i], e);
		}
	}
	free(data);
	if (skipped)
		log_warn("%s: ignored %u entries with an invalid group name, mode, position or "
			 "in-flight record, or beyond %u groups",
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

/*
 * Group state @e as restored into a ring recreated at @log_end: next at
 * least committed, positions below committed (acked) dropped, and nothing
 * at or past @log_end, which the recovered log does not hold (new records
 * will take those positions, delivered from next as any).
 */
static struct ringi_group_init restore_state(struct entry *e, uint64_t log_end)
{
	struct ringi_group_init init = { .committed = e->committed, .next = e->committed };
	unsigned n = 0;

	if (init.committed > log_end)
		init.committed = init.next = log_end;
	if (e->snap) {
		init.next = e->next < e->committed ? e->committed : e->next;
		if (init.next > log_end)
			init.next = log_end;
		for (unsigned i = 0; i < e->count; i++) {
			if (e->pos[i] < init.committed || e->pos[i] >= init.next)
				continue;
			e->pos[n] = e->pos[i];
			e->deliveries[n] = e->deliveries[i];
			n++;
		}
	}
	init.count = n;
	init.pos = e->pos;
	init.deliveries = e->deliveries;
	return init;
}

int offsets_open(const char *dir, struct ring_topic *ring, int restore, uint64_t log_end,
		 struct offsets **ret)
{
	struct logged from_log[RING_MAX_GROUPS];
	struct entry *last, *e;
	unsigned nlast = 0;
	struct offsets *o;
	int64_t size;
	int rc;

	o = calloc(1, sizeof(*o));
	last = calloc(RING_MAX_GROUPS + 1, sizeof(*last));
	if (!o || !last) {
		free(o);
		free(last);
		return -ENOMEM;
	}
	e = &last[RING_MAX_GROUPS]; /* scratch */
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

	/* What the log holds for each group, before restore_state() edits
	 * the copies: the bookkeeping of changes (below). */
	for (unsigned k = 0; k < nlast; k++) {
		memset(&from_log[k], 0, sizeof(from_log[k]));
		note_logged(&from_log[k], &last[k], 0);	/* time unknown */
	}
	for (unsigned i = 0; restore && i < nlast; i++) {
		struct ringi_group_init init = restore_state(&last[i], log_end);
		struct ring_group_slot *g;

		rc = ringi_group_restore(ring, last[i].name, last[i].mode, &init, &g);
		if (rc < 0) {
			log_errno(LOG_LVL_ERROR, rc, "%s: restoring group %s", o->path,
				  last[i].name);
			continue;
		}
		if (last[i].mode == RING_GROUP_SHARED)
			log_info("%s: group %s restored at position %llu, next %llu, %u in flight",
				 o->path, last[i].name, (unsigned long long)init.committed,
				 (unsigned long long)init.next, init.count);
		else
			log_info("%s: group %s restored at position %llu", o->path, last[i].name,
				 (unsigned long long)init.committed);
	}
	/* What the log holds for each group now in the table; anything else
	 * (a position capped or a state trimmed above, commits made while no
	 * ringd ran, groups created meanwhile) goes in with the next collect. */
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		if (!slot_entry(ring, i, e))
			continue;
		for (unsigned k = 0; k < nlast; k++)
			if (!strcmp(last[k].name, e->name))
				o->logged[i] = from_log[k];
	}
	free(last);
	*ret = o;
	return 0;
fail:
	free(last);
	if (o->fd >= 0)
		(void)close(o->fd);
	free(o->buf);
	free(o);
	return rc;
}

/*
 * Should slot @i's entry @e (a shared group's, with its state) go into the
 * log as a whole state? When the state changed since the last one logged,
 * and that one is SNAPSHOT_INTERVAL_NS old, or @now_all, or the group went
 * back (a reset: without it, a reboot would skip what the reset asked to
 * deliver again).
 */
static bool snap_due(const struct offsets *o, unsigned i, const struct entry *e, uint64_t now,
		     bool now_all)
{
	const struct logged *l = &o->logged[i];

	if (!l->any || !l->snap)
		return true;
	if (l->next == e->next && l->crc == snap_crc(e))
		return false;
	return now_all || e->next < l->next || e->committed < l->committed ||
	       now - l->snap_ns >= SNAPSHOT_INTERVAL_NS;
}

static int collect(struct offsets *o, struct ring_topic *ring, bool now_all)
{
	struct entry *e = &o->scratch;
	uint64_t now = ringi_now_ns();
	uint32_t offs[RING_MAX_GROUPS + 1];
	bool changed[RING_MAX_GROUPS] = { false };
	size_t used = 0;
	int n = 0, rc;

	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		const struct logged *l = &o->logged[i];

		offs[i] = (uint32_t)used;
		if (!slot_entry(ring, i, e))
			continue;
		/* By position: whatever stored a new committed position,
		 * and whenever it died afterwards, the change is logged. */
		if (e->snap && snap_due(o, i, e, now, now_all))
			; /* the whole state */
		else if (!l->any || l->committed != e->committed)
			e->snap = false; /* the committed position alone */
		else
			continue;
		rc = buf_room(o, used);
		if (rc < 0)
			return rc; /* nothing written: tried again next time */
		used += encode(o->buf + used, e);
		changed[i] = true;
		n++;
	}
	offs[RING_MAX_GROUPS] = (uint32_t)used;
	if (used) {
		rc = append(o, o->buf, used);
		if (rc < 0)
			return rc; /* nothing marked logged: tried again next time */
		/* Decoded back from what was written: the bookkeeping is
		 * what a replay would see. */
		for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
			if (changed[i] && decode(o->buf + offs[i], used - offs[i], e))
				note_logged(&o->logged[i], e, now);
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

int offsets_collect(struct offsets *o, struct ring_topic *ring)
{
	return collect(o, ring, false);
}

int offsets_collect_now(struct offsets *o, struct ring_topic *ring)
{
	return collect(o, ring, true);
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
	free(o->buf);
	free(o);
}
