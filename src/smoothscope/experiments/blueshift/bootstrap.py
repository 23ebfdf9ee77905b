"""The statistics behind the ``blueshift`` claims: a two-level bootstrap over initialisations,
then the directions within each drawn one.

A table is either ``[inits, directions]`` of one per-direction number (the taper ``h`` of a
direction, a Fig. 6 correlation drop; :func:`~.cells.h_table`) or ``[inits, directions, K]`` of
per-direction averaged spectra (:func:`~.cells.spectrum_table`). Each replicate resamples the
initialisations with replacement, then the directions within each drawn initialisation; a
number table gives the mean of the drawn entries, a spectrum table the *statistic of the mean
drawn spectrum* (paper C §3.1: "we estimate the average power-spectrum … and fit a power-law to
these spectra"), e.g. its ``h``. NaN entries (nothing to fit) are left out of every mean.
Differences of two estimates and least-squares slopes through several are read off the same
replicates; every estimate is a point value with its 95 % percentile interval.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["boot_means", "difference", "interval", "quiet", "slope", "spearman_interval"]

Statistic = Callable[[torch.Tensor], torch.Tensor]
"""Maps mean spectra ``[..., K]`` to one number each ``[...]``."""
_CHUNK = 256
"""Replicates whose drawn spectra are averaged at once (memory: chunk × inits × directions × K)."""


def _statistic(stat: Statistic, spectra: np.ndarray) -> np.ndarray:
    return stat(torch.from_numpy(np.ascontiguousarray(spectra))).numpy()


def boot_means(
    tables: list[np.ndarray], n_boot: int, seed: int, stat: Statistic | None = None
) -> np.ndarray:
    """``[1 + n_boot, len(tables)]``: row 0 the estimates, then two-level bootstrap replicates.

    Args:
        tables: ``[inits, directions]`` numbers (estimate: their mean) or, with ``stat``,
            ``[inits, directions, K]`` spectra (estimate: ``stat`` of their mean spectrum).
        n_boot: replicates.
        seed: seeds the draws (the same draws for number and spectrum tables).
        stat: the statistic of a mean spectrum (required for spectrum tables).
    """
    rng = np.random.default_rng(seed)
    out = np.empty((1 + n_boot, len(tables)))
    for j, t in enumerate(tables):
        n_i, n_d = t.shape[:2]
        ii = rng.integers(0, n_i, (n_boot, n_i))
        dd = rng.integers(0, n_d, (n_boot, n_i, n_d))
        with np.errstate(all="ignore"), quiet():
            if t.ndim == 2:
                out[0, j] = np.nanmean(t)
                out[1:, j] = np.nanmean(t[ii[..., None], dd], axis=(1, 2))
                continue
            if stat is None:
                raise ValueError("boot_means: a spectrum table needs a statistic")
            out[0, j] = _statistic(stat, np.nanmean(t, axis=(0, 1)))
            for start in range(0, n_boot, _CHUNK):
                stop = min(start + _CHUNK, n_boot)
                drawn = t[ii[start:stop, :, None], dd[start:stop]]  # [b, inits, directions, K]
                out[1 + start : 1 + stop, j] = _statistic(stat, np.nanmean(drawn, axis=(1, 2)))
    return out


@contextlib.contextmanager
def quiet():
    """Silence numpy's 'mean of empty slice' warning: an all-NaN table has a NaN mean."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def interval(draws: np.ndarray) -> tuple[float, float, float]:
    """Point value (row 0) and the 95 % percentile interval of the other rows."""
    value = float(draws[0])
    rest = draws[1:][np.isfinite(draws[1:])]
    if not np.isfinite(value) or rest.size < 0.9 * (draws.size - 1):
        return value, float("nan"), float("nan")
    lo, hi = np.percentile(rest, [2.5, 97.5])
    return value, float(lo), float(hi)


def difference(
    larger: np.ndarray,
    smaller: np.ndarray,
    n_boot: int,
    seed: int,
    stat: Statistic | None = None,
) -> tuple[float, float, float]:
    """``estimate(larger) − estimate(smaller)`` with its interval (drawn independently)."""
    draws = boot_means([larger, smaller], n_boot, seed, stat)
    return interval(draws[:, 0] - draws[:, 1])


def slope(
    x: list[float],
    tables: list[np.ndarray],
    n_boot: int,
    seed: int,
    stat: Statistic | None = None,
) -> tuple[float, float, float]:
    """Least-squares slope of the estimate of ``tables[i]`` against ``x[i]``, with its interval
    (a replicate with any NaN estimate gives no slope)."""
    draws = boot_means(tables, n_boot, seed, stat)
    xs = np.asarray(x, float)
    ok = np.isfinite(draws).all(axis=1)
    slopes = np.full(draws.shape[0], np.nan)
    if ok.any():
        slopes[ok] = np.polyfit(xs, draws[ok].T, 1)[0]
    return interval(slopes)


def spearman_interval(
    a: np.ndarray, b: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """Spearman's ρ of paired values with a 95 % bootstrap interval over the pairs (Fig. 9:
    the networks). A replicate that draws fewer than three distinct pairs, or a constant
    side, gives no value; too many such replicates give no interval (:func:`interval`)."""
    from scipy.stats import spearmanr

    ok = np.isfinite(a) & np.isfinite(b)
    a, b = np.asarray(a, float)[ok], np.asarray(b, float)[ok]

    def rho(x: np.ndarray, y: np.ndarray) -> float:
        if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            return float("nan")
        return float(spearmanr(x, y).statistic)

    rng = np.random.default_rng(seed)
    draws = np.empty(1 + n_boot)
    draws[0] = rho(a, b)
    n = a.size
    for r in range(n_boot):
        idx = rng.integers(0, n, n) if n else np.zeros(0, int)
        draws[1 + r] = rho(a[idx], b[idx]) if np.unique(idx).size >= 3 else float("nan")
    return interval(draws)
