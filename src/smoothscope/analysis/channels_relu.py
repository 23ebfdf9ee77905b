"""The Bernoulli–Gaussian channel of a ReLU (paper A, eq. 7), fitted as the censored model it is.

Eq. (7) says: with probability ``1 − θ`` the node is off and its output SMP is exactly zero;
otherwise the input SMP passes with Gaussian noise, ``y* ~ N(β·x, σ)``. An SMP cannot be negative,
so a recorded SMP is ``max(y*, 0)``: the Gaussian draws below zero join the zeros. The fit is the
maximum of the likelihood of that censored model (a Tobit likelihood with an extra point mass),
so the share of zeros is explained by *both* components. Raw draws of eq. (7) (with negative
values, ``sample(..., clip=False)``) are accepted and fitted without censoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize, special

from .._errors import SmoothscopeError
from .channels_base import (
    _censoring,
    _check_rng,
    _count,
    _log,
    _log_cdf,
    _log_normal,
    _number,
    _values,
    _var_floor,
)

__all__ = ["BernoulliGaussianChannel"]

_THETA_EPS = 1e-12


def _unpack(params: np.ndarray, fit_slope: bool, beta: float) -> tuple[float, float, float]:
    theta = float(special.expit(params[0]))
    sigma = float(math.exp(params[1]))
    return theta, sigma, float(params[2]) if fit_slope else beta


def _censored_terms(
    theta: float, sigma: float, beta: float, x: np.ndarray, y: np.ndarray, low: np.ndarray, c: float
) -> tuple[float, np.ndarray]:
    """Summed censored log-likelihood and its gradient in ``(θ, σ, β)``.

    A point at or below the censoring point ``c`` has probability ``(1 − θ) + θ·Φ(α)`` with
    ``α = (c − β·x) / σ``; any other point density ``θ·N(y; β·x, σ)``.
    """
    xl, xh, yh = x[low], x[~low], y[~low]
    alpha = (c - beta * xl) / sigma
    log_phi_cdf = _log_cdf(alpha)
    log_d = np.logaddexp(_log(1.0 - theta), math.log(theta) + log_phi_cdf)
    r = (yh - beta * xh) / sigma
    ll = float(log_d.sum()) + yh.size * math.log(theta) - float(np.sum(0.5 * r * r))
    ll -= yh.size * (math.log(sigma) + 0.5 * math.log(2.0 * math.pi))
    cdf = np.exp(log_phi_cdf)
    dens = np.exp(math.log(theta) - 0.5 * alpha * alpha - 0.5 * math.log(2 * math.pi) - log_d)
    g_theta = float(np.sum((cdf - 1.0) * np.exp(-log_d))) + yh.size / theta
    g_sigma = float(np.sum(dens * (-alpha / sigma))) + float(np.sum(r * r - 1.0)) / sigma
    g_beta = float(np.sum(dens * (-xl / sigma))) + float(np.sum(r * xh)) / sigma
    return ll, np.array([g_theta, g_sigma, g_beta])


@dataclass(frozen=True)
class BernoulliGaussianChannel:
    """Bernoulli–Gaussian channel of a ReLU (paper A, eq. 7)::

        f(y | x) = (1 − θ)·δ(y) + θ·N(y; β·x, σ),   observed as max(y, 0) when ``censored``

    With probability ``1 − θ`` the node is off and its output SMP is zero; otherwise the input
    SMP passes, scaled by ``β``, with Gaussian noise of standard deviation ``σ``. The paper has
    ``β = 1`` (a ReLU that is on passes the kinks unchanged); a smooth activation such as softplus
    scales the SMP by its derivative, which ``fit(..., slope="fit")`` estimates.

    Attributes:
        theta: ``θ``, the probability that the output is in the Gaussian ("on") component.
        sigma: ``σ > 0``, the standard deviation of the Gaussian component.
        slope: ``β >= 0``, the gain of the Gaussian component's mean.
        zero_tol: outputs ``y <= zero_tol`` count as zero (exact zeros by default).
        censored: ``True``: outputs are SMPs, clipped at ``zero_tol``, so a zero has probability
            ``(1 − θ) + θ·Φ((zero_tol − β·x)/σ)``; ``False``: raw draws of eq. (7), where a zero
            (``|y| <= zero_tol``) is the ``δ`` component alone and negative values are Gaussian.
        n: number of points the channel was fitted on (0 when built by hand).
        converged: whether the likelihood maximisation met its tolerance (closed forms: True).
    """

    theta: float
    sigma: float
    slope: float = 1.0
    zero_tol: float = 0.0
    censored: bool = True
    n: int = 0
    converged: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "theta", _number(self.theta, "theta", minimum=0.0, maximum=1.0))
        object.__setattr__(self, "sigma", _number(self.sigma, "sigma", minimum=0.0, strict=True))
        object.__setattr__(self, "slope", _number(self.slope, "slope", minimum=0.0))
        object.__setattr__(self, "zero_tol", _number(self.zero_tol, "zero_tol", minimum=0.0))
        object.__setattr__(self, "censored", bool(self.censored))
        object.__setattr__(self, "n", _count(self.n, "n"))

    @classmethod
    def fit(
        cls,
        x: Any,
        y: Any,
        *,
        slope: Literal["fixed", "fit"] = "fixed",
        zero_tol: float = 0.0,
        censored: bool | Literal["auto"] = "auto",
    ) -> BernoulliGaussianChannel:
        """Maximum-likelihood fit of eq. (7) to paired input/output SMPs.

        Censored data (recorded SMPs): the likelihood of :meth:`loglik` is maximised over
        ``(θ, σ)`` (and ``β`` for ``slope="fit"``) by L-BFGS on ``(logit θ, log σ, β)`` with the
        analytic gradient, started at the naive estimates (``θ`` = share of outputs above
        ``zero_tol``, ``σ`` their residual spread). Raw draws (``censored=False``, or "auto" with
        some ``y < 0``): the ML estimates are closed forms: ``θ`` = share of ``|y| > zero_tol``,
        ``β = Σxy / Σx²`` and ``σ² = mean((y − β·x)²)`` over those points. ``σ`` is floored at
        ``1e-6`` of the largest value so that exactly reproduced data still give a density.

        Args:
            x: ``[...]`` input SMPs (non-negative).
            y: ``[...]`` output SMPs, the shape of ``x`` (negative only for raw draws).
            slope: ``"fixed"`` for ``β = 1`` or ``"fit"`` to estimate ``β``.
            zero_tol: outputs at or below this count as zero.
            censored: ``"auto"`` (censored unless some ``y < 0``), ``True`` or ``False``.

        Returns:
            the fitted channel.

        Raises:
            SmoothscopeError: bad data, fewer than 2 points in the Gaussian component, or
                (``slope="fit"``) all of them at ``x = 0``.
        """
        xa = _values(x, "x").ravel()
        ya = _values(y, "y", smp=False)
        if ya.shape != np.shape(_values(x, "x")):
            raise SmoothscopeError(f"y: expected the shape of x {np.shape(x)}, got {ya.shape}")
        ya = ya.ravel()
        zero_tol = _number(zero_tol, "zero_tol", minimum=0.0)
        if slope not in ("fixed", "fit"):
            raise SmoothscopeError(f"slope: expected 'fixed' or 'fit', got {slope!r}")
        is_censored = _censoring(ya, censored)
        if is_censored and np.any(ya < 0):
            raise SmoothscopeError(
                f"y: expected non-negative SMPs for a censored fit, got "
                f"{int(np.count_nonzero(ya < 0))} negative entries"
            )
        on = ya > zero_tol if is_censored else np.abs(ya) > zero_tol
        n_on = int(np.count_nonzero(on))
        if n_on < 2:
            raise SmoothscopeError(
                f"y: expected at least 2 points with |y| > zero_tol={zero_tol:g} to fit the "
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
        floor = _var_floor(xa, ya)
        var = max(float(np.mean(resid * resid)), floor)
        theta = n_on / xa.size
        if not is_censored:
            return cls(theta, math.sqrt(var), beta, zero_tol, False, xa.size)
        theta, sigma, beta, ok = _tobit(
            xa, ya, ~on, zero_tol, theta, math.sqrt(var), beta, slope == "fit", math.sqrt(floor)
        )
        return cls(theta, sigma, beta, zero_tol, True, xa.size, ok)

    def loglik(self, x: Any, y: Any) -> float:
        """Log-likelihood of paired data under eq. (7), summed over the points.

        The model mixes point masses with a density, so the likelihood is taken with respect to
        ``δ_{zero_tol} + Lebesgue``: censored, a point with ``y <= zero_tol`` contributes
        ``log[(1 − θ) + θ·Φ((zero_tol − β·x)/σ)]`` (a probability) and any other point
        ``log θ + log N(y; β·x, σ)`` (a density); raw, a point with ``|y| <= zero_tol``
        contributes ``log(1 − θ)``. Values are comparable between channels of the same
        ``zero_tol`` and censoring on the same data, which ML fitting and model comparison need.

        Args:
            x: ``[...]`` input SMPs.
            y: ``[...]`` output SMPs, the shape of ``x``.

        Returns:
            the summed log-likelihood (``-inf`` where the data are impossible, e.g. a zero output
            with ``θ = 1`` in a raw channel, or a negative output in a censored one; ``0.0`` for
            empty data).
        """
        xa = _values(x, "x", allow_empty=True).ravel()
        ya = _values(y, "y", smp=False, allow_empty=True)
        if ya.size != xa.size:
            raise SmoothscopeError(f"y: expected the shape of x {np.shape(x)}, got {ya.shape}")
        ya = ya.ravel()
        if self.censored:
            if np.any(ya < 0):
                return -math.inf
            low = ya <= self.zero_tol
            if self.theta <= 0.0:
                return -math.inf if np.any(~low) else 0.0
            return _censored_terms(self.theta, self.sigma, self.slope, xa, ya, low, self.zero_tol)[
                0
            ]
        on = np.abs(ya) > self.zero_tol
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
        draws are set to 0 (they join the zero outputs: the censored model). ``clip=False``
        returns the raw draws of eq. (7), whose mean is :meth:`mean`.

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


def _tobit(
    x: np.ndarray,
    y: np.ndarray,
    low: np.ndarray,
    c: float,
    theta0: float,
    sigma0: float,
    beta0: float,
    fit_slope: bool,
    sd_floor: float,
) -> tuple[float, float, float, bool]:
    """Maximise the censored eq. (7) likelihood; returns ``(θ, σ, β, converged)``."""
    theta0 = min(max(theta0, 1e-6), 1.0 - 1e-6)
    start = [float(special.logit(theta0)), math.log(sigma0)] + ([beta0] if fit_slope else [])

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        theta, sigma, beta = _unpack(params, fit_slope, beta0)
        theta = min(max(theta, _THETA_EPS), 1.0 - _THETA_EPS)
        sigma = max(sigma, sd_floor)
        ll, g = _censored_terms(theta, sigma, beta, x, y, low, c)
        grad = [g[0] * theta * (1.0 - theta), g[1] * sigma] + ([g[2]] if fit_slope else [])
        scale = max(x.size, 1)
        return -ll / scale, -np.asarray(grad) / scale

    bounds = [(-30.0, 30.0), (math.log(sd_floor), None)] + ([(0.0, None)] if fit_slope else [])
    res = optimize.minimize(
        objective,
        np.asarray(start),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-10},
    )
    theta, sigma, beta = _unpack(res.x, fit_slope, beta0)
    return theta, max(sigma, sd_floor), max(beta, 0.0), bool(res.success)
