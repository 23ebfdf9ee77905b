"""``profile(model, inputs)``: the four papers' lenses on one model.

A :class:`Profile` holds, per lens, one row per layer (see :mod:`.lenses`) with standard errors
over the lens's replicates, what was measured (model, weights file and its sha256, inputs,
seed, settings, the output analysed) and reads as a table (:meth:`Profile.table`, a pandas
DataFrame with :meth:`Profile.to_dataframe`), an HTML summary in a notebook, a figure
(:meth:`Profile.plot`) or a card. :mod:`.compare` puts profiles side by side.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._errors import SmoothscopeError
from .._io import _jsonable, atomic_write_bytes
from .._validate import as_tensor, check_finite, check_rank
from ..models.adapter import OUTPUT, OutputSelector, adapt_model
from .card import figure, profile_html, render_card
from .lenses import METRICS, lens_a, lens_b, lens_c, lens_d

__all__ = [
    "LENSES",
    "Profile",
    "ProfileSettings",
    "profile",
    "to_dataframe",
]

LENSES = ("A", "B", "C", "D")
PROFILE_SCHEMA = 2
"""Layout of ``profile.json``: 2 adds ``output``, ``notes``, ``weights`` and ``inputs_source``
(schema 1 files are read too)."""
TABLE_COLUMNS = ("lens", "layer", "metric", "value", "se")


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


def to_dataframe(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None):
    """``rows`` as a pandas DataFrame (pandas is the optional extra ``[pandas]``)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise SmoothscopeError(
            "to_dataframe: expected the optional dependency pandas, which is not installed; "
            "run: pip install 'smoothscope[pandas]' (or use .table(), a list of dicts)"
        ) from exc
    return pd.DataFrame(list(rows), columns=list(columns) if columns else None)


@dataclass
class Profile:
    """The lenses' results for one model.

    Attributes:
        model: a description of the model (its spec or class name).
        inputs: a description of the inputs.
        seed: the seed of every random draw.
        settings: the :class:`ProfileSettings` used, as a dict.
        layers: the recorded layers (``"output"`` last when recorded).
        lenses: ``{"A": {...}, ...}`` as returned by the lens functions; a lens that does not
            apply holds ``{"applies": False, "reason": ...}``.
        seconds: wall time per lens.
        output: the output analysed (``"tensor"``, or the entry of a tuple or dict).
        notes: what the adapter chose by default or skipped.
        weights: ``{"path", "sha256"}`` of the ``state_dict`` file, when one was loaded.
        inputs_source: ``{"source", "path", "sha256", ...}`` of the inputs, when known.
    """

    model: str
    inputs: str
    seed: int
    settings: dict[str, Any]
    layers: list[str]
    lenses: dict[str, dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)
    output: str = "tensor"
    notes: list[str] = field(default_factory=list)
    weights: dict[str, Any] | None = None
    inputs_source: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """The model, with its weights file when it has one (``lenet [w0.pt]``)."""
        if self.weights and self.weights.get("path"):
            return f"{self.model} [{Path(str(self.weights['path'])).name}]"
        return self.model

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
                            "value": _nan(layer_row.get(metric)),
                            "se": _nan(layer_row.get(se_key)) if se_key else math.nan,
                        }
                    )
        d = self.lenses.get("D", {})
        if d.get("applies"):
            rows.append(
                {
                    "lens": "D",
                    "layer": OUTPUT,
                    "metric": "beta",
                    "value": _nan(d["beta"]),
                    "se": _nan(d["beta_se"]),
                }
            )
            for s, jump in zip(d["scales"], d["output_jump"], strict=True):
                rows.append(
                    {
                        "lens": "D",
                        "layer": OUTPUT,
                        "metric": f"jump_s{s}",
                        "value": _nan(jump),
                        "se": math.nan,
                    }
                )
        return rows

    def to_dataframe(self):
        """:meth:`table` as a pandas DataFrame, with the model and seed as columns (pandas is
        the optional extra ``[pandas]``)."""
        rows = [{"model": self.label, "seed": self.seed, **r} for r in self.table()]
        return to_dataframe(rows, ("model", "seed", *TABLE_COLUMNS))

    def plot(self, lens: str | None = None):
        """A matplotlib Figure of one lens per layer (``"A"`` … ``"D"``), or of every measured
        lens (one row each) when ``lens`` is None; 95 % error bars."""
        return figure([self], lens)

    def _repr_html_(self) -> str:
        return profile_html(self)

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
            "output": self.output,
            "notes": self.notes,
            "weights": self.weights,
            "inputs_source": self.inputs_source,
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
        writer = csv.DictWriter(buffer, fieldnames=list(TABLE_COLUMNS))
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


def profile(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    lenses: Sequence[str] = LENSES,
    layers: Sequence[str] | str | None = None,
    output: OutputSelector = None,
    seed: int = 0,
    quick: bool = False,
    settings: ProfileSettings | None = None,
    progress: bool = False,
    name: str | None = None,
    inputs_name: str = "given tensor",
    weights: Mapping[str, Any] | None = None,
    inputs_source: Mapping[str, Any] | None = None,
) -> Profile:
    """Measure the lenses of ``model`` on ``inputs``, layer by layer.

    Args:
        model: any ``nn.Module`` taking ``[N, C, H, W]`` images (not modified: each lens works
            on a copy in eval mode).
        inputs: images ``[N, C, H, W]`` (any H × W).
        lenses: any of ``"A"``, ``"B"``, ``"C"``, ``"D"``.
        layers: module names, patterns (``"layer*"``) and/or ``"output"``, or a predicate
            ``layers(name, module) -> bool``; default: the model's ``representation_layers()``,
            else its top-level children and the output
            (:func:`smoothscope.models.adapter.default_layers`).
        output: the tensor analysed when the model returns a tuple, list or dict: an index, a
            key or a callable (default: the first tensor, with a note).
        seed: seeds every random draw (trajectories, diffeomorphisms, noise, directions).
        quick: a rough profile (:meth:`ProfileSettings.quick`); ignored when ``settings`` given.
        settings: explicit sizes.
        progress: progress bars.
        name, inputs_name: descriptions stored in the profile.
        weights, inputs_source: provenance stored in the profile (the CLI gives the weights
            file's path and sha256 and the inputs' source).

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
    x = x.to(torch.float32)
    adapted = adapt_model(model, x, output=output, layers=layers)
    evaluated, names = adapted.module, adapted.layers
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for lens in chosen:
        start = time.perf_counter()
        if lens == "A":
            results["A"] = lens_a(
                evaluated,
                x[: settings.a_images],
                names,
                frames=settings.a_frames,
                seed=seed,
                progress=progress,
            )
        elif lens == "B":
            results["B"] = lens_b(
                evaluated,
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
                    evaluated,
                    x[: settings.c_images],
                    names,
                    directions=settings.c_directions,
                    points=settings.c_points,
                    alpha=settings.c_alpha,
                    seed=seed,
                    progress=progress,
                )
        else:
            results["D"] = lens_d(evaluated, x, scales=settings.d_scales, progress=progress)
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
        output=adapted.output,
        notes=list(adapted.notes),
        weights=dict(weights) if weights else None,
        inputs_source=dict(inputs_source) if inputs_source else None,
    )
