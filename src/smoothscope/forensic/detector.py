"""The detector: standardised features and a logistic regression, stored as JSON coefficients.

A fitted :class:`Detector` is the affine map ``p = σ(w · (x − μ) / s + b)`` from a feature
vector to the probability that a network processed the video. It is saved as plain JSON (the
feature names, μ, s, w, b and a format tag): loading it parses numbers and never executes code,
unlike a pickle. A file that is not such a JSON document (a pickle, a truncated file, wrong
lengths, non-finite numbers) is refused with one clear error.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import SmoothscopeError
from .._io import save_json

__all__ = ["FORMAT", "Detector", "fit_detector", "load_detector"]

FORMAT = "smoothscope-forensic-detector/1"
"""The ``format`` tag of a saved detector."""


@dataclass(frozen=True)
class Detector:
    """A fitted linear detector.

    Attributes:
        feature_names: names of the features, in order.
        mean, scale: standardisation of each feature.
        coef: logistic-regression weights of the standardised features.
        intercept: its bias.
        meta: JSON-able description (training data, regularisation, version).
    """

    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    meta: dict[str, Any]

    def decision(self, features: np.ndarray) -> np.ndarray:
        """Log-odds ``[N]`` of feature rows ``[N, F]`` (or one row ``[F]``)."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if x.shape[1] != len(self.feature_names):
            raise SmoothscopeError(
                f"features: expected {len(self.feature_names)} columns, got {x.shape[1]}"
            )
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def probability(self, features: np.ndarray) -> np.ndarray:
        """Probability ``[N]`` that a network processed each video."""
        z = self.decision(features)
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, overflow-free

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": float(self.intercept),
            "meta": self.meta,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the detector as JSON (atomic)."""
        return save_json(path, self.to_dict())


def fit_detector(
    features: np.ndarray,
    labels: np.ndarray,
    feature_names: Sequence[str],
    *,
    c: float = 1.0,
    meta: dict[str, Any] | None = None,
) -> Detector:
    """Fit standardisation + L2 logistic regression (classes balanced).

    Args:
        features: ``[N, F]`` finite features.
        labels: ``[N]`` 1 (a network processed the video) or 0.
        feature_names: ``F`` names.
        c: inverse regularisation strength of scikit-learn's ``LogisticRegression``.
        meta: stored with the detector.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[1] != len(feature_names):
        raise SmoothscopeError(
            f"features: expected [N, {len(feature_names)}] with N = {y.shape[0]} labels, "
            f"got {x.shape}"
        )
    if not np.isfinite(x).all():
        raise SmoothscopeError("features: expected finite values, got NaN or inf")
    if set(np.unique(y)) != {0, 1}:
        raise SmoothscopeError(f"labels: expected both classes 0 and 1, got {sorted(set(y))}")
    mean = x.mean(0)
    scale = x.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    model.fit((x - mean) / scale, y)
    return Detector(
        tuple(feature_names),
        mean,
        scale,
        model.coef_[0].astype(np.float64),
        float(model.intercept_[0]),
        dict(meta or {}, c=c, n_train=int(y.size), n_positive=int(y.sum())),
    )


def _numbers(value: Any, n: int | None, what: str, path: Path) -> np.ndarray:
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise SmoothscopeError(f"{path}: expected {what} as a list of numbers")
    array = np.asarray(value, dtype=np.float64)
    if n is not None and array.size != n:
        raise SmoothscopeError(f"{path}: expected {n} values of {what}, got {array.size}")
    if not np.isfinite(array).all():
        raise SmoothscopeError(f"{path}: expected finite values of {what}")
    return array


def load_detector(path: str | os.PathLike) -> Detector:
    """Read a detector saved by :meth:`Detector.save`; anything else is refused.

    Only JSON is parsed, so an untrusted file cannot run code; a pickle or any other format
    raises :class:`~smoothscope.SmoothscopeError`.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SmoothscopeError(f"detector: could not read {str(path)!r}: {exc.strerror}") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SmoothscopeError(
            f"{path}: expected a smoothscope detector (JSON, format {FORMAT!r}); refusing "
            "anything else (pickles are never loaded)"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SmoothscopeError(f"{path}: expected a JSON object with format {FORMAT!r}")
    names = data.get("feature_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SmoothscopeError(f"{path}: expected feature_names as a list of strings")
    n = len(names)
    scale = _numbers(data.get("scale"), n, "scale", path)
    if (scale <= 0).any():
        raise SmoothscopeError(f"{path}: expected positive scale values")
    intercept = data.get("intercept")
    if not isinstance(intercept, (int, float)) or isinstance(intercept, bool):
        raise SmoothscopeError(f"{path}: expected intercept as a number")
    if not math.isfinite(intercept):
        raise SmoothscopeError(f"{path}: expected a finite intercept")
    meta = data.get("meta", {})
    return Detector(
        tuple(names),
        _numbers(data.get("mean"), n, "mean", path),
        scale,
        _numbers(data.get("coef"), n, "coef", path),
        float(intercept),
        meta if isinstance(meta, dict) else {},
    )
