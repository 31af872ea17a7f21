#!/bin/bash
# Numeric-CSV throughput of two oddity binaries, side by side, alternating
# runs so that both see the same machine load: `fit` of ECOD (reading the
# table dominates), `score` of AEGMM (reading dominates) and one AEGMM
# training epoch. Prints wall seconds / CPU seconds (user + sys) per run.
#
# usage: benches/csv_throughput.sh OLD_BINARY NEW_BINARY [REPS]
# The table is the credit-card CSV (284,807 rows, 30 features + `Class`),
# decompressed into a temporary folder; nothing is written to the repo.
set -euo pipefail
OLD=$1 NEW=$2 REPS=${3:-5}
SRC=${CREDITCARD_GZ:-/work/shared/datasets/creditcard.csv.gz}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
zcat "$SRC" > "$W/cc.csv"
t() { /usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%s/%.2f", $1, $2+$3}'; }
for v in OLD NEW; do
  "${!v}" fit --detector aegmm --train "$W/cc.csv" --label-column Class --out "$W/g_$v.oddity" --epochs 1 -q
done
for rep in $(seq 1 "$REPS"); do
  for v in OLD NEW; do
    B=${!v}
    a=$(t "$B" fit --detector ecod --train "$W/cc.csv" --label-column Class --out "$W/e_$v.oddity" -q)
    b=$(t "$B" score "$W/g_$v.oddity" "$W/cc.csv" --label-column Class)
    c=$(t "$B" fit --detector aegmm --train "$W/cc.csv" --label-column Class --out "$W/x_$v.oddity" --epochs 1 -q)
    echo "$rep $v ecod_fit=$a aegmm_score=$b aegmm_fit_1epoch=$c"
  done
done
"$OLD" score "$W/g_OLD.oddity" "$W/cc.csv" --label-column Class 2>/dev/null > "$W/s_old"
"$NEW" score "$W/g_NEW.oddity" "$W/cc.csv" --label-column Class 2>/dev/null > "$W/s_new"
cmp -s "$W/s_old" "$W/s_new" && echo "AEGMM scores identical, OLD vs NEW" || echo "AEGMM scores DIFFER"
