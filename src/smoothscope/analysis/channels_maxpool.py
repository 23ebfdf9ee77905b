"""The max-pooling channel (paper A, eq. 8), fitted as the censored model it is.

Eq. (8) is a Gaussian below a threshold ``a`` of the largest input SMP of the window and a
two-Gaussian mixture above it. An SMP is never negative, so a recorded output is the model's draw
clipped at 0. The fit maximises the likelihood of that censored model: a Tobit fit below ``a``
and, above it, an EM whose E-step treats a zero output as "some value ≤ 0" (its component
responsibility uses ``Φ``, its sufficient statistics the moments of the truncated normal). Raw
draws of eq. (8) (negative values, ``sample(..., clip=False)``) are fitted without censoring.

The threshold ``a`` is estimated from the data by default (profile likelihood over candidate
thresholds); the paper's ``a = 0.0025`` (:data:`PAPER_MAXPOOL_THRESHOLD`), which belongs to the
paper's SMP scale, remains an option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from scipy import optimize

from .._errors import SmoothscopeError
from .channels_base import (
    _censoring,
    _check_rng,
    _count,
    _log_cdf,
    _log_normal,
    _mills,
    _number,
    _values,
    _var_floor,
)

__all__ = ["PAPER_MAXPOOL_THRESHOLD", "MaxPoolChannel", "ThresholdSearch"]

PAPER_MAXPOOL_THRESHOLD = 0.0025
"""The threshold ``a`` on the largest input SMP in paper A, eq. (8)."""

_PI_EPS = 1e-12  # EM keeps the mixing weight inside [eps, 1 - eps]
_MIN_SIDE = 2  # fewest points on each side of the max-pool threshold
_COARSE_QUANTILES = np.linspace(0.05, 0.95, 19)
_SEARCH_TOL = 1e-7  # EM tolerance while comparing candidate thresholds (the winner is refitted)
_FINE_STEPS = 12  # refinement candidates between the neighbours of the best coarse candidate


@dataclass(frozen=True)
class ThresholdSearch:
    """The candidate thresholds tried by ``MaxPoolChannel.fit(..., threshold=None)``.

    Attributes:
        candidates: ``[K]`` candidate thresholds, ascending (a coarse grid of quantiles of the
            positive ``x``, the paper's value when inside their range, and a finer grid of
            quantiles between the neighbours of the best coarse candidate).
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

    observed as ``max(y, 0)`` when ``censored``. ``x`` is the largest input SMP of the pooling
    window (computed by the caller) and ``y`` the output SMP. Below the threshold ``a`` the output
    SMP is Gaussian around a small level; above it the pooled output either follows the maximal
    input (``N(y; x, σ1)``, the window's routing is stable) or takes an ``x``-independent level
    (``N(y; μ2, σ2)``, routing switches).

    Attributes:
        threshold: ``a > 0``.
        mu0: ``μ0``; sigma0: ``σ0 > 0`` — the Gaussian for ``x < a``.
        pi0: ``π0`` in [0, 1], the weight of the component that follows ``x``.
        sigma1: ``σ1 > 0``, its standard deviation.
        mu2: ``μ2``; sigma2: ``σ2 > 0`` — the ``x``-independent component for ``x ≥ a``.
        censored: outputs are clipped at 0 (a zero output has the probability of the
            Gaussians' mass below 0); ``False`` for raw draws.
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
    censored: bool = True
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
        object.__setattr__(self, "censored", bool(self.censored))
        for name in ("n_low", "n_high", "n_iter"):
            object.__setattr__(self, name, _count(getattr(self, name), name))
        object.__setattr__(self, "loglik_trace", tuple(float(v) for v in self.loglik_trace))

    @classmethod
    def fit(
        cls,
        x: Any,
        y: Any,
        *,
        threshold: float | None = None,
        censored: bool | Literal["auto"] = "auto",
        max_iter: int = 2000,
        tol: float = 1e-10,
    ) -> MaxPoolChannel:
        """Maximum-likelihood fit of eq. (8) to (largest input SMP, output SMP) pairs.

        For ``x < a``, ``(μ0, σ0)`` maximise the (censored) Gaussian likelihood (L-BFGS on
        ``(μ0, log σ0)``; closed forms for raw draws). For ``x ≥ a``, EM fits
        ``(π0, σ1, μ2, σ2)``: the E-step computes each point's responsibility ``r`` of the
        ``N(y; x, σ1)`` component — for a censored (zero) output from the components' masses
        below 0, ``Φ(−m/s)`` — and the expected sufficient statistics (a censored output's
        ``E[y*]`` and ``E[(y* − m)²]`` under the truncated normal); the M-step sets ``π0 =
        mean(r)``, ``σ1² = Σr·E(y* − x)² / Σr``, ``μ2``, ``σ2²`` the weighted moments of the rest.
        EM starts at ``π0 = 0.5``, ``σ1 = std(y − x)``, ``μ2 = mean(y)``, ``σ2 = std(y)`` and stops
        when an iteration gains at most ``tol·|loglik|``. Standard deviations are floored at
        ``1e-6`` of the largest SMP and ``π0`` is kept in ``[1e-12, 1 − 1e-12]``.

        With ``threshold=None`` (the default) ``a`` is estimated by profile likelihood: the
        candidates are the 5 %, 10 %, …, 95 % quantiles of the positive ``x`` (plus the paper's
        0.0025 when inside their range), then 12 quantiles between the neighbours of the best of
        those; the channel is fitted at each and the largest total log-likelihood (both sides)
        wins (candidates are compared with EM run to a relative tolerance of 1e-7, the winner
        is refitted with ``tol``). The likelihood of a threshold only changes where it crosses
        a data point, so ``a`` is resolved to the spacing of the data near it. The search is kept in
        ``threshold_search``. Pass ``threshold=PAPER_MAXPOOL_THRESHOLD`` for the paper's value.

        Args:
            x: ``[...]`` largest input SMP of each pooling window (non-negative).
            y: ``[...]`` output SMPs, the shape of ``x`` (negative only for raw draws).
            threshold: ``a > 0``, or ``None`` to estimate it.
            censored: ``"auto"`` (censored unless some ``y < 0``), ``True`` or ``False``.
            max_iter: most EM iterations (per candidate threshold).
            tol: relative log-likelihood gain below which EM stops.

        Returns:
            the fitted channel.

        Raises:
            SmoothscopeError: bad data or parameters, or fewer than 2 points on a side of the
                given threshold (of every candidate, when searching).
        """
        xa = _values(x, "x")
        ya = _values(y, "y", smp=False)
        if xa.shape != ya.shape:
            raise SmoothscopeError(f"y: expected the shape of x {xa.shape}, got {ya.shape}")
        xa, ya = xa.ravel(), ya.ravel()
        max_iter = _count(max_iter, "max_iter", minimum=1)
        tol = _number(tol, "tol", minimum=0.0)
        is_censored = _censoring(ya, censored)
        if is_censored and np.any(ya < 0):
            raise SmoothscopeError(
                f"y: expected non-negative SMPs for a censored fit, got "
                f"{int(np.count_nonzero(ya < 0))} negative entries"
            )
        cens = (ya <= 0) if is_censored else np.zeros(ya.shape, dtype=bool)
        floor = _var_floor(xa, ya)
        if threshold is not None:
            a = _number(threshold, "threshold", minimum=0.0, strict=True)
            n_low = int(np.count_nonzero(xa < a))
            if n_low < _MIN_SIDE or xa.size - n_low < _MIN_SIDE:
                raise SmoothscopeError(
                    f"x: expected at least {_MIN_SIDE} points with x < threshold={a:g} and "
                    f"{_MIN_SIDE} with x >= threshold, got {n_low} and {xa.size - n_low}"
                )
            return cls._fit_at(xa, ya, cens, is_censored, a, max_iter, tol, floor)[0]

        positive = np.sort(xa[xa > 0])
        if positive.size == 0:
            raise SmoothscopeError(
                "x: expected some x > 0 to search for the threshold, got x == 0 everywhere"
            )
        search_tol = max(tol, _SEARCH_TOL)
        tried: dict[float, float] = {}
        fits: dict[float, MaxPoolChannel] = {}

        def evaluate(candidates: np.ndarray) -> None:
            for a in np.unique(candidates):
                a = float(a)
                if a in tried or a <= 0:
                    continue
                n_low = int(np.count_nonzero(xa < a))
                if n_low < _MIN_SIDE or xa.size - n_low < _MIN_SIDE:
                    tried[a] = -math.inf
                    continue
                fits[a], tried[a] = cls._fit_at(
                    xa, ya, cens, is_censored, a, min(max_iter, 300), search_tol, floor
                )

        coarse_q = _COARSE_QUANTILES
        coarse = np.quantile(positive, coarse_q)
        if positive[0] < PAPER_MAXPOOL_THRESHOLD <= positive[-1]:
            coarse = np.append(coarse, PAPER_MAXPOOL_THRESHOLD)
        evaluate(coarse)
        if not fits:
            raise SmoothscopeError(
                f"x: expected at least {_MIN_SIDE} points on each side of some candidate "
                f"threshold, got {xa.size} points with {positive.size} positive"
            )
        best = max(fits, key=lambda a: tried[a])
        level = float(np.searchsorted(positive, best, side="left")) / positive.size
        lo_q = max(level - (coarse_q[1] - coarse_q[0]), 0.0)
        hi_q = min(level + (coarse_q[1] - coarse_q[0]), 1.0)
        evaluate(np.quantile(positive, np.linspace(lo_q, hi_q, _FINE_STEPS + 2)[1:-1]))
        best = max(fits, key=lambda a: tried[a])
        final, tried[best] = cls._fit_at(xa, ya, cens, is_censored, best, max_iter, tol, floor)
        order = sorted(tried)
        search = ThresholdSearch(
            candidates=tuple(order), logliks=tuple(tried[a] for a in order), best=best
        )
        return replace(final, threshold_search=search)

    @classmethod
    def _fit_at(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        cens: np.ndarray,
        is_censored: bool,
        a: float,
        max_iter: int,
        tol: float,
        floor: float,
    ) -> tuple[MaxPoolChannel, float]:
        """Fit at threshold ``a`` (both sides hold >= 2 points); return it and its total
        log-likelihood."""
        low = x < a
        mu0, sd0, ll_low = _censored_normal(y[low], cens[low], math.sqrt(floor))
        pi0, var1, mu2, var2, trace, n_iter, converged = _em(
            x[~low], y[~low], cens[~low], max_iter=max_iter, tol=tol, floor=floor
        )
        channel = cls(
            threshold=a,
            mu0=mu0,
            sigma0=sd0,
            pi0=pi0,
            sigma1=math.sqrt(var1),
            mu2=mu2,
            sigma2=math.sqrt(var2),
            censored=is_censored,
            n_low=int(np.count_nonzero(low)),
            n_high=int(y.size - np.count_nonzero(low)),
            n_iter=n_iter,
            converged=converged,
            loglik_trace=tuple(trace),
        )
        return channel, ll_low + trace[-1]

    def _log_density(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log f(y | x)`` elementwise (a probability for censored zero outputs)."""
        with np.errstate(divide="ignore"):
            log_pi = np.log(self.pi0)
            log_rest = np.log1p(-self.pi0)
        cens = (y <= 0) if self.censored else np.zeros(y.shape, dtype=bool)
        d1 = np.where(cens, _log_cdf(-x / self.sigma1), _log_normal(y, x, self.sigma1))
        d2 = np.where(
            cens, _log_cdf(-self.mu2 / self.sigma2) + 0 * y, _log_normal(y, self.mu2, self.sigma2)
        )
        d0 = np.where(
            cens, _log_cdf(-self.mu0 / self.sigma0) + 0 * y, _log_normal(y, self.mu0, self.sigma0)
        )
        high = np.logaddexp(log_pi + d1, log_rest + d2)
        out = np.where(x < self.threshold, d0, high)
        if self.censored:
            out = np.where(y < 0, -np.inf, out)
        return out

    def loglik(self, x: Any, y: Any) -> float:
        """Log-likelihood of paired data under eq. (8), summed over the points.

        Censored: a zero output contributes the log-probability of the model's mass at or below
        0, any other output the log-density; raw: every point its log-density.

        Args:
            x: ``[...]`` largest input SMP of each pooling window.
            y: ``[...]`` output SMPs, the shape of ``x``.

        Returns:
            the summed log-likelihood (``0.0`` for empty data).
        """
        xa = _values(x, "x", allow_empty=True).ravel()
        ya = _values(y, "y", smp=False, allow_empty=True)
        if ya.size != xa.size:
            raise SmoothscopeError(f"y: expected the shape of x {np.shape(x)}, got {ya.shape}")
        return float(np.sum(self._log_density(xa, ya.ravel())))

    def sample(self, x: Any, rng: np.random.Generator, *, clip: bool = True) -> np.ndarray:
        """Draw one output SMP per window from eq. (8).

        The Gaussians of eq. (8) put some mass below zero; an SMP cannot be negative, so by
        default negative draws are set to 0 (the censored model). ``clip=False`` returns the raw
        draws, whose mean is :meth:`mean`.

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


def _censored_normal(
    y: np.ndarray, cens: np.ndarray, sd_floor: float
) -> tuple[float, float, float]:
    """ML ``(μ, σ, loglik)`` of ``N(μ, σ)`` observed as ``max(y, 0)`` where ``cens`` (Tobit)."""
    obs = y[~cens]
    n_cens = int(np.count_nonzero(cens))
    if obs.size >= 1:
        mu, sd = float(np.mean(obs)), max(float(np.std(obs)), sd_floor)
    else:
        mu, sd = 0.0, sd_floor
    if n_cens == 0:
        return mu, sd, float(np.sum(_log_normal(obs, mu, sd)))
    if obs.size == 0:  # every output is 0: the MLE runs off to μ → −∞; report a tiny Gaussian
        return -3.0 * sd_floor, sd_floor, 0.0

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        m, s = float(params[0]), math.exp(float(params[1]))
        alpha = -m / s
        lam = float(_mills(np.asarray(alpha)))
        r = (obs - m) / s
        ll = n_cens * float(_log_cdf(np.asarray(alpha))) + float(np.sum(_log_normal(obs, m, s)))
        g_m = n_cens * lam * (-1.0 / s) + float(np.sum(r)) / s
        g_s = n_cens * lam * (-alpha / s) + float(np.sum(r * r - 1.0)) / s
        scale = y.size
        return -ll / scale, -np.array([g_m, g_s * s]) / scale

    res = optimize.minimize(
        objective,
        np.array([mu, math.log(sd)]),
        jac=True,
        method="L-BFGS-B",
        bounds=[(None, None), (math.log(sd_floor), None)],
        options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-10},
    )
    return float(res.x[0]), max(math.exp(float(res.x[1])), sd_floor), -float(res.fun) * y.size


def _em(
    x: np.ndarray,
    y: np.ndarray,
    cens: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    floor: float,
) -> tuple[float, float, float, float, list[float], int, bool]:
    """EM for ``π0·N(y; x, σ1) + (1 − π0)·N(y; μ2, σ2)`` on ``[n]`` points, ``cens`` of which
    are only known to be ``≤ 0``.

    Returns ``(π0, σ1², μ2, σ2², trace, n_iter, converged)`` with the log-likelihood ``trace`` at
    the initial values and after each iteration.
    """
    n = y.size
    obs = ~cens
    any_cens = bool(np.any(cens))
    d1 = np.where(obs, (y - x) ** 2, 0.0)  # observed residuals of the x-following component
    pi0 = 0.5
    var1 = max(float(np.var(y - x)), floor)
    mu2 = float(np.mean(y))
    var2 = max(float(np.var(y)), floor)

    def components() -> tuple[np.ndarray, np.ndarray]:
        s1, s2 = math.sqrt(var1), math.sqrt(var2)
        la = _log_normal(y, x, s1)
        lb = _log_normal(y, mu2, s2)
        if any_cens:
            la = np.where(cens, _log_cdf(-x / s1), la)
            lb = np.where(cens, _log_cdf(np.full(n, -mu2 / s2)), lb)
        return math.log(pi0) + la, math.log1p(-pi0) + lb

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
        s1_, s2_ = math.sqrt(var1), math.sqrt(var2)
        e1, ey2, v2 = d1, y, np.zeros(n)
        if any_cens:  # moments of the truncated normals below 0
            a1 = -x / s1_
            a2 = np.full(n, -mu2 / s2_)
            lam1, lam2 = _mills(a1), _mills(a2)
            e1 = np.where(cens, var1 * (1.0 - a1 * lam1), d1)
            ey2 = np.where(cens, mu2 - s2_ * lam2, y)
            v2 = np.where(cens, var2 * (1.0 - a2 * lam2 - lam2 * lam2), 0.0)
        sum1, sum2 = float(r1.sum()), float(r2.sum())
        pi0 = min(max(sum1 / n, _PI_EPS), 1.0 - _PI_EPS)  # M-step
        if sum1 > tiny:
            var1 = max(float(r1 @ e1) / sum1, floor)
        if sum2 > tiny:
            mu2 = float(r2 @ ey2) / sum2
            var2 = max(float(r2 @ (v2 + (ey2 - mu2) ** 2)) / sum2, floor)
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
