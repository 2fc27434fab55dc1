#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check.sh - model-check tests/model/ring.pml with spin, one configuration
# per call (meson runs each as its own test, so they run in parallel).
#
#   check.sh [-k] MODEL CONFIG     run one configuration (names below)
#   check.sh --list                print the configuration names
#
# Each configuration is small enough for an exhaustive search (every
# reachable state, compressed) in seconds; together they cover every fault
# the model knows: producer deaths at each crash point, a maintainer death
# mid-clean, a claim timeout of a live producer, a gating reader that
# registers while the ring runs, an ordinary reader that is overtaken.
# The check fails if spin finds an assertion violation or an invalid end
# state (a process left blocked: a wedged ring), or if the search did not
# complete (out of memory, depth too small). Safety and the model's
# progress properties (end-state assertions, docs/design/ring-protocol.md)
# are what is checked; there is no never claim.
#
# Exit status: 0 verified, 1 refuted or incomplete, 77 spin or a C
# compiler is missing (meson's skip). -k keeps the work directory.
set -euo pipefail

declare -A CONFIGS=(
  # No readers: claims, repairs, late writers, cleaning, record boundaries.
  [core-cap4]="-DCAP=4 -DNREC=1 -DGATING_READER=0 -DORDINARY_READER=0"
  [core-cap2]="-DCAP=2 -DNREC=2 -DGATING_READER=0 -DORDINARY_READER=0"
  # A gating reader registering while producers run (the G1 handshake).
  [gating-timeout]="-DCAP=2 -DNREC=1 -DORDINARY_READER=0 -DPRODUCER_DEATH=0 -DMAINTAINER_DEATH=0"
  [gating-producer-death]="-DCAP=2 -DNREC=1 -DORDINARY_READER=0 -DMAXTMO=0 -DMAINTAINER_DEATH=0"
  [gating-maintainer-death]="-DCAP=2 -DNREC=1 -DORDINARY_READER=0 -DMAXTMO=0 -DPRODUCER_DEATH=0"
  # A gating reader that exists from creation: it must see everything.
  [gating-from-creation]="-DCAP=4 -DNREC=1 -DORDINARY_READER=0 -DLATE_REGISTER=0 -DMAXTMO=0 -DPRODUCER_DEATH=0 -DMAINTAINER_DEATH=0"
  # An ordinary reader, overtaken, copying while the maintainer cleans.
  [ordinary-maintainer-death]="-DCAP=2 -DNREC=1 -DGATING_READER=0 -DPRODUCER_DEATH=0"
  [ordinary-producer-death]="-DCAP=2 -DNREC=1 -DGATING_READER=0 -DMAXTMO=0 -DMAINTAINER_DEATH=0"
)

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${!CONFIGS[@]}" | sort
  exit 0
fi

keep=0
if [[ "${1:-}" == "-k" ]]; then
  keep=1
  shift
fi
if [[ $# -ne 2 ]]; then
  echo "usage: check.sh [-k] MODEL CONFIG | --list" >&2
  exit 2
fi
model=$(realpath "$1")
config=$2
flags=${CONFIGS[$config]:-}
if [[ -z "$flags" ]]; then
  echo "check.sh: unknown configuration '$config' (see --list)" >&2
  exit 2
fi

spin=${SPIN:-spin}
cc=${CC:-cc}
if ! command -v "$spin" >/dev/null 2>&1; then
  echo "# skipped: spin not found (apt-get install spin)"
  exit 77
fi
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "# skipped: no C compiler ($cc) to build spin's verifier"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ring-model.XXXXXX")
if [[ $keep -eq 0 ]]; then
  trap 'rm -rf -- "$work"' EXIT
else
  echo "# work directory: $work"
fi
cd "$work"
cp -- "$model" ring.pml

echo "# $config: spin -a $flags"
# shellcheck disable=SC2086 # the flags are words
"$spin" -a $flags ring.pml >spin.out 2>&1 || { cat spin.out; exit 1; }
# Exhaustive search, compressed states, bounded memory: a run that hits the
# limit reports an incomplete search and fails below rather than swap.
"$cc" -O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=1536 -o pan pan.c
./pan -m100000 >pan.out 2>&1 || true
grep -E 'State-vector|states, stored|transitions|elapsed|errors:' pan.out | sed 's/^/# /'

if grep -qE 'errors: [1-9]' pan.out; then
  grep -E 'violated|invalid end state|acceptance|non-progress' pan.out | head -n 5
  echo "# refuted: replay with: $spin -t $flags -p -g $model (after check.sh -k)"
  exit 1
fi
if grep -qiE 'out of memory|search not completed|max search depth too small|memlim' pan.out; then
  grep -iE 'out of memory|not completed|too small|memlim' pan.out | head -n 3
  echo "# incomplete search: the configuration outgrew its bounds"
  exit 1
fi
if ! grep -q 'errors: 0' pan.out; then
  cat pan.out
  echo "# no verdict from pan"
  exit 1
fi
echo "# $config: verified"
