#!/usr/bin/env python3
"""Builds tables the network detectors' defaults were never chosen on, in the
ODDS suite's format (gzip'd CSV, header x1..xD,label; label 1 = outlier), so a
change to a default can be checked beyond the six ODDS tables:

    ~/.cache/oddity/py-venv/bin/python scripts/heldback_tables.py [OUT_DIR]
    cargo run --release --example odds_suite -- --data OUT_DIR --mode both

OUT_DIR defaults to ~/.cache/oddity/heldback (outside the repo: these are
rows of data sets, never to be committed). Each table follows the ODDS recipe
(one or more classes are the inliers, a small sample of another class the
outliers), drawn with a fixed seed so every run builds the same rows:

- wbc: scikit-learn's breast-cancer table; benign inliers, 21 malignant rows
  (ODDS's wbc uses the same recipe on the same source).
- wine: scikit-learn's wine table; classes 1 and 2 inliers, 10 rows of class 0
  (ODDS's wine recipe).
- optdigits: scikit-learn's 8x8 digits; digits 1-9 inliers, 50 zeros (ODDS's
  optdigits recipe, on scikit-learn's smaller copy).
- creditcard: 10,000 genuine and 100 fraudulent transactions of
  ../shared/datasets/creditcard.csv.gz (V1-V28 and Amount; Time dropped).
- kdd_rare: KDD Cup '99 10 %, distinct rows, the 38 numeric columns; 10,000
  normal connections and 200 of the rare attacks (every label but normal,
  smurf and neptune).
"""

import gzip
import os
import sys
from pathlib import Path

import numpy as np
from sklearn import datasets

SEED = 0
HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "datasets"


def pick(rng, idx, n):
    idx = np.asarray(idx)
    return np.sort(rng.choice(idx, size=min(n, len(idx)), replace=False))


def from_classes(x, y, inlier_classes, outlier_class, n_out, rng):
    inl = np.flatnonzero(np.isin(y, inlier_classes))
    out = pick(rng, np.flatnonzero(y == outlier_class), n_out)
    rows = np.concatenate([inl, out])
    return x[rows], np.r_[np.zeros(len(inl)), np.ones(len(out))]


def creditcard(rng):
    path = SHARED / "creditcard.csv.gz"
    if not path.exists():
        return None
    raw = np.loadtxt(gzip.open(path, "rt"), delimiter=",", skiprows=1,
                     converters={30: lambda s: float(s.strip('"'))})
    x, y = raw[:, 1:30], raw[:, 30]
    inl, out = pick(rng, np.flatnonzero(y == 0), 10_000), pick(rng, np.flatnonzero(y == 1), 100)
    return np.concatenate([x[inl], x[out]]), np.r_[np.zeros(len(inl)), np.ones(len(out))]


def kdd_rare(rng):
    path = SHARED / "kddcup.data_10_percent.gz"
    if not path.exists():
        return None
    rows = sorted(set(gzip.open(path, "rt").read().splitlines()))
    fields = [r.split(",") for r in rows]
    numeric = [i for i in range(41) if i not in (1, 2, 3)]
    x = np.array([[float(f[i]) for i in numeric] for f in fields])
    label = np.array([f[41] for f in fields])
    normal = np.flatnonzero(label == "normal.")
    rare = np.flatnonzero(~np.isin(label, ["normal.", "smurf.", "neptune."]))
    inl, out = pick(rng, normal, 10_000), pick(rng, rare, 200)
    return np.concatenate([x[inl], x[out]]), np.r_[np.zeros(len(inl)), np.ones(len(out))]


def write(out_dir, name, xy):
    if xy is None:
        # Never leave an older copy behind for the suite to pick up.
        (out_dir / f"{name}.csv.gz").unlink(missing_ok=True)
        print(f"{name}: source not found, skipped")
        return
    x, y = xy
    path = out_dir / f"{name}.csv.gz"
    tmp = path.with_suffix(".part")
    with gzip.open(tmp, "wt") as f:
        f.write(",".join([f"x{j + 1}" for j in range(x.shape[1])] + ["label"]) + "\n")
        for row, label in zip(x, y):
            f.write(",".join(f"{v:.10g}" for v in row) + f",{int(label)}\n")
    os.replace(tmp, path)
    print(f"{name}: {len(y)} rows, {x.shape[1]} features, {int(y.sum())} outliers")


def main():
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.home() / ".cache" / "oddity" / "heldback"
    out_dir.mkdir(parents=True, exist_ok=True)
    bc, wine, digits = datasets.load_breast_cancer(), datasets.load_wine(), datasets.load_digits()
    # breast cancer: target 0 = malignant, 1 = benign.
    write(out_dir, "wbc", from_classes(bc.data, bc.target, [1], 0, 21, np.random.default_rng(SEED)))
    write(out_dir, "wine", from_classes(wine.data, wine.target, [1, 2], 0, 10, np.random.default_rng(SEED)))
    write(out_dir, "optdigits", from_classes(digits.data, digits.target, list(range(1, 10)), 0, 50,
                                             np.random.default_rng(SEED)))
    write(out_dir, "creditcard", creditcard(np.random.default_rng(SEED)))
    write(out_dir, "kdd_rare", kdd_rare(np.random.default_rng(SEED)))


if __name__ == "__main__":
    main()
