/* SPDX-License-Identifier: MIT */
/*
 * common.c - what every ringctl command needs: error lines, option and
 * number parsing, stop signals, the data directory, its topics and
 * ringd's lock.
 *
 * Errors are printed here, once, as one line; nothing below prints on
 * success. Topic discovery only reads: it never opens a ring for writing
 * and never creates anything in the data directory.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "ringctl.h"
#include "segment_reader.h"

/* Where POSIX shared-memory objects appear as files (glibc's shm_open). */
#define SHM_DIR "/dev/shm"

/* ---- errors ---- */

int ctl_exit_code(int rc)
{
	switch (rc) {
	case 0:
		return CTL_EXIT_OK;
	case -ENOENT:
	case -ERANGE:
		return CTL_EXIT_NOT_FOUND;
	case -EINVAL:
		return CTL_EXIT_USAGE;
	default:
		return CTL_EXIT_FAILURE;
	}
}

static void vreport(const struct ctl *ctl, const char *fmt, va_list ap, const char *tail)
{
	/* One fprintf per line would interleave with nothing else we print,
	 * but build the line first anyway so it reaches stderr in one write. */
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "ringctl: %s%s", ctl->command ? ctl->command : "",
		     ctl->command ? ": " : "");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* Names and paths come from the user: keep the report one line. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "%s%s\n", line, tail ? tail : "");
}

int ctl_error(const struct ctl *ctl, int rc, const char *fmt, ...)
{
	char tail[256];
	va_list ap;

	snprintf(tail, sizeof(tail), ": %s", ring_strerror(rc));
	va_start(ap, fmt);
	vreport(ctl, fmt, ap, tail);
	va_end(ap);
	return ctl_exit_code(rc);
}

int ctl_os_error(const struct ctl *ctl, int rc, const char *fmt, ...)
{
	char tail[256];
	va_list ap;

	snprintf(tail, sizeof(tail), ": %s", strerror(rc < 0 ? -rc : rc));
	va_start(ap, fmt);
	vreport(ctl, fmt, ap, tail);
	va_end(ap);
	return ctl_exit_code(rc);
}

int ctl_fail(const struct ctl *ctl, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctl, fmt, ap, NULL);
	va_end(ap);
	return code;
}

int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
{
	char tail[160];
	va_list ap;

	if (ctl->command)
		snprintf(tail, sizeof(tail), " (see 'ringctl %s --help')", ctl->command);
	else
		snprintf(tail, sizeof(tail), " (see 'ringctl --help')");
	va_start(ap, fmt);
	vreport(ctl, fmt, ap, tail);
	va_end(ap);
	return CTL_EXIT_USAGE;
}

void ctl_warn(const struct ctl *ctl, const char *fmt, ...)
{
	char what[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fflush(stdout);	/* keep the warning in its place among the records */
	fprintf(stderr, "ringctl: %s: warning: %s\n", ctl->command, what);
}

/* ---- options ---- */

int ctl_bad_option(const struct ctl *ctl, char **argv)
{
	/* getopt sets optopt to the letter of a bad short option; for a long
	 * one it is 0 (unknown) or the option's value (an argument it does
	 * not take), and the word itself is the one before optind. */
	if (optopt > 0 && optopt < 0x80 && optopt != '?')
		return ctl_usage_error(ctl, "unknown option '-%c'", optopt);
	if (optopt)
		return ctl_usage_error(ctl, "option '%s' takes no argument", argv[optind - 1]);
	return ctl_usage_error(ctl, "unknown option '%s'", argv[optind - 1]);
}

int ctl_common_option(struct ctl *ctl, const struct ctl_command *cmd, int opt, char **argv)
{
	switch (opt) {
	case CTL_OPT_HELP:
		fputs(cmd->help, stdout);
		return CTL_EXIT_OK;
	case CTL_OPT_DATA_DIR:
		ctl->data_dir = optarg;
		return CTL_CONTINUE;
	case ':':
		return ctl_usage_error(ctl, "option '%s' needs an argument", argv[optind - 1]);
	case '?':
		return ctl_bad_option(ctl, argv);
	default:
		/* An option in the command's table that its switch forgot. */
		return ctl_usage_error(ctl, "unhandled option '%s'", argv[optind - 1]);
	}
}

int ctl_positional_or_report(struct ctl *ctl, int argc, char **argv, bool optional,
			     const char **ret_arg)
{
	if (optind >= argc) {
		if (!optional)
			return ctl_usage_error(ctl, "missing TOPIC");
		*ret_arg = NULL;
		return CTL_EXIT_OK;
	}
	if (optind + 1 < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind + 1]);
	*ret_arg = argv[optind];
	return CTL_EXIT_OK;
}

int ctl_topic_arg_or_report(struct ctl *ctl, int argc, char **argv, bool optional,
			    const char **ret_name)
{
	int rc;

	rc = ctl_positional_or_report(ctl, argc, argv, optional, ret_name);
	if (rc == CTL_EXIT_OK && *ret_name)
		rc = ctl_check_topic_name_or_report(ctl, *ret_name);
	if (rc == CTL_EXIT_OK)
		rc = ctl_check_data_dir_or_report(ctl);
	return rc;
}

/* ---- parsing ---- */

/* Decimal, or hex after 0x; never octal ("010" is ten). strtoull()
 * accepts a sign and leading spaces, which a count must not have. */
static int parse_prefix_u64(const char *s, uint64_t *ret, char **ret_end)
{
	bool hex = s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	const char *digits = hex ? s + 2 : s;
	unsigned long long v;
	char *end;

	if (!s || !(hex ? isxdigit((unsigned char)digits[0]) : isdigit((unsigned char)digits[0])))
		return -EINVAL;
	errno = 0;
	v = strtoull(digits, &end, hex ? 16 : 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || end == digits)
		return -EINVAL;
	*ret = v;
	*ret_end = end;
	return 0;
}

int ctl_parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v;
	char *end;
	int rc;

	rc = parse_prefix_u64(s, &v, &end);
	if (rc < 0)
		return rc;
	if (*end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

int ctl_parse_size(const char *s, uint64_t *ret)
{
	uint64_t v;
	unsigned shift = 0;
	char *end;
	int rc;

	rc = parse_prefix_u64(s, &v, &end);
	if (rc < 0)
		return rc;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	case 't':
		shift = 40;
		break;
	case 'b':
		if (end[1] != '\0')
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		end++;
		if (!strcasecmp(end, "ib") || !strcasecmp(end, "b"))
			end += strlen(end);
		if (*end != '\0')
			return -EINVAL;
		if (v > (UINT64_MAX >> shift))
			return -ERANGE;
		v <<= shift;
	}
	*ret = v;
	return 0;
}

int ctl_parse_seconds(const char *s, uint64_t *ret_seconds)
{
	uint64_t v, mult;
	char *end;
	int rc;

	rc = parse_prefix_u64(s, &v, &end);
	if (rc < 0)
		return rc;
	if (end[0] != '\0' && end[1] != '\0')
		return -EINVAL;
	switch (end[0]) {
	case '\0':
	case 's':
		mult = 1;
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		return -EINVAL;
	}
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*ret_seconds = v * mult;
	return 0;
}

int ctl_parse_interval(const char *s, double *ret_seconds)
{
	char *end;
	double v;

	if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !isfinite(v) || v <= 0.0)
		return -EINVAL;
	/* A longer period than a day is a typo, and would overflow the
	 * nanosecond arithmetic of the sleep. */
	if (v > 86400.0)
		return -ERANGE;
	*ret_seconds = v;
	return 0;
}

/* ---- signals ---- */

volatile sig_atomic_t ctl_stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	ctl_stop_requested = 1;
}

int ctl_catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	struct sigaction ign = { .sa_handler = SIG_IGN };

	/* No SA_RESTART: a blocking read of stdin must return EINTR. */
	sigemptyset(&sa.sa_mask);
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGPIPE, &ign, NULL) < 0)
		return -errno;
	return 0;
}

void ctl_sleep(double seconds)
{
	double now = ctl_mono_now(), end = now + seconds;

	/* Slices of at most 100 ms: a signal that lands between the flag
	 * check and the sleep is then noticed soon anyway. */
	while (!ctl_stop_requested && now < end) {
		double left = end - now;
		struct timespec req;

		if (left > 0.1)
			left = 0.1;
		req.tv_sec = 0;
		req.tv_nsec = (long)(left * 1e9);
		(void)nanosleep(&req, NULL);
		now = ctl_mono_now();
	}
}

/* ---- clocks ---- */

double ctl_mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t ctl_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- consumer groups ---- */

const char *ctl_group_mode_name(uint32_t mode)
{
	return mode == RING_GROUP_SHARED ? "shared" : "exclusive";
}

/* ---- the data directory ---- */

int ctl_check_data_dir_or_report(const struct ctl *ctl)
{
	struct stat st;

	if (!ctl->data_dir || !ctl->data_dir[0])
		return ctl_usage_error(ctl, "no data directory: give --data-dir DIR "
					    "or set RINGLOG_DATA_DIR");
	if (stat(ctl->data_dir, &st) < 0) {
		int err = -errno;

		/* A missing directory is "not found"; anything else (no
		 * permission, a loop) is a failure to look. */
		return ctl_os_error(ctl, err, "data directory '%s'", ctl->data_dir);
	}
	if (!S_ISDIR(st.st_mode)) {
		ctl_os_error(ctl, -ENOTDIR, "data directory '%s'", ctl->data_dir);
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

int ctl_check_topic_name_or_report(const struct ctl *ctl, const char *name)
{
	if (ringi_topic_name_check(name) < 0)
		return ctl_usage_error(ctl, "invalid topic name '%s': 1..%d characters of "
					    "[A-Za-z0-9._-], not starting with '.'",
				       name, RING_TOPIC_NAME_MAX);
	return CTL_EXIT_OK;
}

bool ctl_topic_has_dir(const struct ctl *ctl, const char *name)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/topic.conf", ctl->data_dir, name) >=
	    sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

int ctl_topic_open_or_report(const struct ctl *ctl, const char *name,
			     struct ring_topic **ret_topic)
{
	int rc;

	rc = ctl_check_data_dir_or_report(ctl);
	if (rc == CTL_EXIT_OK)
		rc = ctl_check_topic_name_or_report(ctl, name);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = ring_topic_open(ctl->data_dir, name, ret_topic);
	if (rc == -ENOENT && ctl_topic_has_dir(ctl, name)) {
		/* A persistent topic survives a reboot on disk only; ringd
		 * recreates its ring when it starts. */
		return ctl_error(ctl, rc, "topic '%s': its ring is absent (start ringd to "
					  "recreate it)", name);
	}
	if (rc < 0)
		return ctl_error(ctl, rc, "topic '%s'", name);
	return CTL_EXIT_OK;
}

/* ---- the data directory's topics ---- */

struct entry_list {
	struct ctl_topic_entry *v;
	size_t n, cap;
};

static struct ctl_topic_entry *entry_find_or_add(struct entry_list *l, const char *name)
{
	struct ctl_topic_entry *e;

	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return &l->v[i];
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct ctl_topic_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	return e;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ctl_topic_entry *)a)->name,
		      ((const struct ctl_topic_entry *)b)->name);
}

/* Persistent topics: DATA_DIR/<name>/topic.conf. */
static int find_topic_dirs(const struct ctl *ctl, struct entry_list *l)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = opendir(ctl->data_dir);
	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		struct ctl_topic_entry *e;

		if (ringi_topic_name_check(de->d_name) < 0 || !ctl_topic_has_dir(ctl, de->d_name))
			continue;
		e = entry_find_or_add(l, de->d_name);
		if (!e) {
			rc = -ENOMEM;
			break;
		}
		e->has_dir = true;
	}
	(void)closedir(d);
	return rc;
}

/* Rings: /dev/shm/ringlog.<hash of DATA_DIR>.<name> (libring's name.c). */
static int find_topic_rings(const struct ctl *ctl, struct entry_list *l)
{
	char prefix[64];
	struct dirent *de;
	size_t plen;
	DIR *d;
	int rc;

	rc = ringi_shm_prefix(ctl->data_dir, prefix, sizeof(prefix));
	if (rc < 0)
		return rc;
	plen = strlen(prefix);
	d = opendir(SHM_DIR);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	rc = 0;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name + plen;
		struct ctl_topic_entry *e;

		if (strncmp(de->d_name, prefix, plen) != 0 || ringi_topic_name_check(name) < 0)
			continue;
		e = entry_find_or_add(l, name);
		if (!e) {
			rc = -ENOMEM;
			break;
		}
		e->has_ring = true;
	}
	(void)closedir(d);
	return rc;
}

int ctl_topics_find(const struct ctl *ctl, struct ctl_topic_entry **ret_entries,
		    size_t *ret_count)
{
	struct entry_list l = { 0 };
	int rc;

	rc = find_topic_dirs(ctl, &l);
	if (rc == 0)
		rc = find_topic_rings(ctl, &l);
	if (rc < 0) {
		free(l.v);
		return rc;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(l.v[0]), entry_cmp);
	*ret_entries = l.v;
	*ret_count = l.n;
	return 0;
}

int ctl_topic_disk_usage(const struct ctl *ctl, const char *name, struct ctl_disk_usage *ret)
{
	char dir[PATH_MAX], path[PATH_MAX];
	uint64_t *bases = NULL;
	size_t count = 0;
	struct stat st;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", ctl->data_dir, name) >= sizeof(dir))
		return -ENAMETOOLONG;
	rc = ringi_seg_list(dir, &bases, &count);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	for (size_t i = 0; i < count; i++) {
		/* Retention may delete one meanwhile: count what is there. */
		if (ringi_seg_path(path, sizeof(path), dir, bases[i], RING_SEG_SUFFIX) < 0 ||
		    stat(path, &st) < 0)
			continue;
		ret->bytes += (uint64_t)st.st_size;
		ret->segments++;
	}
	if (count) {
		ret->first_base = bases[0];
		ret->last_base = bases[count - 1];
	}
	free(bases);
	return 0;
}

/* ---- ringd's lock ---- */

int ctl_ringd_lock(const struct ctl *ctl, int *ret_fd, pid_t *ret_pid)
{
	char path[PATH_MAX], buf[32];
	int fd, n;

	if ((size_t)snprintf(path, sizeof(path), "%s/ringd.lock", ctl->data_dir) >= sizeof(path))
		return -ENAMETOOLONG;
	/* Never create it: ringctl must leave no trace in a directory that
	 * no ringd has served. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		*ret_fd = -1;
		return 0;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		*ret_fd = fd;
		return 0;
	}
	if (errno != EWOULDBLOCK) {
		int err = -errno;

		(void)close(fd);
		return err;
	}
	/* ringd writes its pid into the file after taking the lock. */
	n = (int)pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	*ret_pid = (pid_t)atoi(buf);
	(void)close(fd);
	return -EBUSY;
}
