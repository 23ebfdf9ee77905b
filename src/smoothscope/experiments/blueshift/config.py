"""Config of the ``blueshift`` experiment (paper C): the protocol's fields, scales, bounds and
the protocol ledger.

The dataclass holds the paper-scale protocol of paper C §4-§5 with its quick and standard
presets; :data:`BlueshiftConfig.PROTOCOL` declares, field by field, the paper's value and where
it comes from (``smoothscope.protocol``). The constants beside it name what the protocol
compares (the activations of Fig. 3, the linear control, the architectures of Fig. 9) and the
fixed parameters of the spectral statistics (Fig. 7's high band, Fig. 6's filters and bands).
See ``docs/blueshift.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from ...models.toycnn import make_activation
from ...protocol import NO_VALUE, PaperValue
from .._base import ExperimentConfig

__all__ = [
    "ACTIVATIONS",
    "BAND_WIDTH",
    "CHEBYSHEV",
    "HIGH_BAND",
    "LINEAR",
    "PATH_OUTPUTS",
    "RUNTIME_VALUES",
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
"""Fig. 7's spectral-shape statistic: the share of the power at ``k > K / HIGH_BAND``."""
BAND_WIDTH = 2.0
"""Standard deviation (in frequency bins) of Fig. 6's Gaussian frequency filters; the drop is
read from the low band ``k ≤ K/8`` to the high band ``k > K/4``."""
PATH_OUTPUTS = ("logits", "loss")
"""What the paths of Figs. 1, 4, 5 and 15 are read on: the network's outputs before the softmax
(App. A) or the cross-entropy loss (the figures' captions); both are recorded."""

SWEEP_VARIANTS = ("noshort", "v1", "v2")
"""Fig. 9's architectures: v1 without shortcuts ("NoShort"), v1 and v2 with them."""
SWEEP_KWARGS = {
    "noshort": {"version": "v1", "shortcut": False},
    "v1": {"version": "v1", "shortcut": True},
    "v2": {"version": "v2", "shortcut": True},
}
"""The ResNet keyword arguments of each of Fig. 9's architectures."""

RUNTIME_VALUES = {
    "estimator": "averaged raw spectrum",
    "fit_range": "k = 1 … K/2",
    "batchnorm": "static",
    "initialisation": "PyTorch default",
    "fig6_bands": f"Gaussian filters σ = {BAND_WIDTH:g} bins; drop from k ≤ K/8 to k > K/4",
    "fig7_high_band": f"k > K/{HIGH_BAND}",
}
"""The ledger values every run has (``run()`` adds the dataset it found)."""

_SCALE = "the time budget of the scale (quick: about 2 min in `make demo`; standard: ≤ 14 min "
_SCALE += "on 2 cores)"
_COUNT = "a replicate count; the intervals are taken over it at this scale's " + _SCALE


@dataclass(frozen=True)
class BlueshiftConfig(ExperimentConfig):
    """Protocol of paper C §4-§5 (paper-scale defaults; quick and standard scales are smaller).

    Attributes:
        toy_units: depth L of the Toy-CNN (paper: 50; Figs. 3, 11-13, 15).
        toy_depths: Toy-CNN depths for h vs depth (Fig. 5).
        resnet_depth: depth 6n+2 of the CIFAR ResNets of Figs. 1, 4, 6, 8 (paper: 56).
        v1v2_depth: depth 6n+2 of Fig. 7's ResNets v1 and v2 (paper: 194).
        images: images per path (the loss averages over them).
        points: samples N along each path (paper: 100).
        inits: initialisations per configuration (paper: 50).
        directions: random directions per initialisation (paper: 20).
        radius: path length r = 1/α of eq. 1 at initialisation (paper: 1, "around
            initialisation"; see ``docs/blueshift.md``).
        radius_sweep: radii at which the Fig. 3 Toy-CNNs are walked again (figure
            ``radius_sweep.png``); empty: no sweep.
        group_average: feature-group averaging factor a (paper: 3).
        branch_sample: share of the neurons whose residual/shortcut pairs Fig. 6 correlates
            (paper: 10 %).
        path_output: what Figs. 1, 4, 5 and 15 read: ``"logits"`` (App. A: "layer outputs before
            classification (softmax)") or ``"loss"``; the other is reported beside it.
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
    v1v2_depth: int = 194
    images: int = 8
    points: int = 100
    inits: int = 50
    directions: int = 20
    radius: float = 1.0
    radius_sweep: tuple[float, ...] = (0.1, 1.0, 10.0)
    group_average: int = 3
    branch_sample: float = 0.1
    path_output: str = "logits"
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

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """With ``device="cuda"`` the networks (built on the CPU from their seeds) and the images
    move there: the paths' float64 forward passes and the Fig. 9 / Fig. 11 trainings run on it;
    the directions are drawn and the spectra, fits and claims computed on the CPU."""

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "points": Bound(8, 100_000, unit_bytes=3 * 32 * 32 * 4, unit="path point (an image)"),
        "radius_sweep": Bound(0, 1e6, low_open=True, min_entries=0),
        "branch_sample": Bound(0, 1.0, low_open=True),
        "sweep_alphas": Bound(0, 1.0),  # leaky-ReLU knob: 0 linear, 1 ReLU
        "extra_activations": Bound(min_entries=0),  # Fig. 17 only at the paper scale
        "train_checkpoints": Bound(0, 10_000, min_entries=0),  # Fig. 11: standard and paper
        "train_radii": Bound(0, 1e6, low_open=True),
        "delta_radii": Bound(0, 1e6, low_open=True, min_entries=0),
    }

    QUICK: ClassVar[dict[str, Any]] = {
        "toy_depths": (5, 20, 50),
        "resnet_depth": 8,
        "v1v2_depth": 8,
        "images": 1,
        "inits": 4,
        "directions": 3,
        "walk_layers": 5,
        "extra_activations": (),
        "sweep_depths": (8, 14),
        "sweep_alphas": (0.5, 1.0),
        "sweep_epochs": 1,
        "train_images": 512,
        "sweep_variants": ("noshort",),
        "train_checkpoints": (),
        "delta_radii": (1.0, 100.0),
        "n_boot": 1000,
    }
    STANDARD: ClassVar[dict[str, Any]] = {
        "v1v2_depth": 56,
        "images": 1,
        "inits": 6,
        "directions": 6,
        "extra_activations": (),
        "sweep_depths": (8, 14, 20),
        "sweep_alphas": (0.5, 1.0),
        "sweep_epochs": 2,
        "train_images": 2048,
        "sweep_variants": ("noshort",),  # v1/v2 with shortcuts: +120 CPU-s per net at depth 20
        "train_checkpoints": (0, 2),
        "delta_radii": (1.0, 100.0),
        "n_boot": 2000,
    }

    RUNTIME_PROTOCOL: ClassVar[tuple[str, ...]] = ("dataset_found", *RUNTIME_VALUES)
    PROTOCOL: ClassVar[Mapping[str, PaperValue]] = {
        "radius": PaperValue(
            1.0,
            "C §4 ('we always measure … in the region around initialization'), eq. 1 (α = 1: "
            "t·D with ‖D‖_F = 1 unscaled) and App. D.1 (the default that 'increasing the "
            "sampling radius to α = 10' departs from)",
            display="1 (the unscaled eq. 1; App. D.1 raises it to 10)",
        ),
        "toy_units": PaperValue(50, "C §4.2 ('a Toy-CNN with depth L = 50'), App. D.4, E"),
        "toy_depths": PaperValue(
            NO_VALUE,
            "C §4.3, Fig. 5 (the depths are only drawn)",
            reasons={"*": "up to the paper's L = 50, evenly spread; the quick scale keeps three"},
        ),
        "resnet_depth": PaperValue(
            56,
            "C §4.1 (Fig. 1: ResNet56 v2), §4.3 (Fig. 4), §4.4 (Fig. 6: ResNet 56 v2), §5 "
            "(Fig. 8: ResNet56 NoShort)",
            reasons={"quick": "8, the smallest CIFAR ResNet: " + _SCALE},
        ),
        "v1v2_depth": PaperValue(
            194,
            "C Fig. 7 ('the last layer of a ResNet194 v1/v2')",
            reasons={
                "quick": "8, as resnet_depth: " + _SCALE,
                "standard": "56 (resnet_depth, the paper's): a path point of ResNet-194 costs "
                "about 3.5× one of ResNet-56, and Fig. 7's three networks would add ≈ 10 CPU-min "
                "to a standard run that already uses ≈ 11 of its 14 min on 2 cores",
            },
        ),
        "images": PaperValue(
            NO_VALUE,
            "C §4.2 ('all batch images'), App. F (MNIST: 'a batch size of 256'); the batch size "
            "of the CIFAR figures is in App. A's table, not in the text",
            reasons={"*": "8 at the paper scale, 1 at quick and standard (the cost is linear)"},
        ),
        "points": PaperValue(100, "C Fig. 3 caption ('we use only 100 samples')"),
        "inits": PaperValue(
            50,
            "C §4.3 ('we initialize each network 50 times')",
            reasons={"quick": _COUNT, "standard": _COUNT},
            replicate=True,
        ),
        "directions": PaperValue(
            20,
            "C §4.3 ('20 paths in different random directions for each initialization'); "
            "Fig. 6: 50; Fig. 4: 500",
            reasons={"quick": _COUNT, "standard": _COUNT},
            replicate=True,
            display="20 (Fig. 5; Fig. 6: 50, Fig. 4: 500)",
        ),
        "radius_sweep": PaperValue(
            NO_VALUE,
            "C App. D.1 (radii 1 and 10), App. D.2 ('different path lengths α'); no sweep at "
            "initialisation",
            reasons={"*": "0.1, 1, 10 around the paper's 1 (issue 25): a figure, no claim"},
        ),
        "group_average": PaperValue(3, "C §5 ('the averaging network … with a = 3')"),
        "branch_sample": PaperValue(
            0.1, "C §4.4 ('we only sample 10% of the outputs for computational reasons')"
        ),
        "path_output": PaperValue(
            "logits",
            "C App. A ('All our experiments show layer outputs before classification "
            "(softmax)'); the captions of Figs. 1, 4, 5 and App. E say 'loss path'",
            display="logits (App. A; the captions say 'loss', recorded beside)",
        ),
        "walk_layers": PaperValue(
            NO_VALUE,
            "C App. E, Fig. 15 ('the color of a path indicates in which layer'; the number of "
            "walked layers is only drawn)",
            reasons={"*": "evenly spaced units of the Toy-CNN, each with a linear twin"},
        ),
        "extra_activations": PaperValue(
            ("elu", "gelu", "selu", "sigmoid", "hardtanh", "leaky_relu:0.2"),
            "C App. F.1 (ELU, GELU, HTANH, LReLU, SELU, sigmoid)",
            reasons={"quick": "Fig. 17 is a figure only: " + _SCALE, "standard": "as quick"},
            display="ELU, GELU, SELU, sigmoid, hardtanh, LReLU (slope not stated; ours 0.2)",
        ),
        "sweep_depths": PaperValue(
            NO_VALUE,
            "C §5, Fig. 9 ('varying depth'; the depths are only drawn)",
            reasons={"*": "CIFAR ResNet depths 6n+2 up to the paper's 110-layer family"},
        ),
        "sweep_alphas": PaperValue(
            NO_VALUE,
            "C §5, Fig. 9 ('different values of α'; only drawn)",
            reasons={"*": "evenly spaced between linear-ish and ReLU"},
        ),
        "sweep_epochs": PaperValue(
            30,
            "C §5 ('train … for 30 epochs once on Cifar10')",
            reasons={"quick": _SCALE, "standard": _SCALE + "; 6 networks × 30 epochs of "
                     "CIFAR-size training do not fit"},
        ),
        "train_images": PaperValue(
            50000,
            "C §5 (the CIFAR-10 training set)",
            reasons={"quick": _SCALE, "standard": _SCALE},
        ),
        "sweep_variants": PaperValue(
            SWEEP_VARIANTS,
            "C §5 ('ResNet56 v1/v2 with and without shortcuts')",
            reasons={
                "quick": "NoShort only (the claim reads NoShort): " + _SCALE,
                "standard": "NoShort only (the claim reads NoShort): one v2 ResNet-20 costs ≈ 120 "
                "CPU-s at this protocol",
            },
            display="v1 and v2, with and without shortcuts (ours: NoShort = v1 without)",
        ),
        "train_checkpoints": PaperValue(
            (0, 20),
            "C App. D.1, Fig. 11 ('at 0 and 20 epochs of training')",
            reasons={"quick": "no Fig. 11 (a figure only): " + _SCALE, "standard": _SCALE},
        ),
        "train_radii": PaperValue((1.0, 10.0), "C App. D.1 (the default and 'α = 10')"),
        "delta_radii": PaperValue(
            NO_VALUE,
            "C App. D.2, Fig. 12 ('different path lengths α')",
            reasons={"*": "around the paper's default 1, up to where tanh roughens"},
        ),
        "n_boot": PaperValue(
            NO_VALUE,
            "C (no intervals in the paper)",
            reasons={"*": "percentile bootstrap; 1000-2000 draws fix a 95 % interval's ends "
                     "to about 1 % of its width"},
            replicate=True,
        ),
        "dataset_found": PaperValue(
            "cifar10",
            "C §4 ('We used Cifar10 as input data, but all figures in this section look "
            "qualitatively similar on other datasets'), §5, App. F (MNIST: 'qualitatively the "
            "same')",
            reasons={"*": "CIFAR-10 when given (--set data_dir=…), else Fashion-MNIST, else the "
                     "digits; §4 and App. F state the at-initialisation figures do not depend on "
                     "the dataset, so only Fig. 9 (training) depends on it"},
        ),
        "estimator": PaperValue(
            RUNTIME_VALUES["estimator"],
            "C §3.1 ('we estimate the average power-spectrum … and fit a power-law to these "
            "spectra'), §4.2 (raw DFT of the path samples, 'normalized by function norm', "
            "bumps read off the spectrum), §4.3 (h)",
            display="the average of the paths' raw-DFT spectra, each normalised by its norm, "
            "read by its power-law h or by where its power sits (the tapered h: an extension)",
        ),
        "fit_range": PaperValue(
            NO_VALUE,
            "C §3.1, §4.3 (a power-law fit; no range stated)",
            reasons={"*": "the lower half of the frequencies, away from the aliasing the paper "
                     "notes under Fig. 3"},
        ),
        "batchnorm": PaperValue(
            "static",
            "C App. A ('batch-normalization layers statically as a fixed scaling and "
            "shifting')",
            display="static (which statistics: not stated; ours: the probe images' at W)",
        ),
        "initialisation": PaperValue(
            "PyTorch default",
            "C App. A (PyTorch 1.5; no initialisation named: its default)",
        ),
        "fig6_bands": PaperValue(
            NO_VALUE,
            "C §4.4, Fig. 6 ('Gaussian filters in Fourier domain'; width and bands not stated)",
            reasons={"*": "fixed before any run (issue 13): σ = 2 bins, low k ≤ K/8, high k > K/4"},
        ),
        "fig7_high_band": PaperValue(
            NO_VALUE,
            "C §4.4, Fig. 7 (the spectra are compared by eye)",
            reasons={"*": "fixed before any run (issue 13): the power above K/8"},
        ),
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
        if self.path_output not in PATH_OUTPUTS:
            raise SmoothscopeError(
                f"path_output: expected one of {PATH_OUTPUTS}, got {self.path_output!r}"
            )
        for name in self.extra_activations:
            make_activation(name)  # an unknown name fails here, before anything runs
        bad = set(self.sweep_variants) - set(SWEEP_VARIANTS)
        if bad or not self.sweep_variants:
            raise SmoothscopeError(
                f"sweep_variants: expected some of {SWEEP_VARIANTS}, got {self.sweep_variants}"
            )
        if any(r <= 0 for r in (*self.train_radii, *self.delta_radii, *self.radius_sweep)):
            raise SmoothscopeError("train_radii, delta_radii, radius_sweep: expected radii > 0")
        if len(self.delta_radii) == 1:
            raise SmoothscopeError("delta_radii: expected none (no Fig. 12) or at least 2 radii")
        depths = (self.resnet_depth, self.v1v2_depth, *self.sweep_depths)
        if any((d - 2) % 6 for d in depths):
            raise SmoothscopeError("resnet depths: expected the form 6n+2")
        if self.walk_layers > self.toy_units:
            raise SmoothscopeError(
                f"walk_layers: expected at most toy_units = {self.toy_units}, got "
                f"{self.walk_layers}"
            )
