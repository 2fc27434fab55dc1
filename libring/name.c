/* SPDX-License-Identifier: MIT */
/*
 * name.c - topic name validation and the shared-memory object's name.
 *
 * The shm name is "/ringlog.<16 hex digits>.<topic>", where the digits are
 * a 64-bit FNV-1a hash of the canonical (realpath) data directory: two data
 * directories on one host never share a ring, and two spellings of one
 * directory always do.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ringi_topic_name_check(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, RING_TOPIC_NAME_MAX + 1);
	if (len == 0 || len > RING_TOPIC_NAME_MAX || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

int ringi_shm_prefix(const char *data_dir, char *buf, size_t size)
{
	char canon[PATH_MAX];
	uint64_t h;
	int n;

	if (data_dir) {
		if (!realpath(data_dir, canon))
			return -errno;
		h = fnv1a64(canon);
	} else {
		h = 0;	/* the namespace of ephemeral topics without a directory */
	}
	n = snprintf(buf, size, "ringlog.%016llx.", (unsigned long long)h);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int ringi_shm_name(const char *data_dir, const char *name, char *buf, size_t size)
{
	char prefix[64];
	int rc, n;

	rc = ringi_topic_name_check(name);
	if (rc < 0)
		return rc;
	rc = ringi_shm_prefix(data_dir, prefix, sizeof(prefix));
	if (rc < 0)
		return rc;
	n = snprintf(buf, size, "/%s%s", prefix, name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}
