"""The detector's features: paper A's nonsmoothness signals along time, one vector per video.

:func:`video_features` is the one feature extractor. It streams a video of any length in
windows of ``window`` frames that overlap by :data:`OVERLAP` frames, so that every temporal
filter output of every pixel is taken exactly once; only per-pixel running sums and two
histograms are kept between windows, so memory does not grow with the length of the video.

**Units.** Every feature is a ratio, a fraction or a correlation of quantities measured in
*levels*: one level is 1/255 of the video's range (max − min over all frames), the step an
8-bit file of this video would have. The features therefore do not depend on the intensity
scale (a video multiplied by 1e100 or 1e-100 gives the same features; a test checks it).

**Measured as stored.** A video with more than 256 distinct values in its first window (a float
video, which no file holds) is, by default (``as_stored=True``), measured as its 8-bit copy:
rounded to the 256 levels of the first window's range, exactly what the ``quant8`` storage
pipeline writes (:func:`smoothscope.forensic.pipelines.to_uint8`, same rounding). A video
already on at most 256 levels (any 8-bit file, a decoded codec stream) is measured as it is.
Without this, a float video lacks the rounding noise every stored video has, and the detector
scored authentic float videos below the same videos stored as H.264 (issue 27's control, AUC
0.69); ``as_stored=False`` measures the float values themselves (paper A's float videos).

**Kinks against a noise floor (quantisation-robust).** Paper A's second difference (eq. 2) is
buried by 8-bit rounding and codecs; a 7-frame *kink filter* (the hinge coefficient of a local
cubic-plus-hinge fit) and a *noise filter* (that fit's residual), both blind to cubic motion,
measure slope changes against a noise floor ``σ`` estimated from the video itself
(:mod:`smoothscope.forensic._kinks`, where the filters are derived). The same statistics are
also taken after averaging 2 × 2 pixels: independent noise (rounding, codec ringing) halves,
while a kink shared by neighbouring pixels (a unit's receptive field spans several) stays.

Features (``FEATURE_NAMES``):

* ``log_activity``: log10 mean ``|δ¹|`` in levels per frame (how much the video moves);
* ``log_noise_floor``: log10 ``σ`` in levels (8-bit rounding −0.54, codecs higher);
* ``kink_energy_ratio``: log10 of E k² / E r² (0 for white noise, +0.55 for isolated kinks;
  fast smooth motion leaks into both filters through its quartic and higher terms);
* ``kink_excess_ratio``: the same for the parts of ``|k|`` and ``|r|`` above ``2σ``;
* ``kink_rate_4``, ``kink_rate_8``: fractions of ``|k| > 4σ`` and ``> 8σ`` (kinks above the
  floor);
* ``residual_rate_4``: fraction of ``|r| > 4σ`` (heavy-tailed noise, e.g. codec refreshes);
* ``d2_lag1_corr``, ``d2_lag2_corr``: autocorrelation of ``δ²`` at lags 1 and 2 (white noise
  −2/3 and 1/6, isolated kinks 0, smooth curvature near 1);
* ``log_ave_nonsmooth``: log10 of AveNonSmooth (eq. 4) over the video's standard deviation;
* ``log_d2_over_d1``: log10 of mean ``|δ²|`` over mean ``|δ¹|``;
* ``peak_rate``, ``peak_share``, ``smp_fraction``, ``pixel_peak_q50/q90/q99``: paper A's peaks
  (§V-B: ten times the mean and the median of the series, found per window by
  :func:`smoothscope.signals.nonsmoothness_maps`) per pixel and second difference, share of
  pixels with a peak, Σ SMP over Σ ``|δ²|``, quantiles over pixels of SMP / Σ ``|δ²|``;
* ``log_kurtosis``: log10 of the median over pixels of ``E δ⁴ / (E δ²)²``;
* ``peak_clustering``: share of pixels with a peak that have a 4-neighbour with a peak;
* ``peak_activity_corr``: correlation over pixels between having a peak and mean ``|δ¹|``;
* ``*_2x2``: ``log_noise_floor`` to ``d2_lag2_corr`` again on the video averaged over 2 × 2
  pixels (floor: half the rounding noise).

A static video (no change in time) gives finite features (zero activity) rather than an error;
the detector's out-of-distribution note says it cannot be judged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import SmoothscopeError
from .._validate import as_tensor, positive
from ..signals import PEAK_FACTOR, nonsmoothness_maps
from ._kinks import HALF, KINK_NAMES, ROUNDING, KinkStats, kink_filters

__all__ = [
    "FEATURE_NAMES",
    "MIN_FRAMES",
    "VideoFeatures",
    "batch_features",
    "kink_filters",
    "video_features",
]

FEATURE_NAMES = (
    "log_activity",
    *KINK_NAMES,
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
    *(f"{name}_2x2" for name in KINK_NAMES),
)
OVERLAP = 2 * HALF
"""Frames shared by consecutive windows (the span of the kink filters, less one)."""
MIN_FRAMES = 2 * HALF + 2
"""Fewest frames a video needs (the filters span 7)."""
LEVELS = 255
"""A level is 1/LEVELS of the video's range."""
EPS = 1e-6
"""Added (in levels) inside ratios and logarithms: a static video stays finite."""


class VideoFeatures(NamedTuple):
    """Features of one video.

    Attributes:
        values: float64 ``[len(FEATURE_NAMES)]``, always finite.
        peak_map: float64 ``[H, W]``: number of peaks of each pixel (summed over channels).
        smp_map: float64 ``[H, W]``: SMP of each pixel (summed over channels).
        ratio_map: float64 ``[H, W]``: log10 of mean ``|δ²|`` over mean ``|δ¹|`` of each pixel
            (channels pooled), the per-pixel form of ``log_d2_over_d1``.
        kink_map: float64 ``[H, W]``: log10 of Σ k² over Σ r² of each pixel (channels pooled),
            the per-pixel form of ``kink_energy_ratio``.
        frames: number of frames read.
        shape: ``(C, H, W)`` of the frames.
        value_range: ``(min, max)`` of the values (in the video's own units).
        requantised: whether the video was measured as its 8-bit copy (``as_stored``: more
            than 256 distinct values in its first window).
    """

    values: np.ndarray
    peak_map: np.ndarray
    smp_map: np.ndarray
    ratio_map: np.ndarray
    kink_map: np.ndarray
    frames: int
    shape: tuple[int, int, int]
    value_range: tuple[float, float]
    requantised: bool = False

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
    as_stored: bool = True,
) -> VideoFeatures:
    """Nonsmoothness features of one video, streamed (see the module docstring).

    Args:
        video: ``[T, H, W]`` or ``[T, C, H, W]`` (tensor or array), or an iterable of such
            chunks of consecutive frames (e.g. decoded from a file), at least
            :data:`MIN_FRAMES` frames in all.
        window: frames analysed together (≥ 16); paper A's peaks are found within each window.
        factor: the peak factor (paper A: 10).
        as_stored: measure a video with more than 256 distinct values in its first window as
            its 8-bit copy (rounded to 256 levels of the first window's range, as the
            ``quant8`` pipeline stores it); ``False``: the values as they are.

    Returns:
        :class:`VideoFeatures` (every value finite).

    Raises:
        SmoothscopeError: too few frames, frames of different shapes, NaN or inf, or values
            whose magnitudes differ by more than 1e150 between the first and a later chunk.
    """
    window = positive(window, "window", integer=True)
    if window < 2 * OVERLAP + 4:
        raise SmoothscopeError(f"window: expected at least {2 * OVERLAP + 4} frames, got {window}")
    acc: dict[str, torch.Tensor] = {}
    fine, coarse = KinkStats(ROUNDING), KinkStats(ROUNDING / 2)
    counts = {"frames": 0, "d2": 0, "d1": 0}
    shape = None
    scale = offset = None
    requantise = False
    lo, hi = math.inf, -math.inf
    for x, seen in _stream(video, window):
        shape = tuple(x.shape[1:])
        series = x.reshape(x.shape[0], -1)
        if not bool(torch.isfinite(series).all()):
            raise SmoothscopeError("video: expected finite values, got NaN or inf")
        if scale is None:
            # the first window's minimum and range: every feature is a ratio of differences, so
            # any affine map of the values will do; this one keeps them near 1 whatever the
            # video's scale or offset (1e100 · x + 5 gives the same bits as x, up to rounding)
            offset = float(series.min())
            span = float(series.max()) - offset
            scale = span if span > 0 and math.isfinite(span) else 1.0
            requantise = as_stored and _more_levels_than_8bit(series)
        series = (series - offset) / scale
        if requantise:  # the 8-bit copy: to_uint8's map and rounding (half to even)
            series = torch.round(series * LEVELS) / LEVELS
        if not bool(torch.isfinite(series).all()) or float(series.abs().max()) > 1e150:
            raise SmoothscopeError(
                "video: expected values of comparable magnitude throughout, got frames more than "
                "1e150 times larger than the first ones"
            )
        new = series[seen:]
        lo, hi = min(lo, float(new.min())), max(hi, float(new.max()))
        _accumulate(acc, counts, series, seen, factor)
        fine.add(series, seen)
        coarse.add(_pooled(series, shape), seen)
    if shape is None or counts["frames"] < MIN_FRAMES:
        raise SmoothscopeError(
            f"video: expected at least {MIN_FRAMES} frames, got {counts['frames']}"
        )
    assert scale is not None and offset is not None
    value_range = (lo * scale + offset, hi * scale + offset)
    feats = _summarise(acc, counts, fine, coarse, shape, (lo, hi), scale, value_range)
    return feats._replace(requantised=requantise)


def _more_levels_than_8bit(series: torch.Tensor) -> bool:
    """Whether a window ``[n, P]`` holds more than 256 distinct values (not an 8-bit video)."""
    flat = series.reshape(-1)
    if flat.numel() <= LEVELS + 1:
        return False
    return int(torch.unique(flat).numel()) > LEVELS + 1


def _pooled(series: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """The series of frames averaged over 2 × 2 pixels: ``[n, C · ⌊H/2⌋ · ⌊W/2⌋]`` (the
    frames themselves when a side is shorter than 2)."""
    c, h, w = shape
    if h < 2 or w < 2:
        return series
    frames = series.reshape(series.shape[0], c, h, w)
    return F.avg_pool2d(frames, 2).reshape(series.shape[0], -1)


def _accumulate(
    acc: dict[str, torch.Tensor],
    counts: dict[str, int],
    series: torch.Tensor,
    seen: int,
    factor: float,
) -> None:
    """Add the per-pixel sums of one window ``[n, P]`` whose first ``seen`` frames earlier
    windows read: first differences whose later frame is new, second differences centred at
    frames ≥ ``seen − 1``, paper A's peaks among those."""
    start2 = max(seen - 2, 0)  # the δ² of series[start2:] are centred at frames ≥ seen − 1
    sub = series[start2:]
    d2 = sub[2:] + sub[:-2] - 2 * sub[1:-1]
    d1 = (series[1:] - series[:-1])[max(seen - 1, 0) :]
    new = series[seen:]
    maps = nonsmoothness_maps(sub, factor=factor)
    parts = {
        "abs2": d2.abs().sum(0),
        "sq2": (d2 * d2).sum(0),
        "quad2": (d2**4).sum(0),
        "abs1": d1.abs().sum(0),
        "sum": new.sum(0),
        "sumsq": (new * new).sum(0),
        "smp": maps.smp,
        "peaks": maps.n_peaks.double(),
    }
    for key, value in parts.items():
        acc[key] = acc[key] + value if key in acc else value.clone()
    counts["frames"] += new.shape[0]
    counts["d2"] += d2.shape[0]
    counts["d1"] += d1.shape[0]


def _stream(
    video: torch.Tensor | Iterable[torch.Tensor], window: int
) -> Iterator[tuple[torch.Tensor, int]]:
    """Overlapping windows and the number of their leading frames that earlier windows read.

    Windows hold ``window`` frames; each one after the first starts with the last
    :data:`OVERLAP` frames of the previous one. A full window is emitted only once frames
    beyond it have arrived, so the last window always holds new frames after the overlap.
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
        while buffer.shape[0] >= window + OVERLAP:
            yield buffer[:window], seen
            buffer, seen = buffer[window - OVERLAP :], OVERLAP
    if buffer is not None and buffer.shape[0] - seen > 0:
        if buffer.shape[0] < 3:
            raise SmoothscopeError(
                f"video: expected at least {MIN_FRAMES} frames, got {buffer.shape[0]}"
            )
        yield buffer, seen


def _summarise(
    acc: dict[str, torch.Tensor],
    counts: dict[str, int],
    fine: KinkStats,
    coarse: KinkStats,
    shape: tuple[int, ...],
    scaled_range: tuple[float, float],
    scale: float,
    value_range: tuple[float, float],
) -> VideoFeatures:
    frames, n_d2, n_d1 = counts["frames"], counts["d2"], max(counts["d1"], 1)
    span = scaled_range[1] - scaled_range[0]
    level = span / LEVELS if span > 0 else 1.0  # a constant video: any unit will do
    abs2, abs1 = acc["abs2"], acc["abs1"]
    n_pix = abs2.numel()
    count = frames * n_pix
    mean = float(acc["sum"].sum()) / count
    std = max(float(acc["sumsq"].sum()) / count - mean**2, 0.0) ** 0.5  # values are O(1) here
    ave = float(abs2.sum()) / (n_d2 * n_pix)
    d1 = float(abs1.sum()) / (n_d1 * n_pix)
    peaks = acc["peaks"]
    has_peak = peaks > 0
    pixel_fraction = torch.where(
        abs2 > 0, acc["smp"] / abs2.clamp_min(1e-300), torch.zeros_like(abs2)
    )
    q50, q90, q99 = torch.quantile(
        pixel_fraction, torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64)
    )
    m2 = acc["sq2"] / n_d2
    m4 = acc["quad2"] / n_d2
    active = m2 > (EPS * level) ** 2
    kurt = float((m4[active] / (m2[active] ** 2)).median()) if bool(active.any()) else 0.0
    c = shape[0]
    peak_map = peaks.reshape(c, *shape[1:]).sum(0)
    smp_map = acc["smp"].reshape(c, *shape[1:]).sum(0) * scale
    d2_pixel = abs2.reshape(c, *shape[1:]).sum(0) / n_d2
    d1_pixel = abs1.reshape(c, *shape[1:]).sum(0) / n_d1
    eps_level = EPS * level
    ratio_map = torch.log10((d2_pixel + eps_level) / (d1_pixel + eps_level))
    values = np.array(
        [
            math.log10(d1 / level + 1e-3),
            *fine.values(level),
            math.log10((ave + eps_level) / (std + eps_level)),
            math.log10((ave + eps_level) / (d1 + eps_level)),
            float(peaks.sum()) / (n_d2 * n_pix),
            float(has_peak.double().mean()),
            float(acc["smp"].sum()) / max(float(abs2.sum()), 1e-300),
            float(q50),
            float(q90),
            float(q99),
            math.log10(kurt + 1e-3),
            _clustering(peak_map > 0),
            _correlation(has_peak.double(), abs1 / n_d1),
            *coarse.values(level),
        ],
        dtype=np.float64,
    )
    if not np.isfinite(values).all():  # every term above is bounded; this guards the invariant
        raise SmoothscopeError("video: the features are not finite (please report this video)")
    return VideoFeatures(
        values,
        peak_map.numpy(),
        smp_map.numpy(),
        ratio_map.numpy(),
        fine.energy_map(tuple(shape), level).numpy(),
        frames,
        (int(shape[0]), int(shape[1]), int(shape[2])),
        value_range,
    )


def _clustering(mask: torch.Tensor) -> float:
    """Share of True pixels of ``[H, W]`` that have a True 4-neighbour (0 without True)."""
    if not bool(mask.any()):
        return 0.0
    m = mask.double()[None, None]
    kernel = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.float64)[None, None]
    neighbours = F.conv2d(m, kernel, padding=1)[0, 0]
    return float(((neighbours > 0) & mask).sum()) / float(mask.sum())


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two flat vectors (0 when either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    denominator = float(a.norm() * b.norm())
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def batch_features(
    videos: torch.Tensor,
    *,
    window: int = 256,
    factor: float = PEAK_FACTOR,
    as_stored: bool = True,
) -> np.ndarray:
    """:func:`video_features` of each video of ``[V, T, C, H, W]``: ``[V, len(FEATURE_NAMES)]``."""
    videos = as_tensor(videos, "videos")
    if videos.dim() != 5:
        raise SmoothscopeError(f"videos: expected [V, T, C, H, W], got shape {tuple(videos.shape)}")
    rows = [video_features(v, window=window, factor=factor, as_stored=as_stored) for v in videos]
    return np.stack([row.values for row in rows])
