"""Experiment ``propagation``: how nonsmoothness events pass through layers (paper A §V, App. B).

Cells: the ellipsoid autoencoders of the ``nonsmoothness`` experiment (same training cells) and
one ``record`` cell per trained model, which passes every test video through the model and
stores the SMP map of every layer's output (and of the first layer's input; the autoencoders
are chains, checked in the cell), and the §V-B discounting sums of every weighted layer. The
aggregation splits models and videos into a fitting part and a held-out part, fits the channel
models on the fitting part and evaluates them on the held-out part:

* eq. 5 (|W|) and eq. 6 (w0) for every convolution and transposed convolution: R² of the linear
  fit of real on predicted SMP, both at the paper's level (channel means, Fig. 8a, b; App. B;
  per-node |W| values reported beside, labelled), the ordering |W| above w0, the weight–SMP
  correlation (0.16), and the §V-B discounting factor of coincident events;
* the Bernoulli–Gaussian ReLU channel (eq. 7, Fig. 8c) and the max-pooling channel (eq. 8,
  Fig. 8d, threshold estimated from the data), parametric and empirical, fitted as censored
  models, with held-out log-likelihoods and distances;
* the chained Monte-Carlo prediction conv2 → ReLU → max-pool (Fig. 8e), with eq. 5 calibrated in
  both chains; zeros and the positive part compared separately;
* beyond the paper (kind "extension"): the chain through every layer, from the input video's own
  SMP to the output pixels, for both setups, on held-out videos and on held-out autoencoders;
  and Fig. 8e with the ReLU and max pooling of each 2 × 2 window sampled jointly;
* R² and conv2's γ against the frame count (every k-th frame of each video, ``curve_strides``;
  :mod:`.curve`), and the R² and γ claims again, as kind "extension" with the suffix
  ``.blanked``, on the videos with the shadow terminator's pixels blanked (the kink of the
  paper's own shading ``max(vᵀn, 0)`` removed).

Every claim's interval is over trained autoencoders (then videos), and every claim carries a
control run through the same rule (permuted videos, shuffled weights, aligned events, a chain
without the ReLU/max-pool channels).

Layout: :mod:`.config` (the protocol, its ledger and its scales), :mod:`.cells` (the units of
work, the plan and the numbers computed from the recordings), :mod:`.curve` (R² and γ against
the frame count), :mod:`.claims` (the claim rules with their controls), :mod:`.figures` (the
figures with their captions); this module runs them and registers the experiment.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._io import load_state_dict, save_json
from ...analysis import propagation as P
from ...analysis.channels import distribution_distance, zero_split_distance
from ...models import SETUPS, build
from ...probe import leaf_layers
from ...results import Claim
from ...stats import hierarchical_bootstrap
from ...sweep import derive_seed, run_stages
from .._base import ExperimentSpec, register_experiment
from ..nonsmoothness.config import PAPER_PATH_LENGTH, frames_on_path, runtime_protocol_values
from .cells import (
    BLANKED,
    RecordedModel,
    chain_smp,
    channel_eval,
    describe_channel,
    flat,
    joint_window_chain,
    load_record,
    pass_through_channels,
    plan,
    r2_difference,
    r2_estimate,
    r2_tables,
    ratio_of_sums,
    split_videos,
)
from .cells import record_cell as record_cell
from .claims import (
    _conv2_claims,
    _fig8e_claim,
    _gamma_claim,
    _joint_window_claim,
    _network_claim,
    _r2_claims,
    _replicates,
)
from .config import CHAIN, CURVE_LAYERS, GAMMA_LAYER
from .config import PropagationConfig as PropagationConfig
from .curve import curve_rows
from .figures import FIGURES as FIGURES
from .figures import R2_VS_FRAMES, draw_figures

__all__ = ["FIGURES", "PropagationConfig", "plan", "record_cell", "run"]


def run(
    config: PropagationConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Train, record, fit the channel models, evaluate them; claims, tables and figures."""
    stages, records = plan(config)
    root = run_dir / "cells"
    run_stages(
        stages,
        ("training", "recording"),
        root,
        executor=executor,
        progress=progress,
        description="propagation",
    )
    n_fit_videos = config.n_videos // 2
    fit_v, held_v = slice(0, n_fit_videos), slice(n_fit_videos, config.n_videos)
    n_fit_models = config.n_models - config.held_out_models
    threshold = config.maxpool_threshold if config.maxpool_threshold > 0 else None
    n_all = (config.n_models, config.n_videos)
    n_held = (n_fit_models, config.n_videos - n_fit_videos)
    claims: list[Claim] = []
    measurements: dict[str, Any] = {}
    fig: dict[str, Any] = {"network": {}}
    t_paper = frames_on_path(PAPER_PATH_LENGTH, config.frames_per_unit)
    note = (
        f"; decided at {t_paper} frames on the paper's path ({config.frames_per_unit:.2f} "
        "per unit of path length, every video sampled alike); R² against the frame count: "
        f"figure {R2_VS_FRAMES.file}"
    )

    def load(cells: list[Any], setup: str) -> list[RecordedModel]:
        models = []
        for cell in cells:
            module = build("autoencoder", setup=setup)
            module.load_state_dict(load_state_dict(root / cell.config["model_cell"] / "model.pt"))
            models.append(load_record(root / cell.id / "maps.npz", module, config.curve_strides))
        return models

    for setup in SETUPS:
        models = load(records[setup], setup)
        layers = leaf_layers(models[0].module)
        fit = [
            RecordedModel(m.module, split_videos(m.maps, fit_v), {}) for m in models[:n_fit_models]
        ]
        held_videos = [
            RecordedModel(m.module, split_videos(m.maps, held_v), {}) for m in models[:n_fit_models]
        ]
        held_models = models[n_fit_models:]
        channels = {
            kind: P.fit_channels(
                [(m.module, m.maps) for m in fit], layers, kind=kind, maxpool_threshold=threshold
            )
            for kind in P.CHANNEL_KINDS
        }
        seed = derive_seed(config.seed, "propagation", setup)
        summary: dict[str, Any] = {"layers": {}}
        table = []
        for index, layer in enumerate(layers):
            module = dict(models[0].module.named_modules())[layer]
            kind = P.layer_kind(module)
            row: dict[str, Any] = {"layer": layer, "kind": kind}
            if kind == "linear" and hasattr(module, "weight"):
                sums = r2_tables(models, layer, seed + index)
                est = {key: r2_estimate(v, config.n_boot, seed + index) for key, v in sums.items()}
                diff = r2_difference(sums["abs"], sums["w0"], config.n_boot, seed + index)
                diff_ctrl = r2_difference(
                    sums["abs_shuffled"], sums["w0"], config.n_boot, seed + index
                )
                row |= {
                    "r2_abs": est["abs"].value,
                    "r2_abs_ci": [est["abs"].low, est["abs"].high],
                    "r2_w0": est["w0"].value,
                    "r2_w0_ci": [est["w0"].low, est["w0"].high],
                    "r2_abs_per_node": est["abs_node"].value,
                    "r2_abs_per_node_ci": [est["abs_node"].low, est["abs_node"].high],
                    "r2_abs_minus_w0": diff.value,
                    "r2_abs_minus_w0_ci": [diff.low, diff.high],
                    "r2_abs_permuted_videos": est["abs_permuted"].value,
                    "r2_abs_shuffled_weights": est["abs_shuffled"].value,
                    "w0": P.expected_weight(module),
                    "level": "channel means (the paper's); r2_abs_per_node: per node",
                }
                key = f"{layer}:discount"
                if key in models[0].sums:
                    disc = np.stack([m.sums[key] for m in models])
                    gamma = ratio_of_sums(disc, config.n_boot, seed + index)
                    aligned = ratio_of_sums(
                        np.stack([m.sums[f"{layer}:aligned"] for m in models]),
                        config.n_boot,
                        seed + index,
                    )
                    real = sum(float(m.maps[layer]["output"].sum()) for m in models)
                    pred = sum(
                        float(P.linear_smp_prediction(m_mod, m.maps[layer]["input"]).sum())
                        for m, m_mod in ((m, dict(m.module.named_modules())[layer]) for m in models)
                    )
                    row |= {
                        "discounting_factor": gamma.value,
                        "discounting_factor_ci": [gamma.low, gamma.high],
                        "discounting_factor_aligned": aligned.value,
                        "eq5_mean_ratio": real / pred if pred > 0 else float("nan"),
                        "eq5_mean_ratio_discounted": real / (gamma.value * pred)
                        if pred > 0 and gamma.value > 0
                        else float("nan"),
                    }
                table.append(row)
                if setup == "relu_maxpool":
                    where = "§V-B, Fig. 8" if "conv2" in layer else "Appendix B"
                    claims += _r2_claims(layer, est, n_all, where, note=note)
                if setup == "relu_maxpool" and layer == "encoder.conv2":
                    fig["r2_abs"], fig["r2_w0"] = est["abs"].value, est["w0"].value
                    x = torch.cat([m.maps[layer]["input"] for m in models])
                    y = torch.cat([m.maps[layer]["output"] for m in models])
                    mod = dict(models[0].module.named_modules())[layer]
                    fig["a"] = (
                        flat(P.linear_smp_prediction(mod, x, weights="w0").mean(1)),
                        flat(y.mean(1)),
                    )
                    fig["b"] = (flat(P.linear_smp_prediction(mod, x).mean(1)), flat(y.mean(1)))
                    corr = np.array(
                        [
                            [
                                P.weight_peak_correlation(
                                    dict(m.module.named_modules())[layer], m.maps[layer]["input"]
                                )
                            ]
                            for m in models
                        ]
                    )
                    corr_est = hierarchical_bootstrap(
                        [corr], lambda a: a.mean(axis=-1), n_boot=config.n_boot, seed=seed
                    )
                    row["weight_peak_correlation"] = corr_est.value
                    claims += _conv2_claims(row, diff, diff_ctrl, corr_est, gamma, aligned, n_all)
            elif kind != "linear":
                evaluation = channel_eval(held_videos, layer, channels, seed)
                row |= {"channel": describe_channel(channels["parametric"][layer]), **evaluation}
                if setup == "relu_maxpool" and layer in ("encoder.act2", "encoder.pool2"):
                    x = torch.cat([m.maps[layer]["input"] for m in held_videos])
                    y = torch.cat([m.maps[layer]["output"] for m in held_videos])
                    if kind == "maxpool":
                        x = P.window_max(dict(held_videos[0].module.named_modules())[layer], x)
                    fig["c" if kind == "activation" else "d"] = (flat(x), flat(y))
            summary["layers"][layer] = row
        summary["table"] = table
        if setup == "relu_maxpool":
            fig["table"] = table
            control_channels = pass_through_channels(
                channels["parametric"], CHAIN, models[0].module
            )
            real, ctrl = chain_smp(held_videos, CHAIN, control_channels, seed)
            d_ctrl = zero_split_distance(real, ctrl)
            chain: dict[str, Any] = {"control_no_relu_maxpool_channels": d_ctrl}
            predicted = {}
            for kind in P.CHANNEL_KINDS:
                real, predicted[kind] = chain_smp(held_videos, CHAIN, channels[kind], seed)
                d = zero_split_distance(real, predicted[kind])
                chain[kind] = d | distribution_distance(real, predicted[kind])
                claims.append(_fig8e_claim(kind, d, d_ctrl, n_held))
            real, joint = joint_window_chain(fit, held_videos, channels["empirical"], seed)
            d = zero_split_distance(real, joint)
            chain["joint_window"] = d | distribution_distance(real, joint)
            claims.append(_joint_window_claim(d, chain["empirical"], d_ctrl, n_held))
            fig["e"] = (real, predicted["parametric"], predicted["empirical"], joint)
            fig["ks_par"] = chain["parametric"]["ks_positive"]
            fig["ks_emp"] = chain["empirical"]["ks_positive"]
            fig["ks_joint"] = d["ks_positive"]
            summary["chain_fig8e"] = chain
            fig["curve"] = curve_rows(config, "as defined", models)
        # whole network from the input video's own SMP, on held-out videos and held-out models
        network: dict[str, Any] = {}
        control_channels = pass_through_channels(channels["parametric"], layers, models[0].module)
        for split, group in (("held_out_videos", held_videos), ("held_out_models", held_models)):
            real, ctrl = chain_smp(group, layers, control_channels, seed)
            network[split] = {"control_pass_through": distribution_distance(real, ctrl)}
            for kind in P.CHANNEL_KINDS:
                _, pred = chain_smp(group, layers, channels[kind], seed)
                network[split][kind] = distribution_distance(real, pred)
                if split == "held_out_models":
                    fig["network"].setdefault(setup, {"real": real, "ks": {}})[kind] = pred
                    fig["network"][setup]["ks"][kind] = network[split][kind]["ks_statistic"]
        summary["whole_network"] = network
        ks = network["held_out_models"]["empirical"]["ks_statistic"]
        ks_ctrl = network["held_out_models"]["control_pass_through"]["ks_statistic"]
        claims.append(
            _network_claim(setup, ks, ks_ctrl, _replicates(config.held_out_models, config.n_videos))
        )
        measurements[setup] = summary
    blanked = load(records[BLANKED], "relu_maxpool")
    seed = derive_seed(config.seed, "propagation", "blanked")
    variant: dict[str, Any] = {}
    for index, layer in enumerate(CURVE_LAYERS):
        est = {
            key: r2_estimate(v, config.n_boot, seed + index)
            for key, v in r2_tables(blanked, layer, seed + index).items()
        }
        where = "§V-B, Fig. 8" if "conv2" in layer else "Appendix B"
        claims += _r2_claims(layer, est, n_all, where, blanked=True, note=note)
        variant[layer] = {key: [e.value, e.low, e.high] for key, e in est.items()}
    gamma, aligned = (
        ratio_of_sums(
            np.stack([m.sums[f"{GAMMA_LAYER}:{key}"] for m in blanked]), config.n_boot, seed
        )
        for key in ("discount", "aligned")
    )
    claims.append(_gamma_claim(gamma, aligned, n_all, blanked=True))
    variant["discounting_factor"] = [gamma.value, gamma.low, gamma.high]
    variant["discounting_factor_aligned"] = [aligned.value, aligned.low, aligned.high]
    measurements["terminator_blanked"] = variant
    fig["curve"] += curve_rows(config, "terminator blanked", blanked)
    measurements["r2_against_frames"] = fig["curve"]
    measurements["frames"] = {
        "frames_per_unit": config.frames_per_unit,
        "frames_on_paper_path": t_paper,
        "frames_per_video": [int(t) for t in models[0].frames],
    }
    measurements["split"] = {
        "fit_models": n_fit_models,
        "held_out_models": config.held_out_models,
        "fit_videos": n_fit_videos,
        "held_out_videos": config.n_videos - n_fit_videos,
    }
    measurements["figures"] = draw_figures(run_dir, fig)
    save_json(run_dir / "arrays" / "propagation_tables.json", measurements)
    data = {"test videos": "ellipsoid under a moving light (rendered, paper A §IV-A)"}
    values = runtime_protocol_values() | {
        "r2_level": "channel means",
        "r2_pooling": "every node of every model and video",
        "w0_estimate": "mean |W|",
    }
    return {
        "claims": claims,
        "measurements": measurements,
        "data": data,
        "protocol_values": values,
    }


register_experiment(
    ExperimentSpec(
        name="propagation",
        description="Paper A §V + App. B: how SMP propagates through conv, transposed conv, ReLU "
        "and max pooling; channel models; whole-network prediction",
        config=PropagationConfig,
        run=run,
        figures=FIGURES,
    )
)
