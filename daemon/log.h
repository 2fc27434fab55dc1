/* SPDX-License-Identifier: MIT */
/*
 * log.h - ringd's logging: one line per event on stderr, with a level.
 *
 * Under systemd (JOURNAL_STREAM set) lines carry a <N> priority prefix and
 * no timestamp, since the journal adds its own. Errors are logged once,
 * where they are handled (STYLE: log once), and the log_* helpers that take
 * an error return it, so a caller can write `return log_errno(rc, ...)`.
 */
#ifndef RINGD_LOG_H
#define RINGD_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level level);
/* "error", "warn", "info", "debug": 0, or -EINVAL. */
int log_parse_level(const char *name, enum log_level *ret_level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log @fmt with ring_strerror(@err) appended; returns @err. */
int log_errno(enum log_level level, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif /* RINGD_LOG_H */
