"""Nonsmoothness of videos and of their reconstructions by a network (paper A, §IV)."""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from torch import nn

from .._errors import SmoothscopeError
from .._validate import as_tensor, check_finite, check_rank, positive
from ..signals import PEAK_FACTOR, nonsmoothness_maps

__all__ = ["VideoNonsmoothness", "reconstruct_videos", "video_nonsmoothness"]


@torch.no_grad()
def reconstruct_videos(
    model: nn.Module,
    videos: torch.Tensor,
    *,
    batch_size: int = 2048,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Pass videos frame by frame through ``model`` (a copy in ``dtype``; the caller's model is
    left untouched) and return the output videos.

    Frames are independent inputs, so all frames of all videos are batched together.
    Evaluating in float64 keeps rounding noise (~1e-16) far below the second differences that
    paper A measures.

    Args:
        model: maps ``[B, C, H, W]`` frames to frames.
        videos: ``[V, T, C, H, W]`` or one video ``[T, C, H, W]``.
        batch_size: frames per forward pass.
        dtype: evaluation precision.

    Returns:
        output videos with the leading shape of ``videos``.
    """
    videos = as_tensor(videos, "videos")
    check_rank(videos, (4, 5), "videos", "[V, T, C, H, W] or [T, C, H, W]")
    check_finite(videos, "videos")
    batch_size = positive(batch_size, "batch_size", integer=True)
    lead = videos.shape[:-3]
    frames = videos.reshape(-1, *videos.shape[-3:])
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    evaluator = copy.deepcopy(model).to(dtype=dtype).eval()
    outputs = [
        evaluator(frames[i : i + batch_size].to(device=device, dtype=dtype)).cpu()
        for i in range(0, frames.shape[0], batch_size)
    ]
    out = torch.cat(outputs)
    return out.reshape(*lead, *out.shape[1:])


class VideoNonsmoothness(NamedTuple):
    """Nonsmoothness of a batch of videos.

    Attributes:
        ave_nonsmooth: ``[V]`` AveNonSmooth of each video (paper A, eq. 4).
        peak_share: ``[V]`` share of pixels whose second-difference curve has at least one peak.
        smp_mean: ``[V]`` mean SMP over the pixels of each video.
        smp: ``[V, C, H, W]`` SMP of every pixel (paper A, §V-B).
        n_peaks: ``[V, C, H, W]`` number of peaks of every pixel.
    """

    ave_nonsmooth: torch.Tensor
    peak_share: torch.Tensor
    smp_mean: torch.Tensor
    smp: torch.Tensor
    n_peaks: torch.Tensor


def video_nonsmoothness(
    videos: torch.Tensor, *, factor: float = PEAK_FACTOR, step: int = 1
) -> VideoNonsmoothness:
    """AveNonSmooth, peaks and SMP of each pixel's time series, for a batch of videos.

    Args:
        videos: ``[V, T, C, H, W]``.
        factor: the peak factor (paper A: 10).
        step: Δ in frames.
    """
    videos = as_tensor(videos, "videos")
    check_rank(videos, (5,), "videos", "[V, T, C, H, W]")
    if videos.shape[1] < 2 * positive(step, "step", integer=True) + 1:
        raise SmoothscopeError(
            f"videos: expected at least {2 * step + 1} frames, got {videos.shape[1]}"
        )
    maps = nonsmoothness_maps(videos, dim=1, step=step, factor=factor)
    return VideoNonsmoothness(
        ave_nonsmooth=maps.mean_abs.flatten(1).mean(1),
        peak_share=(maps.n_peaks > 0).flatten(1).double().mean(1),
        smp_mean=maps.smp.flatten(1).mean(1),
        smp=maps.smp,
        n_peaks=maps.n_peaks,
    )
