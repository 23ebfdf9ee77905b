"""Experiment ``forensic``: detect that a video went through a network (paper A, Fig. 7, built).

Paper A's Fig. 7 proposes, without building it, to detect a "processing unit" (a neural
network) from the nonsmoothness it leaves in an authentic smooth video. Here:

1. cells ``train``: one network per family (:mod:`smoothscope.forensic.processors`) is trained
   on frames of authentic videos; the same network at initialisation is kept too;
2. cells ``features``: per content and half, authentic smooth videos
   (:mod:`smoothscope.forensic.videos`) are passed through every network (at init and
   trained) and through the smooth non-network processings (labelled authentic), then through
   storage pipelines (8-bit, H.264, MPEG-4, JPEG, resizing, noise:
   :mod:`smoothscope.forensic.pipelines`); the nonsmoothness features
   (:func:`smoothscope.forensic.features.video_features`) and the DCT baseline features
   (:func:`smoothscope.forensic.baseline.dct_features`) of every stored video are kept;
3. aggregation (:func:`run`): detectors (standardisation + logistic regression) are fitted on a
   training split and scored on videos of source videos they never saw: leave-one-family-out
   and a held-out content (photographs) in float; then, through the pipelines, the held-out
   table per pipeline with the calibrated threshold's false-positive rate,
   leave-one-codec-out, leave-one-family-out, and the control "authentic stored vs the same
   videos in float".

Where everything lives:

* :mod:`.config`: :class:`ForensicConfig`, its scales and bounds;
* :mod:`.cells`: the video pipeline (training frames, variants, perturbations), the features of
  a batch of videos, the two cells, :func:`plan`, and the reader of the feature cells;
* :mod:`.claims`: the detectors on a split, ROC-AUCs with intervals, and the claim rules
  (``kind="extension"``) with their controls in ``CLAIM_RULES``, fixed before the first run
  (docs/forensic.md);
* :mod:`.figures`: every figure with its caption;
* here: :func:`run` (the splits) and :func:`fit_default_detector` (``smoothscope forensic fit``).

Every threshold and feature choice is made on training rows only (the calibrated threshold on
leave-one-content-out scores of the training half); the test half is scored once.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import save_npz
from ...forensic.detector import (
    Detector,
    calibrate_threshold,
    feature_reference,
    fit_detector,
    with_calibration,
)
from ...forensic.features import FEATURE_NAMES
from ...forensic.pipelines import parse_pipeline, pipeline_family
from ...forensic.videos import FASHION_DIR
from ...sweep import derive_seed, run_stages
from .._base import ExperimentSpec, register_experiment
from .cells import FeatureTable, load_table, plan
from .cells import features_cell as features_cell
from .cells import train_cell as train_cell
from .claims import CLAIM_RULES as CLAIM_RULES
from .claims import (
    auc_summary,
    build_claims,
    build_pipeline_claims,
    fit_fold,
    out_of_fold,
)
from .config import CODEC_FAMILIES, lossy
from .config import PIPELINES as PIPELINES
from .config import ForensicConfig as ForensicConfig
from .figures import FIGURES, draw_figures

__all__ = [
    "CLAIM_RULES",
    "PIPELINES",
    "ForensicConfig",
    "features_cell",
    "fit_default_detector",
    "run",
    "train_cell",
]


def _labels(table: FeatureTable, variants: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: processed by a network (bool) and the network family ("" for authentic)."""
    is_net = np.array([v.startswith("net:") for v in variants])
    family_of = np.array([v.split(":")[1] if v.startswith("net:") else "" for v in variants])
    return is_net[table.variant], family_of[table.variant]


def _sub(fold: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    return {k: v[mask] for k, v in fold.items()}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _stored_videos(
    config: ForensicConfig, table: FeatureTable, labels: np.ndarray, family: np.ndarray, seed: int
) -> tuple[dict[str, Any], list[Any]]:
    """The evaluation through the storage pipelines: measurements and claims."""
    pipes = table.pipelines
    kinds = np.array([pipeline_family(p) for p in pipes])[table.pipe]
    lossy_row = np.array([lossy(p) for p in pipes])[table.pipe]
    float_row = kinds == "float"
    train, test = ~table.test, table.test
    every = np.ones(labels.size, bool)
    # the detector's features (float videos measured as their 8-bit copies); beside it the
    # float-only detector on the float values, the detector before issue 27
    all_fold = fit_fold(table, labels, train, every, "stored", config, seed=seed)
    shuffled = fit_fold(table, labels, train, every, "stored", config, shuffle=True, seed=seed + 1)
    float_fold = fit_fold(table, labels, train & float_row, every, "ns", config, seed=seed)
    dct_fold = fit_fold(table, labels, train, every, "dct", config, seed=seed)
    oof = out_of_fold(table, labels, train, config)
    threshold, calibration = calibrate_threshold(
        oof, labels[train], lossy_row[train], config.target_fpr
    )
    probability = _sigmoid(all_fold["scores"])
    rows = []
    for pi, name in enumerate(pipes):
        sel = test & (table.pipe == pi)
        row: dict[str, Any] = {"pipeline": name}
        for key, fold in (
            ("all_pipelines", all_fold),
            ("float_only", float_fold),
            ("dct", dct_fold),
        ):
            row[key] = auc_summary(_sub(fold, sel), config, seed + 2)
        row["fpr_at_threshold"] = float((probability[sel & ~labels] > threshold).mean())
        row["tpr_at_threshold"] = float((probability[sel & labels] > threshold).mean())
        if name != "float":
            pair = test & ~labels & ((table.pipe == pi) | float_row)
            control = {
                "scores": all_fold["scores"][pair],
                "labels": table.pipe[pair] == pi,
                "groups": table.group[pair],
            }
            row["control"] = auc_summary(control, config, seed + 3)
        rows.append(row)
    measurements: dict[str, Any] = {
        "pipelines": rows,
        "threshold": threshold,
        "calibration": calibration,
    }
    # leave one codec out: no video of that codec in training
    loco, loco_folds = {}, {}
    for codec in CODEC_FAMILIES:
        held = kinds == codec
        if not (held & test).any():
            continue
        fold = fit_fold(table, labels, train & ~held, every, "stored", config, seed=seed)
        loco_folds[codec] = _sub(fold, test & held)
        loco[codec] = auc_summary(_sub(fold, test & held), config, seed + 2)
    measurements["leave_one_codec_out"] = loco
    # leave one family out, through the pipelines: the held-out family's stored videos
    lofo = {}
    for f in config.families:
        fold = fit_fold(table, labels, train & (family != f), every, "stored", config, seed=seed)
        lofo[f] = {
            kind: auc_summary(
                _sub(fold, test & (kinds == kind) & (~labels | (family == f))), config, seed + 2
            )
            for kind in ("quant8", "h264", "mpeg4", "jpeg")
            if (test & (kinds == kind)).any()
        }
    measurements["leave_one_family_out_stored"] = lofo
    # the claims' folds
    quant8 = test & (kinds == "quant8")
    quantised = (_sub(all_fold, quant8), _sub(shuffled, quant8)) if quant8.any() else None
    codec = None
    if "h264" in loco_folds:
        fold_h264 = loco_folds["h264"]
        held = test & (kinds == "h264")
        shuffled_h264 = fit_fold(
            table,
            labels,
            train & (kinds != "h264"),
            every,
            "stored",
            config,
            shuffle=True,
            seed=seed + 1,
        )
        codec = (fold_h264, _sub(shuffled_h264, held))
    not_signal = None
    pair = test & ~labels & ((kinds == "h264") | float_row)
    if (pair & (kinds == "h264")).any():

        def authentic(fold: dict[str, Any]) -> dict[str, Any]:
            return {
                "scores": fold["scores"][pair],
                "labels": kinds[pair] == "h264",
                "groups": table.group[pair],
            }

        not_signal = (authentic(all_fold), authentic(float_fold))
        # the same detector on the float values as they are (no 8-bit copy): what the codec
        # control measured before float videos were measured as stored
        as_is = fit_fold(table, labels, train, every, "ns", config, seed=seed)
        measurements["codec_control"] = {
            "all_pipelines": auc_summary(authentic(all_fold), config, seed + 3),
            "float_only": auc_summary(authentic(float_fold), config, seed + 3),
            "all_pipelines_float_as_is": auc_summary(authentic(as_is), config, seed + 3),
        }
    claims = build_pipeline_claims(config, quantised, codec, not_signal, seed)
    return measurements, claims


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
    labels, family = _labels(table, variants)
    clean = table.pipe == table.pipelines.index("float")
    seed = derive_seed(config.seed, "evaluate")
    measurements: dict[str, Any] = {
        "contents": contents,
        "variants": variants,
        "pipelines_run": table.pipelines,
    }

    # leave-one-family-out (float): train on the train half without the family, test on the
    # test half
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

    # content split (float): train on every other content (both halves), test on the held-out
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

    # through the storage pipelines
    stored, stored_claims = _stored_videos(config, table, labels, family, seed)
    measurements.update(stored)

    # the videos' own nonsmoothness (AveNonSmooth, eq. 4; share of pixels with a peak), in float
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
    claims += stored_claims
    figures = draw_figures(
        run_dir,
        lofo=lofo,
        content=content,
        holdout_content=config.holdout_content,
        pipelines=stored["pipelines"],
        target_fpr=config.target_fpr,
        maps=table.maps,
        variants=variants,
    )
    measurements["figures"] = figures
    save_npz(
        run_dir / "arrays" / "features.npz",
        ns=table.ns,
        stored=table.stored,
        ave=table.ave,
        variant=table.variant,
        source=table.source,
        pipeline=table.pipe,
        speed=table.speed,
        content=table.content,
        test=table.test,
        feature_names=np.array(FEATURE_NAMES),
        variants=np.array(variants),
        contents=np.array(contents),
        pipelines=np.array(table.pipelines),
    )
    fashion = config.fashion_dir or FASHION_DIR
    data = {
        "authentic": "ellipsoid (rendered), scikit-learn digits, noise ramps, scikit-learn "
        "sample photos (embedded)",
        "fashion": f"Fashion-MNIST test split ({fashion})" if "fashion" in contents else "absent",
        "pipelines": ", ".join(table.pipelines),
    }
    return {"claims": claims, "measurements": measurements, "data": data}


def _frame_sizes(config: ForensicConfig, pipelines: list[str]) -> list[int]:
    """Frame sides the stored training videos have (resizing changes them)."""
    sizes = [config.size]
    for p in pipelines:
        kind, value = parse_pipeline(p)
        if kind == "resize":
            sizes.append(max(4, 2 * round(config.size * float(value) / 2)))
    return sizes


def fit_default_detector(
    config: ForensicConfig,
    work_dir: Path,
    *,
    executor: Executor | None = None,
    progress: bool = True,
) -> Detector:
    """The detector of ``smoothscope forensic fit``: trained on every stored video of the
    protocol ``config`` (all contents, source videos, families and pipelines), its threshold
    calibrated on leave-one-content-out scores of the same videos (at most
    ``config.target_fpr`` of the authentic lossy ones flagged).

    The networks and features are computed as cells under ``work_dir`` (reused when present).
    """
    stages, feature_cells, contents, variants = plan(config)
    run_stages(
        stages,
        ("training", "features"),
        Path(work_dir),
        executor=executor,
        progress=progress,
        description="forensic fit",
    )
    table = load_table(Path(work_dir), feature_cells, contents)
    labels, _ = _labels(table, variants)
    every = np.ones(labels.size, bool)
    lossy_row = np.array([lossy(p) for p in table.pipelines])[table.pipe]
    oof = out_of_fold(table, labels, every, config)
    threshold, calibration = calibrate_threshold(oof, labels, lossy_row, config.target_fpr)
    calibration["method"] = (
        "leave-one-content-out: each video scored by a detector fitted without its content"
    )
    sizes = _frame_sizes(config, table.pipelines)
    reference = feature_reference(
        table.stored, FEATURE_NAMES, frames=[config.frames], height=sizes, width=sizes
    )
    detector = fit_detector(
        table.stored,
        labels,
        FEATURE_NAMES,
        c=config.c,
        meta={
            "trained_on": {
                "contents": contents,
                "variants": variants,
                "families": list(config.families),
                "pipelines": table.pipelines,
                "rows_per_pipeline": {
                    p: int((table.pipe == i).sum()) for i, p in enumerate(table.pipelines)
                },
                "videos_per_content": config.videos_per_content,
                "frames": config.frames,
                "size": config.size,
                "speeds": list(config.speeds),
                "seed": config.seed,
            },
            "window": None,
        },
    )
    return with_calibration(detector, threshold, calibration, reference)


ForensicConfig.DEVICES = ("cpu", "cuda")
"""With ``device="cuda"`` the feature cells pass the videos through the networks there (float64);
the networks train on the CPU (their denoising noise is drawn beside the frames), and the
storage pipelines and the features run on the CPU."""

register_experiment(
    ExperimentSpec(
        name="forensic",
        description="Paper A Fig. 7, built: detect network processing of smooth videos from "
        "nonsmoothness features, through 8-bit, codecs, JPEG and noise (held-out families, "
        "contents and codecs, calibrated threshold, DCT baseline)",
        config=ForensicConfig,
        run=run,
        figures=FIGURES,
    )
)
