"""``smoothscope forensic fit`` and ``score``: a tiny detector, scores, maps, exit code 2."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from smoothscope.cli import main
from smoothscope.forensic.processors import build_processor, process_videos
from smoothscope.forensic.videos import authentic_videos

TINY_SET = [
    "contents=ellipsoid,ramps,photos",
    "videos_per_content=4",
    "frames=16",
    "size=16",
    "train_frames=64",
    "epochs=1",
]


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit")
    argv = [
        "forensic",
        "fit",
        "--out",
        str(folder / "det.json"),
        "--scale",
        "quick",
        "--no-progress",
    ]
    for option in TINY_SET:
        argv += ["--set", option]
    assert main(argv) == 0
    return folder / "det.json"


def test_fit_writes_a_json_detector(detector):
    data = json.loads(detector.read_text())
    assert data["format"].startswith("smoothscope-forensic-detector")
    assert data["meta"]["trained_on"]["contents"] == ["ellipsoid", "ramps", "photos"]


def test_score_prints_probabilities_features_and_maps(detector, tmp_path, capsys):
    g = torch.Generator().manual_seed(7)
    video = authentic_videos("ellipsoid", 1, frames=20, size=16, generator=g)
    processed = process_videos(build_processor("ae_relu_maxpool", seed=1), video)
    np.save(tmp_path / "authentic.npy", video[0, :, 0].numpy())
    np.save(tmp_path / "processed.npy", processed[0].numpy())
    maps = tmp_path / "maps"
    argv = [
        "forensic",
        "score",
        str(detector),
        str(tmp_path / "authentic.npy"),
        str(tmp_path / "processed.npy"),
        "--maps",
        str(maps),
        "--json",
        str(tmp_path / "s.json"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("P(processed by a network)") == 2 and "log_d2_over_d1=" in out
    rows = json.loads((tmp_path / "s.json").read_text())["videos"]
    assert all(0.0 <= r["probability"] <= 1.0 for r in rows)
    assert len(list(maps.glob("*_peaks.png"))) == len(list(maps.glob("*_d2_over_d1.png"))) == 2


def test_bad_inputs_exit_2_with_one_line(detector, tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros((2, 8, 8)))
    bad = np.zeros((6, 8, 8))
    bad[2, 2, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    (tmp_path / "d.pkl").write_bytes(pickle.dumps({"format": "x"}))
    good = tmp_path / "good.npy"
    np.save(good, np.random.default_rng(0).random((6, 8, 8)))
    maps = tmp_path / "maps"
    cases = [
        [str(detector), str(tmp_path / "short.npy")],
        [str(detector), str(good), str(tmp_path / "nan.npy")],
        [str(detector), str(tmp_path / "missing.mp4")],
        [str(tmp_path / "d.pkl"), str(good)],
    ]
    for args in cases:
        assert main(["forensic", "score", *args, "--maps", str(maps)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("smoothscope: error:") and "\n" not in err
    assert not maps.exists()  # nothing written when any input fails
    assert main(["forensic", "fit", "--out", str(tmp_path)]) == 2
