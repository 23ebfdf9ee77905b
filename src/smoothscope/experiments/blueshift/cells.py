"""Cells of the ``blueshift`` experiment (paper C): the independent units of work and the plan.

:func:`path_cell` walks the weight-space paths of one configuration over its initialisations:
for every recorded layer it keeps the per-direction averaged raw spectra of the paper's
convention (the judged layers) and the per-direction taper ``h`` (an extension), and the mean
spectra of every layer for the figures; for residual networks it correlates each block's two
summands per frequency (Fig. 6). :func:`training_path_cell` walks a Toy-CNN's paths at
checkpoints during training (Fig. 11); :func:`train_cell` measures a ResNet's ``h`` at
initialisation and then trains it (Fig. 9). :func:`plan` lists every cell of a config by
configuration name; :func:`h_table` and :func:`spectrum_table` read a cell summary back.

Device: a cell whose config names one (``"device": "cuda:0"``; absent on the CPU, so CPU
cells keep their ids) builds and initialises its networks on the CPU from their seeds, then
moves them and its images there: the paths' forward passes (float64) and the trainings run on
it; the directions are drawn on the CPU and the recorded paths come back to the CPU, where the
spectra are computed.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..._io import save_npz
from ...analysis import paths as P
from ...analysis import spectral_shape as Q
from ...analysis.spectral_shape import band_correlation as band_correlation
from ...data.real import load_images
from ...models import build
from ...models.init import delta_orthogonal_
from ...sweep import Cell, CellContext, derive_seed
from .config import ACTIVATIONS, BAND_WIDTH, LINEAR, SWEEP_KWARGS, BlueshiftConfig

__all__ = [
    "PACKAGE",
    "band_correlation",
    "fig12_cell",
    "h_table",
    "path_cell",
    "plan",
    "radius_cell",
    "spectrum_table",
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


def radius_cell(activation: str, radius: float) -> str:
    """The configuration of the radius sweep: Fig. 3's Toy-CNN walked at another radius."""
    return f"toy-{activation}-r{radius:g}"


def h_table(summary: dict[str, Any], layer: str, key: str = "h") -> np.ndarray:
    """``[inits, directions]`` of one per-direction number (NaN where nothing was fitted)."""
    rows = summary["layers"][layer][key]
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def spectrum_table(summary: dict[str, Any], layer: str) -> np.ndarray:
    """``[inits, directions, K]`` per-direction averaged raw spectra (paper convention) of a
    judged layer (NaN rows: every path of the direction constant)."""
    rows = summary["layers"][layer]["spectrum"]
    return np.array(
        [[[np.nan if v is None else v for v in spec] for spec in row] for row in rows], float
    )


def _inputs(spec: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels a cell walks on (a fresh copy of this process's cached load: a
    worker that runs many cells decompresses the dataset once)."""
    x, y = _load(json.dumps(spec, sort_keys=True))
    return x.clone(), y.clone()


@functools.lru_cache(maxsize=8)
def _load(spec_json: str) -> tuple[torch.Tensor, torch.Tensor]:
    spec = json.loads(spec_json)
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


def _device(config: dict[str, Any]) -> torch.device:
    """The cell's device: ``config["device"]``, the CPU when absent."""
    return torch.device(config.get("device", "cpu"))


def _record(model: torch.nn.Module, what: str) -> list[str]:
    if what == "units":
        return list(model.unit_outputs())
    if what == "last unit":
        return [model.unit_outputs()[-2]]
    if what == "branches":
        return list(model.residual_branches()) + list(model.shortcut_branches())
    return [P.OUTPUT]


def _chunk(points: int) -> int:
    """Path points per forward pass: the fewest equal chunks of at most 64."""
    return math.ceil(points / math.ceil(points / 64))


def _nan_list(a: torch.Tensor) -> list:
    return [None if not math.isfinite(v) else v for v in a.tolist()]


def _layer_rows(values: torch.Tensor) -> tuple[dict[str, list], torch.Tensor, torch.Tensor]:
    """Per direction of ``[N, D, ...]``: the taper h and what kind of fit it is; and the
    per-direction raw (paper) and taper spectra ``[D, K]``."""
    both = Q.both_direction_spectra(values)
    (raw, n_raw), (taper, n_taper) = both["none"], both["taper"]
    h = Q.spectrum_h(taper, estimator="taper")
    kinds = []
    for d in range(values.shape[1]):
        if int(n_taper[d]) == 0:
            kinds.append("constant" if int(n_raw[d]) == 0 else "linear")
        else:
            kinds.append("fitted" if math.isfinite(float(h[d])) else "below-rounding")
    return {"h": _nan_list(h), "kind": kinds}, raw, taper


def _mean(rows: list[torch.Tensor]) -> np.ndarray:
    """Mean spectrum over every initialisation × direction (NaN rows left out; all NaN: NaN)."""
    stacked = torch.cat(rows).numpy()
    finite = np.isfinite(stacked).all(axis=1)
    if not finite.any():
        return np.full(stacked.shape[1], np.nan)
    return stacked[finite].mean(axis=0)


def _band_drops(
    rec: P.PathRecording, model: torch.nn.Module, fraction: float, seed: int
) -> dict[str, tuple[float, np.ndarray]]:
    """Fig. 6 for the one direction of ``rec``: per convention, the mean |ρ| of the low band
    (k ≤ K/8) minus the high band (k > K/4) over every block with both summands, and the mean
    curve ``[K]``; each block's pairs are a fixed random ``fraction`` of its neurons (§4.4)."""
    residual, shortcut = model.residual_branches(), model.shortcut_branches()
    pairs = list(zip(residual[-len(shortcut) :], shortcut, strict=True))
    g = torch.Generator().manual_seed(seed)
    out = {}
    sampled = []
    for r, s_ in pairs:
        a = rec.layer(r)[:, 0].reshape(rec.n_points, -1)
        b = rec.layer(s_)[:, 0].reshape(rec.n_points, -1)
        keep = torch.randperm(a.shape[1], generator=g)[: max(1, round(fraction * a.shape[1]))]
        sampled.append((a[:, keep], b[:, keep]))
    for detrend in ("none", "taper"):
        curve = torch.stack(
            [band_correlation(a, b, width=BAND_WIDTH, detrend=detrend) for a, b in sampled]
        ).nanmean(dim=0)
        n_k = curve.numel()
        drop = float(curve[: n_k // 8].nanmean() - curve[n_k // 4 :].nanmean())
        out[detrend] = (drop, curve.numpy())
    return out


def path_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Paths of one configuration over its initialisations.

    Summary: ``layers[layer]`` holds per initialisation × direction the taper ``h`` and its
    kind, and for the judged layers the averaged raw spectrum (``spectrum``, paper convention);
    ``layers[layer]["h_paper"]`` and ``["mean_frequency"]`` read the mean raw spectrum of the
    whole cell. For residual networks, ``band_drop`` holds Fig. 6's per-direction drops under
    both conventions. ``spectra.npz``: every layer's mean raw (``paper_{i}``) and taper
    (``taper_{i}``) spectrum, the recorded paths of the output and the loss for Figs. 1 and 4.
    """
    device = _device(config)
    x, y = (t.to(device) for t in _inputs(config["inputs"]))
    with_loss = bool(config.get("loss"))
    branches = config["record"] == "branches"
    layers: dict[str, dict[str, list]] = {}
    raw_rows: dict[str, list[torch.Tensor]] = {}
    taper_rows: dict[str, list[torch.Tensor]] = {}
    paths: dict[str, list[np.ndarray]] = {}
    drops: dict[str, list[list[float]]] = {"none": [], "taper": []}
    curves: dict[str, list[np.ndarray]] = {"none": [], "taper": []}
    order: list[str] = []
    for i in range(config["inits"]):
        init_seed = derive_seed(config["init_seed"], i)
        model = build(config["model"], seed=init_seed, **config["kwargs"])
        if config.get("init") == "delta-orthogonal":  # Fig. 12 (Xiao et al. 2018)
            delta_orthogonal_(model, generator=torch.Generator().manual_seed(init_seed))
        model = P.freeze_batchnorm_stats(model.double().to(device), x)
        record = _record(model, config["record"])
        walk = dict(
            direction=config.get("direction", "random"),
            layers_to_perturb=config.get("perturb"),
            alpha=1.0 / config["radius"],
            points=config["points"],
            record=record,
            loss_fn=F.cross_entropy if with_loss or config.get("direction") == "gradient" else None,
            targets=y,
            chunk_size=_chunk(config["points"]),
            dtype=torch.float64,
        )
        path_seed = derive_seed(config["path_seed"], i)
        if branches:  # one direction at a time: every branch of every block is recorded
            rows: dict[str, list[float]] = {"none": [], "taper": []}
            for d in range(config["directions"]):
                seed = derive_seed(path_seed, d)
                rec = P.weight_path(model, x, n_directions=1, seed=seed, **walk)
                for detrend, (drop, curve) in _band_drops(
                    rec, model, config["sample"], derive_seed(path_seed, d, "sample")
                ).items():
                    rows[detrend].append(drop)
                    curves[detrend].append(curve)
            for detrend, row in rows.items():
                drops[detrend].append(row)
            continue
        rec = P.weight_path(model, x, n_directions=config["directions"], seed=path_seed, **walk)
        named = [(layer, rec.layer(layer)) for layer in record]
        if with_loss:
            named.append((P.LOSS, rec.loss))
        order = [name for name, _ in named]
        judged = set(config.get("judged") or order)
        for layer, values in named:
            row, raw, taper = _layer_rows(values)
            slot = layers.setdefault(layer, {"h": [], "kind": []})
            slot["h"].append(row["h"])
            slot["kind"].append(row["kind"])
            if layer in judged:
                slot.setdefault("spectrum", []).append([_nan_list(s) for s in raw])
            raw_rows.setdefault(layer, []).append(raw)
            taper_rows.setdefault(layer, []).append(taper)
            if layer in (P.OUTPUT, P.LOSS) and config.get("keep_paths"):
                paths.setdefault(layer, []).append(values.numpy())
    arrays: dict[str, np.ndarray] = {}
    for j, layer in enumerate(order):
        raw, taper = _mean(raw_rows[layer]), _mean(taper_rows[layer])
        arrays[f"paper_{j}"], arrays[f"taper_{j}"] = raw, taper
        arrays["k_paper"] = np.arange(1, raw.size + 1, dtype=float)
        arrays["k_taper"] = np.arange(1, taper.size + 1, dtype=float)
        whole = torch.from_numpy(raw)
        layers[layer]["h_paper"] = _nan_list(Q.spectrum_h(whole[None]))[0]
        layers[layer]["mean_frequency"] = _nan_list(Q.mean_frequency(whole[None]))[0]
    for layer, stacks in paths.items():  # [N, inits × directions, ...]
        arrays[f"paths_{layer}"] = np.concatenate(stacks, axis=1)
    for detrend, rows_ in curves.items():
        if rows_:
            arrays[f"branch_correlation_{detrend}"] = np.nanmean(rows_, axis=0)
    save_npz(ctx.out / "spectra.npz", **arrays)
    summary: dict[str, Any] = {"layers": layers, "record": order}
    if branches:
        summary["band_drop"] = {"paper": drops["none"], "taper": drops["taper"]}
    return summary


def _train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    g: torch.Generator,
) -> list[float]:
    """One epoch of Adam on mini-batches of 64 in a seeded order; the batch accuracies.

    The order is drawn on the CPU (the same on every device); the accuracies stay where the
    data are until the epoch ends (one host sync per epoch on a GPU)."""
    model.train()
    accuracies = []
    order = torch.randperm(x.shape[0], generator=g).to(x.device)
    for start in range(0, x.shape[0], 64):
        idx = order[start : start + 64]
        optimizer.zero_grad(set_to_none=True)
        out = model(x[idx])
        loss = F.cross_entropy(out, y[idx])
        loss.backward()
        optimizer.step()
        accuracies.append((out.argmax(1) == y[idx]).double().mean().detach())
    return torch.stack(accuracies).tolist()


def training_path_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Fig. 11 (App. D.1): every unit's paths of one Toy-CNN at checkpoints during training.

    The network (float32, Adam, lr 10⁻³, batches of 64) is trained on the real training images;
    at every epoch in ``checkpoints`` (0: at initialisation) a float64 copy with BatchNorm
    frozen at the probe images' statistics is walked in ``directions`` random directions at
    every radius of ``radii``. Returns per checkpoint and radius every unit's ``h`` of the
    averaged raw spectrum (``h_paper``) and mean taper ``h``; the mean spectra go to
    ``spectra.npz`` (``paper_e{epoch}_r{i}_{unit}``, ``taper_…``).
    """
    device = _device(config)
    x, y = (t.to(device) for t in _inputs(config["inputs"]))
    probe = _inputs(config["probe"])[0].to(device)
    x = x.float()
    model = build(config["model"], seed=config["init_seed"], **config["kwargs"]).to(device)
    g = torch.Generator().manual_seed(config["init_seed"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    h: dict[str, dict[str, float | None]] = {}
    h_paper: dict[str, dict[str, float | None]] = {}
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
                chunk_size=_chunk(config["points"]),
                dtype=torch.float64,
            )
            key = f"e{checkpoint}_r{r_i}"
            h[key], h_paper[key] = {}, {}
            for j, layer in enumerate(record):
                row, raw, taper = _layer_rows(rec.layer(layer))
                finite = [v for v in row["h"] if v is not None]
                h[key][layer] = float(np.mean(finite)) if finite else None
                mean_raw = torch.from_numpy(_mean([raw]))
                h_paper[key][layer] = _nan_list(Q.spectrum_h(mean_raw[None]))[0]
                arrays[f"paper_{key}_{j}"] = mean_raw.numpy()
                arrays[f"taper_{key}_{j}"] = _mean([taper])
    save_npz(ctx.out / "spectra.npz", **arrays)
    return {
        "h": h,
        "h_paper": h_paper,
        "record": record,
        "checkpoints": sorted(config["checkpoints"]),
        "radii": list(config["radii"]),
        "train_accuracy": accuracy,
    }


def train_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """Fig. 9: a ResNet's h at initialisation (its last layer, the logits: the h of the
    averaged raw spectrum, and the mean taper h), then its training accuracy."""
    device = _device(config)
    x, y = (t.to(device) for t in _inputs(config["inputs"]))
    x = x.float()
    model = build(config["model"], seed=config["init_seed"], **config["kwargs"]).to(device)
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
        chunk_size=_chunk(config["points"]),
        dtype=torch.float64,
    )
    row, raw, _ = _layer_rows(rec.output)
    finite = [v for v in row["h"] if v is not None]
    h_paper = _nan_list(Q.spectrum_h(torch.from_numpy(_mean([raw]))[None]))[0]
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
        "h_init": h_paper,
        "h_init_taper": float(np.mean(finite)) if finite else None,
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
                **config.cell_device(),
            },
            label=name,
            threads=config.threads_per_cell,
        )

    units = config.toy_units
    last = [f"units.unit{units}"]
    for act in (*ACTIVATIONS, LINEAR):  # Fig. 3, the linear network as the control
        add(f"toy-{act}", "toycnn", {"units": units, "activation": act}, "units", judged=last)
        for radius in config.radius_sweep:  # the same networks at other radii
            if radius != config.radius:
                add(
                    radius_cell(act, radius),
                    "toycnn",
                    {"units": units, "activation": act},
                    "last unit",
                    radius=radius,
                )
    for act in config.extra_activations:  # Fig. 17 (App. F.1)
        add(f"toy-{act}", "toycnn", {"units": units, "activation": act}, "units", judged=last)
    add(  # App. D.3, Fig. 13
        "toy-relu-gradient",
        "toycnn",
        {"units": units},
        "units",
        direction="gradient",
        directions=1,
        judged=last,
    )
    for depth in config.toy_depths:  # Fig. 5; the linear Toy-CNN as the control
        for variant, kwargs in (
            ("noshort", {"shortcut": False}),
            ("short", {"shortcut": True}),
            ("linear", {"shortcut": False, "activation": LINEAR}),
        ):
            add(f"toy-depth{depth}-{variant}", "toycnn", {"units": depth, **kwargs}, loss=True)
    step = max(1, units // config.walk_layers)  # Fig. 15: one unit's weights at a time
    for unit in list(range(1, units + 1, step))[: config.walk_layers]:
        for suffix, act in (("", "relu"), ("-linear", LINEAR)):  # the linear twin: control
            add(
                f"toy-walk{unit}{suffix}",
                "toycnn",
                {"units": units, "activation": act},
                perturb=[f"units.unit{unit}"],
                loss=True,
            )
    for version in ("v1", "v2"):  # Fig. 7, and the linear ResNet of its depth as the control
        add(f"resnet-{version}", "resnet-cifar", {"depth": config.v1v2_depth, "version": version})
    linear = {"depth": config.v1v2_depth, "version": "v2", "alpha": 0.0}
    add("resnet-linear", "resnet-cifar", linear)
    d = config.resnet_depth
    for a in (1, config.group_average):  # Fig. 8
        add(
            f"noshort-avg{a}",
            "resnet-cifar",
            {"depth": d, "version": "v1", "shortcut": False, "group_average": a},
        )
    for alpha, nu in ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)):  # Figs. 1 and 4
        add(
            f"transition-a{alpha:g}-nu{nu:g}",
            "resnet-cifar",
            {"depth": d, "version": "v2", "alpha": alpha, "nu": nu, "nu_branch": "shortcut"},
            loss=True,
            keep_paths=True,
        )
    for act in (*ACTIVATIONS, LINEAR):  # Fig. 6, the linear ResNet as the control
        add(
            f"branches-{act}",
            "resnet-cifar",
            {"depth": d, "version": "v2", "activation": act},
            "branches",
            sample=config.branch_sample,
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
                judged=last,
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
                    **config.cell_device(),
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
                **config.cell_device(),
            },
            label=f"train {variant}{depth} α={alpha:g}",
            threads=config.threads_per_cell,
        )
        cells[cell.label] = cell
    # the longest cells first, so that the executor's workers finish together
    ordered = sorted(cells.values(), key=lambda c: -_cost(c))
    return [ordered], cells


def _cost(cell: Cell) -> float:
    """A rough relative cost of a cell (for ordering only; no result depends on it)."""
    c = cell.config
    if cell.fn.endswith("train_cell") or cell.fn.endswith("training_path_cell"):
        return 1e9
    kw = c["kwargs"]
    size = kw.get("depth", kw.get("units", 1)) * kw.get("group_average", 1) ** 2
    size *= 3.0 if c["model"] == "resnet-cifar" else 1.0
    return size * c["inits"] * c["directions"] * c["points"]
