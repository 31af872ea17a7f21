"""scikit-learn's IsolationForest on the data of tests/iforest.rs's quality test.

The data come from oddity's own generator (tests/common/mod.rs, ChaCha8 +
Box-Muller), which numpy cannot redraw, so the test writes them out:

    ODDITY_IFOREST_DUMP=/tmp/iforest cargo test --release --test iforest -- --ignored dump
    python scripts/reference/iforest_sklearn.py /tmp/iforest

Per data seed 1-3: fit on train_<seed>.csv (2,000 inliers, 8 columns),
score test_<seed>.csv (1,000 inliers then 100 outliers; labels_<seed>.csv)
with `-score_samples` (oddity's score: 2^(-E[h]/c(psi)), higher = more
anomalous), for a hundred `random_state`s (0-99); prints the ROC AUC and the
mean score of the inliers and of the outliers, each averaged over the random
states. The CSV values are the f32 values' shortest round-trip decimals,
read back as float32: the same numbers oddity scores.
"""

import sys
from pathlib import Path

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score


def main(folder: Path) -> None:
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    aucs, mean_in, mean_out = [], [], []
    for seed in (1, 2, 3):
        train = np.loadtxt(folder / f"train_{seed}.csv", delimiter=",", dtype=np.float32)
        test = np.loadtxt(folder / f"test_{seed}.csv", delimiter=",", dtype=np.float32)
        y = np.loadtxt(folder / f"labels_{seed}.csv", dtype=int).astype(bool)
        per = []
        for rs in range(100):
            f = IsolationForest(n_estimators=100, max_samples=256, random_state=rs).fit(train)
            s = -f.score_samples(test)
            per.append((roc_auc_score(y, s), s[~y].mean(), s[y].mean()))
        a, i, o = np.mean(per, axis=0)
        sd = np.std([p[0] for p in per])
        print(f"seed {seed}: AUC {a:.4f} (sd over random states {sd:.4f}), mean score inliers {i:.4f}, outliers {o:.4f}")
        aucs.append(a)
        mean_in.append(i)
        mean_out.append(o)
    print(f"mean over seeds: AUC {np.mean(aucs):.4f}, inliers {np.mean(mean_in):.4f}, outliers {np.mean(mean_out):.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/iforest"))
