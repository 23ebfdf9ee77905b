"""The frequency baseline: DCT-spectrum features of single frames (Frank et al., ICML 2020).

Frank et al. ("Leveraging frequency analysis for deep fake image recognition", cited by paper A)
show that images made by networks with upsampling layers carry artefacts in the 2-D DCT
spectrum, and detect them with a linear classifier on ``log |DCT-II|`` of the image. Here each
video gets the mean over up to ``max_frames`` evenly spaced frames of the log-magnitude of the
orthonormal 2-D DCT of each frame (channels averaged): a feature vector of ``H · W`` numbers that
uses no temporal information at all. The same classifier as the nonsmoothness detector
(standardisation + logistic regression) is fitted on it, on the same splits.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.fft import dctn

from .._errors import SmoothscopeError
from .._validate import as_tensor, positive

__all__ = ["dct_features"]

LOG_FLOOR = 1e-8
"""Added to |DCT| before the logarithm (relative to the frame's DC magnitude)."""


def dct_features(videos: torch.Tensor, *, max_frames: int = 8) -> np.ndarray:
    """Mean log-magnitude DCT spectrum of frames of each video.

    Args:
        videos: ``[V, T, C, H, W]``.
        max_frames: frames per video used (evenly spaced, first and last included).

    Returns:
        float64 ``[V, H * W]``.
    """
    videos = as_tensor(videos, "videos")
    if videos.dim() != 5:
        raise SmoothscopeError(f"videos: expected [V, T, C, H, W], got shape {tuple(videos.shape)}")
    max_frames = positive(max_frames, "max_frames", integer=True)
    t = videos.shape[1]
    index = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    frames = videos[:, index].to(torch.float64).mean(2).numpy()  # [V, k, H, W]
    spectrum = np.abs(dctn(frames, axes=(-2, -1), norm="ortho"))
    scale = np.abs(frames).mean(axis=(-2, -1), keepdims=True) * frames.shape[-1] + 1e-300
    logs = np.log10(spectrum / scale + LOG_FLOOR)
    return logs.mean(axis=1).reshape(videos.shape[0], -1)
