"""``smoothscope forensic fit`` and ``score``: a tiny detector, verdicts at the calibrated
threshold, out-of-distribution notes, maps only when asked, exit code 2 before any compute."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from smoothscope.cli import main
from smoothscope.forensic.processors import build_processor, process_videos
from smoothscope.forensic.videos import authentic_videos

TINY_SET = [
    "contents=ellipsoid,ramps,photos",
    "families=ae_relu_maxpool,upsampler",
    "videos_per_content=4",
    "frames=16",
    "size=16",
    "train_frames=64",
    "epochs=1",
    "pipelines=float,quant8,jpeg:70",
    "train_pipelines=1",
]


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit")
    argv = ["forensic", "fit", "--out", str(folder / "det.json"), "--no-progress"]
    for option in TINY_SET:
        argv += ["--set", option]
    assert main(argv) == 0  # the default scale is quick
    return folder / "det.json"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """An authentic and a processed 16-frame 16 × 16 clip saved as .npy."""
    folder = tmp_path_factory.mktemp("clips")
    g = torch.Generator().manual_seed(7)
    video = authentic_videos("ellipsoid", 1, frames=16, size=16, generator=g, speed=3.0)
    processed = process_videos(build_processor("ae_relu_maxpool", seed=1), video)
    np.save(folder / "authentic.npy", video[0, :, 0].numpy())
    np.save(folder / "processed.npy", processed[0].numpy())
    return folder


def test_fit_writes_a_calibrated_detector_that_records_its_training(detector):
    data = json.loads(detector.read_text())
    assert data["format"] == "smoothscope-forensic-detector/2"
    trained = data["meta"]["trained_on"]
    assert trained["contents"] == ["ellipsoid", "ramps", "photos"]
    assert trained["pipelines"] == ["float", "quant8", "jpeg:70"]
    assert data["meta"]["scale"] == "quick"
    assert 0.0 <= data["threshold"] <= 1.0
    cal = data["calibration"]
    assert cal["fpr_authentic_compressed"] <= cal["target_fpr"] == 0.05
    assert data["reference"]["frames"] == [16, 16] and data["reference"]["height"] == [16, 16]


def test_fit_defaults_to_quick(capsys):
    assert main(["forensic", "fit", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "[default: quick]" in help_text and "progress" in help_text


def test_score_prints_probability_verdict_and_writes_maps_only_when_asked(
    detector, clips, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    videos = [str(clips / "authentic.npy"), str(clips / "processed.npy")]
    assert main(["forensic", "score", str(detector), *videos]) == 0
    out = capsys.readouterr().out
    assert out.count("P(processed by a network)") == 2 and "threshold" in out
    assert "kink_energy_ratio=" in out
    assert list(tmp_path.iterdir()) == []  # no maps, no files, unless asked
    maps = tmp_path / "maps"
    argv = ["forensic", "score", str(detector), *videos, "--maps", str(maps)]
    assert main([*argv, "--json", str(tmp_path / "s.json")]) == 0
    rows = json.loads((tmp_path / "s.json").read_text())["videos"]
    assert all(0.0 <= r["probability"] <= 1.0 for r in rows)
    assert all(r["flagged"] == (r["probability"] > r["threshold"]) for r in rows)
    pngs = sorted(maps.glob("*.png"))
    assert [p.name for p in pngs] == [
        "000_authentic_kinks.png",
        "000_authentic_peaks.png",
        "001_processed_kinks.png",
        "001_processed_peaks.png",
    ]
    image = imread(pngs[0])
    assert image.shape[2] >= 3 and min(image.shape[:2]) > 256
    assert float(np.ptp(image[..., 0] - image[..., 2])) > 0.1  # in colour, not grey


def test_scaled_video_gives_the_same_finite_probability(detector, clips, tmp_path, capsys):
    video = np.load(clips / "processed.npy")
    np.save(tmp_path / "huge.npy", video * 1e100)
    np.save(tmp_path / "tiny.npy", video * 1e-100)
    argv = [str(clips / "processed.npy"), str(tmp_path / "huge.npy"), str(tmp_path / "tiny.npy")]
    json_out = tmp_path / "s.json"
    assert main(["forensic", "score", str(detector), *argv, "--json", str(json_out)]) == 0
    probabilities = [r["probability"] for r in json.loads(json_out.read_text())["videos"]]
    assert all(np.isfinite(probabilities))
    assert probabilities[1] == pytest.approx(probabilities[0], abs=1e-6)
    assert probabilities[2] == pytest.approx(probabilities[0], abs=1e-6)
    assert "nan" not in capsys.readouterr().out


def test_a_float_clip_scores_as_its_8bit_file(detector, clips, tmp_path, capsys):
    """A float video is measured as the 8-bit file it would be (issue 27: storage alone must
    not move the score), and ``score`` says so; the uint8 file itself gets no such note."""
    video = np.load(clips / "authentic.npy")
    lo, hi = video.min(), video.max()
    np.save(tmp_path / "file.npy", np.round((video - lo) / (hi - lo) * 255).astype(np.uint8))
    inputs = [str(clips / "authentic.npy"), str(tmp_path / "file.npy")]
    json_out = tmp_path / "s.json"
    assert main(["forensic", "score", str(detector), *inputs, "--json", str(json_out)]) == 0
    rows = json.loads(json_out.read_text())["videos"]
    assert [r["measured_as_8bit_copy"] for r in rows] == [True, False]
    assert rows[0]["probability"] == pytest.approx(rows[1]["probability"], abs=1e-9)
    assert capsys.readouterr().out.count("measured as its 8-bit copy") == 1


def test_out_of_distribution_notes(detector, tmp_path, capsys):
    g = torch.Generator().manual_seed(3)
    longer = authentic_videos("digits", 1, frames=40, size=32, generator=g, speed=2.0)
    np.save(tmp_path / "long.npy", longer[0, :, 0].numpy())
    still = np.repeat(np.random.default_rng(0).random((1, 16, 16)), 16, axis=0)
    np.save(tmp_path / "still.npy", still)
    inputs = [str(tmp_path / "long.npy"), str(tmp_path / "still.npy")]
    assert main(["forensic", "score", str(detector), *inputs]) == 0
    out = capsys.readouterr().out.split("\n")
    notes = [line for line in out if "out of distribution" in line]
    assert len(notes) == 2
    assert "length: 40 frames" in notes[0] and "height: 32 pixels" in notes[0]
    assert "static" in notes[1]


def test_bad_inputs_exit_2_with_one_line_and_write_nothing(detector, clips, tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros((2, 8, 8)))
    bad = np.zeros((10, 8, 8))
    bad[2, 2, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    (tmp_path / "d.pkl").write_bytes(pickle.dumps({"format": "x"}))
    old = json.loads(detector.read_text()) | {"format": "smoothscope-forensic-detector/1"}
    (tmp_path / "old.json").write_text(json.dumps(old))
    good = str(clips / "authentic.npy")
    maps = tmp_path / "maps"
    cases = [
        ([str(detector), str(tmp_path / "short.npy")], "frames"),
        ([str(detector), good, str(tmp_path / "nan.npy")], "finite"),
        ([str(detector), str(tmp_path / "missing.mp4")], "expected an existing"),
        ([str(tmp_path / "d.pkl"), good], "pickles are never loaded"),
        ([str(tmp_path / "old.json"), good], "forensic fit"),
    ]
    for args, message in cases:
        assert main(["forensic", "score", *args, "--maps", str(maps)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("smoothscope: error:") and "\n" not in err and message in err, err
    assert not maps.exists()  # nothing written when any input fails
    assert main(["forensic", "fit", "--out", str(tmp_path)]) == 2


def test_output_paths_are_checked_before_any_compute(detector, clips, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    good = str(clips / "authentic.npy")
    try:
        cases = [
            ["--maps", str(a_file)],
            ["--maps", str(a_file / "maps")],
            ["--json", str(a_file / "s.json")],
        ]
        if not os.access(locked, os.W_OK):  # root may write anywhere
            cases += [["--maps", str(locked / "maps")], ["--json", str(locked / "s.json")]]
        for option in cases:
            assert main(["forensic", "score", str(detector), good, *option]) == 2, option
            err = capsys.readouterr()
            assert err.err.count("\n") == 1 and option[0] in err.err, err.err
            assert "P(processed" not in err.out  # refused before scoring
    finally:
        locked.chmod(0o700)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "locked"]
    assert list(locked.iterdir()) == []
