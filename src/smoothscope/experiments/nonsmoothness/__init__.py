"""Experiment ``nonsmoothness``: ReLU + max pooling make autoencoder outputs nonsmooth in time.

Paper A, §IV (Figs. 4-6) on the ellipsoid under a moving light and Appendix A (Figs. 9-11) on
digits with a noise ramp. For each dataset and each of the two setups (ReLU + MaxPool,
Softplus + AvgPool) K autoencoders are trained (cells ``train``), every smooth test video is
reconstructed frame by frame by each of them (cells ``evaluate``), and AveNonSmooth (eq. 4),
peaks and SMP (§V-B) of inputs and reconstructions are compared. The toy examples of §III-B
(Figs. 1-3: ReLU vs softplus, max vs average pooling of eq. 3, and the two setups composed on a
smooth input) are computed and drawn as well.

Every claim's interval is over trained autoencoders, then videos, and every claim carries a
control through the same rule (Softplus+AvgPool compared with itself, the Softplus+AvgPool
setup in place of ReLU+MaxPool, inputs with a deliberate kink, softplus and average pooling in
the toy examples), and names the protocol-ledger fields its verdict depends on. The ellipsoid
videos are sampled at a recorded number of frames per unit of light-path length; the paper's
shading ``max(vᵀn, 0)`` has a kink where the shadow terminator crosses a pixel, so the ellipsoid
claims are made twice: on the videos as the paper defines them (kind "paper") and, as the
variant ``ellipsoid_blanked`` (kind "extension"), with those pixels blanked.

Layout: :mod:`.config` (the protocol and its scales), :mod:`.cells` (data, the units of work and
the plan), :mod:`.claims` (the claim rules with their controls), :mod:`.figures` (the figures
with their captions); this module runs them and registers the experiment.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_npz
from ...models import SETUPS
from ...results import Claim
from ...sweep import run_stages
from .._base import ExperimentSpec, register_experiment
from .cells import (
    VARIANTS,
    data_spec,
    iter_test_videos,
    kinked_control,
    light_paths,
    load_tables,
    load_templates,
    plan,
    toy_examples,
)
from .cells import evaluate_cell as evaluate_cell
from .cells import train_cell as train_cell
from .claims import dataset_claims, toy_claims
from .config import LABELS, runtime_protocol_values
from .config import NonsmoothnessConfig as NonsmoothnessConfig
from .figures import FIGURES as FIGURES
from .figures import dataset_figures, toy_figures

__all__ = ["FIGURES", "NonsmoothnessConfig", "evaluate_cell", "plan", "run", "train_cell"]


def run(
    config: NonsmoothnessConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Train, reconstruct, measure; write arrays and figures; return claims and measurements.

    The cells run through ``executor`` (default: in this process), the training stage first.
    """
    for dataset in config.datasets:  # fail fast on an unreadable MNIST / Fashion-MNIST
        if dataset != "ellipsoid":
            load_templates(data_spec(config, dataset))
    stages, eval_cells = plan(config)
    root = run_dir / "cells"
    run_stages(
        stages,
        ("training", "evaluation"),
        root,
        executor=executor,
        progress=progress,
        description="nonsmoothness",
    )
    toy = toy_examples()
    claims: list[Claim] = toy_claims(toy)
    measurements: dict[str, Any] = {
        "toy_examples": {
            name: {k: float(np.abs(v).max()) for k, v in curves.items() if k.startswith("d2_")}
            | {"figures": []}
            for name, curves in toy.items()
        }
    }
    measurements["toy_examples"]["fig1"]["figures"] = toy_figures(run_dir, toy)
    data: dict[str, str] = {}
    for dataset in config.datasets:
        spec = data_spec(config, dataset)
        first = next(iter_test_videos(spec))
        for prefix in VARIANTS.get(dataset, ("",)):
            name = dataset + ("_blanked" if prefix else "")
            tables: dict[str, Any] = {
                setup: load_tables(root, eval_cells[dataset, setup], prefix) for setup in SETUPS
            }
            tables["input"] = {
                key[len("input_") :]: value[0]
                for key, value in tables["relu_maxpool"].items()
                if key.startswith("input_")
            }
            tables["control_input"] = kinked_control(
                dataset, spec, first, config.peak_factor, blanked=bool(prefix)
            )
            claims += dataset_claims(name, config, tables)
            save_npz(
                run_dir / "arrays" / f"{name}.npz",
                **{f"input_{k}": v for k, v in tables["input"].items()},
                **{
                    f"{s}_{k}": tables[s][k]
                    for s in SETUPS
                    for k in ("ave_nonsmooth", "peak_share", "new_peak_share", "smp_mean", "mse")
                },
            )
            measurements[name] = _summary(config, tables, first)
            if dataset == "ellipsoid":
                measurements[name] |= {
                    "frames_per_unit": config.frames_per_unit,
                    "frames_per_video": [int(p.shape[0]) for p in light_paths(spec)],
                }
            if not prefix:
                measurements[name]["source"] = (
                    load_templates(spec)[1] if dataset != "ellipsoid" else _RENDERED
                )
                measurements[name]["figures"] = dataset_figures(dataset, run_dir, first, tables)
                data[f"{dataset} test videos"] = measurements[name]["source"]
    values = runtime_protocol_values()
    values["digit_template_source"] = "MNIST" if config.mnist_path else "scikit-learn digits"
    values["ave_nonsmooth_normalisation"] = "1/(MN(T−2))"
    return {
        "claims": claims,
        "measurements": measurements,
        "data": data,
        "protocol_values": values,
    }


_RENDERED = "rendered (paper A §IV-A)"


def _summary(config: NonsmoothnessConfig, tables: dict[str, Any], first) -> dict[str, Any]:
    """The measurements of one dataset (or variant): medians, shares, frame counts."""
    inputs = tables["input"]["ave_nonsmooth"]
    excess = {s: np.median(tables[s]["ave_nonsmooth"] - inputs) for s in SETUPS}
    totals = {s: np.median(tables[s]["ave_nonsmooth"]) for s in SETUPS}
    return {
        "videos": int(inputs.shape[0]),
        "frames_of_video_0": int(first.shape[0]),
        "models_per_setup": config.n_models,
        "median_ave_nonsmooth": {
            LABELS[k]: float(np.median(tables[k]["ave_nonsmooth"])) for k in ("input", *SETUPS)
        },
        "median_increase_over_input": {LABELS[s]: float(excess[s]) for s in SETUPS},
        "ratio_of_increases": float(excess["relu_maxpool"] / excess["softplus_avgpool"])
        if excess["softplus_avgpool"] > 0
        else float("inf"),
        "ratio_of_totals": float(totals["relu_maxpool"] / totals["softplus_avgpool"]),
        "share_of_pixels_with_a_peak": {
            LABELS[k]: float(np.mean(tables[k]["peak_share"])) for k in ("input", *SETUPS)
        },
        "share_of_pixels_with_a_new_peak": {
            LABELS[s]: float(np.mean(tables[s]["new_peak_share"])) for s in SETUPS
        },
        "input_share_of_object_pixels_with_a_peak": float(
            np.mean(tables["input"]["object_peak_share"])
        ),
        "reconstruction_mse": {LABELS[s]: float(np.mean(tables[s]["mse"])) for s in SETUPS},
        "control_input": tables["control_input"],
    }


register_experiment(
    ExperimentSpec(
        name="nonsmoothness",
        description="Paper A §IV + App. A: ReLU+MaxPool vs Softplus+AvgPool autoencoders on smooth "
        "ellipsoid and digit videos (AveNonSmooth, peaks, SMP)",
        config=NonsmoothnessConfig,
        run=run,
        figures=FIGURES,
    )
)
