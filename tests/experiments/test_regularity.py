"""The regularity experiment end to end at a tiny scale."""

from __future__ import annotations

import pytest
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments.regularity import RegularityConfig, plan
from smoothscope.results import VERDICTS

TINY = {
    "width": 4,
    "depth": 1,
    "n0": 16,
    "train_images": 16,
    "val_images": 8,
    "epochs": 1,
    "train_scales": (1,),
    "eval_scales": (1, 2),
    "lambdas": (0.0, 0.1),
    "test_scenes": 2,
    "dip_n0": 16,
    "dip_iterations": 3,
    "dip_lambdas": (0.0, 0.001),
    "n_boot": 50,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("regularity")
    return out, run_experiment("regularity", out=out, options=TINY, progress=False)


def test_claims_tables_figures(tiny_run):
    out, results = tiny_run
    ids = {c["id"] for c in results["claims"]}
    assert ids == {
        "D.output_jumps_vanish",
        "D.target_jumps_stay",
        "D.curvature_smooth",
        "D.curvature_relu",
        "D.l2_widens_edges",
        "D.dip_l2_smooths",
    }
    assert all(c["paper"] == "D" and c["verdict"] in VERDICTS for c in results["claims"])
    target = next(c for c in results["claims"] if c["id"] == "D.target_jumps_stay")
    assert target["measured"] > 0.7  # a true edge keeps its jump (sub-pixel position varies)
    edges = results["measurements"]["edges"]
    assert {"relu/max/nearest s_train=1 λ=0", "softplus/avg/bilinear s_train=1 λ=0"} <= set(edges)
    assert set(edges["relu/max/nearest s_train=1 λ=0"]) == {"1", "2"}
    assert set(results["measurements"]["dip"]) == {"λ=0", "λ=0.001"}
    for name in ("cuts_and_jumps_vs_s.png", "l2_sweep.png"):
        assert imread(out / "figures" / name).std() > 0.01


def test_plan_and_config():
    stages, cells = plan(RegularityConfig.preset("quick", **TINY))
    assert len(stages[0]) == 3  # main λ=0 (shared), softplus variant, main λ=0.1
    assert len(cells["dip"]) == 2
    with pytest.raises(SmoothscopeError, match="lambdas"):
        RegularityConfig.preset("quick", lambdas=(0.1,))
    with pytest.raises(SmoothscopeError, match="variants"):
        RegularityConfig.preset("quick", variants=("relu",))
