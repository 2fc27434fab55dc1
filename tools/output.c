/* SPDX-License-Identifier: MIT */
/*
 * output.c - the JSON writer and the text helpers of output.h.
 *
 * Everything here writes through stdio and reports nothing: the commands
 * check ferror()/fflush() once at the end, where they can name what failed.
 */
#include <assert.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "libring.h"
#include "output.h"

/* ---- JSON ---- */

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

/* Before any value: the comma between array elements, or nothing after a
 * key (json_key() wrote the comma and the colon). */
static void json_value_prefix(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	/* A bare value inside an object would be invalid JSON. */
	assert(j->depth == 0 || !j->is_object[j->depth]);
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
}

static void json_begin(struct json *j, char open, bool is_object)
{
	json_value_prefix(j);
	assert(j->depth + 1 < JSON_MAX_DEPTH);
	j->depth++;
	j->first[j->depth] = true;
	j->is_object[j->depth] = is_object;
	fputc(open, j->f);
}

static void json_end(struct json *j, char close, bool is_object)
{
	assert(j->depth > 0 && j->is_object[j->depth] == is_object);
	assert(!j->after_key);
	j->depth--;
	fputc(close, j->f);
}

void json_begin_object(struct json *j)
{
	json_begin(j, '{', true);
}

void json_end_object(struct json *j)
{
	json_end(j, '}', true);
}

void json_begin_array(struct json *j)
{
	json_begin(j, '[', false);
}

void json_end_array(struct json *j)
{
	json_end(j, ']', false);
}

static void json_write_string(FILE *f, const uint8_t *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			fputc(c, f);
			i++;
			continue;
		}
		switch (c) {
		case '"':
			fputs("\\\"", f);
			i++;
			continue;
		case '\\':
			fputs("\\\\", f);
			i++;
			continue;
		case '\n':
			fputs("\\n", f);
			i++;
			continue;
		case '\r':
			fputs("\\r", f);
			i++;
			continue;
		case '\t':
			fputs("\\t", f);
			i++;
			continue;
		default:
			break;
		}
		if (c < 0x20) {
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		n = utf8_decode(s + i, len - i, &cp);
		if (n == 0) {
			/* Not UTF-8: JSON cannot carry the byte itself. */
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		fwrite(s + i, 1, n, f);
		i += n;
	}
	fputc('"', f);
}

void json_key(struct json *j, const char *key)
{
	assert(j->depth > 0 && j->is_object[j->depth] && !j->after_key);
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	json_write_string(j->f, (const uint8_t *)key, strlen(key));
	fputc(':', j->f);
	j->after_key = true;
}

void json_strn(struct json *j, const void *s, size_t len)
{
	json_value_prefix(j);
	json_write_string(j->f, s, len);
}

void json_str(struct json *j, const char *s)
{
	json_strn(j, s, strlen(s));
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void json_base64(struct json *j, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	json_value_prefix(j);
	fputc('"', j->f);
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		fputc(b64_alphabet[v >> 18], j->f);
		fputc(b64_alphabet[(v >> 12) & 63], j->f);
		fputc(b64_alphabet[(v >> 6) & 63], j->f);
		fputc(b64_alphabet[v & 63], j->f);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		fputc(b64_alphabet[v >> 18], j->f);
		fputc(b64_alphabet[(v >> 12) & 63], j->f);
		fputs("==", j->f);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		fputc(b64_alphabet[v >> 18], j->f);
		fputc(b64_alphabet[(v >> 12) & 63], j->f);
		fputc(b64_alphabet[(v >> 6) & 63], j->f);
		fputc('=', j->f);
	}
	fputc('"', j->f);
}

void json_u64(struct json *j, uint64_t v)
{
	json_value_prefix(j);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void json_i64(struct json *j, int64_t v)
{
	json_value_prefix(j);
	fprintf(j->f, "%lld", (long long)v);
}

void json_double(struct json *j, double v)
{
	json_value_prefix(j);
	/* JSON has no NaN or infinity. */
	if (!isfinite(v))
		fputs("null", j->f);
	else
		fprintf(j->f, "%.17g", v);
}

void json_bool(struct json *j, bool v)
{
	json_value_prefix(j);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j)
{
	json_value_prefix(j);
	fputs("null", j->f);
}

void json_kv_str(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_str(j, s);
}

void json_kv_u64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_u64(j, v);
}

void json_kv_i64(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	json_i64(j, v);
}

void json_kv_double(struct json *j, const char *key, double v)
{
	json_key(j, key);
	json_double(j, v);
}

void json_kv_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	json_bool(j, v);
}

void json_kv_null(struct json *j, const char *key)
{
	json_key(j, key);
	json_null(j);
}

void json_finish(struct json *j)
{
	assert(j->depth == 0 && !j->after_key);
	fputc('\n', j->f);
	j->first[0] = true;
}

/* ---- text ---- */

size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *ret_cp)
{
	uint32_t cp, min;
	size_t len;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;	/* a continuation byte or 0xf8..0xff */
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and code points past Unicode's
	 * end are not UTF-8 (RFC 3629). */
	if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	*ret_cp = cp;
	return len;
}

/* C0 controls, DEL and C1 controls. */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

bool payload_is_text(const void *p, size_t len)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);

		if (n == 0)
			return false;
		if (is_control(cp) && cp != '\t' && cp != '\n' && cp != '\r')
			return false;
		i += n;
	}
	return true;
}

void print_escaped(FILE *f, const void *p, size_t len)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);

		if (n == 0 || is_control(cp) || cp == '\\') {
			switch (s[i]) {
			case '\\':
				fputs("\\\\", f);
				break;
			case '\t':
				fputs("\\t", f);
				break;
			case '\n':
				fputs("\\n", f);
				break;
			case '\r':
				fputs("\\r", f);
				break;
			default:
				fprintf(f, "\\x%02x", s[i]);
				break;
			}
			/* One byte at a time: a C1 control's second byte is
			 * escaped on the next turn too, so nothing of it is
			 * printed raw. */
			i++;
			continue;
		}
		fwrite(s + i, 1, n, f);
		i += n;
	}
}

void print_hexdump(FILE *f, const void *p, size_t len, const char *indent)
{
	const uint8_t *s = p;

	for (size_t off = 0; off < len; off += 16) {
		size_t n = len - off < 16 ? len - off : 16;

		fprintf(f, "%s%08zx  ", indent, off);
		for (size_t i = 0; i < 16; i++) {
			if (i < n)
				fprintf(f, "%02x ", s[off + i]);
			else
				fputs("   ", f);
			if (i == 7)
				fputc(' ', f);
		}
		fputs(" |", f);
		for (size_t i = 0; i < n; i++) {
			uint8_t c = s[off + i];

			fputc(c >= 0x20 && c < 0x7f ? c : '.', f);
		}
		fputs("|\n", f);
	}
}

const char *fmt_bytes(char *buf, size_t size, uint64_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	unsigned u = 0;

	if (n < 1024) {
		snprintf(buf, size, "%llu B", (unsigned long long)n);
		return buf;
	}
	v /= 1024.0;
	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

const char *fmt_time(char *buf, size_t size, uint64_t realtime_ns)
{
	time_t secs = (time_t)(realtime_ns / 1000000000u);
	struct tm tm;
	char date[32];

	if (!gmtime_r(&secs, &tm) || !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, size, "@%llu", (unsigned long long)realtime_ns);
		return buf;
	}
	snprintf(buf, size, "%s.%09lluZ", date, (unsigned long long)(realtime_ns % 1000000000u));
	return buf;
}

const char *fmt_duration(char *buf, size_t size, uint64_t ns)
{
	uint64_t s = ns / 1000000000u;

	if (ns < 1000u)
		snprintf(buf, size, "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000u)
		snprintf(buf, size, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000u)
		snprintf(buf, size, "%.3f ms", (double)ns / 1e6);
	else if (s < 60)
		snprintf(buf, size, "%.3f s", (double)ns / 1e9);
	else if (s < 3600)
		snprintf(buf, size, "%llu min %llu s", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%llu h %llu min", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, size, "%llu d %llu h", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	return buf;
}

/* ---- records ---- */

void json_kv_payload(struct json *j, const void *payload, size_t len)
{
	if (payload_is_text(payload, len)) {
		json_key(j, "payload");
		json_strn(j, payload, len);
	} else {
		json_key(j, "payload_b64");
		json_base64(j, payload, len);
	}
}

void print_record_json(FILE *f, const struct ring_record *rec)
{
	struct json j;

	json_init(&j, f);
	json_begin_object(&j);
	json_kv_u64(&j, "position", rec->position);
	json_kv_u64(&j, "timestamp_ns", rec->timestamp_ns);
	json_kv_u64(&j, "type", rec->type);
	json_kv_u64(&j, "len", rec->len);
	json_kv_payload(&j, rec->payload, rec->len);
	json_end_object(&j);
	json_finish(&j);
}

void print_record_lenprefix(FILE *f, const struct ring_record *rec)
{
	uint8_t le[4] = { (uint8_t)rec->len, (uint8_t)(rec->len >> 8), (uint8_t)(rec->len >> 16),
			  (uint8_t)(rec->len >> 24) };

	fwrite(le, 1, sizeof(le), f);
	fwrite(rec->payload, 1, rec->len, f);
}

/* ---- progress ---- */

void print_progress(double frac, const char *label)
{
	unsigned width = 30, fill = frac > 0 ? (unsigned)(frac * width) : 0;

	if (fill > width)
		fill = width;
	fprintf(stderr, "\r[%.*s%*s] %s", (int)fill, "##############################",
		(int)(width - fill), "", label);
	fflush(stderr);
}

void clear_progress(void)
{
	fprintf(stderr, "\r\033[K");
}
