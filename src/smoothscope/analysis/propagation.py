"""How nonsmoothness events (SMP) propagate through layers (paper A §V, Appendix B).

Linear layers (convolution, transposed convolution, fully connected, average pooling) pass
nonsmoothness events on linearly: with rare events that do not coincide, the SMP of an output
node is the sum of the input SMPs weighted by the absolute weights (eq. 5), or, with unknown
weights, by their expectation w0 (eq. 6). These predictions are computed by applying a copy of
the layer itself, with ``|W|`` (or ``w0``) as weights and no bias, to the input SMP map, so that
stride, padding (and padding mode), dilation, groups and output padding are respected exactly.

Activations and max pooling are statistical channels (eqs. 7, 8; :mod:`.channels`).
:func:`propagate` chains them layer after layer by Monte-Carlo sampling, the whole-network
prediction that paper A leaves for future work.

Example on your own model and videos::

    from smoothscope.probe import smp_maps, leaf_layers
    from smoothscope.analysis import propagation as P
    layers = leaf_layers(model)                       # a sequential model
    maps = smp_maps(model, videos, layers)            # {layer: {"input"|"output": maps}}
    channels = P.fit_channels([(model, maps)], layers)
    y = P.propagate(model, layers, maps[layers[0]]["input"].smp, channels, seed=0)
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._errors import SmoothscopeError
from ..signals import PEAK_FACTOR, NonsmoothnessMaps, peak_mask, second_difference
from .channels import (
    BernoulliGaussianChannel,
    EmpiricalChannel,
    LinearChannel,
    MaxPoolChannel,
)

__all__ = [
    "CHANNEL_KINDS",
    "check_sequential",
    "discounting_factor",
    "discounting_sums",
    "expected_weight",
    "fit_channels",
    "layer_kind",
    "linear_smp_prediction",
    "propagate",
    "regression_sums",
    "weight_peak_correlation",
    "window_max",
]

_WEIGHTED = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
)
_UNWEIGHTED_LINEAR = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.Identity,
    nn.Flatten,
    nn.Dropout,
)
_MAX_POOLS = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
_ACTIVATIONS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ReLU6,
    nn.Softplus,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.ELU,
    nn.SELU,
    nn.SiLU,
    nn.Hardtanh,
    nn.Mish,
)
CHANNEL_KINDS = ("parametric", "empirical")


def layer_kind(module: nn.Module) -> str:
    """``"linear"``, ``"activation"`` or ``"maxpool"``: how SMP passes through ``module``."""
    if isinstance(module, _WEIGHTED) or isinstance(module, _UNWEIGHTED_LINEAR):
        return "linear"
    if isinstance(module, _MAX_POOLS):
        return "maxpool"
    if isinstance(module, _ACTIVATIONS):
        return "activation"
    raise SmoothscopeError(
        f"layer: expected a convolution, linear, pooling or activation layer, got "
        f"{type(module).__name__}"
    )


def _as_map(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, NonsmoothnessMaps):
        x = x.smp
    t = torch.as_tensor(x, dtype=torch.float64)
    if t.dim() < 2:
        raise SmoothscopeError(
            f"{name}: expected a batch of SMP maps [N, ...], got {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise SmoothscopeError(f"{name}: expected finite non-negative SMPs")
    return t


def expected_weight(module: nn.Module) -> float:
    """w0 of eq. 6, estimated as the mean absolute weight of the layer.

    Eq. 6 takes expectations of eq. 5, whose terms are ``|W| · X``; so w0 stands for
    ``E|W|`` (the paper writes E[W], which is about 0 for trained filters).
    """
    if not isinstance(module, _WEIGHTED):
        raise SmoothscopeError(f"layer: expected a weighted layer, got {type(module).__name__}")
    return float(module.weight.detach().abs().mean())


@torch.no_grad()
def linear_smp_prediction(
    module: nn.Module, smp_in: Any, *, weights: str = "abs", w0: float | None = None
) -> torch.Tensor:
    """Predicted output SMP of a linear layer (paper A eqs. 5, 6; App. B for transposed conv).

    Args:
        module: a convolution, transposed convolution, linear or average-pooling layer.
        smp_in: input SMP maps ``[N, C_in, ...]`` (or :class:`NonsmoothnessMaps`).
        weights: ``"abs"`` — eq. 5 with the layer's ``|W|``; ``"w0"`` — eq. 6 with every
            weight replaced by ``w0`` (default :func:`expected_weight`).
        w0: the expected weight for ``weights="w0"``.

    Returns:
        float64 predicted SMP maps ``[N, C_out, ...]``.
    """
    x = _as_map(smp_in, "smp_in")
    if weights not in ("abs", "w0"):
        raise SmoothscopeError(f"weights: expected 'abs' or 'w0', got {weights!r}")
    if isinstance(module, _UNWEIGHTED_LINEAR):
        return module(x)
    if not isinstance(module, _WEIGHTED):
        raise SmoothscopeError(
            f"layer: expected a linear layer (conv, transposed conv, linear, avg pool), got "
            f"{type(module).__name__}"
        )
    layer = copy.deepcopy(module).to(torch.float64)
    if weights == "abs":
        layer.weight.abs_()
    else:
        layer.weight.fill_(expected_weight(module) if w0 is None else float(w0))
    if layer.bias is not None:
        layer.bias.zero_()
    try:
        return layer(x)
    except RuntimeError as exc:
        raise SmoothscopeError(
            f"smp_in: shape {tuple(x.shape)} does not fit layer {module}: {exc}".splitlines()[0]
        ) from exc


@torch.no_grad()
def window_max(module: nn.Module, smp_in: Any) -> torch.Tensor:
    """x of eq. 8: the largest input SMP in each pooling window (the pooling applied to SMPs)."""
    if not isinstance(module, _MAX_POOLS):
        raise SmoothscopeError(f"layer: expected a max-pooling layer, got {type(module).__name__}")
    layer = copy.copy(module)
    layer.return_indices = False
    return layer(_as_map(smp_in, "smp_in"))


def weight_peak_correlation(module: nn.Conv2d, smp_in: Any) -> float:
    """Pearson correlation between ``|W|`` and the input SMP over the terms of eq. 5.

    Eq. 6 assumes the weights are independent of the SMPs they multiply; paper A reports a
    correlation of 0.16. Every term ``|W_{o,c,i,j}| · X_{c,u,v}`` of every output node whose
    input SMP is positive (a peak) is one pair; the moments are accumulated in closed form from
    the unfolded input, without materialising the pairs.

    Args:
        module: a ``Conv2d`` with ``groups=1``.
        smp_in: input SMP maps ``[N, C_in, H, W]``.
    """
    if not isinstance(module, nn.Conv2d) or module.groups != 1:
        raise SmoothscopeError(
            f"layer: expected a Conv2d with groups=1, got {type(module).__name__}"
        )
    x = _as_map(smp_in, "smp_in")
    padding = module.padding if isinstance(module.padding, tuple) else (0, 0)
    cols = F.unfold(
        x, module.kernel_size, dilation=module.dilation, padding=padding, stride=module.stride
    )  # [N, C*k*k, L]
    w = module.weight.detach().double().abs().reshape(module.out_channels, -1)  # [O, J]
    on = (cols > 0).double()
    n_j = on.sum(dim=(0, 2))  # terms with a peak per weight position j
    s_x, s_xx = cols.sum(dim=(0, 2)), (cols**2).sum(dim=(0, 2))
    s_w, s_ww = w.sum(0), (w**2).sum(0)  # over output channels
    total = module.out_channels * n_j.sum()
    if total == 0:
        raise SmoothscopeError("smp_in: expected some positive SMP (peaks), got none")
    mean_w = (s_w * n_j).sum() / total
    mean_x = module.out_channels * s_x.sum() / total
    mean_wx = (s_w * s_x).sum() / total
    var_w = (s_ww * n_j).sum() / total - mean_w**2
    var_x = module.out_channels * s_xx.sum() / total - mean_x**2
    return float((mean_wx - mean_w * mean_x) / torch.sqrt(var_w * var_x))


@torch.no_grad()
def discounting_sums(
    module: nn.Module,
    series: Any,
    *,
    factor: float = PEAK_FACTOR,
    aligned: bool = False,
    chunk_size: int = 1 << 13,
    frame_chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-video numerator and denominator of :func:`discounting_factor`: ``[V]`` each.

    Streamed: one video at a time, the peaks of ``chunk_size`` node series at a time (the peak
    rule needs a whole series), the layer applied to ``frame_chunk`` frames at a time, so that
    besides the series themselves only one float64 copy of one video's peaks is held.
    """
    x = torch.as_tensor(series, dtype=torch.float64)
    if x.dim() < 3 or x.shape[1] < 3:
        raise SmoothscopeError(f"series: expected [V, T >= 3, C, ...], got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise SmoothscopeError("series: expected finite values")
    signed = copy.deepcopy(module).to(torch.float64)
    if getattr(signed, "bias", None) is not None:
        signed.bias.zero_()
    n_frames = x.shape[1] - 2
    nums, dens = np.zeros(x.shape[0]), np.zeros(x.shape[0])
    for v in range(x.shape[0]):
        nodes = x[v].reshape(x.shape[1], -1)
        peaks = torch.empty(n_frames, nodes.shape[1], dtype=torch.float64)
        for start in range(0, nodes.shape[1], chunk_size):
            d2 = second_difference(nodes[:, start : start + chunk_size], dim=0)
            peaks[:, start : start + chunk_size] = d2 * peak_mask(d2, dim=0, factor=factor)
        if aligned:
            peaks[0] = peaks.sum(0)
            peaks[1:] = 0.0
        peaks = peaks.reshape(n_frames, *x.shape[2:])
        for f in range(0, n_frames, frame_chunk):
            chunk = peaks[f : f + frame_chunk]
            try:
                nums[v] += float(signed(chunk).abs().sum())
            except RuntimeError as exc:
                message = f"series: shape {tuple(x.shape)} does not fit layer {module}: {exc}"
                raise SmoothscopeError(message.splitlines()[0]) from exc
            dens[v] += float(linear_smp_prediction(module, chunk.abs()).sum())
    return nums, dens


def discounting_factor(
    module: nn.Module, series: Any, *, factor: float = PEAK_FACTOR, aligned: bool = False
) -> float:
    """The §V-B discounting factor of a linear layer for coincident nonsmoothness events.

    Paper A (§V-B) notes that events "may happen simultaneously in different time series", so
    that "summing up the magnitude of these peaks will overestimate the nonsmoothness, and a
    discounting multiplicative factor can be used to compensate"; eq. 5 then assumes the events
    do not coincide (factor 1). The layer is linear, so the second difference of an output node
    is the weighted sum of its inputs' second differences. Keeping only the inputs' peaks
    ``P = δ²x·1(peak)``, the events reach the output as ``Σ W·P`` (signed: coincident peaks may
    cancel), while eq. 5 counts ``Σ |W|·|P|``. The factor is

        γ = Σ_{t, output nodes} |Σ W·P| / Σ_{t, output nodes} Σ |W|·|P|   ∈ [0, 1],

    exactly 1 when no two peaks entering an output node coincide in time (or when coincident
    ones share their sign), and the multiplier that makes eq. 5's total match the summed
    magnitudes of the events that reach the outputs. ``aligned=True`` moves every input series'
    peaks to one common frame (each series' ``ΣP`` at frame 0), fully simultaneous events: a
    control whose factor drops below 1 wherever signs differ.

    Args:
        module: a convolution, transposed convolution or linear layer.
        series: ``[V, T, C, ...]`` the layer's input over the ``T`` frames of ``V`` videos.
        factor: peak factor (paper: 10).
        aligned: align every series' peaks to one frame (the control).

    Returns:
        γ (NaN when the input has no peak).
    """
    num, den = discounting_sums(module, series, factor=factor, aligned=aligned)
    total = float(den.sum())
    return float(num.sum()) / total if total > 0 else float("nan")


def regression_sums(real: Any, predicted: Any) -> np.ndarray:
    """Sufficient statistics ``[n, Σp, Σy, Σpp, Σyy, Σpy]`` of a simple linear regression of
    real on predicted, per leading index: ``[N, ...]`` maps give ``[N, 6]``.

    R² of pooled data (and of bootstrap resamples) follows from sums of these rows
    (:func:`smoothscope.stats.r2_from_sums`).
    """
    y = torch.as_tensor(real, dtype=torch.float64).flatten(1)
    p = torch.as_tensor(predicted, dtype=torch.float64).flatten(1)
    if y.shape != p.shape:
        raise SmoothscopeError(
            f"real, predicted: expected equal shapes, got {tuple(y.shape)} and {tuple(p.shape)}"
        )
    n = torch.full((y.shape[0],), float(y.shape[1]), dtype=torch.float64)
    sums = [n, p.sum(1), y.sum(1), (p * p).sum(1), (y * y).sum(1), (p * y).sum(1)]
    return torch.stack(sums, dim=1).numpy()


def check_sequential(maps: Mapping[str, Mapping[str, Any]], layers: Sequence[str]) -> None:
    """Raise unless each layer's input SMP map is the previous layer's output map (a chain)."""
    for before, after in itertools.pairwise(layers):
        a = _as_map(maps[before]["output"], "maps")
        b = _as_map(maps[after]["input"], "maps")
        if a.shape != b.shape or not torch.equal(a, b):
            raise SmoothscopeError(
                f"layers: expected a sequential chain, but the input of {after!r} is not the "
                f"output of {before!r}"
            )


def _fit_one(
    kind: str,
    module: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    channel_kind: str,
    threshold: float | None,
):
    if channel_kind == "empirical":
        return EmpiricalChannel.fit(x, y)
    if kind == "activation":
        slope = "fixed" if isinstance(module, nn.ReLU) else "fit"
        return BernoulliGaussianChannel.fit(x, y, slope=slope)
    if kind == "maxpool":
        return MaxPoolChannel.fit(x, y, threshold=threshold)
    if np.ptp(x) == 0:  # no spread of the prediction (e.g. no events): eq. 5 as it is
        return None
    return LinearChannel.fit(x, y)  # eq. 5 calibrated, as the empirical channel is


def fit_channels(
    fitted: Sequence[tuple[nn.Module, Mapping[str, Mapping[str, Any]]]],
    layers: Sequence[str],
    *,
    kind: str = "parametric",
    maxpool_threshold: float | None = None,
) -> dict[str, Any]:
    """Fit one channel per layer from paired input/output SMP maps of one or more models.

    Parametric (paper A): eq. 5 for linear layers, calibrated by the least-squares line of the
    real output SMP on the eq. 5 prediction (:class:`LinearChannel`, the line the paper fits for
    its R²; the empirical chain is calibrated the same way), the
    Bernoulli–Gaussian channel (eq. 7) for activations (slope 1 for ReLU as in the paper, a
    fitted slope for smooth activations, which scale SMPs by their derivative), the
    threshold + Gaussian-mixture channel (eq. 8) for max pooling. Empirical (the paper's
    Monte-Carlo alternative): the empirical conditional distribution of the output SMP given the
    eq. 5 prediction, the input SMP or the window maximum.

    Args:
        fitted: ``(model, maps)`` pairs; maps from :func:`smoothscope.probe.smp_maps` with both
            sides of every layer (or plain SMP tensors ``[N, ...]`` in their place). Models
            must share the layer names.
        layers: the layers to fit.
        kind: ``"parametric"`` or ``"empirical"``.
        maxpool_threshold: a of eq. 8 (None, the default: estimated by maximum likelihood;
            :data:`~.channels.PAPER_MAXPOOL_THRESHOLD` for the paper's 0.0025).

    Returns:
        ``{layer: channel or None}``.
    """
    if kind not in CHANNEL_KINDS:
        raise SmoothscopeError(f"kind: expected one of {CHANNEL_KINDS}, got {kind!r}")
    if not fitted:
        raise SmoothscopeError("fitted: expected at least one (model, maps) pair, got none")
    channels: dict[str, Any] = {}
    for layer in layers:
        xs, ys = [], []
        module = None
        for model, maps in fitted:
            modules = dict(model.named_modules())
            if layer not in modules or layer not in maps:
                raise SmoothscopeError(f"layers: {layer!r} is missing from a model or its maps")
            module = modules[layer]
            x_in = _as_map(maps[layer]["input"], f"maps[{layer!r}]['input']")
            y_out = _as_map(maps[layer]["output"], f"maps[{layer!r}]['output']")
            kind_of = layer_kind(module)
            if kind_of == "linear":
                x = linear_smp_prediction(module, x_in)
            elif kind_of == "maxpool":
                x = window_max(module, x_in)
            else:
                x = x_in
            xs.append(x.reshape(-1).numpy())
            ys.append(y_out.reshape(-1).numpy())
        channels[layer] = _fit_one(
            layer_kind(module),
            module,
            np.concatenate(xs),
            np.concatenate(ys),
            kind,
            maxpool_threshold,
        )
    return channels


def _sample(channel: Any, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    values = channel.sample(x.numpy(), rng)
    return torch.as_tensor(np.asarray(values, dtype=np.float64)).reshape(x.shape)


@torch.no_grad()
def propagate(
    model: nn.Module,
    layers: Sequence[str],
    smp_in: Any,
    channels: Mapping[str, Any],
    *,
    seed: int = 0,
    start: str = "input",
) -> dict[str, torch.Tensor]:
    """Chain the channel models through ``layers`` by Monte-Carlo sampling (paper A §V-E).

    Starting from the SMP maps entering ``layers[0]``, each linear layer applies eq. 5 with the
    model's own ``|W|`` (then, if an empirical channel is given for it, samples the output given
    that prediction), each activation samples its channel given the input SMP, and each
    max-pooling layer samples its channel given the window maxima. The network must be a chain
    (each layer feeds the next).

    Args:
        model: the network whose layers are chained (its weights enter eq. 5).
        layers: module names in data-flow order.
        smp_in: SMP maps ``[N, ...]`` entering the first layer.
        channels: ``{layer: channel}`` from :func:`fit_channels` (``None`` for a linear layer:
            eq. 5 alone, uncalibrated).
        seed: seed of the sampling.
        start: only ``"input"`` (the maps enter the first layer); kept explicit for clarity.

    Returns:
        ``{layer: sampled output SMP maps}`` for every layer of the chain.
    """
    if start != "input":
        raise SmoothscopeError(f"start: expected 'input', got {start!r}")
    modules = dict(model.named_modules())
    rng = np.random.default_rng(seed)
    x = _as_map(smp_in, "smp_in")
    outputs: dict[str, torch.Tensor] = {}
    for layer in layers:
        if layer not in modules:
            raise SmoothscopeError(f"layers: {layer!r} is not a module of the model")
        module = modules[layer]
        kind = layer_kind(module)
        channel = channels.get(layer)
        if kind == "linear":
            x = linear_smp_prediction(module, x)
            if channel is not None:
                x = _sample(channel, x, rng)
        else:
            if channel is None:
                raise SmoothscopeError(f"channels: expected a fitted channel for {layer!r}")
            x = _sample(channel, window_max(module, x) if kind == "maxpool" else x, rng)
        outputs[layer] = x
    return outputs
