"""The four papers' lenses on one model, layer by layer (the measurements behind a profile).

* :func:`lens_a` — paper A: nonsmoothness (peak share, SMP share, AveNonSmooth, eq. 4 and §V-B)
  of every layer's output along smooth input trajectories, beside the inputs' own.
* :func:`lens_b` — paper B: D, G and R (eq. 1) of every layer with standard errors.
* :func:`lens_c` — paper C: the spectrum and fractal coefficient h of weight-space paths (eq. 1,
  eq. 3) of every layer, over several random directions.
* :func:`lens_d` — paper D: the largest output jump across an edge of a continuum test image as
  the image is sampled finer (fully convolutional models only).

Each lens returns plain JSON-ready dicts: ``{"layers": [{"layer", metric, metric + "_se", ...}],
...}``; standard errors are over the lens's independent replicates (trajectories, input pairs,
directions), which :func:`smoothscope.profiling.compare_profiles` combines into intervals.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .._errors import SmoothscopeError
from ..models.adapter import OUTPUT
from ..signals import nonsmoothness_maps
from .trajectories import TRAJECTORIES, smooth_trajectories

__all__ = ["INPUT", "METRICS", "OUTPUT", "lens_a", "lens_b", "lens_c", "lens_d"]

INPUT = "input"

# metrics shown per lens: (name, standard-error key or None)
METRICS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "A": (
        ("peak_share", "peak_share_se"),
        ("smp_share", "smp_share_se"),
        ("ave_nonsmooth", "ave_nonsmooth_se"),
    ),
    "B": (("D", "D_se"), ("G", "G_se"), ("R", "R_se")),
    "C": (("h", "h_se"), ("mean_frequency", None)),
}


class _Recorder:
    """Forward hooks keeping the (first tensor) output of named modules."""

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        self.values: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        self.handles = [
            modules[name].register_forward_hook(self._hook(name))
            for name in names
            if name != OUTPUT
        ]

    def _hook(self, name: str):
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor):  # the adapter keeps tensor layers only
                self.values[name] = output.detach().clone()

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _outputs(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """``{layer: [B, ...]}`` of one forward pass (``model`` already in eval mode)."""
    recorder = _Recorder(model, names)
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        recorder.remove()
    values = dict(recorder.values)
    if OUTPUT in names:
        values[OUTPUT] = out
    missing = [n for n in names if n not in values]
    if missing:
        raise SmoothscopeError(f"layers: module {missing[0]!r} did not run in the forward pass")
    for name in names:
        if not bool(torch.isfinite(values[name]).all()):
            raise SmoothscopeError(
                f"model: non-finite values (NaN or inf) in layer {name!r}; a profile needs "
                "finite outputs"
            )
    return values


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    v = torch.tensor(list(values), dtype=torch.float64)
    mean = float(v.mean())
    se = float(v.std(unbiased=True) / math.sqrt(v.numel())) if v.numel() > 1 else math.nan
    return mean, se


def _video_stats(recording: torch.Tensor) -> dict[str, float]:
    """Nonsmoothness statistics of one video ``[T, *nodes]`` (float64, time first)."""
    maps = nonsmoothness_maps(recording.reshape(recording.shape[0], -1))
    frames = recording.shape[0] - 2
    total = float(maps.mean_abs.sum()) * frames
    return {
        "peak_share": float((maps.n_peaks > 0).double().mean()),
        "smp_share": float(maps.smp.sum()) / total if total > 0 else 0.0,
        "ave_nonsmooth": float(maps.mean_abs.mean()),
    }


LENS_A_METRICS = ("peak_share", "smp_share", "ave_nonsmooth")


def lens_a(
    model: nn.Module,
    images: torch.Tensor,
    layers: Sequence[str],
    *,
    frames: int = 32,
    kinds: Sequence[str] = TRAJECTORIES,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Nonsmoothness of every layer along smooth trajectories of ``images`` (paper A).

    Every image gives one video per trajectory kind (:func:`.smooth_trajectories`); each video
    goes through a float64 copy of the model as one batch of frames, and every recorded series
    (one unit of one layer over time) is analysed by
    :func:`smoothscope.signals.nonsmoothness_maps` (paper A's peak rule with the rounding
    floor of float64). Per layer and video: ``peak_share`` (share of units with at least one
    peak), ``smp_share`` (share of the ``|δ²|`` mass that lies in peaks, Σ SMP / Σ |δ²|) and
    ``ave_nonsmooth`` (eq. 4); means and standard errors over the videos. The row ``"input"``
    holds the videos' own values: a smooth trajectory has peak share ≈ 0.
    """
    generator = torch.Generator().manual_seed(seed)
    videos = smooth_trajectories(
        images, frames=frames, kinds=tuple(kinds), generator=generator
    )
    evaluator = copy.deepcopy(model).to(torch.float64).eval()
    per_layer: dict[str, dict[str, list[float]]] = {
        name: {m: [] for m in LENS_A_METRICS} for name in [INPUT, *layers]
    }
    per_kind: dict[str, dict[str, list[float]]] = {}
    jobs = [(kind, i) for kind in videos for i in range(images.shape[0])]
    for kind, i in tqdm(jobs, desc="lens A (videos)", disable=not progress, leave=False):
        video = videos[kind][i]  # [T, C, H, W]
        values = {INPUT: video, **_outputs(evaluator, video, layers)}
        for name, recording in values.items():
            stats = _video_stats(recording.to(torch.float64))
            for metric, value in stats.items():
                per_layer[name][metric].append(value)
                per_kind.setdefault(f"{name}|{kind}", {}).setdefault(metric, []).append(value)
    rows = []
    for name, metrics in per_layer.items():
        row: dict[str, Any] = {"layer": name}
        for metric, values in metrics.items():
            row[metric], row[metric + "_se"] = _mean_se(values)
        rows.append(row)
    by_kind = {
        key: {metric: _mean_se(values)[0] for metric, values in metrics.items()}
        for key, metrics in per_kind.items()
    }
    return {
        "layers": rows,
        "by_trajectory": by_kind,
        "videos": len(jobs),
        "frames": frames,
        "trajectories": list(videos),
    }


def lens_b(
    model: nn.Module,
    images: torch.Tensor,
    layers: Sequence[str],
    *,
    diffeos_per_input: int = 2,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """D, G and R of every layer (paper B eq. 1), by
    :func:`smoothscope.analysis.stability.relative_stability`.

    Square images get the maximum-entropy diffeomorphisms at the default temperature of their
    side. Non-square ``H × W`` images get the same fields drawn on the square of side
    ``L = max(H, W)`` and cut to ``H × W`` (:func:`rectangular_diffeo`): the deformation is as
    smooth and as large, in pixels, as on an ``L × L`` image.
    """
    from ..analysis.stability import default_temperature, relative_stability

    options: dict[str, Any] = {}
    temperature = None
    height, width = images.shape[-2:]
    if height != width:
        side = max(height, width)
        temperature = default_temperature(side)

        def deform(x: torch.Tensor, per: int, generator: torch.Generator) -> torch.Tensor:
            return rectangular_diffeo(x, temperature, 3.0, per, generator)

        options = {"deformation": deform}
    result = relative_stability(
        model,
        images,
        layers=list(layers),
        diffeos_per_input=diffeos_per_input,
        batch_size=min(64, images.shape[0]),
        seed=seed,
        progress=progress,
        **options,
    )
    rows = [
        {
            "layer": r["layer"],
            "relative_depth": r["relative_depth"],
            **{k: r[k] for k in ("D", "D_se", "G", "G_se", "R", "R_se")},
        }
        for r in result.rows
    ]
    return {
        "layers": rows,
        "temperature": result.temperature if temperature is None else temperature,
        "cut": result.cut,
        "inputs": result.n_inputs,
        "diffeos_per_input": result.diffeos_per_input,
    }


def rectangular_diffeo(
    images: torch.Tensor, temperature: float, cut: float, per: int, generator: torch.Generator
) -> torch.Tensor:
    """``per`` maximum-entropy diffeomorphisms of each ``[B, C, H, W]`` image, any ``H × W``.

    The displacement fields of :func:`smoothscope.data.diffeo.displacement_fields` are drawn on
    the square of side ``L = max(H, W)`` (pixels, temperature ``T`` of that side) and their
    top-left ``H × W`` part is applied with bilinear interpolation and border clamping, the
    remap of :func:`~smoothscope.data.diffeo.apply_diffeo`. Returns ``[B·per, C, H, W]``
    grouped by image.
    """
    from ..data.diffeo import displacement_fields

    b, _, h, w = images.shape
    side = max(h, w)
    fields = displacement_fields(
        side, cut, temperature, b * per, generator=generator, dtype=images.dtype
    )[:, :, :h, :w].to(images.device)
    x = images.repeat_interleave(per, dim=0)
    cols = torch.arange(w, dtype=images.dtype, device=images.device)
    rows = torch.arange(h, dtype=images.dtype, device=images.device)
    xs = (cols[None, None, :] - fields[:, 0]).clamp(0, w - 1)
    ys = (rows[None, :, None] - fields[:, 1]).clamp(0, h - 1)
    # grid_sample's normalised coordinates with align_corners=True: -1 ↔ pixel 0, 1 ↔ last
    grid = torch.stack([2 * xs / max(w - 1, 1) - 1, 2 * ys / max(h - 1, 1) - 1], dim=-1)
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=True
    )


def _path_h(paths: torch.Tensor) -> tuple[float, str]:
    """Fractal coefficient h of the paths ``[P, n_series]`` of one direction by the
    boundary-free (tapered) estimator, and what they are: ``"fitted"``, or ``"linear"``,
    ``"constant"``, ``"below-rounding"`` when there is nothing to fit (h is then NaN)."""
    from ..analysis.spectra import estimate_h

    estimate = estimate_h(paths, estimator="taper", dim=0)
    return float(estimate.h), str(estimate.kind)


def lens_c(
    model: nn.Module,
    images: torch.Tensor,
    layers: Sequence[str],
    *,
    directions: int = 4,
    points: int = 128,
    alpha: float = 0.1,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Spectra and h of weight-space paths of every layer (paper C eq. 1 and 3).

    ``p(t) = f(x, W + α⁻¹ t D)`` over ``points`` values of t for ``directions`` random unit
    directions (:func:`smoothscope.analysis.paths.weight_path`, float64); per layer and
    direction the paths of every unit are reduced to one h by the boundary-free (tapered)
    estimator :func:`smoothscope.analysis.spectra.estimate_h` (no boundary term caps it, so a
    smooth layer and a kinked one are told apart); the layer's h is the mean over directions
    with its standard error. Exactly linear paths (a layer linear in the perturbed weights,
    e.g. the first convolution) are reported as ``path_kind = "linear"``, not fitted. The
    mean normalised spectrum of each layer is kept for the figures.
    """
    from ..analysis.paths import weight_path
    from ..analysis.spectra import estimate_h

    if next(model.parameters(), None) is None:
        raise SmoothscopeError(
            "model: has no parameters, so weight-space paths (lens C) do not apply"
        )
    rows = []
    spectra_out: dict[str, dict[str, list[float]]] = {}
    recordings = []
    for d in tqdm(range(directions), desc="lens C (directions)", disable=not progress, leave=False):
        recordings.append(
            weight_path(
                model,
                images,
                alpha=alpha,
                points=points,
                n_directions=1,
                record=list(layers),
                seed=seed * 1_000_003 + d,
                chunk_size=16,
            )
        )
    for name in layers:
        hs, kinds = [], []
        for rec in recordings:
            paths = rec.layer(name)[:, 0].reshape(points, -1)
            h, kind = _path_h(paths)
            hs.append(h)
            kinds.append(kind)
        finite = [h for h in hs if math.isfinite(h)]
        h_mean, h_se = _mean_se(finite) if finite else (math.nan, math.nan)
        all_paths = torch.cat([rec.layer(name)[:, 0].reshape(points, -1) for rec in recordings], 1)
        spectrum = estimate_h(all_paths, estimator="taper", dim=0).spectrum
        if spectrum is not None:
            spectra_out[name] = {"k": spectrum.k.tolist(), "power": spectrum.power.tolist()}
        rows.append(
            {
                "layer": name,
                "h": h_mean,
                "h_se": h_se,
                "h_per_direction": hs,
                "path_kind": max(set(kinds), key=kinds.count),
                "mean_frequency": spectrum.mean_frequency if spectrum is not None else math.nan,
            }
        )
    return {
        "layers": rows,
        "spectra": spectra_out,
        "directions": directions,
        "points": points,
        "alpha": alpha,
    }


def _disc_images(size: int, scales: Sequence[int], channels: int) -> list[torch.Tensor]:
    """A disc of radius ``0.3·size`` in the continuum ``[0, size]²``, area-sampled at each s."""
    from ..data.continuum import DiscScene, rasterize

    centre = size / 2 + 0.37  # off the pixel grid, so that the edge does not sit on a border
    scene = DiscScene(
        n0=size,
        centres=torch.tensor([[centre, centre]], dtype=torch.float64),
        radii=torch.tensor([0.3 * size], dtype=torch.float64),
        intensities=torch.tensor([1.0], dtype=torch.float64),
    )
    return [
        rasterize([scene], s, mode="area", dtype=torch.float64).repeat(1, channels, 1, 1)
        for s in scales
    ]


def fully_convolutional(model: nn.Module, images: torch.Tensor) -> str | None:
    """``None`` when the model maps images of any size to spatial outputs of proportional size
    (a fully convolutional model), else the reason lens D does not apply."""
    x = images[:1].to(torch.float64)
    evaluator = copy.deepcopy(model).to(torch.float64).eval()
    try:
        with torch.no_grad():
            small = evaluator(x)
            big = evaluator(torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
    except Exception as exc:  # a user's model may refuse the size with any exception
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"the model does not accept an input of twice the size ({first})"
    if small.dim() != 4 or big.dim() != 4:
        return "its output is not an image [B, C, H, W], so there is no output resolution to grow"
    if big.shape[-1] != 2 * small.shape[-1] or big.shape[-2] != 2 * small.shape[-2]:
        return (
            f"its output does not grow with the input (output {tuple(small.shape[-2:])} at the "
            f"given size, {tuple(big.shape[-2:])} at twice the size)"
        )
    return None


def lens_d(
    model: nn.Module,
    images: torch.Tensor,
    *,
    scales: Sequence[int] = (1, 2, 3, 4),
    progress: bool = False,
) -> dict[str, Any]:
    """The output's largest jump across an edge as the resolution grows (paper D).

    A disc in the continuum ``[0, n]²`` (n the inputs' side) is area-sampled at ``n·s`` pixels
    per side for each s; the model's output (mean over channels) is read along the row through
    the disc's centre, and the largest difference between neighbouring pixels is its jump. The
    input's own jump stays near 1 at every s (a sharp edge); an output that is continuous in
    the limit (paper D) has jumps that fall like ``s^-β`` with β > 0, while a map that keeps the
    edge sharp has β ≈ 0. β is the least-squares slope of ``-log jump`` against ``log s``.
    """
    reason = fully_convolutional(model, images)
    if reason is not None:
        return {"applies": False, "reason": f"lens D needs a fully convolutional model: {reason}"}
    size, channels = images.shape[-1], images.shape[1]
    evaluator = copy.deepcopy(model).to(torch.float64).eval()
    jumps, input_jumps = [], []
    for x in tqdm(_disc_images(size, scales, channels), desc="lens D", disable=not progress):
        with torch.no_grad():
            out = evaluator(x)
        if not bool(torch.isfinite(out).all()):
            raise SmoothscopeError("model: non-finite output on the lens D test image")
        row = out.mean(dim=1)[0, out.shape[-2] // 2]
        in_row = x.mean(dim=1)[0, x.shape[-2] // 2]
        jumps.append(float((row[1:] - row[:-1]).abs().max()))
        input_jumps.append(float((in_row[1:] - in_row[:-1]).abs().max()))
    s = torch.tensor([float(v) for v in scales], dtype=torch.float64).log()
    j = torch.tensor(jumps, dtype=torch.float64).clamp_min(1e-300).log()
    sm = s - s.mean()
    beta = float(-(sm * (j - j.mean())).sum() / (sm**2).sum())
    resid = j - j.mean() + beta * sm
    dof = max(1, len(scales) - 2)
    beta_se = float(torch.sqrt((resid**2).sum() / dof / (sm**2).sum()))
    return {
        "applies": True,
        "scales": list(scales),
        "output_jump": jumps,
        "input_jump": input_jumps,
        "beta": beta,
        "beta_se": beta_se,
    }
