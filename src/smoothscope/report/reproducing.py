"""Reproduce every registered experiment into one folder and write its report.

``reproduce(out=DIR)`` runs each registered experiment into ``DIR/<experiment>/`` (the usual run
directory: ``config.json``, ``results.json``, ``figures/*.png``, ``cells/``) and writes
``DIR/report.html`` (:func:`smoothscope.report.build_report`).

Resuming: an experiment whose ``results.json`` exists, is compatible and whose ``config.json``
matches the requested scale and seed is not recomputed; one without ``results.json``
(interrupted) is run again, which reuses its finished cells.

Before anything runs, ``reproduce`` tells its ``notify`` callback what a reader of the results
must know: the data each experiment will substitute for the paper's (the digits fallback when
no dataset file is found) and the warnings of the runs it reuses (undertrained models).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._device import resolve_device
from .._errors import SmoothscopeError
from .._io import _jsonable, check_writable_dir, load_json
from ..experiments import SCALES, available_experiments, get_experiment, run_experiment
from ..experiments._base import DEVICE_ENV, check_data
from ..sweep import ExecutorSpec
from .evidence import QUICK_NOTE, planned_substitutions, run_warnings
from .loading import load_results
from .render import build_report

__all__ = ["reproduce"]


def _select(only: Iterable[str] | None) -> list[str]:
    registered = [s.name for s in available_experiments()]
    if not only:
        return registered
    wanted = [n.strip() for item in only for n in str(item).split(",") if n.strip()]
    for name in wanted:
        if name not in registered:
            raise SmoothscopeError(
                f"--only: expected experiments among {', '.join(registered)}, got {name!r}"
            )
    return [n for n in registered if n in wanted]


def _check_out(out: Path) -> None:
    """Refuse, without writing anything, an ``--out`` that is a file, not writable, named
    beyond the OS's limits, or the run directory of one experiment (issue 28)."""
    check_writable_dir(out, "--out")
    # issue 28: `reproduce --out` into the run directory of `smoothscope run` (its own
    # config.json or results.json at the top) would mix one run's files with every experiment's
    for name in ("config.json", "results.json"):
        if (out / name).is_file():
            raise SmoothscopeError(
                f"--out: {out} is the run directory of one experiment (it holds {name}); "
                "reproduce writes a run directory per experiment into a folder of its own: "
                "choose another --out"
            )


def _device_for(name: str, device: str | None) -> str:
    """The device of experiment ``name`` in a ``reproduce``: ``device`` (default
    ``$SMOOTHSCOPE_DEVICE``, else the CPU) where its cells can use it, else the CPU."""
    cls = get_experiment(name).config
    device = device if device is not None else os.environ.get(DEVICE_ENV, "cpu")
    if resolve_device(device).type in cls.DEVICES:
        return cls.cell_device_name(device)
    return "cpu"


def _plan(run_dir: Path, name: str, scale: str, seed: int, device: str = "cpu") -> str:
    """``"done"`` (finished, same config), ``"run"`` (new or interrupted); raise if foreign."""
    if run_dir.exists() and not run_dir.is_dir():
        raise SmoothscopeError(f"--out: expected {run_dir} to be a directory, got a file")
    config = get_experiment(name).config.preset(scale, seed=seed, device=device)
    check_data(config)  # a missing or corrupt dataset is refused before anything runs
    expected = config.to_dict()
    expected = json.loads(json.dumps(_jsonable(expected)))
    config_path = run_dir / "config.json"
    if not config_path.exists():
        return "run"
    previous = load_json(config_path)
    same = (
        isinstance(previous, dict)
        and previous.get("experiment") == name
        and previous.get("scale") == scale
        and previous.get("config") == expected
    )
    if not same:
        raise SmoothscopeError(
            f"--out: {run_dir} holds a run with another experiment or config (this run: scale "
            f"{scale}, seed {seed}); choose another --out or delete it"
        )
    if not (run_dir / "results.json").exists():
        return "run"
    results = load_results(run_dir)
    if results["experiment"] != name or results["scale"] != scale or results["seed"] != seed:
        raise SmoothscopeError(
            f"--out: {run_dir / 'results.json'} holds results of another run; "
            "choose another --out or delete it"
        )
    return "done"


def _preflight(
    out: Path, names: list[str], plan: dict[str, str], scale: str, seed: int, devices: dict
) -> list[str]:
    """The warnings known before running: planned data substitutions of the runs to do, and
    the banners of the runs reused."""
    lines = []
    for name in names:
        if plan[name] == "run":
            config = get_experiment(name).config.preset(scale, seed=seed, device=devices[name])
            lines += [f"data: {s.line()}" for s in planned_substitutions(name, config)]
    reused = []
    for name in names:
        if plan[name] == "done":
            run = dict(load_results(out / name))
            previous = load_json(out / name / "config.json")
            run["config"] = previous.get("config", {}) if isinstance(previous, dict) else {}
            reused.append(run)
    lines += [line for line in run_warnings(reused) if not line.startswith("scale:")]
    if scale == "quick":
        lines.append(f"scale: every experiment at scale quick: {QUICK_NOTE}")
    return lines


def reproduce(
    scale: str = "quick",
    out: str | os.PathLike | None = None,
    only: Iterable[str] | None = None,
    seed: int = 0,
    executor: ExecutorSpec | None = None,
    progress: bool = True,
    device: str | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every registered experiment (or those in ``only``) into ``out/<name>/``, then write
    ``out/report.html``.

    Finished experiments (``results.json`` present and compatible, same config) are not rerun;
    interrupted ones are rerun and reuse their finished cells. Everything is checked before
    anything runs: unknown names, an output path that is a file or not writable, a folder
    holding another config or incompatible results raise :class:`SmoothscopeError`.

    Args:
        scale: ``"quick"``, ``"standard"`` or ``"paper"``.
        out: output folder (default ``runs/reproduce-<scale>-seed<seed>``).
        only: experiment names (or comma-separated lists of names); default all.
        seed: seed of every experiment.
        executor: where the cells run (default: in this process).
        progress: one bar over experiments, with each experiment's own bars below it.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (default ``$SMOOTHSCOPE_DEVICE``, else the
            CPU) for the experiments whose cells can use it; the others run on the CPU (each
            run's ``config.json`` and report state the device used).
        notify: called with each one-line warning known before the run starts (substituted
            data, undertrained models of reused runs, the scale); the returned ``warnings``
            hold those of every run at the end.

    Returns:
        ``{"out", "report", "experiments": {name: {"status": "ran" | "reused", "run_dir"}},
        "runs": {name: run_dir}, "claims": [...], "warnings": [...]}``; ``claims`` (each with
        its ``cause``) and ``warnings`` are those of every run under ``out`` (the report's),
        ``experiments`` those of this call.
    """
    if scale not in SCALES:
        raise SmoothscopeError(f"scale: expected one of {', '.join(SCALES)}, got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SmoothscopeError(f"seed: expected a non-negative integer, got {seed!r}")
    names = _select(only)
    if device is not None:
        resolve_device(device)  # an unknown device or CUDA without CUDA: before any write
    out = Path(out) if out is not None else Path("runs") / f"reproduce-{scale}-seed{seed}"
    _check_out(out)
    devices = {name: _device_for(name, device) for name in names}
    plan = {name: _plan(out / name, name, scale, seed, devices[name]) for name in names}
    if notify is not None:
        for line in _preflight(out, names, plan, scale, seed, devices):
            notify(line)

    done: dict[str, dict[str, str]] = {}
    bar = tqdm(
        total=len(names),
        desc="reproduce",
        unit="experiment",
        position=0,
        disable=not progress,
    )
    try:
        for name in names:
            bar.set_description(f"reproduce {name}")
            run_dir = out / name
            if plan[name] == "run":
                run_experiment(
                    name,
                    scale=scale,
                    seed=seed,
                    out=run_dir,
                    progress=progress,
                    executor=executor,
                    options={"device": devices[name]},
                )
            done[name] = {
                "status": "ran" if plan[name] == "run" else "reused",
                "run_dir": str(run_dir),
            }
            bar.update()
        bar.set_description("reproduce")
    finally:
        bar.close()
    report = build_report(out)
    report["experiments"] = done
    return report
