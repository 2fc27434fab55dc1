/* SPDX-License-Identifier: MIT */
/*
 * cmd_topic.c - create, delete, list and describe topics.
 *
 * These commands change or read a topic's existence and settings, never
 * its records. delete refuses to touch a persistent topic's directory
 * while ringd serves the data directory (it holds DATA_DIR/ringd.lock),
 * and removes only directories that carry a topic.conf.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "output.h"
#include "ringctl.h"
#include "topic_config.h"

/* ---- shared by the four commands ---- */

static const char *kind_name(uint32_t flags)
{
	return (flags & RING_TOPIC_EPHEMERAL) ? "ephemeral" : "persistent";
}

static const char *fsync_name(uint32_t policy)
{
	switch (policy) {
	case RING_FSYNC_ALWAYS:
		return "always";
	case RING_FSYNC_NEVER:
		return "never";
	default:
		return "interval";
	}
}

/* True unless the process is certainly gone (EPERM: alive, not ours). */
static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Read DATA_DIR/<name>/topic.conf. */
static int read_topic_conf(const struct ctl *ctl, const char *name,
			   struct ring_topic_config *ret)
{
	char dir[PATH_MAX];

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", ctl->data_dir, name) >= sizeof(dir))
		return -ENAMETOOLONG;
	return ringi_config_read(dir, ret);
}

/* ---- create ---- */

enum {
	OPT_CAPACITY = CTL_OPT_FIRST_LONG,
	OPT_MAX_RECORD,
	OPT_EPHEMERAL,
	OPT_CLAIM_TIMEOUT,
	OPT_SEGMENT_BYTES,
	OPT_RETENTION_TIME,
	OPT_RETENTION_BYTES,
	OPT_FSYNC,
	OPT_MODE,
	OPT_NUMA_NODE,
	OPT_JSON,
};

static const char create_help[] =
	"Usage: ringctl create TOPIC [OPTIONS]\n"
	"\n"
	"Create a topic: its ring in shared memory and, unless --ephemeral, its\n"
	"directory DATA_DIR/TOPIC/ with the settings file topic.conf that ringd\n"
	"reads. Prints nothing on success.\n"
	"\n"
	"TOPIC is 1..100 characters of [A-Za-z0-9._-], not starting with '.'.\n"
	"Sizes take an optional K, M, G or T suffix (powers of 1024): 64K, 4M, 1GiB.\n"
	"\n"
	"Options:\n"
	"  --capacity BYTES        ring size: a power of two, a multiple of the page\n"
	"                          size, 64K..16G (default 4M)\n"
	"  --max-record BYTES      largest payload (default and upper bound:\n"
	"                          capacity / 4 - 24)\n"
	"  --ephemeral             no segment files and no ringd: the ring is the\n"
	"                          whole topic, and old records are overwritten\n"
	"  --claim-timeout MS      turn a live producer's claim older than this into\n"
	"                          padding (default 1000)\n"
	"  --segment-bytes BYTES   ringd rolls segment files at this size (default\n"
	"                          64M, at least 4K; persistent topics only)\n"
	"  --retention-time SECONDS\n"
	"                          ringd deletes segments older than this; takes an\n"
	"                          s, m, h or d suffix (default: keep; persistent only)\n"
	"  --retention-bytes BYTES ringd keeps at most this much on disk (default: no\n"
	"                          limit; persistent only)\n"
	"  --fsync always|never|INTERVAL_MS\n"
	"                          when ringd makes records durable: before each\n"
	"                          durable acknowledgement, never (the OS decides), or\n"
	"                          every INTERVAL_MS milliseconds (default 10;\n"
	"                          persistent only)\n"
	"  --mode OCTAL            permissions of the ring and the files (default 0600)\n"
	"  --numa-node N           place the ring's memory on NUMA node N\n"
	"  -d, --data-dir DIR      the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help              this help\n"
	"\n"
	"Exit status: 0 created; 1 failed (the topic exists, ...); 2 usage error;\n"
	"3 the data directory does not exist.\n";

/* What create was asked, before it becomes a ring_topic_config. */
struct create_args {
	struct ring_topic_config cfg;
	bool persistent_only_option;	/* an option that needs a persistent topic */
	const char *persistent_option_name;
};

/* create_option() does not know @opt: one of the common options. */
#define OPT_NOT_MINE (-2)

static int create_option(struct ctl *ctl, struct create_args *a, int opt)
{
	struct ring_topic_config *c = &a->cfg;
	uint64_t v;
	char *end;

	switch (opt) {
	case OPT_CAPACITY:
		if (ctl_parse_size(optarg, &v) < 0 || v == 0)
			return ctl_usage_error(ctl, "--capacity '%s': expected BYTES, such as 4M",
					       optarg);
		c->capacity_bytes = v;
		break;
	case OPT_MAX_RECORD:
		if (ctl_parse_size(optarg, &v) < 0 || v == 0 || v > UINT32_MAX)
			return ctl_usage_error(ctl, "--max-record '%s': expected BYTES, 1..4G",
					       optarg);
		c->max_record_bytes = (uint32_t)v;
		break;
	case OPT_EPHEMERAL:
		c->flags |= RING_TOPIC_EPHEMERAL;
		break;
	case OPT_CLAIM_TIMEOUT:
		if (ctl_parse_u64(optarg, &v) < 0 || v == 0 || v > UINT64_MAX / 1000000u)
			return ctl_usage_error(ctl, "--claim-timeout '%s': expected milliseconds, "
						    "at least 1", optarg);
		c->claim_timeout_ns = v * 1000000u;
		break;
	case OPT_SEGMENT_BYTES:
		if (ctl_parse_size(optarg, &v) < 0 || v < 4096)
			return ctl_usage_error(ctl, "--segment-bytes '%s': expected BYTES, at "
						    "least 4K", optarg);
		c->segment_bytes = v;
		a->persistent_only_option = true;
		a->persistent_option_name = "--segment-bytes";
		break;
	case OPT_RETENTION_TIME:
		if (ctl_parse_seconds(optarg, &v) < 0 || v == 0 || v > UINT64_MAX / 1000000000u)
			return ctl_usage_error(ctl, "--retention-time '%s': expected SECONDS, "
						    "such as 3600 or 7d", optarg);
		c->retention_ns = v * 1000000000u;
		a->persistent_only_option = true;
		a->persistent_option_name = "--retention-time";
		break;
	case OPT_RETENTION_BYTES:
		if (ctl_parse_size(optarg, &v) < 0 || v == 0)
			return ctl_usage_error(ctl, "--retention-bytes '%s': expected BYTES, such "
						    "as 10G", optarg);
		c->retention_bytes = v;
		a->persistent_only_option = true;
		a->persistent_option_name = "--retention-bytes";
		break;
	case OPT_FSYNC:
		if (!strcmp(optarg, "always")) {
			c->fsync_policy = RING_FSYNC_ALWAYS;
		} else if (!strcmp(optarg, "never")) {
			c->fsync_policy = RING_FSYNC_NEVER;
		} else if (ctl_parse_u64(optarg, &v) == 0 && v > 0 &&
			   v <= UINT64_MAX / 1000000u) {
			c->fsync_policy = RING_FSYNC_INTERVAL;
			c->fsync_interval_ns = v * 1000000u;
		} else {
			return ctl_usage_error(ctl, "--fsync '%s': expected always, never or "
						    "INTERVAL_MS", optarg);
		}
		a->persistent_only_option = true;
		a->persistent_option_name = "--fsync";
		break;
	case OPT_MODE:
		errno = 0;
		v = strtoull(optarg, &end, 8);
		if (errno || end == optarg || *end || optarg[0] == '-' || v == 0 || v > 0777)
			return ctl_usage_error(ctl, "--mode '%s': expected octal permissions, "
						    "such as 0640", optarg);
		c->file_mode = (uint32_t)v;
		break;
	case OPT_NUMA_NODE:
		if (ctl_parse_u64(optarg, &v) < 0 || v > INT32_MAX)
			return ctl_usage_error(ctl, "--numa-node '%s': expected a node number",
					       optarg);
		c->numa_node = (int32_t)v;
		c->flags |= RING_TOPIC_NUMA;
		break;
	default:
		return OPT_NOT_MINE;
	}
	return CTL_CONTINUE;
}

/* The checks libring would answer with a bare -EINVAL, said precisely. */
static int create_validate(struct ctl *ctl, const struct create_args *a)
{
	const struct ring_topic_config *c = &a->cfg;
	uint64_t cap = c->capacity_bytes ? c->capacity_bytes : RING_DEFAULT_CAPACITY_BYTES;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	char b1[32], b2[32];

	if ((c->flags & RING_TOPIC_EPHEMERAL) && a->persistent_only_option)
		return ctl_usage_error(ctl, "%s applies to persistent topics only, not with "
					    "--ephemeral", a->persistent_option_name);
	if ((cap & (cap - 1)) != 0 || cap < RING_MIN_CAPACITY_BYTES ||
	    cap > RING_MAX_CAPACITY_BYTES || cap % page != 0)
		return ctl_usage_error(ctl, "--capacity %llu: must be a power of two from %s "
					    "to %s", (unsigned long long)cap,
				       fmt_bytes(b1, sizeof(b1), RING_MIN_CAPACITY_BYTES),
				       fmt_bytes(b2, sizeof(b2), RING_MAX_CAPACITY_BYTES));
	if (c->max_record_bytes > cap / 4 - RING_RECORD_HEADER_BYTES)
		return ctl_usage_error(ctl, "--max-record %u: larger than capacity / 4 - %u = "
					    "%llu", c->max_record_bytes, RING_RECORD_HEADER_BYTES,
				       (unsigned long long)(cap / 4 - RING_RECORD_HEADER_BYTES));
	return CTL_EXIT_OK;
}

static int run_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "capacity", required_argument, NULL, OPT_CAPACITY },
		{ "max-record", required_argument, NULL, OPT_MAX_RECORD },
		{ "ephemeral", no_argument, NULL, OPT_EPHEMERAL },
		{ "claim-timeout", required_argument, NULL, OPT_CLAIM_TIMEOUT },
		{ "segment-bytes", required_argument, NULL, OPT_SEGMENT_BYTES },
		{ "retention-time", required_argument, NULL, OPT_RETENTION_TIME },
		{ "retention-bytes", required_argument, NULL, OPT_RETENTION_BYTES },
		{ "fsync", required_argument, NULL, OPT_FSYNC },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "numa-node", required_argument, NULL, OPT_NUMA_NODE },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	struct create_args a = { 0 };
	struct ring_topic *t = NULL;
	const char *name;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		rc = create_option(ctl, &a, opt);
		if (rc == OPT_NOT_MINE)
			rc = ctl_common_option(ctl, &ctl_cmd_create, opt, argv);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	rc = ctl_positional_or_report(ctl, argc, argv, false, &name);
	if (rc == CTL_EXIT_OK)
		rc = ctl_check_topic_name_or_report(ctl, name);
	if (rc == CTL_EXIT_OK)
		rc = create_validate(ctl, &a);
	if (rc == CTL_EXIT_OK)
		rc = ctl_check_data_dir_or_report(ctl);
	if (rc != CTL_EXIT_OK)
		return rc;

	rc = ring_topic_create(ctl->data_dir, name, &a.cfg, &t);
	if (rc == -EINVAL)
		return ctl_error(ctl, rc, "topic '%s': settings refused", name);
	if (rc == -ENOENT || rc == -ENOTDIR || rc == -EACCES)
		return ctl_os_error(ctl, rc, "topic '%s'", name);
	if (rc < 0)
		return ctl_error(ctl, rc, "topic '%s'", name);
	ring_topic_close(t);
	return CTL_EXIT_OK;
}

const struct ctl_command ctl_cmd_create = {
	.name = "create",
	.summary = "create a topic (persistent, or --ephemeral)",
	.help = create_help,
	.run = run_create,
};

/* ---- delete ---- */

static const char delete_help[] =
	"Usage: ringctl delete TOPIC\n"
	"\n"
	"Delete a topic: remove its ring from shared memory and, for a persistent\n"
	"topic, its directory DATA_DIR/TOPIC/ with every segment and offset in it.\n"
	"Processes still attached keep their mapping until they detach, and what\n"
	"they publish meanwhile is lost. Refused while ringd serves the data\n"
	"directory (it holds DATA_DIR/ringd.lock): stop ringd first.\n"
	"\n"
	"Options:\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 deleted; 1 failed (ringd is running, ...); 2 usage error;\n"
	"3 no such topic or data directory.\n";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? errno : 0;
	return unlink(path) < 0 ? errno : 0;
}

/*
 * Move the directory out of the topics' name space first, so that the
 * topic disappears at once and whole (a listing or a ringd starting later
 * never sees half of it), then remove the renamed tree.
 */
static int remove_topic_dir(struct ctl *ctl, const char *name)
{
	char dir[PATH_MAX], doomed[PATH_MAX];
	int err;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", ctl->data_dir, name) >= sizeof(dir) ||
	    (size_t)snprintf(doomed, sizeof(doomed), "%s/.deleting.%s.%d", ctl->data_dir, name,
			     (int)getpid()) >= sizeof(doomed))
		return ctl_error(ctl, -ENAMETOOLONG, "topic '%s'", name);
	if (rename(dir, doomed) < 0)
		return ctl_os_error(ctl, -errno, "topic '%s': rename %s", name, dir);
	err = nftw(doomed, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (err != 0) {
		if (err < 0)
			err = errno;
		return ctl_os_error(ctl, -err, "topic '%s': remove %s (the topic is gone; "
					       "remove what is left by hand)", name, doomed);
	}
	return CTL_EXIT_OK;
}

/* Say who will lose data: attached processes go on writing to a ring that
 * nobody will read again. */
static void warn_attached(struct ctl *ctl, const char *name)
{
	struct ring_topic_stat s;
	struct ring_topic *t;

	if (ring_topic_open(ctl->data_dir, name, &t) < 0)
		return;
	if (ring_topic_stat(t, &s) == 0 && (s.producers || s.gating_readers))
		ctl_warn(ctl, "topic '%s' still has %u producer(s) and %u gating reader(s) "
			      "attached", name, s.producers, s.gating_readers);
	ring_topic_close(t);
}

static int run_delete(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	const char *name;
	int opt, rc, lock_fd = -1;
	pid_t ringd_pid = 0;
	bool has_dir;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		rc = ctl_common_option(ctl, &ctl_cmd_delete, opt, argv);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	rc = ctl_topic_arg_or_report(ctl, argc, argv, false, &name);
	if (rc != CTL_EXIT_OK)
		return rc;

	has_dir = ctl_topic_has_dir(ctl, name);
	if (has_dir) {
		rc = ctl_ringd_lock(ctl, &lock_fd, &ringd_pid);
		if (rc == -EBUSY && ringd_pid > 0)
			return ctl_error(ctl, rc, "topic '%s': ringd (pid %d) serves %s; stop it "
						  "first", name, (int)ringd_pid, ctl->data_dir);
		if (rc == -EBUSY)
			return ctl_error(ctl, rc, "topic '%s': ringd serves %s; stop it first",
					 name, ctl->data_dir);
		if (rc < 0)
			return ctl_os_error(ctl, rc, "topic '%s': ringd's lock", name);
	}
	warn_attached(ctl, name);
	rc = ring_topic_unlink(ctl->data_dir, name);
	if (rc == -ENOENT && has_dir)
		rc = 0;		/* a persistent topic whose ring is gone (reboot) */
	if (rc < 0) {
		rc = ctl_error(ctl, rc, "topic '%s'", name);
	} else {
		rc = CTL_EXIT_OK;
		if (has_dir)
			rc = remove_topic_dir(ctl, name);
	}
	if (lock_fd >= 0)
		(void)close(lock_fd);
	return rc;
}

const struct ctl_command ctl_cmd_delete = {
	.name = "delete",
	.summary = "delete a topic, its ring and its files",
	.help = delete_help,
	.run = run_delete,
};

/* ---- list ---- */

static const char list_help[] =
	"Usage: ringctl list [--json]\n"
	"\n"
	"List the topics of the data directory: the persistent ones (its\n"
	"subdirectories that hold a topic.conf) and the ephemeral ones (their rings\n"
	"in /dev/shm, named after the data directory). For each: name, kind,\n"
	"capacity, tail (the next position to be written) and the ring's state.\n"
	"\n"
	"Options:\n"
	"  --json              one JSON object: {\"data_dir\": ..., \"topics\": [...]}\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 listed; 1 failed; 2 usage error; 3 no such data directory.\n";

/* What list shows of one topic. */
struct list_row {
	const char *name;
	uint32_t flags;
	uint64_t capacity_bytes;
	uint64_t tail_pos;
	bool ring;		/* attached: the figures are the ring's */
	bool have_capacity;	/* from the ring or from topic.conf */
	int error;		/* opening the ring failed with this (not ENOENT) */
};

static void list_row_fill(const struct ctl *ctl, const struct ctl_topic_entry *e,
			  struct list_row *r)
{
	struct ring_topic_config cfg;
	struct ring_topic_stat s;
	struct ring_topic *t;
	int rc;

	memset(r, 0, sizeof(*r));
	r->name = e->name;
	r->flags = e->has_dir ? 0 : RING_TOPIC_EPHEMERAL;
	if (e->has_ring) {
		rc = ring_topic_open(ctl->data_dir, e->name, &t);
		if (rc == 0) {
			rc = ring_topic_stat(t, &s);
			ring_topic_close(t);
		}
		if (rc == 0) {
			r->ring = true;
			r->have_capacity = true;
			r->flags = s.flags;
			r->capacity_bytes = s.capacity_bytes;
			r->tail_pos = s.tail_pos;
			return;
		}
		if (rc != -ENOENT)	/* deleted between readdir and open: absent */
			r->error = rc;
	}
	if (e->has_dir && read_topic_conf(ctl, e->name, &cfg) == 0) {
		r->have_capacity = true;
		r->capacity_bytes = cfg.capacity_bytes;
	}
}

static const char *list_row_state(const struct list_row *r)
{
	if (r->ring)
		return "ok";
	if (r->error)
		return ring_strerror(r->error);
	return "no ring (ringd recreates it)";
}

static void list_json(const struct ctl *ctl, const struct list_row *rows, size_t n)
{
	struct json j;

	json_init(&j, stdout);
	json_begin_object(&j);
	json_kv_str(&j, "data_dir", ctl->data_dir);
	json_key(&j, "topics");
	json_begin_array(&j);
	for (size_t i = 0; i < n; i++) {
		const struct list_row *r = &rows[i];

		json_begin_object(&j);
		json_kv_str(&j, "name", r->name);
		json_kv_str(&j, "kind", kind_name(r->flags));
		if (r->have_capacity)
			json_kv_u64(&j, "capacity_bytes", r->capacity_bytes);
		else
			json_kv_null(&j, "capacity_bytes");
		if (r->ring)
			json_kv_u64(&j, "tail_pos", r->tail_pos);
		else
			json_kv_null(&j, "tail_pos");
		json_kv_bool(&j, "ring", r->ring);
		if (r->error)
			json_kv_str(&j, "error", ring_strerror(r->error));
		json_end_object(&j);
	}
	json_end_array(&j);
	json_end_object(&j);
	json_finish(&j);
}

static void list_text(const struct list_row *rows, size_t n)
{
	int w = (int)strlen("NAME");
	char cap[32];

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(rows[i].name) > w)
			w = (int)strlen(rows[i].name);
	printf("%-*s  %-10s  %10s  %14s  %s\n", w, "NAME", "KIND", "CAPACITY", "TAIL", "RING");
	for (size_t i = 0; i < n; i++) {
		const struct list_row *r = &rows[i];
		char tail[24];

		if (r->ring)
			snprintf(tail, sizeof(tail), "%llu", (unsigned long long)r->tail_pos);
		else
			snprintf(tail, sizeof(tail), "-");
		printf("%-*s  %-10s  %10s  %14s  %s\n", w, r->name, kind_name(r->flags),
		       r->have_capacity ? fmt_bytes(cap, sizeof(cap), r->capacity_bytes) : "-",
		       tail, list_row_state(r));
	}
}

static int run_list(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	struct ctl_topic_entry *entries = NULL;
	struct list_row *rows;
	bool json = false;
	size_t n = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		if (opt == OPT_JSON) {
			json = true;
			continue;
		}
		rc = ctl_common_option(ctl, &ctl_cmd_list, opt, argv);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	if (optind < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind]);
	rc = ctl_check_data_dir_or_report(ctl);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = ctl_topics_find(ctl, &entries, &n);
	if (rc < 0)
		return ctl_os_error(ctl, rc, "data directory '%s'", ctl->data_dir);
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		free(entries);
		return ctl_error(ctl, -ENOMEM, "list");
	}
	for (size_t i = 0; i < n; i++)
		list_row_fill(ctl, &entries[i], &rows[i]);
	if (json)
		list_json(ctl, rows, n);
	else
		list_text(rows, n);
	free(rows);
	free(entries);
	return CTL_EXIT_OK;
}

const struct ctl_command ctl_cmd_list = {
	.name = "list",
	.summary = "list the topics of the data directory",
	.help = list_help,
	.run = run_list,
};

/* ---- describe ---- */

static const char describe_help[] =
	"Usage: ringctl describe TOPIC [--json]\n"
	"\n"
	"Show everything about one topic:\n"
	"  settings   capacity, max record, flags, claim timeout, NUMA node, creation\n"
	"             time; for a persistent topic also segment size, retention and\n"
	"             fsync policy (from topic.conf)\n"
	"  segments   how many segment files, their bytes on disk, first and last base\n"
	"  positions  tail (next to be written), frontier (all below is committed),\n"
	"             persisted, durable, oldest (still in the ring), limit (producers\n"
	"             may write only below it), and the bytes the ring holds\n"
	"  who        producers and their pids, gating readers, sleeping readers and\n"
	"             producers, a stuck claim with its owner's pid and age, ringd's\n"
	"             pid, liveness and last heartbeat\n"
	"A persistent topic whose ring is absent (after a reboot, before ringd ran)\n"
	"is described from its topic.conf.\n"
	"\n"
	"Options:\n"
	"  --json              one JSON object\n"
	"  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR)\n"
	"  -h, --help          this help\n"
	"\n"
	"Exit status: 0 described; 1 failed; 2 usage error; 3 no such topic or\n"
	"data directory.\n";

struct describe {
	const char *name;
	bool ring;			/* the ring is attached: stat is valid */
	struct ring_topic_stat stat;
	bool conf;			/* topic.conf was read: cfg is valid */
	struct ring_topic_config cfg;
	bool has_disk;			/* persistent: disk is valid */
	struct ctl_disk_usage disk;
};

static void describe_flags_json(struct json *j, uint32_t flags)
{
	json_key(j, "flags");
	json_begin_array(j);
	if (flags & RING_TOPIC_EPHEMERAL)
		json_str(j, "ephemeral");
	if (flags & RING_TOPIC_ANON)
		json_str(j, "anon");
	if (flags & RING_TOPIC_NUMA)
		json_str(j, "numa");
	json_end_array(j);
}

static void describe_json(const struct ctl *ctl, const struct describe *d)
{
	const struct ring_topic_stat *s = &d->stat;
	bool persistent = d->ring ? !(s->flags & RING_TOPIC_EPHEMERAL) : true;
	char buf[64];
	struct json j;

	json_init(&j, stdout);
	json_begin_object(&j);
	json_kv_str(&j, "name", d->name);
	json_kv_str(&j, "kind", persistent ? "persistent" : "ephemeral");
	json_kv_str(&j, "data_dir", ctl->data_dir);
	json_kv_bool(&j, "ring", d->ring);

	json_key(&j, "config");
	json_begin_object(&j);
	if (d->ring) {
		json_kv_u64(&j, "capacity_bytes", s->capacity_bytes);
		json_kv_u64(&j, "max_record_bytes", s->max_record_bytes);
		describe_flags_json(&j, s->flags);
		json_kv_u64(&j, "claim_timeout_ns", s->claim_timeout_ns);
		if (s->numa_node >= 0)
			json_kv_i64(&j, "numa_node", s->numa_node);
		else
			json_kv_null(&j, "numa_node");
		json_kv_u64(&j, "created_ns", s->created_ns);
		json_kv_str(&j, "created", fmt_time(buf, sizeof(buf), s->created_ns));
	} else {
		json_kv_u64(&j, "capacity_bytes", d->cfg.capacity_bytes);
		json_kv_u64(&j, "max_record_bytes", d->cfg.max_record_bytes);
		describe_flags_json(&j, d->cfg.flags);
		json_kv_u64(&j, "claim_timeout_ns", d->cfg.claim_timeout_ns);
		if (d->cfg.flags & RING_TOPIC_NUMA)
			json_kv_i64(&j, "numa_node", d->cfg.numa_node);
		else
			json_kv_null(&j, "numa_node");
		json_kv_null(&j, "created_ns");
		json_kv_null(&j, "created");
	}
	json_end_object(&j);

	json_key(&j, "settings");
	if (d->conf) {
		json_begin_object(&j);
		json_kv_u64(&j, "segment_bytes", d->cfg.segment_bytes);
		json_kv_u64(&j, "retention_ns", d->cfg.retention_ns);
		json_kv_u64(&j, "retention_bytes", d->cfg.retention_bytes);
		json_kv_str(&j, "fsync_policy", fsync_name(d->cfg.fsync_policy));
		json_kv_u64(&j, "fsync_interval_ns", d->cfg.fsync_interval_ns);
		snprintf(buf, sizeof(buf), "%04o", d->cfg.file_mode);
		json_kv_str(&j, "file_mode", buf);
		json_end_object(&j);
	} else {
		json_null(&j);
	}

	json_key(&j, "segments");
	if (d->has_disk) {
		json_begin_object(&j);
		json_kv_u64(&j, "count", d->disk.segments);
		json_kv_u64(&j, "disk_bytes", d->disk.bytes);
		if (d->disk.segments) {
			json_kv_u64(&j, "first_base_pos", d->disk.first_base);
			json_kv_u64(&j, "last_base_pos", d->disk.last_base);
		}
		json_end_object(&j);
	} else {
		json_null(&j);
	}

	if (!d->ring) {
		json_kv_null(&j, "positions");
		json_end_object(&j);
		json_finish(&j);
		return;
	}
	json_key(&j, "positions");
	json_begin_object(&j);
	json_kv_u64(&j, "tail_pos", s->tail_pos);
	json_kv_u64(&j, "frontier_pos", s->frontier_pos);
	if (persistent) {
		json_kv_u64(&j, "persisted_pos", s->persisted_pos);
		json_kv_u64(&j, "durable_pos", s->durable_pos);
	} else {
		/* An ephemeral topic is never written to disk. */
		json_kv_null(&j, "persisted_pos");
		json_kv_null(&j, "durable_pos");
	}
	json_kv_u64(&j, "oldest_pos", s->oldest_pos);
	json_kv_u64(&j, "limit_pos", s->limit_pos);
	json_kv_u64(&j, "ring_bytes", s->tail_pos - s->oldest_pos);
	json_end_object(&j);

	json_key(&j, "producers");
	json_begin_object(&j);
	json_kv_u64(&j, "count", s->producers);
	json_key(&j, "pids");
	json_begin_array(&j);
	for (unsigned i = 0; i < s->producers && i < RING_STAT_MAX_PRODUCERS; i++)
		json_i64(&j, s->producer_pids[i]);
	json_end_array(&j);
	json_end_object(&j);
	json_kv_u64(&j, "gating_readers", s->gating_readers);
	json_kv_u64(&j, "data_waiters", s->data_waiters);
	json_kv_u64(&j, "space_waiters", s->space_waiters);
	json_kv_u64(&j, "repaired_claims", s->repaired_claims);

	json_key(&j, "stuck_claim");
	if (s->stuck_ns) {
		json_begin_object(&j);
		json_kv_u64(&j, "position", s->stuck_pos);
		json_kv_i64(&j, "pid", s->stuck_pid);
		json_kv_bool(&j, "pid_alive", pid_alive(s->stuck_pid));
		json_kv_u64(&j, "age_ns", s->stuck_ns);
		json_end_object(&j);
	} else {
		json_null(&j);
	}

	json_key(&j, "ringd");
	if (s->daemon_pid) {
		json_begin_object(&j);
		json_kv_i64(&j, "pid", s->daemon_pid);
		json_kv_bool(&j, "alive", s->daemon_alive != 0);
		json_kv_u64(&j, "last_beat_ns", s->daemon_beat_ns);
		json_kv_str(&j, "last_beat", fmt_time(buf, sizeof(buf), s->daemon_beat_ns));
		json_end_object(&j);
	} else {
		json_null(&j);
	}
	json_end_object(&j);
	json_finish(&j);
}

#define ROW "%-17s"

static void describe_settings_text(const struct describe *d)
{
	const struct ring_topic_config *c = &d->cfg;
	char b1[48], b2[48];

	printf(ROW "%s\n", "segment size", fmt_bytes(b1, sizeof(b1), c->segment_bytes));
	if (!c->retention_ns && !c->retention_bytes) {
		printf(ROW "keep everything\n", "retention");
	} else {
		printf(ROW "%s%s%s\n", "retention",
		       c->retention_ns ? fmt_duration(b1, sizeof(b1), c->retention_ns) : "",
		       c->retention_ns && c->retention_bytes ? ", " : "",
		       c->retention_bytes ? fmt_bytes(b2, sizeof(b2), c->retention_bytes) : "");
	}
	if (c->fsync_policy == RING_FSYNC_INTERVAL)
		printf(ROW "every %s\n", "fsync",
		       fmt_duration(b1, sizeof(b1), c->fsync_interval_ns));
	else
		printf(ROW "%s\n", "fsync", fsync_name(c->fsync_policy));
	printf(ROW "%04o\n", "file mode", c->file_mode);
}

static void describe_text(const struct ctl *ctl, const struct describe *d)
{
	const struct ring_topic_stat *s = &d->stat;
	bool persistent = d->ring ? !(s->flags & RING_TOPIC_EPHEMERAL) : true;
	uint64_t cap = d->ring ? s->capacity_bytes : d->cfg.capacity_bytes;
	uint64_t max_rec = d->ring ? s->max_record_bytes : d->cfg.max_record_bytes;
	uint64_t claim_to = d->ring ? s->claim_timeout_ns : d->cfg.claim_timeout_ns;
	int32_t node = d->ring ? s->numa_node
			       : ((d->cfg.flags & RING_TOPIC_NUMA) ? d->cfg.numa_node : -1);
	char b1[64], b2[64];

	printf(ROW "%s\n", "topic", d->name);
	printf(ROW "%s\n", "kind", persistent ? "persistent" : "ephemeral");
	printf(ROW "%s\n", "data directory", ctl->data_dir);
	if (d->ring)
		printf(ROW "%s\n", "created", fmt_time(b1, sizeof(b1), s->created_ns));
	printf(ROW "%s (%llu bytes)\n", "capacity", fmt_bytes(b1, sizeof(b1), cap),
	       (unsigned long long)cap);
	printf(ROW "%s (%llu bytes)\n", "max record", fmt_bytes(b1, sizeof(b1), max_rec),
	       (unsigned long long)max_rec);
	printf(ROW "%s\n", "claim timeout", fmt_duration(b1, sizeof(b1), claim_to));
	if (node >= 0)
		printf(ROW "%d\n", "numa node", node);
	else
		printf(ROW "not bound\n", "numa node");
	if (d->conf)
		describe_settings_text(d);
	else if (persistent)
		printf(ROW "topic.conf missing or unreadable\n", "settings");
	if (d->has_disk && d->disk.segments)
		printf(ROW "%llu files, %s on disk (bases %llu..%llu)\n", "segments",
		       (unsigned long long)d->disk.segments, fmt_bytes(b1, sizeof(b1), d->disk.bytes),
		       (unsigned long long)d->disk.first_base,
		       (unsigned long long)d->disk.last_base);
	else if (d->has_disk)
		printf(ROW "none yet\n", "segments");

	if (!d->ring) {
		printf(ROW "absent (start ringd to recreate it)\n", "ring");
		return;
	}
	printf("\npositions\n");
	printf("  " ROW "%llu\n", "tail", (unsigned long long)s->tail_pos);
	printf("  " ROW "%llu\n", "frontier", (unsigned long long)s->frontier_pos);
	if (persistent) {
		printf("  " ROW "%llu\n", "persisted", (unsigned long long)s->persisted_pos);
		printf("  " ROW "%llu\n", "durable", (unsigned long long)s->durable_pos);
	} else {
		printf("  " ROW "- (ephemeral)\n", "persisted");
		printf("  " ROW "- (ephemeral)\n", "durable");
	}
	printf("  " ROW "%llu\n", "oldest", (unsigned long long)s->oldest_pos);
	printf("  " ROW "%llu\n", "limit", (unsigned long long)s->limit_pos);
	printf("  " ROW "%s (tail - oldest)\n", "in ring",
	       fmt_bytes(b1, sizeof(b1), s->tail_pos - s->oldest_pos));

	printf("\n" ROW "%u", "producers", s->producers);
	for (unsigned i = 0; i < s->producers && i < RING_STAT_MAX_PRODUCERS; i++)
		printf("%s%d", i ? ", " : " (pids ", s->producer_pids[i]);
	if (s->producers > RING_STAT_MAX_PRODUCERS)
		printf(", ... %u more", s->producers - RING_STAT_MAX_PRODUCERS);
	printf("%s\n", s->producers ? ")" : "");
	printf(ROW "%u\n", "gating readers", s->gating_readers);
	printf(ROW "%u readers, %u producers\n", "asleep", s->data_waiters, s->space_waiters);
	printf(ROW "%llu\n", "repaired claims", (unsigned long long)s->repaired_claims);
	if (s->stuck_ns)
		printf(ROW "at %llu, owner pid %d (%s), stalled for %s\n", "stuck claim",
		       (unsigned long long)s->stuck_pos, s->stuck_pid,
		       pid_alive(s->stuck_pid) ? "alive" : "dead",
		       fmt_duration(b1, sizeof(b1), s->stuck_ns));
	else
		printf(ROW "none\n", "stuck claim");
	if (s->daemon_pid) {
		uint64_t now_ns = ctl_realtime_ns();

		printf(ROW "pid %d, %s, last heartbeat %s (%s ago)\n", "ringd", s->daemon_pid,
		       s->daemon_alive ? "alive" : "dead",
		       fmt_time(b1, sizeof(b1), s->daemon_beat_ns),
		       fmt_duration(b2, sizeof(b2),
				    now_ns > s->daemon_beat_ns ? now_ns - s->daemon_beat_ns : 0));
	} else {
		printf(ROW "none\n", "ringd");
	}
}

static int run_describe(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		CTL_COMMON_OPTIONS,
		{ 0 },
	};
	struct describe d = { 0 };
	struct ring_topic *t = NULL;
	bool json = false, has_dir;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, ":hd:", options, NULL)) != -1) {
		if (opt == OPT_JSON) {
			json = true;
			continue;
		}
		rc = ctl_common_option(ctl, &ctl_cmd_describe, opt, argv);
		if (rc != CTL_CONTINUE)
			return rc;
	}
	rc = ctl_topic_arg_or_report(ctl, argc, argv, false, &d.name);
	if (rc != CTL_EXIT_OK)
		return rc;

	has_dir = ctl_topic_has_dir(ctl, d.name);
	rc = ring_topic_open(ctl->data_dir, d.name, &t);
	if (rc < 0 && !(rc == -ENOENT && has_dir))
		return ctl_error(ctl, rc, "topic '%s'", d.name);
	if (rc == 0) {
		rc = ring_topic_stat(t, &d.stat);
		ring_topic_close(t);
		if (rc < 0)
			return ctl_error(ctl, rc, "topic '%s': stat", d.name);
		d.ring = true;
	}
	if (has_dir) {
		rc = read_topic_conf(ctl, d.name, &d.cfg);
		if (rc == 0)
			d.conf = true;
		if (!d.ring || !(d.stat.flags & RING_TOPIC_EPHEMERAL))
			d.has_disk = ctl_topic_disk_usage(ctl, d.name, &d.disk) == 0;
		if (rc < 0 && !d.ring)
			return ctl_error(ctl, rc, "topic '%s': its ring is absent and its "
						  "topic.conf unreadable", d.name);
	}
	if (json)
		describe_json(ctl, &d);
	else
		describe_text(ctl, &d);
	return CTL_EXIT_OK;
}

const struct ctl_command ctl_cmd_describe = {
	.name = "describe",
	.summary = "show a topic's settings, positions and participants",
	.help = describe_help,
	.run = run_describe,
};
