"""Cells of the ``propagation`` experiment, and the numbers computed from them.

Cells: the ellipsoid autoencoders of the ``nonsmoothness`` experiment (same training cells) and
one ``record`` cell per trained model, which passes every test video through the model and
stores the SMP map of every layer's output (and of the first layer's input; the autoencoders
are chains, checked in the cell), and the §V-B discounting sums of every weighted layer.

Aggregation: the recorded maps split into a fitting and a held-out part, the regression sums and
bootstrap estimates of R² (eq. 5, eq. 6) and of the discounting factor, the held-out evaluation
of the fitted channel models (eqs. 7, 8) and their chained Monte-Carlo predictions.

Device: with ``"device"`` in its config (absent on the CPU, so CPU cells keep their ids) a
``record`` cell runs the model's float64 forward passes there; the recordings come back to the
CPU, where the SMP maps and the discounting sums (float64, one video at a time) are computed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._io import load_state_dict, save_npz
from ...analysis import propagation as P
from ...analysis.channels import (
    PAPER_MAXPOOL_THRESHOLD,
    EmpiricalChannel,
    distribution_distance,
    zero_split_distance,
)
from ...models import SETUPS, build
from ...probe import leaf_layers, record, smp_maps
from ...signals import nonsmoothness_maps
from ...stats import hierarchical_bootstrap, r2_from_sums
from ...sweep import Cell, CellContext
from ..nonsmoothness import cells as NS
from .config import CHAIN, CURVE_LAYERS, GAMMA_LAYER, PACKAGE, PropagationConfig

__all__ = [
    "RecordedModel",
    "chain_smp",
    "channel_eval",
    "describe_channel",
    "flat",
    "joint_window_chain",
    "load_record",
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


BLANKED = "relu_maxpool:blanked"
"""Key of the recording cells of the variant (terminator pixels blanked) in :func:`plan`."""
MAX_BYTES = 1 << 28
"""Budget of the recording buffers of one cell (256 MiB): a video's node series are split into
chunks that fit it (``probe.smp_maps``)."""
CHECK_FRAMES = 7
"""Frames of video 0 on which a cell checks that the model is a chain."""


def _weighted(model: torch.nn.Module, layers: list[str]) -> list[str]:
    """The weighted (conv / transposed conv) layers after the first: their input has events."""
    modules = dict(model.named_modules())
    return [name for name in layers[1:] if hasattr(modules[name], "weight")]


def _curve_outputs(layers: list[str]) -> list[str]:
    """The layers whose outputs give the input and output SMP maps of :data:`CURVE_LAYERS`."""
    keep = set()
    for layer in CURVE_LAYERS:
        i = layers.index(layer)
        keep |= {layers[i - 1], layer}
    return [layer for layer in layers if layer in keep]


def _groups(layers: list[str], nodes: dict[str, int], frames: int) -> list[list[str]]:
    """``layers`` packed into groups whose float64 input series of ``frames`` frames take at
    most half of :data:`MAX_BYTES` (a recording is concatenated once), one forward pass each."""
    groups: list[list[str]] = [[]]
    used = 0
    for layer in layers:
        size = 2 * nodes[layer] * frames * 8
        if groups[-1] and used + size > MAX_BYTES:
            groups.append([])
            used = 0
        groups[-1].append(layer)
        used += size
    return groups


def _gamma_sums(module, series: torch.Tensor, factor: float, strides, aligned: bool):
    """The §V-B discounting sums ``{stride: [2]}`` of one layer input ``[T, ...]``."""
    out = {}
    for k in strides:
        num, den = P.discounting_sums(module, series[None, ::k], factor=factor, aligned=aligned)
        out[k] = np.stack([num[0], den[0]])
    return out


def record_cell(config: dict[str, Any], ctx: CellContext) -> dict[str, Any]:
    """SMP maps of one trained autoencoder on every test video, one video at a time, and the
    §V-B discounting sums of its weighted layers (``maps.npz``).

    Stored per video (stacked ``[V, ...]``): the SMP map of every layer's output and of the
    first layer's input (the autoencoders are chains, checked on the first frames, so these
    give every layer's input too); the number of peaks and the SMP of the layers around
    :data:`CURVE_LAYERS` on every ``k``-th frame for each stride ``k`` of ``config["strides"]``
    (``"<layer>:output@k"``, ``"<layer>:peaks@k"``); the discounting sums ``[V, 2]`` of every
    weighted layer (``"<layer>:discount"``, aligned-events control ``"<layer>:aligned"``;
    conv2 at every stride, ``"<layer>:discount@k"``); and the frames of each video. With
    ``config["blanked"]`` the videos are those with the terminator pixels blanked and only what
    the variant's claims need is recorded (the curve layers and conv2's sums).
    """
    model = build("autoencoder", setup=config["setup"])
    model.load_state_dict(load_state_dict(ctx.path_of(config["model_cell"]) / "model.pt"))
    layers = leaf_layers(model)
    modules = dict(model.named_modules())  # on the CPU: the discounting sums run there
    device = torch.device(config.get("device", "cpu"))
    runner = model if device.type == "cpu" else copy.deepcopy(model).to(device)
    factor, strides, blanked = config["peak_factor"], config["strides"], config["blanked"]
    curve = _curve_outputs(layers)
    outputs = curve if blanked else layers
    gamma_layers = [GAMMA_LAYER] if blanked else _weighted(model, layers)
    rows: dict[str, list[Any]] = {}

    def keep(key: str, value: Any) -> None:
        rows.setdefault(key, []).append(value)

    for index, video in enumerate(NS.iter_test_videos(config["data"], blanked=blanked)):
        if index == 0:  # so storing outputs (and the first input) loses nothing
            head = smp_maps(runner, video[:CHECK_FRAMES], layers, factor=factor)
            P.check_sequential(head, layers)
            nodes = {layer: head[layer]["input"].smp.numel() for layer in gamma_layers}
        keep("frames", video.shape[0])
        for k in strides:
            maps = smp_maps(
                runner, video[::k], outputs if k == 1 else curve, sides=("output",),
                factor=factor, max_bytes=MAX_BYTES,
            )  # fmt: skip
            for layer, sides in maps.items():
                if k == 1:
                    keep(f"{layer}:output", sides["output"].smp.float())
                if layer in curve:
                    keep(f"{layer}:output@{k}", sides["output"].smp.float())
                    keep(f"{layer}:peaks@{k}", sides["output"].n_peaks.to(torch.int16))
        if not blanked:
            first = nonsmoothness_maps(video, dim=0, factor=factor)
            keep(f"{layers[0]}:input", first.smp.float())
        for group in _groups(gamma_layers, nodes, video.shape[0]):
            series = record(runner, video, group, sides=("input",))
            for layer in group:
                x = series.pop(layer)["input"]
                own = strides if layer == GAMMA_LAYER else (1,)
                for k, sums in _gamma_sums(modules[layer], x, factor, own, False).items():
                    keep(f"{layer}:discount" + ("" if k == 1 else f"@{k}"), sums)
                keep(f"{layer}:aligned", _gamma_sums(modules[layer], x, factor, (1,), True)[1])
                del x
    arrays = {
        key: np.asarray(v) if key == "frames" else np.stack([np.asarray(x) for x in v])
        for key, v in rows.items()
    }
    save_npz(ctx.out / "maps.npz", **arrays)
    return {"layers": layers, "videos": len(rows["frames"]), "frames": rows["frames"]}


def plan(config: PropagationConfig) -> tuple[list[list[Cell]], dict[str, list[Cell]]]:
    """Stages (training, recording) and the recording cells per setup, in model order: one per
    trained model on the videos as paper A defines them, and one per ReLU+MaxPool model on the
    variant with the terminator pixels blanked (key :data:`BLANKED`)."""
    nconfig = config.nonsmoothness()
    train_cells = NS.plan(nconfig)[0][0]
    data = NS.data_spec(nconfig, "ellipsoid")
    records: dict[str, list[Cell]] = {setup: [] for setup in SETUPS}
    records[BLANKED] = []
    for blanked in (False, True):
        for cell in train_cells:
            setup = cell.config["setup"]
            if blanked and setup != "relu_maxpool":
                continue  # the variant's claims are about the paper's ReLU+MaxPool models
            name = "blanked " if blanked else ""
            records[setup + (":blanked" if blanked else "")].append(
                Cell(
                    f"{PACKAGE}:record_cell",
                    {
                        "data": data,
                        "setup": setup,
                        "model_cell": cell.id,
                        "peak_factor": config.peak_factor,
                        "strides": list(config.curve_strides),
                        "blanked": blanked,
                        **config.cell_device(),
                    },
                    label=f"record {name}{setup} #{cell.config['index']}",
                    threads=config.threads_per_cell,
                )
            )
    return [train_cells, [c for cells in records.values() for c in cells]], records


def _as_maps(arrays, layers: list[str], first_input: str, suffix: str = ""):
    """``{layer: {"input", "output"}}`` float64 SMP maps of a chain of ``layers`` whose first
    input is the array ``first_input``."""
    outputs = [
        torch.from_numpy(arrays[f"{layer}:output{suffix}"].astype(np.float64)) for layer in layers
    ]
    inputs = [torch.from_numpy(arrays[first_input].astype(np.float64)), *outputs[:-1]]
    return {
        layer: {"input": i, "output": o}
        for layer, i, o in zip(layers, inputs, outputs, strict=True)
    }


@dataclass
class RecordedModel:
    """A trained autoencoder with its recorded SMP maps and discounting sums.

    Attributes:
        module: the model.
        maps: ``{layer: {"input", "output"}}`` SMP maps ``[V, ...]`` of every recorded layer
            (for the blanked variant, the curve layers only).
        sums: discounting sums ``{"<layer>:discount[@k]" | "<layer>:aligned": [V, 2]}``.
        curve: ``{k: maps}`` of :data:`CURVE_LAYERS` on every k-th frame.
        peaks: ``{k: {layer: [V, ...]}}`` numbers of peaks of the curve layers' outputs.
        frames: ``[V]`` frames of each video.
    """

    module: torch.nn.Module
    maps: dict[str, dict[str, torch.Tensor]]
    sums: dict[str, np.ndarray]
    curve: dict[int, dict[str, dict[str, torch.Tensor]]] = field(default_factory=dict)
    peaks: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    frames: np.ndarray | None = None


def load_record(path: Path, module: torch.nn.Module, strides) -> RecordedModel:
    """The arrays of a ``record`` cell as a :class:`RecordedModel`."""
    arrays = np.load(path)
    layers = leaf_layers(module)
    curve = {}
    for k in strides:
        for layer in CURVE_LAYERS:
            i = layers.index(layer)
            curve.setdefault(k, {}).update(
                _as_maps(arrays, [layer], f"{layers[i - 1]}:output@{k}", f"@{k}")
            )
    peaks = {k: {layer: arrays[f"{layer}:peaks@{k}"] for layer in CURVE_LAYERS} for k in strides}
    if f"{layers[0]}:input" in arrays.files:
        maps = _as_maps(arrays, layers, f"{layers[0]}:input")
    else:
        maps = curve[1]
    sums = {k: arrays[k] for k in arrays.files if ":discount" in k or k.endswith(":aligned")}
    return RecordedModel(module, maps, sums, curve, peaks, arrays["frames"])


# ---------------------------------------------------------------------------------------------
# aggregation: fitting part and held-out part, R² and discounting sums, channel evaluations


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


def joint_window_chain(
    fit: list[RecordedModel], held: list[RecordedModel], channels: dict[str, Any], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fig. 8e with the ReLU and max pooling of each pooling window as one channel.

    Eq. 7 and eq. 8 treat the nodes of a window as independent given their own SMPs; here the
    output SMP of a whole window is drawn jointly: from the real pool2 outputs of the fitting
    windows whose largest conv2 output SMP (the ReLU input) falls in the same quantile bin
    (:class:`~smoothscope.analysis.channels.EmpiricalChannel`). The chain starts, as Fig. 8e's,
    from the real SMP entering conv2, with conv2's calibrated channel (``channels``).

    Returns:
        real and predicted SMPs after pool2 of the ``held`` maps, pooled over models.
    """
    conv, act, pool = CHAIN
    pool_of = lambda m: dict(m.module.named_modules())[pool]  # noqa: E731
    x = [flat(P.window_max(pool_of(m), m.maps[act]["input"])) for m in fit]
    y = [flat(m.maps[pool]["output"]) for m in fit]
    joint = EmpiricalChannel.fit(np.concatenate(x), np.concatenate(y))
    real, predicted = [], []
    for i, m in enumerate(held):
        out = P.propagate(m.module, (conv,), m.maps[conv]["input"], channels, seed=seed + i)
        rng = np.random.default_rng(seed + i)
        predicted.append(joint.sample(flat(P.window_max(pool_of(m), out[conv])), rng))
        real.append(flat(m.maps[pool]["output"]))
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
