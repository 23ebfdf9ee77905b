"""The simple CNNs of paper B §4: K̃ identical convolutional layers and a linear readout.

Each hidden layer is a convolution of filter size F (1-D or 2-D), stride 1 (task 1) or F
(task 2), followed by ReLU or tanh; width H channels (paper: 1000); a linear readout after
global pooling (mean over positions) gives one scalar, whose sign is the class.

Choices (not fixed by the paper, documented here):

* **Padding.** Stride 1: "same" padding of ``F // 2`` (odd F; even F pads ``F/2`` on the left
  and ``F/2 − 1`` on the right, the convention of paper B's Appendix A), ``"circular"`` by default
  (Appendix A's circulant matrices) or ``"zeros"``. Stride F: the input of each layer is padded
  on the right to a multiple of F, so that any depth is possible (a representation of one pixel
  stays one pixel); these pads are zeros whatever ``padding`` says.
* **Bias.** ``bias=True`` adds a bias to every convolution, drawn from N(0, 1) as in the
  original authors' blocks (``UmbertoTomasini/scale_detection_1d``, ``convolutional_nets.py``:
  ``b = nn.Parameter(torch.randn(h))``); ``bias=False`` (the default of this builder) leaves
  them out, as §4's analysis of homogeneous filters does. The bias matters at initialisation:
  without it the untrained ReLU net's D_k already falls with k, with it D_k is about flat
  (§4.1), see ``docs/scale_detection.md``.
* **Readout.** Mean over positions of the last representation (global average pooling, so
  the output scale does not grow with L), then ``Linear(H, 1)``.
* **Initialisation.** He (Kaiming normal) with the activation's gain: PyTorch's default
  convolution initialisation shrinks the signal by about √6 per ReLU layer, so a 10-layer net
  starts with a constant output and SGD never leaves it.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import SmoothscopeError
from .._validate import positive
from ._registry import register

__all__ = ["SimpleCNN", "simple_cnn"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
_PADDING = ("circular", "zeros")


class _PaddedConv(nn.Module):
    """A convolution with the padding rules above (explicit ``F.pad``, then a valid conv)."""

    def __init__(
        self, dim: int, c_in: int, c_out: int, size: int, stride: int, padding: str, bias: bool
    ) -> None:
        super().__init__()
        conv = nn.Conv1d if dim == 1 else nn.Conv2d
        # symmetric zero padding is the convolution's own (one operation less per layer and
        # step: 15 % of a training step of the 10-layer net, measured)
        self.builtin = stride == 1 and padding == "zeros" and size % 2 == 1
        pad = size // 2 if self.builtin else 0
        self.conv = conv(c_in, c_out, size, stride=stride, bias=bias, padding=pad)
        self.dim, self.size, self.stride, self.padding = dim, size, stride, padding

    def _pads(self, length: int) -> tuple[int, int]:
        if self.stride == 1:
            return self.size // 2, (self.size - 1) // 2
        return 0, (-length) % self.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.builtin:
            return self.conv(x)
        pads: list[int] = []
        for length in reversed(x.shape[2:]):  # F.pad lists the last dimension first
            pads.extend(self._pads(length))
        if any(pads):
            # a partial stride block is completed with zeros; wrapping it would mix the ends
            wrap = self.padding == "circular" and self.stride == 1
            x = F.pad(x, pads, mode="circular" if wrap else "constant")
        return self.conv(x)


class SimpleCNN(nn.Module):
    """K̃ stacked convolutional layers (paper B §4) and a linear readout after global pooling.

    Args:
        depth: number of hidden convolutional layers K̃.
        filter_size: F.
        stride: 1 (task 1) or F (task 2).
        width: channels H (paper: 1000).
        activation: ``"relu"`` or ``"tanh"``.
        dim: 1 (signals ``[B, C, L]``) or 2 (images ``[B, C, L, L]``).
        in_channels: input channels.
        padding: ``"circular"`` or ``"zeros"`` (see the module docstring).
        bias: add N(0, 1) biases to the convolutions (the peers' blocks).

    Shapes:
        input ``[B, in_channels, L]`` (or ``[B, in_channels, L, L]``); output ``[B]``.
    """

    def __init__(
        self,
        depth: int = 10,
        filter_size: int = 3,
        stride: int = 1,
        width: int = 1000,
        activation: str = "relu",
        *,
        dim: int = 1,
        in_channels: int = 1,
        padding: str = "circular",
        bias: bool = False,
    ) -> None:
        super().__init__()
        depth = positive(depth, "depth", integer=True)
        filter_size = positive(filter_size, "filter_size", integer=True)
        width = positive(width, "width", integer=True)
        in_channels = positive(in_channels, "in_channels", integer=True)
        if stride not in (1, filter_size):
            raise SmoothscopeError(
                f"stride: expected 1 or the filter size {filter_size}, got {stride!r}"
            )
        if activation not in _ACTIVATIONS:
            raise SmoothscopeError(
                f"activation: expected one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if dim not in (1, 2):
            raise SmoothscopeError(f"dim: expected 1 or 2, got {dim!r}")
        if padding not in _PADDING:
            raise SmoothscopeError(f"padding: expected one of {_PADDING}, got {padding!r}")
        self.depth, self.filter_size, self.stride, self.dim = depth, filter_size, stride, dim
        self.width, self.activation, self.in_channels = width, activation, in_channels
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = in_channels
        for k in range(1, depth + 1):
            layers[f"conv{k}"] = _PaddedConv(dim, c_in, width, filter_size, stride, padding, bias)
            layers[f"act{k}"] = _ACTIVATIONS[activation]()
            c_in = width
        self.features = nn.Sequential(layers)
        self.readout = nn.Linear(width, 1)
        for k in range(1, depth + 1):  # He initialisation keeps the signal through the depth
            conv = layers[f"conv{k}"].conv
            nn.init.kaiming_normal_(conv.weight, nonlinearity=activation)
            if conv.bias is not None:  # N(0, 1), as the peers' blocks
                nn.init.normal_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dim + 2 or x.shape[1] != self.in_channels:
            layout = "[B, C, L]" if self.dim == 1 else "[B, C, L, L]"
            raise SmoothscopeError(
                f"input: expected {layout} with C = {self.in_channels}, got {tuple(x.shape)}"
            )
        h = self.features(x)
        return self.readout(h.flatten(2).mean(dim=2)).squeeze(1)

    def representation_layers(self) -> list[str]:
        """f_1 … f_K̃ (each activation's output), then the readout."""
        return [f"features.act{k}" for k in range(1, self.depth + 1)] + ["readout"]

    def conv_layers(self) -> list[str]:
        """The convolutions, in depth order."""
        return [f"features.conv{k}.conv" for k in range(1, self.depth + 1)]


@register("simple-cnn")
def simple_cnn(**kwargs) -> SimpleCNN:
    """Build paper B §4's simple CNN (see :class:`SimpleCNN` for the arguments)."""
    try:
        return SimpleCNN(**kwargs)
    except TypeError as exc:
        raise SmoothscopeError(f"simple-cnn: {exc}") from exc
