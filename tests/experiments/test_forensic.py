"""The forensic experiment end to end at a tiny scale: schema, controls, figures, seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments import get_experiment
from smoothscope.experiments.forensic import CLAIM_RULES, ForensicConfig
from smoothscope.results import VERDICTS, missing_fields

TINY = {
    "contents": ("ellipsoid", "ramps", "photos"),
    "families": ("ae_relu_maxpool", "ae_softplus_avgpool", "upsampler"),
    "videos_per_content": 4,
    "frames": 16,
    "size": 16,
    "train_frames": 64,
    "epochs": 1,
    "snrs": (20.0,),
    "jpeg_qualities": (50,),
    "subsample_factors": (2,),
    "n_boot": 50,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    return out, run_experiment("forensic", out=out, options=TINY, progress=False)


def test_claims_follow_the_schema_with_controls(tiny_run):
    out, results = tiny_run
    claims = {c["id"]: c for c in results["claims"]}
    assert set(claims) == set(CLAIM_RULES)
    for claim in claims.values():
        assert missing_fields(claim) == []
        assert claim["paper"] == "A" and claim["verdict"] in VERDICTS
        posthoc = "posthoc" in CLAIM_RULES[claim["id"]]
        assert claim["kind"] == ("post-hoc" if posthoc else "extension")
        assert claim["threshold"] == CLAIM_RULES[claim["id"]]["threshold"]
        low, high = claim["uncertainty"]
        assert low <= claim["measured"] <= high or claim["measured"] != claim["measured"]
        control = claim["control"]
        assert control["id"].startswith(claim["id"] + "/")
        assert control["verdict"] in VERDICTS
        assert list(claim["replicates"]) == ["source videos"]
        if control["verdict"] == "reproduced":
            assert claim["verdict"] != "reproduced"
    for name in ("ae_relu_maxpool", "ae_softplus_avgpool"):
        auc = results["measurements"]["leave_one_family_out"][name]["ns"]["auc"]
        assert 0.0 <= auc <= 1.0
    assert json.loads((out / "results.json").read_text())["claims"] == results["claims"]


def test_measurements_figures_and_data(tiny_run):
    out, results = tiny_run
    m = results["measurements"]
    assert m["contents"] == ["ellipsoid", "ramps", "photos"]
    assert {r["perturbation"] for r in m["robustness"]} == {
        "none",
        "noise:20",
        "quant8",
        "jpeg:50",
        "subsample:2",
        "jpeg:90",  # an augmentation (default augment: quant8, jpeg:90), computed for all
    }
    # authentic noise ramps are linear in time: AveNonSmooth is rounding noise
    assert m["nonsmoothness_by_variant"]["ramps"]["authentic"]["median_ave_nonsmooth"] < 1e-12
    for path in m["figures"]:  # relative to the run directory
        assert imread(out / path).shape[0] > 50
    declared = {f.file for f in get_experiment("forensic").figures}
    drawn = {p.name for p in (out / "figures").glob("*.png")}
    assert drawn and drawn <= declared, drawn - declared
    assert "photos" in results["data"]["authentic"]


def test_config_validation():
    with pytest.raises(SmoothscopeError, match="contents"):
        ForensicConfig(contents=("cats",))
    with pytest.raises(SmoothscopeError, match="holdout_content"):
        ForensicConfig(contents=("ellipsoid", "ramps"))
    with pytest.raises(SmoothscopeError, match="videos_per_content"):
        ForensicConfig(videos_per_content=2)
    with pytest.raises(SmoothscopeError, match="subsample_factors"):
        ForensicConfig(frames=16, subsample_factors=(3,))
    assert ForensicConfig.preset("standard").videos_per_content == 20
