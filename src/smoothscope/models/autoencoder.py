"""The convolutional autoencoders of paper A (§IV-A, Appendix B).

Setup 1 uses ReLU and max pooling, Setup 2 softplus and average pooling; both are otherwise
identical. Paper A gives the ingredients (a convolutional encoder with pooling, a decoder of
three transposed convolutions, 28 × 28 inputs) but not the widths; we use

====================  =======================================  ===============
module name           layer                                    output (28×28)
====================  =======================================  ===============
``encoder.conv1``     Conv2d(C, 16, 3, padding=1)              16 × 28 × 28
``encoder.act1``      activation
``encoder.pool1``     2 × 2 pooling, stride 2                  16 × 14 × 14
``encoder.conv2``     Conv2d(16, 32, 3, padding=1)             32 × 14 × 14
``encoder.act2``      activation
``encoder.pool2``     2 × 2 pooling, stride 2                  32 × 7 × 7
``encoder.conv3``     Conv2d(32, 8, 3, padding=1)               8 × 7 × 7
``encoder.act3``      activation
``decoder.deconv1``   ConvTranspose2d(8, 32, 3, 2, 1, 1)       32 × 14 × 14
``decoder.act1``      activation
``decoder.deconv2``   ConvTranspose2d(32, 16, 3, 2, 1, 1)      16 × 28 × 28
``decoder.act2``      activation
``decoder.deconv3``   ConvTranspose2d(16, C, 3, 1, 1)           C × 28 × 28
====================  =======================================  ===============

The 8 × 7 × 7 code (392 numbers for 784 pixels) is a real bottleneck, so reconstructions are
slightly blurred as in paper A's Figs. 4 and 9. The output layer is linear. Layers are addressed
by these names (``model.named_modules()``) by the probes of later analyses.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .._errors import SmoothscopeError
from .._validate import positive
from ._registry import register

__all__ = ["ACTIVATIONS", "POOLINGS", "SETUPS", "ConvAutoencoder", "autoencoder"]

ACTIVATIONS = {"relu": nn.ReLU, "softplus": nn.Softplus}
POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
SETUPS = {
    "relu_maxpool": ("relu", "max"),  # paper A, Setup 1
    "softplus_avgpool": ("softplus", "avg"),  # paper A, Setup 2
}
"""Paper A's two setups: name -> (activation, pooling)."""


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder with a configurable activation and pooling (paper A §IV-A).

    Args:
        activation: ``"relu"`` or ``"softplus"``.
        pooling: ``"max"`` or ``"avg"``.
        in_channels: image channels C.
        widths: channels of the first two convolutions and of the code.

    Shapes:
        input ``[B, C, H, W]`` with H and W divisible by 4; output of the same shape.
    """

    def __init__(
        self,
        activation: str = "relu",
        pooling: str = "max",
        *,
        in_channels: int = 1,
        widths: tuple[int, int, int] = (16, 32, 8),
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise SmoothscopeError(
                f"activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        if pooling not in POOLINGS:
            raise SmoothscopeError(f"pooling: expected one of {sorted(POOLINGS)}, got {pooling!r}")
        in_channels = positive(in_channels, "in_channels", integer=True)
        if len(widths) != 3:
            raise SmoothscopeError(f"widths: expected 3 channel counts, got {widths!r}")
        w1, w2, w3 = (positive(w, "widths", integer=True) for w in widths)
        self.activation, self.pooling = activation, pooling
        act, pool = ACTIVATIONS[activation], POOLINGS[pooling]
        self.encoder = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, w1, 3, padding=1),
                act1=act(),
                pool1=pool(2, 2),
                conv2=nn.Conv2d(w1, w2, 3, padding=1),
                act2=act(),
                pool2=pool(2, 2),
                conv3=nn.Conv2d(w2, w3, 3, padding=1),
                act3=act(),
            )
        )
        self.decoder = nn.Sequential(
            OrderedDict(
                deconv1=nn.ConvTranspose2d(w3, w2, 3, stride=2, padding=1, output_padding=1),
                act1=act(),
                deconv2=nn.ConvTranspose2d(w2, w1, 3, stride=2, padding=1, output_padding=1),
                act2=act(),
                deconv3=nn.ConvTranspose2d(w1, in_channels, 3, stride=1, padding=1),
            )
        )

    def forward(self, x):
        if x.dim() != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise SmoothscopeError(
                f"input: expected [B, C, H, W] with H, W divisible by 4, got {tuple(x.shape)}"
            )
        return self.decoder(self.encoder(x))


@register("autoencoder")
def autoencoder(setup: str | None = None, **kwargs) -> ConvAutoencoder:
    """Build paper A's autoencoder; ``setup`` is ``"relu_maxpool"`` or ``"softplus_avgpool"``."""
    if setup is not None:
        if setup not in SETUPS:
            raise SmoothscopeError(f"setup: expected one of {sorted(SETUPS)}, got {setup!r}")
        kwargs["activation"], kwargs["pooling"] = SETUPS[setup]
    return ConvAutoencoder(**kwargs)
