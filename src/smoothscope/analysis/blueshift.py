"""Blueshift: the spectra of network outputs along straight paths in weight space (paper C).

Paper C ("Ringing ReLUs: harmonic distortion analysis of nonlinear feedforward networks",
ICLR 2021) walks along a straight line in weight space,

    p(t) = f(x, W + α⁻¹ · t · D),   t ∈ [0, 1],   ‖D‖_F = 1            (§3, eq. 1)

records every neuron of every layer along the walk, and looks at the Fourier spectrum of these
1-D paths: nonlinearities with large higher-order (Chebyshev) coefficients create harmonics
that shift the power towards high frequencies ("blueshift", §3.2-§3.3), measured by the
fractal coefficient ``h`` of a power-law fit (§3.1, eq. 3; §4.3).

Three groups of pure functions:

* activations and their Chebyshev coefficients (§3.3, Fig. 2, App. F.1 Figs. 18/19):
  :data:`ACTIVATIONS`, :func:`get_activation`, :func:`chebyshev_coefficients`,
  :func:`coefficient_decay`;
* paths in weight space (§3, eq. 1; App. D.3 for the gradient direction):
  :func:`weight_path`, batched over path points *and* directions with
  ``torch.func.functional_call`` + ``torch.func.vmap``; :func:`freeze_batchnorm_stats`;
* spectra and roughness (§3.1, §4.2, §4.3): :func:`path_spectrum`, :func:`fit_power_law`,
  :func:`median_h_path`.

Conventions (see ``docs/blueshift.md`` for the full statement):

* **h** follows eq. 3: the *magnitude* ``σ_k`` of the Fourier coefficients decays like
  ``k^{-h}``, so the *power* ``E|z_k|²`` decays like ``k^{-2h}``. The first layer of a ReLU
  network has ``|z_k| ∈ O(1/k)``, i.e. ``h = 1`` (App. B.2). Fractional Brownian motion of Hurst
  exponent ``H`` has power ``∝ k^{-(2H+1)}``, i.e. ``h = H + 1/2``. (§3.4 writes
  ``|z_k|² ∼ k^{-h}`` instead, which contradicts eq. 3 and App. B.2 by a factor 2; we keep
  eq. 3 everywhere.)
* **α** follows eq. 1 literally: the path has length ``1/α`` (the prose of §3 and App. D.1 speaks
  of "a ball of radius α"; for radius ``r`` pass ``alpha=1/r``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from .._errors import SmoothscopeError
from .._validate import as_tensor, check_dim, check_finite, positive

__all__ = [
    "ACTIVATIONS",
    "LOSS",
    "OUTPUT",
    "Activation",
    "ChebyshevDecay",
    "MedianPath",
    "PathRecording",
    "PathSpectrum",
    "PowerLaw",
    "chebyshev_coefficients",
    "coefficient_decay",
    "fit_power_law",
    "freeze_batchnorm_stats",
    "get_activation",
    "median_h_path",
    "path_spectrum",
    "weight_path",
]

OUTPUT = "output"
"""Layer name standing for the model's own output (as in :mod:`.stability`)."""
LOSS = "loss"
"""Name of the loss along the path in :func:`median_h_path` (``PathRecording.loss``)."""
MIN_POINTS = 4
"""Fewest path points accepted by :func:`weight_path` (a spectrum needs k = 1 and 2)."""
PROJECTION_NODES = 1 << 14
"""Gauss-Chebyshev nodes for ``method="projection"`` (ReLU's |c_k| ~ k⁻² aliasing ≈ 1e-9)."""

# --------------------------------------------------------------------------------------------
# Activations and Chebyshev coefficients (paper C §3.3, Fig. 2, App. F.1)
# --------------------------------------------------------------------------------------------

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

    and ``c_k = (2 - δ_k0)/π ∫_{-1}^{1} f(x(x̂)) T_k(x̂) / √(1 - x̂²) dx̂`` (the Chebyshev series;
    ``c_0`` is the mean with weight ``1/√(1-x̂²)``). Both methods evaluate that integral by
    Gauss-Chebyshev quadrature at the ``M`` nodes ``x̂_j = cos θ_j``, ``θ_j = π(j + ½)/M``:
    ``c_k = (2 - δ_k0)/M Σ_j f(x_j) cos(k θ_j)``.

    * ``"projection"`` (default): ``M = nodes`` (default ``2**14``) ≫ degree, i.e. the
      truncated Chebyshev series up to aliasing ``O(Σ_m |c_{2mM±k}|)`` (≈ 1e-9 for ReLU, whose
      kink limits the decay to ``|c_k| ∼ k⁻²``; machine precision for analytic functions).
    * ``"interpolation"``: ``M = degree + 1``, the interpolant at the Chebyshev nodes, which is
      what App. F.1 plots ("a polynomial approximation with Chebyshev nodes of degree 25"); equal
      to ``numpy.polynomial.chebyshev.chebinterpolate``. Its coefficients carry aliasing of the
      higher ones (≈ 1e-3 relative for ReLU at degree 25).

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
    theta = (torch.arange(m, dtype=torch.float64) + 0.5) * (math.pi / m)
    x = 0.5 * (a + b) + 0.5 * (b - a) * torch.cos(theta)
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
            f"activation {name!r}: expected an elementwise output of shape {tuple(x.shape)}, "
            f"got {tuple(y.shape)}"
        )
    if not bool(torch.isfinite(y).all()):
        bad = x[~torch.isfinite(y)]
        raise SmoothscopeError(
            f"activation {name!r}: expected finite values on [{a:g}, {b:g}], got "
            f"{bad.numel()} NaN or inf (first at x = {float(bad[0]):.6g})"
        )
    k = torch.arange(degree + 1, dtype=torch.float64)
    c = torch.cos(k[:, None] * theta[None, :]) @ y * (2.0 / m)
    c[0] *= 0.5
    return c


def _fit_line(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float, float]:
    """Least squares ``y = a + b x``: returns (b, a, stderr of b, r²)."""
    n = x.numel()
    xm, ym = x.mean(), y.mean()
    sxx = ((x - xm) ** 2).sum()
    slope = ((x - xm) * (y - ym)).sum() / sxx
    intercept = ym - slope * xm
    resid = y - (intercept + slope * x)
    ss_res = float((resid**2).sum())
    ss_tot = float(((y - ym) ** 2).sum())
    stderr = math.sqrt(ss_res / (n - 2) / float(sxx)) if n > 2 else math.nan
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return float(slope), float(intercept), stderr, r2


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
    logm = mag[fitted].log()
    geo, *_ = _fit_line(k[fitted], logm)
    alg, *_ = _fit_line(k[fitted].log(), logm)
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


# --------------------------------------------------------------------------------------------
# Paths in weight space (paper C §3, eq. 1; App. D.3)
# --------------------------------------------------------------------------------------------


def _bn_modules(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def freeze_batchnorm_stats(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy of ``model`` in eval mode whose BatchNorm running statistics are those of ``x`` at W.

    Paper C (App. A) treats BatchNorm "statically as a fixed scaling and shifting". Along a path
    the statistics must not follow the perturbed weights, so :func:`weight_path` evaluates in
    eval mode with the running mean/var *as given*. A freshly initialised model has mean 0 and
    var 1 (BatchNorm is then the identity up to its affine part); to measure around W with the
    statistics of the data, call this first: every BatchNorm layer gets ``running_mean`` = the
    batch mean and ``running_var`` = the unbiased batch variance of its input for one forward
    pass of ``x`` at W (all other modules in eval mode, so dropout is off). The caller's model
    is not modified.

    Args:
        model: any module.
        x: ``[B, ...]`` the batch (its statistics become the running statistics).

    Returns:
        The copy, in eval mode, same dtype and device as ``model``.
    """
    x = as_tensor(x, "x")
    check_finite(x, "x")
    frozen = copy.deepcopy(model).eval()
    bns = _bn_modules(frozen)
    if not bns:
        return frozen
    momenta = []
    for bn in bns:
        if not bn.track_running_stats:
            raise SmoothscopeError(
                f"model: expected BatchNorm layers with track_running_stats=True, got {bn!r}"
            )
        momenta.append(bn.momentum)
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: after one batch, exactly that batch's stats
        bn.train()
    param = next(frozen.parameters(), None)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    frozen(x)
    for bn, momentum in zip(bns, momenta, strict=True):
        bn.momentum = momentum
        bn.num_batches_tracked.zero_()
    return frozen.eval()


@dataclass(frozen=True)
class PathRecording:
    """Layer outputs along ``p(t) = f(x, W + α⁻¹ t D)`` (paper C §3, eq. 1).

    Attributes:
        t: ``[N]`` float64 path parameter, ``linspace(0, 1, N)`` (both ends included).
        alpha: α of eq. 1; the path has length ``1/α`` in weight space (``‖D‖_F = 1``).
        outputs: ``{layer: tensor [N, n_directions, *output_shape]}``; the key ``"output"`` is the
            model's output; ``output_shape`` includes the batch axis of ``x``.
        loss: ``[N, n_directions]`` the loss along the path when ``loss_fn`` was given, else None.
        parameters: names of the perturbed parameters (those where ``D`` is nonzero).
        direction: ``"random"``, ``"gradient"`` or ``"given"``.
        seed: the seed of the random directions.
    """

    t: torch.Tensor
    alpha: float
    outputs: dict[str, torch.Tensor]
    loss: torch.Tensor | None
    parameters: tuple[str, ...]
    direction: str
    seed: int

    @property
    def n_points(self) -> int:
        return int(self.t.numel())

    @property
    def n_directions(self) -> int:
        return int(next(iter(self.outputs.values())).shape[1])

    @property
    def layers(self) -> list[str]:
        """Recorded module names (``"output"`` = the model's output)."""
        return list(self.outputs)

    @property
    def output(self) -> torch.Tensor:
        """``[N, n_directions, *output_shape]`` the model's output along the path."""
        if OUTPUT not in self.outputs:
            raise SmoothscopeError("layer: expected the model output to be recorded, it was not")
        return self.outputs[OUTPUT]

    def layer(self, name: str) -> torch.Tensor:
        """``[N, n_directions, *shape]`` of a recorded module (``"output"``: the model output)."""
        if name not in self.outputs:
            raise SmoothscopeError(
                f"layer: expected one of the recorded layers {self.layers[:12]}, got {name!r}"
            )
        return self.outputs[name]

    def plot(self, ax=None, *, layer: str = OUTPUT, direction: int = 0, nodes: int = 8, **style):
        """The first ``nodes`` neurons of ``layer`` along the path in one direction."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        values = self.layer(layer)[:, direction].reshape(self.n_points, -1)[:, :nodes]
        ax.plot(self.t, values, **style)
        ax.set(xlabel="t", ylabel=f"{layer or 'output'}", title=f"α = {self.alpha:g}")
        return ax.figure


def _resolve_perturbed(params: Mapping[str, torch.Tensor], prefixes: Sequence[str] | None) -> list:
    if prefixes is None:
        return list(params)
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    chosen: dict[str, None] = {}
    for prefix in prefixes:
        if not isinstance(prefix, str) or not prefix:
            raise SmoothscopeError(
                f"layers_to_perturb: expected non-empty parameter-name prefixes, got {prefix!r}"
            )
        hits = [n for n in params if n == prefix or n.startswith(prefix + ".")]
        if not hits:
            known = ", ".join(list(params)[:8])
            raise SmoothscopeError(
                f"layers_to_perturb: expected parameter names or prefixes (e.g. {known}), "
                f"got {prefix!r}"
            )
        chosen.update(dict.fromkeys(hits))
    return [n for n in params if n in chosen]  # registration order


def _resolve_record(model: nn.Module, record: Sequence[str] | None) -> list[str]:
    modules = dict(model.named_modules())
    if record is None:
        leaves = [n for n, m in modules.items() if n and n != OUTPUT and not list(m.children())]
        return [*leaves, OUTPUT]
    if isinstance(record, str):
        record = [record]
    for name in record:
        if name != OUTPUT and (not isinstance(name, str) or not name or name not in modules):
            known = ", ".join(n for n in list(modules)[1:9])
            raise SmoothscopeError(
                f"record: expected module names of the model (e.g. {known}) or {OUTPUT!r}, "
                f"got {name!r}"
            )
    return list(dict.fromkeys(record))


def _unit(directions: list[torch.Tensor], what: str) -> list[torch.Tensor]:
    norm = math.sqrt(sum(float((d.to(torch.float64) ** 2).sum()) for d in directions))
    if not math.isfinite(norm) or norm == 0.0:
        raise SmoothscopeError(f"direction: expected a finite nonzero {what}, got norm {norm}")
    return [d / norm for d in directions]


class _Directions:
    """Directions ``d`` as lists of tensors (perturbed parameters) with ``‖D‖_F = 1``.

    Chunks run direction-major, so only the directions of the current chunk are kept.
    """

    def __init__(self, make: Callable[[int], list[torch.Tensor]]) -> None:
        self.make = make
        self.cache: dict[int, list[torch.Tensor]] = {}

    def chunk(self, ds: Sequence[int]) -> dict[int, list[torch.Tensor]]:
        self.cache = {d: self.cache[d] if d in self.cache else self.make(d) for d in ds}
        return self.cache


def _first_tensor(value: Any, layer: str) -> torch.Tensor:
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    if not isinstance(value, torch.Tensor):
        raise SmoothscopeError(
            f"layer {layer!r}: expected a tensor as its output, got {type(value).__name__}"
        )
    return value


def weight_path(
    model: nn.Module,
    x: torch.Tensor,
    *,
    direction: str | Mapping[str, torch.Tensor] | None = None,
    layers_to_perturb: Sequence[str] | None = None,
    alpha: float = 1.0,
    points: int = 100,
    n_directions: int = 1,
    record: Sequence[str] | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    targets: torch.Tensor | None = None,
    seed: int = 0,
    chunk_size: int = 64,
    dtype: torch.dtype = torch.float64,
) -> PathRecording:
    """Record layer outputs along straight paths in weight space (paper C §3, eq. 1).

    ``p(t) = f(x, W + α⁻¹ t D)`` at ``t = linspace(0, 1, points)`` for ``n_directions``
    directions ``D``, each with ``‖D‖_F = 1`` over the perturbed parameters (zero elsewhere):

    * ``"random"`` (or None): iid ``N(0, 1)`` entries, normalised (§3; uniform on the sphere).
      Direction ``d`` is drawn from its own ``torch.Generator``, seeded by the ``d``-th integer
      drawn from a generator seeded with ``seed``: the first directions do not depend on
      ``n_directions`` or ``chunk_size``.
    * ``"gradient"``: ``D = ∇_W L(f(x, W), y) / ‖∇_W L‖`` at W (App. D.3), from ``loss_fn``
      and ``targets``; the ascent direction (``n_directions`` must be 1). For a descent path
      pass ``{name: -g}`` as a dict.
    * a dict ``{parameter name: tensor}``: shape of the parameter (one direction) or
      ``[n_directions, *shape]``; its keys are the perturbed parameters; each direction is
      normalised to ``‖D‖_F = 1``.

    Evaluation: a float64 (``dtype``) copy of the model in eval mode (BatchNorm uses its running
    statistics as given, see :func:`freeze_batchnorm_stats`; dropout off). The
    ``points × n_directions`` weight vectors are evaluated in chunks of ``chunk_size`` with one
    ``torch.func.vmap`` of ``torch.func.functional_call`` over a stacked dict of the perturbed
    parameters: memory is ``O(chunk_size × (perturbed parameters + activations))`` plus the
    recording itself. Layer outputs are captured by forward hooks that *return* them from the
    vmapped function (a hook sees batched tensors inside vmap, which can only leave it as
    outputs); each captured output is cloned, so in-place successors (``ReLU(inplace=True)``)
    do not alter it.

    Args:
        model: any module taking ``x``; not modified.
        x: the fixed input batch ``[B, ...]`` (paper C: a batch of images).
        direction: see above.
        layers_to_perturb: parameter-name prefixes (``"0"``, ``"features.3.weight"``); None:
            all parameters. ``"conv1"`` matches ``conv1.weight`` and ``conv1.bias`` (App. E /
            Fig. 3b vary one layer only).
        alpha: α > 0; the path length is ``1/α``.
        points: N ≥ 4 samples along the path (paper C uses 100).
        n_directions: number of directions.
        record: module names whose outputs are recorded; ``"output"`` is the model output; None:
            every leaf module and the output. Memory: ``N × n_directions × output size`` each.
        loss_fn: ``loss_fn(output, targets) -> scalar``; required for ``"gradient"``; when given,
            the loss along the path is recorded too.
        targets: the targets ``y`` passed to ``loss_fn``.
        seed: seeds the random directions.
        chunk_size: weight vectors per vmapped forward pass.
        dtype: evaluation precision (float64 by default: spectra of nearly linear paths cancel).

    Returns:
        :class:`PathRecording`, tensors on the CPU in ``dtype``.

    Raises:
        SmoothscopeError: ``points < 4``, ``alpha ≤ 0``, unknown parameter names/prefixes or
            module names, a zero direction, or NaN/inf along the path (naming the first layer,
            in forward order, where it appears, with the t and direction).
    """
    if not isinstance(model, nn.Module):
        raise SmoothscopeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    alpha = float(positive(alpha, "alpha"))
    points = positive(points, "points", integer=True)
    if points < MIN_POINTS:
        raise SmoothscopeError(f"points: expected at least {MIN_POINTS}, got {points}")
    n_directions = positive(n_directions, "n_directions", integer=True)
    chunk_size = positive(chunk_size, "chunk_size", integer=True)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SmoothscopeError(f"seed: expected an int, got {seed!r}")
    if dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        raise SmoothscopeError(f"dtype: expected a floating dtype, got {dtype}")
    x = as_tensor(x, "x")
    check_finite(x, "x")

    evaluator = copy.deepcopy(model).to(dtype=dtype).eval()
    param0 = next(evaluator.parameters(), None)
    if param0 is None:
        raise SmoothscopeError("model: expected a module with parameters, got none")
    device = param0.device
    x = x.to(device=device, dtype=dtype)
    if targets is not None and isinstance(targets, torch.Tensor):
        targets = targets.to(device)
    params = {n: p.detach() for n, p in evaluator.named_parameters()}
    for p in evaluator.parameters():
        p.requires_grad_(False)

    # ---- directions ------------------------------------------------------------------------
    if direction is None or (isinstance(direction, str) and direction == "random"):
        kind = "random"
        names = _resolve_perturbed(params, layers_to_perturb)
        base = torch.Generator().manual_seed(seed)
        seeds = torch.randint(0, 2**62, (n_directions,), generator=base).tolist()

        def make(d: int) -> list[torch.Tensor]:
            g = torch.Generator().manual_seed(int(seeds[d]))
            raw = [torch.randn(params[n].shape, generator=g, dtype=torch.float64) for n in names]
            return [v.to(device=device, dtype=dtype) for v in _unit(raw, "random direction")]

    elif isinstance(direction, str) and direction == "gradient":
        kind = "gradient"
        names = _resolve_perturbed(params, layers_to_perturb)
        if n_directions != 1:
            raise SmoothscopeError(
                f"n_directions: expected 1 with direction='gradient', got {n_directions}"
            )
        if loss_fn is None or targets is None:
            raise SmoothscopeError(
                "loss_fn, targets: expected both with direction='gradient', got "
                f"loss_fn={'given' if loss_fn else None}, targets="
                f"{'given' if targets is not None else None}"
            )
        with torch.enable_grad():
            leaves = {n: params[n].clone().requires_grad_(True) for n in names}
            loss = loss_fn(functional_call(evaluator, leaves, (x,)), targets)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise SmoothscopeError("loss_fn: expected a scalar tensor, got another value")
            grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        grad = [
            torch.zeros_like(leaves[n]) if g is None else g
            for n, g in zip(names, grads, strict=True)
        ]
        fixed = _unit([g.detach() for g in grad], "gradient (the loss is flat at W)")

        def make(d: int) -> list[torch.Tensor]:
            return fixed

    elif isinstance(direction, Mapping):
        kind = "given"
        unknown = [n for n in direction if n not in params]
        if unknown:
            known = ", ".join(list(params)[:8])
            raise SmoothscopeError(
                f"direction: expected parameter names as keys (e.g. {known}), got {unknown[0]!r}"
            )
        names = [n for n in params if n in direction]
        if not names:
            raise SmoothscopeError("direction: expected at least one parameter, got an empty dict")
        if layers_to_perturb is not None:
            wanted = _resolve_perturbed(params, layers_to_perturb)
            if set(wanted) != set(names):
                raise SmoothscopeError(
                    f"layers_to_perturb: expected the parameters of the direction dict "
                    f"({names[:6]}), got {wanted[:6]}"
                )
        stacked = []
        for n in names:
            v = as_tensor(direction[n], f"direction[{n!r}]")
            check_finite(v, f"direction[{n!r}]")
            shape = tuple(params[n].shape)
            if tuple(v.shape) == shape:
                v = v.expand(n_directions, *shape)
            elif tuple(v.shape) != (n_directions, *shape):
                raise SmoothscopeError(
                    f"direction[{n!r}]: expected shape {shape} or {(n_directions, *shape)}, got "
                    f"{tuple(v.shape)}"
                )
            stacked.append(v.to(torch.float64))

        def make(d: int) -> list[torch.Tensor]:
            unit = _unit([v[d] for v in stacked], f"direction {d}")
            return [u.to(device=device, dtype=dtype) for u in unit]

    else:
        raise SmoothscopeError(
            f"direction: expected None, 'random', 'gradient' or a dict of tensors, got "
            f"{direction!r}"
        )
    directions = _Directions(make)
    if kind != "random":
        for d in range(n_directions):  # validate every direction before the first forward pass
            directions.chunk([d])

    # ---- recording -------------------------------------------------------------------------
    layers = _resolve_record(evaluator, record)
    modules = dict(evaluator.named_modules())
    captured: dict[str, torch.Tensor] = {}
    call_order: list[str] = []

    def hook_for(name: str):
        def hook(module, args, output):
            if name in captured:
                raise SmoothscopeError(
                    f"record: expected module {name!r} to run once per forward pass, got several "
                    "(a shared module); record a module that runs once"
                )
            captured[name] = _first_tensor(output, name).clone()
            call_order.append(name)

        return hook

    hooked = [n for n in layers if n != OUTPUT]
    handles = [modules[n].register_forward_hook(hook_for(n)) for n in hooked]

    def forward(perturbed: dict[str, torch.Tensor]):
        captured.clear()
        call_order.clear()
        out = _first_tensor(functional_call(evaluator, perturbed, (x,)), OUTPUT)
        missing = [n for n in hooked if n not in captured]
        if missing:
            raise SmoothscopeError(
                f"record: expected module {missing[0]!r} to run in the forward pass, it did not"
            )
        values = [out if n == OUTPUT else captured[n] for n in layers]
        if loss_fn is not None:
            values.append(loss_fn(out, targets).reshape(()))
        return tuple(values)

    t = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    steps = (t / alpha).to(device=device, dtype=dtype)
    batched = vmap(forward)
    total = points * n_directions
    store: list[torch.Tensor] | None = None
    order: list[str] = []
    try:
        with torch.no_grad():
            for start in range(0, total, chunk_size):
                stop = min(start + chunk_size, total)
                flat = torch.arange(start, stop)
                d_of, j_of = flat // points, flat % points
                # direction-major order: the chunk is a few runs of consecutive points per direction
                runs = [
                    (d, max(start, d * points) - start, min(stop, (d + 1) * points) - start)
                    for d in range(start // points, (stop - 1) // points + 1)
                ]
                current = directions.chunk([d for d, _, _ in runs])
                stacked_params = {}
                for i, n in enumerate(names):
                    shape = (-1,) + (1,) * params[n].dim()
                    parts = [
                        torch.addcmul(
                            params[n], steps[j_of[a:b].to(device)].reshape(shape), current[d][i]
                        )
                        for d, a, b in runs
                    ]
                    stacked_params[n] = parts[0] if len(parts) == 1 else torch.cat(parts)
                values = batched(stacked_params)
                if store is None:
                    order = [*call_order]  # forward order of the hooked modules
                    store = [
                        torch.empty((points, n_directions, *v.shape[1:]), dtype=dtype)
                        for v in values
                    ]
                _check_chunk(values, layers, order, loss_fn is not None, t, j_of, d_of)
                for buf, v in zip(store, values, strict=True):
                    v = v.detach().to("cpu")
                    for d, a, b in runs:
                        buf[int(j_of[a]) : int(j_of[a]) + b - a, d] = v[a:b]
    finally:
        for h in handles:
            h.remove()
    outputs = dict(zip(layers, store[: len(layers)], strict=True))
    loss = store[len(layers)] if loss_fn is not None else None
    return PathRecording(
        t=t,
        alpha=alpha,
        outputs=outputs,
        loss=loss,
        parameters=tuple(names),
        direction=kind,
        seed=seed,
    )


def _check_chunk(values, layers, order, has_loss, t, j_of, d_of) -> None:
    """Raise on the first layer, in forward order, with NaN/inf in this chunk."""
    index = {n: i for i, n in enumerate(layers)}
    sequence = [n for n in order if n in index] + [n for n in layers if n not in order]
    if has_loss:
        sequence.append("<loss>")
        index["<loss>"] = len(layers)
    for name in sequence:
        v = values[index[name]]
        bad = ~torch.isfinite(v.reshape(v.shape[0], -1)).all(dim=1)
        if bool(bad.any()):
            first = int(bad.nonzero()[0])
            label = {OUTPUT: "the model output", "<loss>": "the loss"}.get(name, f"layer {name!r}")
            raise SmoothscopeError(
                f"weight_path: expected finite values along the path, got NaN or inf in {label} "
                f"at t = {float(t[j_of[first]]):.4g} of direction {int(d_of[first])}"
            )


# --------------------------------------------------------------------------------------------
# Spectra (paper C §3.1, §4.2, §4.3)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathSpectrum:
    """Mean one-sided spectrum of many paths (paper C §3.1; Fig. 3a, 3b with ``derivative``).

    Attributes:
        k: ``[K]`` float64 frequencies ``1 … ⌊M/2⌋`` (cycles per path; DC excluded).
        power: ``[K]`` float64 mean spectrum ``S_k`` (see :func:`path_spectrum`).
        weighting: ``"power"`` (``|z_k|²``) or ``"derivative"`` (``k²|z_k|²``).
        normalize: ``"path"``, ``"total"`` or ``"none"``.
        detrend: ``"none"`` or ``"endpoints"``.
        n_paths: paths averaged (excluding constant ones).
        n_constant: constant paths left out (zero variance along the path, e.g. dead ReLUs).
    """

    k: torch.Tensor
    power: torch.Tensor
    weighting: str
    normalize: str
    detrend: str
    n_paths: int
    n_constant: int

    @property
    def mean_frequency(self) -> float:
        """Power-weighted mean frequency ``Σ k S_k / Σ S_k`` (larger = more blueshift)."""
        return float((self.k * self.power).sum() / self.power.sum())

    def plot(self, ax=None, *, label: str | None = None, **style):
        """``S_k`` against ``k`` on log-log axes (the paper's Fig. 3)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.loglog(self.k, self.power, label=label, **style)
        ylabel = "k² |z_k|² (normalised)" if self.weighting == "derivative" else "|z_k|²"
        ax.set(xlabel="frequency k", ylabel=ylabel)
        return ax.figure


_DETRENDS = ("none", "endpoints")
_NORMALIZE = ("path", "total", "none")
_WEIGHTING = ("power", "derivative")


def _paths_matrix(paths: Any, dim: int, layer: str) -> torch.Tensor:
    """``[N, ...]`` with the path along dim 0, float64."""
    if isinstance(paths, PathRecording):
        return paths.layer(layer).to(torch.float64)
    t = as_tensor(paths, "paths")
    dim = check_dim(t, dim, "paths", min_length=MIN_POINTS)
    check_finite(t, "paths")
    return t.movedim(dim, 0).to(torch.float64)


def _spectra(p: torch.Tensor, detrend: str, weighting: str) -> tuple[torch.Tensor, ...]:
    """Per-path one-sided spectra ``c_k w_k |z_k|²`` ``[K, P]`` and a constant-path mask ``[P]``.

    ``p`` is ``[N, P]`` float64.
    """
    if detrend == "endpoints":
        n = p.shape[0]
        s = torch.linspace(0.0, 1.0, n, dtype=torch.float64)[:, None]
        p = (p - p[:1] - s * (p[-1:] - p[:1]))[:-1]  # the chord's endpoints, now 0 = p(0) = p(1)
    m = p.shape[0]
    z = torch.fft.rfft(p, dim=0) / m
    power = z.real**2 + z.imag**2
    kmax = m // 2
    k = torch.arange(1, kmax + 1, dtype=torch.float64)
    one_sided = torch.full((kmax,), 2.0, dtype=torch.float64)
    if m % 2 == 0:
        one_sided[-1] = 1.0  # the Nyquist term appears once in the two-sided sum
    spec = power[1 : kmax + 1] * one_sided[:, None]
    if weighting == "derivative":
        spec = spec * (k**2)[:, None]
    scale = p.abs().amax(dim=0)
    variance = power[1:].sum(dim=0)  # Parseval: mean over samples of (p - mean p)²
    constant = variance <= (64.0 * torch.finfo(torch.float64).eps * scale) ** 2
    return k, spec, constant


def path_spectrum(
    paths: PathRecording | torch.Tensor,
    *,
    dim: int = 0,
    layer: str = OUTPUT,
    weighting: Literal["power", "derivative"] = "power",
    normalize: Literal["path", "total", "none"] = "path",
    detrend: Literal["none", "endpoints"] = "none",
) -> PathSpectrum:
    """Mean power spectrum of paths, DC excluded (paper C §3.1, §4.2; Fig. 3).

    DFT convention: for ``M`` samples ``p_j`` (``j = 0 … M-1``),
    ``z_k = (1/M) Σ_j p_j e^{-2πi jk/M}`` (so ``z_k`` approximates the Fourier-series
    coefficient of §3, eq. 2, and ``Σ_{k≠0} |z_k|² = mean_j (p_j - p̄)²`` by Parseval). The
    one-sided spectrum is ``P_k = c_k |z_k|²`` for ``k = 1 … ⌊M/2⌋``, ``c_k = 2`` except
    ``c_{M/2} = 1`` (``Σ_k P_k`` is the path's variance). ``weighting="derivative"`` uses
    ``k² P_k`` (the spectrum of ``p'`` up to ``(2π)²``, Fig. 3b: "weighting by frequency before
    normalisation").

    Normalisation ("normalised by function norm", §4.2 / Fig. 3):

    * ``"path"`` (default): every path's spectrum is divided by its own sum (for ``power``: the
      path's variance, the function norm without the excluded DC term), then averaged over all
      paths (neurons, positions, images, directions): ``S_k = mean_paths P_k / Σ_k' P_k'``; each
      neuron counts equally; ``Σ_k S_k = 1``.
    * ``"total"``: ``S_k = mean_paths P_k / Σ_k' mean_paths P_k'`` (large neurons weigh more).
    * ``"none"``: ``S_k = mean_paths P_k`` (the raw estimate of ``E_D|z_k|²``, doubled).

    Constant paths (variance at the rounding level, e.g. a dead ReLU) are left out of the mean.

    ``detrend="none"`` (default, as in the paper) transforms the ``N`` samples as they are; the
    periodic extension then jumps from ``p(1)`` to ``p(0)``, which alone gives ``|z_k| ∼ 1/k``,
    so the measured ``h`` cannot exceed ≈ 1 (1/k is also what App. B.2 derives for the first
    layer). ``"endpoints"`` subtracts the chord through ``p(0)`` and ``p(1)`` and transforms the
    first ``M = N - 1`` samples (the last equals the first): smooth paths then decay like
    ``k⁻²`` or faster and fBm gives ``h = H + 1/2`` for every Hurst exponent ``H``.

    Args:
        paths: a :class:`PathRecording` (its ``layer``, ``[N, n_directions, ...]``) or a tensor
            with the path along ``dim`` and any other axes indexing paths.
        dim: the path axis of a tensor.
        layer: the recorded module (``"output"``: the model output) when ``paths`` is a recording.
        weighting: ``"power"`` or ``"derivative"``.
        normalize: ``"path"``, ``"total"`` or ``"none"``.
        detrend: ``"none"`` or ``"endpoints"``.

    Returns:
        :class:`PathSpectrum` with ``K = ⌊M/2⌋`` frequencies.
    """
    if weighting not in _WEIGHTING:
        raise SmoothscopeError(f"weighting: expected one of {_WEIGHTING}, got {weighting!r}")
    if normalize not in _NORMALIZE:
        raise SmoothscopeError(f"normalize: expected one of {_NORMALIZE}, got {normalize!r}")
    if detrend not in _DETRENDS:
        raise SmoothscopeError(f"detrend: expected one of {_DETRENDS}, got {detrend!r}")
    p = _paths_matrix(paths, dim, layer)
    result = _mean_spectrum(p.reshape(p.shape[0], -1), weighting, normalize, detrend)
    if result is None:
        raise SmoothscopeError(
            f"paths: expected at least one path that varies along t, got {p[0].numel()} "
            "constant ones"
        )
    return result


def _mean_spectrum(p: torch.Tensor, weighting: str, normalize: str, detrend: str):
    """:func:`path_spectrum` of ``[N, P]`` float64 paths; None when every path is constant."""
    k, spec, constant = _spectra(p, detrend, weighting)
    keep = ~constant
    n_paths = int(keep.sum())
    if n_paths == 0:
        return None
    spec = spec[:, keep]
    if normalize == "path":
        power = (spec / spec.sum(dim=0, keepdim=True)).mean(dim=1)
    else:
        power = spec.mean(dim=1)
        if normalize == "total":
            power = power / power.sum()
    return PathSpectrum(
        k=k,
        power=power,
        weighting=weighting,
        normalize=normalize,
        detrend=detrend,
        n_paths=n_paths,
        n_constant=int(constant.sum()),
    )


@dataclass(frozen=True)
class PowerLaw:
    """A power-law fit ``S_k ≈ A k^{exponent}`` over ``k_min ≤ k ≤ k_max`` (paper C §3.1, §4.3).

    Attributes:
        h: the fractal coefficient of eq. 3 (``σ_k ∼ k^{-h}``) of the *path*: ``-exponent/2``
            for a power spectrum, ``1 - exponent/2`` for a ``"derivative"`` spectrum (its
            ``k²`` is undone). Larger = smoother; fBm with Hurst ``H`` has ``h = H + 1/2``.
        exponent: the fitted log-log slope of the spectrum as given.
        k_min, k_max: the fitted frequency range (inclusive).
        r2: coefficient of determination of the log-log fit.
        stderr: standard error of ``h`` (ordinary least squares on ``log S_k``).
        amplitude: ``A``.
    """

    h: float
    exponent: float
    k_min: int
    k_max: int
    r2: float
    stderr: float
    amplitude: float

    def plot(self, ax=None, **style):
        """The fitted line over its range on log-log axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        k = torch.linspace(self.k_min, self.k_max, 50, dtype=torch.float64)
        style = {"ls": "--", "color": "k", **style}
        ax.loglog(k, self.amplitude * k**self.exponent, label=f"h = {self.h:.2f}", **style)
        return ax.figure


def _k_range(k_range: Any, kmax: int) -> tuple[int, int]:
    if k_range is None:
        return 1, max(3, kmax // 2)
    try:
        lo, hi = (int(v) for v in k_range)
        if any(float(v) != int(v) for v in k_range):
            raise ValueError
    except (TypeError, ValueError) as exc:
        raise SmoothscopeError(
            f"k_range: expected (k_min, k_max) whole numbers, got {k_range!r}"
        ) from exc
    if not 1 <= lo < hi <= kmax or hi - lo < 2:
        raise SmoothscopeError(
            f"k_range: expected 1 ≤ k_min, k_min + 2 ≤ k_max ≤ {kmax}, got {k_range!r}"
        )
    return lo, hi


def fit_power_law(
    spectrum: PathSpectrum | torch.Tensor, *, k_range: tuple[int, int] | None = None
) -> PowerLaw:
    """Fit ``log S_k = log A + exponent · log k`` by least squares (paper C §3.1 eq. 3, §4.3).

    Args:
        spectrum: a :class:`PathSpectrum` or a 1-D tensor ``[K]`` of a power spectrum whose
            entry ``i`` is frequency ``k = i + 1`` (the layout of ``PathSpectrum.power``).
        k_range: ``(k_min, k_max)``, inclusive, at least 3 frequencies; default
            ``(1, max(3, K // 2))``: the lower half, away from the aliasing at the high end that
            the paper notes under Fig. 3.

    Returns:
        :class:`PowerLaw`; ``h = -exponent/2`` (``+1`` for a derivative-weighted spectrum).

    Raises:
        SmoothscopeError: a bad range, or a spectrum that is not positive on it.
    """
    derivative = False
    if isinstance(spectrum, PathSpectrum):
        power, derivative = spectrum.power, spectrum.weighting == "derivative"
    else:
        power = as_tensor(spectrum, "spectrum").to(torch.float64)
        if power.dim() != 1 or power.numel() < 3:
            raise SmoothscopeError(
                f"spectrum: expected a 1-D tensor [K ≥ 3], got shape {tuple(power.shape)}"
            )
        check_finite(power, "spectrum")
    lo, hi = _k_range(k_range, power.numel())
    k = torch.arange(lo, hi + 1, dtype=torch.float64)
    s = power[lo - 1 : hi]
    if not bool((s > 0).all()):
        raise SmoothscopeError(
            f"spectrum: expected positive power on k = {lo}..{hi}, got "
            f"{int((s <= 0).sum())} entries ≤ 0"
        )
    slope, intercept, se, r2 = _fit_line(k.log(), s.log())
    h = -slope / 2 + (1.0 if derivative else 0.0)
    return PowerLaw(
        h=h,
        exponent=slope,
        k_min=lo,
        k_max=hi,
        r2=r2,
        stderr=se / 2,
        amplitude=math.exp(intercept),
    )


@dataclass(frozen=True)
class MedianPath:
    """The direction whose fitted ``h`` is the median over all directions (paper C §4.3, Fig. 4).

    Attributes:
        index: the median direction (lower median for an even count).
        h: ``[n_directions]`` fitted ``h`` per direction (NaN where all paths were constant).
        path: ``[N, *nodes]`` that direction's paths.
        t: ``[N]`` path parameter.
        spectrum: its :class:`PathSpectrum`.
        fit: its :class:`PowerLaw`.
    """

    index: int
    h: torch.Tensor
    path: torch.Tensor
    t: torch.Tensor
    spectrum: PathSpectrum
    fit: PowerLaw = field(repr=False)

    def plot(self, ax=None, *, nodes: int = 8):
        """Left: the median path (first ``nodes`` neurons); right: its spectrum and the fit."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(9, 3.5))
        left, right = ax
        left.plot(self.t, self.path.reshape(self.path.shape[0], -1)[:, :nodes])
        left.set(xlabel="t", ylabel="p(t)", title=f"median path (direction {self.index})")
        self.spectrum.plot(right)
        self.fit.plot(right)
        right.legend()
        return left.figure


def median_h_path(
    paths: PathRecording | torch.Tensor,
    *,
    layer: str = OUTPUT,
    k_range: tuple[int, int] | None = None,
    weighting: Literal["power", "derivative"] = "power",
    normalize: Literal["path", "total", "none"] = "path",
    detrend: Literal["none", "endpoints"] = "none",
) -> MedianPath:
    """Out of many directions, the path with the median fitted ``h`` (paper C §4.3, Fig. 4).

    For each direction, the spectrum of its paths (all neurons of ``layer``, averaged as in
    :func:`path_spectrum`; for a loss path or a single output: that one path) is fitted with
    :func:`fit_power_law`; the direction with the median ``h`` is returned.

    Args:
        paths: a :class:`PathRecording` (``layer``, or ``paths.loss`` when ``layer="loss"``)
            or a tensor ``[N, n_directions, *nodes]``.
        layer, k_range, weighting, normalize, detrend: as in :func:`path_spectrum` and
            :func:`fit_power_law`.
    """
    if isinstance(paths, PathRecording):
        if layer == LOSS and LOSS not in paths.outputs:
            if paths.loss is None:
                raise SmoothscopeError("layer: expected a recording with a loss, got loss=None")
            p, t = paths.loss.to(torch.float64), paths.t
        else:
            p, t = paths.layer(layer).to(torch.float64), paths.t
    else:
        p = as_tensor(paths, "paths")
        if p.dim() < 2:
            raise SmoothscopeError(
                f"paths: expected shape [N, n_directions, ...], got {tuple(p.shape)}"
            )
        check_dim(p, 0, "paths", min_length=MIN_POINTS)
        check_finite(p, "paths")
        p = p.to(torch.float64)
        t = torch.linspace(0.0, 1.0, p.shape[0], dtype=torch.float64)
    n_dir = p.shape[1]
    hs = torch.full((n_dir,), math.nan, dtype=torch.float64)
    fits: dict[int, tuple[PathSpectrum, PowerLaw]] = {}
    if weighting not in _WEIGHTING:
        raise SmoothscopeError(f"weighting: expected one of {_WEIGHTING}, got {weighting!r}")
    if normalize not in _NORMALIZE:
        raise SmoothscopeError(f"normalize: expected one of {_NORMALIZE}, got {normalize!r}")
    if detrend not in _DETRENDS:
        raise SmoothscopeError(f"detrend: expected one of {_DETRENDS}, got {detrend!r}")
    for d in range(n_dir):
        spec = _mean_spectrum(p[:, d].reshape(p.shape[0], -1), weighting, normalize, detrend)
        if spec is None:
            continue  # constant in every neuron
        fit = fit_power_law(spec, k_range=k_range)
        hs[d] = fit.h
        fits[d] = (spec, fit)
    valid = (~hs.isnan()).nonzero().flatten()
    if valid.numel() == 0:
        raise SmoothscopeError("paths: expected at least one direction that varies, got none")
    order = valid[hs[valid].argsort()]
    index = int(order[(order.numel() - 1) // 2])
    spec, fit = fits[index]
    return MedianPath(index=index, h=hs, path=p[:, index], t=t, spectrum=spec, fit=fit)
