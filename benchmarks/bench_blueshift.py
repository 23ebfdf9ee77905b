"""Batched weight-space path (vmap over points) vs one forward pass per point (paper C §3, eq. 1).

What is measured: ``smoothscope.analysis.blueshift.weight_path`` evaluating the output of a
CIFAR-style CNN (inline below) on a few 32 × 32 images at N = 256 points of one path
``W + α⁻¹ t D``, against what
loss-landscape tools do: for every point, write ``W + α⁻¹ t D`` into the model's parameters and
run one forward pass. Same model, same images, same direction ``D`` (drawn here and passed to
both), same dtype, in the same run; the outputs must agree to float tolerance. Memory: a fresh
child process per chunk size measures the peak RSS of one ``weight_path`` call above the RSS
before it.

    .venv/bin/python benchmarks/bench_blueshift.py [--models toy_cnn50,cifar_cnn] [--points 256]

Two models: ``toy_cnn50``, paper C's Toy-CNN (App. A: 50 units of 3 × 3 conv with 16 channels +
BatchNorm + ReLU, input stride 5, no pooling, linear classifier; 116k parameters, narrow and
deep: a forward pass is dominated by per-module overhead) and ``cifar_cnn`` (3 wider conv blocks
3-16-32-64 with stride 2, global average pool; 24k parameters: a forward pass is dominated by
convolution FLOPs, which batching cannot reduce).

Target: speed-up ≥ 10 (loop time / batched time), same numbers, memory bounded by chunk size.

One intra-op thread by default (``--threads``): on a machine shared with other jobs, a
multi-threaded forward pass of this size can be ~100× slower (OpenMP threads waiting on a
descheduled sibling), which would flatter the batched version.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from smoothscope.analysis.blueshift import OUTPUT, freeze_batchnorm_stats, weight_path

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TOLERANCE = {"float32": 1e-3, "float64": 1e-10}
"""Largest |batched - loop| / max|loop|: float32 rounding grows through 50 BatchNorm'd layers
(vmap runs grouped convolutions, the loop plain ones); in float64 both agree to ~1e-13."""


def toy_cnn(depth: int = 50, seed: int = 0) -> nn.Module:
    """Paper C App. A Toy-CNN: [3×3 conv 16 ch, BatchNorm, ReLU] × depth, input stride 5, FC."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, 5, 1), nn.BatchNorm2d(16), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(16, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(16 * 7 * 7, 10))


def cifar_cnn(seed: int = 0) -> nn.Module:
    """Small CIFAR-style CNN: 3 → 16 → 32 → 64 channels, 32 × 32 → 8 × 8, 10 classes."""
    torch.manual_seed(seed)

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(3, 16, 1),
        *block(16, 32, 2),
        *block(32, 64, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


MODELS = {"toy_cnn50": toy_cnn, "cifar_cnn": cifar_cnn}


def setup(name: str, images: int, dtype: torch.dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(images, 3, 32, 32, generator=g)
    model = freeze_batchnorm_stats(MODELS[name](seed=seed), x).to(dtype)
    params = dict(model.named_parameters())
    raw = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in params.items()}
    norm = torch.sqrt(sum((v**2).sum() for v in raw.values()))
    direction = {n: (v / norm).to(dtype) for n, v in raw.items()}
    return model, x.to(dtype), direction


@torch.no_grad()
def loop_path(model, x, direction, alpha, points) -> torch.Tensor:
    """The baseline: set the weights for each point, one forward pass per point."""
    work = copy.deepcopy(model).eval()
    base = {n: p.detach().clone() for n, p in work.named_parameters()}
    params = dict(work.named_parameters())
    outs = []
    for t in torch.linspace(0.0, 1.0, points, dtype=torch.float64).tolist():
        for n, p in params.items():
            p.copy_(base[n] + (t / alpha) * direction[n])
        outs.append(work(x))
    return torch.stack(outs)


def batched_path(model, x, direction, alpha, points, chunk_size, dtype) -> torch.Tensor:
    rec = weight_path(model, x, direction=direction, alpha=alpha, points=points,
                      record=[OUTPUT], chunk_size=chunk_size, dtype=dtype)  # fmt: skip
    return rec.output[:, 0]


def _busy_jiffies() -> int:
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle


def timed(fn, repeats: int) -> tuple[float, float]:
    """Best wall time of ``repeats`` calls and the cores other processes kept busy meanwhile."""
    best, other = float("inf"), 0.0
    hz = os.sysconf("SC_CLK_TCK")
    for _ in range(repeats):
        busy0, own0, start = _busy_jiffies(), sum(os.times()[:2]), time.perf_counter()
        fn()
        wall = time.perf_counter() - start
        busy = (_busy_jiffies() - busy0) / hz
        own = sum(os.times()[:2]) - own0
        if wall < best:
            best, other = wall, max(0.0, (busy - own) / wall)
    return best, other


def _rss_mib(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_memory(args) -> None:
    dtype = DTYPES[args.dtype]
    model, x, direction = setup(args.models, args.images, dtype)
    batched_path(model, x, direction, args.alpha, 8, 8, dtype)  # warm up imports and kernels
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak-RSS mark (VmHWM)
    before = _rss_mib("VmRSS")
    batched_path(model, x, direction, args.alpha, args.points, args.child_memory, dtype)
    peak = _rss_mib("VmHWM")
    print(json.dumps({"chunk_size": args.child_memory, "rss_before_mib": round(before, 1),
                      "peak_mib": round(peak, 1), "extra_mib": round(peak - before, 1),
                      "maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                          / 1024, 1)}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=str, default="toy_cnn50,cifar_cnn")
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--memory-chunks", type=str, default="8,32,64,128,256")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child_memory is not None:
        child_memory(args)
        return

    dtype = DTYPES[args.dtype]
    results = [run_model(name, args, dtype) for name in args.models.split(",") if name]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def run_model(name: str, args, dtype: torch.dtype) -> dict:
    if name not in MODELS:
        raise SystemExit(f"--models: expected names from {sorted(MODELS)}, got {name!r}")
    model, x, direction = setup(name, args.images, dtype)
    n_params = sum(p.numel() for p in model.parameters())
    batched_path(model, x, direction, args.alpha, 8, 8, dtype)  # warm-up (vmap, kernels)
    loop_path(model, x, direction, args.alpha, 8)

    fast = batched_path(model, x, direction, args.alpha, args.points, args.chunk_size, dtype)
    slow = loop_path(model, x, direction, args.alpha, args.points)
    err = float((fast - slow).abs().max() / slow.abs().max())
    t_fast, load_fast = timed(
        lambda: batched_path(model, x, direction, args.alpha, args.points, args.chunk_size, dtype),
        args.repeats,
    )
    t_slow, load_slow = timed(
        lambda: loop_path(model, x, direction, args.alpha, args.points), args.repeats
    )

    memory = []
    for chunk in [int(c) for c in args.memory_chunks.split(",") if c]:
        cmd = [sys.executable, __file__, "--child-memory", str(chunk), "--models", name,
               "--points", str(args.points), "--images", str(args.images), "--dtype",
               args.dtype, "--threads", str(args.threads)]  # fmt: skip
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        memory.append(json.loads(out.strip().splitlines()[-1]))

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": platform.processor() or platform.machine(),
        "nproc": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "model": f"{name}, {n_params} parameters",
        "images": args.images,
        "points": args.points,
        "dtype": args.dtype,
        "chunk_size": args.chunk_size,
        "batched_s": round(t_fast, 4),
        "loop_s": round(t_slow, 4),
        "speedup": round(t_slow / t_fast, 2),
        "target": 10.0,
        "max_rel_diff": err,
        "same_numbers": err < TOLERANCE[args.dtype],
        "other_load_cores": round(max(load_fast, load_slow), 2),
        "memory": memory,
    }
    for key, value in result.items():
        if key != "memory":
            print(f"{key:18s} {value}")
    for row in memory:
        print(
            f"  chunk {row['chunk_size']:4d}: peak extra {row['extra_mib']:8.1f} MiB "
            f"(RSS before {row['rss_before_mib']:.0f} MiB, process peak {row['peak_mib']:.0f})"
        )
    if result["other_load_cores"] > 0.2:
        print("WARNING: other processes kept the CPU busy while timing; do not record this run")
    print()
    return result


if __name__ == "__main__":
    main()
