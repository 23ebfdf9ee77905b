"""The detector: standardised features and a logistic regression, stored as JSON coefficients.

A fitted :class:`Detector` is the affine map ``p = σ(w · (x − μ) / s + b)`` from a feature
vector to the probability that a network processed the video, with a decision *threshold* on
``p`` calibrated on authentic compressed videos (:func:`calibrate_threshold`: the threshold
that flags at most ``target_fpr`` of them, measured on scores of videos the fitted model did not
see) and the *reference* of what it was fitted on (frame sizes, lengths and the range of every
feature), from which :meth:`Detector.ood_notes` says when a video lies outside it.

It is saved as plain JSON (feature names, μ, s, w, b, threshold, calibration, metadata and a
format tag): loading it parses numbers and never executes code, unlike a pickle. A file that is
not such a JSON document (a pickle, a truncated file, wrong lengths, non-finite numbers, a
detector of an older format) is refused with one clear error.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import SmoothscopeError
from .._io import save_json

__all__ = [
    "FORMAT",
    "STATIC_ACTIVITY",
    "Detector",
    "calibrate_threshold",
    "feature_reference",
    "fit_detector",
    "load_detector",
    "with_calibration",
]

FORMAT = "smoothscope-forensic-detector/2"
"""The ``format`` tag of a saved detector (2: threshold, calibration and reference added)."""
STATIC_ACTIVITY = 0.05
"""Below this mean change per frame (in levels, 1/255 of the video's range) a video is static:
there is no motion whose smoothness could be judged."""
OOD_QUANTILES = (0.005, 0.995)
"""A feature outside these quantiles of the training videos is out of distribution."""


@dataclass(frozen=True)
class Detector:
    """A fitted linear detector.

    Attributes:
        feature_names: names of the features, in order.
        mean, scale: standardisation of each feature.
        coef: logistic-regression weights of the standardised features.
        intercept: its bias.
        meta: JSON-able description (training data, regularisation, version).
        threshold: probability above which a video is called processed by a network.
        calibration: how ``threshold`` was chosen and its measured rates (JSON-able).
        reference: what the detector saw: ``{"frames": [lo, hi], "height": [lo, hi],
            "width": [lo, hi], "features": {name: [lo, hi]}}`` (empty: unknown).
    """

    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    meta: dict[str, Any]
    threshold: float = 0.5
    calibration: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)

    def decision(self, features: np.ndarray) -> np.ndarray:
        """Log-odds ``[N]`` of feature rows ``[N, F]`` (or one row ``[F]``)."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if x.shape[1] != len(self.feature_names):
            raise SmoothscopeError(
                f"features: expected {len(self.feature_names)} columns, got {x.shape[1]}"
            )
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def probability(self, features: np.ndarray) -> np.ndarray:
        """Probability ``[N]`` that a network processed each video (never NaN: non-finite
        features are refused)."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if not np.isfinite(x).all():
            raise SmoothscopeError("features: expected finite values, got NaN or inf")
        z = self.decision(x)
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, overflow-free

    def flagged(self, features: np.ndarray) -> np.ndarray:
        """Whether each video is called processed at the calibrated threshold: ``[N]`` bool."""
        return self.probability(features) > self.threshold

    def ood_notes(
        self, features: np.ndarray, *, frames: int | None = None, shape: Sequence[int] = ()
    ) -> list[str]:
        """Why a video lies outside what the detector saw (``[]`` when it does not).

        Args:
            features: one feature row ``[F]``.
            frames: its number of frames.
            shape: ``(C, H, W)`` of its frames.
        """
        x = np.asarray(features, dtype=np.float64).reshape(-1)
        named = dict(zip(self.feature_names, x, strict=True))
        notes = []
        activity = named.get("log_activity")
        if activity is not None and 10**activity - 1e-3 < STATIC_ACTIVITY:
            notes.append(
                f"static: the video changes by {max(10**activity - 1e-3, 0):.2g} levels per frame "
                "(below 0.05); with no motion there is no smoothness to judge, so the score "
                "says nothing"
            )
        ref = self.reference
        for key, value, what in (
            ("frames", frames, "length"),
            ("height", shape[1] if len(shape) == 3 else None, "height"),
            ("width", shape[2] if len(shape) == 3 else None, "width"),
        ):
            bounds = ref.get(key)
            if value is not None and bounds and not bounds[0] <= value <= bounds[1]:
                notes.append(
                    f"{what}: {value} {'frames' if key == 'frames' else 'pixels'}, the detector "
                    f"saw {bounds[0]}–{bounds[1]}"
                )
        meaning = {
            "log_activity": "motion (mean change per frame)",
            "log_noise_floor": "dynamic range (noise or quantisation step against the range)",
        }
        outside = []
        for name, bounds in (ref.get("features") or {}).items():
            value = named.get(name)
            if value is None or bounds[0] <= value <= bounds[1]:
                continue
            if name in meaning:
                notes.append(
                    f"{meaning[name]}: {name} = {value:.3g}, the detector saw "
                    f"{bounds[0]:.3g}–{bounds[1]:.3g}"
                )
            else:
                outside.append(name)
        if outside:
            notes.append("features outside the training range: " + ", ".join(outside))
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": float(self.intercept),
            "threshold": float(self.threshold),
            "calibration": self.calibration,
            "reference": self.reference,
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


def calibrate_threshold(
    probabilities: np.ndarray, labels: np.ndarray, compressed: np.ndarray, target_fpr: float
) -> tuple[float, dict[str, Any]]:
    """The probability threshold that flags at most ``target_fpr`` of the authentic compressed
    videos, and the rates it gives.

    Args:
        probabilities: ``[N]`` probabilities of videos the scoring model did not see in training
            (e.g. out-of-fold scores).
        labels: ``[N]`` 1 (processed by a network) or 0.
        compressed: ``[N]`` bool: the video went through a lossy pipeline (8-bit, codec, JPEG).
        target_fpr: the largest share of authentic compressed videos to flag, in (0, 1).

    Returns:
        ``(threshold, calibration)``; a video is flagged when its probability is *above* the
        threshold. ``calibration`` holds the target, the measured false-positive rate on the
        authentic compressed videos, the true-positive rate on the processed compressed ones,
        and their counts.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    c = np.asarray(compressed).astype(bool)
    if not 0 < target_fpr < 1:
        raise SmoothscopeError(f"target_fpr: expected a number in (0, 1), got {target_fpr}")
    negatives = np.sort(p[c & ~y])
    positives = p[c & y]
    if negatives.size == 0 or positives.size == 0:
        raise SmoothscopeError("calibration: expected authentic and processed compressed videos")
    # the smallest threshold with at most target_fpr · n negatives strictly above it
    allowed = math.floor(target_fpr * negatives.size)
    threshold = float(negatives[negatives.size - 1 - allowed])
    return threshold, {
        "target_fpr": float(target_fpr),
        "fpr_authentic_compressed": float((negatives > threshold).mean()),
        "tpr_processed_compressed": float((positives > threshold).mean()),
        "n_authentic_compressed": int(negatives.size),
        "n_processed_compressed": int(positives.size),
    }


def feature_reference(
    features: np.ndarray,
    feature_names: Sequence[str],
    *,
    frames: Sequence[int],
    height: Sequence[int],
    width: Sequence[int],
) -> dict[str, Any]:
    """What a detector saw, for :meth:`Detector.ood_notes`: ranges of lengths and sizes, and
    the :data:`OOD_QUANTILES` of each feature over the training videos ``[N, F]``."""
    x = np.asarray(features, dtype=np.float64)
    lo, hi = np.quantile(x, OOD_QUANTILES, axis=0)
    return {
        "frames": [int(min(frames)), int(max(frames))],
        "height": [int(min(height)), int(max(height))],
        "width": [int(min(width)), int(max(width))],
        "features": {
            n: [float(a), float(b)] for n, a, b in zip(feature_names, lo, hi, strict=True)
        },
    }


def with_calibration(
    detector: Detector, threshold: float, calibration: dict[str, Any], reference: dict[str, Any]
) -> Detector:
    """``detector`` with its threshold, calibration and reference set (a new object)."""
    return replace(detector, threshold=threshold, calibration=calibration, reference=reference)


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
    if (
        isinstance(data, dict)
        and str(data.get("format", "")).startswith(FORMAT[:-1])
        and (data.get("format") != FORMAT)
    ):
        raise SmoothscopeError(
            f"{path}: a detector of format {data.get('format')!r}, expected {FORMAT!r}; fit a "
            "new one with `smoothscope forensic fit`"
        )
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
    threshold = data.get("threshold")
    if (
        not isinstance(threshold, (int, float))
        or isinstance(threshold, bool)
        or not 0.0 <= threshold <= 1.0
    ):
        raise SmoothscopeError(f"{path}: expected threshold as a number in [0, 1]")
    reference = data.get("reference", {})
    if not isinstance(reference, dict):
        raise SmoothscopeError(f"{path}: expected reference as a JSON object")
    bounds = reference.get("features", {})
    if not isinstance(bounds, dict) or not all(
        isinstance(b, list) and len(b) == 2 and all(isinstance(v, (int, float)) for v in b)
        for b in bounds.values()
    ):
        raise SmoothscopeError(f"{path}: expected reference.features as name: [low, high]")
    for key in ("frames", "height", "width"):
        value = reference.get(key)
        if value is not None and not (
            isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
        ):
            raise SmoothscopeError(f"{path}: expected reference.{key} as [low, high] integers")
    meta = data.get("meta", {})
    calibration = data.get("calibration", {})
    return Detector(
        tuple(names),
        _numbers(data.get("mean"), n, "mean", path),
        scale,
        _numbers(data.get("coef"), n, "coef", path),
        float(intercept),
        meta if isinstance(meta, dict) else {},
        float(threshold),
        calibration if isinstance(calibration, dict) else {},
        reference,
    )
