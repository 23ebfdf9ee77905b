"""The streamed feature extractor: closed forms, streaming = one shot, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.forensic.features import FEATURE_NAMES, batch_features, video_features

T, H, W = 40, 6, 5


def ramp_video(kink: bool) -> torch.Tensor:
    """Each pixel a line in t; with ``kink`` each passes through a ReLU at its own sample time
    (frames 5 .. 34), so that exactly one second difference per pixel is nonzero."""
    t = torch.arange(T, dtype=torch.float64)[:, None, None] / 8
    offsets = (torch.arange(H * W, dtype=torch.float64) + 5).reshape(1, H, W) / 8
    line = t - offsets
    return torch.relu(line) if kink else line


def test_a_linear_video_has_no_nonsmoothness_and_a_relu_one_a_kink_per_pixel():
    smooth = video_features(ramp_video(False)).as_dict()
    assert smooth["peak_share"] == 0.0 and smooth["peak_rate"] == 0.0
    assert smooth["log_d2_over_d1"] < -10  # |δ²| is rounding noise
    kinked = video_features(ramp_video(True))
    values = kinked.as_dict()
    # one kink per pixel: exactly one nonzero second difference per series, a peak
    assert values["peak_share"] == 1.0
    assert values["peak_rate"] == pytest.approx(1.0 / (T - 2))
    assert values["smp_fraction"] == pytest.approx(1.0)
    assert values["pixel_peak_q50"] == pytest.approx(1.0)
    assert values["peak_clustering"] == 1.0
    assert np.array_equal(kinked.peak_map, np.ones((H, W)))
    assert kinked.frames == T


def test_features_are_scale_invariant_but_for_the_paper_level():
    video = (
        ramp_video(True)
        + 0.3 * torch.sin(torch.linspace(0, 3, T, dtype=torch.float64))[:, None, None]
    )
    a = video_features(video).values
    b = video_features(7.0 * video).values
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_streaming_in_chunks_and_windows_matches_one_shot():
    video = torch.cumsum(
        torch.randn(200, 2, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64),
        0,
    )
    whole = video_features(video, window=256)
    chunks = video_features(iter(torch.split(video, 37)), window=256)
    np.testing.assert_array_equal(whole.values, chunks.values)
    windowed = video_features(iter(torch.split(video, 37)), window=64)
    # sums of |δ²|, |δ¹| and the moments do not depend on the windows; peaks are per window
    for name in ("log_ave_nonsmooth", "log_d2_over_d1", "log_kurtosis"):
        i = FEATURE_NAMES.index(name)
        assert windowed.values[i] == pytest.approx(whole.values[i], rel=1e-9)
    assert windowed.frames == whole.frames == 200


def test_batch_features_stacks_rows():
    videos = torch.stack([ramp_video(False), ramp_video(True)])[:, :, None]
    rows = batch_features(videos)
    assert rows.shape == (2, len(FEATURE_NAMES))
    assert rows[1, FEATURE_NAMES.index("peak_share")] == 1.0


@pytest.mark.parametrize(
    ("video", "message"),
    [
        (torch.zeros(2, 4, 4), "at least 3 frames"),
        (torch.full((5, 4, 4), float("nan")), "finite"),
        (torch.zeros(5, 4), r"\[T, H, W\]"),
        (iter([torch.zeros(3, 4, 4), torch.zeros(3, 5, 4)]), "shape"),
    ],
)
def test_bad_input_raises(video, message):
    with pytest.raises(SmoothscopeError, match=message):
        video_features(video)
