"""Pure 1-D math along one axis of a tensor: second differences, kinks, peaks, SMP, AveNonSmooth.

Every function works on any number of series at once: the series run along ``dim`` and every
other axis indexes a series (a pixel, a node, a channel...). Differences are taken in float64,
because the second difference of a smooth, finely sampled curve is a small number obtained by
cancelling large ones.

Paper A (Liu, Wong, Dai, "Modeling the nonsmoothness of modern neural networks"):

* eq. (2): the discrete kink detector ``|f(t+Δ) + f(t-Δ) - 2 f(t)| > τ_d``;
* eq. (4): ``AveNonSmooth = 1/(MNT) Σ_ijt |δ² y_ij(t)|``;
* §V-B: a *peak* is a value larger than ten times both the sample mean and the sample median of
  its series; the *sum of the magnitude of peaks* (SMP) of a second-difference series is the sum
  of ``|δ²|`` over its peaks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from ._errors import SmoothscopeError
from ._validate import as_tensor, check_dim, check_finite, positive

__all__ = [
    "NonsmoothnessMaps",
    "ave_nonsmooth",
    "detect_kinks",
    "nonsmoothness_maps",
    "peak_mask",
    "rounding_floor",
    "second_difference",
    "second_difference_at",
    "smp",
]

PEAK_FACTOR = 10.0
"""Paper A §V-B: a peak is ten times larger than the sample mean and median of its series."""
ROUNDING_FACTOR = 4.0
"""Bound (in units of ε·max|x|) on the rounding error of a second difference."""


def _second_difference(x: torch.Tensor, dim: int, step: int) -> torch.Tensor:
    """Unchecked kernel: ``x[t+s] + x[t-s] - 2 x[t]`` along ``dim`` in float64."""
    x = x.to(torch.float64)
    n = x.shape[dim]
    head = x.narrow(dim, 0, n - 2 * step)
    mid = x.narrow(dim, step, n - 2 * step)
    tail = x.narrow(dim, 2 * step, n - 2 * step)
    return (head + tail) - 2.0 * mid


def second_difference(x: torch.Tensor, *, dim: int = 0, step: int = 1) -> torch.Tensor:
    """Second-order difference ``δ²_Δ x(t) = x(t+Δ) + x(t-Δ) - 2 x(t)`` (paper A, eq. 2).

    The samples along ``dim`` are taken at a uniform period; ``step`` is Δ in units of that period.
    The difference is *not* divided by Δ² (paper A's convention: ReLU sampled at period 0.1 has
    one second difference of 0.1 at its kink).

    Args:
        x: samples, shape ``[..., T, ...]`` with time (or any path parameter) along ``dim``.
        dim: the sampling axis.
        step: Δ as a positive whole number of samples.

    Returns:
        float64 tensor with ``T - 2*step`` entries along ``dim``; entry ``t`` belongs to sample
        ``t + step`` of the input.
    """
    x = as_tensor(x, "x")
    step = positive(step, "step", integer=True)
    dim = check_dim(x, dim, "x", min_length=2 * step + 1)
    check_finite(x, "x")
    return _second_difference(x, dim, step)


def second_difference_at(
    f: Callable[[torch.Tensor], torch.Tensor], t: torch.Tensor, *, step: float
) -> torch.Tensor:
    """Eq. (2) of paper A evaluated on a function: ``f(t+Δ) + f(t-Δ) - 2 f(t)``.

    Args:
        f: an elementwise function of a float64 tensor (e.g. ``torch.relu``).
        t: points where the difference is wanted, any shape.
        step: the sampling period Δ > 0.

    Returns:
        float64 tensor of the same shape as ``t``.
    """
    step = positive(step, "step")
    t = as_tensor(t, "t").to(torch.float64)
    check_finite(t, "t")
    return (f(t + step) + f(t - step)) - 2.0 * f(t)


def detect_kinks(x: torch.Tensor, threshold: float, *, dim: int = 0, step: int = 1) -> torch.Tensor:
    """Discrete nonsmoothness detector ``|δ²_Δ x(t)| > τ_d`` (paper A, eq. 2).

    Args:
        x: samples, shape ``[..., T, ...]`` with time along ``dim``.
        threshold: the detection threshold τ_d > 0 (paper A uses 0.02 with Δ = 0.1).
        dim: the sampling axis.
        step: Δ in samples.

    Returns:
        bool tensor shaped like :func:`second_difference` of ``x``; True where a kink is detected.
    """
    threshold = positive(threshold, "threshold")
    return second_difference(x, dim=dim, step=step).abs() > threshold


def ave_nonsmooth(x: torch.Tensor, *, dim: int = 0, step: int = 1) -> torch.Tensor:
    """AveNonSmooth, the mean absolute second difference of a video (paper A, eq. 4).

    All axes after ``dim`` (pixels, channels) are averaged together with time; axes before
    ``dim`` are kept, so a batch of videos ``[B, T, C, H, W]`` with ``dim=1`` gives ``[B]``.
    Eq. (4) writes the normalisation as ``1/(MNT)``; the second difference exists at ``T - 2``
    frames only, and we average over those (the paper's value is ours times ``(T-2)/T``).

    Args:
        x: video(s), shape ``[*batch, T, *pixels]``.
        dim: the time axis.
        step: Δ in frames.

    Returns:
        float64 tensor of shape ``batch``.
    """
    d2 = second_difference(x, dim=dim, step=step)
    return d2.abs().flatten(dim).mean(dim=-1)


def _median(a: torch.Tensor, dim: int) -> torch.Tensor:
    """Sample median along ``dim`` (mean of the two middle values for even counts)."""
    n = a.shape[dim]
    if n % 2:
        return a.median(dim=dim).values
    lower = a.kthvalue(n // 2, dim=dim).values
    upper = a.kthvalue(n // 2 + 1, dim=dim).values
    return 0.5 * (lower + upper)


def _peaks(magnitude: torch.Tensor, factor: float, floor: torch.Tensor | float) -> torch.Tensor:
    """Unchecked kernel of :func:`peak_mask` on non-negative float64 rows ``[n, T]``.

    A peak must exceed ``factor * mean`` (and ``floor``); only rows that have such a value need
    their median, the costly part (two selections), so the median is computed for those alone.
    """
    threshold = torch.clamp_min(factor * magnitude.mean(dim=1, keepdim=True), floor)
    above_mean = magnitude > threshold
    rows = above_mean.any(dim=1).nonzero().squeeze(1)
    if rows.numel() == 0:
        return above_mean
    candidates = magnitude.index_select(0, rows)
    median = _median(candidates, 1).unsqueeze(1)
    above_mean[rows] &= candidates > factor * median
    return above_mean


def peak_mask(
    d2: torch.Tensor, *, dim: int = 0, factor: float = PEAK_FACTOR, atol: float = 0.0
) -> torch.Tensor:
    """Peaks of a second-difference series (paper A, §V-B).

    A peak is an entry whose magnitude ``|δ²|`` exceeds ``factor`` times both the sample mean and
    the sample median of the magnitudes of its series, and exceeds ``atol``. An all-zero series
    has no peak.

    Args:
        d2: second differences, shape ``[..., T', ...]`` with time along ``dim``.
        dim: the time axis.
        factor: the peak factor (paper: 10).
        atol: an absolute floor, e.g. the rounding noise of the differenced data
            (see :func:`rounding_floor`); 0 applies the paper's rule alone.

    Returns:
        bool tensor of the shape of ``d2``.
    """
    d2 = as_tensor(d2, "d2")
    dim = check_dim(d2, dim, "d2")
    factor = positive(factor, "factor")
    if not atol >= 0:
        raise SmoothscopeError(f"atol: expected a non-negative number, got {atol!r}")
    check_finite(d2, "d2")
    rows = d2.to(torch.float64).abs().movedim(dim, -1)
    mask = _peaks(rows.reshape(-1, rows.shape[-1]), factor, float(atol))
    return mask.reshape(rows.shape).movedim(-1, dim)


def smp(
    d2: torch.Tensor, *, dim: int = 0, factor: float = PEAK_FACTOR, atol: float = 0.0
) -> torch.Tensor:
    """Sum of the magnitude of peaks (SMP) of second-difference series (paper A, §V-B).

    Args:
        d2: second differences, shape ``[..., T', ...]`` with time along ``dim``.
        dim: the time axis.
        factor: the peak factor (paper: 10).
        atol: absolute floor of a peak (see :func:`peak_mask`).

    Returns:
        float64 tensor: ``d2``'s shape without ``dim``; one SMP per series.
    """
    d2 = as_tensor(d2, "d2").to(torch.float64)
    magnitude = d2.abs()
    return (magnitude * peak_mask(d2, dim=dim, factor=factor, atol=atol)).sum(dim=dim)


class NonsmoothnessMaps(NamedTuple):
    """Per-series nonsmoothness statistics of a recording (shapes: the recording without time).

    Attributes:
        mean_abs: mean ``|δ²|`` of each series; its mean over pixels is AveNonSmooth (eq. 4).
        smp: sum of the magnitude of peaks of each series (§V-B).
        n_peaks: number of peaks of each series (int64).
    """

    mean_abs: torch.Tensor
    smp: torch.Tensor
    n_peaks: torch.Tensor


def rounding_floor(series: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """Rounding noise of the second difference of series stored in ``dtype``.

    ``x(t+Δ) + x(t-Δ) - 2 x(t)`` of values rounded to ``dtype`` carries an error of up to
    ``4 ε max|x|`` (ε the machine epsilon of ``dtype``); a peak must exceed it, otherwise the
    sparse nonzero rounding residues of an exactly smooth (e.g. linear) series would be taken
    for peaks, since they stand far above that series' zero median.
    """
    return ROUNDING_FACTOR * torch.finfo(dtype).eps * series.abs().amax(dim=dim, keepdim=True)


def _chunk_maps(
    x: torch.Tensor,
    step: int,
    factor: float,
    eps: float,
    mean_abs: torch.Tensor,
    total: torch.Tensor,
    count: torch.Tensor,
) -> None:
    """Kernel of :func:`nonsmoothness_maps` on a ``[T, c]`` chunk (time first), written in place.

    Works in the time-first layout so that every pass is a contiguous, vectorised sweep across
    series; a handful of passes over the chunk: conversion, the difference (two in-place passes),
    mean, max, and min/max of the samples for the rounding floor. Only the few series that have
    a value above ``factor × mean`` (peak candidates) are gathered for the median, the mask and
    the SMP.
    """
    x = x.to(torch.float64, memory_format=torch.contiguous_format)
    n = x.shape[0] - 2 * step
    d2 = torch.add(x[:n], x[2 * step :])
    d2.sub_(x[step : step + n], alpha=2.0).abs_()
    torch.mean(d2, dim=0, out=mean_abs)
    low, high = torch.aminmax(x, dim=0)
    floor = ROUNDING_FACTOR * eps * torch.maximum(high, -low)
    threshold = torch.maximum(factor * mean_abs, floor)
    candidates = (d2.amax(dim=0) > threshold).nonzero().squeeze(1)
    if candidates.numel() == 0:
        return
    rows = d2.index_select(1, candidates).T.contiguous()  # [k, T']
    mask = rows > threshold[candidates, None]
    mask &= rows > factor * _median(rows, 1)[:, None]
    total[candidates] = (rows * mask).sum(dim=1)
    count[candidates] = mask.sum(dim=1)


def nonsmoothness_maps(
    recording: torch.Tensor,
    *,
    dim: int = 0,
    step: int = 1,
    factor: float = PEAK_FACTOR,
    chunk_size: int = 1 << 13,
) -> NonsmoothnessMaps:
    """Second differences, peaks, SMP and mean ``|δ²|`` of every series of a recording, streamed.

    The recording is processed ``chunk_size`` series at a time, so the float64 intermediates
    never exceed a few times ``chunk_size * T * 8`` bytes whatever the size of the recording.
    Besides the paper's rule (``factor`` × mean and median), a peak must exceed the rounding
    noise of the recording's dtype (:func:`rounding_floor`).

    Args:
        recording: shape ``[T, *nodes]`` (or time along ``dim``), any real dtype.
        dim: the time axis.
        step: Δ in samples.
        factor: the peak factor (paper: 10).
        chunk_size: number of series analysed together.

    Returns:
        :class:`NonsmoothnessMaps` with tensors of shape ``nodes``.
    """
    recording = as_tensor(recording, "recording")
    step = positive(step, "step", integer=True)
    factor = positive(factor, "factor")
    chunk_size = positive(chunk_size, "chunk_size", integer=True)
    dim = check_dim(recording, dim, "recording", min_length=2 * step + 1)
    series = recording.movedim(dim, 0)
    node_shape = series.shape[1:]
    series = series.reshape(series.shape[0], -1)  # a view when time is the leading axis
    n = series.shape[1]
    eps = torch.finfo(recording.dtype).eps
    mean_abs = torch.empty(n, dtype=torch.float64)
    total = torch.zeros(n, dtype=torch.float64)
    count = torch.zeros(n, dtype=torch.int64)
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        _chunk_maps(
            series[:, start:stop],
            step,
            factor,
            eps,
            mean_abs[start:stop],
            total[start:stop],
            count[start:stop],
        )
        if not bool(torch.isfinite(mean_abs[start:stop]).all()):
            # every sample enters some second difference, so a NaN or inf shows in the mean
            raise SmoothscopeError(
                f"recording: expected finite values, got NaN or inf among series "
                f"{start}..{stop - 1}"
            )
    return NonsmoothnessMaps(
        mean_abs.reshape(node_shape), total.reshape(node_shape), count.reshape(node_shape)
    )
