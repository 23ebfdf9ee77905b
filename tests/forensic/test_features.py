"""The streamed feature extractor: closed forms, scale invariance, quantisation, streaming = one
shot, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.forensic.features import (
    FEATURE_NAMES,
    MIN_FRAMES,
    batch_features,
    kink_filters,
    video_features,
)
from smoothscope.forensic.pipelines import apply_pipeline

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
    assert smooth["log_d2_over_d1"] < -5  # |δ²| is rounding noise (floored at 1e-6 level)
    assert smooth["kink_rate_4"] == 0.0 and smooth["kink_energy_ratio"] == pytest.approx(0.0)
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
    assert values["kink_rate_8"] > 0 and values["kink_energy_ratio"] > 0.2


@pytest.mark.parametrize("scale", [7.0, 1e100, 1e-100, 1e300, -2.0])
def test_features_do_not_depend_on_the_intensity_scale_and_are_never_nan(scale):
    video = (
        ramp_video(True)
        + 0.3 * torch.sin(torch.linspace(0, 3, T, dtype=torch.float64))[:, None, None]
    )
    a = video_features(video).values
    b = video_features(scale * video + 5 * scale).values
    assert np.isfinite(b).all()
    if scale > 0:
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_the_filters_ignore_cubic_motion_and_the_noise_filter_a_centred_kink():
    kink, noise = kink_filters()
    j = torch.arange(-3, 4, dtype=torch.float64)
    for poly in (torch.ones(7, dtype=torch.float64), j, j**2, j**3):
        assert abs(float(kink @ poly)) < 1e-12 and abs(float(noise @ poly)) < 1e-12
    hinge = torch.relu(j)
    assert abs(float(noise @ hinge)) < 1e-12 and float(kink @ hinge) > 0.3
    assert float(kink.norm()) == pytest.approx(1.0) and float(noise.norm()) == pytest.approx(1.0)


def test_white_noise_has_no_kink_excess_and_a_static_video_stays_finite():
    noise = torch.randn(64, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    values = video_features(noise).as_dict()
    assert abs(values["kink_energy_ratio"]) < 0.05
    assert values["d2_lag1_corr"] == pytest.approx(-2 / 3, abs=0.03)
    static = video_features(torch.rand(12, 5, 5, dtype=torch.float64)[:1].repeat(12, 1, 1))
    assert np.isfinite(static.values).all()
    assert static.as_dict()["log_activity"] == pytest.approx(-3.0)


def test_8bit_rounding_of_smooth_motion_stays_below_the_floor_and_kinks_do_not():
    t = torch.linspace(0, 1, 48, dtype=torch.float64)[:, None, None]
    x = torch.linspace(0, 6, 12, dtype=torch.float64)[None, :, None]
    y = torch.linspace(0, 4, 12, dtype=torch.float64)[None, None, :]
    smooth = torch.sin(x + y + 5 * t)  # moves by a few 8-bit levels per frame
    kinked = torch.relu(smooth - 0.2) - 0.5 * torch.relu(-smooth - 0.4)
    stored = apply_pipeline("quant8", torch.stack([smooth, kinked])[:, :, None])
    plain, bent = (video_features(v).as_dict() for v in stored)
    assert plain["kink_rate_8"] == 0.0 and plain["log_noise_floor"] == pytest.approx(
        np.log10(1 / np.sqrt(12)), abs=0.05
    )
    assert bent["kink_rate_8"] > 0.01
    assert bent["kink_excess_ratio"] > plain["kink_excess_ratio"] + 0.3


def test_streaming_in_chunks_and_windows_matches_one_shot():
    video = torch.cumsum(
        torch.randn(200, 2, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64),
        0,
    )
    whole = video_features(video, window=256, as_stored=False)
    chunks = video_features(iter(torch.split(video, 37)), window=256, as_stored=False)
    np.testing.assert_array_equal(whole.values, chunks.values)
    np.testing.assert_array_equal(
        video_features(video, window=256).values,
        video_features(iter(torch.split(video, 37)), window=256).values,
    )
    windowed = video_features(iter(torch.split(video, 37)), window=64, as_stored=False)
    # sums of |δ²|, |δ¹| and the moments do not depend on the windows; peaks are per window
    for name in ("log_ave_nonsmooth", "log_d2_over_d1", "log_kurtosis", "kink_energy_ratio"):
        i = FEATURE_NAMES.index(name)
        assert windowed.values[i] == pytest.approx(whole.values[i], rel=1e-9)
    assert windowed.frames == whole.frames == 200


def test_a_float_video_is_measured_as_its_8bit_copy():
    """The detector's features of a float video are those of the ``quant8`` pipeline's copy
    (the same map and rounding); an 8-bit video is measured as it is; ``as_stored=False``
    keeps the float values (the copy's rounding noise is then absent)."""
    t = torch.linspace(0, 1, 32, dtype=torch.float64)[:, None, None]
    phase = torch.rand(1, 10, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    video = torch.sin(4 * t + 6 * phase)  # thousands of distinct values
    copy = apply_pipeline("quant8", video[None, :, None])[0]
    measured, of_copy = video_features(video), video_features(copy)
    assert measured.requantised and not of_copy.requantised
    np.testing.assert_allclose(measured.values, of_copy.values, rtol=1e-9, atol=1e-9)
    as_is = video_features(video, as_stored=False)
    assert not as_is.requantised
    np.testing.assert_array_equal(video_features(copy, as_stored=False).values, of_copy.values)
    floor = FEATURE_NAMES.index("log_noise_floor")
    assert measured.values[floor] == pytest.approx(np.log10(1 / np.sqrt(12)), abs=0.1)
    lag1 = FEATURE_NAMES.index("d2_lag1_corr")  # smooth float curvature vs rounding noise
    assert as_is.values[lag1] > 0.9 and measured.values[lag1] < as_is.values[lag1] - 0.2
    # a uint8 video (at most 256 levels) is not rounded again, whatever its range
    levels = torch.randint(40, 200, (20, 6, 6), generator=torch.Generator().manual_seed(2))
    assert not video_features(levels.to(torch.uint8)).requantised


def test_batch_features_stacks_rows():
    videos = torch.stack([ramp_video(False), ramp_video(True)])[:, :, None]
    rows = batch_features(videos)
    assert rows.shape == (2, len(FEATURE_NAMES))
    assert rows[1, FEATURE_NAMES.index("peak_share")] == 1.0


@pytest.mark.parametrize(
    ("video", "message"),
    [
        (torch.zeros(2, 4, 4), f"at least {MIN_FRAMES} frames"),
        (torch.zeros(MIN_FRAMES - 1, 4, 4), f"at least {MIN_FRAMES} frames"),
        (
            iter(
                [
                    torch.ones(300, 2, 2, dtype=torch.float64),
                    torch.full((20, 2, 2), 1e200, dtype=torch.float64),
                ]
            ),
            "magnitude",
        ),
        (torch.full((5, 4, 4), float("nan")), "finite"),
        (torch.zeros(5, 4), r"\[T, H, W\]"),
        (iter([torch.zeros(3, 4, 4), torch.zeros(3, 5, 4)]), "shape"),
    ],
)
def test_bad_input_raises(video, message):
    with pytest.raises(SmoothscopeError, match=message):
        video_features(video)
