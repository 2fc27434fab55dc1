#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Description: ringctl end to end, through the real binary ($1), in a data
# directory of its own (so it can run beside other tests).
# Positive space: create a persistent and an ephemeral topic, produce 10 000
# lines, dump them back byte for byte (raw, text and json formats), a
# binary round trip with every byte value, describe/stat/list --json parse
# as JSON, tail -f prints what arrives and stops on SIGINT, delete removes
# ring and directory.
# Negative space: an unknown topic exits 3, a bad flag 2, a data directory
# that is a file 2 and one that does not exist 3, each with exactly one
# line on stderr; delete is refused while ringd's lock is held.
# With ringd ($2, when built), in a second data directory: 10 000 lines
# through a 64 KiB ring into 64 KiB segments dump and export back
# byte-identical from the files; a consumer group's lag in bytes and
# records; reset-offsets changes nothing without --execute, moves the
# group with it, and is refused while a member lives unless --force;
# verify passes; a byte flipped in a stopped ringd's segment makes verify
# exit 1 naming the segment and position; recover's dry run changes
# nothing, --execute repairs, verify passes again, and --execute is
# refused while ringd runs.
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
passed=0
failed=0

cleanup() {
	[ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
	[ -n "$LOCK_PID" ] && kill "$LOCK_PID" 2>/dev/null
	[ -n "$MEMBER_PID" ] && kill "$MEMBER_PID" 2>/dev/null
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

ok() {
	echo "ok - $1"
	passed=$((passed + 1))
}

not_ok() {
	echo "not ok - $1"
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
		sed 's/^/#   /' "$WORK/err"
	fi
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
for c in create delete list describe stat produce dump tail groups reset-offsets verify \
	recover export; do
	check "$c --help exits 0" rc "$c" --help >/dev/null
done

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
expect_fail "dump --from beyond the tail" 3 rc dump orders --from 80000000
expect_fail "dump --from not a multiple of 8" 2 rc dump orders --from 3

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
sleep 0.7
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
sleep 0.2
printf 'one\ntwo\nthree\n' | rc produce scratch 2>/dev/null
for _ in $(seq 100); do
	[ "$(wc -l <"$WORK/follow")" -ge 3 ] && break
	sleep 0.05
done
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
expect_fail "a bad size" 2 rc create other --capacity 3M
expect_fail "a bad topic name" 2 rc create 'a/b'
touch "$WORK/file"
expect_fail "a data directory that is a file" 2 "$RINGCTL" --data-dir "$WORK/file" list
expect_fail "a data directory that does not exist" 3 \
	"$RINGCTL" --data-dir "$WORK/missing" describe orders
expect_fail "no data directory" 2 env -u RINGLOG_DATA_DIR "$RINGCTL" list

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
for _ in $(seq 100); do
	[ -s "$DATA/ringd.lock" ] && break
	sleep 0.05
done
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

# jget EXPR COMMAND...: a field of a command's JSON output.
jget() {
	local expr=$1
	shift
	"$@" | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($expr)"
}

start_ringd() {
	"$RINGD" --data-dir "$DATA2" --log-level warn 2>>"$WORK/ringd.log" &
	RINGD_PID=$!
	# Up once its heartbeat is in the topic.
	for _ in $(seq 200); do
		[ "$(jget 'd["ringd"] and d["ringd"]["alive"] and d["ringd"]["pid"]' \
			r2 describe ev --json 2>/dev/null)" = "$RINGD_PID" ] && return 0
		sleep 0.05
	done
	return 1
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
	r2 export ev --format jsonl --from 0 --to 7296 2>/dev/null >"$WORK/ev_jsonl"
	check "export --format jsonl --from --to: the first 100 records" \
		test "$(wc -l <"$WORK/ev_jsonl")" -eq 100

	# A group that consumed 100 records is committed at the 101st (each
	# input line of the first hundred takes 72 bytes).
	r2 consume ev --group g1 --count 100 >/dev/null 2>&1
	r2 groups ev --json >"$WORK/groups"
	check "groups shows the lag in bytes and records" "$PY" - "$WORK/groups" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
g = {x["name"]: x for x in d["groups"]}["g1"]
assert g["mode"] == "exclusive" and g["committed_pos"] == 7296, g
assert g["lag_bytes"] == d["tail_pos"] - 7296, (g, d["tail_pos"])
assert g["lag_records"] == 9900, g
assert g["delivered"] >= 100, g
PYEOF
	check "groups TOPIC GROUP prints text" r2 groups ev g1 >/dev/null

	r2 reset-offsets ev g1 --to-earliest --json >"$WORK/reset_dry"
	check "reset-offsets dry run plans and changes nothing" "$PY" - "$WORK/reset_dry" \
		"$(r2 groups ev g1 --json --no-count)" <<'PYEOF'
import json, sys
plan = json.load(open(sys.argv[1]))
assert plan["executed"] is False and plan["current_pos"] == 7296 and plan["new_pos"] == 0, plan
assert json.loads(sys.argv[2])["groups"][0]["committed_pos"] == 7296
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

	# A live member blocks a reset unless --force.
	r2 consume ev --group g2 --from latest --timeout 30 >/dev/null 2>&1 &
	MEMBER_PID=$!
	for _ in $(seq 200); do
		[ "$(jget 'sum(g["live_members"] for g in d["groups"] if g["name"] == "g2")' \
			r2 groups ev --json --no-count 2>/dev/null)" = 1 ] && break
		sleep 0.05
	done
	expect_fail "reset-offsets refused while a member lives" 1 \
		r2 reset-offsets ev g2 --to-earliest --execute
	check "the refusal names the member's pid" grep -q "pid $MEMBER_PID" "$WORK/err"
	check "reset-offsets --force moves it anyway" \
		r2 reset-offsets ev g2 --to-earliest --execute --force >/dev/null
	kill -INT "$MEMBER_PID"
	wait "$MEMBER_PID" 2>/dev/null
	MEMBER_PID=

	check "verify passes while ringd runs" r2 verify ev >/dev/null
	check "ringd stops cleanly" stop_ringd
	check "verify passes on the stopped directory" r2 verify >/dev/null

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
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
