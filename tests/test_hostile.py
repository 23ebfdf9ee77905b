"""Hostile but fair input (issue 19): every refusal is one line, exit code 2 on the CLI and a
SmoothscopeError in the API, with no traceback, before any compute, and with nothing in an
existing run directory changed.

The bad config values are generated from the field declarations (type hints and
``ExperimentConfig.field_bounds()``) of every registered experiment, not listed by hand.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import types
import typing
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _procs import alive, children
from smoothscope import SmoothscopeError
from smoothscope._io import load_json, load_state_dict, save_json, save_state_dict
from smoothscope._validate import Bound, validate_field
from smoothscope.cli import main
from smoothscope.experiments import available_experiments, run_experiment
from smoothscope.sweep import (
    Cell,
    CorruptCellWarning,
    ExecutorSpec,
    clean_stale_temporaries,
    open_executor,
    run_cells,
)

HERE = Path(__file__).parent
SPECS = available_experiments()


# ---------------------------------------------------------------------------------------------
# bad values generated from the declarations


def _entry_hint(hint: Any) -> tuple[Any, tuple | None]:
    """(scalar type, the tuple's type arguments or None) of a field type; Optional unwrapped."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:
        return typing.get_args(hint)[0], typing.get_args(hint)
    return hint, None


def bad_values(hint: Any, bound: Bound, default: Any) -> list[tuple[str, Any]]:
    """``(why, value)`` pairs that the declaration of a field must refuse."""
    scalar, tuple_args = _entry_hint(hint)
    out: list[tuple[str, Any]] = []
    if scalar in (int, float):
        out += [("not a number", "x"), ("a list of dicts", [{"a": 1}])]
        if scalar is int:
            out += [("a fraction", 1.5), ("a bool", True)]
        else:
            out += [("NaN", float("nan")), ("inf", float("inf")), ("-inf", float("-inf"))]
        if bound.low is not None:
            out.append(("below the bound", bound.low if bound.low_open else bound.low - 1))
        if bound.high is not None:
            out.append(("above the bound", bound.high * 10 + 1))
            if scalar is int:
                out.append(("huge", 10**22))
    elif scalar is bool:
        out += [("not a bool", "maybe"), ("an int", 1)]
    elif scalar is str:
        out.append(("not a string", 3))
        if bound.directory:
            out.append(("a missing directory", "/nonexistent/smoothscope-hostile"))
    if tuple_args is None:
        return out
    out = [(why, (value,)) for why, value in out]  # each bad entry inside a tuple
    entries = list(default) if default else []
    fixed = Ellipsis not in tuple_args
    if entries and bound.unique and not fixed:
        out.append(("a repeated entry", (entries[0], entries[0])))
    if bound.min_entries > 0:
        out.append(("empty", ()))
    if entries:
        n = len(tuple_args) + 1 if fixed else bound.max_entries + 1
        out.append(("too many entries", tuple((entries * n)[:n])))
    return out


def _cases() -> list[tuple[str, str, str, Any]]:
    cases = []
    for spec in SPECS:
        hints = typing.get_type_hints(spec.config)
        bounds = spec.config.field_bounds()
        for f in dataclasses.fields(spec.config):
            default = spec.config.QUICK.get(f.name, f.default)
            if default is dataclasses.MISSING:
                default = None
            for why, value in bad_values(hints[f.name], bounds.get(f.name, Bound()), default):
                cases.append((spec.name, f.name, why, value))
    return cases


CASES = _cases()


def test_every_field_of_every_experiment_has_bad_values_generated():
    fields = {(s.name, f.name) for s in SPECS for f in dataclasses.fields(s.config)}
    covered = {(name, field) for name, field, _, _ in CASES}
    assert covered == fields
    assert len(CASES) > 5 * len(fields) // 2


@pytest.mark.parametrize("scale", ["quick", "standard", "paper"])
def test_the_presets_satisfy_their_declarations(scale):
    for spec in SPECS:
        if scale == "standard" and spec.config.STANDARD is None:
            continue
        spec.config.preset(scale)


def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_mode, p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory) -> Path:
    """A run directory with files in it, as a finished run leaves it (compared, never changed)."""
    run = tmp_path_factory.mktemp("hostile") / "existing"
    save_json(run / "config.json", {"experiment": "x", "scale": "quick", "config": {}})
    save_json(run / "results.json", {"claims": [], "measurements": {}})
    save_state_dict(run / "cells" / "0123456789abcdef" / "model.pt", {"w": torch.ones(2)})
    return run


@pytest.fixture(autouse=True)
def _no_compute(request, monkeypatch):
    """A value that passes validation would start a run: fail at once instead of computing."""
    if "refuses" not in request.node.name:
        return

    def refuse(*args, **kwargs):
        raise AssertionError("validation passed: the run would have started")

    monkeypatch.setattr("smoothscope.experiments._base.open_executor", refuse)


@pytest.mark.parametrize(("name", "field", "why", "value"), CASES, ids=lambda v: str(v)[:24])
def test_api_refuses_generated_bad_values(name, field, why, value, tmp_path):
    with pytest.raises(SmoothscopeError) as info:
        run_experiment(name, out=tmp_path / "new", options={field: value}, progress=False)
    message = str(info.value)
    assert "\n" not in message and field.split("_")[0] in message.replace("scales", "scale")
    assert not (tmp_path / "new").exists()


def _cli_value(value: Any) -> str:
    if isinstance(value, tuple):
        return (
            json.dumps(list(value))
            if any(not isinstance(v, str) for v in value)
            else (",".join(value) if value else "[]")
        )
    if isinstance(value, float) and not np.isfinite(value):
        return {True: "NaN"}.get(bool(np.isnan(value)), "Infinity" if value > 0 else "-Infinity")
    return value if isinstance(value, str) else json.dumps(value)


# the CLI: one case per (experiment, kind of bad value), in-process (the subprocess tests
# below check the console script itself)
CLI_CASES = list(
    {(n, w): (n, f, w, v) for n, f, w, v in CASES if w != "not a string"}.values()
)  # a command line has no types: `--set dataset=3` is the string "3"


@pytest.mark.parametrize(("name", "field", "why", "value"), CLI_CASES, ids=lambda v: str(v)[:24])
def test_cli_refuses_generated_bad_values(name, field, why, value, existing_run, capsys):
    before = _snapshot(existing_run)
    argv = ["run", name, "--out", str(existing_run), "--set", f"{field}={_cli_value(value)}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("smoothscope: error:"), err
    assert "Traceback" not in err
    assert _snapshot(existing_run) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_integer_fields_accept_exactly_their_declared_range(data):
    spec = data.draw(st.sampled_from(SPECS))
    hints = typing.get_type_hints(spec.config)
    ints = [f.name for f in dataclasses.fields(spec.config) if hints[f.name] is int]
    field = data.draw(st.sampled_from(ints))
    bound = spec.config.field_bounds().get(field, Bound())
    value = data.draw(st.integers(min_value=-(10**30), max_value=10**30))
    inside = (bound.low is None or value >= bound.low) and (
        bound.high is None or value <= bound.high
    )
    if inside:
        assert validate_field(field, value, int, bound) == value
    else:
        with pytest.raises(SmoothscopeError, match=field):
            validate_field(field, value, int, bound)


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=12))
def test_cli_and_api_coerce_strings_alike(text):
    for hint in (int, float, bool, tuple[int, ...], int | None):
        try:
            via_api = ("ok", validate_field("f", text, hint))
        except SmoothscopeError as exc:
            via_api = ("error", str(exc))
        assert "\n" not in via_api[1] if via_api[0] == "error" else True
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            parsed = text
        try:
            via_json = ("ok", validate_field("f", parsed, hint))
        except SmoothscopeError as exc:
            via_json = ("error", str(exc))
        assert via_api[0] == via_json[0]


def test_api_coerces_like_the_cli():
    spec = next(s for s in SPECS if s.name == "nonsmoothness")
    a = spec.config.preset("quick", n_models="3", datasets="ellipsoid", lr="1e-3")
    b = spec.config.preset("quick", n_models=3, datasets=("ellipsoid",), lr=1e-3)
    assert a == b and a.datasets == ("ellipsoid",) and isinstance(a.lr, float)
    key, value = spec.config.parse_option("datasets=ellipsoid,digits")
    assert (key, value) == ("datasets", ("ellipsoid", "digits"))


def test_too_large_values_state_the_memory_at_the_maximum():
    with pytest.raises(SmoothscopeError, match=r"frames: expected at most .* of memory"):
        run_experiment("nonsmoothness", options={"frames": 100_000_000_000}, progress=False)


# ---------------------------------------------------------------------------------------------
# the console script itself: exit code, one line, no traceback, nothing written


def test_console_script_refusals(tmp_path: Path):
    out = tmp_path / "run"
    (tmp_path / "inputs.npy").write_bytes(b"")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "complex.npy", np.ones((2, 1, 8, 8), dtype=np.complex64))
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(_Evil(str(marker))))
    script = [
        ["run", "nonsmoothness", "--set", "n_models=10000000000000000000000", "--out", str(out)],
        ["run", "nonsmoothness", "--executor", "slurm", "--out", str(out)],
        ["run", "nonsmoothness", "--executor", "dask", "--address", "foo", "--out", str(out)],
        ["analyze", "stability", "--model", "lenet", "--inputs", str(tmp_path / "objects.npy")],
        ["analyze", "stability", "--model", "lenet", "--inputs", str(tmp_path / "complex.npy")],
        ["analyze", "stability", "--model", "lenet", "--weights", str(tmp_path / "evil.pt")],
        ["analyze", "stability", "--model", "lenet", "--out", str(tmp_path)],
    ]
    # one interpreter start for all cases, each through main() as the console script calls it
    code = (
        "import sys, json, io, contextlib, traceback\n"
        "from smoothscope.cli import main\n"
        "rows = []\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    err = io.StringIO()\n"
        "    try:\n"
        "        with contextlib.redirect_stderr(err):\n"
        "            rc = main(argv)\n"
        "    except BaseException:\n"
        "        rc, err = 1, io.StringIO(traceback.format_exc())\n"
        "    rows.append([rc, err.getvalue()])\n"
        "print(json.dumps(rows))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    for argv, (rc, err) in zip(script, rows, strict=True):
        assert rc == 2, (argv, err)
        assert err.count("\n") == 1 and err.startswith("smoothscope: error:"), (argv, err)
    assert "SLURM" in rows[1][1] and "submitit-local" in rows[1][1]
    assert "weights_only" not in rows[5][1] and not marker.exists()
    assert not out.exists() and not (tmp_path / "slurm").exists()


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


# ---------------------------------------------------------------------------------------------
# corrupt, truncated and malicious files


def test_checkpoints_corrupt_truncated_malicious(tmp_path: Path):
    good = save_state_dict(tmp_path / "good.pt", {"w": torch.arange(4.0)})
    data = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(os.urandom(256))
    (tmp_path / "empty.pt").write_bytes(b"")
    marker = tmp_path / "pwned"
    torch.save({"w": _Evil(str(marker))}, tmp_path / "evil.pt")
    torch.save([torch.ones(1)], tmp_path / "list.pt")
    (tmp_path / "folder.pt").mkdir()
    for name in ("truncated", "garbage", "empty", "evil", "list", "folder"):
        with pytest.raises(SmoothscopeError, match="expected") as info:
            load_state_dict(tmp_path / f"{name}.pt")
        assert "\n" not in str(info.value) and "weights_only" not in str(info.value)
    assert not marker.exists()


def test_json_corrupt_truncated_and_wrong_shape(tmp_path: Path):
    (tmp_path / "truncated.json").write_text('{"a": [1, 2')
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    for name in ("truncated", "binary"):
        with pytest.raises(SmoothscopeError, match="valid JSON"):
            load_json(tmp_path / f"{name}.json")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("[1, 2, 3]")
    before = _snapshot(run)
    with pytest.raises(SmoothscopeError, match="--out"):
        run_experiment("nonsmoothness", out=run, progress=False)
    assert _snapshot(run) == before


def test_files_are_written_with_the_umask_mode(tmp_path: Path):
    old = os.umask(0o027)
    try:
        path = save_json(tmp_path / "a.json", {"x": 1})
        assert path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
    path = save_json(tmp_path / "b.json", {"x": 1})
    assert path.stat().st_mode & 0o777 == 0o666 & ~old


# ---------------------------------------------------------------------------------------------
# cells: corrupt, stale, interrupted


@pytest.fixture
def _importable_cells(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


@pytest.mark.usefixtures("_importable_cells")
@pytest.mark.parametrize("damage", ["result", "file", "missing"])
def test_a_corrupt_cell_is_recomputed_after_a_warning_naming_the_file(tmp_path, damage):
    log = tmp_path / "log"
    cell = Cell("_sweep_cells:square", {"x": 3, "log": str(log)})
    run_cells([cell], tmp_path / "root", progress=False)
    folder = tmp_path / "root" / cell.id
    target = {"result": folder / "result.json", "file": folder / "value.npy"}.get(damage)
    if damage == "result":
        target.write_text('{"summary": ')
    elif damage == "file":
        target.write_bytes(target.read_bytes()[:-1] + b"\x01")
    else:
        target = folder / "value.npy"
        target.unlink()
    with pytest.warns(CorruptCellWarning, match=str(target.name)):
        out = run_cells([cell], tmp_path / "root", progress=False)
    assert out[cell.id] == {"square": 9}
    assert log.read_text().split() == ["3", "3"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_cells([cell], tmp_path / "root", progress=False)  # sound again: not recomputed
    assert log.read_text().split() == ["3", "3"]


def test_stale_temporaries_are_cleaned_and_live_ones_kept(tmp_path: Path):
    import socket

    host = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".0123456789abcdef.tmp-{host}-{dead.pid}-0123456789ab"
    live = tmp_path / f".0123456789abcdef.tmp-{host}-{os.getpid()}-0123456789ab"
    old_style = tmp_path / ".0123456789abcdef.tmp-0123456789ab"
    for folder in (stale, live, old_style):
        folder.mkdir()
    os.utime(old_style, (0, 0))
    removed = clean_stale_temporaries(tmp_path)
    assert set(removed) == {stale, old_style} and live.exists()


@pytest.mark.usefixtures("_importable_cells")
def test_interrupt_ends_with_one_line_130_and_stops_the_workers(tmp_path: Path):
    root, log = tmp_path / "root", tmp_path / "log"
    script = (
        "import sys, os\n"
        "from smoothscope.cli import cli, main\n"
        "import click\n"
        "from smoothscope.sweep import Cell, ExecutorSpec, open_executor, run_cells\n"
        "@cli.command('hostile-sweep')\n"
        "def _sweep():\n"
        f"    cells = [Cell('_sweep_cells:square', {{'x': x, 'log': {str(log)!r}, "
        "'sleep': 30}) for x in range(3)]\n"
        "    with open_executor(ExecutorSpec('process', jobs=1)) as pool:\n"
        f"        run_cells(cells, {str(root)!r}, executor=pool, progress=False)\n"
        "sys.exit(main(['hostile-sweep']))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=_terminal_signals,  # SIGINT as in a terminal, whatever the runner inherited
    )
    deadline = time.monotonic() + 120
    while not log.exists() or not log.read_text().split():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    workers = children(proc.pid)
    assert workers
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err
    time.sleep(0.5)
    assert not [pid for pid in workers if alive(pid)]


def test_jobs_bound_the_calls_in_flight():
    import threading

    from smoothscope.sweep import _BoundedExecutor

    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def work(_):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return _

    import concurrent.futures as cf

    with cf.ThreadPoolExecutor(max_workers=16) as inner:
        bounded = _BoundedExecutor(inner, jobs=3)
        assert [f.result() for f in [bounded.submit(work, i) for i in range(12)]] == list(range(12))
        bounded.shutdown()
    assert state["most"] == 3


def test_slurm_without_slurm_is_refused_and_jobs_bound_every_executor(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(SmoothscopeError, match="expected a reachable SLURM"):
        with open_executor(ExecutorSpec("slurm"), log_folder=tmp_path / "slurm"):
            pass
    assert not (tmp_path / "slurm").exists()
    with pytest.raises(SmoothscopeError, match="slurm_cluster"):
        ExecutorSpec("slurm", slurm_cluster="bogus")
    with pytest.raises(SmoothscopeError, match="address: expected a scheduler address"):
        ExecutorSpec("dask", address="foo")
    assert ExecutorSpec("submitit-local").submitit_cluster == "local"


# =============================================================================================
# issue 28, round 2 (smoothscope's own files, options and signals; the forensic inputs have
# their own block): every case ends in one line and exit code 2 (or 130/143 for signals),
# quickly, before any compute, with nothing written


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("smoothscope: error:"), err
    assert "Traceback" not in err
    return err


@pytest.fixture
def _no_model(monkeypatch):
    """A refusal must come before the model is built (and so before any compute)."""

    def refuse(*args, **kwargs):
        raise AssertionError("validation passed: the model would have been built")

    monkeypatch.setattr("smoothscope.cli.analyze.model_and_inputs", refuse)
    monkeypatch.setattr("smoothscope.cli._models.model_and_inputs", refuse)


BIG = "9" * 5000
ROUND2_OPTIONS = [
    (["analyze", "stability", "--diffeos", "1000000000"], "at most 512 (≈ 3.15 MB per draw"),
    (["analyze", "stability", "--n-inputs", "1000000000000"], "of memory at the maximum"),
    (["analyze", "stability", "--batch-size", "1000000000"], "--batch-size"),
    (["analyze", "stability", "--size", "100000"], "at most 1,024"),
    (["analyze", "stability", "--channels", "100000"], "at most 64"),
    (["analyze", "stability", "--temperature", "nan"], "finite"),
    (["analyze", "stability", "--temperature", "inf"], "finite"),
    (["analyze", "stability", "--cut", "1e308"], "at most 64"),
    (["analyze", "stability", "--target-rse", "5"], "at most 1"),
    (["analyze", "stability", "--seed", "-1"], "at least 0"),
    (["analyze", "stability", "--seed", BIG], "at most 9,223,372,036,854,775,807"),
    (["profile", "--n-inputs", "1000000000"], "at most 100,000"),
    (["profile", "--seed", BIG], "at most"),
    (["run", "nonsmoothness", "--jobs", "100000"], "≈ 400 MB per worker process"),
    (["run", "nonsmoothness", "--slurm-time", BIG], "--slurm-time"),
    (["run", "nonsmoothness", "--seed", "-3"], "at least 0"),
    (["run", "nonsmoothness", "--set", f"n_models={BIG}"], "at most 400 digits"),
    (["reproduce", "--seed", "1.5"], "expected an integer"),
]


@pytest.mark.usefixtures("_no_model")
@pytest.mark.parametrize(("argv", "message"), ROUND2_OPTIONS, ids=lambda v: str(v)[:40])
def test_round2_refuses_unbounded_options(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if argv[0] in ("analyze", "profile"):
        argv = [*argv, "--model", "lenet"]
    start = time.monotonic()
    assert main(argv) == 2
    assert message in _one_line(capsys)
    assert time.monotonic() - start < 10 and not list(tmp_path.iterdir())


def test_round2_refuses_a_forward_pass_too_large_for_memory(tmp_path, capsys):
    argv = ["analyze", "stability", "--model", "torch.nn:Identity", "--n-inputs", "4096"]
    np.save(tmp_path / "x.npy", np.zeros((4096, 1, 64, 64), np.float32) + np.arange(64))
    argv += ["--inputs", str(tmp_path / "x.npy"), "--batch-size", "4096", "--diffeos", "512"]
    assert main(argv) == 2
    assert "GB per forward pass" in _one_line(capsys)


@pytest.mark.usefixtures("_no_model")
def test_round2_output_paths_are_checked_before_any_compute(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("")
    long = "x" * 300
    cases = [
        (["analyze", "stability", "--model", "lenet", "--out", str(afile / "t.json")], "is a file"),
        (["profile", "--model", "lenet", "--out", str(afile / "p")], "is a file"),
        (["profile", "--model", "lenet", "--out", str(afile)], "expected a directory"),
        (["profile", "--model", "lenet", "--out", long], "at most 255 bytes"),
        (["analyze", "stability", "--model", "lenet", "--out", f"{long}.json"], "255 bytes"),
        (["run", "nonsmoothness", "--out", long], "at most 255 bytes"),
        (["run", "nonsmoothness", "--out", str(afile / "run")], "directory"),
        (["reproduce", "--out", long], "at most 255 bytes"),
        (["reproduce", "--out", str(afile / "r")], "is a file"),
        (["profile", "--compare", "a.json", "b.json", "--out", long], "255 bytes"),
        (["report", long], "at most 255 bytes"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in _one_line(capsys), argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    if os.geteuid() != 0:  # root writes into read-only folders
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        assert main(["profile", "--model", "lenet", "--out", str(locked / "p")]) == 2
        assert "not writable" in _one_line(capsys)


def test_round2_reproduce_refuses_a_run_directory(existing_run, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("reproduce started an experiment")

    monkeypatch.setattr("smoothscope.report.reproducing.run_experiment", refuse)
    before = _snapshot(existing_run)
    assert main(["reproduce", "--out", str(existing_run), "--only", "nonsmoothness"]) == 2
    assert "run directory of one experiment" in _one_line(capsys)
    assert _snapshot(existing_run) == before


def _npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    import io

    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _png(width: int, height: int) -> bytes:
    """A valid 1 × 1 PNG whose header then claims ``width × height`` pixels."""
    import io
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    start = data.index(b"IHDR")
    data[start + 4 : start + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[start : start + 17]))
    data[start + 17 : start + 21] = struct.pack(">I", crc)
    return bytes(data)


def test_round2_hostile_headers(tmp_path, capsys):
    import zipfile

    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:  # claims 71 PiB
        archive.writestr("x.npy", _npy_header((80_000_000_000_000_000,), "|u1") + b"\0" * 8)
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as archive:  # claims 1 GiB, holds 8 bytes
        archive.writestr("x.npy", _npy_header((2**27,)) + b"\0" * 8)
    (tmp_path / "liar.npy").write_bytes(_npy_header((100, 100, 100)) + b"\0" * 8)
    with zipfile.ZipFile(tmp_path / "bomb.pt", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data/0", b"\0" * 50_000_000)  # 50 MB in a 50 KB file
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "000.png").write_bytes(_png(20000, 20000))
    (tmp_path / "frames" / "001.png").write_bytes(_png(1, 1))
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "000.png").write_bytes(_png(5000, 5000))
    cases = [
        ("huge.npz", "at most 4 GiB is read"),
        ("liar.npz", "but holds"),
        ("liar.npy", "but holds"),
        ("bomb.pt", "decompression bomb"),
        ("frames", "pixels"),
        ("big", "pixels"),
    ]
    for name, message in cases:
        for command in (["analyze", "stability"], ["profile"]):
            argv = [*command, "--model", "torch.nn:Identity", "--inputs", str(tmp_path / name)]
            start = time.monotonic()
            assert main([*argv, "--out", str(tmp_path / "never")]) == 2, (name, command)
            assert message in _one_line(capsys), (name, command)
            assert time.monotonic() - start < 10
    weights = ["analyze", "stability", "--model", "lenet", "--weights", str(tmp_path / "bomb.pt")]
    assert main(weights) == 2 and "decompression bomb" in _one_line(capsys)
    assert not (tmp_path / "never").exists()


def test_round2_users_models_refused_in_one_line(tmp_path, capsys):
    from smoothscope.models import build

    model = build("lenet", in_channels=1, seed=0)
    state = model.state_dict()
    state["classifier.fc3.weight"][0, 0] = float("nan")
    save_state_dict(tmp_path / "nan.pt", state)
    base = ["analyze", "stability", "--model", "lenet", "--model-arg", "in_channels=1"]
    cases = [
        ([*base, "--weights", str(tmp_path / "nan.pt")], "holds NaN or inf"),
        (["analyze", "stability", "--model", "lenet", "--channels", "1"], "for inputs [B, 3,"),
        (["analyze", "stability", "--model", "_user_models:resnet18", "--channels", "1"],
         "(RuntimeError: Given groups=1"),
        (["profile", "--model", "_user_models:resnet18", "--channels", "1"],
         "; the model's first layer takes 3 channels"),
        (["analyze", "stability", "--model", "_user_models:dict_net", "--layers", "heads"],
         "returns a dict"),
        (["profile", "--model", "_user_models:tuple_net", "--output", "7"], "index in [0, 1]"),
        (["profile", "--model", "_user_models:dict_net", "--output", "x"], "key among"),
        (["analyze", "stability", "--model", "lenet", "--model-arg", f"width={BIG}"],
         "at most 400 digits for 'width'"),
        (["analyze", "stability", "--model", "_user_models:tuple_net", "--model-arg", "depth=3"],
         "tuple_net rejected {'depth': 3} (TypeError"),
        (["analyze", "stability", "--model", "_user_models:nope"], "importable"),
    ]  # fmt: skip
    for argv, message in cases:
        assert main([*argv, "--n-inputs", "4", "--out", str(tmp_path / "never")]) == 2, argv
        assert message in _one_line(capsys), argv
    assert not (tmp_path / "never").exists()


def test_round2_json_limits(tmp_path, capsys):
    (tmp_path / "digits.json").write_text('{"a": ' + BIG + "}")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "nested.json").write_text("[" * 100 + "]" * 100)
    for name, message in [
        ("digits", "valid JSON"),
        ("deep", "nested too deeply"),
        ("nested", "nested at most 64"),
    ]:
        with pytest.raises(SmoothscopeError, match=message) as info:
            load_json(tmp_path / f"{name}.json")
        assert "\n" not in str(info.value)
        argv = ["profile", "--compare", str(tmp_path / f"{name}.json"), str(tmp_path / "x.json")]
        assert main([*argv, "--out", str(tmp_path / "cmp")]) == 2
        _one_line(capsys)
    with pytest.raises(SmoothscopeError, match="n_models: expected at most"):
        run_experiment("nonsmoothness", options={"n_models": 10**5000}, progress=False)
    assert not (tmp_path / "cmp").exists()


def _results(**claim: Any) -> dict[str, Any]:
    import smoothscope

    good = {
        "id": "A.x", "paper": "A", "where": "Fig. 2", "statement": "s", "paper_value": 0.5,
        "measured": 0.25, "uncertainty": [0.125, 0.375], "verdict": "reproduced", "rule": "r",
    }  # fmt: skip
    return {
        "schema": 3,
        "experiment": "nonsmoothness",
        "scale": "quick",
        "seed": 0,
        "environment": {"smoothscope": smoothscope.__version__},
        "claims": [{**good, **claim}],
        "measurements": {},
    }


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        ({"paper": ["A"]}, "paper is list"),
        ({"measured": int("9" * 400)}, "measured is int"),
        ({"uncertainty": [0, int("9" * 400)]}, "uncertainty"),
        ({"statement": {"a": 1}}, "statement is dict"),
    ],
    ids=["paper-list", "measured-400-digits", "interval-400-digits", "statement-dict"],
)
def test_round2_report_type_checks(claim, message, tmp_path, capsys):
    save_json(tmp_path / "ok" / "nonsmoothness" / "results.json", _results())
    assert main(["report", str(tmp_path / "ok")]) == 0  # the skeleton itself is readable
    capsys.readouterr()
    save_json(tmp_path / "bad" / "nonsmoothness" / "results.json", _results(**claim))
    assert main(["report", str(tmp_path / "bad")]) == 2
    assert message in _one_line(capsys)
    assert not (tmp_path / "bad" / "report.html").exists()


def _profile_json(**changes: Any) -> dict[str, Any]:
    row = {"layer": "output", "D": 1.0, "D_se": 0.1, "G": 2.0, "G_se": 0.1, "R": 0.5, "R_se": 0.1}
    data = {
        "schema": 2, "model": "m", "inputs": "i", "seed": 0, "settings": {"b_inputs": 8},
        "layers": ["output"], "lenses": {"B": {"layers": [row]}},
    }  # fmt: skip
    return {**data, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seed": "x"}, "seed should be a non-negative integer"),
        ({"seed": True}, "seed"),
        ({"settings": [1, 2, 3]}, "settings should be an object"),
        ({"layers": [1, 2]}, "layers should be a list of names"),
        ({"lenses": {"B": {"layers": [1, 2]}}}, "lenses.B.layers[0] should be an object"),
        ({"lenses": {"B": {"layers": [{"layer": 3}]}}}, "layer should be a name"),
        ({"lenses": {"B": {"layers": [{"layer": "o", "D": int("9" * 400)}]}}}, "D should be"),
        ({"lenses": {"Z": {}}}, "lenses should be"),
        ({"schema": 99}, "schema"),
        ({"notes": "x"}, "notes"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_round2_compare_validates_profile_json(changes, message, tmp_path, capsys):
    save_json(tmp_path / "good.json", _profile_json())
    bad = tmp_path / "bad.json"
    save_json(bad, _profile_json(**changes))
    out = tmp_path / "cmp"
    argv = ["profile", "--compare", str(tmp_path / "good.json"), str(bad), "--out", str(out)]
    assert main(argv) == 2
    assert message in _one_line(capsys)
    assert not out.exists()


def test_round2_a_valid_profile_json_compares(tmp_path, capsys):
    save_json(tmp_path / "a.json", _profile_json())
    save_json(tmp_path / "b.json", _profile_json(seed=1))
    argv = ["profile", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    assert main([*argv, "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "comparison.json").is_file()


# ---------------------------------------------------------------------------------------------
# signals: SIGTERM like Ctrl-C; a Ctrl-C is never lost, even beside CPU-bound processes

SIGNAL_SCRIPT = (
    "import os, signal, sys, time\n"
    "from smoothscope.cli import cli, main\n"
    "from smoothscope.sweep import Cell, ExecutorSpec, open_executor, run_cells\n"
    "INJECT = os.environ.get('INJECT_SIGINT_AT_SPAWN') == '1'\n"
    "if INJECT:  # a Ctrl-C that lands while a worker is being spawned\n"
    "    import multiprocessing.popen_spawn_posix as psp\n"
    "    launch = psp.Popen._launch\n"
    "    def launch_then_interrupt(self, process_obj):\n"
    "        launch(self, process_obj)\n"
    "        os.kill(os.getpid(), signal.SIGINT)\n"
    "    psp.Popen._launch = launch_then_interrupt\n"
    "@cli.command('hostile-sweep')\n"
    "def _sweep():\n"
    "    root, log = sys.argv[1], sys.argv[2]\n"
    "    cells = [Cell('_sweep_cells:square', {'x': x, 'log': log, 'sleep': 0.5 if INJECT\n"
    "             else 30}) for x in range(4)]\n"
    "    print('ready', flush=True)\n"
    "    with open_executor(ExecutorSpec('process', jobs=2)) as pool:\n"
    "        run_cells(cells, root, executor=pool, progress=False)\n"
    "sys.exit(main(['hostile-sweep']))\n"
)


def _terminal_signals() -> None:
    """In the child before it starts: SIGINT at its default, as in a terminal's foreground job.

    A shell without job control starts background commands with SIGINT ignored (``cmd &``,
    ``nohup``; CI runners do this), the child inherits it, and Python then installs no
    KeyboardInterrupt handler (it only does so over SIG_DFL), as a well-behaved program should:
    such a run must not be stoppable by Ctrl-C. The tests below are about a terminal's Ctrl-C,
    so they start the run as a terminal would, whatever the test runner inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_sweep(tmp_path: Path, token: str, **env: str) -> subprocess.Popen:
    """The sweep in its own process group, every process of it tagged by ``token`` (in its
    environment, inherited by the pool's workers)."""
    return subprocess.Popen(
        [sys.executable, "-c", SIGNAL_SCRIPT, str(tmp_path / "root"), str(tmp_path / "log")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "SMOOTHSCOPE_TEST_TAG": token, **env},
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=_terminal_signals,
    )


def _tagged(token: str) -> list[int]:
    """Live processes whose environment holds ``token`` (the run and all it spawned)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"SMOOTHSCOPE_TEST_TAG={token}".encode() in environ.read_bytes():
                pid = int(environ.parent.name)
                if alive(pid):
                    found.append(pid)
        except (OSError, ValueError):
            continue
    return found


def _all_gone(token: str, grace: float = 10.0) -> bool:
    deadline = time.monotonic() + grace
    while _tagged(token):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.usefixtures("_importable_cells")
def test_sigterm_ends_like_ctrl_c_with_143(tmp_path: Path):
    token = os.urandom(8).hex()
    proc = _start_sweep(tmp_path, token)
    log, deadline = tmp_path / "log", time.monotonic() + 120
    while not log.exists() or not log.read_text().split():  # a cell runs
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)  # systemd and SLURM signal the whole group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.count("\n") == 1 and "terminated (SIGTERM)" in err, err
    assert "leaked semaphore" not in err and "Traceback" not in err
    assert _all_gone(token)


@pytest.mark.usefixtures("_importable_cells")
def test_ctrl_c_while_a_worker_is_spawned_is_not_lost(tmp_path: Path):
    # the candidate of issue 28, checked: _QuietSpawnProcess.start ignored SIGINT (SIG_IGN)
    # while it spawned a worker, and this run finished with exit code 0; now SIGINT is blocked
    # meanwhile, stays pending and is delivered when the worker has started
    token = os.urandom(8).hex()
    proc = _start_sweep(tmp_path, token, INJECT_SIGINT_AT_SPAWN="1")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err, err
    assert _all_gone(token)


@pytest.mark.usefixtures("_importable_cells")
def test_ctrl_c_beside_cpu_bound_processes_ends_the_run_within_seconds(tmp_path: Path):
    """A Ctrl-C to the process group at a random moment of the start (imports, worker spawns,
    first cells), with every core busy: exit code 130 within 30 s, one line, workers gone."""
    import random

    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        token = os.urandom(8).hex()
        proc = _start_sweep(tmp_path, token)
        assert proc.stdout.readline().strip() == "ready"  # main() runs: its handlers are set
        time.sleep(random.uniform(0.0, 1.5))  # anywhere in the spawns and first cells
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        start = time.monotonic()
        _, err = proc.communicate(timeout=60)
        assert time.monotonic() - start < 30
        assert proc.returncode == 130, err
        assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err, err
        assert _all_gone(token)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


# =============================================================================================
# forensic score (issue 28, items 3-5, and issue 27): output paths checked before any compute,
# never a NaN score, hostile headers in the inputs it reads; one line and exit code 2, nothing
# written. A self-contained block: its helpers and fixture are its own.


@pytest.fixture(scope="module")
def forensic_detector(tmp_path_factory) -> Path:
    """A detector JSON over the real feature names, fitted on synthetic feature rows (the cases
    below are refused before any compute, or scored in a second)."""
    from smoothscope.forensic.detector import feature_reference, fit_detector, with_calibration
    from smoothscope.forensic.features import FEATURE_NAMES

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, len(FEATURE_NAMES)))
    y = (x[:, 2] + 0.3 * rng.normal(size=64) > 0).astype(int)
    detector = fit_detector(x, y, FEATURE_NAMES)
    reference = feature_reference(x, FEATURE_NAMES, frames=[16], height=[16], width=[16])
    detector = with_calibration(detector, 0.5, {"fpr_authentic_compressed": 0.05}, reference)
    return detector.save(tmp_path_factory.mktemp("forensic") / "detector.json")


def _forensic_video(path: Path, scale: float = 1.0) -> Path:
    t = np.arange(16.0)[:, None, None]
    y, x = np.mgrid[:16, :16]
    np.save(path, scale * np.maximum(np.sin(0.4 * x + 0.3 * y + 0.2 * t), -0.3))
    return path


def _forensic_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def _forensic_refused(argv: list[str], capsys, monkeypatch, root: Path, match: str) -> None:
    """``main(argv)`` ends in one line and exit code 2, computes no feature, writes nothing."""

    def no_compute(*args, **kwargs):
        raise AssertionError("validation passed: the features would have been computed")

    monkeypatch.setattr("smoothscope.forensic.features.video_features", no_compute)
    before = _forensic_files(root)
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("smoothscope: error:"), err
    assert "Traceback" not in err and match in err, err
    assert _forensic_files(root) == before


def test_forensic_output_paths_are_checked_before_any_compute(
    forensic_detector, tmp_path, capsys, monkeypatch
):
    video = _forensic_video(tmp_path / "clip.npy")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        (["--maps", str(a_file / "maps")], "--maps"),  # under a file
        (["--maps", str(a_file)], "--maps"),  # a file, not a folder
        (["--maps", "/proc/self/smoothscope-maps"], "--maps"),  # a folder nobody may write
        (["--json", str(a_file / "out.json")], "--json"),
        (["--json", str(tmp_path)], "--json"),  # a folder, not a file
    ]
    for options, match in cases:
        argv = ["forensic", "score", str(forensic_detector), str(video), *options]
        _forensic_refused(argv, capsys, monkeypatch, tmp_path, match)


def test_forensic_score_is_never_nan_for_a_video_scaled_by_1e100(forensic_detector, tmp_path):
    plain = _forensic_video(tmp_path / "plain.npy")
    huge = _forensic_video(tmp_path / "huge.npy", 1e100)
    small = _forensic_video(tmp_path / "small.npy", 1e-100)
    out = tmp_path / "scores.json"
    argv = ["forensic", "score", str(forensic_detector), str(plain), str(huge), str(small)]
    assert main([*argv, "--json", str(out)]) == 0
    p = [row["probability"] for row in json.loads(out.read_text())["videos"]]
    assert np.isfinite(p).all() and max(p) - min(p) < 1e-6


def test_forensic_hostile_npz_header_is_one_line_not_memory_error(
    forensic_detector, tmp_path, capsys, monkeypatch
):
    import io
    import zipfile

    header = io.BytesIO()  # 71·2**17 × 2**30 float64 = 71 PiB of data, in a few bytes
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (71 * 2**17, 2**30)}
    )
    for name, claimed in (("small.npz", None), ("claims.npz", 2**32 - 1)):
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            info = zipfile.ZipInfo("video.npy")
            archive.writestr(info, header.getvalue() + b"\0" * 64)
        if claimed is not None:  # the zip directory lies too: 4 GiB uncompressed
            data = bytearray((tmp_path / name).read_bytes())
            size = len(header.getvalue()) + 64
            data = data.replace(size.to_bytes(4, "little"), claimed.to_bytes(4, "little"))
            (tmp_path / name).write_bytes(bytes(data))
        argv = ["forensic", "score", str(forensic_detector), str(tmp_path / name)]
        _forensic_refused(argv, capsys, monkeypatch, tmp_path, "71 PiB")


def test_forensic_png_claiming_20000_squared_is_one_line_not_a_bomb(
    forensic_detector, tmp_path, capsys, monkeypatch
):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(16):
        (frames / f"frame{t:03d}.png").write_bytes(png)
    argv = ["forensic", "score", str(forensic_detector), str(frames)]
    _forensic_refused(argv, capsys, monkeypatch, tmp_path, "pixels")
