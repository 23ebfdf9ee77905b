"""R² of eqs. 5 and 6 and conv2's discounting factor against the number of frames per video.

The peak rule of paper A §V-B (a peak exceeds ten times the mean of its series) cannot count
more than about T/10 events in a series of T frames: a node whose series carries more events
has its SMP under-counted, and eq. 5's prediction (which sums the input SMPs) overestimates it.
Issue 25 asks for the frame count where R² and γ stop changing. Each ``record`` cell stores the
maps of :data:`~.config.CURVE_LAYERS` and conv2's discounting sums on every k-th frame of each
video too (``curve_strides``): the same light paths sampled at ``frames_per_unit / k``. This
module turns them into one row per (variant, stride, layer): R² (|W|, w0) and γ with their
intervals, and how close the busiest series come to the T/10 cap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...analysis import propagation as P
from ...sweep import derive_seed
from ..nonsmoothness.config import PAPER_PATH_LENGTH, frames_on_path
from .cells import RecordedModel, r2_estimate, ratio_of_sums
from .config import CURVE_LAYERS, GAMMA_LAYER, PropagationConfig

__all__ = ["CAP_SHARE", "curve_rows", "frames_at_stride", "saturation"]

CAP_SHARE = 0.05
"""A series is "near the cap" when its peaks are more than 5 % of its frames (half the 10 %
that the peak rule can count at most)."""


def frames_at_stride(frames: np.ndarray | int, k: int) -> np.ndarray:
    """Frames of a video of ``frames`` frames keeping every ``k``-th (the first included)."""
    return (np.asarray(frames) - 1) // k + 1


def saturation(peaks: np.ndarray, frames: np.ndarray) -> dict[str, float]:
    """How close the series of one layer come to the peak rule's cap of about T/10 events.

    Args:
        peaks: ``[V, ...]`` number of peaks of each node's series.
        frames: ``[V]`` frames of each video (its second difference has ``T − 2`` entries).

    Returns:
        ``{"p99_events_per_frame", "max_events_per_frame", "share_near_cap"}``: over the nodes
        with at least one peak, the 99th percentile and the maximum of peaks / (T − 2), and the
        share above :data:`CAP_SHARE`.
    """
    per = peaks.reshape(peaks.shape[0], -1).astype(np.float64)
    rate = per / np.maximum(np.asarray(frames, dtype=np.float64) - 2, 1)[:, None]
    rate = rate[per > 0]
    if rate.size == 0:
        return {"p99_events_per_frame": 0.0, "max_events_per_frame": 0.0, "share_near_cap": 0.0}
    return {
        "p99_events_per_frame": float(np.quantile(rate, 0.99)),
        "max_events_per_frame": float(rate.max()),
        "share_near_cap": float(np.mean(rate > CAP_SHARE)),
    }


def _r2_sums(models: list[RecordedModel], k: int, layer: str, weights: str) -> np.ndarray:
    """Regression sums ``[models, videos, 6]`` of real on predicted channel-mean SMP."""
    rows = []
    for m in models:
        module = dict(m.module.named_modules())[layer]
        x, y = m.curve[k][layer]["input"], m.curve[k][layer]["output"]
        pred = P.linear_smp_prediction(module, x, weights=weights)
        rows.append(P.regression_sums(y.mean(1), pred.mean(1)))
    return np.stack(rows)


def curve_rows(
    config: PropagationConfig, variant: str, models: list[RecordedModel]
) -> list[dict[str, Any]]:
    """One row per (stride, layer): frames on the paper's path, R² (|W|, w0) with intervals,
    conv2's γ with its interval, and the saturation of the layer's output series.

    Args:
        config: the run's config (strides, bootstrap).
        variant: ``"as defined"`` or ``"terminator blanked"`` (a label of the rows).
        models: the ReLU+MaxPool models of that variant.
    """
    t_paper = frames_on_path(PAPER_PATH_LENGTH, config.frames_per_unit)
    rows = []
    for k in config.curve_strides:
        frames = frames_at_stride(np.stack([m.frames for m in models]), k)
        for index, layer in enumerate(CURVE_LAYERS):
            seed = derive_seed(config.seed, "curve", variant, k, layer)
            row: dict[str, Any] = {
                "variant": variant,
                "stride": k,
                "frames_on_paper_path": int(frames_at_stride(t_paper, k)),
                "frames_per_unit": config.frames_per_unit / k,
                "layer": layer,
            }
            for weights in ("abs", "w0"):
                est = r2_estimate(_r2_sums(models, k, layer, weights), config.n_boot, seed)
                row[f"r2_{weights}"] = est.value
                row[f"r2_{weights}_ci"] = [est.low, est.high]
            peaks = np.stack([m.peaks[k][layer] for m in models])
            row |= saturation(peaks.reshape(-1, *peaks.shape[2:]), frames.reshape(-1))
            if layer == GAMMA_LAYER:
                key = f"{layer}:discount" + ("" if k == 1 else f"@{k}")
                gamma = ratio_of_sums(
                    np.stack([m.sums[key] for m in models]), config.n_boot, seed + index
                )
                row |= {"gamma": gamma.value, "gamma_ci": [gamma.low, gamma.high]}
            rows.append(row)
    return rows
