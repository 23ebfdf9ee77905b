"""Experiment ``scale-detection``: spatial pooling and the scaling of D_k, G_k with A_k.

Paper B §3–4, Appendices A–C. Simple CNNs (K̃ layers of filter size F, stride 1 on task 1,
stride F on task 2, width H) are trained on the 1-D scale-detection tasks with SGD on the hinge
loss and weight decay on the filters until a multiple of the interpolation time (§4.3); a tanh
variant on task 1 (Appendix B); a zoo VGG on the 2-D task 1 (§3). For every trained network,
its initialisation and its mean-channel replacement, the experiment measures the effective
receptive field A_k from single-pixel inputs, D_k (the pixel moves of §3–4), G_k (rectified
noise for ReLU nets, §4.3) and R_k, fits log-log exponents of D_k and G_k against A_k and
compares them with the predictions (task 1: D ∝ A⁻², G ∝ A; task 2: D ∝ A⁻¹, G ∝ A; tanh: G
flat), and reports the test error, the mean filters (Tables C2, C3) and their spectra.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .._errors import SmoothscopeError
from .._io import load_state_dict, save_figure, save_json, save_state_dict
from .._validate import Bound
from ..analysis import filters
from ..analysis.receptive_field import effective_receptive_field, random_walk_width
from ..analysis.stability import relative_stability
from ..data import scale_detection as sd
from ..models import build, mean_channel
from ..models.transforms import shuffle_channels
from ..sweep import Cell, CellContext, derive_seed, run_stages
from ..train import train_hinge
from ._base import ExperimentConfig, ExperimentSpec, register_experiment
from ._scale_detection_claims import PREDICTIONS, scale_claims

__all__ = ["ScaleDetectionConfig", "measure_cell", "run", "train_cell"]

ZOO_VARIANTS = ("init", "trained", "shuffled")
"""The deep nets on 2-D task 1: at initialisation, trained, and trained with shuffled channels
(Fig. C2's dot-dashed lines)."""
VARIANTS = ("init", "trained", "mean", "init-mean")
"""Measured versions of each simple CNN: at initialisation, trained, the trained net with every
layer replaced by its mean channel, and the same replacement at initialisation (the control of
the mean-channel claim)."""
ALL_VARIANTS = tuple(dict.fromkeys((*VARIANTS, *ZOO_VARIANTS)))


@dataclass(frozen=True)
class ScaleDetectionConfig(ExperimentConfig):
    """Protocol of paper B §4.3 (paper-scale defaults) and §3 for the deep net.

    The deep net is VGG11 with BatchNorm (paper B Fig. 4 shows VGG11 and VGG11bn): without
    BatchNorm and with PyTorch's default initialisation, VGG11's output is constant on these
    mostly-zero inputs and SGD on the hinge loss never moves it (measured: train error 0.5
    after 30 epochs at lr 0.01 and 0.001).

    The printed paper reads "ξ = 25, L = 27, P = 210" for task 2: superscripts lost in
    extraction; with stride-2 filters and 7 layers, ξ = 2⁵ = 32, L = 2⁷ = 128 and P = 2¹⁰ = 1024
    are the consistent values used here.

    Options beyond the paper's numbers: ``lr_zoo`` (the deep net's learning rate, §3: 0.05),
    ``preserve_label`` (redraw pixel moves that change the label; the paper does not, so False),
    ``translation`` (the peers' local translations: both pixels take the same step) and
    ``convention="peer"`` (the peers' all-pairs denominator of D_k and G_k).
    """

    t1_length: int = 32
    t1_xi: float = 11.0
    t1_gap: float = 4.0
    t1_points: int = 48
    t1_depth: int = 10
    t1_filter: int = 3
    t2_length: int = 128
    t2_xi: int = 32
    t2_points: int = 1024
    t2_depth: int = 7
    t2_filter: int = 2
    width: int = 1000
    seeds: int = 4
    t2_seeds: int = 10
    tanh: bool = True
    lr: float = 0.01
    lr_tanh: float = 0.003
    lr_zoo: float = 0.05
    preserve_label: bool = False
    translation: bool = False
    convention: str = "project"
    batch_size: int = 8
    weight_decay: float = 0.01
    interpolation_multiple: float = 500.0
    interpolation_multiple_tanh: float = 200.0
    max_epochs: int = 200_000
    n_test: int = 256
    moves_per_input: int = 8
    zoo: tuple[str, ...] = ("vgg11bn",)
    zoo_length: int = 32
    zoo_xi: float = 14.0
    zoo_gap: float = 2.0
    zoo_points: int = 1024
    zoo_width: float = 1.0
    zoo_interpolation_multiple: float = 20.0

    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    """D_k, G_k, R_k run on CUDA with ``device="cuda"``; the trainings stay on the CPU (SGD
    with batches of 8 on a few hundred points is launch-bound: slower on a GPU)."""

    BOUNDS: ClassVar[dict[str, Bound]] = {  # the rest: see ExperimentConfig.field_bounds
        "width": Bound(1, 4096),
        "t1_gap": Bound(0, 1e6),
        "zoo_gap": Bound(0, 1e6),
        "weight_decay": Bound(0, 10.0),
        "t2_points": Bound(2, 1_000_000),
        "zoo_width": Bound(0, 16.0, low_open=True),
    }

    STANDARD: ClassVar[dict[str, Any]] = {
        "width": 64,
        "seeds": 4,
        "t2_seeds": 4,
        "t2_points": 256,
        "interpolation_multiple": 20.0,
        "interpolation_multiple_tanh": 8.0,
        "max_epochs": 1500,
        "n_test": 256,
        "moves_per_input": 4,
        "zoo_points": 256,
        "zoo_width": 0.25,
        "zoo_interpolation_multiple": 3.0,
    }
    """4 networks per family (2 against 2 for the init-vs-init controls), 20× the interpolation
    time: about 3.5× the quick scale's CPU time (estimated from the quick run, not measured)."""

    QUICK: ClassVar[dict[str, Any]] = {
        "width": 64,
        "seeds": 2,
        "t2_seeds": 2,
        "t2_points": 256,
        "interpolation_multiple": 5.0,
        "interpolation_multiple_tanh": 1.5,
        "max_epochs": 400,
        "n_test": 128,
        "moves_per_input": 2,
        "zoo_points": 256,
        "zoo_width": 0.25,
        "zoo_interpolation_multiple": 2.0,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.convention not in ("project", "peer"):
            raise SmoothscopeError(
                f"convention: expected 'project' or 'peer', got {self.convention!r}"
            )
        if self.width < 1 or self.seeds < 1 or self.t2_seeds < 1 or self.n_test < 2:
            raise SmoothscopeError("width, seeds, t2_seeds ≥ 1 and n_test ≥ 2 are required")
        for name in ("t1_points", "t2_points", "zoo_points", "n_test"):
            if getattr(self, name) % 2:
                raise SmoothscopeError(f"{name}: expected an even number (balanced classes)")

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Task and network specification of each family of trained networks."""
        t1 = {"task": 1, "dim": 1, "L": self.t1_length, "xi": self.t1_xi, "gap": self.t1_gap}
        t2 = {"task": 2, "dim": 1, "L": self.t2_length, "xi": self.t2_xi, "gap": 0.0}
        # zero padding: the tasks' distances are not periodic; a circular padding would make
        # pixels 1 and L neighbours for the net (an irreducible training error)
        net1 = {
            "depth": self.t1_depth,
            "filter_size": self.t1_filter,
            "stride": 1,
            "width": self.width,
            "padding": "zeros",
        }
        net2 = {
            "depth": self.t2_depth,
            "filter_size": self.t2_filter,
            "stride": self.t2_filter,
            "width": self.width,
        }
        train = {"lr": self.lr, "multiple": self.interpolation_multiple}
        out = {
            "task1": {
                "task": t1,
                "points": self.t1_points,
                "seeds": self.seeds,
                "net": {**net1, "activation": "relu"},
                **train,
            },
            "task2": {
                "task": t2,
                "points": self.t2_points,
                "seeds": self.t2_seeds,
                "net": {**net2, "activation": "relu"},
                **train,
            },
        }
        if self.tanh:
            out["task1-tanh"] = {
                "task": t1,
                "points": self.t1_points,
                "seeds": self.seeds,
                "net": {**net1, "activation": "tanh"},
                "lr": self.lr_tanh,
                "multiple": self.interpolation_multiple_tanh,
            }
        zoo_task = {
            "task": 1,
            "dim": 2,
            "L": self.zoo_length,
            "xi": self.zoo_xi,
            "gap": self.zoo_gap,
        }
        for name in self.zoo:
            out[f"zoo-{name}"] = {
                "task": zoo_task,
                "points": self.zoo_points,
                "seeds": 1,
                "zoo": name,
                "width": self.zoo_width,
                "lr": self.lr_zoo,
                "multiple": self.zoo_interpolation_multiple,
            }
        return out


class _Score(nn.Module):
    """A zoo network with one output, as a scalar score ``[B]``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)

    def representation_layers(self) -> list[str]:
        return [f"net.{n}" for n in self.net.representation_layers()]

    def conv_layers(self) -> list[str]:
        return [f"net.{n}" for n in self.net.conv_layers()]


def _build(family: dict[str, Any], seed: int) -> nn.Module:
    if "zoo" in family:
        task = family["task"]
        net = build(
            family["zoo"],
            in_channels=1,
            num_classes=1,
            width=family["width"],
            input_size=task["L"],
            seed=seed,
        )
        return _Score(net)
    return build("simple-cnn", dim=family["task"]["dim"], seed=seed, **family["net"])


def _data(family: dict[str, Any], seed: int, n_test: int):
    """Training and test sets: disjoint pairs, both balanced."""
    task = sd.ScaleTask(**family["task"])
    pairs, labels = sd.sample_pairs(
        task, family["points"] + n_test, generator=torch.Generator().manual_seed(seed)
    )
    train_idx = torch.cat(
        [torch.nonzero(labels == c).flatten()[: family["points"] // 2] for c in (1, -1)]
    )
    mask = torch.ones(labels.numel(), dtype=torch.bool)
    mask[train_idx] = False
    test_idx = torch.nonzero(mask).flatten()

    def render(idx):
        return sd.render_pairs(task, pairs[idx]).float(), labels[idx].float()

    return task, render(train_idx), render(test_idx)


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one network (writes ``init.pt`` and ``model.pt``) and report its errors."""
    family = config["family"]
    _, (x, y), (x_test, y_test) = _data(family, config["data_seed"], config["n_test"])
    model = _build(family, config["init_seed"])
    save_state_dict(ctx.out / "init.pt", model.state_dict())
    result = train_hinge(
        model,
        x,
        y,
        lr=family["lr"],
        batch_size=config["batch_size"],
        weight_decay=config["weight_decay"],
        interpolation_multiple=family["multiple"],
        max_epochs=config["max_epochs"],
        seed=config["init_seed"],
        progress=ctx.progress,
        description=f"train {config['name']}",
    )
    model.load_state_dict(result.state_dict)
    save_state_dict(ctx.out / "model.pt", result.state_dict)
    with torch.no_grad():
        init = _build(family, config["init_seed"]).eval()
        init_test_error = float((torch.sign(init(x_test)) != y_test).double().mean())
        model.eval()
        test_error = float((torch.sign(model(x_test)) != y_test).double().mean())
        train_error = float((torch.sign(model(x)) != y).double().mean())
    return {
        "interpolation_epoch": result.interpolation_epoch,
        "epochs": result.epochs,
        "train_error": train_error,
        "test_error": test_error,
        "init_test_error": init_test_error,
    }


def measure_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """A_k, D_k, G_k, R_k, mean filters and spectra of one variant of one trained network."""
    family = config["family"]
    model = _build(family, config["init_seed"])
    file = "init.pt" if config["variant"] == "init" else "model.pt"
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / file))
    if config["variant"] == "shuffled":
        inner = shuffle_channels(
            model.net if isinstance(model, _Score) else model,
            generator=torch.Generator().manual_seed(config["seed"]),
        )
        model = _Score(inner) if isinstance(model, _Score) else inner
    if config["variant"] in ("mean", "init-mean"):
        inner = model.net if isinstance(model, _Score) else model
        replaced = mean_channel(inner)
        model = _Score(replaced) if isinstance(model, _Score) else replaced
    task, _, (x_test, _) = _data(family, config["data_seed"], config["n_test"])
    layers = model.representation_layers()
    relu = family.get("net", {}).get("activation", "relu") == "relu"

    def moves(x: torch.Tensor, per: int, generator: torch.Generator) -> torch.Tensor:
        return sd.deform(
            x.repeat_interleave(per, dim=0),
            task,
            generator=generator,
            preserve_label=config.get("preserve_label", False),
            translation=config.get("translation", False),
        )

    result = relative_stability(
        model,
        x_test,
        layers=layers,
        diffeos_per_input=config["moves"],
        seed=config["seed"],
        deformation=moves,
        rectify_noise=relu,
        batch_size=64,
        device=config.get("device", "cpu"),
        **({"convention": config["convention"]} if "convention" in config else {}),
    )
    if "zoo" in family:  # no claim uses the deep nets' A_k: skip L² single-pixel passes
        widths = np.full(len(layers) - 1, np.nan)
    else:
        widths = effective_receptive_field(model, layers[:-1], length=task.L, dim=task.dim)
    modules = dict(model.named_modules())
    convs = [modules[name] for name in model.conv_layers()]
    mean_filters = [c.weight.detach().double().mean(dim=(0, 1)).tolist() for c in convs]
    spectra = [
        filters.normalized_projections(c.weight).tolist() for c in convs if c.weight.shape[-1] > 1
    ]
    return {
        "rows": result.rows,
        "A": widths.tolist(),
        "mean_filters": mean_filters,
        "spectra": spectra,
    }


def plan(config: ScaleDetectionConfig) -> tuple[list[list[Cell]], dict[tuple[str, int], dict]]:
    """Stages (training, measures) and, per (family, seed), the cells of each variant."""
    train_cells, measure_cells, index = [], [], {}
    common = {
        "batch_size": config.batch_size,
        "weight_decay": config.weight_decay,
        "max_epochs": config.max_epochs,
        "n_test": config.n_test,
    }
    for name, family in config.tasks().items():
        data_seed = derive_seed(config.seed, "scale-data", name)
        for s in range(family["seeds"]):
            init_seed = derive_seed(config.seed, "scale-init", name, s)
            train = Cell(
                "smoothscope.experiments.scale_detection:train_cell",
                {
                    "name": name,
                    "family": family,
                    "data_seed": data_seed,
                    "init_seed": init_seed,
                    **common,
                },
                label=f"train {name} #{s}",
                threads=config.threads_per_cell,
            )
            train_cells.append(train)
            index[name, s] = {"train": train}
            variants = VARIANTS if "zoo" not in family else ZOO_VARIANTS
            for variant in variants:
                cell = Cell(
                    "smoothscope.experiments.scale_detection:measure_cell",
                    {
                        "family": family,
                        "model_cell": train.id,
                        "variant": variant,
                        "data_seed": data_seed,
                        "init_seed": init_seed,
                        "n_test": config.n_test,
                        "moves": config.moves_per_input,
                        "preserve_label": config.preserve_label,
                        "translation": config.translation,
                        **({"convention": "peer"} if config.convention == "peer" else {}),
                        "seed": derive_seed(config.seed, "scale-measure", name, s),
                        **config.cell_device(),
                    },
                    label=f"measure {name} #{s} {variant}",
                    threads=config.threads_per_cell,
                )
                measure_cells.append(cell)
                index[name, s][variant] = cell
    return [train_cells, measure_cells], index


def _mean_rows(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    """``[layers]`` mean over seeds of a quantity of the hidden layers, for the tables and
    figures only (a layer dead in one seed is NaN here; the claims count dead layers)."""
    values = np.array(
        [[np.nan if r[key] is None else r[key] for r in run["rows"][:-1]] for run in runs],
        dtype=np.float64,
    )
    return values.mean(axis=0) if values.size else values


def run(
    config: ScaleDetectionConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Train, measure, fit exponents; claims, tables and figures."""
    stages, index = plan(config)
    root = run_dir / "cells"
    summaries = run_stages(
        stages,
        ("training", "measures"),
        root,
        executor=executor,
        progress=progress,
        description="scale-detection",
    )
    families: dict[str, dict[str, Any]] = {}
    for (name, _s), cells in index.items():
        fam = families.setdefault(name, {"train": [], **{v: [] for v in ALL_VARIANTS}})
        fam["train"].append(summaries[cells["train"].id])
        for variant in ALL_VARIANTS:
            if variant in cells:
                fam[variant].append(summaries[cells[variant].id])
    tables: dict[str, Any] = {}
    for name, fam in families.items():
        a = np.array([[np.nan if w is None else w for w in r["A"]] for r in fam["trained"]])
        table = {
            "A": a.mean(axis=0).tolist(),
            "A_init": np.array([[np.nan if w is None else w for w in r["A"]] for r in fam["init"]])
            .mean(axis=0)
            .tolist(),
            "test_error": [t["test_error"] for t in fam["train"]],
            "init_test_error": [t["init_test_error"] for t in fam["train"]],
            "interpolation_epoch": [t["interpolation_epoch"] for t in fam["train"]],
        }
        for variant in ALL_VARIANTS:
            if fam[variant]:
                table[variant] = {q: _mean_rows(fam[variant], q).tolist() for q in "DGR"}
                table[variant]["relative_depth"] = [
                    r["relative_depth"] for r in fam[variant][0]["rows"][:-1]
                ]  # the hidden layers, as the D, G, R rows above
                table[variant]["output"] = {
                    q: [r["rows"][-1][q] for r in fam[variant]] for q in "DGR"
                }
        table["mean_filters"] = {v: fam[v][0]["mean_filters"] for v in ("init", "trained")}
        table["spectra"] = {v: fam[v][0]["spectra"] for v in ("init", "trained")}
        tables[name] = table
    if "task1" in tables:
        k = np.arange(1, len(tables["task1"]["A"]) + 1)
        tables["task1"]["random_walk_A"] = random_walk_width(k, config.t1_filter).tolist()
    claims = scale_claims(
        families,
        n_test=config.n_test,
        n_boot=1000,
        seed=derive_seed(config.seed, "scale-claims"),
    )
    measurements = {"families": tables, "figures": _figures(run_dir, tables)}
    save_json(run_dir / "arrays" / "scale_detection_tables.json", measurements)
    return {
        "claims": claims,
        "measurements": measurements,
        "data": {"training and measures": "scale-detection tasks 1 and 2 (generated, embedded)"},
    }


def _figures(run_dir: Path, tables: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    simple = [n for n in tables if not n.startswith("zoo-")]
    f, axes = plt.subplots(len(simple), 3, figsize=(13, 3.4 * len(simple)), squeeze=False)
    for row, name in zip(axes, simple, strict=True):
        t = tables[name]
        a = np.asarray(t["A"])
        for ax, q in zip(row, "DGR", strict=True):
            for variant, style in (
                ("init", dict(color="0.5")),
                ("trained", dict(color="tab:blue")),
                ("mean", dict(color="tab:blue", ls=":")),
            ):
                if variant in t:
                    ax.plot(a, t[variant][q], marker="o", ms=3, label=variant, **style)
            expo = PREDICTIONS.get((name, q))
            if expo is not None and np.isfinite(a).any():
                ref = np.asarray(t["trained"][q])
                anchor = np.nanmedian(ref * a ** (-expo))
                ax.plot(a, anchor * a**expo, "k--", lw=1, label=f"∝ A^{expo:g}")
            ax.set(
                xscale="log", yscale="log", xlabel="A_k", ylabel=f"{q}_k", title=f"{name}: {q}_k"
            )
        row[0].legend(fontsize=7)
    f.suptitle("Sensitivities vs effective receptive field (paper B Fig. 7, B2)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / "sensitivities_vs_A.png")))

    f, axes = plt.subplots(1, len(simple), figsize=(4.5 * len(simple), 3.4), squeeze=False)
    for ax, name in zip(axes[0], simple, strict=True):
        for variant, style in (("init", ":"), ("trained", "-")):
            filters_k = np.asarray(tables[name]["mean_filters"][variant])
            for k, filt in enumerate(filters_k[:4]):
                ax.plot(
                    filt,
                    ls=style,
                    marker="o",
                    ms=3,
                    color=f"C{k}",
                    label=f"layer {k + 1} {variant}" if variant == "trained" else None,
                )
        ax.set(title=f"{name}: mean filters (Tables C2, C3)", xlabel="filter position")
        ax.legend(fontsize=7)
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / "mean_filters.png")))

    f, axes = plt.subplots(1, len(simple), figsize=(4.5 * len(simple), 3.4), squeeze=False)
    for ax, name in zip(axes[0], simple, strict=True):
        for variant, style in (("init", ":"), ("trained", "-")):
            spectra = np.asarray(tables[name]["spectra"][variant])
            for k in range(0, len(spectra), max(1, len(spectra) // 4)):
                ax.plot(
                    spectra[k],
                    ls=style,
                    marker="o",
                    ms=3,
                    color=f"C{k % 10}",
                    label=f"layer {k + 1}" if variant == "trained" else None,
                )
        ax.set(
            title=f"{name}: γ̃_l (init dotted)",
            xlabel="mode l (low → high)",
            ylabel="γ̃_l",
            yscale="log",
        )
        ax.legend(fontsize=7)
    f.suptitle("Filter spectra of the simple CNNs (paper B Fig. B1 for tanh, Fig. 4 bottom)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / "filter_spectra.png")))

    zoo = [n for n in tables if n.startswith("zoo-")]
    if zoo:
        f, axes = plt.subplots(len(zoo), 3, figsize=(13, 3.4 * len(zoo)), squeeze=False)
        for row, name in zip(axes, zoo, strict=True):
            for ax, q in zip(row, "DGR", strict=True):
                for variant, style in (("init", ":"), ("trained", "-"), ("shuffled", "-.")):
                    t = tables[name].get(variant)
                    if t is not None:
                        ax.plot(
                            t["relative_depth"], t[q], ls=style, marker="o", ms=3, label=variant
                        )
                ax.set(
                    yscale="log",
                    xlabel="relative depth k/K",
                    ylabel=f"{q}_k",
                    title=f"{name}: {q}_k",
                )
            row[0].legend(fontsize=7)
        f.suptitle("Deep nets on 2-D task 1 with shuffled channels (paper B Fig. C2)")
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / "zoo_shuffled.png")))
    if len(zoo) >= 2:
        f, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        for ax, q in zip(axes, "DGR", strict=True):
            for name in zoo:
                t = tables[name]
                ax.scatter(t["trained"]["output"][q], t["test_error"], label=name[4:])
            ax.set(xscale="log", xlabel=f"{q}_f (output)", ylabel="test error")
        axes[0].legend(fontsize=8)
        f.suptitle("Test error vs sensitivities across architectures on task 1 (paper B Fig. C1)")
        f.tight_layout()
        written.append(str(save_figure(f, run_dir / "figures" / "zoo_error_vs_sensitivity.png")))
    return written


register_experiment(
    ExperimentSpec(
        name="scale-detection",
        description="Paper B §3–4: scale-detection tasks, simple CNNs, D_k and G_k vs the "
        "effective "
        "receptive field, mean channels, tanh",
        config=ScaleDetectionConfig,
        run=run,
    )
)
