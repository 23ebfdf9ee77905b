"""Activations and their Chebyshev coefficients (paper C §3.3, Fig. 2, App. F.1 Figs. 18/19).

A nonlinearity ``φ`` applied to a path of frequency ``k`` creates harmonics: with
``φ(x) ≈ Σ_j c_j T_j(x)`` on the range of its input, a tone ``cos(kt)`` becomes
``Σ_j c_j cos(jkt)``, so large higher-order coefficients ``c_j`` shift power towards high
frequencies ("blueshift", §3.2-§3.3). This module gives the activations of paper C by name
(:data:`ACTIVATIONS`, :func:`get_activation`, :class:`Activation`), their Chebyshev
coefficients (:func:`chebyshev_coefficients`) and the fitted rate at which these fall off
(:func:`coefficient_decay`). Paths and spectra live in :mod:`.paths` and :mod:`.spectra`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.polynomial import chebyshev as npcheb
from scipy import fft as sfft
from torch import nn

from .._errors import SmoothscopeError
from .._validate import positive

__all__ = [
    "ACTIVATIONS",
    "PROJECTION_NODES",
    "Activation",
    "ChebyshevDecay",
    "chebyshev_coefficients",
    "coefficient_decay",
    "get_activation",
]

PROJECTION_NODES = 1 << 14
"""Gauss-Chebyshev nodes for ``method="projection"`` (ReLU's |c_k| ~ k⁻² aliasing ≈ 1e-9)."""

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda x: x,
    "relu": torch.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "tanh": torch.tanh,
    "softplus": F.softplus,
    "elu": F.elu,
    "gelu": F.gelu,
    "selu": F.selu,
    "sigmoid": torch.sigmoid,
    "hardtanh": F.hardtanh,
    "swish": F.silu,
    "silu": F.silu,
}
"""Elementwise nonlinearities of paper C (§3.3 and App. F.1) by name, PyTorch defaults.

``leaky_relu`` has negative slope 0.01; :func:`get_activation` also accepts ``"leaky_relu:α"``
for slope α (paper C §4.1 / Fig. 1 tunes α ∈ [0, 1]). ``swish`` and ``silu`` are the same
function ``x·σ(x)``; ``identity`` gives linear networks (no blueshift, §3).
"""


def get_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation called ``name`` in :data:`ACTIVATIONS`, or ``"leaky_relu:<slope>"``.

    Raises:
        SmoothscopeError: unknown name or a slope that is not a finite number.
    """
    if not isinstance(name, str):
        raise SmoothscopeError(f"activation: expected a name (str), got {type(name).__name__}")
    base, _, arg = name.partition(":")
    if arg:
        if base != "leaky_relu":
            raise SmoothscopeError(
                f"activation: expected a parameter only as 'leaky_relu:<slope>', got {name!r}"
            )
        try:
            slope = float(arg)
        except ValueError:
            slope = math.nan
        if not math.isfinite(slope):
            raise SmoothscopeError(
                f"activation: expected 'leaky_relu:<finite slope>', got {name!r}"
            )
        return lambda x: F.leaky_relu(x, slope)
    if base not in ACTIVATIONS:
        raise SmoothscopeError(
            f"activation: expected one of {sorted(ACTIVATIONS)} or 'leaky_relu:<slope>', "
            f"got {name!r}"
        )
    return ACTIVATIONS[base]


class Activation(nn.Module):
    """An :data:`ACTIVATIONS` entry as a module (e.g. to build the networks of paper C §4)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.fn = get_activation(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return repr(self.name)


def _activation(fn_or_name: str | Callable) -> tuple[str, Callable]:
    if isinstance(fn_or_name, str):
        return fn_or_name, get_activation(fn_or_name)
    if not callable(fn_or_name):
        raise SmoothscopeError(
            f"fn_or_name: expected an activation name or a callable, got "
            f"{type(fn_or_name).__name__}"
        )
    return getattr(fn_or_name, "__name__", type(fn_or_name).__name__), fn_or_name


def _interval(interval: Any) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in interval)
    except (TypeError, ValueError) as exc:
        raise SmoothscopeError(f"interval: expected (a, b) with a < b, got {interval!r}") from exc
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise SmoothscopeError(f"interval: expected finite (a, b) with a < b, got {interval!r}")
    return a, b


def chebyshev_coefficients(
    fn_or_name: str | Callable[[torch.Tensor], torch.Tensor],
    *,
    interval: tuple[float, float] = (-5.0, 5.0),
    degree: int = 25,
    method: Literal["projection", "interpolation"] = "projection",
    nodes: int | None = None,
) -> torch.Tensor:
    """Chebyshev coefficients of an activation on an interval (paper C §3.3, Figs. 2, 18, 19).

    Normalisation: with ``x̂ = (2x - a - b) / (b - a) ∈ [-1, 1]`` for ``x ∈ [a, b]``,

        f(x) ≈ Σ_{k=0}^{degree} c_k T_k(x̂),   T_k(cos θ) = cos(kθ),

    and ``c_k = (2 - δ_k0)/π ∫_{-1}^{1} f(x(x̂)) T_k(x̂) / √(1 - x̂²) dx̂`` (the Chebyshev series).

    * ``"projection"`` (default): the series itself, by Gauss-Chebyshev quadrature at
      ``M = nodes`` (default ``2**14``) nodes ``x̂_j = cos θ_j``, ``θ_j = π(j + ½)/M``:
      ``c_k = (2 - δ_k0)/(2M) · DCT-II(f(x_j))_k`` (``scipy.fft.dct``, ``O(M log M)``). Its
      error is the aliasing ``Σ_{m≥1} ±(c_{2mM-k} + c_{2mM+k})``: ≈ 1e-9 absolute for ReLU (a
      kink: ``|c_k| ∼ k⁻²``), machine precision for analytic functions.
    * ``"interpolation"``: the interpolant at the ``degree + 1`` Chebyshev nodes,
      ``numpy.polynomial.chebyshev.chebinterpolate``: what App. F.1 plots ("a polynomial
      approximation with Chebyshev nodes of degree 25"). Its coefficients are *not* the series
      coefficients: ``c̃_k = c_k + Σ_{m≥1} ±(c_{2mM-k} + c_{2mM+k})`` with ``M = degree + 1``, and
      the aliased terms are as large as ``c_k`` itself near ``k = degree``. Measured for ReLU on
      ``[-1, 1]`` at degree 25 (``tests/analysis/test_blueshift_chebyshev.py``): relative error
      below 1 % for ``k ≤ 4``, 7 % at ``k = 10``, 74 % at ``k = 24``. Use it to reproduce the
      paper's plots, and ``"projection"`` for decay rates.

    For ReLU on ``[-1, 1]``: ``c_0 = 1/π``, ``c_1 = 1/2``, ``|c_2k| = 2/(π(4k² - 1))``, odd
    ``c_k = 0`` for ``k ≥ 3``. The paper's Fig. 2 uses ``[-1, 1]``, Figs. 18/19 ``[-5, 5]``.

    Args:
        fn_or_name: an :data:`ACTIVATIONS` name (or ``"leaky_relu:α"``) or an elementwise
            callable on float64 tensors.
        interval: ``(a, b)``, the approximation interval.
        degree: highest order ``K``.
        method: ``"projection"`` or ``"interpolation"`` (see above).
        nodes: quadrature nodes for ``"projection"`` (at least ``degree + 1``).

    Returns:
        float64 tensor ``[degree + 1]``: ``c_0 … c_K``.

    Raises:
        SmoothscopeError: bad arguments, or the activation is NaN/inf somewhere on the nodes.
    """
    name, fn = _activation(fn_or_name)
    a, b = _interval(interval)
    degree = positive(degree, "degree", integer=True)
    if method == "projection":
        m = PROJECTION_NODES if nodes is None else positive(nodes, "nodes", integer=True)
        if m < degree + 1:
            raise SmoothscopeError(f"nodes: expected at least degree + 1 = {degree + 1}, got {m}")
    elif method == "interpolation":
        m = degree + 1
    else:
        raise SmoothscopeError(f"method: expected 'projection' or 'interpolation', got {method!r}")

    def f(xhat: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(0.5 * (a + b) + 0.5 * (b - a) * xhat, dtype=torch.float64)
        try:
            y = fn(x)
        except Exception as exc:  # the user's callable: report which one failed
            raise SmoothscopeError(
                f"activation {name!r}: expected a callable on a float64 tensor, it raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        y = torch.as_tensor(y, dtype=torch.float64)
        if y.shape != x.shape:
            raise SmoothscopeError(
                f"activation {name!r}: expected an elementwise output of shape "
                f"{tuple(x.shape)}, got {tuple(y.shape)}"
            )
        if not bool(torch.isfinite(y).all()):
            bad = x[~torch.isfinite(y)]
            raise SmoothscopeError(
                f"activation {name!r}: expected finite values on [{a:g}, {b:g}], got "
                f"{bad.numel()} NaN or inf (first at x = {float(bad[0]):.6g})"
            )
        return y.numpy()

    if method == "interpolation":
        c = npcheb.chebinterpolate(f, degree)
    else:
        theta = (np.arange(m) + 0.5) * (math.pi / m)
        c = sfft.dct(f(np.cos(theta)), type=2)[: degree + 1] / m
        c[0] *= 0.5
    return torch.as_tensor(np.ascontiguousarray(c), dtype=torch.float64)


@dataclass(frozen=True)
class ChebyshevDecay:
    """How fast an activation's Chebyshev coefficients fall off (paper C §3.3, Figs. 2/19).

    Attributes:
        name: the activation.
        interval: the approximation interval ``(a, b)``.
        method: ``"projection"`` or ``"interpolation"`` (see :func:`chebyshev_coefficients`).
        coefficients: ``[K + 1]`` float64 ``c_k``.
        magnitudes: ``[K + 1]`` ``|c_k|``.
        geometric_rate: ``r`` of the fit ``|c_k| ≈ A e^{-r k}`` (analytic functions decay
            geometrically: larger ``r`` = faster drop-off = less blueshift).
        algebraic_exponent: ``s`` of the fit ``|c_k| ≈ A k^{-s}`` (functions with a kink, like
            ReLU, decay algebraically, ``s ≈ 2``).
        fitted: ``[K + 1]`` bool, the coefficients used by both fits: ``k ≥ 1`` and
            ``|c_k| > 1e-12 max|c|`` (drops the exact zeros due to symmetry, e.g. ReLU's odd
            coefficients above 1 and tanh's even ones).
    """

    name: str
    interval: tuple[float, float]
    method: str
    coefficients: torch.Tensor
    magnitudes: torch.Tensor
    geometric_rate: float
    algebraic_exponent: float
    fitted: torch.Tensor

    def plot(self, ax=None, **style):
        """``|c_k|`` against ``k`` on a log scale (the paper's Figs. 2 and 19)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        k = torch.arange(self.magnitudes.numel())
        keep = self.magnitudes > 0
        ax.semilogy(k[keep], self.magnitudes[keep], marker="o", ms=3, label=self.name, **style)
        ax.set(xlabel="order k", ylabel="|c_k|", title=f"Chebyshev on {list(self.interval)}")
        return ax.figure


def coefficient_decay(
    fn_or_name: str | Callable[[torch.Tensor], torch.Tensor],
    *,
    interval: tuple[float, float] = (-5.0, 5.0),
    degree: int = 25,
    method: Literal["projection", "interpolation"] = "projection",
) -> ChebyshevDecay:
    """``|c_k|`` of :func:`chebyshev_coefficients` and two fitted decay rates (§3.3, Fig. 19).

    On ``[-5, 5]`` at degree 25 (projection) the paper's ordering (softplus drops off fastest,
    then tanh, then ReLU) shows in ``geometric_rate``: softplus 0.72 (asymptotically
    ``ln ρ = 0.59`` from its singularities at ``±iπ``), tanh 0.33 (``ln ρ = 0.31``, ``±iπ/2``),
    ReLU 0.24 (a kink: algebraic decay, ``algebraic_exponent`` 2.0).
    """
    name, fn = _activation(fn_or_name)
    c = chebyshev_coefficients(fn, interval=interval, degree=degree, method=method)
    mag = c.abs()
    k = torch.arange(c.numel(), dtype=torch.float64)
    fitted = (k >= 1) & (mag > 1e-12 * float(mag.max()))
    if int(fitted.sum()) < 3:
        raise SmoothscopeError(
            f"activation {name!r}: expected at least 3 nonzero coefficients c_k (k ≥ 1) to fit a "
            f"decay, got {int(fitted.sum())}"
        )
    logm = mag[fitted].log().numpy()
    geo = float(np.polyfit(k[fitted].numpy(), logm, 1)[0])
    alg = float(np.polyfit(k[fitted].log().numpy(), logm, 1)[0])
    return ChebyshevDecay(
        name=name,
        interval=_interval(interval),
        method=method,
        coefficients=c,
        magnitudes=mag,
        geometric_rate=-geo,
        algebraic_exponent=-alg,
        fitted=fitted,
    )
