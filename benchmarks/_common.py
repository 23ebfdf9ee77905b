"""Shared helpers of the benchmark scripts: timing under contention and README rows."""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path

import torch

README = Path(__file__).with_name("README.md")


def _busy_jiffies() -> int:
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle


def cpu_timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best CPU time (user + sys of this process) of ``repeats`` calls, and the other load.

    CPU time, not wall time: the machine is shared, and a descheduled process' wall time says
    nothing about the code. "Other load" is the cores other processes kept busy meanwhile
    (cache and memory-bandwidth contention still inflate CPU times when it is high).
    """
    best, other = float("inf"), 0.0
    hz = os.sysconf("SC_CLK_TCK")
    for _ in range(repeats):
        busy0, start, wall0 = _busy_jiffies(), time.process_time(), time.perf_counter()
        fn()
        cpu = time.process_time() - start
        wall = max(time.perf_counter() - wall0, 1e-9)
        if cpu < best:
            best = cpu
            other = max(0.0, ((_busy_jiffies() - busy0) / hz - cpu) / wall)
    return best, other


def machine() -> str:
    """One line: CPU, cores, torch threads, torch and Python versions, accelerator."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.processor() or platform.machine()}, nproc {os.cpu_count()}, "
            f"{torch.get_num_threads()} thread(s), torch {torch.__version__}, "
            f"Python {platform.python_version()}, {gpu}")  # fmt: skip


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime())


def write_row(key: str, cells: list[object], readme: Path = README) -> None:
    """Insert a table row before the ``<!-- rows:key -->`` marker of ``benchmarks/README.md``."""
    marker = f"<!-- rows:{key} -->"
    text = readme.read_text()
    if marker not in text:
        raise SystemExit(f"benchmarks/README.md has no {marker} marker")
    row = "| " + " | ".join(re.sub(r"\s*\|\s*", "/", str(c)) for c in cells) + " |\n"
    readme.write_text(text.replace(marker, row.rstrip("\n") + "\n" + marker, 1))
    print(f"row written to {readme.name} ({key})")
