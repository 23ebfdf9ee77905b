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
    """Busy jiffies of the cores this process may run on (all cores without an affinity):
    a benchmark pinned with ``taskset`` is not flagged by work on the other cores."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    total = 0
    with open("/proc/stat") as fh:
        for line in fh:
            name, *values = line.split()
            if not (name.startswith("cpu") and name[3:].isdigit()):
                continue
            if allowed is not None and int(name[3:]) not in allowed:
                continue
            fields = [int(v) for v in values]
            total += sum(fields[:8]) - fields[3] - fields[4]  # minus idle and iowait
    return total


def cpu_timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best CPU time (user + sys of this process) of ``repeats`` calls, and the other load.

    CPU time, not wall time: the machine is shared, and a descheduled process' wall time says
    nothing about the code. "Other load" is the cores other processes kept busy meanwhile,
    among the cores this process may use (cache and memory-bandwidth contention still inflate
    CPU times when it is high).
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


def device_timed(
    fn: Callable[[], object], repeats: int, device: torch.device
) -> tuple[float, float]:
    """:func:`cpu_timed` on the CPU; on CUDA the best wall time of ``repeats`` calls between
    two ``torch.cuda.synchronize()`` (the GPU runs asynchronously: CPU time says nothing)."""
    if device.type != "cuda":
        return cpu_timed(fn, repeats)
    best, other = float("inf"), 0.0
    hz = os.sysconf("SC_CLK_TCK")
    for _ in range(repeats):
        torch.cuda.synchronize(device)
        busy0, start, wall0 = _busy_jiffies(), time.process_time(), time.perf_counter()
        fn()
        torch.cuda.synchronize(device)
        wall = max(time.perf_counter() - wall0, 1e-9)
        if wall < best:
            best = wall
            cpu = time.process_time() - start
            other = max(0.0, ((_busy_jiffies() - busy0) / hz - cpu) / wall)
    return best, other


def machine(device: torch.device | None = None) -> str:
    """One line: CPU, cores, torch threads, torch and Python versions, accelerator."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    where = ""
    if device is not None:
        where = f", **run on {'CUDA' if device.type == 'cuda' else 'the CPU'}**"
    return (f"{platform.processor() or platform.machine()}, nproc {os.cpu_count()}, "
            f"{torch.get_num_threads()} thread(s), torch {torch.__version__}, "
            f"Python {platform.python_version()}, {gpu}{where}")  # fmt: skip


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
