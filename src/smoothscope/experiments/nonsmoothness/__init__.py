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
the toy examples).

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
from ...analysis.nonsmoothness import video_nonsmoothness
from ...models import SETUPS
from ...results import Claim
from ...sweep import run_stages
from .._base import ExperimentSpec, register_experiment
from .cells import (
    data_spec,
    kinked_control,
    load_tables,
    load_templates,
    object_mask,
    plan,
    smooth_test_videos,
    toy_examples,
)
from .cells import evaluate_cell as evaluate_cell
from .cells import train_cell as train_cell
from .claims import dataset_claims, toy_claims
from .config import LABELS
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
        videos = smooth_test_videos(spec)
        inputs = video_nonsmoothness(videos, factor=config.peak_factor)
        mask = object_mask(videos).flatten(1)
        object_share = ((inputs.n_peaks.flatten(1) > 0) & mask).sum(1) / mask.sum(1).clamp_min(1)
        tables: dict[str, Any] = {
            "input": {
                "ave_nonsmooth": inputs.ave_nonsmooth.numpy(),
                "peak_share": inputs.peak_share.numpy(),
                "object_peak_share": object_share.double().numpy(),
            }
        }
        for setup in SETUPS:
            tables[setup] = load_tables(root, eval_cells[dataset, setup])
        tables["control_input"] = kinked_control(dataset, spec, videos, config.peak_factor)
        claims += dataset_claims(dataset, config, tables)
        save_npz(
            run_dir / "arrays" / f"{dataset}.npz",
            input_ave_nonsmooth=tables["input"]["ave_nonsmooth"],
            input_peak_share=tables["input"]["peak_share"],
            input_object_peak_share=tables["input"]["object_peak_share"],
            **{
                f"{s}_{k}": tables[s][k]
                for s in SETUPS
                for k in ("ave_nonsmooth", "peak_share", "smp_mean", "mse")
            },
        )
        figures = dataset_figures(dataset, run_dir, videos[0], tables)
        measurements[dataset] = {
            "videos": int(videos.shape[0]),
            "frames": int(videos.shape[1]),
            "models_per_setup": config.n_models,
            "source": (
                load_templates(spec)[1] if dataset != "ellipsoid" else "rendered (paper A §IV-A)"
            ),
            "median_ave_nonsmooth": {
                LABELS[k]: float(np.median(tables[k]["ave_nonsmooth"])) for k in ("input", *SETUPS)
            },
            "share_of_pixels_with_a_peak": {
                LABELS[k]: float(np.mean(tables[k]["peak_share"])) for k in ("input", *SETUPS)
            },
            "input_share_of_object_pixels_with_a_peak": float(object_share.double().mean()),
            "reconstruction_mse": {LABELS[s]: float(np.mean(tables[s]["mse"])) for s in SETUPS},
            "input_video_variance": float(videos.var()),
            "control_input": tables["control_input"],
            "figures": figures,
        }
        data[f"{dataset} test videos"] = measurements[dataset]["source"]
    return {"claims": claims, "measurements": measurements, "data": data}


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
