"""Statistical channels ``f(y | x)`` for the propagation of SMP through layers (paper A, §V).

Paper A (§V-B–§V-E) follows the *sum of the magnitude of peaks* (SMP, a non-negative number per
network node) from the input to the output of a building block and models the block as a
statistical channel: ``x`` is the SMP at the input (or a summary of the inputs, e.g. the largest
input SMP of a pooling window) and ``y`` the SMP at the output.

* :class:`LinearChannel` — a convolutional / linear layer, eqs. (5)–(6) in channel form:
  ``y ≈ a + b·p`` where ``p`` is the eq. (5) prediction computed by the caller.
* :class:`BernoulliGaussianChannel` — ReLU, eq. (7): ``(1 − θ)·δ(y) + θ·N(y; β·x, σ)``, fitted
  as a censored (Tobit) model (:mod:`.channels_relu`).
* :class:`MaxPoolChannel` — max pooling, eq. (8): one Gaussian below a threshold ``a`` of the
  largest input SMP, a two-Gaussian mixture above it, fitted by a censored EM, ``a`` estimated
  from the data (:mod:`.channels_maxpool`).
* :class:`EmpiricalChannel` — the nonparametric (Monte-Carlo) alternative the paper mentions in
  §V-E: resample the observed ``y`` of inputs with a similar ``x``.

Channels are chained by sampling (``y2 = ch2.sample(ch1.sample(x, rng), rng)``) as in §V-E, and
:func:`r_squared`, :func:`distribution_distance` and :func:`zero_split_distance` compare
predicted and real SMPs (Fig. 8).

All math is NumPy float64. Inputs may be NumPy arrays, sequences or torch tensors (of any shape;
fits flatten them). Randomness comes only from an explicit :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .._errors import SmoothscopeError
from .channels_base import _check_rng, _count, _number, _pair, _readonly, _values
from .channels_maxpool import PAPER_MAXPOOL_THRESHOLD, MaxPoolChannel, ThresholdSearch
from .channels_relu import BernoulliGaussianChannel

__all__ = [
    "PAPER_MAXPOOL_THRESHOLD",
    "BernoulliGaussianChannel",
    "EmpiricalChannel",
    "LinearChannel",
    "MaxPoolChannel",
    "ThresholdSearch",
    "distribution_distance",
    "r_squared",
    "wilson_interval",
    "zero_split_distance",
]

# --------------------------------------------------------------------------- nonparametric, §V-E


@dataclass(frozen=True, eq=False)
class EmpiricalChannel:
    """The empirical conditional distribution of ``y`` given ``x`` (paper A, §V-E).

    The paper notes that "Monte-Carlo based methods can be used to address more generic channel
    models"; this channel makes no parametric assumption: ``x`` is binned (one bin for
    ``x == 0`` exactly, which nodes without nonsmoothness events fill, and quantile bins of the
    positive ``x``) and ``y`` is resampled from the observed outputs of the input's bin.

    Build it with :meth:`fit`. Bins are numbered with the zero bin (when present) first.

    Attributes:
        edges: ``[K − 1]`` boundaries between the ``K`` bins of positive ``x``; a bin holds
            ``edges[j−1] <= x < edges[j]``, the first and last are open towards the ends.
        zero_bin: whether bin 0 is the ``x == 0`` bin (only if the data had ``x == 0``).
        values: ``[n]`` the fitted ``y``, grouped by bin and sorted within each bin.
        offsets: ``[B + 1]`` bin ``j`` is ``values[offsets[j]:offsets[j+1]]`` (never empty).
        x_means: ``[B]`` mean fitted ``x`` of each bin.
        y_means: ``[B]`` mean fitted ``y`` of each bin (the conditional means).
        n: number of fitted points.
    """

    edges: np.ndarray
    zero_bin: bool
    values: np.ndarray
    offsets: np.ndarray
    x_means: np.ndarray
    y_means: np.ndarray
    n: int

    @property
    def n_bins(self) -> int:
        """Number of bins ``B`` (the zero bin included)."""
        return int(self.offsets.size - 1)

    @property
    def counts(self) -> np.ndarray:
        """``[B]`` number of fitted points in each bin."""
        return np.diff(self.offsets)

    @classmethod
    def fit(cls, x: Any, y: Any, *, bins: int = 20) -> EmpiricalChannel:
        """Bin the paired data and keep each bin's outputs.

        The positive ``x`` are cut at their ``0, 1/bins, …, 1`` quantiles (linear interpolation);
        duplicate edges are merged and an empty bin is merged with its right neighbour (the last
        with its left one), so there may be fewer than ``bins`` bins.

        Args:
            x: ``[...]`` input SMPs.
            y: ``[...]`` output SMPs, the shape of ``x``.
            bins: number of quantile bins of the positive ``x`` (before merging).

        Returns:
            the fitted channel.
        """
        xa, ya = _pair(x, y)
        bins = _count(bins, "bins", minimum=1)
        positive = xa[xa > 0]
        zero_bin = bool(positive.size < xa.size)
        edges = np.empty(0)
        if positive.size:
            edges = np.unique(np.quantile(positive, np.linspace(0.0, 1.0, bins + 1)))[1:-1]
            while edges.size:  # merge empty bins, one per pass (at most `bins` passes)
                counts = np.bincount(
                    np.searchsorted(edges, positive, side="right"), minlength=edges.size + 1
                )
                empty = np.flatnonzero(counts == 0)
                if empty.size == 0:
                    break
                edges = np.delete(edges, min(int(empty[0]), edges.size - 1))
        idx = _bin_of(edges, zero_bin, positive.size > 0, xa)
        n_bins = edges.size + 1 + int(zero_bin) if positive.size else 1
        counts = np.bincount(idx, minlength=n_bins)
        order = np.lexsort((ya, idx))
        return cls(
            edges=_readonly(edges.astype(np.float64)),
            zero_bin=zero_bin,
            values=_readonly(ya[order]),
            offsets=_readonly(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)),
            x_means=_readonly(np.bincount(idx, weights=xa, minlength=n_bins) / counts),
            y_means=_readonly(np.bincount(idx, weights=ya, minlength=n_bins) / counts),
            n=int(xa.size),
        )

    def bin_index(self, x: Any) -> np.ndarray:
        """The bin of each input; ``x`` outside the fitted range goes to the edge bins (and
        ``x == 0`` to the first positive bin when there is no zero bin).

        Args:
            x: ``[...]`` input SMPs.

        Returns:
            ``[...]`` int64 bin numbers in ``[0, n_bins)``.
        """
        has_positive = self.n_bins > int(self.zero_bin)
        return _bin_of(self.edges, self.zero_bin, has_positive, _values(x, "x", allow_empty=True))

    def sample(self, x: Any, rng: np.random.Generator) -> np.ndarray:
        """Draw, for each input, one of the fitted outputs of its bin uniformly at random.

        Args:
            x: ``[...]`` input SMPs.
            rng: the source of randomness.

        Returns:
            ``[...]`` float64 output SMPs, the shape of ``x`` (always observed values, so
            non-negative; an input in a bin of all-zero outputs gives exactly 0).
        """
        idx = self.bin_index(x)
        _check_rng(rng)
        start = self.offsets[idx]
        draw = rng.integers(0, self.offsets[idx + 1] - start, size=idx.shape)
        return np.asarray(self.values[start + draw])

    def mean(self, x: Any) -> np.ndarray:
        """``E[y | x]``: the mean fitted output of each input's bin.

        Args:
            x: ``[...]`` input SMPs.

        Returns:
            ``[...]`` conditional means.
        """
        return np.asarray(self.y_means[self.bin_index(x)])

    def conditional_quantiles(self, x: Any, q: Any) -> np.ndarray:
        """Quantiles of the fitted outputs of each input's bin (linear interpolation, as
        ``np.quantile``), for diagnostics. An empirical channel has no likelihood (no ``loglik``).

        Args:
            x: ``[...]`` input SMPs.
            q: ``[...q]`` probabilities in [0, 1].

        Returns:
            ``[*x.shape, *q.shape]`` quantiles.
        """
        idx = self.bin_index(x)
        qa = _values(q, "q")
        if np.any(qa > 1):
            raise SmoothscopeError(
                f"q: expected probabilities in [0, 1], got max {float(qa.max()):g}"
            )
        start = self.offsets[idx][..., None]
        last = (self.offsets[idx + 1] - 1)[..., None]
        pos = start + qa.ravel() * (last - start)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, last)
        frac = pos - lo
        out = self.values[lo] + frac * (self.values[hi] - self.values[lo])
        return out.reshape(idx.shape + qa.shape)


def _bin_of(edges: np.ndarray, zero_bin: bool, has_positive: bool, x: np.ndarray) -> np.ndarray:
    """Bin numbers of ``x``: an optional leading ``x == 0`` bin, then the bins of positive ``x``
    cut at ``edges`` (present when ``has_positive``)."""
    if not has_positive:
        return np.zeros(x.shape, dtype=np.int64)
    idx = np.searchsorted(edges, x, side="right").astype(np.int64)
    return np.where(x == 0, 0, idx + 1) if zero_bin else idx


# --------------------------------------------------------------------------- linear, eqs. (5)–(6)


@dataclass(frozen=True)
class LinearChannel:
    """A convolutional / linear layer as a channel: ``y = a + b·p + σ·ε`` (paper A, eqs. 5–6).

    ``p`` is the caller's eq. (5) prediction of the output SMP (``Σ |W|·X`` over the receptive
    field, or eq. (6) with the mean weight ``w0``); the paper regresses the real SMP on it
    (Fig. 8(a), (b)) and reports R². This channel is that regression with Gaussian residuals, the
    parametric counterpart of an :class:`EmpiricalChannel` fitted on ``(p, y)``.

    Attributes:
        a: intercept.
        b: slope.
        sigma: ``σ >= 0``, the ML residual standard deviation (``sqrt(mean(residual²))``).
        r2: R² of the fit (NaN when the fitted ``y`` was constant).
        n: number of fitted points (0 when built by hand).
    """

    a: float
    b: float
    sigma: float
    r2: float = math.nan
    n: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _number(self.a, "a"))
        object.__setattr__(self, "b", _number(self.b, "b"))
        object.__setattr__(self, "sigma", _number(self.sigma, "sigma", minimum=0.0))
        if not math.isnan(float(self.r2)):
            object.__setattr__(self, "r2", _number(self.r2, "r2", maximum=1.0))
        object.__setattr__(self, "n", _count(self.n, "n"))

    @classmethod
    def fit(cls, p: Any, y: Any) -> LinearChannel:
        """Least-squares line ``y ≈ a + b·p``.

        Args:
            p: ``[...]`` eq. (5)/(6) predictions (non-negative).
            y: ``[...]`` real output SMPs, the shape of ``p``.

        Returns:
            the fitted channel.

        Raises:
            SmoothscopeError: bad data, or ``p`` constant (the slope is undefined).
        """
        pa, ya = _pair(p, y, "p", "y")
        if np.ptp(pa) == 0:
            raise SmoothscopeError(
                f"p: expected at least 2 distinct values to fit a line, got {pa.size} points "
                f"all equal to {float(pa[0]):g}"
            )
        dp = pa - pa.mean()
        dy = ya - ya.mean()
        b = float(dp @ dy) / float(dp @ dp)
        a = float(ya.mean()) - b * float(pa.mean())
        resid = ya - (a + b * pa)
        ss_res = float(resid @ resid)
        ss_tot = float(dy @ dy)
        r2 = min(max(1.0 - ss_res / ss_tot, 0.0), 1.0) if np.ptp(ya) > 0 else math.nan
        return cls(a=a, b=b, sigma=math.sqrt(ss_res / pa.size), r2=r2, n=int(pa.size))

    def sample(self, p: Any, rng: np.random.Generator, *, clip: bool = True) -> np.ndarray:
        """Draw ``a + b·p + σ·ε``, negative draws set to 0 (an SMP is non-negative) unless
        ``clip=False``.

        Args:
            p: ``[...]`` eq. (5)/(6) predictions.
            rng: the source of randomness.
            clip: set negative draws to 0.

        Returns:
            ``[...]`` float64 output SMPs, the shape of ``p``.
        """
        pa = _values(p, "p", allow_empty=True)
        _check_rng(rng)
        out = self.a + self.b * pa + self.sigma * rng.standard_normal(pa.shape)
        return np.asarray(np.maximum(out, 0.0) if clip else out)

    def mean(self, p: Any) -> np.ndarray:
        """``a + b·p`` (the mean of ``sample(..., clip=False)``).

        Args:
            p: ``[...]`` eq. (5)/(6) predictions.

        Returns:
            ``[...]`` conditional means.
        """
        return np.asarray(self.a + self.b * _values(p, "p", allow_empty=True))


# --------------------------------------------------------------------------- comparisons


def r_squared(real: Any, predicted: Any) -> float:
    """R² of the least-squares line ``real ≈ a + b·predicted`` (paper A, §V-B, Fig. 8(a), (b)).

    For a line with intercept this is the squared Pearson correlation, computed that way.

    Args:
        real: ``[...]`` real values (any finite numbers).
        predicted: ``[...]`` predictions, the shape of ``real``.

    Returns:
        R² in [0, 1].

    Raises:
        SmoothscopeError: bad data, fewer than 2 points, or a constant ``real`` or
            ``predicted`` (R² undefined).
    """
    ra, pa = _pair(real, predicted, "real", "predicted", smp=False)
    if ra.size < 2:
        raise SmoothscopeError(f"real: expected at least 2 points for R², got {ra.size}")
    for name, arr in (("real", ra), ("predicted", pa)):
        if np.ptp(arr) == 0:
            raise SmoothscopeError(
                f"{name}: expected non-constant values for R², got all equal to {arr[0]:g}"
            )
    dr = ra - ra.mean()
    dp = pa - pa.mean()
    r = float(dr @ dp) / math.sqrt(float(dr @ dr) * float(dp @ dp))
    return min(r * r, 1.0)


def distribution_distance(real: Any, predicted: Any) -> dict[str, float]:
    """How far the distribution of predicted SMPs is from the real one (paper A, Fig. 8(e)).

    The two samples are compared as distributions (unpaired; their sizes may differ).

    Args:
        real: ``[...]`` real values (any finite numbers).
        predicted: ``[...]`` predicted values.

    Returns:
        ``{"ks_statistic", "ks_pvalue"}``: the two-sample Kolmogorov–Smirnov test
        (``scipy.stats.ks_2samp``); ``"wasserstein"``: the Wasserstein-1 distance
        (``scipy.stats.wasserstein_distance``); ``"relative_mean_error"``:
        ``(mean(predicted) − mean(real)) / mean(real)`` — when ``mean(real) == 0`` this is
        ``0.0`` if ``mean(predicted) == 0`` too and ``±inf`` (the sign of ``mean(predicted)``)
        otherwise, never NaN.
    """
    ra = _values(real, "real", smp=False).ravel()
    pa = _values(predicted, "predicted", smp=False).ravel()
    ks = stats.ks_2samp(ra, pa)
    m_real, m_pred = float(ra.mean()), float(pa.mean())
    if m_real != 0:
        rel = (m_pred - m_real) / m_real
    else:
        rel = 0.0 if m_pred == 0 else math.copysign(math.inf, m_pred)
    return {
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "wasserstein": float(stats.wasserstein_distance(ra, pa)),
        "relative_mean_error": float(rel),
    }


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (95 % by default) of a binomial proportion ``k / n``."""
    k, n = _count(k, "k"), _count(n, "n", minimum=1)
    if k > n:
        raise SmoothscopeError(f"k: expected at most n={n}, got {k}")
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(centre - half, 0.0), min(centre + half, 1.0)


def zero_split_distance(real: Any, predicted: Any) -> dict[str, float]:
    """Compare two SMP samples as "exact zeros" + "the positive part" (paper A, Fig. 8(e)).

    A layer's output SMP is a point mass at 0 (nodes without events) plus a continuous positive
    part; a single KS statistic mixes the two. This splits them: the zero fractions with their
    95 % Wilson intervals and their difference, and the KS statistic and Wasserstein-1 distance
    (also relative to the mean of the real positive part) between the positive parts.

    Args:
        real: ``[...]`` real SMPs (non-negative).
        predicted: ``[...]`` predicted SMPs (non-negative).

    Returns:
        ``{"zero_real", "zero_real_low", "zero_real_high", "zero_predicted",
        "zero_predicted_low", "zero_predicted_high", "zero_difference", "n_real",
        "n_predicted", "n_real_positive", "n_predicted_positive", "ks_positive",
        "wasserstein_positive", "relative_wasserstein_positive"}``; the positive-part
        statistics are NaN when either side has fewer than 2 positive values.
    """
    ra = _values(real, "real").ravel()
    pa = _values(predicted, "predicted").ravel()
    out: dict[str, float] = {}
    for name, arr in (("real", ra), ("predicted", pa)):
        zeros = int(np.count_nonzero(arr == 0))
        low, high = wilson_interval(zeros, arr.size)
        out |= {
            f"zero_{name}": zeros / arr.size,
            f"zero_{name}_low": low,
            f"zero_{name}_high": high,
            f"n_{name}": float(arr.size),
            f"n_{name}_positive": float(arr.size - zeros),
        }
    out["zero_difference"] = out["zero_predicted"] - out["zero_real"]
    rp, pp = ra[ra > 0], pa[pa > 0]
    if rp.size < 2 or pp.size < 2:
        nan = math.nan
        return out | {
            "ks_positive": nan,
            "wasserstein_positive": nan,
            "relative_wasserstein_positive": nan,
        }
    w1 = float(stats.wasserstein_distance(rp, pp))
    return out | {
        "ks_positive": float(stats.ks_2samp(rp, pp).statistic),
        "wasserstein_positive": w1,
        "relative_wasserstein_positive": w1 / float(rp.mean()),
    }
