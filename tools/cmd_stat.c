/* SPDX-License-Identifier: MIT */
/*
 * cmd_stat.c - stat: how far each topic has been written, persisted and
 * made durable, once or every few seconds with rates.
 *
 * Each sample attaches to the topics afresh (ring_topic_stat() reads the
 * shared positions without disturbing anyone), so topics created or
 * deleted during a --watch come and go from the output. Rates are in bytes
 * per second: counting records would mean walking every header in the
 * ring, which is not cheap for a large one, while positions are bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output.h"
#include "ringctl.h"

enum {
	OPT_JSON = CTL_OPT_FIRST_LONG,
	OPT_WATCH,
};

static const char stat_help[] =
	"Usage: ringctl stat [TOPIC] [--json] [--watch SECONDS]\n"
	"\n"
	"Show how far a topic (or, without TOPIC, every topic of the data\n"
	"directory, one line each) has been produced (its tail position), persisted\n"
	"to segment files and made durable (fsynced) by ringd, and how many bytes\n"
	"its ring holds. Positions are byte offsets in the topic's log; an\n"
	"ephemeral topic is never persisted ('-'). For a persistent topic also\n"
	"the number of segment files and the bytes they take on disk.\n"
	"\n"
	"Options:\n"
	"  --watch SECONDS     print again every SECONDS (fractions allowed) with\n"
	"                      rates in bytes per second, until SIGINT or SIGTERM\n"
	"  --json              one JSON object per sample: {\"time_ns\": ...,\n"
	"                      \"topics\": [...]}; with --watch, one per line\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 shown (and, with --watch, stopped by a signal); 1 failed;\n"
	"2 usage error; 3 no such topic or data directory.\n";

/* One topic at one instant. */
struct sample {
	char name[RING_TOPIC_NAME_MAX + 1];
	bool ring;		/* attached; the figures below are valid */
	int error;		/* why not, if not simply absent */
	bool persistent;
	uint64_t created_ns;	/* tells a recreated topic from the old one */
	uint64_t capacity_bytes;
	uint64_t tail_pos;
	uint64_t persisted_pos;
	uint64_t durable_pos;
	uint64_t oldest_pos;
	struct ctl_disk_usage disk;	/* persistent topics */
	double mono_s;		/* CLOCK_MONOTONIC when taken */
	/* Rates against the previous sample; negative when there is none. */
	double tail_rate;
	double persisted_rate;
};

struct sample_set {
	struct sample *v;
	size_t n;
	uint64_t realtime_ns;
};

static int sample_take(const struct ctl *ctl, const char *name, bool persistent_hint,
		       struct sample *s)
{
	struct ring_topic_stat st;
	struct ring_topic *t;
	int rc;

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->persistent = persistent_hint;
	s->tail_rate = s->persisted_rate = -1.0;
	if (persistent_hint)
		(void)ctl_topic_disk_usage(ctl, name, &s->disk);
	rc = ring_topic_open(ctl->data_dir, name, &t);
	if (rc < 0)
		return rc;
	rc = ring_topic_stat(t, &st);
	s->mono_s = ctl_mono_now();
	ring_topic_close(t);
	if (rc < 0)
		return rc;
	s->ring = true;
	s->persistent = !(st.flags & RING_TOPIC_EPHEMERAL);
	s->created_ns = st.created_ns;
	s->capacity_bytes = st.capacity_bytes;
	s->tail_pos = st.tail_pos;
	s->persisted_pos = st.persisted_pos;
	s->durable_pos = st.durable_pos;
	s->oldest_pos = st.oldest_pos;
	return 0;
}

/* Rates against the same topic (same name and creation) in @prev. */
static void sample_rates(struct sample *s, const struct sample_set *prev)
{
	for (size_t i = 0; prev && i < prev->n; i++) {
		const struct sample *p = &prev->v[i];
		double dt = s->mono_s - p->mono_s;

		if (strcmp(p->name, s->name) || !p->ring || !s->ring ||
		    p->created_ns != s->created_ns || dt <= 0.0)
			continue;
		s->tail_rate = (double)(s->tail_pos - p->tail_pos) / dt;
		if (s->persistent)
			s->persisted_rate = (double)(s->persisted_pos - p->persisted_pos) / dt;
		return;
	}
}

/* One topic (@name) or all of them. Returns an exit code. */
static int sample_set_take(struct ctl *ctl, const char *name, const struct sample_set *prev,
			   struct sample_set *ret)
{
	struct ctl_topic_entry *entries = NULL;
	size_t n = 0;
	int rc;

	ret->realtime_ns = ctl_realtime_ns();
	if (name) {
		ret->v = calloc(1, sizeof(*ret->v));
		if (!ret->v)
			return ctl_error(ctl, -ENOMEM, "stat");
		rc = sample_take(ctl, name, true, &ret->v[0]);
		/* A persistent topic whose ring is gone still has a row. */
		if (rc < 0 && !(rc == -ENOENT && ctl_topic_has_dir(ctl, name))) {
			free(ret->v);
			ret->v = NULL;
			return ctl_error(ctl, rc, "topic '%s'", name);
		}
		ret->n = 1;
		sample_rates(&ret->v[0], prev);
		return CTL_EXIT_OK;
	}
	rc = ctl_topics_find(ctl, &entries, &n);
	if (rc < 0)
		return ctl_os_error(ctl, rc, "data directory '%s'", ctl->data_dir);
	ret->v = calloc(n ? n : 1, sizeof(*ret->v));
	if (!ret->v) {
		free(entries);
		return ctl_error(ctl, -ENOMEM, "stat");
	}
	for (size_t i = 0; i < n; i++) {
		struct sample *s = &ret->v[ret->n];

		rc = sample_take(ctl, entries[i].name, entries[i].has_dir, s);
		if (rc == -ENOENT && !entries[i].has_dir)
			continue;	/* an ephemeral topic deleted meanwhile */
		if (rc < 0 && rc != -ENOENT)
			s->error = rc;
		sample_rates(s, prev);
		ret->n++;
	}
	free(entries);
	return CTL_EXIT_OK;
}

static void sample_set_free(struct sample_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

static void print_json(const struct sample_set *set, bool watch)
{
	struct json j;

	json_init(&j, stdout);
	json_begin_object(&j);
	json_kv_u64(&j, "time_ns", set->realtime_ns);
	json_key(&j, "topics");
	json_begin_array(&j);
	for (size_t i = 0; i < set->n; i++) {
		const struct sample *s = &set->v[i];

		json_begin_object(&j);
		json_kv_str(&j, "name", s->name);
		json_kv_str(&j, "kind", s->persistent ? "persistent" : "ephemeral");
		json_kv_bool(&j, "ring", s->ring);
		if (s->error)
			json_kv_str(&j, "error", ring_strerror(s->error));
		if (s->persistent) {
			json_kv_u64(&j, "segments", s->disk.segments);
			json_kv_u64(&j, "disk_bytes", s->disk.bytes);
		} else {
			json_kv_null(&j, "segments");
			json_kv_null(&j, "disk_bytes");
		}
		if (!s->ring) {
			json_end_object(&j);
			continue;
		}
		json_kv_u64(&j, "capacity_bytes", s->capacity_bytes);
		json_kv_u64(&j, "tail_pos", s->tail_pos);
		if (s->persistent) {
			json_kv_u64(&j, "persisted_pos", s->persisted_pos);
			json_kv_u64(&j, "durable_pos", s->durable_pos);
		} else {
			json_kv_null(&j, "persisted_pos");
			json_kv_null(&j, "durable_pos");
		}
		json_kv_u64(&j, "oldest_pos", s->oldest_pos);
		json_kv_u64(&j, "ring_bytes", s->tail_pos - s->oldest_pos);
		if (watch) {
			if (s->tail_rate >= 0)
				json_kv_double(&j, "tail_bytes_per_s", s->tail_rate);
			else
				json_kv_null(&j, "tail_bytes_per_s");
			if (s->persisted_rate >= 0)
				json_kv_double(&j, "persisted_bytes_per_s", s->persisted_rate);
			else
				json_kv_null(&j, "persisted_bytes_per_s");
		}
		json_end_object(&j);
	}
	json_end_array(&j);
	json_end_object(&j);
	json_finish(&j);
}

static const char *fmt_rate(char *buf, size_t size, double rate)
{
	char b[32];

	if (rate < 0)
		return "-";
	snprintf(buf, size, "%s/s", fmt_bytes(b, sizeof(b), (uint64_t)(rate + 0.5)));
	return buf;
}

static const char *fmt_pos(char *buf, size_t size, bool valid, uint64_t pos)
{
	if (!valid)
		return "-";
	snprintf(buf, size, "%llu", (unsigned long long)pos);
	return buf;
}

static int name_width(const struct sample_set *set)
{
	int w = (int)strlen("TOPIC");

	for (size_t i = 0; i < set->n; i++)
		if ((int)strlen(set->v[i].name) > w)
			w = (int)strlen(set->v[i].name);
	return w;
}

static void print_header(int w, bool watch)
{
	if (watch)
		printf("%-8s  ", "TIME");
	printf("%-*s  %-10s  %14s  %14s  %14s  %10s  %8s  %10s", w, "TOPIC", "KIND", "PRODUCED",
	       "PERSISTED", "DURABLE", "IN RING", "SEGMENTS", "ON DISK");
	if (watch)
		printf("  %14s  %14s", "PRODUCED/S", "PERSISTED/S");
	printf("\n");
}

static void print_text(const struct sample_set *set, bool watch, int w)
{
	time_t secs = (time_t)(set->realtime_ns / 1000000000u);
	char clock[16] = "";
	struct tm tm;

	if (watch && localtime_r(&secs, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	for (size_t i = 0; i < set->n; i++) {
		const struct sample *s = &set->v[i];
		char b1[32], b2[32], b3[32], b4[32];

		if (watch)
			printf("%-8s  ", clock);
		printf("%-*s  %-10s  ", w, s->name, s->persistent ? "persistent" : "ephemeral");
		if (!s->ring) {
			printf("%s\n", s->error ? ring_strerror(s->error)
						: "no ring (ringd recreates it)");
			continue;
		}
		printf("%14s  %14s  %14s  %10s", fmt_pos(b1, sizeof(b1), true, s->tail_pos),
		       fmt_pos(b2, sizeof(b2), s->persistent, s->persisted_pos),
		       fmt_pos(b3, sizeof(b3), s->persistent, s->durable_pos),
		       fmt_bytes(b4, sizeof(b4), s->tail_pos - s->oldest_pos));
		if (s->persistent)
			printf("  %8llu  %10s", (unsigned long long)s->disk.segments,
			       fmt_bytes(b1, sizeof(b1), s->disk.bytes));
		else
			printf("  %8s  %10s", "-", "-");
		if (watch)
			printf("  %14s  %14s", fmt_rate(b1, sizeof(b1), s->tail_rate),
			       fmt_rate(b2, sizeof(b2), s->persisted_rate));
		printf("\n");
	}
}

static int run_stat(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "watch", required_argument, NULL, OPT_WATCH },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	struct sample_set prev = { 0 }, cur = { 0 };
	bool json = false, watch = false;
	double interval = 0;
	const char *name;
	int opt, rc, w = 0;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_WATCH:
			if (ctl_parse_interval(optarg, &interval) < 0)
				return ctl_usage_error(ctl, "--watch '%s': expected SECONDS, more "
							    "than 0 and at most a day", optarg);
			watch = true;
			break;
		default:
			rc = ctl_common_option(ctl, &ctl_cmd_stat, opt, argv);
			if (rc != CTL_CONTINUE)
				return rc;
		}
	}
	rc = ctl_topic_arg_or_report(ctl, argc, argv, true, &name);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (watch && ctl_catch_stop_signals() < 0)
		return ctl_os_error(ctl, -errno, "signal handlers");

	for (unsigned long n = 0; !ctl_stop_requested; n++) {
		rc = sample_set_take(ctl, name, n ? &prev : NULL, &cur);
		if (rc != CTL_EXIT_OK)
			break;
		if (json) {
			print_json(&cur, watch);
		} else {
			/* Widen the columns when a longer name appears. */
			if (n == 0 || name_width(&cur) > w) {
				w = name_width(&cur);
				print_header(w, watch);
			}
			print_text(&cur, watch, w);
			if (watch && !name && cur.n > 1)
				printf("\n");
		}
		if (fflush(stdout) != 0 || !watch)
			break;
		sample_set_free(&prev);
		prev = cur;
		cur = (struct sample_set){ 0 };
		ctl_sleep(interval);
	}
	sample_set_free(&prev);
	sample_set_free(&cur);
	return rc;
}

const struct ctl_command ctl_cmd_stat = {
	.name = "stat",
	.summary = "positions and throughput of one or every topic (--watch)",
	.help = stat_help,
	.run = run_stat,
};
