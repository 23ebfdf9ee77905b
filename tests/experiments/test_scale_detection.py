"""The scale-detection experiment end to end at a tiny scale."""

from __future__ import annotations

import pytest
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments.scale_detection import ScaleDetectionConfig, plan
from smoothscope.results import VERDICTS

TINY = {
    "width": 8,
    "seeds": 1,
    "t2_seeds": 1,
    "t1_points": 16,
    "t1_depth": 4,
    "t2_length": 32,
    "t2_xi": 8,
    "t2_points": 16,
    "t2_depth": 5,
    "interpolation_multiple": 2.0,
    "interpolation_multiple_tanh": 2.0,
    "max_epochs": 20,
    "n_test": 16,
    "moves_per_input": 1,
    "zoo_points": 16,
    "zoo_width": 0.125,
    "zoo_interpolation_multiple": 1.0,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale")
    return out, run_experiment("scale-detection", out=out, options=TINY, progress=False)


def test_claims_tables_figures(tiny_run):
    out, results = tiny_run
    ids = {c["id"] for c in results["claims"]}
    assert {
        "B.task1.D_exponent",
        "B.task1.G_exponent",
        "B.task2.D_exponent",
        "B.task2.G_exponent",
        "B.task1-tanh.G_exponent",
        "B.task1.test_error",
        "B.task2.test_error",
        "B.task1.receptive_field_sqrt_k",
        "B.zoo-vgg11bn.constant_mode",
    } <= ids
    assert all(c["verdict"] in VERDICTS and c["paper"] == "B" for c in results["claims"])
    exponents = {c["id"]: c["paper_value"] for c in results["claims"] if "exponent" in c["id"]}
    assert exponents["B.task1.D_exponent"] == -2 and exponents["B.task2.D_exponent"] == -1
    families = results["measurements"]["families"]
    task1 = families["task1"]
    assert len(task1["A"]) == 4 and task1["A"] == sorted(task1["A"])  # receptive fields grow
    assert {"init", "trained", "mean"} <= set(task1)
    assert len(task1["mean_filters"]["trained"]) == 4
    assert all(len(f) == 3 for f in task1["mean_filters"]["trained"])  # filter size 3
    assert len(families["task2"]["A"]) == 5
    for name in ("sensitivities_vs_A.png", "mean_filters.png"):
        assert imread(out / "figures" / name).std() > 0.01


def test_plan_and_config():
    stages, index = plan(ScaleDetectionConfig.preset("quick", **TINY))
    assert len(stages[0]) == 4  # task1, task2, task1-tanh, zoo
    assert set(index["zoo-vgg11bn", 0]) == {"train", "init", "trained"}
    config = ScaleDetectionConfig.preset("paper")
    assert (config.t2_xi, config.t2_length, config.t2_points) == (32, 128, 1024)
    assert config.tasks()["task1"]["net"]["padding"] == "zeros"
    with pytest.raises(SmoothscopeError, match="even"):
        ScaleDetectionConfig.preset("quick", t1_points=15)
