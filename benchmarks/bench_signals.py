"""Benchmark: SMP + AveNonSmooth of a large recording, against a plain copy of the same tensor.

What is measured
----------------
A synthetic recording ``[T, N]`` (default 100 frames x 10^6 series = 10^8 samples, float32) is
built deterministically from ``--seed``: every series is a smooth curve (a low-frequency sinusoid
plus a quadratic trend), and a fraction of the series (``--kink-fraction``, default 10 %) also
carries a ReLU-like kink ``slope * max(0, t - t0)`` at a random time ``t0``. The kinks give
second-difference peaks, so :func:`smoothscope.signals.nonsmoothness_maps` goes through its
costly candidate-median path for those series, as it would on a real recording.

* **Speed.** In the same process and the same run we time ``recording.clone()`` (the baseline:
  one read and one write of the recording into freshly allocated memory) and
  ``nonsmoothness_maps(recording)`` (per-series mean ``|δ²|``, i.e. AveNonSmooth per node, SMP
  and number of peaks). Each is run ``--repeats`` times and the best wall-clock time is kept.
  The result is the *analysis speed as a fraction of copy speed*,
  ``copy_time / analysis_time`` (target: ``>= 0.10``). Only this ratio is meaningful across
  machines; the absolute times are reported for context.
* **Peak memory.** A fresh child process (this script with ``--child-memory``, run before the
  parent builds its own copy) imports torch, builds the same recording (in small chunks, so the
  build needs little beyond the recording), runs the analysis once, and reports the resident set
  at each stage: current RSS (``VmRSS``) and its high-water mark (``VmHWM`` from
  ``/proc/self/status``, the same mark ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` reports in
  KiB on Linux). Because the mark only ever rises, it is reset after the build (writing ``5`` to
  ``/proc/self/clear_refs``, Linux >= 4.0) so that the build's transient peak cannot hide the
  analysis'. ``ru_maxrss`` is only a fallback: at ``exec`` it also takes the mark of the
  replaced address space, i.e. the *parent's* after a ``vfork``, and it cannot be reset.
  We report, with recording bytes = ``numel * element_size``:

  - the analysis' extra memory, ``peak after analysis - current RSS after build``, as a
    multiple of the recording (an upper bound, flagged, where the mark could not be reset and
    the build set it);
  - the analysis peak, ``(recording + extra) / recording`` (target: ``<= 3``);
  - the whole process' peak RSS / recording, which also counts the interpreter, torch and
    smoothscope (their RSS right after import is reported separately as "import RSS").

Run ``python benchmarks/bench_signals.py --help`` for the options; ``make bench`` runs the
defaults. Results go to stdout as a table and, with ``--json PATH``, to a JSON file.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import _common
from _common import write_row
from smoothscope.signals import nonsmoothness_maps

SPEED_TARGET = 0.10
"""The analysis must run at least at this fraction of the speed of a plain copy."""

MEMORY_TARGET = 3.0
"""Peak memory of the analysis (recording included) must stay within this multiple of it."""

BUILD_CHUNK = 1 << 13
"""Series generated at a time when building the recording (keeps build temporaries small)."""

DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ---------------------------------------------------------------------------------------------
# The recording
# ---------------------------------------------------------------------------------------------


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    """``n`` float64 draws uniform in ``[low, high)``."""
    return torch.rand(n, generator=gen, dtype=torch.float64) * (high - low) + low


def build_recording(
    series: int, frames: int, *, seed: int, dtype: torch.dtype, kink_fraction: float = 0.1
) -> torch.Tensor:
    """A deterministic recording ``[frames, series]``: smooth curves, some with one ReLU kink.

    Time runs over ``[0, 1]``. Each series is ``a sin(2π f t + φ) + q t² + b t + c`` with
    ``f`` between 0.2 and 1.5 cycles per recording; a ``kink_fraction`` of the series also get
    ``s max(0, t - t0)`` with ``t0`` uniform in ``[0.1, 0.9]`` and ``|s|`` in ``[5, 20]``, which
    puts a second-difference peak of about ``|s| / (frames - 1)`` (split over the two frames
    around ``t0``) far above the smooth background.

    The curves are generated :data:`BUILD_CHUNK` series at a time (parameters drawn chunk by
    chunk from one generator, evaluated in float64) and written into the preallocated result, so
    the build needs little memory beyond the recording itself. The result depends on ``seed``,
    ``series``, ``frames`` and ``kink_fraction`` only.
    """
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(0.0, 1.0, frames, dtype=torch.float64).unsqueeze(1)  # [T, 1]
    recording = torch.empty(frames, series, dtype=dtype)
    for start in range(0, series, BUILD_CHUNK):
        stop = min(start + BUILD_CHUNK, series)
        c = stop - start
        amplitude = _uniform(gen, c, 0.2, 1.0)
        frequency = _uniform(gen, c, 0.2, 1.5)
        phase = _uniform(gen, c, 0.0, 2.0 * math.pi)
        quadratic = torch.randn(c, generator=gen, dtype=torch.float64) * 0.5
        linear = torch.randn(c, generator=gen, dtype=torch.float64)
        offset = torch.randn(c, generator=gen, dtype=torch.float64)
        kinked = _uniform(gen, c, 0.0, 1.0) < kink_fraction
        t0 = _uniform(gen, c, 0.1, 0.9)
        sign = torch.randint(0, 2, (c,), generator=gen, dtype=torch.float64) * 2.0 - 1.0
        slope = torch.where(kinked, _uniform(gen, c, 5.0, 20.0) * sign, 0.0)

        curve = amplitude * torch.sin(2.0 * math.pi * frequency * t + phase)
        curve += (quadratic * t + linear) * t + offset
        curve += slope * (t - t0).clamp_(min=0.0)
        recording[:, start:stop] = curve
    return recording


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def _timings(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` (its result dropped between calls)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        del result
    return times


def _proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``); None where unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return None


def _maxrss_kib() -> int:
    """``ru_maxrss`` of this process in KiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _current_rss_kib() -> int:
    """Current resident set size in KiB (falls back to the high-water mark off Linux)."""
    rss = _proc_status_kib("VmRSS")
    return _maxrss_kib() if rss is None else rss


def _peak_rss_kib() -> int:
    """High-water mark of the resident set in KiB since start (or since the last reset).

    ``VmHWM`` is the mark of this address space; ``ru_maxrss`` also folds in the mark of the
    address space this process replaced at ``exec`` (the parent's, after a ``vfork``), so it is
    only the fallback.
    """
    hwm = _proc_status_kib("VmHWM")
    return _maxrss_kib() if hwm is None else hwm


def _reset_peak_rss() -> bool:
    """Reset the RSS high-water mark to the current RSS (Linux >= 4.0); True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    hwm, rss = _proc_status_kib("VmHWM"), _proc_status_kib("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 1024


def _release_free_heap() -> None:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``; a no-op elsewhere)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass


def child_memory(args: argparse.Namespace) -> dict[str, Any]:
    """Memory probe run in a fresh process: build, analyse once, report RSS at each stage.

    The build's own transient peak (chunk temporaries) would otherwise hide an analysis peak
    below it, so the high-water mark is reset after the build where the kernel allows; where it
    does not, the analysis' extra memory is an upper bound when the build set the mark.
    """
    import_rss_kib = _current_rss_kib()
    recording = build_recording(
        args.series,
        args.frames,
        seed=args.seed,
        dtype=DTYPES[args.dtype],
        kink_fraction=args.kink_fraction,
    )
    gc.collect()
    _release_free_heap()  # build temporaries kept by malloc would otherwise serve the analysis
    build_peak_kib = _peak_rss_kib()
    build_rss_kib = _current_rss_kib()
    reset = _reset_peak_rss()
    maps = nonsmoothness_maps(recording, chunk_size=args.chunk_size)
    analysis_peak_kib = _peak_rss_kib()
    return {
        "recording_bytes": recording.numel() * recording.element_size(),
        "import_rss_kib": import_rss_kib,
        "build_peak_kib": build_peak_kib,
        "build_rss_kib": build_rss_kib,
        "peak_reset_after_build": reset,
        "analysis_peak_kib": analysis_peak_kib,
        "ru_maxrss_kib": _maxrss_kib(),
        "series_with_peaks": int((maps.n_peaks > 0).sum()),
    }


def measure_memory(args: argparse.Namespace) -> dict[str, Any]:
    """Run :func:`child_memory` in a fresh interpreter and derive the memory multiples."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-memory",
        "--series",
        str(args.series),
        "--frames",
        str(args.frames),
        "--seed",
        str(args.seed),
        "--dtype",
        args.dtype,
        "--chunk-size",
        str(args.chunk_size),
        "--kink-fraction",
        str(args.kink_fraction),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    rec_kib = probe["recording_bytes"] / 1024
    extra_kib = max(0, probe["analysis_peak_kib"] - probe["build_rss_kib"])
    process_peak_kib = max(probe["build_peak_kib"], probe["analysis_peak_kib"])
    probe.update(
        analysis_extra_bytes=extra_kib * 1024,
        extra_is_exact=(
            probe["peak_reset_after_build"] or probe["analysis_peak_kib"] > probe["build_peak_kib"]
        ),
        extra_multiple=extra_kib / rec_kib,
        analysis_peak_multiple=(rec_kib + extra_kib) / rec_kib,
        process_peak_kib=process_peak_kib,
        process_peak_multiple=process_peak_kib / rec_kib,
    )
    return probe


def _busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10])  # already counted in user and nice
    return (sum(fields) - idle - guest) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    """CPU seconds used by this process so far."""
    t = os.times()
    return t.user + t.system


def _cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` where available."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The full benchmark: memory probe in a child, then copy vs analysis timings here."""
    memory = measure_memory(args)  # first, so the two processes never hold recordings at once

    start = time.perf_counter()
    recording = build_recording(
        args.series,
        args.frames,
        seed=args.seed,
        dtype=DTYPES[args.dtype],
        kink_fraction=args.kink_fraction,
    )
    build_s = time.perf_counter() - start
    recording_bytes = recording.numel() * recording.element_size()

    busy0, own0, wall0 = _busy_cpu_s(), _own_cpu_s(), time.perf_counter()
    copy_times = _timings(recording.clone, args.repeats)
    analysis_times = _timings(
        lambda: nonsmoothness_maps(recording, chunk_size=args.chunk_size), args.repeats
    )
    busy1, own1, wall1 = _busy_cpu_s(), _own_cpu_s(), time.perf_counter()
    # Cores kept busy by *other* processes while we timed: a non-zero value means contention.
    other_load = (
        None
        if busy0 is None or busy1 is None
        else max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall1 - wall0)
    )
    maps = nonsmoothness_maps(recording, chunk_size=args.chunk_size)
    copy_s, analysis_s = min(copy_times), min(analysis_times)
    ratio = copy_s / analysis_s
    return {
        "benchmark": "signals.nonsmoothness_maps",
        "machine": machine(),
        "config": {
            "series": args.series,
            "frames": args.frames,
            "samples": recording.numel(),
            "dtype": args.dtype,
            "recording_bytes": recording_bytes,
            "repeats": args.repeats,
            "seed": args.seed,
            "chunk_size": args.chunk_size,
            "kink_fraction": args.kink_fraction,
        },
        "build_s": build_s,
        "other_load_cores": other_load,
        "copy_s": copy_times,
        "analysis_s": analysis_times,
        "copy_best_s": copy_s,
        "analysis_best_s": analysis_s,
        "copy_gb_per_s": recording_bytes / copy_s / 1e9,
        "analysis_gb_per_s": recording_bytes / analysis_s / 1e9,
        "speed_ratio": ratio,
        "speed_target": SPEED_TARGET,
        "speed_ok": ratio >= SPEED_TARGET,
        "memory": memory,
        "memory_target": MEMORY_TARGET,
        "memory_ok": memory["analysis_peak_multiple"] <= MEMORY_TARGET,
        "sanity": {
            "ave_nonsmooth": float(maps.mean_abs.mean()),
            "series_with_peaks": int((maps.n_peaks > 0).sum()),
            "fraction_with_peaks": float((maps.n_peaks > 0).double().mean()),
            "total_smp": float(maps.smp.sum()),
        },
    }


def report(res: dict[str, Any]) -> str:
    """A small human-readable table of :func:`run`'s result."""
    cfg, mem, mach, san = res["config"], res["memory"], res["machine"], res["sanity"]
    mib = 1024 * 1024
    ok = {True: "OK", False: "MISSED"}
    hwm_note = "" if mem["extra_is_exact"] else "  (upper bound: build set the mark)"
    load = res["other_load_cores"]
    load_note = (
        "n/a"
        if load is None
        else (
            f"{load:.2f} cores busy with other processes while timing"
            + ("  (WARNING: contended, timings unreliable)" if load > 0.25 else "")
        )
    )
    rows = [
        ("date", mach["date"]),
        (
            "machine",
            f"{mach['cpu']}, nproc={mach['nproc']}, "
            f"torch threads={mach['torch_threads']}, "
            f"torch {mach['torch']}, python {mach['python']}",
        ),
        (
            "recording",
            f"[{cfg['frames']}, {cfg['series']}] {cfg['dtype']} = "
            f"{cfg['samples']:.3g} samples, {cfg['recording_bytes'] / mib:.0f} MiB",
        ),
        ("chunk size", f"{cfg['chunk_size']} series"),
        ("other load", load_note),
        (
            "copy (best)",
            f"{res['copy_best_s']:.3f} s  ({res['copy_gb_per_s']:.2f} GB/s)  "
            f"all: {', '.join(f'{t:.3f}' for t in res['copy_s'])}",
        ),
        (
            "analysis (best)",
            f"{res['analysis_best_s']:.3f} s  "
            f"({res['analysis_gb_per_s']:.2f} GB/s)  "
            f"all: {', '.join(f'{t:.3f}' for t in res['analysis_s'])}",
        ),
        (
            "speed ratio",
            f"{res['speed_ratio']:.3f} of copy speed  "
            f"(target >= {res['speed_target']:.2f}: {ok[res['speed_ok']]})",
        ),
        ("import RSS", f"{mem['import_rss_kib'] / 1024:.0f} MiB"),
        (
            "RSS after build",
            f"{mem['build_rss_kib'] / 1024:.0f} MiB "
            f"(build peak {mem['build_peak_kib'] / 1024:.0f} MiB)",
        ),
        (
            "analysis extra",
            f"{mem['analysis_extra_bytes'] / mib:.0f} MiB = "
            f"{mem['extra_multiple']:.2f}x recording{hwm_note}",
        ),
        (
            "analysis peak",
            f"{mem['analysis_peak_multiple']:.2f}x recording  "
            f"(target <= {res['memory_target']:.0f}x: {ok[res['memory_ok']]})",
        ),
        (
            "process peak RSS",
            f"{mem['process_peak_kib'] / 1024:.0f} MiB = "
            f"{mem['process_peak_multiple']:.2f}x recording (incl. torch)",
        ),
        (
            "sanity",
            f"AveNonSmooth={san['ave_nonsmooth']:.4g}, series with peaks="
            f"{san['series_with_peaks']} ({100 * san['fraction_with_peaks']:.1f} %)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time nonsmoothness_maps (SMP + AveNonSmooth) against a plain copy of the "
        "same recording, and measure its peak memory in a fresh process."
    )
    parser.add_argument("--series", type=int, default=1_000_000, help="number of series N")
    parser.add_argument("--frames", type=int, default=100, help="frames per series T")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic recording")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument(
        "--chunk-size", type=int, default=1 << 13, help="series per chunk in nonsmoothness_maps"
    )
    parser.add_argument(
        "--kink-fraction", type=float, default=0.1, help="fraction of series with a ReLU kink"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--no-record", action="store_true", help="do not write a README row")
    parser.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("series", "frames", "repeats", "chunk_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if not 0.0 <= args.kink_fraction <= 1.0:
        parser.error("--kink-fraction must lie in [0, 1]")
    if args.frames < 3:
        parser.error("--frames must be at least 3 (a second difference needs 3 samples)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_memory:
        print(json.dumps(child_memory(args)))
        return 0
    res = run(args)
    print(report(res))
    ok = res["speed_ok"] and res["memory_ok"]
    verdict = (f"speed {'met' if res['speed_ok'] else 'missed'}, memory "
               f"{'met' if res['memory_ok'] else 'missed'}")  # fmt: skip
    load = res["other_load_cores"]
    if load is not None and load > 0.25:
        verdict += f" (contended: other load {load:.2f} cores)"
    print(f"VERDICT: ratio {res['speed_ratio']:.3f} of copy speed (target >= {SPEED_TARGET}), "
          f"peak {res['memory']['analysis_peak_multiple']:.2f}x (target <= {MEMORY_TARGET}) -> "
          f"{verdict}")  # fmt: skip
    if not args.no_record:
        cfg = res["config"]
        write_row("signals", [
            _common.now(), _common.machine(), f"[{cfg['frames']}, {cfg['series']}] {cfg['dtype']}",
            f"{res['copy_best_s']:.3f} s", f"{res['analysis_best_s']:.3f} s",
            f"**{res['speed_ratio']:.3f}** {'✓' if res['speed_ok'] else '✗'}",
            f"**{res['memory']['analysis_peak_multiple']:.2f}×** "
            f"{'✓' if res['memory_ok'] else '✗'}", "met" if ok else verdict,
        ])  # fmt: skip
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
