/* SPDX-License-Identifier: MIT */
/*
 * t_seg.c - see t_seg.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "record.h"
#include "segment_format.h"
#include "segment_reader.h"
#include "t_seg.h"

uint64_t tseg_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

int tseg_tmpdir(const char *parent, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/ringseg-test-XXXXXX", parent) >= len)
		return -ENAMETOOLONG;
	return mkdtemp(buf) ? 0 : -errno;
}

void tseg_rmdir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	/* Bounded: a test directory holds a few hundred files at most. */
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	(void)closedir(d);
	(void)rmdir(path);
}

void tseg_gen_init(struct tseg_gen *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->rng = seed;
	g->ts_ns = UINT64_C(1700000000000000000) + (seed % 1000) * 1000000000u;
	g->max_len = 600;
	g->skip_every = 8;
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

size_t tseg_make(struct tseg_gen *g, uint8_t *buf, size_t cap, uint64_t pos)
{
	size_t off = 0;

	for (;;) {
		uint64_t r = tseg_rand(&g->rng);
		uint64_t p = pos + off;
		uint32_t lap = ring_lap_of(p, TSEG_CAP_SHIFT);
		unsigned slot = (unsigned)(r >> 40) % RING_MAX_PRODUCERS;
		uint8_t *h = buf + off;

		if (g->skip_every && r % g->skip_every == 0) {
			/* An 8-byte skip or a repaired claim of up to 512 bytes. */
			uint32_t span = (r >> 8) & 1 ? 8 : (uint32_t)(8 + ((r >> 16) % 64) * 8);

			if (off + span > cap)
				break;
			put64(h, ring_word_make(RING_STATE_SKIPPED, slot, lap, span));
			for (uint32_t i = 8; i < span; i++)
				h[i] = (uint8_t)(tseg_rand(&g->rng) | 1);
			off += span;
		} else {
			/* Mostly small payloads, now and then a large one. */
			uint32_t len = (r >> 8) % 4 == 0 ? (uint32_t)((r >> 16) % (g->max_len + 1))
							  : (uint32_t)((r >> 16) % 64);
			uint64_t span = ring_record_span(len);

			if (off + span > cap)
				break;
			memset(h, 0, span);
			put64(h, ring_word_make(RING_STATE_COMMITTED, slot, lap, len));
			/* Some records share their predecessor's timestamp. */
			g->ts_ns += (r >> 32) % 10 < 3 ? 0 : (r >> 36) % 1000;
			put64(h + 8, g->ts_ns);
			put32(h + 16, (uint32_t)(r >> 48) | 1);
			put32(h + 20, 0xdeadbeefu);	/* the writer must replace it */
			for (uint32_t i = 0; i < len; i++)
				h[24 + i] = (uint8_t)tseg_rand(&g->rng);
			off += (size_t)span;
		}
	}
	return off;
}

void tseg_expect_fixup(uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off + 8 <= len) {
		uint64_t w;
		uint32_t l;

		memcpy(&w, buf + off, 8);
		l = ring_word_len(w);
		if (ring_word_state(w) == RING_STATE_COMMITTED) {
			uint32_t crc = ringi_crc32c_sw(0, buf + off, 20);

			crc = ringi_crc32c_sw(crc, buf + off + 24, l);
			put32(buf + off + 20, crc);
			off += (size_t)ring_record_span(l);
		} else if (ring_word_state(w) == RING_STATE_SKIPPED && l >= 8) {
			/* On disk a skip is its word and zeros (the ring's
			 * bytes under it are garbage). */
			if (off + l <= len) {
				put64(buf + off, ring_seg_skip_word(l));
				memset(buf + off + 8, 0, l - 8);
			}
			off += l;
		} else {
			break;
		}
	}
}

int tseg_model_init(struct tseg_model *m, uint64_t start, size_t cap)
{
	m->bytes = malloc(cap);
	m->start = m->end = start;
	m->cap = cap;
	return m->bytes ? 0 : -ENOMEM;
}

void tseg_model_free(struct tseg_model *m)
{
	free(m->bytes);
	m->bytes = NULL;
}

void tseg_model_add(struct tseg_model *m, const uint8_t *ring_bytes, size_t len)
{
	uint8_t *dst = m->bytes + (m->end - m->start);

	RING_VERIFY(m->end - m->start + len <= m->cap);
	memcpy(dst, ring_bytes, len);
	tseg_expect_fixup(dst, len);
	m->end += len;
}

int tseg_read_log(const char *dir, uint64_t max_record, uint8_t **ret_bytes,
		  uint64_t *ret_start, uint64_t *ret_end, char *why, size_t why_len)
{
	uint64_t *bases = NULL, expect_pos = 0, cap = 0;
	uint8_t *out = NULL;
	size_t count = 0;
	int rc;

	why[0] = 0;
	rc = ringi_seg_list(dir, &bases, &count);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < count; i++) {
		struct ringi_segment seg;
		struct ringi_seg_iter it;
		struct ringi_seg_rec rec;
		const char *reason = NULL;
		uint64_t limit = i + 1 < count ? bases[i + 1] : UINT64_MAX, len;
		int n;

		if (i && bases[i] != expect_pos) {
			snprintf(why, why_len, "segment %zu starts at %llu, previous ends at %llu",
				 i, (unsigned long long)bases[i], (unsigned long long)expect_pos);
			rc = -EBADMSG;
			break;
		}
		rc = ringi_seg_open(dir, bases[i], &seg, &reason);
		if (rc < 0) {
			snprintf(why, why_len, "segment %zu: %s", i, reason ? reason : "open");
			break;
		}
		rc = ringi_seg_iter_init(&it, &seg, bases[i], limit, max_record);
		if (rc < 0) {
			ringi_seg_close(&seg);
			break;
		}
		while ((n = ringi_seg_iter_next(&it, &rec)) == 1)
			;
		expect_pos = it.stop_pos;
		if (n < 0) {
			snprintf(why, why_len, "segment %zu: %s at %llu", i,
				 it.stop_reason ? it.stop_reason : "error",
				 (unsigned long long)it.stop_pos);
			rc = n;
		}
		ringi_seg_iter_free(&it);
		len = expect_pos - bases[i];
		if (rc == 0) {
			uint8_t *grown = realloc(out, (size_t)(cap + len + 1));

			if (!grown) {
				rc = -ENOMEM;
			} else {
				out = grown;
				if (pread(seg.fd, out + cap, (size_t)len, RING_SEG_HEADER_BYTES) !=
				    (ssize_t)len)
					rc = -EIO;
				cap += len;
			}
		}
		ringi_seg_close(&seg);
		if (rc < 0)
			break;
	}
	if (rc == 0) {
		*ret_bytes = out;
		*ret_start = count ? bases[0] : 0;
		*ret_end = count ? expect_pos : 0;
		out = NULL;
	}
	free(out);
	free(bases);
	return rc;
}

int64_t tseg_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -errno : (int64_t)st.st_size;
}

unsigned tseg_count_segments(const char *dir)
{
	uint64_t *bases = NULL;
	size_t n = 0;

	if (ringi_seg_list(dir, &bases, &n) < 0)
		return 0;
	free(bases);
	return (unsigned)n;
}

void tseg_path(char *buf, size_t len, const char *dir, uint64_t base, const char *suffix)
{
	RING_VERIFY(ringi_seg_path(buf, len, dir, base, suffix) == 0);
}
