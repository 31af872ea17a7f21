#!/usr/bin/env bash
# KNN, IsolationForest and ECOD: oddity and PyOD side by side, one after the
# other in one run, on the ODDS tables (clean protocol, seeds 1-3): fit on
# the training split's inliers, score the test split; wall time of fit +
# score inside each process (no process start, no file I/O), and ROC AUC.
#
#   VENV=/root/.cache/oddity/pyod-venv benches/classical_compare.sh [TABLES]
#
# TABLES: comma-separated, default all six. Needs a virtualenv with
# pyod==3.6.7 and scikit-learn (../shared/peers/README.md, or
# scripts/reference/README.md for a light one). Prints one Markdown table:
# per table and detector, the median seconds of each side and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/root/.cache/oddity/pyod-venv}
TABLES=${1:-cardio,ionosphere,letter,mnist,pendigits,satellite}
DATA=${ODDS_DIR:-../shared/datasets/odds}
OUT=${OUT:-out/classical_compare}
mkdir -p "$OUT"
cargo build --release --example odds_suite >&2
echo "PyOD ..." >&2
"$VENV/bin/python" - "$DATA" "$TABLES" > "$OUT/pyod.jsonl" <<'PY'
# The protocol of ../shared/peers/odds_suite.py (its split and scaling),
# timed with perf_counter around fit + decision_function only.
import json, sys, time
import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from pyod.models.ecod import ECOD
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
data, tables = sys.argv[1], sys.argv[2].split(",")
for t in tables:
    a = np.loadtxt(f"{data}/{t}.csv.gz", delimiter=",", skiprows=1)
    X, y = a[:, :-1], a[:, -1].astype(int)
    for seed in (1, 2, 3):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, random_state=seed, stratify=y)
        mu, sd = Xtr.mean(0), Xtr.std(0)
        sd[sd == 0] = 1
        Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
        fit = Xtr[ytr == 0]
        for name, make in [("KNN", lambda: KNN()), ("IForest", lambda: IForest(random_state=seed)), ("ECOD", lambda: ECOD())]:
            t0 = time.perf_counter()
            m = make()
            m.fit(fit)
            s = m.decision_function(Xte)
            sec = time.perf_counter() - t0
            print(json.dumps(dict(dataset=t, seed=seed, detector="pyod:" + name, seconds=sec,
                                  roc_auc=float(roc_auc_score(yte, s)))), flush=True)
PY
echo "oddity ..." >&2
target/release/examples/odds_suite --data "$DATA" --tables "$TABLES" --mode clean \
    --detectors knn,iforest,ecod | grep '^{' > "$OUT/oddity.jsonl"
python3 - "$OUT/pyod.jsonl" "$OUT/oddity.jsonl" <<'PY'
import json, statistics, sys
pyod = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
odd = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
pairs = [("KNN", "knn"), ("IForest", "iforest"), ("ECOD", "ecod")]
tables = sorted({r["dataset"] for r in pyod})
print("| table | detector | PyOD s (median) | oddity s (median) | speed-up | PyOD ROC AUC | oddity ROC AUC |")
print("|---|---|---|---|---|---|---|")
for t in tables:
    for p, o in pairs:
        ps = [r for r in pyod if r["dataset"] == t and r["detector"] == "pyod:" + p]
        os_ = [r for r in odd if r["table"] == t and r["detector"] == o]
        if not ps or not os_:
            continue
        a = statistics.median(r["seconds"] for r in ps)
        b = statistics.median(r["seconds"] for r in os_)
        ra = statistics.mean(r["roc_auc"] for r in ps)
        rb = statistics.mean(r["roc_auc"] for r in os_)
        print(f"| {t} | {o} | {a:.3f} | {b:.4f} | {a / max(b, 1e-9):.1f}x | {ra:.3f} | {rb:.3f} |")
PY
