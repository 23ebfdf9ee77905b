"""The blueshift experiment end to end at a tiny scale, and its claim rules on broken inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.experiments import blueshift as E
from smoothscope.experiments import get_experiment
from smoothscope.experiments.blueshift import BlueshiftConfig, plan
from smoothscope.experiments.blueshift import claims as R
from smoothscope.experiments.blueshift.cells import h_table
from smoothscope.results import VERDICTS, missing_fields

TINY = {
    "toy_units": 4,
    "toy_depths": (2, 3, 4),
    "resnet_depth": 8,
    "images": 1,
    "points": 33,
    "inits": 2,
    "directions": 2,
    "walk_layers": 2,
    "extra_activations": ("leaky_relu:0.2",),
    "sweep_depths": (8,),
    "sweep_alphas": (0.5, 0.75, 1.0),
    "sweep_epochs": 1,
    "train_images": 64,
    "sweep_variants": ("noshort", "v2"),
    "train_checkpoints": (0, 1),
    "train_radii": (10.0,),
    "delta_radii": (1.0, 100.0),
    "n_boot": 50,
}
IDS = {
    "C.fig3.relu_rougher_than_tanh",
    "C.fig3.tanh_rougher_than_softplus",
    "C.fig5.h_decreases_with_depth",
    "C.fig5.shortcuts_smooth",
    "C.fig7.v2_smoother_than_v1",
    "C.fig7.v2_less_high_frequency_power",
    "C.fig8.averaging_smooths",
    "C.fig1.nonlinearity_roughens",
    "C.fig1.shortcuts_dampen",
    "C.fig15.lower_layers_rougher",
    "C.fig9.smoothness_vs_trainability",
    "C.fig6.relu_decorrelates_more_than_softplus",
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("blueshift")
    return out, run_experiment("blueshift", out=out, options=TINY, progress=False)


def test_claims_and_figures(tiny_run):
    out, results = tiny_run
    assert {c["id"] for c in results["claims"]} == IDS
    for c in results["claims"]:
        assert c["paper"] == "C" and c["verdict"] in VERDICTS and c["kind"] == "paper"
        assert missing_fields(c) == [], c["id"]
        if c["id"] != "C.fig9.smoothness_vs_trainability":
            assert c["replicates"] == {"initialisations": 2, "directions": 2}
    by_id = {c["id"]: c for c in results["claims"]}
    assert by_id["C.fig3.relu_rougher_than_tanh"]["control"]["id"].endswith("/linear")
    assert "Paper convention (raw DFT" in by_id["C.fig5.shortcuts_smooth"]["rule"]
    assert "Paper convention" not in by_id["C.fig6.relu_decorrelates_more_than_softplus"]["rule"]
    m = results["measurements"]
    assert set(m["chebyshev"]) >= {"relu", "tanh", "softplus", "gelu"}
    relu = m["chebyshev"]["relu"]["magnitudes"]
    assert relu[1] == pytest.approx(2.5, rel=1e-3)  # ReLU on [−5, 5]: c1 = 5/2
    assert len(m["h"]["toy-relu"]) == 5  # 4 units + classifier
    assert set(m["h"]["toy-depth4-noshort"]) == {"output", "loss"}  # Fig. 5 uses the loss
    assert {"h", "h_paper", "fitted", "paths"} <= set(m["h"]["resnet-v1"]["output"])
    assert len(m["trainability"]) == 6  # noshort and v2 × 3 α
    assert {r["variant"] for r in m["trainability"]} == {"noshort", "v2"}
    fig11 = m["during_training"]
    assert set(fig11) == {"relu", "tanh", "relu-short"}
    assert set(fig11["relu"]["h"]) == {"e0_r0", "e1_r0"} and "1" in fig11["relu"]["train_accuracy"]
    units = {*(f"units.unit{i}" for i in range(1, 5)), "classifier"}
    assert set(fig11["tanh"]["h"]["e1_r0"]) == units
    assert set(m["delta_orthogonal"]["tanh"]) == set(m["delta_orthogonal"]["identity"])
    assert set(m["delta_orthogonal"]["tanh"]) == {"1", "100"}
    assert "images" in results["data"]
    for name in (
        "fig3_spectra_per_layer.png",
        "fig5_6_7_8.png",
        "fig1_transition.png",
        "fig2_9_chebyshev_trainability.png",
        "fig17_other_activations.png",
        "fig9_trainability.png",
        "fig11_during_training.png",
        "fig12_delta_orthogonal.png",
    ):
        assert imread(out / "figures" / name).std() > 0.01
    declared = {fig.file for fig in get_experiment("blueshift").figures}
    drawn = {p.name for p in (out / "figures").glob("*.png")}
    assert drawn and drawn <= declared, drawn - declared


def test_plan_and_config():
    _, cells = plan(BlueshiftConfig.preset("quick", **TINY))
    assert {
        "toy-relu",
        "toy-identity",
        "toy-relu-gradient",
        "toy-depth4-linear",
        "resnet-v1",
        "resnet-v2",
        "noshort-avg3",
        "transition-a0-nu0",
    } <= set(cells)
    assert cells["toy-relu-gradient"].config["directions"] == 1
    assert cells["toy-tanh-delta-r1"].config["init"] == "delta-orthogonal"
    assert cells["toy-identity-delta-r100"].config["radius"] == 100.0
    assert not cells["toy-tanh-delta-r100"].config["kwargs"]["batch_norm"]
    assert cells["trained-relu"].config["checkpoints"] == [0, 1]
    assert cells["train v28 α=0.5"].config["kwargs"]["shortcut"]
    assert not cells["train noshort8 α=0.5"].config["kwargs"]["shortcut"]
    with pytest.raises(SmoothscopeError, match="sweep_variants"):
        BlueshiftConfig.preset("quick", sweep_variants=("v3",))
    with pytest.raises(SmoothscopeError, match="delta_radii"):
        BlueshiftConfig.preset("quick", delta_radii=(1.0,))
    assert cells["transition-a1-nu1"].config["kwargs"]["nu_branch"] == "shortcut"
    assert cells["toy-depth2-short"].config["loss"] and cells["transition-a1-nu0"].config["loss"]
    with pytest.raises(SmoothscopeError, match="6n"):
        BlueshiftConfig.preset("quick", resnet_depth=10)
    with pytest.raises(SmoothscopeError, match="inits"):
        BlueshiftConfig.preset("quick", inits=1)
    standard = BlueshiftConfig.preset("standard")
    quick = BlueshiftConfig.preset("quick")
    assert quick.inits * quick.directions < standard.inits * standard.directions


def _summary(tables: dict[str, np.ndarray]) -> dict:
    return {"layers": {k: {"h": v.tolist()} for k, v in tables.items()}}


def test_rules_on_identical_nan_and_separated_setups():
    """The difference rule: identical setups and all-NaN (dead / linear) tables never reproduce;
    a clear separation does, and its control (the same rule, reversed) does not."""
    rng = np.random.default_rng(0)
    same = rng.normal(1.0, 0.1, (6, 8))
    tables = {
        "a": same,
        "b": same.copy(),
        "smooth": rng.normal(2.0, 0.1, (6, 8)),
        "dead": np.full((6, 8), np.nan),
    }
    args = ("x", "§", "s", tables, tables)
    tail = ("what", 200, 1)
    identical = R._difference_claim(*args, "a", "b", ("b", "a", "null: the same"), *tail)
    assert identical.verdict != "reproduced" and missing_fields(identical) == []
    dead = R._difference_claim(*args, "dead", "a", ("a", "b", "null: x"), *tail)
    assert dead.verdict != "reproduced" and math.isnan(dead.measured)
    assert "not fitted" in dead.rule
    good = R._difference_claim(*args, "smooth", "a", ("a", "smooth", "reversed: x"), *tail)
    assert good.verdict == "reproduced" and good.control.verdict == "not reproduced"
    # a control that reproduces too turns the claim into "not reproduced"
    fooled = R._difference_claim(*args, "smooth", "a", ("smooth", "b", "same: x"), *tail)
    assert fooled.verdict == "not reproduced"
    slope = R._slope_claim(
        "y", "§", "s", [1, 2, 3], [same, same.copy(), same.copy()], -1, "w", 200, 2, None,
        no_control="none",
    )  # fmt: skip
    assert slope.verdict != "reproduced"
    table = h_table(_summary({"l": np.array([[1.0, np.nan]])}), "l")
    assert table.shape == (1, 2) and np.isnan(table[0, 1])


def test_band_correlation_through_gaussian_filters():
    """Identical summands correlate fully in every band (sign ignored); a summand that shares
    only the low frequencies decorrelates at high ones; independent noise stays low."""
    g = torch.Generator().manual_seed(0)
    n = 129
    t = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    a = torch.randn(n, 20, generator=g, dtype=torch.float64).cumsum(0)
    np.testing.assert_allclose(E.band_correlation(a, a), 1.0, atol=1e-12)
    np.testing.assert_allclose(E.band_correlation(a, -2 * a), 1.0, atol=1e-12)
    noise = torch.randn(n, 20, generator=g, dtype=torch.float64)
    rho = E.band_correlation(a, a + noise)  # brownian power falls as k⁻², white noise is flat
    assert rho.shape == (64,) and rho[:4].mean() > 0.9 and rho[-16:].mean() < 0.6
    independent = E.band_correlation(a, torch.randn(n, 20, generator=g, dtype=torch.float64))
    assert independent.mean() < 0.5
    assert bool(np.isfinite(E.band_correlation(a, a + t)).all())
