"""Paper C's Toy-CNN (Appendix A.1) with optional shortcuts and feature-group averaging (§4.4).

Paper C: "a simple convolutional network consisting of units of 3x3-convolutions with 16 feature
channels on all layers (16 · a for the averaging networks), followed by batch normalization and
non-linear activation, stacked-up L-times. Optional short-cut connections are added [...] between
each unit (i.e., residual blocks of depth 1). No pooling or striding is used. The input layer
uses a stride of 5 to reduce memory demands. The classification layer is composed of a
fully-connected layer".

Unit i (i = 1..L), module ``units.unit{i}``, with submodules

==================  =========================================================================
``conv``            Conv2d(c_in, a·C, 3, padding=1), stride ``first_stride`` (5) for i = 1,
                    else 1; no bias when ``batch_norm`` (BN's shift replaces it)
``bn``              BatchNorm2d(a·C) (``nn.Identity`` when ``batch_norm=False``)
``act``             the activation (:func:`make_activation`)
``group``           :class:`GroupSum`: a·C → C channels (a no-op for a = 1)
==================  =========================================================================

and output ``group(act(bn(conv(x))))`` (+ ``x`` for units 2..L when ``shortcut=True``), where
C = ``channels`` (16) and c_in = ``in_channels`` for unit 1, else C. The unit module's forward
output is the representation after unit i. Then ``pool`` (global average) → ``classifier``
(Linear(C, num_classes)). The paper does not say how the feature map reaches its
fully-connected layer; we pool globally so that any input size works.

Feature-group averaging (§4.4, factor a = ``group_average``): "we replace every n-feature
convolution / batch normalization / activation sequence in the network with a a · n feature
sequence where the a feature groups get averaged after the activation (in reality we only use
summation, since normalizing is taken care of by batch normalization)". So each unit's conv and
BN have a·C channels and, after the activation, channel ``g·C + c`` (group g = 0..a-1) is
summed over g into channel c (``group_reduce="sum"``, the paper's choice; ``"mean"`` divides by
a). The input of the next unit (and the shortcut) thus has C channels again.

Shapes: input ``[B, in_channels, S, S]``; unit 1 maps it to ``[B, C, ⌊(S-1)/5⌋+1, …]``
(32 → 7), later units keep that shape; output ``[B, num_classes]``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError
from .._validate import positive
from ._registry import register

__all__ = [
    "ACTIVATION_NAMES",
    "GroupSum",
    "ToyCNN",
    "ToyUnit",
    "make_activation",
    "toycnn",
]

_SIMPLE_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "selu": nn.SELU,
    "sigmoid": nn.Sigmoid,
    "hardtanh": nn.Hardtanh,
    "swish": nn.SiLU,
    "silu": nn.SiLU,
    "identity": nn.Identity,
    "linear": nn.Identity,
}

ACTIVATION_NAMES = (*sorted(_SIMPLE_ACTIVATIONS), "leaky_relu", "leaky_relu:<slope>")
"""Names accepted by :func:`make_activation` (``leaky_relu`` alone has PyTorch's slope 0.01)."""


def make_activation(name: str) -> nn.Module:
    """A fresh activation module from its name.

    Args:
        name: one of ``relu``, ``tanh``, ``softplus`` (β = 1), ``elu``, ``gelu`` (exact erf
            form), ``selu``, ``sigmoid``, ``hardtanh`` (clip to [-1, 1]), ``swish`` / ``silu``,
            ``identity`` / ``linear``, ``leaky_relu`` (negative slope 0.01) or
            ``leaky_relu:<slope>`` (standard negative slope, e.g. ``leaky_relu:0.2``:
            x for x ≥ 0, slope·x otherwise).

    Returns:
        The module (PyTorch's defaults for all other parameters).
    """
    if not isinstance(name, str):
        raise SmoothscopeError(
            f"activation: expected one of {', '.join(ACTIVATION_NAMES)}, got {name!r}"
        )
    key = name.strip().lower()
    if key in _SIMPLE_ACTIVATIONS:
        return _SIMPLE_ACTIVATIONS[key]()
    if key == "leaky_relu":
        return nn.LeakyReLU()
    if key.startswith("leaky_relu:"):
        text = key.split(":", 1)[1]
        try:
            slope = float(text)
        except ValueError:
            slope = math.nan
        if not math.isfinite(slope):
            raise SmoothscopeError(
                f"activation: expected 'leaky_relu:<finite slope>', got {name!r}"
            )
        return nn.LeakyReLU(negative_slope=slope)
    raise SmoothscopeError(
        f"activation: expected one of {', '.join(ACTIVATION_NAMES)}, got {name!r}"
    )


def _group_factor(value: Any) -> int:
    return positive(value, "group_average", integer=True)


class GroupSum(nn.Module):
    """Sum (or average) ``a`` feature groups: ``[B, a·C, H, W] → [B, C, H, W]``.

    Channel ``g·C + c`` (group g = 0..a-1, channel c = 0..C-1) goes to output channel c, i.e.
    ``x.view(B, a, C, H, W).sum(1)``. For a = 1 the input is returned unchanged (same object).

    Args:
        groups: a ≥ 1.
        reduce: ``"sum"`` (paper C §4.4) or ``"mean"``.
    """

    def __init__(self, groups: int = 1, reduce: str = "sum") -> None:
        super().__init__()
        self.groups = _group_factor(groups)
        if reduce not in ("sum", "mean"):
            raise SmoothscopeError(f"group_reduce: expected 'sum' or 'mean', got {reduce!r}")
        self.reduce = reduce

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.groups
        if a == 1:
            return x
        b, ac, *rest = x.shape
        if ac % a:
            raise SmoothscopeError(
                f"input: expected a channel count divisible by {a}, got shape {tuple(x.shape)}"
            )
        grouped = x.reshape(b, a, ac // a, *rest)
        return grouped.sum(1) if self.reduce == "sum" else grouped.mean(1)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, reduce={self.reduce!r}"


class ToyUnit(nn.Module):
    """One Toy-CNN unit: conv 3 × 3 → BN → activation → group sum (+ input when residual).

    Args:
        c_in: input channels.
        channels: output channels C (the conv and BN have ``group_average · C``).
        activation: activation name (:func:`make_activation`).
        stride: conv stride.
        residual: add the unit's input to its output (needs ``c_in == channels``, stride 1).
        batch_norm: use BatchNorm2d (else ``bn`` is ``nn.Identity`` and the conv has a bias).
        group_average: a.
        group_reduce: ``"sum"`` or ``"mean"``.

    Shapes:
        input ``[B, c_in, H, W]``; output ``[B, C, ⌊(H-1)/stride⌋+1, ⌊(W-1)/stride⌋+1]``.
    """

    def __init__(
        self,
        c_in: int,
        channels: int,
        activation: str,
        *,
        stride: int = 1,
        residual: bool = False,
        batch_norm: bool = True,
        group_average: int = 1,
        group_reduce: str = "sum",
    ) -> None:
        super().__init__()
        if residual and (c_in != channels or stride != 1):
            raise SmoothscopeError(
                f"shortcut: a unit with a shortcut needs equal shapes, got {c_in} → {channels} "
                f"channels with stride {stride}"
            )
        wide = group_average * channels
        self.conv = nn.Conv2d(c_in, wide, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn: nn.Module = nn.BatchNorm2d(wide) if batch_norm else nn.Identity()
        self.act = make_activation(activation)
        self.group = GroupSum(group_average, group_reduce)
        self.residual = bool(residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.group(self.act(self.bn(self.conv(x))))
        return out + x if self.residual else out

    def extra_repr(self) -> str:
        return f"residual={self.residual}"


class ToyCNN(nn.Module):
    """Paper C's Toy-CNN: L units of conv 3 × 3 / BN / activation, global pool, linear.

    Args:
        units: L ≥ 1.
        activation: activation name (:func:`make_activation`), e.g. ``"relu"``, ``"tanh"``,
            ``"softplus"``, ``"leaky_relu:0.2"``.
        channels: feature channels C per unit (16).
        in_channels: image channels.
        num_classes: outputs of the classifier.
        shortcut: add each unit's input to its output for units 2..L (unit 1 changes the shape).
        group_average: feature-group factor a (§4.4); 1 is the plain network.
        group_reduce: how the a groups are merged: ``"sum"`` (paper) or ``"mean"``.
        batch_norm: BatchNorm2d after every conv.
        first_stride: stride of unit 1's conv (5 in the paper).

    Shapes:
        input ``[B, in_channels, H, W]``; output ``[B, num_classes]``.
    """

    def __init__(
        self,
        units: int,
        activation: str = "relu",
        *,
        channels: int = 16,
        in_channels: int = 3,
        num_classes: int = 10,
        shortcut: bool = False,
        group_average: int = 1,
        group_reduce: str = "sum",
        batch_norm: bool = True,
        first_stride: int = 5,
    ) -> None:
        super().__init__()
        self.n_units = positive(units, "units", integer=True)
        self.channels = positive(channels, "channels", integer=True)
        self.in_channels = positive(in_channels, "in_channels", integer=True)
        self.num_classes = positive(num_classes, "num_classes", integer=True)
        self.group_average = _group_factor(group_average)
        self.first_stride = positive(first_stride, "first_stride", integer=True)
        for flag, name in ((shortcut, "shortcut"), (batch_norm, "batch_norm")):
            if not isinstance(flag, bool):
                raise SmoothscopeError(f"{name}: expected True or False, got {flag!r}")
        self.activation = activation
        self.shortcut = shortcut
        self.batch_norm = batch_norm
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i in range(1, self.n_units + 1):
            layers[f"unit{i}"] = ToyUnit(
                self.in_channels if i == 1 else self.channels,
                self.channels,
                activation,
                stride=self.first_stride if i == 1 else 1,
                residual=shortcut and i > 1,
                batch_norm=batch_norm,
                group_average=self.group_average,
                group_reduce=group_reduce,
            )
        self.units = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(self.channels, self.num_classes)

    def unit_outputs(self) -> list[str]:
        """Module names whose outputs are the representations after units 1..L, then the
        output layer ``"classifier"`` (the logits); L + 1 names in depth order."""
        return [f"units.unit{i}" for i in range(1, self.n_units + 1)] + ["classifier"]

    def representation_layers(self) -> list[str]:
        """Same as :meth:`unit_outputs` (the interface of the zoo models)."""
        return self.unit_outputs()

    def conv_layers(self) -> list[str]:
        """Names of the ``nn.Conv2d`` modules, in execution order."""
        return [n for n, m in self.named_modules() if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise SmoothscopeError(
                f"input: expected shape [B, {self.in_channels}, H, W], got {tuple(x.shape)}"
            )
        return self.classifier(torch.flatten(self.pool(self.units(x)), 1))


@register("toycnn")
def toycnn(units: int = 10, activation: str = "relu", **kwargs: Any) -> ToyCNN:
    """Builder for :class:`ToyCNN` (default 10 units; paper C mostly uses 50)."""
    return ToyCNN(units, activation, **kwargs)
