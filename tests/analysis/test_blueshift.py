"""Paper C (blueshift): Chebyshev coefficients, weight-space paths, spectra, h, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from smoothscope import SmoothscopeError
from smoothscope.analysis.blueshift import (
    ACTIVATIONS,
    OUTPUT,
    Activation,
    chebyshev_coefficients,
    coefficient_decay,
    fit_power_law,
    freeze_batchnorm_stats,
    get_activation,
    median_h_path,
    path_spectrum,
    weight_path,
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


def _small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 4, 3, stride=2, padding=1),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )


# ---------------------------------------------------------------------------------------------
# Chebyshev coefficients (§3.3, Figs. 2/18/19)


def test_relu_chebyshev_coefficients_match_closed_form():
    c = chebyshev_coefficients("relu", interval=(-1, 1), degree=25)
    assert c.dtype == torch.float64 and c.shape == (26,)
    assert float(c[0]) == pytest.approx(1 / math.pi, abs=1e-9)
    assert float(c[1]) == pytest.approx(0.5, abs=1e-12)
    for k in range(1, 13):
        assert abs(float(c[2 * k])) == pytest.approx(2 / (math.pi * (4 * k * k - 1)), abs=1e-8)
        assert math.copysign(1, float(c[2 * k])) == (-1) ** (k + 1)
    assert float(c[3::2].abs().max()) < 1e-12


def test_interval_scaling_and_interpolation_equal_numpy():
    on_unit = chebyshev_coefficients("relu", interval=(-1, 1), degree=10)
    on_five = chebyshev_coefficients("relu", interval=(-5, 5), degree=10)
    torch.testing.assert_close(on_five, 5 * on_unit, rtol=1e-12, atol=1e-12)
    ours = chebyshev_coefficients("tanh", interval=(-5, 5), degree=25, method="interpolation")
    ref = np.polynomial.chebyshev.chebinterpolate(lambda u: np.tanh(5 * u), 25)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-13)


def test_coefficient_decay_orders_softplus_tanh_relu():
    decay = {n: coefficient_decay(n) for n in ("relu", "tanh", "softplus")}
    rates = {n: d.geometric_rate for n, d in decay.items()}
    assert rates["softplus"] > rates["tanh"] > rates["relu"] > 0
    assert decay["relu"].algebraic_exponent == pytest.approx(2.0, abs=0.15)
    assert not bool(decay["relu"].fitted[3::2].any())  # the exact zeros are not fitted
    assert not bool(decay["tanh"].fitted[2::2].any())


def test_every_registered_activation_has_finite_coefficients():
    for name in [*ACTIVATIONS, "leaky_relu:0.2"]:
        c = chebyshev_coefficients(name, degree=25)
        assert bool(torch.isfinite(c).all()), name
    x = torch.tensor([-2.0, 3.0])
    torch.testing.assert_close(get_activation("leaky_relu:0.2")(x), torch.tensor([-0.4, 3.0]))
    assert repr(Activation("tanh")) == "Activation('tanh')"


def test_chebyshev_errors():
    with pytest.raises(SmoothscopeError, match=r"activation 'log'.*NaN"):
        chebyshev_coefficients(torch.log, interval=(-5, 5))
    with pytest.raises(SmoothscopeError, match="activation: expected one of"):
        chebyshev_coefficients("nope")
    with pytest.raises(SmoothscopeError, match="leaky_relu:<finite slope>"):
        get_activation("leaky_relu:x")
    with pytest.raises(SmoothscopeError, match="interval"):
        chebyshev_coefficients("relu", interval=(1, -1))
    with pytest.raises(SmoothscopeError, match="degree"):
        chebyshev_coefficients("relu", degree=0)
    with pytest.raises(SmoothscopeError, match="method"):
        chebyshev_coefficients("relu", method="taylor")


# ---------------------------------------------------------------------------------------------
# Paths in weight space (§3 eq. 1, App. D.3)


def test_batched_path_equals_a_per_point_loop():
    model = freeze_batchnorm_stats(_small_cnn(), torch.randn(4, 3, 8, 8))
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    names = ["0.weight", "3.weight", "6.bias"]
    params = dict(model.named_parameters())
    direction = {n: torch.randn(2, *params[n].shape, generator=g) for n in names}
    alpha, points = 0.5, 7
    rec = weight_path(
        model, x, direction=direction, alpha=alpha, points=points, n_directions=2, chunk_size=5
    )
    assert rec.layers == ["0", "1", "2", "3", "4", "5", "6", OUTPUT]
    assert rec.output.shape == (points, 2, 2, 3) and rec.layer("2").shape == (points, 2, 2, 4, 8, 8)
    assert rec.parameters == tuple(names) and rec.direction == "given"

    evaluator = model.double().eval()
    captured = {}
    evaluator[0].register_forward_hook(lambda m, a, o: captured.__setitem__("0", o.clone()))
    evaluator[1].register_forward_hook(lambda m, a, o: captured.__setitem__("1", o.clone()))
    for d in range(2):
        norm = math.sqrt(sum(float((direction[n][d].double() ** 2).sum()) for n in names))
        for j, t in enumerate(rec.t.tolist()):
            w = {n: params[n].double() + t / alpha * direction[n][d].double() / norm for n in names}
            out = functional_call(evaluator, w, (x.double(),))
            torch.testing.assert_close(rec.output[j, d], out, rtol=1e-12, atol=1e-12)
            # layer "1" (BatchNorm) before the in-place ReLU "2" modifies its output
            torch.testing.assert_close(rec.layer("1")[j, d], captured["1"], rtol=0, atol=1e-12)
            assert bool((rec.layer("1")[j, d] < 0).any())


def test_random_direction_has_unit_norm_and_is_reproducible():
    """f(x) = W x with x = I: the output moves by (D/α)ᵀ, so ‖Δ output‖ = 1/α at t = 1."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3, bias=False)
    x = torch.eye(5)
    rec = weight_path(model, x, alpha=0.25, points=4, n_directions=3, seed=7)
    change = rec.output[-1] - rec.output[0]  # [3 directions, 5, 3]
    norms = change.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((3,), 4.0, dtype=torch.float64))
    again = weight_path(model, x, alpha=0.25, points=4, n_directions=1, seed=7, chunk_size=1)
    torch.testing.assert_close(again.output[:, 0], rec.output[:, 0], rtol=0, atol=0)
    other = weight_path(model, x, alpha=0.25, points=4, n_directions=1, seed=8)
    assert not torch.equal(other.output, again.output)
    assert torch.equal(rec.t, torch.linspace(0, 1, 4, dtype=torch.float64))


def test_gradient_direction_is_the_normalised_gradient():
    torch.manual_seed(0)
    model = nn.Linear(4, 2, bias=False)
    x, y = torch.eye(4), torch.randn(4, 2)
    loss_fn = nn.functional.mse_loss
    rec = weight_path(
        model, x, direction="gradient", alpha=2.0, points=5, loss_fn=loss_fn, targets=y
    )
    w = model.weight.detach().double().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(x.double() @ w.T, y.double()), [w])
    expected = (grad / grad.norm() / 2.0).T  # Δ output at t = 1 with x = I
    torch.testing.assert_close(rec.output[-1, 0] - rec.output[0, 0], expected)
    assert rec.direction == "gradient" and rec.loss.shape == (5, 1)
    assert float(rec.loss[-1, 0]) > float(rec.loss[0, 0])  # the ascent direction


def test_layers_to_perturb_leaves_earlier_layers_fixed():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(5, 3)
    rec = weight_path(model, x, layers_to_perturb=["2"], alpha=0.5, points=6, n_directions=2)
    assert rec.parameters == ("2.weight", "2.bias")
    first = rec.layer("0")
    assert torch.equal(first, first[:1].expand_as(first))
    assert not torch.equal(rec.output, rec.output[:1].expand_as(rec.output))
    only_output = weight_path(model, x, record=[OUTPUT], points=4)
    assert only_output.layers == [OUTPUT]


def test_freeze_batchnorm_stats_uses_the_batch_at_w():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    x = torch.randn(64, 3) * 3 + 1
    frozen = freeze_batchnorm_stats(model, x)
    pre = model[0](x).detach()
    torch.testing.assert_close(frozen[1].running_mean, pre.mean(0))
    torch.testing.assert_close(frozen[1].running_var, pre.var(0))
    assert not frozen.training and torch.equal(model[1].running_mean, torch.zeros(4))
    out = frozen(x)
    torch.testing.assert_close(out.mean(0), frozen[1].bias.detach(), atol=1e-5, rtol=0)


def test_path_errors():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    x = torch.randn(3, 2)
    with pytest.raises(SmoothscopeError, match="points: expected at least 4, got 3"):
        weight_path(model, x, points=3)
    for alpha in (0, -1.0, math.nan):
        with pytest.raises(SmoothscopeError, match="alpha"):
            weight_path(model, x, alpha=alpha)
    with pytest.raises(SmoothscopeError, match=r"layers_to_perturb.*'nope'"):
        weight_path(model, x, layers_to_perturb=["nope"])
    with pytest.raises(SmoothscopeError, match=r"record.*'nope'"):
        weight_path(model, x, record=["nope"])
    with pytest.raises(SmoothscopeError, match=r"direction: expected parameter names.*'0.w'"):
        weight_path(model, x, direction={"0.w": torch.ones(2, 2)})
    with pytest.raises(SmoothscopeError, match=r"direction\['0.bias'\]: expected shape"):
        weight_path(model, x, direction={"0.bias": torch.ones(3)})
    with pytest.raises(SmoothscopeError, match="nonzero"):
        weight_path(model, x, direction={"0.bias": torch.zeros(2)})
    with pytest.raises(SmoothscopeError, match="loss_fn, targets"):
        weight_path(model, x, direction="gradient")
    with pytest.raises(SmoothscopeError, match="n_directions: expected 1"):
        weight_path(model, x, direction="gradient", n_directions=2, loss_fn=nn.MSELoss(),
                    targets=torch.zeros(3, 2))  # fmt: skip
    with pytest.raises(SmoothscopeError, match="direction: expected None"):
        weight_path(model, x, direction="sideways")


class _Sqrt(nn.Module):
    def forward(self, x):
        return torch.sqrt(x)


def test_nan_along_the_path_names_the_layer():
    model = nn.Sequential(nn.Linear(1, 1), _Sqrt(), nn.Linear(1, 1))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(0.5)
    x = torch.ones(2, 1)
    with pytest.raises(SmoothscopeError, match=r"NaN or inf in layer '1' at t = 0\.333"):
        weight_path(model, x, direction={"0.bias": -torch.ones(1)}, alpha=0.5, points=7)
    with pytest.raises(SmoothscopeError, match="the model output"):
        weight_path(model, x, direction={"0.bias": -torch.ones(1)}, alpha=0.5, points=7,
                    record=[OUTPUT])  # fmt: skip


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
    constant = torch.cat([tones, torch.ones(n, 1)], 1)
    assert path_spectrum(constant).n_constant == 1


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
    with pytest.raises(SmoothscopeError, match="varies along t"):
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
