"""The blueshift experiment end to end at a tiny scale, and its claim rules on broken inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from torch import nn

from smoothscope import SmoothscopeError, run_experiment
from smoothscope.analysis.paths import OUTPUT, freeze_batchnorm_stats, weight_path
from smoothscope.analysis.spectral_shape import direction_spectra
from smoothscope.experiments import get_experiment
from smoothscope.experiments.blueshift import BlueshiftConfig, plan
from smoothscope.experiments.blueshift import claims as R
from smoothscope.experiments.blueshift.bootstrap import spearman_interval
from smoothscope.experiments.blueshift.cells import h_table, spectrum_table
from smoothscope.protocol import decided_under_deviation
from smoothscope.results import VERDICTS, missing_fields

TINY = {
    "toy_units": 4,
    "toy_depths": (2, 3, 4),
    "resnet_depth": 8,
    "v1v2_depth": 8,
    "images": 1,
    "points": 33,
    "inits": 2,
    "directions": 2,
    "walk_layers": 2,
    "radius_sweep": (0.1, 1.0),
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
PAPER_IDS = {
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
EXTENSION_IDS = {
    f"{cid}.taper_h"
    for cid in PAPER_IDS
    if cid
    not in ("C.fig7.v2_less_high_frequency_power", "C.fig6.relu_decorrelates_more_than_softplus")
} | {"C.fig6.kink_decorrelates.taper"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("blueshift")
    return out, run_experiment("blueshift", out=out, options=TINY, progress=False)


def test_claims_and_figures(tiny_run):
    out, results = tiny_run
    by_id = {c["id"]: c for c in results["claims"]}
    assert set(by_id) == PAPER_IDS | EXTENSION_IDS
    for c in results["claims"]:
        assert c["paper"] == "C" and c["verdict"] in VERDICTS, c["id"]
        assert c["kind"] == ("paper" if c["id"] in PAPER_IDS else "extension"), c["id"]
        assert missing_fields(c) == [], c["id"]
        assert c["depends_on"] and c["decided_under_deviation"] is not None, c["id"]
        if "fig9" not in c["id"]:
            assert c["replicates"] == {"initialisations": 2, "directions": 2}
    assert by_id["C.fig3.relu_rougher_than_tanh"]["control"]["id"].endswith("/linear")
    assert "mean frequency" in by_id["C.fig3.relu_rougher_than_tanh"]["rule"]
    assert "averaged raw spectrum" in by_id["C.fig5.shortcuts_smooth"]["rule"]
    assert "Beside it, the same on the loss" in by_id["C.fig5.shortcuts_smooth"]["rule"]
    assert "taper" in by_id["C.fig5.shortcuts_smooth.taper_h"]["rule"]
    assert by_id["C.fig5.shortcuts_smooth.taper_h"]["control"]["id"].startswith(
        "C.fig5.shortcuts_smooth.taper_h/"
    )
    assert "estimator" not in by_id["C.fig5.shortcuts_smooth.taper_h"]["depends_on"]
    assert by_id["C.fig9.smoothness_vs_trainability"]["replicates"] == {"networks": 3}
    m = results["measurements"]
    assert set(m["chebyshev"]) >= {"relu", "tanh", "softplus", "gelu"}
    relu = m["chebyshev"]["relu"]["magnitudes"]
    assert relu[1] == pytest.approx(2.5, rel=1e-3)  # ReLU on [−5, 5]: c1 = 5/2
    assert len(m["h"]["toy-relu"]) == 5  # 4 units + classifier
    assert set(m["h"]["toy-depth4-noshort"]) == {"output", "loss"}  # logits, loss beside
    assert {"h", "h_paper", "mean_frequency", "fitted", "paths"} <= set(
        m["h"]["resnet-v1"]["output"]
    )
    assert m["radius_sweep"]["radii"] == [0.1, 1.0]
    assert len(m["radius_sweep"]["relu"]["mean_frequency"]) == 2
    assert len(m["trainability"]) == 6  # noshort and v2 × 3 α
    assert {r["variant"] for r in m["trainability"]} == {"noshort", "v2"}
    fig11 = m["during_training"]
    assert set(fig11) == {"relu", "tanh", "relu-short"}
    assert set(fig11["relu"]["h"]) == {"e0_r0", "e1_r0"} and "1" in fig11["relu"]["train_accuracy"]
    units = {*(f"units.unit{i}" for i in range(1, 5)), "classifier"}
    assert set(fig11["tanh"]["h_paper"]["e1_r0"]) == units
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
        "radius_sweep.png",
    ):
        assert imread(out / "figures" / name).std() > 0.01
    declared = {fig.file for fig in get_experiment("blueshift").figures}
    drawn = {p.name for p in (out / "figures").glob("*.png")}
    assert drawn and drawn <= declared, drawn - declared


def test_the_ledger_records_radius_units_points_and_what_is_read(tiny_run):
    _, results = tiny_run
    ledger = {e["field"]: e for e in results["protocol"]}
    for field in ("radius", "toy_units", "points", "path_output", "estimator", "resnet_depth"):
        assert field in ledger and ledger[field]["source"].startswith("C "), field
    assert ledger["radius"]["value"] == 1.0 and not ledger["radius"]["deviates"]
    assert ledger["path_output"]["value"] == "logits" and not ledger["path_output"]["deviates"]
    assert ledger["toy_units"]["deviates"] and ledger["toy_units"]["paper"] == 50
    assert ledger["inits"]["replicate"] and ledger["inits"]["deviates"]
    by_id = {c["id"]: c for c in results["claims"]}
    # the tiny Toy-CNN (4 units) deviates, so a Fig. 3 claim is decided under deviation
    assert by_id["C.fig3.relu_rougher_than_tanh"]["decided_under_deviation"]


def test_every_scale_gives_a_reason_for_each_deviation():
    protocol = BlueshiftConfig.protocol()
    for scale in ("quick", "standard", "paper"):
        config = BlueshiftConfig.preset(scale).to_dict()
        for name, pv in protocol.items():
            if name in config and not pv.matches(config[name]):
                assert pv.reason(scale), (scale, name)
    standard = BlueshiftConfig.preset("standard")
    assert standard.toy_units == 50 and standard.radius == 1.0 and standard.points == 100
    assert standard.path_output == "logits" and standard.branch_sample == 0.1
    paper = BlueshiftConfig.preset("paper")
    assert (paper.resnet_depth, paper.v1v2_depth) == (56, 194)
    assert (paper.inits, paper.directions, paper.points) == (50, 20, 100)


def test_plan_and_config():
    _, cells = plan(BlueshiftConfig.preset("quick", **TINY))
    assert {
        "toy-relu",
        "toy-identity",
        "toy-relu-r0.1",
        "toy-relu-gradient",
        "toy-depth4-linear",
        "toy-walk1-linear",
        "resnet-v1",
        "resnet-v2",
        "resnet-linear",
        "noshort-avg3",
        "transition-a0-nu0",
    } <= set(cells)
    assert "toy-relu-r1" not in cells  # the sweep's default radius is Fig. 3's own cell
    assert cells["toy-relu-r0.1"].config["radius"] == 0.1
    assert cells["toy-relu"].config["judged"] == ["units.unit4"]
    assert cells["toy-walk1-linear"].config["kwargs"]["activation"] == "identity"
    assert cells["branches-relu"].config["sample"] == 0.1
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
    with pytest.raises(SmoothscopeError, match="path_output"):
        BlueshiftConfig.preset("quick", path_output="probabilities")
    assert cells["transition-a1-nu1"].config["kwargs"]["nu_branch"] == "shortcut"
    assert cells["toy-depth2-short"].config["loss"] and cells["transition-a1-nu0"].config["loss"]
    with pytest.raises(SmoothscopeError, match="6n"):
        BlueshiftConfig.preset("quick", resnet_depth=10)
    with pytest.raises(SmoothscopeError, match="6n"):
        BlueshiftConfig.preset("quick", v1v2_depth=10)
    with pytest.raises(SmoothscopeError, match="inits"):
        BlueshiftConfig.preset("quick", inits=1)
    standard = BlueshiftConfig.preset("standard")
    quick = BlueshiftConfig.preset("quick")
    assert quick.inits * quick.directions < standard.inits * standard.directions


# ---------------------------------------------------------------------------------------------
# the rules on networks and paths whose answer is known


def _linear_net_summary(inits: int = 4, directions: int = 4) -> dict:
    """Per-direction raw spectra of a linear network's outputs ([Linear, BatchNorm] × 12):
    polynomial paths, no harmonics (§3)."""
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    rows = []
    for i in range(inits):
        torch.manual_seed(i)
        layers: list[nn.Module] = []
        for j in range(12):
            layers += [nn.Linear(8 if j == 0 else 16, 16), nn.BatchNorm1d(16)]
        net = freeze_batchnorm_stats(nn.Sequential(*layers, nn.Linear(16, 4)).double(), x)
        rec = weight_path(net, x, alpha=1.0, points=100, n_directions=directions,
                          record=[OUTPUT], seed=100 + i)  # fmt: skip
        rows.append(direction_spectra(rec.output)[0].tolist())
    return {"layers": {OUTPUT: {"spectrum": rows}}}


def _distorted_summary(act: str, seed: int, inits: int = 4, directions: int = 4) -> dict:
    """Per-direction raw spectra of φ(p(t)) for oscillating pre-activations p (§3.2: harmonic
    distortion): ReLU's kink rings at every harmonic, softplus's only faintly."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0.0, 1.0, 100, dtype=torch.float64)[:, None, None]
    rows = []
    for _ in range(inits):
        f = 2.5 + 2 * torch.rand(directions, 32, generator=g, dtype=torch.float64)
        phase = 2 * math.pi * torch.rand(directions, 32, generator=g, dtype=torch.float64)
        pre = 2 * torch.sin(2 * math.pi * f * t + phase) + 0.5 * t  # [N, D, neurons]
        paths = torch.relu(pre) if act == "relu" else torch.nn.functional.softplus(pre)
        rows.append(direction_spectra(paths)[0].tolist())
    return {"layers": {OUTPUT: {"spectrum": rows}}}


@pytest.fixture(scope="module")
def known_paths():
    return {
        "toy-linear": _linear_net_summary(),
        "toy-softplus": _distorted_summary("softplus", 1),
        "toy-softplus-again": _distorted_summary("softplus", 2),
        "toy-relu": _distorted_summary("relu", 1),
    }


def test_the_paper_reading_falls_where_the_paper_says(known_paths):
    """The kinked paths blueshift past the softplus ones and the linear network's; the linear
    network in the kinked one's place fails the same rule, and so does a softplus setup
    against another draw of itself. By h (paper convention) the kinked paths are rougher than
    the softplus ones."""
    judge = R._Judge(BlueshiftConfig.preset("quick", n_boot=300), known_paths)

    def verdict(larger: str, smaller: str, reading: str) -> str:
        claim = judge.claim(
            "C.x", "§", "s", reading=reading, layer=OUTPUT, larger=f"toy-{larger}",
            smaller=f"toy-{smaller}", control=None, what="w", depends_on=(), offset=0,
            no_control="a test",
        )  # fmt: skip
        assert missing_fields(claim) == []
        return claim.verdict

    assert verdict("relu", "softplus", "mean_frequency") == "reproduced"
    assert verdict("relu", "linear", "mean_frequency") == "reproduced"
    assert verdict("linear", "relu", "mean_frequency") == "not reproduced"
    assert verdict("linear", "softplus", "mean_frequency") == "not reproduced"
    assert verdict("softplus", "softplus-again", "mean_frequency") != "reproduced"
    assert verdict("softplus", "relu", "h") == "reproduced"
    assert verdict("relu", "softplus", "h") == "not reproduced"
    assert verdict("relu", "softplus", "high") == "reproduced"
    table = spectrum_table(known_paths["toy-relu"], OUTPUT)
    assert table.shape == (4, 4, 50) and np.allclose(table.sum(axis=2), 1.0)


def test_rules_on_identical_nan_and_separated_setups():
    """The difference rule: identical setups and all-NaN (dead / linear) tables never reproduce;
    a clear separation does, and its control (the same rule, reversed) does not; a control
    that reproduces too turns the claim into 'not reproduced'."""
    rng = np.random.default_rng(0)
    same = rng.normal(1.0, 0.1, (6, 8))

    def summary(t: np.ndarray) -> dict:
        return {"layers": {"l": {"h": t.tolist()}}}

    s = {
        "a": summary(same),
        "b": summary(same.copy()),
        "smooth": summary(rng.normal(2.0, 0.1, (6, 8))),
        "dead": summary(np.full((6, 8), np.nan)),
    }
    judge = R._Judge(BlueshiftConfig.preset("quick", n_boot=200), s)

    def claim(larger, smaller, control):
        return judge.claim(
            "x", "§", "s", reading="h", layer="l", larger=larger, smaller=smaller,
            control=(*control, "c", "control"), what="w", depends_on=(), offset=1, taper=True,
        )  # fmt: skip

    identical = claim("a", "b", ("b", "a"))
    assert identical.verdict != "reproduced" and missing_fields(identical) == []
    dead = claim("dead", "a", ("a", "b"))
    assert dead.verdict != "reproduced" and math.isnan(dead.measured)
    assert "without a value" in dead.rule
    good = claim("smooth", "a", ("a", "smooth"))
    assert good.verdict == "reproduced" and good.control.verdict == "not reproduced"
    assert good.id == "x.taper_h" and good.kind == "extension"
    fooled = claim("smooth", "a", ("smooth", "b"))
    assert fooled.verdict == "not reproduced"
    slope = judge.slope_claim(
        "y", "§", "s", reading="h", layer="l", x=[1, 2, 3], names=["a", "b", "a"], sign=-1,
        control=None, what="w", depends_on=(), offset=2, taper=True, no_control="none",
    )  # fmt: skip
    assert slope.verdict != "reproduced"
    table = h_table(summary(np.array([[1.0, np.nan]])), "l")
    assert table.shape == (1, 2) and np.isnan(table[0, 1])
    # a rounding-level difference is no effect, whatever its sign
    assert R._verdict(-1e-13, -2e-13, -5e-14, -1) == "not reproduced"


def test_fig9_interval_over_networks_decides_or_withholds():
    """Spearman's ρ gets a bootstrap interval over the networks: a monotone relation of 8
    networks is decided, a constant side or too few networks give no interval."""
    h = np.arange(8.0)
    value, lo, hi = spearman_interval(h, h + 0.1 * np.sin(h), 500, 0)
    assert value == pytest.approx(1.0) and lo > 0
    value, lo, hi = spearman_interval(h, -h, 500, 0)
    assert hi < 0
    assert math.isnan(spearman_interval(h, np.ones(8), 500, 0)[1])
    assert math.isnan(spearman_interval(h[:2], h[:2], 500, 0)[1])


def test_a_deviating_field_keeps_a_claim_from_being_a_disagreement():
    ledger = [
        {"field": "radius", "deviates": True, "replicate": False},
        {"field": "inits", "deviates": True, "replicate": True},
    ]
    assert decided_under_deviation(ledger, ("radius",))
    assert not decided_under_deviation(ledger, ("inits",))
