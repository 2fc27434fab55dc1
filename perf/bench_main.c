/* SPDX-License-Identifier: MIT */
/*
 * bench_main.c - ring-bench: command line and dispatch.
 *
 *   ring-bench floor|latency|throughput|disk-floor|persist|durable|groups|selftest
 *              [options]
 *
 * Every mode measures the machine's floor in the same run and prints its
 * figures as ratios to it; --json adds one JSON object on the last line of
 * stdout. Exit status: 0 on success, 1 on any error (said on stderr), 2 on
 * a bad command line.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libring.h>

#include "ring_config.h"
#include "bench_util.h"

static void usage(FILE *f)
{
	fputs("usage: ring-bench floor|latency|throughput|disk-floor|persist|durable|groups|\n"
	      "                  selftest [options]\n"
	      "\n"
	      "  floor       cache-line ping-pong between two pinned processes (one-way =\n"
	      "              half the round trip) and memcpy bandwidth\n"
	      "  latency     one-way latency producer -> reader process, paced, pinned,\n"
	      "              busy-polling reader; with the floor of the same run\n"
	      "  throughput  P producer processes -> R gating reader processes, lossless\n"
	      "  disk-floor  sequential write bandwidth (io_uring, O_DIRECT and buffered)\n"
	      "              and fdatasync latency in --data-dir\n"
	      "  persist     producers -> a ringd started here, persisting into --data-dir;\n"
	      "              how far persisted and durable trail; with the disk floor\n"
	      "  durable     P producers each publish and wait until durable (group commit);\n"
	      "              with the fdatasync latency and a 1-producer run beside P > 1\n"
	      "  groups      one producer fills the ring, then a consumer group drains it\n"
	      "              (--mode exclusive|shared, --members, --ack-batch); a plain\n"
	      "              reader drains the same records for comparison\n"
	      "  selftest    check the histogram and exit\n"
	      "\n"
	      "options:\n"
	      "  --size N          payload bytes (default 64; K/M suffixes)\n"
	      "  --producers P     producer processes (throughput; default 1)\n"
	      "  --readers R       reader processes (throughput; default 1)\n"
	      "  --batch B         records per publish: 1 = publish, >1 = publish_batch\n"
	      "  --seconds S       measured time (default 2; warm-up comes on top)\n"
	      "  --capacity BYTES  ring data area (power of two; default libring's)\n"
	      "  --gating          latency: gating reader (zero copy) instead of ordinary\n"
	      "  --idle-pause N    throughput: readers pause N times after an empty poll\n"
	      "                    (default 1024; 0: pure busy polling, see docs)\n"
	      "  --data-dir DIR    disk-floor, persist, durable: an existing directory on the\n"
	      "                    disk to measure (files go to a fresh subdirectory)\n"
	      "  --fsync POLICY    persist, durable: always, interval or never (defaults:\n"
	      "                    persist interval, durable always)\n"
	      "  --ringd PATH      the ringd executable (default: $RINGD, else\n"
	      "                    ../daemon/ringd beside ring-bench)\n"
	      "  --mode M          groups: exclusive (default) or shared\n"
	      "  --members M       groups: members of a shared group (default 1)\n"
	      "  --ack-batch B     groups: ack (shared) or commit (exclusive) every B records\n"
	      "                    (default 1)\n"
	      "  --clock C         tsc or monotonic (default tsc where the kernel trusts it)\n"
	      "  --json            one JSON object on the last line of stdout\n",
	      f);
}

/* Parse an unsigned size with an optional K, M or G (powers of 1024). */
static int parse_size(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end != '\0' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	uint64_t v;

	*o = (struct bench_opts){
		.size = 64,
		.producers = 1,
		.readers = 1,
		.batch = 1,
		.seconds = 2.0,
		.idle_pause = BENCH_DEFAULT_IDLE_PAUSE,
		.fsync_policy = -1,
		.members = 1,
		.ack_batch = 1,
	};
	if (argc < 2) {
		usage(stderr);
		return -EINVAL;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		exit(0);
	}
	if (!strcmp(argv[1], "floor"))
		o->mode = BENCH_FLOOR;
	else if (!strcmp(argv[1], "latency"))
		o->mode = BENCH_LATENCY;
	else if (!strcmp(argv[1], "throughput"))
		o->mode = BENCH_THROUGHPUT;
	else if (!strcmp(argv[1], "selftest"))
		o->mode = BENCH_SELFTEST;
	else if (!strcmp(argv[1], "disk-floor"))
		o->mode = BENCH_DISK_FLOOR;
	else if (!strcmp(argv[1], "persist"))
		o->mode = BENCH_PERSIST;
	else if (!strcmp(argv[1], "durable"))
		o->mode = BENCH_DURABLE;
	else if (!strcmp(argv[1], "groups"))
		o->mode = BENCH_GROUPS;
	else {
		bench_err("unknown mode '%s'", argv[1]);
		usage(stderr);
		return -EINVAL;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes_value = true;
		int rc = 0;

		if (!strcmp(a, "--json")) {
			o->json = true;
			takes_value = false;
		} else if (!strcmp(a, "--gating")) {
			o->gating = true;
			takes_value = false;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!val) {
			bench_err("%s needs a value", a);
			return -EINVAL;
		} else if (!strcmp(a, "--size")) {
			rc = parse_size(val, UINT32_MAX, &v);
			o->size = (uint32_t)v;
		} else if (!strcmp(a, "--producers")) {
			rc = parse_size(val, BENCH_MAX_PRODUCERS, &v);
			o->producers = (uint32_t)v;
			if (rc == 0 && v == 0)
				rc = -EINVAL;
		} else if (!strcmp(a, "--readers")) {
			rc = parse_size(val, BENCH_MAX_READERS, &v);
			o->readers = (uint32_t)v;
			if (rc == 0 && v == 0)
				rc = -EINVAL;
		} else if (!strcmp(a, "--batch")) {
			rc = parse_size(val, RING_BATCH_MAX, &v);
			o->batch = (uint32_t)v;
			if (rc == 0 && v == 0)
				rc = -EINVAL;
		} else if (!strcmp(a, "--capacity")) {
			rc = parse_size(val, UINT64_C(1) << 34, &v);
			o->capacity = v;
		} else if (!strcmp(a, "--seconds")) {
			char *end;

			errno = 0;
			o->seconds = strtod(val, &end);
			if (errno || end == val || *end || !(o->seconds > 0) || o->seconds > 3600)
				rc = -EINVAL;
		} else if (!strcmp(a, "--idle-pause")) {
			rc = parse_size(val, 1u << 20, &v);
			o->idle_pause = (uint32_t)v;
		} else if (!strcmp(a, "--data-dir")) {
			o->data_dir = val;
		} else if (!strcmp(a, "--ringd")) {
			o->ringd = val;
		} else if (!strcmp(a, "--fsync")) {
			if (!strcmp(val, "always"))
				o->fsync_policy = RING_FSYNC_ALWAYS;
			else if (!strcmp(val, "interval"))
				o->fsync_policy = RING_FSYNC_INTERVAL;
			else if (!strcmp(val, "never"))
				o->fsync_policy = RING_FSYNC_NEVER;
			else
				rc = -EINVAL;
		} else if (!strcmp(a, "--mode")) {
			if (!strcmp(val, "exclusive"))
				o->group_kind = BENCH_GROUP_EXCLUSIVE;
			else if (!strcmp(val, "shared"))
				o->group_kind = BENCH_GROUP_SHARED;
			else
				rc = -EINVAL;
		} else if (!strcmp(a, "--members")) {
			rc = parse_size(val, RING_MAX_MEMBERS, &v);
			o->members = (uint32_t)v;
			if (rc == 0 && v == 0)
				rc = -EINVAL;
		} else if (!strcmp(a, "--ack-batch")) {
			rc = parse_size(val, 1024, &v);
			o->ack_batch = (uint32_t)v;
			if (rc == 0 && v == 0)
				rc = -EINVAL;
		} else if (!strcmp(a, "--clock")) {
			if (!strcmp(val, "monotonic"))
				o->force_monotonic = true;
			else if (strcmp(val, "tsc"))
				rc = -EINVAL;
		} else {
			bench_err("unknown option '%s'", a);
			usage(stderr);
			return -EINVAL;
		}
		if (rc < 0) {
			bench_err("bad value '%s' for %s", val, a);
			return -EINVAL;
		}
		if (takes_value)
			i++;
	}
	if ((o->mode == BENCH_DISK_FLOOR || o->mode == BENCH_PERSIST ||
	     o->mode == BENCH_DURABLE) && !o->data_dir) {
		bench_err("%s needs --data-dir DIR", argv[1]);
		return -EINVAL;
	}
	if (o->mode == BENCH_GROUPS && o->group_kind == BENCH_GROUP_EXCLUSIVE && o->members != 1) {
		bench_err("an exclusive group has one member at a time: --members 1");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_report r;
	struct bench_opts o;
	int rc;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	rc = bench_init(&o);
	if (rc < 0) {
		bench_err("setup: %s", strerror(-rc));
		return 1;
	}
	/* Cheap (a few ms): every run checks the histogram it reports with. */
	if (hist_selftest() < 0)
		return 1;
	printf("ring-bench %s: git %s, %u CPUs usable, clock %s (%.4f ns/tick, read %.1f ns)\n",
	       argv[1], RING_GIT_REVISION, bench_cpu_count(), bench_use_tsc ? "tsc" : "monotonic",
	       bench_ns_per_tick, bench_clock_overhead_ns());
	if (bench_cpu_count() < 2)
		printf("warning: fewer than 2 CPUs: processes share a CPU, figures mean little\n");

	switch (o.mode) {
	case BENCH_SELFTEST:
		printf("histogram self-test passed\n");
		return 0;
	case BENCH_FLOOR:
		rc = bench_floor(&o, &r);
		break;
	case BENCH_LATENCY:
		bench_topic_sweep();
		rc = bench_latency(&o, &r);
		break;
	case BENCH_THROUGHPUT:
		bench_topic_sweep();
		rc = bench_throughput(&o, &r);
		break;
	case BENCH_DISK_FLOOR:
		rc = bench_disk_floor(&o, &r);
		break;
	case BENCH_PERSIST:
		rc = bench_persist(&o, &r);
		break;
	case BENCH_DURABLE:
		rc = bench_durable(&o, &r);
		break;
	case BENCH_GROUPS:
		bench_topic_sweep();
		rc = bench_groups(&o, &r);
		break;
	}
	if (rc < 0) {
		bench_err("%s failed: %s", argv[1], strerror(-rc));
		return 1;
	}
	bench_report_print(stdout, &r);
	if (o.json)
		bench_report_json(stdout, &r);
	fflush(stdout);
	return ferror(stdout) ? 1 : 0;
}
