"""Config of the ``regularity`` experiment (paper D): the protocol, its scales and bounds.

Paper D has no experiments of its own: every field is ours, documented in the class docstring
and in docs/regularity.md (with the changes made after results were seen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..._errors import SmoothscopeError
from ..._validate import Bound
from ...protocol import NO_VALUE, PaperValue
from .._base import ExperimentConfig

__all__ = [
    "DEAD_AT_INIT",
    "DIP_LR",
    "MAIN",
    "MAX_REDRAWS",
    "MODES",
    "SMOOTH",
    "TRAIN_SUPERSAMPLE",
    "RegularityConfig",
]

MAIN = ("relu", "max", "nearest")
"""(activation, pooling, upsampling) of the main U-net (jumps, kinks, L2)."""
SMOOTH = ("softplus", "avg", "bilinear")
"""The smooth U-net of the C¹ claim (used when it is among ``variants``)."""
MODES = ("continuous", "pixel")
"""How every network is evaluated at scale s: resolution independent, or the same weights with
fixed pixel kernels (the control)."""
TRAIN_SUPERSAMPLE = 16
"""Area rasterisation of training images: 16 sub-samples per physical unit and axis (the test
scenes use the default 64)."""
DIP_LR = 3e-3
"""Adam step of the DIP fits (LeakyReLU 0.2 as in Ulyanov et al.). With ReLU, 1e-2 left 1 of 6
quick fits near-constant and 1 dead, 3e-3 still 1 dead; chosen on the fits' health, not on the
claims."""
DEAD_AT_INIT = 1e-6
MAX_REDRAWS = 10
"""A ReLU DIP (no normalisation) can be dead at initialisation: constant output, zero
gradients, never fitted. Such a draw (output range ≤ 1e-6 before fitting) is replaced by the
next seed, at most 10 times; the count is reported as ``redraws``. Fits that die while fitting
still make the DIP claims ``not reproduced``."""


@dataclass(frozen=True)
class RegularityConfig(ExperimentConfig):
    """Protocol (paper D has no experiments: this one is ours, see docs/regularity.md).

    Attributes:
        n0: physical side of the test scenes (pixels at s = 1).
        train_n0: physical side of the training scenes (the U-net is fully convolutional).
        train_discs: (lo, hi) discs per training scene.
        width, depth: U-net channels and levels.
        train_images, val_images: random disc scenes for training / validation.
        sigma: Gaussian noise of the denoising task (per pixel).
        epochs, batch_size, lr: Adam on the MSE (+ λ · L² penalty of the continuous kernels).
        seeds: training replicates (data, noise, initialisation and minibatch order) of the
            main U-net at λ = 0 and λ = max, of every variant and of the DIP fits.
        train_scales: scales the main U-net is trained at (s > 1: one seed, tables only).
        eval_scales: scales every network is evaluated at (must contain 1).
        variants: (activation, pooling, upsampling) of the extra U-nets (the first is the
            smooth one of the C¹ claims when it is softplus/avg/bilinear).
        lambdas: L2 weight-decay strengths (resolution independent); intermediate ones get
            one seed (tables and figures only).
        test_scenes: single-disc test scenes.
        dip_n0, dip_width, dip_iterations: deep image prior fit of a noisy phantom at s = 1.
        dip_lambdas: its weight-decay strengths (λ ≥ 1e-2 collapses the DIP to a constant).
        gen_seeds, gen_images, gen_width, gen_epochs: the generative decoder (training seeds,
            single-disc training scenes of side n0, channels, epochs of batch ``batch_size``).
        n_boot: bootstrap replicates.
    """

    n0: int = 32
    train_n0: int = 32
    train_discs: tuple[int, int] = (1, 5)
    width: int = 16
    depth: int = 2
    train_images: int = 2000
    val_images: int = 200
    sigma: float = 0.1
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    seeds: int = 10
    train_scales: tuple[int, ...] = (1, 2, 3)
    eval_scales: tuple[int, ...] = (1, 2, 4, 8, 12)
    variants: tuple[str, ...] = ("softplus/avg/bilinear", "relu/avg/bilinear", "tanh/max/nearest")
    lambdas: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2)
    test_scenes: int = 16
    dip_n0: int = 64
    dip_width: int = 16
    dip_iterations: int = 2000
    dip_lambdas: tuple[float, ...] = (0.0, 1e-5, 1e-4, 1e-3)
    gen_seeds: int = 10
    gen_images: int = 2000
    gen_width: int = 8
    gen_epochs: int = 30
    n_boot: int = 2000

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """With ``device="cuda"`` the U-nets, deep image priors and generators train and run there
    (the data are drawn on the CPU and moved); the edge cuts and metrics stay on the CPU. A DIP
    fit is sequential (one image, ``dip_iterations`` steps): launch-bound on a GPU."""

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "train_images": Bound(1, 200_000, unit_bytes=32 * 32 * 4, unit="32×32 float32 scene"),
        "val_images": Bound(1, 200_000, unit_bytes=32 * 32 * 4, unit="32×32 float32 scene"),
        "gen_images": Bound(1, 200_000, unit_bytes=32 * 32 * 4, unit="32×32 float32 scene"),
        "lambdas": Bound(0, 10.0),
        "dip_lambdas": Bound(0, 10.0),
        "lr": Bound(0, 10.0, low_open=True),
    }

    PROTOCOL: ClassVar[dict[str, PaperValue]] = {
        # paper D is theoretical (abstract only here): it fixes no experiment, so every field
        # is the project's, declared with the reason for its value
        "eval_scales": PaperValue(
            NO_VALUE,
            "D, abstract: the limit as the resolution approaches infinity",
            reasons={"*": "s up to 8 (12 at paper scale): enough to read the trend of the jumps "
                     "(≈ 1/s for a continuous output, ≈ 1 for a kept edge) on 2 CPU cores"},
        ),
        "lambdas": PaperValue(
            NO_VALUE,
            "D, abstract: 'basic L2 regularization of network weights' (no strength given)",
            reasons={"*": "λ = 0 against the largest λ that does not collapse the U-net to a "
                     "constant (0.1 collapsed 4 of 6 quick U-nets; docs/regularity.md)"},
        ),
        "dip_lambdas": PaperValue(
            NO_VALUE,
            "D, abstract: the deep image prior is named, no protocol",
            reasons={"*": "λ ≥ 1e-2 collapses the DIP to a constant; the largest below that"},
        ),
        "width": PaperValue(
            NO_VALUE,
            "D, abstract: 'CNNs such as the U-net' (no architecture)",
            reasons={"*": "a 2-level U-net of width 8–16: the theorem holds for any width"},
        ),
        "seeds": PaperValue(
            NO_VALUE,
            "D has no experiments",
            reasons={"*": "training seeds: the interval is over them (the L2 rule splits them)"},
            replicate=True,
        ),
        "test_scenes": PaperValue(
            NO_VALUE,
            "D has no experiments",
            reasons={"*": "single-disc test scenes: the interval's second level"},
            replicate=True,
        ),
    }

    QUICK: ClassVar[dict[str, Any]] = {
        "train_n0": 16,
        "train_discs": (1, 3),
        "width": 8,
        "train_images": 256,
        "val_images": 32,
        "epochs": 6,
        "batch_size": 16,
        "seeds": 6,
        "train_scales": (1,),
        "eval_scales": (1, 2, 4, 8),
        "variants": ("softplus/avg/bilinear",),
        "lambdas": (0.0, 1e-2),
        "test_scenes": 5,
        "dip_n0": 32,
        "dip_width": 8,
        "dip_iterations": 150,
        "dip_lambdas": (0.0, 1e-3),
        "gen_seeds": 3,
        "gen_images": 256,
        "gen_width": 4,
        "gen_epochs": 12,
        "n_boot": 1000,
    }
    STANDARD: ClassVar[dict[str, Any]] = {
        "train_n0": 16,
        "train_discs": (1, 3),
        "width": 8,
        "train_images": 512,
        "val_images": 64,
        "epochs": 12,
        "batch_size": 16,
        "seeds": 10,
        "train_scales": (1, 2),
        "eval_scales": (1, 2, 4, 8),
        "variants": ("softplus/avg/bilinear",),
        "lambdas": (0.0, 1e-3, 1e-2),
        "test_scenes": 12,
        "dip_n0": 32,
        "dip_width": 8,
        "dip_iterations": 300,
        "dip_lambdas": (0.0, 1e-4, 1e-3),
        "gen_seeds": 6,
        "gen_images": 512,
        "gen_width": 4,
        "gen_epochs": 20,
        "n_boot": 2000,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if 1 not in self.eval_scales or 1 not in self.train_scales:
            raise SmoothscopeError("eval_scales and train_scales: expected to contain 1")
        if any(not isinstance(s, int) or s < 1 for s in (*self.eval_scales, *self.train_scales)):
            raise SmoothscopeError("scales: expected positive integers")
        if len(self.eval_scales) < 2:
            raise SmoothscopeError("eval_scales: expected 1 and at least one larger scale")
        if not isinstance(self.gen_seeds, int) or self.gen_seeds < 2:
            raise SmoothscopeError(f"gen_seeds: expected an integer ≥ 2, got {self.gen_seeds!r}")
        if not isinstance(self.seeds, int) or self.seeds < 2:
            raise SmoothscopeError(
                f"seeds: expected an integer ≥ 2 (the L2 control splits them), got {self.seeds!r}"
            )
        for name in ("lambdas", "dip_lambdas"):
            values = getattr(self, name)
            if any(lam < 0 for lam in values) or 0.0 not in values or len(values) < 2:
                raise SmoothscopeError(
                    f"{name}: expected non-negative values including 0 and one > 0"
                )
        for v in self.variants:
            if len(v.split("/")) != 3:
                raise SmoothscopeError(
                    f"variants: expected 'activation/pooling/upsampling', got {v!r}"
                )
        lo, hi = self.train_discs
        if not 1 <= lo <= hi:
            raise SmoothscopeError(f"train_discs: expected 1 ≤ lo ≤ hi, got {self.train_discs}")
        for name in ("n0", "train_n0", "dip_n0"):
            q = 2**self.depth
            n0 = getattr(self, name)
            if n0 % q or n0 // q < 3:
                raise SmoothscopeError(
                    f"{name}: expected a multiple of 2**depth = {q} with ≥ 3 cells at the "
                    f"coarsest level, got {n0}"
                )
        if self.train_n0 <= 12:
            raise SmoothscopeError(
                f"train_n0: expected > 12 (training discs have radii up to 6), got {self.train_n0}"
            )
