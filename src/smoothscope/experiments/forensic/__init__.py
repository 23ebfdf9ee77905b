"""Experiment ``forensic``: detect that a video went through a network (paper A, Fig. 7, built).

Paper A's Fig. 7 proposes, without building it, to detect a "processing unit" (a neural
network) from the nonsmoothness it leaves in an authentic smooth video. Here:

1. cells ``train``: one network per family (:mod:`smoothscope.forensic.processors`) is trained
   on frames of authentic videos; the same network at initialisation is kept too;
2. cells ``features``: per content, authentic smooth videos
   (:mod:`smoothscope.forensic.videos`) are passed through every network (at init and
   trained) and through the smooth non-network processings (labelled authentic); the
   nonsmoothness features (:func:`smoothscope.forensic.features.video_features`) and the DCT
   baseline features (:func:`smoothscope.forensic.baseline.dct_features`) of every video are
   stored, also after each robustness perturbation of the test half;
3. aggregation (:func:`run`): detectors (standardisation + logistic regression) are fitted on a
   training split and scored on videos of source videos they never saw: leave-one-family-out,
   a held-out content (photographs), and the same split with all families for the robustness
   curves.

Where everything lives:

* :mod:`.config`: :class:`ForensicConfig`, its scales and bounds;
* :mod:`.cells`: the video pipeline (training frames, variants, perturbations), the features of
  a batch of videos, the two cells, :func:`plan`, and the reader of the feature cells;
* :mod:`.claims`: the detectors on a split, ROC-AUCs with intervals, and the claim rules
  (``kind="extension"``) with their controls in ``CLAIM_RULES``, fixed before the first run
  (docs/forensic.md);
* :mod:`.figures`: every figure with its caption;
* here: :func:`run` (the splits) and :func:`fit_default_detector` (``smoothscope forensic fit``).
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_npz
from ...forensic.detector import Detector, fit_detector
from ...forensic.features import FEATURE_NAMES
from ...forensic.videos import FASHION_DIR
from ...sweep import Cell, derive_seed, run_stages
from .._base import ExperimentSpec, register_experiment
from .cells import features_cell as features_cell
from .cells import load_table, perturbation_names, plan
from .cells import train_cell as train_cell
from .claims import CLAIM_RULES as CLAIM_RULES
from .claims import auc_summary, build_claims, fit_fold
from .config import PERTURBATIONS as PERTURBATIONS
from .config import ForensicConfig as ForensicConfig
from .figures import FIGURES, draw_figures

__all__ = [
    "CLAIM_RULES",
    "ForensicConfig",
    "features_cell",
    "fit_default_detector",
    "run",
    "train_cell",
]


def run(
    config: ForensicConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Train the networks, extract features, fit and evaluate the detectors; claims + figures."""
    stages, feature_cells, contents, variants = plan(config)
    root = run_dir / "cells"
    run_stages(
        stages,
        ("training", "features"),
        root,
        executor=executor,
        progress=progress,
        description="forensic",
    )
    table = load_table(root, feature_cells, contents)
    is_net = np.array([v.startswith("net:") for v in variants])
    family_of = np.array([v.split(":")[1] if v.startswith("net:") else "" for v in variants])
    labels = is_net[table.variant]
    family = family_of[table.variant]
    clean = table.pert == 0
    seed = derive_seed(config.seed, "evaluate")
    measurements: dict[str, Any] = {"contents": contents, "variants": variants}

    # leave-one-family-out: train on the train half without the family, test on the test half
    lofo: dict[str, dict[str, dict[str, Any]]] = {}
    lofo_shuffled: dict[str, dict[str, Any]] = {}
    for f in config.families:
        train = clean & ~table.test & (family != f)
        test = clean & table.test & (~labels | (family == f))
        lofo[f] = {
            k: fit_fold(table, labels, train, test, k, config, seed=seed)
            for k in ("ns", "dct", "both")
        }
        lofo_shuffled[f] = fit_fold(
            table, labels, train, test, "ns", config, shuffle=True, seed=seed + 1
        )
    measurements["leave_one_family_out"] = {
        f: {k: auc_summary(v, config, seed + 2) for k, v in folds.items()}
        for f, folds in lofo.items()
    }

    # content split: train on every other content (both halves), test on the held-out content
    held = contents.index(config.holdout_content)
    train = clean & (table.content != held)
    test = clean & (table.content == held)
    content = {
        k: fit_fold(table, labels, train, test, k, config, seed=seed) for k in ("ns", "dct", "both")
    }
    content_shuffled = fit_fold(
        table, labels, train, test, "ns", config, shuffle=True, seed=seed + 1
    )
    content_permuted = fit_fold(table, labels, train, test, "both_permuted", config, seed=seed + 3)
    measurements["content_split"] = {
        k: auc_summary(v, config, seed + 2) for k, v in content.items()
    }

    # all families, train half → test half, clean and perturbed (robustness)
    perturbations = ["none", *perturbation_names(feature_cells[0].config)]
    augmented = np.isin(table.pert, [perturbations.index(a) for a in config.augment])
    train = clean & ~table.test
    detectors = {
        "ns": ("ns", train),
        "ns_augmented": ("ns", train | (augmented & ~table.test)),
        "dct": ("dct", train),
    }
    robustness = []
    for pi, name in enumerate(perturbations):
        test = (table.pert == pi) & table.test
        for kind, (features, rows) in detectors.items():
            fold = fit_fold(table, labels, rows, test, features, config, seed=seed)
            robustness.append(
                {"perturbation": name, "kind": kind, **auc_summary(fold, config, seed + 2)}
            )
    measurements["robustness"] = robustness

    # the videos' own nonsmoothness (AveNonSmooth, eq. 4; share of pixels with a peak)
    share = table.ns[:, FEATURE_NAMES.index("peak_share")]
    measurements["nonsmoothness_by_variant"] = {
        contents[ci]: {
            v: {
                "median_ave_nonsmooth": float(np.median(table.ave[sel])),
                "mean_peak_share": float(share[sel].mean()),
            }
            for vi, v in enumerate(variants)
            if (sel := clean & (table.content == ci) & (table.variant == vi)).any()
        }
        for ci in range(len(contents))
    }

    claims = build_claims(
        config, lofo, lofo_shuffled, content, content_shuffled, content_permuted, seed
    )
    figures = draw_figures(
        run_dir,
        lofo=lofo,
        content=content,
        holdout_content=config.holdout_content,
        robustness=robustness,
        maps=table.maps,
        variants=variants,
    )
    measurements["figures"] = figures
    save_npz(
        run_dir / "arrays" / "features.npz",
        ns=table.ns,
        ave=table.ave,
        variant=table.variant,
        source=table.source,
        perturbation=table.pert,
        content=table.content,
        test=table.test,
        feature_names=np.array(FEATURE_NAMES),
        variants=np.array(variants),
        contents=np.array(contents),
    )
    fashion = config.fashion_dir or FASHION_DIR
    data = {
        "authentic": "ellipsoid (rendered), scikit-learn digits, noise ramps, scikit-learn "
        "sample photos (embedded)",
        "fashion": f"Fashion-MNIST test split ({fashion})" if "fashion" in contents else "absent",
    }
    return {"claims": claims, "measurements": measurements, "data": data}


def fit_default_detector(
    config: ForensicConfig,
    work_dir: Path,
    *,
    executor: Executor | None = None,
    progress: bool = True,
) -> Detector:
    """The detector of ``smoothscope forensic fit``: trained on every clean video of the
    protocol ``config`` (all contents, all source videos, all families), no perturbation.

    The networks and features are computed as cells under ``work_dir`` (reused when present).
    """
    stages, feature_cells, contents, variants = plan(config)
    no_robustness = {"snrs": [], "jpeg_qualities": [], "subsample_factors": []}
    feature_cells = [
        Cell(c.fn, {**c.config, **no_robustness}, label=c.label, threads=c.threads)
        for c in feature_cells
    ]
    stages = [stages[0], feature_cells]
    perturbations = ["none", *perturbation_names(feature_cells[0].config)]
    run_stages(
        stages,
        ("training", "features"),
        Path(work_dir),
        executor=executor,
        progress=progress,
        description="forensic fit",
    )
    table = load_table(Path(work_dir), feature_cells, contents)
    labels = np.array([v.startswith("net:") for v in variants])[table.variant]
    rows = np.isin(table.pert, [perturbations.index(p) for p in ("none", *config.augment)])
    return fit_detector(
        table.ns[rows],
        labels[rows],
        FEATURE_NAMES,
        c=config.c,
        meta={
            "trained_on": {
                "contents": contents,
                "variants": variants,
                "videos_per_content": config.videos_per_content,
                "frames": config.frames,
                "size": config.size,
                "seed": config.seed,
                "augment": list(config.augment),
            },
            "window": None,
        },
    )


register_experiment(
    ExperimentSpec(
        name="forensic",
        description="Paper A Fig. 7, built: detect network processing of smooth videos from "
        "nonsmoothness features (held-out families and content, robustness, DCT baseline)",
        config=ForensicConfig,
        run=run,
        figures=FIGURES,
    )
)
