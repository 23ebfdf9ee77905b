"""The nonsmoothness experiment end to end at a tiny scale: schema, figures, resume, seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments import get_experiment
from smoothscope.experiments.nonsmoothness.cells import (
    data_spec,
    light_paths,
    plan,
    smooth_test_videos,
    terminator_pixels,
    training_data,
    video_statistics,
)
from smoothscope.experiments.nonsmoothness.claims import dataset_claims
from smoothscope.experiments.nonsmoothness.config import (
    MIN_PATH_LENGTH,
    PAPER_PATH_LENGTH,
    NonsmoothnessConfig,
    paper_path_density,
)
from smoothscope.results import VERDICTS, missing_fields

TINY = {
    "n_models": 1,
    "frames": 24,
    "frames_per_unit": 1.0,
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
    for ds in ("ellipsoid", "ellipsoid_blanked", "digits"):
        for name in (
            "ratio_relu_vs_softplus",
            "relu_raises_nonsmoothness",
            "peak_share_difference",
        ):
            assert f"A.{ds}.{name}" in ids
    assert not any("excess_ratio" in i for i in ids)  # the paper's ratio is of the increases
    assert {"A.digits.input_zero", "A.ellipsoid.input_smooth"} <= ids
    assert "A.ellipsoid_blanked.input_smooth" in ids
    assert {"A.fig1.relu_kink_detected", "A.fig2.max_pool_kink_detected"} <= ids
    for claim in results["claims"]:
        assert missing_fields(claim) == [], claim["id"]
        assert claim["paper"] == "A" and claim["verdict"] in VERDICTS
        assert isinstance(claim["measured"], float)
        assert claim["control"]["id"].startswith(claim["id"] + "/")
        expected_kind = "extension" if "blanked" in claim["id"] else "paper"
        assert claim["kind"] == expected_kind
        assert claim["depends_on"] is not None
        if claim["uncertainty"] is not None:
            low, high = claim["uncertainty"]
            assert low <= high
    by_id = {c["id"]: c for c in results["claims"]}
    # the controls are built to fail the rules: identical setups, kinked inputs, smooth toys
    for name in ("ratio_relu_vs_softplus", "peak_share_difference"):
        assert by_id[f"A.ellipsoid.{name}"]["control"]["verdict"] != "reproduced"
    assert by_id["A.digits.input_zero"]["control"]["verdict"] == "not reproduced"
    assert by_id["A.ellipsoid.input_smooth"]["control"]["verdict"] == "not reproduced"
    # blanking the terminator pixels leaves no event in the input; the reversing light keeps its
    blank = by_id["A.ellipsoid_blanked.input_smooth"]
    assert blank["measured"] == 0 and blank["control"]["verdict"] == "not reproduced"
    for fig in ("fig1", "fig2"):
        assert (
            by_id[f"A.{fig}.{'relu' if fig == 'fig1' else 'max_pool'}_kink_detected"]["depends_on"]
            == []
        )
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
        first, again = smooth_test_videos(spec), smooth_test_videos(spec)
        assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
        a, b = training_data(spec), training_data(spec)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_ellipsoid_video_zero_is_the_papers_path_and_digit_videos_are_ramps():
    config = NonsmoothnessConfig.preset("quick", **TINY)
    videos = smooth_test_videos(data_spec(config, "ellipsoid"))
    assert len(videos) == 3 and videos[0].shape == (26, 1, 28, 28)  # 1 + round(25.46 × 1.0)
    frame = videos[0][0, 0]
    assert frame[8, 10] > frame[19, 17]  # light starts in the north-west
    digits = torch.stack(smooth_test_videos(data_spec(config, "digits")))
    assert digits.shape == (2, 24, 1, 28, 28)
    d2 = digits[:, 2:] + digits[:, :-2] - 2 * digits[:, 1:-1]
    assert d2.abs().max() < 1e-14


def test_every_light_path_is_sampled_at_the_same_frames_per_unit_of_length():
    spec = data_spec(NonsmoothnessConfig.preset("standard"), "ellipsoid")
    paths = light_paths(spec)
    assert len(paths) == 30 and paths[0].shape == (300, 2)  # 300 frames on the paper's path
    assert torch.equal(paths[0][0], torch.tensor([-9.0, -9.0], dtype=torch.float64))
    for path in paths:
        length = float((path[-1] - path[0]).norm())
        assert length >= MIN_PATH_LENGTH
        step = (path[1:] - path[:-1]).norm(dim=1)
        assert torch.allclose(step, step[0]) and abs(1 / float(step[0]) - 11.75) < 0.15
    assert paper_path_density(1000) * PAPER_PATH_LENGTH == pytest.approx(999)
    # the test videos do not enter the training cells: runs differing in them share models
    other = NonsmoothnessConfig.preset("standard", frames_per_unit=3.0, ellipsoid_videos=5)
    ids = [c.id for c in plan(NonsmoothnessConfig.preset("standard"))[0][0]]
    assert ids == [c.id for c in plan(other)[0][0]]


def test_the_terminator_is_the_only_kink_of_the_rendered_input_and_blanking_removes_it():
    spec = data_spec(NonsmoothnessConfig.preset("quick", frames_per_unit=8.0), "ellipsoid")
    video = smooth_test_videos(spec)[0]
    crossed = terminator_pixels(video)
    assert 0 < int(crossed.sum()) < 60  # a thin rim, not the object
    identity = torch.nn.Identity()
    as_defined = video_statistics(identity, video, 10.0)
    assert float(as_defined["input_object_peak_share"]) > 0  # the shading max(vᵀn, 0)
    blanked = smooth_test_videos(spec, blanked=True)[0]
    assert torch.equal(blanked[:, crossed], torch.zeros_like(blanked[:, crossed]))
    assert torch.equal(blanked[:, ~crossed], video[:, ~crossed])
    assert float(video_statistics(identity, blanked, 10.0)["input_object_peak_share"]) == 0
    with pytest.raises(SmoothscopeError, match="terminator"):
        smooth_test_videos(data_spec(NonsmoothnessConfig.preset("quick"), "digits"), blanked=True)


def _net(activation: torch.nn.Module | None, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    parts = [torch.nn.Conv2d(1, 8, 3, padding=1)]
    parts += [activation] if activation is not None else []
    parts += [torch.nn.Conv2d(8, 1, 3, padding=1)]
    return torch.nn.Sequential(*parts).double()


def _tables(kinds: dict[str, torch.nn.Module | None], videos, kinked) -> dict:
    """Tables of ``dataset_claims`` from three random nets per setup on ``videos``."""
    tables: dict = {}
    for setup, activation in kinds.items():
        rows = [[video_statistics(_net(activation, s), v, 10.0) for v in videos] for s in range(3)]
        tables[setup] = {
            k: np.array([[float(r[k]) for r in row] for row in rows])
            for k in ("ave_nonsmooth", "peak_share", "new_peak_share")
        }
        tables["input"] = {
            k: np.array([float(r[f"input_{k}"]) for r in rows[0]])
            for k in ("ave_nonsmooth", "peak_share", "object_peak_share")
        }
    tables["control_input"] = {"ave_nonsmooth": kinked, "object_peak_share": 1.0}
    return tables


def test_the_rules_fall_where_appendix_a_says_on_linear_softplus_and_relu_nets():
    """App. A: both setups raise AveNonSmooth, ReLU far more, and only ReLU creates peaks. Fed
    random conv nets on smooth noise ramps, the rules separate ReLU from softplus, and a linear
    net (no kink, no curvature) in ReLU's place fails them; a kinked input fails the input
    check."""
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(-1, 1, 80, dtype=torch.float64)[:, None, None, None]
    ramps = [torch.randn(1, 12, 12, generator=g, dtype=torch.float64) for _ in range(4)]
    videos = [torch.rand(1, 12, 12, generator=g, dtype=torch.float64) + t * r for r in ramps]
    config = NonsmoothnessConfig.preset("quick", n_boot=200)
    relu, soft, linear = torch.nn.ReLU(), torch.nn.Softplus(), None

    # the input check's control: the first video with its ramp reversed at mid-video
    kinked = videos[0] - t * ramps[0] + (t - t[40]).abs() * ramps[0]
    kink = float(video_statistics(torch.nn.Identity(), kinked, 10.0)["input_ave_nonsmooth"])

    def verdicts(kinds):
        tables = _tables(kinds, videos, kink)
        return {c.id.split(".")[-1]: c for c in dataset_claims("digits", config, tables)}

    paper = verdicts({"relu_maxpool": relu, "softplus_avgpool": soft})
    assert paper["ratio_relu_vs_softplus"].verdict == "reproduced"
    raises = paper["relu_raises_nonsmoothness"]
    assert raises.verdict == "reproduced" and raises.control.verdict == "not reproduced"
    assert raises.control.measured < 0.01 < raises.measured  # peaks appear with ReLU only
    assert "increase" in raises.control.description  # softplus raises AveNonSmooth too
    assert paper["peak_share_difference"].verdict == "reproduced"
    assert paper["input_zero"].verdict == "reproduced"
    assert paper["input_zero"].control.verdict == "not reproduced"  # the kinked input
    for claim in paper.values():
        assert claim.depends_on and "frames" in claim.depends_on

    no_kink = verdicts({"relu_maxpool": linear, "softplus_avgpool": soft})
    assert no_kink["relu_raises_nonsmoothness"].verdict == "not reproduced"
    assert no_kink["ratio_relu_vs_softplus"].verdict == "not reproduced"
    assert no_kink["peak_share_difference"].verdict != "reproduced"


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


@pytest.mark.parametrize("scale", ["quick", "standard", "paper"])
def test_every_deviation_from_the_paper_has_a_reason(scale):
    from smoothscope.experiments._base import run_ledger
    from smoothscope.experiments.nonsmoothness.config import runtime_protocol_values

    values = runtime_protocol_values() | {
        "digit_template_source": "scikit-learn digits",
        "ave_nonsmooth_normalisation": "1/(MN(T−2))",
    }
    config = NonsmoothnessConfig.preset(scale)
    entries = {e["field"]: e for e in run_ledger(NonsmoothnessConfig, scale, config, values)}
    for entry in entries.values():
        assert not entry["deviates"] or entry["reason"], entry
    # the frames per path length and the training sets are recorded against the paper's
    assert entries["frames_per_unit"]["deviates"] == (scale != "paper")
    assert entries["frames"]["deviates"] is False and entries["shading"]["deviates"] is False
    assert entries["ellipsoid_train"]["deviates"] == (scale == "quick")
    assert entries["n_models"]["replicate"] and entries["ellipsoid_videos"]["replicate"]
