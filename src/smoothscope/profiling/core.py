"""``profile(model, inputs)``: the four papers' lenses on one model, and comparisons of two.

A :class:`Profile` holds, per lens, one row per layer (see :mod:`.lenses`) with standard errors
over the lens's replicates; :func:`compare_profiles` turns two profiles into differences with
95 % intervals (``diff ± 1.96·√(se_a² + se_b²)``, normal approximation).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError
from .._io import _jsonable, atomic_write_bytes, load_json, save_json
from .._validate import as_tensor, check_finite, check_rank
from .card import render_card
from .lenses import METRICS, OUTPUT, lens_a, lens_b, lens_c, lens_d, select_layers

__all__ = [
    "LENSES",
    "Comparison",
    "Profile",
    "ProfileSettings",
    "compare_profiles",
    "load_profile",
    "profile",
]

LENSES = ("A", "B", "C", "D")
PROFILE_SCHEMA = 1
Z95 = 1.959963984540054


@dataclass(frozen=True)
class ProfileSettings:
    """How much each lens measures (``default()`` or ``quick()``)."""

    a_images: int = 4
    a_frames: int = 32
    b_inputs: int = 128
    b_diffeos: int = 2
    c_images: int = 4
    c_directions: int = 4
    c_points: int = 64
    c_alpha: float = 0.1
    d_scales: tuple[int, ...] = (1, 2, 3, 4)

    @classmethod
    def default(cls) -> ProfileSettings:
        return cls()

    @classmethod
    def quick(cls) -> ProfileSettings:
        return cls(
            a_images=2,
            a_frames=20,
            b_inputs=32,
            b_diffeos=1,
            c_images=1,
            c_directions=2,
            c_points=64,
            d_scales=(1, 2, 3),
        )

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["d_scales"] = list(self.d_scales)
        return d


@dataclass
class Profile:
    """The lenses' results for one model.

    Attributes:
        model: a description of the model (its spec or class name).
        inputs: a description of the inputs.
        seed: the seed of every random draw.
        settings: the :class:`ProfileSettings` used, as a dict.
        layers: the recorded layers (``"output"`` last).
        lenses: ``{"A": {...}, ...}`` as returned by the lens functions; a lens that does not
            apply holds ``{"applies": False, "reason": ...}``.
        seconds: wall time per lens.
    """

    model: str
    inputs: str
    seed: int
    settings: dict[str, Any]
    layers: list[str]
    lenses: dict[str, dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)

    def table(self) -> list[dict[str, Any]]:
        """One row per (lens, layer, metric): ``{lens, layer, metric, value, se}``."""
        rows: list[dict[str, Any]] = []
        for lens, metrics in METRICS.items():
            result = self.lenses.get(lens, {})
            for layer_row in result.get("layers", []):
                for metric, se_key in metrics:
                    rows.append(
                        {
                            "lens": lens,
                            "layer": layer_row["layer"],
                            "metric": metric,
                            "value": layer_row.get(metric, math.nan),
                            "se": layer_row.get(se_key, math.nan) if se_key else math.nan,
                        }
                    )
        d = self.lenses.get("D", {})
        if d.get("applies"):
            rows.append(
                {
                    "lens": "D",
                    "layer": OUTPUT,
                    "metric": "beta",
                    "value": d["beta"],
                    "se": d["beta_se"],
                }
            )
            for s, jump in zip(d["scales"], d["output_jump"], strict=True):
                rows.append(
                    {
                        "lens": "D",
                        "layer": OUTPUT,
                        "metric": f"jump_s{s}",
                        "value": jump,
                        "se": math.nan,
                    }
                )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": PROFILE_SCHEMA,
            "model": self.model,
            "inputs": self.inputs,
            "seed": self.seed,
            "settings": self.settings,
            "layers": self.layers,
            "lenses": self.lenses,
            "seconds": self.seconds,
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The profile as JSON text (written atomically to ``path`` when given)."""
        text = json.dumps(_jsonable(self.to_dict()), indent=1, allow_nan=False) + "\n"
        if path is not None:
            atomic_write_bytes(path, text.encode("utf-8"))
        return text

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """:meth:`table` as CSV text (written atomically to ``path`` when given)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["lens", "layer", "metric", "value", "se"])
        writer.writeheader()
        writer.writerows(self.table())
        text = buffer.getvalue()
        if path is not None:
            atomic_write_bytes(path, text.encode("utf-8"))
        return text

    def card(self, path: str | os.PathLike) -> Path:
        """Write the self-contained HTML profile card to ``path``."""
        path = Path(path)
        atomic_write_bytes(path, render_card([self]).encode("utf-8"))
        return path


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def load_profile(path: str | os.PathLike) -> Profile:
    """Read a profile written by :meth:`Profile.to_json` (one-line error on anything else)."""
    data = load_json(path)
    keys = ("schema", "model", "inputs", "seed", "settings", "layers", "lenses")
    if not isinstance(data, dict) or any(k not in data for k in keys):
        raise SmoothscopeError(f"{path}: expected a profile JSON written by smoothscope profile")
    if data["schema"] != PROFILE_SCHEMA:
        raise SmoothscopeError(f"{path}: profile schema {data['schema']!r} is not supported")
    lenses = data["lenses"]
    if not isinstance(lenses, dict):
        raise SmoothscopeError(f"{path}: expected lenses to be an object")
    for result in lenses.values():
        for row in result.get("layers", []) if isinstance(result, dict) else []:
            for key, value in list(row.items()):
                if key != "layer" and value is None:
                    row[key] = math.nan
    return Profile(
        model=str(data["model"]),
        inputs=str(data["inputs"]),
        seed=int(data["seed"]),
        settings=dict(data["settings"]),
        layers=list(data["layers"]),
        lenses=lenses,
        seconds=dict(data.get("seconds", {})),
    )


def _check_lenses(lenses: Sequence[str]) -> tuple[str, ...]:
    if isinstance(lenses, str):
        lenses = [p.strip() for p in lenses.split(",") if p.strip()]
    chosen = tuple(str(v).upper() for v in lenses)
    unknown = [v for v in chosen if v not in LENSES]
    if unknown or not chosen:
        raise SmoothscopeError(f"lenses: expected some of {', '.join(LENSES)}, got {list(lenses)}")
    if len(set(chosen)) != len(chosen):
        raise SmoothscopeError(f"lenses: expected each lens once, got {list(lenses)}")
    return chosen


def check_model_accepts(model: nn.Module, images: torch.Tensor) -> None:
    """Raise a one-line error unless ``model`` maps ``images[:2]`` to finite outputs."""
    trial = images[:2]
    try:
        with torch.no_grad():
            out = model.eval()(trial.to(_model_dtype(model)))
    except (RuntimeError, ValueError, TypeError, SmoothscopeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SmoothscopeError(
            f"model: does not accept inputs of shape {list(trial.shape)} ({first})"
        ) from exc
    out = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(out, torch.Tensor):
        raise SmoothscopeError(f"model: expected a tensor output, got {type(out).__name__}")
    if not bool(torch.isfinite(out).all()):
        raise SmoothscopeError(
            f"model: non-finite outputs (NaN or inf) on inputs of shape {list(trial.shape)}"
        )


def _model_dtype(model: nn.Module) -> torch.dtype:
    param = next(model.parameters(), None)
    return param.dtype if param is not None and param.is_floating_point() else torch.float32


def profile(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    lenses: Sequence[str] = LENSES,
    layers: Sequence[str] | None = None,
    seed: int = 0,
    quick: bool = False,
    settings: ProfileSettings | None = None,
    progress: bool = False,
    name: str | None = None,
    inputs_name: str = "given tensor",
) -> Profile:
    """Measure the lenses of ``model`` on ``inputs``, layer by layer.

    Args:
        model: any ``nn.Module`` taking ``[N, C, H, W]`` images (not modified: each lens works
            on a copy in eval mode).
        inputs: images ``[N, C, H, W]`` (lens B needs them square).
        lenses: any of ``"A"``, ``"B"``, ``"C"``, ``"D"``.
        layers: module names and/or ``"output"`` (default: :func:`.lenses.select_layers`).
        seed: seeds every random draw (trajectories, diffeomorphisms, noise, directions).
        quick: a rough profile (:meth:`ProfileSettings.quick`); ignored when ``settings`` given.
        settings: explicit sizes.
        progress: progress bars.
        name, inputs_name: descriptions stored in the profile.

    Returns:
        :class:`Profile`. Lens C on a model without parameters and lens D on a model that is
        not fully convolutional are recorded as not applying, with the reason.
    """
    if not isinstance(model, nn.Module):
        raise SmoothscopeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    x = as_tensor(inputs, "inputs")
    check_rank(x, (4,), "inputs", "[N, C, H, W]")
    check_finite(x, "inputs")
    if x.shape[0] < 2:
        raise SmoothscopeError(f"inputs: expected at least 2 images, got {x.shape[0]}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SmoothscopeError(f"seed: expected a non-negative integer, got {seed!r}")
    chosen = _check_lenses(lenses)
    settings = settings or (ProfileSettings.quick() if quick else ProfileSettings.default())
    names = select_layers(model, layers)
    x = x.to(torch.float32)
    check_model_accepts(model, x)
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for lens in chosen:
        start = time.perf_counter()
        if lens == "A":
            results["A"] = lens_a(
                model,
                x[: settings.a_images],
                names,
                frames=settings.a_frames,
                seed=seed,
                progress=progress,
            )
        elif lens == "B":
            results["B"] = lens_b(
                model,
                x[: settings.b_inputs],
                names,
                diffeos_per_input=settings.b_diffeos,
                seed=seed,
                progress=progress,
            )
        elif lens == "C":
            if next(model.parameters(), None) is None:
                results["C"] = {
                    "applies": False,
                    "reason": "the model has no parameters, so there are no weight-space paths",
                }
            else:
                results["C"] = lens_c(
                    model,
                    x[: settings.c_images],
                    names,
                    directions=settings.c_directions,
                    points=settings.c_points,
                    alpha=settings.c_alpha,
                    seed=seed,
                    progress=progress,
                )
        else:
            results["D"] = lens_d(model, x, scales=settings.d_scales, progress=progress)
        results[lens].setdefault("applies", True)
        seconds[lens] = time.perf_counter() - start
    return Profile(
        model=name or type(model).__name__,
        inputs=inputs_name,
        seed=seed,
        settings=settings.to_dict(),
        layers=names,
        lenses=results,
        seconds=seconds,
    )


@dataclass
class Comparison:
    """Two profiles side by side: per (lens, layer, metric) the values, ``b − a`` and its 95 %
    interval."""

    a: Profile
    b: Profile
    rows: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "differences": self.rows}

    def card(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        atomic_write_bytes(path, render_card([self.a, self.b], self.rows).encode("utf-8"))
        return path


def _layer_pairs(a: Profile, b: Profile) -> list[tuple[str, str]]:
    if a.layers == b.layers:
        return [(n, n) for n in a.layers]
    common = [n for n in a.layers if n in b.layers]
    if len(a.layers) == len(b.layers) and len(common) < len(a.layers):
        return list(zip(a.layers, b.layers, strict=True))  # same depth, other names: by position
    return [(n, n) for n in common]


def compare_profiles(a: Profile, b: Profile) -> Comparison:
    """Differences ``b − a`` of every metric both profiles measured, with 95 % intervals.

    Layers are matched by name, or by position when both have the same number of layers under
    other names. A difference with a standard error on each side gets the interval
    ``diff ± 1.96·√(se_a² + se_b²)``; ``covers_zero`` says whether 0 lies in it (an exact zero
    difference covers 0 whatever the interval). Metrics undefined in both profiles (h of exactly
    linear paths) are left out; one defined on one side only does not cover 0.
    """
    index_a = {(r["lens"], r["layer"], r["metric"]): r for r in a.table()}
    index_b = {(r["lens"], r["layer"], r["metric"]): r for r in b.table()}
    pairs = _layer_pairs(a, b)
    rows = []
    for lens_metric in {(k[0], k[2]) for k in index_a}:
        lens, metric = lens_metric
        for la, lb in pairs:
            ra, rb = index_a.get((lens, la, metric)), index_b.get((lens, lb, metric))
            if ra is None or rb is None:
                continue
            va, vb = _nan(ra["value"]), _nan(rb["value"])
            if not (math.isfinite(va) or math.isfinite(vb)):
                continue  # undefined on both sides (e.g. h of exactly linear paths)
            sa, sb = _nan(ra["se"]), _nan(rb["se"])
            diff = vb - va
            se = math.sqrt(sa**2 + sb**2)
            low, high = diff - Z95 * se, diff + Z95 * se
            covers = diff == 0 or (math.isfinite(se) and low <= 0 <= high)
            rows.append(
                {
                    "lens": lens,
                    "layer": la if la == lb else f"{la} → {lb}",
                    "metric": metric,
                    "a": va,
                    "b": vb,
                    "difference": diff,
                    "low": low,
                    "high": high,
                    "covers_zero": bool(covers),
                }
            )
    order = {n: i for i, n in enumerate(a.layers)}
    rows.sort(key=lambda r: (r["lens"], r["metric"], order.get(r["layer"].split(" → ")[0], 1e9)))
    return Comparison(a, b, rows)


def write_profile_dir(result: Profile | Comparison, out: str | os.PathLike) -> dict[str, str]:
    """Write ``profile.json``/``profile.csv`` (or ``comparison.json``) and ``card.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    if isinstance(result, Profile):
        files["json"] = str(out / "profile.json")
        result.to_json(files["json"])
        files["csv"] = str(out / "profile.csv")
        result.to_csv(files["csv"])
    else:
        files["json"] = str(out / "comparison.json")
        save_json(files["json"], _jsonable(result.to_dict()))
    files["card"] = str(result.card(out / "card.html"))
    return files
