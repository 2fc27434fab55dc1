/* SPDX-License-Identifier: MIT */
/*
 * topic_config.h - topic settings: defaults, validation, settings file.
 */
#ifndef RING_TOPIC_CONFIG_H
#define RING_TOPIC_CONFIG_H

#include "libring/topic.h"

/* Apply defaults to @in (NULL = all defaults) and validate: -EINVAL. */
int ringi_config_resolve(const struct ring_topic_config *in, struct ring_topic_config *ret);
/* Write DIR/topic.conf atomically (temp file, fsync, rename). */
int ringi_config_write(const char *dir, const struct ring_topic_config *config);
/* Read and validate DIR/topic.conf: -ENOENT, -EBADMSG. */
int ringi_config_read(const char *dir, struct ring_topic_config *ret);

#endif /* RING_TOPIC_CONFIG_H */
