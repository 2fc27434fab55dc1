/* SPDX-License-Identifier: MIT */
/*
 * ringctl.h - what ringctl's files share: the command table entry, the
 * exit codes, error reporting, option parsing helpers and the data
 * directory's topics.
 *
 * Adding a command family (consumer groups, segment verification, ...)
 * means one new cmd_<family>.c that defines `const struct ctl_command`
 * values, their declarations below, and one row each in ringctl.c's
 * table. Nothing else in ringctl needs to know about it.
 *
 * Conventions: helpers that return `int` follow libring's negative-errno
 * rule, except those named *_or_report, which print the one-line error
 * themselves and return an exit code (CTL_EXIT_OK when all went well).
 */
#ifndef RINGCTL_H
#define RINGCTL_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libring.h"

/* Exit codes, documented in `ringctl --help` and docs/ringctl.md. */
enum ctl_exit {
	CTL_EXIT_OK = 0,	/* success */
	CTL_EXIT_FAILURE = 1,	/* the operation failed, damage found, a check failed */
	CTL_EXIT_USAGE = 2,	/* bad option or argument; data directory not a directory */
	CTL_EXIT_NOT_FOUND = 3,	/* no such topic, data directory or position */
};

/* Returned by ctl_common_option() when the command should go on parsing. */
#define CTL_CONTINUE (-1)

/* What every command is given. */
struct ctl {
	const char *command;	/* the command's name, for error messages */
	const char *data_dir;	/* --data-dir or RINGLOG_DATA_DIR; NULL if neither */
};

/* One row of the command table. */
struct ctl_command {
	const char *name;
	const char *summary;	/* one line, for `ringctl --help` */
	const char *help;	/* the full text of `ringctl NAME --help` */
	/* argv[0] is the command's name; returns an enum ctl_exit. It parses
	 * its options (--data-dir among them) and then checks the data
	 * directory with ctl_check_data_dir_or_report() (which the
	 * *_open_or_report() functions and ctl_topic_arg_or_report() call). */
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

/* The commands (cmd_*.c). */
extern const struct ctl_command ctl_cmd_create;
extern const struct ctl_command ctl_cmd_delete;
extern const struct ctl_command ctl_cmd_list;
extern const struct ctl_command ctl_cmd_describe;
extern const struct ctl_command ctl_cmd_stat;
extern const struct ctl_command ctl_cmd_produce;
extern const struct ctl_command ctl_cmd_dump;
extern const struct ctl_command ctl_cmd_tail;
extern const struct ctl_command ctl_cmd_groups;
extern const struct ctl_command ctl_cmd_reset_offsets;
extern const struct ctl_command ctl_cmd_verify;
extern const struct ctl_command ctl_cmd_recover;
extern const struct ctl_command ctl_cmd_export;
extern const struct ctl_command ctl_cmd_consume;

/* ---- options every command takes (common.c) ---- */

enum {
	CTL_OPT_DATA_DIR = 'd',
	CTL_OPT_HELP = 'h',
	/* Long-only options of the commands start here. */
	CTL_OPT_FIRST_LONG = 0x100,
};

/* Append to each command's option array (before the terminating zero row);
 * its short option string starts with ":" and contains "hd:". */
#define CTL_COMMON_OPTIONS                                               \
	{ "help", no_argument, NULL, CTL_OPT_HELP },                     \
	{ "data-dir", required_argument, NULL, CTL_OPT_DATA_DIR }

/*
 * Handle what getopt_long() returned for an option that is not the
 * command's own: --help (prints the command's help, CTL_EXIT_OK),
 * --data-dir (CTL_CONTINUE), an unknown option or a missing argument
 * (one line on stderr, CTL_EXIT_USAGE).
 */
int ctl_common_option(struct ctl *ctl, const struct ctl_command *cmd, int opt, char **argv);

/* Report an option getopt_long() returned '?' for; CTL_EXIT_USAGE. */
int ctl_bad_option(const struct ctl *ctl, char **argv);

/* After option parsing: exactly one positional argument (the topic) is
 * stored in *ret_arg; anything else is a usage error. With @optional, no
 * argument leaves *ret_arg NULL. Returns CTL_EXIT_OK or the exit code. */
int ctl_positional_or_report(struct ctl *ctl, int argc, char **argv, bool optional,
			     const char **ret_arg);

/* ctl_positional_or_report(), then the topic name's check (when there is
 * one) and ctl_check_data_dir_or_report(), in that order: what a command
 * that names a topic checks before it does anything. */
int ctl_topic_arg_or_report(struct ctl *ctl, int argc, char **argv, bool optional,
			    const char **ret_name);

/* ---- errors (common.c) ---- */

/* "ringctl: <command>: <what>: <ring_strerror(rc)>"; returns the exit
 * code for @rc (ctl_exit_code()). Use for codes that libring returned. */
int ctl_error(const struct ctl *ctl, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with strerror(): for codes from the OS (opendir, rmdir, ...),
 * whose meaning libring's table would misstate ("no such topic"). */
int ctl_os_error(const struct ctl *ctl, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "ringctl: <command>: <what>", whose reason the caller words itself (a
 * missing group is not libring's "no such topic"); returns @code. */
int ctl_fail(const struct ctl *ctl, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "ringctl: <command>: <what> (see 'ringctl <command> --help')";
 * returns CTL_EXIT_USAGE. */
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "ringctl: <command>: warning: <what>": the command goes on. */
void ctl_warn(const struct ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* -ENOENT and -ERANGE are "not found"; -EINVAL is usage; the rest failure. */
int ctl_exit_code(int rc);

/* ---- parsing (common.c); all return 0 or -EINVAL / -ERANGE ---- */

/* A decimal (or 0x hex) unsigned integer, nothing after it. */
int ctl_parse_u64(const char *s, uint64_t *ret);
/* A byte count with an optional K, M, G or T suffix (powers of 1024),
 * optionally followed by "iB" or "B": "64K", "4MiB", "1g". */
int ctl_parse_size(const char *s, uint64_t *ret);
/* A duration in seconds, with an optional s, m, h or d suffix. */
int ctl_parse_seconds(const char *s, uint64_t *ret_seconds);
/* A positive, finite number of seconds, fractions allowed ("0.5"). */
int ctl_parse_interval(const char *s, double *ret_seconds);

/* ---- signals (common.c) ---- */

/* Set by SIGINT and SIGTERM once ctl_catch_stop_signals() has run. */
extern volatile sig_atomic_t ctl_stop_requested;
/* Catch SIGINT and SIGTERM without SA_RESTART, so that blocking reads
 * and sleeps return early and loops can see ctl_stop_requested; and
 * ignore SIGPIPE, so that a closed pipe shows up as EPIPE on write. */
int ctl_catch_stop_signals(void);
/* Sleep for @seconds, or less if a stop is requested. */
void ctl_sleep(double seconds);

/* ---- clocks (common.c) ---- */

/* CLOCK_MONOTONIC in seconds: for intervals (stalls, redraws, rates). */
double ctl_mono_now(void);
/* CLOCK_REALTIME in ns: the clock of record timestamps and heartbeats. */
uint64_t ctl_realtime_ns(void);

/* ---- consumer groups (common.c) ---- */

/* "shared" or "exclusive", as consume, groups and reset-offsets print it. */
const char *ctl_group_mode_name(uint32_t mode);

/* ---- the data directory and its topics (common.c) ---- */

/* Check that the data directory is set and is a directory: missing ->
 * CTL_EXIT_NOT_FOUND, not a directory or not set -> CTL_EXIT_USAGE. */
int ctl_check_data_dir_or_report(const struct ctl *ctl);

/* Validate a topic name given on the command line (CTL_EXIT_USAGE). */
int ctl_check_topic_name_or_report(const struct ctl *ctl, const char *name);

/* Attach to a topic, after ctl_check_data_dir_or_report() and the name's
 * check; reports a missing topic (distinguishing a persistent topic whose
 * ring is gone) and any other error. */
int ctl_topic_open_or_report(const struct ctl *ctl, const char *name,
			     struct ring_topic **ret_topic);

/* Whether DATA_DIR/<name>/topic.conf exists: a persistent topic's mark. */
bool ctl_topic_has_dir(const struct ctl *ctl, const char *name);

/* A topic of the data directory, as found by ctl_topics_find(). */
struct ctl_topic_entry {
	char name[RING_TOPIC_NAME_MAX + 1];
	bool has_dir;	/* DATA_DIR/<name>/topic.conf exists */
	bool has_ring;	/* its shared-memory object exists */
};

/*
 * Every topic of the data directory, sorted by name: the subdirectories
 * that hold a topic.conf (persistent topics) and the shared-memory objects
 * whose name carries the directory's prefix (rings of persistent and
 * ephemeral topics). *ret_entries is malloc'ed; free it.
 */
int ctl_topics_find(const struct ctl *ctl, struct ctl_topic_entry **ret_entries,
		    size_t *ret_count);

/* What a persistent topic's segment files hold on disk. */
struct ctl_disk_usage {
	uint64_t segments;
	uint64_t bytes;		/* file sizes of the .seg files */
	uint64_t first_base;	/* base positions of the oldest and newest */
	uint64_t last_base;
};

/* Sum DATA_DIR/<name>/'s segment files; zeros when there are none. */
int ctl_topic_disk_usage(const struct ctl *ctl, const char *name, struct ctl_disk_usage *ret);

/*
 * Take ringd's lock on the data directory (DATA_DIR/ringd.lock, flock),
 * so that no ringd starts while the caller changes the directory.
 * Returns 0 with the descriptor to close when done in *ret_fd (-1 if
 * there is no lock file: no ringd has ever run there); -EBUSY if a live
 * ringd holds it, with its pid (read from the file, 0 if unreadable) in
 * *ret_pid; or another negative errno.
 */
int ctl_ringd_lock(const struct ctl *ctl, int *ret_fd, pid_t *ret_pid);

#endif /* RINGCTL_H */
