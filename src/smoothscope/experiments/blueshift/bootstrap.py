"""The statistics behind the ``blueshift`` claims: a two-level bootstrap of mean ``h``.

A table is ``[inits, directions]`` of one per-direction quantity (:func:`~.cells.h_table`).
Each replicate resamples the initialisations with replacement, then the directions within each
drawn initialisation; NaN entries (nothing to fit) are left out of every mean. Differences of
two means and least-squares slopes through several are read off the same replicates, and every
estimate is a point value with its 95 % percentile interval.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

__all__ = ["boot_means", "difference", "interval", "quiet", "slope"]


def boot_means(tables: list[np.ndarray], n_boot: int, seed: int) -> np.ndarray:
    """``[1 + n_boot, len(tables)]``: row 0 the means, then two-level bootstrap means.

    Each replicate resamples a table's initialisations with replacement, then the directions
    within each drawn initialisation; NaN entries (nothing to fit) are left out of the mean.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((1 + n_boot, len(tables)))
    for j, t in enumerate(tables):
        n_i, n_d = t.shape
        ii = rng.integers(0, n_i, (n_boot, n_i))
        dd = rng.integers(0, n_d, (n_boot, n_i, n_d))
        with np.errstate(all="ignore"), quiet():
            out[0, j] = np.nanmean(t)
            out[1:, j] = np.nanmean(t[ii[..., None], dd], axis=(1, 2))
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
    larger: np.ndarray, smaller: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """``mean(larger) − mean(smaller)`` with its interval (the two tables drawn independently)."""
    draws = boot_means([larger, smaller], n_boot, seed)
    return interval(draws[:, 0] - draws[:, 1])


def slope(
    x: list[float], tables: list[np.ndarray], n_boot: int, seed: int
) -> tuple[float, float, float]:
    """Least-squares slope of the mean of ``tables[i]`` against ``x[i]``, with its interval
    (a replicate with any NaN mean gives no slope)."""
    draws = boot_means(tables, n_boot, seed)
    xs = np.asarray(x, float)
    ok = np.isfinite(draws).all(axis=1)
    slopes = np.full(draws.shape[0], np.nan)
    if ok.any():
        slopes[ok] = np.polyfit(xs, draws[ok].T, 1)[0]
    return interval(slopes)
