"""The "processing units" of paper A's Fig. 7: networks of several families, frame by frame.

Families (``FAMILIES``), each built from the project's own models where one exists:

* ``ae_relu_maxpool`` / ``ae_softplus_avgpool``: paper A's two autoencoders
  (:mod:`smoothscope.models.autoencoder`), trained as there to reconstruct frames;
* ``unet``: the U-net of paper D (:class:`smoothscope.models.resolution.ResolutionUNet`, ReLU,
  max pooling, at scale 1 an ordinary U-net), trained as a denoiser as in experiment
  ``regularity``;
* ``upsampler``: a sub-pixel super-resolution network (ESPCN-like, Shi et al. 2016): average
  pooling by 2, three 3 × 3 convolutions with ReLU, ``PixelShuffle(2)``; trained to restore the
  frame from its half-resolution version;
* ``resnet``: the stem and first stage of paper C's CIFAR ResNet-8 (v1, ReLU, BatchNorm;
  :class:`smoothscope.models.resnet_cifar.CifarResNet`) followed by a 1 × 1 convolution back to
  the image channels: a residual image-to-image network, trained as a denoiser.

Every family is used at initialisation and trained (``VARIANTS``). Networks see each frame
independently; their output is a video again (:func:`process_videos`, float64 evaluation).
"""

from __future__ import annotations

import torch
from torch import nn

from .._errors import SmoothscopeError
from .._validate import check_generator, positive
from ..analysis.nonsmoothness import reconstruct_videos
from ..models import build
from ..train import fit

__all__ = [
    "FAMILIES",
    "VARIANTS",
    "ResNetProcessor",
    "SubPixelUpsampler",
    "build_processor",
    "process_videos",
    "train_processor",
]

FAMILIES = ("ae_relu_maxpool", "ae_softplus_avgpool", "unet", "upsampler", "resnet")
VARIANTS = ("init", "trained")
DENOISE_SIGMA = 0.1
"""Noise level of the denoising training of ``unet`` and ``resnet``."""


class SubPixelUpsampler(nn.Module):
    """Half-resolution frame → full resolution with a sub-pixel convolution (ESPCN).

    Shapes: input ``[B, C, H, W]`` with even H, W; output the same shape.
    """

    def __init__(self, channels: int = 1, width: int = 16) -> None:
        super().__init__()
        self.down = nn.AvgPool2d(2)
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, channels * 4, 3, padding=1),
            nn.PixelShuffle(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.down(x))


class ResNetProcessor(nn.Module):
    """Stem and stage 1 of a CIFAR ResNet (full resolution) and a 1 × 1 convolution head."""

    def __init__(self, channels: int = 1, depth: int = 8) -> None:
        super().__init__()
        from ..models.resnet_cifar import CifarResNet

        trunk = CifarResNet(depth=depth, version="v1", in_channels=channels)
        self.stem, self.layer1 = trunk.stem, trunk.layer1
        self.head = nn.Conv2d(trunk.layer1[-1].residual.conv2.out_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer1(self.stem(x)))


def build_processor(family: str, *, seed: int, channels: int = 1) -> nn.Module:
    """A network of ``family`` at initialisation (seeded)."""
    if family not in FAMILIES:
        raise SmoothscopeError(f"family: expected one of {', '.join(FAMILIES)}, got {family!r}")
    if family.startswith("ae_"):
        return build("autoencoder", setup=family[3:], seed=seed, in_channels=channels)
    if family == "unet":
        return build("resolution-unet", seed=seed, in_ch=channels, out_ch=channels, width=8)
    with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left untouched
        torch.manual_seed(seed)
        if family == "upsampler":
            return SubPixelUpsampler(channels)
        return ResNetProcessor(channels)


def _objective(family: str, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Inputs of the training task of ``family`` (targets are the clean frames)."""
    if family in ("unet", "resnet"):
        noise = torch.randn(frames.shape, generator=generator, dtype=frames.dtype)
        return frames + DENOISE_SIGMA * noise
    return frames  # autoencoders reconstruct; the upsampler pools inside its forward


def train_processor(
    family: str,
    model: nn.Module,
    train: torch.Tensor,
    val: torch.Tensor,
    *,
    epochs: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 1e-3,
) -> dict:
    """Train ``model`` in place on its family's task (reconstruction, denoising or 2× super-
    resolution) with :func:`smoothscope.train.fit`; returns the best validation loss and epoch.

    Args:
        family: the model's family.
        model: from :func:`build_processor`.
        train, val: clean frames ``[N, C, H, W]`` (float32).
        epochs, seed, batch_size, lr: as in :func:`smoothscope.train.fit`.
    """
    epochs = positive(epochs, "epochs", integer=True)
    generator = check_generator(torch.Generator().manual_seed(seed))
    result = fit(
        model,
        _objective(family, train, generator),
        train,
        _objective(family, val, generator),
        val,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        progress=False,
    )
    model.load_state_dict(result.state_dict)
    return {"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss}


def process_videos(model: nn.Module, videos: torch.Tensor) -> torch.Tensor:
    """Every frame through ``model`` (a float64 copy, eval mode): ``[V, T, C, H, W]``."""
    return reconstruct_videos(model, videos)
