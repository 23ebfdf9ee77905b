"""Cells of the ``blueshift`` experiment (paper C): the independent units of work and the plan.

:func:`path_cell` walks the weight-space paths of one configuration over its initialisations
and fits ``h`` per direction (both conventions); :func:`training_path_cell` walks a Toy-CNN's
paths at checkpoints during training (Fig. 11); :func:`train_cell` measures a ResNet's ``h`` at
initialisation and then trains it (Fig. 9). :func:`plan` lists every cell of a config by
configuration name; :func:`h_table` reads a cell summary back as ``[inits, directions]``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..._errors import SmoothscopeError
from ..._io import save_npz
from ...analysis import paths as P
from ...analysis import spectra as S
from ...data.real import load_images
from ...models import build
from ...models.init import delta_orthogonal_
from ...sweep import Cell, CellContext, derive_seed
from .config import ACTIVATIONS, BAND_WIDTH, HIGH_BAND, LINEAR, SWEEP_KWARGS, BlueshiftConfig

__all__ = [
    "PACKAGE",
    "band_correlation",
    "fig12_cell",
    "h_table",
    "path_cell",
    "plan",
    "train_cell",
    "training_path_cell",
]

PACKAGE = "smoothscope.experiments.blueshift"
"""Where the cell functions resolve (re-exported by the package): the path is part of every
cell's id and seed, so it stays the one of the flat module this package replaced."""


def fig12_cell(activation: str, radius: float) -> str:
    """The configuration of Fig. 12: the delta-orthogonally initialised Toy-CNN without
    BatchNorm (tanh, or the linear reference) walked at one path radius."""
    return f"toy-{activation}-delta-r{radius:g}"


def h_table(summary: dict[str, Any], layer: str, key: str = "h") -> np.ndarray:
    """``[inits, directions]`` of one per-direction quantity (NaN where nothing was fitted)."""
    rows = summary["layers"][layer][key]
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


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
            f"{PACKAGE}:path_cell",
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
                f"{PACKAGE}:training_path_cell",
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
            f"{PACKAGE}:train_cell",
            {
                "model": "resnet-cifar",
                "variant": variant,
                "kwargs": {
                    "depth": depth,
                    **SWEEP_KWARGS[variant],
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
