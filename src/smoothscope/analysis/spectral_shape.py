"""What paper C reads off its averaged path spectra (§3.1, §4.2-§4.4; Figs. 3, 5-7, 15).

The paper averages the power spectra of many paths and reads the average: its power-law
exponent ``h`` (eq. 3; Fig. 5, Fig. 9), or where the harmonics sit ("a bump in the spectrum that
travels towards higher frequencies", §4.2; Figs. 1, 3, 7, 15). This module holds those readings
under the paper's convention, vectorised so that a bootstrap can redo them thousands of times:

* :func:`direction_spectra`: per direction, the mean over that direction's paths (neurons,
  positions, images) of the per-path normalised one-sided spectrum (Fig. 3: "average all power
  spectra over all neurons in a layer, all input receptive fields and all batch images",
  "normalized by function norm"). ``detrend="none"`` is the paper's raw DFT of the N samples;
  ``"taper"`` the boundary-free estimator of :mod:`.spectra` (an extension).
* :func:`spectrum_h`: ``h`` of averaged spectra ``[..., K]`` (eq. 3: power ``∝ k^{-2h}``), by
  least squares over the range of :func:`~.spectra.default_k_range`, ended where the spectrum
  falls under :data:`~.spectra.NOISE_FLOOR`, exactly as :func:`~.spectra.estimate_h` does.
* :func:`mean_frequency` ``Σ k S_k / Σ S_k`` and :func:`band_share` (the share of power above
  a frequency): where the spectrum's power sits (larger = more blueshift).
* :func:`band_correlation`: the per-frequency correlation of paired paths through Gaussian
  frequency filters (§4.4, Fig. 6).

Under the raw convention every path with ``p(0) ≠ p(1)`` jumps where its periodic copies meet,
which alone gives power ``∝ k⁻²`` (``h ≈ 1``): the paper's readings therefore see blueshift as
power *above* that floor (``h`` below 1, a higher mean frequency), never smoothness beyond it
(``docs/blueshift.md``). Exactly linear paths are kept under the raw convention (their
spectrum is that jump's) and left out under the taper (where they are rounding noise).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from .._errors import SmoothscopeError
from .._validate import as_tensor, check_finite
from .paths import MIN_POINTS
from .spectra import NOISE_FLOOR, TAPER_ORDER, _masks, _power, default_k_range

__all__ = [
    "band_correlation",
    "band_share",
    "both_direction_spectra",
    "direction_spectra",
    "mean_frequency",
    "spectrum_h",
]

_DETRENDS = ("none", "taper")


def _check_detrend(detrend: str) -> None:
    if detrend not in _DETRENDS:
        raise SmoothscopeError(f"detrend: expected one of {_DETRENDS}, got {detrend!r}")


def direction_spectra(
    values: torch.Tensor, *, detrend: Literal["none", "taper"] = "none"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per direction, the mean per-path normalised spectrum of its paths (paper C §4.2, Fig. 3).

    For every path ``p`` (one neuron at one position of one image, in one direction) the
    one-sided power ``P_k = c_k |z_k|²``, ``k = 1 … K`` (DC excluded, §3.1; the DFT convention
    of :func:`~.spectra.path_spectrum`) is divided by its sum (the path's variance: "normalized
    by function norm"), and the normalised spectra of a direction's paths are averaged:
    ``S_dk = mean_p P_dpk / Σ_k' P_dpk'``. Constant paths (no variation above the rounding
    level, e.g. a dead ReLU) are left out; exactly linear paths too when ``detrend="taper"``.

    Args:
        values: ``[N, D, ...]`` the recorded paths (N points, D directions, any neurons).
        detrend: ``"none"`` (the paper's raw DFT of the N samples, ``K = ⌊N/2⌋``) or
            ``"taper"`` (chord removed, ``× sin^{2q}(πt)``, ``K = ⌊(N-1)/2⌋``).

    Returns:
        ``(power, n_paths)``: ``power [D, K]`` float64 (a row of NaN where every path of the
        direction was left out) and ``n_paths [D]`` the paths averaged per direction.

    Raises:
        SmoothscopeError: fewer than 4 points, fewer than 2 dimensions, non-finite values or
            an unknown ``detrend``.
    """
    _check_detrend(detrend)
    return _direction_spectra(_checked(values), (detrend,))[detrend]


def both_direction_spectra(
    values: torch.Tensor,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """:func:`direction_spectra` under both conventions from one pass over the paths (the
    constant and linear masks and the chord are computed once): ``{"none": (power, n_paths),
    "taper": (power, n_paths)}``."""
    return _direction_spectra(_checked(values), _DETRENDS)


def _checked(values: torch.Tensor) -> torch.Tensor:
    v = as_tensor(values, "values")
    if v.dim() < 2 or v.shape[0] < MIN_POINTS:
        raise SmoothscopeError(
            f"values: expected [N ≥ {MIN_POINTS}, D, ...], got shape {tuple(v.shape)}"
        )
    check_finite(v, "values")
    return v


def _direction_spectra(
    v: torch.Tensor, detrends: tuple[str, ...]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    n, d = v.shape[0], v.shape[1]
    p = v.to(torch.float64).reshape(n, -1)
    chordless, constant, linear = _masks(p)
    out = {}
    for detrend in detrends:
        _, spec = _power(p, chordless, detrend, "power")
        drop = constant | linear if detrend == "taper" else constant
        keep = (~drop).to(torch.float64)
        total = spec.sum(dim=0)
        normalised = spec / torch.where(total > 0, total, torch.ones_like(total)) * keep
        kept = keep.reshape(d, -1).sum(dim=1)
        sums = normalised.reshape(spec.shape[0], d, -1).sum(dim=2).T  # [D, K]
        power = torch.where(kept[:, None] > 0, sums / kept.clamp_min(1)[:, None], math.nan)
        out[detrend] = (power, kept.to(torch.int64))
    return out


def _frequencies(power: torch.Tensor) -> torch.Tensor:
    return torch.arange(1, power.shape[-1] + 1, dtype=torch.float64)


def spectrum_h(
    power: torch.Tensor,
    *,
    estimator: Literal["paper", "taper"] = "paper",
    k_range: tuple[int, int] | None = None,
) -> torch.Tensor:
    """``h`` of averaged spectra (eq. 3: ``S_k ∼ k^{-2h}``), one least-squares fit per row.

    The same fit as :func:`~.spectra.estimate_h` on the spectrum it averages: ordinary least
    squares of ``log S_k`` on ``log k`` over ``k_range`` (default
    :func:`~.spectra.default_k_range`: ``(1, K // 2)`` for ``"paper"``, ``(2q, K // 4)`` for
    ``"taper"``), the range ending at the first frequency whose power is at or below
    :data:`~.spectra.NOISE_FLOOR` of the row's total.

    Args:
        power: ``[..., K]`` averaged spectra (rows of NaN allowed: they give NaN).
        estimator: which convention's fit range.
        k_range: ``(k_min, k_max)`` inclusive, 1-based; overrides the default.

    Returns:
        ``[...]`` float64 ``h``; NaN where fewer than 3 frequencies remain or a row is NaN.
    """
    s = torch.as_tensor(power, dtype=torch.float64)
    n_k = s.shape[-1]
    lo, hi = k_range if k_range is not None else default_k_range(estimator, n_k)
    if not 1 <= lo < hi <= n_k:
        raise SmoothscopeError(f"k_range: expected 1 ≤ k_min < k_max ≤ {n_k}, got {(lo, hi)}")
    band = s[..., lo - 1 : hi]
    floor = NOISE_FLOOR * s.sum(dim=-1, keepdim=True)
    below = (band <= floor) | ~torch.isfinite(band)
    # frequencies before the first one at or below the floor
    use = (torch.cumsum(below.to(torch.int64), dim=-1) == 0).to(torch.float64)
    count = use.sum(dim=-1)
    x = _frequencies(s)[lo - 1 : hi].log().expand_as(band)
    y = torch.where(use > 0, band.clamp_min(1e-300).log(), 0.0)
    safe = count.clamp_min(1)
    xm = (x * use).sum(dim=-1) / safe
    ym = (y * use).sum(dim=-1) / safe
    sxx = (((x - xm[..., None]) ** 2) * use).sum(dim=-1)
    sxy = ((x - xm[..., None]) * (y - ym[..., None]) * use).sum(dim=-1)
    slope = sxy / torch.where(sxx > 0, sxx, torch.ones_like(sxx))
    return torch.where((count >= 3) & (sxx > 0), -slope / 2, math.nan)


def mean_frequency(power: torch.Tensor) -> torch.Tensor:
    """Power-weighted mean frequency ``Σ_k k S_k / Σ_k S_k`` of ``[..., K]`` spectra whose
    entry ``i`` is ``k = i + 1`` (§4.2: blueshift moves it up); NaN rows give NaN."""
    s = torch.as_tensor(power, dtype=torch.float64)
    return (s * _frequencies(s)).sum(dim=-1) / s.sum(dim=-1)


def band_share(power: torch.Tensor, *, above: int) -> torch.Tensor:
    """Share of the power of ``[..., K]`` spectra at ``k > above`` (Fig. 7's high band)."""
    s = torch.as_tensor(power, dtype=torch.float64)
    if not 0 <= above < s.shape[-1]:
        raise SmoothscopeError(f"above: expected 0 ≤ above < {s.shape[-1]}, got {above}")
    return s[..., above:].sum(dim=-1) / s.sum(dim=-1)


def _prepared(p: torch.Tensor, detrend: str) -> torch.Tensor:
    """``[N, P]`` paths as their DFT sees them: all N samples (raw) or tapered (N - 1)."""
    if detrend == "none":
        return p
    n = p.shape[0]
    s = torch.linspace(0.0, 1.0, n, dtype=torch.float64)[:, None]
    p = (p - p[:1] - s * (p[-1:] - p[:1]))[:-1]
    j = torch.arange(n - 1, dtype=torch.float64)
    return p * (torch.sin(torch.pi * j / (n - 1)) ** (2 * TAPER_ORDER))[:, None]


def band_correlation(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    width: float = 2.0,
    detrend: Literal["none", "taper"] = "none",
) -> torch.Tensor:
    """Per-frequency correlation of paired paths through Gaussian frequency filters (§4.4, Fig. 6).

    The paper: "Using Gaussian filters in Fourier domain, we can compute the linear correlation
    of each pair of paths (block input/output) per frequency bin and average over all batch
    images, neurons and blocks". For every centre ``c = 1 … K`` both paths are band-passed with
    ``g_k = exp(−(k − c)² / (2 width²))`` (DC excluded) and correlated:
    ``ρ_p(c) = Σ_k g_k² Re(a_kp b̄_kp) / √(Σ_k g_k² |a_kp|² · Σ_k g_k² |b_kp|²)``, the Pearson
    correlation of the two filtered paths. ``detrend="none"`` transforms the N samples as they
    are (the paper's DFT, whose boundary jump enters every band); ``"taper"`` removes the chord
    and multiplies by ``sin^{2q}(πt)`` first (an extension: no boundary term, but the window's
    leakage of the correlated low frequencies fills the high bands of smooth paths).

    Args:
        a, b: ``[N, P]`` paired paths (a block's residual and shortcut summands, per neuron).
        width: the filters' standard deviation in frequency bins.
        detrend: ``"none"`` or ``"taper"``.

    Returns:
        ``[K]`` float64 ``mean_p |ρ_p(c)|``; pairs where either path is flat in a band are left
        out there.
    """
    _check_detrend(detrend)
    if a.shape != b.shape or a.dim() != 2:
        raise SmoothscopeError(
            f"a, b: expected two [N, P] tensors of one shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    za = torch.fft.rfft(_prepared(a.to(torch.float64), detrend), dim=0)
    zb = torch.fft.rfft(_prepared(b.to(torch.float64), detrend), dim=0)
    m = a.shape[0] if detrend == "none" else a.shape[0] - 1
    za, zb = za[1 : m // 2 + 1], zb[1 : m // 2 + 1]
    k = torch.arange(1, za.shape[0] + 1, dtype=torch.float64)
    g2 = torch.exp(-((k[None, :] - k[:, None]) ** 2) / width**2)  # [centres, K]: g_k²
    cross = g2 @ (za * zb.conj()).real
    den = torch.sqrt((g2 @ (za.real**2 + za.imag**2)) * (g2 @ (zb.real**2 + zb.imag**2)))
    ok = den > 1e-300
    rho = torch.where(ok, cross.abs() / den.clamp_min(1e-300), torch.nan)
    return torch.nanmean(rho, dim=1)
