"""Statistical channels ``f(y | x)`` for the propagation of SMP through layers (paper A, §V).

Paper A (§V-B–§V-E) follows the *sum of the magnitude of peaks* (SMP, a non-negative number per
network node) from the input to the output of a building block and models the block as a
statistical channel: ``x`` is the SMP at the input (or a summary of the inputs, e.g. the largest
input SMP of a pooling window) and ``y`` the SMP at the output.

* :class:`LinearChannel` — a convolutional / linear layer, eqs. (5)–(6) in channel form:
  ``y ≈ a + b·p`` where ``p`` is the eq. (5) prediction computed by the caller.
* :class:`BernoulliGaussianChannel` — ReLU, eq. (7): ``(1 − θ)·δ(y) + θ·N(y; β·x, σ)``.
* :class:`MaxPoolChannel` — max pooling, eq. (8): one Gaussian below a threshold ``a`` of the
  largest input SMP, a two-Gaussian mixture above it, fitted by EM.
* :class:`EmpiricalChannel` — the nonparametric (Monte-Carlo) alternative the paper mentions in
  §V-E: resample the observed ``y`` of inputs with a similar ``x``.

Channels are chained by sampling (``y2 = ch2.sample(ch1.sample(x, rng), rng)``) as in §V-E, and
:func:`r_squared` / :func:`distribution_distance` compare predicted and real SMPs (Fig. 8).

All math is NumPy float64. Inputs may be NumPy arrays, sequences or torch tensors (of any shape;
fits flatten them). Randomness comes only from an explicit :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
from scipy import stats

from .._errors import SmoothscopeError

__all__ = [
    "PAPER_MAXPOOL_THRESHOLD",
    "BernoulliGaussianChannel",
    "EmpiricalChannel",
    "LinearChannel",
    "MaxPoolChannel",
    "ThresholdSearch",
    "distribution_distance",
    "r_squared",
]

PAPER_MAXPOOL_THRESHOLD = 0.0025
"""The threshold ``a`` on the largest input SMP in paper A, eq. (8)."""

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_REL_SD_FLOOR = 1e-6  # standard deviations are floored at this fraction of the data scale
_PI_EPS = 1e-12  # EM keeps the mixing weight inside [eps, 1 - eps]
_MIN_SIDE = 2  # fewest points on each side of the max-pool threshold
_SEARCH_QUANTILES = np.linspace(0.05, 0.95, 19)


# --------------------------------------------------------------------------- validation helpers


def _array(v: Any, name: str) -> np.ndarray:
    """``v`` (array, sequence, number or torch tensor) as a float64 array."""
    if isinstance(v, torch.Tensor):
        if v.is_complex() or v.dtype == torch.bool:
            raise SmoothscopeError(f"{name}: expected real numbers, got dtype {v.dtype}")
        return np.asarray(v.detach().cpu().to(torch.float64), dtype=np.float64)
    try:
        raw = np.asarray(v)
    except (TypeError, ValueError) as exc:
        raise SmoothscopeError(
            f"{name}: expected an array of real numbers, got {type(v).__name__}"
        ) from exc
    if raw.dtype.kind not in "iuf":
        raise SmoothscopeError(f"{name}: expected an array of real numbers, got dtype {raw.dtype}")
    return raw.astype(np.float64, copy=False)


def _values(v: Any, name: str, *, smp: bool = True, allow_empty: bool = False) -> np.ndarray:
    """Validated float64 array: non-empty (unless allowed), finite, non-negative for SMPs."""
    arr = _array(v, name)
    if arr.size == 0 and not allow_empty:
        raise SmoothscopeError(
            f"{name}: expected at least 1 value, got an empty array of shape {arr.shape}"
        )
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise SmoothscopeError(f"{name}: expected finite values, got {n_bad} NaN or inf entries")
    if smp:
        n_neg = int(np.count_nonzero(arr < 0))
        if n_neg:
            raise SmoothscopeError(
                f"{name}: expected non-negative SMPs, got {n_neg} negative entries "
                f"(min {float(arr.min()):.3g})"
            )
    return arr


def _pair(
    x: Any,
    y: Any,
    xname: str = "x",
    yname: str = "y",
    *,
    smp: bool = True,
    allow_empty: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Two validated arrays of the same shape, flattened to ``[n]``."""
    xa = _values(x, xname, smp=smp, allow_empty=allow_empty)
    ya = _values(y, yname, smp=smp, allow_empty=allow_empty)
    if xa.shape != ya.shape:
        raise SmoothscopeError(f"{yname}: expected the shape of {xname} {xa.shape}, got {ya.shape}")
    return xa.ravel(), ya.ravel()


def _number(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """``value`` as a finite float within the given bounds, else a SmoothscopeError."""
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    v = float(value) if real else math.nan
    ok = math.isfinite(v)
    if ok and minimum is not None:
        ok = v > minimum if strict else v >= minimum
    if ok and maximum is not None:
        ok = v <= maximum
    if ok:
        return v
    if minimum is not None and maximum is not None:
        want = f"a finite number in [{minimum:g}, {maximum:g}]"
    elif minimum is not None:
        want = f"a finite number {'>' if strict else '>='} {minimum:g}"
    else:
        want = "a finite number"
    raise SmoothscopeError(f"{name}: expected {want}, got {value!r}")


def _count(value: Any, name: str, *, minimum: int = 0) -> int:
    """``value`` as an int ``>= minimum``."""
    if (
        isinstance(value, (int, np.integer))
        and not isinstance(value, (bool, np.bool_))
        and value >= minimum
    ):
        return int(value)
    raise SmoothscopeError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise SmoothscopeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def _var_floor(*arrays: np.ndarray) -> float:
    """A tiny variance floor relative to the scale (largest magnitude) of the data."""
    scale = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    return (_REL_SD_FLOOR * (scale if scale > 0 else 1.0)) ** 2


def _log_normal(y: np.ndarray, mean: np.ndarray | float, sd: float) -> np.ndarray:
    """``log N(y; mean, sd)`` elementwise."""
    return -0.5 * ((y - mean) / sd) ** 2 - math.log(sd) - _LOG_SQRT_2PI


def _log(p: float) -> float:
    """``log p`` with ``log 0 = -inf``."""
    return math.log(p) if p > 0 else -math.inf


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------- ReLU, eq. (7)


@dataclass(frozen=True)
class BernoulliGaussianChannel:
    """Bernoulli–Gaussian channel of a ReLU (paper A, eq. 7)::

        f(y | x) = (1 − θ)·δ(y) + θ·N(y; β·x, σ)

    With probability ``1 − θ`` the node is off and its output SMP is zero; otherwise the input
    SMP passes, scaled by ``β``, with Gaussian noise of standard deviation ``σ``. The paper has
    ``β = 1`` (a ReLU that is on passes the kinks unchanged); a smooth activation such as softplus
    scales the SMP by its derivative, which ``fit(..., slope="fit")`` estimates.

    Attributes:
        theta: ``θ``, the probability that the output is in the Gaussian ("on") component.
        sigma: ``σ > 0``, the standard deviation of the Gaussian component.
        slope: ``β >= 0``, the gain of the Gaussian component's mean.
        zero_tol: outputs ``y <= zero_tol`` count as the ``δ`` component (exact zeros by default).
        n: number of points the channel was fitted on (0 when built by hand).
    """

    theta: float
    sigma: float
    slope: float = 1.0
    zero_tol: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "theta", _number(self.theta, "theta", minimum=0.0, maximum=1.0))
        object.__setattr__(self, "sigma", _number(self.sigma, "sigma", minimum=0.0, strict=True))
        object.__setattr__(self, "slope", _number(self.slope, "slope", minimum=0.0))
        object.__setattr__(self, "zero_tol", _number(self.zero_tol, "zero_tol", minimum=0.0))
        object.__setattr__(self, "n", _count(self.n, "n"))

    @classmethod
    def fit(
        cls,
        x: Any,
        y: Any,
        *,
        slope: Literal["fixed", "fit"] = "fixed",
        zero_tol: float = 0.0,
    ) -> BernoulliGaussianChannel:
        """Maximum-likelihood fit of eq. (7) to paired input/output SMPs.

        Points with ``y <= zero_tol`` form the ``δ`` component and ``θ`` is the share of the
        others ("on" points). Over the on points, ``β = 1`` (``slope="fixed"``, the paper) or
        ``β = Σxy / Σx²`` (``slope="fit"``), and ``σ² = mean((y − β·x)²)``. These are the ML
        estimates of the likelihood documented in :meth:`loglik`. ``σ`` is floored at ``1e-6`` of
        the largest SMP so that exactly reproduced data still give a proper density.

        Args:
            x: ``[...]`` input SMPs.
            y: ``[...]`` output SMPs, the shape of ``x``.
            slope: ``"fixed"`` for ``β = 1`` or ``"fit"`` to estimate ``β``.
            zero_tol: outputs at or below this count as zero.

        Returns:
            the fitted channel.

        Raises:
            SmoothscopeError: bad data, fewer than 2 on points, or (``slope="fit"``) all on points
                at ``x = 0``.
        """
        xa, ya = _pair(x, y)
        zero_tol = _number(zero_tol, "zero_tol", minimum=0.0)
        if slope not in ("fixed", "fit"):
            raise SmoothscopeError(f"slope: expected 'fixed' or 'fit', got {slope!r}")
        on = ya > zero_tol
        n_on = int(np.count_nonzero(on))
        if n_on < 2:
            raise SmoothscopeError(
                f"y: expected at least 2 points with y > zero_tol={zero_tol:g} to fit the "
                f"Gaussian component, got {n_on}"
            )
        x_on, y_on = xa[on], ya[on]
        beta = 1.0
        if slope == "fit":
            sxx = float(x_on @ x_on)
            if sxx == 0.0:
                raise SmoothscopeError(
                    "x: expected some x > 0 among the points with y > zero_tol to fit the "
                    "slope, got x == 0 for all of them"
                )
            beta = float(x_on @ y_on) / sxx
        resid = y_on - beta * x_on
        var = max(float(np.mean(resid * resid)), _var_floor(xa, ya))
        return cls(
            theta=n_on / xa.size, sigma=math.sqrt(var), slope=beta, zero_tol=zero_tol, n=xa.size
        )

    def loglik(self, x: Any, y: Any) -> float:
        """Log-likelihood of paired data under eq. (7), summed over the points.

        The channel mixes a point mass at zero with a density, so the likelihood is taken with
        respect to ``δ_0 + Lebesgue``: a point with ``y <= zero_tol`` contributes ``log(1 − θ)``
        (a probability), any other point ``log θ + log N(y; β·x, σ)`` (a density). Values are
        comparable between channels with the same ``zero_tol`` on the same data, which is what ML
        fitting and model comparison need; they are not comparable with purely continuous
        likelihoods.

        Args:
            x: ``[...]`` input SMPs.
            y: ``[...]`` output SMPs, the shape of ``x``.

        Returns:
            the summed log-likelihood (``-inf`` where the data are impossible, e.g. a zero output
            with ``θ = 1``; ``0.0`` for empty data).
        """
        xa, ya = _pair(x, y, allow_empty=True)
        on = ya > self.zero_tol
        n_on = int(np.count_nonzero(on))
        n_off = ya.size - n_on
        total = float(np.sum(_log_normal(ya[on], self.slope * xa[on], self.sigma)))
        if n_on:
            total += n_on * _log(self.theta)
        if n_off:
            total += n_off * _log(1.0 - self.theta)
        return total

    def sample(self, x: Any, rng: np.random.Generator, *, clip: bool = True) -> np.ndarray:
        """Draw one output SMP per input from eq. (7).

        The Gaussian component can fall below zero, which an SMP cannot, so by default negative
        draws are set to 0 (they join the zero outputs). ``clip=False`` returns the raw draws of
        eq. (7), whose mean is :meth:`mean`.

        Args:
            x: ``[...]`` input SMPs.
            rng: the source of randomness.
            clip: set negative draws to 0.

        Returns:
            ``[...]`` float64 output SMPs, the shape of ``x``.
        """
        xa = _values(x, "x", allow_empty=True)
        _check_rng(rng)
        on = rng.random(xa.shape) < self.theta
        noise = rng.standard_normal(xa.shape)
        out = np.where(on, self.slope * xa + self.sigma * noise, 0.0)
        return np.asarray(np.maximum(out, 0.0) if clip else out)

    def mean(self, x: Any) -> np.ndarray:
        """``E[y | x] = θ·β·x`` under eq. (7) (the mean of ``sample(..., clip=False)``).

        Args:
            x: ``[...]`` input SMPs.

        Returns:
            ``[...]`` conditional means.
        """
        xa = _values(x, "x", allow_empty=True)
        return np.asarray(self.theta * self.slope * xa)


# --------------------------------------------------------------------------- max pool, eq. (8)


@dataclass(frozen=True)
class ThresholdSearch:
    """The candidate thresholds tried by ``MaxPoolChannel.fit(..., threshold=None)``.

    Attributes:
        candidates: ``[K]`` candidate thresholds, ascending.
        logliks: ``[K]`` total log-likelihood of the fit at each candidate (``-inf`` where a side
            had fewer than 2 points).
        best: the chosen threshold (the argmax).
    """

    candidates: tuple[float, ...]
    logliks: tuple[float, ...]
    best: float


@dataclass(frozen=True)
class MaxPoolChannel:
    """Max-pooling channel (paper A, eq. 8)::

        f(y | x) = 1(x < a)·N(y; μ0, σ0)
                 + 1(x ≥ a)·[π0·N(y; x, σ1) + (1 − π0)·N(y; μ2, σ2)]

    ``x`` is the largest input SMP of the pooling window (computed by the caller) and ``y`` the
    output SMP. Below the threshold ``a`` the output SMP is Gaussian around a small level; above
    it the pooled output either follows the maximal input (``N(y; x, σ1)``, the window's routing
    is stable) or takes an ``x``-independent level (``N(y; μ2, σ2)``, routing switches).

    Attributes:
        threshold: ``a > 0``.
        mu0: ``μ0``; sigma0: ``σ0 > 0`` — the Gaussian for ``x < a``.
        pi0: ``π0`` in [0, 1], the weight of the component that follows ``x``.
        sigma1: ``σ1 > 0``, its standard deviation.
        mu2: ``μ2``; sigma2: ``σ2 > 0`` — the ``x``-independent component for ``x ≥ a``.
        n_low: fitted points with ``x < a``; n_high: with ``x ≥ a``.
        n_iter: EM iterations run; converged: whether EM met its tolerance.
        loglik_trace: ``[n_iter + 1]`` EM objective (the log-likelihood of the ``x ≥ a`` points
            under the mixture) at the initial values and after each iteration; non-decreasing.
        threshold_search: the candidates tried when the threshold was estimated, else ``None``.
    """

    threshold: float
    mu0: float
    sigma0: float
    pi0: float
    sigma1: float
    mu2: float
    sigma2: float
    n_low: int = 0
    n_high: int = 0
    n_iter: int = 0
    converged: bool = False
    loglik_trace: tuple[float, ...] = ()
    threshold_search: ThresholdSearch | None = None

    def __post_init__(self) -> None:
        for name in ("threshold", "sigma0", "sigma1", "sigma2"):
            value = _number(getattr(self, name), name, minimum=0.0, strict=True)
            object.__setattr__(self, name, value)
        for name in ("mu0", "mu2"):
            object.__setattr__(self, name, _number(getattr(self, name), name))
        object.__setattr__(self, "pi0", _number(self.pi0, "pi0", minimum=0.0, maximum=1.0))
        for name in ("n_low", "n_high", "n_iter"):
            object.__setattr__(self, name, _count(getattr(self, name), name))
        object.__setattr__(self, "loglik_trace", tuple(float(v) for v in self.loglik_trace))

    @classmethod
    def fit(
        cls,
        x: Any,
        y: Any,
        *,
        threshold: float | None = PAPER_MAXPOOL_THRESHOLD,
        max_iter: int = 500,
        tol: float = 1e-9,
    ) -> MaxPoolChannel:
        """Maximum-likelihood fit of eq. (8) to (largest input SMP, output SMP) pairs.

        For ``x < a``, ``μ0`` and ``σ0`` are the sample mean and (ML) standard deviation of
        ``y``. For ``x ≥ a``, EM fits ``(π0, σ1, μ2, σ2)``: the E-step computes each point's
        responsibility ``r`` of the ``N(y; x, σ1)`` component, the M-step sets ``π0 = mean(r)``,
        ``σ1² = Σr(y − x)² / Σr``, ``μ2 = Σ(1−r)y / Σ(1−r)``, ``σ2² = Σ(1−r)(y − μ2)² / Σ(1−r)``.
        EM starts at ``π0 = 0.5``, ``σ1 = std(y − x)``, ``μ2 = mean(y)``, ``σ2 = std(y)`` and stops
        when an iteration gains at most ``tol·|loglik|``. Standard deviations are floored at
        ``1e-6`` of the largest SMP and ``π0`` is kept in ``[1e-12, 1 − 1e-12]``, so degenerate
        data give finite, if uninformative, fits.

        With ``threshold=None`` the threshold is estimated: the candidates are the 5 %, 10 %, …,
        95 % quantiles of the positive ``x`` plus the paper's 0.0025 when it lies within the
        positive ``x``; the channel is fitted at each and the candidate with the largest total
        log-likelihood (both sides) wins. The search is kept in ``threshold_search``.

        Args:
            x: ``[...]`` largest input SMP of each pooling window.
            y: ``[...]`` output SMPs, the shape of ``x``.
            threshold: ``a > 0``, or ``None`` to estimate it.
            max_iter: most EM iterations (per candidate threshold).
            tol: relative log-likelihood gain below which EM stops.

        Returns:
            the fitted channel.

        Raises:
            SmoothscopeError: bad data or parameters, or fewer than 2 points on a side of the
                given threshold (of every candidate, when searching). A side is never fitted
                from fewer than 2 points.
        """
        xa, ya = _pair(x, y)
        max_iter = _count(max_iter, "max_iter", minimum=1)
        tol = _number(tol, "tol", minimum=0.0)
        floor = _var_floor(xa, ya)
        if threshold is not None:
            a = _number(threshold, "threshold", minimum=0.0, strict=True)
            n_low = int(np.count_nonzero(xa < a))
            if n_low < _MIN_SIDE or xa.size - n_low < _MIN_SIDE:
                raise SmoothscopeError(
                    f"x: expected at least {_MIN_SIDE} points with x < threshold={a:g} and "
                    f"{_MIN_SIDE} with x >= threshold, got {n_low} and {xa.size - n_low}"
                )
            return cls._fit_at(xa, ya, a, max_iter, tol, floor)[0]

        positive = xa[xa > 0]
        if positive.size == 0:
            raise SmoothscopeError(
                "x: expected some x > 0 to search for the threshold, got x == 0 everywhere"
            )
        candidates = np.quantile(positive, _SEARCH_QUANTILES)
        if positive.min() < PAPER_MAXPOOL_THRESHOLD <= positive.max():
            candidates = np.append(candidates, PAPER_MAXPOOL_THRESHOLD)
        candidates = np.unique(candidates)
        logliks = np.full(candidates.size, -np.inf)
        best: MaxPoolChannel | None = None
        best_ll = -math.inf
        for i, a in enumerate(candidates):
            n_low = int(np.count_nonzero(xa < a))
            if n_low < _MIN_SIDE or xa.size - n_low < _MIN_SIDE:
                continue
            channel, logliks[i] = cls._fit_at(xa, ya, float(a), max_iter, tol, floor)
            if best is None or logliks[i] > best_ll:
                best, best_ll = channel, logliks[i]
        if best is None:
            raise SmoothscopeError(
                f"x: expected at least {_MIN_SIDE} points on each side of some candidate "
                f"threshold, got {xa.size} points with {positive.size} positive"
            )
        search = ThresholdSearch(
            candidates=tuple(float(c) for c in candidates),
            logliks=tuple(float(v) for v in logliks),
            best=best.threshold,
        )
        return replace(best, threshold_search=search)

    @classmethod
    def _fit_at(
        cls, x: np.ndarray, y: np.ndarray, a: float, max_iter: int, tol: float, floor: float
    ) -> tuple[MaxPoolChannel, float]:
        """Fit at threshold ``a`` (both sides hold >= 2 points); return it and its total
        log-likelihood."""
        low = x < a
        y_low = y[low]
        mu0 = float(np.mean(y_low))
        var0 = max(float(np.var(y_low)), floor)
        ll_low = float(np.sum(_log_normal(y_low, mu0, math.sqrt(var0))))
        pi0, var1, mu2, var2, trace, n_iter, converged = _em(
            x[~low], y[~low], max_iter=max_iter, tol=tol, floor=floor
        )
        channel = cls(
            threshold=a,
            mu0=mu0,
            sigma0=math.sqrt(var0),
            pi0=pi0,
            sigma1=math.sqrt(var1),
            mu2=mu2,
            sigma2=math.sqrt(var2),
            n_low=int(y_low.size),
            n_high=int(y.size - y_low.size),
            n_iter=n_iter,
            converged=converged,
            loglik_trace=tuple(trace),
        )
        return channel, ll_low + trace[-1]

    def _log_density(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log f(y | x)`` elementwise."""
        with np.errstate(divide="ignore"):
            log_pi = np.log(self.pi0)
            log_rest = np.log1p(-self.pi0)
        high = np.logaddexp(
            log_pi + _log_normal(y, x, self.sigma1),
            log_rest + _log_normal(y, self.mu2, self.sigma2),
        )
        return np.where(x < self.threshold, _log_normal(y, self.mu0, self.sigma0), high)

    def loglik(self, x: Any, y: Any) -> float:
        """Log-likelihood of paired data under eq. (8), summed over the points (a density).

        Args:
            x: ``[...]`` largest input SMP of each pooling window.
            y: ``[...]`` output SMPs, the shape of ``x``.

        Returns:
            the summed log-likelihood (``0.0`` for empty data).
        """
        xa, ya = _pair(x, y, allow_empty=True)
        return float(np.sum(self._log_density(xa, ya)))

    def sample(self, x: Any, rng: np.random.Generator, *, clip: bool = True) -> np.ndarray:
        """Draw one output SMP per window from eq. (8).

        The Gaussians of eq. (8) put some mass below zero (e.g. ``N(μ0, σ0)`` with ``μ0 ≈ 2σ0``);
        an SMP cannot be negative, so by default negative draws are set to 0. ``clip=False``
        returns the raw draws, whose mean is :meth:`mean`.

        Args:
            x: ``[...]`` largest input SMP of each pooling window.
            rng: the source of randomness.
            clip: set negative draws to 0.

        Returns:
            ``[...]`` float64 output SMPs, the shape of ``x``.
        """
        xa = _values(x, "x", allow_empty=True)
        _check_rng(rng)
        follows = rng.random(xa.shape) < self.pi0
        noise = rng.standard_normal(xa.shape)
        low = xa < self.threshold
        centre = np.where(low, self.mu0, np.where(follows, xa, self.mu2))
        spread = np.where(low, self.sigma0, np.where(follows, self.sigma1, self.sigma2))
        out = centre + spread * noise
        return np.asarray(np.maximum(out, 0.0) if clip else out)

    def mean(self, x: Any) -> np.ndarray:
        """``E[y | x]`` under eq. (8): ``μ0`` below the threshold, ``π0·x + (1 − π0)·μ2`` above
        (the mean of ``sample(..., clip=False)``).

        Args:
            x: ``[...]`` largest input SMP of each pooling window.

        Returns:
            ``[...]`` conditional means.
        """
        xa = _values(x, "x", allow_empty=True)
        return np.where(xa < self.threshold, self.mu0, self.pi0 * xa + (1.0 - self.pi0) * self.mu2)


def _em(
    x: np.ndarray, y: np.ndarray, *, max_iter: int, tol: float, floor: float
) -> tuple[float, float, float, float, list[float], int, bool]:
    """EM for ``π0·N(y; x, σ1) + (1 − π0)·N(y; μ2, σ2)`` on ``[n]`` points.

    Returns ``(π0, σ1², μ2, σ2², trace, n_iter, converged)`` with the log-likelihood ``trace`` at
    the initial values and after each iteration.
    """
    n = y.size
    d1 = (y - x) ** 2  # the first component's mean is x itself: its residuals never change
    pi0 = 0.5
    var1 = max(float(np.var(y - x)), floor)
    mu2 = float(np.mean(y))
    var2 = max(float(np.var(y)), floor)

    def components() -> tuple[np.ndarray, np.ndarray]:
        la = math.log(pi0) - 0.5 * d1 / var1 - 0.5 * math.log(var1) - _LOG_SQRT_2PI
        lb = math.log1p(-pi0) - 0.5 * (y - mu2) ** 2 / var2 - 0.5 * math.log(var2) - _LOG_SQRT_2PI
        return la, lb

    la, lb = components()
    lse = np.logaddexp(la, lb)
    ll = float(lse.sum())
    trace = [ll]
    converged = False
    n_iter = 0
    tiny = np.finfo(np.float64).tiny
    for iteration in range(1, max_iter + 1):
        n_iter = iteration
        r1 = np.exp(la - lse)  # E-step: responsibility of N(y; x, σ1)
        r2 = np.exp(lb - lse)
        s1, s2 = float(r1.sum()), float(r2.sum())
        pi0 = min(max(s1 / n, _PI_EPS), 1.0 - _PI_EPS)  # M-step
        if s1 > tiny:
            var1 = max(float(r1 @ d1) / s1, floor)
        if s2 > tiny:
            mu2 = float(r2 @ y) / s2
            var2 = max(float(r2 @ (y - mu2) ** 2) / s2, floor)
        la, lb = components()
        lse = np.logaddexp(la, lb)
        ll_new = float(lse.sum())
        trace.append(ll_new)
        gain = ll_new - ll
        ll = ll_new
        if gain <= tol * abs(ll):
            converged = True
            break
    return pi0, var1, mu2, var2, trace, n_iter, converged


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
