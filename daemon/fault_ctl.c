/* SPDX-License-Identifier: MIT */
/*
 * fault_ctl.c - see fault_ctl.h. A new command is a new inode at the
 * control path (the test renames a fresh file over it), so a command is
 * applied exactly once however often the path is looked at, and a file
 * being written is never read half-way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault_ctl.h"
#include "io_fault.h"
#include "log.h"

#if RINGD_IO_FAULT

#define POLL_EVERY_NS 2000000u

static struct {
	bool init;
	const char *path;	/* NULL: no control file */
	uint64_t next_ns;
	dev_t dev;
	ino_t ino;
} C;

static int parse_errno(const char *s)
{
	char *end;
	long v;

	if (!strcmp(s, "ENOSPC"))
		return ENOSPC;
	if (!strcmp(s, "EIO"))
		return EIO;
	if (!strcmp(s, "EDQUOT"))
		return EDQUOT;
	v = strtol(s, &end, 10);
	return *end == '\0' && v > 0 && v < 4096 ? (int)v : 0;
}

static void apply(char *cmd)
{
	char *arg, *arg2, *save = NULL;
	char *verb = strtok_r(cmd, " \t", &save);

	if (!verb)
		return;
	arg = strtok_r(NULL, " \t", &save);
	arg2 = arg ? strtok_r(NULL, " \t", &save) : NULL;
	if (!strcmp(verb, "fail-writes") || !strcmp(verb, "fail-syncs")) {
		int err = arg ? parse_errno(arg) : 0;

		if (!err)
			goto bad;
		if (verb[5] == 'w')
			io_fault_fail_writes(err, 0, UINT32_MAX);
		else
			io_fault_fail_syncs(err, 0, UINT32_MAX);
	} else if (!strcmp(verb, "heal")) {
		io_fault_fail_writes(0, 0, 0);
		io_fault_fail_syncs(0, 0, 0);
	} else if (!strcmp(verb, "track")) {
		io_fault_track(true);
	} else if (!strcmp(verb, "power-loss")) {
		enum io_fault_loss mode;
		int lost;

		if (arg && !strcmp(arg, "drop"))
			mode = IO_FAULT_DROP_ALL;
		else if (arg && !strcmp(arg, "keep"))
			mode = IO_FAULT_KEEP_ALL;
		else if (arg && !strcmp(arg, "random"))
			mode = IO_FAULT_RANDOM;
		else
			goto bad;
		lost = io_fault_power_loss(mode, arg2 ? strtoull(arg2, NULL, 0) : 1);
		if (lost < 0) {
			log_errno(LOG_LVL_ERROR, lost, "io_fault: power-loss %s: failed", arg);
			_exit(1);
		}
		log_warn("io_fault: power-loss %s: applied, %d unsynced write%s not kept whole; "
			 "the machine is off",
			 arg, lost, lost == 1 ? "" : "s");
		/* Power is gone: nothing more reaches the disk, nothing is
		 * drained or synced, the lock goes with the process. */
		_exit(FAULT_CTL_POWER_LOSS_EXIT);
	} else {
		goto bad;
	}
	log_warn("io_fault: %s%s%s: applied", verb, arg ? " " : "", arg ? arg : "");
	return;
bad:
	log_error("io_fault: '%s%s%s': not a command (see daemon/fault_ctl.h)", verb,
		  arg ? " " : "", arg ? arg : "");
}

void fault_ctl_poll(uint64_t now_ns)
{
	char line[256];
	struct stat st;
	FILE *f;

	if (!C.init) {
		C.init = true;
		C.path = getenv("RINGD_IO_FAULT_CTL");
		if (C.path && !*C.path)
			C.path = NULL;
		if (C.path)
			log_warn("io_fault: test build, fault commands are read from %s", C.path);
	}
	if (!C.path || now_ns < C.next_ns)
		return;
	C.next_ns = now_ns + POLL_EVERY_NS;
	if (stat(C.path, &st) < 0 || (st.st_dev == C.dev && st.st_ino == C.ino))
		return;
	C.dev = st.st_dev;
	C.ino = st.st_ino;
	f = fopen(C.path, "re");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		apply(line);
	}
	(void)fclose(f);
}

#else

void fault_ctl_poll(uint64_t now_ns)
{
	(void)now_ns;
}

#endif /* RINGD_IO_FAULT */
