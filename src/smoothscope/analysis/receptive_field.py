"""Effective receptive fields (paper B §4, Appendix A) and log-log scaling exponents.

``A_k`` is measured from single-pixel inputs: the response of a central unit of layer k to each
single-pixel input ``δ_j`` (minus its response to the zero input) is summed in absolute value
over channels, giving a profile over input pixels j; ``A_k`` is the standard deviation of that
profile, in input pixels. For stride 1 and a homogeneous filter this is the width of the
diffusion ``f_k(δ_i)`` of paper B §4.1; for stride F it is the spread of a block of ``F^k``
pixels (``∝ F^k``, paper B §4.2).

Predictions for a homogeneous filter of size F, stride 1 (a random walk whose steps are uniform
on F consecutive integers): variance ``k (F² − 1) / 12`` exactly, for odd and even F (even F also
drifts by −1/2 per step). Paper B's (A.2)–(A.3) write the limit Gaussian as
``exp(−(a − i)² / (4 D k))``, i.e. variance ``2 D k``, with ``D(1) = (F − 1)³ / (12 F)`` (odd F)
and ``D(2) = (F³ − 3F² + 6F − 4) / (12 F)`` (even F) and drift ``(1 − F) / (2F)``: for F = 3 this
is a variance of ``0.44 k`` instead of ``0.67 k``; both grow as ``k``, so ``A_k ∝ √k`` holds,
but the prefactors (and the even-F drift) differ from the exact random walk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats as scipy_stats
from torch import nn

from .._errors import SmoothscopeError
from ..stats import Estimate

__all__ = [
    "effective_receptive_field",
    "loglog_slope",
    "paper_appendix_a_width",
    "random_walk_width",
]


@torch.no_grad()
def effective_receptive_field(
    model: nn.Module, layers: Sequence[str], *, length: int, dim: int = 1, in_channels: int = 1
) -> np.ndarray:
    """``A_k`` of each layer, measured from single-pixel inputs.

    Args:
        model: a convolutional network on ``[B, C, L]`` (dim 1) or ``[B, C, L, L]`` (dim 2).
        layers: module names (e.g. ``model.representation_layers()[:-1]``).
        length: L.
        dim: 1 or 2 (2-D: the mean of the two axes' variances, then the square root).
        in_channels: input channels (the pixel is set in every channel).

    Returns:
        ``[len(layers)]`` widths in input pixels.
    """
    if dim not in (1, 2):
        raise SmoothscopeError(f"dim: expected 1 or 2, got {dim!r}")
    modules = dict(model.named_modules())
    missing = [n for n in layers if n not in modules]
    if missing:
        raise SmoothscopeError(f"layers: expected module names of the model, got {missing[0]!r}")
    n_pixels = length**dim
    eye = torch.eye(n_pixels, dtype=torch.float64)
    shape = (n_pixels, in_channels) + (length,) * dim
    inputs = torch.cat(
        [
            eye.reshape(n_pixels, 1, *(length,) * dim).expand(shape),
            torch.zeros(1, *shape[1:], dtype=torch.float64),
        ]
    )
    evaluator = _double(model)
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        dict(evaluator.named_modules())[name].register_forward_hook(
            lambda m, a, o, name=name: outputs.__setitem__(name, o.detach())
        )
        for name in layers
    ]
    try:
        evaluator(inputs)
    finally:
        for handle in handles:
            handle.remove()
    coords = np.indices((length,) * dim).reshape(dim, -1).astype(np.float64)  # [dim, pixels]
    widths = []
    for name in layers:
        out = outputs[name]
        centre = tuple(s // 2 for s in out.shape[2:])
        unit = out[(slice(None), slice(None), *centre)]  # [pixels + 1, C]
        weight = (unit[:-1] - unit[-1:]).abs().sum(dim=1).numpy()
        total = weight.sum()
        if total <= 0:
            widths.append(math.nan)  # a dead unit: no pixel reaches it
            continue
        mean = coords @ weight / total
        var = ((coords - mean[:, None]) ** 2) @ weight / total
        widths.append(float(np.sqrt(var.mean())))
    return np.asarray(widths)


def _double(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).to(torch.float64).eval()


def random_walk_width(k: np.ndarray | int, filter_size: int) -> np.ndarray:
    """Exact ``A_k = sqrt(k (F² − 1) / 12)`` for k homogeneous filters of size F, stride 1."""
    return np.sqrt(np.asarray(k, dtype=np.float64) * (filter_size**2 - 1) / 12.0)


def paper_appendix_a_width(k: np.ndarray | int, filter_size: int) -> np.ndarray:
    """The width ``sqrt(2 D k)`` of paper B's Gaussians (A.2) (odd F) and (A.3) (even F)."""
    f = filter_size
    d = (f - 1) ** 3 / (12 * f) if f % 2 else (f**3 - 3 * f**2 + 6 * f - 4) / (12 * f)
    return np.sqrt(2.0 * d * np.asarray(k, dtype=np.float64))


def loglog_slope(x: Sequence[float], y: Sequence[float], *, level: float = 0.95) -> Estimate:
    """Slope of ``log y`` vs ``log x`` by least squares, with a t-based confidence interval.

    Non-finite or non-positive points are dropped; at least 3 points are needed.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if keep.sum() < 3:
        raise SmoothscopeError(f"x, y: expected at least 3 positive points, got {int(keep.sum())}")
    fit = scipy_stats.linregress(np.log(x[keep]), np.log(y[keep]))
    t = scipy_stats.t.ppf(0.5 + level / 2, keep.sum() - 2)
    return Estimate(fit.slope, fit.slope - t * fit.stderr, fit.slope + t * fit.stderr)
