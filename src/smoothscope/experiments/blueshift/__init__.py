"""Experiment ``blueshift``: harmonic distortion of weight-to-output paths (paper C).

Paths ``p(t) = f(x, W + r·t·D)`` (eq. 1 with ``α⁻¹ = r``, the sampling radius), random unit
directions D, at initialisation, on real images (:func:`smoothscope.data.real.load_images`:
CIFAR-10 when given, else Fashion-MNIST, else the digits) with their labels for the loss.
Every configuration is initialised ``inits`` times and walked in ``directions`` directions per
initialisation (the paper: 50 × 20); every claim's interval is a two-level bootstrap over
initialisations, then directions within them.

``h`` is measured twice per path (:func:`smoothscope.analysis.spectra.estimate_h`): the
boundary-free taper estimator, which decides the claims, and the paper's raw-DFT convention
(capped near 1 by the jump where the path's periodic copies meet), reported beside it. Figs. 1,
4 and 5 use the path of the loss, as the paper does; the others the network output (or every
unit, Fig. 3). See ``docs/blueshift.md`` for the protocol and what each scale can decide.

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
from .cells import fig12_cell, h_table
from .cells import path_cell as path_cell
from .cells import plan as plan
from .cells import train_cell as train_cell
from .cells import training_path_cell as training_path_cell
from .claims import blueshift_claims
from .config import CHEBYSHEV, LINEAR
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

    def mean(name: str, layer: str, key: str) -> float:
        t = h_table(s[name], layer, key)
        return float(np.nanmean(t)) if np.isfinite(t).any() else float("nan")

    table = {
        name: {
            layer: {
                "h": mean(name, layer, "h"),
                "h_paper": mean(name, layer, "h_paper"),
                "fitted": sum(k == "fitted" for row in v["kind"] for k in row),
                "paths": sum(len(row) for row in v["kind"]),
            }
            for layer, v in summary["layers"].items()
            if layer != "band_drop"
        }
        for name, summary in s.items()
        if "layers" in summary
    }
    depths = list(config.toy_depths)
    measurements = {
        "h": table,
        "h_vs_depth": {
            "depths": depths,
            **{
                variant: [table[f"toy-depth{d}-{variant}"][P.LOSS]["h"] for d in depths]
                for variant in ("noshort", "short", "linear")
            },
        },
        "trainability": [{"label": n, **v} for n, v in s.items() if n.startswith("train ")],
        "during_training": {  # Fig. 11: mean h per unit, by checkpoint epoch and radius
            n.removeprefix("trained-"): {
                "radii": v["radii"],
                "train_accuracy": v["train_accuracy"],
                "h": {
                    key: {layer: _nanmean(row) for layer, row in per_layer.items()}
                    for key, per_layer in v["h"].items()
                },
            }
            for n, v in s.items()
            if n.startswith("trained-")
        },
        "delta_orthogonal": {  # Fig. 12: mean h of the last unit by radius
            act: {
                f"{r:g}": table[fig12_cell(act, r)][f"units.unit{config.toy_units}"]["h"]
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
