"""The detector's features: paper A's nonsmoothness signals along time, one vector per video.

:func:`video_features` is the one feature extractor. It streams a video of any length in
windows of ``window`` frames that overlap by two frames, so every second difference
``δ²y(t) = y(t+1) + y(t−1) − 2 y(t)`` (paper A, eq. 2) of every pixel is taken exactly once;
peaks and SMP (§V-B: a peak exceeds ten times the mean and the median of its series) are found
per window by :func:`smoothscope.signals.nonsmoothness_maps`. Only per-pixel running sums are
kept between windows, so memory does not grow with the length of the video.

Features (``FEATURE_NAMES``), all but the first invariant to the video's intensity scale:

* ``log_ave_nonsmooth``: log10 of AveNonSmooth (eq. 4) over the video's standard deviation;
* ``log_d2_over_d1``: log10 of mean ``|δ²|`` over mean ``|δ¹|`` (second over first
  differences: a kink makes ``|δ²|`` of the order of ``|δ¹|``, smooth motion keeps it a factor
  of the frame period smaller);
* ``peak_rate``: peaks per pixel and per second difference;
* ``peak_share``: share of pixels whose series has at least one peak;
* ``smp_fraction``: Σ SMP over Σ ``|δ²|`` (the share of the second-difference mass in peaks);
* ``pixel_peak_q50``, ``q90``, ``q99``: quantiles over pixels of each pixel's SMP over its
  Σ ``|δ²|``;
* ``log_kurtosis``: log10 of the median over pixels of ``E δ⁴ / (E δ²)²`` of the second
  differences (3 for Gaussian noise; large for sparse kinks);
* ``peak_clustering``: share of pixels with a peak that have a 4-neighbour with a peak (where
  peaks occur: a network's kinks come in receptive-field-sized patches);
* ``peak_activity_corr``: correlation over pixels between having a peak and mean ``|δ¹|``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np
import torch

from .._errors import SmoothscopeError
from .._validate import as_tensor, positive
from ..signals import PEAK_FACTOR, nonsmoothness_maps

__all__ = ["FEATURE_NAMES", "VideoFeatures", "batch_features", "video_features"]

FEATURE_NAMES = (
    "log_ave_nonsmooth",
    "log_d2_over_d1",
    "peak_rate",
    "peak_share",
    "smp_fraction",
    "pixel_peak_q50",
    "pixel_peak_q90",
    "pixel_peak_q99",
    "log_kurtosis",
    "peak_clustering",
    "peak_activity_corr",
)
TINY = 1e-30
"""Added inside logarithms and denominators: a perfectly static or linear video has zero |δ²|."""


class VideoFeatures(NamedTuple):
    """Features of one video.

    Attributes:
        values: float64 ``[len(FEATURE_NAMES)]``.
        peak_map: float64 ``[H, W]``: number of peaks of each pixel (summed over channels).
        smp_map: float64 ``[H, W]``: SMP of each pixel (summed over channels).
        ratio_map: float64 ``[H, W]``: log10 of mean ``|δ²|`` over mean ``|δ¹|`` of each pixel
            (channels pooled), the per-pixel form of ``log_d2_over_d1``.
        frames: number of frames read.
    """

    values: np.ndarray
    peak_map: np.ndarray
    smp_map: np.ndarray
    ratio_map: np.ndarray
    frames: int

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURE_NAMES, map(float, self.values), strict=True))


def _as_frames(chunk: object, name: str) -> torch.Tensor:
    t = as_tensor(chunk, name).to(torch.float64)
    if t.dim() == 3:
        t = t.unsqueeze(1)
    if t.dim() != 4:
        raise SmoothscopeError(
            f"{name}: expected frames [T, H, W] or [T, C, H, W], got shape {tuple(t.shape)}"
        )
    return t


def video_features(
    video: torch.Tensor | Iterable[torch.Tensor],
    *,
    window: int = 256,
    factor: float = PEAK_FACTOR,
) -> VideoFeatures:
    """Nonsmoothness features of one video, streamed (see the module docstring).

    Args:
        video: ``[T, H, W]`` or ``[T, C, H, W]`` (tensor or array), or an iterable of such
            chunks of consecutive frames (e.g. decoded from a file), at least 3 frames in all.
        window: frames analysed together (≥ 8); peaks are found within each window.
        factor: the peak factor (paper A: 10).

    Returns:
        :class:`VideoFeatures`.
    """
    window = positive(window, "window", integer=True)
    if window < 8:
        raise SmoothscopeError(f"window: expected at least 8 frames, got {window}")
    acc: dict[str, torch.Tensor] = {}
    frames = 0
    n_d2 = 0
    n_d1 = 0
    shape = None
    for x, seen in _stream(video, window):
        shape = x.shape[1:]
        series = x.reshape(x.shape[0], -1)
        if not bool(torch.isfinite(series).all()):
            raise SmoothscopeError("video: expected finite values, got NaN or inf")
        maps = nonsmoothness_maps(series, factor=factor)
        d2 = series[2:] + series[:-2] - 2 * series[1:-1]
        d1 = (series[1:] - series[:-1])[max(seen - 1, 0) :]
        new = series[seen:]
        parts = {
            "abs2": d2.abs().sum(0),
            "sq2": (d2 * d2).sum(0),
            "quad2": (d2**4).sum(0),
            "abs1": d1.abs().sum(0),
            "smp": maps.smp,
            "peaks": maps.n_peaks.double(),
            "sum": new.sum(0),
            "sumsq": (new * new).sum(0),
        }
        for key, value in parts.items():
            acc[key] = acc[key] + value if key in acc else value.clone()
        frames += new.shape[0]
        n_d2 += d2.shape[0]
        n_d1 += d1.shape[0]
    if shape is None or frames < 3:
        raise SmoothscopeError(f"video: expected at least 3 frames, got {frames}")
    return _summarise(acc, frames, n_d2, n_d1, tuple(shape))


def _stream(
    video: torch.Tensor | Iterable[torch.Tensor], window: int
) -> Iterator[tuple[torch.Tensor, int]]:
    """Overlapping windows and the number of their leading frames that earlier windows read.

    Windows hold ``window`` frames; each one after the first starts with the last two frames of
    the previous one, so each second difference belongs to exactly one window. A full window is
    emitted only once a frame beyond it has arrived, so the last window always holds at least
    three frames (two carried over and one new).
    """
    if isinstance(video, (torch.Tensor, np.ndarray)):
        tensor = _as_frames(video, "video")
        source: Iterable[torch.Tensor] = [tensor]
    else:
        source = (_as_frames(c, "video chunk") for c in video)
    buffer: torch.Tensor | None = None
    seen = 0
    shape = None
    for chunk in source:
        if shape is None:
            shape = chunk.shape[1:]
        elif chunk.shape[1:] != shape:
            raise SmoothscopeError(
                f"video: expected every frame of shape {tuple(shape)}, got {tuple(chunk.shape[1:])}"
            )
        buffer = chunk if buffer is None else torch.cat([buffer, chunk])
        # emit full windows while enough frames remain for a later window of >= 3 new frames
        while buffer.shape[0] >= window + 1:
            yield buffer[:window], seen
            buffer, seen = buffer[window - 2 :], 2
    if buffer is not None and buffer.shape[0] - seen > 0:
        if buffer.shape[0] < 3:
            raise SmoothscopeError(f"video: expected at least 3 frames, got {buffer.shape[0]}")
        yield buffer, seen


def _summarise(
    acc: dict[str, torch.Tensor], frames: int, n_d2: int, n_d1: int, shape: tuple[int, ...]
) -> VideoFeatures:
    abs2, abs1 = acc["abs2"], acc["abs1"]
    count = frames * abs2.numel()
    std = (
        max(float(acc["sumsq"].sum()) / count - (float(acc["sum"].sum()) / count) ** 2, 0.0) ** 0.5
    )
    ave = float(abs2.sum()) / (n_d2 * abs2.numel())
    d1 = float(abs1.sum()) / max(n_d1 * abs1.numel(), 1)
    peaks = acc["peaks"]
    has_peak = peaks > 0
    pixel_fraction = torch.where(
        abs2 > 0, acc["smp"] / abs2.clamp_min(TINY), torch.zeros_like(abs2)
    )
    q50, q90, q99 = torch.quantile(
        pixel_fraction, torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64)
    )
    m2 = acc["sq2"] / n_d2
    m4 = acc["quad2"] / n_d2
    active = m2 > 0
    kurt = float((m4[active] / (m2[active] ** 2)).median()) if bool(active.any()) else 0.0
    c = shape[0]
    peak_map = peaks.reshape(c, *shape[1:]).sum(0)
    smp_map = acc["smp"].reshape(c, *shape[1:]).sum(0)
    d2_pixel = abs2.reshape(c, *shape[1:]).sum(0) / n_d2
    d1_pixel = abs1.reshape(c, *shape[1:]).sum(0) / max(n_d1, 1)
    ratio_map = torch.log10((d2_pixel + TINY) / (d1_pixel + TINY) + 1e-12)
    values = np.array(
        [
            np.log10(ave / max(std, TINY) + 1e-12),
            np.log10((ave + TINY) / (d1 + TINY) + 1e-12),
            float(peaks.sum()) / (n_d2 * peaks.numel()),
            float(has_peak.double().mean()),
            float(acc["smp"].sum()) / max(float(abs2.sum()), TINY),
            float(q50),
            float(q90),
            float(q99),
            np.log10(kurt + 1e-12),
            _clustering(peak_map > 0),
            _correlation(has_peak.double(), abs1 / max(n_d1, 1)),
        ],
        dtype=np.float64,
    )
    return VideoFeatures(values, peak_map.numpy(), smp_map.numpy(), ratio_map.numpy(), frames)


def _clustering(mask: torch.Tensor) -> float:
    """Share of True pixels of ``[H, W]`` that have a True 4-neighbour (0 without True)."""
    if not bool(mask.any()):
        return 0.0
    m = mask.double()[None, None]
    kernel = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.float64)[None, None]
    neighbours = torch.nn.functional.conv2d(m, kernel, padding=1)[0, 0]
    return float(((neighbours > 0) & mask).sum()) / float(mask.sum())


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two flat vectors (0 when either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    denominator = float(a.norm() * b.norm())
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def batch_features(
    videos: torch.Tensor, *, window: int = 256, factor: float = PEAK_FACTOR
) -> np.ndarray:
    """:func:`video_features` of each video of ``[V, T, C, H, W]``: ``[V, len(FEATURE_NAMES)]``."""
    videos = as_tensor(videos, "videos")
    if videos.dim() != 5:
        raise SmoothscopeError(f"videos: expected [V, T, C, H, W], got shape {tuple(videos.shape)}")
    return np.stack([video_features(v, window=window, factor=factor).values for v in videos])
