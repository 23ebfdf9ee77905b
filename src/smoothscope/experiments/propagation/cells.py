"""Cells of the ``propagation`` experiment, and the numbers computed from them.

Cells: the ellipsoid autoencoders of the ``nonsmoothness`` experiment (same training cells) and
one ``record`` cell per trained model, which passes every test video through the model and
stores the SMP map of every layer's output (and of the first layer's input; the autoencoders
are chains, checked in the cell), and the §V-B discounting sums of every weighted layer.

Aggregation: the recorded maps split into a fitting and a held-out part, the regression sums and
bootstrap estimates of R² (eq. 5, eq. 6) and of the discounting factor, the held-out evaluation
of the fitted channel models (eqs. 7, 8) and their chained Monte-Carlo predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._io import load_state_dict, save_npz
from ...analysis import propagation as P
from ...analysis.channels import PAPER_MAXPOOL_THRESHOLD, distribution_distance, zero_split_distance
from ...models import SETUPS, build
from ...probe import leaf_layers, record, smp_maps
from ...stats import hierarchical_bootstrap, r2_from_sums
from ...sweep import Cell, CellContext
from ..nonsmoothness import cells as NS
from .config import PACKAGE, PropagationConfig

__all__ = [
    "RecordedModel",
    "chain_smp",
    "channel_eval",
    "describe_channel",
    "flat",
    "load_maps",
    "pass_through_channels",
    "plan",
    "r2_difference",
    "r2_estimate",
    "r2_tables",
    "ratio_of_sums",
    "record_cell",
    "split_videos",
]


# ---------------------------------------------------------------------------------------------
# cells


def _weighted(model: torch.nn.Module, layers: list[str]) -> list[str]:
    """The weighted (conv / transposed conv) layers after the first: their input has events."""
    modules = dict(model.named_modules())
    return [name for name in layers[1:] if hasattr(modules[name], "weight")]


def record_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """SMP maps of every layer of one trained autoencoder on every test video, and the §V-B
    discounting sums of its weighted layers (``maps.npz``)."""
    model = build("autoencoder", setup=config["setup"])
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / "model.pt"))
    layers = leaf_layers(model)
    videos = NS.smooth_test_videos(config["data"])
    maps = smp_maps(model, videos, layers, factor=config["peak_factor"], max_bytes=1 << 28)
    P.check_sequential(maps, layers)  # so storing outputs (and the first input) loses nothing
    arrays = {f"{layer}:output": maps[layer]["output"].smp.float() for layer in layers}
    arrays[f"{layers[0]}:input"] = maps[layers[0]]["input"].smp.float()
    weighted = _weighted(model, layers)
    modules = dict(model.named_modules())
    sums: dict[str, list[np.ndarray]] = {}
    for video in videos:  # one video at a time keeps the recordings small
        series = record(model, video, weighted, sides=("input",))
        for layer in weighted:
            for aligned in (False, True):
                num, den = P.discounting_sums(
                    modules[layer],
                    series[layer]["input"][None],
                    factor=config["peak_factor"],
                    aligned=aligned,
                )
                key = f"{layer}:{'aligned' if aligned else 'discount'}"
                sums.setdefault(key, []).append(np.stack([num[0], den[0]]))
    for key, rows in sums.items():
        arrays[key] = np.stack(rows)  # [V, 2]: numerator, denominator
    save_npz(ctx.out / "maps.npz", **arrays)
    return {"layers": layers, "videos": int(videos.shape[0])}


def plan(config: PropagationConfig) -> tuple[list[list[Cell]], dict[str, list[Cell]]]:
    """Stages (training, recording) and the recording cells per setup, in model order."""
    nconfig = config.nonsmoothness()
    train_cells = NS.plan(nconfig)[0][0]
    data = NS.data_spec(nconfig, "ellipsoid")
    records: dict[str, list[Cell]] = {setup: [] for setup in SETUPS}
    for cell in train_cells:
        setup = cell.config["setup"]
        records[setup].append(
            Cell(
                f"{PACKAGE}:record_cell",
                {
                    "data": data,
                    "setup": setup,
                    "model_cell": cell.id,
                    "peak_factor": config.peak_factor,
                },
                label=f"record {setup} #{cell.config['index']}",
                threads=config.threads_per_cell,
            )
        )
    return [train_cells, [c for cells in records.values() for c in cells]], records


def load_maps(path: Path, layers: list[str]) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """``{layer: {"input", "output"}}`` SMP maps (float64) of a recorded chain, and the
    discounting sums ``{"layer:discount" | "layer:aligned": [V, 2]}``."""
    arrays = np.load(path)
    outputs = [torch.from_numpy(arrays[f"{layer}:output"].astype(np.float64)) for layer in layers]
    inputs = [torch.from_numpy(arrays[f"{layers[0]}:input"].astype(np.float64)), *outputs[:-1]]
    maps = {
        layer: {"input": i, "output": o}
        for layer, i, o in zip(layers, inputs, outputs, strict=True)
    }
    sums = {k: arrays[k] for k in arrays.files if k.endswith((":discount", ":aligned"))}
    return maps, sums


# ---------------------------------------------------------------------------------------------
# aggregation: fitting part and held-out part, R² and discounting sums, channel evaluations


@dataclass
class RecordedModel:
    """A trained autoencoder with its recorded SMP maps and discounting sums."""

    module: torch.nn.Module
    maps: dict[str, dict[str, torch.Tensor]]
    sums: dict[str, np.ndarray]


class _PassThrough:
    """A 'channel' that passes its input on unchanged (the control chain without eqs. 7, 8)."""

    def sample(self, x: Any, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)


def split_videos(maps: dict[str, dict[str, torch.Tensor]], videos: slice):
    """The maps of the videos ``videos`` only (the fitting or the held-out part)."""
    return {layer: {side: m[videos] for side, m in sides.items()} for layer, sides in maps.items()}


def flat(x: torch.Tensor) -> np.ndarray:
    """``x`` as a flat numpy array."""
    return x.reshape(-1).numpy()


def _shuffled(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A copy of ``module`` with its weight entries randomly permuted (the same |W| values)."""
    import copy

    other = copy.deepcopy(module)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = other.weight.reshape(-1)
        other.weight.copy_(w[torch.randperm(w.numel(), generator=g)].reshape(other.weight.shape))
    return other


def r2_tables(models: list[RecordedModel], layer: str, seed: int) -> dict[str, np.ndarray]:
    """Regression sums ``[models, videos, 6]`` of real on predicted SMP for each variant:
    ``abs`` / ``w0`` at channel level (the paper's), ``abs_node`` per node, and the controls
    ``abs_permuted`` / ``w0_permuted`` (prediction from another video; needs >= 2 videos) and
    ``abs_shuffled`` (|W| permuted)."""
    tables: dict[str, list[np.ndarray]] = {}
    for m in models:
        module = dict(m.module.named_modules())[layer]
        x, y = m.maps[layer]["input"], m.maps[layer]["output"]
        pred = P.linear_smp_prediction(module, x)
        pred_w0 = P.linear_smp_prediction(module, x, weights="w0")
        rows = {
            "abs": (y.mean(1), pred.mean(1)),
            "w0": (y.mean(1), pred_w0.mean(1)),
            "abs_node": (y, pred),
            "abs_permuted": (y.mean(1), torch.roll(pred, 1, dims=0).mean(1)),
            "w0_permuted": (y.mean(1), torch.roll(pred_w0, 1, dims=0).mean(1)),
            "abs_shuffled": (
                y.mean(1),
                P.linear_smp_prediction(_shuffled(module, seed), x).mean(1),
            ),
        }
        for key, (real, predicted) in rows.items():
            tables.setdefault(key, []).append(P.regression_sums(real, predicted))
    return {key: np.stack(v) for key, v in tables.items()}


def r2_estimate(sums: np.ndarray, n_boot: int, seed: int):
    """R² of regression sums ``[models, videos, 6]`` with a models-then-videos bootstrap."""
    groups = [sums[..., k] for k in range(6)]
    return hierarchical_bootstrap(
        groups,
        lambda *cols: r2_from_sums(np.stack([c.sum(axis=-1) for c in cols], axis=-1)),
        n_boot=n_boot,
        seed=seed,
        paired_models=True,
    )


def r2_difference(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int):
    """R²(a) − R²(b) with the same models and videos resampled for both."""
    groups = [a[..., k] for k in range(6)] + [b[..., k] for k in range(6)]

    def statistic(*cols):
        s = np.stack([c.sum(axis=-1) for c in cols], axis=-1)
        return r2_from_sums(s[..., :6]) - r2_from_sums(s[..., 6:])

    return hierarchical_bootstrap(groups, statistic, n_boot=n_boot, seed=seed, paired_models=True)


def ratio_of_sums(table: np.ndarray, n_boot: int, seed: int):
    """Σnum / Σden of ``[models, videos, 2]`` with a models-then-videos bootstrap."""
    return hierarchical_bootstrap(
        [table[..., 0], table[..., 1]],
        lambda num, den: num.sum(axis=-1) / den.sum(axis=-1),
        n_boot=n_boot,
        seed=seed,
        paired_models=True,
    )


def channel_eval(
    models: list[RecordedModel], layer: str, channels: dict[str, dict[str, Any]], seed: int
) -> dict[str, Any]:
    """Held-out log-likelihood (parametric) and distances of sampled vs real outputs."""
    xs, ys = [], []
    for m in models:
        module = dict(m.module.named_modules())[layer]
        x = m.maps[layer]["input"]
        kind = P.layer_kind(module)
        x = P.window_max(module, x) if kind == "maxpool" else x
        xs.append(flat(x))
        ys.append(flat(m.maps[layer]["output"]))
    x, y = np.concatenate(xs), np.concatenate(ys)
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {"n": int(x.size)}
    parametric = channels["parametric"][layer]
    result["loglik_per_point"] = float(parametric.loglik(x, y)) / x.size
    if P.layer_kind(dict(models[0].module.named_modules())[layer]) == "maxpool":
        result["share_below_paper_threshold"] = float(np.mean(x < PAPER_MAXPOOL_THRESHOLD))
        result["share_below_fitted_threshold"] = float(np.mean(x < parametric.threshold))
    for kind, chans in channels.items():
        sampled = chans[layer].sample(x, rng)
        result[kind] = distribution_distance(y, sampled) | zero_split_distance(y, sampled)
    return result


def chain_smp(
    models: list[RecordedModel],
    layers: tuple[str, ...] | list[str],
    channels: dict[str, Any],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Real and chained-predicted SMPs at the last layer of ``layers``, pooled over models."""
    real, predicted = [], []
    for i, m in enumerate(models):
        start = m.maps[layers[0]]["input"]
        out = P.propagate(m.module, layers, start, channels, seed=seed + i)
        real.append(flat(m.maps[layers[-1]]["output"]))
        predicted.append(flat(out[layers[-1]]))
    return np.concatenate(real), np.concatenate(predicted)


def pass_through_channels(
    channels: dict[str, Any], layers: list[str] | tuple[str, ...], model
) -> dict:
    """The control chain: eq. 5 uncalibrated for linear layers, activations and max pools
    passing their input (window maximum) on unchanged."""
    modules = dict(model.named_modules())
    return {
        layer: None if P.layer_kind(modules[layer]) == "linear" else _PassThrough()
        for layer in layers
    }


def describe_channel(channel: Any) -> dict[str, Any]:
    """The fitted parameters of a parametric channel, for the results."""
    keep = {}
    for key, value in vars(channel).items():
        if isinstance(value, (int, float, bool, str)):
            keep[key] = value
    return keep
