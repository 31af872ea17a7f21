"""Comparing Spark's scores with the CLI's, row by row (shared by the
local[2] and the standalone-cluster tests)."""

import numpy as np

from conftest import bits

# Scores of a row can differ in the last float digits between batches of
# different sizes (BLAS blocking; docs/cli.md): Spark cuts the rows into its
# own Arrow batches. Every score must be within this relative distance of
# the CLI's (a few float32 ulps), and is counted when bitwise equal.
REL = 1e-5


def compare(ids, scores, flags, want, want_flags, threshold):
    order = np.argsort(ids)
    assert np.array_equal(np.asarray(ids)[order], np.arange(len(want))), "rows lost or duplicated"
    got = np.asarray(scores, dtype=np.float32)[order]
    scale = np.maximum(1.0, np.abs(want.astype(np.float64)))
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64)) / scale
    worst = int(np.argmax(diff))
    assert diff.max() <= REL, f"row {worst}: spark {got[worst]!r}, cli {want[worst]!r}"
    identical = int((bits(got) == bits(want)).sum())
    if want_flags is not None:
        got_flags = np.asarray(flags, dtype=bool)[order]
        near = np.abs(want.astype(np.float64) - threshold) <= REL * np.maximum(1.0, abs(threshold))
        assert np.array_equal(got_flags[~near], want_flags[~near])
    return identical
