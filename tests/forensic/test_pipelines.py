"""Storage pipelines on tiny videos: 8-bit, H.264 and MPEG-4 (PyAV), JPEG, resizing, noise."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.forensic.pipelines import (
    apply_pipeline,
    codecs_available,
    encode_video,
    parse_pipeline,
    pipeline_family,
    to_uint8,
)
from smoothscope.forensic.videos import authentic_videos


@pytest.fixture(scope="module")
def videos() -> torch.Tensor:
    """Two smooth 12-frame 16 × 16 videos scaled to [-3, 5] (pipelines keep each one's range)."""
    v = authentic_videos(
        "digits", 2, frames=12, size=16, generator=torch.Generator().manual_seed(0)
    )
    return v * 8 - 3


def _levels(stored: torch.Tensor, original: torch.Tensor) -> np.ndarray:
    """Values of each video in units of 1/255 of its original range."""
    dims = (1, 2, 3, 4)
    lo = original.amin(dim=dims, keepdim=True)
    hi = original.amax(dim=dims, keepdim=True)
    return ((stored - lo) / (hi - lo) * 255).numpy()


def test_float_is_a_copy_and_quant8_has_256_levels_of_each_range(videos):
    same = apply_pipeline("float", videos)
    assert torch.equal(same, videos) and same is not videos
    q = apply_pipeline("quant8", videos)
    levels = _levels(q, videos)
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-9)
    assert float((q - videos).abs().max()) <= float(videos.max() - videos.min()) / 255 / 2 + 1e-12


@pytest.mark.parametrize("name", ["h264:18", "h264:28", "mpeg4:2", "mpeg4:20"])
def test_codecs_round_trip_8bit_frames_deterministically(videos, name):
    if pipeline_family(name) not in codecs_available():
        pytest.skip("PyAV or the encoder is not installed (the 'video' extra)")
    out = apply_pipeline(name, videos)
    assert out.shape == videos.shape and out.dtype == torch.float64
    levels = _levels(out, videos)
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-6)  # decoded 8-bit frames
    error = float((out - videos).abs().mean() / (videos.max() - videos.min()))
    assert 0 < error < 0.1  # lossy, but still the same video
    assert torch.equal(out, apply_pipeline(name, videos))


def test_a_lower_quality_loses_more(videos):
    if "h264" not in codecs_available():
        pytest.skip("PyAV or libx264 is not installed (the 'video' extra)")
    errors = [
        float((apply_pipeline(f"h264:{crf}", videos) - videos).abs().mean()) for crf in (10, 40)
    ]
    assert errors[0] < errors[1]


def test_codecs_without_pyav_name_the_extra(monkeypatch, videos):
    real_import = builtins.__import__

    def no_av(name, *args, **kwargs):
        if name == "av" or name.startswith("av."):
            raise ImportError("no av")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_av)
    assert codecs_available() == ()
    with pytest.raises(SmoothscopeError, match=r"smoothscope\[video\]"):
        apply_pipeline("h264:23", videos)
    with pytest.raises(SmoothscopeError, match=r"smoothscope\[video\]"):
        encode_video(np.zeros((4, 1, 8, 8), np.uint8), "mpeg4", 5)


def test_jpeg_resize_and_noise(videos):
    jpeg = apply_pipeline("jpeg:50", videos)
    assert jpeg.shape == videos.shape and not torch.equal(jpeg, videos)
    small = apply_pipeline("resize:0.5", videos)
    assert small.shape == (2, 12, 1, 8, 8)
    large = apply_pipeline("resize:1.5", videos)
    assert large.shape == (2, 12, 1, 24, 24)
    g = torch.Generator().manual_seed(3)
    noisy = apply_pipeline("noise:20", videos, generator=g)
    again = apply_pipeline("noise:20", videos, generator=torch.Generator().manual_seed(3))
    assert torch.equal(noisy, again)
    levels = _levels(noisy, noisy)  # 8-bit after the noise
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-6)
    with pytest.raises(SmoothscopeError, match="generator"):
        apply_pipeline("noise:20", videos)


def test_to_uint8_maps_each_range_and_a_constant_video_to_zero():
    v = torch.stack([torch.linspace(2, 4, 5), torch.full((5,), 7.0)]).reshape(2, 5, 1, 1, 1)
    array, lo, hi = to_uint8(v.double())
    assert array.dtype == np.uint8
    assert array[0].min() == 0 and array[0].max() == 255 and (array[1] == 0).all()
    assert lo.flatten().tolist() == [2.0, 7.0] and hi.flatten().tolist() == [4.0, 7.0]


@pytest.mark.parametrize(
    "name",
    ["h265:23", "h264", "h264:52", "h264:2.5", "jpeg:0", "quant8:3", "resize:10", "noise:x", 3],
)
def test_bad_pipeline_names_are_refused(name):
    with pytest.raises(SmoothscopeError, match="pipeline"):
        parse_pipeline(name)


def test_bad_videos_are_refused():
    with pytest.raises(SmoothscopeError, match=r"\[V, T, C, H, W\]"):
        apply_pipeline("quant8", torch.zeros(4, 8, 8))
    with pytest.raises(SmoothscopeError, match="channels"):
        apply_pipeline("quant8", torch.zeros(1, 4, 2, 8, 8))
    bad = torch.zeros(1, 4, 1, 8, 8)
    bad[0, 1, 0, 2, 2] = float("nan")
    with pytest.raises(SmoothscopeError, match="finite"):
        apply_pipeline("quant8", bad)
    if "h264" in codecs_available():
        with pytest.raises(SmoothscopeError, match="even"):
            apply_pipeline("h264:23", torch.rand(1, 4, 1, 9, 8, dtype=torch.float64))
