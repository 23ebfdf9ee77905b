"""Experiment ``stability``: sensitivity to diffeomorphisms and noise, layer by layer (paper B §2).

Architectures of the zoo are trained on a real image dataset found offline
(:func:`smoothscope.data.real.load_images` with ``"auto"``: CIFAR-10 when the user gives it,
else Fashion-MNIST zero-padded to 32 × 32, else scikit-learn's digits). For each trained
network, its initialisation, its channel-shuffled version and the channel-shuffled
initialisation, D_k, G_k and R_k (eq. 1) are measured at every internal representation on
held-out images; filter spectra (eq. 3, B.1, Fig. C5) are compared at initialisation and after
training; the test error is correlated with D_f, G_f and R_f of the output across networks
(Fig. 1 / C1), with the same correlation at initialisation as its control (the paper: "this
correlation is learned over training—as it is not seen at initialization"). The claim rules
live in :mod:`._stability_claims`.
"""

from __future__ import annotations

import inspect
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import SmoothscopeError
from .._io import load_state_dict, save_figure, save_json, save_state_dict
from .._validate import Bound
from ..analysis import filters
from ..analysis.stability import relative_stability
from ..data.real import load_images, resolve_dataset
from ..models import available_models, build
from ..models.transforms import shuffle_channels
from ..sweep import Cell, CellContext, derive_seed, run_stages
from ..train import fit
from ._base import ExperimentConfig, ExperimentSpec, register_experiment
from ._paper_b import spearman_interval
from ._stability_claims import stability_claims

__all__ = ["StabilityConfig", "analyse_cell", "run", "train_cell"]

VARIANTS = ("init", "trained", "shuffled", "init-shuffled")
"""Measured versions of each network; ``init-shuffled`` is the control of the shuffling claim
(the channels of an untrained network are exchangeable, so shuffling should not change R_k)."""


@dataclass(frozen=True)
class StabilityConfig(ExperimentConfig):
    """Protocol (paper B §2 / Petrini et al. 2021, on the images found offline).

    Attributes:
        architectures: zoo names (paper: VGG11, VGG11bn, VGG16, LeNet, AlexNet, ResNet18, FCN…).
        width: channel multiplier of the zoo models (1 = the standard widths).
        seeds: trained networks per architecture (the Fig. 1 correlation is over all of them).
        epochs, batch_size, lr: training with Adam on the cross-entropy.
        dataset, data_dir: :func:`smoothscope.data.real.load_images` name and folder.
        n_train, n_test: training and test images drawn from the dataset's splits (0 = all).
        n_inputs: test images used by the measures.
        diffeos_per_input: diffeomorphisms (and noise draws) per input.
        cut: high-frequency cut-off c of the diffeomorphisms (Petrini et al.: 3).
        temperature: T; a non-positive value takes the geometric middle of the natural range.
        input_noise: standard deviations η of the Gaussian noise added once to every training
            and test image (paper B Fig. 1 right / C3, "noisy CIFAR10"); every network is trained
            at every η, the claims use the smallest η (0: the clean images).
        convention: ``"project"`` or ``"peer"`` (the original authors' code: δ = 1 pixel and
            the all-pairs denominator), passed to
            :func:`~smoothscope.analysis.stability.relative_stability`.
        interpolation: ``""`` (the convention's), ``"bilinear"`` or ``"nearest"`` (the
            peers' option) for the diffeomorphisms.
    """

    architectures: tuple[str, ...] = (
        "lenet",
        "fcn",
        "alexnet",
        "vgg11",
        "vgg11bn",
        "vgg16",
        "resnet18",
    )
    width: float = 1.0
    seeds: int = 3
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    dataset: str = "auto"
    data_dir: str | None = None
    n_train: int = 0
    n_test: int = 2000
    n_inputs: int = 300
    diffeos_per_input: int = 8
    cut: float = 3.0
    temperature: float = 0.0
    convention: str = "project"
    interpolation: str = ""
    input_noise: tuple[float, ...] = (0.0,)
    n_boot: int = 2000

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """Training and D/G/R run on CUDA with ``device="cuda"``; filter spectra, shuffling and
    the claims on the CPU."""

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "n_train": Bound(0, 1_000_000, unit_bytes=3 * 32 * 32 * 4, unit="3×32×32 image"),
        "n_test": Bound(0, 1_000_000, unit_bytes=3 * 32 * 32 * 4, unit="3×32×32 image"),
        "n_inputs": Bound(2, 100_000, unit_bytes=3 * 32 * 32 * 4, unit="3×32×32 image"),
        "temperature": Bound(None, 1e6),  # non-positive: the middle of the natural range
        "width": Bound(0, 16.0, low_open=True),
        "lr": Bound(0, 10.0, low_open=True),
        "input_noise": Bound(0, 10.0),
    }

    STANDARD: ClassVar[dict[str, Any]] = {
        "architectures": ("lenet", "fcn", "alexnet", "vgg11", "vgg11bn"),
        "width": 0.25,
        "seeds": 4,
        "epochs": 5,
        "batch_size": 32,
        "lr": 2e-3,
        "n_train": 5000,
        "n_test": 1000,
        "n_inputs": 128,
        "diffeos_per_input": 4,
        "n_boot": 2000,
    }
    """20 networks (about 900 CPU-seconds): the Fig. 1 correlation decides |ρ| ≳ 0.45."""

    QUICK: ClassVar[dict[str, Any]] = {
        "architectures": ("lenet", "fcn", "alexnet", "vgg11", "vgg11bn"),
        "width": 0.25,
        "seeds": 3,
        "epochs": 3,
        "batch_size": 32,
        "lr": 2e-3,
        "n_train": 1000,
        "n_test": 300,
        "n_inputs": 48,
        "diffeos_per_input": 2,
        "n_boot": 1000,
    }
    """15 small networks trained briefly (about 110 CPU-seconds): the test errors spread over
    25–60 %, enough to exercise every rule, too few epochs to decide the paper's claims."""

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [a for a in self.architectures if a not in available_models()]
        if unknown or not self.architectures:
            raise SmoothscopeError(
                f"architectures: expected zoo names ({', '.join(available_models())}), "
                f"got {unknown or '()'}"
            )
        if self.width <= 0 or self.seeds < 1 or self.n_inputs < 2:
            raise SmoothscopeError("width > 0, seeds ≥ 1 and n_inputs ≥ 2 are required")
        if self.n_train < 0 or self.n_test < 0 or 0 < self.n_test < self.n_inputs:
            raise SmoothscopeError(
                f"n_train, n_test: expected 0 (all) or counts with n_test ≥ n_inputs, got "
                f"{self.n_train}, {self.n_test}"
            )
        if not self.input_noise or any(e < 0 for e in self.input_noise):
            raise SmoothscopeError(
                f"input_noise: expected noise levels ≥ 0, got {self.input_noise!r}"
            )
        if self.interpolation not in ("", "bilinear", "nearest"):
            raise SmoothscopeError(
                f"interpolation: expected '', 'bilinear' or 'nearest', got {self.interpolation!r}"
            )
        if self.convention not in ("project", "peer"):
            raise SmoothscopeError(
                f"convention: expected 'project' or 'peer', got {self.convention!r}"
            )


def _images(config: dict[str, Any], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    n = config["n_train"] if split == "train" else config["n_test"]
    x, y, _ = load_images(
        config["dataset"],
        split=split,
        size=32,
        n=n or None,
        data_dir=config["data_dir"],
        seed=config["data_seed"],
    )
    x = x.float()
    if config.get("noise"):  # fixed noise per image: the dataset itself is noisy (Fig. C3)
        generator = torch.Generator().manual_seed(derive_seed(config["data_seed"], "noise", split))
        x = x + config["noise"] * torch.randn(x.shape, generator=generator)
    return x, y


def _split(config: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return (*_images(config, "train"), *_images(config, "test"))


def _model(config: dict[str, Any]) -> torch.nn.Module:
    return build(
        config["architecture"],
        in_channels=config["in_channels"],
        num_classes=10,
        width=config["width"],
        seed=config["init_seed"],
    )


@torch.no_grad()
def _error(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((model(x).argmax(1) != y).double().mean())


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one network on ``config["device"]`` (default the CPU); writes ``init.pt`` and
    ``model.pt`` (best validation loss, on the CPU)."""
    device = torch.device(config.get("device", "cpu"))
    x_train, y_train, x_test, y_test = (t.to(device) for t in _split(config))
    model = _model(config)
    save_state_dict(ctx.out / "init.pt", model.state_dict())
    model.to(device)
    result = fit(
        model,
        x_train,
        y_train,
        x_test,
        y_test,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        loss_fn=F.cross_entropy,
        seed=config["init_seed"],
        progress=ctx.progress,
        description=f"train {config['architecture']}",
    )
    model.load_state_dict(result.state_dict)
    save_state_dict(ctx.out / "model.pt", result.state_dict)
    return {
        "test_error": _error(model, x_test, y_test),
        "best_epoch": result.best_epoch,
        "init_test_error": _error(_model(config).to(device), x_test, y_test),
    }


def _peer_options(convention: str, interpolation: str = "") -> dict[str, Any]:
    """The peers' options for :func:`relative_stability` (``{}`` for the project's defaults)."""
    options: dict[str, Any] = {}
    if convention != "project":
        options["convention"] = convention
    if interpolation:
        options["interpolation"] = interpolation
    accepted = inspect.signature(relative_stability).parameters
    missing = [k for k in options if k not in accepted]
    if missing:
        raise SmoothscopeError(f"{missing[0]}: not offered by relative_stability in this version")
    return options


def analyse_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """D, G, R per layer of one variant (init, trained, shuffled, init-shuffled) and its filter
    spectra."""
    model = _model(config["train"])
    file = "model.pt" if config["variant"] in ("trained", "shuffled") else "init.pt"
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / file))
    if config["variant"] in ("shuffled", "init-shuffled"):
        model = shuffle_channels(model, generator=torch.Generator().manual_seed(config["seed"]))
    x_test, _ = _images(config["train"], "test")
    inputs = x_test[: config["n_inputs"]]
    result = relative_stability(
        model,
        inputs,
        temperature=config["temperature"] or None,
        cut=config["cut"],
        diffeos_per_input=config["diffeos_per_input"],
        seed=config["seed"],
        device=config["train"].get("device", "cpu"),
        **_peer_options(config.get("convention", "project"), config.get("interpolation", "")),
    )
    modules = dict(model.named_modules())
    spectra = {
        name: {
            "gamma_tilde": filters.normalized_projections(modules[name].weight).tolist(),
            "frequency": float(filters.frequency_content(modules[name].weight)),
        }
        for name in getattr(model, "conv_layers", list)()
        if modules[name].weight.shape[-1] > 1  # 1×1 shortcuts have a single mode
    }
    return {"rows": result.rows, "temperature": result.temperature, "spectra": spectra}


def plan(config: StabilityConfig) -> tuple[list[list[Cell]], dict[tuple[str, int], dict]]:
    """Stages (training, analysis) and, per (architecture, seed), the cells of each variant.

    The variants of one network share the measurement seed: they are compared on the same
    diffeomorphisms and noise (common random numbers). The dataset is resolved (and validated)
    here, before any cell runs.
    """
    info = resolve_dataset(config.dataset, config.data_dir)
    _peer_options(config.convention, config.interpolation)
    train_cells, analyse_cells, index = [], [], {}
    data_seed = derive_seed(config.seed, "image-subsets")
    for eta, arch, s in (
        (e, a, s)
        for e in config.input_noise
        for a in config.architectures
        for s in range(config.seeds)
    ):
        train_config = {
            "architecture": arch,
            "width": config.width,
            "in_channels": info.channels,
            "init_seed": derive_seed(config.seed, "init", arch, s),
            "dataset": info.name,
            "data_dir": config.data_dir,
            "data_seed": data_seed,
            "n_train": config.n_train,
            "n_test": config.n_test,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "lr": config.lr,
            **config.cell_device(),
        }
        if eta:
            train_config["noise"] = eta
        tag = f"{arch} #{s}" + (f" η={eta:g}" if eta else "")
        train = Cell(
            "smoothscope.experiments.stability:train_cell",
            train_config,
            label=f"train {tag}",
            threads=config.threads_per_cell,
        )
        train_cells.append(train)
        index[eta, arch, s] = {"train": train}
        convs = build(arch, in_channels=info.channels, width=config.width).conv_layers()
        variants = VARIANTS if len(convs) >= 2 else ("init", "trained")  # shuffling needs 2
        for variant in variants:
            cell_config = {
                "train": train_config,
                "model_cell": train.id,
                "variant": variant,
                "n_inputs": config.n_inputs,
                "diffeos_per_input": config.diffeos_per_input,
                "cut": config.cut,
                "temperature": config.temperature,
                "seed": derive_seed(config.seed, "stability", arch, s),
            }
            if config.convention != "project":
                cell_config["convention"] = config.convention
            if config.interpolation:
                cell_config["interpolation"] = config.interpolation
            cell = Cell(
                "smoothscope.experiments.stability:analyse_cell",
                cell_config,
                label=f"measure {tag} {variant}",
                threads=config.threads_per_cell,
            )
            analyse_cells.append(cell)
            index[eta, arch, s][variant] = cell
    return [train_cells, analyse_cells], index


def run(
    config: StabilityConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Train, measure, aggregate: claims, tables and figures."""
    stages, index = plan(config)
    info = resolve_dataset(config.dataset, config.data_dir)
    root = run_dir / "cells"
    summaries = run_stages(
        stages,
        ("training", "measures"),
        root,
        executor=executor,
        progress=progress,
        description="stability",
    )
    for summary in summaries.values():  # JSON stores the NaN of dead layers as null
        for row in summary.get("rows", ()):
            row.update({k: np.nan for k, v in row.items() if v is None})
    nets = []
    for (eta, arch, s), cells in index.items():
        train = summaries[cells["train"].id]
        nets.append(
            {
                "input_noise": eta,
                "architecture": arch,
                "seed": s,
                "test_error": train["test_error"],
                "init_test_error": train["init_test_error"],
                **{v: summaries[cells[v].id] for v in VARIANTS if v in cells},
            }
        )
    eta0 = min(config.input_noise)
    clean = [n for n in nets if n["input_noise"] == eta0]
    claims = stability_claims(
        clean, n_boot=config.n_boot, seed=derive_seed(config.seed, "stability-claims")
    )
    by_noise = {
        f"{eta:g}": {
            q: spearman_interval(
                [n["test_error"] for n in nets if n["input_noise"] == eta],
                [n["trained"]["rows"][-1][q] for n in nets if n["input_noise"] == eta],
            )
            for q in "DGR"
        }
        for eta in config.input_noise
    }
    measurements = {
        "networks": [{k: v for k, v in n.items()} for n in nets],
        "error_correlation_vs_noise": by_noise,
        "figures": _figures(run_dir, clean) + _noise_figure(run_dir, by_noise),
    }
    save_json(run_dir / "arrays" / "stability_tables.json", measurements)
    source = f"{info.name} ({info.source})"
    return {
        "claims": claims,
        "measurements": measurements,
        "data": {"training": source, "test and measures": source},
    }


def _noise_figure(run_dir: Path, by_noise: dict[str, dict[str, Any]]) -> list[str]:
    """Spearman ρ(test error, D_f / G_f / R_f) against the input noise η (Fig. 1 right)."""
    if len(by_noise) < 2:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eta = [float(e) for e in by_noise]
    f, ax = plt.subplots(figsize=(5.5, 3.8))
    for i, q in enumerate("DGR"):
        rho = np.array([by_noise[e][q] for e in by_noise], dtype=np.float64)
        ax.errorbar(
            np.asarray(eta) + 0.003 * i,
            rho[:, 0],
            yerr=np.abs(rho[:, 1:].T - rho[:, 0]),
            marker="o",
            capsize=3,
            label=f"{q}_f",
        )
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="input noise η", ylabel="Spearman ρ with test error", ylim=(-1.05, 1.05))
    ax.legend(fontsize=8)
    ax.set_title("Error–sensitivity correlation on noisy images (paper B Fig. 1 right, C3)")
    return [str(save_figure(f, run_dir / "figures" / "error_correlation_vs_noise.png"))]


def _figures(run_dir: Path, nets: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    arch_color = {
        a: colors[i % len(colors)]
        for i, a in enumerate(dict.fromkeys(n["architecture"] for n in nets))
    }

    def curve(ax, rows, key, **style):
        ax.plot(
            [r["relative_depth"] for r in rows], [r[key] for r in rows], marker="o", ms=3, **style
        )

    f, ax = plt.subplots(figsize=(6.5, 4))
    for n in nets:
        c = arch_color[n["architecture"]]
        curve(
            ax,
            n["trained"]["rows"],
            "R",
            color=c,
            label=n["architecture"] if n["seed"] == 0 else None,
        )
        if "shuffled" in n:
            curve(ax, n["shuffled"]["rows"], "R", color=c, ls="--")
    ax.set(
        yscale="log",
        xlabel="relative depth k/K",
        ylabel="R_k",
        title="R_k of trained networks (solid) and with shuffled channels (dashed)",
    )
    ax.legend(fontsize=8)
    written.append(str(save_figure(f, run_dir / "figures" / "R_vs_depth.png")))

    f, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("D", "G"), strict=True):
        for n in nets:
            c = arch_color[n["architecture"]]
            curve(ax, n["init"]["rows"], key, color=c, ls=":")
            curve(
                ax,
                n["trained"]["rows"],
                key,
                color=c,
                label=n["architecture"] if n["seed"] == 0 else None,
            )
        ax.set(
            yscale="log",
            xlabel="relative depth k/K",
            ylabel=f"{key}_k",
            title=f"{key}_k at initialisation (dotted) and trained (solid)",
        )
    axes[0].legend(fontsize=8)
    written.append(str(save_figure(f, run_dir / "figures" / "D_G_init_vs_trained.png")))

    vgg = next((n for n in nets if n["architecture"].startswith("vgg")), None)
    if vgg is not None:
        names = list(vgg["trained"]["spectra"])
        f, axes = plt.subplots(1, len(names), figsize=(2.2 * len(names), 2.8), sharey=True)
        for ax, name in zip(np.atleast_1d(axes), names, strict=True):
            for variant, style in (("init", ":"), ("trained", "-")):
                g = vgg[variant]["spectra"][name]["gamma_tilde"]
                ax.plot(range(1, len(g) + 1), g, ls=style, marker="o", ms=3, label=variant)
            ax.set(title=name.split(".")[-1], xlabel="mode l (low → high)")
        np.atleast_1d(axes)[0].set_ylabel("γ̃_l")
        np.atleast_1d(axes)[0].legend(fontsize=7)
        f.suptitle(f"{vgg['architecture']} filter spectra on the 3×3 grid Laplacian (Fig. 4)")
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / "filter_spectra.png")))

    f, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key in zip(axes, ("D", "G", "R"), strict=True):
        for n in nets:
            ax.scatter(
                n["trained"]["rows"][-1][key],
                n["test_error"],
                color=arch_color[n["architecture"]],
                label=n["architecture"],
            )
        ax.set(xscale="log", xlabel=f"{key}_f (output)", ylabel="test error")
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0].legend(unique.values(), unique.keys(), fontsize=8)
    f.suptitle("Test error vs sensitivities of the output across architectures (Fig. 1 / C1)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / "error_vs_sensitivity.png")))
    return written


register_experiment(
    ExperimentSpec(
        name="stability",
        description="Paper B §2: D, G, R layer by layer for the model zoo on digits, channel "
        "shuffling, filter spectra, test error vs sensitivities",
        config=StabilityConfig,
        run=run,
    )
)
