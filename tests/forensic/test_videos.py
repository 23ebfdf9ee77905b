"""Authentic videos are smooth in time; smooth processing keeps them smooth; perturbations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope.forensic.videos import (
    SMOOTH_PROCESSINGS,
    add_noise,
    authentic_videos,
    available_contents,
    bandlimited_warp,
    jpeg_frames,
    quantize_8bit,
    smooth_processing,
    subsample,
)
from smoothscope.signals import nonsmoothness_maps, second_difference


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_warp_is_the_identity_at_rest_and_a_roll_for_whole_pixel_shifts():
    image = torch.rand(1, 16, 16, generator=gen(), dtype=torch.float64)
    # drop the Nyquist row/column the way the warp does, so that the interpolant matches
    spectrum = torch.fft.fft2(image)
    spectrum[:, 8, :] = 0
    spectrum[:, :, 8] = 0
    bandlimited = torch.fft.ifft2(spectrum).real
    zero = torch.zeros(2, dtype=torch.float64)
    still = bandlimited_warp(
        image,
        zero,
        torch.ones(2, dtype=torch.float64),
        torch.zeros(2, 2, dtype=torch.float64),
        size=16,
    )
    torch.testing.assert_close(still[0], bandlimited, atol=1e-10, rtol=0)
    shift = torch.tensor([[0.0, 0.0], [2.0, -3.0]], dtype=torch.float64)
    moved = bandlimited_warp(image, zero, torch.ones(2, dtype=torch.float64), shift, size=16)
    torch.testing.assert_close(
        moved[1], torch.roll(bandlimited, (-2, 3), dims=(-2, -1)), atol=1e-10, rtol=0
    )


def test_a_subpixel_pan_is_analytic_in_time():
    # a band-limited pan sampled twice as finely: the largest |δ²| shrinks about fourfold
    # (δ² = f'' Δ² for a C² path; a kink would keep it of order Δ)
    image = torch.rand(1, 16, 16, generator=gen(1), dtype=torch.float64)
    largest = []
    for frames in (33, 65):
        t = torch.linspace(0, 1, frames, dtype=torch.float64)
        shift = torch.stack([0.7 * t, -0.4 * t], dim=1)
        ones = torch.ones(frames, dtype=torch.float64)
        video = bandlimited_warp(image, 0 * ones, ones, shift, size=8)
        largest.append(float(second_difference(video, dim=0).abs().max()))
    assert 3.5 < largest[0] / largest[1] < 4.5


@pytest.mark.parametrize("content", available_contents())
def test_authentic_videos_have_the_layout_and_almost_no_peaks(content):
    videos = authentic_videos(content, 2, frames=16, size=16, generator=gen())
    assert videos.shape == (2, 16, 1, 16, 16) and videos.dtype == torch.float64
    maps = nonsmoothness_maps(videos, dim=1)
    # the ellipsoid's shadow terminator is the one kink of the content (paper A §IV-B)
    assert float((maps.n_peaks > 0).double().mean()) < 0.05
    again = authentic_videos(content, 2, frames=16, size=16, generator=gen())
    assert torch.equal(videos, again)


def test_noise_ramps_stay_linear_under_linear_smooth_processing():
    videos = authentic_videos("ramps", 2, frames=12, size=16, generator=gen())
    for name in ("blur", "resize", "affine"):
        out = smooth_processing(name, videos, generator=gen(2))
        assert out.shape == videos.shape
        assert float(second_difference(out, dim=1).abs().max()) < 1e-12
    gamma = smooth_processing("gamma", videos, generator=gen(2))
    assert float((nonsmoothness_maps(gamma, dim=1).n_peaks > 0).double().mean()) == 0.0


def test_bad_arguments_raise():
    with pytest.raises(SmoothscopeError, match="content"):
        authentic_videos("cats", 1, generator=gen())
    with pytest.raises(SmoothscopeError, match="processing"):
        smooth_processing("sharpen", torch.zeros(1, 4, 1, 8, 8), generator=gen())
    with pytest.raises(SmoothscopeError, match="frames"):
        subsample(torch.zeros(1, 5, 1, 8, 8), 2)


def test_noise_has_the_requested_snr_and_quantisation_256_levels():
    videos = authentic_videos("photos", 2, frames=8, size=16, generator=gen())
    noisy = add_noise(videos, 20.0, generator=gen(3))
    noise = (noisy - videos).flatten(1)
    snr = 10 * torch.log10(videos.flatten(1).var(1) / noise.pow(2).mean(1))
    assert torch.allclose(snr, torch.full_like(snr, 20.0), atol=0.5)
    quantised = quantize_8bit(videos)
    for v in quantised:
        assert torch.unique(v).numel() <= 256
    assert (
        float((quantised - videos).abs().max()) <= float(videos.max() - videos.min()) / 510 + 1e-12
    )
    jpeg = jpeg_frames(videos, 50)
    assert jpeg.shape == videos.shape
    error = float((jpeg - videos).abs().mean())
    assert float((quantised - videos).abs().mean()) < error < 0.5 * float(videos.std())
    assert subsample(videos, 2).shape[1] == 4
    assert math.isfinite(float(jpeg.sum())) and np.isfinite(noisy.numpy()).all()


def test_smooth_processings_are_all_listed():
    assert set(SMOOTH_PROCESSINGS) == {"blur", "resize", "gamma", "affine"}


@pytest.mark.parametrize("content", ["digits", "photos", "ellipsoid", "ramps"])
def test_speed_scales_the_motion(content):
    slow, fast = (
        authentic_videos(content, 2, frames=12, size=16, generator=gen(), speed=s) for s in (1, 3)
    )
    assert torch.equal(slow, authentic_videos(content, 2, frames=12, size=16, generator=gen()))
    change = [float((v[:, 1:] - v[:, :-1]).abs().mean()) for v in (slow, fast)]
    assert 1.5 < change[1] / change[0] < 4.5
    with pytest.raises(SmoothscopeError, match="speed"):
        authentic_videos(content, 1, generator=gen(), speed=0)
    with pytest.raises(SmoothscopeError, match="speed"):
        authentic_videos(content, 1, generator=gen(), speed=1e6)
