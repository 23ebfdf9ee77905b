"""Experiment ``stability``: sensitivity to diffeomorphisms and noise, layer by layer (paper B §2).

Architectures of the zoo are trained on a dataset available offline (scikit-learn's digits,
resampled to 32 × 32; CIFAR10 is not downloadable here). For each trained network, its
initialisation and its channel-shuffled version, D_k, G_k and R_k (eq. 1) are measured at every
internal representation on held-out digits; filter spectra (eq. 3, B.1, Fig. C5) are compared
at initialisation and after training; the test error is correlated with D_f, G_f and R_f of
the output across architectures (Fig. 1 / C1).
"""

from __future__ import annotations

import warnings
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import SmoothscopeError
from .._io import load_state_dict, save_figure, save_json, save_state_dict
from ..analysis import filters
from ..analysis.stability import relative_stability
from ..data.digits import sklearn_digits_dataset
from ..models import available_models, build
from ..models.transforms import shuffle_channels
from ..results import Claim, verdict_above, verdict_below
from ..stats import hierarchical_bootstrap
from ..sweep import Cell, CellContext, derive_seed, run_stages
from ..train import fit
from ._base import ExperimentConfig, ExperimentSpec, register_experiment

__all__ = ["StabilityConfig", "analyse_cell", "run", "train_cell"]

VARIANTS = ("init", "trained", "shuffled")


@dataclass(frozen=True)
class StabilityConfig(ExperimentConfig):
    """Protocol (paper B §2 / Petrini et al. 2021, on digits instead of CIFAR10).

    Attributes:
        architectures: zoo names (paper: VGG11, VGG11bn, VGG16, LeNet, AlexNet, ResNet18, FCN…).
        width: channel multiplier of the zoo models (1 = the standard widths).
        seeds: trained networks per architecture.
        epochs, batch_size, lr: training with Adam on the cross-entropy.
        test_fraction: share of the digits held out for the test error and the measures.
        n_inputs: test images used by the measures.
        diffeos_per_input: diffeomorphisms (and noise draws) per input.
        cut: high-frequency cut-off c of the diffeomorphisms (Petrini et al.: 3).
        temperature: T; a non-positive value takes the geometric middle of the natural range.
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
    test_fraction: float = 0.2
    n_inputs: int = 300
    diffeos_per_input: int = 8
    cut: float = 3.0
    temperature: float = 0.0
    n_boot: int = 2000

    QUICK: ClassVar[dict[str, Any]] = {
        "architectures": ("lenet", "fcn", "alexnet", "vgg11", "resnet18"),
        "width": 0.25,
        "seeds": 1,
        "epochs": 8,
        "n_inputs": 96,
        "diffeos_per_input": 2,
        "n_boot": 1000,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [a for a in self.architectures if a not in available_models()]
        if unknown or not self.architectures:
            raise SmoothscopeError(
                f"architectures: expected zoo names ({', '.join(available_models())}), "
                f"got {unknown or '()'}"
            )
        if not 0 < self.test_fraction < 1:
            raise SmoothscopeError(f"test_fraction: expected (0, 1), got {self.test_fraction}")
        if self.width <= 0 or self.seeds < 1 or self.n_inputs < 2:
            raise SmoothscopeError("width > 0, seeds ≥ 1 and n_inputs ≥ 2 are required")


def _split(
    seed: int, fraction: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    images, labels = sklearn_digits_dataset(size=32)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    n_test = round(fraction * images.shape[0])
    test, train = order[:n_test], order[n_test:]
    return images[train].float(), labels[train], images[test].float(), labels[test]


def _model(config: dict[str, Any]) -> torch.nn.Module:
    return build(
        config["architecture"],
        in_channels=1,
        num_classes=10,
        width=config["width"],
        seed=config["init_seed"],
    )


@torch.no_grad()
def _error(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((model(x).argmax(1) != y).double().mean())


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Train one network; writes ``init.pt`` and ``model.pt`` (best validation loss)."""
    x_train, y_train, x_test, y_test = _split(config["data_seed"], config["test_fraction"])
    model = _model(config)
    save_state_dict(ctx.out / "init.pt", model.state_dict())
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
        "init_test_error": _error(_model(config), x_test, y_test),
    }


def analyse_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """D, G, R per layer of one variant (init, trained, shuffled) and its filter spectra."""
    model = _model(config["train"])
    file = "init.pt" if config["variant"] == "init" else "model.pt"
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / file))
    if config["variant"] == "shuffled":
        model = shuffle_channels(model, generator=torch.Generator().manual_seed(config["seed"]))
    _, _, x_test, _ = _split(config["train"]["data_seed"], config["train"]["test_fraction"])
    inputs = x_test[: config["n_inputs"]]
    result = relative_stability(
        model,
        inputs,
        temperature=config["temperature"] or None,
        cut=config["cut"],
        diffeos_per_input=config["diffeos_per_input"],
        seed=config["seed"],
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

    The variants of one network share the measurement seed: init, trained and shuffled are
    compared on the same diffeomorphisms and noise (common random numbers).
    """
    train_cells, analyse_cells, index = [], [], {}
    data_seed = derive_seed(config.seed, "digits-split")
    for arch in config.architectures:
        for s in range(config.seeds):
            train_config = {
                "architecture": arch,
                "width": config.width,
                "init_seed": derive_seed(config.seed, "init", arch, s),
                "data_seed": data_seed,
                "test_fraction": config.test_fraction,
                "epochs": config.epochs,
                "batch_size": config.batch_size,
                "lr": config.lr,
            }
            train = Cell(
                "smoothscope.experiments.stability:train_cell",
                train_config,
                label=f"train {arch} #{s}",
                threads=config.threads_per_cell,
            )
            train_cells.append(train)
            index[arch, s] = {"train": train}
            convs = build(arch, in_channels=1, width=config.width).conv_layers()
            variants = VARIANTS if len(convs) >= 2 else ("init", "trained")  # shuffling needs 2
            for variant in variants:
                cell = Cell(
                    "smoothscope.experiments.stability:analyse_cell",
                    {
                        "train": train_config,
                        "model_cell": train.id,
                        "variant": variant,
                        "n_inputs": config.n_inputs,
                        "diffeos_per_input": config.diffeos_per_input,
                        "cut": config.cut,
                        "temperature": config.temperature,
                        "seed": derive_seed(config.seed, "stability", arch, s),
                    },
                    label=f"measure {arch} #{s} {variant}",
                    threads=config.threads_per_cell,
                )
                analyse_cells.append(cell)
                index[arch, s][variant] = cell
    return [train_cells, analyse_cells], index


def _nanmedian(a: Any, axis: int | None = None) -> Any:
    """Median ignoring NaN (dead layers), NaN without a warning when everything is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def _log_ratio(a: float, b: float) -> float:
    """log(a / b), NaN where undefined (a dead layer's NaN, a zero sensitivity)."""
    with np.errstate(all="ignore"):
        value = float(np.log(np.float64(a)) - np.log(np.float64(b)))
    return value if np.isfinite(value) else np.nan


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Spearman correlation of ``[n, m]`` arrays (ties: average ranks)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a, axis=-1), rankdata(b, axis=-1)
    ra = ra - ra.mean(-1, keepdims=True)
    rb = rb - rb.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(-1) / np.sqrt((ra**2).sum(-1) * (rb**2).sum(-1))


def _median_claim(
    cid: str,
    where: str,
    statement: str,
    values: list[float],
    above: bool,
    rule: str,
    n_boot: int,
    seed: int,
) -> Claim:
    table = np.asarray(values, dtype=np.float64)[None, :]
    est = hierarchical_bootstrap(
        [table], lambda a: _nanmedian(a, axis=-1), n_boot=n_boot, seed=seed
    )
    verdict = (verdict_above if above else verdict_below)(est.low, est.high, 0.0)
    return Claim(cid, "B", where, statement, None, est.value, (est.low, est.high), verdict, rule)


def run(
    config: StabilityConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Train, measure, aggregate: claims, tables and figures."""
    stages, index = plan(config)
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
    for (arch, s), cells in index.items():
        nets.append(
            {
                "architecture": arch,
                "seed": s,
                "test_error": summaries[cells["train"].id]["test_error"],
                **{v: summaries[cells[v].id] for v in VARIANTS if v in cells},
            }
        )
    out = {v: [n[v]["rows"][-1] for n in nets] for v in ("init", "trained")}  # the output
    errors = np.array([n["test_error"] for n in nets])
    seed = derive_seed(config.seed, "stability-claims")
    claims: list[Claim] = []
    for quantity, above, text in (
        ("R", True, "positively"),
        ("D", True, "positively"),
        ("G", False, "negatively"),
    ):
        values = np.array([row[quantity] for row in out["trained"]])
        table_e, table_q = errors[None, :], values[None, :]
        est = (
            hierarchical_bootstrap(
                [table_e, table_q], lambda e, q: _spearman(e, q), n_boot=config.n_boot, seed=seed
            )
            if len(nets) > 2
            else None
        )
        value = float(_spearman(errors[None, :], values[None, :])[0]) if len(nets) > 2 else np.nan
        low, high = (est.low, est.high) if est else (np.nan, np.nan)
        verdict = (verdict_above if above else verdict_below)(low, high, 0.0)
        claims.append(
            Claim(
                f"B.fig1.error_vs_{quantity}",
                "B",
                "Fig. 1 / C1 (after Petrini et al. 2021)",
                f"Across trained architectures the test error is {text} correlated with "
                f"{quantity}_f of the output",
                None,
                value,
                (low, high),
                verdict,
                f"Spearman correlation of test error and {quantity}_f over trained networks, "
                "95 % bootstrap over networks; reproduced if the interval is "
                f"{'above' if above else 'below'} 0",
            )
        )
    first_last = [
        _log_ratio(n["trained"]["rows"][-1]["R"], n["trained"]["rows"][0]["R"]) for n in nets
    ]
    claims.append(
        _median_claim(
            "B.fig3.R_decreases_with_depth",
            "Fig. 3",
            "In trained networks the relative sensitivity "
            "R_k decreases from the first representation to the output",
            first_last,
            False,
            "median over networks of log(R_K / R_1) (trained), 95 % bootstrap; "
            "reproduced if below 0",
            config.n_boot,
            seed + 1,
        )
    )
    shuffled = [
        float(
            _nanmedian(
                [
                    _log_ratio(sh["R"], tr["R"])
                    for sh, tr in zip(
                        n["shuffled"]["rows"][1:], n["trained"]["rows"][1:], strict=True
                    )
                ]
            )
        )
        for n in nets
        if "shuffled" in n
    ]
    claims.append(
        _median_claim(
            "B.fig3.shuffling_raises_R",
            "Fig. 3 / C4",
            "Shuffling the channels of trained networks raises R_k (channel pooling is broken)",
            shuffled,
            True,
            "median over networks of the median over layers k ≥ 2 of log(R_k shuffled / R_k), "
            "95 % bootstrap; reproduced if above 0",
            config.n_boot,
            seed + 2,
        )
    )
    for quantity, above, text in (("D", False, "decreases"), ("G", True, "increases")):
        values = [
            _log_ratio(n["trained"]["rows"][-1][quantity], n["init"]["rows"][-1][quantity])
            for n in nets
        ]
        claims.append(
            _median_claim(
                f"B.training_{quantity}",
                "§1, Fig. C2",
                f"Training {text} {quantity}_f of the output",
                values,
                above,
                f"median over networks of log({quantity}_f trained / at init), 95 % "
                f"bootstrap; reproduced if {'above' if above else 'below'} 0",
                config.n_boot,
                seed + 3 + int(above),
            )
        )
    vgg = [n for n in nets if n["architecture"].startswith("vgg11")]
    if vgg:
        ratios = []
        for n in vgg:
            names = list(n["trained"]["spectra"])[1:6]  # layers 2–6
            ratios += [
                _log_ratio(
                    n["trained"]["spectra"][k]["frequency"], n["init"]["spectra"][k]["frequency"]
                )
                for k in names
            ]
        claims.append(
            _median_claim(
                "B.fig4.vgg_filters_low_frequency",
                "Fig. 4 / C5",
                "Filters of VGG11 layers 2–6 become low-frequency with training",
                ratios,
                False,
                "median over VGG11 networks and layers 2–6 of log(frequency content trained / "
                "init) (Fig. C5 measure), 95 % bootstrap; reproduced if below 0",
                config.n_boot,
                seed + 5,
            )
        )
    measurements = {
        "networks": [{k: v for k, v in n.items()} for n in nets],
        "figures": _figures(run_dir, nets),
    }
    save_json(run_dir / "arrays" / "stability_tables.json", measurements)
    return {"claims": claims, "measurements": measurements}


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
