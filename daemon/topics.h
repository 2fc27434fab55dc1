/* SPDX-License-Identifier: MIT */
/*
 * topics.h - the persistent topics one ringd serves: finding them in the
 * data directory, attaching to (or recreating) their rings, recovering
 * their logs, and letting them go.
 */
#ifndef RINGD_TOPICS_H
#define RINGD_TOPICS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "libring/topic.h"
#include "offsets.h"
#include "seglog.h"

struct dtopic {
	char name[RING_TOPIC_NAME_MAX + 1];
	char dir[PATH_MAX];
	struct ring_topic_config config;
	struct ring_topic *ring;
	struct seglog *log;
	struct offsets *offsets;
	uint64_t last_offsets_ns;
	uint64_t drained;	/* next position to stage: seglog_end() */
	uint64_t persisted;	/* last published `persisted` */
	uint64_t durable;	/* last published `durable` */
	uint64_t last_sync_ns;
	uint64_t sync_hold_until_ns;	/* `always`: no sync before this (drain.c) */
	uint64_t last_maintain_ns;
	int io_error;		/* error of the current I/O episode, 0 when healthy */
	const char *io_what;	/* the step that failed last in it (drain.c) */
	uint64_t retry_at_ns;
	uint64_t backoff_ns;
	bool broken;		/* malformed ring data: draining stopped, logged */
	bool seen;		/* found by the latest directory scan */
};

struct topic_set {
	const char *data_dir;
	int node;		/* serve topics bound to this NUMA node (0: also the unbound) */
	int nodes;		/* NUMA nodes with a worker (1 without NUMA) */
	uint64_t self;		/* this ringd as an owner word */
	struct seglog_options seg_options;
	struct dtopic **topics;
	unsigned count;
	unsigned cap;
	unsigned unclean;	/* topics the final drain could not write or sync */
	/* Topics that failed to attach, retried at most every 5 s. */
	struct {
		char name[RING_TOPIC_NAME_MAX + 1];
		uint64_t at_ns;
	} failed[64];
};

/* Attach to every topic in the data directory not yet served, and drop
 * the ones whose directory is gone. Errors are logged per topic. */
void topics_discover(struct topic_set *set);

/* Re-read every topic.conf (SIGHUP): retention and fsync settings apply
 * at once; ring geometry at the next ring creation. */
void topics_reload(struct topic_set *set);

/* Drain (set by the caller), sync, detach and free every topic. */
void topics_close_all(struct topic_set *set);

#endif /* RINGD_TOPICS_H */
