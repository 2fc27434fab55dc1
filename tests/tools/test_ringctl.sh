#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Description: ringctl end to end, through the real binary ($1) and the
# real ringd ($2, when built), in data directories of its own (so it can
# run beside other tests). The issue's scenario: create -> produce 10 000
# lines -> dump them back byte-identical -> groups shows the lag ->
# reset-offsets dry run changes nothing, --execute does -> verify passes
# -> corrupt a byte -> verify exits 1 naming the segment and position ->
# recover dry run, then --execute -> verify passes.
# Positive space: create a persistent and an ephemeral topic, produce
# 10 000 lines, dump them back byte for byte (raw, text and json formats,
# --from, --from-time, --count), a binary round trip with every byte
# value, describe/stat/list --json parse as JSON, stat --watch gives
# rates, tail -f prints what arrives and stops on SIGINT, delete removes
# ring and directory. With ringd, in a second data directory: 10 000 lines
# through a 64 KiB ring into 64 KiB segments dump and export back
# byte-identical from the files; a consumer group's lag in bytes and
# records; every reset-offsets target, a dry run that changes nothing and
# warns of a live member, --execute that moves the group, refused while
# a member lives (naming its pid) unless --force; describe names a live
# producer's pid and the owner of a stuck claim (claim_holder, whose path
# is $RINGCTL_TEST_CLAIM_HOLDER), and ringd repairs the claim once its
# owner is killed; verify passes, draws a progress bar on a terminal only;
# a flipped byte makes verify exit 1 naming the segment and position;
# recover's dry run changes nothing, --execute repairs, verify passes
# again, and --execute is refused while ringd runs.
# Negative space: unknown topics and groups exit 3, bad flags 2, a data
# directory that is a file 2 and one that does not exist 3, each with
# exactly one line on stderr; delete is refused while ringd's lock is held.
# Documentation: every option of every `ringctl COMMAND --help` appears in
# the man page source and docs/ringctl.md ($RINGCTL_TEST_DOCS).
# Every wait is a bounded poll (wait_until), never a sleep that assumes a
# fast machine.
# Exits 0 (pass), 1 (fail) or 77 (skip: no python3 or no /dev/shm).
set -u

RINGCTL=${1:?usage: test_ringctl.sh PATH_TO_RINGCTL [PATH_TO_RINGD]}
RINGD=${2:-}
# The interpreter itself, not a version manager's shim that may take half
# a second to start each time.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -z "$PY" ]; then
	echo "SKIP: python3 is needed to check the JSON output"
	exit 77
fi
if [ ! -d /dev/shm ]; then
	echo "SKIP: no /dev/shm"
	exit 77
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_ringctl.XXXXXX")
DATA="$WORK/data"
mkdir "$DATA"
DATA2="$WORK/data2"
mkdir "$DATA2"
TAIL_PID=
LOCK_PID=
RINGD_PID=
MEMBER_PID=
HOLDER_PID=
passed=0
failed=0

cleanup() {
	[ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
	[ -n "$LOCK_PID" ] && kill "$LOCK_PID" 2>/dev/null
	[ -n "$MEMBER_PID" ] && kill "$MEMBER_PID" 2>/dev/null
	[ -n "$HOLDER_PID" ] && kill -KILL "$HOLDER_PID" 2>/dev/null
	[ -n "$RINGD_PID" ] && kill "$RINGD_PID" 2>/dev/null
	wait 2>/dev/null
	# Rings live in /dev/shm, outside $WORK: delete every topic left.
	for d in "$DATA" "$DATA2"; do
		[ -d "$d" ] || continue
		"$RINGCTL" --data-dir "$d" list --json 2>/dev/null |
			"$PY" -c 'import json,sys
for t in json.load(sys.stdin)["topics"]: print(t["name"])' 2>/dev/null |
			while read -r t; do "$RINGCTL" --data-dir "$d" delete "$t" 2>/dev/null; done
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

# The results go to fd 3, the test's own stdout, so that a check whose
# command's output is sent to /dev/null (check NAME CMD >/dev/null) still
# shows its line.
exec 3>&1

ok() {
	echo "ok - $1" >&3
	passed=$((passed + 1))
}

not_ok() {
	echo "not ok - $1" >&3
	failed=$((failed + 1))
}

# check NAME COMMAND...: the command must succeed.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# expect_fail NAME CODE COMMAND...: exit CODE and exactly one stderr line
# in ringctl's form.
expect_fail() {
	local name=$1 want=$2 code lines
	shift 2
	"$@" >"$WORK/out" 2>"$WORK/err"
	code=$?
	lines=$(wc -l <"$WORK/err")
	if [ "$code" -eq "$want" ] && [ "$lines" -eq 1 ] && grep -q '^ringctl: ' "$WORK/err"; then
		ok "$name (exit $code: $(cat "$WORK/err"))"
	else
		not_ok "$name: exit $code (want $want), $lines stderr lines:"
		sed 's/^/#   /' "$WORK/err" >&3
	fi
}

# wait_until SECONDS COMMAND...: poll COMMAND every 50 ms until it
# succeeds or SECONDS have passed. The deadline is only an upper bound for
# a machine that is slow or loaded (or a sanitizer build): nothing here
# depends on how soon the condition comes true.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# lines_at_least N FILE: FILE has at least N lines.
lines_at_least() {
	[ -f "$2" ] && [ "$(wc -l <"$2")" -ge "$1" ]
}

# jget EXPR COMMAND...: a field of a command's JSON output.
jget() {
	local expr=$1
	shift
	"$@" | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($expr)"
}

json_ok() {
	"$PY" -c 'import json,sys; json.load(sys.stdin)' <"$1"
}

rc() {
	"$RINGCTL" --data-dir "$DATA" "$@"
}

# ---- help and version ----
check "--help exits 0" rc --help >/dev/null
check "--version exits 0" "$RINGCTL" --version >/dev/null
COMMANDS="create delete list describe stat produce dump tail groups reset-offsets verify
	recover export consume"
for c in $COMMANDS; do
	check "$c --help exits 0" rc "$c" --help >/dev/null
done
check "help dump is dump --help" cmp <(rc help dump) <(rc dump --help)
expect_fail "help of an unknown command" 2 rc help frobnicate

# The man page and docs/ringctl.md name every option that some command's
# --help names, so that neither falls behind the binary.
if [ -n "${RINGCTL_TEST_DOCS:-}" ] && [ -d "$RINGCTL_TEST_DOCS" ]; then
	for c in $COMMANDS; do
		for doc in ringctl.1.scd ringctl.md; do
			missing=
			# The options are the help's indented "-x, --name" lines.
			for o in $(rc "$c" --help | grep -oE -- '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' |
				grep -oE -- '--[a-z-]+' | sort -u); do
				grep -qF -- "$o" "$RINGCTL_TEST_DOCS/$doc" || missing="$missing $o"
			done
			if [ -z "$missing" ]; then
				ok "docs/$doc names every option of $c"
			else
				not_ok "docs/$doc lacks options of $c:$missing"
			fi
		done
		grep -qE "^\*$c\*" "$RINGCTL_TEST_DOCS/ringctl.1.scd" ||
			not_ok "the man page has no entry for $c"
		grep -qF "\`$c" "$RINGCTL_TEST_DOCS/ringctl.md" ||
			not_ok "docs/ringctl.md has no entry for $c"
	done
else
	echo "# RINGCTL_TEST_DOCS not set: the documentation checks are skipped"
fi

# ---- create ----
check "create a persistent topic" rc create orders --capacity 4M --max-record 64K
check "create an ephemeral topic" rc create scratch --ephemeral --capacity 64K
check "topic.conf written" test -f "$DATA/orders/topic.conf"
expect_fail "create an existing topic" 1 rc create orders

# ---- produce 10 000 lines, dump them back ----
"$PY" - "$WORK/input" <<'EOF'
import sys
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for i in range(10000):
        # Plain text, a few UTF-8 letters and quotes; no backslashes or
        # control characters, so the text format shows the line as it is.
        f.write(f'record {i:05d} "quoted" caf\u00e9 {"x" * (i % 50)}\n')
EOF
rc produce orders <"$WORK/input" 2>"$WORK/err"
if [ $? -eq 0 ] && grep -q '^published 10000 records, positions 0\.\.' "$WORK/err"; then
	ok "produce 10000 lines ($(cat "$WORK/err"))"
else
	not_ok "produce 10000 lines: $(cat "$WORK/err")"
fi

rc dump orders --format raw >"$WORK/raw"
check "dump --format raw is byte-identical" cmp "$WORK/input" "$WORK/raw"

rc dump orders >"$WORK/text"
cut -d' ' -f4- "$WORK/text" >"$WORK/text_payloads"
check "dump --format text payloads are byte-identical" cmp "$WORK/input" "$WORK/text_payloads"
check "dump text lines look like POSITION TIME type=0 ..." \
	grep -qE '^0 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z type=0 record 00000 ' \
	"$WORK/text"

rc dump orders --format json >"$WORK/jsonl"
check "dump --format json round-trips" "$PY" - "$WORK/input" "$WORK/jsonl" <<'EOF'
import json, sys
want = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
got = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert len(got) == len(want), (len(got), len(want))
pos = 0
for w, g in zip(want, got):
    assert g["payload"].encode() == w, (g, w)
    assert g["len"] == len(w) and g["type"] == 0
    assert g["position"] == pos, (g["position"], pos)
    pos += (24 + len(w) + 7) // 8 * 8
EOF

rc dump orders --count 3 --format hex >"$WORK/hex"
check "dump --count 3 --format hex prints 3 records" \
	test "$(grep -c '^[0-9]* .* len=' "$WORK/hex")" -eq 3

# --from: the third record's position, from the JSON dump.
third=$(sed -n 3p "$WORK/jsonl" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["position"])')
rc dump orders --from "$third" --count 1 --format raw >"$WORK/one"
check "dump --from the third record" cmp "$WORK/one" <(sed -n 3p "$WORK/input")
expect_fail "dump --from inside a record" 1 rc dump orders --from $((third + 8))
expect_fail "export --from inside a record" 1 \
	rc export orders --format jsonl --from $((third + 8))
# A group on the ring alone (no ringd here): reset-offsets must refuse a
# position inside a record there as well as in the files.
check "a group reads one record from the ring" rc consume orders --group ringonly --count 1 \
	>/dev/null 2>&1
expect_fail "reset-offsets --to-position inside a record in the ring" 1 \
	rc reset-offsets orders ringonly --to-position $((third + 8)) --execute
check "reset-offsets --to-position on a record in the ring" \
	rc reset-offsets orders ringonly --to-position "$third" --execute >/dev/null
check "the group reads on from that record" cmp <(sed -n 3p "$WORK/input") \
	<(rc consume orders --group ringonly --count 1 --format json 2>/dev/null |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["payload"])')
expect_fail "dump --from beyond the tail" 3 rc dump orders --from 80000000
expect_fail "dump --from not a multiple of 8" 2 rc dump orders --from 3

# --from-time: the first record stamped at or after the 5001st record's
# time, worked out from the JSON dump's timestamps.
read -r when want_pos < <("$PY" - "$WORK/jsonl" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
ts = recs[5000]["timestamp_ns"]
first = next(r for r in recs if r["timestamp_ns"] >= ts)
print("@%d.%09d" % divmod(ts, 10**9), first["position"])
EOF
)
rc dump orders --from-time "$when" --count 1 --format json >"$WORK/bytime"
check "dump --from-time starts at the first record that late" test \
	"$(jget 'd["position"]' cat "$WORK/bytime")" = "$want_pos"
check "dump --from-time before every record dumps them all" cmp "$WORK/input" \
	<(rc dump orders --from-time 2000-01-01T00:00:00Z --format raw)
expect_fail "dump --from with --from-time" 2 rc dump orders --from 0 --from-time @0
expect_fail "dump --from-time not a time" 2 rc dump orders --from-time yesterday

# ---- binary records: every byte value, empty records ----
"$PY" - "$WORK/bin" <<'EOF'
import struct, sys
recs = [bytes(range(256)), b"", b"\x00\x01\xff", "\u00e9\u4e2d\"\\\n".encode(), b"\xc3\x28"]
with open(sys.argv[1], "wb") as f:
    for r in recs:
        f.write(struct.pack("<I", len(r)) + r)
EOF
check "create a topic for binary records" rc create bin --capacity 64K
rc produce bin --binary --type 7 --json <"$WORK/bin" >"$WORK/bin_summary" 2>"$WORK/err"
check "produce --binary --json summary parses" json_ok "$WORK/bin_summary"
rc dump bin --format binary >"$WORK/bin_out"
check "dump --format binary round-trips" cmp "$WORK/bin" "$WORK/bin_out"
rc dump bin --format json >"$WORK/bin_jsonl"
check "dump --format json: base64 for binary, strings for text" "$PY" - "$WORK/bin" "$WORK/bin_jsonl" <<'EOF'
import base64, json, struct, sys
data = open(sys.argv[1], "rb").read()
want = []
while data:
    (n,) = struct.unpack("<I", data[:4])
    want.append(data[4:4 + n])
    data = data[4 + n:]
got = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert len(got) == len(want)
for w, g in zip(want, got):
    assert g["type"] == 7
    if "payload" in g:
        assert g["payload"].encode() == w, (g, w)
    else:
        assert base64.b64decode(g["payload_b64"]) == w, (g, w)
assert "payload_b64" in got[0] and "payload_b64" in got[4]
assert got[3]["payload"] == "\u00e9\u4e2d\"\\\n"
EOF
rc dump bin >"$WORK/bin_text"
check "dump text keeps one record per line" test "$(wc -l <"$WORK/bin_text")" -eq 5
expect_fail "produce a line longer than max record" 1 \
	rc produce scratch < <("$PY" -c 'print("y" * 20000)')

# ---- describe, stat, list ----
rc describe orders --json >"$WORK/describe"
check "describe --json parses" "$PY" - "$WORK/describe" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["name"] == "orders" and d["kind"] == "persistent", d
assert d["config"]["capacity_bytes"] == 4 << 20
assert d["config"]["max_record_bytes"] == 64 << 10
assert d["positions"]["tail_pos"] > 0
assert d["producers"]["count"] == 0 and d["ringd"] is None and d["stuck_claim"] is None
EOF
rc describe scratch --json >"$WORK/describe2"
check "describe --json of an ephemeral topic parses" json_ok "$WORK/describe2"
check "describe prints text" rc describe orders >/dev/null
rc stat --json >"$WORK/stat_all"
check "stat --json parses and lists three topics" "$PY" - "$WORK/stat_all" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
names = sorted(t["name"] for t in s["topics"])
assert names == ["bin", "orders", "scratch"], names
EOF
rc stat orders --json >"$WORK/stat_one"
check "stat TOPIC --json parses" json_ok "$WORK/stat_one"
"$RINGCTL" --data-dir "$DATA" stat --json --watch 0.2 >"$WORK/watch" &
WATCH_PID=$!
# Two samples make one rate: wait for them however slowly they come.
wait_until 30 lines_at_least 2 "$WORK/watch"
kill -INT "$WATCH_PID"
wait "$WATCH_PID"
check "stat --watch stops on SIGINT with exit 0" test $? -eq 0
check "stat --watch printed JSON lines with rates" "$PY" - "$WORK/watch" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) >= 2, len(lines)
assert "tail_bytes_per_s" in lines[1]["topics"][0]
EOF
rc list --json >"$WORK/list"
check "list --json shows both kinds" "$PY" - "$WORK/list" <<'EOF'
import json, sys
l = {t["name"]: t for t in json.load(open(sys.argv[1]))["topics"]}
assert l["orders"]["kind"] == "persistent" and l["scratch"]["kind"] == "ephemeral", l
assert l["scratch"]["capacity_bytes"] == 65536
EOF

# ---- tail ----
rc tail orders -n 3 --format raw >"$WORK/tail3"
check "tail -n 3 prints the last three records" cmp "$WORK/tail3" <(tail -n 3 "$WORK/input")

# From the current tail rather than "latest", so that the records below
# are printed however late tail -f gets going.
start=$(rc stat scratch --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["topics"][0]["tail_pos"])')
"$RINGCTL" --data-dir "$DATA" tail -f scratch --from "$start" --format raw >"$WORK/follow" \
	2>"$WORK/follow_err" &
TAIL_PID=$!
printf 'one\ntwo\nthree\n' | rc produce scratch 2>/dev/null
wait_until 30 lines_at_least 3 "$WORK/follow"
kill -INT "$TAIL_PID"
wait "$TAIL_PID"
code=$?
TAIL_PID=
check "tail -f stops on SIGINT with exit 0" test "$code" -eq 0
check "tail -f printed what arrived" cmp "$WORK/follow" <(printf 'one\ntwo\nthree\n')

# ---- errors: one line on stderr, documented exit codes ----
expect_fail "describe an unknown topic" 3 rc describe nosuch
expect_fail "dump an unknown topic" 3 rc dump nosuch
expect_fail "an unknown flag" 2 rc create other --bogus
expect_fail "an unknown command" 2 rc frobnicate
expect_fail "no command" 2 "$RINGCTL" --data-dir "$DATA"
expect_fail "a bad size" 2 rc create other --capacity 3M
expect_fail "a bad topic name" 2 rc create 'a/b'
touch "$WORK/file"
expect_fail "a data directory that is a file" 2 "$RINGCTL" --data-dir "$WORK/file" list
expect_fail "a data directory that does not exist" 3 \
	"$RINGCTL" --data-dir "$WORK/missing" describe orders
expect_fail "no data directory" 2 env -u RINGLOG_DATA_DIR "$RINGCTL" list
expect_fail "a data directory that is a file, from the environment" 2 \
	env RINGLOG_DATA_DIR="$WORK/file" "$RINGCTL" dump orders
for c in stat produce tail groups verify recover; do
	expect_fail "$c of an unknown topic" 3 rc "$c" nosuch </dev/null
done
expect_fail "export of an unknown topic" 3 rc export nosuch --format jsonl
expect_fail "reset-offsets of an unknown topic" 3 rc reset-offsets nosuch g --to-earliest
expect_fail "an option without its argument" 2 rc dump orders --count
expect_fail "dump --count 0" 2 rc dump orders --count 0
expect_fail "dump --format bogus" 2 rc dump orders --format bogus
expect_fail "stat --watch 0" 2 rc stat --watch 0
expect_fail "produce --type not a number" 2 rc produce orders --type x </dev/null
expect_fail "tail -n not a number" 2 rc tail orders -n x
expect_fail "an unexpected argument" 2 rc list extra
expect_fail "create --fsync bogus" 2 rc create other --fsync sometimes
expect_fail "create --segment-bytes with --ephemeral" 2 \
	rc create other --ephemeral --segment-bytes 1M
check "the refused creates left nothing" test ! -e "$DATA/other"

# ---- delete ----
# A stand-in for ringd: holds DATA/ringd.lock with flock and writes its
# pid into it, as ringd does.
"$PY" -c '
import fcntl, os, sys, time
f = open(sys.argv[1], "w")
fcntl.flock(f, fcntl.LOCK_EX)
f.write("%d\n" % os.getpid())
f.flush()
time.sleep(60)' "$DATA/ringd.lock" &
LOCK_PID=$!
wait_until 30 test -s "$DATA/ringd.lock"
expect_fail "delete while ringd's lock is held" 1 rc delete orders
check "the refusal names ringd's pid" grep -q "ringd (pid $LOCK_PID)" "$WORK/err"
check "the refused delete left the topic" test -f "$DATA/orders/topic.conf"
kill "$LOCK_PID"
wait "$LOCK_PID" 2>/dev/null
LOCK_PID=
check "delete a persistent topic" rc delete orders
check "its directory is gone" test ! -e "$DATA/orders"
check "delete an ephemeral topic" rc delete scratch
check "delete the binary topic" rc delete bin
expect_fail "describe a deleted topic" 3 rc describe orders
expect_fail "delete a deleted topic" 3 rc delete orders
rc list --json >"$WORK/list2"
check "list is empty at the end" "$PY" - "$WORK/list2" <<'EOF'
import json, sys
assert json.load(open(sys.argv[1]))["topics"] == []
EOF

# ---- with ringd: segment files, groups, reset-offsets, verify, recover ----
r2() {
	"$RINGCTL" --data-dir "$DATA2" "$@"
}

# ringd_serves: the topic's heartbeat names our ringd as alive.
ringd_serves() {
	[ "$(jget 'd["ringd"] and d["ringd"]["alive"] and d["ringd"]["pid"]' \
		r2 describe ev --json 2>/dev/null)" = "$RINGD_PID" ]
}

start_ringd() {
	"$RINGD" --data-dir "$DATA2" --log-level warn 2>>"$WORK/ringd.log" &
	RINGD_PID=$!
	wait_until 60 ringd_serves
}

# stuck_claim_is PID POS ALIVE: describe shows that claim, owner and liveness.
stuck_claim_is() {
	"$PY" -c '
import json, sys
c = json.loads(sys.argv[1])["stuck_claim"]
assert c and (c["pid"], c["position"], str(c["pid_alive"])) == \
	(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]), c' \
		"$(r2 describe stuck --json 2>/dev/null)" "$@" 2>/dev/null
}

# claim_repaired: no claim is stuck, and ringd counts one repaired.
claim_repaired() {
	"$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["stuck_claim"] is None and d["repaired_claims"] >= 1, d' \
		"$(r2 describe stuck --json 2>/dev/null)" 2>/dev/null
}

g2_has_a_live_member() {
	[ "$(jget 'sum(g["live_members"] for g in d["groups"] if g["name"] == "g2")' \
		r2 groups ev --json --no-count 2>/dev/null)" = 1 ]
}

stop_ringd() {
	kill -TERM "$RINGD_PID"
	wait "$RINGD_PID"
	local code=$?
	RINGD_PID=
	return $code
}

if [ -z "$RINGD" ] || [ ! -x "$RINGD" ]; then
	echo "# ringd not given: the segment-file part is skipped"
else
	check "create a topic with a small ring and small segments" \
		r2 create ev --capacity 64K --segment-bytes 64K --max-record 4K
	check "ringd starts and serves the topic" start_ringd
	check "produce 10000 lines through ringd" r2 produce ev <"$WORK/input" 2>/dev/null
	r2 dump ev --format raw >"$WORK/ev_raw"
	check "dump reads segment files then the ring, byte-identical" cmp "$WORK/input" "$WORK/ev_raw"
	check "the log spans several segments and outgrew the ring" "$PY" - \
		"$(r2 stat ev --json)" <<'PYEOF'
import json, sys
t = json.loads(sys.argv[1])["topics"][0]
assert t["segments"] >= 5 and t["disk_bytes"] > t["capacity_bytes"], t
assert t["oldest_pos"] > 0, t
PYEOF
	r2 export ev --format lenprefix --output "$WORK/ev.bin" --json >"$WORK/ev_export"
	check "export --format lenprefix holds every line" "$PY" - "$WORK/input" "$WORK/ev.bin" \
		"$WORK/ev_export" <<'PYEOF'
import json, struct, sys
want = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
data = open(sys.argv[2], "rb").read()
got = []
while data:
    (n,) = struct.unpack("<I", data[:4])
    got.append(data[4:4 + n])
    data = data[4 + n:]
assert got == want, (len(got), len(want))
assert json.load(open(sys.argv[3]))["records"] == 10000
PYEOF
	# Where the 101st record starts, from the record format alone (a
	# 24-byte header, the payload, padded to 8 bytes) rather than from
	# ringctl's own output: the position every check below expects.
	at101=$("$PY" - "$WORK/input" <<'PYEOF'
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")[:100]
print(sum((24 + len(l) + 7) // 8 * 8 for l in lines))
PYEOF
)
	r2 export ev --format jsonl --from 0 --to "$at101" 2>/dev/null >"$WORK/ev_jsonl"
	check "export --format jsonl --from --to: the first 100 records" "$PY" - "$WORK/input" \
		"$WORK/ev_jsonl" <<'PYEOF'
import json, sys
want = open(sys.argv[1], "rb").read().split(b"\n")[:100]
got = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert [g["payload"].encode() for g in got] == want, (len(got), got[-1:])
PYEOF
	r2 export ev --format jsonl --from "$at101" --to "$at101" 2>/dev/null >"$WORK/ev_empty"
	check "export of an empty range writes nothing" test ! -s "$WORK/ev_empty"
	expect_fail "export --from inside a record in the files" 1 \
		r2 export ev --format jsonl --from 8
	expect_fail "export --to before --from" 2 r2 export ev --format jsonl --from 80 --to 8

	# A group that consumed 100 records is committed at the 101st.
	r2 consume ev --group g1 --count 100 >/dev/null 2>&1
	r2 groups ev --json >"$WORK/groups"
	check "groups shows the lag in bytes and records" "$PY" - "$WORK/groups" "$at101" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
at101 = int(sys.argv[2])
g = {x["name"]: x for x in d["groups"]}["g1"]
assert g["mode"] == "exclusive" and g["committed_pos"] == at101, (g, at101)
assert g["lag_bytes"] == d["tail_pos"] - at101, (g, d["tail_pos"])
assert g["lag_records"] == 9900, g
assert g["delivered"] >= 100, g
PYEOF
	check "groups TOPIC GROUP prints text" r2 groups ev g1 >/dev/null
	# A shared group acks what it consumed: delivered and acked, nothing
	# left in flight.
	r2 consume ev --group s1 --shared --count 10 >/dev/null 2>&1
	check "groups shows a shared group's deliveries and acks" "$PY" -c '
import json, sys
g = json.loads(sys.argv[1])["groups"][0]
assert g["mode"] == "shared" and g["delivered"] == 10 and g["acked"] == 10, g
assert g["in_flight"] == 0 and g["redelivered"] == 0 and g["dead_lettered"] == 0, g
assert g["lag_records"] == 9990, g' "$(r2 groups ev s1 --json)"

	r2 reset-offsets ev g1 --to-earliest --json >"$WORK/reset_dry"
	check "reset-offsets dry run plans and changes nothing" "$PY" - "$WORK/reset_dry" \
		"$(r2 groups ev g1 --json --no-count)" "$at101" <<'PYEOF'
import json, sys
plan = json.load(open(sys.argv[1]))
at101 = int(sys.argv[3])
assert plan["executed"] is False and plan["current_pos"] == at101, (plan, at101)
assert plan["new_pos"] == 0, plan
assert json.loads(sys.argv[2])["groups"][0]["committed_pos"] == at101
PYEOF
	check "reset-offsets --shift-by -10 --execute" \
		r2 reset-offsets ev g1 --shift-by -10 --execute >/dev/null
	check "the group moved back ten records" \
		test "$(jget 'd["groups"][0]["lag_records"]' r2 groups ev g1 --json)" = 9910
	check "reset-offsets --to-earliest --execute" \
		r2 reset-offsets ev g1 --to-earliest --execute >/dev/null
	check "the group now lags by every record" \
		test "$(jget 'd["groups"][0]["lag_records"]' r2 groups ev g1 --json)" = 10000
	expect_fail "reset-offsets --to-position inside a record" 1 \
		r2 reset-offsets ev g1 --to-position 8 --execute

	# The other targets, each checked by the lag it leaves.
	check "reset-offsets --to-latest --execute" \
		r2 reset-offsets ev g1 --to-latest --execute >/dev/null
	check "the group now lags by nothing" \
		test "$(jget 'd["groups"][0]["lag_records"]' r2 groups ev g1 --json)" = 0
	check "reset-offsets --to-position --execute" \
		r2 reset-offsets ev g1 --to-position "$at101" --execute >/dev/null
	check "the group is at the 101st record" \
		test "$(jget 'd["groups"][0]["lag_records"]' r2 groups ev g1 --json)" = 9900
	check "reset-offsets --shift-by 5 --execute" \
		r2 reset-offsets ev g1 --shift-by 5 --execute >/dev/null
	check "the group moved on five records" \
		test "$(jget 'd["groups"][0]["lag_records"]' r2 groups ev g1 --json)" = 9895
	# --to-datetime: the first record stamped at or after the 201st
	# record's time, from the records' own timestamps.
	read -r when201 want201 < <(r2 dump ev --format json --count 300 | "$PY" -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin]
ts = recs[200]["timestamp_ns"]
first = next(r for r in recs if r["timestamp_ns"] >= ts)
print("@%d.%09d" % divmod(ts, 10**9), first["position"])')
	check "reset-offsets --to-datetime --execute" \
		r2 reset-offsets ev g1 --to-datetime "$when201" --execute >/dev/null
	check "the group resumes at the first record that late" \
		test "$(jget 'd["groups"][0]["committed_pos"]' r2 groups ev g1 --json)" = "$want201"
	check "reset-offsets --to-datetime in the past plans the earliest record" \
		test "$(jget 'd["new_pos"]' r2 reset-offsets ev g1 --to-datetime 2000-01-01 --json)" = 0
	check "reset-offsets --to-datetime in the future plans the tail" "$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["new_pos"] == d["tail_pos"] and d["executed"] is False, d' \
		"$(r2 reset-offsets ev g1 --to-datetime 2999-01-01T00:00:00Z --json)"
	check "the dry runs left the group where it was" \
		test "$(jget 'd["groups"][0]["committed_pos"]' r2 groups ev g1 --json)" = "$want201"
	expect_fail "reset-offsets of an unknown group" 3 \
		r2 reset-offsets ev nosuch --to-earliest
	expect_fail "reset-offsets with two targets" 2 \
		r2 reset-offsets ev g1 --to-earliest --to-latest
	expect_fail "reset-offsets --shift-by 0" 2 r2 reset-offsets ev g1 --shift-by 0
	expect_fail "reset-offsets --to-datetime not a time" 2 \
		r2 reset-offsets ev g1 --to-datetime soon

	# A live member blocks a reset unless --force. ringctl itself, not
	# the r2 function, goes to the background, so that $! is the pid of
	# the member (a function would run in a subshell of its own pid).
	"$RINGCTL" --data-dir "$DATA2" consume ev --group g2 --from latest --timeout 300 \
		>/dev/null 2>&1 &
	MEMBER_PID=$!
	wait_until 60 g2_has_a_live_member
	check "groups TOPIC GROUP names the live member's pid" "$PY" -c '
import json, sys
g = json.loads(sys.argv[1])["groups"][0]
assert g["live_members"] == 1, g
assert [(m["pid"], m["alive"]) for m in g["members"]] == [(int(sys.argv[2]), True)], g' \
		"$(r2 groups ev g2 --json --no-count)" "$MEMBER_PID"
	r2 reset-offsets ev g2 --to-earliest >"$WORK/reset_g2"
	check "the dry run warns that the live member blocks --execute" \
		grep -q "^note: the group has a live member (pid $MEMBER_PID)" "$WORK/reset_g2"
	check "the dry run's JSON names the member" test \
		"$(jget 'd["live_member_pid"]' r2 reset-offsets ev g2 --to-earliest --json)" = "$MEMBER_PID"
	expect_fail "reset-offsets refused while a member lives" 1 \
		r2 reset-offsets ev g2 --to-earliest --execute
	check "the refusal names the member's pid" grep -q "(pid $MEMBER_PID)" "$WORK/err"
	check "reset-offsets --force moves it anyway" \
		r2 reset-offsets ev g2 --to-earliest --execute --force >/dev/null
	kill -INT "$MEMBER_PID"
	wait "$MEMBER_PID" 2>/dev/null
	code=$?
	MEMBER_PID=
	check "the member stops on SIGINT with exit 0" test "$code" -eq 0

	# describe names a live producer, and the owner of a claim that is
	# never committed; after kill -9, ringd repairs the claim. A claim
	# timeout of ten minutes keeps ringd from repairing it while its
	# owner lives.
	if [ -x "${RINGCTL_TEST_CLAIM_HOLDER:-}" ]; then
		check "create a topic with a long claim timeout" \
			r2 create stuck --capacity 64K --claim-timeout 600000
		"$RINGCTL_TEST_CLAIM_HOLDER" "$DATA2" stuck >"$WORK/holder" 2>"$WORK/holder_err" &
		HOLDER_PID=$!
		wait_until 30 test -s "$WORK/holder"
		read -r holder_pid holder_pos <"$WORK/holder"
		check "the claim holder claimed" test "$holder_pid" = "$HOLDER_PID"
		check "describe names the live producer's pid" "$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["producers"]["count"] == 1 and d["producers"]["pids"] == [int(sys.argv[2])], d' \
			"$(r2 describe stuck --json)" "$HOLDER_PID"
		check "describe names the stuck claim's owner" wait_until 60 stuck_claim_is \
			"$HOLDER_PID" "$holder_pos" True
		check "describe prints the stuck claim" grep -qE \
			"^stuck claim +at $holder_pos, owner pid $HOLDER_PID \(alive\)" \
			<(r2 describe stuck)
		kill -KILL "$HOLDER_PID"
		wait "$HOLDER_PID" 2>/dev/null
		HOLDER_PID=
		check "ringd repairs the dead owner's claim" wait_until 60 claim_repaired
	else
		echo "# RINGCTL_TEST_CLAIM_HOLDER not set: the stuck-claim checks are skipped"
	fi

	check "verify passes while ringd runs" r2 verify ev >/dev/null
	check "ringd stops cleanly" stop_ringd
	check "verify passes on the stopped directory" r2 verify >/dev/null

	# The progress bar: on stderr when it is a terminal (script(1) gives
	# verify a pseudo-terminal), never into a pipe or a file.
	r2 verify ev 2>"$WORK/verify_err" >/dev/null
	check "verify draws no progress bar into a file" test ! -s "$WORK/verify_err"
	if command -v script >/dev/null 2>&1; then
		script -qec "$(printf '%q ' "$RINGCTL" --data-dir "$DATA2" verify ev)" /dev/null \
			>"$WORK/verify_tty" 2>&1 </dev/null
		check "verify draws a progress bar on a terminal" "$PY" - "$WORK/verify_tty" <<'PYEOF'
import re, sys
out = open(sys.argv[1], "rb").read()
assert re.search(rb"\r\[#* *\] [0-9.]+ [KMG]?i?B / [0-9.]+ [KMG]?i?B", out), out[:300]
assert b"ev: " in out and b": ok" in out, out[-300:]
PYEOF
	else
		echo "# no script(1): the progress-bar check is skipped"
	fi

	# Flip a byte in the middle of the third segment.
	seg=$(ls "$DATA2/ev/"*.seg | sed -n 3p)
	segname=$(basename "$seg")
	"$PY" - "$seg" <<'PYEOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4096 + 1000)
    b = f.read(1)
    f.seek(4096 + 1000)
    f.write(bytes([b[0] ^ 0xFF]))
PYEOF
	cp "$seg" "$WORK/seg_damaged"
	r2 verify >"$WORK/verify_out" 2>&1
	check "verify exits 1 on a flipped byte" test $? -eq 1
	check "verify names the segment" grep -q "$segname, position [0-9]" "$WORK/verify_out"
	r2 verify ev --json >"$WORK/verify_json"
	check "verify --json gives the segment and a position inside it" "$PY" - \
		"$WORK/verify_json" "$segname" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["damaged"] is True
dmg = d["topics"][0]["damage"]
assert dmg and dmg[0]["file"] == sys.argv[2], dmg
base = dmg[0]["segment_base"]
assert base <= dmg[0]["position"] <= base + 1000, dmg
PYEOF
	r2 recover ev >"$WORK/recover_dry"
	check "recover dry run exits 0 and says what it would do" grep -q "^would " "$WORK/recover_dry"
	check "recover dry run changed nothing" cmp "$seg" "$WORK/seg_damaged"
	check "recover --execute" r2 recover ev --execute >/dev/null
	check "verify passes after recover" r2 verify >/dev/null
	r2 dump ev --format raw >"$WORK/ev_after" 2>"$WORK/err"
	check "dump after recover: every line left is an original" "$PY" - "$WORK/input" \
		"$WORK/ev_after" <<'PYEOF'
import sys
want = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
got = open(sys.argv[2], "rb").read().split(b"\n")[:-1]
assert 9990 <= len(got) < 10000, len(got)
it = iter(want)
assert all(any(g == w for w in it) for g in got), "not an ordered subset"
PYEOF
	check "ringd starts on the repaired directory" start_ringd
	expect_fail "recover --execute refused while ringd runs" 1 r2 recover ev --execute
	check "ringd stops again" stop_ringd

	expect_fail "groups of an unknown topic" 3 r2 groups nosuch
	expect_fail "groups: an unknown group" 3 r2 groups ev nosuch
	expect_fail "reset-offsets without a target" 2 r2 reset-offsets ev g1
	expect_fail "verify an unknown topic" 3 r2 verify nosuch
	expect_fail "export without --format" 2 r2 export ev
	expect_fail "recover without a topic" 2 r2 recover
	check "delete the ringd topic" r2 delete ev
	if [ -x "${RINGCTL_TEST_CLAIM_HOLDER:-}" ]; then
		check "delete the stuck-claim topic" r2 delete stuck
	fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
