/* SPDX-License-Identifier: MIT */
/*
 * version.h - the library's version and the export macro every public
 * header uses.
 */
#ifndef LIBRING_VERSION_H
#define LIBRING_VERSION_H

#define RING_VERSION_MAJOR 0
#define RING_VERSION_MINOR 1
#define RING_VERSION_PATCH 0

/* Symbols marked RING_API are exported; everything else is hidden by
 * -fvisibility=hidden and the version script. */
#ifndef RING_API
#define RING_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The version of the libring that is running, as
 * (major << 16) | (minor << 8) | patch. Compare with the RING_VERSION_*
 * macros to detect a header/library mismatch.
 *
 * Concurrency: thread-safe.
 *
 * @return the encoded version; never fails.
 */
RING_API unsigned ring_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LIBRING_VERSION_H */
