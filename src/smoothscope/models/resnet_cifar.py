"""Paper C's CIFAR ResNets (v1 post-activation, v2 pre-activation) with continuous knobs.

Depth 6n + 2: a 3 × 3 stem conv, three stages of n two-conv blocks with ``planes`` channels
(16/32/64; stride 2 in the first block of stages 2 and 3), global average pool and a linear
classifier (He et al. 2016a, §4.2). ResNet20/56/110/194 have n = 3/9/18/32. Paper C's wide
variant uses ``planes=(28, 56, 112)``.

Blocks (module ``layer{s}.{b}``, s = 1..3, b = 0..n-1), input x:

* v1 (post-activation, He et al. 2016a): ``out = act(ν·F(x) + S(x))`` with
  ``residual`` = conv1 (stride) → bn1 → act1 → conv2 → bn2 → scale (×ν), then ``add``, ``act``.
* v2 (pre-activation, He et al. 2016b): ``out = ν·F(x) + S(x)`` with
  ``residual`` = bn1 → act1 → conv1 (stride) → bn2 → act2 → conv2 → scale (×ν), then ``add``.

``shortcut`` S is ``nn.Identity`` or, where the shape changes, a 1 × 1 conv (stride 2) + BN
("option B", ``shortcut.conv``, ``shortcut.bn``), in both versions applied to the block input x
(the original v2 feeds its projection the pre-activated input; we keep the two branches
disjoint so that each is one module). With ``shortcut=False`` ("NoShort") there is no shortcut
module, S = 0, and the network is a plain deep CNN. The outputs of ``…residual`` and
``…shortcut`` are exactly the two summands; ``…add`` outputs their sum (the pre-activation in
v1, the block output in v2). ``residual.scale`` multiplies by ν, so the unscaled F(x) is the
output of ``residual.bn2`` (v1) / ``residual.conv2`` (v2).

Stem and head: v1 ``stem`` = conv → bn → act, head ``pool`` → ``classifier``; v2 ``stem`` =
conv only, head ``head`` = bn → act, then ``pool`` → ``classifier``. Convs have no bias.
Initialisation is PyTorch's default.

Nonlinearity. Paper C (Fig. 1) uses leaky ReLUs "with negative slope α ∈ [0, 1]" and labels
α = 0, ν = 0 "linear" and α = 1, ν = 0 "ReLU". We follow these labels: ``alpha`` measures the
amount of nonlinearity and every activation is ``LeakyReLU(negative_slope = 1 − α)``, i.e.
``x`` for x ≥ 0 and ``(1 − α)·x`` otherwise. α = 0 is the identity (a linear network up to BN),
α = 1 is ReLU. This is NOT PyTorch's ``negative_slope``: the standard slope s is ``1 − alpha``
(paper C's §5 / Fig. 9 text, "more linear by increasing α", uses the standard slope s; pass
``alpha = 1 − s`` for those). Instead of ``alpha`` any named activation may be given
(``activation="tanh"``, ``"leaky_relu:0.3"``, …; see :func:`~.toycnn.make_activation`).

``nu`` (ν) weights one summand in every block, chosen by ``nu_branch``:

* ``"residual"`` (default): ``ν·F(x) + S(x)``; ν = 1 is the standard ResNet, ν = 0 leaves only
  the shortcut path (with shortcuts, v2 then reduces to stem, projections and head: all
  linear but for the head's one activation). ``residual.scale`` holds ν.
* ``"shortcut"``: ``F(x) + ν·S(x)``, the shortcut is a ``Sequential`` ending in
  ``shortcut.scale`` (ν) and ``residual.scale`` is 1; ν = 0 is the NoShort plain network and
  ν = 1 the ResNet. Paper C §4.1 says it multiplies "the relative weight of the residual
  branch" by ν, but Fig. 1 calls α = 1, ν = 0 the nonlinear *feedforward* ("ReLU") regime and
  ν = 1 the "ResNet" regime, which only this reading produces (the paper calls the skip
  connection the residual connection); use it to reproduce Fig. 1.

Feature-group averaging (paper C §4.4, factor a = ``group_average``, v1 NoShort only): every
conv → bn → activation sequence (stem; conv1/bn1/act1 and conv2/bn2/act of each block) gets
a·C channels and is followed by a :class:`~.toycnn.GroupSum` module ``group`` (``stem.group``,
``residual.group``, and ``group`` after the block's ``act``) that sums the a groups back to C.

Shapes: input ``[B, in_channels, S, S]``; stage outputs S, S/2, S/4 (rounded up); output
``[B, num_classes]``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError
from .._validate import positive
from ._registry import register
from .toycnn import GroupSum, make_activation

__all__ = [
    "Add",
    "CifarResNet",
    "PostActBlock",
    "PreActBlock",
    "Scale",
    "resnet20",
    "resnet56",
    "resnet110",
    "resnet_cifar",
]


class Scale(nn.Module):
    """Multiply by a fixed factor ν (not a parameter)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class Add(nn.Module):
    """Sum of its inputs (one input is returned unchanged); a hook point for the branch sum."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


def _shortcut(c_in: int, c_out: int, stride: int, scale: float | None = None) -> nn.Module:
    """Identity or 1 × 1 conv + BN; with ``scale`` a ``Sequential`` ending in ``scale``."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if stride != 1 or c_in != c_out:
        layers["conv"] = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
        layers["bn"] = nn.BatchNorm2d(c_out)
    if scale is not None:
        layers["scale"] = Scale(scale)
    return nn.Sequential(layers) if layers else nn.Identity()


class _Block(nn.Module):
    """Common forward: ``add(residual(x), shortcut(x))`` then ``post`` (act/group for v1)."""

    residual: nn.Sequential

    def _finish(self, s: torch.Tensor) -> torch.Tensor:
        return s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.residual(x)
        s = self.add(r, self.shortcut(x)) if self.has_shortcut else self.add(r)
        return self._finish(s)


class PostActBlock(_Block):
    """v1 block: ``act(ν·F(x) + S(x))``, F = conv-bn-act-conv-bn (see module docstring).

    Args:
        c_in, c_out: channels; stride: stride of conv1 (and of the projection).
        make_act: returns a fresh activation module.
        nu: branch weight ν.
        shortcut: whether S exists (else S = 0).
        nu_branch: ``"residual"`` (ν·F(x)) or ``"shortcut"`` (ν·S(x)).
        group_average: a (needs ``shortcut=False`` when > 1).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        make_act: Callable[[], nn.Module],
        *,
        nu: float = 1.0,
        shortcut: bool = True,
        nu_branch: str = "residual",
        group_average: int = 1,
    ) -> None:
        super().__init__()
        a = group_average
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv1=nn.Conv2d(c_in, a * c_out, 3, stride=stride, padding=1, bias=False),
            bn1=nn.BatchNorm2d(a * c_out),
            act1=make_act(),
        )
        if a > 1:
            layers["group"] = GroupSum(a)
        layers["conv2"] = nn.Conv2d(c_out, a * c_out, 3, padding=1, bias=False)
        layers["bn2"] = nn.BatchNorm2d(a * c_out)
        layers["scale"] = Scale(nu if nu_branch == "residual" else 1.0)
        self.residual = nn.Sequential(layers)
        self.has_shortcut = shortcut
        if shortcut:
            self.shortcut = _shortcut(c_in, c_out, stride, nu if nu_branch == "shortcut" else None)
        self.add = Add()
        self.act = make_act()
        if a > 1:
            self.group = GroupSum(a)

    def _finish(self, s: torch.Tensor) -> torch.Tensor:
        out = self.act(s)
        return self.group(out) if hasattr(self, "group") else out


class PreActBlock(_Block):
    """v2 block: ``ν·F(x) + S(x)``, F = bn-act-conv-bn-act-conv (see module docstring).

    Args:
        c_in, c_out: channels; stride: stride of conv1 (and of the projection).
        make_act: returns a fresh activation module.
        nu: branch weight ν.
        shortcut: whether S exists (else S = 0).
        nu_branch: ``"residual"`` (ν·F(x)) or ``"shortcut"`` (ν·S(x)).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        make_act: Callable[[], nn.Module],
        *,
        nu: float = 1.0,
        shortcut: bool = True,
        nu_branch: str = "residual",
    ) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            OrderedDict(
                bn1=nn.BatchNorm2d(c_in),
                act1=make_act(),
                conv1=nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                bn2=nn.BatchNorm2d(c_out),
                act2=make_act(),
                conv2=nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                scale=Scale(nu if nu_branch == "residual" else 1.0),
            )
        )
        self.has_shortcut = shortcut
        if shortcut:
            self.shortcut = _shortcut(c_in, c_out, stride, nu if nu_branch == "shortcut" else None)
        self.add = Add()


def _real(value: Any, name: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value):
        raise SmoothscopeError(f"{name}: expected a finite real number, got {value!r}")
    return float(value)


class CifarResNet(nn.Module):
    """CIFAR ResNet of depth 6n + 2, v1 or v2, with or without shortcuts, knobs α and ν.

    Args:
        depth: 6n + 2 with n ≥ 1 (8, 14, 20, 32, 44, 56, 110, 194, …).
        version: ``"v1"`` (post-activation) or ``"v2"`` (pre-activation).
        shortcut: False gives paper C's "NoShort" plain network (no shortcut modules).
        alpha: amount of nonlinearity α ∈ [0, 1]: activations are LeakyReLU with negative slope
            1 − α (0: identity, 1: ReLU). Default 1 (ReLU) when ``activation`` is not given.
        activation: a named activation (:func:`~.toycnn.make_activation`) instead of ``alpha``.
        nu: branch weight ν (finite, ≥ 0; 1 is the standard ResNet).
        nu_branch: which summand ν multiplies: ``"residual"`` (ν·F(x) + S(x), default) or
            ``"shortcut"`` (F(x) + ν·S(x); needs ``shortcut=True``).
        group_average: feature-group factor a (§4.4); > 1 only for v1 with ``shortcut=False``.
        in_channels, num_classes: image channels and outputs.
        planes: channels of the three stages.

    Shapes:
        input ``[B, in_channels, H, W]``; output ``[B, num_classes]``.
    """

    def __init__(
        self,
        depth: int = 20,
        version: str = "v1",
        *,
        shortcut: bool = True,
        alpha: float | None = None,
        activation: str | None = None,
        nu: float = 1.0,
        nu_branch: str = "residual",
        group_average: int = 1,
        in_channels: int = 3,
        num_classes: int = 10,
        planes: Sequence[int] = (16, 32, 64),
    ) -> None:
        super().__init__()
        depth = positive(depth, "depth", integer=True)
        if depth < 8 or (depth - 2) % 6:
            raise SmoothscopeError(
                f"depth: expected 6n + 2 with n ≥ 1 (8, 14, 20, 56, 110, …), got {depth}"
            )
        if version not in ("v1", "v2"):
            raise SmoothscopeError(f"version: expected 'v1' or 'v2', got {version!r}")
        if not isinstance(shortcut, bool):
            raise SmoothscopeError(f"shortcut: expected True or False, got {shortcut!r}")
        if alpha is not None and activation is not None:
            raise SmoothscopeError(
                f"alpha: give alpha or activation, not both (got alpha={alpha!r}, "
                f"activation={activation!r})"
            )
        if activation is None:
            alpha = 1.0 if alpha is None else _real(alpha, "alpha")
            if not 0.0 <= alpha <= 1.0:
                raise SmoothscopeError(f"alpha: expected a number in [0, 1], got {alpha!r}")
            slope = 1.0 - alpha

            def make_act() -> nn.Module:
                return nn.LeakyReLU(negative_slope=slope)

        else:
            make_activation(activation)  # validate the name once

            def make_act() -> nn.Module:
                return make_activation(activation)

        nu = _real(nu, "nu")
        if nu < 0:
            raise SmoothscopeError(f"nu: expected a finite number ≥ 0, got {nu!r}")
        if nu_branch not in ("residual", "shortcut"):
            raise SmoothscopeError(
                f"nu_branch: expected 'residual' or 'shortcut', got {nu_branch!r}"
            )
        if nu_branch == "shortcut" and not shortcut:
            raise SmoothscopeError(
                "nu_branch: 'shortcut' weights the shortcut, which shortcut=False removes"
            )
        a = positive(group_average, "group_average", integer=True)
        if a > 1 and (version != "v1" or shortcut):
            raise SmoothscopeError(
                f"group_average: values > 1 need version='v1' and shortcut=False, got "
                f"{a} with version={version!r}, shortcut={shortcut}"
            )
        if isinstance(planes, (str, bytes)) or len(planes) != 3:
            raise SmoothscopeError(f"planes: expected three channel counts, got {planes!r}")
        planes = tuple(positive(p, "planes", integer=True) for p in planes)
        self.depth, self.version, self.shortcut = depth, version, shortcut
        self.alpha, self.activation, self.nu, self.group_average = alpha, activation, nu, a
        self.nu_branch = nu_branch
        self.in_channels = positive(in_channels, "in_channels", integer=True)
        self.num_classes = positive(num_classes, "num_classes", integer=True)
        self.planes = planes
        self.blocks_per_stage = (depth - 2) // 6

        stem: OrderedDict[str, nn.Module] = OrderedDict(
            conv=nn.Conv2d(self.in_channels, a * planes[0], 3, padding=1, bias=False)
        )
        if version == "v1":
            stem["bn"] = nn.BatchNorm2d(a * planes[0])
            stem["act"] = make_act()
            if a > 1:
                stem["group"] = GroupSum(a)
        self.stem = nn.Sequential(stem)

        c_in = planes[0]
        self._block_names: list[str] = []
        for s, c_out in enumerate(planes, start=1):
            blocks = []
            for b in range(self.blocks_per_stage):
                stride = 2 if (s > 1 and b == 0) else 1
                if version == "v1":
                    block: nn.Module = PostActBlock(
                        c_in,
                        c_out,
                        stride,
                        make_act,
                        nu=nu,
                        shortcut=shortcut,
                        nu_branch=nu_branch,
                        group_average=a,
                    )
                else:
                    block = PreActBlock(
                        c_in,
                        c_out,
                        stride,
                        make_act,
                        nu=nu,
                        shortcut=shortcut,
                        nu_branch=nu_branch,
                    )
                blocks.append(block)
                self._block_names.append(f"layer{s}.{b}")
                c_in = c_out
            self.add_module(f"layer{s}", nn.Sequential(*blocks))
        if version == "v2":
            self.head = nn.Sequential(OrderedDict(bn=nn.BatchNorm2d(c_in), act=make_act()))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, self.num_classes)

    def block_outputs(self) -> list[str]:
        """Names of the 3n blocks (their forward outputs are the block outputs), depth order."""
        return list(self._block_names)

    def residual_branches(self) -> list[str]:
        """Names of each block's residual branch (output ν·F(x), one summand), depth order."""
        return [f"{name}.residual" for name in self._block_names]

    def shortcut_branches(self) -> list[str]:
        """Names of each block's shortcut branch (output S(x), the other summand), depth order.

        Empty for ``shortcut=False``.
        """
        if not self.shortcut:
            return []
        return [f"{name}.shortcut" for name in self._block_names]

    def representation_layers(self) -> list[str]:
        """``stem``, the blocks, ``head`` (v2) and ``classifier`` (the logits), depth order."""
        head = ["head"] if self.version == "v2" else []
        return ["stem", *self._block_names, *head, "classifier"]

    def conv_layers(self) -> list[str]:
        """Names of the ``nn.Conv2d`` modules, in registration order."""
        return [n for n, m in self.named_modules() if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise SmoothscopeError(
                f"input: expected shape [B, {self.in_channels}, H, W], got {tuple(x.shape)}"
            )
        out = self.layer3(self.layer2(self.layer1(self.stem(x))))
        if self.version == "v2":
            out = self.head(out)
        return self.classifier(torch.flatten(self.pool(out), 1))


@register("resnet-cifar")
def resnet_cifar(**kwargs: Any) -> CifarResNet:
    """Builder for :class:`CifarResNet` (defaults: depth 20, v1, shortcuts, ReLU, ν = 1)."""
    return CifarResNet(**kwargs)


def _fixed_depth(depth: int, kwargs: dict[str, Any]) -> CifarResNet:
    if "depth" in kwargs:
        raise SmoothscopeError(
            f"depth: resnet{depth} has a fixed depth, got depth={kwargs['depth']!r} "
            "(use 'resnet-cifar' for other depths)"
        )
    return CifarResNet(depth, **kwargs)


@register("resnet20")
def resnet20(**kwargs: Any) -> CifarResNet:
    """CIFAR ResNet20 (n = 3); other keywords as :class:`CifarResNet` (v1 by default)."""
    return _fixed_depth(20, kwargs)


@register("resnet56")
def resnet56(**kwargs: Any) -> CifarResNet:
    """CIFAR ResNet56 (n = 9); other keywords as :class:`CifarResNet` (v1 by default)."""
    return _fixed_depth(56, kwargs)


@register("resnet110")
def resnet110(**kwargs: Any) -> CifarResNet:
    """CIFAR ResNet110 (n = 18); other keywords as :class:`CifarResNet` (v1 by default)."""
    return _fixed_depth(110, kwargs)
