/* SPDX-License-Identifier: MIT */
/*
 * error.c - ring_strerror(), ring_version(), the assertion handler and the
 * cache-line allocator.
 */
#include <string.h>

#include "internal.h"

const char *ring_strerror(int err)
{
	if (err > 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case -EAGAIN:
		return "would block: ring full or no record ready";
	case -ETIMEDOUT:
		return "timed out (or the claim was repaired after the claim timeout)";
	case -EMSGSIZE:
		return "record larger than the topic's max_record_bytes";
	case -EINVAL:
		return "invalid argument";
	case -ENOENT:
		return "no such topic";
	case -EEXIST:
		return "topic already exists";
	case -EPROTO:
		return "incompatible shared memory: wrong magic, layout version or signature";
	case -EBADMSG:
		return "corrupt record or header";
	case -EOVERFLOW:
		return "reader overtaken by producers: records were reused before it read them";
	case -ENOSPC:
		return "table full (producers, readers or groups), or no space left on device";
	case -EBUSY:
		return "held by another live process";
	case -ERANGE:
		return "position out of range";
	case -EOPNOTSUPP:
		return "not supported by this build or host";
	case -ENOMEM:
		return "out of memory";
	case -EACCES:
		return "permission denied";
	case -ENOTDIR:
		return "not a directory";
	case -ENAMETOOLONG:
		return "name too long";
	case -EIO:
		return "input/output error";
	default:
		/* strerror() may use a shared buffer for unknown values; the
		 * known ones are static strings in glibc. */
		return (err < 0 && err > -4096) ? strerror(-err) : "unknown error";
	}
}

unsigned ring_version(void)
{
	return (RING_VERSION_MAJOR << 16) | (RING_VERSION_MINOR << 8) | RING_VERSION_PATCH;
}

void *ringi_alloc_lines(size_t size)
{
	size_t rounded = (size + RING_CACHELINE - 1) & ~(size_t)(RING_CACHELINE - 1);
	void *p = aligned_alloc(RING_CACHELINE, rounded);

	if (p)
		memset(p, 0, rounded);
	return p;
}

void ringi_assert_fail(const char *expr, const char *file, int line, const char *func)
{
	fprintf(stderr, "%s:%d: %s(): assertion '%s' failed\n", file, line, func, expr);
	abort();
}
