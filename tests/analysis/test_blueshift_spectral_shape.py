"""Paper C §3.1, §4.2-§4.4: the readings of averaged spectra (analysis/spectral_shape.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.analysis.spectra import NOISE_FLOOR, estimate_h, path_spectrum
from smoothscope.analysis.spectral_shape import (
    band_correlation,
    band_share,
    both_direction_spectra,
    direction_spectra,
    mean_frequency,
    spectrum_h,
)

_T = torch.linspace(0.0, 1.0, 100, dtype=torch.float64)


def _kinked(n_paths: int, seed: int) -> torch.Tensor:
    """``[100, n_paths]`` paths with one kink each at a random place, plus curvature."""
    g = torch.Generator().manual_seed(seed)
    where = torch.rand(n_paths, generator=g, dtype=torch.float64)
    slope = torch.randn(n_paths, generator=g, dtype=torch.float64)
    return torch.relu(_T[:, None] - where) * 3 + slope * _T[:, None] ** 2


def test_direction_spectra_average_each_direction_as_path_spectrum_does():
    """Per direction, the mean of the per-path normalised spectra: what path_spectrum gives
    on that direction's paths; the taper h of a row is estimate_h's on those paths."""
    paths = torch.stack([_kinked(12, seed) for seed in range(3)], dim=1)  # [N, D = 3, 12]
    for detrend in ("none", "taper"):
        power, n_paths = direction_spectra(paths, detrend=detrend)
        assert power.shape == (3, 50 if detrend == "none" else 49)
        assert n_paths.tolist() == [12, 12, 12]
        for d in range(3):
            expected = path_spectrum(paths[:, d], detrend=detrend).power
            torch.testing.assert_close(power[d], expected, rtol=1e-12, atol=0)
        torch.testing.assert_close(power.sum(dim=1), torch.ones(3, dtype=torch.float64))
    taper, _ = direction_spectra(paths, detrend="taper")
    both = both_direction_spectra(paths)  # one pass: the same numbers
    torch.testing.assert_close(both["taper"][0], taper, rtol=0, atol=0)
    torch.testing.assert_close(both["none"][0], direction_spectra(paths)[0], rtol=0, atol=0)
    for d in range(3):
        h = float(spectrum_h(taper[d], estimator="taper"))
        assert h == pytest.approx(estimate_h(paths[:, d]).h, abs=1e-10)
    raw, _ = direction_spectra(paths)
    for d in range(3):
        h = float(spectrum_h(raw[d]))
        assert h == pytest.approx(estimate_h(paths[:, d], estimator="paper").h, abs=1e-10)


def test_linear_paths_count_in_the_raw_convention_and_constant_ones_nowhere():
    """A ramp's raw spectrum is its periodic extension's jump (power ∝ k⁻², h = 1); the taper
    leaves it out (rounding noise); a constant direction has no spectrum at all."""
    ramp = (0.3 + 2.0 * _T)[:, None, None].expand(100, 1, 4)
    const = torch.full((100, 1, 4), 0.7, dtype=torch.float64)
    paths = torch.cat([ramp, const], dim=1)
    raw, n_raw = direction_spectra(paths)
    assert n_raw.tolist() == [4, 0] and bool(torch.isnan(raw[1]).all())
    assert float(spectrum_h(raw[0])) == pytest.approx(1.0, abs=0.05)  # 1/sin(πk/N), not 1/k
    taper, n_taper = direction_spectra(paths, detrend="taper")
    assert n_taper.tolist() == [0, 0] and bool(torch.isnan(taper).all())
    assert bool(torch.isnan(spectrum_h(taper, estimator="taper")).all())
    assert bool(torch.isnan(mean_frequency(raw[1])))


def test_spectrum_h_mean_frequency_and_band_share_on_known_spectra():
    k = torch.arange(1, 65, dtype=torch.float64)
    spectra = torch.stack([k**-2.0, k**-3.0, k**-1.0])
    torch.testing.assert_close(
        spectrum_h(spectra), torch.tensor([1.0, 1.5, 0.5], dtype=torch.float64)
    )
    # a floor: the fit range ends where the power falls under NOISE_FLOOR of the total
    cut = k**-2.0
    cut[10:] = 0.5 * NOISE_FLOOR * float(cut.sum())
    assert float(spectrum_h(cut, k_range=(1, 32))) == pytest.approx(1.0, abs=1e-9)
    cut[2:] = 0.0  # two frequencies left: nothing to fit
    assert math.isnan(float(spectrum_h(cut)))
    two = torch.zeros(64, dtype=torch.float64)
    two[1], two[3] = 0.2, 0.8  # k = 2 and k = 4
    assert float(mean_frequency(two)) == pytest.approx(3.6)
    assert float(band_share(two, above=2)) == pytest.approx(0.8)
    assert float(band_share(two, above=0)) == pytest.approx(1.0)
    # vectorised over any leading axes
    assert spectrum_h(spectra[None].expand(5, 3, 64)).shape == (5, 3)
    with pytest.raises(SmoothscopeError, match="above"):
        band_share(two, above=64)
    with pytest.raises(SmoothscopeError, match="k_range"):
        spectrum_h(two, k_range=(3, 2))


def test_blueshift_moves_the_mean_frequency_up():
    """Harmonics (§3.2): a kinked path carries more power at high k than a smooth one."""
    smooth = torch.sin(2 * math.pi * 1.3 * _T)[:, None, None] * torch.linspace(1, 2, 8)
    kinked = torch.relu(smooth - 0.3)
    s_raw, _ = direction_spectra(smooth)
    k_raw, _ = direction_spectra(kinked)
    assert float(mean_frequency(k_raw)) > float(mean_frequency(s_raw)) + 0.5
    assert float(spectrum_h(k_raw)) < float(spectrum_h(s_raw))


def test_errors_are_named():
    with pytest.raises(SmoothscopeError, match="detrend"):
        direction_spectra(torch.randn(16, 2), detrend="endpoints")
    with pytest.raises(SmoothscopeError, match="values"):
        direction_spectra(torch.randn(3, 2))
    with pytest.raises(SmoothscopeError, match="finite"):
        direction_spectra(torch.full((16, 2), math.nan))
    with pytest.raises(SmoothscopeError, match="a, b"):
        band_correlation(torch.randn(16, 3), torch.randn(16, 4))


@pytest.mark.parametrize("detrend", ["none", "taper"])
def test_band_correlation_through_gaussian_filters(detrend):
    """Identical summands correlate fully in every band (sign ignored); a summand that shares
    only the low frequencies decorrelates at high ones; independent noise stays low."""
    g = torch.Generator().manual_seed(0)
    n = 129
    t = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    a = torch.randn(n, 20, generator=g, dtype=torch.float64).cumsum(0)
    torch.testing.assert_close(band_correlation(a, a, detrend=detrend), torch.ones(64).double())
    torch.testing.assert_close(
        band_correlation(a, -2 * a, detrend=detrend), torch.ones(64).double()
    )
    noise = torch.randn(n, 20, generator=g, dtype=torch.float64)
    rho = band_correlation(a, a + noise, detrend=detrend)  # brownian ∝ k⁻², white noise flat
    assert rho.shape == (64,) and rho[:4].mean() > 0.9 and rho[-16:].mean() < 0.6
    independent = band_correlation(a, torch.randn(n, 20, generator=g, dtype=torch.float64))
    assert independent.mean() < 0.5
    assert bool(torch.isfinite(band_correlation(a, a + t, detrend=detrend)).all())


def test_a_kinked_summand_decorrelates_the_high_band_of_the_raw_paths():
    """Fig. 6's mechanism on known paths: a summand whose kinks are independent of the other
    summand loses correlation at high frequencies; a smooth independent summand of the same
    low-band size does not (its high band stays the shared boundary jump's)."""
    g = torch.Generator().manual_seed(2)
    n, p = 100, 64
    t = _T[:, None]
    base = t * torch.randn(p, generator=g, dtype=torch.float64) + t**2 * torch.randn(
        p, generator=g, dtype=torch.float64
    )
    kinks = torch.relu(t - torch.rand(p, generator=g, dtype=torch.float64)) * 0.5
    smooth = 0.5 * torch.sin(2 * math.pi * 0.5 * t + torch.rand(p, generator=g).double())

    def drop(curve: torch.Tensor) -> float:
        k = curve.numel()
        return float(curve[: k // 8].mean() - curve[k // 4 :].mean())

    kinked_drop = drop(band_correlation(base, base + kinks))
    smooth_drop = drop(band_correlation(base, base + smooth))
    assert kinked_drop > smooth_drop + 0.05
    assert np.isfinite([kinked_drop, smooth_drop]).all() and n == base.shape[0]
