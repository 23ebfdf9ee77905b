"""Signals: closed forms, paper A's toy examples, peaks, SMP, streaming and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from smoothscope import SmoothscopeError
from smoothscope.signals import (
    ave_nonsmooth,
    detect_kinks,
    nonsmoothness_maps,
    peak_mask,
    rounding_floor,
    second_difference,
    second_difference_at,
    smp,
)


def test_parabola_has_constant_second_difference():
    t = torch.arange(-50, 51, dtype=torch.float64) * 0.1
    d2 = second_difference(3 * t**2 - 2 * t + 1)
    torch.testing.assert_close(d2, torch.full_like(d2, 6 * 0.1**2), rtol=0, atol=1e-12)


def test_step_is_a_lag_in_samples():
    t = torch.arange(20, dtype=torch.float64)
    d2 = second_difference(t**2, step=3)
    assert d2.shape == (14,)
    torch.testing.assert_close(d2, torch.full_like(d2, 2 * 9.0))


def test_relu_sampled_at_step_0_1_has_one_kink_of_0_1():
    """Paper A Fig. 1(b): ReLU flagged at 0 with τ_d = 0.02; softplus nowhere."""
    t = torch.arange(-20, 21, dtype=torch.float64) * 0.1
    d2_relu = second_difference_at(torch.relu, t, step=0.1)
    d2_soft = second_difference_at(F.softplus, t, step=0.1)
    kink = torch.argmax(d2_relu.abs())
    assert t[kink] == 0 and d2_relu[kink] == pytest.approx(0.1, abs=1e-12)
    others = torch.ones_like(d2_relu, dtype=torch.bool)
    others[kink] = False
    assert d2_relu[others].abs().max() < 1e-12
    assert (d2_relu.abs() > 0.02).sum() == 1
    assert not (d2_soft.abs() > 0.02).any()
    assert d2_soft.abs().max() == pytest.approx(0.25 * 0.01, rel=1e-3)  # softplus''(0) Δ²
    # the detector on samples agrees
    flags = detect_kinks(torch.relu(t), 0.02)
    assert flags.sum() == 1 and t[1:-1][flags].item() == 0
    assert not detect_kinks(F.softplus(t), 0.02).any()


def test_max_pool_toy_example_eq3():
    """(x1..x4) = (0, 0, 2 - t, t): max has a kink of 0.2 at t = 1; average is constant 1/2."""
    t = torch.arange(0, 21, dtype=torch.float64) * 0.1
    window = torch.stack([torch.zeros_like(t), torch.zeros_like(t), 2 - t, t], dim=1)
    d2_max = second_difference(window.max(dim=1).values)
    d2_avg = second_difference(window.mean(dim=1))
    kink = torch.argmax(d2_max.abs())
    assert t[1:-1][kink] == pytest.approx(1.0)
    assert d2_max[kink] == pytest.approx(0.2, abs=1e-12)
    assert torch.allclose(window.mean(dim=1), torch.full_like(t, 0.5))
    assert d2_avg.abs().max() < 1e-12


def test_ave_nonsmooth_is_mean_abs_second_difference_over_pixels_and_frames():
    g = torch.Generator().manual_seed(0)
    video = torch.randn(10, 2, 3, 4, generator=g, dtype=torch.float64)
    d2 = video[2:] + video[:-2] - 2 * video[1:-1]
    assert ave_nonsmooth(video).item() == pytest.approx(d2.abs().mean().item(), rel=1e-12)
    batch = torch.stack([video, 2 * video])
    torch.testing.assert_close(
        ave_nonsmooth(batch, dim=1), torch.stack([ave_nonsmooth(video), 2 * ave_nonsmooth(video)])
    )


def test_linear_video_has_zero_ave_nonsmooth():
    t = torch.arange(100, dtype=torch.float64)[:, None, None]
    video = 0.3 + 1e-3 * t * torch.ones(1, 5, 5, dtype=torch.float64)
    assert ave_nonsmooth(video) < 1e-15


def test_peaks_follow_the_mean_and_median_rule():
    d2 = torch.tensor([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 5.0, -4.0])
    mask = peak_mask(d2)
    # mean of |d2| = (1.2 + 9) / 14 = 0.73, median 0.1 -> threshold 7.3 : nothing is a peak
    assert not mask.any()
    d2 = torch.zeros(100, dtype=torch.float64)
    d2[10], d2[50] = 1.0, -2.0
    d2[60:] = 0.001
    mask = peak_mask(d2)
    assert mask.nonzero().flatten().tolist() == [10, 50]
    assert smp(d2).item() == pytest.approx(3.0)
    # factor is configurable: mean |d2| = 0.0304, so with factor 40 only the 2.0 remains
    assert peak_mask(d2, factor=40.0).nonzero().flatten().tolist() == [50]


def test_peaks_median_is_the_sample_median():
    """The median rule bites when the mean is small but the median is not."""
    d2 = torch.tensor([1.0, 1.0, 1.0, 1.0, 11.0, 0.0, 0.0, 0.0])
    # mean 15/8 -> 18.75; median (0 + 1)/2 = 0.5 -> 5 : 11 is below 18.75, no peak
    assert not peak_mask(d2).any()
    assert peak_mask(d2, factor=5.0).nonzero().flatten().tolist() == [4]  # 11 > 9.4 and > 2.5
    # with an odd count the median is the middle value
    np.testing.assert_array_equal(
        peak_mask(torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]), factor=2.0).numpy(),
        [False, False, True, False, False],
    )


def test_all_zero_series_has_no_peak_and_zero_smp():
    d2 = torch.zeros(5, 30)
    assert not peak_mask(d2, dim=1).any()
    assert torch.equal(smp(d2, dim=1), torch.zeros(5, dtype=torch.float64))


def test_smp_is_vectorised_along_any_dim():
    g = torch.Generator().manual_seed(1)
    d2 = torch.randn(4, 50, 3, generator=g).double() * 0.01
    d2[1, 20, 2] = 3.0
    out = smp(d2, dim=1)
    assert out.shape == (4, 3)
    expected = torch.stack([torch.stack([smp(d2[i, :, j]) for j in range(3)]) for i in range(4)])
    torch.testing.assert_close(out, expected)
    assert out[1, 2] >= 3.0


def test_nonsmoothness_maps_matches_the_functions_and_streams():
    g = torch.Generator().manual_seed(2)
    t = torch.linspace(-1, 1, 64, dtype=torch.float64)[:, None, None]
    shift = torch.rand(1, 7, 5, generator=g, dtype=torch.float64) - 0.5
    recording = torch.relu(t - shift) + 0.1 * t**2  # one kink per series
    maps = nonsmoothness_maps(recording, chunk_size=4)
    d2 = second_difference(recording)
    torch.testing.assert_close(maps.mean_abs, d2.abs().mean(0))
    torch.testing.assert_close(maps.smp, smp(d2))
    assert (maps.n_peaks >= 1).all()
    # the kink of slope 1 sampled at step h gives a second difference summing to h
    h = 2 / 63
    assert maps.smp.min() > 0.5 * h and maps.smp.max() < 1.5 * h
    # time on another axis
    moved = nonsmoothness_maps(recording.movedim(0, 2), dim=2)
    torch.testing.assert_close(moved.smp, maps.smp)
    assert moved.smp.dtype == torch.float64 and maps.n_peaks.dtype == torch.int64


def test_rounding_residue_of_a_linear_series_is_not_a_peak():
    """A linear ramp has exact second difference 0; its float rounding residue is no event."""
    t = torch.arange(1, 101, dtype=torch.float64)
    ramp = (0.1 + 1e-2 * (0.02 * t - 1) * 0.731).reshape(100, 1)  # 4 nonzero residues
    residue = second_difference(ramp).abs()
    assert residue.max() > 0  # rounding leaves a few nonzero values ...
    assert peak_mask(residue).any()  # ... which the paper's rule alone calls peaks
    maps = nonsmoothness_maps(ramp)
    assert maps.n_peaks.item() == 0  # the rounding floor removes them
    floor = rounding_floor(ramp, 0, torch.float64)
    assert residue.max() <= floor.max()


def test_float32_input_is_differenced_in_float64():
    t = torch.arange(0, 200, dtype=torch.float32) * 1e-3
    x = (1000 + t**2).float()
    assert second_difference(x).dtype == torch.float64


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: second_difference(torch.zeros(2)), "at least 3 samples"),
        (lambda: second_difference(torch.zeros(4, 4), dim=0, step=2), "at least 5 samples"),
        (lambda: second_difference(torch.tensor(1.0)), "scalar"),
        (lambda: second_difference(torch.zeros(5), dim=3), "out of range"),
        (lambda: second_difference(torch.tensor([0.0, math.nan, 1.0])), "finite"),
        (lambda: second_difference(torch.tensor([0.0, math.inf, 1.0])), "finite"),
        (lambda: second_difference(torch.zeros(5), step=0), "positive integer"),
        (lambda: second_difference(torch.zeros(5), step=1.5), "positive integer"),
        (lambda: second_difference_at(torch.relu, torch.zeros(3), step=-0.1), "positive"),
        (lambda: second_difference_at(torch.relu, torch.zeros(3), step=0.0), "positive"),
        (lambda: detect_kinks(torch.zeros(5), 0.0), "threshold"),
        (lambda: detect_kinks(torch.zeros(5), -1.0), "threshold"),
        (lambda: peak_mask(torch.zeros(5), factor=0), "factor"),
        (lambda: peak_mask(torch.zeros(5), atol=-1.0), "atol"),
        (lambda: nonsmoothness_maps(torch.full((5, 2), math.nan)), "finite"),
        (lambda: nonsmoothness_maps(torch.zeros(2, 3)), "at least 3 samples"),
        (lambda: second_difference("abc"), "expected"),
        (lambda: second_difference(torch.zeros(5, dtype=torch.complex64)), "real"),
    ],
)
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(SmoothscopeError, match=message):
        call()
