/* SPDX-License-Identifier: MIT */
/*
 * crc32c.c - CRC32C (Castagnoli), the checksum of every persisted record.
 *
 * The SSE4.2 crc32 instruction computes exactly this polynomial at about
 * 8 bytes per cycle; a byte-wise table is the fallback for other CPUs and
 * the reference the tests compare the hardware path with. The convention
 * is the usual one (init and final xor with ~0), so
 * ringi_crc32c(0, "123456789", 9) == 0xe3069283.
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY_REFLECTED 0x82f63b78u

static uint32_t crc_table[256];

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t ringi_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const uint8_t *p = buf;

	(void)pthread_once(&once, table_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *buf,
							      size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);	/* unaligned-safe; compiles to one load */
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

uint32_t ringi_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_hw(crc, buf, len);
#endif
	return ringi_crc32c_sw(crc, buf, len);
}
