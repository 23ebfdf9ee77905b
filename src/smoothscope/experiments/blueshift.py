"""Experiment ``blueshift``: harmonic distortion of weight-to-output paths (paper C).

Paths ``p(t) = f(x, W + r·t·D)`` (eq. 1 with ``α⁻¹ = r``, the sampling radius), random unit
directions D, at initialisation, on real images (:func:`smoothscope.data.real.load_images`:
CIFAR-10 when given, else Fashion-MNIST, else the digits) with their labels for the loss.
Every configuration is initialised ``inits`` times and walked in ``directions`` directions per
initialisation (the paper: 50 × 20); every claim's interval is a two-level bootstrap over
initialisations, then directions within them.

``h`` is measured twice per path (:func:`smoothscope.analysis.spectra.estimate_h`): the
boundary-free taper estimator, which decides the claims, and the paper's raw-DFT convention
(capped near 1 by the jump where the path's periodic copies meet), reported beside it. Figs. 1,
4 and 5 use the path of the loss, as the paper does; the others the network output (or every
unit, Fig. 3). See ``docs/blueshift.md`` for the protocol and what each scale can decide.
"""

from __future__ import annotations

import copy
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import SmoothscopeError
from .._io import save_json, save_npz
from .._validate import Bound
from ..analysis import chebyshev as C
from ..analysis import paths as P
from ..analysis import spectra as S
from ..data.real import load_images, resolve_dataset
from ..models import build
from ..models.init import delta_orthogonal_
from ..models.toycnn import make_activation
from ..sweep import Cell, CellContext, derive_seed, run_cells
from ._base import ExperimentConfig, ExperimentSpec, register_experiment
from .blueshift_claims import (
    ACTIVATIONS,
    BAND_WIDTH,
    CHEBYSHEV,
    HIGH_BAND,
    LINEAR,
    blueshift_claims,
    fig12_cell,
    h_table,
)
from .blueshift_figures import blueshift_figures

__all__ = [
    "SWEEP_VARIANTS",
    "BlueshiftConfig",
    "band_correlation",
    "path_cell",
    "plan",
    "run",
    "train_cell",
    "training_path_cell",
]

SWEEP_VARIANTS = ("noshort", "v1", "v2")
"""Fig. 9's architectures: v1 without shortcuts ("NoShort"), v1 and v2 with them."""
_SWEEP_KWARGS = {
    "noshort": {"version": "v1", "shortcut": False},
    "v1": {"version": "v1", "shortcut": True},
    "v2": {"version": "v2", "shortcut": True},
}


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


# ---------------------------------------------------------------------------------------------
# cells


def _inputs(spec: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _ = load_images(
        spec["dataset"],
        split=spec.get("split", "test"),
        size=32,
        channels=3,
        n=spec["n"],
        data_dir=spec["data_dir"],
        seed=spec["seed"],
    )
    return x.to(torch.float64), y


def _record(model: torch.nn.Module, what: str) -> list[str]:
    if what == "units":
        return list(model.unit_outputs())
    if what == "branches":
        return list(model.residual_branches()) + list(model.shortcut_branches())
    return [P.OUTPUT]


def _per_direction(values: torch.Tensor) -> dict[str, list]:
    """``h`` (both conventions), kind and high-band share of each direction of ``[N, D, ...]``."""
    out: dict[str, list] = {"h": [], "h_paper": [], "kind": [], "high": []}
    for d in range(values.shape[1]):
        one = values[:, d]
        taper = S.estimate_h(one)
        paper = S.estimate_h(one, estimator="paper")
        out["h"].append(taper.h)
        out["h_paper"].append(paper.h)
        out["kind"].append(taper.kind)
        if taper.spectrum is None:
            out["high"].append(float("nan"))
        else:
            power = taper.spectrum.power
            out["high"].append(float(power[power.numel() // HIGH_BAND :].sum() / power.sum()))
    return out


def band_correlation(a: torch.Tensor, b: torch.Tensor, *, width: float = BAND_WIDTH) -> np.ndarray:
    """Per-frequency correlation of two sets of paths through Gaussian filters (§4.3, Fig. 6).

    ``a``, ``b``: ``[N, P]`` paired paths (a block's residual and shortcut summands, per neuron).
    Both are first made boundary-free as for the taper estimator (chord through the end points
    removed, ``× sin^{2q}(πt)``, :data:`~smoothscope.analysis.spectra.TAPER_ORDER`), so that
    the jump where the periodic copies meet does not correlate every band. For every centre
    ``c = 1 … K`` the paths are band-passed with the Gaussian frequency filter
    ``g_k = exp(−(k − c)² / (2 width²))`` (DC excluded) and correlated:
    ``ρ_p(c) = Σ_k g_k² Re(a_kp b̄_kp) / √(Σ_k g_k² |a_kp|² · Σ_k g_k² |b_kp|²)`` (the Pearson
    correlation of the two filtered paths). Returns ``mean_p |ρ_p(c)|``, ``[K]``; pairs where
    either path is flat in a band are left out there.
    """

    def taper(p: torch.Tensor) -> torch.Tensor:
        n = p.shape[0]
        s_ = torch.linspace(0.0, 1.0, n, dtype=torch.float64)[:, None]
        p = (p - p[:1] - s_ * (p[-1:] - p[:1]))[:-1]
        j = torch.arange(n - 1, dtype=torch.float64)
        return p * (torch.sin(torch.pi * j / (n - 1)) ** (2 * S.TAPER_ORDER))[:, None]

    za = torch.fft.rfft(taper(a.to(torch.float64)), dim=0)[1:]
    zb = torch.fft.rfft(taper(b.to(torch.float64)), dim=0)[1:]
    n_k = za.shape[0]
    k = torch.arange(1, n_k + 1, dtype=torch.float64)
    g2 = torch.exp(-((k[None, :] - k[:, None]) ** 2) / width**2)  # [centres, K]: g_k²
    cross = g2 @ (za * zb.conj()).real
    den = torch.sqrt((g2 @ za.abs() ** 2) * (g2 @ zb.abs() ** 2))
    ok = den > 1e-300
    rho = torch.where(ok, cross.abs() / den.clamp_min(1e-300), torch.nan)
    return torch.nanmean(rho, dim=1).numpy()


def _band_drop(rec: P.PathRecording, model: torch.nn.Module) -> tuple[list[float], np.ndarray]:
    """Per direction: mean |ρ| of the low band (k ≤ K/8) minus the high band (k > K/4), over
    every block with both summands; and the mean curve ``[K]`` over directions and blocks."""
    residual, shortcut = model.residual_branches(), model.shortcut_branches()
    pairs = list(zip(residual[-len(shortcut) :], shortcut, strict=True))
    drops, curves = [], []
    for d in range(rec.n_directions):
        curve = np.nanmean(
            [
                band_correlation(
                    rec.layer(r)[:, d].reshape(rec.n_points, -1),
                    rec.layer(s_)[:, d].reshape(rec.n_points, -1),
                )
                for r, s_ in pairs
            ],
            axis=0,
        )
        n_k = curve.size
        drops.append(float(np.nanmean(curve[: n_k // 8]) - np.nanmean(curve[n_k // 4 :])))
        curves.append(curve)
    return drops, np.mean(curves, axis=0)


def path_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Paths of one configuration over its initialisations: per-direction h of every recorded
    layer (and the loss), mean spectra (``spectra.npz``)."""
    x, y = _inputs(config["inputs"])
    layers: dict[str, dict[str, list]] = {}
    spectra: dict[str, list[np.ndarray]] = {}
    arrays: dict[str, np.ndarray] = {}
    losses = []
    bands: list[list[float]] = []
    curves: list[np.ndarray] = []
    record: list[str] = []
    for i in range(config["inits"]):
        init_seed = derive_seed(config["init_seed"], i)
        model = build(config["model"], seed=init_seed, **config["kwargs"])
        if config.get("init") == "delta-orthogonal":  # Fig. 12 (Xiao et al. 2018)
            delta_orthogonal_(model, generator=torch.Generator().manual_seed(init_seed))
        model = P.freeze_batchnorm_stats(model.double(), x)
        record = _record(model, config["record"])
        with_loss = bool(config.get("loss"))
        rec = P.weight_path(
            model,
            x,
            direction=config.get("direction", "random"),
            layers_to_perturb=config.get("perturb"),
            alpha=1.0 / config["radius"],
            points=config["points"],
            n_directions=config["directions"],
            record=record,
            loss_fn=F.cross_entropy if with_loss or config.get("direction") == "gradient" else None,
            targets=y,
            seed=derive_seed(config["path_seed"], i),
            chunk_size=32,
            dtype=torch.float64,
        )
        named = [(layer, rec.layer(layer)) for layer in record]
        if with_loss:
            named.append((P.LOSS, rec.loss))
            losses.append(rec.loss.numpy())
        for j, (layer, values) in enumerate(named):
            rows = _per_direction(values)
            slot = layers.setdefault(layer, {k: [] for k in rows})
            for key, row in rows.items():
                slot[key].append(row)
            for tag, detrend in (("taper", "taper"), ("paper", "none")):
                try:
                    spec = S.path_spectrum(values, detrend=detrend)
                except SmoothscopeError:  # every path constant or linear
                    continue
                spectra.setdefault(f"{tag}_{j}", []).append(spec.power.numpy())
                arrays[f"k_{tag}"] = spec.k.numpy()
        if config["record"] == "branches":
            drops, curve = _band_drop(rec, model)
            bands.append(drops)
            curves.append(curve)
    for key, rows in spectra.items():
        arrays[key] = np.mean(rows, axis=0)
    if losses:
        arrays["loss"] = np.stack(losses, axis=1)  # [N, inits, directions]
    if curves:
        arrays["branch_correlation"] = np.mean(curves, axis=0)
    save_npz(ctx.out / "spectra.npz", **arrays)
    order = [*record, P.LOSS] if losses else list(record)
    summary: dict[str, Any] = {"layers": layers, "record": order}
    if bands:
        summary["layers"]["band_drop"] = {"h": bands}  # [inits, directions]
    return summary


def _train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    g: torch.Generator,
) -> list[float]:
    """One epoch of Adam on mini-batches of 64 in a seeded order; the batch accuracies."""
    model.train()
    accuracies = []
    order = torch.randperm(x.shape[0], generator=g)
    for start in range(0, x.shape[0], 64):
        idx = order[start : start + 64]
        optimizer.zero_grad(set_to_none=True)
        out = model(x[idx])
        loss = F.cross_entropy(out, y[idx])
        loss.backward()
        optimizer.step()
        accuracies.append(float((out.argmax(1) == y[idx]).double().mean()))
    return accuracies


def training_path_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Fig. 11 (App. D.1): every unit's paths of one Toy-CNN at checkpoints during training.

    The network (float32, Adam, lr 10⁻³, batches of 64) is trained on the real training images;
    at every epoch in ``checkpoints`` (0: at initialisation) a float64 copy with BatchNorm
    frozen at the probe images' statistics is walked in ``directions`` random directions at
    every radius of ``radii``. Returns per checkpoint and radius the per-direction h of every
    unit; the mean taper spectra go to ``spectra.npz`` (``taper_e{epoch}_r{i}_{unit}``).
    """
    x, y = _inputs(config["inputs"])
    probe, _ = _inputs(config["probe"])
    x = x.float()
    model = build(config["model"], seed=config["init_seed"], **config["kwargs"])
    g = torch.Generator().manual_seed(config["init_seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    h: dict[str, dict[str, list]] = {}
    arrays: dict[str, np.ndarray] = {}
    accuracy: dict[str, float] = {}
    record = list(model.unit_outputs())
    epoch = 0
    for checkpoint in sorted(config["checkpoints"]):
        while epoch < checkpoint:
            accuracy[str(epoch + 1)] = float(np.mean(_train_epoch(model, optimizer, x, y, g)[-25:]))
            epoch += 1
        frozen = P.freeze_batchnorm_stats(copy.deepcopy(model).double(), probe)
        for r_i, radius in enumerate(config["radii"]):
            rec = P.weight_path(
                frozen,
                probe,
                direction="random",
                alpha=1.0 / radius,
                points=config["points"],
                n_directions=config["directions"],
                record=record,
                seed=derive_seed(config["path_seed"], checkpoint, r_i),
                chunk_size=32,
                dtype=torch.float64,
            )
            key = f"e{checkpoint}_r{r_i}"
            h[key] = {}
            for j, layer in enumerate(record):
                values = rec.layer(layer)
                h[key][layer] = _per_direction(values)["h"]
                try:
                    spec = S.path_spectrum(values, detrend="taper")
                except SmoothscopeError:  # every path constant or linear
                    continue
                arrays[f"taper_{key}_{j}"] = spec.power.numpy()
                arrays["k_taper"] = spec.k.numpy()
    save_npz(ctx.out / "spectra.npz", **arrays)
    return {
        "h": h,
        "record": record,
        "checkpoints": sorted(config["checkpoints"]),
        "radii": list(config["radii"]),
        "train_accuracy": accuracy,
    }


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Fig. 9: a ResNet's h at initialisation, then its training accuracy."""
    x, y = _inputs(config["inputs"])
    x = x.float()
    model = build(config["model"], seed=config["init_seed"], **config["kwargs"])
    probe = P.freeze_batchnorm_stats(model, x[:8]).double()
    rec = P.weight_path(
        probe,
        x[:4].double(),
        direction="random",
        alpha=1.0 / config["radius"],
        points=config["points"],
        n_directions=config["directions"],
        record=[P.OUTPUT],
        seed=config["init_seed"],
        chunk_size=32,
        dtype=torch.float64,
    )
    rows = _per_direction(rec.output)
    with torch.no_grad():
        untrained = float((probe.float()(x).argmax(1) == y).double().mean())
    g = torch.Generator().manual_seed(config["init_seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    accuracies = []
    for _ in range(config["epochs"]):
        accuracies += _train_epoch(model, optimizer, x, y, g)
    return {
        "variant": config.get("variant", "noshort"),
        "depth": config["kwargs"]["depth"],
        "alpha": config["kwargs"]["alpha"],
        "h_init": float(np.nanmean(rows["h"])) if np.isfinite(rows["h"]).any() else None,
        "h_init_paper": float(np.nanmean(rows["h_paper"])),
        "train_accuracy": float(np.mean(accuracies[-25:])),
        "untrained_accuracy": untrained,
    }


def _nanmean(values: list) -> float | None:
    a = np.array([np.nan if v is None else v for v in values], float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else None


# ---------------------------------------------------------------------------------------------
# plan


def plan(config: BlueshiftConfig) -> tuple[list[list[Cell]], dict[str, Cell]]:
    """Independent cells, one per configuration (all its initialisations), by name."""
    inputs = {
        "n": config.images,
        "seed": derive_seed(config.seed, "images"),
        "dataset": config.dataset,
        "data_dir": config.data_dir,
    }
    base = {
        "points": config.points,
        "directions": config.directions,
        "inits": config.inits,
        "radius": config.radius,
        "inputs": inputs,
    }
    cells: dict[str, Cell] = {}

    def add(name: str, model: str, kwargs: dict[str, Any], record: str = "output", **extra):
        cells[name] = Cell(
            "smoothscope.experiments.blueshift:path_cell",
            {
                **base,
                "model": model,
                "kwargs": kwargs,
                "record": record,
                "init_seed": derive_seed(config.seed, "init", name),
                "path_seed": derive_seed(config.seed, "path", name),
                **extra,
            },
            label=name,
            threads=config.threads_per_cell,
        )

    units = config.toy_units
    for act in (*ACTIVATIONS, LINEAR):  # Fig. 3, the linear network as the control
        add(f"toy-{act}", "toycnn", {"units": units, "activation": act}, "units")
    for act in config.extra_activations:  # Fig. 17 (App. F.1)
        add(f"toy-{act}", "toycnn", {"units": units, "activation": act}, "units")
    add(  # App. D.3, Fig. 13
        "toy-relu-gradient",
        "toycnn",
        {"units": units},
        "units",
        direction="gradient",
        directions=1,
    )
    for depth in config.toy_depths:  # Fig. 5: loss paths; the linear Toy-CNN as the control
        for variant, kwargs in (
            ("noshort", {"shortcut": False}),
            ("short", {"shortcut": True}),
            ("linear", {"shortcut": False, "activation": LINEAR}),
        ):
            add(f"toy-depth{depth}-{variant}", "toycnn", {"units": depth, **kwargs}, loss=True)
    step = max(1, units // config.walk_layers)  # Fig. 15: one unit's weights at a time
    for unit in range(1, units + 1, step):
        add(f"toy-walk{unit}", "toycnn", {"units": units}, perturb=[f"units.unit{unit}"])
    d = config.resnet_depth
    for version in ("v1", "v2"):  # Fig. 7
        add(f"resnet-{version}", "resnet-cifar", {"depth": d, "version": version})
    for a in (1, config.group_average):  # Fig. 8
        add(
            f"noshort-avg{a}",
            "resnet-cifar",
            {"depth": d, "version": "v1", "shortcut": False, "group_average": a},
        )
    for alpha, nu in ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)):  # Figs. 1 and 4: loss paths
        add(
            f"transition-a{alpha:g}-nu{nu:g}",
            "resnet-cifar",
            {"depth": d, "version": "v2", "alpha": alpha, "nu": nu, "nu_branch": "shortcut"},
            loss=True,
        )
    for act in (*ACTIVATIONS, LINEAR):  # Fig. 6, the linear ResNet as the control
        add(
            f"branches-{act}",
            "resnet-cifar",
            {"depth": d, "version": "v2", "activation": act},
            "branches",
        )
    for radius in config.delta_radii:  # Fig. 12: delta-orthogonal, no BatchNorm (Xiao et al.)
        for act in ("tanh", LINEAR):
            add(
                fig12_cell(act, radius),
                "toycnn",
                {"units": units, "activation": act, "batch_norm": False},
                "units",
                init="delta-orthogonal",
                radius=radius,
            )
    train_inputs = {
        **inputs,
        "split": "train",
        "n": config.train_images,
        "seed": derive_seed(config.seed, "train-images"),
    }
    if config.train_checkpoints:  # Fig. 11: Toy-CNNs during training (App. D.1)
        for name, kwargs in (
            ("relu", {"activation": "relu"}),
            ("tanh", {"activation": "tanh"}),
            ("relu-short", {"activation": "relu", "shortcut": True}),
        ):
            cells[f"trained-{name}"] = Cell(
                "smoothscope.experiments.blueshift:training_path_cell",
                {
                    "model": "toycnn",
                    "kwargs": {"units": units, **kwargs},
                    "init_seed": derive_seed(config.seed, "fig11", name),
                    "path_seed": derive_seed(config.seed, "fig11-path", name),
                    "checkpoints": list(config.train_checkpoints),
                    "radii": list(config.train_radii),
                    "points": config.points,
                    "directions": config.directions,
                    "inputs": train_inputs,
                    "probe": inputs,
                },
                label=f"trained-{name}",
                threads=config.threads_per_cell,
            )
    for variant, depth, alpha in (
        (v, d, a)
        for v in config.sweep_variants
        for d in config.sweep_depths
        for a in config.sweep_alphas
    ):  # Fig. 9
        cell = Cell(
            "smoothscope.experiments.blueshift:train_cell",
            {
                "model": "resnet-cifar",
                "variant": variant,
                "kwargs": {
                    "depth": depth,
                    **_SWEEP_KWARGS[variant],
                    "alpha": alpha,
                    "in_channels": 3,
                },
                "init_seed": derive_seed(config.seed, "sweep", depth, alpha)
                if variant == "noshort"
                else derive_seed(config.seed, "sweep", variant, depth, alpha),
                "radius": config.radius,
                "points": config.points,
                "directions": config.directions,
                "epochs": config.sweep_epochs,
                "inputs": train_inputs,
            },
            label=f"train {variant}{depth} α={alpha:g}",
            threads=config.threads_per_cell,
        )
        cells[cell.label] = cell
    return [list(cells.values())], cells


# ---------------------------------------------------------------------------------------------
# run


def run(
    config: BlueshiftConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Sample all paths, fit h, compare configurations; claims and figures."""
    info = resolve_dataset(config.dataset, config.data_dir)
    stages, cells = plan(config)
    summaries = run_cells(
        stages[0],
        run_dir / "cells",
        executor=executor,
        progress=progress,
        description="blueshift paths",
    )
    s = {name: summaries[cell.id] for name, cell in cells.items()}
    claims = blueshift_claims(config, s)
    chebyshev = {}
    for name in CHEBYSHEV:
        decay = C.coefficient_decay(name, interval=(-5, 5), degree=25)
        chebyshev[name] = {
            "magnitudes": decay.magnitudes.tolist(),
            "geometric_rate": decay.geometric_rate,
            "algebraic_exponent": decay.algebraic_exponent,
        }

    def mean(name: str, layer: str, key: str) -> float:
        t = h_table(s[name], layer, key)
        return float(np.nanmean(t)) if np.isfinite(t).any() else float("nan")

    table = {
        name: {
            layer: {
                "h": mean(name, layer, "h"),
                "h_paper": mean(name, layer, "h_paper"),
                "fitted": sum(k == "fitted" for row in v["kind"] for k in row),
                "paths": sum(len(row) for row in v["kind"]),
            }
            for layer, v in summary["layers"].items()
            if layer != "band_drop"
        }
        for name, summary in s.items()
        if "layers" in summary
    }
    depths = list(config.toy_depths)
    measurements = {
        "h": table,
        "h_vs_depth": {
            "depths": depths,
            **{
                variant: [table[f"toy-depth{d}-{variant}"][P.LOSS]["h"] for d in depths]
                for variant in ("noshort", "short", "linear")
            },
        },
        "trainability": [{"label": n, **v} for n, v in s.items() if n.startswith("train ")],
        "during_training": {  # Fig. 11: mean h per unit, by checkpoint epoch and radius
            n.removeprefix("trained-"): {
                "radii": v["radii"],
                "train_accuracy": v["train_accuracy"],
                "h": {
                    key: {layer: _nanmean(row) for layer, row in per_layer.items()}
                    for key, per_layer in v["h"].items()
                },
            }
            for n, v in s.items()
            if n.startswith("trained-")
        },
        "delta_orthogonal": {  # Fig. 12: mean h of the last unit by radius
            act: {
                f"{r:g}": table[fig12_cell(act, r)][f"units.unit{config.toy_units}"]["h"]
                for r in config.delta_radii
            }
            for act in ("tanh", LINEAR)
        },
        "chebyshev": chebyshev,
        "replicates": {"initialisations": config.inits, "directions": config.directions},
    }
    measurements["figures"] = blueshift_figures(run_dir, config, cells, s, measurements)
    save_json(run_dir / "arrays" / "blueshift_tables.json", measurements)
    return {
        "claims": claims,
        "measurements": measurements,
        "data": {"images": f"{info.name} ({info.source})"},
    }


register_experiment(
    ExperimentSpec(
        name="blueshift",
        description="Paper C: blueshift of weight-space paths, h vs depth, shortcuts, activations, "
        "v1/v2, feature averaging, Chebyshev coefficients, trainability",
        config=BlueshiftConfig,
        run=run,
    )
)
