"""Scoring Spark DataFrames with an oddity detector.

    from oddity.spark import score
    scored = score(df, "kdd.oddity", feature_cols=["f0", "f1", ...])
    # df's columns + `score` (float) + `is_outlier` (boolean, when the detector has a threshold)

The detector file is shipped to the executors with `SparkContext.addFile`,
found there with `SparkFiles.get`, and loaded once per Python worker
process. Rows go through `mapInArrow`: each Arrow batch becomes one float32
matrix (columns cast to float32) scored by the same Rust code as the
`oddity` command line. A null in a feature column is an error naming the
column. The executors need this package (and torch) installed in their
Python: see the README, "On Spark".
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Dict, Optional, Sequence

__all__ = ["score"]

# Detectors loaded in this (worker) process, by shipped file name.
_LOADED: Dict[str, object] = {}


def _load_shipped(name: str):
    det = _LOADED.get(name)
    if det is None:
        import oddity
        from pyspark import SparkFiles

        det = oddity.load(SparkFiles.get(name))
        _LOADED[name] = det
    return det


def _ship(sc, path: str) -> str:
    """Adds the detector file to the job under a name unique to its content
    (two different files named alike never clash; the same file added twice
    is one file). Returns that name."""
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    name = f"oddity-{digest}-{os.path.basename(path)}"
    staged = os.path.join(tempfile.gettempdir(), "oddity-spark", name)
    if not os.path.exists(staged):
        os.makedirs(os.path.dirname(staged), exist_ok=True)
        tmp = staged + f".{os.getpid()}.tmp"
        shutil.copyfile(path, tmp)
        os.replace(tmp, staged)
    # Spark refuses a second addFile of the same name from another path, and
    # ignores one from the same path.
    sc.addFile(staged)
    return name


def score(
    df,
    detector_path: "os.PathLike[str] | str",
    feature_cols: Sequence[str],
    output_col: str = "score",
    outlier_col: str = "is_outlier",
    threads: Optional[int] = None,
):
    """`df` with a float column `output_col` of scores (higher = more
    anomalous) and, when the detector has a threshold, a boolean column
    `outlier_col` (score > threshold).

    `feature_cols` are the detector's input columns, in its order; any
    numeric type, cast to float32. `threads`: libtorch threads per Python
    worker (None keeps libtorch's default; 1 suits one worker per core).
    """
    import oddity
    from pyspark.sql.types import BooleanType, FloatType, NumericType, StructField, StructType

    path = os.path.abspath(os.fspath(detector_path))
    det = oddity.load(path)  # checks the file here, on the driver, first
    cols = list(feature_cols)
    if len(cols) != det.n_features:
        raise ValueError(f"{path} was fitted on {det.n_features} columns, feature_cols has {len(cols)}")
    fields = {f.name: f for f in df.schema.fields}
    for c in cols:
        if c not in fields:
            raise ValueError(f"feature column {c!r} is not in the DataFrame (columns: {', '.join(fields)})")
        if not isinstance(fields[c].dataType, NumericType):
            raise ValueError(f"feature column {c!r} is {fields[c].dataType.simpleString()}, not numeric")
    threshold = det.threshold
    new = [output_col] + ([outlier_col] if threshold is not None else [])
    for c in new:
        if c in fields:
            raise ValueError(f"output column {c!r} is already in the DataFrame")
    out_fields = list(df.schema.fields) + [StructField(output_col, FloatType(), False)]
    if threshold is not None:
        out_fields.append(StructField(outlier_col, BooleanType(), False))
    schema = StructType(out_fields)

    name = _ship(df.sparkSession.sparkContext, path)

    def score_batches(batches):
        import numpy as np
        import pyarrow as pa

        if threads is not None:
            import torch

            torch.set_num_threads(int(threads))
        det = _load_shipped(name)
        for batch in batches:
            x = np.empty((batch.num_rows, len(cols)), dtype=np.float32)
            for j, c in enumerate(cols):
                col = batch.column(c)
                if col.null_count:
                    raise ValueError(
                        f"oddity.spark.score: feature column {c!r} has {col.null_count} null values in a batch "
                        "of rows: fill or drop them first"
                    )
                x[:, j] = col.to_numpy(zero_copy_only=False)
            # A batch can be empty (a filter upstream); the library refuses
            # empty input, so it gets no call.
            s = det.score(x) if batch.num_rows else np.empty(0, dtype=np.float32)
            arrays = [batch.column(i) for i in range(batch.num_columns)] + [pa.array(s, type=pa.float32())]
            if threshold is not None:
                arrays.append(pa.array(s.astype(np.float64) > threshold, type=pa.bool_()))
            yield pa.RecordBatch.from_arrays(arrays, names=names)

    names = [f.name for f in out_fields]
    return df.mapInArrow(score_batches, schema)
