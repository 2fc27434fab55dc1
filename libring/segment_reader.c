/* SPDX-License-Identifier: MIT */
/*
 * segment_reader.c - see segment_reader.h. Reads with pread() into buffers
 * of its own and checks every record there (segment_format.h); it never
 * writes, never maps a segment and never trusts a length it has not
 * bounded by the file and by max_record_bytes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment_reader.h"

#define ITER_MIN_BUF (64u * 1024u)

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int ringi_seg_list(const char *dir, uint64_t **ret_bases, size_t *ret_count)
{
	DIR *d;
	struct dirent *e;
	uint64_t *bases = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	ring_validate_or_return(dir && ret_bases && ret_count, -EINVAL);
	d = opendir(dir);
	if (!d)
		return -errno;
	for (;;) {
		uint64_t base;

		errno = 0;
		e = readdir(d);
		if (!e) {
			rc = -errno;
			break;
		}
		if (ring_seg_name_parse(e->d_name, RING_SEG_SUFFIX, &base) < 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			uint64_t *nb;

			if (ncap > RINGI_SEG_LIST_MAX) {
				rc = -E2BIG;
				break;
			}
			nb = realloc(bases, ncap * sizeof(*nb));
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			bases = nb;
			cap = ncap;
		}
		bases[n++] = base;
	}
	(void)closedir(d);
	if (rc < 0) {
		free(bases);
		return rc;
	}
	if (n)
		qsort(bases, n, sizeof(*bases), cmp_u64);
	*ret_bases = bases;
	*ret_count = n;
	return 0;
}

int ringi_seg_path(char *buf, size_t size, const char *dir, uint64_t base_pos,
		   const char *suffix)
{
	char name[RING_SEG_NAME_BYTES];
	int n;

	if (ring_seg_name(name, sizeof(name), base_pos, suffix) < 0)
		return -ENAMETOOLONG;
	n = snprintf(buf, size, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int64_t ringi_seg_find(const uint64_t *bases, size_t count, uint64_t pos)
{
	size_t lo = 0, hi = count;

	if (!count || pos < bases[0])
		return -ENOENT;
	/* Invariant: bases[lo] <= pos, and every index >= hi is > pos. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (bases[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return (int64_t)lo;
}

/* pread() all of @len unless the file ends first: the bytes read. */
static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	/* Bounded: every pass reads at least one byte or stops. */
	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int ringi_seg_open(const char *dir, uint64_t base_pos, struct ringi_segment *ret_seg,
		   const char **ret_reason)
{
	char path[4096];
	uint8_t hdr[sizeof(struct ring_seg_header)];
	struct ring_seg_header h;
	const char *why = NULL;
	struct stat st;
	ssize_t n;
	int fd, rc;

	ring_validate_or_return(dir && ret_seg, -EINVAL);
	rc = ringi_seg_path(path, sizeof(path), dir, base_pos, RING_SEG_SUFFIX);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	n = pread_full(fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		rc = (int)n;
		goto fail;
	}
	rc = ring_seg_header_check(hdr, (size_t)n, &h, &why);
	if (rc == 0 && h.base_pos != base_pos) {
		why = "header base differs from the file name";
		rc = -EBADMSG;
	}
	if (rc == 0 && (uint64_t)st.st_size < RING_SEG_HEADER_BYTES) {
		why = "header truncated";
		rc = -EBADMSG;
	}
	if (rc < 0) {
		if (ret_reason)
			*ret_reason = why;
		goto fail;
	}
	ret_seg->fd = fd;
	ret_seg->base_pos = base_pos;
	ret_seg->created_ns = h.created_ns;
	ret_seg->file_bytes = (uint64_t)st.st_size;
	return 0;
fail:
	(void)close(fd);
	return rc;
}

int ringi_seg_refresh(struct ringi_segment *seg)
{
	struct stat st;

	if (fstat(seg->fd, &st) < 0)
		return -errno;
	seg->file_bytes = (uint64_t)st.st_size;
	return 0;
}

void ringi_seg_close(struct ringi_segment *seg)
{
	if (seg && seg->fd >= 0) {
		(void)close(seg->fd);
		seg->fd = -1;
	}
}

int ringi_seg_iter_init(struct ringi_seg_iter *it, const struct ringi_segment *seg, uint64_t pos,
			uint64_t limit_pos, uint64_t max_record_bytes)
{
	uint64_t end = ringi_seg_file_end(seg);

	ring_validate_or_return(it && seg && seg->fd >= 0, -EINVAL);
	ring_validate_or_return(pos >= seg->base_pos && pos % 8 == 0, -EINVAL);
	memset(it, 0, sizeof(*it));
	it->seg = seg;
	it->pos = pos;
	it->limit_pos = limit_pos < end ? limit_pos : end;
	if (pos > it->limit_pos)
		it->limit_pos = pos;
	it->max_record = max_record_bytes;
	it->buf_cap = ITER_MIN_BUF;
	it->buf = malloc(it->buf_cap);
	if (!it->buf)
		return -ENOMEM;
	it->stop_pos = pos;
	return 0;
}

void ringi_seg_iter_free(struct ringi_seg_iter *it)
{
	if (it) {
		free(it->buf);
		it->buf = NULL;
	}
}

/*
 * Make [pos, pos + need) readable in the window, reading ahead as far as
 * the buffer and the limit allow. need <= limit - pos. 0, -ENOMEM,
 * -EBADMSG (the file is shorter than its size said), -errno.
 */
static int window_fill(struct ringi_seg_iter *it, uint64_t pos, uint64_t need)
{
	uint64_t want, room = it->limit_pos - pos;
	ssize_t n;

	if (pos >= it->win_pos && pos + need <= it->win_pos + it->win_len)
		return 0;
	if (need > it->buf_cap) {
		/* need is bounded by a record span the caller has checked
		 * against max_record_bytes and the file size. */
		size_t cap = (size_t)((need + ITER_MIN_BUF - 1) / ITER_MIN_BUF * ITER_MIN_BUF);
		uint8_t *nb = malloc(cap);

		if (!nb)
			return -ENOMEM;
		free(it->buf);
		it->buf = nb;
		it->buf_cap = cap;
	}
	want = room < it->buf_cap ? room : it->buf_cap;
	it->win_len = 0;
	n = pread_full(it->seg->fd, it->buf, (size_t)want,
		       RING_SEG_HEADER_BYTES + (pos - it->seg->base_pos));
	if (n < 0)
		return (int)n;
	it->win_pos = pos;
	it->win_len = (size_t)n;
	return (uint64_t)n < need ? -EBADMSG : 0;
}

/*
 * Check that the skip at @pos (@span bytes, judged by its word) is zero
 * after its word, one window at a time: 0 if so, 1 if not, 2 if the file
 * is shorter than its size said, or -errno.
 */
static int skip_body_check(struct ringi_seg_iter *it, uint64_t pos, uint64_t span)
{
	uint64_t at = pos + 8, end = pos + span;

	/* Bounded: each pass checks at least one byte of the span. */
	while (at < end) {
		uint64_t n = end - at < it->buf_cap ? end - at : it->buf_cap;
		int rc = window_fill(it, at, n);

		if (rc == -EBADMSG)
			return 2;
		if (rc < 0)
			return rc;
		if (!ring_seg_all_zero(it->buf + (at - it->win_pos), n))
			return 1;
		at += n;
	}
	return 0;
}

static int iter_damage(struct ringi_seg_iter *it, const char *why)
{
	it->stop_pos = it->pos;
	it->stop_reason = why;
	it->limit_pos = it->pos;	/* every later call ends here too */
	return -EBADMSG;
}

int ringi_seg_iter_next(struct ringi_seg_iter *it, struct ringi_seg_rec *ret_rec)
{
	uint64_t pos = it->pos, avail, span = 0, w;
	const char *why = NULL;
	const uint8_t *p;
	enum ring_seg_verdict v;
	int rc;

	if (it->stop_reason && strcmp(it->stop_reason, "zero header") != 0)
		return -EBADMSG;
	avail = it->limit_pos - pos;
	if (avail == 0) {
		it->stop_pos = pos;
		return 0;
	}
	rc = window_fill(it, pos, avail < RING_RECORD_HEADER_BYTES ? avail
								: RING_RECORD_HEADER_BYTES);
	if (rc == -EBADMSG)
		return iter_damage(it, "file shorter than its size");
	if (rc < 0)
		return rc;
	p = it->buf + (pos - it->win_pos);
	v = ring_seg_word_judge(p, avail, it->max_record, &span, &why);
	if (v == RING_SEG_REC_END) {
		it->stop_pos = pos;
		it->stop_reason = "zero header";
		it->limit_pos = pos;
		return 0;
	}
	if (v == RING_SEG_REC_BAD)
		return iter_damage(it, why);
	w = ring_seg_get64(p);
	if (ring_word_state(w) == RING_STATE_SKIPPED && span > 8) {
		/* On disk a skip is its word and zeros (the writer made it
		 * so): a bit flipped inside it, or a committed record whose
		 * state bit flipped, shows as a nonzero byte here. Piecewise,
		 * since a skip may be larger than any window. */
		rc = skip_body_check(it, pos, span);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return iter_damage(it, rc == 1 ? "nonzero bytes in a skip"
						       : "file shorter than its size");
		rc = window_fill(it, pos, 8);
		if (rc < 0)
			return rc == -EBADMSG ? iter_damage(it, "file shorter than its size") : rc;
		p = it->buf + (pos - it->win_pos);
	} else if (ring_word_state(w) == RING_STATE_COMMITTED) {
		rc = window_fill(it, pos, span);
		if (rc == -EBADMSG)
			return iter_damage(it, "file shorter than its size");
		if (rc < 0)
			return rc;
		p = it->buf + (pos - it->win_pos);
		v = ring_seg_record_check(p, span, it->max_record, &span, &why);
		if (v != RING_SEG_REC_OK)
			return iter_damage(it, v == RING_SEG_REC_BAD ? why : "zero header");
	}
	memset(ret_rec, 0, sizeof(*ret_rec));
	ret_rec->pos = pos;
	ret_rec->span = span;
	ret_rec->word = w;
	ret_rec->committed = ring_word_state(w) == RING_STATE_COMMITTED;
	ret_rec->bytes = p;
	if (ret_rec->committed) {
		ret_rec->timestamp_ns = ring_seg_get64(p + RING_REC_OFF_TIMESTAMP);
		ret_rec->type = ring_seg_get32(p + RING_REC_OFF_TYPE);
		ret_rec->len = ring_word_len(w);
	}
	it->pos = pos + span;
	it->stop_pos = it->pos;
	return 1;
}

/* Entries in file order, cut at the first one that breaks the order. */
static size_t tix_valid_prefix(const struct ring_tix_entry *e, size_t n, uint64_t base_pos)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (e[i].pos < base_pos || e[i].pos % 8)
			break;
		if (i && (e[i].pos <= e[i - 1].pos || e[i].timestamp_ns < e[i - 1].timestamp_ns))
			break;
	}
	return i;
}

int ringi_tix_read(const char *dir, uint64_t base_pos, struct ring_tix_entry **ret_entries,
		   size_t *ret_count)
{
	char path[4096];
	struct ring_tix_entry *e = NULL;
	struct stat st;
	size_t n;
	ssize_t got;
	int fd, rc;

	ring_validate_or_return(dir && ret_entries && ret_count, -EINVAL);
	rc = ringi_seg_path(path, sizeof(path), dir, base_pos, RING_TIX_SUFFIX);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		*ret_entries = NULL;
		*ret_count = 0;
		return 0;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	n = (size_t)st.st_size / RING_TIX_ENTRY_BYTES;	/* a torn last entry drops out */
	if (n > RINGI_TIX_MAX_ENTRIES) {
		rc = -E2BIG;
		goto out;
	}
	if (n) {
		e = malloc(n * sizeof(*e));
		if (!e) {
			rc = -ENOMEM;
			goto out;
		}
		got = pread_full(fd, e, n * sizeof(*e), 0);
		if (got < 0) {
			rc = (int)got;
			goto out;
		}
		n = tix_valid_prefix(e, (size_t)got / sizeof(*e), base_pos);
	}
	if (!n) {
		free(e);
		e = NULL;
	}
	*ret_entries = e;
	*ret_count = n;
	e = NULL;
	rc = 0;
out:
	free(e);
	(void)close(fd);
	return rc;
}

int64_t ringi_tix_search(const struct ring_tix_entry *entries, size_t count, uint64_t ts_ns)
{
	size_t lo = 0, hi = count;

	/* The first entry with timestamp >= ts_ns is at lo when the loop ends. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (entries[mid].timestamp_ns < ts_ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int64_t)lo - 1;
}

/* The first valid entry of a segment's time index: 1, 0 (none), -errno. */
static int tix_first(const char *dir, uint64_t base_pos, struct ring_tix_entry *ret)
{
	char path[4096];
	struct ring_tix_entry e;
	ssize_t n;
	int fd, rc;

	rc = ringi_seg_path(path, sizeof(path), dir, base_pos, RING_TIX_SUFFIX);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = pread_full(fd, &e, sizeof(e), 0);
	(void)close(fd);
	if (n < 0)
		return (int)n;
	if ((size_t)n < sizeof(e) || tix_valid_prefix(&e, 1, base_pos) != 1)
		return 0;
	*ret = e;
	return 1;
}

/*
 * Scan from @pos in segment @i onwards for the first committed record with
 * timestamp >= @ts_ns. 1 found, 0 not found (*ret_pos the end), -errno.
 */
static int scan_forward(const char *dir, const uint64_t *bases, size_t count, size_t i,
			uint64_t pos, uint64_t ts_ns, uint64_t max_record, uint64_t *ret_pos)
{
	uint64_t end = pos;

	for (; i < count; i++) {
		struct ringi_segment seg;
		struct ringi_seg_iter it;
		struct ringi_seg_rec rec;
		uint64_t limit = i + 1 < count ? bases[i + 1] : UINT64_MAX;
		int rc;

		if (pos < bases[i])
			pos = bases[i];
		rc = ringi_seg_open(dir, bases[i], &seg, NULL);
		if (rc < 0)
			return rc;
		rc = ringi_seg_iter_init(&it, &seg, pos, limit, max_record);
		if (rc < 0) {
			ringi_seg_close(&seg);
			return rc;
		}
		/* Bounded by the segment's size: every record advances. */
		while ((rc = ringi_seg_iter_next(&it, &rec)) == 1) {
			if (rec.committed && rec.timestamp_ns >= ts_ns)
				break;
		}
		end = it.stop_pos;
		ringi_seg_iter_free(&it);
		ringi_seg_close(&seg);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			*ret_pos = rec.pos;
			return 1;
		}
	}
	*ret_pos = end;
	return 0;
}

int ringi_seg_time_lookup(const char *dir, uint64_t ts_ns, uint64_t max_record_bytes,
			  uint64_t *ret_pos)
{
	uint64_t *bases = NULL, start;
	size_t count = 0, i, first = 0;
	int rc;

	ring_validate_or_return(dir && ret_pos, -EINVAL);
	rc = ringi_seg_list(dir, &bases, &count);
	if (rc < 0)
		return rc;
	if (!count) {
		free(bases);
		return -ENOENT;
	}
	start = bases[0];
	/* The newest segment whose first entry is earlier than ts_ns: index
	 * timestamps ascend across segments too. Strictly earlier: records
	 * just before an entry may carry the very same timestamp. */
	for (i = count; i-- > 0;) {
		struct ring_tix_entry e0, *e = NULL;
		size_t n = 0;
		int64_t k;

		rc = tix_first(dir, bases[i], &e0);
		if (rc < 0)
			goto out;
		if (rc == 0 || e0.timestamp_ns >= ts_ns)
			continue;
		rc = ringi_tix_read(dir, bases[i], &e, &n);
		if (rc < 0)
			goto out;
		k = ringi_tix_search(e, n, ts_ns);
		first = i;
		start = k >= 0 ? e[k].pos : bases[i];
		free(e);
		break;
	}
	rc = scan_forward(dir, bases, count, first, start, ts_ns, max_record_bytes, ret_pos);
out:
	free(bases);
	return rc;
}
