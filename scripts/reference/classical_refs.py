#!/usr/bin/env python3
"""Reference values for oddity's classical detectors (KNN, ECOD), computed with PyOD.

Prints ONE JSON object on stdout; the committed copy is classical_refs.json beside this file:

    python scripts/reference/classical_refs.py > scripts/reference/classical_refs.json

Needs numpy, scipy and pyod (made with pyod 3.6.7, scikit-learn 1.9.1, numpy 2.4, scipy 1.17,
Python 3.11); no torch. A ready virtualenv on the dev machine: /root/.cache/oddity/pyod-venv.

Fixed data, no RNG, so that the Rust tests can regenerate it exactly. Every value is computed
in float64 with the C library's sin/cos (Python's math module, like Rust's f64::sin/cos),
evaluated left to right as written, then rounded to float32; the float32 values (widened back to
float64) are what every computation below uses:

    train (60 x 4): x[i][j] = sin(0.7*i + 1.3*j) + 0.25*cos(1.1*i*(j+1))
    test  (20 x 4): x[i][j] = 1.6*sin(0.37*i + 0.5*j + 0.2) + 0.3*(j-1.5)*cos(0.9*i)

i and j are the 0-based row and column. The JSON also holds both matrices ("train", "test") so
a test can check its generator before checking scores.

Keys:
  knn_largest       PyOD KNN(n_neighbors=5, method='largest').fit(train).decision_function(test)
  knn_mean          PyOD KNN(n_neighbors=5, method='mean'), same
  knn_largest_std   as knn_largest, with train and test standardised by the TRAIN column mean
                    and population std (ddof=0; a zero std becomes 1)
  ecod_inductive    ecod_inductive(train, test) below, on the raw data
  pyod_ecod         PyOD ECOD().fit(train).decision_function(test): transductive (ECDFs over
                    train + all scored rows together), for comparison only
  knn_largest_train_rows_as_query  decision_function(train[:5]): a query equal to a training row
                    has that row as a neighbour at distance 0 (sklearn kneighbors with X given)
  knn_largest_fit_scores_head      decision_scores_[:5] from fit: here each training row is
                    NOT its own neighbour (sklearn kneighbors with X=None excludes the query)
"""
import json
import math
import sys

import numpy as np
from scipy.stats import skew

N_TRAIN, N_TEST, DIM = 60, 20, 4


def train_matrix():
    rows = [[math.sin(0.7 * i + 1.3 * j) + 0.25 * math.cos(1.1 * i * (j + 1))
             for j in range(DIM)] for i in range(N_TRAIN)]
    return np.array(rows, dtype=np.float64).astype(np.float32).astype(np.float64)


def test_matrix():
    rows = [[1.6 * math.sin(0.37 * i + 0.5 * j + 0.2) + 0.3 * (j - 1.5) * math.cos(0.9 * i)
             for j in range(DIM)] for i in range(N_TEST)]
    return np.array(rows, dtype=np.float64).astype(np.float32).astype(np.float64)


def standardise(train, test):
    mu = train.mean(axis=0)
    sd = train.std(axis=0)  # population std, ddof=0
    sd[sd == 0] = 1.0
    return (train - mu) / sd, (test - mu) / sd


def ecod_inductive(train, test):
    """Inductive ECOD: score each row of `test` against the TRAINING distribution alone.

    For each column j, with n = number of training rows and the scored value x = test[r, j]:

        c_le = #{ training values in column j  <= x }     (ties count: "<=", as PyOD's ECDF)
        c_ge = #{ training values in column j  >= x }     (ties count: ">=")
        F_l  = max(c_le, 1) / n                           (left-tail ECDF, floored at 1/n)
        F_r  = max(c_ge, 1) / n                           (right-tail ECDF, floored at 1/n)
        U_l  = -ln F_l ,  U_r = -ln F_r                   (both >= 0, at most ln n)

    The scored row is NOT counted into the ECDF (no +1 on either side). Skewness of column j is
    taken from the training column (scipy.stats.skew, biased, NaN -> 0), s = sign(skew), and,
    exactly as PyOD writes it:

        U_skew = U_l * (-sign(s - 1)) + U_r * sign(s + 1)
               = U_l if s < 0,  U_r if s > 0,  U_l + U_r if s == 0

    Aggregation is PyOD's: elementwise max per column, THEN sum over columns:

        score(x) = sum_j max(U_l[j], U_r[j], U_skew[j])

    (not the paper's max(sum_j U_l, sum_j U_r, sum_j U_skew)). With this aggregation the skew
    term only matters for a column whose training skewness is exactly 0 (e.g. a constant
    column), where it contributes U_l + U_r instead of max(U_l, U_r).

    Rank-based per column, so any positive affine per-column rescaling (e.g. standardising)
    leaves the scores unchanged. On the ODDS clean protocol (seeds 1-3) this gives mean ROC AUC
    cardio 0.970, ionosphere 0.820, satellite 0.675 (PyOD's transductive ECOD: 0.953, 0.744,
    0.619).
    """
    train = np.asarray(train, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    n, d = train.shape
    c_le = np.empty(test.shape)
    c_ge = np.empty(test.shape)
    for j in range(d):
        col = np.sort(train[:, j])
        c_le[:, j] = np.searchsorted(col, test[:, j], side="right")
        c_ge[:, j] = n - np.searchsorted(col, test[:, j], side="left")
    u_l = -np.log(np.maximum(c_le, 1.0) / n)
    u_r = -np.log(np.maximum(c_ge, 1.0) / n)
    s = np.sign(np.nan_to_num(skew(train, axis=0)))
    u_skew = u_l * -np.sign(s - 1) + u_r * np.sign(s + 1)
    return np.maximum(np.maximum(u_l, u_r), u_skew).sum(axis=1)


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def main():
    import pyod
    import sklearn
    from pyod.models.ecod import ECOD
    from pyod.models.knn import KNN

    train, test = train_matrix(), test_matrix()
    train_s, test_s = standardise(train, test)

    knn = KNN(n_neighbors=5, method="largest").fit(train)
    out = {
        "meta": {
            "generator": "scripts/reference/classical_refs.py",
            "pyod": pyod.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "n_train": N_TRAIN, "n_test": N_TEST, "dim": DIM,
        },
        "train": [floats(r) for r in train],
        "test": [floats(r) for r in test],
        "knn_largest": floats(knn.decision_function(test)),
        "knn_mean": floats(KNN(n_neighbors=5, method="mean").fit(train).decision_function(test)),
        "knn_largest_std": floats(
            KNN(n_neighbors=5, method="largest").fit(train_s).decision_function(test_s)),
        "ecod_inductive": floats(ecod_inductive(train, test)),
        "pyod_ecod": floats(ECOD().fit(train).decision_function(test)),
        "knn_largest_train_rows_as_query": floats(knn.decision_function(train[:5])),
        "knn_largest_fit_scores_head": floats(knn.decision_scores_[:5]),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
