"""CLI: listing, one-line errors with exit code 2, a tiny run that prints the claims."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smoothscope.cli import main


def test_list(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(names)
    assert {"nonsmoothness", "propagation", "stability", "scale-detection", "blueshift"} <= set(
        names
    )
    assert "ReLU+MaxPool" in lines[names.index("nonsmoothness")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nonsense"], "experiment: expected one of blueshift, nonsmoothness"),
        (["run", "nonsmoothness", "--scale", "huge"], "huge"),
        (["run", "nonsmoothness", "--seed", "x"], "x"),
        (["run", "nonsmoothness", "--set", "epochs=many"], "epochs: expected an integer"),
        (["run", "nonsmoothness", "--set", "colour=1"], "KEY one of"),
        (["run", "nonsmoothness", "--set", "frames=2"], "frames: expected at least 3"),
        (["frobnicate"], "frobnicate"),
        (["run", "nonsmoothness", "--executor", "kubernetes"], "kubernetes"),
        (["run", "nonsmoothness", "--jobs", "0"], "0"),
        (["run", "nonsmoothness", "--executor", "process", "--address", "tcp://h:1"], "address"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_code_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("smoothscope: error:") and message in err


def test_unreadable_mnist_path_and_out_file(tmp_path: Path, capsys):
    assert (
        main(
            [
                "run",
                "nonsmoothness",
                "--mnist",
                str(tmp_path / "nope"),
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    assert "nope" in capsys.readouterr().err
    afile = tmp_path / "file"
    afile.write_text("")
    assert main(["run", "nonsmoothness", "--out", str(afile)]) == 2
    assert "expected a directory" in capsys.readouterr().err


def test_console_script_exit_code():
    proc = subprocess.run(
        [sys.executable, "-m", "smoothscope.cli", "run", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
