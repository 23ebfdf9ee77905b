"""The forensic experiment end to end at a tiny scale: schema, controls, the pipelines' table,
the calibrated threshold, the protocol ledger, figures with captions, config validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments import get_experiment
from smoothscope.experiments.forensic import CLAIM_RULES, ForensicConfig
from smoothscope.experiments.forensic.claims import DEPENDS_ON
from smoothscope.experiments.forensic.figures import FIGURES, ROUGHNESS_MAPS, _maps_figure
from smoothscope.forensic.pipelines import codecs_available
from smoothscope.protocol import NO_VALUE
from smoothscope.results import VERDICTS, missing_fields

HAVE_H264 = "h264" in codecs_available()
TINY = {
    "contents": ("ellipsoid", "ramps", "photos"),
    "families": ("ae_relu_maxpool", "ae_softplus_avgpool", "upsampler"),
    "videos_per_content": 4,
    "frames": 16,
    "size": 16,
    "train_frames": 64,
    "epochs": 1,
    "pipelines": ("float", "quant8", "h264:23" if HAVE_H264 else "jpeg:70"),
    "train_pipelines": 1,
    "n_boot": 50,
}
CODEC_CLAIMS = {"A.forensic.codec_heldout", "A.forensic.codec_not_the_signal"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    return out, run_experiment("forensic", out=out, options=TINY, progress=False)


def test_claims_follow_the_schema_with_controls_and_ledger_fields(tiny_run):
    out, results = tiny_run
    claims = {c["id"]: c for c in results["claims"]}
    expected = set(CLAIM_RULES) if HAVE_H264 else set(CLAIM_RULES) - CODEC_CLAIMS
    assert set(claims) == expected
    ledger = {e["field"] for e in results["protocol"]}
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
        assert claim["depends_on"] == list(DEPENDS_ON[claim["id"]])
        assert set(claim["depends_on"]) <= ledger
        assert claim["decided_under_deviation"] is False  # paper A fixes none of the fields
    assert json.loads((out / "results.json").read_text())["claims"] == results["claims"]


def test_the_protocol_ledger_says_paper_a_fixes_nothing():
    protocol = ForensicConfig.protocol()
    assert {"contents", "families", "frames", "pipelines", "speeds", "n_boot"} <= set(protocol)
    for name, value in protocol.items():
        assert value.value == NO_VALUE, name
        assert value.reason("quick") and value.reason("standard") and value.reason("paper")
    assert protocol["n_boot"].replicate and protocol["videos_per_content"].replicate


def test_pipelines_table_calibration_and_controls(tiny_run):
    _, results = tiny_run
    m = results["measurements"]
    assert m["contents"] == ["ellipsoid", "ramps", "photos"]
    rows = {r["pipeline"]: r for r in m["pipelines"]}
    assert set(rows) == set(TINY["pipelines"])
    for name, row in rows.items():
        for key in ("all_pipelines", "float_only", "dct"):
            low, high = row[key]["auc_interval"]
            assert 0.0 <= low <= row[key]["auc"] <= high <= 1.0
        assert 0.0 <= row["fpr_at_threshold"] <= 1.0 and 0.0 <= row["tpr_at_threshold"] <= 1.0
        assert ("control" in row) == (name != "float")
    cal = m["calibration"]
    assert cal["fpr_authentic_compressed"] <= cal["target_fpr"] == 0.05
    assert 0.0 <= m["threshold"] <= 1.0
    kinds = {p.split(":")[0] for p in TINY["pipelines"]} & {"h264", "mpeg4", "jpeg"}
    assert set(m["leave_one_codec_out"]) == kinds
    assert set(m["leave_one_family_out_stored"]) == set(TINY["families"])
    # authentic noise ramps are linear in time: AveNonSmooth is rounding noise
    assert m["nonsmoothness_by_variant"]["ramps"]["authentic"]["median_ave_nonsmooth"] < 1e-12
    assert "photos" in results["data"]["authentic"]


def test_every_figure_is_declared_with_a_caption_and_drawn(tiny_run):
    out, results = tiny_run
    for path in results["measurements"]["figures"]:  # relative to the run directory
        assert imread(out / path).shape[0] > 50
    declared = {f.file for f in get_experiment("forensic").figures}
    drawn = {p.name for p in (out / "figures").glob("*.png")}
    assert drawn == declared
    assert all(len(f.caption) > 200 for f in FIGURES)


def test_roughness_maps_without_the_relu_autoencoder(tmp_path):
    """The maps figure picks another trained network when ae_relu_maxpool is not in the run
    (it raised StopIteration before issue 27)."""
    variants = ["authentic", "smooth:blur", "net:upsampler:init", "net:upsampler:trained"]
    rng = np.random.default_rng(0)
    maps = {"digits": rng.random((2 * len(variants), 8, 8))}
    path = _maps_figure(maps, variants, tmp_path / ROUGHNESS_MAPS)
    assert imread(path).shape[0] > 50


def test_config_validation():
    with pytest.raises(SmoothscopeError, match="contents"):
        ForensicConfig(contents=("cats",))
    with pytest.raises(SmoothscopeError, match="holdout_content"):
        ForensicConfig(contents=("ellipsoid", "ramps"))
    with pytest.raises(SmoothscopeError, match="videos_per_content"):
        ForensicConfig(videos_per_content=2)
    with pytest.raises(SmoothscopeError, match="pipelines"):
        ForensicConfig(pipelines=("float", "h265:23"))
    with pytest.raises(SmoothscopeError, match="pipelines"):
        ForensicConfig(pipelines=("quant8", "h264:23"))  # float is the reference
    with pytest.raises(SmoothscopeError, match="speeds"):
        ForensicConfig(speeds=(4.0, 1.0))
    assert ForensicConfig.preset("standard").videos_per_content == 16
    assert ForensicConfig.preset("quick").pipelines[0] == "float"
