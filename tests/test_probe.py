"""Probe: recorded activations, streamed SMP maps equal to the direct computation, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError, build
from smoothscope.probe import leaf_layers, record, smp_maps
from smoothscope.signals import nonsmoothness_maps


@pytest.fixture(scope="module")
def model_and_videos():
    model = build("autoencoder", setup="relu_maxpool", seed=0)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 1, 1, 28, 28, generator=g, dtype=torch.float64)
    dx = torch.randn(3, 1, 1, 28, 28, generator=g, dtype=torch.float64)
    t = torch.linspace(0, 1, 20, dtype=torch.float64)[None, :, None, None, None]
    return model, x0 + t * dx  # [3, 20, 1, 28, 28]: three straight lines in input space


def test_leaf_layers_in_execution_order(model_and_videos):
    model, _ = model_and_videos
    names = leaf_layers(model)
    assert names[:3] == ["encoder.conv1", "encoder.act1", "encoder.pool1"]
    assert names[-1] == "decoder.deconv3" and len(names) == 13


def test_record_inputs_and_outputs_chain_in_a_sequential_model(model_and_videos):
    model, videos = model_and_videos
    rec = record(
        model, videos[0], ["encoder.conv2", "encoder.act2"], sides=("input", "output"), batch_size=7
    )
    assert rec["encoder.conv2"]["output"].shape == (20, 32, 14, 14)
    torch.testing.assert_close(rec["encoder.act2"]["input"], rec["encoder.conv2"]["output"])
    torch.testing.assert_close(rec["encoder.act2"]["output"], rec["encoder.act2"]["input"].relu())
    # the caller's model is untouched (still float32)
    assert next(model.parameters()).dtype == torch.float32


def test_streamed_maps_equal_the_direct_computation_whatever_the_budget(model_and_videos):
    model, videos = model_and_videos
    layers = ["encoder.act1", "encoder.pool2", "decoder.deconv3"]
    big = smp_maps(model, videos, layers, max_bytes=1 << 30)
    small = smp_maps(model, videos, layers, max_bytes=20 * 3 * 8 * 100, frame_batch=9)
    for layer in layers:
        direct = record(model, videos.flatten(0, 1), [layer], sides=("input", "output"))[layer]
        for side in ("input", "output"):
            series = direct[side].reshape(3, 20, *direct[side].shape[1:]).transpose(0, 1)
            expected = nonsmoothness_maps(series)
            for a, b, c in zip(big[layer][side], small[layer][side], expected, strict=True):
                assert a.shape[0] == 3
                torch.testing.assert_close(a, c)
                torch.testing.assert_close(b, c)
    # ReLU layers create events on a smooth (linear) input path
    assert big["encoder.act1"]["output"].n_peaks.sum() > 0
    assert big["encoder.act1"]["input"].n_peaks.sum() == 0  # conv1 of a line is a line


def test_single_video_drops_the_batch_axis(model_and_videos):
    model, videos = model_and_videos
    maps = smp_maps(model, videos[0], ["encoder.pool1"], sides="output")
    assert maps["encoder.pool1"]["output"].smp.shape == (16, 14, 14)


def test_errors(model_and_videos):
    model, videos = model_and_videos
    with pytest.raises(SmoothscopeError, match="module names of the model"):
        smp_maps(model, videos, ["encoder.conv9"])
    with pytest.raises(SmoothscopeError, match="sides"):
        smp_maps(model, videos, ["encoder.conv1"], sides=("middle",))
    with pytest.raises(SmoothscopeError, match="at least 3 frames"):
        smp_maps(model, videos[:, :2], ["encoder.conv1"])
    with pytest.raises(SmoothscopeError, match=r"\[V, T, C, H, W\]"):
        smp_maps(model, videos[0, 0, 0], ["encoder.conv1"])
    shared = nn.Linear(4, 4)
    twice = nn.Sequential(shared, nn.ReLU(), shared)
    with pytest.raises(SmoothscopeError, match="one call per forward pass"):
        record(twice, torch.zeros(2, 4), ["0"])
