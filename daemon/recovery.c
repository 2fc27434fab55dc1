/* SPDX-License-Identifier: MIT */
/*
 * recovery.c - see recovery.h. Reads through segment_reader.c, so that
 * recovery, consumers and ringctl verify judge records by one definition.
 * It only ever removes bytes that are no log: a torn or damaged tail of the
 * last segment (reported), zero padding, unfinished creations and time
 * index entries it can rebuild.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recovery.h"
#include "segment_reader.h"

#define ZERO_CHECK_CHUNK (64u * 1024u)

/* 1 if the file bytes [from, to) are all zero, 0 if not, -errno. */
static int all_zero(int fd, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[ZERO_CHECK_CHUNK];
	uint8_t *buf = malloc(ZERO_CHECK_CHUNK);
	int rc = 1;

	if (!buf)
		return -ENOMEM;
	/* Bounded by the file's size. */
	while (from < to) {
		size_t want = to - from < ZERO_CHECK_CHUNK ? (size_t)(to - from) : ZERO_CHECK_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)from);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		if (memcmp(buf, zeros, (size_t)n) != 0) {
			rc = 0;
			break;
		}
		from += (uint64_t)n;
	}
	free(buf);
	return rc;
}

/* Truncate @dir's file of @base/@suffix to @size and make that durable. */
static int truncate_durably(const char *dir, uint64_t base, const char *suffix, uint64_t size)
{
	char path[4096];
	int fd, rc;

	rc = ringi_seg_path(path, sizeof(path), dir, base, suffix);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = 0;
	if (ftruncate(fd, (off_t)size) < 0 || fdatasync(fd) < 0)
		rc = -errno;
	(void)close(fd);
	return rc;
}

int recovery_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	(void)close(fd);
	return rc;
}

/*
 * Remove what holds no log: "<base>.seg.tmp" (a creation that did not
 * finish) and "<base>.tix" without its "<base>.seg". 1 if anything was
 * removed, 0 if not, -errno.
 */
static int remove_leftovers(const char *dir, const uint64_t *bases, size_t count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int removed = 0, rc = 0;

	if (!d)
		return -errno;
	for (;;) {
		uint64_t base;
		bool drop;

		errno = 0;
		e = readdir(d);
		if (!e) {
			rc = -errno;
			break;
		}
		if (ring_seg_name_parse(e->d_name, RING_SEG_TMP_SUFFIX, &base) == 0)
			drop = true;
		else if (ring_seg_name_parse(e->d_name, RING_TIX_SUFFIX, &base) == 0)
			drop = ringi_seg_find(bases, count, base) < 0 ||
			       bases[ringi_seg_find(bases, count, base)] != base;
		else
			continue;
		if (!drop)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
			rc = -errno;
			break;
		}
		removed = 1;
	}
	(void)closedir(d);
	return rc < 0 ? rc : removed;
}

/* Fill @s's time index facts from its .tix file. */
static int load_tix(const char *dir, struct recovery_segment *s)
{
	struct ring_tix_entry *e = NULL;
	char path[4096];
	struct stat st;
	size_t n = 0;
	int rc = ringi_tix_read(dir, s->base_pos, &e, &n);

	if (rc < 0)
		return rc;
	s->has_tix = n > 0;
	if (n) {
		s->first_ts_ns = e[0].timestamp_ns;
		s->last_ts_ns = e[n - 1].timestamp_ns;
		s->last_tix_pos = e[n - 1].pos;
	}
	free(e);
	rc = ringi_seg_path(path, sizeof(path), dir, s->base_pos, RING_TIX_SUFFIX);
	if (rc < 0)
		return rc;
	s->tix_bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

static void note_damage(struct recovery_result *r, const char *fmt, uint64_t base,
			const char *why)
{
	if (r->damage[0])
		return;
	(void)snprintf(r->damage, sizeof(r->damage), fmt, (unsigned long long)base, why);
}

/*
 * The closed segment @s, followed by a segment at @next_base: its end is
 * the next base. Zero padding past it (a crash in the middle of rolling,
 * before the padding was cut) is cut now; a gap or an overlap with data
 * is damage, reported and left alone.
 */
static int check_closed(const char *dir, struct recovery_segment *s, uint64_t next_base,
			struct recovery_result *r)
{
	struct ringi_segment seg;
	const char *why = NULL;
	uint64_t end;
	int rc;

	rc = ringi_seg_open(dir, s->base_pos, &seg, &why);
	if (rc == -EBADMSG) {
		char path[4096];
		struct stat st;

		s->damaged = true;
		r->damaged++;
		note_damage(r, "segment %020llu: %s", s->base_pos, why);
		s->end_pos = next_base;
		/* Still counted for usage and retention. */
		if (ringi_seg_path(path, sizeof(path), dir, s->base_pos, RING_SEG_SUFFIX) == 0 &&
		    stat(path, &st) == 0)
			s->file_bytes = (uint64_t)st.st_size;
		return load_tix(dir, s);
	}
	if (rc < 0)
		return rc;
	s->created_ns = seg.created_ns;
	s->file_bytes = seg.file_bytes;
	end = ringi_seg_file_end(&seg);
	s->end_pos = end;
	if (end > next_base) {
		rc = all_zero(seg.fd, RING_SEG_HEADER_BYTES + (next_base - s->base_pos),
			      seg.file_bytes);
		if (rc == 1) {
			s->file_bytes = RING_SEG_HEADER_BYTES + (next_base - s->base_pos);
			s->end_pos = next_base;
			rc = truncate_durably(dir, s->base_pos, RING_SEG_SUFFIX, s->file_bytes);
		} else if (rc == 0) {
			r->breaks++;
			note_damage(r, "segment %020llu: %s", s->base_pos,
				    "runs past the next segment's base");
		}
	} else if (end < next_base) {
		r->breaks++;
		note_damage(r, "segment %020llu: %s", s->base_pos,
			    "ends before the next segment's base (a gap)");
	}
	ringi_seg_close(&seg);
	if (rc < 0)
		return rc;
	return load_tix(dir, s);
}

struct tix_list {
	struct ring_tix_entry *e;
	size_t n, cap;
};

static int tix_push(struct tix_list *l, uint64_t ts, uint64_t pos)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct ring_tix_entry *ne;

		if (ncap > RINGI_TIX_MAX_ENTRIES)
			return -E2BIG;
		ne = realloc(l->e, ncap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		l->e = ne;
		l->cap = ncap;
	}
	l->e[l->n++] = (struct ring_tix_entry){ .timestamp_ns = ts, .pos = pos };
	return 0;
}

/* Make the last segment's .tix hold exactly @l (rewritten only if it
 * differs, then synced). */
static int tix_reconcile(const char *dir, uint64_t base, const struct tix_list *l,
			 uint64_t *ret_bytes)
{
	char path[4096];
	size_t want = l->n * sizeof(*l->e);
	uint8_t *cur = NULL;
	struct stat st;
	int fd, rc;

	rc = ringi_seg_path(path, sizeof(path), dir, base, RING_TIX_SUFFIX);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size == want) {
		cur = malloc(want ? want : 1);
		if (!cur) {
			rc = -ENOMEM;
			goto out;
		}
		if (pread(fd, cur, want, 0) == (ssize_t)want &&
		    (want == 0 || memcmp(cur, l->e, want) == 0))
			goto out;	/* already right */
	}
	if (want) {
		ssize_t n = pwrite(fd, l->e, want, 0);

		if (n != (ssize_t)want) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
	}
	if (ftruncate(fd, (off_t)want) < 0 || fdatasync(fd) < 0)
		rc = -errno;
out:
	free(cur);
	(void)close(fd);
	if (rc == 0)
		*ret_bytes = want;
	return rc;
}

/*
 * The last segment: walk its records, cut where they stop being valid,
 * rebuild its time index. @prev_ts is the last time index timestamp of
 * the segments before it (index timestamps never decrease).
 */
static int recover_last(const char *dir, struct recovery_segment *s, uint64_t max_record,
			uint64_t prev_ts, struct recovery_result *r)
{
	struct ringi_segment seg;
	struct ringi_seg_iter it;
	struct ringi_seg_rec rec;
	struct tix_list tix = { 0 };
	const char *why = NULL;
	uint64_t ts = prev_ts, file_end, end;
	int rc, n;

	rc = ringi_seg_open(dir, s->base_pos, &seg, &why);
	if (rc == -EBADMSG) {
		(void)snprintf(r->damage, sizeof(r->damage), "segment %020llu (the last): %s",
			       (unsigned long long)s->base_pos, why);
		return rc;
	}
	if (rc < 0)
		return rc;
	s->created_ns = seg.created_ns;
	file_end = ringi_seg_file_end(&seg);
	rc = ringi_seg_iter_init(&it, &seg, s->base_pos, UINT64_MAX, max_record);
	if (rc < 0)
		goto out_seg;
	/* Bounded: every record advances by its span, within the file. */
	while ((n = ringi_seg_iter_next(&it, &rec)) == 1) {
		if (!rec.committed ||
		    !ring_tix_wants(tix.n > 0, tix.n ? tix.e[tix.n - 1].pos : 0, rec.pos))
			continue;
		if (rec.timestamp_ns > ts)
			ts = rec.timestamp_ns;
		rc = tix_push(&tix, ts, rec.pos);
		if (rc < 0)
			goto out_iter;
	}
	if (n < 0 && n != -EBADMSG) {
		rc = n;
		goto out_iter;
	}
	end = it.stop_pos;
	if (n == -EBADMSG) {
		(void)snprintf(r->reason, sizeof(r->reason), "%s", it.stop_reason);
	} else if (it.stop_reason && end < file_end) {
		/* A zero word: the normal end, if only zeros follow it. */
		rc = all_zero(seg.fd, RING_SEG_HEADER_BYTES + (end - s->base_pos),
			      seg.file_bytes);
		if (rc < 0)
			goto out_iter;
		if (rc == 0)
			(void)snprintf(r->reason, sizeof(r->reason),
				       "zero header with data after it");
	}
	rc = 0;
	if (r->reason[0]) {
		r->cut_bytes = file_end - end;
		r->cut_pos = end;
	}
	s->end_pos = end;
	s->file_bytes = RING_SEG_HEADER_BYTES + (end - s->base_pos);
	if (seg.file_bytes != s->file_bytes)
		rc = truncate_durably(dir, s->base_pos, RING_SEG_SUFFIX, s->file_bytes);
	if (rc == 0)
		rc = tix_reconcile(dir, s->base_pos, &tix, &s->tix_bytes);
	if (rc == 0) {
		s->has_tix = tix.n > 0;
		if (tix.n) {
			s->first_ts_ns = tix.e[0].timestamp_ns;
			s->last_ts_ns = tix.e[tix.n - 1].timestamp_ns;
			s->last_tix_pos = tix.e[tix.n - 1].pos;
		}
	}
out_iter:
	ringi_seg_iter_free(&it);
out_seg:
	ringi_seg_close(&seg);
	free(tix.e);
	return rc;
}

int recovery_run(const char *dir, uint64_t max_record_bytes, struct recovery_result *ret)
{
	struct recovery_result r;
	uint64_t *bases = NULL, prev_ts = 0;
	size_t count = 0, i;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = ringi_seg_list(dir, &bases, &count);
	if (rc < 0)
		return rc;
	rc = remove_leftovers(dir, bases, count);
	if (rc > 0)
		rc = recovery_sync_dir(dir);
	if (rc < 0)
		goto fail;
	r.found = (unsigned)count;
	if (count) {
		r.segs = calloc(count, sizeof(*r.segs));
		if (!r.segs) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	r.count = count;
	for (i = 0; i < count; i++)
		r.segs[i].base_pos = bases[i];
	for (i = 0; i + 1 < count; i++) {
		rc = check_closed(dir, &r.segs[i], bases[i + 1], &r);
		if (rc < 0)
			goto fail;
		if (r.segs[i].has_tix && r.segs[i].last_ts_ns > prev_ts)
			prev_ts = r.segs[i].last_ts_ns;
	}
	if (count) {
		rc = recover_last(dir, &r.segs[count - 1], max_record_bytes, prev_ts, &r);
		if (rc < 0) {
			if (rc == -EBADMSG)
				memcpy(ret->damage, r.damage, sizeof(r.damage));
			goto fail;
		}
		r.end_pos = r.segs[count - 1].end_pos;
	}
	free(bases);
	*ret = r;
	return 0;
fail:
	free(bases);
	free(r.segs);
	return rc;
}

void recovery_result_free(struct recovery_result *r)
{
	if (r) {
		free(r->segs);
		r->segs = NULL;
		r->count = 0;
	}
}
