"""Start-up time of the command line: ``smoothscope --help`` against a bare interpreter.

What is measured: the console script ``smoothscope --help`` (and ``smoothscope list models``,
which imports torch, for comparison), each in a fresh process, best of ``--repeats`` wall times
and the child's CPU time (user + sys, insensitive to other load); the baseline is a bare
``python -c pass`` of the same interpreter in the same run. ``smoothscope --help`` imports
neither torch nor NumPy (the commands are imported when they run), so it costs a few bare
starts; every command took 2.2–2.6 s when torch was imported up front (issue 28).

    .venv/bin/python benchmarks/bench_startup.py [--repeats 7] [--json PATH] [--no-record]

Target: ``smoothscope --help`` under **0.5 s** wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, now, write_row

TARGET_S = 0.5


def timed(argv: list[str], repeats: int) -> tuple[float, float]:
    """Best wall time and best CPU time (user + sys of the child) of ``repeats`` runs."""
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true", help="do not write a README row")
    args = parser.parse_args()

    script = shutil.which("smoothscope", path=str(Path(sys.executable).parent))
    if script is None:
        raise SystemExit("the smoothscope console script is not installed beside this Python")
    bare = timed([sys.executable, "-c", "pass"], args.repeats)
    help_ = timed([script, "--help"], args.repeats)
    models = timed([script, "list", "models"], max(1, args.repeats // 2))
    met = help_[0] < TARGET_S
    verdict = "met" if met else "not met"
    print(f"bare python -c pass : {bare[0]:.3f} s wall, {bare[1]:.3f} s CPU")
    print(f"smoothscope --help  : {help_[0]:.3f} s wall, {help_[1]:.3f} s CPU "
          f"({help_[0] / bare[0]:.1f}× a bare start)")  # fmt: skip
    print(f"smoothscope list models (imports torch): {models[0]:.3f} s wall, {models[1]:.3f} s CPU")
    print(f"VERDICT: --help in {help_[0]:.3f} s, target < {TARGET_S} s: {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"bare": bare, "help": help_, "list_models": models}))
    if not args.no_record:
        write_row(
            "startup",
            [
                now(),
                machine(),
                f"{bare[0]:.3f} s",
                f"{help_[0]:.3f} s ({help_[1]:.3f} s CPU)",
                f"{help_[0] / bare[0]:.1f}×",
                f"{models[0]:.2f} s",
                f"**{help_[0]:.2f} s** {'✓' if met else '✗'}",
                verdict,
            ],
        )


if __name__ == "__main__":
    main()
