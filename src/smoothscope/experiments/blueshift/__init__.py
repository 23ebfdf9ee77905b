"""Experiment ``blueshift``: harmonic distortion of weight-to-output paths (paper C).

Paths ``p(t) = f(x, W + r·t·D)`` (eq. 1 with ``α⁻¹ = r``, the sampling radius, 1 by default:
"around initialisation"), random unit directions D, at initialisation, on real images
(:func:`smoothscope.data.real.load_images`: CIFAR-10 when given, else Fashion-MNIST, else the
digits) with their labels for the loss. Every configuration is initialised ``inits`` times and
walked in ``directions`` directions per initialisation (the paper: 50 × 20); every claim's
interval is a two-level bootstrap over initialisations, then directions within them.

Each paper claim reads what the paper reads: the average of the paths' raw-DFT spectra (each
normalised by its norm), by its power-law ``h``, its mean frequency or its high-band share
(:mod:`smoothscope.analysis.spectral_shape`); Figs. 1, 4, 5 and 15 read the outputs before the
softmax (App. A), with the loss beside them. The boundary-free taper ``h``
(:func:`smoothscope.analysis.spectra.estimate_h`) stands beside each paper claim as an
``extension`` claim. The run's protocol ledger (:data:`BlueshiftConfig.PROTOCOL`) records every
field the paper fixes. See ``docs/blueshift.md`` for the protocol and what each scale decides.

Layout: :mod:`.config` (the config, scales, bounds and the protocol's constants), :mod:`.cells`
(the units of work and :func:`plan`), :mod:`.claims` (the rules and their controls, on the
statistics of :mod:`.bootstrap`), :mod:`.figures` (every figure with its caption); this module
runs them and registers the experiment. The cell functions are re-exported here: a cell names
its function ``smoothscope.experiments.blueshift:<name>``, and that path is part of its id.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_json
from ...analysis import chebyshev as C
from ...analysis import paths as P
from ...data.real import resolve_dataset
from ...sweep import run_cells
from .._base import ExperimentSpec, register_experiment
from .cells import band_correlation as band_correlation
from .cells import fig12_cell, radius_cell
from .cells import path_cell as path_cell
from .cells import plan as plan
from .cells import train_cell as train_cell
from .cells import training_path_cell as training_path_cell
from .claims import blueshift_claims
from .config import ACTIVATIONS, CHEBYSHEV, LINEAR, RUNTIME_VALUES
from .config import SWEEP_VARIANTS as SWEEP_VARIANTS
from .config import BlueshiftConfig as BlueshiftConfig
from .figures import FIGURES, blueshift_figures

__all__ = [
    "SWEEP_VARIANTS",
    "BlueshiftConfig",
    "band_correlation",
    "path_cell",
    "plan",
    "run",
    "train_cell",
    "training_path_cell",
]


def _nanmean(values: list) -> float | None:
    a = np.array([np.nan if v is None else v for v in values], float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else None


def run(
    config: BlueshiftConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Sample all paths, fit h, compare configurations; claims and figures."""
    info = resolve_dataset(config.dataset, config.data_dir)
    stages, cells = plan(config)
    summaries = run_cells(
        stages[0],
        run_dir / "cells",
        executor=executor,
        progress=progress,
        description="blueshift paths",
    )
    s = {name: summaries[cell.id] for name, cell in cells.items()}
    claims = blueshift_claims(config, s)
    chebyshev = {}
    for name in CHEBYSHEV:
        decay = C.coefficient_decay(name, interval=(-5, 5), degree=25)
        chebyshev[name] = {
            "magnitudes": decay.magnitudes.tolist(),
            "geometric_rate": decay.geometric_rate,
            "algebraic_exponent": decay.algebraic_exponent,
        }

    table = {
        name: {
            layer: {
                "h": _nanmean([v for row in entry["h"] for v in row]),
                "h_paper": entry["h_paper"],
                "mean_frequency": entry["mean_frequency"],
                "fitted": sum(k == "fitted" for row in entry["kind"] for k in row),
                "paths": sum(len(row) for row in entry["kind"]),
            }
            for layer, entry in summary["layers"].items()
        }
        for name, summary in s.items()
        if "layers" in summary
    }
    depths = list(config.toy_depths)
    last = f"units.unit{config.toy_units}"
    sweep = sorted({config.radius, *config.radius_sweep})

    def swept(act: str, r: float) -> str:
        return f"toy-{act}" if r == config.radius else radius_cell(act, r)

    measurements = {
        "h": table,
        "h_vs_depth": {  # Fig. 5: h of the averaged raw spectrum of each output
            "depths": depths,
            **{
                f"{variant}_{layer}": [
                    table[f"toy-depth{d}-{variant}"][layer]["h_paper"] for d in depths
                ]
                for variant in ("noshort", "short", "linear")
                for layer in (P.OUTPUT, P.LOSS)
            },
        },
        "radius_sweep": {  # the Fig. 3 Toy-CNNs' last unit at every radius
            "radii": sweep,
            **{
                act: {
                    key: [table[swept(act, r)][last][key] for r in sweep]
                    for key in ("mean_frequency", "h_paper", "h")
                }
                for act in (*ACTIVATIONS, LINEAR)
            },
        }
        if config.radius_sweep
        else {},
        "trainability": [{"label": n, **v} for n, v in s.items() if n.startswith("train ")],
        "during_training": {  # Fig. 11: h per unit, by checkpoint epoch and radius
            n.removeprefix("trained-"): {
                "radii": v["radii"],
                "train_accuracy": v["train_accuracy"],
                "h": v["h"],
                "h_paper": v["h_paper"],
            }
            for n, v in s.items()
            if n.startswith("trained-")
        },
        "delta_orthogonal": {  # Fig. 12: the last unit by radius
            act: {
                f"{r:g}": {
                    key: table[fig12_cell(act, r)][last][key] for key in ("h_paper", "h")
                }
                for r in config.delta_radii
            }
            for act in ("tanh", LINEAR)
        },
        "chebyshev": chebyshev,
        "replicates": {"initialisations": config.inits, "directions": config.directions},
    }
    measurements["figures"] = blueshift_figures(run_dir, config, cells, s, measurements)
    save_json(run_dir / "arrays" / "blueshift_tables.json", measurements)
    return {
        "claims": claims,
        "measurements": measurements,
        "data": {"images": f"{info.name} ({info.source})"},
        "protocol_values": {"dataset_found": info.name, **RUNTIME_VALUES},
    }


register_experiment(
    ExperimentSpec(
        name="blueshift",
        description="Paper C: blueshift of weight-space paths, h vs depth, shortcuts, activations, "
        "v1/v2, feature averaging, Chebyshev coefficients, trainability",
        config=BlueshiftConfig,
        run=run,
        figures=FIGURES,
    )
)
