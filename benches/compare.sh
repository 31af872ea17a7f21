#!/usr/bin/env bash
# Side by side, one after the other on the same machine and data: oddity's
# KDD examples against the peers in ../shared/peers (the same AEGMM/VAEGMM in
# PyTorch driven from Python, and Alibi Detect on TensorFlow).
#
# Prints a table of seconds per epoch, scoring rows/s, peak memory (max RSS),
# F1 and ROC AUC, with the ratios oddity/peer, and writes the raw JSON lines
# and logs to $OUT (default target/compare).
#
#   benches/compare.sh                 # 10 epochs each, seed 1, both detectors, all peers
#   EPOCHS=50 benches/compare.sh       # the full protocol (Alibi then takes ~1 h per detector)
#   PEERS="torch" benches/compare.sh   # skip Alibi Detect
#   RUNS="oddity torch" benches/compare.sh  # rerun these, keep stored Alibi runs in the table
#   DETECTORS="aegmm" benches/compare.sh
#   SUMMARY_ONLY=1 benches/compare.sh  # reprint the table from the stored runs
#
# The peers' virtualenv (TensorFlow, Alibi Detect, PyTorch; ~7.6 GB) is
# created once in ~/.cache/oddity/peers-venv from ../shared/peers/requirements-peers.txt.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
peers="${PEERS_DIR:-$repo/../shared/peers}"
venv="${PEERS_VENV:-${ODDITY_CACHE:-$HOME/.cache/oddity}/peers-venv}"
out="${OUT:-$repo/target/compare}"
epochs="${EPOCHS:-10}"
seed="${SEED:-1}"
detectors="${DETECTORS:-aegmm vaegmm}"
peer_list="${PEERS:-torch alibi}"
mkdir -p "$out"

summary_only="${SUMMARY_ONLY:-0}"
runs="${RUNS:-oddity $peer_list}"   # which of oddity/torch/alibi to (re)run
[ -d "$peers" ] || { echo "peers not found at $peers (set PEERS_DIR)" >&2; exit 1; }
if [ "$summary_only" != 1 ]; then
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, alibi_detect' 2>/dev/null; then
  echo "[compare] creating the peers' virtualenv in $venv (one time, several GB)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$peers/requirements-peers.txt"
fi
"$repo/scripts/setup.sh"
(cd "$repo" && cargo build --release -q --example kdd_aegmm --example kdd_vaegmm)
fi

# run NAME CMD...: runs CMD under /usr/bin/time, keeps the last JSON line and max RSS.
run() {
  local name=$1; shift
  echo "[compare] $(date -u +%T) $name: $*" >&2
  /usr/bin/time -v "$@" > "$out/$name.log" 2> "$out/$name.err" || echo "[compare] $name failed, see $out/$name.err" >&2
  grep '^{' "$out/$name.log" | tail -n 1 > "$out/$name.json" || true
  awk -F': ' '/Maximum resident set size/ {print $2}' "$out/$name.err" > "$out/$name.rss"
}

wanted() { [[ " $runs " == *" $1 "* ]] && [ "$summary_only" != 1 ]; }
for d in $detectors; do
  wanted oddity && run "oddity_$d" "$repo/target/release/examples/kdd_$d" --epochs "$epochs" --seed "$seed" --quiet --no-plots --no-baseline --out "$out/oddity_$d"
  for p in $peer_list; do
    wanted "$p" || continue
    case $p in
      torch) run "torch_$d" "$venv/bin/python" "$peers/torch_aegmm.py" --detector "$d" --epochs "$epochs" --seed "$seed" --verbose 0 ;;
      alibi) run "alibi_$d" "$venv/bin/python" "$peers/alibi_kdd.py" --detector "$d" --epochs "$epochs" --seed "$seed" --verbose 0 ;;
    esac
  done
done

python3 - "$out" "$epochs" "$detectors" "$peer_list" <<'PY'
import json, os, sys
out, epochs, dets, peers = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
def load(name):
    try:
        j = json.load(open(os.path.join(out, name + ".json")))
    except Exception:
        return None
    rss = open(os.path.join(out, name + ".rss")).read().strip()
    j["_rss_mib"] = int(rss) / 1024 if rss else float("nan")
    j["_sps"] = j.get("seconds_per_epoch")
    j["_rows"] = j.get("scoring_rows_per_second") or j.get("rows_per_second")
    return j
print(f"\nKDD Cup '99 10 %, 400,000 x 18 training rows, batch 1024, {epochs} epochs, seed as given; one run each\n")
print("| run | s/epoch | scoring rows/s | peak RSS MiB | F1 | ROC AUC | oddity speed-up: train | scoring |")
print("|---|---|---|---|---|---|---|---|")
for d in dets:
    o = load(f"oddity_{d}")
    for name in [f"oddity_{d}"] + [f"{p}_{d}" for p in peers]:
        j = load(name)
        if j is None:
            print(f"| {name} | failed | | | | | | |"); continue
        if j.get("diverged"):
            print(f"| {name} | diverged: {j['diverged']} | | | | | | |"); continue
        tr = sc = ""
        if o and name != f"oddity_{d}":
            tr = f"{j['_sps'] / o['_sps']:.1f}x"
            sc = f"{o['_rows'] / j['_rows']:.1f}x"
        print(f"| {name} | {j['_sps']:.3f} | {j['_rows']:,.0f} | {j['_rss_mib']:.0f} | {j['f1']:.3f} | {j['roc_auc']:.3f} | {tr} | {sc} |")
PY
