"""Autoencoders of paper A: the two setups, layer names, shapes, seeding, registry errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError, available_models, build


@pytest.mark.parametrize(
    ("setup", "act", "pool"),
    [("relu_maxpool", nn.ReLU, nn.MaxPool2d), ("softplus_avgpool", nn.Softplus, nn.AvgPool2d)],
)
def test_setups_differ_only_in_activation_and_pooling(setup, act, pool):
    model = build("autoencoder", setup=setup, seed=0)
    kinds = {type(m) for m in model.modules()}
    assert act in kinds and pool in kinds
    other = ({nn.ReLU, nn.Softplus} - {act}) | ({nn.MaxPool2d, nn.AvgPool2d} - {pool})
    assert not kinds & other
    deconvs = [n for n, m in model.named_modules() if isinstance(m, nn.ConvTranspose2d)]
    assert deconvs == ["decoder.deconv1", "decoder.deconv2", "decoder.deconv3"]  # App. B


def test_same_architecture_and_parameter_count():
    a = build("autoencoder", setup="relu_maxpool", seed=0)
    b = build("autoencoder", setup="softplus_avgpool", seed=0)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    x = torch.rand(3, 1, 28, 28)
    assert a(x).shape == x.shape == b(x).shape
    assert a.encoder(x).shape == (3, 8, 7, 7)  # a real bottleneck: 392 numbers for 784 pixels


def test_seed_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build("autoencoder", setup="relu_maxpool", seed=7)
    after = torch.rand(1)
    b = build("autoencoder", setup="relu_maxpool", seed=7)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_relu_maxpool_output_is_piecewise_linear_softplus_is_smooth():
    """Along a line in input space, Setup 1 has kinks and Setup 2 has none."""
    from smoothscope.signals import nonsmoothness_maps

    g = torch.Generator().manual_seed(0)
    x0, dx = torch.rand(1, 1, 28, 28, generator=g), torch.randn(1, 1, 28, 28, generator=g)
    t = torch.linspace(0, 1, 200, dtype=torch.float64)[:, None, None, None]
    frames = x0.double() + t * dx.double()
    peaks = {}
    for setup in ("relu_maxpool", "softplus_avgpool"):
        model = build("autoencoder", setup=setup, seed=0).double()
        with torch.no_grad():
            peaks[setup] = int(nonsmoothness_maps(model(frames)).n_peaks.sum())
    assert peaks["relu_maxpool"] > 20 * max(1, peaks["softplus_avgpool"])


def test_registry_and_bad_arguments():
    assert "autoencoder" in available_models()
    with pytest.raises(SmoothscopeError, match="model: expected one of"):
        build("resnet-9000")
    with pytest.raises(SmoothscopeError, match="setup"):
        build("autoencoder", setup="tanh")
    with pytest.raises(SmoothscopeError, match="activation"):
        build("autoencoder", activation="gelu")
    with pytest.raises(SmoothscopeError, match="pooling"):
        build("autoencoder", pooling="lp")
    with pytest.raises(SmoothscopeError, match="divisible by 4"):
        build("autoencoder")(torch.zeros(1, 1, 30, 30))
    with pytest.raises(SmoothscopeError, match=r"\[B, C, H, W\]"):
        build("autoencoder")(torch.zeros(1, 28, 28))
