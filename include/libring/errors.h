/* SPDX-License-Identifier: MIT */
/*
 * errors.h - how libring reports failure.
 *
 * Every function that can fail returns an int: >= 0 on success (0, or a
 * count), a negative errno value on failure, as liburing does. There is no
 * global error state: errno is never the channel, and libring never prints.
 *
 * The codes and what they mean in libring:
 *
 *   -EAGAIN     would block: the ring is full (back-pressure) or no record is
 *               ready, and the caller asked not to wait
 *   -ETIMEDOUT  a bounded wait expired; or a claim was committed after the
 *               claim timeout and had already been turned into padding
 *   -EMSGSIZE   a record larger than the topic's max_record_bytes
 *   -EINVAL     a bad argument: NULL, zero, an unknown flag, a bad topic name
 *   -ENOENT     no such topic
 *   -EEXIST     the topic already exists
 *   -EPROTO     the shared memory has another magic, layout version or
 *               layout signature: another build or another format
 *   -EBADMSG    a corrupt record in shared memory or on disk
 *   -EOVERFLOW  a reader was overtaken by producers: the records it wanted
 *               were reused; it is moved to the oldest record still held
 *   -ENOSPC     a fixed table in shared memory is full (producers, readers)
 *   -EBUSY      the resource is held by a live owner
 *   other       passed through from the OS (shm_open, mmap, ...)
 */
#ifndef LIBRING_ERRORS_H
#define LIBRING_ERRORS_H

#include <libring/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Describe an error code returned by a libring function.
 *
 * @param err  a negative errno value as returned by libring (a positive
 *             value is accepted too and treated as its negation)
 *
 * Concurrency: thread-safe and async-signal-safe; the returned string is
 * static and must not be freed or modified.
 *
 * @return a short English sentence fragment, never NULL. Codes with a
 *         libring-specific meaning (-EPROTO, -EOVERFLOW, ...) get that
 *         meaning; others get a generic description.
 */
RING_API const char *ring_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* LIBRING_ERRORS_H */
