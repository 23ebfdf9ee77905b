"""Paper-scale wall time of every experiment: an ESTIMATE from timed steps on the CPU, or the
row of a measured run (``benchmarks/device_check.sh`` on a GPU).

**Estimate** (no GPU lent): the paper-scale plan of each experiment is listed (every cell, its
config at ``--scale paper``), and its cells are timed, one thread each as in a run, with their
per-step counts shrunk: a cell function's cost is modelled as ``t0 + Σ_i p_i · K_i``, where each
term ``K_i`` is a product of counts the cost grows with in proportion (epochs × training images,
initialisations × directions, videos, DIP iterations, ...; :data:`TERMS`). One run at small
counts gives ``t0``; per term, its first count is doubled until the run takes ``MIN_DELTA``
longer (or reaches the paper's count), which gives ``p_i``; the cell's
paper-scale time is ``t0 + Σ p_i (K_i,paper − K_i,timed)``. Cells that differ in more than seeds
and counts (architectures, models) are timed one group at a time (at most ``--groups`` groups per
function, spread over the plan; the others get the mean of the timed ones, for blueshift's paths
in proportion to the plan's own cost weight). Scale-detection's trainings stop at a multiple of
their interpolation epoch: two capped trainings give the time per epoch, and a finished run of
the experiment (``--interpolation-from``, e.g. the standard scale's) the interpolation epoch of
each family. The experiment's wall time on ``--jobs`` workers is the sum over
its stages of ``max(Σ cells / jobs, longest cell)``; aggregation, claims and figures are not
counted. What the model leaves out (validation passes at the timed size, data loading
proportional to the data but done once) makes it a lower estimate; treat it as ± a factor 2.

**Measured** (``--measured EXP RUN_DIR SECONDS EXIT``): the row of a paper-scale run on the
device: its wall time if it finished, else the cells it finished within the budget.

    .venv/bin/python benchmarks/estimate_paper_time.py [--only blueshift,...] [--budget 480]
        [--cache OUT/estimate.json]     # resumable: timed functions are kept in the cache
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import machine, now, write_row
from smoothscope.data.real import resolve_dataset
from smoothscope.experiments import available_experiments, get_experiment
from smoothscope.sweep import Cell, run_cell

E = "smoothscope.experiments."
ORDER = ("regularity", "forensic", "nonsmoothness", "propagation", "scale-detection",
         "stability", "blueshift")  # fmt: skip
"""Timing order: each experiment gets a share of the budget left in proportion to its cell
functions, so the costliest to time (blueshift) comes last and takes what the others left."""


@dataclass(frozen=True)
class Knob:
    """A count a cell's cost grows with in proportion: ``path`` into the cell config (dots),
    its timed value ``small``; ``kind`` ``"last"`` is the last entry of a list (Fig. 11's
    checkpoint epoch), ``"count"`` the length of a list; ``linked`` paths are scaled with it
    (validation sets)."""

    path: str
    small: int
    kind: str = "value"
    linked: tuple[str, ...] = ()


TERMS: dict[str, list[list[Knob]]] = {
    E + "blueshift:path_cell": [[Knob("inits", 1), Knob("directions", 1)]],
    E + "blueshift:train_cell": [[Knob("epochs", 1), Knob("inputs.n", 64)],
                                 [Knob("directions", 1)]],
    E + "blueshift:training_path_cell": [[Knob("checkpoints", 1, "last"), Knob("inputs.n", 64)],
                                         [Knob("directions", 1)]],
    E + "forensic:train_cell": [[Knob("epochs", 1), Knob("data.train_frames", 256)]],
    E + "forensic:features_cell": [[Knob("sources", 2, "count")]],
    E + "nonsmoothness:train_cell": [[Knob("epochs", 1),
                                      Knob("data.train", 256, linked=("data.val",))]],
    E + "nonsmoothness:evaluate_cell": [[Knob("data.videos", 2)]],
    E + "propagation:record_cell": [[Knob("data.videos", 2)]],
    E + "regularity:train_cell": [[Knob("epochs", 1),
                                   Knob("train_images", 128, linked=("val_images",))]],
    E + "regularity:generator_cell": [[Knob("epochs", 1),
                                       Knob("images", 128, linked=("val_images",))]],
    E + "regularity:evaluate_cell": [[Knob("test_scenes", 2)]],
    E + "regularity:dip_cell": [[Knob("iterations", 20)]],
    E + "scale_detection:measure_cell": [[Knob("moves", 2)]],
    E + "stability:train_cell": [[Knob("epochs", 1), Knob("n_train", 256, linked=("n_test",))]],
    E + "stability:analyse_cell": [[Knob("n_inputs", 16)]],
}  # fmt: skip
"""Per cell function, its cost terms (each a product of knobs; the first knob is doubled)."""
STOPPING = E + "scale_detection:train_cell"
"""Trains to a multiple of its interpolation epoch (timed with the multiple set to 1)."""
MIN_DELTA = 0.5
"""Seconds a term's timed increment must reach (its first count doubled again until it does,
at most :data:`MAX_DOUBLINGS` times or up to its paper count): the slope is read above noise."""
MAX_DOUBLINGS = 6
INTERPOLATION: dict[str, float] = {}
"""Median interpolation epoch per scale-detection family name, read from a finished run
(``--interpolation-from``)."""
ASSUMED_INTERPOLATION = 100
"""The interpolation epoch used without such a run (stated in the row's notes)."""


def _get(config: dict, path: str) -> Any:
    for key in path.split("."):
        config = config[key]
    return config


def _has(config: dict, path: str) -> bool:
    for key in path.split("."):
        if not isinstance(config, dict) or key not in config:
            return False
        config = config[key]
    return True


def _put(config: dict, path: str, value: Any) -> None:
    *head, last = path.split(".")
    for key in head:
        config = config[key]
    config[last] = value


def _full(config: dict, path: str) -> int:
    """A count of 0 ("all") read as the dataset's split size."""
    info = resolve_dataset(config.get("dataset", "auto"), config.get("data_dir"))
    return info.n_test if "test" in path else info.n_train


def _read(config: dict, knob: Knob) -> int:
    value = _get(config, knob.path)
    if knob.kind == "last":
        return int(value[-1])
    if knob.kind == "count":
        return len(value)
    return int(value) or _full(config, knob.path)


def _write(config: dict, knob: Knob, value: int) -> None:
    original = _read(config, knob)
    if knob.kind == "last":
        _put(config, knob.path, [*_get(config, knob.path)[:-1], value])
    elif knob.kind == "count":
        _put(config, knob.path, _get(config, knob.path)[:value])
    else:
        _put(config, knob.path, value)
    for path in knob.linked:
        other = int(_get(config, path)) or _full(config, path)
        _put(config, path, max(8, round(other * value / original)))


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _remap(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _remap(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap(v, ids) for v in value]
    return ids.get(value, value) if isinstance(value, str) else value


def _group(cell: Cell) -> str:
    """What makes cells of one function cost differently: the config without its counts (the
    knobs), seeds, other cells' ids and replicate indices."""
    config = copy.deepcopy(cell.config)
    for knob in (k for term in TERMS.get(cell.fn, []) for k in term):
        for path in (knob.path, *knob.linked):
            *head, last = path.split(".")
            _get(config, ".".join(head)).pop(last, None) if head else config.pop(last, None)
    skip = ("model_cell", "model_cells", "index", "rep", "name", "sources", "variant")

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if "seed" not in k and k not in skip}
        return value

    return json.dumps(strip(config), sort_keys=True)


@dataclass
class Experiment:
    """One experiment's timed functions and its estimate."""

    name: str
    stages: list[list[Cell]]
    root: Path
    done: dict[str, Cell] = field(default_factory=dict)  # original id -> its timed base cell
    per_cell: dict[str, float] = field(default_factory=dict)  # cell id -> estimated seconds
    notes: list[str] = field(default_factory=list)

    def timed(self, cell: Cell) -> float:
        start = time.perf_counter()
        run_cell(cell, self.root)
        return time.perf_counter() - start

    def shrunk(self, cell: Cell, values: dict[Knob, int]) -> Cell:
        config = _remap(copy.deepcopy(cell.config), {k: c.id for k, c in self.done.items()})
        for knob, value in values.items():
            _write(config, knob, value)
        return Cell(cell.fn, config, label=cell.label, threads=cell.threads)

    def ensure_inputs(self, cell: Cell, by_id: dict[str, Cell]) -> None:
        """Run (untimed, at small counts) the cells whose ids ``cell`` names."""
        for dep in sorted(set(_strings(cell.config)) & set(by_id)):
            if dep not in self.done:
                self.ensure_inputs(by_id[dep], by_id)
                base = self.base(by_id[dep])
                run_cell(base, self.root)
                self.done[dep] = base

    def base(self, cell: Cell) -> Cell:
        if cell.fn == STOPPING:
            return self.shrunk(cell, {Knob("max_epochs", 1): 2})
        knobs = {
            k: k.small for term in TERMS.get(cell.fn, []) for k in term if _has(cell.config, k.path)
        }
        return self.shrunk(cell, {k: min(v, _read(cell.config, k)) for k, v in knobs.items()})

    def estimate(self, cell: Cell, by_id: dict[str, Cell]) -> float:
        """Seconds of ``cell`` at its own (paper) counts, from timed runs at small counts."""
        self.ensure_inputs(cell, by_id)
        if cell.fn == STOPPING:
            return self._stopping(cell)
        terms = TERMS.get(cell.fn)
        if terms is None:
            self.notes.append(f"{cell.fn.split(':')[1]} timed at paper counts")
            return self.timed(self.shrunk(cell, {}))
        terms = [[k for k in term if _has(cell.config, k.path)] for term in terms]
        terms = [term for term in terms if term]  # e.g. the digits' data have no "train" count
        small = {k: min(k.small, _read(cell.config, k)) for term in terms for k in term}
        base = self.shrunk(cell, small)
        t0 = self.timed(base)
        self.done.setdefault(cell.id, base)
        total = t0
        for term in terms:
            first = term[0]
            paper = _read(cell.config, first)
            if paper <= small[first]:
                continue  # already at its paper count
            value, t1 = small[first], t0
            for _ in range(MAX_DOUBLINGS):  # until the increment stands out of the noise
                value = min(2 * value, paper)
                t1 = self.timed(self.shrunk(cell, {**small, first: value}))
                if t1 - t0 >= MIN_DELTA or value >= paper:
                    break
            rest = math.prod(small[k] for k in term[1:])
            slope = max(0.0, t1 - t0) / ((value - small[first]) * rest)  # s per unit of K
            total += slope * (math.prod(_read(cell.config, k) for k in term) - small[first] * rest)
        return total

    def _stopping(self, cell: Cell) -> float:
        """A training to ``multiple`` × its interpolation epoch: the time per epoch from two
        capped trainings, the interpolation epoch from :data:`INTERPOLATION` (a finished run's
        trainings of the same family) or, without one, :data:`ASSUMED_INTERPOLATION`."""
        seconds, epochs = [], []
        for cap in (2, 4):
            config = copy.deepcopy(cell.config)
            config["max_epochs"] = cap
            probe = Cell(cell.fn, config, label=cell.label, threads=cell.threads)
            seconds.append(self.timed(probe))
            summary = json.loads((self.root / probe.id / "result.json").read_text())["summary"]
            epochs.append(int(summary["epochs"]))
            self.done.setdefault(cell.id, probe)
        per_epoch = max(0.0, seconds[1] - seconds[0]) / max(1, epochs[1] - epochs[0])
        known = INTERPOLATION.get(cell.config["name"])
        if known is None:
            self.notes.append(
                f"{cell.config['name']}: interpolation epoch assumed {ASSUMED_INTERPOLATION} "
                "(no --interpolation-from run)"
            )
        interpolation = known or ASSUMED_INTERPOLATION
        total = math.ceil(float(cell.config["family"]["multiple"]) * interpolation)
        return seconds[0] + per_epoch * (min(int(cell.config["max_epochs"]), total) - epochs[0])


def _weight(name: str, cell: Cell) -> float:
    if name == "blueshift" and cell.fn.endswith(":path_cell"):
        from smoothscope.experiments.blueshift.cells import _cost

        return _cost(cell)
    return 1.0


def _plan(name: str) -> list[list[Cell]]:
    config = get_experiment(name).config.preset("paper", device="cpu")
    return importlib.import_module(f"{E}{name.replace('-', '_')}.cells").plan(config)[0]


def estimate_experiment(
    name: str, groups_cap: int, deadline: float, cache: dict, save=lambda: None
) -> dict:
    stages = _plan(name)
    by_id = {c.id: c for stage in stages for c in stage}
    entry = cache.setdefault(name, {"functions": {}})
    with tempfile.TemporaryDirectory(prefix=f"estimate-{name}-") as tmp:
        exp = Experiment(name, stages, Path(tmp))
        for stage in stages:
            for fn in dict.fromkeys(c.fn for c in stage):
                cells = [c for c in stage if c.fn == fn]
                if fn in entry["functions"]:
                    continue
                if time.perf_counter() > deadline:
                    continue  # not timed: the row says the estimate is partial
                groups: dict[str, list[Cell]] = {}
                for c in sorted(cells, key=lambda c: _weight(name, c)):  # cheapest first
                    groups.setdefault(_group(c), []).append(c)
                keys = list(groups)
                step = max(1, math.ceil(len(keys) / groups_cap))
                sampled = keys[::step][:groups_cap]
                ratios = {}
                for key in sampled:
                    first = groups[key][0]
                    seconds = exp.estimate(first, by_id)
                    ratios[key] = seconds / _weight(name, first)
                mean = sum(ratios.values()) / len(ratios)
                entry["functions"][fn] = {
                    "cells": len(cells),
                    "groups": len(groups),
                    "timed_groups": len(sampled),
                    "seconds": {
                        c.id: ratios.get(_group(c), mean) * _weight(name, c) for c in cells
                    },
                }
                entry.setdefault("notes", []).extend(exp.notes)
                exp.notes.clear()
                save()
                spent = sum(entry["functions"][fn]["seconds"].values())
                print(f"  {name} {fn.split(':')[1]}: {len(cells)} cells, {len(groups)} groups "
                      f"({len(sampled)} timed), {spent:.0f} cell-seconds", flush=True)  # fmt: skip
    entry["stages"] = [[c.id for c in stage] for stage in stages]
    entry["fns"] = {c.id: c.fn for stage in stages for c in stage}
    return entry


def wall(entry: dict, jobs: int) -> tuple[float, float, bool]:
    """(cell-seconds, wall seconds on ``jobs`` workers, complete?) of an estimate."""
    seconds = {cid: s for f in entry["functions"].values() for cid, s in f["seconds"].items()}
    total = wall_s = 0.0
    complete = True
    for stage in entry["stages"]:
        known = [seconds[c] for c in stage if c in seconds]
        complete &= len(known) == len(stage)
        if known:
            total += sum(known)
            wall_s += max(sum(known) / jobs, max(known))
    return total, wall_s, complete


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


def measured_row(name: str, run_dir: Path, seconds: float, exit_code: int, record: bool) -> None:
    """The row of a paper-scale run on the device (``device_check.sh``)."""
    spec = get_experiment(name)
    config = spec.config.preset("paper", device="cpu")
    stages = importlib.import_module(f"{E}{name.replace('-', '_')}.cells").plan(config)[0]
    planned = sum(len(s) for s in stages)
    finished = len(list((run_dir / "cells").glob("*/result.json")))
    if exit_code == 0 and (run_dir / "results.json").exists():
        what, note = f"**{_duration(seconds)}** (measured)", "finished"
    else:
        share = finished / planned if planned else 0.0
        what = f"{finished}/{planned} cells in {_duration(seconds)} (measured)"
        note = f"budget ran out (exit {exit_code}); resumable with the same --out" + (
            f"; linear extrapolation {_duration(seconds / share)} (estimate)" if share else ""
        )
    row = [now(), machine(), name, "measured on CUDA", planned, "", what, note]
    print(" | ".join(str(c) for c in row))
    if record:
        write_row("paper_time", row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated experiments (default: all)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the timings")
    parser.add_argument("--groups", type=int, default=2, help="timed groups per function")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the estimated run")
    parser.add_argument("--cache", type=Path, default=None, help="timings kept here (resume)")
    parser.add_argument(
        "--interpolation-from",
        type=Path,
        default=None,
        help="a finished scale-detection run: its interpolation epochs",
    )
    parser.add_argument("--measured", nargs=4, metavar=("EXP", "RUN_DIR", "SECONDS", "EXIT"))
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if args.measured:
        name, run_dir, seconds, code = args.measured
        measured_row(name, Path(run_dir), float(seconds), int(code), not args.no_record)
        return
    names = [n for n in ORDER if n in {s.name for s in available_experiments()}]
    names += [s.name for s in available_experiments() if s.name not in names]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    if args.interpolation_from:
        epochs: dict[str, list[int]] = {}
        for path in args.interpolation_from.glob("cells/*/result.json"):
            result = json.loads(path.read_text())
            epoch = (result.get("summary") or {}).get("interpolation_epoch")
            if result.get("fn") == STOPPING and epoch is not None:
                epochs.setdefault(result["config"]["name"], []).append(epoch)
        INTERPOLATION.update({k: sorted(v)[len(v) // 2] for k, v in epochs.items()})
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else {}
    deadline = time.perf_counter() + args.budget

    def save() -> None:
        if args.cache:
            args.cache.write_text(json.dumps(cache, indent=1))

    weight = {n: len({c.fn for s in _plan(n) for c in s}) for n in names}  # cell functions
    for i, name in enumerate(names):
        print(f"{name}: paper-scale plan", flush=True)
        left = sum(weight[n] for n in names[i:])  # leftovers go to the next ones
        share = (deadline - time.perf_counter()) * weight[name] / left
        known = set(cache.get(name, {}).get("functions", {}))
        entry = estimate_experiment(name, args.groups, time.perf_counter() + share, cache, save)
        save()
        fresh = set(entry["functions"]) != known  # a row only when this run timed something
        total, wall_s, complete = wall(entry, args.jobs)
        counts = ", ".join(
            f"{f['cells']} {fn.split(':')[1]}" for fn, f in entry["functions"].items()
        )
        notes = sorted(set(entry.get("notes", [])))
        timed = f"**{_duration(wall_s)}** on {args.jobs} cores ({_duration(total)} of cells)"
        if not complete:
            missing = sorted({fn.split(":")[1] for fn in entry["fns"].values()} - {
                fn.split(":")[1] for fn in entry["functions"]})  # fmt: skip
            timed = f"≥ {timed} (partial)" if entry["functions"] else "not timed"
            notes.append(f"not timed within the budget: {', '.join(missing)} (rerun with the "
                         "same --cache to add them)")  # fmt: skip
        row = [now(), machine(), name, "**ESTIMATE** from timed steps on the CPU",
               sum(len(s) for s in entry["stages"]), counts, timed, "; ".join(notes)]  # fmt: skip
        print(" | ".join(str(c) for c in row), flush=True)
        if fresh and not args.no_record:
            write_row("paper_time", row)


if __name__ == "__main__":
    main()
