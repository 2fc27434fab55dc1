/* SPDX-License-Identifier: MIT */
/*
 * output.h - how ringctl prints: a small streaming JSON writer that always
 * produces valid JSON (strings escaped, bad UTF-8 replaced, non-finite
 * numbers as null), and the text helpers (sizes, times, escaped payloads,
 * hexdumps) that the human-readable formats share.
 */
#ifndef RINGCTL_OUTPUT_H
#define RINGCTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ring_record;

/* Deeper nesting than ringctl ever prints is a programming error. */
#define JSON_MAX_DEPTH 16

/*
 * A JSON value being written to @f, compactly (no spaces, no newlines
 * inside). Commas and colons are placed by the writer: the caller only
 * says begin/end, key and value, in order.
 */
struct json {
	FILE *f;
	unsigned depth;
	bool first[JSON_MAX_DEPTH];	/* nothing written yet at this level */
	bool is_object[JSON_MAX_DEPTH];
	bool after_key;			/* a key was written; its value is next */
};

void json_init(struct json *j, FILE *f);
void json_begin_object(struct json *j);
void json_end_object(struct json *j);
void json_begin_array(struct json *j);
void json_end_array(struct json *j);
/* Inside an object, before each value. */
void json_key(struct json *j, const char *key);

void json_str(struct json *j, const char *s);
/* @len bytes of UTF-8; invalid sequences are written as U+FFFD. */
void json_strn(struct json *j, const void *s, size_t len);
/* @len bytes as a base64 string (RFC 4648, with padding). */
void json_base64(struct json *j, const void *data, size_t len);
void json_u64(struct json *j, uint64_t v);
void json_i64(struct json *j, int64_t v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);

/* key + value in one call. */
void json_kv_str(struct json *j, const char *key, const char *s);
void json_kv_u64(struct json *j, const char *key, uint64_t v);
void json_kv_i64(struct json *j, const char *key, int64_t v);
void json_kv_double(struct json *j, const char *key, double v);
void json_kv_bool(struct json *j, const char *key, bool v);
void json_kv_null(struct json *j, const char *key);

/* After the top-level value: a newline (so the output is JSON lines). */
void json_finish(struct json *j);

/* The key "payload" with @len bytes as a string if payload_is_text(),
 * otherwise "payload_b64" with them in base64. */
void json_kv_payload(struct json *j, const void *payload, size_t len);

/* ---- text ---- */

/* Length of the valid UTF-8 sequence at @s (1..4), or 0 if it is not
 * one (overlong, surrogate, beyond U+10FFFF, truncated); the code point
 * in *ret_cp. */
size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *ret_cp);

/* True if @p is valid UTF-8 without control characters other than tab,
 * newline and carriage return: what `dump --format json` prints as a
 * string rather than base64. */
bool payload_is_text(const void *p, size_t len);

/* Printable ASCII and printable UTF-8 as they are; backslash, tab, newline
 * and carriage return as \\ \t \n \r; every other byte as \xHH. The
 * result never contains a newline, so one record stays one line. */
void print_escaped(FILE *f, const void *p, size_t len);

/* Sixteen bytes a line: offset, hex, and the printable ASCII beside. */
void print_hexdump(FILE *f, const void *p, size_t len, const char *indent);

/* "512 B", "64.0 KiB", "4.0 MiB": powers of 1024. */
const char *fmt_bytes(char *buf, size_t size, uint64_t n);
/* "2024-05-01T12:34:56.123456789Z" (UTC) for CLOCK_REALTIME ns. */
const char *fmt_time(char *buf, size_t size, uint64_t realtime_ns);
/* "850 ns", "12.3 us", "1.500 ms", "2.250 s", "3 min 20 s", "2 h 5 min". */
const char *fmt_duration(char *buf, size_t size, uint64_t ns);

/* ---- records, as dump and export write them ---- */

/* One JSON object and a newline: position, timestamp_ns, type, len and the
 * payload (json_kv_payload()). */
void print_record_json(FILE *f, const struct ring_record *rec);
/* A u32 little-endian length, then the payload: what `ringctl produce
 * --binary` reads back. */
void print_record_lenprefix(FILE *f, const struct ring_record *rec);

/* ---- progress on stderr (only when it is a terminal) ---- */

/* "\r[#####     ] LABEL": a 30-column bar filled to @frac (0..1), drawn
 * over the line's previous contents. */
void print_progress(double frac, const char *label);
/* Erase the bar's line, for what is printed next. */
void clear_progress(void);

#endif /* RINGCTL_OUTPUT_H */
