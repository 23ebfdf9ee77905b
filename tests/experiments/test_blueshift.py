"""The blueshift experiment end to end at a tiny scale."""

from __future__ import annotations

import pytest
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments.blueshift import BlueshiftConfig, plan
from smoothscope.results import VERDICTS

TINY = {
    "toy_units": 4,
    "toy_depths": (2, 3, 4),
    "resnet_depth": 8,
    "images": 1,
    "points": 16,
    "directions": 2,
    "walk_layers": 4,
    "sweep_depths": (8,),
    "sweep_alphas": (0.5, 0.75, 1.0),
    "sweep_epochs": 1,
    "n_boot": 50,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("blueshift")
    return out, run_experiment("blueshift", out=out, options=TINY, progress=False)


def test_claims_and_figures(tiny_run):
    out, results = tiny_run
    ids = {c["id"] for c in results["claims"]}
    assert ids == {
        "C.fig3.relu_rougher_than_tanh",
        "C.fig3.tanh_rougher_than_softplus",
        "C.fig5.h_decreases_with_depth",
        "C.fig5.shortcuts_smooth",
        "C.fig7.v2_smoother_than_v1",
        "C.fig8.averaging_smooths",
        "C.fig1.nonlinearity_roughens",
        "C.fig1.shortcuts_dampen",
        "C.fig15.lower_layers_rougher",
        "C.fig9.smoothness_vs_trainability",
    }
    assert all(c["paper"] == "C" and c["verdict"] in VERDICTS for c in results["claims"])
    m = results["measurements"]
    assert set(m["chebyshev"]) >= {"relu", "tanh", "softplus", "gelu"}
    relu = m["chebyshev"]["relu"]["magnitudes"]
    assert relu[1] == pytest.approx(2.5, rel=1e-3)  # ReLU on [−5, 5]: c1 = 5/2
    assert len(m["h"]["toy-relu"]) == 5  # 4 units + classifier
    assert len(m["trainability"]) == 3
    for name in (
        "fig3_spectra_per_layer.png",
        "fig5_6_7_8.png",
        "fig1_transition.png",
        "fig2_9_chebyshev_trainability.png",
    ):
        assert imread(out / "figures" / name).std() > 0.01


def test_plan_and_config():
    _, cells = plan(BlueshiftConfig.preset("quick", **TINY))
    assert {
        "toy-relu",
        "toy-relu-gradient",
        "resnet-v1",
        "resnet-v2",
        "noshort-avg3",
        "transition-a0-nu0",
    } <= set(cells)
    assert cells["toy-relu-gradient"].config["directions"] == 1
    assert cells["transition-a1-nu1"].config["kwargs"]["nu_branch"] == "shortcut"
    with pytest.raises(SmoothscopeError, match="6n"):
        BlueshiftConfig.preset("quick", resnet_depth=10)
