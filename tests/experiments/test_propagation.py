"""The propagation experiment end to end at a tiny scale: claims, tables, figures, resume."""

from __future__ import annotations

import json

import pytest
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments import get_experiment
from smoothscope.experiments.propagation.cells import plan
from smoothscope.experiments.propagation.claims import PAPER_R2
from smoothscope.experiments.propagation.config import PropagationConfig
from smoothscope.results import VERDICTS, missing_fields

TINY = {
    "n_models": 2,
    "held_out_models": 1,
    "n_videos": 4,
    "frames": 30,
    "ellipsoid_train": 64,
    "ellipsoid_val": 16,
    "epochs": 2,
    "batch_size": 16,
    "maxpool_threshold": -1.0,  # estimated: tiny models have small SMPs
    "n_boot": 50,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("propagation")
    return out, run_experiment("propagation", out=out, options=TINY, progress=False)


def test_claims_and_tables(tiny_run):
    out, results = tiny_run
    ids = {c["id"] for c in results["claims"]}
    expected = {f"A.{layer.split('.')[-1]}.r2_{variant}" for layer, variant in PAPER_R2}
    assert (
        expected
        | {
            "A.conv2.weight_peak_correlation",
            "A.conv2.r2_abs_above_w0",
            "A.conv2.discounting_factor",
            "A.fig8e.chain_parametric",
            "A.fig8e.chain_empirical",
            "A.network.relu_maxpool",
            "A.network.softplus_avgpool",
        }
        == ids
    )
    paper = {f"A.{name.split('.')[-1]}.r2_{v}": value for (name, v), value in PAPER_R2.items()}
    for claim in results["claims"]:
        assert claim["verdict"] in VERDICTS
        assert missing_fields(claim) == [], claim["id"]
        assert claim["kind"] == ("extension" if claim["id"].startswith("A.network") else "paper")
        if claim["control"] is not None:
            assert claim["control"]["id"].startswith(claim["id"] + "/")
        if claim["id"] in paper:
            assert claim["paper_value"] == paper[claim["id"]]
            assert claim["measured"] is None or 0 <= claim["measured"] <= 1
    relu = results["measurements"]["relu_maxpool"]
    assert [row["layer"] for row in relu["table"]] == [
        "encoder.conv1",
        "encoder.conv2",
        "encoder.conv3",
        "decoder.deconv1",
        "decoder.deconv2",
        "decoder.deconv3",
    ]
    act = relu["layers"]["encoder.act2"]
    assert 0 < act["channel"]["theta"] <= 1 and act["channel"]["slope"] == 1.0
    assert {"parametric", "empirical"} <= set(act)
    pool = relu["layers"]["encoder.pool2"]["channel"]
    assert 0 <= pool["pi0"] <= 1 and pool["threshold"] > 0
    assert pool["censored"] and act["channel"]["censored"]
    rows = {row["layer"]: row for row in relu["table"]}
    conv2 = rows["encoder.conv2"]
    assert 0 <= conv2["discounting_factor_aligned"] <= conv2["discounting_factor"] <= 1
    assert 0 <= conv2["r2_abs_per_node"] <= 1 and "channel means" in conv2["level"]
    assert {"zero_real", "ks_positive"} <= set(relu["chain_fig8e"]["parametric"])
    soft = results["measurements"]["softplus_avgpool"]
    assert soft["layers"]["encoder.act1"]["channel"]["slope"] != 1.0  # fitted for softplus
    for split in ("held_out_videos", "held_out_models"):
        for kind in ("parametric", "empirical"):
            assert 0 <= relu["whole_network"][split][kind]["ks_statistic"] <= 1
    on_disk = json.loads((out / "arrays" / "propagation_tables.json").read_text())
    assert on_disk["split"] == {
        "fit_models": 1,
        "held_out_models": 1,
        "fit_videos": 2,
        "held_out_videos": 2,
    }


def test_figures(tiny_run):
    out, _ = tiny_run
    for name in ("fig8_propagation.png", "r2_per_layer.png", "whole_network.png"):
        image = imread(out / "figures" / name)
        assert image.ndim == 3 and image.std() > 0.01
    drawn = {p.name for p in (out / "figures").glob("*.png")}
    assert drawn <= {fig.file for fig in get_experiment("propagation").figures}


def test_training_cells_are_those_of_the_nonsmoothness_experiment():
    from smoothscope.experiments.nonsmoothness.cells import plan as ns_plan

    config = PropagationConfig.preset("quick", **TINY)
    stages, records = plan(config)
    assert [c.id for c in stages[0]] == [c.id for c in ns_plan(config.nonsmoothness())[0][0]]
    assert sum(len(v) for v in records.values()) == len(stages[1]) == 4


def test_rules_fail_on_broken_inputs():
    from smoothscope.experiments.propagation.claims import _split_verdict, _within

    same = {"zero_real": 0.7, "zero_real_low": 0.69, "zero_real_high": 0.71}
    good = same | {
        "zero_predicted": 0.71,
        "zero_predicted_low": 0.70,
        "zero_predicted_high": 0.72,
        "zero_difference": 0.01,
        "ks_positive": 0.05,
    }
    assert _split_verdict(good) == "reproduced"
    assert _split_verdict(good | {"ks_positive": float("nan")}) == "not reproduced"  # dead layer
    assert _split_verdict(good | {"ks_positive": 0.3}) == "not reproduced"
    assert _split_verdict(good | {"zero_difference": 0.2}) == "not reproduced"
    assert _within(-0.1, 0.2, 0.3) == "reproduced" and _within(0.35, 0.5, 0.3) == "not reproduced"
    # a dead layer (constant SMPs: R² undefined) can never give a reproduced R² claim
    from smoothscope.experiments.propagation.claims import _r2_claims
    from smoothscope.stats import Estimate

    dead = Estimate(float("nan"), float("nan"), float("nan"))
    est = {k: dead for k in ("abs", "w0", "abs_permuted", "w0_permuted")}
    for claim in _r2_claims("encoder.conv2", est, (2, 4), "§V-B"):
        assert claim.verdict != "reproduced"


def test_bad_config():
    with pytest.raises(SmoothscopeError, match="held_out_models"):
        PropagationConfig.preset("quick", n_models=2, held_out_models=2)
    with pytest.raises(SmoothscopeError, match="maxpool_threshold"):
        PropagationConfig.preset("quick", maxpool_threshold=0.0)
