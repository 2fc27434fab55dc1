/* SPDX-License-Identifier: MIT */
/*
 * drain.h - one pass of ringd's data path over one topic: stage what the
 * ring has committed, write it, publish `persisted`, sync by policy and
 * publish `durable`, then let the ring reuse the space.
 */
#ifndef RINGD_DRAIN_H
#define RINGD_DRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "topics.h"

/*
 * Do one pass. With @final, sync whatever the policy (shutdown).
 * Returns true if it moved any data (the caller keeps polling), false if
 * there was nothing to do or it is backing off after an I/O error.
 */
bool drain_topic(struct dtopic *t, uint64_t now_ns, bool final);

/* True if the ring holds committed records not yet staged (cheap: one
 * header load), or a sync is due. */
bool drain_pending(const struct dtopic *t, uint64_t now_ns);

/* The earliest time a pass over @t has timed work (an interval sync, an
 * I/O retry); UINT64_MAX if none. */
uint64_t drain_next_deadline(const struct dtopic *t);

#endif /* RINGD_DRAIN_H */
