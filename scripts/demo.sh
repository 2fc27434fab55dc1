#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - a guided tour of ringlog for a new user, run by `make demo`.
#
# Everything happens in a fresh data directory (mktemp -d) that is removed
# at the end, together with every shared-memory ring the tour created, even
# if a step fails or the tour is interrupted. Each step says in plain
# English what it is about to show, prints the command as a user would type
# it, then runs it. The whole tour takes a few seconds; every command is
# bounded by a timeout, so it can never hang.
#
# Each capability of ringlog adds a step here. A step whose part of the
# system does not exist yet prints one line saying so, and the tour goes on.
#
# Environment: BUILD_DIR (default build) holds tools/ringctl and
# daemon/ringd; DEMO_STEP_TIMEOUT (default 10) bounds each command, in s.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${BUILD_DIR:-build}
RINGCTL_BIN=$PWD/$BUILD_DIR/tools/ringctl
RINGD_BIN=$PWD/$BUILD_DIR/daemon/ringd
STEP_TIMEOUT=${DEMO_STEP_TIMEOUT:-10}

if [ ! -x "$RINGCTL_BIN" ]; then
  echo "demo.sh: $BUILD_DIR/tools/ringctl is not built: run 'make build' first" >&2
  exit 1
fi

start_s=$SECONDS
DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ringlog-demo.XXXXXX")
export RINGLOG_DATA_DIR=$DATA_DIR

# What cleanup must undo: topics whose rings live in /dev/shm (removing the
# data directory does not remove them) and processes started in the
# background.
topics=()
bg_pids=()
ringd_pid=

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
  for t in "${topics[@]}"; do
    "$RINGCTL_BIN" delete "$t" >/dev/null 2>&1 || true
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

# The step cannot run yet: say honestly why, and go on.
later() {
  printf '    (not yet: %s)\n' "$*"
}

indent() {
  sed 's/^/      /'
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

# Show a shell pipeline (as one string), then run it the same way.
run_sh() {
  printf '    $ %s\n' "$1"
  eval "$1" 2>&1 | indent
}

# Succeeds once `test` (a shell condition, as one string) holds, polling
# every 0.1 s; gives up after $2 seconds (plus one check in progress).
wait_until() {
  local test=$1 deadline=$((SECONDS + $2))

  while :; do
    if eval "$test"; then
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.1
  done
}

# Succeeds once process $1 has exited, within $2 seconds.
wait_gone() {
  wait_until "! kill -0 $1 2>/dev/null" "$2"
}

# One number from `ringctl stat TOPIC --json`, e.g. json_pos orders tail_pos.
json_pos() {
  ringctl stat "$1" --json | sed -n "s/.*\"$2\":\([0-9][0-9]*\).*/\1/p"
}

# ---- the tour ----

printf 'ringlog tour: a topic in shared memory, producers and readers in separate\n'
printf 'processes, all driven by ringctl. Data directory: %s\n' "$DATA_DIR"

say "Creating topic 'orders' (4 MiB ring)"
note "A topic is an ordered stream of records in one shared-memory ring. It is"
note "persistent: once ringd runs, every record is also copied to segment files"
note "under the data directory, so readers can replay history after any crash."
topics+=(orders)
run ringctl create orders --capacity 4MiB
run ringctl list

say "Publishing 1000 events from a producer process"
note "'ringctl produce' publishes one record per line of its standard input and"
note "exits; the records stay in the ring. Any number of producers, in any"
note "number of processes, can publish at once without a lock."
run_sh "seq 1 1000 | sed 's/^/order-/' | ringctl produce orders"

say "Reading them back with two independent readers"
note "Each reader has its own cursor and sees every record, oldest first."
note "A record's position is its byte offset in the topic's log (Kafka's offset)."
note "Reader A looks at the first three records:"
run ringctl dump orders --count 3
note "Reader B, in another process, reads all of them and counts them:"
run_sh "ringctl dump orders --count 1000 | wc -l"
pos_500=$(ringctl dump orders --count 500 | sed -n '500s/ .*//p')
note "Any position is a place to start reading; here, the 500th record's:"
run ringctl dump orders --from "$pos_500" --count 2

say "Following the topic live with 'ringctl tail -f' in the background"
note "tail -f waits for new records and prints each one as it is published."
tail_out=$DATA_DIR/tail.out
from=$(json_pos orders tail_pos)
# A simple command in the background: $! is ringctl's own pid, for the
# SIGKILL below (no subshell in between).
"$RINGCTL_BIN" tail -f orders --from "$from" >"$tail_out" 2>&1 </dev/null &
tail_pid=$!
bg_pids+=("$tail_pid")
note "(reader pid $tail_pid, following from position $from)"
run_sh "seq 1001 1003 | sed 's/^/order-/' | ringctl produce orders"
if wait_until "[ \$(wc -l <'$tail_out') -ge 3 ]" 5; then
  note "The background reader received them:"
  indent <"$tail_out"
else
  echo "demo.sh: the tail -f reader did not print the 3 new records within 5 s" >&2
  indent <"$tail_out" >&2
  exit 1
fi

say "Killing that reader with SIGKILL"
note "A reader holds no lock and never holds producers back, so killing it"
note "at any moment leaves nothing to repair."
printf '    $ kill -KILL %s\n' "$tail_pid"
# In this shell, not in run's pipeline, and reaped at once with stderr
# closed: otherwise bash reports "Killed" later, in the middle of the tour.
tail_status=0
{ kill -KILL "$tail_pid" && wait "$tail_pid"; } 2>/dev/null || tail_status=$?
bg_pids=()
note "The reader died by SIGKILL (exit status $tail_status)."
run_sh "seq 1004 1100 | sed 's/^/order-/' | ringctl produce orders"
note "Producers carried on. The last record now:"
run_sh "ringctl tail orders -n 1"

say "Who is attached, and where everyone is: 'ringctl stat' and 'describe'"
note "A producer keeps its slot (and its pid) in the topic while it runs. One"
note "is started here, reading from a pipe that stays open:"
feed=$DATA_DIR/feed
mkfifo "$feed"
"$RINGCTL_BIN" produce orders <"$feed" >/dev/null 2>&1 &
producer_pid=$!
bg_pids+=("$producer_pid")
exec 3>"$feed"
echo "order-live" >&3
if ! wait_until "ringctl describe orders | grep -q '^producers *[1-9]'" 5; then
  echo "demo.sh: the live producer (pid $producer_pid) did not show up within 5 s" >&2
  exit 1
fi
note "(producer pid $producer_pid)"
run ringctl stat
run ringctl describe orders
exec 3>&-
wait_gone "$producer_pid" 5 || true
wait "$producer_pid" 2>/dev/null || true
bg_pids=()
note "Closing its input ended the producer; its slot is released."

# ---- ringd: persistence, consumer groups, clean shutdown ----

if [ -x "$RINGD_BIN" ]; then
  say "Starting ringd, the persister, on the data directory"
  note "ringd copies every ring to segment files and fsyncs them; 'persisted'"
  note "and 'durable' catch up with the tail."
  printf '    $ ringd --data-dir %s &\n' "$DATA_DIR"
  "$RINGD_BIN" --data-dir "$DATA_DIR" >"$DATA_DIR/ringd.log" 2>&1 </dev/null &
  ringd_pid=$!
  tail_pos=$(json_pos orders tail_pos)
  if ! wait_until "[ \"\$(json_pos orders durable_pos)\" = '$tail_pos' ]" "$STEP_TIMEOUT"; then
    echo "demo.sh: ringd did not make position $tail_pos durable in time; its log:" >&2
    indent <"$DATA_DIR/ringd.log" >&2
    exit 1
  fi
  run ringctl stat orders
  run_sh "ls $DATA_DIR/orders"
else
  say "Starting ringd, the persister"
  later "this step arrives with ringd ($BUILD_DIR/daemon/ringd is not built yet)"
fi

say "Killing a consumer-group member, and watching it resume from its commit"
if [ ! -x "$RINGD_BIN" ]; then
  later "this step arrives with ringd and consumer groups"
else
  # The member will be a `ringctl` command once consumer groups reach the
  # tool: read some records in group 'billing', commit, SIGKILL the member,
  # start another, and show it resumes at the committed position (records
  # in flight at the kill are delivered again: at-least-once).
  later "this step arrives when ringctl can run a consumer-group member"
fi

if [ -n "$ringd_pid" ]; then
  say "Stopping ringd cleanly with SIGTERM"
  note "On SIGTERM ringd drains every ring, fsyncs, writes the offsets and exits 0."
  run kill -TERM "$ringd_pid"
  if ! wait_gone "$ringd_pid" "$STEP_TIMEOUT"; then
    echo "demo.sh: ringd (pid $ringd_pid) did not stop within ${STEP_TIMEOUT} s" >&2
    exit 1
  fi
  ringd_status=0
  wait "$ringd_pid" || ringd_status=$?
  ringd_pid=
  note "ringd exited with status $ringd_status."
  if [ "$ringd_status" -ne 0 ]; then
    indent <"$DATA_DIR/ringd.log" >&2
    exit 1
  fi
else
  say "Stopping ringd cleanly with SIGTERM"
  later "this step arrives with ringd"
fi

say "Deleting the topic"
note "delete removes the ring from shared memory and the topic's files."
run ringctl delete orders
topics=()
run ringctl list

printf '\nTour done in %d s. The data directory %s is removed on exit.\n' \
  "$((SECONDS - start_s))" "$DATA_DIR"
printf 'Next: make test; docs/README.md; ringctl --help.\n'
