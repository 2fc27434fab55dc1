/* SPDX-License-Identifier: MIT */
/*
 * cmd_produce.c - produce: publish standard input as records.
 *
 * One record per line (the newline is not part of it), or with --binary
 * length-prefixed records: a u32 little-endian length, then that many
 * bytes. A full ring is waited out, without limit, in slices short enough
 * that SIGINT and SIGTERM are noticed; whatever was published before a
 * stop or an error stays published, and the summary says how much.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "ringctl.h"

enum {
	OPT_TYPE = CTL_OPT_FIRST_LONG,
	OPT_BINARY,
	OPT_JSON,
};

/* One wait for space; between two, the stop flag is checked. */
#define WAIT_SLICE_NS 100000000	/* 100 ms */
/* After this long without space, say why once. */
#define STALL_WARN_S 2.0

static const char produce_help[] =
	"Usage: ringctl produce TOPIC [--type N] [--binary] [--json]\n"
	"\n"
	"Publish standard input to TOPIC: one record per line, without its newline\n"
	"(an empty line is an empty record; a last line without a newline is a\n"
	"record too). When the ring is full, wait for space as long as it takes\n"
	"(a persistent topic needs ringd to make space). At the end print\n"
	"  published N records, positions A..B\n"
	"on stderr, where A and B are the first and the last record's positions.\n"
	"\n"
	"Options:\n"
	"  --type N            the records' type, 0..4294967295 (default 0)\n"
	"  --binary            read length-prefixed records instead of lines: a\n"
	"                      32-bit little-endian length, then that many bytes\n"
	"                      (what `ringctl dump --format binary` writes)\n"
	"  --json              print the summary as one JSON object on stdout\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 all input published; 1 failed (a record too large,\n"
	"truncated binary input, interrupted by a signal, ...); 2 usage error;\n"
	"3 no such topic or data directory.\n";

struct produce {
	struct ctl *ctl;
	const char *name;
	struct ring_topic *topic;
	struct ring_producer *producer;
	uint32_t type;
	uint64_t max_record;
	bool warned;		/* the full-ring explanation was printed */
	/* What was published. */
	uint64_t count;
	uint64_t bytes;
	uint64_t first_pos;
	uint64_t last_pos;
	/* What failed, for the error line. */
	char what[192];
	bool os_error;		/* rc is the OS's: strerror(), not ring_strerror() */
};

/* Tell the operator, once, who holds the ring full. */
static void warn_stalled(struct produce *p)
{
	struct ring_topic_stat s;

	p->warned = true;
	if (ring_topic_stat(p->topic, &s) < 0)
		return;
	if (!(s.flags & RING_TOPIC_EPHEMERAL) && !s.daemon_alive)
		ctl_warn(p->ctl, "the ring of '%s' is full and no ringd serves %s: waiting for "
				 "space (start ringd, or stop with Ctrl-C)", p->name,
			 p->ctl->data_dir);
	else if (s.gating_readers)
		ctl_warn(p->ctl, "the ring of '%s' is full: waiting for %u gating reader(s) to "
				 "read on", p->name, s.gating_readers);
	else
		ctl_warn(p->ctl, "the ring of '%s' is full: waiting for space", p->name);
}

/* Publish one record, waiting for space until it fits or a stop is
 * requested (-EINTR). */
static int publish(struct produce *p, const void *data, size_t len)
{
	double start = 0;
	uint64_t pos;
	int rc;

	for (;;) {
		rc = ring_producer_publish(p->producer, p->type, data, len, WAIT_SLICE_NS, &pos);
		if (rc == 0)
			break;
		/* -ETIMEDOUT is also a commit refused after the claim
		 * timeout (this process was stopped): not published, so
		 * publishing again is right in both cases. */
		if (rc != -ETIMEDOUT)
			return rc;
		if (ctl_stop_requested)
			return -EINTR;
		if (start == 0)
			start = ctl_mono_now();
		else if (!p->warned && ctl_mono_now() - start >= STALL_WARN_S)
			warn_stalled(p);
	}
	if (p->count == 0)
		p->first_pos = pos;
	p->last_pos = pos;
	p->count++;
	p->bytes += len;
	return 0;
}

/* A read that a signal interrupted: go on unless a stop was asked. */
static bool retry_read(FILE *f)
{
	if (!ferror(f) || errno != EINTR || ctl_stop_requested)
		return false;
	clearerr(f);
	return true;
}

/* Remember what failed, for the one error line run_produce() prints. */
static int fail(struct produce *p, int rc, bool os, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct produce *p, int rc, bool os, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->what, sizeof(p->what), fmt, ap);
	va_end(ap);
	p->os_error = os;
	return rc;
}

/* The number of the record being read, for error messages. */
static unsigned long long next_no(const struct produce *p)
{
	return (unsigned long long)p->count + 1;
}

static int produce_lines(struct produce *p)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	for (;;) {
		if (ctl_stop_requested) {
			rc = fail(p, -EINTR, true, "interrupted at line %llu", next_no(p));
			break;
		}
		n = getline(&line, &cap, stdin);
		if (n < 0) {
			if (retry_read(stdin))
				continue;
			if (ctl_stop_requested)
				continue;	/* reported above */
			if (ferror(stdin))
				rc = fail(p, -errno, true, "read standard input");
			break;
		}
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if ((uint64_t)n > p->max_record) {
			rc = fail(p, -EMSGSIZE, false, "line %llu (%zd bytes, at most %llu)",
				  next_no(p), n, (unsigned long long)p->max_record);
			break;
		}
		rc = publish(p, line, (size_t)n);
		if (rc < 0) {
			rc = fail(p, rc, rc == -EINTR, "line %llu", next_no(p));
			break;
		}
	}
	free(line);
	return rc;
}

/* Read exactly @len bytes: 0, 1 at a clean end of input before any byte,
 * or a negative errno (with p->what set). */
static int read_exact(struct produce *p, void *buf, size_t len, const char *what)
{
	size_t got = 0;

	while (got < len) {
		size_t n = fread((char *)buf + got, 1, len - got, stdin);

		got += n;
		if (got == len)
			break;
		if (retry_read(stdin))
			continue;
		if (ctl_stop_requested)
			return fail(p, -EINTR, true, "interrupted at input record %llu",
				    next_no(p));
		if (ferror(stdin))
			return fail(p, -errno, true, "read standard input");
		if (got == 0 && !strcmp(what, "length"))
			return 1;
		return fail(p, -EBADMSG, false,
			    "input record %llu: the input ends inside its %s (%zu of %zu bytes)",
			    next_no(p), what, got, len);
	}
	return 0;
}

static int produce_binary(struct produce *p)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	int rc = 0;

	for (;;) {
		uint8_t le[4];
		uint32_t len;

		if (ctl_stop_requested) {
			rc = fail(p, -EINTR, true, "interrupted at input record %llu", next_no(p));
			break;
		}
		rc = read_exact(p, le, sizeof(le), "length");
		if (rc == 1) {
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		len = (uint32_t)le[0] | (uint32_t)le[1] << 8 | (uint32_t)le[2] << 16 |
		      (uint32_t)le[3] << 24;
		if (len > p->max_record) {
			rc = fail(p, -EMSGSIZE, false, "input record %llu (%u bytes, at most %llu)",
				  next_no(p), len, (unsigned long long)p->max_record);
			break;
		}
		if (len > cap) {
			uint8_t *nb = realloc(buf, len);

			if (!nb) {
				rc = fail(p, -ENOMEM, false, "input record %llu", next_no(p));
				break;
			}
			buf = nb;
			cap = len;
		}
		rc = read_exact(p, buf, len, "payload");
		if (rc < 0)
			break;
		rc = publish(p, buf, len);
		if (rc < 0) {
			rc = fail(p, rc, rc == -EINTR, "input record %llu", next_no(p));
			break;
		}
	}
	free(buf);
	return rc;
}

static void print_summary_json(const struct produce *p, int rc)
{
	struct json j;

	json_init(&j, stdout);
	json_begin_object(&j);
	json_kv_str(&j, "topic", p->name);
	json_kv_u64(&j, "records", p->count);
	json_kv_u64(&j, "bytes", p->bytes);
	if (p->count) {
		json_kv_u64(&j, "first_position", p->first_pos);
		json_kv_u64(&j, "last_position", p->last_pos);
	} else {
		json_kv_null(&j, "first_position");
		json_kv_null(&j, "last_position");
	}
	json_kv_bool(&j, "complete", rc == 0);
	json_end_object(&j);
	json_finish(&j);
}

/* "published N records, positions A..B". */
static void format_summary(const struct produce *p, char *buf, size_t size)
{
	if (p->count)
		snprintf(buf, size, "published %llu record%s, positions %llu..%llu",
			 (unsigned long long)p->count, p->count == 1 ? "" : "s",
			 (unsigned long long)p->first_pos, (unsigned long long)p->last_pos);
	else
		snprintf(buf, size, "published 0 records");
}

/*
 * The end: on success the summary (stderr, or JSON on stdout); on failure
 * one error line that also says what was published before it, since
 * those records stay in the topic.
 */
static int finish(struct produce *p, int rc, bool json)
{
	char summary[128];

	if (json)
		print_summary_json(p, rc);
	format_summary(p, summary, sizeof(summary));
	if (rc == 0) {
		if (!json)
			fprintf(stderr, "%s\n", summary);
		return CTL_EXIT_OK;
	}
	if (p->os_error)
		return ctl_os_error(p->ctl, rc, "topic '%s': %s (%s)", p->name, p->what, summary);
	return ctl_error(p->ctl, rc, "topic '%s': %s (%s)", p->name, p->what, summary);
}

static int run_produce(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "binary", no_argument, NULL, OPT_BINARY },
		{ "json", no_argument, NULL, OPT_JSON },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	struct produce p = { .ctl = ctl };
	struct ring_topic_stat s;
	bool binary = false, json = false;
	uint64_t v;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		switch (opt) {
		case OPT_TYPE:
			if (ctl_parse_u64(optarg, &v) < 0 || v > UINT32_MAX)
				return ctl_usage_error(ctl, "--type '%s': expected 0..%u", optarg,
						       UINT32_MAX);
			p.type = (uint32_t)v;
			break;
		case OPT_BINARY:
			binary = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		default:
			rc = ctl_common_option(ctl, &ctl_cmd_produce, opt, argv);
			if (rc != CTL_CONTINUE)
				return rc;
		}
	}
	rc = ctl_positional_or_report(ctl, argc, argv, false, &p.name);
	if (rc == CTL_EXIT_OK)
		rc = ctl_topic_open_or_report(ctl, p.name, &p.topic);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = ring_topic_stat(p.topic, &s);
	if (rc == 0)
		rc = ring_producer_open(p.topic, &p.producer);
	if (rc < 0) {
		ring_topic_close(p.topic);
		return ctl_error(ctl, rc, "topic '%s': open a producer", p.name);
	}
	p.max_record = s.max_record_bytes;
	if (ctl_catch_stop_signals() < 0) {
		rc = ctl_os_error(ctl, -errno, "signal handlers");
	} else {
		rc = binary ? produce_binary(&p) : produce_lines(&p);
		rc = finish(&p, rc, json);
	}
	ring_producer_close(p.producer);
	ring_topic_close(p.topic);
	return rc;
}

const struct ctl_command ctl_cmd_produce = {
	.name = "produce",
	.summary = "publish standard input (lines or length-prefixed) as records",
	.help = produce_help,
	.run = run_produce,
};
