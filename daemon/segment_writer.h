/* SPDX-License-Identifier: MIT */
/*
 * segment_writer.h - what segment_writer.c offers beyond seglog.h: facts
 * about an open log that the caller may want to log or show in stat.
 */
#ifndef RINGD_SEGMENT_WRITER_H
#define RINGD_SEGMENT_WRITER_H

#include <stdbool.h>

#include "seglog.h"

/* Default size of each of the two staging buffers. */
#define SEGLOG_DEFAULT_STAGING_BYTES (4u << 20)

/*
 * True if the log writes with O_DIRECT. False if it was asked for buffered
 * writes, or asked for O_DIRECT on a file system that refuses it (tmpfs:
 * open() fails with EINVAL) and fell back to buffered writes, which the
 * caller may want to log once.
 */
bool seglog_direct_io(const struct seglog *log);

/* The staging buffers' size (each), after raising it to hold the largest
 * record the topic allows. */
size_t seglog_staging_bytes(const struct seglog *log);

#endif /* RINGD_SEGMENT_WRITER_H */
