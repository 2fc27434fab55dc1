#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - a guided tour of ringlog for a new user, run by `make demo`.
#
# The story: ringd persists a topic, a producer publishes 20 000 orders,
# two consumer groups read them, one member is killed with SIGKILL in the
# middle of the stream and restarted, and it resumes from its committed
# offset with nothing lost. Then the figures (stat, groups) and a clean
# stop of ringd.
#
# Everything happens in a fresh data directory (mktemp -d) that is removed
# at the end, together with every shared-memory ring the tour created and
# every process it started, even if a step fails or the tour is
# interrupted. Each step says in plain English what it shows, prints the
# command as a user would type it, then runs it. Every command and every
# wait is bounded in time, so the tour can never hang; it takes a few
# seconds.
#
# Environment: BUILD_DIR (default build; absolute, or relative to the top
# of the source tree) holds tools/ringctl and daemon/ringd;
# DEMO_STEP_TIMEOUT (default 15) bounds each command and each wait, in s.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in
/*) ;;
*) BUILD_DIR=$PWD/$BUILD_DIR ;;
esac
RINGCTL_BIN=$BUILD_DIR/tools/ringctl
RINGD_BIN=$BUILD_DIR/daemon/ringd
STEP_TIMEOUT=${DEMO_STEP_TIMEOUT:-15}

for bin in "$RINGCTL_BIN" "$RINGD_BIN"; do
  if [ ! -x "$bin" ]; then
    echo "demo.sh: $bin is not built: run 'make build' first (or set BUILD_DIR)" >&2
    exit 1
  fi
done

# The story's numbers.
ORDERS=20000		# records the producer publishes
BURST=1000		# published at once, then a short pause
COMMIT_EVERY=100	# the audit member commits every this many records
KILL_AFTER=5000		# SIGKILL the audit member once it printed this many

start_s=$SECONDS
DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ringlog-demo.XXXXXX")
export RINGLOG_DATA_DIR=$DATA_DIR
OUT=$DATA_DIR/demo	# the consumers' output and logs, beside the topics
mkdir "$OUT"

# What cleanup must undo: processes started in the background, ringd, and
# topics, whose rings live in /dev/shm (removing the data directory does not
# remove them).
bg_pids=()
ringd_pid=
topics=()

cleanup() {
  local status=$? pid t

  trap - EXIT INT TERM
  for pid in "${bg_pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$ringd_pid" ]; then
    kill -TERM "$ringd_pid" 2>/dev/null || true
    wait_gone "$ringd_pid" 5 || kill -KILL "$ringd_pid" 2>/dev/null || true
    wait "$ringd_pid" 2>/dev/null || true
  fi
  # delete is refused while ringd runs: it is stopped above.
  for t in "${topics[@]}"; do
    timeout 10 "$RINGCTL_BIN" delete "$t" >/dev/null 2>&1 || true
  done
  rm -rf -- "$DATA_DIR"
  if [ "$status" -ne 0 ]; then
    echo "demo.sh: the tour stopped early (exit status $status); its data is cleaned up." >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- narration helpers ----

step_no=0
say() {
  step_no=$((step_no + 1))
  printf '\n==> %d. %s\n' "$step_no" "$*"
}

# A sentence of explanation under a step.
note() {
  printf '    %s\n' "$*"
}

indent() {
  sed 's/^/      /'
}

# Stop the tour with one line on stderr.
die() {
  echo "demo.sh: $*" >&2
  exit 1
}

# `ringctl ...` in this script is the freshly built binary, bounded in time.
ringctl() {
  timeout --foreground "$STEP_TIMEOUT" "$RINGCTL_BIN" "$@"
}

# Show a command, then run it with its output indented under it.
run() {
  printf '    $ %s\n' "$*"
  "$@" 2>&1 | indent
}

# Succeeds once `test` (a shell condition, as one string) holds, polling
# every 0.05 s; gives up after $2 seconds.
wait_until() {
  local test=$1 deadline=$((SECONDS + $2))

  while :; do
    if eval "$test"; then
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.05
  done
}

# Succeeds once process $1 has exited, within $2 seconds.
wait_gone() {
  wait_until "! kill -0 $1 2>/dev/null" "$2"
}

# Reap background process $1 (which has exited or is about to), set
# $reaped to its exit status and stop tracking it. In this shell, not in a
# $(...) subshell, which could not wait for it; bash's "Killed" report
# goes nowhere.
reaped=
reap() {
  local keep=() pid

  reaped=0
  { wait "$1"; } 2>/dev/null || reaped=$?
  for pid in "${bg_pids[@]}"; do
    [ "$pid" = "$1" ] || keep+=("$pid")
  done
  bg_pids=("${keep[@]}")
}

lines() {
  wc -l <"$1"
}

# A consumer's output, minus a last line a SIGKILL may have cut short.
complete_lines() {
  if [ -s "$1" ] && [ -n "$(tail -c 1 "$1")" ]; then
    sed '$d' "$1"
  else
    cat "$1"
  fi
}

# The committed position of group $2 of topic $1, from `ringctl groups
# --json` (whatever its exact shape: the first object whose name is the
# group and that has a committed* field); empty if it cannot be told.
committed_of() {
  ringctl groups "$1" --json 2>/dev/null | python3 -c '
import json, sys
want = sys.argv[1]
def walk(v):
    if isinstance(v, dict):
        if want in (v.get("name"), v.get("group")):
            for k, x in v.items():
                if k.startswith("committed") and isinstance(x, int):
                    return x
        for x in v.values():
            r = walk(x)
            if r is not None:
                return r
    elif isinstance(v, list):
        for x in v:
            r = walk(x)
            if r is not None:
                return r
    return None
try:
    r = walk(json.load(sys.stdin))
except ValueError:
    r = None
print("" if r is None else r)' "$2" 2>/dev/null || true
}

# The topic's durable position, from `ringctl stat TOPIC --json`.
durable_pos() {
  ringctl stat "$1" --json | sed -n 's/.*"durable_pos":\([0-9][0-9]*\).*/\1/p'
}

have_groups() {
  "$RINGCTL_BIN" groups --help >/dev/null 2>&1
}

# The producer's input: $ORDERS orders in bursts of $BURST. Halfway it
# waits (at most $STEP_TIMEOUT s) for $OUT/go, which the tour creates
# right after the SIGKILL, so that the kill always lands mid-stream however
# slow or loaded the machine is.
gen_orders() {
  local b bursts=$((ORDERS / BURST)) deadline

  for ((b = 0; b < bursts; b++)); do
    if [ "$b" -eq $((bursts / 2)) ]; then
      deadline=$((SECONDS + STEP_TIMEOUT))
      while [ ! -e "$OUT/go" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.05
      done
    fi
    awk -v first=$((b * BURST + 1)) -v last=$(((b + 1) * BURST)) 'BEGIN {
      for (i = first; i <= last; i++)
        printf "order #%d customer=c%04d amount=%d.%02d EUR\n",
          i, (i * 7919) % 10000, 5 + (i * 37) % 495, i % 100
    }'
    sleep 0.1
  done
}

# ---- the tour ----

printf 'ringlog tour: Kafka-style topics and consumer groups on one machine, at\n'
printf 'shared-memory speed. Everything below runs in %s\n' "$DATA_DIR"
printf 'and is removed at the end.\n'

say "Starting ringd, the persister, on a fresh data directory"
note "ringd copies every topic's ring to segment files on disk, fsyncs them,"
note "and keeps each consumer group's committed offset, so that anyone can"
note "crash and resume. It serves one data directory."
printf '    $ ringd --data-dir %s &\n' "$DATA_DIR"
"$RINGD_BIN" --data-dir "$DATA_DIR" >"$OUT/ringd.log" 2>&1 </dev/null &
ringd_pid=$!
if ! wait_until "[ -e '$DATA_DIR/ringd.lock' ]" "$STEP_TIMEOUT"; then
  indent <"$OUT/ringd.log" >&2
  die "ringd did not start within $STEP_TIMEOUT s; its log is above"
fi
note "(ringd pid $ringd_pid)"

say "Creating topic 'orders'"
note "A topic is an ordered stream of records in a shared-memory ring (4 MiB"
note "here). Producers and consumers in any process map it directly: no broker"
note "hop, no copy through a socket."
topics+=(orders)
run ringctl create orders --capacity 4MiB

say "Publishing $ORDERS orders from a producer process"
note "'ringctl produce' publishes each line of its input as one record. It"
note "runs in the background, in bursts of $BURST, while we consume."
mkfifo "$OUT/feed"
gen_orders >"$OUT/feed" &
gen_pid=$!
bg_pids+=("$gen_pid")
"$RINGCTL_BIN" produce orders <"$OUT/feed" >/dev/null 2>"$OUT/produce.err" &
producer_pid=$!
bg_pids+=("$producer_pid")
printf '    $ generate-orders | ringctl produce orders &\n'
note "(generate-orders: $((ORDERS / BURST)) bursts of $BURST lines such as 'order #1 customer=c7919"
note "amount=42.01 EUR'.)"
if ! wait_until "[ \"\$(ringctl dump orders --count 2 2>/dev/null | wc -l)\" -ge 2 ]" \
  "$STEP_TIMEOUT"; then
  die "no record was published within $STEP_TIMEOUT s"
fi
note "The first records, as 'ringctl dump' shows them (position, time, type,"
note "payload). A record's position is its byte offset in the topic: Kafka's"
note "offset."
run ringctl dump orders --count 2

say "Consumer group 'audit' reads in the background"
note "A consumer group has a committed position that survives any crash. The"
note "audit member prints each order, and commits every $COMMIT_EVERY records."
"$RINGCTL_BIN" consume orders --group audit --commit-every "$COMMIT_EVERY" \
  >"$OUT/audit.1" 2>"$OUT/audit.1.err" </dev/null &
audit_pid=$!
bg_pids+=("$audit_pid")
printf '    $ ringctl consume orders --group audit --commit-every %d > audit.out &\n' \
  "$COMMIT_EVERY"
if ! wait_until "[ \$(lines '$OUT/audit.1') -ge $KILL_AFTER ]" "$STEP_TIMEOUT"; then
  indent <"$OUT/audit.1.err" >&2
  die "the audit member printed $(lines "$OUT/audit.1") records in $STEP_TIMEOUT s," \
    "not $KILL_AFTER"
fi

say "Killing the audit member with SIGKILL, in the middle of the stream"
printf '    $ kill -KILL %s\n' "$audit_pid"
kill -KILL "$audit_pid"
reap "$audit_pid"
audit_status=$reaped
touch "$OUT/go"
complete_lines "$OUT/audit.1" >"$OUT/audit.1.complete"
printed=$(lines "$OUT/audit.1.complete")
last_printed=$(tail -n 1 "$OUT/audit.1.complete" | cut -d' ' -f1)
note "It died (exit status $audit_status) after printing $printed orders, the last at"
note "position $last_printed. The producer carries on."
committed=
if have_groups; then
  committed=$(committed_of orders audit)
fi
if [ -n "$committed" ]; then
  note "Its group's committed position, as ringd and every member see it: $committed"
else
  note "('ringctl groups' is not built yet: the restart below shows the committed"
  note "position as the first position it reads.)"
fi

say "Restarting the audit member: it resumes from the committed offset"
note "A new member of 'audit' starts where the group committed. Orders printed"
note "after the last commit are delivered again (at-least-once); none is lost."
"$RINGCTL_BIN" consume orders --group audit --commit-every "$COMMIT_EVERY" \
  >"$OUT/audit.2" 2>"$OUT/audit.2.err" </dev/null &
audit_pid=$!
bg_pids+=("$audit_pid")
printf '    $ ringctl consume orders --group audit --commit-every %d >> audit.out &\n' \
  "$COMMIT_EVERY"
if ! wait_until "[ -s '$OUT/audit.2' ]" "$STEP_TIMEOUT"; then
  indent <"$OUT/audit.2.err" >&2
  die "the restarted audit member printed nothing within $STEP_TIMEOUT s"
fi
first_after=$(head -n 1 "$OUT/audit.2" | cut -d' ' -f1)
note "The first position it read: $first_after"
if [ -n "$committed" ] && [ "$first_after" != "$committed" ]; then
  die "the restarted member began at $first_after, not at the committed $committed"
fi
note "'audit' is an exclusive group (Kafka's partition semantics): while this"
note "member lives, a second one is refused:"
run ringctl consume orders --group audit --count 1 || true

say "Consumer group 'billing' reads every order too"
note "Groups are independent: each one sees every record (fan-out). This one"
note "runs in the foreground until it has read all $ORDERS."
printf '    $ ringctl consume orders --group billing --count %d > billing.out\n' "$ORDERS"
if ! ringctl consume orders --group billing --count "$ORDERS" >"$OUT/billing" \
  2>"$OUT/billing.err"; then
  indent <"$OUT/billing.err" >&2
  die "the billing member failed"
fi
indent <"$OUT/billing.err"
note "Its last two lines:"
tail -n 2 "$OUT/billing" | indent

# The producer has published everything once billing has read it all.
if ! wait_gone "$producer_pid" "$STEP_TIMEOUT"; then
  die "the producer did not finish within $STEP_TIMEOUT s"
fi
reap "$producer_pid"
producer_status=$reaped
reap "$gen_pid"
if [ "$producer_status" -ne 0 ]; then
  indent <"$OUT/produce.err" >&2
  die "the producer failed (exit status $producer_status)"
fi
last_pos=$(sed -n 's/^published .* positions [0-9]*\.\.\([0-9]*\)$/\1/p' "$OUT/produce.err")
[ -n "$last_pos" ] || die "cannot read the producer's summary: $(cat "$OUT/produce.err")"

say "Checking that the killed group lost nothing"
note "The restarted audit member catches up with the end of the stream, then"
note "SIGTERM stops it cleanly: it commits what it printed and exits 0."
if ! wait_until "grep -q '^$last_pos ' '$OUT/audit.2'" "$STEP_TIMEOUT"; then
  die "the restarted audit member did not reach position $last_pos within $STEP_TIMEOUT s"
fi
kill -TERM "$audit_pid"
wait_gone "$audit_pid" "$STEP_TIMEOUT" || die "the audit member ignored SIGTERM"
reap "$audit_pid"
audit_status=$reaped
[ "$audit_status" -eq 0 ] || die "the audit member exited with status $audit_status"
indent <"$OUT/audit.2.err"
total=$(($(lines "$OUT/audit.1.complete") + $(lines "$OUT/audit.2")))
distinct=$(cat "$OUT/audit.1.complete" "$OUT/audit.2" | cut -d' ' -f1 | sort -u | wc -l)
dups=$((total - distinct))
note "Published: $ORDERS. Seen by audit across the kill: $distinct distinct orders"
note "($total lines), so $dups delivered twice; at most the $COMMIT_EVERY printed since its"
note "last commit could have been."
[ "$distinct" -eq "$ORDERS" ] || die "audit saw $distinct distinct orders, not $ORDERS"
[ "$dups" -le "$COMMIT_EVERY" ] || die "$dups duplicates: more than were in flight"
billing_distinct=$(cut -d' ' -f1 "$OUT/billing" | sort -u | wc -l)
[ "$billing_distinct" -eq "$ORDERS" ] || die "billing saw $billing_distinct orders, not $ORDERS"

say "The figures: 'ringctl stat' and 'ringctl groups'"
note "stat: how far the topic is produced, persisted to disk and fsynced."
if ! wait_until "[ \"\$(durable_pos orders)\" -gt '$last_pos' ]" "$STEP_TIMEOUT"; then
  die "ringd did not make the topic durable within $STEP_TIMEOUT s"
fi
run ringctl stat orders
if have_groups; then
  note "groups: each group's committed position and lag, and its members."
  run ringctl groups orders
else
  note "('ringctl groups' is not built yet: it will list each group's committed"
  note "position, lag and members.)"
fi

say "Stopping ringd cleanly with SIGTERM"
note "On SIGTERM ringd drains every ring, fsyncs, writes the offsets and exits 0."
printf '    $ kill -TERM %s\n' "$ringd_pid"
kill -TERM "$ringd_pid"
if ! wait_gone "$ringd_pid" "$STEP_TIMEOUT"; then
  die "ringd (pid $ringd_pid) did not stop within $STEP_TIMEOUT s"
fi
reap "$ringd_pid"
ringd_status=$reaped
ringd_pid=
if [ "$ringd_status" -ne 0 ]; then
  indent <"$OUT/ringd.log" >&2
  die "ringd exited with status $ringd_status; its log is above"
fi
note "ringd exited with status 0. On disk: segment files (the records, byte for"
note "byte as in the ring), their time indexes, and the groups' offsets log:"
(cd "$DATA_DIR/orders" && ls) | indent

say "Deleting the topic"
run ringctl delete orders
topics=()

printf '\nTour done in %d s. Next: make test; README.md; docs/README.md;\n' \
  "$((SECONDS - start_s))"
printf 'ringctl --help.\n'
