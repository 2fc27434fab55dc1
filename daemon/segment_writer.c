/* SPDX-License-Identifier: MIT */
/*
 * segment_writer.c - a topic's log on disk (seglog.h): staging, writing,
 * rolling, syncing and retention of its segment files (segment_format.h).
 *
 * Staging. Two buffers, each aligned to RING_SEG_BLOCK_BYTES. Each holds
 * the bytes of one segment starting at file offset `file_off`. With
 * O_DIRECT every write must start and end on a block boundary while
 * positions are only multiples of 8, so a buffer starts at the block that
 * holds its first new byte: its first `keep` bytes are the part of that
 * block already written, and are written again with it. A write is padded
 * with zeros to the next block; the next write rewrites that last partial
 * block with more data in it. Buffered mode is the same with a block of
 * one byte (keep 0, no padding).
 *
 * The buffer being filled is `cur`. When it is full, or when the next
 * record must start a new segment, it is sealed and the other buffer takes
 * over, if that one has been written; otherwise seglog_append() accepts no
 * more until the older one is written. Writes therefore reach a file in
 * position order.
 *
 * Overlap. seglog_write_async() seals `cur` too, however full, and leaves
 * its write in flight (uring_submit()): the drain loop stages the next
 * records into the other buffer meanwhile, while the kernel copies the
 * sealed one into the page cache or to the device. At most one write is
 * in flight, and it is reaped before the next is submitted, before a
 * roll, a sync, a blocking flush or close. So two writes that touch the
 * same O_DIRECT block (the partial one each buffer begins with) are never
 * in flight together, an old segment's descriptor outlives its writes,
 * `persisted` moves only over completed writes and in order, and a sync
 * covers only completed ones. A failed write leaves its buffer sealed and
 * staged: it goes first when writing is retried.
 *
 * Writeback. A buffered write only fills the page cache; the disk works
 * when something syncs, and an fdatasync (the interval's, or a roll's of a
 * whole segment) then waits for all of it while nothing is staged or
 * written. So, buffered, each overlapped write is followed by a
 * sync_file_range(SYNC_FILE_RANGE_WRITE) of what earlier writes left dirty
 * once that is WRITEBACK_BYTES or more, in flight on its own: the disk
 * writes back while ringd goes on, and syncs find little left to wait for. It is a hint: it makes
 * nothing durable, no guarantee rests on it, and its errors are left to
 * the fdatasync that will meet them.
 *
 * Overlapped syncs. seglog_sync_start() submits the fdatasync of the
 * active segment and returns; writes go on meanwhile (in their own uring
 * slot). It covers what was written when it was submitted, so that is
 * what seglog_sync_reap() declares durable. A roll, a blocking sync and
 * close reap it first (a roll closes its descriptor).
 *
 * Trust. seglog_append() copies from the ring first and then checks and
 * checksums only its private copy: a process that scribbles on the ring
 * after that changes nothing of what is written. In the copy, padding and
 * skip bodies are zeroed (ring_seg_record_normalize()), so that readers
 * can insist on zeros there and no flipped bit goes unnoticed.
 *
 * Durability. A segment is created complete (header written and synced
 * under a temporary name, renamed, directory synced). Rolling syncs and
 * closes the old segment and its time index before the new one gets
 * data, so seglog_sync() has one file to sync: the active segment (its
 * time index is derived data that recovery rebuilds). If a sync fails, Linux
 * may already have dropped the dirty pages it could not write, and a
 * later sync could succeed without them: a failed sync is therefore
 * sticky, and the log never again claims durability until it is reopened
 * (startup recovery checks every record of the last segment).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "io_fault.h"
#include "recovery.h"
#include "segment_format.h"
#include "segment_reader.h"
#include "segment_writer.h"
#include "uring.h"

#define BLOCK RING_SEG_BLOCK_BYTES
/* Writes larger than this go through uring_write_all() in pieces. */
#define MAX_BATCHED_WRITE (1u << 30)
/* Buffered writes: written-back bytes are asked for once this much of the
 * active segment is dirty (see "Writeback" at the top). */
#define WRITEBACK_BYTES (1u << 20)
/* The uring slots of the overlapped write and the overlapped sync. */
#define WRITE_SLOT 0u
#define SYNC_SLOT 1u
#define HINT_SLOT 2u

struct seg_info {
	uint64_t base_pos;
	uint64_t file_bytes;		/* .seg size: exact once closed */
	uint64_t tix_bytes;
	uint64_t created_ns;
	uint64_t first_ts_ns;		/* time index, when has_tix */
	uint64_t last_ts_ns;
	bool has_tix;
};

struct stage {
	uint8_t *mem;			/* cap bytes, BLOCK-aligned */
	int reg;			/* registered buffer index, or -1 */
	bool live;			/* holds bytes of segment seg_base */
	bool inflight;			/* its write is submitted, not reaped */
	bool sealed;			/* full: the older buffer, written first */
	bool new_seg;			/* its segment is created when it is written */
	uint64_t seg_base;
	uint64_t file_off;		/* file offset of mem[0] */
	size_t keep;			/* leading bytes already written before */
	size_t used;			/* bytes in mem */
	struct ring_tix_entry *tix;	/* entries for these bytes, not yet written */
	unsigned ntix, tix_cap;
};

struct seglog {
	char *dir;
	int dirfd;
	unsigned file_mode;
	uint64_t max_record;
	uint64_t max_span;
	uint64_t segment_bytes;
	bool direct;
	size_t blk;			/* BLOCK with O_DIRECT, else 1 */
	size_t cap;			/* bytes per staging buffer */
	struct uring *u;
	struct stage st[2];
	unsigned cur;

	/* The write in flight (seglog_write_async()), or fly NULL. */
	struct stage *fly;
	struct uring_io fly_io[2];	/* the kernel's until reaped */
	unsigned fly_n;

	/* Writeback hints (see "Writeback" above). */
	uint64_t wb_from;		/* active segment's offset not yet hinted */
	bool wb_fly;			/* one is in flight, in wb_io */
	struct uring_io wb_io;
	size_t fly_len;			/* data bytes written, padded */
	int fly_err;			/* its failure, reaped by a sync: reported
					   by the next seglog_write_async() */

	/* The sync in flight (seglog_sync_start()), if sync_fly. */
	bool sync_fly;
	struct uring_io sync_io;	/* the kernel's until reaped */
	uint64_t sync_target;		/* `persisted` when it was submitted */

	/* The active segment: the last one, the only one written. */
	int fd;
	int tix_fd;
	uint64_t tix_count;		/* entries in its .tix */
	struct seg_info *segs;
	size_t nsegs, segs_cap;

	uint64_t end;			/* staged up to here */
	uint64_t persisted;		/* written up to here */
	uint64_t durable;		/* synced up to here */
	bool unsynced;			/* written since the last sync */
	int sync_err;			/* sticky: see the top of the file */

	/* The time index rule, as records are staged. */
	uint64_t tix_seg;		/* segment the state below is about */
	bool tix_have;
	uint64_t tix_last_pos;
	uint64_t tix_ts;		/* latest entry timestamp in the log */

	uint8_t *hdr;			/* RING_SEG_HEADER_BYTES for new headers */
};

static inline uint64_t align_down(uint64_t v, uint64_t a)
{
	return v / a * a;
}

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static struct seg_info *active(struct seglog *log)
{
	return &log->segs[log->nsegs - 1];
}

static int segs_push(struct seglog *log, const struct seg_info *s)
{
	if (log->nsegs == log->segs_cap) {
		size_t ncap = log->segs_cap ? log->segs_cap * 2 : 16;
		struct seg_info *n;

		if (ncap > RINGI_SEG_LIST_MAX)
			return -E2BIG;
		n = realloc(log->segs, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		log->segs = n;
		log->segs_cap = ncap;
	}
	log->segs[log->nsegs++] = *s;
	return 0;
}

static int name_of(char *buf, size_t size, uint64_t base, const char *suffix)
{
	return ring_seg_name(buf, size, base, suffix);
}

/* ---- segment files ---- */

static int open_data(struct seglog *log, const char *name)
{
#if RINGD_IO_FAULT
	if (log->direct && io_fault_direct_refused()) {
		errno = EINVAL;
		return -1;
	}
#endif
	return openat(log->dirfd, name, O_RDWR | O_CLOEXEC | (log->direct ? O_DIRECT : 0));
}

/*
 * Open the data file and time index of segment @base for appending. With
 * O_DIRECT refused (EINVAL: file systems without it, such as tmpfs before
 * Linux 6.6), fall back to buffered writes for the whole log.
 */
static int segment_open_files(struct seglog *log, uint64_t base, int *ret_fd, int *ret_tix)
{
	char name[RING_SEG_NAME_BYTES];
	int fd, tfd, rc;

	rc = name_of(name, sizeof(name), base, RING_SEG_SUFFIX);
	if (rc < 0)
		return rc;
	fd = open_data(log, name);
	if (fd < 0 && errno == EINVAL && log->direct) {
		log->direct = false;
		log->blk = 1;
		fd = openat(log->dirfd, name, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	/* Room for the whole segment in as few extents as the file system
	 * can give, without changing the size readers see. Best effort: a
	 * file system without fallocate, or a disk too full for it, still
	 * takes the writes (or fails them, which the caller handles). */
	(void)fallocate(fd, FALLOC_FL_KEEP_SIZE, 0,
			(off_t)(RING_SEG_HEADER_BYTES + align_up(log->segment_bytes, BLOCK)));
	rc = name_of(name, sizeof(name), base, RING_TIX_SUFFIX);
	if (rc < 0)
		goto fail;
	tfd = openat(log->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, log->file_mode);
	if (tfd < 0) {
		rc = -errno;
		goto fail;
	}
	*ret_fd = fd;
	*ret_tix = tfd;
	return 0;
fail:
	(void)close(fd);
	return rc;
}

/*
 * Create segment @base complete: the header is written and synced under a
 * temporary name, then renamed, so a ".seg" file never lacks its header;
 * an empty time index goes with it; then the directory is synced, so both
 * names survive a crash before any data is written to them.
 */
static int segment_create(struct seglog *log, uint64_t base)
{
	char tmp[RING_SEG_NAME_BYTES], name[RING_SEG_NAME_BYTES];
	uint64_t now = ringi_realtime_ns();
	struct seg_info info = { .base_pos = base, .file_bytes = RING_SEG_HEADER_BYTES };
	int fd, rc;

	if (name_of(tmp, sizeof(tmp), base, RING_SEG_TMP_SUFFIX) < 0 ||
	    name_of(name, sizeof(name), base, RING_SEG_SUFFIX) < 0)
		return -ENAMETOOLONG;
	fd = openat(log->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, log->file_mode);
	if (fd < 0)
		return -errno;
	ring_seg_header_make(log->hdr, base, now);
	rc = uring_write_sync(log->u, fd, log->hdr, RING_SEG_HEADER_BYTES, 0);
	(void)close(fd);
	if (rc < 0)
		goto fail;
	if (renameat(log->dirfd, tmp, log->dirfd, name) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = name_of(tmp, sizeof(tmp), base, RING_TIX_SUFFIX);
	if (rc < 0)
		return rc;
	fd = openat(log->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, log->file_mode);
	if (fd < 0)
		return -errno;
	(void)close(fd);
	if (fsync(log->dirfd) < 0)
		return -errno;
	info.created_ns = now;
	return segs_push(log, &info);
fail:
	(void)unlinkat(log->dirfd, tmp, 0);
	return rc;
}

/*
 * Hand back the sync in flight, if any (@wait: wait for it): on success
 * everything below its target is durable; a failure is sticky (see the
 * top of the file).
 *
 * @return 0, -EAGAIN if !@wait and it is still in flight, or -errno.
 */
static int sync_reap(struct seglog *log, bool wait)
{
	int rc;

	if (!log->sync_fly)
		return 0;
	rc = uring_reap(log->u, SYNC_SLOT, wait);
	if (rc == -EAGAIN)
		return rc;
	log->sync_fly = false;
	if (rc == 0)
		rc = log->sync_io.res;
	if (rc < 0) {
		log->sync_err = rc;
		log->unsynced = true;
		return rc;
	}
	if (!log->sync_err && log->sync_target > log->durable)
		log->durable = log->sync_target;
	return 0;
}

/* Wait for the writeback hint in flight, if any (before its descriptor
 * is closed); its result does not matter. */
static void writeback_reap(struct seglog *log)
{
	if (log->wb_fly) {
		(void)uring_reap(log->u, HINT_SLOT, true);
		log->wb_fly = false;
	}
}

/*
 * Start segment @base (== persisted: every older byte is written): close
 * the active one for good (cut its O_DIRECT padding, sync it and its time
 * index) and create the new one. Every step can be repeated after a
 * failure, so the caller simply retries the whole.
 */
static int roll_to(struct seglog *log, uint64_t base)
{
	struct seg_info *a = active(log);
	uint64_t exact = RING_SEG_HEADER_BYTES + (base - a->base_pos);
	struct uring_io io[2] = {
		{ .op = URING_OP_FDATASYNC, .fd = log->fd, .buf_index = -1 },
		{ .op = URING_OP_FDATASYNC, .fd = log->tix_fd, .buf_index = -1 },
	};
	int fd, tfd, rc;

	RING_ASSERT(base == log->persisted && !log->fly);
	/* A sync in flight uses the descriptor closed below; its failure
	 * is recorded (sticky) and this roll's own sync would fail too. */
	(void)sync_reap(log, true);
	writeback_reap(log);
	if (ftruncate(log->fd, (off_t)exact) < 0)
		return -errno;
	a->file_bytes = exact;
	rc = uring_run(log->u, io, 2);
	if (rc == 0)
		rc = io[0].res < 0 ? io[0].res : io[1].res;
	if (rc < 0) {
		log->sync_err = rc;
		return rc;
	}
	rc = segment_create(log, base);
	if (rc < 0)
		return rc;
	rc = segment_open_files(log, base, &fd, &tfd);
	if (rc < 0) {
		/* Leave the new segment in the list: a retry recreates it. */
		log->nsegs--;
		return rc;
	}
	(void)close(log->fd);
	(void)close(log->tix_fd);
	log->fd = fd;
	log->tix_fd = tfd;
	log->tix_count = 0;
	log->wb_from = RING_SEG_HEADER_BYTES;
	/* Everything before the new segment was just synced. */
	if (!log->sync_err && base > log->durable)
		log->durable = base;
	return 0;
}

/* ---- staging ---- */

/* Bytes of @s that are not on disk yet. */
static bool stage_pending(const struct stage *s)
{
	return s->live && (s->used > s->keep || s->new_seg);
}

/* Point the free buffer @s at segment @seg_base from file offset @off,
 * taking the partial block before @off from @prev (NULL: none). */
static void stage_start(struct seglog *log, struct stage *s, uint64_t seg_base, uint64_t off,
			const struct stage *prev, bool new_seg)
{
	s->live = true;
	s->sealed = false;
	s->new_seg = new_seg;
	s->seg_base = seg_base;
	s->file_off = align_down(off, log->blk);
	s->keep = (size_t)(off - s->file_off);
	s->used = s->keep;
	s->ntix = 0;
	if (s->keep && prev)
		memcpy(s->mem, prev->mem + (s->file_off - prev->file_off), s->keep);
}

/*
 * Make room for the records from log->end on: a fresh buffer for a new
 * segment (@roll), or for more of the current one. false if the other
 * buffer is still waiting to be written.
 */
static bool stage_switch(struct seglog *log, bool roll)
{
	struct stage *c = &log->st[log->cur], *o = &log->st[log->cur ^ 1];
	uint64_t off;

	if (roll) {
		if (!stage_pending(c)) {
			/* Nothing of the old segment waits here: reuse it. */
			stage_start(log, c, log->end, RING_SEG_HEADER_BYTES, NULL, true);
			return true;
		}
		if (o->live)
			return false;
		c->sealed = true;
		stage_start(log, o, log->end, RING_SEG_HEADER_BYTES, NULL, true);
	} else {
		if (o->live)
			return false;
		c->sealed = true;
		off = c->file_off + c->used;
		stage_start(log, o, c->seg_base, off, c, false);
	}
	log->cur ^= 1;
	return true;
}

enum stage_stop { STOP_DONE, STOP_ROOM, STOP_ROLL, STOP_BAD };

/* One time index entry for the committed record at @pos, if the rule
 * wants one. */
static void stage_tix(struct seglog *log, struct stage *s, uint64_t pos, uint64_t ts)
{
	if (log->tix_seg != s->seg_base) {
		log->tix_seg = s->seg_base;
		log->tix_have = false;
	}
	if (!ring_tix_wants(log->tix_have, log->tix_last_pos, pos))
		return;
	if (ts > log->tix_ts)
		log->tix_ts = ts;
	/* tix_cap covers one entry per RING_TIX_INTERVAL_BYTES of the
	 * buffer plus the segment's first one. */
	RING_VERIFY(s->ntix < s->tix_cap);
	s->tix[s->ntix++] = (struct ring_tix_entry){ .timestamp_ns = log->tix_ts, .pos = pos };
	log->tix_have = true;
	log->tix_last_pos = pos;
}

/*
 * Copy what fits of @src into @s, then check the copy record by record,
 * filling in CRCs. The bytes of whole valid records are kept; *ret_stop
 * says why the rest was not.
 */
static size_t stage_records(struct seglog *log, struct stage *s, const uint8_t *src, size_t len,
			    enum stage_stop *ret_stop)
{
	size_t room = log->cap - s->used;
	size_t chunk = len < room ? len : room;
	uint8_t *base = s->mem + s->used;
	size_t off = 0;
	enum stage_stop stop = STOP_DONE;

	memcpy(base, src, chunk);
	/* Bounded: every pass advances by a span >= 8 within chunk. */
	while (off < chunk) {
		uint64_t pos = log->end + off, w, span;
		uint8_t *p = base + off;
		size_t avail = chunk - off;

		if (pos > s->seg_base && pos - s->seg_base >= log->segment_bytes) {
			stop = STOP_ROLL;
			break;
		}
		if (avail < 8) {
			stop = chunk < len ? STOP_ROOM : STOP_BAD;
			break;
		}
		w = ring_seg_get64(p);
		span = ring_word_span(w, log->max_record, log->max_span);
		if (!span) {
			stop = STOP_BAD;
			break;
		}
		if (span > avail) {
			/* Past the end of @src: the caller gave whole records, so
			 * the word changed under it (or it is a bug). */
			stop = chunk < len ? STOP_ROOM : STOP_BAD;
			break;
		}
		/* Zeros where the format wants them (padding, skip bodies),
		 * whatever the ring held there: readers check them. */
		ring_seg_record_normalize(p, span);
		if (ring_word_state(w) == RING_STATE_COMMITTED) {
			ring_seg_put32(p + RING_REC_OFF_CRC,
				       ring_seg_record_crc(p, ring_word_len(w)));
			stage_tix(log, s, pos, ring_seg_get64(p + RING_REC_OFF_TIMESTAMP));
		}
		off += (size_t)span;
	}
	if (off == chunk && chunk < len && stop == STOP_DONE)
		stop = STOP_ROOM;
	s->used += off;
	log->end += off;
	*ret_stop = stop;
	return off;
}

int64_t seglog_append(struct seglog *log, uint64_t pos, const void *src, size_t len)
{
	const uint8_t *p = src;
	size_t accepted = 0;

	ring_validate_or_return(log && (src || !len), -EINVAL);
	ring_validate_or_return(pos == log->end, -EINVAL);
	/* Bounded: each pass stages something or switches buffers, and a
	 * switch needs a free buffer, of which there are at most two. */
	for (unsigned pass = 0; accepted < len && pass < 8; pass++) {
		struct stage *s = &log->st[log->cur];
		enum stage_stop stop;

		if (!s->live || s->sealed) {
			/* Not reachable: cur is live from open on. */
			return accepted ? (int64_t)accepted : -EINVAL;
		}
		accepted += stage_records(log, s, p + accepted, len - accepted, &stop);
		if (stop == STOP_DONE)
			break;
		if (stop == STOP_BAD)
			return accepted ? (int64_t)accepted : -EBADMSG;
		if (!stage_switch(log, stop == STOP_ROLL))
			break;
	}
	return (int64_t)accepted;
}

/* ---- writing ---- */

/* @s is written: account for it and keep only its partial last block. */
static void stage_written(struct seglog *log, struct stage *s, size_t wrote)
{
	struct seg_info *a = active(log);
	uint64_t end_off = s->file_off + s->used, nf;

	log->persisted = s->seg_base + (end_off - RING_SEG_HEADER_BYTES);
	if (s->file_off + wrote > a->file_bytes)
		a->file_bytes = s->file_off + wrote;
	if (s->ntix) {
		if (!a->has_tix)
			a->first_ts_ns = s->tix[0].timestamp_ns;
		a->has_tix = true;
		a->last_ts_ns = s->tix[s->ntix - 1].timestamp_ns;
		log->tix_count += s->ntix;
		a->tix_bytes = log->tix_count * RING_TIX_ENTRY_BYTES;
		s->ntix = 0;
	}
	log->unsynced = true;
	if (s->sealed) {
		s->live = false;
		s->sealed = false;
		return;
	}
	nf = align_down(end_off, log->blk);
	s->keep = (size_t)(end_off - nf);
	if (s->keep)
		memmove(s->mem, s->mem + (nf - s->file_off), s->keep);
	s->file_off = nf;
	s->used = s->keep;
}

/* The I/Os that write @s's bytes and its time index entries, into @io
 * (two); *ret_len is the data length, padded for O_DIRECT. */
static unsigned stage_prep(struct seglog *log, struct stage *s, struct uring_io *io,
			   size_t *ret_len)
{
	size_t len = (size_t)align_up(s->used, log->blk);
	size_t tix_len = s->ntix * RING_TIX_ENTRY_BYTES;
	uint64_t tix_off = log->tix_count * RING_TIX_ENTRY_BYTES;
	unsigned n = 0;

	/* O_DIRECT writes whole blocks: the tail is zeros, which readers
	 * take for the end of the log until the next write fills it. */
	if (len > s->used)
		memset(s->mem + s->used, 0, len - s->used);
	if (len <= MAX_BATCHED_WRITE)
		io[n++] = (struct uring_io){ .op = URING_OP_WRITE, .fd = log->fd, .buf = s->mem,
					     .len = (uint32_t)len, .off = s->file_off,
					     .buf_index = s->reg };
	if (tix_len)
		io[n++] = (struct uring_io){ .op = URING_OP_WRITE, .fd = log->tix_fd,
					     .buf = s->tix, .len = (uint32_t)tix_len,
					     .off = tix_off, .buf_index = -1 };
	*ret_len = len;
	return n;
}

/* The @n I/Os of stage_prep() have their results: finish short writes
 * (and a buffer too large for one write), then account for @s. */
static int stage_finish(struct seglog *log, struct stage *s, const struct uring_io *io,
			unsigned n, size_t len)
{
	int rc;

	/* Finish short writes the slow way; fail on the first error. */
	for (unsigned i = 0; i < n; i++) {
		size_t want = io[i].len;

		if (io[i].res < 0)
			return io[i].res;
		if ((size_t)io[i].res < want) {
			size_t done = align_down((uint64_t)io[i].res,
						 io[i].fd == log->fd ? log->blk : 1);

			rc = uring_write_all(log->u, io[i].fd, (const uint8_t *)io[i].buf + done,
					     want - done, io[i].off + done, io[i].buf_index);
			if (rc < 0)
				return rc;
		}
	}
	if (len > MAX_BATCHED_WRITE) {
		rc = uring_write_all(log->u, log->fd, s->mem, len, s->file_off, s->reg);
		if (rc < 0)
			return rc;
	}
	stage_written(log, s, len);
	return 0;
}

/* Write one buffer's bytes and its time index entries, and wait. */
static int stage_write(struct seglog *log, struct stage *s)
{
	struct uring_io io[2];
	size_t len;
	unsigned n = stage_prep(log, s, io, &len);
	int rc = uring_run(log->u, io, n);

	return rc < 0 ? rc : stage_finish(log, s, io, n, len);
}

/*
 * Hand back the write in flight, if any: once it has completed (@wait:
 * wait for it). On success its buffer is written (stage_written()).
 *
 * @return 0 (also when nothing was in flight), -EAGAIN if !@wait and it
 *         is still in flight, or -errno of the write: its buffer stays
 *         sealed and staged, to be written again first.
 */
static int fly_reap(struct seglog *log, bool wait)
{
	struct stage *s = log->fly;
	int rc;

	if (!s)
		return 0;
	rc = uring_reap(log->u, WRITE_SLOT, wait);
	if (rc == -EAGAIN)
		return rc;
	log->fly = NULL;
	s->inflight = false;
	if (rc < 0)
		return rc;
	return stage_finish(log, s, log->fly_io, log->fly_n, log->fly_len);
}

/*
 * Ask for the writeback of the active segment's dirty bytes up to @to
 * (see "Writeback" at the top), in a slot of its own: the write's
 * completion must not wait for it, as writeback throttling can make it
 * wait. Skipped while the last one is still in flight; it then covers
 * more next time.
 */
static void writeback_hint(struct seglog *log, uint64_t to)
{
	uint64_t len;

	if (log->direct)
		return;
	if (log->wb_fly) {
		if (uring_reap(log->u, HINT_SLOT, false) == -EAGAIN)
			return;
		log->wb_fly = false;
	}
	if (to <= log->wb_from || to - log->wb_from < WRITEBACK_BYTES)
		return;
	len = to - log->wb_from;
	if (len > MAX_BATCHED_WRITE)
		len = MAX_BATCHED_WRITE;
	log->wb_io = (struct uring_io){ .op = URING_OP_WRITEBACK, .fd = log->fd,
					.len = (uint32_t)len, .off = log->wb_from,
					.buf_index = -1 };
	if (uring_submit(log->u, HINT_SLOT, &log->wb_io, 1) == 0)
		log->wb_fly = true;
	log->wb_from += len;
}

/* Start writing the sealed buffer @s and return (one too large for a
 * single write is written here and now instead). */
static int fly_submit(struct seglog *log, struct stage *s)
{
	int rc;

	RING_ASSERT(!log->fly && s->sealed);
	if (align_up(s->used, log->blk) > MAX_BATCHED_WRITE)
		return stage_write(log, s);
	log->fly_n = stage_prep(log, s, log->fly_io, &log->fly_len);
	rc = uring_submit(log->u, WRITE_SLOT, log->fly_io, log->fly_n);
	if (rc < 0)
		return rc;
	log->fly = s;
	s->inflight = true;
	/* The bytes before this write are written: whole pages of them
	 * can be written back. */
	writeback_hint(log, align_down(s->file_off, BLOCK));
	return 0;
}

/*
 * Nothing is in flight: start the next write, in position order. The
 * sealed (older) buffer if there is one; else `cur` is sealed, however
 * full, and the other buffer takes over after it (with its partial last
 * block), so that staging goes on while it is written.
 */
static int submit_next(struct seglog *log)
{
	struct stage *c = &log->st[log->cur], *o = &log->st[log->cur ^ 1];
	struct stage *s = o->live ? o : c;
	int rc;

	if (!stage_pending(s) || s->used == s->keep)
		return 0;	/* nothing new (a new segment is created later) */
	if (s->new_seg) {
		rc = roll_to(log, s->seg_base);
		if (rc < 0)
			return rc;
		s->new_seg = false;
	}
	if (s == c) {
		c->sealed = true;
		stage_start(log, o, c->seg_base, c->file_off + c->used, c, false);
		log->cur ^= 1;
	}
	return fly_submit(log, s);
}

int seglog_write_async(struct seglog *log, bool wait, uint64_t *ret_persisted)
{
	int rc;

	ring_validate_or_return(log && ret_persisted, -EINVAL);
	rc = fly_reap(log, wait);
	if (rc == -EAGAIN) {
		/* Still in flight: nothing else can be submitted yet. */
		*ret_persisted = log->persisted;
		return 0;
	}
	if (rc == 0 && log->fly_err) {
		rc = log->fly_err;
		log->fly_err = 0;
	}
	if (rc == 0)
		rc = submit_next(log);
	if (rc == 0)
		*ret_persisted = log->persisted;
	return rc;
}

bool seglog_writing(const struct seglog *log)
{
	return log->fly != NULL;
}

uint64_t seglog_persisted(const struct seglog *log)
{
	return log->persisted;
}

int seglog_flush(struct seglog *log, uint64_t *ret_persisted)
{
	struct stage *order[2];
	unsigned n = 0;
	int rc;

	ring_validate_or_return(log && ret_persisted, -EINVAL);
	/* A write in flight goes first; if it failed, this flush fails as
	 * a failed write of its own would, and a retry rewrites it. */
	log->fly_err = 0;
	rc = fly_reap(log, true);
	if (rc < 0)
		return rc;
	/* The sealed buffer is the older one: its bytes go first. */
	if (log->st[log->cur ^ 1].live)
		order[n++] = &log->st[log->cur ^ 1];
	order[n++] = &log->st[log->cur];
	for (unsigned i = 0; i < n; i++) {
		struct stage *s = order[i];

		if (!stage_pending(s))
			continue;
		if (s->new_seg) {
			if (s->used == s->keep)
				continue;	/* nothing for it yet: create it later */
			rc = roll_to(log, s->seg_base);
			if (rc < 0)
				return rc;
			s->new_seg = false;
		}
		rc = stage_write(log, s);
		if (rc < 0)
			return rc;
	}
	*ret_persisted = log->persisted;
	return 0;
}

/*
 * Only the active segment's data is synced: its time index is rebuilt from
 * the records by recovery (recovery.c), so syncing it too would double the
 * journal commits of every group commit for nothing. Closed segments and
 * their indexes were synced when they were closed (roll_to()).
 */
int seglog_sync(struct seglog *log, uint64_t *ret_durable)
{
	uint64_t target;
	int rc;

	ring_validate_or_return(log && ret_durable, -EINVAL);
	/* Cover the write in flight too, once it completes; if it failed,
	 * the sync covers what did complete, and the next
	 * seglog_write_async() reports the failure. */
	rc = fly_reap(log, true);
	if (rc < 0)
		log->fly_err = rc;
	(void)sync_reap(log, true);	/* a failure is sticky: below */
	target = log->persisted;
	if (log->sync_err)
		return log->sync_err;
	if (log->unsynced) {
		rc = uring_sync(log->u, log->fd, true);
		if (rc < 0) {
			log->sync_err = rc;
			return rc;
		}
		log->unsynced = false;
		if (target > log->durable)
			log->durable = target;
	}
	*ret_durable = log->durable;
	return 0;
}

int seglog_sync_start(struct seglog *log)
{
	int rc;

	ring_validate_or_return(log, -EINVAL);
	if (log->sync_err)
		return log->sync_err;
	if (log->sync_fly || !log->unsynced)
		return 0;
	log->sync_io = (struct uring_io){ .op = URING_OP_FDATASYNC, .fd = log->fd, .buf_index = -1 };
	rc = uring_submit(log->u, SYNC_SLOT, &log->sync_io, 1);
	if (rc < 0)
		return rc;
	/* It covers what is written now; a write completing meanwhile
	 * needs the next sync (stage_written() sets unsynced again). */
	log->sync_fly = true;
	log->sync_target = log->persisted;
	log->unsynced = false;
	return 0;
}

int seglog_sync_reap(struct seglog *log, bool wait, uint64_t *ret_durable)
{
	int rc;

	ring_validate_or_return(log && ret_durable, -EINVAL);
	rc = sync_reap(log, wait);
	if (rc == -EAGAIN)
		rc = 0;
	if (rc == 0)
		*ret_durable = log->durable;
	return rc;
}

bool seglog_syncing(const struct seglog *log)
{
	return log->sync_fly;
}

/* ---- retention ---- */

/* When the newest record of closed segment @i was written, as well as
 * the files tell: the next segment's first index entry, this one's last,
 * or the next segment's creation. 0 if unknown. */
static uint64_t segment_newest_ns(const struct seglog *log, size_t i)
{
	const struct seg_info *s = &log->segs[i], *next = &log->segs[i + 1];

	if (next->has_tix)
		return next->first_ts_ns;
	if (s->has_tix)
		return s->last_ts_ns;
	return next->created_ns;
}

static int segment_delete(struct seglog *log, uint64_t base)
{
	char name[RING_SEG_NAME_BYTES];

	/* The index first: a segment without one is still read (by a scan);
	 * an index without its segment would be a leftover. */
	if (name_of(name, sizeof(name), base, RING_TIX_SUFFIX) < 0)
		return -ENAMETOOLONG;
	if (unlinkat(log->dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	if (name_of(name, sizeof(name), base, RING_SEG_SUFFIX) < 0)
		return -ENAMETOOLONG;
	if (unlinkat(log->dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int seglog_retention(struct seglog *log, const struct ring_topic_config *config, uint64_t now_ns)
{
	uint64_t total = 0;
	int deleted = 0, rc;

	ring_validate_or_return(log && config, -EINVAL);
	for (size_t i = 0; i < log->nsegs; i++)
		total += log->segs[i].file_bytes + log->segs[i].tix_bytes;
	/* Oldest first, never the active (last) segment; bounded by the
	 * segment count. */
	while (log->nsegs > 1) {
		const struct seg_info *s = &log->segs[0];
		uint64_t newest = segment_newest_ns(log, 0);
		bool too_big = config->retention_bytes && total > config->retention_bytes;
		bool too_old = config->retention_ns && newest && now_ns > newest &&
			       now_ns - newest > config->retention_ns;

		if (!too_big && !too_old)
			break;
		rc = segment_delete(log, s->base_pos);
		if (rc < 0)
			return deleted ? deleted : rc;
		total -= s->file_bytes + s->tix_bytes;
		memmove(&log->segs[0], &log->segs[1], (log->nsegs - 1) * sizeof(*log->segs));
		log->nsegs--;
		deleted++;
	}
	return deleted;
}

/* ---- open, close, facts ---- */

uint64_t seglog_end(const struct seglog *log)
{
	return log->end;
}

bool seglog_direct_io(const struct seglog *log)
{
	return log->direct;
}

size_t seglog_staging_bytes(const struct seglog *log)
{
	return log->cap;
}

void seglog_usage(const struct seglog *log, uint64_t *ret_bytes, unsigned *ret_segments,
		  uint64_t *ret_first_pos)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < log->nsegs; i++)
		bytes += log->segs[i].file_bytes + log->segs[i].tix_bytes;
	if (ret_bytes)
		*ret_bytes = bytes;
	if (ret_segments)
		*ret_segments = (unsigned)log->nsegs;
	if (ret_first_pos)
		*ret_first_pos = log->nsegs ? log->segs[0].base_pos : 0;
}

void seglog_close(struct seglog *log)
{
	if (!log)
		return;
	/* The kernel may still be reading a staging buffer. */
	if (log->fly)
		(void)fly_reap(log, true);
	(void)sync_reap(log, true);
	writeback_reap(log);
	if (log->u) {
		uring_unregister_buffers(log->u);
		uring_close(log->u);
	}
	for (unsigned i = 0; i < 2; i++) {
		free(log->st[i].mem);
		free(log->st[i].tix);
	}
	if (log->fd >= 0)
		(void)close(log->fd);
	if (log->tix_fd >= 0)
		(void)close(log->tix_fd);
	if (log->dirfd >= 0)
		(void)close(log->dirfd);
	free(log->segs);
	free(log->hdr);
	free(log->dir);
	free(log);
}

/* The limits a topic's settings put on records, with defaults for 0. */
static void limits_of(const struct ring_topic_config *c, uint64_t *ret_max_record,
		      uint64_t *ret_max_span, uint64_t *ret_segment_bytes)
{
	uint64_t capacity = c->capacity_bytes ? c->capacity_bytes : RING_DEFAULT_CAPACITY_BYTES;

	*ret_max_span = capacity / 4;
	*ret_max_record = c->max_record_bytes ? c->max_record_bytes
					      : capacity / 4 - RING_RECORD_HEADER_BYTES;
	*ret_segment_bytes = c->segment_bytes ? c->segment_bytes : RING_DEFAULT_SEGMENT_BYTES;
}

static int staging_alloc(struct seglog *log, size_t want)
{
	/* A buffer must take the largest record after a partial block. */
	uint64_t need = align_up(log->max_span + 2 * BLOCK, BLOCK);
	uint64_t rec = align_up(ring_record_span(log->max_record) + 2 * BLOCK, BLOCK);
	struct iovec iov[2];

	if (rec > need)
		need = rec;
	want = (size_t)align_up(want ? want : SEGLOG_DEFAULT_STAGING_BYTES, BLOCK);
	log->cap = want > need ? want : (size_t)need;
	for (unsigned i = 0; i < 2; i++) {
		struct stage *s = &log->st[i];

		if (posix_memalign((void **)&s->mem, BLOCK, log->cap) != 0) {
			s->mem = NULL;
			return -ENOMEM;
		}
		memset(s->mem, 0, log->cap);
		s->tix_cap = (unsigned)(log->cap / RING_TIX_INTERVAL_BYTES + 2);
		s->tix = calloc(s->tix_cap, sizeof(*s->tix));
		if (!s->tix)
			return -ENOMEM;
		s->reg = -1;
		iov[i] = (struct iovec){ .iov_base = s->mem, .iov_len = log->cap };
	}
	/* Registered buffers save pinning pages on every write; without
	 * them (RLIMIT_MEMLOCK, or over 1 GiB each) writes work the same. */
	if (log->cap <= (1u << 30) && uring_register_buffers(log->u, iov, 2) == 0) {
		log->st[0].reg = 0;
		log->st[1].reg = 1;
	}
	return 0;
}

/* Take the recovered segments and the active one's last state. */
static int adopt_recovery(struct seglog *log, const struct recovery_result *r)
{
	for (size_t i = 0; i < r->count; i++) {
		const struct recovery_segment *rs = &r->segs[i];
		struct seg_info s = {
			.base_pos = rs->base_pos,
			.file_bytes = rs->file_bytes,
			.tix_bytes = rs->tix_bytes,
			.created_ns = rs->created_ns,
			.first_ts_ns = rs->first_ts_ns,
			.last_ts_ns = rs->last_ts_ns,
			.has_tix = rs->has_tix,
		};
		int rc = segs_push(log, &s);

		if (rc < 0)
			return rc;
		if (rs->has_tix && rs->last_ts_ns > log->tix_ts)
			log->tix_ts = rs->last_ts_ns;
	}
	if (r->count) {
		const struct recovery_segment *last = &r->segs[r->count - 1];

		log->tix_seg = last->base_pos;
		log->tix_have = last->has_tix;
		log->tix_last_pos = last->last_tix_pos;
	}
	return 0;
}

/* Fill the current buffer with the partial block at the log's end. */
static int staging_resume(struct seglog *log)
{
	struct stage *s = &log->st[0];
	struct seg_info *a = active(log);
	uint64_t off = RING_SEG_HEADER_BYTES + (log->end - a->base_pos);
	ssize_t n;

	log->cur = 0;
	stage_start(log, s, a->base_pos, off, NULL, false);
	if (!s->keep)
		return 0;
	/* One aligned block, as O_DIRECT reads want. */
	n = pread(log->fd, s->mem, BLOCK, (off_t)s->file_off);
	if (n < 0)
		return -errno;
	return (size_t)n < s->keep ? -EIO : 0;
}

/* Append @src to the string in @dst (@size bytes), cut to fit. */
static void str_append(char *dst, size_t size, const char *src)
{
	size_t n = strlen(dst), k = strlen(src);

	if (n + 1 >= size)
		return;
	if (k > size - 1 - n)
		k = size - 1 - n;
	memcpy(dst + n, src, k);
	dst[n + k] = 0;
}

static void recovery_report(const struct recovery_result *r, struct seglog_recovery *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->end_pos = r->end_pos;
	ret->cut_bytes = r->cut_bytes;
	ret->cut_pos = r->cut_bytes ? r->cut_pos : r->end_pos;
	ret->segments = r->found;
	/* The cut first; damage elsewhere (left alone) after it, or alone
	 * with cut_bytes 0. */
	str_append(ret->reason, sizeof(ret->reason), r->reason);
	if (r->reason[0] && r->damage[0])
		str_append(ret->reason, sizeof(ret->reason), "; also ");
	str_append(ret->reason, sizeof(ret->reason), r->damage);
}

int seglog_open(const char *topic_dir, const struct ring_topic_config *config,
		const struct seglog_options *options, struct seglog **ret_log,
		struct seglog_recovery *ret_recovery)
{
	struct recovery_result r = { 0 };
	struct seglog *log;
	int rc;

	ring_validate_or_return(topic_dir && config && ret_log, -EINVAL);
	ring_validate_or_return(!options || options->staging_bytes % BLOCK == 0, -EINVAL);
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->fd = -1;
	log->tix_fd = -1;
	log->dirfd = -1;
	log->direct = options && options->direct_io;
	log->blk = log->direct ? BLOCK : 1;
	log->file_mode = config->file_mode ? config->file_mode : RING_DEFAULT_FILE_MODE;
	limits_of(config, &log->max_record, &log->max_span, &log->segment_bytes);
	log->dir = strdup(topic_dir);
	if (!log->dir) {
		rc = -ENOMEM;
		goto fail;
	}
	log->dirfd = open(topic_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dirfd < 0) {
		rc = -errno;
		goto fail;
	}
	if (posix_memalign((void **)&log->hdr, BLOCK, RING_SEG_HEADER_BYTES) != 0) {
		log->hdr = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	rc = recovery_run(topic_dir, log->max_record, &r);
	if (rc == -EBADMSG && ret_recovery) {
		/* The one failure that needs its reason to be acted upon: say
		 * which file is damaged and how (see seglog_open()). */
		memset(ret_recovery, 0, sizeof(*ret_recovery));
		str_append(ret_recovery->reason, sizeof(ret_recovery->reason), r.damage);
	}
	if (rc < 0)
		goto fail;
	rc = uring_open(&log->u);
	if (rc < 0)
		goto fail;
	rc = staging_alloc(log, options ? options->staging_bytes : 0);
	if (rc < 0)
		goto fail;
	rc = adopt_recovery(log, &r);
	if (rc == 0 && !log->nsegs)
		rc = segment_create(log, 0);
	if (rc < 0)
		goto fail;
	rc = segment_open_files(log, active(log)->base_pos, &log->fd, &log->tix_fd);
	if (rc < 0)
		goto fail;
	log->tix_count = active(log)->tix_bytes / RING_TIX_ENTRY_BYTES;
	log->end = log->persisted = r.count ? r.end_pos : 0;
	/* Whatever a previous run wrote may be in the page cache only: the
	 * first sync covers all of the active segment. */
	log->unsynced = true;
	rc = staging_resume(log);
	if (rc < 0)
		goto fail;
	if (ret_recovery)
		recovery_report(&r, ret_recovery);
	recovery_result_free(&r);
	*ret_log = log;
	return 0;
fail:
	recovery_result_free(&r);
	seglog_close(log);
	return rc;
}
