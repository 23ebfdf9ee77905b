"""Paper B §4's simple CNNs: shapes, padding, the homogeneous-filter solution, errors."""

from __future__ import annotations

import pytest
import torch

from smoothscope import SmoothscopeError, build


def _homogeneous(model):
    with torch.no_grad():
        for name in model.conv_layers():
            conv = dict(model.named_modules())[name]
            conv.weight.fill_(1.0 / conv.weight[0, 0].numel())
    return model


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        ({"depth": 10, "filter_size": 3, "stride": 1}, (4, 1, 32)),
        ({"depth": 7, "filter_size": 2, "stride": 2}, (4, 1, 27)),
        ({"depth": 4, "filter_size": 3, "stride": 1, "dim": 2}, (4, 1, 16, 16)),
        ({"depth": 3, "filter_size": 2, "stride": 2, "dim": 2, "padding": "zeros"}, (4, 1, 9, 9)),
    ],
)
def test_shapes_and_layers(kwargs, shape):
    model = build("simple-cnn", width=5, seed=0, **kwargs)
    assert model(torch.rand(shape)).shape == (4,)
    names = dict(model.named_modules())
    assert all(n in names for n in model.representation_layers() + model.conv_layers())
    assert len(model.conv_layers()) == kwargs["depth"]


def test_stride_one_keeps_the_length_and_circular_padding_is_shift_equivariant():
    model = build("simple-cnn", depth=3, width=4, seed=0)
    x = torch.rand(2, 1, 20)
    h = model.features(x)
    assert h.shape == (2, 4, 20)
    torch.testing.assert_close(model.features(torch.roll(x, 5, -1)), torch.roll(h, 5, -1))


def test_homogeneous_relu_net_is_linear_on_non_negative_inputs():
    """Paper B §4.1: positive filters, no bias, non-negative inputs: ReLU is irrelevant."""
    model = _homogeneous(build("simple-cnn", depth=5, width=3, seed=0)).double()
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 1, 24, generator=g, dtype=torch.float64)
    b = torch.rand(3, 1, 24, generator=g, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model.features(a + b), model.features(a) + model.features(b))
        torch.testing.assert_close(model.features(2.5 * a), 2.5 * model.features(a))


def test_biases_are_standard_normal_as_the_peers():
    """convolutional_nets.py of scale_detection_1d: ``b = nn.Parameter(torch.randn(h))``."""
    model = build("simple-cnn", depth=4, width=500, bias=True, seed=0)
    biases = torch.cat([model.features[2 * k].conv.bias for k in range(4)]).detach()
    assert abs(float(biases.mean())) < 0.1 and abs(float(biases.std()) - 1.0) < 0.05
    assert all(m.conv.bias is None for m in build("simple-cnn", depth=2).features[::2])


def test_bad_arguments():
    with pytest.raises(SmoothscopeError, match="stride"):
        build("simple-cnn", filter_size=3, stride=2)
    with pytest.raises(SmoothscopeError, match="activation"):
        build("simple-cnn", activation="gelu")
    with pytest.raises(SmoothscopeError, match="padding"):
        build("simple-cnn", padding="reflect")
    with pytest.raises(SmoothscopeError, match="dim"):
        build("simple-cnn", dim=3)
    with pytest.raises(SmoothscopeError, match="simple-cnn"):
        build("simple-cnn", colour=1)
    with pytest.raises(SmoothscopeError, match=r"\[B, C, L\]"):
        build("simple-cnn", width=2)(torch.zeros(2, 1, 8, 8))
