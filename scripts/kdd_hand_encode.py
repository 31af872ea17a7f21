#!/usr/bin/env python3
"""Hand-encodes the raw KDD Cup '99 file the way `oddity fit` documents its
schema (docs/cli.md), independently of oddity's code: the three text
columns (1-based 2, 3, 4: protocol, service, flag) one-hot with the
vocabulary sorted by bytes, then a `missing` and an `other` slot (both 0
here: the file has no missing cells, and every value is in the vocabulary);
the label (column 42) left out; numeric cells copied as written.

usage: kdd_hand_encode.py RAW.gz OUT.csv   (no header)
"""
import gzip
import sys

src, out = sys.argv[1], sys.argv[2]
TEXT = (1, 2, 3)
LABEL = 41
with gzip.open(src, "rt") as f:
    rows = [line.rstrip("\n").split(",") for line in f if line.strip()]
vocab = {c: sorted({r[c].strip() for r in rows}, key=lambda s: s.encode()) for c in TEXT}
with open(out, "w") as w:
    for r in rows:
        cells = []
        for c, v in enumerate(r):
            if c == LABEL:
                continue
            if c in TEXT:
                cells += ["1" if v.strip() == u else "0" for u in vocab[c]] + ["0", "0"]
            else:
                cells.append(v.strip())
        w.write(",".join(cells) + "\n")
print({c: len(v) for c, v in vocab.items()}, len(rows), "rows", file=sys.stderr)
