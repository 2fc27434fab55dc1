/* SPDX-License-Identifier: MIT */
/*
 * cmd_export.c - export: write a range of a topic's log to a file (or
 * stdout) in a format other tools read: JSON lines, or length-prefixed
 * payloads (which `ringctl produce --binary` reads back in).
 *
 * It reads the whole log through logread.h (segment files, then the
 * ring), so any range still kept can be exported, with ringd running or
 * not. The output file is written under a temporary name and renamed when
 * complete, so that an interrupted export never leaves a file that looks
 * whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logread.h"
#include "output.h"
#include "ringctl.h"

enum {
	OPT_FROM = CTL_OPT_FIRST_LONG,
	OPT_TO,
	OPT_FORMAT,
	OPT_OUTPUT,
	OPT_JSON,
};

static const char export_help[] =
	"Usage: ringctl export TOPIC [--from P] [--to P] --format jsonl|lenprefix\n"
	"                      [--output FILE] [--json]\n"
	"\n"
	"Write the records of TOPIC at positions [--from, --to) to FILE (or\n"
	"stdout), reading the segment files and then the ring, and checking each\n"
	"record's CRC on disk.\n"
	"\n"
	"Formats:\n"
	"  jsonl      one JSON object per line: position, timestamp_ns, type, len,\n"
	"             and payload (a string if printable UTF-8) or payload_b64\n"
	"  lenprefix  for each record a u32 little-endian length, then the payload\n"
	"             (what `ringctl produce --binary` reads)\n"
	"\n"
	"Options:\n"
	"  --from P            the first position (a record boundary; default: the\n"
	"                      oldest record kept)\n"
	"  --to P              stop before this position (default: the tail when\n"
	"                      export starts)\n"
	"  --format FORMAT     jsonl or lenprefix (required)\n"
	"  --output FILE       write FILE (through FILE.tmp, renamed when complete)\n"
	"                      instead of stdout; the summary then goes to stdout\n"
	"  --json              the summary as JSON: {\"records\": N, \"bytes\": B,\n"
	"                      \"from\": P, \"to\": P}\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"A summary (records, payload bytes, range) goes to stderr, or to stdout\n"
	"with --output; a progress bar is drawn on stderr when it is a terminal.\n"
	"\n"
	"Exit status: 0 exported; 1 failed (a damaged record, a write error);\n"
	"2 usage error; 3 no such topic, position or data directory.\n";

enum exp_format { EXP_NONE, EXP_JSONL, EXP_LENPREFIX };

static void write_record(FILE *f, enum exp_format format, const struct ring_record *rec)
{
	if (format == EXP_LENPREFIX)
		print_record_lenprefix(f, rec);
	else
		print_record_json(f, rec);
}

static void draw_bar(uint64_t from, uint64_t to, uint64_t pos)
{
	double frac = to > from ? (double)(pos - from) / (double)(to - from) : 1.0;
	char percent[8];

	snprintf(percent, sizeof(percent), "%3u%%", (unsigned)(frac * 100.0));
	print_progress(frac, percent);
}

static int parse_pos(struct ctl *ctl, const char *opt, const char *arg, uint64_t *ret)
{
	if (ctl_parse_u64(arg, ret) < 0 || *ret % 8)
		return ctl_usage_error(ctl, "%s '%s': expected a record position (a multiple "
					    "of 8)", opt, arg);
	return CTL_CONTINUE;
}

static int run_export(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "json", no_argument, NULL, OPT_JSON },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	enum exp_format format = EXP_NONE;
	uint64_t from = 0, to = 0, earliest, end, records = 0, bytes = 0, lost = 0;
	bool has_from = false, has_to = false, json = false, bar;
	const char *name, *output = NULL;
	char tmp[PATH_MAX];
	struct ring_record rec;
	struct ctl_log log;
	double last_draw = 0;
	FILE *out = stdout, *summary;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		switch (opt) {
		case OPT_FROM:
			rc = parse_pos(ctl, "--from", optarg, &from);
			has_from = true;
			break;
		case OPT_TO:
			rc = parse_pos(ctl, "--to", optarg, &to);
			has_to = true;
			break;
		case OPT_FORMAT:
			rc = CTL_CONTINUE;
			if (!strcmp(optarg, "jsonl"))
				format = EXP_JSONL;
			else if (!strcmp(optarg, "lenprefix"))
				format = EXP_LENPREFIX;
			else
				rc = ctl_usage_error(ctl, "--format '%s': expected jsonl or "
							  "lenprefix", optarg);
			break;
		case OPT_OUTPUT:
			output = optarg;
			rc = CTL_CONTINUE;
			break;
		case OPT_JSON:
			json = true;
			rc = CTL_CONTINUE;
			break;
		default:
			rc = ctl_common_option(ctl, &ctl_cmd_export, opt, argv);
			break;
		}
		if (rc != CTL_CONTINUE)
			return rc;
	}
	rc = ctl_positional_or_report(ctl, argc, argv, false, &name);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (format == EXP_NONE)
		return ctl_usage_error(ctl, "missing --format jsonl|lenprefix");
	if (has_from && has_to && to < from)
		return ctl_usage_error(ctl, "--to %llu is before --from %llu",
				       (unsigned long long)to, (unsigned long long)from);
	if (output && (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", output) >= sizeof(tmp))
		return ctl_usage_error(ctl, "--output '%s': name too long", output);
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
	if (!has_from)
		from = earliest;
	if (!has_to)
		to = end;
	if (from < earliest || from > end || to > end || to < from) {
		rc = ctl_error(ctl, -ERANGE, "topic '%s': positions %llu..%llu: the log holds "
					     "%llu..%llu", name, (unsigned long long)from,
			       (unsigned long long)to, (unsigned long long)earliest,
			       (unsigned long long)end);
		goto out;
	}
	if (output) {
		out = fopen(tmp, "wbx");
		if (!out) {
			rc = ctl_os_error(ctl, -errno, "--output '%s'", tmp);
			goto out;
		}
	}
	summary = output ? stdout : stderr;
	bar = isatty(STDERR_FILENO) && (output || !isatty(STDOUT_FILENO));
	setvbuf(out, NULL, _IOFBF, 1u << 16);
	ctl_log_seek(&log, from);
	rc = CTL_CONTINUE;
	while (rc == CTL_CONTINUE && log.pos < to && !ctl_stop_requested && !ferror(out)) {
		uint64_t pos = log.pos;
		int r = ctl_log_next(&log, &rec, 100000000);

		if (r == 1 && rec.position >= to)
			break;
		if (r == 1) {
			write_record(out, format, &rec);
			records++;
			bytes += rec.len;
			if (bar && ctl_mono_now() - last_draw > 0.1) {
				last_draw = ctl_mono_now();
				draw_bar(from, to, log.pos);
			}
			continue;
		}
		rc = ctl_log_idle_or_report(&log, r, pos, has_from ? &from : NULL);
	}
	if (rc == CTL_CONTINUE)
		rc = CTL_EXIT_OK;
	if (bar)
		clear_progress();
	lost = log.lost_bytes;
	if (lost)
		ctl_warn(ctl, "topic '%s': %llu bytes in the range were no longer kept", name,
			 (unsigned long long)lost);
	if (ctl_stop_requested && rc == CTL_EXIT_OK)
		rc = ctl_error(ctl, -EINTR, "topic '%s': interrupted at position %llu", name,
			       (unsigned long long)log.pos);
	if (fflush(out) != 0 || ferror(out)) {
		if (rc == CTL_EXIT_OK && !(errno == EPIPE && !output))
			rc = ctl_os_error(ctl, -errno, "write %s", output ? tmp : "standard output");
	}
	if (output) {
		if (rc == CTL_EXIT_OK && (fsync(fileno(out)) < 0 || rename(tmp, output) < 0))
			rc = ctl_os_error(ctl, -errno, "--output '%s'", output);
		(void)fclose(out);
		if (rc != CTL_EXIT_OK)
			(void)unlink(tmp);
	}
	if (rc == CTL_EXIT_OK) {
		if (json) {
			struct json j;

			json_init(&j, summary);
			json_begin_object(&j);
			json_kv_u64(&j, "records", records);
			json_kv_u64(&j, "bytes", bytes);
			json_kv_u64(&j, "from", from);
			json_kv_u64(&j, "to", to);
			json_kv_u64(&j, "lost_bytes", lost);
			json_end_object(&j);
			json_finish(&j);
		} else {
			fprintf(summary, "exported %llu records (%llu payload bytes), positions "
					 "%llu..%llu\n", (unsigned long long)records,
				(unsigned long long)bytes, (unsigned long long)from,
				(unsigned long long)to);
		}
	}
out:
	ctl_log_close(&log);
	return rc;
}

const struct ctl_command ctl_cmd_export = {
	.name = "export",
	.summary = "write a range of records as JSON lines or length-prefixed",
	.help = export_help,
	.run = run_export,
};
