"""Propagation of SMP through layers: eq. 5 against an explicit oracle and against real kinks,
window maxima, the weight–SMP correlation, fitted chains, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError
from smoothscope.analysis import propagation as P
from smoothscope.analysis.channels import LinearChannel
from smoothscope.probe import smp_maps
from smoothscope.signals import nonsmoothness_maps


def _eq5_oracle(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """Eq. 5 by explicit sums over the receptive field (zero padding)."""
    w = conv.weight.detach().double().abs()
    n, c_in, h, wd = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
    )
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    per_group_in, per_group_out = c_in // conv.groups, conv.out_channels // conv.groups
    out = torch.zeros(n, conv.out_channels, h_out, w_out, dtype=torch.float64)
    for o in range(conv.out_channels):
        g = o // per_group_out
        for m in range(h_out):
            for q in range(w_out):
                total = torch.zeros(n, dtype=torch.float64)
                for c in range(per_group_in):
                    for i in range(kh):
                        for j in range(kw):
                            u, v = m * sh - ph + i * dh, q * sw - pw + j * dw
                            if 0 <= u < h and 0 <= v < wd:
                                total += w[o, c, i, j] * x[:, g * per_group_in + c, u, v]
                out[:, o, m, q] = total
    return out


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stride": 1, "padding": 1},
        {"stride": 2, "padding": 1},
        {"stride": 1, "padding": 2, "dilation": 2},
        {"stride": 2, "padding": 0, "groups": 2},
    ],
)
def test_eq5_matches_the_explicit_sum(kwargs):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, **kwargs)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 4, 7, 7, generator=g, dtype=torch.float64)
    x[x < 0.8] = 0  # sparse events
    torch.testing.assert_close(P.linear_smp_prediction(conv, x), _eq5_oracle(conv, x))
    # eq. 6: every weight replaced by w0 = mean |W|
    pred = P.linear_smp_prediction(conv, x, weights="w0")
    ones = nn.Conv2d(4, 6, 3, bias=False, **kwargs).double()
    with torch.no_grad():
        ones.weight.fill_(P.expected_weight(conv))
    torch.testing.assert_close(pred, ones(x).detach())


def test_eq5_is_exact_for_rare_kinks_through_a_real_convolution():
    """Kinks at distinct times add up through a linear layer: real output SMP = eq. 5."""
    g = torch.Generator().manual_seed(0)
    t_count, c, h, w = 400, 1, 6, 6
    conv = nn.Conv2d(c, 2, 3, padding=1).double()
    with torch.no_grad():
        conv.weight.copy_(
            (0.5 + 0.5 * torch.rand(conv.weight.shape, generator=g))
            * torch.sign(torch.randn(conv.weight.shape, generator=g))
        )
    t = torch.arange(t_count, dtype=torch.float64)[:, None, None, None] * 0.01
    times = torch.randperm(t_count - 20, generator=g)[: c * h * w].reshape(1, c, h, w) + 10
    slopes = 0.5 + 0.5 * torch.rand(1, c, h, w, generator=g, dtype=torch.float64)
    video = slopes * torch.relu(t - times * 0.01) + 0.3 * t  # one kink per pixel, all distinct
    with torch.no_grad():
        out = conv(video)
    smp_in = nonsmoothness_maps(video).smp
    smp_out = nonsmoothness_maps(out).smp
    assert (smp_in > 0).all()
    predicted = P.linear_smp_prediction(conv, smp_in[None])[0]
    torch.testing.assert_close(smp_out, predicted, rtol=1e-6, atol=1e-12)


def test_transposed_convolution_and_avg_pool_are_linear_channels():
    torch.manual_seed(0)
    deconv = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    pred = P.linear_smp_prediction(deconv, x)
    assert pred.shape == (1, 2, 8, 8)
    # one event in one input node reaches exactly the nodes the kernel covers, scaled by |W|
    one = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    one[0, 1, 2, 2] = 1.0
    spread = P.linear_smp_prediction(deconv, one)
    assert torch.isclose(spread.sum(), deconv.weight.detach().double()[1].abs().sum())
    pool = nn.AvgPool2d(2)
    torch.testing.assert_close(P.linear_smp_prediction(pool, x), pool(x))


def test_window_max_and_kinds():
    pool = nn.MaxPool2d(2, return_indices=True)
    x = torch.arange(16, dtype=torch.float64).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(P.window_max(pool, x)[0, 0].numpy(), [[5, 7], [13, 15]])
    assert pool.return_indices  # the caller's module is untouched
    assert P.layer_kind(nn.ReLU()) == "activation" and P.layer_kind(nn.MaxPool2d(2)) == "maxpool"
    assert P.layer_kind(nn.ConvTranspose2d(1, 1, 3)) == "linear"
    with pytest.raises(SmoothscopeError, match="BatchNorm2d"):
        P.layer_kind(nn.BatchNorm2d(3))


def test_weight_peak_correlation_matches_brute_force():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 2, 5, 5, generator=g, dtype=torch.float64)
    x[x < 0.6] = 0
    w = conv.weight.detach().double().abs()
    pairs = []
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for n in range(2):
        for o in range(3):
            for m in range(5):
                for q in range(5):
                    for c in range(2):
                        for i in range(3):
                            for j in range(3):
                                value = xp[n, c, m + i, q + j]
                                if value > 0:
                                    pairs.append((w[o, c, i, j].item(), value.item()))
    expected = np.corrcoef(np.array(pairs).T)[0, 1]
    assert P.weight_peak_correlation(conv, x) == pytest.approx(expected, rel=1e-9)


@pytest.fixture(scope="module")
def small_chain():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 2, 3, padding=1)
    )
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(6, 1, 1, 8, 8, generator=g, dtype=torch.float64)
    dx = torch.randn(6, 1, 1, 8, 8, generator=g, dtype=torch.float64)
    videos = x0 + torch.linspace(0, 1, 40, dtype=torch.float64)[None, :, None, None, None] * dx
    layers = ["0", "1", "2", "3"]
    return model, layers, smp_maps(model, videos, layers)


def test_fit_and_propagate_a_chain(small_chain):
    model, layers, maps = small_chain
    P.check_sequential(maps, layers)
    for kind in P.CHANNEL_KINDS:
        channels = P.fit_channels([(model, maps)], layers, kind=kind, maxpool_threshold=None)
        if kind == "parametric":
            # the linear input video has no events (eq. 5 alone); conv "3" is calibrated eq. 5
            assert channels["0"] is None and isinstance(channels["3"], LinearChannel)
            assert channels["3"].n == maps["3"]["output"].smp.numel()
        out = P.propagate(model, layers, maps["0"]["input"].smp, channels, seed=0)
        assert out["3"].shape == maps["3"]["output"].smp.shape
        assert (out["3"] >= 0).all()
        again = P.propagate(model, layers, maps["0"]["input"].smp, channels, seed=0)
        assert torch.equal(out["3"], again["3"])


def test_discounting_factor_is_one_without_coincidence_and_drops_with_it():
    conv = nn.Conv2d(2, 1, 1, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 1.0]).reshape(1, 2, 1, 1))
        conv.bias.fill_(5.0)  # a bias adds no event
    t = torch.arange(20, dtype=torch.float64)
    kink = lambda t0, s: s * torch.relu(t - t0)  # noqa: E731  one event of sign s at t0
    series = torch.zeros(1, 20, 2, 1, 1, dtype=torch.float64)
    series[0, :, 0, 0, 0], series[0, :, 1, 0, 0] = kink(5, 1.0), kink(12, -1.0)
    assert P.discounting_factor(conv, series) == pytest.approx(1.0, abs=1e-12)
    # the same two events at the same frame with opposite signs cancel: γ = 0
    series[0, :, 1, 0, 0] = kink(5, -1.0)
    assert P.discounting_factor(conv, series) == pytest.approx(0.0, abs=1e-12)
    # same sign, same frame: nothing cancels
    series[0, :, 1, 0, 0] = kink(5, 2.0)
    assert P.discounting_factor(conv, series) == pytest.approx(1.0, abs=1e-12)
    # aligning distinct opposite-sign events (the control) makes them cancel
    series[0, :, 1, 0, 0] = kink(12, -1.0)
    assert P.discounting_factor(conv, series, aligned=True) == pytest.approx(0.0, abs=1e-12)
    # random series: always in [0, 1]; no events: NaN
    g = torch.Generator().manual_seed(0)
    t0 = torch.randint(2, 28, (3, 1, 4, 6, 6), generator=g)
    sign = torch.randn(3, 1, 4, 6, 6, generator=g, dtype=torch.float64)
    rough = sign * torch.relu(torch.arange(30.0, dtype=torch.float64)[:, None, None, None] - t0)
    wide = nn.Conv2d(4, 3, 3)
    gamma = P.discounting_factor(wide, rough)
    aligned = P.discounting_factor(wide, rough, aligned=True)
    assert 0.0 < aligned < gamma < 1.0
    assert math.isnan(P.discounting_factor(conv, torch.ones(1, 10, 2, 1, 1)))
    # streamed in node and frame chunks: the same sums as in one piece
    for flag in (False, True):
        whole = P.discounting_sums(wide, rough, aligned=flag, chunk_size=10**6, frame_chunk=10**6)
        parts = P.discounting_sums(wide, rough, aligned=flag, chunk_size=7, frame_chunk=4)
        np.testing.assert_allclose(parts, whole, rtol=1e-12)


def test_errors(small_chain):
    model, layers, maps = small_chain
    with pytest.raises(SmoothscopeError, match="sequential chain"):
        P.check_sequential(maps, ["0", "2"])
    with pytest.raises(SmoothscopeError, match="missing"):
        P.fit_channels([(model, maps)], ["9"])
    with pytest.raises(SmoothscopeError, match="kind"):
        P.fit_channels([(model, maps)], layers, kind="magic")
    with pytest.raises(SmoothscopeError, match="non-negative"):
        P.linear_smp_prediction(nn.Conv2d(1, 1, 3), -torch.ones(1, 1, 4, 4))
    with pytest.raises(SmoothscopeError, match="does not fit"):
        P.linear_smp_prediction(nn.Conv2d(3, 1, 3), torch.ones(1, 2, 4, 4))
    with pytest.raises(SmoothscopeError, match="fitted channel"):
        P.propagate(model, layers, maps["0"]["input"].smp, {}, seed=0)
    with pytest.raises(SmoothscopeError, match="peaks"):
        P.weight_peak_correlation(nn.Conv2d(1, 1, 3), torch.zeros(1, 1, 4, 4))
