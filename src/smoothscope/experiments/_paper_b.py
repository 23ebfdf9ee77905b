"""Claim rules shared by the paper B experiments (``stability``, ``scale-detection``).

Pure functions on measured tables: log-log exponent fits over layers and networks, their
difference between two network states, exact binomial intervals for shares, a Spearman
correlation with a Fisher-z interval, and the construction of a claim beside its control (the
same rule applied to the control measurement). A dead (NaN) layer is never dropped silently:
the fits count it and the rules turn any dead value into ``not reproduced`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from ..results import Claim, Control

__all__ = [
    "Fit",
    "band_verdict",
    "binomial_share",
    "claim_with_control",
    "dead_note",
    "fit_exponent",
    "slope_difference",
    "spearman_interval",
    "spearman_over_groups",
]

LEVEL = 0.95
MIN_GROUPS = 5
"""The fewest groups (architectures) for which :func:`spearman_over_groups` gives an interval."""


@dataclass(frozen=True)
class Fit:
    """A least-squares slope of ``log y`` on ``log x``.

    Attributes:
        value, low, high: slope and its 95 % t interval (NaN with fewer than 3 live points).
        se: standard error of the slope.
        n: live points used; dead: points dropped because ``y`` or ``x`` is NaN or ≤ 0.
    """

    value: float
    low: float
    high: float
    se: float
    n: int
    dead: int


def fit_exponent(x: np.ndarray, y: np.ndarray) -> Fit:
    """Slope of ``log y`` vs ``log x`` over all points of ``[networks, layers]`` tables.

    Points with a non-finite or non-positive ``x`` or ``y`` (a dead layer) are not fitted but
    counted in ``dead``, so that the caller can refuse the claim.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    n, dead = int(keep.sum()), int((~keep).sum())
    if n < 3 or np.ptp(np.log(x[keep])) == 0:
        return Fit(math.nan, math.nan, math.nan, math.nan, n, dead)
    fit = scipy_stats.linregress(np.log(x[keep]), np.log(y[keep]))
    t = scipy_stats.t.ppf(0.5 + LEVEL / 2, n - 2)
    return Fit(
        fit.slope, fit.slope - t * fit.stderr, fit.slope + t * fit.stderr, fit.stderr, n, dead
    )


def slope_difference(a: Fit, b: Fit) -> Fit:
    """``a − b`` with a 95 % interval from the two standard errors (Welch–Satterthwaite df)."""
    if not (math.isfinite(a.se) and math.isfinite(b.se)):
        return Fit(math.nan, math.nan, math.nan, math.nan, min(a.n, b.n), a.dead + b.dead)
    va, vb = a.se**2, b.se**2
    se = math.sqrt(va + vb)
    denom = va**2 / max(a.n - 2, 1) + vb**2 / max(b.n - 2, 1)
    df = (va + vb) ** 2 / denom if denom > 0 else max(min(a.n, b.n) - 2, 1)
    t = scipy_stats.t.ppf(0.5 + LEVEL / 2, df)
    d = a.value - b.value
    return Fit(d, d - t * se, d + t * se, se, min(a.n, b.n), a.dead + b.dead)


def band_verdict(low: float, high: float, centre: float, tolerance: float) -> str:
    """``reproduced`` if ``[low, high]`` lies within ``centre ± tolerance``, ``not reproduced``
    if it lies entirely outside, ``inconclusive`` otherwise (and for a NaN interval)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive"
    if low >= centre - tolerance and high <= centre + tolerance:
        return "reproduced"
    if high < centre - tolerance or low > centre + tolerance:
        return "not reproduced"
    return "inconclusive"


def binomial_share(successes: int, n: int) -> tuple[float, float, float]:
    """Share ``successes / n`` and its exact (Clopper–Pearson) 95 % interval."""
    if n <= 0:
        return math.nan, math.nan, math.nan
    alpha = 1 - LEVEL
    low = 0.0 if successes == 0 else scipy_stats.beta.ppf(alpha / 2, successes, n - successes + 1)
    high = (
        1.0 if successes == n else scipy_stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes)
    )
    return successes / n, float(low), float(high)


def spearman_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Spearman ρ of paired samples and its 95 % Fisher-z interval.

    The standard error ``sqrt((1 + ρ²/2) / (n − 3))`` of ``atanh ρ`` is Bonett & Wright's (2000)
    for Spearman's ρ. NaN (a dead network) anywhere gives NaN: nothing is dropped.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = a.size
    if n < 4 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan, math.nan, math.nan
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant sample: ρ undefined
        return math.nan, math.nan, math.nan
    rho = float(scipy_stats.spearmanr(a, b).statistic)
    if not math.isfinite(rho):  # a constant sample
        return math.nan, math.nan, math.nan
    z = math.atanh(min(max(rho, -0.999999), 0.999999))
    se = math.sqrt((1 + rho**2 / 2) / (n - 3))
    q = scipy_stats.norm.ppf(0.5 + LEVEL / 2)
    return rho, math.tanh(z - q * se), math.tanh(z + q * se)


def spearman_over_groups(
    x: list[np.ndarray], y: list[np.ndarray], *, n_boot: int, seed: int
) -> tuple[float, float, float]:
    """Spearman ρ between the group means of ``x`` and ``y``, with a two-level bootstrap.

    Paper B Fig. 1 plots one point per architecture, its seeds averaged (§2: "All results are
    averaged when training on 5 or more different network initializations"): the points are
    the groups, never the networks. The estimate is ρ over the groups of ``(mean x, mean y)``;
    the 95 % percentile interval resamples the groups with replacement and, within each, its
    members with replacement (ties of a resample take average ranks; a resample whose means are
    all equal has no ρ and is left out).

    Args:
        x, y: one ``[members]`` array per group (the same members in both, paired).
        n_boot: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        ``(ρ, low, high)``; NaN with fewer than 3 groups or a NaN value anywhere, and a NaN
        interval with fewer than :data:`MIN_GROUPS` groups (even a perfect rank order of 4
        groups has a permutation p-value of 2/4! = 0.083: no 95 % interval can exclude 0,
        and a percentile bootstrap of so few points would pretend otherwise).
    """
    xs = [np.asarray(v, dtype=np.float64) for v in x]
    ys = [np.asarray(v, dtype=np.float64) for v in y]
    if len(xs) < 3 or not all(np.isfinite(v).all() and v.size for v in xs + ys):
        return math.nan, math.nan, math.nan

    def rho(mx: np.ndarray, my: np.ndarray) -> float:
        if np.ptp(mx) == 0 or np.ptp(my) == 0:
            return math.nan
        return float(scipy_stats.spearmanr(mx, my).statistic)

    value = rho(np.array([v.mean() for v in xs]), np.array([v.mean() for v in ys]))
    rng = np.random.default_rng(seed)
    draws = np.full(n_boot, np.nan)
    g = len(xs)
    for b in range(n_boot):
        pick = rng.integers(0, g, g)
        mx, my = np.empty(g), np.empty(g)
        for i, j in enumerate(pick):
            members = rng.integers(0, xs[j].size, xs[j].size)
            mx[i], my[i] = xs[j][members].mean(), ys[j][members].mean()
        draws[b] = rho(mx, my)
    if g < MIN_GROUPS or not math.isfinite(value) or np.isfinite(draws).sum() < 2:
        return value, math.nan, math.nan
    low, high = np.nanpercentile(draws, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return value, float(low), float(high)


def dead_note(dead: int, total: int, what: str) -> str:
    """The rule's suffix for dead values, or ``""``."""
    if dead <= 0:
        return ""
    return (
        f"; {dead} of {total} {what} dead (NaN or zero): a dead network cannot reproduce the "
        "claim, so not reproduced"
    )


def claim_with_control(
    *,
    cid: str,
    where: str,
    statement: str,
    paper_value: float | None,
    estimate: tuple[float, float, float],
    rule: Callable[[float, float], str],
    rule_text: str,
    replicates: dict[str, int],
    threshold: float | None,
    control: tuple[str, str, tuple[float, float, float]] | None,
    no_control: str | None = None,
    dead: int = 0,
    dead_total: int = 0,
    dead_what: str = "values",
    control_dead: int = 0,
    kind: str = "paper",
    depends_on: tuple[str, ...] | None = None,
    power: str | None = None,
    control_verdict: str | None = None,
) -> Claim:
    """A paper B claim whose verdict is ``rule(low, high)``, with its control under the same rule.

    Args:
        estimate: ``(value, low, high)`` of the measurement.
        rule: the verdict rule on the interval.
        control: ``(name, description, (value, low, high))`` or ``None`` with ``no_control``.
        dead: dead values in the measurement: the verdict becomes ``not reproduced``.
        control_dead: the same for the control.
        depends_on: the ledger fields whose value can change the verdict.
        power: the power note of an inconclusive claim (default: computed by
            :class:`~smoothscope.results.Claim` from the first level of ``replicates``).
        control_verdict: the control's verdict when the rule needs more than the control's
            interval (e.g. an effect-versus-control rule whose second part reads another
            statistic of the control); default ``rule`` on the control's interval.
    """
    value, low, high = (float(v) for v in estimate)
    verdict = rule(low, high) if not dead else "not reproduced"
    ctrl = None
    if control is not None:
        name, description, (cv, cl, ch) = control
        ctrl = Control(
            id=f"{cid}/{name}",
            description=description,
            measured=float(cv),
            uncertainty=(float(cl), float(ch)),
            verdict=(
                "not reproduced"
                if control_dead
                else control_verdict
                if control_verdict is not None
                else rule(cl, ch)
            ),
        )
    return Claim(
        cid,
        "B",
        where,
        statement,
        paper_value,
        value,
        (low, high),
        verdict,
        rule_text + dead_note(dead, dead_total, dead_what),
        kind=kind,
        control=ctrl,
        no_control=no_control if ctrl is None else None,
        replicates=replicates,
        threshold=threshold,
        depends_on=depends_on,
        power=power if verdict == "inconclusive" else None,
    )


def as_table(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    """``[networks, hidden layers]`` float64 table of one quantity (``None`` → NaN)."""
    return np.array(
        [[np.nan if r.get(key) is None else r[key] for r in run["rows"][:-1]] for run in runs],
        dtype=np.float64,
    )
