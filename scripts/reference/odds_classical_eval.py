#!/usr/bin/env python3
"""ODDS dev-suite check of the inductive ECOD rule and the classical baselines (~20 s, 1 core).

Protocol of shared/datasets/odds/README.md: stratified 60/40 split (seeds 1, 2, 3), standardise
with the training split's mean/std (zero std -> 1), fit on the training inliers ("clean") or the
whole training split ("contaminated"), mean ROC AUC on the test split. Data is read from
$ODDS_DIR, else shared/datasets/odds or ../shared/datasets/odds (never commit the data).

    python scripts/reference/odds_classical_eval.py [SET ...]
"""
import os
import sys

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classical_refs import ecod_inductive  # noqa: E402

SETS = ["cardio", "ionosphere", "letter", "mnist", "pendigits", "satellite"]


def odds_dir():
    for d in (os.environ.get("ODDS_DIR"), "shared/datasets/odds", "../shared/datasets/odds"):
        if d and os.path.isdir(d):
            return d
    sys.exit("ODDS data not found; set ODDS_DIR")


def main():
    from pyod.models.ecod import ECOD
    from pyod.models.knn import KNN

    names = sys.argv[1:] or SETS
    dets = {
        "ECOD-inductive": lambda tr, te, s: ecod_inductive(tr, te),
        "PyOD-ECOD": lambda tr, te, s: ECOD().fit(tr).decision_function(te),
        "IForest": lambda tr, te, s: -IsolationForest(random_state=s).fit(tr).score_samples(te),
        "KNN": lambda tr, te, s: KNN().fit(tr).decision_function(te),
    }
    print("set mode " + " ".join(dets))
    for name in names:
        df = pd.read_csv(os.path.join(odds_dir(), f"{name}.csv.gz"))
        X, y = df.iloc[:, :-1].to_numpy(float), df["label"].to_numpy(int)
        auc = {}
        for seed in (1, 2, 3):
            Xtr, Xte, ytr, yte = train_test_split(
                X, y, test_size=0.4, random_state=seed, stratify=y)
            mu, sd = Xtr.mean(0), Xtr.std(0)
            sd[sd == 0] = 1
            Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
            for mode, tr in (("clean", Xtr[ytr == 0]), ("contaminated", Xtr)):
                for d, f in dets.items():
                    auc.setdefault((mode, d), []).append(roc_auc_score(yte, f(tr, Xte, seed)))
        for mode in ("clean", "contaminated"):
            print(name, mode, " ".join(f"{np.mean(auc[(mode, d)]):.4f}" for d in dets), flush=True)


if __name__ == "__main__":
    main()
