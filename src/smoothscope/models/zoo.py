"""The CIFAR10 architectures of paper B (Table C1): VGG, LeNet, AlexNet, ResNet18, FC nets.

Every model takes square images ``[B, C, S, S]`` (``S = input_size``, 32 by default) and returns
logits ``[B, num_classes]``. All share the keyword arguments

* ``in_channels`` (default 3) and ``num_classes`` (default 10);
* ``width`` (default 1.0): every channel / hidden count ``c`` becomes ``max(1, round(c·width))``,
  so that quick-scale runs can use tiny networks of the same depth;
* ``input_size`` (default 32): the side S the model is built for; it must be at least the
  architecture's minimum (:data:`MIN_INPUT_SIZE`) and ``forward`` rejects any other shape.

Layers are named submodules, so probes address them with ``model.get_submodule(name)``.
``model.representation_layers()`` lists, in depth order, the modules whose outputs are the
internal representations f_1, ..., f_K of paper B (the output of each ReLU that follows a conv
or hidden linear layer; for ResNet18 the stem ReLU and the output of each BasicBlock), the last
being the network output (the logits). :func:`relative_depths` gives their depths k/K.
``model.conv_layers()`` lists the Conv2d modules in execution order.

Configurations (channels before width scaling; conv 3 × 3 padding 1 unless stated):

* ``vgg11`` / ``vgg16`` (``..bn`` adds BatchNorm2d after every conv): CIFAR VGG,
  ``[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M]`` and
  ``[64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M]`` (M: 2 × 2
  max pool), then one ``Linear`` on the flattened features (512 at S = 32). Modules
  ``features.conv{i}``, ``features.bn{i}``, ``features.relu{i}`` (i = 1..8 or 1..13),
  ``features.pool{j}`` (j = 1..5), ``classifier``. Minimum S = 32; K = 9 or 14.
* ``lenet``: LeNet-5, ``features.conv1`` Conv(C, 6, 5) → ``relu1`` → ``pool1`` (max 2) →
  ``features.conv2`` Conv(6, 16, 5) → ``relu2`` → ``pool2`` → ``classifier.fc1`` (120) →
  ``classifier.relu1`` → ``classifier.fc2`` (84) → ``classifier.relu2`` → ``classifier.fc3``.
  No padding; minimum S = 16; K = 5 (paper B's depth 5).
* ``alexnet``: CIFAR AlexNet, ``features.conv1`` Conv(C, 64, 5, padding 2) → ``relu1`` →
  ``pool1`` → ``conv2`` Conv(64, 192, 5, padding 2) → ``relu2`` → ``pool2`` → ``conv3``
  Conv(192, 384, 3) → ``relu3`` → ``conv4`` Conv(384, 256, 3) → ``relu4`` → ``conv5``
  Conv(256, 256, 3) → ``relu5`` → ``pool3`` (all pools max 2 × 2) → ``classifier.drop1`` →
  ``classifier.fc1`` (384) → ``classifier.relu1`` → ``classifier.drop2`` → ``classifier.fc2``
  (192) → ``classifier.relu2`` → ``classifier.fc3``. Dropout p = ``dropout`` (0.5). Minimum
  S = 8; K = 8 (paper B's depth 8).
* ``resnet18``: CIFAR ResNet18, stem ``stem.conv`` Conv(C, 64, 3, no bias) → ``stem.bn`` →
  ``stem.relu`` (no max pool); stages ``layer1`` .. ``layer4`` of two :class:`BasicBlock` each
  (``layer{s}.{b}``) with 64/128/256/512 channels, stride 2 in the first block of stages 2–4
  (1 × 1 conv + BN shortcut there); ``pool`` (global average) → ``classifier``. 17 convs on the
  main path plus 3 shortcut convs. Minimum S = 8 (stage 4 is then 1 × 1); K = 10.
* ``fcn``: flatten → ``depth`` (3) hidden layers ``layers.fc{i}`` → ``layers.relu{i}`` of
  ``hidden`` (512) units → ``classifier``. Minimum S = 1; K = depth + 1.

Initialisation is PyTorch's default for every layer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError
from .._validate import positive
from ._registry import register

__all__ = [
    "MIN_INPUT_SIZE",
    "VGG",
    "VGG_CONFIGS",
    "AlexNet",
    "BasicBlock",
    "FullyConnected",
    "LeNet",
    "ResNet18",
    "ZooModel",
    "alexnet",
    "fcn",
    "lenet",
    "relative_depths",
    "resnet18",
    "vgg11",
    "vgg11bn",
    "vgg16",
    "vgg16bn",
]

VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (
        *(64, 64, "M", 128, 128, "M", 256, 256, 256, "M"),
        *(512, 512, 512, "M", 512, 512, 512, "M"),
    ),
}
"""CIFAR VGG feature configurations: channel counts and ``"M"`` for a 2 × 2 max pool."""

MIN_INPUT_SIZE = {
    "vgg11": 32,
    "vgg11bn": 32,
    "vgg16": 32,
    "vgg16bn": 32,
    "lenet": 16,
    "alexnet": 8,
    "resnet18": 8,
    "fcn": 1,
}
"""Smallest square input side each registered architecture accepts."""


def relative_depths(names: Sequence[str]) -> list[float]:
    """Relative depths k/K, k = 1..K, of the K representation layers ``names`` (in depth order).

    Args:
        names: e.g. ``model.representation_layers()``.

    Returns:
        ``[1/K, 2/K, ..., 1.0]``.
    """
    if isinstance(names, str) or len(names) == 0:
        raise SmoothscopeError(f"names: expected a non-empty list of layer names, got {names!r}")
    k_max = len(names)
    return [k / k_max for k in range(1, k_max + 1)]


def _scaled(c: int, width: float) -> int:
    return max(1, round(c * width))


class ZooModel(nn.Module):
    """Base class: input checking and the layer lists shared by the zoo's architectures.

    Args:
        arch: architecture name (used in messages and for the minimum input size).
        in_channels: image channels C.
        num_classes: number of outputs.
        width: channel multiplier (> 0).
        input_size: side S of the square inputs the model is built for.
    """

    def __init__(
        self, arch: str, in_channels: int, num_classes: int, width: float, input_size: int
    ) -> None:
        super().__init__()
        self.arch = arch
        self.in_channels = positive(in_channels, "in_channels", integer=True)
        self.num_classes = positive(num_classes, "num_classes", integer=True)
        self.width = float(positive(width, "width"))
        self.input_size = positive(input_size, "input_size", integer=True)
        minimum = MIN_INPUT_SIZE[arch]
        if self.input_size < minimum:
            raise SmoothscopeError(
                f"input_size: {arch} needs square inputs of side at least {minimum}, "
                f"got {self.input_size}"
            )
        self._representation_names: tuple[str, ...] = ()

    def representation_layers(self) -> list[str]:
        """Module names whose outputs are the representations f_1..f_K, in depth order.

        The last name is the output layer (its output is the logits).
        """
        return list(self._representation_names)

    def conv_layers(self) -> list[str]:
        """Names of the ``nn.Conv2d`` modules, in execution order."""
        return [n for n, m in self.named_modules() if isinstance(m, nn.Conv2d)]

    def _check_input(self, x: torch.Tensor) -> None:
        c, s = self.in_channels, self.input_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise SmoothscopeError(
                f"input: {self.arch} was built for inputs [B, {c}, {s}, {s}], "
                f"got shape {tuple(x.shape)} (build it with in_channels= and input_size= "
                "matching the data)"
            )


class VGG(ZooModel):
    """CIFAR VGG (paper B §2): conv 3 × 3 blocks with max pooling and one linear classifier.

    Args:
        depth: 11 or 16.
        batch_norm: add BatchNorm2d after every convolution.
        in_channels, num_classes, width, input_size: see :class:`ZooModel`.

    Shapes:
        input ``[B, C, S, S]`` (S ≥ 32); output ``[B, num_classes]``.
    """

    def __init__(
        self,
        depth: int = 11,
        *,
        batch_norm: bool = False,
        in_channels: int = 3,
        num_classes: int = 10,
        width: float = 1.0,
        input_size: int = 32,
    ) -> None:
        if depth not in (11, 16):
            raise SmoothscopeError(f"depth: expected 11 or 16, got {depth!r}")
        arch = f"vgg{depth}" + ("bn" if batch_norm else "")
        super().__init__(arch, in_channels, num_classes, width, input_size)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        reps = []
        c_in, side, i_conv, i_pool = self.in_channels, self.input_size, 0, 0
        for item in VGG_CONFIGS[f"vgg{depth}"]:
            if item == "M":
                i_pool += 1
                layers[f"pool{i_pool}"] = nn.MaxPool2d(2, 2)
                side //= 2
                continue
            i_conv += 1
            c_out = _scaled(int(item), self.width)
            layers[f"conv{i_conv}"] = nn.Conv2d(c_in, c_out, 3, padding=1)
            if batch_norm:
                layers[f"bn{i_conv}"] = nn.BatchNorm2d(c_out)
            layers[f"relu{i_conv}"] = nn.ReLU()
            reps.append(f"features.relu{i_conv}")
            c_in = c_out
        self.features = nn.Sequential(layers)
        self.classifier = nn.Linear(c_in * side * side, self.num_classes)
        self._representation_names = (*reps, "classifier")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.classifier(torch.flatten(self.features(x), 1))


class LeNet(ZooModel):
    """LeNet-5: two conv 5 × 5 + max pool blocks, then fully connected 120 → 84 → classes.

    Args:
        in_channels, num_classes, width, input_size: see :class:`ZooModel`.

    Shapes:
        input ``[B, C, S, S]`` (S ≥ 16); output ``[B, num_classes]``.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        width: float = 1.0,
        input_size: int = 32,
    ) -> None:
        super().__init__("lenet", in_channels, num_classes, width, input_size)
        c1, c2, h1, h2 = (_scaled(c, self.width) for c in (6, 16, 120, 84))
        side = ((self.input_size - 4) // 2 - 4) // 2
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(self.in_channels, c1, 5),
                relu1=nn.ReLU(),
                pool1=nn.MaxPool2d(2, 2),
                conv2=nn.Conv2d(c1, c2, 5),
                relu2=nn.ReLU(),
                pool2=nn.MaxPool2d(2, 2),
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(c2 * side * side, h1),
                relu1=nn.ReLU(),
                fc2=nn.Linear(h1, h2),
                relu2=nn.ReLU(),
                fc3=nn.Linear(h2, self.num_classes),
            )
        )
        self._representation_names = (
            "features.relu1",
            "features.relu2",
            "classifier.relu1",
            "classifier.relu2",
            "classifier.fc3",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.classifier(torch.flatten(self.features(x), 1))


class AlexNet(ZooModel):
    """CIFAR AlexNet: five conv layers, three max pools, fully connected 384 → 192 → classes.

    Args:
        dropout: dropout probability before the two hidden linear layers (0 disables it).
        in_channels, num_classes, width, input_size: see :class:`ZooModel`.

    Shapes:
        input ``[B, C, S, S]`` (S ≥ 8); output ``[B, num_classes]``.
    """

    def __init__(
        self,
        *,
        dropout: float = 0.5,
        in_channels: int = 3,
        num_classes: int = 10,
        width: float = 1.0,
        input_size: int = 32,
    ) -> None:
        super().__init__("alexnet", in_channels, num_classes, width, input_size)
        ok = isinstance(dropout, (int, float)) and not isinstance(dropout, bool)
        if not ok or not 0 <= dropout < 1:
            raise SmoothscopeError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        c1, c2, c3, c4, c5, h1, h2 = (
            _scaled(c, self.width) for c in (64, 192, 384, 256, 256, 384, 192)
        )
        side = self.input_size // 2 // 2 // 2
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(self.in_channels, c1, 5, padding=2),
                relu1=nn.ReLU(),
                pool1=nn.MaxPool2d(2, 2),
                conv2=nn.Conv2d(c1, c2, 5, padding=2),
                relu2=nn.ReLU(),
                pool2=nn.MaxPool2d(2, 2),
                conv3=nn.Conv2d(c2, c3, 3, padding=1),
                relu3=nn.ReLU(),
                conv4=nn.Conv2d(c3, c4, 3, padding=1),
                relu4=nn.ReLU(),
                conv5=nn.Conv2d(c4, c5, 3, padding=1),
                relu5=nn.ReLU(),
                pool3=nn.MaxPool2d(2, 2),
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                drop1=nn.Dropout(float(dropout)),
                fc1=nn.Linear(c5 * side * side, h1),
                relu1=nn.ReLU(),
                drop2=nn.Dropout(float(dropout)),
                fc2=nn.Linear(h1, h2),
                relu2=nn.ReLU(),
                fc3=nn.Linear(h2, self.num_classes),
            )
        )
        self._representation_names = (
            *(f"features.relu{i}" for i in range(1, 6)),
            "classifier.relu1",
            "classifier.relu2",
            "classifier.fc3",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    """ResNet basic block: conv-bn-relu-conv-bn plus shortcut, then ReLU.

    Modules ``conv1``, ``bn1``, ``relu1``, ``conv2``, ``bn2``, ``shortcut`` (``nn.Identity`` or
    ``shortcut.conv`` 1 × 1 + ``shortcut.bn`` when the stride or channel count changes),
    ``relu2`` (applied after the sum; its output is the block's output).

    Shapes:
        input ``[B, c_in, H, W]``; output ``[B, c_out, ⌈H/stride⌉, ⌈W/stride⌉]``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride != 1 or c_in != c_out:
            self.shortcut: nn.Module = nn.Sequential(
                OrderedDict(
                    conv=nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                    bn=nn.BatchNorm2d(c_out),
                )
            )
        else:
            self.shortcut = nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNet18(ZooModel):
    """CIFAR ResNet18: 3 × 3 stem, four stages of two BasicBlocks, global average pool, linear.

    Args:
        in_channels, num_classes, width, input_size: see :class:`ZooModel`.

    Shapes:
        input ``[B, C, S, S]`` (S ≥ 8); output ``[B, num_classes]``.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        width: float = 1.0,
        input_size: int = 32,
    ) -> None:
        super().__init__("resnet18", in_channels, num_classes, width, input_size)
        c0 = _scaled(64, self.width)
        self.stem = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(self.in_channels, c0, 3, padding=1, bias=False),
                bn=nn.BatchNorm2d(c0),
                relu=nn.ReLU(),
            )
        )
        reps = ["stem.relu"]
        c_in = c0
        for stage, c in enumerate((64, 128, 256, 512), start=1):
            c_out = _scaled(c, self.width)
            stride = 1 if stage == 1 else 2
            blocks = nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1))
            self.add_module(f"layer{stage}", blocks)
            reps += [f"layer{stage}.0", f"layer{stage}.1"]
            c_in = c_out
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, self.num_classes)
        self._representation_names = (*reps, "classifier")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.classifier(torch.flatten(self.pool(x), 1))


class FullyConnected(ZooModel):
    """Fully connected ReLU net on flattened images.

    Args:
        depth: number of hidden layers (≥ 0).
        hidden: hidden units before width scaling.
        in_channels, num_classes, width, input_size: see :class:`ZooModel`.

    Shapes:
        input ``[B, C, S, S]``; output ``[B, num_classes]``.
    """

    def __init__(
        self,
        *,
        depth: int = 3,
        hidden: int = 512,
        in_channels: int = 3,
        num_classes: int = 10,
        width: float = 1.0,
        input_size: int = 32,
    ) -> None:
        super().__init__("fcn", in_channels, num_classes, width, input_size)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise SmoothscopeError(f"depth: expected a non-negative integer, got {depth!r}")
        h = _scaled(positive(hidden, "hidden", integer=True), self.width)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        d_in = self.in_channels * self.input_size**2
        for i in range(1, depth + 1):
            layers[f"fc{i}"] = nn.Linear(d_in, h)
            layers[f"relu{i}"] = nn.ReLU()
            d_in = h
        self.layers = nn.Sequential(layers)
        self.classifier = nn.Linear(d_in, self.num_classes)
        self._representation_names = (
            *(f"layers.relu{i}" for i in range(1, depth + 1)),
            "classifier",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.classifier(self.layers(torch.flatten(x, 1)))


_COMMON = ("in_channels", "num_classes", "width", "input_size")


def _checked(arch: str, kwargs: dict[str, Any], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - set(_COMMON) - set(extra))
    if unknown:
        raise SmoothscopeError(
            f"{arch}: unknown argument(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(sorted((*_COMMON, *extra)))}"
        )
    return kwargs


@register("vgg11")
def vgg11(**kwargs: Any) -> VGG:
    """CIFAR VGG11 (8 convs). Keyword arguments: those of :class:`VGG` but depth and batch_norm."""
    return VGG(11, batch_norm=False, **_checked("vgg11", kwargs))


@register("vgg11bn")
def vgg11bn(**kwargs: Any) -> VGG:
    """CIFAR VGG11 with BatchNorm."""
    return VGG(11, batch_norm=True, **_checked("vgg11bn", kwargs))


@register("vgg16")
def vgg16(**kwargs: Any) -> VGG:
    """CIFAR VGG16 (13 convs)."""
    return VGG(16, batch_norm=False, **_checked("vgg16", kwargs))


@register("vgg16bn")
def vgg16bn(**kwargs: Any) -> VGG:
    """CIFAR VGG16 with BatchNorm."""
    return VGG(16, batch_norm=True, **_checked("vgg16bn", kwargs))


@register("lenet")
def lenet(**kwargs: Any) -> LeNet:
    """LeNet-5, see :class:`LeNet`."""
    return LeNet(**_checked("lenet", kwargs))


@register("alexnet")
def alexnet(**kwargs: Any) -> AlexNet:
    """CIFAR AlexNet, see :class:`AlexNet` (extra argument ``dropout``)."""
    return AlexNet(**_checked("alexnet", kwargs, ("dropout",)))


@register("resnet18")
def resnet18(**kwargs: Any) -> ResNet18:
    """CIFAR ResNet18, see :class:`ResNet18`."""
    return ResNet18(**_checked("resnet18", kwargs))


@register("fcn")
def fcn(**kwargs: Any) -> FullyConnected:
    """Fully connected net, see :class:`FullyConnected` (extra arguments ``depth``, ``hidden``)."""
    return FullyConnected(**_checked("fcn", kwargs, ("depth", "hidden")))
