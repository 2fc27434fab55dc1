#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run the ring-bench figures that docs/benchmarks.md reports, each as a
ratio to the floor measured in the same run, and print them as a markdown
table (one column per repetition).

    perf/targets.py [--bench build/perf/ring-bench] [--data-dir DIR]
                    [--seconds S] [--runs N]

DIR must be on the disk to judge (not tmpfs): persist and durable write
there. Run it on an otherwise idle machine; it pins two CPUs.
"""
import argparse
import json
import os
import subprocess
import sys

# (label, ring-bench arguments, figure(json) -> value, target, higher is better)
TARGETS = [
    # Where the two vCPUs were: the floor each run measured beside its figure.
    ("floor one-way p50, ns (latency run)", ["latency", "--size", "64"],
     lambda j: j["one_way_p50_ns"], None, False),
    ("floor one-way p50, ns (64 KiB throughput run)", ["throughput", "--size", "64K"],
     lambda j: j["one_way_p50_ns"], None, False),
    ("latency 64 B: p50 / floor one-way p50", ["latency", "--size", "64"],
     lambda j: j["p50_ratio_to_floor"], 1.5, False),
    ("latency 64 B: p99 / floor one-way p50", ["latency", "--size", "64"],
     lambda j: j["p99_ratio_to_floor_p50"], 3.0, False),
    ("latency 64 B: p50 / 64 B message floor p50", ["latency", "--size", "64"],
     lambda j: j["p50_ratio_to_msg_floor"], None, False),
    ("throughput 1P1C 64 B, M msg/s", ["throughput", "--size", "64"],
     lambda j: j["msgs_per_sec"] / 1e6, 15, True),
    ("throughput 1P1C 64 B batch 32, M msg/s", ["throughput", "--size", "64", "--batch", "32"],
     lambda j: j["msgs_per_sec"] / 1e6, 40, True),
    ("throughput 1P1C 64 KiB / memcpy", ["throughput", "--size", "64K"],
     lambda j: j["memcpy_ratio"], 0.5, True),
    ("persist 1 KiB interval / disk floor", ["persist", "--size", "1K", "--fsync", "interval"],
     lambda j: j["persist_ratio_to_disk"], 0.8, True),
    ("persist 1 KiB interval / O_DIRECT floor", ["persist", "--size", "1K", "--fsync", "interval"],
     lambda j: j["persist_ratio_to_direct"], None, True),
    ("durable 1P: p50 / fdatasync p50", ["durable", "--producers", "1"],
     lambda j: j["p50_ratio_to_fdatasync"], 1.3, False),
    ("durable 8P: msg/s / 1P msg/s", ["durable", "--producers", "8"],
     lambda j: j["throughput_ratio_to_one_producer"], 5, True),
    ("groups exclusive, commit each record / plain reader", ["groups", "--mode", "exclusive"],
     lambda j: j["ratio_to_reader"], 0.8, True),
    ("groups exclusive, commit every 64 / plain reader",
     ["groups", "--mode", "exclusive", "--ack-batch", "64"],
     lambda j: j["ratio_to_reader"], 0.8, True),
    ("groups shared 1 member, ack 1, M msg/s", ["groups", "--mode", "shared", "--ack-batch", "1"],
     lambda j: j["msgs_per_sec"] / 1e6, 2, True),
    ("groups shared 1 member, ack 64, M msg/s", ["groups", "--mode", "shared", "--ack-batch", "64"],
     lambda j: j["msgs_per_sec"] / 1e6, 8, True),
]


def run(bench, args, data_dir, seconds):
    cmd = [bench] + args + ["--seconds", str(seconds), "--json"]
    if args[0] in ("persist", "durable"):
        cmd += ["--data-dir", data_dir]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=300)
    if out.returncode != 0:
        sys.exit("ring-bench failed: %s\n%s" % (" ".join(cmd), out.stderr))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "perf", "ring-bench"))
    ap.add_argument("--data-dir", default="/var/tmp")
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    cache = {}
    cols = []
    for _ in range(a.runs):
        cache.clear()
        col = []
        for label, args, fig, target, higher in TARGETS:
            key = tuple(args)
            if key not in cache:
                cache[key] = run(a.bench, args, a.data_dir, a.seconds)
            col.append(fig(cache[key]))
        cols.append(col)
    print("| figure | target | " + " | ".join("run %d" % (i + 1) for i in range(a.runs)) +
          " | met |")
    print("|---|---:|" + "---:|" * a.runs + "---|")
    for i, (label, _, _, target, higher) in enumerate(TARGETS):
        vals = [c[i] for c in cols]
        if target is None:
            tgt, met = "-", "-"
        else:
            tgt = ("≥ %g" if higher else "≤ %g") % target
            ok = [(v >= target) if higher else (v <= target) for v in vals]
            met = "yes" if all(ok) else ("no" if not any(ok) else "%d of %d" % (sum(ok), len(ok)))
        fmt = "%.0f" if label.startswith("floor") else "%.2f"
        print("| %s | %s | %s | %s |" % (label, tgt, " | ".join(fmt % v for v in vals), met))


if __name__ == "__main__":
    main()
