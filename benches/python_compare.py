#!/usr/bin/env python
"""Speed of oddity from Python, side by side (docs/benchmarks.md).

1. numpy scoring through the binding against the Rust API (examples/score_file.rs)
   on the same detector file and the same rows in memory; the scores are
   checked bit for bit.
2. Spark local[2] scoring, rows/s: oddity.spark.score (mapInArrow) against the
   same AEGMM architecture in plain PyTorch (../shared/peers/torch_aegmm.py) as
   a pandas_udf, on the same cached DataFrame.

Both detectors are KDD-shaped AEGMMs (18 features; encoder 60-30-10-1, decoder
10-30-60-18, estimation network 10 -> 2 components), each trained one epoch
on the same synthetic rows: scoring speed does not depend on the weights.

    ./scripts/setup.sh && ./scripts/setup-python.sh
    ~/.cache/oddity/py-venv/bin/python benches/python_compare.py [--rows 1000000] [--spark-rows 2000000]

Prints one JSON line at the end. Run nothing else meanwhile (2 cores).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Iterator, Tuple

import numpy as np

import oddity

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.environ.get("ODDITY_PEERS", os.path.join(os.path.dirname(REPO), "shared", "peers"))
D = 18


def rows(n, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4)).astype(np.float32)
    mix = rng.normal(size=(4, D)).astype(np.float32)
    return (z @ mix + 0.1 * rng.normal(size=(n, D)).astype(np.float32)).astype(np.float32)


def numpy_vs_rust(det_path, n, repeats, tmp):
    x = rows(n, seed=2)
    raw = os.path.join(tmp, "rows.f32")
    x.tofile(raw)
    out = os.path.join(tmp, "rust-scores.f32")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "score_file"], cwd=REPO, check=True)
    exe = os.path.join(REPO, "target", "release", "examples", "score_file")
    det = oddity.load(det_path)
    x64 = x.astype(np.float64)

    def py(a):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            s = det.score(a)
            best = min(best, time.perf_counter() - t)
        return best, s

    # Rounds alternate the two sides, so that a load from elsewhere on the
    # machine hits both alike; each round keeps the best of 3 calls.
    rust, py32, py64 = [], [], []
    for _ in range(repeats):
        r = subprocess.run([exe, det_path, raw, str(D), "3", out], check=True, capture_output=True, text=True)
        rust.append(min(json.loads(r.stdout)["seconds"]))
        t, s = py(x)
        py32.append(t)
        t, s64 = py(x64)
        py64.append(t)
    same = np.array_equal(s.view(np.int32), np.fromfile(out, dtype=np.float32).view(np.int32))
    same64 = np.array_equal(s64.view(np.int32), s.view(np.int32))
    med = statistics.median
    return {
        "rows": n,
        "repeats": repeats,
        "rust_api_s": med(rust),
        "python_float32_s": med(py32),
        "python_float64_s": med(py64),
        "rust_api_rows_per_s": n / med(rust),
        "python_float32_rows_per_s": n / med(py32),
        "python_float64_rows_per_s": n / med(py64),
        "binding_overhead_float32_pct": 100.0 * (med(py32) / med(rust) - 1.0),
        "binding_overhead_float64_pct": 100.0 * (med(py64) / med(rust) - 1.0),
        "scores_bit_identical": bool(same and same64),
        "runs_rust_s": rust,
        "runs_python_float32_s": py32,
        "runs_python_float64_s": py64,
    }


def spark_local(det_path, peer, n, repeats, threads):
    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    import oddity.spark

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("oddity-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "4g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.addPyFile(os.path.join(PEERS, "kdd_common.py"))
    spark.sparkContext.addPyFile(os.path.join(PEERS, "torch_aegmm.py"))
    cols = [f"f{j}" for j in range(D)]
    df = (
        spark.range(n, numPartitions=2)
        .select(*[(F.randn(seed=j) * (1 + j % 3)).cast("float").alias(c) for j, c in enumerate(cols)])
        .cache()
    )
    df.count()

    def run(scored):
        t = time.perf_counter()
        total = scored.agg(F.sum("score")).collect()[0][0]
        return time.perf_counter() - t, total

    state = peer.model.state_dict()
    params = tuple(p.detach().clone() for p in peer.params)

    def torch_batches(batches: Iterator[Tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        # The iterator form: the model is built once per task, as oddity
        # loads its detector once per worker.
        import torch
        import torch_aegmm

        if threads:
            torch.set_num_threads(threads)
        det = torch_aegmm.Detector("aegmm", D)
        det.model.load_state_dict(state)
        det.model.eval()
        det.params = params
        for cs in batches:
            x = np.column_stack([c.to_numpy(dtype=np.float32) for c in cs])
            yield pd.Series(det.score(x))

    torch_score = pandas_udf(torch_batches, "float")

    sides = [
        ("oddity_mapInArrow", lambda: oddity.spark.score(df, det_path, cols, threads=threads or None)),
        ("pytorch_pandas_udf", lambda: df.withColumn("score", torch_score(*[F.col(c) for c in cols]))),
    ]
    results = {name: {"seconds": []} for name, _ in sides}
    for name, make in sides:
        run(make())  # warm-up: workers started, models loaded
    for _ in range(repeats):  # alternating, as above
        for name, make in sides:
            results[name]["seconds"].append(run(make())[0])
    for name, _ in sides:
        results[name]["rows_per_s"] = n / statistics.median(results[name]["seconds"])
    spark.stop()
    results["rows"] = n
    results["threads_per_worker"] = threads or "libtorch default"
    results["ratio_oddity_over_pytorch"] = (
        results["oddity_mapInArrow"]["rows_per_s"] / results["pytorch_pandas_udf"]["rows_per_s"]
    )
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--spark-rows", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--spark-repeats", type=int, default=3)
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--spark-threads", type=int, default=0,
                    help="libtorch threads in each Spark Python worker, both sides (0: libtorch's default)")
    a = ap.parse_args()
    sys.path.insert(0, PEERS)
    import torch
    import torch_aegmm

    train = rows(50_000, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        det_path = os.path.join(tmp, "bench.oddity")
        oddity.Detector("aegmm", fit={"epochs": 1, "batch_size": 1024, "seed": 1}).fit(train).save(det_path)
        torch.manual_seed(1)
        peer = torch_aegmm.Detector("aegmm", D)
        peer.fit(train, epochs=1, batch_size=1024, verbose=False)
        out = {
            "torch_threads": torch.get_num_threads(),
            "load_average_at_start": os.getloadavg(),
            "numpy_vs_rust": numpy_vs_rust(det_path, a.rows, a.repeats, tmp),
        }
        print(json.dumps(out["numpy_vs_rust"]), flush=True)
        if not a.skip_spark:
            out["spark_local2"] = spark_local(det_path, peer, a.spark_rows, a.spark_repeats, a.spark_threads)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
