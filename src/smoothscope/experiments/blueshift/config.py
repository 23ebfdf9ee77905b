"""Config of the ``blueshift`` experiment (paper C): the protocol's fields, scales and bounds.

The dataclass holds the paper-scale protocol of paper C §4 with its quick and standard
presets; the constants beside it name what the protocol compares (the activations of Fig. 3,
the linear control, the architectures of Fig. 9) and the two fixed parameters of the spectral
statistics (Fig. 7's high band, Fig. 6's filter width). See ``docs/blueshift.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from ...models.toycnn import make_activation
from .._base import ExperimentConfig

__all__ = [
    "ACTIVATIONS",
    "BAND_WIDTH",
    "CHEBYSHEV",
    "HIGH_BAND",
    "LINEAR",
    "SWEEP_KWARGS",
    "SWEEP_VARIANTS",
    "BlueshiftConfig",
]

ACTIVATIONS = ("relu", "tanh", "softplus")
"""The activations compared by the claims of Figs. 3 and 6, roughest first."""
LINEAR = "identity"
"""The activation of the linear control networks (no harmonics, hence no blueshift)."""
CHEBYSHEV = (
    "relu",
    "leaky_relu:0.2",
    "tanh",
    "softplus",
    "elu",
    "gelu",
    "selu",
    "sigmoid",
    "hardtanh",
    "swish",
)
"""Activations whose Chebyshev coefficients on [−5, 5] are measured (Figs. 2, 19)."""
HIGH_BAND = 8
"""Fig. 7's spectral-shape statistic: the share of the (taper) power at ``k > K / HIGH_BAND``."""
BAND_WIDTH = 2.0
"""Standard deviation (in frequency bins) of Fig. 6's Gaussian frequency filters."""

SWEEP_VARIANTS = ("noshort", "v1", "v2")
"""Fig. 9's architectures: v1 without shortcuts ("NoShort"), v1 and v2 with them."""
SWEEP_KWARGS = {
    "noshort": {"version": "v1", "shortcut": False},
    "v1": {"version": "v1", "shortcut": True},
    "v2": {"version": "v2", "shortcut": True},
}
"""The ResNet keyword arguments of each of Fig. 9's architectures."""


@dataclass(frozen=True)
class BlueshiftConfig(ExperimentConfig):
    """Protocol of paper C §4 (paper-scale defaults; quick and standard scales are smaller).

    Attributes:
        toy_units: depth L of the Toy-CNN (paper: 50).
        toy_depths: Toy-CNN depths for h vs depth (Fig. 5).
        resnet_depth: depth 6n+2 of the CIFAR ResNets (paper: 56).
        images: images per path (the loss averages over them).
        points: samples N along each path.
        inits: initialisations per configuration (paper: 50).
        directions: random directions per initialisation (paper: 20).
        radius: path length r = 1/α of eq. 1 at initialisation (see ``docs/blueshift.md``).
        group_average: feature-group averaging factor a (paper: 3).
        walk_layers: units walked one at a time (Fig. 15).
        extra_activations: the other activations of App. F.1 (Fig. 17: unit spectra of the
            Toy-CNN); empty at the quick and standard scales.
        sweep_depths, sweep_alphas, sweep_epochs, train_images: trainability sweep (Fig. 9) of
            ResNets on the real images; α is the leaky-ReLU knob (1 ReLU, 0 linear).
        sweep_variants: Fig. 9's architectures: ``noshort`` (v1 without shortcuts), ``v1``,
            ``v2`` (with shortcuts); the claim uses ``noshort``.
        train_checkpoints: epochs at which Fig. 11 walks the paths of Toy-CNNs during training
            (paper: 0 and 20); empty: no Fig. 11.
        train_radii: path radii of Fig. 11 (App. D.1: the default and r = 10).
        delta_radii: path radii of Fig. 12 (delta-orthogonal Toy-CNN without BatchNorm, tanh
            and the linear reference); empty: no Fig. 12.
        dataset, data_dir: :func:`smoothscope.data.real.load_images` name and folder.
        n_boot: bootstrap replicates of every interval.
    """

    toy_units: int = 50
    toy_depths: tuple[int, ...] = (5, 10, 20, 30, 40, 50)
    resnet_depth: int = 56
    images: int = 8
    points: int = 257
    inits: int = 50
    directions: int = 20
    radius: float = 10.0
    group_average: int = 3
    walk_layers: int = 10
    extra_activations: tuple[str, ...] = (
        "elu",
        "gelu",
        "selu",
        "sigmoid",
        "hardtanh",
        "leaky_relu:0.2",
    )
    sweep_depths: tuple[int, ...] = (20, 56, 110)
    sweep_alphas: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    sweep_epochs: int = 30
    train_images: int = 50000
    sweep_variants: tuple[str, ...] = SWEEP_VARIANTS
    train_checkpoints: tuple[int, ...] = (0, 20)
    train_radii: tuple[float, ...] = (1.0, 10.0)
    delta_radii: tuple[float, ...] = (1.0, 10.0, 100.0)
    dataset: str = "auto"
    data_dir: str | None = None
    n_boot: int = 2000

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "points": Bound(8, 100_000, unit_bytes=3 * 32 * 32 * 4, unit="path point (an image)"),
        "sweep_alphas": Bound(0, 1.0),  # leaky-ReLU knob: 0 linear, 1 ReLU
        "extra_activations": Bound(min_entries=0),  # Fig. 17 only at the paper scale
        "train_checkpoints": Bound(0, 10_000, min_entries=0),  # Fig. 11: standard and paper
        "train_radii": Bound(0, 1e6, low_open=True),
        "delta_radii": Bound(0, 1e6, low_open=True, min_entries=0),
    }

    QUICK: ClassVar[dict[str, Any]] = {
        "toy_units": 12,
        "toy_depths": (3, 6, 12),
        "resnet_depth": 8,
        "images": 1,
        "points": 129,
        "inits": 4,
        "directions": 3,
        "walk_layers": 3,
        "extra_activations": (),
        "sweep_depths": (8, 14),
        "sweep_alphas": (0.5, 1.0),
        "sweep_epochs": 1,
        "train_images": 512,
        "sweep_variants": ("noshort",),
        "train_checkpoints": (),
        "train_radii": (10.0,),
        "delta_radii": (1.0, 100.0),
        "n_boot": 1000,
    }
    STANDARD: ClassVar[dict[str, Any]] = {
        "toy_units": 20,
        "toy_depths": (5, 10, 20),
        "resnet_depth": 14,
        "images": 1,
        "points": 193,
        "inits": 6,
        "directions": 6,
        "walk_layers": 4,
        "extra_activations": (),
        "sweep_depths": (8, 14, 20),
        "sweep_alphas": (0.5, 1.0),
        "sweep_epochs": 2,
        "train_images": 2048,
        "sweep_variants": ("noshort",),  # v1/v2 with shortcuts: +120 CPU-s per net at depth 20
        "train_checkpoints": (0, 2),
        "train_radii": (1.0, 10.0),
        "delta_radii": (1.0, 100.0),
        "n_boot": 2000,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.points < 33 or self.directions < 2 or self.images < 1 or self.radius <= 0:
            raise SmoothscopeError(
                "points ≥ 33 (the taper estimator's fit range), directions ≥ 2, images ≥ 1, "
                "radius > 0 required"
            )
        if self.inits < 2:
            raise SmoothscopeError(f"inits: expected at least 2 initialisations, got {self.inits}")
        for name in self.extra_activations:
            make_activation(name)  # an unknown name fails here, before anything runs
        bad = set(self.sweep_variants) - set(SWEEP_VARIANTS)
        if bad or not self.sweep_variants:
            raise SmoothscopeError(
                f"sweep_variants: expected some of {SWEEP_VARIANTS}, got {self.sweep_variants}"
            )
        if any(r <= 0 for r in (*self.train_radii, *self.delta_radii)):
            raise SmoothscopeError("train_radii, delta_radii: expected radii > 0")
        if len(self.delta_radii) == 1:
            raise SmoothscopeError("delta_radii: expected none (no Fig. 12) or at least 2 radii")
        if (self.resnet_depth - 2) % 6 or any((d - 2) % 6 for d in self.sweep_depths):
            raise SmoothscopeError("resnet depths: expected the form 6n+2")
