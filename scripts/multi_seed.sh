#!/usr/bin/env bash
# Runs one example over several seeds, one after another (never in parallel:
# on 2 cores overlapping runs distort each other's timings), then prints a
# Markdown table of chosen JSON fields per seed with their median, min and max.
#
#   scripts/multi_seed.sh EXAMPLE "SEEDS" [EXTRA ARGS...]
#   scripts/multi_seed.sh creditcard_ae "0 1 2 3 4" --no-plots --quiet
#   scripts/multi_seed.sh kdd_aegmm "0 1 2 3 4" --no-plots --no-baseline
#   scripts/multi_seed.sh --summarize out/multi_seed/creditcard_ae/results.jsonl
#
# Every example ends its output with one JSON line; this collects those lines
# (plus the measured wall time, `wall_seconds`) into OUT/results.jsonl and
# keeps each run's full output in OUT/seed<N>.log.
#
# Environment:
#   FIELDS  comma-separated JSON fields, nested ones dotted (best_f1.f1);
#           a field some runs lack prints as "-", one no run has is left out.
#           Default: a set covering the KDD and credit-card examples.
#   OUT     folder for logs, per-seed outputs and results.jsonl
#           (default: out/multi_seed/EXAMPLE).
# Needs bash, cargo and python3 (standard library only).
set -euo pipefail

FIELDS=${FIELDS:-roc_auc,auprc,threshold,precision,recall,f1,best_f1.threshold,best_f1.precision,best_f1.recall,best_f1.f1,epochs_run,train_seconds,wall_seconds}

summarize() {
    python3 - "$1" "$FIELDS" <<'PY'
import json, statistics, sys

path, fields = sys.argv[1], [f for f in sys.argv[2].split(",") if f]

def get(d, dotted):
    for key in dotted.split("."):
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d

def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.4f}"

runs = [json.loads(line) for line in open(path) if line.strip()]
if not runs:
    sys.exit(f"{path}: no results")
# Fields no run has (e.g. best_f1.* for the KDD examples) are left out.
fields = [f for f in fields if any(get(r, f) is not None for r in runs)]
print("| seed | " + " | ".join(fields) + " |")
print("|---" * (len(fields) + 1) + "|")
for r in runs:
    print(f"| {r.get('seed', '-')} | " + " | ".join(fmt(get(r, f)) for f in fields) + " |")
for name, fn in [("median", statistics.median), ("min", min), ("max", max)]:
    cells = []
    for f in fields:
        vals = [get(r, f) for r in runs]
        nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not nums or len(nums) != len(vals):
            cells.append("-")
            continue
        v = fn(nums)
        # Counts (epochs) stay integers unless a median falls between two.
        cells.append(fmt(int(v) if all(isinstance(n, int) for n in nums) and v == int(v) else float(v)))
    print(f"| **{name}** | " + " | ".join(cells) + " |")
print(f"\n{len(runs)} runs from {path}")
PY
}

if [[ ${1:-} == --summarize ]]; then
    summarize "${2:?usage: multi_seed.sh --summarize RESULTS.jsonl}"
    exit 0
fi
if [[ $# -lt 2 ]]; then
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi

example=$1
seeds=$2
shift 2
cd "$(dirname "$0")/.."
out=${OUT:-out/multi_seed/$example}
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"

cargo build --release --example "$example"
bin=target/release/examples/$example

for seed in $seeds; do
    log=$out/seed$seed.log
    echo "== $example --seed $seed $*" >&2
    start=$(date +%s.%N)
    if ! "$bin" --seed "$seed" --out "$out/seed$seed" "$@" >"$log" 2>&1; then
        echo "seed $seed failed; see $log" >&2
        tail -5 "$log" >&2
        continue
    fi
    end=$(date +%s.%N)
    json=$(grep '^{' "$log" | tail -1)
    python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["wall_seconds"] = float(sys.argv[3]) - float(sys.argv[2]); print(json.dumps(d))' \
        "$json" "$start" "$end" >>"$results"
    grep -E '^(trained|test:)' "$log" >&2 || true
done

summarize "$results"
