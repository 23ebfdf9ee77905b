"""Video nonsmoothness and frame-by-frame reconstruction."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from smoothscope import SmoothscopeError, ave_nonsmooth, reconstruct_videos, video_nonsmoothness


def test_reconstruct_batches_frames_and_leaves_the_model_untouched():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 1, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    videos = torch.rand(2, 5, 1, 8, 8)
    out = reconstruct_videos(model, videos, batch_size=3)
    assert out.shape == videos.shape and out.dtype == torch.float64
    expected = model.double()(videos.reshape(-1, 1, 8, 8).double()).reshape(videos.shape)
    torch.testing.assert_close(out, expected.detach())
    model.float()
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float32 and torch.equal(v, before[k])


def test_video_nonsmoothness_summaries():
    t = torch.linspace(-1, 1, 41, dtype=torch.float64)
    video = torch.zeros(1, 41, 1, 2, 2, dtype=torch.float64)
    video[0, :, 0, 0, 0] = torch.relu(t)  # one kink
    video[0, :, 0, 1, 1] = t**2  # smooth
    stats = video_nonsmoothness(video)
    assert stats.peak_share.item() == pytest.approx(0.25)
    assert stats.smp[0, 0, 0, 0].item() == pytest.approx(0.05, abs=1e-12)
    assert stats.n_peaks[0, 0, 1, 1] == 0
    torch.testing.assert_close(stats.ave_nonsmooth, ave_nonsmooth(video, dim=1))


def test_errors():
    with pytest.raises(SmoothscopeError, match=r"\[V, T, C, H, W\]"):
        video_nonsmoothness(torch.zeros(4, 4))
    with pytest.raises(SmoothscopeError, match="at least 3 frames"):
        video_nonsmoothness(torch.zeros(1, 2, 1, 4, 4))
    with pytest.raises(SmoothscopeError, match="finite"):
        reconstruct_videos(nn.Identity(), torch.full((2, 1, 4, 4), float("nan")))
