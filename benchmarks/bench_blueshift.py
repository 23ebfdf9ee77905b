"""Weight paths linear in each layer's weights vs a per-point loop and the fixed-weight limit.

Paper C §3 eq. 1: ``smoothscope.analysis.paths.weight_path`` evaluates the output of a CNN on
a few 32 × 32 images at N = 256 points of one path ``W + α⁻¹ t D``. It now uses
``smoothscope.analysis.linear_paths`` (every point's activations in one batch, each layer one
dense call with ``[W; D]`` and a per-sample ``t``). Two baselines, measured in the same run:

* the **per-point loop** (what loss-landscape tools do): write ``W + α⁻¹ t D`` into the
  parameters and run one forward pass per point;
* the **physical limit**: one forward pass of the same network at fixed weights over the same
  ``N × images`` batch (the faster of one pass over all of it and passes over the same chunks
  as the path evaluation). The path does two dense products per layer, so 50 % is its ceiling.

Same model, images, direction and dtype; the outputs must agree with the loop (float64: 1e-10
relative to max|out|, float32: 1e-4; for float32 both are also compared with the float64 loop,
the truth). Memory: a fresh child per chunk size measures the peak RSS of one call above the
RSS before it.

    .venv/bin/python benchmarks/bench_blueshift.py [--models toy_cnn50,cifar_cnn] [--dtype float64]

Targets: speed-up over the loop ≥ 10 (toy_cnn50) and ≥ 3 (cifar_cnn); throughput ≥ 40 % of the
fixed-weight forward pass; same numbers; memory bounded by the chunk size. Times are CPU times
(user + sys), best of ``--repeats``, one intra-op thread by default (``--threads``); with
``--device cuda``, wall times between synchronisations and the GPU allocator's peak memory.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from _common import device_timed, machine, now, write_row
from smoothscope.analysis.paths import OUTPUT, freeze_batchnorm_stats, weight_path

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TOLERANCE = {"float32": 1e-4, "float64": 1e-10}
"""Largest |path - loop| / max|loop| (issue 18)."""
SPEEDUP_TARGET = {"toy_cnn50": 10.0, "cifar_cnn": 3.0}
LIMIT_TARGET = 0.40


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


def setup(name: str, images: int, dtype: torch.dtype, seed: int = 0, device: str = "cpu"):
    """Model (BatchNorm frozen), images and a unit direction, drawn on the CPU, moved to
    ``device``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(images, 3, 32, 32, generator=g)
    model = freeze_batchnorm_stats(MODELS[name](seed=seed), x).to(dtype=dtype, device=device)
    params = dict(model.named_parameters())
    raw = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in params.items()}
    norm = torch.sqrt(sum((v**2).sum() for v in raw.values()))
    direction = {n: (v / norm).to(dtype=dtype, device=device) for n, v in raw.items()}
    return model, x.to(dtype=dtype, device=device), direction


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
    return torch.stack(outs).cpu()  # where weight_path returns its values


def batched_path(model, x, direction, alpha, points, chunk_size, dtype,
                 method="auto") -> torch.Tensor:  # fmt: skip
    rec = weight_path(model, x, direction=direction, alpha=alpha, points=points,
                      record=[OUTPUT], chunk_size=chunk_size, dtype=dtype,
                      method=method)  # fmt: skip
    return rec.output[:, 0]


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
    parser.add_argument("--memory-chunks", type=str, default="8,64,256")
    parser.add_argument("--dtype", type=str, default="float32,float64",
                        help="comma-separated: float32, float64")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", type=str, default="cpu", choices=["cpu", "cuda"],
                        help="cuda: wall times between synchronisations, GPU peak memory")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true", help="do not write README rows")
    parser.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child_memory is not None:
        child_memory(args)
        return
    results = []
    for dt in [d for d in args.dtype.split(",") if d]:
        if dt not in DTYPES:
            raise SystemExit(f"--dtype: expected float32 or float64, got {dt!r}")
        for name in [n for n in args.models.split(",") if n]:
            results.append(run_model(name, args, dt))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def fixed_forward(model, x, points, chunk_size) -> None:
    """The limit: the same network at fixed weights over ``points × images`` inputs."""
    big = x.repeat(points, *([1] * (x.dim() - 1)))
    step = chunk_size * x.shape[0]
    with torch.no_grad():
        for start in range(0, big.shape[0], step):
            model(big[start : start + step])


def run_model(name: str, args, dt: str) -> dict:
    if name not in MODELS:
        raise SystemExit(f"--models: expected names from {sorted(MODELS)}, got {name!r}")
    dtype = DTYPES[dt]
    dev = torch.device(args.device)
    model, x, direction = setup(name, args.images, dtype, device=args.device)
    n_params = sum(p.numel() for p in model.parameters())
    batched_path(model, x, direction, args.alpha, 8, 8, dtype)  # warm-up (kernels)
    loop_path(model, x, direction, args.alpha, 8)

    fast = batched_path(model, x, direction, args.alpha, args.points, args.chunk_size, dtype)
    slow = loop_path(model, x, direction, args.alpha, args.points)
    err = float((fast - slow).abs().max() / slow.abs().max())
    truth_err = {}
    if dtype != torch.float64:  # both against the float64 loop
        m64, x64, d64 = setup(name, args.images, torch.float64, device=args.device)
        truth = loop_path(m64, x64, d64, args.alpha, args.points)
        scale = truth.abs().max()
        truth_err = {"path_vs_float64": float((fast.double() - truth).abs().max() / scale),
                     "loop_vs_float64": float((slow.double() - truth).abs().max() / scale)}
    t_fast, load_fast = device_timed(
        lambda: batched_path(model, x, direction, args.alpha, args.points, args.chunk_size, dtype),
        args.repeats, dev,
    )  # fmt: skip
    t_slow, load_slow = device_timed(
        lambda: loop_path(model, x, direction, args.alpha, args.points), args.repeats, dev
    )
    t_vmap, _ = device_timed(  # the evaluation before issue 18: vmap over path points
        lambda: batched_path(model, x, direction, args.alpha, args.points, args.chunk_size, dtype,
                             method="vmap"),
        args.repeats, dev,
    )  # fmt: skip
    t_all, _ = device_timed(
        lambda: fixed_forward(model, x, args.points, args.points), args.repeats, dev
    )
    t_chunks, _ = device_timed(
        lambda: fixed_forward(model, x, args.points, args.chunk_size), args.repeats, dev
    )
    t_limit = min(t_all, t_chunks)

    memory = []
    for chunk in [int(c) for c in args.memory_chunks.split(",") if c]:
        if dev.type == "cuda":  # the allocator's own peak, in this process
            torch.cuda.synchronize(dev)
            before = torch.cuda.memory_allocated(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            batched_path(model, x, direction, args.alpha, args.points, chunk, dtype)
            extra = (torch.cuda.max_memory_allocated(dev) - before) / 2**20
            memory.append({"chunk_size": chunk, "rss_before_mib": before / 2**20,
                           "peak_mib": extra + before / 2**20, "extra_mib": round(extra, 1)})
            continue
        cmd = [sys.executable, __file__, "--child-memory", str(chunk), "--models", name,
               "--points", str(args.points), "--images", str(args.images), "--dtype",
               dt, "--threads", str(args.threads)]  # fmt: skip
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        memory.append(json.loads(out.strip().splitlines()[-1]))

    speedup, fraction = t_slow / t_fast, t_limit / t_fast
    same = err < TOLERANCE[dt]
    result = {
        "date": now(), "machine": machine(dev), "model": f"{name}, {n_params} parameters",
        "images": args.images, "points": args.points, "dtype": dt,
        "chunk_size": args.chunk_size, "device": args.device, "path_s": round(t_fast, 4),
        "loop_s": round(t_slow, 4), "vmap_s": round(t_vmap, 4),
        "fixed_all_s": round(t_all, 4),
        "fixed_chunks_s": round(t_chunks, 4), "speedup": round(speedup, 2),
        "speedup_target": SPEEDUP_TARGET[name], "limit_fraction": round(fraction, 3),
        "limit_target": LIMIT_TARGET, "loop_over_limit": round(t_slow / t_limit, 2),
        "max_rel_diff": err, "same_numbers": same, **truth_err,
        "other_load_cores": round(max(load_fast, load_slow), 2), "memory": memory,
    }  # fmt: skip
    for key, value in result.items():
        if key != "memory":
            print(f"{key:20s} {value}")
    for row in memory:
        print(
            f"  chunk {row['chunk_size']:4d}: peak extra {row['extra_mib']:8.1f} MiB "
            f"(RSS before {row['rss_before_mib']:.0f} MiB, process peak {row['peak_mib']:.0f})"
        )
    ok_speed = speedup >= SPEEDUP_TARGET[name]
    ok_limit = fraction >= LIMIT_TARGET
    verdict = "; ".join([
        f"speed-up {'met' if ok_speed else 'missed'}",
        f"limit {'met' if ok_limit else 'missed'}",
        f"numbers {'same' if same else 'differ'}",
    ])  # fmt: skip
    contended = result["other_load_cores"] > 0.2
    if contended:
        verdict += f" (contended: other load {result['other_load_cores']} cores)"
    print(f"VERDICT {name} {dt}: speed-up {speedup:.2f} (target >= {SPEEDUP_TARGET[name]:g}), "
          f"limit fraction {fraction:.2f} (target >= {LIMIT_TARGET}) -> {verdict}")  # fmt: skip
    print()
    if not args.no_record:
        mem = ", ".join(f"{m['chunk_size']}: {m['extra_mib']:.0f}" for m in memory)
        write_row("blueshift-linear", [
            result["date"], machine(dev), name, dt, args.chunk_size, f"{t_fast:.3f} s",
            f"{t_slow:.3f} s", f"{t_vmap:.3f} s", f"{t_limit:.3f} s",
            f"**{speedup:.1f}** {'✓' if ok_speed else '✗'}",
            f"**{fraction:.2f}** {'✓' if ok_limit else '✗'}", f"{err:.1e}"
            + (f" (vs f64: path {truth_err['path_vs_float64']:.1e}, loop "
               f"{truth_err['loop_vs_float64']:.1e})" if truth_err else ""),
            mem, verdict,
        ])  # fmt: skip
    return result


if __name__ == "__main__":
    main()
