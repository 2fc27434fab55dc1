/* SPDX-License-Identifier: MIT */
/*
 * cmd_verify.c - verify and recover: check every segment file record by
 * record (header, span, CRC32C, the segments' continuity, the time
 * indexes), and repair what is damaged.
 *
 * One scanner serves both. It walks each segment with libring's checked
 * iterator (segment_reader.h); at damage it works out the repair and goes
 * on past the damaged bytes, so that one run reports every damaged place.
 * The repairs, cheapest loss first:
 *  - restore: the ring still holds the record (ringd crashed, the host
 *    did not): copy it back from shared memory, with its CRC;
 *  - skip: turn the damaged bytes into a SKIPPED record (padding, which
 *    every reader passes over) up to the next record whose CRC checks, so
 *    that positions stay where they are and the records after it survive;
 *  - truncate: nothing valid follows in the last segment: cut it there, as
 *    ringd's own startup recovery would;
 *  - a damaged segment header is rewritten from the file's name; leftover
 *    *.seg.tmp files are removed; time indexes of repaired segments, and
 *    those pointing inside records, are rebuilt from the records.
 * recover is a dry run unless --execute, and --execute takes ringd's lock
 * on the data directory, so it refuses to run beside ringd.
 *
 * ringd's recovery (daemon/recovery.c) is not linked in: it truncates the
 * last segment's tail and leaves older damage alone, while an operator
 * wants every damaged place named and the records after it kept.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "output.h"
#include "ringctl.h"
#include "segment_reader.h"
#include "topic_config.h"

enum {
	OPT_JSON = CTL_OPT_FIRST_LONG,
	OPT_EXECUTE,
};

/* Resynchronisation reads the damaged segment in windows this large. */
#define RESYNC_WINDOW (4u << 20)
/* A skip record's length is 32 bits: longer damage takes several. */
#define SKIP_CHUNK_MAX (UINT32_C(1) << 30)

static const char verify_help[] =
	"Usage: ringctl verify [TOPIC] [--json]\n"
	"\n"
	"Check the segment files of TOPIC (or of every persistent topic of the\n"
	"data directory): each segment's header, every record's header, span and\n"
	"CRC32C, that each segment starts where the one before ends, and that the\n"
	"time indexes point at records. Prints each damaged place (segment file,\n"
	"position, reason) and a summary per topic. While ringd runs, the active\n"
	"segment is checked up to the persisted position. A progress bar is drawn\n"
	"on stderr when it is a terminal.\n"
	"\n"
	"Options:\n"
	"  --json              one JSON object: {\"damaged\": BOOL, \"topics\": [...]}\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 no damage; 1 damage found (or the check failed); 2 usage\n"
	"error; 3 no such topic or data directory.\n";

static const char recover_help[] =
	"Usage: ringctl recover TOPIC [--execute] [--json]\n"
	"\n"
	"Repair TOPIC's segment files. Without --execute, only show what would be\n"
	"done. For each damaged place that ringctl verify finds:\n"
	"  restore         the ring still holds the record: copy it back (no loss)\n"
	"  skip            turn the damaged bytes into padding up to the next valid\n"
	"                  record: positions are kept, the damaged records are lost\n"
	"  truncate        nothing valid follows in the last segment: cut it there\n"
	"  rewrite header  a damaged segment header, rebuilt from the file name\n"
	"  remove          a leftover *.seg.tmp file of an interrupted roll\n"
	"  rebuild index   a time index (.tix) is rebuilt from its segment's records\n"
	"With --execute the data directory must not be served by ringd (stop it\n"
	"first): recover takes ringd's lock while it works, and refuses if ringd\n"
	"holds it. Consumers reading a repaired segment see the skipped records as\n"
	"gone; everything else reads as before.\n"
	"\n"
	"Options:\n"
	"  --execute           carry the repairs out\n"
	"  --json              one JSON object with the actions\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 nothing to do, or repaired (with --execute), or a plan\n"
	"shown; 1 failed (ringd runs, a repair failed); 2 usage error; 3 no such\n"
	"topic or data directory.\n";

enum action {
	ACT_NONE,	/* verify: only reported */
	ACT_RESTORE,
	ACT_SKIP,
	ACT_TRUNCATE,
	ACT_HEADER,
	ACT_REMOVE,
	ACT_INDEX,
};

static const char *const action_names[] = {
	[ACT_NONE] = "none",
	[ACT_RESTORE] = "restore",
	[ACT_SKIP] = "skip",
	[ACT_TRUNCATE] = "truncate",
	[ACT_HEADER] = "rewrite header",
	[ACT_REMOVE] = "remove",
	[ACT_INDEX] = "rebuild index",
};

/* One damaged place, and what recover does about it. */
struct finding {
	char file[RING_SEG_NAME_BYTES];
	uint64_t base;
	uint64_t pos;
	uint64_t bytes;		/* affected: restored, skipped, cut */
	const char *reason;
	enum action action;
	bool done;
};

struct topic_report {
	char name[RING_TOPIC_NAME_MAX + 1];
	bool persistent;
	unsigned segments;
	uint64_t bytes;		/* log bytes checked */
	uint64_t records;
	struct finding *f;
	size_t nf, capf;
	int error;		/* the scan itself failed */
};

struct scan {
	struct ctl *ctl;
	bool repair;		/* plan repairs (recover) */
	bool execute;		/* and carry them out */
	struct topic_report *rep;
	char dir[PATH_MAX];
	uint64_t max_record;
	struct ring_topic *topic;	/* NULL: no ring */
	uint8_t *buf;		/* a record, up to the largest span */
	size_t buf_cap;
	/* Progress over all topics. */
	bool bar;
	uint64_t total_bytes, done_bytes;
	double last_draw;
};

/* ---- progress ---- */

static void progress(struct scan *s, uint64_t add, bool final)
{
	char b1[32], b2[32], label[80];
	double now;

	s->done_bytes += add;
	if (!s->bar)
		return;
	now = ctl_mono_now();
	if (!final && now - s->last_draw < 0.1)
		return;
	s->last_draw = now;
	if (final) {
		clear_progress();
		return;
	}
	snprintf(label, sizeof(label), "%s / %s", fmt_bytes(b1, sizeof(b1), s->done_bytes),
		 fmt_bytes(b2, sizeof(b2), s->total_bytes));
	print_progress(s->total_bytes ? (double)s->done_bytes / (double)s->total_bytes : 1.0,
		       label);
}

/* ---- findings ---- */

static struct finding *add_finding(struct scan *s, uint64_t base, const char *suffix, uint64_t pos,
				   uint64_t bytes, const char *reason, enum action act)
{
	struct topic_report *r = s->rep;
	struct finding *f;

	if (r->nf == r->capf) {
		size_t cap = r->capf ? 2 * r->capf : 8;
		struct finding *v = realloc(r->f, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->f = v;
		r->capf = cap;
	}
	f = &r->f[r->nf++];
	memset(f, 0, sizeof(*f));
	if (ring_seg_name(f->file, sizeof(f->file), base, suffix) < 0)
		f->file[0] = '\0';
	f->base = base;
	f->pos = pos;
	f->bytes = bytes;
	f->reason = reason;
	f->action = s->repair ? act : ACT_NONE;
	return f;
}

/* ---- file helpers ---- */

static int seg_path(const struct scan *s, uint64_t base, const char *suffix, char *buf,
		    size_t size)
{
	return ringi_seg_path(buf, size, s->dir, base, suffix);
}

/* The segment at @base, opened for a repair: a descriptor or -errno. */
static int open_for_repair(const struct scan *s, uint64_t base)
{
	char path[PATH_MAX];
	int fd;

	if (seg_path(s, base, RING_SEG_SUFFIX, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* pwrite all of @len, then fdatasync. */
static int write_at(const struct scan *s, uint64_t base, const void *p, size_t len, uint64_t off)
{
	const uint8_t *b = p;
	int fd, rc = 0;

	fd = open_for_repair(s, base);
	if (fd < 0)
		return fd;
	while (len) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		b += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	(void)close(fd);
	return rc;
}

static int read_at(int fd, void *p, size_t len, uint64_t off, size_t *ret_n)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)p + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_n = got;
	return 0;
}

static int buf_reserve(struct scan *s, size_t need)
{
	uint8_t *b;

	if (need <= s->buf_cap)
		return 0;
	b = realloc(s->buf, need);
	if (!b)
		return -ENOMEM;
	s->buf = b;
	s->buf_cap = need;
	return 0;
}

/* ---- repairs ---- */

/*
 * The record at @pos as the ring holds it, made a disk record (CRC filled
 * in) in s->buf: 1 and its span, or 0 if the ring does not hold it.
 */
static int ring_fetch(struct scan *s, uint64_t pos, uint64_t *ret_span)
{
	struct ring_topic *t = s->topic;
	struct ring_topic_stat st;
	const char *why;
	uint64_t w, w2, span;

	if (!t || ring_topic_stat(t, &st) < 0 || pos < st.oldest_pos || pos >= st.persisted_pos)
		return 0;
	w = ring_load_acquire(&ringi_header_at(t, pos)->word);
	if (ring_word_lap(w) != ring_lap_of(pos, t->capacity_shift))
		return 0;
	span = ring_word_span(w, t->max_record, t->max_span);
	if (!span || pos + span > st.persisted_pos || buf_reserve(s, span) < 0)
		return 0;
	/* The data area is mapped twice: a record crossing the end is
	 * contiguous. Copy, then check nothing moved underneath. */
	memcpy(s->buf, ringi_header_at(t, pos), span);
	w2 = ring_load_acquire(&ringi_header_at(t, pos)->word);
	if (w2 != w || ring_topic_stat(t, &st) < 0 || pos < st.oldest_pos)
		return 0;
	if (ring_seg_get64(s->buf) != w)
		return 0;
	/* As ringd writes it: zero padding, canonical skips. */
	ring_seg_record_normalize(s->buf, span);
	if (ring_word_state(w) == RING_STATE_COMMITTED)
		ring_seg_put32(s->buf + RING_REC_OFF_CRC,
			       ring_seg_record_crc(s->buf, ring_word_len(w)));
	if (ring_seg_record_check(s->buf, span, s->max_record, &span, &why) != RING_SEG_REC_OK)
		return 0;
	*ret_span = span;
	return 1;
}

/*
 * The first position after @pos, below @end, where a committed record
 * with a matching CRC starts: where the log can be trusted again. 1 and
 * *ret_pos, 0 if there is none, -errno.
 */
static int resync(struct scan *s, int fd, uint64_t base, uint64_t pos, uint64_t end,
		  uint64_t *ret_pos)
{
	size_t win = RESYNC_WINDOW + (size_t)s->max_record + RING_RECORD_HEADER_BYTES + 8;
	uint64_t q = pos + 8;
	int rc;

	rc = buf_reserve(s, win);
	if (rc < 0)
		return rc;
	while (q < end) {
		uint64_t wend, span;
		const char *why;
		size_t n = 0;

		rc = read_at(fd, s->buf, (size_t)(end - q < win ? end - q : win),
			     RING_SEG_HEADER_BYTES + (q - base), &n);
		if (rc < 0)
			return rc;
		if (n < 8)
			return 0;
		wend = q + n;
		for (; q + 8 <= wend; q += 8) {
			const uint8_t *p = s->buf + (q - (wend - n));
			uint64_t w = ring_seg_get64(p);

			if (ring_word_state(w) != RING_STATE_COMMITTED)
				continue;
			if (wend < end && q + ring_record_span(ring_word_len(w)) > wend &&
			    ring_word_len(w) <= s->max_record)
				break;	/* read again from here */
			if (ring_seg_record_check(p, wend - q, s->max_record, &span, &why) ==
			    RING_SEG_REC_OK) {
				*ret_pos = q;
				return 1;
			}
		}
		if (wend >= end)
			break;
	}
	return 0;
}

/* Write SKIPPED records over [pos, end), the rest of each zeroed. */
static int write_skips(struct scan *s, uint64_t base, uint64_t pos, uint64_t end)
{
	int rc;

	while (pos < end) {
		uint64_t len = end - pos > SKIP_CHUNK_MAX ? SKIP_CHUNK_MAX : end - pos;
		size_t chunk = len > (1u << 20) ? (1u << 20) : (size_t)len;
		uint64_t off;

		rc = buf_reserve(s, chunk);
		if (rc < 0)
			return rc;
		uint64_t w = ring_word_make(RING_STATE_SKIPPED, RING_SLOT_MAINTAINER, 0,
					    (uint32_t)len);

		memset(s->buf, 0, chunk);
		memcpy(s->buf, &w, sizeof(w));
		for (off = 0; off < len; off += chunk) {
			size_t n = len - off < chunk ? (size_t)(len - off) : chunk;

			rc = write_at(s, base, s->buf, n, RING_SEG_HEADER_BYTES + (pos + off - base));
			if (rc < 0)
				return rc;
			if (off == 0)
				memset(s->buf, 0, 8);	/* one word per chunk */
		}
		pos += len;
	}
	return 0;
}

static int truncate_at(const struct scan *s, uint64_t base, uint64_t pos)
{
	int fd, rc = 0;

	fd = open_for_repair(s, base);
	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)(RING_SEG_HEADER_BYTES + (pos - base))) < 0 || fsync(fd) < 0)
		rc = -errno;
	(void)close(fd);
	return rc;
}

static int rewrite_header(struct scan *s, uint64_t base)
{
	int rc;

	rc = buf_reserve(s, RING_SEG_HEADER_BYTES);
	if (rc < 0)
		return rc;
	ring_seg_header_make(s->buf, base, ctl_realtime_ns());
	return write_at(s, base, s->buf, RING_SEG_HEADER_BYTES, 0);
}

/* Rebuild the .tix of the segment at @base from its records, up to @end. */
static int rebuild_index(struct scan *s, uint64_t base, uint64_t end)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	struct ring_tix_entry *e = NULL;
	size_t n = 0, cap = 0;
	struct ringi_segment seg;
	struct ringi_seg_iter it;
	struct ringi_seg_rec r;
	uint64_t last_pos = 0, ts = 0;
	bool have = false;
	int rc, fd;

	rc = ringi_seg_open(s->dir, base, &seg, NULL);
	if (rc < 0)
		return rc;
	rc = ringi_seg_iter_init(&it, &seg, base, end, s->max_record);
	if (rc < 0) {
		ringi_seg_close(&seg);
		return rc;
	}
	while ((rc = ringi_seg_iter_next(&it, &r)) == 1) {
		if (!r.committed || !ring_tix_wants(have, last_pos, r.pos))
			continue;
		if (n == cap) {
			struct ring_tix_entry *v;

			cap = cap ? 2 * cap : 64;
			v = realloc(e, cap * sizeof(*e));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			e = v;
		}
		if (r.timestamp_ns > ts)
			ts = r.timestamp_ns;
		e[n++] = (struct ring_tix_entry){ .timestamp_ns = ts, .pos = r.pos };
		have = true;
		last_pos = r.pos;
	}
	ringi_seg_iter_free(&it);
	ringi_seg_close(&seg);
	if (rc == -EBADMSG)
		rc = 0;	/* the index covers what reads */
	if (rc == 0)
		rc = seg_path(s, base, RING_TIX_SUFFIX, path, sizeof(path));
	if (rc == 0) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = -errno;
		} else {
			size_t len = n * sizeof(*e);

			if ((len && write(fd, e, len) != (ssize_t)len) || fsync(fd) < 0)
				rc = errno ? -errno : -EIO;
			(void)close(fd);
			if (rc == 0 && rename(tmp, path) < 0)
				rc = -errno;
			if (rc < 0)
				(void)unlink(tmp);
		}
	}
	free(e);
	return rc;
}

/* ---- the scan ---- */

static void set_done(struct scan *s, struct finding *f, int rc)
{
	if (!f)
		return;
	if (rc < 0) {
		ctl_os_error(s->ctl, rc, "topic '%s': %s %s at position %llu", s->rep->name,
			     action_names[f->action], f->file, (unsigned long long)f->pos);
		if (!s->rep->error)
			s->rep->error = rc;
		return;
	}
	f->done = true;
}

/* Check the time index of the segment at @base against the record
 * positions walked, @pos ascending; returns false at the first entry that
 * points inside a record. */
struct tix_check {
	struct ring_tix_entry *e;
	size_t n, k;
	bool bad;
};

static void tix_see(struct tix_check *tc, uint64_t pos)
{
	while (tc->k < tc->n && tc->e[tc->k].pos < pos) {
		tc->bad = true;
		tc->k++;
	}
	if (tc->k < tc->n && tc->e[tc->k].pos == pos)
		tc->k++;
}

/*
 * One segment, from its base up to @end (the next segment's base, or for
 * the last one the persisted position or the file's end). *ret_end: where
 * its valid log ends.
 */
static int scan_segment(struct scan *s, uint64_t base, uint64_t end, bool last, uint64_t *ret_end)
{
	struct tix_check tc = { 0 };
	struct ringi_segment seg;
	struct ringi_seg_iter it;
	struct ringi_seg_rec r;
	const char *why = NULL;
	bool changed = false, iter_live = false;
	uint64_t pos = base, file_end;
	int rc;

	rc = ringi_seg_open(s->dir, base, &seg, &why);
	if (rc == -EBADMSG) {
		struct finding *f = add_finding(s, base, RING_SEG_SUFFIX, base, RING_SEG_HEADER_BYTES,
						why, ACT_HEADER);

		if (!s->execute) {
			/* The records cannot be read until it is rewritten. */
			*ret_end = last ? base : end;
			return 0;
		}
		set_done(s, f, rewrite_header(s, base));
		rc = ringi_seg_open(s->dir, base, &seg, &why);
	}
	if (rc < 0)
		return rc;
	s->rep->segments++;
	file_end = ringi_seg_file_end(&seg);
	if (last && end > file_end)
		end = file_end;
	(void)ringi_tix_read(s->dir, base, &tc.e, &tc.n);

	for (unsigned guard = 0; guard < 1000000; guard++) {
		uint64_t resume = 0, span = 0;
		struct finding *f;
		int64_t bytes;

		if (!iter_live) {
			rc = ringi_seg_iter_init(&it, &seg, pos, end, s->max_record);
			if (rc < 0)
				break;
			iter_live = true;
		}
		while ((rc = ringi_seg_iter_next(&it, &r)) == 1) {
			s->rep->records += r.committed;
			s->rep->bytes += r.span;
			progress(s, r.span, false);
			if (r.committed)
				tix_see(&tc, r.pos);
		}
		if (rc == 0) {
			pos = it.stop_pos;
			if (last || pos >= end)
				break;
			/* The log stops short of the next segment: a hole. */
			f = add_finding(s, base, RING_SEG_SUFFIX, pos, end - pos,
					"log ends before the next segment starts", ACT_SKIP);
			if (s->execute)
				set_done(s, f, write_skips(s, base, pos, end));
			changed = true;
			pos = end;
			break;
		}
		if (rc != -EBADMSG)
			break;
		pos = it.stop_pos;
		why = it.stop_reason;
		ringi_seg_iter_free(&it);
		iter_live = false;
		if (s->repair && ring_fetch(s, pos, &span) == 1) {
			f = add_finding(s, base, RING_SEG_SUFFIX, pos, span, why, ACT_RESTORE);
			if (s->execute)
				set_done(s, f, write_at(s, base, s->buf, (size_t)span,
							RING_SEG_HEADER_BYTES + (pos - base)));
			changed = true;
			pos += span;
			continue;
		}
		rc = resync(s, seg.fd, base, pos, end, &resume);
		if (rc < 0)
			break;
		bytes = (int64_t)((rc == 1 ? resume : end) - pos);
		if (rc == 1 || !last) {
			if (rc == 0)
				resume = end;
			f = add_finding(s, base, RING_SEG_SUFFIX, pos, (uint64_t)bytes, why, ACT_SKIP);
			if (s->execute)
				set_done(s, f, write_skips(s, base, pos, resume));
			progress(s, resume - pos, false);
			changed = true;
			pos = resume;
			if (pos >= end)
				break;
			continue;
		}
		/* Nothing valid after it in the last segment: cut the tail. */
		f = add_finding(s, base, RING_SEG_SUFFIX, pos, file_end - pos, why, ACT_TRUNCATE);
		if (s->execute)
			set_done(s, f, truncate_at(s, base, pos));
		changed = true;
		break;
	}
	if (iter_live)
		ringi_seg_iter_free(&it);
	ringi_seg_close(&seg);
	*ret_end = pos;
	if (rc < 0 && rc != -EBADMSG) {
		free(tc.e);
		return rc;
	}
	/* Entries past the records: inside the damage, or beyond the end. */
	for (; tc.k < tc.n; tc.k++)
		if (tc.e[tc.k].pos < pos || !last)
			tc.bad = true;
	free(tc.e);
	if (tc.bad || (changed && s->repair)) {
		struct finding *f = add_finding(s, base, RING_TIX_SUFFIX, base, 0,
						tc.bad ? "time index entry not at a record"
						       : "segment repaired", ACT_INDEX);

		/* A stale index only slows lookups: damage for verify only
		 * when it points inside a record. */
		if (f && !tc.bad)
			f->reason = "segment repaired";
		if (s->execute)
			set_done(s, f, rebuild_index(s, base, pos));
	}
	return 0;
}

/* *.seg.tmp leftovers of an interrupted roll. */
static void scan_leftovers(struct scan *s)
{
	struct dirent *de;
	uint64_t base;
	DIR *d;

	if (!s->repair)
		return;
	d = opendir(s->dir);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		struct finding *f;
		char path[PATH_MAX];

		if (ring_seg_name_parse(de->d_name, RING_SEG_TMP_SUFFIX, &base) < 0)
			continue;
		f = add_finding(s, base, RING_SEG_TMP_SUFFIX, base, 0,
				"leftover of an interrupted segment roll", ACT_REMOVE);
		if (s->execute && seg_path(s, base, RING_SEG_TMP_SUFFIX, path, sizeof(path)) == 0)
			set_done(s, f, unlink(path) < 0 ? -errno : 0);
	}
	(void)closedir(d);
}

static int scan_topic(struct scan *s, const char *name)
{
	struct ring_topic_config cfg;
	struct ring_topic_stat st;
	uint64_t *bases = NULL, limit = UINT64_MAX, end = 0;
	size_t count = 0;
	int rc;

	snprintf(s->rep->name, sizeof(s->rep->name), "%s", name);
	s->rep->persistent = true;
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s/%s", s->ctl->data_dir, name) >=
	    sizeof(s->dir))
		return -ENAMETOOLONG;
	s->topic = NULL;
	rc = ring_topic_open(s->ctl->data_dir, name, &s->topic);
	if (rc == 0 && ring_topic_stat(s->topic, &st) == 0) {
		if (st.flags & RING_TOPIC_EPHEMERAL) {
			s->rep->persistent = false;
			s->topic = ring_topic_close(s->topic);
			return 0;
		}
		s->max_record = st.max_record_bytes;
		/* While ringd runs, bytes past `persisted` may be a write in
		 * flight; without a live ringd the files are all there is. */
		if (st.daemon_pid && st.daemon_alive)
			limit = st.persisted_pos;
	} else {
		s->topic = ring_topic_close(s->topic);
		rc = ringi_config_read(s->dir, &cfg);
		if (rc < 0)
			return rc;
		s->max_record = cfg.max_record_bytes;
	}
	scan_leftovers(s);
	rc = ringi_seg_list(s->dir, &bases, &count);
	if (rc == -ENOENT)
		rc = 0;
	for (size_t i = 0; rc == 0 && i < count && !ctl_stop_requested; i++) {
		bool last = i + 1 == count;

		if (i && end > bases[i])
			add_finding(s, bases[i], RING_SEG_SUFFIX, bases[i], end - bases[i],
				    "segment overlaps the one before", ACT_NONE);
		rc = scan_segment(s, bases[i], last ? limit : bases[i + 1], last, &end);
	}
	free(bases);
	s->topic = ring_topic_close(s->topic);
	return rc;
}

/* Total bytes of segment files, for the progress bar. */
static uint64_t topic_bytes(const struct ctl *ctl, const char *name)
{
	char dir[PATH_MAX], path[PATH_MAX];
	uint64_t *bases = NULL, total = 0;
	size_t count = 0;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/%s", ctl->data_dir, name);
	if (ringi_seg_list(dir, &bases, &count) < 0)
		return 0;
	for (size_t i = 0; i < count; i++)
		if (ringi_seg_path(path, sizeof(path), dir, bases[i], RING_SEG_SUFFIX) == 0 &&
		    stat(path, &st) == 0 && st.st_size > RING_SEG_HEADER_BYTES)
			total += (uint64_t)st.st_size - RING_SEG_HEADER_BYTES;
	free(bases);
	return total;
}

/* ---- output ---- */

static bool is_damage(const struct finding *f)
{
	/* Leftovers and a stale index after a repair are not damage. */
	return f->action != ACT_REMOVE &&
	       !(f->action == ACT_INDEX && !strcmp(f->reason, "segment repaired"));
}

static void print_json(const struct scan *s, const struct topic_report *reps, size_t n,
		       bool damaged)
{
	struct json j;

	json_init(&j, stdout);
	json_begin_object(&j);
	json_kv_str(&j, "data_dir", s->ctl->data_dir);
	if (s->repair)
		json_kv_bool(&j, "executed", s->execute);
	json_kv_bool(&j, "damaged", damaged);
	json_key(&j, "topics");
	json_begin_array(&j);
	for (size_t i = 0; i < n; i++) {
		const struct topic_report *r = &reps[i];

		json_begin_object(&j);
		json_kv_str(&j, "name", r->name);
		json_kv_str(&j, "kind", r->persistent ? "persistent" : "ephemeral");
		json_kv_u64(&j, "segments", r->segments);
		json_kv_u64(&j, "bytes", r->bytes);
		json_kv_u64(&j, "records", r->records);
		if (r->error)
			json_kv_str(&j, "error", strerror(-r->error));
		json_key(&j, s->repair ? "actions" : "damage");
		json_begin_array(&j);
		for (size_t k = 0; k < r->nf; k++) {
			const struct finding *f = &r->f[k];

			if (!s->repair && !is_damage(f))
				continue;
			json_begin_object(&j);
			json_kv_str(&j, "file", f->file);
			json_kv_u64(&j, "segment_base", f->base);
			json_kv_u64(&j, "position", f->pos);
			json_kv_u64(&j, "bytes", f->bytes);
			json_kv_str(&j, "reason", f->reason);
			if (s->repair) {
				json_kv_str(&j, "action", action_names[f->action]);
				json_kv_bool(&j, "done", f->done);
			}
			json_end_object(&j);
		}
		json_end_array(&j);
		json_end_object(&j);
	}
	json_end_array(&j);
	json_end_object(&j);
	json_finish(&j);
}

static void print_text(const struct scan *s, const struct topic_report *reps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct topic_report *r = &reps[i];
		unsigned bad = 0;
		char b[32];

		if (!r->persistent) {
			printf("%s: ephemeral, no segment files\n", r->name);
			continue;
		}
		for (size_t k = 0; k < r->nf; k++) {
			const struct finding *f = &r->f[k];

			bad += is_damage(f);
			if (!s->repair) {
				if (is_damage(f))
					printf("DAMAGED %s: segment %s/%s/%s, position %llu: %s\n",
					       r->name, s->ctl->data_dir, r->name, f->file,
					       (unsigned long long)f->pos, f->reason);
				continue;
			}
			printf("%s %s: %s %s, position %llu, %llu bytes (%s)\n",
			       f->done ? "done" : s->execute ? "FAILED" : "would", action_names[f->action],
			       r->name, f->file, (unsigned long long)f->pos,
			       (unsigned long long)f->bytes, f->reason);
		}
		printf("%s: %u segment%s, %s, %llu records: %s\n", r->name, r->segments,
		       r->segments == 1 ? "" : "s", fmt_bytes(b, sizeof(b), r->bytes),
		       (unsigned long long)r->records,
		       r->error ? "check failed"
		       : !bad ? "ok"
		       : s->repair ? (s->execute ? "repaired" : "damaged (dry run: add --execute "
							       "to repair)")
				   : "DAMAGED");
	}
}

/* ---- the commands ---- */

static int run_scan(struct ctl *ctl, int argc, char **argv, bool repair)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "execute", no_argument, NULL, OPT_EXECUTE },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	const struct ctl_command *cmd = repair ? &ctl_cmd_recover : &ctl_cmd_verify;
	struct scan s = { .ctl = ctl, .repair = repair };
	struct ctl_topic_entry *entries = NULL, one;
	struct topic_report *reps = NULL;
	bool json = false, damaged = false, failed = false;
	size_t n = 0;
	const char *name;
	int opt, rc, lock_fd = -1;
	pid_t pid = 0;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		if (opt == OPT_JSON) {
			json = true;
			continue;
		}
		if (opt == OPT_EXECUTE && repair) {
			s.execute = true;
			continue;
		}
		if (opt == OPT_EXECUTE) {
			optopt = 0;
			opt = '?';
		}
		rc = ctl_common_option(ctl, cmd, opt, argv);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	rc = ctl_topic_arg_or_report(ctl, argc, argv, !repair, &name);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctl_catch_stop_signals() < 0)
		return ctl_os_error(ctl, -errno, "signal handlers");
	if (name) {
		memset(&one, 0, sizeof(one));
		snprintf(one.name, sizeof(one.name), "%s", name);
		one.has_dir = ctl_topic_has_dir(ctl, name);
		if (!one.has_dir) {
			struct ring_topic *t;

			/* An ephemeral topic has nothing to check. */
			rc = ring_topic_open(ctl->data_dir, name, &t);
			if (rc < 0)
				return ctl_error(ctl, rc, "topic '%s'", name);
			ring_topic_close(t);
		}
		entries = &one;
		n = 1;
	} else {
		rc = ctl_topics_find(ctl, &entries, &n);
		if (rc < 0)
			return ctl_os_error(ctl, rc, "data directory '%s'", ctl->data_dir);
	}
	if (s.execute) {
		rc = ctl_ringd_lock(ctl, &lock_fd, &pid);
		if (rc == -EBUSY) {
			rc = ctl_error(ctl, rc, "ringd (pid %d) serves '%s': stop it before "
						"recover --execute", (int)pid, ctl->data_dir);
			goto out;
		}
		if (rc < 0) {
			rc = ctl_os_error(ctl, rc, "lock '%s/ringd.lock'", ctl->data_dir);
			goto out;
		}
	}
	reps = calloc(n ? n : 1, sizeof(*reps));
	if (!reps) {
		rc = ctl_os_error(ctl, -ENOMEM, "%s", cmd->name);
		goto out;
	}
	s.bar = !json && isatty(STDERR_FILENO);
	for (size_t i = 0; s.bar && i < n; i++)
		if (entries[i].has_dir)
			s.total_bytes += topic_bytes(ctl, entries[i].name);
	for (size_t i = 0; i < n && !ctl_stop_requested; i++) {
		s.rep = &reps[i];
		snprintf(reps[i].name, sizeof(reps[i].name), "%s", entries[i].name);
		if (!entries[i].has_dir)
			continue;	/* ephemeral: persistent stays false */
		rc = scan_topic(&s, entries[i].name);
		if (rc < 0 && !reps[i].error)
			reps[i].error = rc;
	}
	progress(&s, 0, true);
	for (size_t i = 0; i < n; i++) {
		failed |= reps[i].error != 0;
		for (size_t k = 0; k < reps[i].nf; k++)
			damaged |= is_damage(&reps[i].f[k]);
	}
	if (json)
		print_json(&s, reps, n, damaged);
	else
		print_text(&s, reps, n);
	for (size_t i = 0; i < n; i++) {
		if (reps[i].error && !reps[i].nf)
			ctl_os_error(ctl, reps[i].error, "topic '%s'", reps[i].name);
	}
	if (ctl_stop_requested)
		rc = CTL_EXIT_FAILURE;
	else if (failed)
		rc = CTL_EXIT_FAILURE;
	else if (!repair && damaged)
		rc = CTL_EXIT_FAILURE;
	else
		rc = CTL_EXIT_OK;
out:
	if (lock_fd >= 0)
		(void)close(lock_fd);
	for (size_t i = 0; reps && i < n; i++)
		free(reps[i].f);
	free(reps);
	free(s.buf);
	if (entries != &one)
		free(entries);
	return rc;
}

static int run_verify(struct ctl *ctl, int argc, char **argv)
{
	return run_scan(ctl, argc, argv, false);
}

static int run_recover(struct ctl *ctl, int argc, char **argv)
{
	return run_scan(ctl, argc, argv, true);
}

const struct ctl_command ctl_cmd_verify = {
	.name = "verify",
	.summary = "check every segment file record by record (CRC32C)",
	.help = verify_help,
	.run = run_verify,
};

const struct ctl_command ctl_cmd_recover = {
	.name = "recover",
	.summary = "repair damaged segment files (a dry run unless --execute)",
	.help = recover_help,
	.run = run_recover,
};
