"""Resampling statistics for claims: hierarchical bootstrap over models and inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._errors import SmoothscopeError

__all__ = ["Estimate", "hierarchical_bootstrap", "r2_from_sums", "r2_interval", "ratio_of_medians"]


class Estimate(tuple):
    """``(value, low, high)``: a point estimate and a two-sided confidence interval."""

    __slots__ = ()

    def __new__(cls, value: float, low: float, high: float) -> Estimate:
        return super().__new__(cls, (float(value), float(low), float(high)))

    value = property(lambda self: self[0])
    low = property(lambda self: self[1])
    high = property(lambda self: self[2])


def hierarchical_bootstrap(
    groups: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    paired_models: bool = False,
) -> Estimate:
    """Two-level bootstrap of a statistic of several ``[models, inputs]`` tables.

    Each group is a table of one value per (model, input). A replicate resamples the models of
    each group with replacement and the inputs with replacement, the input indices shared by all
    groups because the same inputs go through every model (a paired design). With a handful of
    models this keeps the model-to-model spread in the interval instead of pretending that
    ``models × inputs`` values are independent.

    Args:
        groups: arrays of shape ``[K_g, V]`` (same V for all groups).
        statistic: called as ``statistic(*samples)`` with arrays ``[n, K_g * V]`` (one row per
            replicate; row 0 of the point estimate is the original data) and returning ``[n]``.
        n_boot: number of replicates.
        level: confidence level of the percentile interval.
        seed: seed of the resampling.
        paired_models: resample the same models for every group (the groups are several
            statistics of the same models, e.g. the sums of a regression); they must then have
            the same number of models.

    Returns:
        the statistic on the data and the percentile interval.
    """
    groups = [np.asarray(g, dtype=np.float64) for g in groups]
    if not groups or any(g.ndim != 2 or g.size == 0 for g in groups):
        raise SmoothscopeError(
            "groups: expected non-empty [models, inputs] tables, got shapes "
            f"{[np.shape(g) for g in groups]}"
        )
    n_inputs = groups[0].shape[1]
    if any(g.shape[1] != n_inputs for g in groups):
        raise SmoothscopeError(
            f"groups: expected the same number of inputs, got {[g.shape[1] for g in groups]}"
        )
    if not 0 < level < 1:
        raise SmoothscopeError(f"level: expected a number in (0, 1), got {level}")
    if paired_models and len({g.shape[0] for g in groups}) != 1:
        raise SmoothscopeError(
            f"groups: paired models need equal model counts, got {[g.shape[0] for g in groups]}"
        )
    rng = np.random.default_rng(seed)
    inputs = rng.integers(0, n_inputs, size=(n_boot, 1, n_inputs))
    shared = rng.integers(0, groups[0].shape[0], size=(n_boot, groups[0].shape[0], 1))
    samples = []
    for g in groups:
        models = (
            shared if paired_models else rng.integers(0, g.shape[0], size=(n_boot, g.shape[0], 1))
        )
        samples.append(g[models, inputs].reshape(n_boot, -1))
    replicates = np.asarray(statistic(*samples), dtype=np.float64)
    value = float(np.asarray(statistic(*[g.reshape(1, -1) for g in groups]))[0])
    alpha = (1 - level) / 2
    if np.isnan(replicates).all():  # e.g. R² of constant data: undefined, not an error
        return Estimate(value, np.nan, np.nan)
    low, high = np.nanquantile(replicates, [alpha, 1 - alpha])
    return Estimate(value, low, high)


def ratio_of_medians(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise ``median(a) / median(b)`` (``inf`` where the denominator is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.median(a, axis=-1) / np.median(b, axis=-1)


def r2_from_sums(sums: np.ndarray) -> np.ndarray:
    """R² of the least-squares line y ~ a + b·p from summed ``[..., 6]`` statistics
    ``[n, Σp, Σy, Σpp, Σyy, Σpy]`` (NaN where p or y is constant)."""
    n, sp, sy, spp, syy, spy = np.moveaxis(np.asarray(sums, dtype=np.float64), -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mp, my = sp / n, sy / n
        cov = spy / n - mp * my
        var_p = spp / n - mp**2
        var_y = syy / n - my**2
        return np.where((var_p > 0) & (var_y > 0), cov**2 / (var_p * var_y), np.nan)


def r2_interval(sums: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> Estimate:
    """R² of pooled data with a two-level bootstrap interval.

    Args:
        sums: ``[models, inputs, 6]`` regression sums per (model, input), e.g. from
            :func:`smoothscope.analysis.propagation.regression_sums`.
        n_boot: bootstrap replicates.
        seed: seed of the resampling.
    """
    sums = np.asarray(sums, dtype=np.float64)
    if sums.ndim != 3 or sums.shape[-1] != 6:
        raise SmoothscopeError(f"sums: expected [models, inputs, 6], got {sums.shape}")
    groups = [sums[..., k] for k in range(6)]
    return hierarchical_bootstrap(
        groups,
        lambda *cols: r2_from_sums(np.stack([c.sum(axis=-1) for c in cols], axis=-1)),
        n_boot=n_boot,
        seed=seed,
        paired_models=True,
    )
