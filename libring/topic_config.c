/* SPDX-License-Identifier: MIT */
/*
 * topic_config.c - a topic's settings: defaults, validation, and the
 * settings file DATA_DIR/<topic>/topic.conf that ringd and ringctl read.
 *
 * The file is "key=value" lines, written to a temporary file, fsynced and
 * renamed into place, so a crash leaves the old file or the new one, never
 * half of one.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "topic_config.h"

#define KNOWN_FLAGS (RING_TOPIC_EPHEMERAL | RING_TOPIC_ANON | RING_TOPIC_NUMA)

int ringi_config_resolve(const struct ring_topic_config *in, struct ring_topic_config *ret)
{
	struct ring_topic_config c = { 0 };
	uint64_t cap;

	if (in)
		c = *in;
	if (c.flags & ~(uint32_t)KNOWN_FLAGS || c.reserved0 != 0 ||
	    c.fsync_policy > RING_FSYNC_NEVER)
		return -EINVAL;
	if (c.flags & RING_TOPIC_ANON)
		c.flags |= RING_TOPIC_EPHEMERAL;
	if (!c.capacity_bytes)
		c.capacity_bytes = RING_DEFAULT_CAPACITY_BYTES;
	cap = c.capacity_bytes;
	if (cap < RING_MIN_CAPACITY_BYTES || cap > RING_MAX_CAPACITY_BYTES || (cap & (cap - 1)))
		return -EINVAL;
	if ((uint64_t)sysconf(_SC_PAGESIZE) > cap)
		return -EINVAL;
	if (!c.max_record_bytes)
		c.max_record_bytes = (uint32_t)(cap / 4 - RING_RECORD_HEADER_BYTES);
	if (c.max_record_bytes > cap / 4 - RING_RECORD_HEADER_BYTES)
		return -EINVAL;
	if (!c.claim_timeout_ns)
		c.claim_timeout_ns = RING_DEFAULT_CLAIM_TIMEOUT_NS;
	if (!c.file_mode)
		c.file_mode = RING_DEFAULT_FILE_MODE;
	if (c.file_mode & ~0777u)
		return -EINVAL;
	if (!(c.flags & RING_TOPIC_NUMA))
		c.numa_node = -1;
	else if (c.numa_node < 0)
		return -EINVAL;
	if (!c.segment_bytes)
		c.segment_bytes = RING_DEFAULT_SEGMENT_BYTES;
	if (c.segment_bytes < 4096)
		return -EINVAL;
	if (!c.fsync_interval_ns)
		c.fsync_interval_ns = RING_DEFAULT_FSYNC_INTERVAL_NS;
	*ret = c;
	return 0;
}

static const char *const fsync_names[] = { "interval", "always", "never" };

int ringi_config_write(const char *dir, const struct ring_topic_config *c)
{
	char tmp[4096], path[4096], buf[1024];
	int fd, n, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/topic.conf", dir) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.topic.conf.tmp", dir) >= sizeof(tmp))
		return -ENAMETOOLONG;
	n = snprintf(buf, sizeof(buf),
		     "# ringlog topic settings; read by ringd at start and on SIGHUP\n"
		     "capacity_bytes=%llu\nmax_record_bytes=%u\nclaim_timeout_ns=%llu\n"
		     "numa_node=%d\nfile_mode=%04o\nsegment_bytes=%llu\nretention_ns=%llu\n"
		     "retention_bytes=%llu\nfsync_policy=%s\nfsync_interval_ns=%llu\n",
		     (unsigned long long)c->capacity_bytes, c->max_record_bytes,
		     (unsigned long long)c->claim_timeout_ns, c->numa_node, c->file_mode,
		     (unsigned long long)c->segment_bytes, (unsigned long long)c->retention_ns,
		     (unsigned long long)c->retention_bytes, fsync_names[c->fsync_policy],
		     (unsigned long long)c->fsync_interval_ns);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, c->file_mode);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		(void)unlink(tmp);
	return rc;
}

static int parse_u64(const char *v, uint64_t *ret)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || end == v || *end != '\0')
		return -EBADMSG;
	*ret = x;
	return 0;
}

int ringi_config_read(const char *dir, struct ring_topic_config *ret)
{
	struct ring_topic_config c = { 0 };
	char path[4096], line[512];
	FILE *f;
	int rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/topic.conf", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *eq, *key = line, *val;
		uint64_t v = 0;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			rc = -EBADMSG;
			break;
		}
		*eq = '\0';
		val = eq + 1;
		if (!strcmp(key, "fsync_policy")) {
			rc = -EBADMSG;
			for (unsigned i = 0; i < 3; i++)
				if (!strcmp(val, fsync_names[i])) {
					c.fsync_policy = i;
					rc = 0;
				}
			continue;
		}
		if (!strcmp(key, "numa_node")) {
			c.numa_node = atoi(val);
			if (c.numa_node >= 0)
				c.flags |= RING_TOPIC_NUMA;
			continue;
		}
		rc = parse_u64(val, &v);
		if (rc < 0)
			break;
		if (!strcmp(key, "capacity_bytes"))
			c.capacity_bytes = v;
		else if (!strcmp(key, "max_record_bytes"))
			c.max_record_bytes = (uint32_t)v;
		else if (!strcmp(key, "claim_timeout_ns"))
			c.claim_timeout_ns = v;
		else if (!strcmp(key, "file_mode"))
			c.file_mode = (uint32_t)v;
		else if (!strcmp(key, "segment_bytes"))
			c.segment_bytes = v;
		else if (!strcmp(key, "retention_ns"))
			c.retention_ns = v;
		else if (!strcmp(key, "retention_bytes"))
			c.retention_bytes = v;
		else if (!strcmp(key, "fsync_interval_ns"))
			c.fsync_interval_ns = v;
		/* Unknown keys are kept for newer versions: ignored. */
	}
	(void)fclose(f);
	if (rc < 0)
		return rc;
	return ringi_config_resolve(&c, ret) < 0 ? -EBADMSG : ringi_config_resolve(&c, ret);
}
