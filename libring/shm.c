/* SPDX-License-Identifier: MIT */
/*
 * shm.c - create, open and map a topic's shared-memory object.
 *
 * The mapping is [control area][data][data again]: one reservation of
 * PROT_NONE address space, then the object's first control + capacity
 * bytes, then its data area a second time right after. A record that wraps
 * past the end of the ring is therefore contiguous in memory, so producers,
 * readers and ringd never split a record in two.
 *
 * Openers validate the header (readiness, magic, version, signature, sizes)
 * before they map the data area: a ring made by another build, or a
 * truncated object, gives an error, never a crash.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#if RING_HAVE_NUMA
#include <numa.h>
#endif

#define OPEN_WAIT_NS 1000000000u	/* how long an opener waits for a creator */

static int map_twice(int fd, uint64_t capacity, struct ring_topic *t)
{
	size_t total = RING_CONTROL_BYTES + 2 * capacity;
	uint8_t *base, *p;

	base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	p = mmap(base, RING_CONTROL_BYTES + capacity, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	p = mmap(base + RING_CONTROL_BYTES + capacity, capacity, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, RING_CONTROL_BYTES);
	if (p == MAP_FAILED)
		goto fail;
	t->map_base = base;
	t->map_len = total;
	t->ctl = (struct ring_control *)base;
	t->data = base + RING_CONTROL_BYTES;
	return 0;
fail:;
	int err = -errno;

	(void)munmap(base, total);
	return err;
}

static int bind_numa(struct ring_topic *t, uint64_t capacity, int node)
{
#if RING_HAVE_NUMA
	if (numa_available() < 0 || node < 0 || node > numa_max_node())
		return -EOPNOTSUPP;
	/* Before the first touch, so the pages are allocated on @node. */
	numa_tonode_memory(t->map_base, RING_CONTROL_BYTES + capacity, node);
	return 0;
#else
	(void)t;
	(void)capacity;
	(void)node;
	return -EOPNOTSUPP;
#endif
}

int ringi_map_create(const char *shm_name, uint64_t capacity, uint32_t flags, unsigned mode,
		     int numa_node, struct ring_topic *t)
{
	int fd, rc;

	if (flags & RING_TOPIC_ANON)
		fd = memfd_create("ringlog", MFD_CLOEXEC);
	else
		fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* shm_open applies the umask; the topic's mode is what was asked. */
	if (!(flags & RING_TOPIC_ANON) && fchmod(fd, mode) < 0)
		goto fail_errno;
	if (ftruncate(fd, (off_t)(RING_CONTROL_BYTES + capacity)) < 0)
		goto fail_errno;
	rc = map_twice(fd, capacity, t);
	if (rc < 0)
		goto fail;
	if (flags & RING_TOPIC_NUMA) {
		rc = bind_numa(t, capacity, numa_node);
		if (rc < 0) {
			ringi_unmap(t);
			goto fail;
		}
	}
	(void)close(fd);
	return 0;

fail_errno:
	rc = -errno;
fail:
	(void)close(fd);
	if (!(flags & RING_TOPIC_ANON))
		(void)shm_unlink(shm_name);
	return rc;
}

/* Validate a header that has been published (ready == 1). */
static int header_check(const struct ring_shm_header *h, uint64_t object_bytes)
{
	uint64_t cap = h->capacity_bytes;

	if (h->magic != RING_MAGIC || h->layout_version != RING_LAYOUT_VERSION ||
	    h->layout_signature != RING_LAYOUT_SIGNATURE)
		return -EPROTO;
	if (h->control_bytes != RING_CONTROL_BYTES || cap < RING_MIN_CAPACITY_BYTES ||
	    cap > RING_MAX_CAPACITY_BYTES || (cap & (cap - 1)) != 0 ||
	    object_bytes != RING_CONTROL_BYTES + cap ||
	    h->max_record_bytes > cap / 4 - RING_RECORD_HEADER_BYTES ||
	    strnlen(h->name, sizeof(h->name)) == sizeof(h->name))
		return -EBADMSG;
	return 0;
}

/*
 * Wait (bounded) until the creator has sized the object and published the
 * header; then check it. A header whose fixed first fields name another
 * format is refused at once rather than waited for.
 */
static int header_wait(int fd, struct ring_shm_header *copy, uint64_t *ret_size)
{
	uint64_t deadline = ringi_now_ns() + OPEN_WAIT_NS;
	struct ring_control *ctl;
	struct stat st;
	int rc;

	for (;;) {
		if (fstat(fd, &st) < 0)
			return -errno;
		if ((uint64_t)st.st_size >= RING_CONTROL_BYTES)
			break;
		if (ringi_now_ns() > deadline)
			return st.st_size == 0 ? -ETIMEDOUT : -EBADMSG;
		usleep(1000);
	}
	ctl = mmap(NULL, RING_CONTROL_BYTES, PROT_READ, MAP_SHARED, fd, 0);
	if (ctl == MAP_FAILED)
		return -errno;
	for (;;) {
		/* O2 (acquire) pairs with O1 in topic.c: the header is
		 * complete once ready reads 1. */
		if (ring_load_acquire_u32(&ctl->hdr.ready) == 1) {
			*copy = ctl->hdr;
			rc = header_check(copy, (uint64_t)st.st_size);
			break;
		}
		if (ringi_now_ns() > deadline) {
			/* Never published: another format keeps `ready`
			 * elsewhere, or the creator died half-way. */
			rc = (ctl->hdr.magic != 0 && (ctl->hdr.magic != RING_MAGIC ||
						      ctl->hdr.layout_version != RING_LAYOUT_VERSION))
				     ? -EPROTO
				     : -ETIMEDOUT;
			break;
		}
		usleep(1000);
	}
	(void)munmap(ctl, RING_CONTROL_BYTES);
	*ret_size = (uint64_t)st.st_size;
	return rc;
}

int ringi_map_open(const char *shm_name, struct ring_topic *t)
{
	struct ring_shm_header h = { 0 };
	uint64_t size = 0;
	int fd, rc;

	fd = shm_open(shm_name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = header_wait(fd, &h, &size);
	if (rc == 0)
		rc = map_twice(fd, h.capacity_bytes, t);
	(void)close(fd);
	if (rc < 0)
		return rc;
	/* From here on this process trusts only its validated copy of the
	 * sizes: a later change in shared memory cannot move its bounds. */
	t->capacity = h.capacity_bytes;
	t->max_record = h.max_record_bytes;
	t->flags = h.flags;
	memcpy(t->name, h.name, sizeof(t->name) - 1);
	t->name[sizeof(t->name) - 1] = '\0';
	return 0;
}

void ringi_unmap(struct ring_topic *t)
{
	if (t->map_base)
		(void)munmap(t->map_base, t->map_len);
	t->map_base = NULL;
	t->ctl = NULL;
	t->data = NULL;
}
