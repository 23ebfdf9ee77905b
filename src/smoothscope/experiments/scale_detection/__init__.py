"""Experiment ``scale-detection``: spatial pooling and the scaling of D_k, G_k with A_k.

Paper B §3–4, Appendices A–C. Simple CNNs (K̃ layers of filter size F, stride 1 on task 1,
stride F on task 2, width H) are trained on the 1-D scale-detection tasks with SGD on the hinge
loss and weight decay on the filters until a multiple of the interpolation time (§4.3); a tanh
variant on task 1 (Appendix B); a zoo VGG on the 2-D task 1 (§3). For every trained network,
its initialisation and its mean-channel replacement, the experiment measures the effective
receptive field A_k from single-pixel inputs, D_k (the pixel moves of §3–4), G_k (rectified
noise for ReLU nets, §4.3) and R_k, fits log-log exponents of D_k and G_k against A_k and
compares them with the predictions (task 1: D ∝ A⁻², G ∝ A; task 2: D ∝ A⁻¹, G ∝ A; tanh: G
flat), and reports the test error, the mean filters (Tables C2, C3) and their spectra.

Where everything lives: :mod:`.config` (the protocol, scales, bounds and the families of
networks), :mod:`.cells` (training, measures and the plan), :mod:`.claims` (the predicted
exponents and the claim rules with their controls), :mod:`.figures` (each figure with its
caption); this module runs them, gathers the per-family tables and registers the experiment.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_json
from ...analysis.receptive_field import random_walk_width
from ...sweep import derive_seed, run_stages
from .._base import ExperimentSpec, register_experiment
from .._paper_b import as_table, fit_exponent
from .cells import measure_cell as measure_cell
from .cells import plan as plan
from .cells import train_cell as train_cell
from .claims import fit_range, scale_claims
from .config import ALL_VARIANTS, CLAIMS_N_BOOT
from .config import ScaleDetectionConfig as ScaleDetectionConfig
from .figures import FIGURES, draw_figures

__all__ = ["ScaleDetectionConfig", "measure_cell", "plan", "run", "train_cell"]


def _a(runs: list[dict[str, Any]]) -> np.ndarray:
    return np.array([[np.nan if w is None else w for w in r["A"]] for r in runs], dtype=np.float64)


def _mean_rows(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    """``[layers]`` mean over seeds of a quantity of the hidden layers, for the tables and
    figures only (a layer dead in one seed is NaN here; the claims count dead layers)."""
    values = np.array(
        [[np.nan if r[key] is None else r[key] for r in run["rows"][:-1]] for run in runs],
        dtype=np.float64,
    )
    return values.mean(axis=0) if values.size else values


def _geo_ratio(runs: list[dict[str, Any]], q: str = "D") -> float:
    """Geometric mean over networks of ``q_K / q_1`` (last over first hidden layer)."""
    ratios = [r["rows"][-2][q] / r["rows"][0][q] for r in runs]
    with np.errstate(all="ignore"):
        return float(np.exp(np.mean(np.log(np.asarray(ratios, dtype=np.float64)))))


def _table(fam: dict[str, Any]) -> dict[str, Any]:
    """The per-family table of the measurements (means over seeds, training records, fits)."""
    train = fam["train"]
    table: dict[str, Any] = {
        "A": _a(fam["trained"]).mean(axis=0).tolist(),
        "A_init": _a(fam["init"]).mean(axis=0).tolist(),
        "fit_layers": fit_range(fam),
        **{
            key: [t.get(key) for t in train]
            for key in (
                "test_error",
                "init_test_error",
                "val_error",
                "train_error",
                "interpolation_epoch",
                "stop_epoch",
                "epochs",
                "capped",
            )
        },
    }
    for variant in ALL_VARIANTS:
        if fam[variant]:
            table[variant] = {q: _mean_rows(fam[variant], q).tolist() for q in "DGR"}
            table[variant]["relative_depth"] = [
                r["relative_depth"] for r in fam[variant][0]["rows"][:-1]
            ]  # the hidden layers, as the D, G, R rows above
            table[variant]["output"] = {q: [r["rows"][-1][q] for r in fam[variant]] for q in "DGR"}
    if fam["init-other-bias"]:  # D_K / D_1 at initialisation, biases on and off
        bias = bool((fam.get("net") or {}).get("bias", False))
        table["init_D_last_over_first"] = {
            "with biases" if bias else "without biases": _geo_ratio(fam["init"]),
            "without biases" if bias else "with biases": _geo_ratio(fam["init-other-bias"]),
        }
    table["exponents"] = _exponent_table(fam)
    table["mean_filters"] = {v: fam[v][0]["mean_filters"] for v in ("init", "trained")}
    table["spectra"] = {v: fam[v][0]["spectra"] for v in ("init", "trained")}
    return table


def _exponent_table(fam: dict[str, Any]) -> dict[str, Any]:
    """Slopes of log q_k over the fitted layers against the measured A_k and against the
    theoretical abscissa (√k or F^k), trained and at initialisation (figures and docs)."""
    if fam.get("net") is None:
        return {}
    k = fit_range(fam)
    a = _a(fam["trained"])[:, :k]
    stride = fam["net"].get("stride", 1)
    layers = np.arange(1, k + 1, dtype=np.float64)
    theory = np.broadcast_to(stride**layers if stride > 1 else np.sqrt(layers), a.shape)
    out: dict[str, Any] = {}
    for variant in ("trained", "init"):
        for q in "DGR":
            t = as_table(fam[variant], q)[:, :k]
            for label, x in (("A", a), ("theory", theory)):
                f = fit_exponent(x, t)
                out[f"{variant}.{q}.{label}"] = [f.value, f.low, f.high]
    return out


def run(
    config: ScaleDetectionConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Train, measure, fit exponents; claims, tables and figures."""
    stages, index = plan(config)
    root = run_dir / "cells"
    summaries = run_stages(
        stages,
        ("training", "measures"),
        root,
        executor=executor,
        progress=progress,
        description="scale-detection",
    )
    specs = config.tasks()
    families: dict[str, dict[str, Any]] = {}
    for (name, _s), cells in index.items():
        fam = families.setdefault(
            name,
            {
                "train": [],
                "net": specs[name].get("net"),
                "fit_layers": specs[name].get("fit_layers"),
                **{v: [] for v in ALL_VARIANTS},
            },
        )
        fam["train"].append(summaries[cells["train"].id])
        for variant in ALL_VARIANTS:
            if variant in cells:
                fam[variant].append(summaries[cells[variant].id])
    tables = {name: _table(fam) for name, fam in families.items()}
    if "task1" in tables:
        k = np.arange(1, len(tables["task1"]["A"]) + 1)
        tables["task1"]["random_walk_A"] = random_walk_width(k, config.t1_filter).tolist()
    claims = scale_claims(
        families, n_boot=CLAIMS_N_BOOT, seed=derive_seed(config.seed, "scale-claims")
    )
    measurements = {"families": tables, "figures": draw_figures(run_dir, tables)}
    # recorded for the report's undertraining banner: two balanced classes (cells._data)
    measurements["chance_error"] = 0.5
    save_json(run_dir / "arrays" / "scale_detection_tables.json", measurements)
    return {
        "claims": claims,
        "measurements": measurements,
        "data": {"training and measures": "scale-detection tasks 1 and 2 (generated, embedded)"},
    }


register_experiment(
    ExperimentSpec(
        name="scale-detection",
        description="Paper B §3–4: scale-detection tasks, simple CNNs, D_k and G_k vs the "
        "effective "
        "receptive field, mean channels, tanh",
        config=ScaleDetectionConfig,
        run=run,
        figures=FIGURES,
    )
)
