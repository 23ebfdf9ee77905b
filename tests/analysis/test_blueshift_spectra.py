"""Paper C §3.1, §4.2, §4.3: spectra of paths, fractal coefficient h (analysis/spectra.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError
from smoothscope.analysis.chebyshev import Activation, coefficient_decay
from smoothscope.analysis.paths import OUTPUT, freeze_batchnorm_stats, weight_path
from smoothscope.analysis.spectra import (
    ROUNDING,
    default_k_range,
    estimate_h,
    fit_power_law,
    median_h_path,
    path_spectrum,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny vmapped ops: on a shared 2-core machine, 2 OpenMP threads ran them up to 80× slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# helpers


def _fbm(hurst: float, n: int, paths: int, seed: int) -> torch.Tensor:
    """``[n + 1, paths]`` exact fractional Brownian motion on t = 0, 1/n, ..., 1 (Cholesky)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(1, n + 1, dtype=torch.float64) / n
    two_h = 2 * hurst
    cov = 0.5 * (
        t[:, None] ** two_h + t[None, :] ** two_h - (t[:, None] - t[None, :]).abs() ** two_h
    )
    chol = torch.linalg.cholesky(cov)
    z = torch.randn(n, paths, generator=g, dtype=torch.float64)
    return torch.cat([torch.zeros(1, paths, dtype=torch.float64), chol @ z])


def _fbm_circulant(hurst: float, n: int, paths: int, seed: int) -> torch.Tensor:
    """``[n + 1, paths]`` exact fBm on t = 0, 1/n, …, 1 by circulant embedding (Davies-Harte).

    The fGn autocovariance ``γ(k) = ½(|k+1|^{2H} − 2|k|^{2H} + |k−1|^{2H})`` embedded in a
    circulant of size 2n has nonnegative eigenvalues for every H ∈ (0, 1), so the draw is exact.
    """
    rng = np.random.default_rng(seed)
    k = np.arange(n + 1)
    two_h = 2 * hurst
    gamma = 0.5 * (np.abs(k + 1) ** two_h - 2 * k**two_h + np.abs(k - 1) ** two_h)
    eig = np.fft.fft(np.concatenate([gamma, gamma[-2:0:-1]])).real
    assert eig.min() > -1e-10  # the embedding is valid: the draw is exact, not approximate
    m = eig.size
    z = rng.standard_normal((paths, m)) + 1j * rng.standard_normal((paths, m))
    fgn = np.fft.fft(np.sqrt(np.clip(eig, 0, None) / m) * z, axis=1).real[:, :n] * n**-hurst
    path = np.concatenate([np.zeros((paths, 1)), np.cumsum(fgn, axis=1)], axis=1)
    return torch.from_numpy(path.T.copy())


def _deep_net(act: str | None, *, depth: int = 16, width: int = 16, seed: int = 0) -> nn.Module:
    """Paper C's Toy-CNN in MLP form: [Linear, BatchNorm, φ] × depth, then a Linear read-out."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    d = 8
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.BatchNorm1d(width)]
        if act is not None:
            layers.append(Activation(act))
        d = width
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------------------------
# Spectra and h (§3.1, §4.2, §4.3)


@pytest.mark.parametrize("hurst", [0.3, 0.5, 0.7])
def test_fbm_recovers_h_equal_to_hurst_plus_half(hurst):
    """Power ∝ k^-(2H+1) ⇔ σ_k ∝ k^-h with h = H + 1/2 (eq. 3); mean of 200 paths, N = 256."""
    paths = _fbm(hurst, 255, 200, seed=int(hurst * 10))
    fit = fit_power_law(path_spectrum(paths, detrend="endpoints"))
    assert fit.h == pytest.approx(hurst + 0.5, abs=0.1)
    assert fit.r2 > 0.98 and fit.stderr < 0.02
    raw = fit_power_law(path_spectrum(paths))  # no detrending: the jump p(1) → p(0) caps h at ~1
    assert raw.h == pytest.approx(min(hurst + 0.5, 1.0), abs=0.1)


def test_spectrum_conventions_on_tones():
    n = 64
    t = torch.arange(n, dtype=torch.float64) / n
    tones = torch.stack([torch.sin(2 * math.pi * 5 * t), 3 + 2 * torch.cos(2 * math.pi * 5 * t)], 1)
    spec = path_spectrum(tones)
    assert spec.k[0] == 1 and spec.k[-1] == n // 2 and spec.n_paths == 2
    torch.testing.assert_close(spec.power[4], torch.tensor(1.0, dtype=torch.float64))
    assert float(spec.power.sum()) == pytest.approx(1.0)
    raw = path_spectrum(tones, normalize="none")  # one-sided power sums to the variance
    assert float(raw.power.sum()) == pytest.approx(float(tones.var(0, unbiased=False).mean()))
    two = (torch.sin(2 * math.pi * 2 * t) + torch.sin(2 * math.pi * 4 * t))[None, :]
    deriv = path_spectrum(two, dim=1, weighting="derivative")
    assert float(deriv.power[1]) == pytest.approx(0.2) and float(deriv.power[3]) == pytest.approx(
        0.8
    )
    assert path_spectrum(two, dim=1).mean_frequency == pytest.approx(3.0)
    constant = torch.cat([tones, torch.ones(n, 1), 2 + 3 * t[:, None]], 1)
    assert path_spectrum(constant).n_constant == 1 and path_spectrum(constant).n_linear == 1


def test_fit_power_law_on_an_exact_power_law():
    k = torch.arange(1, 65, dtype=torch.float64)
    fit = fit_power_law(7 * k**-3, k_range=(2, 40))
    assert fit.exponent == pytest.approx(-3) and fit.h == pytest.approx(1.5)
    assert fit.amplitude == pytest.approx(7) and fit.r2 == pytest.approx(1)
    assert (fit.k_min, fit.k_max) == (2, 40) and fit.stderr < 1e-10
    paths = _fbm(0.5, 127, 50, seed=3)
    options = {"detrend": "endpoints", "normalize": "none"}
    plain = fit_power_law(path_spectrum(paths, **options))
    deriv = fit_power_law(path_spectrum(paths, weighting="derivative", **options))
    assert deriv.h == pytest.approx(plain.h, abs=1e-9)  # h is the path's, k² undone
    assert deriv.exponent == pytest.approx(plain.exponent + 2, abs=1e-9)


def test_spectrum_errors():
    with pytest.raises(SmoothscopeError, match="at least 4 samples"):
        path_spectrum(torch.randn(3, 5))
    with pytest.raises(SmoothscopeError, match="finite"):
        path_spectrum(torch.tensor([[0.0], [math.nan], [1.0], [2.0]]))
    with pytest.raises(SmoothscopeError, match="varies nonlinearly along t"):
        path_spectrum(torch.ones(16, 4))
    with pytest.raises(SmoothscopeError, match="detrend"):
        path_spectrum(torch.randn(16, 4), detrend="linear")
    spec = path_spectrum(torch.randn(16, 4))
    with pytest.raises(SmoothscopeError, match="k_range"):
        fit_power_law(spec, k_range=(0, 5))
    with pytest.raises(SmoothscopeError, match="k_range"):
        fit_power_law(spec, k_range=(2, 3))
    with pytest.raises(SmoothscopeError, match="positive power"):
        fit_power_law(torch.tensor([1.0, 0.0, 0.5, 0.2]), k_range=(1, 4))


def test_linear_network_path_is_a_polynomial_without_blueshift():
    """φ = id: p(t) is a polynomial of degree ≤ depth in t (§3), so its (depth+1)-th differences
    vanish; ReLU and BatchNorm'd nets of the same shape do not, and their h is much smaller."""
    depth = 6
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    linear = nn.Sequential(*[nn.Linear(8 if i == 0 else 16, 16) for i in range(depth)])
    relu = nn.Sequential(*[m for i in range(depth) for m in (linear[i], nn.ReLU())])
    options = {"alpha": 0.3, "points": 64, "n_directions": 4, "record": [OUTPUT]}
    p_lin = weight_path(linear, x, **options).output
    p_relu = weight_path(relu, x, **options).output
    scale = float(p_lin.abs().max())
    assert float(torch.diff(p_lin, n=depth + 1, dim=0).abs().max()) < 1e-11 * scale
    assert float(torch.diff(p_relu, n=depth + 1, dim=0).abs().max()) > 1e-3 * scale
    deep = {act: _deep_net(act) for act in (None, "relu", "tanh", "softplus")}
    spectra = {}
    for act, net in deep.items():
        rec = weight_path(freeze_batchnorm_stats(net, x), x, **options)
        spectra[act] = path_spectrum(rec, detrend="endpoints")
    h = {act: fit_power_law(s).h for act, s in spectra.items()}
    assert h[None] > 1.8 and h[None] - h["relu"] > 0.5
    mean_k = {act: s.mean_frequency for act, s in spectra.items()}
    # §4.2 / Fig. 3a: ReLU blueshifts most, then tanh, then softplus; the linear net least.
    assert mean_k["relu"] > mean_k["tanh"] > mean_k["softplus"] > mean_k[None]


def test_median_h_path_picks_the_median_direction():
    hursts = [0.8, 0.2, 0.5, 0.35, 0.65]  # median: 0.5, direction 2
    paths = torch.stack([_fbm(h, 127, 40, seed=i) for i, h in enumerate(hursts)], 1)
    med = median_h_path(paths, detrend="endpoints")
    assert med.index == 2 and med.h.shape == (5,)
    assert med.path.shape == (128, 40) and med.fit.h == pytest.approx(float(med.h[2]))
    assert float(med.h[0]) > float(med.h[4]) > float(med.h[2]) > float(med.h[3]) > float(med.h[1])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    rec = weight_path(
        model, torch.randn(4, 3), alpha=0.2, points=32, n_directions=5,
        loss_fn=lambda out, y: ((out - y) ** 2).mean(), targets=torch.zeros(4, 1),
    )  # fmt: skip
    on_loss = median_h_path(rec, layer="loss")
    assert on_loss.path.shape == (32,) and 0 <= on_loss.index < 5
    assert median_h_path(rec).spectrum.n_paths >= 1


def test_plots_render():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    rec = weight_path(model, torch.randn(4, 3), alpha=0.2, points=16, n_directions=3)
    spec = path_spectrum(rec)
    for fig in (
        rec.plot(layer="1"),
        spec.plot(),
        fit_power_law(spec).plot(),
        median_h_path(rec).plot(),
        coefficient_decay("tanh").plot(),
    ):
        assert fig is not None
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# The boundary-free estimator and the paper's convention (issue 13)

_T = torch.linspace(0.0, 1.0, 257, dtype=torch.float64)[:, None]
KINKED = {
    "kink": (_T - 0.37).abs() + 0.3 * _T,
    "relu kink and curvature": 3 * torch.relu(_T - 0.61) - _T**2,
}
ANALYTIC = {
    "three sines at non-integer frequencies": torch.sin(2 * math.pi * 2.3 * _T + 0.4)
    + 0.5 * torch.sin(2 * math.pi * 0.7 * _T)
    + 0.2 * torch.cos(2 * math.pi * 4.6 * _T),
    "Gaussian bump": torch.exp(-(((_T - 0.4) / 0.15) ** 2)),
    "polynomial of degree 5": 1 + _T - 2 * _T**2 + _T**5,
}


@pytest.mark.parametrize("hurst", [0.3, 0.4, 0.5, 0.6, 0.7])
def test_taper_estimator_recovers_fbm_h_within_005(hurst):
    """Exact fBm (circulant embedding), N = 513, 400 paths: h = H + ½ within 0.05 (eq. 3)."""
    paths = _fbm_circulant(hurst, 512, 400, seed=int(hurst * 100))
    est = estimate_h(paths)
    assert est.kind == "fitted" and est.estimator == "taper"
    assert (est.fit.k_min, est.fit.k_max) == default_k_range("taper", 256) == (4, 64)
    assert est.h == pytest.approx(hurst + 0.5, abs=0.05)
    assert est.r2 > 0.99


def test_taper_estimator_on_a_jump_a_kink_and_analytic_paths():
    """A jump: h = 1; a kink: h = 2; analytic paths: h ≥ 4, i.e. at least 1.9 above any kink."""
    jump = estimate_h((_T > 0.41).double() + _T)
    assert jump.h == pytest.approx(1.0, abs=0.1)
    kinked = {name: estimate_h(p).h for name, p in KINKED.items()}
    smooth = {name: estimate_h(p).h for name, p in ANALYTIC.items()}
    for h in kinked.values():
        assert h == pytest.approx(2.0, abs=0.1)
    assert min(smooth.values()) > 4.0
    assert min(smooth.values()) - max(kinked.values()) > 1.9  # the stated separation


def test_paper_convention_is_capped_near_one():
    """The raw DFT: a path with p(0) ≠ p(1) jumps where its periodic copies meet, |z_k| ~ 1/k."""
    assert estimate_h(KINKED["kink"], estimator="paper").h == pytest.approx(1.0, abs=0.05)
    sines = ANALYTIC["three sines at non-integer frequencies"]
    assert estimate_h(sines, estimator="paper").h < 1.5  # analytic, yet close to the kink
    assert estimate_h(sines).h > 4.0
    fbm = _fbm_circulant(0.7, 256, 200, seed=1)
    assert estimate_h(fbm, estimator="paper").h == pytest.approx(1.0, abs=0.1)  # H + ½ = 1.2
    assert estimate_h(fbm, estimator="paper").fit.k_min == 1


def test_linear_and_constant_paths_are_reported_not_fitted():
    """Exactly linear and constant paths, with rounding noise, are named, never fitted."""
    t = torch.linspace(0.0, 1.0, 100, dtype=torch.float64)[:, None]
    linear = 0.7 + 0.1 * t  # rounding noise in every sample
    noisy = 1e5 * linear + 1e-9 * torch.randn(100, 1, generator=torch.Generator().manual_seed(0))
    for paths in (linear, noisy, torch.cat([linear, 3 - 2 * t], 1)):
        for estimator in ("taper", "paper"):
            est = estimate_h(paths, estimator=estimator)
            assert est.kind == "linear" and math.isnan(est.h) and est.fit is None
    const = estimate_h(torch.full((64, 3), 0.3, dtype=torch.float64))
    assert const.kind == "constant" and const.n_constant == 3 and math.isnan(const.h)
    # a curvature just above the rounding level is fitted, not called linear
    bent = linear + 1e3 * ROUNDING * torch.sin(3 * t)
    assert estimate_h(bent).kind in ("fitted", "below-rounding")
    mixed = estimate_h(torch.cat([linear, KINKED["kink"][::2][:100]], 1))
    assert mixed.kind == "fitted" and mixed.n_linear == 1 and mixed.n_paths == 1


def test_estimator_errors():
    with pytest.raises(SmoothscopeError, match="estimator"):
        estimate_h(torch.randn(64, 2), estimator="wavelet")
    with pytest.raises(SmoothscopeError, match="points for the taper estimator"):
        estimate_h(torch.randn(8, 2, dtype=torch.float64))
