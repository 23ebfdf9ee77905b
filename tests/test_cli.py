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
        (["run", "nonsense"], "experiment: expected one of blueshift, "),
        (["run", "nonsmoothness", "--scale", "huge"], "huge"),
        (["run", "nonsmoothness", "--seed", "x"], "x"),
        (["run", "nonsmoothness", "--set", "epochs=many"], "epochs: expected an integer"),
        (["run", "nonsmoothness", "--set", "colour=1"], "KEY one of"),
        (["run", "nonsmoothness", "--set", "frames=2"], "frames: expected at least 3"),
        (["frobnicate"], "frobnicate"),
        (["run", "nonsmoothness", "--executor", "kubernetes"], "kubernetes"),
        (["run", "nonsmoothness", "--jobs", "0"], "0"),
        (["run", "nonsmoothness", "--executor", "process", "--address", "tcp://h:1"], "address"),
        (["run", "nonsmoothness", "--executor", "dask", "--address", "foo"], "tcp://HOST:PORT"),
        (["run", "nonsmoothness", "--slurm-cluster", "bogus"], "bogus"),
        (["run", "nonsmoothness", "--set", "lr=-1"], "lr: expected a positive number"),
        (["run", "nonsmoothness", "--set", "lr=Infinity"], "lr: expected a finite number"),
        (["run", "nonsmoothness", "--set", "peak_factor=-5"], "peak_factor: expected a positive"),
        (["run", "nonsmoothness", "--set", "datasets=ellipsoid,ellipsoid"], "distinct entries"),
        (["run", "nonsmoothness", "--set", "n_models=10000000000000000000000"], "at most 1,000"),
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


def test_weights_that_do_not_fit_name_the_keys(tmp_path: Path, capsys):
    import torch

    from smoothscope._io import save_state_dict

    save_state_dict(tmp_path / "w.pt", {"foo.weight": torch.ones(2)})
    argv = ["analyze", "stability", "--model", "lenet", "--weights", str(tmp_path / "w.pt")]
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected keys foo.weight (1)" in err
    assert "missing keys" in err and "weights_only" not in err


def test_analyze_out_directory_is_refused_before_compute(tmp_path: Path, capsys):
    argv = ["analyze", "stability", "--model", "nonexistent-model", "--out", str(tmp_path)]
    assert main(argv) == 2  # --out is checked before the model is even built
    assert "expected a file path" in capsys.readouterr().err


def test_progress_bars_only_on_a_terminal(monkeypatch):
    import io

    from smoothscope import cli

    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert cli._progress(False) is False and cli._progress(True) is False


def test_list_models_and_fields(capsys):
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines() if line and not line.startswith("any")]
    from smoothscope.models import available_models

    assert names == available_models() and "LeNet-5" in out and "package.module:callable" in out
    assert main(["list", "fields", "nonsmoothness"]) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split()[:6] == ["field", "type", "bounds", "quick", "standard", "paper"]
    fields = {row.split()[0]: row for row in rows if row and not row.startswith("set a field")}
    assert {"n_models", "frames", "seed"} <= set(fields)
    assert "[0, 9,223,372,036,854,775,807]" in fields["seed"]
    assert main(["list", "fields", "nope"]) == 2
    assert "experiment: expected one of" in capsys.readouterr().err
    assert main(["list"]) == 0 and "nonsmoothness" in capsys.readouterr().out


def test_help_imports_neither_torch_nor_numpy():
    # the startup time itself is a benchmark row (benchmarks/bench_startup.py), not a test
    code = (
        "import sys, contextlib, io\n"
        "from smoothscope.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    rc = main(['--help'])\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'scipy', 'matplotlib') if m in sys.modules)\n"
        "print(rc, heavy, 'profile' in out.getvalue())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.split("\n")[0] == "0 [] True", proc.stdout + proc.stderr


def test_every_command_is_listed_with_its_short_help(capsys):
    from smoothscope.cli import COMMANDS, cli

    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    for name, (_, _, short) in COMMANDS.items():
        assert f"{name}  " in listed and short in listed
        command = cli.get_command(None, name)  # importable, and the same text once loaded
        assert command is not None and command.get_short_help_str(80) == short
