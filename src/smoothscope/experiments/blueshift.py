"""Experiment ``blueshift``: harmonic distortion of weight-to-output paths (paper C).

Paths ``p(t) = f(x, W + r·t·D)`` (eq. 1 with ``α⁻¹ = r``, the sampling radius), random unit
directions D, at initialisation, on natural-image crops (scikit-learn's sample photos; CIFAR10
is not available offline). Spectra are DFTs along the path, DC excluded, normalised per path and
averaged over neurons, positions, images and directions; h is the decay exponent of the
magnitude spectrum (``|z_k| ∼ k^{-h}``, ``h = H + 1/2`` for fBm), fitted after removing the
chord through the path's end points (``detrend="endpoints"``: without it the jump of the periodic
extension caps h near 1). Every figure is one or more cells; claims compare h between
configurations with bootstrap intervals over directions.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .._errors import SmoothscopeError
from .._io import save_figure, save_json, save_npz
from ..analysis import blueshift as B
from ..data.digits import sklearn_digits_dataset
from ..data.images import natural_image_crops
from ..models import build
from ..results import Claim, verdict_above, verdict_below
from ..stats import hierarchical_bootstrap
from ..sweep import Cell, CellContext, derive_seed, run_cells
from ._base import ExperimentConfig, ExperimentSpec, register_experiment

__all__ = ["BlueshiftConfig", "path_cell", "run", "train_cell"]

ACTIVATIONS = ("relu", "tanh", "softplus")
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


@dataclass(frozen=True)
class BlueshiftConfig(ExperimentConfig):
    """Protocol of paper C §4 (paper-scale defaults; quick scale: shallower, fewer paths).

    Attributes:
        toy_units: depth L of the Toy-CNN (paper: 50).
        toy_depths: Toy-CNN depths for h vs depth (Fig. 5).
        resnet_depth: depth 6n+2 of the CIFAR ResNets (paper: 56).
        images: natural-image crops per path (32 × 32).
        points: samples N along each path.
        directions: random directions per configuration.
        radius: path length r = 1/α of eq. 1 (paper App. D.1: blueshift is clearly visible at 10).
        group_average: feature-group averaging factor a (paper: 3).
        sweep_depths, sweep_alphas, sweep_epochs: trainability sweep (Fig. 9) of NoShort ResNets
            on scikit-learn's digits; α is our leaky-ReLU knob (α = 1 ReLU, α = 0 linear).
    """

    toy_units: int = 50
    toy_depths: tuple[int, ...] = (5, 10, 20, 30, 40, 50)
    resnet_depth: int = 56
    images: int = 8
    points: int = 256
    directions: int = 20
    radius: float = 10.0
    group_average: int = 3
    walk_layers: int = 10
    sweep_depths: tuple[int, ...] = (20, 56, 110)
    sweep_alphas: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    sweep_epochs: int = 30
    n_boot: int = 2000

    QUICK: ClassVar[dict[str, Any]] = {
        "toy_units": 16,
        "toy_depths": (4, 8, 16),
        "resnet_depth": 14,
        "images": 2,
        "points": 96,
        "directions": 4,
        "walk_layers": 4,
        "sweep_depths": (8, 20),
        "sweep_alphas": (0.5, 1.0),
        "sweep_epochs": 1,
        "n_boot": 1000,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.points < 8 or self.directions < 2 or self.images < 1 or self.radius <= 0:
            raise SmoothscopeError("points ≥ 8, directions ≥ 2, images ≥ 1, radius > 0 required")
        if (self.resnet_depth - 2) % 6 or any((d - 2) % 6 for d in self.sweep_depths):
            raise SmoothscopeError("resnet depths: expected the form 6n+2")


# ---------------------------------------------------------------------------------------------
# cells


def _inputs(spec: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(spec["seed"])
    x = natural_image_crops(spec["n"], 32, generator=g)
    y = torch.randint(0, 10, (spec["n"],), generator=g)
    return x, y


def _record(model: torch.nn.Module, what: str) -> list[str]:
    if what == "units":
        return list(model.unit_outputs())
    if what == "branches":
        return list(model.residual_branches()) + list(model.shortcut_branches())
    return [B.OUTPUT]


def _h_per_direction(rec: B.PathRecording, layer: str) -> list[float]:
    values = rec.layer(layer)
    out = []
    for d in range(values.shape[1]):
        try:
            spec = B.path_spectrum(values[:, d], dim=0, detrend="endpoints")
            out.append(B.fit_power_law(spec).h)
        except SmoothscopeError:  # a constant layer (e.g. dead units) has no spectrum
            out.append(float("nan"))
    return out


def _branch_correlation(rec: B.PathRecording, residual: str, shortcut: str) -> np.ndarray:
    """Per-frequency correlation of the two summands of a block (Fig. 6), ``[K]``."""
    a = rec.layer(residual).reshape(rec.n_points, -1).double()
    b = rec.layer(shortcut).reshape(rec.n_points, -1).double()
    za, zb = torch.fft.rfft(a, dim=0)[1:], torch.fft.rfft(b, dim=0)[1:]
    num = (za * zb.conj()).real.sum(dim=1)
    den = torch.sqrt((za.abs() ** 2).sum(dim=1) * (zb.abs() ** 2).sum(dim=1)).clamp_min(1e-300)
    return (num / den).numpy()


def path_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Paths of one configuration: spectra and h of every recorded layer (``spectra.npz``)."""
    model = build(config["model"], seed=config["init_seed"], **config["kwargs"])
    x, y = _inputs(config["inputs"])
    model = B.freeze_batchnorm_stats(model, x)
    record = _record(model, config["record"])
    rec = B.weight_path(
        model,
        x,
        direction=config.get("direction", "random"),
        layers_to_perturb=config.get("perturb"),
        alpha=1.0 / config["radius"],
        points=config["points"],
        n_directions=config["directions"],
        record=record,
        loss_fn=F.cross_entropy if config.get("loss") else None,
        targets=y if config.get("loss") else None,
        seed=config["path_seed"],
        chunk_size=32,
        dtype=torch.float64,
    )
    summary: dict[str, Any] = {"layers": {}}
    arrays: dict[str, np.ndarray] = {}
    for i, layer in enumerate(record):
        try:
            spec = B.path_spectrum(rec, layer=layer, detrend="endpoints")
            fit = B.fit_power_law(spec)
            h, r2, mf = fit.h, fit.r2, spec.mean_frequency
            arrays[f"spectrum_{i}"] = spec.power.numpy()
            arrays["k"] = spec.k.numpy()
        except SmoothscopeError:
            h = r2 = mf = float("nan")
        summary["layers"][layer] = {
            "h": h,
            "r2": r2,
            "mean_frequency": mf,
            "h_directions": _h_per_direction(rec, layer),
        }
    if rec.loss is not None:
        arrays["loss"] = rec.loss[:, 0].numpy()
        summary["loss_h"] = B.fit_power_law(
            B.path_spectrum(rec.loss[:, :1], dim=0, detrend="endpoints")
        ).h
    if config["record"] == "branches":
        residual, shortcut = model.residual_branches(), model.shortcut_branches()
        corr = np.stack(
            [
                _branch_correlation(rec, r, s)
                for r, s in zip(residual[-len(shortcut) :], shortcut, strict=True)
            ]
        )
        arrays["branch_correlation"] = corr.mean(axis=0)
    save_npz(ctx.out / "spectra.npz", **arrays)
    summary["record"] = record
    return summary


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Fig. 9: train a NoShort ResNet on the digits; its h at initialisation and accuracy."""
    model = build(config["model"], seed=config["init_seed"], **config["kwargs"])
    images, labels = sklearn_digits_dataset(size=32)
    x = images.float().repeat(1, 3, 1, 1)
    probe = B.freeze_batchnorm_stats(model, x[:8])
    rec = B.weight_path(
        probe,
        x[:4],
        direction="random",
        alpha=1.0 / config["radius"],
        points=config["points"],
        n_directions=2,
        record=[B.OUTPUT],
        seed=config["init_seed"],
        chunk_size=32,
        dtype=torch.float64,
    )
    h_init = B.fit_power_law(B.path_spectrum(rec, detrend="endpoints")).h
    g = torch.Generator().manual_seed(config["init_seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    accuracies = []
    model.train()
    for _ in range(config["epochs"]):
        order = torch.randperm(x.shape[0], generator=g)
        for start in range(0, x.shape[0], 64):
            idx = order[start : start + 64]
            optimizer.zero_grad(set_to_none=True)
            out = model(x[idx])
            loss = F.cross_entropy(out, labels[idx])
            loss.backward()
            optimizer.step()
            accuracies.append(float((out.argmax(1) == labels[idx]).double().mean()))
    return {"h_init": h_init, "train_accuracy": float(np.mean(accuracies[-25:]))}


# ---------------------------------------------------------------------------------------------
# plan


def plan(config: BlueshiftConfig) -> tuple[list[list[Cell]], dict[str, Cell]]:
    """Independent cells, one per configuration, by name."""
    base = {
        "points": config.points,
        "directions": config.directions,
        "radius": config.radius,
        "inputs": {"n": config.images, "seed": derive_seed(config.seed, "crops")},
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

    for act in ACTIVATIONS:  # Fig. 3
        add(f"toy-{act}", "toycnn", {"units": config.toy_units, "activation": act}, "units")
    add(
        "toy-relu-gradient",
        "toycnn",
        {"units": config.toy_units},
        "units",  # App. D.3, Fig. 13
        direction="gradient",
        directions=1,
        loss=True,
    )
    for depth in config.toy_depths:  # Fig. 5
        for short in (False, True):
            add(
                f"toy-depth{depth}-{'short' if short else 'noshort'}",
                "toycnn",
                {"units": depth, "shortcut": short},
            )
    step = max(1, config.toy_units // config.walk_layers)  # Fig. 15: one layer at a time
    for unit in range(1, config.toy_units + 1, step):
        add(f"toy-walk{unit}", "toycnn", {"units": config.toy_units}, perturb=[f"units.unit{unit}"])
    d = config.resnet_depth
    for version in ("v1", "v2"):  # Fig. 7
        add(f"resnet-{version}", "resnet-cifar", {"depth": d, "version": version})
    for a in (1, config.group_average):  # Fig. 8
        add(
            f"noshort-avg{a}",
            "resnet-cifar",
            {"depth": d, "version": "v1", "shortcut": False, "group_average": a},
        )
    for alpha, nu in ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)):  # Fig. 1
        add(
            f"transition-a{alpha:g}-nu{nu:g}",
            "resnet-cifar",
            {"depth": d, "version": "v2", "alpha": alpha, "nu": nu, "nu_branch": "shortcut"},
            loss=True,
        )
    for act in ACTIVATIONS:  # Fig. 6
        add(
            f"branches-{act}",
            "resnet-cifar",
            {"depth": d, "version": "v2", "activation": act},
            "branches",
        )
    sweep = []
    for depth in config.sweep_depths:  # Fig. 9
        for alpha in config.sweep_alphas:
            sweep.append(
                Cell(
                    "smoothscope.experiments.blueshift:train_cell",
                    {
                        "model": "resnet-cifar",
                        "kwargs": {
                            "depth": depth,
                            "version": "v1",
                            "shortcut": False,
                            "alpha": alpha,
                            "in_channels": 3,
                        },
                        "init_seed": derive_seed(config.seed, "sweep", depth, alpha),
                        "radius": config.radius,
                        "points": config.points,
                        "epochs": config.sweep_epochs,
                    },
                    label=f"train noshort{depth} α={alpha:g}",
                    threads=config.threads_per_cell,
                )
            )
    for cell in sweep:
        cells[cell.label] = cell
    return [list(cells.values())], cells


# ---------------------------------------------------------------------------------------------
# claims and figures


def _directions(summary: dict[str, Any], layer: str = B.OUTPUT) -> np.ndarray:
    values = np.asarray(summary["layers"][layer]["h_directions"], dtype=np.float64)
    return values[np.isfinite(values)]


def _difference_claim(
    cid: str,
    where: str,
    statement: str,
    larger: np.ndarray,
    smaller: np.ndarray,
    rule_text: str,
    n_boot: int,
    seed: int,
) -> Claim:
    """``mean(larger) − mean(smaller)`` of per-direction h, unpaired bootstrap; above 0."""
    if larger.size < 2 or smaller.size < 2:
        return Claim(
            cid,
            "C",
            where,
            statement,
            None,
            float("nan"),
            None,
            "inconclusive",
            f"{rule_text} (fewer than 2 finite h values: inconclusive)",
        )
    est = hierarchical_bootstrap(
        [larger[:, None], smaller[:, None]],
        lambda a, b: a.mean(-1) - b.mean(-1),
        n_boot=n_boot,
        seed=seed,
    )
    return Claim(
        cid,
        "C",
        where,
        statement,
        None,
        est.value,
        (est.low, est.high),
        verdict_above(est.low, est.high, 0.0),
        rule_text,
    )


def _slope_claim(
    cid: str, where: str, statement: str, x: list[float], y: list[float], sign: int, rule_text: str
) -> Claim:
    from scipy import stats as st

    x_arr, y_arr = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(y_arr)
    if keep.sum() < 3:
        return Claim(
            cid, "C", where, statement, None, float("nan"), None, "inconclusive", rule_text
        )
    fit = st.linregress(x_arr[keep], y_arr[keep])
    t = st.t.ppf(0.975, keep.sum() - 2)
    low, high = fit.slope - t * fit.stderr, fit.slope + t * fit.stderr
    verdict = verdict_above(low, high, 0.0) if sign > 0 else verdict_below(low, high, 0.0)
    return Claim(
        cid, "C", where, statement, None, float(fit.slope), (low, high), verdict, rule_text
    )


def run(
    config: BlueshiftConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Sample all paths, fit h, compare configurations; claims and figures."""
    stages, cells = plan(config)
    root = run_dir / "cells"
    summaries = run_cells(
        stages[0], root, executor=executor, progress=progress, description="blueshift paths"
    )
    s = {name: summaries[cell.id] for name, cell in cells.items()}
    seed = derive_seed(config.seed, "blueshift-claims")
    last = f"units.unit{config.toy_units}"
    depths = list(config.toy_depths)
    deepest, a = depths[-1], config.group_average
    h_noshort = [s[f"toy-depth{d}-noshort"]["layers"][B.OUTPUT]["h"] for d in depths]
    h_short = [s[f"toy-depth{d}-short"]["layers"][B.OUTPUT]["h"] for d in depths]
    # (id, where, statement, smoother configuration, rougher configuration, layer, what)
    comparisons = [
        (
            "C.fig3.relu_rougher_than_tanh",
            "§4.2, Fig. 3",
            "ReLU blueshifts more than tanh (lower h at the last Toy-CNN layer)",
            "toy-tanh",
            "toy-relu",
            last,
            "h(tanh) − h(ReLU) at the last unit",
        ),
        (
            "C.fig3.tanh_rougher_than_softplus",
            "§4.2, Fig. 3",
            "tanh blueshifts more than softplus (lower h at the last Toy-CNN layer)",
            "toy-softplus",
            "toy-tanh",
            last,
            "h(softplus) − h(tanh) at the last unit",
        ),
        (
            "C.fig5.shortcuts_smooth",
            "§4.3, Fig. 5 / 3c",
            "Shortcuts keep deep networks smooth (higher h than without)",
            f"toy-depth{deepest}-short",
            f"toy-depth{deepest}-noshort",
            B.OUTPUT,
            f"h(shortcut) − h(no shortcut) of the output at depth {deepest}",
        ),
        (
            "C.fig7.v2_smoother_than_v1",
            "§4.4, Fig. 7",
            "ResNet v2 (pre-activation) blocks give smoother output paths than v1",
            "resnet-v2",
            "resnet-v1",
            B.OUTPUT,
            "h(v2) − h(v1) of the output",
        ),
        (
            "C.fig8.averaging_smooths",
            "§4.4, Fig. 8",
            f"Feature-group averaging (a = {a}) smooths a NoShort ResNet",
            f"noshort-avg{a}",
            "noshort-avg1",
            B.OUTPUT,
            "h(averaged) − h(plain) of the output",
        ),
        (
            "C.fig1.nonlinearity_roughens",
            "§4.1, Fig. 1",
            "Turning the activations from linear to ReLU (no shortcuts) roughens the paths",
            "transition-a0-nu0",
            "transition-a1-nu0",
            B.OUTPUT,
            "h(α=0, ν=0) − h(α=1, ν=0) of the output",
        ),
        (
            "C.fig1.shortcuts_dampen",
            "§4.1, Fig. 1",
            "Switching the shortcuts on (ν = 1) dampens the harmonics of the ReLU network",
            "transition-a1-nu1",
            "transition-a1-nu0",
            B.OUTPUT,
            "h(α=1, ν=1) − h(α=1, ν=0) of the output",
        ),
    ]
    claims = [
        _difference_claim(
            cid,
            where,
            statement,
            _directions(s[smooth], layer),
            _directions(s[rough], layer),
            f"{what}, per-direction h, 95 % bootstrap over directions; reproduced if above 0",
            config.n_boot,
            seed + i,
        )
        for i, (cid, where, statement, smooth, rough, layer, what) in enumerate(comparisons)
    ]
    claims.append(
        _slope_claim(
            "C.fig5.h_decreases_with_depth",
            "§4.3, Fig. 5",
            "Without shortcuts the output path gets rougher (h decreases) with depth",
            depths,
            h_noshort,
            -1,
            "least-squares slope of h (output) vs Toy-CNN depth without shortcuts, 95 % t "
            "interval; reproduced if below 0",
        )
    )
    walk = sorted(
        (int(n.removeprefix("toy-walk")), v) for n, v in s.items() if n.startswith("toy-walk")
    )
    claims.append(
        _slope_claim(
            "C.fig15.lower_layers_rougher",
            "Appendix D, Fig. 15",
            "Varying the weights of lower layers gives rougher output paths than higher layers",
            [u for u, _ in walk],
            [v["layers"][B.OUTPUT]["h"] for _, v in walk],
            +1,
            "least-squares slope of h (output) vs the index of the only perturbed unit, 95 % t "
            "interval; reproduced if above 0 (deeper unit ⇒ smoother)",
        )
    )
    sweep = [v for n, v in s.items() if n.startswith("train noshort")]
    if len(sweep) >= 3:
        h = np.array([v["h_init"] for v in sweep])
        acc = np.array([v["train_accuracy"] for v in sweep])
        from scipy.stats import spearmanr

        rho = float(spearmanr(h, acc).statistic)
        claims.append(
            Claim(
                "C.fig9.smoothness_vs_trainability",
                "C",
                "§5, Fig. 9",
                "NoShort networks with less blueshift at initialisation (higher h) train better",
                None,
                rho,
                None,
                "reproduced" if rho > 0.5 else "not reproduced" if rho < 0 else "inconclusive",
                f"Spearman correlation of h at init and training accuracy over {len(sweep)} "
                "NoShort ResNets (depths × α); reproduced if above 0.5, not reproduced if "
                "below 0",
            )
        )
    chebyshev = {}
    for name in CHEBYSHEV:
        decay = B.coefficient_decay(name, interval=(-5, 5), degree=25)
        chebyshev[name] = {
            "magnitudes": decay.magnitudes.tolist(),
            "geometric_rate": decay.geometric_rate,
            "algebraic_exponent": decay.algebraic_exponent,
        }
    measurements = {
        "h": {
            name: {
                layer: {k: v for k, v in row.items() if k != "h_directions"}
                for layer, row in summary["layers"].items()
            }
            for name, summary in s.items()
            if "layers" in summary
        },
        "h_vs_depth": {"depths": depths, "noshort": h_noshort, "short": h_short},
        "trainability": [{"label": n, **v} for n, v in s.items() if n.startswith("train")],
        "chebyshev": chebyshev,
    }
    measurements["figures"] = _figures(run_dir, config, cells, s, measurements)
    save_json(run_dir / "arrays" / "blueshift_tables.json", measurements)
    return {"claims": claims, "measurements": measurements}


def _figures(
    run_dir: Path,
    config: BlueshiftConfig,
    cells: dict[str, Cell],
    s: dict[str, Any],
    m: dict[str, Any],
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def spectra(name: str) -> tuple[np.ndarray, list[np.ndarray]]:
        data = np.load(run_dir / "cells" / cells[name].id / "spectra.npz")
        n = len(s[name]["record"])
        return data["k"], [
            data[f"spectrum_{i}"] if f"spectrum_{i}" in data else None for i in range(n)
        ]

    written = []
    f, axes = plt.subplots(1, 4, figsize=(18, 3.8), sharey=True)
    cmap = plt.get_cmap("viridis")
    panels = [(f"toy-{act}", act) for act in ACTIVATIONS]
    panels.append(("toy-relu-gradient", "relu, gradient direction (Fig. 13)"))
    for ax, (name, title) in zip(axes, panels, strict=True):
        k, specs = spectra(name)
        for i, spec in enumerate(specs[:-1]):
            if spec is not None:
                ax.loglog(k, spec, color=cmap(i / max(1, len(specs) - 2)), lw=1)
        ax.set(title=f"Toy-CNN {config.toy_units}, {title}", xlabel="frequency k")
    axes[0].set_ylabel("normalised power (per path)")
    f.suptitle("Spectra of every layer's path, shallow (dark) to deep (yellow) (paper C Fig. 3)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / "fig3_spectra_per_layer.png")))

    f, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    axes[0].plot(m["h_vs_depth"]["depths"], m["h_vs_depth"]["noshort"], "o-", label="NoShort")
    axes[0].plot(m["h_vs_depth"]["depths"], m["h_vs_depth"]["short"], "s-", label="shortcuts")
    axes[0].set(xlabel="Toy-CNN depth", ylabel="h (output)", title="Fig. 5: h vs depth")
    axes[0].legend(fontsize=8)
    for name, label in (
        ("resnet-v1", "v1"),
        ("resnet-v2", "v2"),
        ("noshort-avg1", "NoShort"),
        (f"noshort-avg{config.group_average}", f"NoShort, a={config.group_average}"),
    ):
        k, specs = spectra(name)
        if specs[0] is not None:
            axes[1].loglog(k, specs[0], label=label)
    axes[1].set(xlabel="k", title="Figs. 7, 8: output spectra")
    axes[1].legend(fontsize=8)
    for act in ACTIVATIONS:
        data = np.load(run_dir / "cells" / cells[f"branches-{act}"].id / "spectra.npz")
        corr = data["branch_correlation"]
        axes[2].plot(np.arange(1, corr.size + 1), np.abs(corr), label=act)
    axes[2].set(
        xscale="log",
        xlabel="k",
        ylabel="|correlation|",
        title="Fig. 6: residual vs shortcut branch",
    )
    axes[2].legend(fontsize=8)
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / "fig5_6_7_8.png")))

    f, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, (alpha, nu, label) in zip(
        axes, ((0, 0, "linear"), (1, 0, "ReLU"), (1, 1, "ResNet")), strict=True
    ):
        name = f"transition-a{alpha:g}-nu{nu:g}"
        loss = np.load(run_dir / "cells" / cells[name].id / "spectra.npz")["loss"]
        ax.plot(np.linspace(0, 1, loss.size), loss)
        ax.set(
            title=f"{label}: α={alpha}, ν={nu}, h={s[name]['loss_h']:.2f}",
            xlabel="t",
            ylabel="loss",
        )
    f.suptitle("Loss path through the α–ν transition (paper C Fig. 1)")
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / "fig1_transition.png")))

    f, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, data in m["chebyshev"].items():
        axes[0].semilogy(
            np.arange(len(data["magnitudes"])), np.maximum(data["magnitudes"], 1e-16), label=name
        )
    axes[0].set(
        xlabel="degree j", ylabel="|c_j|", title="Chebyshev coefficients on [−5, 5] (Figs. 2, 19)"
    )
    axes[0].legend(fontsize=6, ncol=2)
    rows = m["trainability"]
    axes[1].scatter([r["h_init"] for r in rows], [r["train_accuracy"] for r in rows])
    for r in rows:
        axes[1].annotate(
            r["label"].removeprefix("train "), (r["h_init"], r["train_accuracy"]), fontsize=6
        )
    axes[1].set(
        xlabel="h at initialisation",
        ylabel="training accuracy",
        title="Fig. 9: blueshift vs trainability (NoShort)",
    )
    f.tight_layout()
    written.append(str(save_figure(f, run_dir / "figures" / "fig2_9_chebyshev_trainability.png")))
    return written


register_experiment(
    ExperimentSpec(
        name="blueshift",
        description="Paper C: blueshift of weight-space paths, h vs depth, shortcuts, activations, "
        "v1/v2, feature averaging, Chebyshev coefficients, trainability",
        config=BlueshiftConfig,
        run=run,
    )
)
