/* SPDX-License-Identifier: MIT */
/*
 * daemon_side.h - what ringd does to a topic's shared memory, and nobody
 * else: own the daemon line, beat, publish `persisted` and `durable`, and
 * find how far the ring holds committed records (durable.c).
 */
#ifndef RING_DAEMON_SIDE_H
#define RING_DAEMON_SIDE_H

#include <stdint.h>

#include "internal.h"

/* Become the topic's ringd (@me from ringi_owner_self_process()):
 * 0, or -EBUSY if another live ringd holds it. */
int ringi_daemon_attach(struct ring_topic *t, uint64_t me);
void ringi_daemon_detach(struct ring_topic *t, uint64_t me);
void ringi_daemon_beat(struct ring_topic *t);

/* Bytes below @pos are in segment files (D1) / fsynced (D2). Monotonic.
 * ringi_publish_durable() wakes the durable waiters and returns how many
 * there were. */
void ringi_publish_persisted(struct ring_topic *t, uint64_t pos);
unsigned ringi_publish_durable(struct ring_topic *t, uint64_t pos);

/*
 * The end of the committed records and padding from @from, looking at most
 * @max_bytes ahead (never splitting a record). *ret_rc is -EBADMSG if a
 * malformed header stopped the scan, else 0.
 */
uint64_t ringi_committed_end(const struct ring_topic *t, uint64_t from, uint64_t max_bytes,
			     int *ret_rc);

#endif /* RING_DAEMON_SIDE_H */
