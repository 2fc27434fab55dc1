/* SPDX-License-Identifier: MIT */
/*
 * cmd_consume.c - consume: be a member of a consumer group, print each
 * record and commit (exclusive group) or ack (shared group) as it goes.
 *
 * The order of the three steps is what makes the command at-least-once
 * for whoever reads its output: a record is printed, stdout is flushed,
 * and only then is the record committed or acked. A consumer killed at any
 * instruction has therefore written every record it committed; what it
 * printed after its last commit is delivered again to the next member.
 *
 * Exclusive groups open with RING_CONSUMER_MANUAL_COMMIT and the tool
 * decides when to commit (every N records, every MS milliseconds, and
 * always when it goes idle or stops), because only the tool knows when
 * its output has left the process. Waits are in 100 ms slices so that
 * SIGINT and SIGTERM are noticed; a stop commits what was printed and
 * exits 0, as tail -f does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "group.h"
#include "output.h"
#include "ringctl.h"

enum {
	OPT_GROUP = CTL_OPT_FIRST_LONG,
	OPT_SHARED,
	OPT_FROM,
	OPT_COUNT,
	OPT_COMMIT_EVERY,
	OPT_AUTO_COMMIT_MS,
	OPT_DURABLE,
	OPT_TIMEOUT,
	OPT_FORMAT,
};

/* One wait for a record; between two, the stop flag is checked. */
#define WAIT_SLICE_NS 100000000	/* 100 ms */
/* A commit interval longer than an hour is a typo. */
#define AUTO_COMMIT_MS_MAX 3600000u

static const char consume_help[] =
	"Usage: ringctl consume TOPIC --group G [--shared] [--from earliest|latest|P]\n"
	"                       [--count N] [--commit-every N | --auto-commit-ms MS]\n"
	"                       [--durable] [--timeout S] [--format text|json]\n"
	"\n"
	"Join consumer group G of TOPIC (creating the group if it is new), print\n"
	"each record it delivers and commit as it goes, so that the next member of\n"
	"G (after this one exits, or is killed) resumes where this one stopped.\n"
	"Each record is written to stdout before it is committed: after a crash,\n"
	"records printed since the last commit are delivered again, never lost.\n"
	"\n"
	"An exclusive group (the default) has one member at a time, which reads in\n"
	"order and commits its position. A shared group (--shared) has competing\n"
	"members: each record goes to one of them, which acks it once printed; the\n"
	"records of a member that dies are redelivered to another.\n"
	"\n"
	"Stops, commits what it printed and exits 0 after N records (--count),\n"
	"after S seconds without a record (--timeout), or on SIGINT or SIGTERM.\n"
	"At the end one line on stderr says how many records were consumed and\n"
	"where the group's committed position is.\n"
	"\n"
	"Options:\n"
	"  -g, --group G          the consumer group: 1..63 characters of\n"
	"                         [A-Za-z0-9._-], not starting with '.' (required)\n"
	"  --shared               join G as a shared group (competing members with\n"
	"                         acks); a group keeps the mode it was created with\n"
	"  --from WHERE           where a new group starts: earliest (the oldest\n"
	"                         record kept, the default), latest (only records\n"
	"                         published from now on) or a record position. An\n"
	"                         existing group resumes at its committed position.\n"
	"  --count N              stop after N records\n"
	"  --commit-every N       exclusive groups: commit every N records (default\n"
	"                         1), and whenever no record is waiting\n"
	"  --auto-commit-ms MS    exclusive groups: commit at most every MS\n"
	"                         milliseconds, and whenever no record is waiting\n"
	"  --durable              deliver only records ringd has fsynced\n"
	"                         (persistent topics)\n"
	"  --timeout S            stop after S seconds without a record (fractions\n"
	"                         allowed; default: wait as long as it takes)\n"
	"  --format FORMAT        text: POSITION type=TYPE PAYLOAD, one line, with\n"
	"                         delivery=N before the payload when a shared group\n"
	"                         redelivers it; non-printable bytes as \\xHH\n"
	"                         (default)\n"
	"                         json: one JSON object per line: position,\n"
	"                         next_position, timestamp_ns, type, len,\n"
	"                         deliveries, and payload (a string if printable\n"
	"                         UTF-8) or payload_b64 (base64)\n"
	"  -d, --data-dir DIR     the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help             this help\n"
	"\n"
	"Exit status: 0 stopped by --count, --timeout or a signal; 1 failed (the\n"
	"group has a live exclusive member, this member lost the group, a corrupt\n"
	"record, ...); 2 usage error; 3 no such topic or data directory, or a\n"
	"--from position beyond the tail.\n";

enum consume_format {
	CONSUME_TEXT,
	CONSUME_JSON,
};

struct consume {
	struct ctl *ctl;
	const char *name;
	const char *group;
	struct ring_topic *topic;
	struct ring_consumer *consumer;
	enum consume_format format;
	bool shared;
	/* Limits and commit policy, from the options; 0 = none. */
	uint64_t max_count;
	uint64_t commit_every;
	uint64_t auto_commit_ns;
	uint64_t idle_timeout_ns;
	/* Progress. */
	uint64_t count;
	uint64_t first_pos;
	uint64_t last_pos;
	uint64_t pending;	/* printed, not yet committed (exclusive) */
	uint64_t commit_pos;	/* where the next commit goes: after the last printed */
	uint64_t last_commit_ns;
	bool output_gone;	/* stdout failed: commit nothing more */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the group, as ring_group_stat() sees it ---- */

/* Find group @name in the topic's table: 1 (filled in), or 0 if absent. */
static int group_lookup(struct ring_topic *topic, const char *name, struct ring_group_stat *ret)
{
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		struct ring_group_stat s;

		if (ring_group_stat(topic, i, &s) == 1 && !strcmp(s.name, name)) {
			*ret = s;
			return 1;
		}
	}
	return 0;
}

/*
 * One error line whose reason is ours, not ring_strerror()'s: its table
 * reads -ENOENT as "no such topic" and -EBUSY as a bare "held by another
 * live process", where the line can say which process and what to do.
 */
static int fail_line(const struct consume *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_line(const struct consume *p, int code, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fflush(stdout);	/* keep the line after the records printed before it */
	fprintf(stderr, "ringctl: %s: %s\n", p->ctl->command, what);
	return code;
}

/* The one error line for a failed ring_consumer_open(). */
static int report_open_error(struct consume *p, int rc)
{
	uint32_t want = p->shared ? RING_GROUP_SHARED : RING_GROUP_EXCLUSIVE;
	struct ring_group_stat s;
	bool found = group_lookup(p->topic, p->group, &s) == 1;

	if (rc == -EBUSY && found && s.mode == RING_GROUP_EXCLUSIVE && s.member[0].pid > 0)
		return fail_line(p, CTL_EXIT_FAILURE,
				 "group %s has a live exclusive member (pid %d)", p->group,
				 (int)s.member[0].pid);
	if (rc == -EBUSY)
		return fail_line(p, CTL_EXIT_FAILURE, "group %s has a live exclusive member",
				 p->group);
	if (rc == -EINVAL && found && s.mode != want)
		return ctl_usage_error(p->ctl, "group %s is %s group: %s --shared", p->group,
				       s.mode == RING_GROUP_SHARED ? "a shared" : "an exclusive", p->shared ? "drop" : "add");
	if (rc == -ENOSPC && found)
		return ctl_error(p->ctl, rc, "group %s: all %u member slots are taken", p->group,
				 RING_MAX_MEMBERS);
	if (rc == -ENOSPC)
		return ctl_error(p->ctl, rc, "topic '%s': all %u group slots are taken", p->name,
				 RING_MAX_GROUPS);
	return ctl_error(p->ctl, rc, "topic '%s': join group %s", p->name, p->group);
}

/* ---- output ---- */

static void print_record(const struct consume *p, const struct ring_record *rec)
{
	struct json j;

	if (p->format == CONSUME_TEXT) {
		printf("%llu type=%u ", (unsigned long long)rec->position, rec->type);
		if (rec->deliveries > 1)
			printf("delivery=%u ", rec->deliveries);
		print_escaped(stdout, rec->payload, rec->len);
		putchar('\n');
		return;
	}
	json_init(&j, stdout);
	json_begin_object(&j);
	json_kv_u64(&j, "position", rec->position);
	json_kv_u64(&j, "next_position", rec->next_position);
	json_kv_u64(&j, "timestamp_ns", rec->timestamp_ns);
	json_kv_u64(&j, "type", rec->type);
	json_kv_u64(&j, "len", rec->len);
	json_kv_u64(&j, "deliveries", rec->deliveries);
	json_kv_payload(&j, rec->payload, rec->len);
	json_end_object(&j);
	json_finish(&j);
}

/*
 * Push what was printed out of the process. False if stdout is gone or
 * broken: the records in the buffer were not delivered to anyone, so
 * they must not be committed (a closed pipe is not an error of ours; the
 * group simply keeps them for the next member).
 */
static bool flush_output(struct consume *p)
{
	if (p->output_gone)
		return false;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		p->output_gone = true;
		return false;
	}
	return true;
}

/* ---- committing ---- */

/* Exclusive groups: flush, then commit everything printed. */
static int commit_printed(struct consume *p)
{
	int rc;

	if (p->shared || p->pending == 0)
		return 0;
	if (!flush_output(p))
		return 0;
	rc = ring_consumer_commit(p->consumer, p->commit_pos);
	if (rc < 0)
		return rc;
	p->pending = 0;
	p->last_commit_ns = mono_ns();
	return 0;
}

/* After one record was printed: ack it (shared), or commit if the policy
 * says it is time (exclusive). */
static int after_record(struct consume *p, const struct ring_record *rec)
{
	if (p->shared) {
		if (!flush_output(p))
			return 0;
		return ring_consumer_ack(p->consumer, rec->position);
	}
	p->pending++;
	p->commit_pos = rec->next_position;
	if (p->commit_every && p->pending >= p->commit_every)
		return commit_printed(p);
	if (p->auto_commit_ns && mono_ns() - p->last_commit_ns >= p->auto_commit_ns)
		return commit_printed(p);
	return 0;
}

/* ---- the loop ---- */

/* The error line for a failure while consuming. */
static int report_consume_error(struct consume *p, int rc, const char *what)
{
	if (rc == -EBUSY)
		return fail_line(p, CTL_EXIT_FAILURE, "group %s: %s: another member took the "
				 "group over (this one was taken for dead)", p->group, what);
	if (rc == -ENOENT)
		return fail_line(p, CTL_EXIT_FAILURE, "group %s: %s: the record was redelivered "
				 "to another member before it was acked", p->group, what);
	return ctl_error(p->ctl, rc, "topic '%s': group %s: %s (position %llu)", p->name, p->group,
			 what, (unsigned long long)ring_consumer_position(p->consumer));
}

static int consume_loop(struct consume *p)
{
	uint64_t idle_since = mono_ns();
	struct ring_record rec;
	int rc;

	while (!ctl_stop_requested && !p->output_gone) {
		if (p->max_count && p->count >= p->max_count)
			break;
		rc = ring_consumer_next(p->consumer, &rec, 0);
		if (rc == -EAGAIN) {
			uint64_t now = mono_ns(), slice = WAIT_SLICE_NS;

			/* Nothing waiting: a good moment to commit, so that an
			 * idle member has nothing in flight. */
			rc = commit_printed(p);
			if (rc < 0)
				return report_consume_error(p, rc, "commit");
			if (p->idle_timeout_ns) {
				if (now - idle_since >= p->idle_timeout_ns)
					break;
				if (p->idle_timeout_ns - (now - idle_since) < slice)
					slice = p->idle_timeout_ns - (now - idle_since);
			}
			rc = ring_consumer_next(p->consumer, &rec, (int64_t)slice);
			if (rc == -ETIMEDOUT || rc == -EAGAIN)
				continue;
		}
		if (rc == -ERANGE) {
			/* Retention deleted records this group had not read: the
			 * reset policy moved the consumer on. Say so and go on,
			 * as a Kafka consumer with auto.offset.reset does. */
			fprintf(stderr, "ringctl: consume: topic '%s': group %s: records before "
				"position %llu were deleted by retention before this group read "
				"them; going on from there\n",
				p->name, p->group,
				(unsigned long long)ring_consumer_position(p->consumer));
			continue;
		}
		if (rc < 0)
			return report_consume_error(p, rc, "read");
		print_record(p, &rec);
		if (p->count == 0)
			p->first_pos = rec.position;
		p->last_pos = rec.position;
		p->count++;
		idle_since = mono_ns();
		rc = after_record(p, &rec);
		if (rc < 0)
			return report_consume_error(p, rc, p->shared ? "ack" : "commit");
	}
	rc = commit_printed(p);
	if (rc < 0)
		return report_consume_error(p, rc, "commit");
	return CTL_EXIT_OK;
}

/* "consumed N records (positions A..B) as exclusive group G; committed
 * position P": the group's, which for a shared group other members move
 * too. */
static void print_summary(struct consume *p)
{
	const char *mode =
		ctl_group_mode_name(p->shared ? RING_GROUP_SHARED : RING_GROUP_EXCLUSIVE);
	struct ring_group_stat s;
	char committed[64] = "";

	if (group_lookup(p->topic, p->group, &s) == 1)
		snprintf(committed, sizeof(committed), "; committed position %llu",
			 (unsigned long long)s.committed_pos);
	if (p->count)
		fprintf(stderr, "consumed %llu record%s (positions %llu..%llu) as %s group %s%s\n",
			(unsigned long long)p->count, p->count == 1 ? "" : "s",
			(unsigned long long)p->first_pos, (unsigned long long)p->last_pos, mode,
			p->group, committed);
	else
		fprintf(stderr, "consumed 0 records as %s group %s%s\n", mode, p->group, committed);
}

/* ---- options ---- */

struct consume_opts {
	const char *from;
	bool has_commit_every;
	bool has_auto_commit;
	bool durable;
};

static int parse_option(struct consume *p, struct consume_opts *o, int opt, char **argv)
{
	struct ctl *ctl = p->ctl;
	double seconds;
	uint64_t v;

	switch (opt) {
	case 'g':
	case OPT_GROUP:
		if (ringi_group_name_check(optarg) < 0)
			return ctl_usage_error(ctl, "invalid group name '%s': 1..%d characters of "
						    "[A-Za-z0-9._-], not starting with '.'",
					       optarg, RING_GROUP_NAME_MAX);
		p->group = optarg;
		return CTL_CONTINUE;
	case OPT_SHARED:
		p->shared = true;
		return CTL_CONTINUE;
	case OPT_FROM:
		o->from = optarg;
		return CTL_CONTINUE;
	case OPT_COUNT:
		if (ctl_parse_u64(optarg, &p->max_count) < 0 || p->max_count == 0)
			return ctl_usage_error(ctl, "--count '%s': expected a number of records, "
						    "at least 1", optarg);
		return CTL_CONTINUE;
	case OPT_COMMIT_EVERY:
		if (ctl_parse_u64(optarg, &p->commit_every) < 0 || p->commit_every == 0)
			return ctl_usage_error(ctl, "--commit-every '%s': expected a number of "
						    "records, at least 1", optarg);
		o->has_commit_every = true;
		return CTL_CONTINUE;
	case OPT_AUTO_COMMIT_MS:
		if (ctl_parse_u64(optarg, &v) < 0 || v == 0 || v > AUTO_COMMIT_MS_MAX)
			return ctl_usage_error(ctl, "--auto-commit-ms '%s': expected 1..%u "
						    "milliseconds", optarg, AUTO_COMMIT_MS_MAX);
		p->auto_commit_ns = v * 1000000u;
		o->has_auto_commit = true;
		return CTL_CONTINUE;
	case OPT_DURABLE:
		o->durable = true;
		return CTL_CONTINUE;
	case OPT_TIMEOUT:
		if (ctl_parse_interval(optarg, &seconds) < 0)
			return ctl_usage_error(ctl, "--timeout '%s': expected a positive number of "
						    "seconds, at most a day", optarg);
		/* At least 1 ns, so that a tiny value still means "a timeout". */
		p->idle_timeout_ns = (uint64_t)(seconds * 1e9) + 1;
		return CTL_CONTINUE;
	case OPT_FORMAT:
		if (!strcmp(optarg, "text"))
			p->format = CONSUME_TEXT;
		else if (!strcmp(optarg, "json"))
			p->format = CONSUME_JSON;
		else
			return ctl_usage_error(ctl, "--format '%s': expected text or json", optarg);
		return CTL_CONTINUE;
	default:
		return ctl_common_option(ctl, &ctl_cmd_consume, opt, argv);
	}
}

/* Turn --from into the consumer's start; CTL_CONTINUE or an exit code. */
static int parse_from(struct consume *p, const char *from, struct ring_consumer_config *cfg)
{
	if (!from || !strcmp(from, "earliest")) {
		cfg->start = RING_GROUP_START_EARLIEST;
		return CTL_CONTINUE;
	}
	if (!strcmp(from, "latest")) {
		cfg->start = RING_GROUP_START_LATEST;
		return CTL_CONTINUE;
	}
	if (ctl_parse_u64(from, &cfg->start_position) < 0)
		return ctl_usage_error(p->ctl, "--from '%s': expected earliest, latest or a "
					       "position", from);
	/* Records start at 8-byte boundaries. */
	if (cfg->start_position % 8 != 0)
		return ctl_usage_error(p->ctl, "--from %s: not a record position (a multiple "
					       "of 8)", from);
	cfg->start = RING_GROUP_START_POSITION;
	return CTL_CONTINUE;
}

/*
 * Check what can be said before joining: --from applies to a new group
 * only, and a position past the tail names no record. Returns
 * CTL_EXIT_OK or the exit code of the one error line.
 */
static int check_start(struct consume *p, const char *from, const struct ring_consumer_config *cfg)
{
	struct ring_group_stat gs;
	struct ring_topic_stat s;
	int rc;

	if (group_lookup(p->topic, p->group, &gs) == 1) {
		if (from)
			ctl_warn(p->ctl, "group %s exists: it resumes at its committed position "
					 "%llu; --from applies to a new group only", p->group,
				 (unsigned long long)gs.committed_pos);
		return CTL_EXIT_OK;
	}
	if (cfg->start != RING_GROUP_START_POSITION)
		return CTL_EXIT_OK;
	rc = ring_topic_stat(p->topic, &s);
	if (rc < 0)
		return ctl_error(p->ctl, rc, "topic '%s': stat", p->name);
	if (cfg->start_position > s.tail_pos)
		return ctl_error(p->ctl, -ERANGE, "topic '%s': --from %llu is beyond the tail "
						  "(%llu)", p->name,
				 (unsigned long long)cfg->start_position,
				 (unsigned long long)s.tail_pos);
	return CTL_EXIT_OK;
}

static int run_consume(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "shared", no_argument, NULL, OPT_SHARED },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "commit-every", required_argument, NULL, OPT_COMMIT_EVERY },
		{ "auto-commit-ms", required_argument, NULL, OPT_AUTO_COMMIT_MS },
		{ "durable", no_argument, NULL, OPT_DURABLE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "format", required_argument, NULL, OPT_FORMAT },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	struct consume p = { .ctl = ctl, .format = CONSUME_TEXT };
	struct ring_consumer_config cfg = { 0 };
	struct consume_opts o = { 0 };
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:g:", options, NULL)) != -1) {
		rc = parse_option(&p, &o, opt, argv);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	rc = ctl_positional_or_report(ctl, argc, argv, false, &p.name);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (!p.group)
		return ctl_usage_error(ctl, "missing --group G");
	if (o.has_commit_every && o.has_auto_commit)
		return ctl_usage_error(ctl, "--commit-every and --auto-commit-ms exclude each "
					    "other");
	if (p.shared && (o.has_commit_every || o.has_auto_commit))
		return ctl_usage_error(ctl, "a shared group acks each record: --commit-every and "
					    "--auto-commit-ms are for exclusive groups");
	if (!p.shared && !o.has_auto_commit && !o.has_commit_every)
		p.commit_every = 1;
	rc = parse_from(&p, o.from, &cfg);
	if (rc != CTL_CONTINUE)
		return rc;
	cfg.mode = p.shared ? RING_GROUP_SHARED : RING_GROUP_EXCLUSIVE;
	cfg.flags = (p.shared ? 0 : RING_CONSUMER_MANUAL_COMMIT) |
		    (o.durable ? RING_CONSUMER_DURABLE : 0);

	rc = ctl_topic_open_or_report(ctl, p.name, &p.topic);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (o.durable && !ctl_topic_has_dir(ctl, p.name)) {
		rc = ctl_usage_error(ctl, "--durable: topic '%s' is ephemeral: its records are "
					  "never durable", p.name);
		goto out;
	}
	rc = check_start(&p, o.from, &cfg);
	if (rc != CTL_EXIT_OK)
		goto out;
	/* Before joining: a SIGINT or SIGTERM that comes as soon as this
	 * process is a member must end it through the loop, which says where
	 * the group stands, not by the default action. */
	if (ctl_catch_stop_signals() < 0) {
		rc = ctl_os_error(ctl, -errno, "signal handlers");
		goto out;
	}
	rc = ring_consumer_open(p.topic, p.group, &cfg, &p.consumer);
	if (rc < 0) {
		rc = report_open_error(&p, rc);
		goto out;
	}
	/* Records go out in large writes; flush_output() pushes them out
	 * before every commit or ack. */
	setvbuf(stdout, NULL, _IOFBF, 1u << 16);
	p.last_commit_ns = mono_ns();
	rc = consume_loop(&p);
	if (rc == CTL_EXIT_OK)
		print_summary(&p);
out:
	/* Manual commit: closing commits nothing behind our back. */
	p.consumer = ring_consumer_close(p.consumer);
	p.topic = ring_topic_close(p.topic);
	return rc;
}

const struct ctl_command ctl_cmd_consume = {
	.name = "consume",
	.summary = "join a consumer group; print and commit (or ack) each record",
	.help = consume_help,
	.run = run_consume,
};
