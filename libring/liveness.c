/* SPDX-License-Identifier: MIT */
/*
 * liveness.c - is the owner of a slot still alive?
 *
 * An owner is recorded as pid | (start time & 0xffffffff) << 32, the start
 * time in clock ticks since boot from /proc/<pid>/stat (field 22). A pid
 * alone is not enough: pids are reused, and a new process with the dead
 * owner's pid must not keep a claim alive (LMDB's reader table has the
 * same concern). A zombie counts as dead: it will never commit.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Start ticks and state of @pid (a process or a thread id). */
static int proc_stat(pid_t pid, uint64_t *ret_ticks, char *ret_state)
{
	char path[64], buf[1024];
	unsigned long long ticks;
	char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* The command name may contain spaces and parentheses: skip to the
	 * last ')', after which the fields are plain. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EBADMSG;
	p += 2;
	*ret_state = *p;
	/* p is at field 3 (state); start time is field 22. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EBADMSG;
		p++;
	}
	if (sscanf(p, "%llu", &ticks) != 1)
		return -EBADMSG;
	*ret_ticks = ticks;
	return 0;
}

static uint64_t owner_of(pid_t pid)
{
	uint64_t ticks = 0;
	char state;

	/* Our own /proc entry is always readable; on failure the owner is
	 * recorded with start time 0, which only weakens pid-reuse detection. */
	(void)proc_stat(pid, &ticks, &state);
	return (uint64_t)(uint32_t)pid | (ticks & 0xffffffffu) << 32;
}

uint64_t ringi_owner_self_process(void)
{
	return owner_of(getpid());
}

uint64_t ringi_owner_self_thread(void)
{
	return owner_of((pid_t)syscall(SYS_gettid));
}

bool ringi_owner_alive(uint64_t owner)
{
	pid_t pid = ringi_owner_pid(owner);
	uint64_t ticks;
	char state;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	if (proc_stat(pid, &ticks, &state) < 0)
		/* Gone between the two calls, or /proc hidden from us: only
		 * the former is certain, and ENOENT tells it. */
		return errno != ENOENT && kill(pid, 0) == 0;
	if (state == 'Z' || state == 'X')
		return false;
	return (ticks & 0xffffffffu) == (owner >> 32);
}
