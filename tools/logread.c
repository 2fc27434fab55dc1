/* SPDX-License-Identifier: MIT */
/*
 * logread.c - the files-then-ring walker of logread.h, and date parsing.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "logread.h"
#include "topic_config.h"

/* How often one ctl_log_next() may go from the files to the ring and
 * back before it says "nothing yet": each change of side is caused by a
 * producer overtaking the ring reader, which cannot go on forever. */
#define MAX_SIDE_CHANGES 8

static void file_reset(struct ctl_log *log)
{
	if (log->iter_live)
		ringi_seg_iter_free(&log->iter);
	log->iter_live = false;
	if (log->seg.fd >= 0)
		ringi_seg_close(&log->seg);
	log->seg.fd = -1;
}

static int relist(struct ctl_log *log)
{
	int rc;

	free(log->bases);
	log->bases = NULL;
	log->count = 0;
	rc = ringi_seg_list(log->dir, &log->bases, &log->count);
	return rc == -ENOENT ? 0 : rc;
}

int ctl_log_open_or_report(const struct ctl *ctl, const char *name, bool ring_optional,
			   struct ctl_log *log)
{
	struct ring_topic_config cfg;
	struct ring_topic_stat st;
	int rc;

	memset(log, 0, sizeof(*log));
	log->ctl = ctl;
	log->name = name;
	log->seg.fd = -1;
	rc = ctl_check_data_dir_or_report(ctl);
	if (rc == CTL_EXIT_OK)
		rc = ctl_check_topic_name_or_report(ctl, name);
	if (rc != CTL_EXIT_OK)
		return rc;
	if ((size_t)snprintf(log->dir, sizeof(log->dir), "%s/%s", ctl->data_dir, name) >=
	    sizeof(log->dir))
		return ctl_os_error(ctl, -ENAMETOOLONG, "topic '%s'", name);
	log->has_dir = ctl_topic_has_dir(ctl, name);
	rc = ring_topic_open(ctl->data_dir, name, &log->topic);
	if (rc == -ENOENT && log->has_dir && ring_optional) {
		log->topic = NULL;
		rc = ringi_config_read(log->dir, &cfg);
		if (rc < 0)
			return ctl_error(ctl, rc, "topic '%s': its ring is absent and its "
						  "topic.conf unreadable", name);
		log->max_record = cfg.max_record_bytes;
	} else if (rc == -ENOENT && log->has_dir) {
		return ctl_error(ctl, rc, "topic '%s': its ring is absent (start ringd to "
					  "recreate it)", name);
	} else if (rc < 0) {
		return ctl_error(ctl, rc, "topic '%s'", name);
	} else {
		rc = ring_topic_stat(log->topic, &st);
		if (rc < 0) {
			ctl_log_close(log);
			return ctl_error(ctl, rc, "topic '%s': stat", name);
		}
		log->max_record = st.max_record_bytes;
		log->claim_timeout_ns = st.claim_timeout_ns;
		/* The ring says whether it is persistent; a directory left
		 * over from an older topic of the same name is not ours. */
		log->has_dir = log->has_dir && !(st.flags & RING_TOPIC_EPHEMERAL);
	}
	log->buf = malloc(log->max_record + 8);
	if (!log->buf || (log->has_dir && relist(log) < 0)) {
		ctl_log_close(log);
		return ctl_os_error(ctl, -ENOMEM, "topic '%s'", name);
	}
	return CTL_EXIT_OK;
}

void ctl_log_close(struct ctl_log *log)
{
	file_reset(log);
	log->reader = ring_reader_close(log->reader);
	log->topic = ring_topic_close(log->topic);
	free(log->bases);
	log->bases = NULL;
	free(log->buf);
	log->buf = NULL;
}

/* The end of the valid records of the segment at @base (walked). */
static int segment_data_end(struct ctl_log *log, uint64_t base, uint64_t *ret_end)
{
	struct ringi_seg_rec r;
	struct ringi_seg_iter it;
	struct ringi_segment seg;
	int rc;

	rc = ringi_seg_open(log->dir, base, &seg, NULL);
	if (rc < 0)
		return rc;
	rc = ringi_seg_iter_init(&it, &seg, base, UINT64_MAX, log->max_record);
	if (rc == 0) {
		while ((rc = ringi_seg_iter_next(&it, &r)) == 1)
			;
		/* Damage ends the readable log as surely as zeros do. */
		*ret_end = it.stop_pos;
		ringi_seg_iter_free(&it);
		rc = rc == -EBADMSG ? 0 : rc;
	}
	ringi_seg_close(&seg);
	return rc;
}

int ctl_log_bounds(struct ctl_log *log, uint64_t *ret_earliest, uint64_t *ret_end)
{
	struct ring_topic_stat st;
	int rc;

	if (log->has_dir) {
		rc = relist(log);
		if (rc < 0)
			return rc;
	}
	if (log->topic) {
		rc = ring_topic_stat(log->topic, &st);
		if (rc < 0)
			return rc;
		*ret_earliest = st.oldest_pos;
		if (log->count && log->bases[0] < st.oldest_pos)
			*ret_earliest = log->bases[0];
		*ret_end = st.tail_pos;
		return 0;
	}
	if (!log->count) {
		*ret_earliest = *ret_end = 0;
		return 0;
	}
	*ret_earliest = log->bases[0];
	return segment_data_end(log, log->bases[log->count - 1], ret_end);
}

int ctl_log_seek(struct ctl_log *log, uint64_t pos)
{
	if (pos % 8)
		return -EINVAL;
	file_reset(log);
	log->reader = ring_reader_close(log->reader);
	log->pos = pos;
	return 0;
}

/* ---- the files ---- */

/*
 * Open the segment that holds log->pos and start walking it. 1 when the
 * iterator is ready, 0 when no segment holds the position (below the
 * first: retention; or not persisted yet), -errno.
 */
static int file_seek(struct ctl_log *log)
{
	uint64_t limit = UINT64_MAX;
	struct ring_topic_stat st;
	int64_t i;
	int rc;

	file_reset(log);
	if (log->topic) {
		/* Never past what ringd has published as written: the bytes
		 * beyond may be a write in flight. */
		rc = ring_topic_stat(log->topic, &st);
		if (rc < 0)
			return rc;
		limit = st.persisted_pos;
		if (log->pos >= limit)
			return 0;
	}
	i = log->count ? ringi_seg_find(log->bases, log->count, log->pos) : -ENOENT;
	if (i < 0 || (size_t)i + 1 == log->count) {
		/* The list may be stale: rolls and retention. */
		rc = relist(log);
		if (rc < 0)
			return rc;
		i = ringi_seg_find(log->bases, log->count, log->pos);
	}
	if (i < 0)
		return 0;
	rc = ringi_seg_open(log->dir, log->bases[i], &log->seg, &log->bad_reason);
	if (rc == -EBADMSG) {
		log->bad_pos = log->pos;
		log->bad_base = log->bases[i];
		log->bad_in_file = true;
		return rc;
	}
	if (rc == -ENOENT)
		return 0;	/* retention removed it meanwhile */
	if (rc < 0)
		return rc;
	rc = ringi_seg_iter_init(&log->iter, &log->seg, log->pos, limit, log->max_record);
	if (rc < 0) {
		file_reset(log);
		return rc;
	}
	log->iter_live = true;
	return 1;
}

/* 1 a committed record, 2 padding passed over, 0 the files hold nothing
 * at log->pos, -EBADMSG damage, -errno. */
static int file_step(struct ctl_log *log, struct ring_record *rec)
{
	struct ringi_seg_rec r;
	int rc;

	if (!log->has_dir)
		return 0;
	/* Two turns at most: the end of one segment is the next's base. */
	for (int turn = 0; turn < 2; turn++) {
		if (!log->iter_live || log->iter.pos != log->pos) {
			rc = file_seek(log);
			if (rc <= 0)
				return rc;
		}
		rc = ringi_seg_iter_next(&log->iter, &r);
		if (rc == -EBADMSG) {
			log->bad_pos = log->iter.stop_pos;
			log->bad_base = log->seg.base_pos;
			log->bad_reason = log->iter.stop_reason;
			log->bad_in_file = true;
			file_reset(log);
			return rc;
		}
		if (rc < 0)
			return rc;
		if (rc == 1) {
			log->pos = r.pos + r.span;
			if (!r.committed)
				return 2;
			memcpy(log->buf, r.bytes + RING_RECORD_HEADER_BYTES, r.len);
			memset(rec, 0, sizeof(*rec));
			rec->payload = log->buf;
			rec->len = r.len;
			rec->type = r.type;
			rec->position = r.pos;
			rec->next_position = log->pos;
			rec->timestamp_ns = r.timestamp_ns;
			rec->deliveries = 1;
			return 1;
		}
		file_reset(log);
	}
	return 0;
}

/* ---- the ring ---- */

/* Open the ring reader at log->pos: 0, 2 (the position was lost: moved
 * on to the oldest one kept), -ERANGE (past the tail), -errno. */
static int ring_start(struct ctl_log *log)
{
	struct ring_reader_config cfg = { .start = RING_START_POSITION, .position = log->pos };
	struct ring_topic_stat st;
	uint64_t to;
	int rc;

	rc = ring_reader_open(log->topic, &cfg, &log->reader);
	if (rc != -ERANGE)
		return rc;
	rc = ring_topic_stat(log->topic, &st);
	if (rc < 0)
		return rc;
	if (log->pos > st.tail_pos)
		return -ERANGE;
	if (log->pos >= st.oldest_pos)
		return 0;	/* raced with an overtake: try again */
	/* Neither the files nor the ring have it. */
	to = st.oldest_pos;
	if (log->has_dir && relist(log) == 0 && log->count && log->bases[0] > log->pos &&
	    log->bases[0] < to)
		to = log->bases[0];
	log->lost_bytes += to - log->pos;
	log->pos = to;
	return 2;
}

int ctl_log_next(struct ctl_log *log, struct ring_record *rec, int64_t timeout_ns)
{
	int rc, changes = 0;

	while (changes < MAX_SIDE_CHANGES) {
		if (!log->reader) {
			rc = file_step(log, rec);
			if (rc == 1)
				return 1;
			if (rc == 2)
				continue;
			if (rc < 0)
				return rc;
			if (!log->topic)
				return 0;	/* files only: the end */
			rc = ring_start(log);
			if (rc < 0)
				return rc;
			changes++;
			continue;
		}
		rc = ring_reader_next(log->reader, rec, timeout_ns);
		if (rc == 0) {
			log->pos = rec->next_position;
			return 1;
		}
		if (rc == -EAGAIN || rc == -ETIMEDOUT)
			return 0;
		if (rc == -EOVERFLOW) {
			/* Overtaken: what was missed is on disk, if anywhere. */
			log->reader = ring_reader_close(log->reader);
			changes++;
			continue;
		}
		if (rc == -EBADMSG) {
			log->bad_pos = ring_reader_position(log->reader);
			log->bad_in_file = false;
			log->bad_reason = "corrupt header in the ring";
		}
		return rc;
	}
	return 0;
}

bool ctl_log_inside_record(const struct ctl_log *log, uint64_t pos)
{
	struct ring_topic_stat st;

	return log->topic && ring_topic_stat(log->topic, &st) == 0 && pos >= st.oldest_pos &&
	       pos < st.frontier_pos;
}

int ctl_log_idle_or_report(struct ctl_log *log, int rc, uint64_t pos, const uint64_t *from)
{
	const struct ctl *ctl = log->ctl;
	/* A claim older than the claim timeout is repaired into padding (by
	 * ringd, or by the reader's own housekeeping): wait that long and a
	 * little more, not forever. */
	double give_up_s = (double)log->claim_timeout_ns / 1e9 + 5.0;

	if (rc == -EBADMSG && from && log->bad_pos == *from)
		return ctl_error(ctl, rc, "topic '%s': --from %llu (is it a record boundary?)",
				 log->name, (unsigned long long)*from);
	if (rc == -EBADMSG)
		return ctl_log_report_damage(log);
	if (rc < 0)
		return ctl_error(ctl, rc, "topic '%s': position %llu", log->name,
				 (unsigned long long)log->pos);
	if (!log->topic)
		return CTL_EXIT_OK;
	if (log->pos != pos)
		return CTL_CONTINUE;	/* it moved on, past bytes that were lost */
	if (log->stalled_since == 0 || log->stalled_pos != pos) {
		log->stalled_pos = pos;
		log->stalled_since = ctl_mono_now();
		if (ctl_log_inside_record(log, pos))
			return ctl_error(ctl, -EBADMSG, from && pos == *from
				? "topic '%s': --from %llu is not a record boundary"
				: "topic '%s': the reader stalled at position %llu, inside a record",
				log->name, (unsigned long long)pos);
	} else if (ctl_mono_now() - log->stalled_since > give_up_s) {
		return ctl_error(ctl, -ETIMEDOUT, "topic '%s': stuck at position %llu, a claim "
						  "that is never committed",
				 log->name, (unsigned long long)pos);
	}
	return CTL_CONTINUE;
}

int ctl_log_position_for_time(struct ctl_log *log, uint64_t ts_ns, uint64_t *ret_pos)
{
	uint64_t pos;
	int rc;

	if (log->topic) {
		*ret_pos = ringi_position_for_time(log->topic, ts_ns);
		return 0;
	}
	rc = ringi_seg_time_lookup(log->dir, ts_ns, log->max_record, &pos);
	if (rc == -ENOENT) {
		*ret_pos = 0;
		return 0;
	}
	if (rc < 0)
		return rc;
	*ret_pos = pos;
	return 0;
}

int ctl_log_report_damage(const struct ctl_log *log)
{
	char path[PATH_MAX + 64];

	if (!log->bad_in_file)
		return ctl_error(log->ctl, -EBADMSG, "topic '%s': position %llu: %s", log->name,
				 (unsigned long long)log->bad_pos,
				 log->bad_reason ? log->bad_reason : "damage");
	if (ringi_seg_path(path, sizeof(path), log->dir, log->bad_base, RING_SEG_SUFFIX) < 0)
		snprintf(path, sizeof(path), "segment %llu", (unsigned long long)log->bad_base);
	return ctl_error(log->ctl, -EBADMSG,
			 "topic '%s': segment %s, position %llu: %s (ringctl verify and "
			 "ringctl recover repair it)", log->name, path,
			 (unsigned long long)log->bad_pos,
			 log->bad_reason ? log->bad_reason : "damage");
}

/* ---- dates ---- */

static int parse_digits(const char **s, unsigned n, int *ret)
{
	int v = 0;

	for (unsigned i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return -EINVAL;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*ret = v;
	return 0;
}

/* ".123456789": up to nine digits of a second, as ns. */
static int parse_fraction(const char **s, uint64_t *ret_ns)
{
	uint64_t ns = 0, scale = 100000000u;
	const char *p = *s;

	if (*p != '.')
		return 0;
	p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		ns += (uint64_t)(*p - '0') * scale;
		scale /= 10;
		if (!scale && isdigit((unsigned char)p[1]))
			return -EINVAL;	/* finer than a nanosecond */
	}
	*s = p;
	*ret_ns = ns;
	return 0;
}

int ctl_parse_datetime(const char *s, uint64_t *ret_ns)
{
	int year, mon, day, hour = 0, min = 0, sec = 0, zh = 0, zm = 0;
	uint64_t frac = 0, secs;
	bool utc = false, has_zone = false;
	int sign = 1;
	struct tm tm;
	time_t t;

	if (!s)
		return -EINVAL;
	if (s[0] == '@') {
		const char *p = s + 1;
		uint64_t v = 0;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (v > (UINT64_MAX / 1000000000u - 9) / 10)
				return -ERANGE;
			v = v * 10 + (uint64_t)(*p - '0');
		}
		if (parse_fraction(&p, &frac) < 0 || *p)
			return -EINVAL;
		*ret_ns = v * 1000000000u + frac;
		return 0;
	}
	if (parse_digits(&s, 4, &year) < 0 || *s++ != '-' || parse_digits(&s, 2, &mon) < 0 ||
	    *s++ != '-' || parse_digits(&s, 2, &day) < 0)
		return -EINVAL;
	if (*s == 'T' || *s == ' ') {
		s++;
		if (parse_digits(&s, 2, &hour) < 0 || *s++ != ':' ||
		    parse_digits(&s, 2, &min) < 0)
			return -EINVAL;
		if (*s == ':') {
			s++;
			if (parse_digits(&s, 2, &sec) < 0 || parse_fraction(&s, &frac) < 0)
				return -EINVAL;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		utc = true;
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		s++;
		if (parse_digits(&s, 2, &zh) < 0)
			return -EINVAL;
		if (*s == ':')
			s++;
		if (parse_digits(&s, 2, &zm) < 0)
			return -EINVAL;
		has_zone = true;
	}
	if (*s || year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 ||
	    min > 59 || sec > 60 || zh > 23 || zm > 59)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	tm.tm_isdst = -1;
	t = (utc || has_zone) ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	if (has_zone)
		t -= sign * (zh * 3600 + zm * 60);
	if (t < 0)
		return -ERANGE;
	secs = (uint64_t)t;
	*ret_ns = secs * 1000000000u + frac;
	return 0;
}
