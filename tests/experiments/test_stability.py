"""The stability experiment end to end at a tiny scale, and `smoothscope analyze stability`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from smoothscope import SmoothscopeError, build, run_experiment
from smoothscope.cli import main
from smoothscope.experiments.stability import StabilityConfig, plan
from smoothscope.results import VERDICTS

TINY = {
    "architectures": ("lenet", "fcn", "vgg11"),
    "width": 0.25,
    "seeds": 1,
    "epochs": 1,
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
    nets = {n["architecture"]: n for n in results["measurements"]["networks"]}
    assert "shuffled" not in nets["fcn"] and "shuffled" in nets["vgg11"]  # fcn has no conv
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
    assert 0 <= nets["lenet"]["test_error"] <= 1


def test_plan_is_deterministic_and_validated():
    a = [[c.id for c in stage] for stage in plan(StabilityConfig.preset("quick", **TINY))[0]]
    b = [[c.id for c in stage] for stage in plan(StabilityConfig.preset("quick", **TINY))[0]]
    assert a == b and len(a[0]) == 3 and len(a[1]) == 3 + 2 + 3
    with pytest.raises(SmoothscopeError, match="architectures"):
        StabilityConfig.preset("quick", architectures=("vgg99",))
    with pytest.raises(SmoothscopeError, match="test_fraction"):
        StabilityConfig.preset("quick", test_fraction=1.5)


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "nope"], "zoo name"),
        (["--model", "no.such:thing"], "importable"),
        (["--model", "lenet", "--model-arg", "colour=3"], "colour"),
        (["--model", "lenet", "--inputs", "missing.npy"], "digits' or a .npy"),
        (["--model", "lenet", "--weights", "missing.pt"], "found none"),
        (["--model", "lenet", "--layers", "features.conv9"], "module names"),
    ],
)
def test_cli_analyze_errors(argv, message, capsys):
    assert main(["analyze", "stability", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
