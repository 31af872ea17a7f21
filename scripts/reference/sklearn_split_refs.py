"""Reference splits for oddity's `datasets::sklearn_split` (tests/sklearn_split.rs).

scikit-learn 1.9.1 / numpy 2.x: `train_test_split(idx, test_size=T, random_state=S,
stratify=y)` on synthetic label vectors (no data rows), printed as one JSON object.

    /root/.cache/oddity/pyod-venv/bin/python scripts/reference/sklearn_split_refs.py \
        > scripts/reference/sklearn_split_refs.json
"""
import json

import numpy as np
import sklearn
from sklearn.model_selection import train_test_split


def labels(n, rule):
    return [int(rule(i)) for i in range(n)]


cases = []
for name, n, rule in [
    ("every13th_351", 351, lambda i: (i * 7) % 13 == 0),
    ("first126_351", 351, lambda i: i < 126),
    ("every16th_1600", 1600, lambda i: i % 16 == 3),
    ("tie_10", 10, lambda i: i % 2 == 0),  # equal remainders: a random tie-break
    ("three_7", 7, lambda i: i in (1, 4, 5)),
]:
    y = labels(n, rule)
    for seed in (0, 1, 2, 3, 42):
        for test_size in (0.4, 0.25):
            tr, te = train_test_split(np.arange(n), test_size=test_size, random_state=seed, stratify=y)
            cases.append(dict(name=name, n=n, seed=seed, test_size=test_size,
                              train=[int(v) for v in tr], test=[int(v) for v in te]))
print(json.dumps(dict(sklearn=sklearn.__version__, numpy=np.__version__, cases=cases)))
