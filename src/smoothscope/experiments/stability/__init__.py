"""Experiment ``stability``: sensitivity to diffeomorphisms and noise, layer by layer (paper B §2).

Architectures of the zoo are trained with the recipe of paper B §2 (SGD with momentum, weight
decay, a cosine schedule, random crops and flips; the code of :mod:`.training`) on a real image
dataset found offline
(:func:`smoothscope.data.real.load_images` with ``"auto"``: CIFAR-10 when the user gives it,
else Fashion-MNIST zero-padded to 32 × 32, else scikit-learn's digits). For each trained
network, its initialisation, its channel-shuffled version and the channel-shuffled
initialisation, D_k, G_k and R_k (eq. 1) are measured at every internal representation on
held-out images; filter spectra (eq. 3, B.1, Fig. C5) are compared at initialisation and after
training; the test error is correlated with D_f, G_f and R_f of the output across networks
(Fig. 1 / C1), with the same correlation at initialisation as its control (the paper: "this
correlation is learned over training—as it is not seen at initialization").

Where everything lives: :mod:`.config` (the protocol, scales and bounds), :mod:`.cells`
(training, measures and the plan), :mod:`.claims` (the claim rules with their controls),
:mod:`.figures` (each figure with its caption); this module runs them and registers the
experiment.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_json
from ...data.real import resolve_dataset
from ...sweep import derive_seed, run_stages
from .._base import ExperimentSpec, register_experiment
from .cells import analyse_cell as analyse_cell
from .cells import plan as plan
from .cells import train_cell as train_cell
from .claims import error_correlation_vs_noise, stability_claims
from .config import VARIANTS
from .config import StabilityConfig as StabilityConfig
from .figures import FIGURES, draw_figures, noise_figure

__all__ = ["StabilityConfig", "analyse_cell", "plan", "run", "train_cell"]


def run(
    config: StabilityConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Train, measure, aggregate: claims, tables and figures."""
    stages, index = plan(config)
    info = resolve_dataset(config.dataset, config.data_dir)
    root = run_dir / "cells"
    summaries = run_stages(
        stages,
        ("training", "measures"),
        root,
        executor=executor,
        progress=progress,
        description="stability",
    )
    for summary in summaries.values():  # JSON stores the NaN of dead layers as null
        for row in summary.get("rows", ()):
            row.update({k: np.nan for k, v in row.items() if v is None})
    nets = []
    for (eta, arch, s), cells in index.items():
        train = summaries[cells["train"].id]
        nets.append(
            {
                "input_noise": eta,
                "architecture": arch,
                "seed": s,
                "test_error": train["test_error"],
                "train_error": train.get("train_error"),
                "best_epoch": train.get("best_epoch"),
                "init_test_error": train["init_test_error"],
                **{v: summaries[cells[v].id] for v in VARIANTS if v in cells},
            }
        )
    eta0 = min(config.input_noise)
    clean = [n for n in nets if n["input_noise"] == eta0]
    claims = stability_claims(
        clean,
        n_boot=config.n_boot,
        seed=derive_seed(config.seed, "stability-claims"),
        correlation=config.correlation,
    )
    by_noise = error_correlation_vs_noise(nets, config.input_noise)
    measurements = {
        "networks": [{k: v for k, v in n.items()} for n in nets],
        "error_correlation_vs_noise": by_noise,
        "figures": draw_figures(run_dir, clean, 1.0 - 1.0 / len(info.classes))
        + noise_figure(run_dir, by_noise),
        # recorded for the report's undertraining banner: the test error of a uniform guess
        "chance_error": 1.0 - 1.0 / len(info.classes),
    }
    save_json(run_dir / "arrays" / "stability_tables.json", measurements)
    source = f"{info.name} ({info.source})"
    return {
        "claims": claims,
        "measurements": measurements,
        "data": {"training": source, "test and measures": source},
        "protocol_values": {"dataset": info.name},
    }


register_experiment(
    ExperimentSpec(
        name="stability",
        description="Paper B §2: D, G, R layer by layer for the model zoo on digits, channel "
        "shuffling, filter spectra, test error vs sensitivities",
        config=StabilityConfig,
        run=run,
        figures=FIGURES,
    )
)
