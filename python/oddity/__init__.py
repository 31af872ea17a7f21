"""oddity: unsupervised anomaly detection on libtorch, from Python.

    import oddity
    det = oddity.load("kdd.oddity")          # a detector saved by Rust, the CLI or Python
    scores = det.score(x)                     # numpy float32, one per row; higher = more anomalous
    flags = det.predict(x)                    # 1 where score > det.threshold, else 0

    det = oddity.Detector("aegmm", fit={"epochs": 20, "seed": 1}).fit(x_inliers)
    det.infer_threshold(x_val, 95)
    det.save("kdd.oddity")

Scores are computed by the same Rust code as the `oddity` command line and
are identical to its scores, bit for bit, on the same rows. The GIL is
released while fitting and scoring. Bad input raises ValueError, files that
cannot be read or written OSError, failures of the numerics RuntimeError.

libtorch is PyTorch's: the wheel depends on torch==2.13.0, and importing
torch here loads its libraries (site-packages/torch/lib), which the native
module then uses; it is linked against their names, with an rpath to
../torch/lib beside it.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

# First: loads libtorch_cpu.so, libc10.so and libtorch.so, which the native
# module needs (it does not bundle them).
import torch  # noqa: F401

import numpy as np

from . import _oddity

__version__ = _oddity.__version__
__all__ = ["Detector", "load", "detectors", "default_config", "__version__"]


def detectors() -> list:
    """The built-in detectors' names: ae, aegmm, vaegmm, iforest, knn, ecod."""
    return list(_oddity.detectors())


def default_config(kind: str, n_features: int) -> Dict[str, Any]:
    """The default config of detector `kind` for `n_features` columns."""
    return json.loads(_oddity.default_config(kind, int(n_features)))


def _as_rows(x: Any, what: str = "x") -> np.ndarray:
    """`x` as a C-contiguous float32 2-D array (float64 and integers are
    cast, the same rounding as the CSV reader's). Anything else is a
    ValueError."""
    if hasattr(x, "to_numpy") and not isinstance(x, np.ndarray):  # pandas
        x = x.to_numpy()
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise ValueError(f"{what}: expected numbers (float32 or float64), got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D array (rows x features), got {a.ndim}-D of shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


class Detector:
    """An oddity detector, with scikit-learn / PyOD names.

    `Detector(kind, config=None, fit=None, contamination=None, device="cpu")`:
    `kind` is a registry name (`oddity.detectors()`); `config` the detector's
    settings (keys of `oddity.default_config(kind, n)`; missing keys take the
    defaults, unknown keys are refused); `fit` the training settings (epochs,
    batch_size, learning_rate, seed, ...: the CLI config file's `fit`
    section). With `contamination` set, `fit` also sets the threshold so that
    that share of the training rows is flagged, as PyOD does.

    After `fit`: `threshold_` (or None), `decision_scores_` (training scores,
    when `contamination` is set), `n_features_in_`, `training_` (report).
    """

    def __init__(
        self,
        kind: str = "aegmm",
        config: Optional[Dict[str, Any]] = None,
        fit: Optional[Dict[str, Any]] = None,
        contamination: Optional[float] = None,
        device: str = "cpu",
    ):
        self.kind = kind
        self.config = config
        self.fit_params = fit
        self.contamination = contamination
        self.device = device
        self._native = None

    # scikit-learn's estimator protocol (clone, grid search).
    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "config": self.config,
            "fit": self.fit_params,
            "contamination": self.contamination,
            "device": self.device,
        }

    def set_params(self, **params: Any) -> "Detector":
        for k, v in params.items():
            if k == "fit":
                self.fit_params = v
            elif k in ("kind", "config", "contamination", "device"):
                setattr(self, k, v)
            else:
                raise ValueError(f"invalid parameter `{k}` for Detector")
        return self

    @classmethod
    def _wrap(cls, native, device: str = "cpu") -> "Detector":
        d = cls(native.kind, device=device)
        d._native = native
        return d

    def _det(self):
        if self._native is None:
            raise ValueError(f"this {self.kind} Detector has not been fitted: call fit first (or oddity.load a file)")
        return self._native

    def fit(self, x: Any, y: Any = None) -> "Detector":
        """Trains on the rows of `x` (inliers; `y` is ignored). Returns self."""
        x = _as_rows(x)
        if self.contamination is not None and not (0.0 < float(self.contamination) < 1.0):
            raise ValueError(f"invalid parameter `contamination`: {self.contamination} is not in (0, 1)")
        config = None if self.config is None else json.dumps(self.config)
        native = _oddity.build(self.kind, x.shape[1], config, self.device)
        fit = json.dumps(self.fit_params) if self.fit_params is not None else None
        self.training_ = json.loads(native.fit(x, fit))
        self._native = native
        self.n_features_in_ = x.shape[1]
        if self.contamination is not None:
            self.infer_threshold(x, 100.0 * (1.0 - float(self.contamination)))
            self.decision_scores_ = self.score(x)
            self.labels_ = (self.decision_scores_.astype(np.float64) > self.threshold_).astype(np.int64)
        return self

    def score(self, x: Any, batch_size: int = _oddity.DEFAULT_SCORE_BATCH) -> np.ndarray:
        """One float32 score per row of `x`; higher is more anomalous. A row
        too extreme to compute gets +inf."""
        return self._det().score(_as_rows(x), int(batch_size))

    def decision_function(self, x: Any) -> np.ndarray:
        """scikit-learn / PyOD name of `score`: higher is more anomalous."""
        return self.score(x)

    def predict(self, x: Any) -> np.ndarray:
        """1 where score > threshold, else 0 (PyOD's labels), as int64."""
        t = self.threshold
        if t is None:
            raise ValueError(
                f"{self.kind} detector has no threshold: call infer_threshold (or set contamination) before predict"
            )
        return (self.score(x).astype(np.float64) > t).astype(np.int64)

    def infer_threshold(self, x: Any, percentile: float, ties: str = "nearest") -> float:
        """Sets the threshold to the `percentile` (0-100, numpy's linear
        interpolation) of the scores of `x`, as `oddity threshold`; returns it."""
        return self._det().infer_threshold(_as_rows(x), float(percentile), ties)

    @property
    def threshold(self) -> Optional[float]:
        """The threshold, or None before one is inferred or set."""
        return None if self._native is None else self._native.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._det().set_threshold(float(value))

    @property
    def threshold_(self) -> Optional[float]:
        return self.threshold

    @property
    def n_features(self) -> int:
        return self._det().n_features

    def info(self) -> Dict[str, Any]:
        """Metadata: kind, name, n_features, fitted, threshold, config, training report."""
        return json.loads(self._det().info())

    def save(self, path: "os.PathLike[str] | str") -> None:
        """Writes the detector to one file (atomically); `oddity.load`, the
        Rust API and the CLI read it."""
        self._det().save(os.fspath(path))

    def __repr__(self) -> str:
        if self._native is None:
            return f"oddity.Detector({self.kind!r}, unfitted)"
        n = self._native
        return f"oddity.Detector({n.kind!r}, n_features={n.n_features}, threshold={n.threshold})"


def load(path: "os.PathLike[str] | str", device: str = "cpu") -> Detector:
    """Reads, verifies and loads a detector file of any kind."""
    return Detector._wrap(_oddity.load(os.fspath(path), device), device)
