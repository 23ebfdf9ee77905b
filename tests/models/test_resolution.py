"""Resolution-independent networks (paper D): one continuous model discretized at any scale."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from smoothscope import SmoothscopeError, build
from smoothscope.models.resolution import (
    ContinuousConv2d,
    DeepImagePrior,
    ResolutionAvgPool,
    ResolutionMaxPool,
    ResolutionUNet,
    ResolutionUpsample,
    at_scale,
    l2_penalty,
    set_scale,
)


def _bump(n0: int, s: int, sigma: float = 1.5) -> torch.Tensor:
    """A Gaussian bump on [0, n0]² sampled at the pixel centres of scale s: [1, 1, n, n]."""
    c = (torch.arange(n0 * s, dtype=torch.float64) + 0.5) / s
    r2 = (c[:, None] - n0 / 2) ** 2 + (c[None, :] - n0 / 2 + 0.5) ** 2
    return torch.exp(-r2 / (2 * sigma**2))[None, None]


def test_scale_one_is_an_ordinary_convolution():
    torch.manual_seed(0)
    conv = ContinuousConv2d(2, 3, 5).double()
    x = torch.randn(2, 2, 11, 11, dtype=torch.float64)
    ref = F.conv2d(x, conv.weight, conv.bias, padding=2)
    assert torch.allclose(conv(x), ref, atol=1e-12)


def test_discrete_kernel_is_odd_centred_and_interpolates_the_nodes():
    torch.manual_seed(0)
    conv = ContinuousConv2d(1, 1, 3).double()
    for s in (1, 2, 3, 4):
        k = conv.discrete_kernel(s)
        assert k.shape[-1] == 4 * s - 1  # (k + 1)·s − 1
        # node y_j = (j − 1) sits at offset index (2s − 1) + (j − 1)·s
        idx = [2 * s - 1 + (j - 1) * s for j in range(3)]
        assert torch.allclose(k[0, 0][idx][:, idx], conv.weight[0, 0])
    assert torch.equal(conv.discrete_kernel(1), conv.weight)


def test_continuous_conv_converges_at_second_order():
    # Trapezoidal rule with the kernel's kinks on grid lines: the pooled outputs at s and 2s
    # differ by O(1/s²), so successive differences shrink by 4 (observed order 2.16, 2.04, 2.01).
    torch.manual_seed(0)
    conv = ContinuousConv2d(1, 2, 3).double()
    n0, pooled = 16, {}
    with torch.no_grad():
        for s in (1, 2, 4, 8):
            set_scale(conv, s)
            pooled[s] = F.avg_pool2d(conv(_bump(n0, s)), s)  # base-cell averages
    diffs = [float((pooled[s] - pooled[2 * s]).abs().max()) for s in (1, 2, 4)]
    orders = [math.log2(diffs[i] / diffs[i + 1]) for i in range(2)]
    assert all(1.8 < p < 2.3 for p in orders), orders
    assert diffs[-1] < 3e-3


def test_constant_is_integrated_exactly_at_every_scale():
    torch.manual_seed(0)
    conv = ContinuousConv2d(1, 1, 3, bias=False).double()
    for s in (1, 2, 3):
        with at_scale(conv, s):
            out = conv(torch.ones(1, 1, 12 * s, 12 * s, dtype=torch.float64))
        centre = out[0, 0, 6 * s, 6 * s]  # ∫ w = Σ W (the tent has unit integral)
        assert torch.allclose(centre, conv.weight.sum())
    assert conv.scale == 1  # at_scale restored it


def test_l2_penalty_is_scale_independent_and_equals_the_kernel_integral():
    torch.manual_seed(0)
    conv = ContinuousConv2d(2, 3, 3).double()
    p1 = l2_penalty(set_scale(conv, 1))
    p2 = l2_penalty(set_scale(conv, 2))
    assert torch.equal(p1, p2)
    # Composite Simpson on the half-integer grid (s = 2) is exact for the piecewise
    # biquadratic w².
    # Composite Simpson on the half-integer grid (s = 2) is exact for the piecewise-biquadratic w².
    # Samples at −3/2 .. 3/2; the zero samples at ±2 close the four panels [j, j + 1].
    k = conv.discrete_kernel(2)
    wt = torch.tensor([4.0, 2.0, 4.0, 2.0, 4.0, 2.0, 4.0], dtype=torch.float64) / 6  # h/3, h = ½
    simpson = torch.einsum("oimn,m,n->", k**2, wt, wt)
    assert torch.allclose(p1 - (conv.bias**2).sum(), simpson, rtol=1e-12)
    # The trapezoidal quadrature at a fine scale converges to the same value.
    fine = (conv.discrete_kernel(32) ** 2).sum() / 32**2
    assert torch.allclose(fine, simpson, rtol=1e-3)
    assert p1.requires_grad


def test_l2_penalty_of_a_pointwise_conv_and_other_layers_is_the_sum_of_squares():
    model = nn.Sequential(ContinuousConv2d(2, 3, 1), nn.BatchNorm2d(3))
    expected = sum((p**2).sum() for p in model.parameters())
    assert torch.allclose(l2_penalty(model), expected)


def test_pooling_and_upsampling_geometry():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(ResolutionAvgPool()(x), F.avg_pool2d(x, 2))
    assert torch.equal(ResolutionMaxPool()(x), F.max_pool2d(x, 2))
    # At scale s the window is a physical 2 × 2 cell centred at the coarse pixel centre.
    pool = set_scale(ResolutionAvgPool(), 2)
    y = pool(torch.ones(1, 1, 8, 8))
    assert y.shape == (1, 1, 4, 4) and torch.allclose(y, torch.ones_like(y))
    z = torch.zeros(1, 1, 8, 8)
    z[0, 0, 3, 3] = 1.0  # pixel 3 lies in the 4-pixel windows of coarse pixels 1 and 2
    out = set_scale(ResolutionMaxPool(), 2)(z)[0, 0]
    assert out[1:3, 1:3].eq(1).all() and out.sum() == 4
    for mode in ("nearest", "bilinear"):
        up = set_scale(ResolutionUpsample(mode), 3)
        assert up(torch.rand(1, 2, 6, 6)).shape == (1, 2, 12, 12)


@pytest.mark.parametrize(
    ("activation", "pooling", "upsampling", "norm"),
    [("relu", "max", "nearest", None), ("softplus", "avg", "bilinear", "batch")],
)
def test_unet_and_dip_shapes_at_several_scales(activation, pooling, upsampling, norm):
    kw = dict(activation=activation, pooling=pooling, upsampling=upsampling, norm=norm)
    unet = build("resolution-unet", seed=0, width=4, depth=2, **kw)
    dip = build("resolution-dip", seed=0, width=4, depth=2, n0=12, code_ch=3, **kw)
    assert isinstance(unet, ResolutionUNet) and isinstance(dip, DeepImagePrior)
    for s in (1, 2, 3):
        with at_scale(unet, s), at_scale(dip, s):
            assert unet(torch.rand(2, 1, 12 * s, 12 * s)).shape == (2, 1, 12 * s, 12 * s)
            assert dip().shape == (1, 1, 12 * s, 12 * s)
            assert dip.scale == s


def test_dip_code_is_one_continuous_function():
    dip = DeepImagePrior(width=2, depth=1, n0=6, code_ch=2, code_seed=3).double()
    z = dip.code_at_scale(1)
    for s in (2, 3):
        # Bilinear interpolant of the base-centre nodes (constant beyond the outer centres),
        # evaluated at the physical pixel centres of scale s.
        t = ((torch.arange(6 * s, dtype=torch.float64) + 0.5) / s - 0.5).clamp(0, 5)
        a = (1 - (t[:, None] - torch.arange(6.0, dtype=torch.float64)).abs()).clamp_min(0)
        expected = torch.einsum("im,bcmn,jn->bcij", a, z, a)
        assert torch.allclose(dip.code_at_scale(s), expected, atol=1e-12)
    same = DeepImagePrior(width=2, depth=1, n0=6, code_ch=2, code_seed=3)
    assert torch.equal(same.code.double(), z)


def test_constant_input_gives_the_same_constant_in_the_interior_at_every_scale():
    # Convolutions integrate constants exactly (Σ tent samples / s = 1), pooling and
    # upsampling keep them, so away from the zero-padding border the output is one constant
    # that does not depend on s.
    unet = build("resolution-unet", seed=0, width=3, depth=1, pooling="avg").double()
    values = []
    with torch.no_grad():
        for s in (1, 2, 3):
            with at_scale(unet, s):
                out = unet(torch.full((1, 1, 48 * s, 48 * s), 0.7, dtype=torch.float64))
            inner = out[0, 0, 20 * s : 28 * s, 20 * s : 28 * s]
            assert torch.allclose(inner, inner[0, 0].expand_as(inner), atol=1e-12)
            values.append(inner[0, 0])
    assert torch.allclose(torch.stack(values), values[0].expand(3), atol=1e-12)


def test_errors():
    conv = ContinuousConv2d(1, 1, 3)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(SmoothscopeError, match="scale"):
            set_scale(conv, bad)
    with pytest.raises(SmoothscopeError, match="kernel_size"):
        ContinuousConv2d(1, 1, 4)
    with pytest.raises(SmoothscopeError, match="larger than the image"):
        set_scale(conv, 2)(torch.rand(1, 1, 5, 5))
    with pytest.raises(SmoothscopeError, match="channels"):
        set_scale(conv, 1)(torch.rand(1, 2, 8, 8))
    unet = ResolutionUNet(width=2, depth=2, n0=12)
    with pytest.raises(SmoothscopeError, match="n0·s"):
        set_scale(unet, 2)(torch.rand(1, 1, 12, 12))
    with pytest.raises(SmoothscopeError, match="divisible"):
        ResolutionUNet(width=2, depth=2)(torch.rand(1, 1, 14, 14))
    with pytest.raises(SmoothscopeError, match="kernel_size"):
        ResolutionUNet(width=2, depth=2, n0=8)
    for kw, name in (
        ({"activation": "sigmoid"}, "activation"),
        ({"pooling": "min"}, "pooling"),
        ({"upsampling": "cubic"}, "upsampling"),
        ({"norm": "layer"}, "norm"),
    ):
        with pytest.raises(SmoothscopeError, match=name):
            ResolutionUNet(**kw)


@pytest.mark.parametrize(("k", "s"), [(3, 2), (3, 3), (5, 2), (3, 5)])
def test_factored_convolution_equals_the_dense_discrete_kernel_borders_included(k, s):
    torch.manual_seed(k * s)
    conv = ContinuousConv2d(2, 3, k).double()
    x = torch.randn(2, 2, 7 * s, 6 * s, dtype=torch.float64)
    kern = conv.discrete_kernel(s)
    dense = F.conv2d(x, kern, padding=kern.shape[-1] // 2) / s**2 + conv.bias.view(1, -1, 1, 1)
    with at_scale(conv, s):
        assert torch.allclose(conv(x), dense, atol=1e-12)


def test_fixed_pixel_kernels_are_the_ordinary_cnn_with_the_same_weights():
    torch.manual_seed(0)
    conv = ContinuousConv2d(2, 3, 3).double()
    x = torch.randn(1, 2, 24, 24, dtype=torch.float64)
    with at_scale(conv, 3, pixel_kernels=True):
        assert torch.allclose(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1))
        assert conv.grid_scale == 1 and conv.scale == 3
    assert conv.pixel_kernels is False and conv.scale == 1  # restored
    unet = build("resolution-unet", seed=0, width=3, depth=2).double()
    big = torch.rand(1, 1, 48, 48, dtype=torch.float64)
    with torch.no_grad():
        plain = unet(big)  # scale 1 on a 48-pixel image: the ordinary U-net
        with at_scale(unet, 2, pixel_kernels=True):
            assert torch.equal(unet(big), plain)
        small = torch.rand(1, 1, 24, 24, dtype=torch.float64)
        with at_scale(unet, 1, pixel_kernels=True):  # identical to the continuous net at s = 1
            assert torch.equal(unet(small), set_scale(unet, 1)(small))
    dip = DeepImagePrior(width=2, depth=1, n0=6, code_ch=2, code_interpolation="nearest")
    z = dip.code_at_scale(1)
    assert torch.equal(dip.code_at_scale(3), z.repeat_interleave(3, -2).repeat_interleave(3, -1))
    with pytest.raises(SmoothscopeError, match="code_interpolation"):
        DeepImagePrior(n0=8, code_interpolation="cubic")
    with pytest.raises(SmoothscopeError, match="pixel_kernels"):
        set_scale(unet, 2, pixel_kernels="yes")


def test_jumps_of_any_network_vanish_as_s_grows_unless_the_kernels_are_fixed_pixels():
    # Paper D: for ANY weights, the resolution-independent U-net maps a step to a continuous
    # image, so its largest jump falls like 1/s; the same weights as an ordinary CNN keep it.
    unet = build("resolution-unet", seed=1, width=4, depth=2).double()
    jumps = {}
    with torch.no_grad():
        for s in (1, 2, 4, 8):
            x = torch.zeros(1, 1, 16 * s, 16 * s, dtype=torch.float64)
            x[..., 8 * s :] = 1.0  # a vertical edge at x = 8
            for pixel in (False, True):
                with at_scale(unet, s, pixel_kernels=pixel):
                    row = unet(x)[0, 0, 8 * s, 5 * s : 11 * s]
                jumps[s, pixel] = float(row.diff().abs().max())
    for s in (2, 4, 8):
        assert jumps[s, False] < 1.5 / s * jumps[1, False]
        assert jumps[s, True] == pytest.approx(jumps[1, True], rel=0.2)


def test_generator_is_one_continuous_model_and_smooths_its_coarse_jumps():
    from smoothscope.models.resolution_nets import ResolutionGenerator

    gen = build(
        "resolution-generator", code_dim=3, width=4, depth=2, n0=16, activation="lrelu", seed=0
    )
    assert isinstance(gen, ResolutionGenerator)
    z = torch.randn(2, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        base = gen(z)
        assert base.shape == (2, 1, 16, 16)
        with at_scale(gen, 1, pixel_kernels=True):
            assert torch.equal(gen(z), base)  # identical to the ordinary CNN at s = 1
        jumps = {}
        for s in (1, 4):
            with at_scale(gen, s):
                out, feats = gen(z), gen.features(z)
            assert out.shape == (2, 1, 16 * s, 16 * s)
            jumps[s] = float(out.diff(dim=-1).abs().max())
            # the coarse map is the same function at every s: its cell averages do not change
            assert torch.allclose(F.avg_pool2d(feats, s), gen.features(z), atol=1e-6)
    # nearest-sampled coarse features jump at every s; the continuous convolutions smooth them
    assert jumps[4] < 0.5 * jumps[1]
    with pytest.raises(SmoothscopeError, match="code"):
        gen(torch.zeros(2, 4))
    with pytest.raises(SmoothscopeError, match="feature_interpolation"):
        ResolutionGenerator(feature_interpolation="cubic")
