"""The nonsmoothness experiment end to end at a tiny scale: schema, figures, resume, seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments import get_experiment
from smoothscope.experiments.nonsmoothness.cells import (
    data_spec,
    plan,
    smooth_test_videos,
    training_data,
)
from smoothscope.experiments.nonsmoothness.config import NonsmoothnessConfig
from smoothscope.results import VERDICTS, missing_fields

TINY = {
    "n_models": 1,
    "frames": 24,
    "ellipsoid_train": 48,
    "ellipsoid_val": 16,
    "ellipsoid_videos": 3,
    "digit_templates": 6,
    "digit_angles": 4,
    "digit_val_angles": 1,
    "digit_videos": 2,
    "epochs": 1,
    "batch_size": 16,
    "n_boot": 50,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    return out, run_experiment("nonsmoothness", out=out, options=TINY, progress=False)


def test_results_follow_the_schema(tiny_run):
    out, results = tiny_run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["claims"] == results["claims"]
    ids = {c["id"] for c in results["claims"]}
    for ds in ("ellipsoid", "digits"):
        for name in (
            "ratio_relu_vs_softplus",
            "excess_ratio_relu_vs_softplus",
            "relu_raises_nonsmoothness",
            "peak_share_difference",
        ):
            assert f"A.{ds}.{name}" in ids
    assert {"A.digits.input_zero", "A.ellipsoid.input_smooth"} <= ids
    assert {"A.fig1.relu_kink_detected", "A.fig2.max_pool_kink_detected"} <= ids
    for claim in results["claims"]:
        assert missing_fields(claim) == [], claim["id"]
        assert claim["paper"] == "A" and claim["verdict"] in VERDICTS
        assert isinstance(claim["measured"], float)
        assert claim["control"]["id"].startswith(claim["id"] + "/")
        expected_kind = "post-hoc" if "excess_ratio" in claim["id"] else "paper"
        assert claim["kind"] == expected_kind
        if claim["uncertainty"] is not None:
            low, high = claim["uncertainty"]
            assert low <= high
    by_id = {c["id"]: c for c in results["claims"]}
    # the controls are built to fail the rules: identical setups, kinked inputs, smooth toys
    for name in ("ratio_relu_vs_softplus", "peak_share_difference"):
        assert by_id[f"A.ellipsoid.{name}"]["control"]["verdict"] != "reproduced"
    assert by_id["A.digits.input_zero"]["control"]["verdict"] == "not reproduced"
    assert by_id["A.ellipsoid.input_smooth"]["control"]["verdict"] == "not reproduced"
    for fig in ("fig1.relu", "fig2.max_pool"):
        claim = by_id[f"A.{fig}_kink_detected"]
        assert claim["verdict"] == "reproduced" and claim["control"]["verdict"] == "not reproduced"
    assert by_id["A.fig1.relu_kink_detected"]["measured"] == pytest.approx(0.1, abs=1e-12)
    assert by_id["A.fig2.max_pool_kink_detected"]["measured"] == pytest.approx(0.2, abs=1e-12)
    assert set(results["data"]) == {"ellipsoid test videos", "digits test videos"}
    zero = next(c for c in results["claims"] if c["id"] == "A.digits.input_zero")
    assert zero["measured"] < 1e-10 and zero["verdict"] == "reproduced"
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["n_models"] == 1 and config["environment"]["torch"]


def test_figures_are_real_pngs(tiny_run):
    out, _ = tiny_run
    names = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert names == sorted(
        [
            f"{d}_{k}.png"
            for d in ("digits", "ellipsoid")
            for k in ("curves", "frames", "histograms")
        ]
        + ["toy_examples.png"]
    )
    for name in names:
        image = imread(out / "figures" / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0.01
    declared = {fig.file for fig in get_experiment("nonsmoothness").figures}
    assert set(names) <= declared  # every figure drawn has its caption


def test_rerun_resumes_without_retraining(tiny_run):
    out, results = tiny_run
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*/model.pt")}
    assert len(stamps) == 4  # 2 datasets x 2 setups x 1 model
    again = run_experiment("nonsmoothness", out=out, options=TINY, progress=False)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert again["claims"] == results["claims"]


def test_an_existing_run_with_another_config_is_not_clobbered(tiny_run):
    out, _ = tiny_run
    with pytest.raises(SmoothscopeError, match="another experiment or config"):
        run_experiment("nonsmoothness", out=out, options={**TINY, "epochs": 2}, progress=False)


def test_same_seed_same_cells_and_data():
    config = NonsmoothnessConfig.preset("quick", **TINY)
    ids = [[c.id for c in stage] for stage in plan(config)[0]]
    assert ids == [
        [c.id for c in stage] for stage in plan(NonsmoothnessConfig.preset("quick", **TINY))[0]
    ]
    other = plan(NonsmoothnessConfig.preset("quick", seed=1, **TINY))[0]
    assert not {i for stage in ids for i in stage} & {c.id for stage in other for c in stage}
    for ds in ("ellipsoid", "digits"):
        spec = data_spec(config, ds)
        assert torch.equal(smooth_test_videos(spec), smooth_test_videos(spec))
        a, b = training_data(spec), training_data(spec)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_ellipsoid_video_zero_is_the_papers_path_and_digit_videos_are_ramps():
    config = NonsmoothnessConfig.preset("quick", **TINY)
    videos = smooth_test_videos(data_spec(config, "ellipsoid"))
    assert videos.shape == (3, 24, 1, 28, 28)
    frame = videos[0, 0, 0]
    assert frame[8, 10] > frame[19, 17]  # light starts in the north-west
    digits = smooth_test_videos(data_spec(config, "digits"))
    d2 = digits[:, 2:] + digits[:, :-2] - 2 * digits[:, 1:-1]
    assert d2.abs().max() < 1e-14


def test_fashion_mnist_is_a_third_dataset_of_kind_extension(tmp_path):
    from smoothscope.data.real import resolve_dataset

    try:
        resolve_dataset("fashion-mnist")
    except SmoothscopeError:
        pytest.skip("Fashion-MNIST is not installed")
    options = {**TINY, "datasets": ("fashion",), "fashion_templates": 6}
    results = run_experiment("nonsmoothness", out=tmp_path, options=options, progress=False)
    fashion = [c for c in results["claims"] if c["id"].startswith("A.fashion.")]
    assert {c["id"] for c in fashion} >= {
        "A.fashion.ratio_relu_vs_softplus",
        "A.fashion.input_zero",
    }
    assert all(c["kind"] in ("extension", "post-hoc") for c in fashion)
    assert all(missing_fields(c) == [] for c in results["claims"])
    assert "Fashion-MNIST class 7 (Sneaker)" in results["data"]["fashion test videos"]
    drawn = {p.name for p in (tmp_path / "figures").glob("*.png")}
    assert {f"fashion_{k}.png" for k in ("frames", "curves", "histograms")} <= drawn
    assert drawn <= {fig.file for fig in get_experiment("nonsmoothness").figures}


def test_bad_config_values():
    with pytest.raises(SmoothscopeError, match="datasets"):
        NonsmoothnessConfig.preset("quick", datasets=("faces",))
    with pytest.raises(SmoothscopeError, match="fashion_class"):
        NonsmoothnessConfig.preset("quick", fashion_class=10)
    assert (
        NonsmoothnessConfig.preset("standard").n_models
        > NonsmoothnessConfig.preset("quick").n_models
    )
    with pytest.raises(SmoothscopeError, match="frames"):
        NonsmoothnessConfig.preset("quick", frames=2)
    with pytest.raises(SmoothscopeError, match="option 'colour'"):
        NonsmoothnessConfig.preset("quick", colour=3)
    with pytest.raises(SmoothscopeError, match="scale"):
        NonsmoothnessConfig.preset("huge")
    assert NonsmoothnessConfig.preset("paper").n_models == 10
    assert NonsmoothnessConfig.preset("paper").ellipsoid_train == 10000


def test_same_seed_gives_the_same_numbers(tiny_run, tmp_path):
    _, results = tiny_run
    again = run_experiment("nonsmoothness", out=tmp_path / "again", options=TINY, progress=False)
    assert again["claims"] == results["claims"]
    assert (
        again["measurements"]["digits"]["median_ave_nonsmooth"]
        == (results["measurements"]["digits"]["median_ave_nonsmooth"])
    )


@pytest.mark.slow
def test_quick_scale_digits_reproduce_the_papers_direction(tmp_path):
    """At quick scale ReLU+MaxPool outputs are far less smooth than Softplus+AvgPool outputs."""
    results = run_experiment(
        "nonsmoothness", out=tmp_path, options={"datasets": ("digits",)}, progress=False
    )
    verdicts = {c["id"]: c["verdict"] for c in results["claims"]}
    assert verdicts["A.digits.ratio_relu_vs_softplus"] == "reproduced"
    assert verdicts["A.digits.peak_share_difference"] == "reproduced"
    assert verdicts["A.digits.input_zero"] == "reproduced"


def test_cli_process_pool_gives_the_same_claims_as_in_process(tiny_run, tmp_path, capsys):
    from smoothscope.cli import main

    _, results = tiny_run
    argv = [
        "run",
        "nonsmoothness",
        "--out",
        str(tmp_path / "pool"),
        "--executor",
        "process",
        "--jobs",
        "2",
        "--no-progress",
    ]
    for key, value in TINY.items():
        argv += ["--set", f"{key}={value}"]
    assert main(argv) == 0
    assert "A.digits.input_zero" in capsys.readouterr().out
    pooled = json.loads((tmp_path / "pool" / "results.json").read_text())
    assert pooled["claims"] == results["claims"]
