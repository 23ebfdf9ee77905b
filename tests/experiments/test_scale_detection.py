"""The scale-detection experiment end to end at a tiny scale."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments import get_experiment
from smoothscope.experiments.scale_detection import ScaleDetectionConfig, plan
from smoothscope.experiments.scale_detection.claims import scale_claims
from smoothscope.results import VERDICTS, missing_fields

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
    "zoo": ("vgg11bn", "lenet"),
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
        "B.zoo-lenet.constant_mode",
    } <= ids
    assert all(c["verdict"] in VERDICTS and c["paper"] == "B" for c in results["claims"])
    assert all(missing_fields(c) == [] for c in results["claims"])
    assert {
        "B.task1.R_exponent",
        "B.task2.R_exponent",
        "B.task1.D_training_shift",
        "B.task1.D_flat_at_init",
        "B.task2.G_flat_at_init",
        "B.task1.positive_mean_filters",
        "B.task2.positive_mean_filters",
        "B.task1.mean_channel",
    } <= ids
    assert "generated" in results["data"]["training and measures"]
    by_id = {c["id"]: c for c in results["claims"]}
    assert by_id["B.task1.D_exponent"]["control"]["id"] == "B.task1.D_exponent/init"
    assert by_id["B.task1-tanh.G_exponent"]["control"]["id"].endswith("/relu")
    assert by_id["B.task1.D_training_shift"]["no_control"]  # one seed: no second init
    exponents = {c["id"]: c["paper_value"] for c in results["claims"] if "exponent" in c["id"]}
    assert exponents["B.task1.D_exponent"] == -2 and exponents["B.task2.D_exponent"] == -1
    families = results["measurements"]["families"]
    task1 = families["task1"]
    assert len(task1["A"]) == 4 and task1["A"] == sorted(task1["A"])  # receptive fields grow
    assert {"init", "trained", "mean", "init-mean"} <= set(task1)
    assert len(task1["mean_filters"]["trained"]) == 4
    assert all(len(f) == 3 for f in task1["mean_filters"]["trained"])  # filter size 3
    assert len(families["task2"]["A"]) == 5
    assert {"init", "trained", "shuffled"} <= set(families["zoo-vgg11bn"])
    for name in (
        "sensitivities_vs_A.png",
        "mean_filters.png",
        "filter_spectra.png",
        "zoo_shuffled.png",
        "zoo_error_vs_sensitivity.png",
    ):
        assert imread(out / "figures" / name).std() > 0.01
    declared = {fig.file for fig in get_experiment("scale-detection").figures}
    assert {p.name for p in (out / "figures").glob("*.png")} <= declared


def test_plan_and_config():
    stages, index = plan(ScaleDetectionConfig.preset("quick", **TINY))
    assert len(stages[0]) == 5  # task1, task2, task1-tanh, two zoo nets
    assert set(index["zoo-vgg11bn", 0]) == {"train", "init", "trained", "shuffled"}
    config = ScaleDetectionConfig.preset("paper")
    assert (config.t2_xi, config.t2_length, config.t2_points) == (32, 128, 1024)
    assert config.tasks()["task1"]["net"]["padding"] == "zeros"
    assert config.lr_zoo == 0.05 and config.preserve_label is False
    assert ScaleDetectionConfig.preset("standard").seeds >= 4
    with pytest.raises(SmoothscopeError, match="convention"):
        ScaleDetectionConfig.preset("quick", convention="theirs")
    stages, _ = plan(ScaleDetectionConfig.preset("quick", **TINY, convention="peer"))
    assert all(c.config["convention"] == "peer" for c in stages[1])
    with pytest.raises(SmoothscopeError, match="even"):
        ScaleDetectionConfig.preset("quick", t1_points=15)


def _run(a, d, g, filters_k):
    rows = [{"D": di, "G": gi, "R": di / gi} for di, gi in zip(d, g, strict=True)]
    spectra = [[0.6, 0.3, 0.1] for _ in a]
    return {"rows": [*rows, {}], "A": list(a), "mean_filters": filters_k, "spectra": spectra}


def _family(seeds, trained_like_init=False, dead_mean=False):
    rng = np.random.default_rng(1)
    a = np.sqrt(np.arange(1, 9) * 2 / 3)
    fam = {v: [] for v in ("train", "init", "trained", "mean", "init-mean")}
    for _ in range(seeds):
        noise = np.exp(0.05 * rng.normal(size=(4, a.size)))
        flat = 0.5 * noise[0], 0.3 * noise[1]
        law = a**-2.0 * noise[2], a * noise[3]
        positive = [[0.3, 0.2, 0.3]] * a.size
        random = rng.normal(size=(a.size, 3)).tolist()
        trained = _run(a, *(flat if trained_like_init else law), positive)
        fam["trained"].append(trained)
        fam["init"].append(_run(a, *flat, random))
        mean = _run(a, law[0] * 1.1, law[1], positive)
        if dead_mean:
            mean["rows"][1]["D"] = float("nan")
        fam["mean"].append(mean)
        fam["init-mean"].append(_run(a, flat[0] * 10, flat[1], random))
        fam["train"].append({"test_error": 0.0, "init_test_error": 0.5})
    return fam


def test_claim_rules_pass_on_the_law_and_fail_on_broken_inputs():
    claims = {c.id: c for c in scale_claims({"task1": _family(4)}, n_test=256, n_boot=200, seed=0)}
    for cid in ("D_exponent", "G_exponent", "R_exponent", "D_training_shift", "D_flat_at_init"):
        assert claims[f"B.task1.{cid}"].verdict == "reproduced", claims[f"B.task1.{cid}"].rule
        assert claims[f"B.task1.{cid}"].control.verdict != "reproduced"
    for cid in ("mean_channel", "positive_mean_filters", "test_error"):
        assert claims[f"B.task1.{cid}"].verdict == "reproduced", claims[f"B.task1.{cid}"].rule
    # training changed nothing: the exponents are the untrained ones, never "reproduced"
    broken = {"task1": _family(4, trained_like_init=True)}
    claims = {c.id: c for c in scale_claims(broken, n_test=256, n_boot=200, seed=0)}
    for cid in ("D_exponent", "G_exponent", "D_training_shift", "G_training_shift"):
        assert claims[f"B.task1.{cid}"].verdict != "reproduced"
    # a dead mean-channel layer is counted, never dropped
    dead = {"task1": _family(4, dead_mean=True)}
    claim = next(
        c
        for c in scale_claims(dead, n_test=256, n_boot=200, seed=0)
        if c.id.endswith("mean_channel")
    )
    assert claim.verdict == "not reproduced" and "dead" in claim.rule
