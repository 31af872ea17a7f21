"""Shared fixtures: the `oddity` CLI of this checkout, data written as CSV
(float32 values printed exactly, so the CLI and Python read the same
numbers), and detectors fitted and thresholded by the CLI."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
N_FEATURES = 6


def cli_path() -> Path:
    p = Path(os.environ.get("ODDITY_CLI", REPO / "target" / "release" / "oddity"))
    if not p.exists():
        pytest.skip(f"{p} is not built: run `cargo build --release` (scripts/test-python.sh does)")
    return p


def run_cli(*args) -> str:
    r = subprocess.run([str(cli_path()), *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"oddity {' '.join(map(str, args))} failed: {r.stderr}")
    return r.stdout


def make_rows(n: int, seed: int, outliers: float = 0.0) -> np.ndarray:
    """`n` float32 rows of N_FEATURES correlated features; a share of them
    shifted far away (outliers)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3)).astype(np.float32)
    mix = np.array([[1.0, 0.5, 0.0, 0.2, 0.0, 1.0], [0.0, 1.0, 0.5, 0.0, 0.3, -1.0], [0.3, 0.0, 1.0, 1.0, 0.0, 0.5]])
    x = (z @ mix.astype(np.float32) + 0.1 * rng.normal(size=(n, N_FEATURES))).astype(np.float32)
    k = int(n * outliers)
    if k:
        idx = rng.choice(n, size=k, replace=False)
        x[idx] += rng.normal(scale=4.0, size=(k, N_FEATURES)).astype(np.float32)
    return x


def write_csv(path: Path, x: np.ndarray, with_id: bool = False) -> Path:
    """A CSV with a header (`id` first when `with_id`), every float32 printed
    with 9 significant digits: it reads back to the same float32."""
    df = pd.DataFrame(x.astype(np.float32), columns=[f"f{j}" for j in range(x.shape[1])])
    if with_id:
        df.insert(0, "id", np.arange(len(df), dtype=np.int64))
    df.to_csv(path, index=False, float_format="%.9g")
    return path


def cli_scores(det: Path, csv: Path, *extra) -> tuple:
    """The CLI's scores (float32) and flags (bool, or None without a threshold)."""
    out = subprocess.run(
        [str(cli_path()), "score", str(det), str(csv), *map(str, extra)], capture_output=True, check=True
    ).stdout
    import io

    t = pd.read_csv(io.BytesIO(out), header=None, names=["score", "flag"])
    scores = t["score"].to_numpy(dtype=np.float64).astype(np.float32)
    flags = None if t["flag"].isna().all() else t["flag"].to_numpy().astype(bool)
    return scores, flags


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("oddity")


@pytest.fixture(scope="session")
def train_csv(work) -> Path:
    return write_csv(work / "train.csv", make_rows(2000, seed=1))


@pytest.fixture(scope="session")
def fitted(work, train_csv):
    """A function: the CLI-fitted and -thresholded detector file of a kind."""
    cache = {}

    def get(kind: str) -> Path:
        if kind not in cache:
            out = work / f"{kind}.oddity"
            run_cli("fit", "--detector", kind, "--train", train_csv, "--out", out, "--epochs", 3, "--seed", 7, "-q")
            val = write_csv(work / "val.csv", make_rows(1000, seed=2, outliers=0.05))
            run_cli("threshold", out, "--data", val, "--percentile", 95)
            cache[kind] = out
        return cache[kind]

    return get


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.int32)
