"""Users' own models (issue 28): a torchvision-style ResNet-18, a model returning a tuple and one
returning a dict, profiled and analysed from the API and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from _user_models import dict_net, resnet18, tuple_net
from smoothscope.analysis.stability import relative_stability
from smoothscope.cli import main
from smoothscope.profiling import ProfileSettings, load_profile, profile

SMALL = ProfileSettings(
    a_images=1,
    a_frames=8,
    b_inputs=4,
    b_diffeos=1,
    c_images=1,
    c_directions=1,
    c_points=16,
    d_scales=(1, 2),
)


def _images(n: int, channels: int, side: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    noise = torch.rand(n, channels, side + 2, side + 2, generator=g)
    return torch.nn.functional.avg_pool2d(noise, 3, 1)


CASES = {
    "resnet18": (lambda: resnet18(num_classes=10), 3, 16),
    "tuple": (tuple_net, 1, 16),
    "dict": (dict_net, 1, 16),
}


@pytest.mark.parametrize("name", list(CASES))
def test_api_profile_and_stability(name):
    build, channels, side = CASES[name]
    model, x = build(), _images(4, channels, side)
    p = profile(model, x, settings=SMALL, name=name)
    assert set(p.lenses) == {"A", "B", "C", "D"}
    for lens in ("A", "B", "C"):
        rows = p.lenses[lens]["layers"]
        assert [r["layer"] for r in rows][-len(p.layers) :] == p.layers
    b = {r["layer"]: r for r in p.lenses["B"]["layers"]}
    assert all(math.isfinite(b[n]["R"]) and b[n]["R"] > 0 for n in p.layers)
    assert p.lenses["D"]["applies"] is False  # a classifier head: not fully convolutional
    result = relative_stability(model, x, diffeos_per_input=1, batch_size=2)
    assert [r["layer"] for r in result.rows] == p.layers
    if name == "resnet18":
        assert p.layers[:4] == ["conv1", "bn1", "relu", "maxpool"] and p.notes == []
    else:
        assert p.notes[0].startswith(f"the model returns a {name}") and p.output != "tensor"
    if name == "dict":
        assert p.output == "['logits']" and "heads" not in p.layers


def test_cli_analyze_and_profile(tmp_path, capsys):
    np.save(tmp_path / "x.npy", _images(4, 1, 16).numpy())
    torch.save(resnet18(num_classes=10, seed=1).state_dict(), tmp_path / "r18.pt")
    runs = [
        ["--model", "_user_models:resnet18", "--model-arg", "num_classes=10",
         "--weights", str(tmp_path / "r18.pt"), "--inputs", str(tmp_path / "x.npy")],
        ["--model", "_user_models:tuple_net", "--inputs", str(tmp_path / "x.npy")],
        ["--model", "_user_models:dict_net", "--output", "aux", "--inputs", "digits"],
    ]  # fmt: skip
    for i, argv in enumerate(runs):
        out = tmp_path / f"table{i}.json"
        code = main(["analyze", "stability", *argv, "--n-inputs", "4", "--diffeos", "1",
                     "--batch-size", "2", "--out", str(out), "--no-progress"])  # fmt: skip
        printed = capsys.readouterr().out
        assert code == 0 and "output" in printed
        table = json.loads(out.read_text())
        assert table["rows"][-1]["layer"] == "output" and table["inputs"]["n"] == 4
        folder = tmp_path / f"profile{i}"
        code = main(["profile", *argv, "--n-inputs", "4", "--lenses", "A,B", "--quick",
                     "--no-progress", "--out", str(folder)])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        saved = load_profile(folder)
        assert saved.inputs_source["n"] == 4 and saved.layers[-1] == "output"
    resnet = load_profile(tmp_path / "profile0")
    assert resnet.weights["path"].endswith("r18.pt") and len(resnet.weights["sha256"]) == 64
    assert resnet.label == "_user_models:resnet18 [r18.pt]"
    assert "grey repeated to 3 channels" in " ".join(resnet.notes)
    assert load_profile(tmp_path / "profile2").output == "['aux']"
    assert json.loads((tmp_path / "table1.json").read_text())["output"] == "[0]"
