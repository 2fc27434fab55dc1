#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# edge_labels.sh - the memory-ordering edge labels used in libring's code
# (P1, C2, M3, ...: every acquire, release and seq_cst site names one) are
# exactly the labels of the table in docs/design/memory-ordering.md.
#
#   edge_labels.sh SOURCE_ROOT
#
# A label in the code that the table lacks is an edge nobody has argued
# for; a label in the table that the code lacks is an argument about code
# that is gone. Either fails the test, naming the labels and where they are.
# "C11" (the language) is not a label.
set -euo pipefail

root=${1:?usage: edge_labels.sh SOURCE_ROOT}
table="$root/docs/design/memory-ordering.md"
label_re='\b[OPCMGRWD][0-9]{1,2}b?\b'

if [[ ! -f "$table" ]]; then
  echo "edge_labels: $table is missing" >&2
  exit 1
fi

code=$(grep -ohE "$label_re" "$root"/libring/*.c "$root"/libring/*.h | grep -vx 'C11' | sort -u)
# The table's rows: "| LABEL | site | ...".
doc=$(grep -oE "^\| *[OPCMGRWD][0-9]{1,2}b? *\|" "$table" | tr -d '| ' | sort -u)

missing=$(comm -23 <(echo "$code") <(echo "$doc"))
stale=$(comm -13 <(echo "$code") <(echo "$doc"))
rc=0
for l in $missing; do
  echo "edge_labels: $l is used in the code but not in memory-ordering.md:" >&2
  grep -nwE "$l" "$root"/libring/*.c "$root"/libring/*.h | sed 's/^/    /' | head -n 5 >&2
  rc=1
done
for l in $stale; do
  echo "edge_labels: $l is in memory-ordering.md but nowhere in libring/" >&2
  rc=1
done
if [[ $rc -eq 0 ]]; then
  echo "# $(echo "$code" | wc -w) edge labels, the same in the code and in the table"
fi
exit $rc
