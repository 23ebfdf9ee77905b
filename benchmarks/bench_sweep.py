"""Speed-up of a quick-scale nonsmoothness sweep with 1 vs N local worker processes.

What is measured: the cells of ``smoothscope run nonsmoothness --scale quick`` (training stage,
then evaluation stage: 8 trainings and 8 evaluations), run through the ``process`` executor
with 1 worker and then with ``--jobs`` workers, each into a fresh cell folder, in the same run.
Each cell runs with one intra-op thread (``threads_per_cell = 1``, the default), so both runs
do exactly the same work and must produce bit-identical checkpoints; the script checks that.

    .venv/bin/python benchmarks/bench_sweep.py [--jobs 2] [--json PATH]

The speed-up is ``time(1 worker) / time(N workers)``; the target on a 2-core machine is ≥ 1.7.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from _common import machine, now, write_row
from smoothscope.experiments.nonsmoothness import NonsmoothnessConfig, plan
from smoothscope.sweep import ExecutorSpec, open_executor, run_cells


def run_sweep(stages, root: Path, jobs: int) -> float:
    """Wall-clock seconds to run all stages with a ``jobs``-worker process pool."""
    start = time.perf_counter()
    with open_executor(ExecutorSpec("process", jobs=jobs)) as executor:
        for stage in stages:
            run_cells(stage, root, executor=executor, progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true", help="do not write a README row")
    args = parser.parse_args()

    config = NonsmoothnessConfig.preset("quick", seed=args.seed)
    stages, _ = plan(config)
    n_cells = sum(len(s) for s in stages)
    with tempfile.TemporaryDirectory() as tmp:
        serial = run_sweep(stages, Path(tmp) / "one", 1)
        parallel = run_sweep(stages, Path(tmp) / "many", args.jobs)
        identical = all(
            torch.equal(a, b)
            for cell in stages[0]
            for a, b in zip(
                torch.load(Path(tmp) / "one" / cell.id / "model.pt", weights_only=True).values(),
                torch.load(Path(tmp) / "many" / cell.id / "model.pt", weights_only=True).values(),
                strict=True,
            )
        )
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cells": n_cells,
        "jobs": args.jobs,
        "time_1_worker_s": round(serial, 2),
        f"time_{args.jobs}_workers_s": round(parallel, 2),
        "speedup": round(serial / parallel, 3),
        "target": 1.7,
        "bit_identical_checkpoints": identical,
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key.ljust(width)}  {value}")
    ok = result["speedup"] >= result["target"]
    verdict = ("met" if ok else "missed") + ("" if identical else "; checkpoints differ")
    print(f"VERDICT: speed-up {result['speedup']:.2f} with {args.jobs} workers (target >= "
          f"{result['target']}) -> {verdict}")  # fmt: skip
    if not args.no_record:
        write_row("sweep", [
            now(), machine(), n_cells, f"{serial:.1f} s", f"{parallel:.1f} s ({args.jobs} workers)",
            f"**{result['speedup']:.2f}** {'✓' if ok else '✗'}",
            "yes" if identical else "**no**", verdict,
        ])  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
