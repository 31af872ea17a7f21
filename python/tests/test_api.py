"""The numpy API: scores identical to the CLI's, fitting from Python,
scikit-learn names, errors as Python exceptions, the GIL released."""

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest

import oddity
from conftest import N_FEATURES, bits, cli_scores, make_rows, run_cli, write_csv

KINDS = ["ae", "aegmm", "vaegmm", "iforest", "knn", "ecod"]


@pytest.fixture(scope="module")
def test_rows(work):
    x = make_rows(9000, seed=3, outliers=0.05)
    return x, write_csv(work / "test.csv", x)


@pytest.mark.parametrize("kind", KINDS)
def test_scores_and_flags_are_the_clis_bit_for_bit(kind, fitted, test_rows):
    path = fitted(kind)
    x, csv = test_rows
    want, want_flags = cli_scores(path, csv)
    det = oddity.load(path)
    got = det.score(x)
    assert got.dtype == np.float32 and got.shape == (len(x),)
    assert np.array_equal(bits(got), bits(want)), f"{(bits(got) != bits(want)).sum()} scores differ"
    assert np.array_equal(det.predict(x).astype(bool), want_flags)
    # float64 input is cast to float32 as the CSV reader rounds: the same scores.
    assert np.array_equal(bits(det.score(x.astype(np.float64))), bits(want))
    assert np.array_equal(bits(det.decision_function(pd.DataFrame(x))), bits(want))


def test_threshold_matches_the_cli(fitted, work):
    path = fitted("aegmm")
    val = work / "val.csv"
    det = oddity.load(path)
    cli_t = float(run_cli("threshold", path, "--data", val, "--percentile", 90).strip())
    t = det.infer_threshold(pd.read_csv(val).to_numpy(np.float32), 90)
    assert t == cli_t == det.threshold == det.threshold_
    run_cli("threshold", path, "--data", val, "--percentile", 95)  # back as the fixture left it


def test_fit_in_python_then_the_cli_scores_the_saved_file(work, train_csv, test_rows):
    x, csv = test_rows
    train = pd.read_csv(train_csv).to_numpy(np.float32)
    det = oddity.Detector("aegmm", config={"gmm": {"n_gmm": 3}}, fit={"epochs": 3, "seed": 7, "batch_size": 128})
    assert det.fit(train) is det
    det.infer_threshold(train, 95)
    out = work / "py.oddity"
    det.save(out)
    want, want_flags = cli_scores(out, csv)
    assert np.array_equal(bits(det.score(x)), bits(want))
    assert np.array_equal(det.predict(x).astype(bool), want_flags)
    # The same fit through the CLI gives the same detector.
    cfg = work / "py-config.json"
    detector = oddity.default_config("aegmm", N_FEATURES)
    detector["gmm"]["n_gmm"] = 3
    cfg.write_text(json.dumps({"detector": detector,
                               "fit": {"epochs": 3, "seed": 7, "batch_size": 128}}))
    cli_out = work / "cli-same.oddity"
    run_cli("fit", "--detector", "aegmm", "--train", train_csv, "--out", cli_out, "--config", cfg, "-q")
    cli_fit, _ = cli_scores(cli_out, csv)
    assert np.array_equal(bits(det.score(x)), bits(cli_fit))


def test_info_save_load(fitted, work):
    det = oddity.load(fitted("aegmm"))
    info = det.info()
    assert info["kind"] == "aegmm" and info["name"] == "OutlierAEGMM"
    assert info["n_features"] == N_FEATURES and info["fitted"] and info["threshold"] == det.threshold
    assert info["config"]["n_features"] == N_FEATURES and info["training"]["n_train"] == 2000
    copy = work / "copy.oddity"
    det.save(copy)
    again = oddity.load(copy)
    x = make_rows(500, seed=9)
    assert np.array_equal(bits(again.score(x)), bits(det.score(x)))
    assert again.threshold == det.threshold and again.info()["config"] == info["config"]


def test_pyod_style_contamination_and_params():
    x = make_rows(3000, seed=4, outliers=0.1)
    det = oddity.Detector("iforest", contamination=0.1).fit(x)
    assert det.decision_scores_.shape == (3000,)
    assert abs(det.labels_.mean() - 0.1) < 0.01
    assert np.array_equal(det.predict(x), det.labels_)
    params = det.get_params()
    assert params["kind"] == "iforest" and params["contamination"] == 0.1
    clone = oddity.Detector(**params)
    assert clone.set_params(contamination=0.2).contamination == 0.2
    assert oddity.detectors() == KINDS


def test_in_a_scikit_learn_workflow():
    base = pytest.importorskip("sklearn.base")
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import ParameterGrid

    det = oddity.Detector("ecod", contamination=0.05)
    c = base.clone(det)
    assert c.get_params() == det.get_params() and c is not det
    x = make_rows(3000, seed=10)
    test = make_rows(2000, seed=11, outliers=0.1)
    y = (np.abs(test - make_rows(2000, seed=11)).sum(axis=1) > 0).astype(int)
    aucs = {}
    for params in ParameterGrid({"kind": ["iforest", "ecod", "knn"]}):
        d = base.clone(det).set_params(**params).fit(x)
        aucs[params["kind"]] = roc_auc_score(y, d.decision_function(test))
    assert all(a > 0.8 for a in aucs.values()), aucs


@pytest.mark.parametrize(
    "x, exc, text",
    [
        (np.zeros((5, N_FEATURES + 1), np.float32), ValueError, "feature count mismatch"),
        (np.full((5, N_FEATURES), np.nan, np.float32), ValueError, "non-finite value"),
        (np.zeros(N_FEATURES, np.float32), ValueError, "2-D"),
        (np.array([["a"] * N_FEATURES]), ValueError, "expected numbers"),
        (np.zeros((0, N_FEATURES), np.float32), ValueError, "empty input"),
    ],
)
def test_bad_input_raises_with_odditys_message(fitted, x, exc, text):
    det = oddity.load(fitted("aegmm"))
    with pytest.raises(exc, match=text):
        det.score(x)


def test_bad_files_and_settings_raise(work):
    with pytest.raises(FileNotFoundError, match="no-such.oddity"):
        oddity.load(work / "no-such.oddity")
    bad = work / "bad.oddity"
    bad.write_bytes(b"not a detector file at all" * 10)
    with pytest.raises(ValueError, match="bad.oddity"):
        oddity.load(bad)
    x = make_rows(300, seed=5)
    with pytest.raises(ValueError, match="is not one of"):
        oddity.Detector("nope").fit(x)
    with pytest.raises(ValueError, match="unknown field `config.gmm.n_gmmm`"):
        oddity.Detector("aegmm", config={"gmm": {"n_gmmm": 2}}).fit(x)
    with pytest.raises(ValueError, match="unknown field `fit.epoch`"):
        oddity.Detector("aegmm", fit={"epoch": 2}).fit(x)
    with pytest.raises(ValueError, match="epochs"):
        oddity.Detector("ae", fit={"epochs": 0}).fit(x)
    with pytest.raises(ValueError, match="n_features"):
        oddity.Detector("ae", config={"n_features": 3}).fit(x)
    with pytest.raises(ValueError, match="not been fitted"):
        oddity.Detector("ae").score(x)
    det = oddity.Detector("ecod").fit(x)
    with pytest.raises(ValueError, match="no threshold"):
        det.predict(x)
    with pytest.raises(ValueError, match="threshold_perc"):
        det.infer_threshold(x, 150)
    with pytest.raises(OSError):
        det.save(work / "no-such-dir" / "x.oddity")


def test_the_gil_is_released_while_scoring(fitted):
    det = oddity.load(fitted("aegmm"))
    x = make_rows(400_000, seed=6)
    done = threading.Event()
    result = {}

    def score():
        t0 = time.perf_counter()
        result["s"] = det.score(x)
        result["seconds"] = time.perf_counter() - t0
        done.set()

    ticks = 0
    th = threading.Thread(target=score)
    th.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    th.join()
    # With the GIL held for the whole call this loop could not run at all.
    assert ticks >= 0.2 * result["seconds"] / 0.001 or ticks > 50, (ticks, result["seconds"])
    assert result["s"].shape == (400_000,)


def test_scores_are_the_rust_apis_bit_for_bit(fitted, work):
    """The same rows in memory through the Rust API (`load_any` +
    `score_with`, examples/score_file.rs) and through the binding."""
    from conftest import REPO

    exe = REPO / "target" / "release" / "examples" / "score_file"
    if not exe.exists():
        pytest.skip(f"{exe} is not built: `cargo build --release --example score_file` (scripts/test-python.sh does)")
    import subprocess

    x = make_rows(20_000, seed=8, outliers=0.05)
    raw, out = work / "rows.f32", work / "rust-scores.f32"
    x.tofile(raw)
    for kind in ["aegmm", "knn"]:
        path = fitted(kind)
        subprocess.run([str(exe), str(path), str(raw), str(N_FEATURES), "1", str(out)], check=True, capture_output=True)
        assert np.array_equal(bits(oddity.load(path).score(x)), bits(np.fromfile(out, dtype=np.float32)))
