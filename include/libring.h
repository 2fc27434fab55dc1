/* SPDX-License-Identifier: MIT */
/*
 * libring.h - ringlog's client library: the one header to include.
 */
#ifndef LIBRING_H
#define LIBRING_H

#include <libring/version.h>
#include <libring/errors.h>
#include <libring/topic.h>
#include <libring/producer.h>
#include <libring/reader.h>
#include <libring/consumer.h>

#endif /* LIBRING_H */
