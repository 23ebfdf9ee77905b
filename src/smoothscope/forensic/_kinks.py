"""Kinks against a noise floor: the 7-frame kink and noise filters and their running statistics.

Paper A detects a kink from the second difference ``δ²y(t) = y(t+1) + y(t−1) − 2y(t)``
(eq. 2), which 8-bit rounding and codecs bury: rounding alone makes ``|δ²|`` up to 2 levels.
Two filters over 7 frames (least squares on ``j = −3..3``, each scaled to unit gain for white
noise) separate the two:

* the *kink filter* ``k(t)``: the coefficient of the hinge ``max(j, 0)`` in a fit of
  ``1, j, j², j³, max(j, 0)`` (a slope change at ``t``; any cubic motion gives exactly 0);
* the *noise filter* ``r(t)``: the residual of the same fit at ``j = 0`` (what neither smooth
  motion nor a kink at ``t`` explains).

White noise gives both the same energy; an isolated kink gives the kink filter 3.5 times the
energy of the noise filter. The *noise floor* ``σ`` is estimated from the video itself: 1.4826
× the median of the nonzero ``|r|`` (a robust standard deviation), never below the rounding
noise of one level (``1/√12``; half that after averaging 2 × 2 pixels).

:class:`KinkStats` accumulates, window by window, what the features need: histograms of
``log10 |k|`` and ``log10 |r|`` (the floor is known only at the end, when the video's range
is), energies per pixel, and the lag-1 and lag-2 products of ``δ²``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["HALF", "KINK_NAMES", "ROUNDING", "KinkStats", "kink_filters"]

HALF = 3
"""Half-width of the kink and noise filters (7 frames)."""
ROUNDING = 1 / math.sqrt(12)
"""Standard deviation of rounding to one level, in levels: the lowest noise floor."""
EPS = 1e-6
"""Added (in levels²) inside ratios: a static video stays finite."""
KINK_NAMES = (
    "log_noise_floor",
    "kink_energy_ratio",
    "kink_excess_ratio",
    "kink_rate_4",
    "kink_rate_8",
    "residual_rate_4",
    "d2_lag1_corr",
    "d2_lag2_corr",
)
"""The values of :meth:`KinkStats.values`, in order."""
_BIN = 0.01
"""Width of the histogram bins of log10 |k| and log10 |r| (dex)."""
_LOG_LO, _LOG_HI = -330.0, 160.0
"""Range of the histograms (dex): the values are scaled to at most 1e150 (see video_features)."""
_BINS = int((_LOG_HI - _LOG_LO) / _BIN)


def kink_filters(half: int = HALF) -> tuple[torch.Tensor, torch.Tensor]:
    """The kink and noise filters over ``2·half + 1`` frames (module docstring).

    Returns:
        ``(kink, noise)``, each float64 ``[2·half + 1]`` with unit norm (unit gain for white
        noise); ``kink`` gives 0 on every cubic in t, ``noise`` 0 on every cubic and on a hinge
        at the centre.
    """
    j = np.arange(-half, half + 1, dtype=np.float64)
    basis = np.stack([np.ones_like(j), j, j**2, j**3, np.maximum(j, 0.0)], axis=1)
    pinv = np.linalg.pinv(basis)
    kink = pinv[-1]
    noise = (np.eye(j.size) - basis @ pinv)[half]
    return (
        torch.from_numpy(kink / np.linalg.norm(kink)),
        torch.from_numpy(noise / np.linalg.norm(noise)),
    )


_BOTH = torch.stack(kink_filters()).unsqueeze(1)  # [2, 1, 7]: one convolution for both


def _filters(series: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Kink and noise filter outputs of every column of ``[n, P]``: two ``[n − 2·half, P]``."""
    out = F.conv1d(series.T.unsqueeze(1), _BOTH)  # [P, 2, n − 2·half]
    return out[:, 0].T, out[:, 1].T


class _Histogram:
    """A histogram of |values| on a log scale: median, exceedances, excess energy."""

    def __init__(self) -> None:
        self.counts = torch.zeros(_BINS, dtype=torch.int64)
        self.zeros = 0

    def add(self, values: torch.Tensor) -> None:
        a = values.abs().flatten()
        nonzero = a[a > 0]
        index = ((torch.log10(nonzero) - _LOG_LO) / _BIN).floor().long().clamp(0, _BINS - 1)
        self.counts += torch.bincount(index, minlength=_BINS)
        self.zeros += int(a.numel() - nonzero.numel())

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + self.zeros

    def nonzero_median(self) -> float:
        """Median of the nonzero |values| (0 if all are zero), to the bin's resolution."""
        counts = self.counts.numpy()
        n = counts.sum()
        if n == 0:
            return 0.0
        i = int(np.searchsorted(np.cumsum(counts), n / 2.0))
        return float(10.0 ** (_LOG_LO + _BIN * (i + 0.5)))

    def fraction_above(self, level: float) -> float:
        if self.total == 0 or level <= 0:
            return 0.0
        first = math.floor((math.log10(level) - _LOG_LO) / _BIN) + 1
        return float(self.counts[max(first, 0) :].sum()) / self.total

    def excess_energy(self, level: float) -> float:
        """Mean of ``(|v| − level)₊²`` over all values."""
        if self.total == 0:
            return 0.0
        counts = self.counts.numpy()
        used = np.flatnonzero(counts)
        c = 10.0 ** (_LOG_LO + _BIN * (used + 0.5))
        above = c > level
        return float(((c[above] - level) ** 2 * counts[used][above]).sum()) / self.total


class KinkStats:
    """Running kink statistics of the series of a video, fed window by window.

    Args:
        floor: the lowest noise floor in levels (:data:`ROUNDING` for single pixels).
    """

    def __init__(self, floor: float = ROUNDING) -> None:
        self.floor = floor
        self.hist_k, self.hist_r = _Histogram(), _Histogram()
        self.k2: torch.Tensor | None = None
        self.r2: torch.Tensor | None = None
        self.sums = {"sq2": 0.0, "lag1": 0.0, "lag2": 0.0}
        self.n_d2 = 0
        self.n_kr = 0
        self.n_series = 0

    def add(self, series: torch.Tensor, seen: int) -> None:
        """Add one window ``[n, P]`` whose first ``seen`` frames earlier windows read (each
        output is credited to the window holding its centre as a new one)."""
        n, self.n_series = series.shape[0], series.shape[1]
        start2 = max(seen - 2, 0)  # the δ² of series[start2:] are centred at frames ≥ seen − 1
        sub = series[start2:]
        d2 = sub[2:] + sub[:-2] - 2 * sub[1:-1]
        lag1 = float((d2[1:] * d2[:-1]).sum())
        lag2 = float((d2[2:] * d2[:-2]).sum())
        if seen and start2 >= 1:  # pairs whose earlier δ² belongs to the previous window
            before = series[start2 - 1 : start2 + 2]
            d2_prev = before[2] + before[0] - 2 * before[1]
            lag1 += float((d2_prev * d2[0]).sum())
            lag2 += float((d2_prev * d2[1]).sum())
            if start2 >= 2:
                b2 = series[start2 - 2 : start2 + 1]
                lag2 += float(((b2[2] + b2[0] - 2 * b2[1]) * d2[0]).sum())
        self.sums["sq2"] += float((d2 * d2).sum())
        self.sums["lag1"] += lag1
        self.sums["lag2"] += lag2
        self.n_d2 += d2.shape[0]
        if n >= 2 * HALF + 1:  # the overlap of windows is exactly the filters' span
            k, r = _filters(series)
            k2, r2 = (k * k).sum(0), (r * r).sum(0)
            self.k2 = k2 if self.k2 is None else self.k2 + k2
            self.r2 = r2 if self.r2 is None else self.r2 + r2
            self.hist_k.add(k)
            self.hist_r.add(r)
            self.n_kr += k.shape[0]

    def values(self, level: float) -> list[float]:
        """The :data:`KINK_NAMES` values, with ``level`` the video's step (range / 255) in the
        units of the series."""
        sigma = max(1.4826 * self.hist_r.nonzero_median(), self.floor * level)
        tiny = EPS * level * level
        if self.k2 is None or self.r2 is None:
            return [math.log10(sigma / level), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        n_kr = max(self.n_kr * self.n_series, 1)
        ek, er = float(self.k2.sum()) / n_kr, float(self.r2.sum()) / n_kr
        per = self.n_series
        norm = self.sums["sq2"] / (max(self.n_d2, 1) * per) + tiny
        lag1 = self.sums["lag1"] / (max(self.n_d2 - 1, 1) * per) / norm
        lag2 = self.sums["lag2"] / (max(self.n_d2 - 2, 1) * per) / norm
        excess_k = self.hist_k.excess_energy(2 * sigma)
        excess_r = self.hist_r.excess_energy(2 * sigma)
        return [
            math.log10(sigma / level),
            math.log10((ek + tiny) / (er + tiny)),
            math.log10((excess_k + tiny) / (excess_r + tiny)),
            self.hist_k.fraction_above(4 * sigma),
            self.hist_k.fraction_above(8 * sigma),
            self.hist_r.fraction_above(4 * sigma),
            lag1,
            lag2,
        ]

    def energy_map(self, shape: tuple[int, ...], level: float) -> torch.Tensor:
        """log10 Σ k² / Σ r² per pixel ``[H, W]`` (channels pooled) of series laid out as
        ``shape = (C, H, W)``."""
        tiny = EPS * level * level
        if self.k2 is None or self.r2 is None:
            return torch.zeros(shape[1:], dtype=torch.float64)
        k = self.k2.reshape(shape).sum(0)
        r = self.r2.reshape(shape).sum(0)
        return torch.log10((k + tiny) / (r + tiny))
