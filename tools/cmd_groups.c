/* SPDX-License-Identifier: MIT */
/*
 * cmd_groups.c - groups and reset-offsets: the consumer groups of a topic
 * (kafka-consumer-groups --describe and --reset-offsets).
 *
 * Everything a group is lives in the topic's shared memory, so both
 * commands need the ring. Lag in bytes is a subtraction; lag in records
 * needs the records counted, which means walking the log from the
 * furthest-behind group to the tail (files, then the ring): one walk
 * serves every group. reset-offsets is a dry run unless --execute, and
 * libring refuses it while a member is alive unless --force.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logread.h"
#include "output.h"
#include "ringctl.h"

enum {
	OPT_JSON = CTL_OPT_FIRST_LONG,
	OPT_NO_COUNT,
	OPT_TO_EARLIEST,
	OPT_TO_LATEST,
	OPT_TO_POSITION,
	OPT_TO_DATETIME,
	OPT_SHIFT_BY,
	OPT_EXECUTE,
	OPT_FORCE,
};

/* How far --shift-by may go back (8 bytes of memory a record). */
#define SHIFT_BACK_MAX 10000000

static const char groups_help[] =
	"Usage: ringctl groups TOPIC [GROUP] [--json] [--no-count]\n"
	"\n"
	"Describe the consumer groups of TOPIC (or only GROUP), as\n"
	"kafka-consumer-groups --describe does:\n"
	"  MODE         exclusive (one member reads in order) or shared (competing\n"
	"               members with acks)\n"
	"  COMMITTED    the group's committed position: everything below is done\n"
	"  LAG          bytes and records from the committed position to the tail\n"
	"  MEMBERS      live members; with GROUP, each member's pid, liveness, last\n"
	"               heartbeat and records delivered\n"
	"  IN FLIGHT    shared groups: delivered, not yet acked\n"
	"  DELIVERED, REDELIVERED, DEAD-LETTERED, ACKED   counts since the group\n"
	"               was created (dead-lettered: given up after max-deliver)\n"
	"Counting the records of the lag walks the log from the furthest-behind\n"
	"group to the tail (segment files, then the ring).\n"
	"\n"
	"Options:\n"
	"  --no-count          do not count records: only the lag in bytes\n"
	"  --json              one JSON object: {\"topic\": ..., \"tail_pos\": ...,\n"
	"                      \"groups\": [...]}\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 shown; 1 failed (damage met while counting is only a\n"
	"warning); 2 usage error; 3 no such topic, group or data directory.\n";

static const char reset_help[] =
	"Usage: ringctl reset-offsets TOPIC GROUP TARGET [--execute] [--force] [--json]\n"
	"\n"
	"Move GROUP's committed position, as kafka-consumer-groups --reset-offsets\n"
	"does. Without --execute this is a dry run: it prints the current and the\n"
	"new position and lag, and changes nothing.\n"
	"\n"
	"TARGET is one of:\n"
	"  --to-earliest       the oldest record kept (segment files or ring)\n"
	"  --to-latest         the tail: skip everything published so far\n"
	"  --to-position P     record position P (a record boundary the log holds)\n"
	"  --to-datetime TIME  the first record stamped at or after TIME:\n"
	"                      2024-05-01T10:32:00[.frac][Z|+HH:MM] (no zone: local\n"
	"                      time), 2024-05-01, or @SECONDS since the epoch\n"
	"  --shift-by N        N records forward (N > 0) or back (N < 0) from the\n"
	"                      committed position, stopping at the ends of the log\n"
	"\n"
	"Options:\n"
	"  --execute           really move the position\n"
	"  --force             even while an exclusive group has a live member\n"
	"                      (which then finds its position moved under it);\n"
	"                      without it such a member makes --execute fail (the\n"
	"                      dry run says so). A shared group's live members\n"
	"                      never block a reset\n"
	"  --json              one JSON object: topic, group, mode, current_pos,\n"
	"                      new_pos, tail_pos, lag_bytes_before, lag_bytes_after,\n"
	"                      live_member_pid (a member that blocks --execute, or\n"
	"                      null) and executed (false for a dry run)\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"A shared group forgets its in-flight deliveries and hands out records from\n"
	"the new position on. ringd logs the new position with its next commit.\n"
	"\n"
	"Exit status: 0 planned (dry run) or done; 1 failed (a live member without\n"
	"--force, a position inside a record, ...); 2 usage error; 3 no such topic,\n"
	"group, position or data directory.\n";

/* ---- shared ---- */

struct group_row {
	struct ring_group_stat st;
	uint64_t lag_records;
	bool counted;
	uint64_t before;	/* records below the committed position (walk) */
};

static int row_cmp(const void *a, const void *b)
{
	const struct group_row *x = *(const struct group_row *const *)a;
	const struct group_row *y = *(const struct group_row *const *)b;

	return x->st.committed_pos < y->st.committed_pos ? -1
	       : x->st.committed_pos > y->st.committed_pos ? 1 : 0;
}

/* Every group of the topic (or only @only); *ret_rows malloc'ed. */
static int groups_collect(struct ring_topic *t, const char *only, struct group_row **ret_rows,
			  size_t *ret_n)
{
	struct group_row *rows = calloc(RING_MAX_GROUPS, sizeof(*rows));
	size_t n = 0;

	if (!rows)
		return -ENOMEM;
	for (unsigned i = 0; i < RING_MAX_GROUPS; i++) {
		int rc = ring_group_stat(t, i, &rows[n].st);

		if (rc < 0) {
			free(rows);
			return rc;
		}
		if (rc == 0 || (only && strcmp(rows[n].st.name, only) != 0))
			continue;
		n++;
	}
	*ret_rows = rows;
	*ret_n = n;
	return 0;
}

/*
 * Count the records from each group's committed position to @end in one
 * walk from the lowest. A damaged record stops the count (a warning: the
 * byte figures stand).
 */
static void groups_count(const struct ctl *ctl, struct ctl_log *log, struct group_row *rows,
			 size_t n, uint64_t earliest, uint64_t end)
{
	struct group_row **order = calloc(n ? n : 1, sizeof(*order));
	struct ring_record rec;
	uint64_t count = 0;
	size_t gi = 0;
	int rc = 0;

	if (!order || !n) {
		free(order);
		return;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = &rows[i];
	qsort(order, n, sizeof(order[0]), row_cmp);
	ctl_log_seek(log, order[0]->st.committed_pos > earliest ? order[0]->st.committed_pos
								: earliest);
	while (log->pos < end && !ctl_stop_requested) {
		rc = ctl_log_next(log, &rec, 100000000);
		if (rc <= 0)
			break;
		if (rec.position >= end)
			break;
		while (gi < n && order[gi]->st.committed_pos <= rec.position)
			order[gi++]->before = count;
		count++;
	}
	if (rc < 0 || (rc == 0 && log->pos < end)) {
		if (rc == -EBADMSG)
			ctl_warn(ctl, "topic '%s': lag in records not counted: damage at "
				      "position %llu (%s); see ringctl verify", log->name,
				 (unsigned long long)log->bad_pos,
				 log->bad_reason ? log->bad_reason : "?");
		else
			ctl_warn(ctl, "topic '%s': lag in records not counted: stopped at "
				      "position %llu: %s", log->name,
				 (unsigned long long)log->pos,
				 rc < 0 ? ring_strerror(rc) : "no record there yet");
		free(order);
		return;
	}
	while (gi < n)
		order[gi++]->before = count;
	for (size_t i = 0; i < n; i++) {
		rows[i].lag_records = count - rows[i].before;
		rows[i].counted = true;
	}
	free(order);
}

/* ---- groups ---- */

static void groups_json(const char *topic, uint64_t tail, const struct group_row *rows,
			size_t n)
{
	char buf[64];
	struct json j;

	json_init(&j, stdout);
	json_begin_object(&j);
	json_kv_str(&j, "topic", topic);
	json_kv_u64(&j, "tail_pos", tail);
	json_key(&j, "groups");
	json_begin_array(&j);
	for (size_t i = 0; i < n; i++) {
		const struct ring_group_stat *s = &rows[i].st;

		json_begin_object(&j);
		json_kv_str(&j, "name", s->name);
		json_kv_str(&j, "mode", ctl_group_mode_name(s->mode));
		json_kv_u64(&j, "committed_pos", s->committed_pos);
		json_kv_u64(&j, "lag_bytes", s->lag_bytes);
		if (rows[i].counted)
			json_kv_u64(&j, "lag_records", rows[i].lag_records);
		else
			json_kv_null(&j, "lag_records");
		json_kv_u64(&j, "live_members", s->members);
		json_key(&j, "members");
		json_begin_array(&j);
		for (unsigned m = 0; m < RING_MAX_MEMBERS; m++) {
			const struct ring_member_stat *ms = &s->member[m];

			if (!ms->pid)
				continue;
			json_begin_object(&j);
			json_kv_i64(&j, "pid", ms->pid);
			json_kv_bool(&j, "alive", ms->alive != 0);
			json_kv_u64(&j, "heartbeat_ns", ms->heartbeat_ns);
			json_kv_str(&j, "heartbeat", fmt_time(buf, sizeof(buf), ms->heartbeat_ns));
			json_kv_u64(&j, "delivered", ms->delivered);
			json_end_object(&j);
		}
		json_end_array(&j);
		json_kv_u64(&j, "in_flight", s->in_flight);
		json_kv_u64(&j, "delivered", s->delivered);
		json_kv_u64(&j, "redelivered", s->redelivered);
		json_kv_u64(&j, "dead_lettered", s->dead_lettered);
		json_kv_u64(&j, "acked", s->acked);
		json_end_object(&j);
	}
	json_end_array(&j);
	json_end_object(&j);
	json_finish(&j);
}

static void groups_text(const struct group_row *rows, size_t n, bool detail)
{
	int w = (int)strlen("GROUP");
	uint64_t now = ctl_realtime_ns();

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(rows[i].st.name) > w)
			w = (int)strlen(rows[i].st.name);
	printf("%-*s  %-9s  %14s  %12s  %11s  %7s  %9s  %11s  %11s  %13s\n", w, "GROUP", "MODE",
	       "COMMITTED", "LAG BYTES", "LAG RECORDS", "MEMBERS", "IN FLIGHT", "DELIVERED",
	       "REDELIVERED", "DEAD-LETTERED");
	for (size_t i = 0; i < n; i++) {
		const struct ring_group_stat *s = &rows[i].st;
		char lag[32] = "-";

		if (rows[i].counted)
			snprintf(lag, sizeof(lag), "%llu", (unsigned long long)rows[i].lag_records);
		printf("%-*s  %-9s  %14llu  %12llu  %11s  %7u  %9llu  %11llu  %11llu  %13llu\n", w,
		       s->name, ctl_group_mode_name(s->mode), (unsigned long long)s->committed_pos,
		       (unsigned long long)s->lag_bytes, lag, s->members,
		       (unsigned long long)s->in_flight, (unsigned long long)s->delivered,
		       (unsigned long long)s->redelivered, (unsigned long long)s->dead_lettered);
	}
	if (!detail)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct ring_group_stat *s = &rows[i].st;
		bool any = false;

		printf("\nmembers of %s (acked %llu)\n", s->name, (unsigned long long)s->acked);
		for (unsigned m = 0; m < RING_MAX_MEMBERS; m++) {
			const struct ring_member_stat *ms = &s->member[m];
			char b1[48], b2[48];

			if (!ms->pid)
				continue;
			if (!any)
				printf("  %10s  %-5s  %-30s  %10s  %s\n", "PID", "STATE",
				       "LAST HEARTBEAT", "AGO", "DELIVERED");
			any = true;
			printf("  %10d  %-5s  %-30s  %10s  %llu\n", ms->pid,
			       ms->alive ? "alive" : "dead",
			       fmt_time(b1, sizeof(b1), ms->heartbeat_ns),
			       fmt_duration(b2, sizeof(b2),
					    now > ms->heartbeat_ns ? now - ms->heartbeat_ns : 0),
			       (unsigned long long)ms->delivered);
		}
		if (!any)
			printf("  none\n");
	}
}

static int run_groups(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-count", no_argument, NULL, OPT_NO_COUNT },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	const char *name, *group = NULL;
	bool json = false, count = true;
	struct group_row *rows = NULL;
	uint64_t earliest, end;
	struct ctl_log log;
	size_t n = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		if (opt == OPT_JSON) {
			json = true;
			continue;
		}
		if (opt == OPT_NO_COUNT) {
			count = false;
			continue;
		}
		rc = ctl_common_option(ctl, &ctl_cmd_groups, opt, argv);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	if (optind >= argc)
		return ctl_usage_error(ctl, "missing TOPIC");
	name = argv[optind];
	if (optind + 1 < argc)
		group = argv[optind + 1];
	if (optind + 2 < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind + 2]);
	rc = ctl_log_open_or_report(ctl, name, false, &log);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctl_catch_stop_signals() < 0) {
		rc = ctl_os_error(ctl, -errno, "signal handlers");
		goto out;
	}
	rc = ctl_log_bounds(&log, &earliest, &end);
	if (rc == 0)
		rc = groups_collect(log.topic, group, &rows, &n);
	if (rc < 0) {
		rc = ctl_error(ctl, rc, "topic '%s'", name);
		goto out;
	}
	if (group && n == 0) {
		rc = ctl_fail(ctl, CTL_EXIT_NOT_FOUND, "topic '%s': no such group '%s'", name,
			      group);
		goto out;
	}
	if (count)
		groups_count(ctl, &log, rows, n, earliest, end);
	if (json)
		groups_json(name, end, rows, n);
	else if (n == 0)
		printf("topic %s has no consumer groups\n", name);
	else
		groups_text(rows, n, group != NULL);
	rc = CTL_EXIT_OK;
out:
	free(rows);
	ctl_log_close(&log);
	return rc;
}

const struct ctl_command ctl_cmd_groups = {
	.name = "groups",
	.summary = "consumer groups: committed position, lag, members, redeliveries",
	.help = groups_help,
	.run = run_groups,
};

/* ---- reset-offsets ---- */

enum target {
	TARGET_NONE,
	TARGET_EARLIEST,
	TARGET_LATEST,
	TARGET_POSITION,
	TARGET_DATETIME,
	TARGET_SHIFT,
};

struct reset {
	enum target target;
	uint64_t position;	/* TARGET_POSITION */
	uint64_t time_ns;	/* TARGET_DATETIME */
	int64_t shift;		/* TARGET_SHIFT */
	bool execute, force, json;
};

/* The position @shift records away from @from (clamped to the log). */
static int shift_position(struct ctl_log *log, uint64_t from, int64_t shift, uint64_t earliest,
			  uint64_t end, uint64_t *ret)
{
	struct ring_record rec;
	int rc = 0;

	if (shift > 0) {
		int64_t moved = 0;

		ctl_log_seek(log, from);
		while (moved < shift && log->pos < end) {
			rc = ctl_log_next(log, &rec, 100000000);
			if (rc <= 0 || rec.position >= end)
				break;
			moved++;
		}
		*ret = log->pos < end ? log->pos : end;
		return rc < 0 ? rc : 0;
	} else {
		uint64_t back = (uint64_t)(-shift), seen = 0;
		uint64_t *last = calloc(back, sizeof(*last));

		if (!last)
			return -ENOMEM;
		/* Boundaries are known only by walking: the last @back record
		 * positions below @from, in a circle. */
		ctl_log_seek(log, earliest);
		while (log->pos < from) {
			rc = ctl_log_next(log, &rec, 100000000);
			if (rc <= 0 || rec.position >= from)
				break;
			last[seen % back] = rec.position;
			seen++;
		}
		*ret = seen >= back ? last[seen % back] : earliest;
		free(last);
		return rc < 0 ? rc : 0;
	}
}

/*
 * Whether @pos is a record boundary: the log reads a record there. In the
 * files a position inside a record fails the record's checks; in the ring
 * it reads as nothing yet, like a claim not yet committed, so tell the two
 * apart by the frontier (ctl_log_inside_record()).
 */
static int check_boundary(struct ctl_log *log, uint64_t pos, uint64_t end)
{
	struct ring_record rec;
	int rc;

	if (pos == end)
		return 0;
	ctl_log_seek(log, pos);
	rc = ctl_log_next(log, &rec, 0);
	if (rc < 0)
		return rc;
	if (rc == 0 && ctl_log_inside_record(log, pos))
		return -EBADMSG;
	return 0;
}

/* The live member that blocks a reset, for the error line and the plan. */
static int32_t live_member(const struct ring_group_stat *s)
{
	for (unsigned m = 0; m < RING_MAX_MEMBERS; m++)
		if (s->member[m].pid && s->member[m].alive)
			return s->member[m].pid;
	return 0;
}

/* Whether --execute without --force would be refused: libring refuses to
 * move an exclusive group under a live member (a shared group's members
 * simply get records from the new position on). */
static int32_t blocking_member(const struct ring_group_stat *s)
{
	return s->mode == RING_GROUP_EXCLUSIVE ? live_member(s) : 0;
}

static void reset_print(const struct reset *r, const char *topic, const struct ring_group_stat *s,
			uint64_t tail, uint64_t to, bool done)
{
	int32_t blocker = blocking_member(s);
	struct json j;

	if (r->json) {
		json_init(&j, stdout);
		json_begin_object(&j);
		json_kv_str(&j, "topic", topic);
		json_kv_str(&j, "group", s->name);
		json_kv_str(&j, "mode", ctl_group_mode_name(s->mode));
		json_kv_u64(&j, "current_pos", s->committed_pos);
		json_kv_u64(&j, "new_pos", to);
		json_kv_u64(&j, "tail_pos", tail);
		json_kv_u64(&j, "lag_bytes_before", tail > s->committed_pos ? tail - s->committed_pos : 0);
		json_kv_u64(&j, "lag_bytes_after", tail > to ? tail - to : 0);
		if (blocker)
			json_kv_i64(&j, "live_member_pid", blocker);
		else
			json_kv_null(&j, "live_member_pid");
		json_kv_bool(&j, "executed", done);
		json_end_object(&j);
		json_finish(&j);
		return;
	}
	printf("%-20s  %14s  %14s  %16s  %16s\n", "GROUP", "CURRENT", "NEW", "LAG BYTES BEFORE",
	       "LAG BYTES AFTER");
	printf("%-20s  %14llu  %14llu  %16llu  %16llu\n", s->name,
	       (unsigned long long)s->committed_pos, (unsigned long long)to,
	       (unsigned long long)(tail > s->committed_pos ? tail - s->committed_pos : 0),
	       (unsigned long long)(tail > to ? tail - to : 0));
	if (done)
		printf("done: group %s of %s now resumes at position %llu\n", s->name, topic,
		       (unsigned long long)to);
	else
		printf("dry run: nothing changed (add --execute to apply)\n");
	if (!done && blocker && !r->force)
		printf("note: the group has a live member (pid %d): --execute will be refused "
		       "unless it stops or --force is added\n", blocker);
}

static int reset_option(struct ctl *ctl, struct reset *r, int opt)
{
	enum target t = TARGET_NONE;
	int64_t v;
	char *end;

	switch (opt) {
	case OPT_TO_EARLIEST:
		t = TARGET_EARLIEST;
		break;
	case OPT_TO_LATEST:
		t = TARGET_LATEST;
		break;
	case OPT_TO_POSITION:
		if (ctl_parse_u64(optarg, &r->position) < 0 || r->position % 8)
			return ctl_usage_error(ctl, "--to-position '%s': expected a record "
						    "position (a multiple of 8)", optarg);
		t = TARGET_POSITION;
		break;
	case OPT_TO_DATETIME:
		if (ctl_parse_datetime(optarg, &r->time_ns) < 0)
			return ctl_usage_error(ctl, "--to-datetime '%s': expected a date and time "
						    "such as 2024-05-01T10:32:00Z, or @SECONDS",
					       optarg);
		t = TARGET_DATETIME;
		break;
	case OPT_SHIFT_BY:
		errno = 0;
		v = strtoll(optarg, &end, 10);
		if (errno || end == optarg || *end || v == 0 || v < -SHIFT_BACK_MAX)
			return ctl_usage_error(ctl, "--shift-by '%s': expected a nonzero number of "
						    "records, at least -%d", optarg,
					       SHIFT_BACK_MAX);
		r->shift = v;
		t = TARGET_SHIFT;
		break;
	case OPT_EXECUTE:
		r->execute = true;
		return CTL_CONTINUE;
	case OPT_FORCE:
		r->force = true;
		return CTL_CONTINUE;
	case OPT_JSON:
		r->json = true;
		return CTL_CONTINUE;
	default:
		return -2;
	}
	if (r->target != TARGET_NONE)
		return ctl_usage_error(ctl, "give exactly one of --to-earliest, --to-latest, "
					    "--to-position, --to-datetime and --shift-by");
	r->target = t;
	return CTL_CONTINUE;
}

static int run_reset(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "to-earliest", no_argument, NULL, OPT_TO_EARLIEST },
		{ "to-latest", no_argument, NULL, OPT_TO_LATEST },
		{ "to-position", required_argument, NULL, OPT_TO_POSITION },
		{ "to-datetime", required_argument, NULL, OPT_TO_DATETIME },
		{ "shift-by", required_argument, NULL, OPT_SHIFT_BY },
		{ "execute", no_argument, NULL, OPT_EXECUTE },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "json", no_argument, NULL, OPT_JSON },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	struct reset r = { .target = TARGET_NONE };
	struct group_row *rows = NULL;
	uint64_t earliest, end, to = 0;
	const char *name, *group;
	struct ctl_log log;
	size_t n = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		rc = reset_option(ctl, &r, opt);
		if (rc == -2)
			rc = ctl_common_option(ctl, &ctl_cmd_reset_offsets, opt, argv);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	if (optind + 2 > argc)
		return ctl_usage_error(ctl, optind >= argc ? "missing TOPIC" : "missing GROUP");
	if (optind + 2 < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind + 2]);
	name = argv[optind];
	group = argv[optind + 1];
	if (r.target == TARGET_NONE)
		return ctl_usage_error(ctl, "missing the target: --to-earliest, --to-latest, "
					    "--to-position, --to-datetime or --shift-by");
	rc = ctl_log_open_or_report(ctl, name, false, &log);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = groups_collect(log.topic, group, &rows, &n);
	if (rc == 0)
		rc = ctl_log_bounds(&log, &earliest, &end);
	if (rc < 0) {
		rc = ctl_error(ctl, rc, "topic '%s'", name);
		goto out;
	}
	if (n == 0) {
		rc = ctl_fail(ctl, CTL_EXIT_NOT_FOUND, "topic '%s': no such group '%s'", name,
			      group);
		goto out;
	}
	switch (r.target) {
	case TARGET_EARLIEST:
		to = earliest;
		break;
	case TARGET_LATEST:
		to = end;
		break;
	case TARGET_POSITION:
		if (r.position < earliest || r.position > end) {
			rc = ctl_error(ctl, -ERANGE, "topic '%s': --to-position %llu: the log "
						     "holds positions %llu..%llu", name,
				       (unsigned long long)r.position,
				       (unsigned long long)earliest, (unsigned long long)end);
			goto out;
		}
		rc = check_boundary(&log, r.position, end);
		if (rc < 0) {
			rc = ctl_error(ctl, rc, "topic '%s': --to-position %llu (is it a record "
						"boundary?)", name, (unsigned long long)r.position);
			goto out;
		}
		to = r.position;
		break;
	case TARGET_DATETIME:
		rc = ctl_log_position_for_time(&log, r.time_ns, &to);
		if (rc < 0) {
			rc = ctl_error(ctl, rc, "topic '%s': --to-datetime", name);
			goto out;
		}
		break;
	case TARGET_SHIFT:
		rc = shift_position(&log, rows[0].st.committed_pos, r.shift, earliest, end, &to);
		if (rc == -EBADMSG) {
			rc = ctl_log_report_damage(&log);
			goto out;
		}
		if (rc < 0) {
			rc = ctl_error(ctl, rc, "topic '%s': --shift-by", name);
			goto out;
		}
		break;
	case TARGET_NONE:
		break;
	}
	if (r.execute) {
		rc = ring_group_reset(log.topic, group, to, r.force);
		if (rc == -EBUSY) {
			int32_t pid = live_member(&rows[0].st);

			if (pid)
				rc = ctl_fail(ctl, CTL_EXIT_FAILURE, "group '%s' of '%s' has a live "
					      "member (pid %d): stop it first, or add --force",
					      group, name, pid);
			else
				rc = ctl_fail(ctl, CTL_EXIT_FAILURE, "group '%s' of '%s' has a live "
					      "member: stop it first, or add --force", group, name);
			goto out;
		}
		if (rc < 0) {
			rc = ctl_error(ctl, rc, "topic '%s': reset group '%s'", name, group);
			goto out;
		}
	}
	reset_print(&r, name, &rows[0].st, end, to, r.execute);
	rc = CTL_EXIT_OK;
out:
	free(rows);
	ctl_log_close(&log);
	return rc;
}

const struct ctl_command ctl_cmd_reset_offsets = {
	.name = "reset-offsets",
	.summary = "move a group's committed position (a dry run unless --execute)",
	.help = reset_help,
	.run = run_reset,
};
