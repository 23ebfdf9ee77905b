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
