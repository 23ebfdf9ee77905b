"""cProfile of representative standard-scale cells of the costly experiments (issue 29).

For each experiment (default: blueshift, scale-detection, stability) and each of its cell
functions, one cell of ``--scale standard``'s plan is run in this process under ``cProfile``
(one intra-op thread, as in a run; the cells it reads are run first, not profiled): for
blueshift's paths the cell of median (``--pick max``: largest) cost by the plan's cost weight,
else the middle (``max``: last) cell of the function's list. Prints per cell its wall time and
the top rows by cumulative time and by own time (function, share of the cell's profiled time);
``--json`` keeps them.

    .venv/bin/python benchmarks/profile_standard.py [--only blueshift] [--top 12]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import pstats
import tempfile
import time
from pathlib import Path

from smoothscope.experiments import get_experiment
from smoothscope.sweep import Cell, run_cell

E = "smoothscope.experiments."


def _ids(value) -> set[str]:
    if isinstance(value, dict):
        return {s for v in value.values() for s in _ids(v)}
    if isinstance(value, list):
        return {s for v in value for s in _ids(v)}
    return {value} if isinstance(value, str) else set()


def representative(name: str, cells: list[Cell], pick: str = "median") -> Cell:
    """The cell of median (or largest) cost: blueshift's paths by the plan's cost weight, the
    others by their place in the function's list."""
    if name == "blueshift" and cells[0].fn.endswith(":path_cell"):
        from smoothscope.experiments.blueshift.cells import _cost

        cells = sorted(cells, key=_cost)
    return cells[-1] if pick == "max" else cells[len(cells) // 2]


def _label(func: tuple[str, int, str]) -> str:
    path, line, fn = func
    if path == "~":
        return fn
    short = path.split("site-packages/")[-1].split("/src/")[-1]
    return f"{short}:{line}({fn})"


def rows(profile: cProfile.Profile, top: int) -> dict[str, list[tuple[str, float]]]:
    stats = pstats.Stats(profile)
    total = max(stats.total_tt, 1e-9)
    entries = stats.stats  # func -> (cc, nc, tt, ct, callers)
    by_cum = sorted(entries.items(), key=lambda kv: -kv[1][3])
    by_own = sorted(entries.items(), key=lambda kv: -kv[1][2])
    skip = ("run_cell", "_resolve", "seeded_global_rngs", "<module>", "__enter__", "__exit__")
    cum = [(_label(f), v[3] / total) for f, v in by_cum if f[2] not in skip][:top]
    own = [(_label(f), v[2] / total) for f, v in by_own][:top]
    return {"cumulative": cum, "own": own}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="blueshift,scale-detection,stability")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--pick", choices=("median", "max"), default="median")
    parser.add_argument("--fns", default="", help="comma-separated cell functions (default all)")
    args = parser.parse_args()
    report = {}
    for name in args.only.split(","):
        config = get_experiment(name).config.preset("standard", device="cpu")
        stages = importlib.import_module(f"{E}{name.replace('-', '_')}.cells").plan(config)[0]
        by_id = {c.id: c for stage in stages for c in stage}
        with tempfile.TemporaryDirectory(prefix=f"profile-{name}-") as tmp:
            root = Path(tmp)
            for stage in stages:
                for fn in dict.fromkeys(c.fn for c in stage):
                    if args.fns and fn.split(":")[1] not in args.fns.split(","):
                        continue
                    cell = representative(name, [c for c in stage if c.fn == fn], args.pick)
                    for dep in sorted(_ids(cell.config) & set(by_id)):
                        run_cell(by_id[dep], root)
                    profile = cProfile.Profile()
                    start = time.perf_counter()
                    profile.enable()
                    run_cell(cell, root)
                    profile.disable()
                    seconds = time.perf_counter() - start
                    top = rows(profile, args.top)
                    report[f"{name} {cell.label}"] = {"fn": fn, "seconds": seconds, **top}
                    print(f"\n== {name}: {cell.label} ({fn.split(':')[1]}), {seconds:.1f} s")
                    for kind in ("cumulative", "own"):
                        print(f"  by {kind} time:")
                        for label, share in top[kind]:
                            print(f"    {share:6.1%}  {label}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
