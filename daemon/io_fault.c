/* SPDX-License-Identifier: MIT */
/*
 * io_fault.c - see io_fault.h. Test builds only: the whole file is empty
 * unless RINGD_IO_FAULT is 1.
 *
 * The power-loss model: the files hold everything written (the kernel ran
 * the writes); each recorded write carries the bytes it replaced. At the
 * "crash" the writes are undone newest first, which brings every touched
 * range back to what the last sync made durable, and then redone oldest
 * first as far as the chosen fate of each allows. A later write to the
 * same bytes thus still wins over an earlier one, as on a real disk.
 */
#include "io_fault.h"

#if RINGD_IO_FAULT

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 256u
#define SECTOR_BYTES 512u

struct fault_file {
	dev_t dev;
	ino_t ino;
	int fd;			/* our own buffered descriptor of the same file */
};

struct fault_write {
	unsigned file;		/* index in files[] */
	uint64_t off;
	uint64_t old_size;	/* file size before the write */
	size_t len;		/* bytes submitted */
	size_t done;		/* bytes the write reported; 0: it failed */
	uint8_t *before;	/* the bytes it replaced: min(len, old_size - off) */
	size_t before_len;
	uint8_t *after;		/* the bytes it wrote */
	bool pending;		/* between _begin and _end */
};

static struct {
	int write_err;
	unsigned write_skip, write_count;
	int sync_err;
	unsigned sync_skip, sync_count;
	bool track;
	bool powered_off;
	bool refuse_direct;
	struct fault_file files[MAX_FILES];
	unsigned nfiles;
	struct fault_write *writes;
	size_t nwrites, cap;
	size_t bytes;
} S;

static void write_free(struct fault_write *w)
{
	S.bytes -= w->len + w->before_len;
	free(w->before);
	free(w->after);
	memset(w, 0, sizeof(*w));
}

static void forget_writes(void)
{
	for (size_t i = 0; i < S.nwrites; i++)
		write_free(&S.writes[i]);
	S.nwrites = 0;
}

void io_fault_reset(void)
{
	forget_writes();
	free(S.writes);
	for (unsigned i = 0; i < S.nfiles; i++)
		(void)close(S.files[i].fd);
	memset(&S, 0, sizeof(S));
}

void io_fault_fail_writes(int err, unsigned skip, unsigned count)
{
	S.write_err = err;
	S.write_skip = skip;
	S.write_count = count;
}

void io_fault_fail_syncs(int err, unsigned skip, unsigned count)
{
	S.sync_err = err;
	S.sync_skip = skip;
	S.sync_count = count;
}

void io_fault_track(bool on)
{
	S.track = on;
	if (!on)
		forget_writes();
}

void io_fault_refuse_direct(bool on)
{
	S.refuse_direct = on;
}

bool io_fault_direct_refused(void)
{
	return S.refuse_direct;
}

unsigned io_fault_unsynced_writes(void)
{
	unsigned n = 0;

	for (size_t i = 0; i < S.nwrites; i++)
		n += S.writes[i].done > 0;
	return n;
}

/* The file of @fd in files[], added (with a descriptor of our own) if new. */
static int file_of(int fd, const struct stat *st)
{
	char path[64];
	int nfd;

	for (unsigned i = 0; i < S.nfiles; i++) {
		if (S.files[i].dev == st->st_dev && S.files[i].ino == st->st_ino)
			return (int)i;
	}
	if (S.nfiles == MAX_FILES)
		return -EMFILE;
	/* A new open file description: without the writer's O_DIRECT, so
	 * images can be read and written at any offset. */
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_RDWR | O_CLOEXEC);
	if (nfd < 0)
		return -errno;
	S.files[S.nfiles] = (struct fault_file){ .dev = st->st_dev, .ino = st->st_ino, .fd = nfd };
	return (int)S.nfiles++;
}

static int take(unsigned *skip, unsigned *count)
{
	if (!*count)
		return 0;
	if (*skip) {
		(*skip)--;
		return 0;
	}
	(*count)--;
	return 1;
}

int io_fault_write_begin(int fd, const void *buf, size_t len, uint64_t off, void **ret_token)
{
	struct fault_write *w;
	struct stat st;
	ssize_t n;
	int f;

	*ret_token = NULL;
	if (S.powered_off)
		return -EIO;
	if (take(&S.write_skip, &S.write_count))
		return -S.write_err;
	if (!S.track)
		return 0;
	if (S.bytes + 2 * len > IO_FAULT_MAX_BYTES)
		return -ENOMEM;
	if (fstat(fd, &st) < 0)
		return -errno;
	f = file_of(fd, &st);
	if (f < 0)
		return f;
	if (S.nwrites == S.cap) {
		size_t ncap = S.cap ? S.cap * 2 : 64;
		struct fault_write *nw = realloc(S.writes, ncap * sizeof(*nw));

		if (!nw)
			return -ENOMEM;
		S.writes = nw;
		S.cap = ncap;
	}
	w = &S.writes[S.nwrites];
	memset(w, 0, sizeof(*w));
	w->file = (unsigned)f;
	w->off = off;
	w->len = len;
	w->old_size = (uint64_t)st.st_size;
	w->before_len = off >= w->old_size ? 0
			: (size_t)(w->old_size - off < len ? w->old_size - off : len);
	w->before = malloc(w->before_len ? w->before_len : 1);
	w->after = malloc(len ? len : 1);
	if (!w->before || !w->after) {
		free(w->before);
		free(w->after);
		return -ENOMEM;
	}
	memcpy(w->after, buf, len);
	n = pread(S.files[f].fd, w->before, w->before_len, (off_t)off);
	if (n < 0 || (size_t)n != w->before_len) {
		free(w->before);
		free(w->after);
		return n < 0 ? -errno : -EIO;
	}
	w->pending = true;
	S.bytes += len + w->before_len;
	S.nwrites++;
	/* An index, not a pointer: the array may move. */
	*ret_token = (void *)(uintptr_t)S.nwrites;
	return 0;
}

void io_fault_write_end(void *token, int res)
{
	size_t i = (size_t)(uintptr_t)token;
	struct fault_write *w;

	if (!i || i > S.nwrites)
		return;
	w = &S.writes[i - 1];
	w->pending = false;
	w->done = res > 0 ? (size_t)res : 0;
}

int io_fault_sync_begin(int fd)
{
	(void)fd;
	if (S.powered_off)
		return -EIO;
	if (take(&S.sync_skip, &S.sync_count))
		return -S.sync_err;
	return 0;
}

void io_fault_sync_end(int fd, int res)
{
	struct stat st;
	size_t i, k = 0;

	if (res < 0 || !S.nwrites || fstat(fd, &st) < 0)
		return;
	/* Everything written to this file before the sync is durable now;
	 * a write still pending (submitted in the same batch, unlinked) may
	 * or may not be, and is kept, which only makes the model harsher. */
	for (i = 0; i < S.nwrites; i++) {
		struct fault_write *w = &S.writes[i];
		const struct fault_file *f = &S.files[w->file];

		if (!w->pending && f->dev == st.st_dev && f->ino == st.st_ino) {
			write_free(w);
			continue;
		}
		if (k != i)
			S.writes[k] = *w;
		k++;
	}
	S.nwrites = k;
}

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: good enough to pick fates, and reproducible. */
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int io_fault_power_loss(enum io_fault_loss mode, uint64_t seed)
{
	uint64_t rng = seed;
	int lost = 0, rc;
	size_t i;

	/* Undo, newest first: back to the synced state. */
	for (i = S.nwrites; i-- > 0;) {
		struct fault_write *w = &S.writes[i];
		int fd = S.files[w->file].fd;
		struct stat st;

		if (!w->done)
			continue;
		rc = pwrite_all(fd, w->before, w->before_len, w->off);
		if (rc < 0)
			return rc;
		if (fstat(fd, &st) < 0)
			return -errno;
		if ((uint64_t)st.st_size > w->old_size && ftruncate(fd, (off_t)w->old_size) < 0)
			return -errno;
	}
	/* Redo, oldest first, as far as each write's fate allows. */
	for (i = 0; i < S.nwrites; i++) {
		struct fault_write *w = &S.writes[i];
		int fd = S.files[w->file].fd;
		unsigned fate;

		if (!w->done)
			continue;
		fate = mode == IO_FAULT_KEEP_ALL   ? 0
		       : mode == IO_FAULT_DROP_ALL ? 1
						   : (unsigned)(rng_next(&rng) % 3);
		if (fate == 0) {
			rc = pwrite_all(fd, w->after, w->done, w->off);
			if (rc < 0)
				return rc;
			continue;
		}
		lost++;
		if (fate == 1)
			continue;
		/* Torn: each sector the write touched made it or not. */
		for (uint64_t s = w->off; s < w->off + w->done;) {
			uint64_t next = (s / SECTOR_BYTES + 1) * SECTOR_BYTES;
			uint64_t end = next < w->off + w->done ? next : w->off + w->done;

			if (rng_next(&rng) & 1) {
				rc = pwrite_all(fd, w->after + (s - w->off), (size_t)(end - s), s);
				if (rc < 0)
					return rc;
			}
			s = end;
		}
	}
	forget_writes();
	S.powered_off = true;
	return lost;
}

#else

/* ISO C wants something in every translation unit. */
typedef int io_fault_disabled;

#endif /* RINGD_IO_FAULT */
