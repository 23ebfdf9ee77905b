"""The stability experiment end to end at a tiny scale, and `smoothscope analyze stability`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from smoothscope import SmoothscopeError, build, run_experiment
from smoothscope.cli import main
from smoothscope.experiments import get_experiment
from smoothscope.experiments.stability import StabilityConfig, plan
from smoothscope.experiments.stability.cells import _images
from smoothscope.experiments.stability.claims import stability_claims
from smoothscope.experiments.stability.figures import noise_figure
from smoothscope.results import VERDICTS, missing_fields

TINY = {
    "architectures": ("lenet", "fcn", "vgg11"),
    "width": 0.25,
    "seeds": 1,
    "epochs": 1,
    "n_train": 64,
    "n_test": 32,
    "n_inputs": 8,
    "diffeos_per_input": 1,
    "n_boot": 50,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stability")
    return out, run_experiment("stability", out=out, options=TINY, progress=False)


def test_claims_tables_and_figures(tiny_run):
    out, results = tiny_run
    ids = {c["id"] for c in results["claims"]}
    assert ids == {
        "B.fig1.error_vs_R",
        "B.fig1.error_vs_D",
        "B.fig1.error_vs_G",
        "B.fig3.R_decreases_with_depth",
        "B.fig3.shuffling_raises_R",
        "B.training_D",
        "B.training_G",
        "B.fig4.vgg_filters_low_frequency",
    }
    assert all(c["paper"] == "B" and c["verdict"] in VERDICTS for c in results["claims"])
    assert all(missing_fields(c) == [] for c in results["claims"])
    assert all(c["kind"] == "paper" for c in results["claims"])
    # one seed: no second initialisation, so the training claims say why they lack a control
    by_id = {c["id"]: c for c in results["claims"]}
    assert by_id["B.training_D"]["control"] is None and by_id["B.training_D"]["no_control"]
    assert by_id["B.fig1.error_vs_R"]["control"]["id"] == "B.fig1.error_vs_R/init"
    assert by_id["B.fig1.error_vs_R"]["replicates"] == {"trained networks": 3, "architectures": 3}
    assert "fashion-mnist" in results["data"]["training"] or "digits" in results["data"]["training"]
    nets = {n["architecture"]: n for n in results["measurements"]["networks"]}
    assert "shuffled" not in nets["fcn"] and "shuffled" in nets["vgg11"]  # fcn has no conv
    assert "init-shuffled" in nets["vgg11"]
    vgg = nets["vgg11"]
    assert [r["layer"] for r in vgg["trained"]["rows"]][-1] == "classifier"
    assert len(vgg["trained"]["rows"]) == 9 and len(vgg["trained"]["spectra"]) == 8
    for spectrum in vgg["init"]["spectra"].values():
        assert sum(spectrum["gamma_tilde"]) == pytest.approx(1.0)
    # shuffling keeps the first layer (image channels) and so its sensitivities
    first_t, first_s = vgg["trained"]["rows"][0], vgg["shuffled"]["rows"][0]
    assert first_t["layer"] == first_s["layer"] and first_t["D"] == pytest.approx(first_s["D"])
    for row in vgg["trained"]["rows"]:
        assert row["R"] == pytest.approx(row["D"] / row["G"])
    for name in (
        "R_vs_depth.png",
        "D_G_init_vs_trained.png",
        "filter_spectra.png",
        "error_vs_sensitivity.png",
    ):
        assert imread(out / "figures" / name).std() > 0.01
    declared = {fig.file for fig in get_experiment("stability").figures}
    assert {p.name for p in (out / "figures").glob("*.png")} <= declared
    assert 0 <= nets["lenet"]["test_error"] <= 1


def test_plan_is_deterministic_and_validated():
    a = [[c.id for c in stage] for stage in plan(StabilityConfig.preset("quick", **TINY))[0]]
    b = [[c.id for c in stage] for stage in plan(StabilityConfig.preset("quick", **TINY))[0]]
    assert a == b and len(a[0]) == 3 and len(a[1]) == 4 + 2 + 4
    with pytest.raises(SmoothscopeError, match="architectures"):
        StabilityConfig.preset("quick", architectures=("vgg99",))
    with pytest.raises(SmoothscopeError, match="n_test"):
        StabilityConfig.preset("quick", n_test=4, n_inputs=8)
    with pytest.raises(SmoothscopeError, match="convention"):
        StabilityConfig.preset("quick", convention="theirs")
    with pytest.raises(SmoothscopeError, match="expected one of"):
        plan(StabilityConfig.preset("quick", **TINY, dataset="imagenet"))
    assert StabilityConfig.preset("standard").seeds >= 3
    with pytest.raises(SmoothscopeError, match="interpolation"):
        StabilityConfig.preset("quick", interpolation="cubic")
    peer = plan(StabilityConfig.preset("quick", **TINY, convention="peer", interpolation="nearest"))
    assert all(
        c.config["convention"] == "peer" and c.config["interpolation"] == "nearest"
        for c in peer[0][1]
    )
    with pytest.raises(SmoothscopeError, match="input_noise"):
        StabilityConfig.preset("quick", input_noise=(-0.1,))
    stages, index = plan(StabilityConfig.preset("quick", **TINY, input_noise=(0.0, 0.3)))
    assert len(stages[0]) == 6
    assert index[0.3, "lenet", 0]["train"].config["noise"] == 0.3
    assert "noise" not in index[0.0, "lenet", 0]["train"].config


def test_noisy_images_and_their_figure(tmp_path):
    """Fig. 1 right / C3: the noise is drawn once per image (the same on every call)."""
    config = {"dataset": "digits", "data_dir": None, "data_seed": 1, "n_train": 16, "n_test": 8}
    clean, _ = _images(config, "test")
    noisy, _ = _images({**config, "noise": 0.5}, "test")
    again, _ = _images({**config, "noise": 0.5}, "test")
    assert torch.equal(noisy, again) and 0.35 < float((noisy - clean).std()) < 0.65
    by_noise = {
        "0": {"D": (0.5, 0.1, 0.8), "G": (-0.4, -0.8, 0.1), "R": (0.6, 0.2, 0.9)},
        "0.3": {"D": (0.2, -0.3, 0.6), "G": (-0.1, -0.6, 0.4), "R": (0.3, -0.2, 0.7)},
    }
    (path,) = noise_figure(tmp_path, by_noise)
    assert imread(path).std() > 0.01
    assert Path(path).name in {fig.file for fig in get_experiment("stability").figures}
    assert noise_figure(tmp_path, {"0": by_noise["0"]}) == []


def _net(arch, seed, error, out, first=1.0, shuffled=None, layers=4):
    """A synthetic network summary: R_k from ``first`` down to ``out[2]`` at the output."""
    d, g = out
    rows = [
        {"D": d, "G": g, "R": first + (d / g - first) * k / (layers - 1)} for k in range(layers)
    ]
    net = {"architecture": arch, "seed": seed, "test_error": error, "init_test_error": 0.9}
    net["trained"] = {"rows": rows, "spectra": {}}
    net["init"] = {"rows": [dict(r) for r in rows], "spectra": {}}
    if shuffled is not None:
        net["shuffled"] = {"rows": [{**r, "R": r["R"] * shuffled} for r in rows], "spectra": {}}
        net["init-shuffled"] = {"rows": [dict(r) for r in rows], "spectra": {}}
    return net


def test_claim_rules_fail_on_broken_inputs():
    """Untrained (= trained) networks, a dead network and a dead layer are never reproduced."""
    rng = np.random.default_rng(0)
    nets = []
    for i in range(15):
        d = float(np.exp(rng.normal()))
        nets.append(_net(f"a{i % 5}", i // 5, 0.1 + 0.05 * np.log(d), (d, 1.0), shuffled=2.0))
    claims = {c.id: c for c in stability_claims(nets, n_boot=200, seed=0)}
    # the correlation exists, but the untrained nets (identical here) carry it too: the control
    # reproduces, so the claim cannot
    assert claims["B.fig1.error_vs_D"].control.verdict == "reproduced"
    assert claims["B.fig1.error_vs_D"].verdict == "not reproduced"
    # trained == init: training changes nothing, the rule cannot say it does
    assert claims["B.training_D"].verdict != "reproduced"
    # shuffling doubles R_k of the trained nets and not of the untrained: reproduced
    assert claims["B.fig3.shuffling_raises_R"].verdict == "reproduced"
    assert claims["B.fig3.shuffling_raises_R"].control.verdict != "reproduced"
    nets[3]["shuffled"]["rows"][2]["R"] = float("nan")  # one dead layer
    nets[5]["trained"]["rows"][-1]["D"] = float("nan")  # one dead network output
    claims = {c.id: c for c in stability_claims(nets, n_boot=200, seed=0)}
    assert claims["B.fig3.shuffling_raises_R"].verdict == "not reproduced"
    assert "dead" in claims["B.fig3.shuffling_raises_R"].rule
    assert claims["B.fig1.error_vs_D"].verdict == "not reproduced"
    assert claims["B.training_D"].verdict == "not reproduced"


def test_fig1_correlation_is_over_architectures_not_networks():
    """Paper B Fig. 1: one point per architecture, its seeds averaged. Seeds of one architecture
    whose error follows their own D_f (a within-architecture spread) must not make the claim
    when the architectures' means are not ordered: the former rule (n = networks) did."""
    rng = np.random.default_rng(3)
    nets = []
    for a in range(5):  # the architectures' mean errors fall as their mean log D_f rises
        for s in range(4):  # within one, the error rises with D_f (the seeds' spread)
            d = float(np.exp(1.0 - 0.25 * a + (s - 1.5)))
            error = 0.3 + 0.02 * a + 0.1 * (s - 1.5)
            nets.append(_net(f"a{a}", s, error, (d, 1.0)))
            nets[-1]["init"]["rows"][-1]["D"] = float(np.exp(rng.normal()))
    by_net = {c.id: c for c in stability_claims(nets, n_boot=500, seed=0, correlation="networks")}
    by_arch = {c.id: c for c in stability_claims(nets, n_boot=500, seed=0)}
    assert by_net["B.fig1.error_vs_D"].verdict == "reproduced"  # pseudo-replication
    assert by_net["B.fig1.error_vs_D"].replicates["trained networks"] == 20
    claim = by_arch["B.fig1.error_vs_D"]
    assert claim.measured == pytest.approx(-1.0)  # the architectures' order is the reverse
    assert claim.verdict != "reproduced" and claim.replicates == {
        "architectures": 5,
        "trained networks": 20,
    }
    assert "architectures" in claim.rule and "bootstrap" in claim.rule
    # four architectures: even a perfect order cannot give a 95 % interval
    four = [n for n in nets if n["architecture"] != "a4"]
    for n in four:
        n["test_error"] = 0.1 * float(np.log(n["trained"]["rows"][-1]["D"]) + 3)
    claim = next(c for c in stability_claims(four, n_boot=200, seed=0) if c.id.endswith("_D"))
    assert claim.verdict == "inconclusive" and claim.measured == pytest.approx(1.0)


def test_the_training_recipe_is_the_papers(tmp_path):
    """SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine over 0.8 × the epochs, crops and
    flips, batch 128 (diffeo-sota main.py); the FCN: Adam lr 0.1, no scheduler, no decay."""
    from smoothscope.experiments.stability.cells import recipe
    from smoothscope.experiments.stability.training import Recipe, train_recipe

    config = StabilityConfig.preset("paper")
    assert (config.optimizer, config.lr, config.momentum, config.weight_decay) == (
        "sgd", 0.1, 0.9, 5e-4,
    )  # fmt: skip
    assert (config.scheduler, config.augment, config.batch_size, config.epochs) == (
        "cosine", True, 128, 250,
    )  # fmt: skip
    stages, _ = plan(StabilityConfig.preset("quick", **TINY))
    cells = {c.config["architecture"]: c.config for c in stages[0]}
    assert recipe(cells["vgg11"]) == Recipe("sgd", 0.1, 0.9, 5e-4, "cosine", 1, 128, True)
    assert recipe(cells["fcn"]) == Recipe("adam", 0.1, 0.0, 0.0, "none", 1, 128, True)
    x = torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    y = torch.arange(16) % 2
    net = build("lenet", in_channels=1, num_classes=2, width=0.25, seed=0)
    result = train_recipe(
        net, x, y, x[:8], y[:8], recipe=Recipe(epochs=5, batch_size=8), seed=0, progress=False
    )
    lrs = [h["lr"] for h in result.history]
    assert lrs[0] == pytest.approx(0.1) and lrs[1] < lrs[0]  # the cosine schedule
    assert lrs[4] == pytest.approx(0.05 * (1 + np.cos(np.pi * 4 / 4.0)), abs=1e-9)
    assert 1 <= result.best_epoch <= 5 and 0 <= result.train_error <= 1


def test_the_protocol_ledger_is_consistent():
    """Every declared field exists; every scale's deviation has its reason; every claim
    depends on declared fields only; the paper scale deviates only where it says why."""
    from smoothscope.experiments.stability.claims import MEASURE_FIELDS, TRAINING_FIELDS

    protocol = StabilityConfig.protocol()
    for scale in ("quick", "standard", "paper"):
        config = StabilityConfig.preset(scale)
        values = config.to_dict() | {"dataset": "cifar10"}
        for name, pv in protocol.items():
            if not pv.matches(values[name]):
                assert pv.reason(scale), (scale, name)
    paper = StabilityConfig.preset("paper").to_dict() | {"dataset": "cifar10"}
    deviating = [n for n, pv in protocol.items() if not pv.matches(paper[n])]
    # the zoo lacks some of the paper's networks; Fig. 1 right's noise levels are an option
    assert deviating == ["architectures", "input_noise"]
    assert set(TRAINING_FIELDS) | set(MEASURE_FIELDS) <= set(protocol)


def test_cli_analyze_stability_on_a_saved_model(tmp_path, capsys):
    model = build("lenet", in_channels=1, width=0.25, seed=0)
    torch.save(model.state_dict(), tmp_path / "lenet.pt")
    out = tmp_path / "table.json"
    argv = [
        "analyze",
        "stability",
        "--model",
        "lenet",
        "--model-arg",
        "in_channels=1",
        "--model-arg",
        "width=0.25",
        "--weights",
        str(tmp_path / "lenet.pt"),
        "--n-inputs",
        "8",
        "--diffeos",
        "1",
        "--batch-size",
        "4",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "classifier.fc3" in printed and "T =" in printed
    table = json.loads(out.read_text())
    assert [r["layer"] for r in table["rows"]][-1] == "classifier.fc3"
    # inputs from a .npy file, layers chosen by name, an import-path model
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((6, 1, 16, 16)))
    argv = [
        "analyze",
        "stability",
        "--model",
        "torch.nn:Identity",
        "--inputs",
        str(tmp_path / "x.npy"),
        "--layers",
        "output",
        "--batch-size",
        "3",
    ]
    assert main(argv) == 0
    assert "output" in capsys.readouterr().out
    # sampling to a precision: the JSON records the draws of every round
    out2 = tmp_path / "precise.json"
    assert main([*argv, "--target-rse", "0.5", "--diffeos", "1", "--out", str(out2)]) == 0
    table = json.loads(out2.read_text())
    assert table["rounds"][0] == 1 and table["diffeos_per_input"] == sum(table["rounds"])
    assert main([*argv, "--target-rse", "0"]) == 2  # a non-positive target is refused


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "nope"], "zoo name"),
        (["--model", "no.such:thing"], "importable"),
        (["--model", "lenet", "--model-arg", "colour=3"], "colour"),
        (["--model", "lenet", "--inputs", "missing.npy"], "a .npy"),
        (["--model", "lenet", "--weights", "missing.pt"], "found none"),
        (["--model", "lenet", "--layers", "features.conv9"], "module names"),
    ],
)
def test_cli_analyze_errors(argv, message, capsys):
    assert main(["analyze", "stability", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
