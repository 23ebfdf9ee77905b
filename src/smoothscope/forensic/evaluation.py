"""Held-out metrics of a detector: ROC, ROC-AUC, TPR at a fixed FPR, cluster bootstrap.

Videos derived from one authentic source video (the source and its processed versions) are not
independent, so intervals resample *source videos* (a cluster bootstrap): a replicate draws the
source videos with replacement and weights every test video by its source's count. ROC-AUC is
the Mann–Whitney probability that a processed video scores above an authentic one (ties count
one half), computed for all replicates at once from the weights.
"""

from __future__ import annotations

import numpy as np

from .._errors import SmoothscopeError
from ..stats import Estimate

__all__ = [
    "bootstrap_weights",
    "interval",
    "roc_curve",
    "tpr_at_fpr",
    "weighted_auc",
]


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.ndim != 1 or s.shape != y.shape:
        raise SmoothscopeError(
            f"scores, labels: expected equal 1-D shapes, got {s.shape}, {y.shape}"
        )
    if y.all() or not y.any():
        raise SmoothscopeError("labels: expected both classes among the test videos")
    return s, y


def weighted_auc(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """ROC-AUC of ``scores`` for ``labels`` under each row of ``weights`` ``[B, N]``.

    Returns ``[B]`` (``[1]`` without weights). A row without positives or negatives gives NaN.
    """
    s, y = _check(scores, labels)
    w = np.ones((1, s.size)) if weights is None else np.atleast_2d(np.asarray(weights, float))
    unique, inverse = np.unique(s, return_inverse=True)
    onehot = np.zeros((s.size, unique.size))
    onehot[np.arange(s.size), inverse] = 1.0
    pos = (w * y) @ onehot  # [B, U]
    neg = (w * ~y) @ onehot
    below = np.cumsum(neg, axis=1) - neg
    total = pos.sum(1) * neg.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (pos * (below + 0.5 * neg)).sum(1) / total, np.nan)


def bootstrap_weights(groups: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, N]`` multiplicities of the N test videos when their groups (source videos)
    are resampled with replacement."""
    groups = np.asarray(groups)
    unique, inverse = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, unique.size, size=(n_boot, unique.size))
    counts = np.zeros((n_boot, unique.size))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, inverse]


def interval(values: np.ndarray, point: float) -> Estimate:
    """Point estimate and 95 % percentile interval of bootstrap replicates."""
    low, high = np.nanquantile(values, [0.025, 0.975])
    return Estimate(point, low, high)


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every threshold (from (0, 0) to (1, 1))."""
    s, y = _check(scores, labels)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(y)[distinct]
    fp = np.cumsum(~y)[distinct]
    return np.r_[0.0, fp / (~y).sum()], np.r_[0.0, tp / y.sum()]


def tpr_at_fpr(scores: np.ndarray, labels: np.ndarray, fpr: float = 0.01) -> float:
    """Highest true-positive rate among thresholds whose false-positive rate is ≤ ``fpr``."""
    f, t = roc_curve(scores, labels)
    return float(t[f <= fpr + 1e-12].max())
