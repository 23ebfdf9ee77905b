"""Spectra of weight-space paths and their fractal coefficient ``h`` (paper C §3.1, §4.2, §4.3).

The paths come from :func:`.paths.weight_path`. :func:`path_spectrum` averages their one-sided
DFT power spectra (Fig. 3), :func:`fit_power_law` fits ``S_k ∼ k^{-2h}`` (eq. 3),
:func:`median_h_path` picks the direction of median ``h`` (Fig. 4).

Conventions (see ``docs/blueshift.md`` for the full statement):

* **h** follows eq. 3: the *magnitude* ``σ_k`` of the Fourier coefficients decays like
  ``k^{-h}``, so the *power* ``E|z_k|²`` decays like ``k^{-2h}``. The first layer of a ReLU
  network has ``|z_k| ∈ O(1/k)``, i.e. ``h = 1`` (App. B.2). Fractional Brownian motion of Hurst
  exponent ``H`` has power ``∝ k^{-(2H+1)}``, i.e. ``h = H + 1/2``. (§3.4 writes
  ``|z_k|² ∼ k^{-h}`` instead, which contradicts eq. 3 and App. B.2 by a factor 2; we keep
  eq. 3 everywhere.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from .._errors import SmoothscopeError
from .._validate import as_tensor, check_dim, check_finite
from .paths import LOSS, MIN_POINTS, OUTPUT, PathRecording

__all__ = [
    "ESTIMATORS",
    "NOISE_FLOOR",
    "ROUNDING",
    "TAPER_ORDER",
    "HEstimate",
    "MedianPath",
    "PathSpectrum",
    "PowerLaw",
    "default_k_range",
    "estimate_h",
    "fit_power_law",
    "median_h_path",
    "path_spectrum",
]


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
class PathSpectrum:
    """Mean one-sided spectrum of many paths (paper C §3.1; Fig. 3a, 3b with ``derivative``).

    Attributes:
        k: ``[K]`` float64 frequencies ``1 … ⌊M/2⌋`` (cycles per path; DC excluded).
        power: ``[K]`` float64 mean spectrum ``S_k`` (see :func:`path_spectrum`).
        weighting: ``"power"`` (``|z_k|²``) or ``"derivative"`` (``k²|z_k|²``).
        normalize: ``"path"``, ``"total"`` or ``"none"``.
        detrend: ``"none"``, ``"endpoints"`` or ``"taper"``.
        n_paths: paths averaged (excluding constant and linear ones).
        n_constant: constant paths left out (variance at the rounding level, e.g. dead ReLUs).
        n_linear: exactly linear paths left out (no curvature above the rounding level; their
            spectrum is the rounding noise, or with ``"none"`` only the boundary jump).
    """

    k: torch.Tensor
    power: torch.Tensor
    weighting: str
    normalize: str
    detrend: str
    n_paths: int
    n_constant: int
    n_linear: int = 0

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


_DETRENDS = ("none", "endpoints", "taper")
TAPER_ORDER = 2
"""``q`` of the taper ``w(t) = sin^{2q}(πt)`` (sidelobes ``∝ k^-(2q+1)``)."""
ROUNDING = 1024 * torch.finfo(torch.float64).eps
"""Relative size (to ``max|p|``) below which a path's variation, or its deviation from its chord,
is rounding noise: the path is then called constant, or linear (≈ 2.3e-13)."""
NOISE_FLOOR = 1e-26
"""Normalised power below which ``S_k`` is rounding noise (amplitude ≈ 1e-13 of the path):
:func:`estimate_h` fits only frequencies above it."""
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
    """Per-path one-sided spectra ``c_k w_k |z_k|²`` ``[K, P]``, constant and linear masks ``[P]``.

    ``p`` is ``[N, P]`` float64. Both masks are judged against the *raw* path's size
    ``max_j |p_j|`` (not the detrended one, which is itself rounding noise for such paths):
    constant if ``rms(p - mean p) ≤ ROUNDING · max|p|``, linear if its deviation from the chord
    ``rms(p - chord) ≤ ROUNDING · max|p|`` (and not constant).
    """
    chordless, constant, linear = _masks(p)
    k, spec = _power(p, chordless, detrend, weighting)
    return k, spec, constant, linear


def _masks(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[N, P]`` paths without their chord, and the constant and linear masks ``[P]``."""
    tol = ROUNDING * p.abs().amax(dim=0)
    constant = (p - p.mean(dim=0, keepdim=True)).pow(2).mean(dim=0).sqrt() <= tol
    s = torch.linspace(0.0, 1.0, p.shape[0], dtype=torch.float64)[:, None]
    chordless = p - p[:1] - s * (p[-1:] - p[:1])
    linear = (chordless.pow(2).mean(dim=0).sqrt() <= tol) & ~constant
    return chordless, constant, linear


def _power(p: torch.Tensor, chordless: torch.Tensor, detrend: str, weighting: str):
    """Frequencies ``[K]`` and one-sided spectra ``[K, P]`` of ``[N, P]`` paths under
    ``detrend`` (``chordless``: the paths minus their chord, from :func:`_masks`)."""
    if detrend in ("endpoints", "taper"):
        p = chordless[:-1]  # the chord's endpoints, now 0 = p(0) = p(1): one period of M = N - 1
        if detrend == "taper":
            m = p.shape[0]
            j = torch.arange(m, dtype=torch.float64)
            p = p * (torch.sin(math.pi * j / m) ** (2 * TAPER_ORDER))[:, None]
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
    return k, spec


def path_spectrum(
    paths: PathRecording | torch.Tensor,
    *,
    dim: int = 0,
    layer: str = OUTPUT,
    weighting: Literal["power", "derivative"] = "power",
    normalize: Literal["path", "total", "none"] = "path",
    detrend: Literal["none", "endpoints", "taper"] = "none",
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

    Constant paths (variance at the rounding level, e.g. a dead ReLU) and exactly linear paths
    (deviation from the chord at the rounding level) are left out of the mean and counted
    (``n_constant``, ``n_linear``): both are judged against the raw path's ``max|p|``.

    ``detrend="none"`` (default, as in the paper) transforms the ``N`` samples as they are; the
    periodic extension then jumps from ``p(1)`` to ``p(0)``, which alone gives ``|z_k| ∼ 1/k``,
    so the measured ``h`` cannot exceed ≈ 1 (1/k is also what App. B.2 derives for the first
    layer). ``"endpoints"`` subtracts the chord through ``p(0)`` and ``p(1)`` and transforms the
    first ``M = N - 1`` samples (the last equals the first): smooth paths then decay like
    ``k⁻²`` (the derivative still jumps where the periodic copies meet), so ``h`` is capped
    near 2. ``"taper"`` (the boundary-free estimator of :func:`estimate_h`) also multiplies
    the chord-free path by ``w(t) = sin^{2q}(πt)``, ``q =`` :data:`TAPER_ORDER`, which vanishes
    with its first ``2q - 1`` derivatives at both ends: the periodic extension is then
    ``C^{2q-1}``, so no boundary term caps ``h`` below ``2q + 1 = 5``, while interior
    features keep their decay (a jump ``h = 1``, a kink ``h = 2``, fBm ``h = H + 1/2``). The
    window is a trigonometric polynomial of degree ``q``: it smears every frequency over
    ``±q`` bins, so fits start at ``k ≥ 2q``.

    Args:
        paths: a :class:`PathRecording` (its ``layer``, ``[N, n_directions, ...]``) or a tensor
            with the path along ``dim`` and any other axes indexing paths.
        dim: the path axis of a tensor.
        layer: the recorded module (``"output"``: the model output) when ``paths`` is a recording.
        weighting: ``"power"`` or ``"derivative"``.
        normalize: ``"path"``, ``"total"`` or ``"none"``.
        detrend: ``"none"``, ``"endpoints"`` or ``"taper"``.

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
            f"paths: expected at least one path that varies nonlinearly along t, got "
            f"{p[0].numel()} constant or linear ones"
        )
    return result


def _mean_spectrum(p: torch.Tensor, weighting: str, normalize: str, detrend: str):
    """:func:`path_spectrum` of ``[N, P]`` float64 paths; None when every path is constant."""
    k, spec, constant, linear = _spectra(p, detrend, weighting)
    keep = ~(constant | linear)
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
        n_linear=int(linear.sum()),
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
    detrend: Literal["none", "endpoints", "taper"] = "none",
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


# --------------------------------------------------------------------------------------------
# h with its convention stated: the paper's raw DFT and the boundary-free taper
# --------------------------------------------------------------------------------------------

ESTIMATORS = ("taper", "paper")
"""The two conventions of :func:`estimate_h`."""
PathKind = Literal["fitted", "constant", "linear", "below-rounding"]


@dataclass(frozen=True)
class HEstimate:
    """The fractal coefficient ``h`` of a set of paths under one convention (eq. 3).

    Attributes:
        h: the fitted ``h`` (``σ_k ∼ k^{-h}``); NaN unless ``kind == "fitted"``.
        kind: ``"fitted"``; ``"constant"`` or ``"linear"`` when every path is so (at the
            rounding level; nothing to fit); ``"below-rounding"`` when the mean spectrum falls
            under :data:`NOISE_FLOOR` before three frequencies of the fit range (smoother than
            the estimator resolves, e.g. the polynomial paths of a linear network).
        estimator: ``"taper"`` (boundary-free) or ``"paper"`` (raw DFT).
        fit: the :class:`PowerLaw` (None unless fitted).
        spectrum: the mean :class:`PathSpectrum` (None for constant or linear paths).
        n_paths, n_constant, n_linear: paths averaged and left out.
    """

    h: float
    kind: str
    estimator: str
    fit: PowerLaw | None
    spectrum: PathSpectrum | None
    n_paths: int
    n_constant: int
    n_linear: int

    @property
    def r2(self) -> float:
        return self.fit.r2 if self.fit is not None else math.nan


def default_k_range(estimator: str, n_frequencies: int) -> tuple[int, int]:
    """The fit range of :func:`estimate_h` for ``K`` frequencies (fixed before any result).

    ``"paper"``: ``(1, K // 2)``, the lower half of the raw DFT (the paper states no range;
    above it aliasing flattens the spectrum, Fig. 3). ``"taper"``: ``(2q, K // 4)`` with
    ``q =`` :data:`TAPER_ORDER`: below ``2q`` the window's main lobe (``±q`` bins) dominates,
    above ``K // 4`` (a quarter of Nyquist) aliasing of rough paths flattens the slope. On exact
    fBm (N = 256, 400 paths) this gives ``h − (H + ½) = −0.045, −0.01, +0.01`` for
    ``H = 0.3, 0.5, 0.7``; at N = 128 the bias grows to −0.08 (H = 0.3).
    """
    if estimator == "paper":
        return 1, max(3, n_frequencies // 2)
    lo = 2 * TAPER_ORDER
    hi = max(lo + 2, n_frequencies // 4)
    if hi > n_frequencies:
        raise SmoothscopeError(
            f"paths: expected at least {2 * (lo + 2) + 1} points for the taper estimator, got "
            f"about {2 * n_frequencies + 1}"
        )
    return lo, hi


def estimate_h(
    paths: PathRecording | torch.Tensor,
    *,
    estimator: Literal["taper", "paper"] = "taper",
    dim: int = 0,
    layer: str = OUTPUT,
    k_range: tuple[int, int] | None = None,
    normalize: Literal["path", "total", "none"] = "path",
) -> HEstimate:
    """``h`` of the mean spectrum of paths, with its convention (paper C §3.1 eq. 3, §4.3).

    * ``"taper"`` (default; the claims use it): the boundary-free estimator, ``path_spectrum(
      detrend="taper")`` fitted over :func:`default_k_range`. No boundary term caps it: on
      known paths (``tests/analysis/test_blueshift_spectra.py``) fBm gives ``h = H + ½ ± 0.05``
      for ``H ∈ [0.3, 0.7]`` (N = 256), a jump 1.0, a kink 2.0, analytic paths ≥ 4 (the
      window's own ceiling is ``2q + 1 = 5`` asymptotically; analytic paths fitted over a
      finite range come out higher).
    * ``"paper"``: the paper's convention, the raw DFT of the N samples (``detrend="none"``)
      over ``(1, K // 2)``. A non-periodic path jumps from ``p(1)`` to ``p(0)`` where its
      periodic copies meet, so ``|z_k|`` cannot fall faster than ``1/k``: ``h ≤ ≈ 1`` for every
      path, smooth or not. The paper's lower-layer values ``h ≈ 1`` (Fig. 3, App. B.2) sit *at*
      that ceiling: they cannot tell a first-layer ReLU path (``h = 1`` by App. B.2) from a
      smooth one. Use it to compare with the paper's numbers only.

    Constant and exactly linear paths are left out (see :func:`path_spectrum`); when every path
    is one of them, ``kind`` says so and nothing is fitted. Frequencies where the mean spectrum
    is below :data:`NOISE_FLOOR` (rounding noise) end the fit range.

    Args:
        paths: a :class:`PathRecording` or a tensor with the path along ``dim``.
        estimator: ``"taper"`` or ``"paper"``.
        dim, layer, normalize: as in :func:`path_spectrum`.
        k_range: ``(k_min, k_max)``; default :func:`default_k_range`.

    Raises:
        SmoothscopeError: a bad estimator, range or too few points.
    """
    if estimator not in ESTIMATORS:
        raise SmoothscopeError(f"estimator: expected one of {ESTIMATORS}, got {estimator!r}")
    if normalize not in _NORMALIZE:
        raise SmoothscopeError(f"normalize: expected one of {_NORMALIZE}, got {normalize!r}")
    p = _paths_matrix(paths, dim, layer)
    p = p.reshape(p.shape[0], -1)
    detrend = "taper" if estimator == "taper" else "none"
    spec = _mean_spectrum(p, "power", normalize, detrend)
    if spec is None:
        _, _, constant, linear = _spectra(p, detrend, "power")
        kind = "constant" if bool(constant.all()) else "linear"
        counts = (0, int(constant.sum()), int(linear.sum()))
        return HEstimate(math.nan, kind, estimator, None, None, *counts)
    counts = (spec.n_paths, spec.n_constant, spec.n_linear)
    n_k = spec.power.numel()
    lo, hi = _k_range(k_range, n_k) if k_range else default_k_range(estimator, n_k)
    floor = NOISE_FLOOR * float(spec.power.sum())
    below = (spec.power[lo - 1 : hi] <= floor).nonzero()
    if below.numel():
        hi = lo - 1 + int(below[0])
    if hi - lo < 2:
        return HEstimate(math.nan, "below-rounding", estimator, None, spec, *counts)
    fit = fit_power_law(spec, k_range=(lo, hi))
    return HEstimate(fit.h, "fitted", estimator, fit, spec, *counts)
