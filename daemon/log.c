/* SPDX-License-Identifier: MIT */
/*
 * log.c - see log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libring/errors.h"
#include "log.h"

static enum log_level max_level = LOG_LVL_INFO;

void log_set_level(enum log_level level)
{
	max_level = level;
}

int log_parse_level(const char *name, enum log_level *ret_level)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (unsigned i = 0; i < 4; i++)
		if (!strcmp(name, names[i])) {
			*ret_level = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

static void vlog(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	static const char *const tags[] = { "error", "warn", "info", "debug" };
	static const int syslog_prio[] = { 3, 4, 6, 7 };
	char line[1024];
	int n = 0;

	if (level > max_level)
		return;
	if (getenv("JOURNAL_STREAM")) {
		n = snprintf(line, sizeof(line), "<%d>", syslog_prio[level]);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ld ringd[%d] %s: ",
			      ts.tv_nsec / 1000000, (int)getpid(), tags[level]);
	}
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line, so lines from several threads never mix. */
	fprintf(stderr, "%s%s\n", line, suffix ? suffix : "");
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

int log_errno(enum log_level level, int err, const char *fmt, ...)
{
	char suffix[160];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", ring_strerror(err));
	va_start(ap, fmt);
	vlog(level, suffix, fmt, ap);
	va_end(ap);
	return err;
}
