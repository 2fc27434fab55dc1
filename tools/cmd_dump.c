/* SPDX-License-Identifier: MIT */
/*
 * cmd_dump.c - dump and tail: print a topic's records.
 *
 * Both read with an ordinary reader, which never holds producers back: if
 * producers overtake it, the records it missed are reported in one warning
 * line (how many bytes, which positions) and reading goes on from the
 * oldest record still held. dump stops at the tail it saw when it started;
 * tail -f follows until SIGINT or SIGTERM, waiting in short slices so that
 * a signal is noticed within a fraction of a second.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logread.h"
#include "output.h"
#include "ringctl.h"

enum {
	OPT_FROM = CTL_OPT_FIRST_LONG,
	OPT_COUNT,
	OPT_FORMAT,
	OPT_FROM_TIME,
};

/* One wait for a record; between two, the stop flag is checked. */
#define WAIT_SLICE_NS 100000000	/* 100 ms */
/* How much history `tail -n` may ask for (8 bytes of memory each). */
#define TAIL_LINES_MAX 10000000u

enum format {
	FORMAT_TEXT,
	FORMAT_HEX,
	FORMAT_JSON,
	FORMAT_RAW,
	FORMAT_BINARY,
};

static const char *const format_names[] = {
	[FORMAT_TEXT] = "text",
	[FORMAT_HEX] = "hex",
	[FORMAT_JSON] = "json",
	[FORMAT_RAW] = "raw",
	[FORMAT_BINARY] = "binary",
};

#define FORMATS_HELP                                                                  \
	"  --format FORMAT     how to print each record:\n"                           \
	"                        text    POSITION TIMESTAMP type=TYPE PAYLOAD, one line;\n" \
	"                                the time is UTC ISO-8601 with nanoseconds; in\n" \
	"                                the payload \\\\ \\t \\n \\r and \\xHH stand for\n"  \
	"                                a backslash, tab, newline, CR and other bytes\n" \
	"                                that are not printable UTF-8 (default)\n"        \
	"                        hex     the same header, then a hexdump of the payload\n" \
	"                        json    one JSON object per line: position,\n"        \
	"                                timestamp_ns, type, len, and payload (a string\n" \
	"                                if printable UTF-8) or payload_b64 (base64)\n"   \
	"                        raw     the payload bytes and a newline (what\n"        \
	"                                `ringctl produce` reads)\n"                     \
	"                        binary  a u32 little-endian length and the payload\n"   \
	"                                (what `ringctl produce --binary` reads)\n"

static const char dump_help[] =
	"Usage: ringctl dump TOPIC [--from POSITION | --from-time TIME] [--count N]\n"
	"                    [--format FORMAT]\n"
	"\n"
	"Print the records of TOPIC from the oldest one kept (or POSITION, or the\n"
	"first at or after TIME) up to the tail as it was when dump started, then\n"
	"exit. Records older than the ring holds are read from the topic's segment\n"
	"files, checking each one's CRC; a persistent topic whose ring is absent is\n"
	"dumped from its files alone. Records that neither the files nor the ring\n"
	"hold any more (an ephemeral ring overwritten meanwhile) are skipped with a\n"
	"warning on stderr saying how many bytes were lost. A damaged record stops\n"
	"the dump with an error naming the segment file and position.\n"
	"\n"
	"Options:\n"
	"  --from POSITION     start at this record position (from an earlier dump,\n"
	"                      or a position produce printed); it must be a record\n"
	"                      boundary the log still holds\n"
	"  --from-time TIME    start at the first record stamped at or after TIME:\n"
	"                      2024-05-01T10:32:00[.frac][Z|+HH:MM] (no zone: local\n"
	"                      time), 2024-05-01, or @SECONDS since the epoch\n"
	"  --count N           stop after N records\n"
	FORMATS_HELP
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 dumped; 1 failed (a damaged record, ...); 2 usage error;\n"
	"3 no such topic, data directory or position.\n";

static const char tail_help[] =
	"Usage: ringctl tail TOPIC [-f] [-n N] [--from POSITION] [--format FORMAT]\n"
	"\n"
	"Print the last records of TOPIC; with -f, go on printing records as they\n"
	"are published, until SIGINT (Ctrl-C) or SIGTERM. Records that producers\n"
	"overwrite before tail reads them are skipped with a warning on stderr\n"
	"saying how many bytes were lost.\n"
	"\n"
	"Options:\n"
	"  -f, --follow        wait for new records and print them as they arrive;\n"
	"                      starts at the tail (the next record) unless -n or\n"
	"                      --from says otherwise\n"
	"  -n, --lines N       first print the last N records the ring holds\n"
	"                      (default 10 without -f, 0 with -f)\n"
	"  --from POSITION     start at this record position instead\n"
	FORMATS_HELP
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 printed (with -f: stopped by a signal); 1 failed; 2 usage\n"
	"error; 3 no such topic, data directory or position.\n";

/* What dump and tail share. */
struct reading {
	struct ctl *ctl;
	const char *name;
	enum format format;
	struct ring_topic *topic;
	struct ring_reader *reader;
	uint64_t from;		/* with has_from */
	bool has_from;
	uint64_t claim_timeout_ns;
	uint64_t printed;	/* records printed */
};

static int parse_format(struct ctl *ctl, const char *arg, enum format *ret)
{
	for (unsigned i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (!strcmp(arg, format_names[i])) {
			*ret = (enum format)i;
			return CTL_CONTINUE;
		}
	}
	return ctl_usage_error(ctl, "--format '%s': expected text, hex, json, raw or binary",
			       arg);
}

/* ---- printing one record ---- */

static void print_record(enum format format, const struct ring_record *rec)
{
	char ts[48];

	switch (format) {
	case FORMAT_TEXT:
		printf("%llu %s type=%u ", (unsigned long long)rec->position,
		       fmt_time(ts, sizeof(ts), rec->timestamp_ns), rec->type);
		print_escaped(stdout, rec->payload, rec->len);
		putchar('\n');
		break;
	case FORMAT_HEX:
		printf("%llu %s type=%u len=%u\n", (unsigned long long)rec->position,
		       fmt_time(ts, sizeof(ts), rec->timestamp_ns), rec->type, rec->len);
		print_hexdump(stdout, rec->payload, rec->len, "  ");
		break;
	case FORMAT_JSON:
		print_record_json(stdout, rec);
		break;
	case FORMAT_RAW:
		fwrite(rec->payload, 1, rec->len, stdout);
		putchar('\n');
		break;
	case FORMAT_BINARY:
		print_record_lenprefix(stdout, rec);
		break;
	}
}

/* False once stdout is gone (a closed pipe) or broken: stop reading. */
static bool output_ok(void)
{
	return !ferror(stdout);
}

/* Whether the reader of our stdout has gone away (`tail -f | head`): a
 * pipe whose read end is closed polls as POLLERR. Checked while idle, so
 * that a follower with no new records to write does not linger forever. */
static bool output_closed(void)
{
	struct pollfd pfd = { .fd = STDOUT_FILENO, .events = 0 };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL));
}

/* ---- the read loop ---- */

/* What to do with each record read: print it, or (tail -n) note where
 * it is. */
typedef void (*record_handler)(struct reading *rd, const struct ring_record *rec, void *arg);

/*
 * Read one record, waiting at most @timeout_ns, and hand it to @handle.
 * Returns 1 if a record was handled, 0 if none was ready (being overtaken
 * is reported here, as a warning, and is 0 too), or -1 after reporting an
 * error, with the exit code in *ret_code.
 */
static int read_step(struct reading *rd, record_handler handle, void *arg, int64_t timeout_ns,
		     int *ret_code)
{
	uint64_t before = ring_reader_position(rd->reader);
	struct ring_record rec;
	int rc;

	rc = ring_reader_next(rd->reader, &rec, timeout_ns);
	if (rc == 0) {
		handle(rd, &rec, arg);
		return 1;
	}
	if (rc == -EAGAIN || rc == -ETIMEDOUT)
		return 0;
	if (rc == -EOVERFLOW) {
		uint64_t after = ring_reader_position(rd->reader);

		ctl_warn(rd->ctl, "topic '%s': skipped %llu bytes (positions %llu..%llu): %s",
			 rd->name, (unsigned long long)(after - before), (unsigned long long)before,
			 (unsigned long long)after, ring_strerror(rc));
		return 0;
	}
	if (rc == -EBADMSG && rd->has_from && before == rd->from)
		*ret_code = ctl_error(rd->ctl, rc, "topic '%s': position %llu (is it a record "
						   "boundary?)", rd->name,
				      (unsigned long long)before);
	else
		*ret_code = ctl_error(rd->ctl, rc, "topic '%s': position %llu", rd->name,
				      (unsigned long long)before);
	return -1;
}

static void handle_print(struct reading *rd, const struct ring_record *rec, void *arg)
{
	(void)arg;
	print_record(rd->format, rec);
	rd->printed++;
}

/*
 * Everything below the frontier is committed or padding, so a reader that
 * waits there sits inside a record: it was given a position that is not a
 * record boundary (--from). Say so now rather than time out later.
 */
static int check_boundary(struct reading *rd, uint64_t pos)
{
	struct ring_topic_stat s;

	if (ring_topic_stat(rd->topic, &s) < 0 || pos < s.oldest_pos || pos >= s.frontier_pos)
		return CTL_EXIT_OK;
	if (rd->has_from && pos == rd->from)
		return ctl_error(rd->ctl, -EBADMSG, "topic '%s': --from %llu is not a record "
						    "boundary", rd->name, (unsigned long long)pos);
	return ctl_error(rd->ctl, -EBADMSG,
			 "topic '%s': the reader stalled at position %llu, inside a record "
			 "(oldest %llu, frontier %llu)", rd->name, (unsigned long long)pos,
			 (unsigned long long)s.oldest_pos, (unsigned long long)s.frontier_pos);
}

/*
 * Hand every record below @end to @handle, at most @max_count of them (0:
 * no limit). A claim below @end that is never committed is repaired into
 * padding after the topic's claim timeout (by ringd, or by the reader's
 * own housekeeping); if the reader is still stuck well after that, give up.
 */
static int read_until(struct reading *rd, uint64_t end, uint64_t max_count,
		      record_handler handle, void *arg)
{
	double give_up_s = (double)rd->claim_timeout_ns / 1e9 + 5.0;
	double stalled_since = 0;
	uint64_t handled = 0;
	int code = CTL_EXIT_OK;

	while (!ctl_stop_requested && output_ok()) {
		uint64_t pos = ring_reader_position(rd->reader);
		int rc;

		if (pos >= end || (max_count && handled >= max_count))
			break;
		rc = read_step(rd, handle, arg, WAIT_SLICE_NS, &code);
		if (rc < 0)
			return code;
		if (rc > 0 || ring_reader_position(rd->reader) != pos) {
			handled += (uint64_t)rc;
			stalled_since = 0;
			continue;
		}
		if (stalled_since == 0) {
			stalled_since = ctl_mono_now();
			rc = check_boundary(rd, pos);
			if (rc != CTL_EXIT_OK)
				return rc;
		} else if (ctl_mono_now() - stalled_since > give_up_s) {
			return ctl_error(rd->ctl, -ETIMEDOUT, "topic '%s': stuck at position %llu, "
							      "a claim that is never committed",
					 rd->name, (unsigned long long)pos);
		}
	}
	return CTL_EXIT_OK;
}

/* Print records as they come until a signal (or a closed stdout). */
static int follow(struct reading *rd)
{
	int code = CTL_EXIT_OK;

	while (!ctl_stop_requested && output_ok()) {
		int rc = read_step(rd, handle_print, NULL, 0, &code);

		if (rc < 0)
			return code;
		if (rc > 0)
			continue;
		/* Nothing ready: show what we have before sleeping. */
		if (fflush(stdout) != 0 || output_closed())
			break;
		rc = read_step(rd, handle_print, NULL, WAIT_SLICE_NS, &code);
		if (rc < 0)
			return code;
	}
	return CTL_EXIT_OK;
}

/* ---- setup shared by dump and tail ---- */

static int reading_open(struct reading *rd, uint32_t start, struct ring_topic_stat *ret_stat)
{
	struct ring_reader_config cfg = { .start = start };
	int rc;

	rc = ctl_topic_open_or_report(rd->ctl, rd->name, &rd->topic);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = ring_topic_stat(rd->topic, ret_stat);
	if (rc < 0)
		return ctl_error(rd->ctl, rc, "topic '%s': stat", rd->name);
	rd->claim_timeout_ns = ret_stat->claim_timeout_ns;
	if (rd->has_from) {
		cfg.start = RING_START_POSITION;
		cfg.position = rd->from;
	}
	rc = ring_reader_open(rd->topic, &cfg, &rd->reader);
	if (rc == -ERANGE || (rc == -EINVAL && rd->has_from))
		return ctl_error(rd->ctl, rc, "topic '%s': --from %llu: the ring holds "
					      "positions %llu..%llu", rd->name,
				 (unsigned long long)rd->from,
				 (unsigned long long)ret_stat->oldest_pos,
				 (unsigned long long)ret_stat->tail_pos);
	if (rc < 0)
		return ctl_error(rd->ctl, rc, "topic '%s': open a reader", rd->name);
	/* Records go out in large writes; follow() flushes when idle. */
	setvbuf(stdout, NULL, _IOFBF, 1u << 16);
	return CTL_EXIT_OK;
}

static void reading_close(struct reading *rd)
{
	rd->reader = ring_reader_close(rd->reader);
	rd->topic = ring_topic_close(rd->topic);
}

static int parse_position(struct ctl *ctl, const char *opt, const char *arg, uint64_t *ret)
{
	if (ctl_parse_u64(arg, ret) < 0)
		return ctl_usage_error(ctl, "%s '%s': expected a position", opt, arg);
	/* Records start at 8-byte boundaries. */
	if (*ret % 8 != 0)
		return ctl_usage_error(ctl, "%s %s: not a record position (a multiple of 8)",
				       opt, arg);
	return CTL_CONTINUE;
}

/* ---- dump ---- */

/* dump reads the whole log, files then ring (logread.h); @from is the
 * --from position, or NULL. */
static int dump_loop(struct ctl *ctl, struct ctl_log *log, enum format format, uint64_t end,
		     uint64_t count, const uint64_t *from)
{
	uint64_t printed = 0, lost = 0;
	struct ring_record rec;
	int rc;

	while (!ctl_stop_requested && output_ok() && log->pos < end &&
	       (!count || printed < count)) {
		uint64_t pos = log->pos;

		rc = ctl_log_next(log, &rec, WAIT_SLICE_NS);
		if (log->lost_bytes != lost) {
			ctl_warn(ctl, "topic '%s': skipped %llu bytes before position %llu: "
				      "neither the segment files nor the ring hold them",
				 log->name, (unsigned long long)(log->lost_bytes - lost),
				 (unsigned long long)log->pos);
			lost = log->lost_bytes;
		}
		if (rc == 1 && rec.position >= end)
			break;
		if (rc == 1) {
			print_record(format, &rec);
			printed++;
			continue;
		}
		rc = ctl_log_idle_or_report(log, rc, pos, from);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	return CTL_EXIT_OK;
}

static int run_dump(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "from-time", required_argument, NULL, OPT_FROM_TIME },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "format", required_argument, NULL, OPT_FORMAT },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	enum format format = FORMAT_TEXT;
	uint64_t count = 0, from = 0, from_ns = 0, earliest, end;
	bool has_from = false, has_from_time = false;
	struct ctl_log log;
	const char *name;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		switch (opt) {
		case OPT_FROM:
			rc = parse_position(ctl, "--from", optarg, &from);
			has_from = true;
			break;
		case OPT_FROM_TIME:
			rc = CTL_CONTINUE;
			if (ctl_parse_datetime(optarg, &from_ns) < 0)
				rc = ctl_usage_error(ctl, "--from-time '%s': expected a date and time "
							  "such as 2024-05-01T10:32:00Z, or @SECONDS",
						     optarg);
			has_from_time = true;
			break;
		case OPT_COUNT:
			rc = CTL_CONTINUE;
			if (ctl_parse_u64(optarg, &count) < 0 || count == 0)
				rc = ctl_usage_error(ctl, "--count '%s': expected a number of "
							  "records, at least 1", optarg);
			break;
		case OPT_FORMAT:
			rc = parse_format(ctl, optarg, &format);
			break;
		default:
			rc = ctl_common_option(ctl, &ctl_cmd_dump, opt, argv);
			break;
		}
		if (rc != CTL_CONTINUE)
			return rc;
	}
	rc = ctl_positional_or_report(ctl, argc, argv, false, &name);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (has_from && has_from_time)
		return ctl_usage_error(ctl, "--from and --from-time exclude each other");
	if (ctl_catch_stop_signals() < 0)
		return ctl_os_error(ctl, -errno, "signal handlers");
	rc = ctl_log_open_or_report(ctl, name, true, &log);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = ctl_log_bounds(&log, &earliest, &end);
	if (rc < 0) {
		rc = ctl_error(ctl, rc, "topic '%s'", name);
		goto out;
	}
	if (has_from && (from < earliest || from > end)) {
		rc = ctl_error(ctl, -ERANGE, "topic '%s': --from %llu: the log holds positions "
					     "%llu..%llu", name, (unsigned long long)from,
			       (unsigned long long)earliest, (unsigned long long)end);
		goto out;
	}
	if (has_from_time) {
		rc = ctl_log_position_for_time(&log, from_ns, &from);
		if (rc < 0) {
			rc = ctl_error(ctl, rc, "topic '%s': --from-time", name);
			goto out;
		}
		has_from = true;
	}
	ctl_log_seek(&log, has_from ? from : earliest);
	/* Records go out in large writes. */
	setvbuf(stdout, NULL, _IOFBF, 1u << 16);
	/* A position found for --from-time is a record's: no --from to blame. */
	rc = dump_loop(ctl, &log, format, end, count, has_from && !has_from_time ? &from : NULL);
out:
	ctl_log_close(&log);
	return rc;
}

const struct ctl_command ctl_cmd_dump = {
	.name = "dump",
	.summary = "print a topic's records, from the segment files on",
	.help = dump_help,
	.run = run_dump,
};

/* ---- tail ---- */

/* The positions of the last @size records seen: a circular buffer. */
struct last_positions {
	uint64_t *v;
	uint64_t size;
	uint64_t seen;
};

static void handle_note(struct reading *rd, const struct ring_record *rec, void *arg)
{
	struct last_positions *lp = arg;

	(void)rd;
	lp->v[lp->seen % lp->size] = rec->position;
	lp->seen++;
}

/*
 * Position the reader on the last @n records below @end: one pass to learn
 * where they start (record boundaries are known only by walking), then a
 * seek back.
 */
static int seek_last(struct reading *rd, uint64_t n, uint64_t end)
{
	struct last_positions lp = { .size = n };
	uint64_t first;
	int rc;

	lp.v = calloc(n, sizeof(*lp.v));
	if (!lp.v)
		return ctl_error(rd->ctl, -ENOMEM, "-n %llu", (unsigned long long)n);
	rc = read_until(rd, end, 0, handle_note, &lp);
	if (rc == CTL_EXIT_OK && lp.seen > 0) {
		first = lp.seen > n ? lp.v[lp.seen % n] : lp.v[0];
		rc = ring_reader_seek(rd->reader, first);
		if (rc == -ERANGE) {
			/* Overwritten since: start from what is left. */
			struct ring_topic_stat s;

			rc = ring_topic_stat(rd->topic, &s);
			if (rc == 0) {
				ctl_warn(rd->ctl, "topic '%s': skipped %llu bytes (positions "
						  "%llu..%llu): %s", rd->name,
					 (unsigned long long)(s.oldest_pos - first),
					 (unsigned long long)first,
					 (unsigned long long)s.oldest_pos,
					 ring_strerror(-EOVERFLOW));
				rc = ring_reader_seek(rd->reader, s.oldest_pos);
			}
		}
		if (rc < 0)
			rc = ctl_error(rd->ctl, rc, "topic '%s': seek to %llu", rd->name,
				       (unsigned long long)first);
	}
	free(lp.v);
	return rc;
}

static int run_tail(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "format", required_argument, NULL, OPT_FORMAT },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	struct reading rd = { .ctl = ctl, .format = FORMAT_TEXT };
	struct ring_topic_stat s;
	bool follow_mode = false, has_lines = false;
	uint64_t lines = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:fn:", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			follow_mode = true;
			rc = CTL_CONTINUE;
			break;
		case 'n':
			rc = CTL_CONTINUE;
			if (ctl_parse_u64(optarg, &lines) < 0 || lines > TAIL_LINES_MAX)
				rc = ctl_usage_error(ctl, "-n '%s': expected a number of records, "
							  "0..%u", optarg, TAIL_LINES_MAX);
			has_lines = true;
			break;
		case OPT_FROM:
			rc = parse_position(ctl, "--from", optarg, &rd.from);
			rd.has_from = true;
			break;
		case OPT_FORMAT:
			rc = parse_format(ctl, optarg, &rd.format);
			break;
		default:
			rc = ctl_common_option(ctl, &ctl_cmd_tail, opt, argv);
			break;
		}
		if (rc != CTL_CONTINUE)
			return rc;
	}
	rc = ctl_positional_or_report(ctl, argc, argv, false, &rd.name);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (has_lines && rd.has_from)
		return ctl_usage_error(ctl, "-n and --from exclude each other");
	if (!has_lines && !rd.has_from)
		lines = follow_mode ? 0 : 10;
	if (ctl_catch_stop_signals() < 0)
		return ctl_os_error(ctl, -errno, "signal handlers");

	/* Only a history needs the earliest start; -f alone begins at the
	 * tail, so that nothing already there is printed. */
	rc = reading_open(&rd, lines ? RING_START_EARLIEST : RING_START_LATEST, &s);
	if (rc == CTL_EXIT_OK && lines)
		rc = seek_last(&rd, lines, s.tail_pos);
	if (rc == CTL_EXIT_OK && !follow_mode)
		rc = read_until(&rd, s.tail_pos, 0, handle_print, NULL);
	if (rc == CTL_EXIT_OK && follow_mode)
		rc = follow(&rd);
	reading_close(&rd);
	return rc;
}

const struct ctl_command ctl_cmd_tail = {
	.name = "tail",
	.summary = "print the last records; -f follows new ones until Ctrl-C",
	.help = tail_help,
	.run = run_tail,
};
