"""Processing networks: frame-to-frame shapes, kinks from ReLU and none from softplus."""

from __future__ import annotations

import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.forensic.processors import (
    FAMILIES,
    build_processor,
    process_videos,
    train_processor,
)
from smoothscope.forensic.videos import authentic_videos
from smoothscope.signals import second_difference


@pytest.fixture(scope="module")
def ramps():
    return authentic_videos(
        "ramps", 2, frames=12, size=16, generator=torch.Generator().manual_seed(0)
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_frame_to_frame_and_seeded(family, ramps):
    a = build_processor(family, seed=3)
    b = build_processor(family, seed=3)
    state = torch.get_rng_state()
    out = process_videos(a, ramps)
    assert out.shape == ramps.shape and out.dtype == torch.float64
    assert torch.equal(out, process_videos(b, ramps))
    assert torch.equal(state, torch.get_rng_state())


def test_relu_output_of_a_linear_ramp_is_piecewise_linear_softplus_output_smooth():
    # a linear ramp I0 + s·E (s from -0.01 to 0.01): some units cross zero along the way. A
    # ReLU+MaxPool network is piecewise linear, so between kinks δ² is exactly 0 (rounding);
    # a softplus+avgpool network is analytic and curves everywhere.
    g = torch.Generator().manual_seed(0)
    base, direction = torch.rand(2, 1, 1, 16, 16, generator=g, dtype=torch.float64)
    s = 0.01 * torch.linspace(-1, 1, 40, dtype=torch.float64).view(1, -1, 1, 1, 1)
    ramp = base + s * (direction - 0.5)
    assert float(second_difference(ramp, dim=1).abs().max()) < 1e-14
    relu = second_difference(
        process_videos(build_processor("ae_relu_maxpool", seed=0), ramp), dim=1
    )
    soft = second_difference(
        process_videos(build_processor("ae_softplus_avgpool", seed=0), ramp), dim=1
    )
    assert float((relu.abs() < 1e-14).double().mean()) > 0.5  # linear pieces
    assert float((relu.abs() > 1e-10).double().mean()) > 0.1  # and kinks
    assert float((soft.abs() < 1e-14).double().mean()) < 0.05  # curvature everywhere
    assert float(soft.abs().max()) < 1e-3 * float(relu.abs().max())


def test_training_lowers_the_loss():
    frames = (
        authentic_videos("digits", 6, frames=8, size=16, generator=torch.Generator().manual_seed(1))
        .flatten(0, 1)
        .float()
    )
    model = build_processor("upsampler", seed=0)
    with torch.no_grad():
        before = float(torch.nn.functional.mse_loss(model(frames[32:]), frames[32:]))
    summary = train_processor("upsampler", model, frames[:32], frames[32:], epochs=3, seed=0)
    assert summary["best_val_loss"] < before


def test_unknown_family():
    with pytest.raises(SmoothscopeError, match="family"):
        build_processor("vit", seed=0)
