"""Weight paths (paper C §3 eq. 1) against the per-point loop a user would write, every model.

``smoothscope.analysis.paths.weight_path`` records the output of a network on a few inputs at
N = 256 points of one path ``W + α⁻¹ t D`` (all parameters perturbed, BatchNorm frozen at the
inputs' statistics, ``record=["output"]``, ``chunk_size=64``). It picks its evaluation per model
and size (the layerwise evaluator, each perturbed layer at the cheapest of three modes; or whole
forward passes, vmapped or looped; ``smoothscope.analysis.path_kernels``). Baselines measured in
the same run, same model, inputs, direction and dtype:

* **loop**: what a user writes, ``torch.func.functional_call(model, {n: W + t·D}, (x,))`` for
  every point t (no_grad), stacked;
* **previous**: the evaluation of issue 18 (layerwise, every layer ``[W; D]`` split, 64 points
  per chunk whatever their size), for the history;
* **vmap**: ``weight_path(..., method="vmap")``.

Numbers: max |path − loop| / max|loop| (float64 must be ≤ 1e-10; float32 is also compared with
the float64 loop, the truth, and must be no further from it than twice the float32 loop);
``weight_path`` is called twice and must give the same bits. Times are CPU times (user + sys),
best of ``--repeats``, one intra-op thread.

Models: ``toy_cnn50`` and ``cifar_cnn`` (``bench_blueshift.py``), ``unseen_cnn3`` (issue 29's
case: 3 conv + BatchNorm layers, the project had not benchmarked it), ``resnet20`` (zoo,
blueshift's ResNets), ``vgg11`` (zoo, width 0.25, one input channel: ``bench_stability.py``'s
network), ``simple_cnn`` (paper B's 1-D scale-detection net, width 64, depth 10, L = 32), and
``toy_cnn50:conv40``: the Toy-CNN's path along its 40th convolution only (paper C Fig. 3b walks
one layer), where everything below that layer is computed once per chunk.
Targets: speed-up over the loop ≥ 3 for the small CNNs with ≤ 8 inputs (toy_cnn50, cifar_cnn,
unseen_cnn3, simple_cnn), ≥ 1 for every model, float32 and float64.

    .venv/bin/python benchmarks/bench_weight_paths.py [--models unseen_cnn3] [--dtype float32]
    .venv/bin/python benchmarks/bench_weight_paths.py --layers --json benchmarks/results/modes.json

``--layers`` instead times the three modes of ``path_kernels`` on the layer shapes of these
models (B ∈ {1, 2, 4, 8, 16}, P ∈ {16, 32, 64}) and prints, per dtype, over the cases whose
input fits a chunk's cap, how often the cost model's choice is the fastest mode, its worst ratio
to it and its speed-up over the loop mode (the calibration of ``choose_mode``).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call

from _common import cpu_timed, machine, now, write_row
from bench_blueshift import cifar_cnn, toy_cnn
from smoothscope.analysis import path_kernels
from smoothscope.analysis.paths import OUTPUT, freeze_batchnorm_stats, weight_path
from smoothscope.models import build

DTYPES = {"float32": torch.float32, "float64": torch.float64}
SMALL = ("toy_cnn50", "cifar_cnn", "unseen_cnn3", "simple_cnn")
"""The "small CNNs" of the ≥ 3× target (with ≤ 8 inputs)."""


def unseen_cnn3(seed: int = 0) -> nn.Module:
    """Issue 29's unseen case: 3 × [3×3 conv, BatchNorm, ReLU] (3 → 16 → 32 → 32 channels, 2×2
    max-pools between), global average pool, a linear classifier."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip


MODELS = {  # name: (builder(seed), input shape of one sample)
    "toy_cnn50": (lambda seed: toy_cnn(seed=seed), (3, 32, 32)),
    "cifar_cnn": (lambda seed: cifar_cnn(seed=seed), (3, 32, 32)),
    "unseen_cnn3": (unseen_cnn3, (3, 32, 32)),
    "resnet20": (lambda seed: build("resnet20", seed=seed), (3, 32, 32)),
    "vgg11": (lambda seed: build("vgg11", in_channels=1, num_classes=10, width=0.25, seed=seed),
              (1, 32, 32)),
    "simple_cnn": (lambda seed: build("simple-cnn", dim=1, depth=10, width=64, padding="zeros",
                                      seed=seed), (1, 32)),
}  # fmt: skip


ONE_LAYER = {"toy_cnn50:conv40": ("toy_cnn50", "117.")}
"""Paths that perturb one layer only (the 40th of 50 convolutions): what lies below it is
computed once per chunk."""


def setup(name: str, images: int, dtype: torch.dtype, seed: int = 0):
    """Model (BatchNorm frozen at the inputs), inputs and a unit direction over all parameters
    (over one layer's for the :data:`ONE_LAYER` cases)."""
    name, only = ONE_LAYER.get(name, (name, ""))
    make, shape = MODELS[name]
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(images, *shape, generator=g)
    model = freeze_batchnorm_stats(make(seed), x).to(dtype).eval()
    params = {n: p.detach() for n, p in model.named_parameters()}
    raw = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in params.items()
           if n.startswith(only)}  # fmt: skip
    norm = math.sqrt(sum(float((v**2).sum()) for v in raw.values()))
    return model, x.to(dtype), {n: (v / norm).to(dtype) for n, v in raw.items()}


@torch.no_grad()
def user_loop(model, x, direction, alpha, points) -> torch.Tensor:
    """The baseline: one ``functional_call`` per point with ``W + t·D`` (t = α⁻¹ linspace)."""
    params = {n: p.detach() for n, p in model.named_parameters() if n in direction}
    ts = torch.linspace(0.0, 1.0, points, dtype=torch.float64).tolist()
    outs = [functional_call(model, {n: params[n] + (t / alpha) * direction[n] for n in params},
                            (x,)) for t in ts]  # fmt: skip
    return torch.stack(outs)


def path(model, x, direction, alpha, points, dtype, method="auto") -> torch.Tensor:
    rec = weight_path(model, x, direction=direction, alpha=alpha, points=points,
                      record=[OUTPUT], chunk_size=64, dtype=dtype, method=method)  # fmt: skip
    return rec.output[:, 0]


def previous(model, x, direction, alpha, points, dtype) -> torch.Tensor:
    """Issue 18's evaluation: every perturbed layer split, chunks of 64 points uncapped."""
    saved = path_kernels.FORCE_MODE, path_kernels.CHUNK_BYTES
    path_kernels.FORCE_MODE, path_kernels.CHUNK_BYTES = "split", 2**62
    try:
        return path(model, x, direction, alpha, points, dtype, method="layerwise")
    finally:
        path_kernels.FORCE_MODE, path_kernels.CHUNK_BYTES = saved


def chosen_modes(model, x, direction, alpha, points, dtype) -> str:
    """The modes ``choose_mode`` picks over one call, counted (``"split×3, loop×9"``)."""
    counts: Counter[str] = Counter()
    original = path_kernels.choose_mode

    def spy(*args, **kwargs):
        mode = original(*args, **kwargs)
        counts[mode] += 1
        return mode

    path_kernels.choose_mode = spy
    try:
        path(model, x, direction, alpha, points, dtype)
    finally:
        path_kernels.choose_mode = original
    return ", ".join(f"{m}×{c}" for m, c in sorted(counts.items())) or "split on the shared input"


def run_model(name: str, dt: str, args) -> dict:
    dtype = DTYPES[dt]
    model, x, direction = setup(name, args.images, dtype)
    n_params = sum(v.numel() for v in direction.values())
    alpha, points = args.alpha, args.points
    path(model, x, direction, alpha, 8, dtype)  # warm-up (kernels, imports)
    user_loop(model, x, direction, alpha, 8)
    fast = path(model, x, direction, alpha, points, dtype)
    again = path(model, x, direction, alpha, points, dtype)
    slow = user_loop(model, x, direction, alpha, points)
    same_bits = torch.equal(fast, again)
    err = float((fast - slow).abs().max() / slow.abs().max())
    truth: dict[str, float] = {}
    if dtype != torch.float64:
        m64, x64, d64 = setup(name, args.images, torch.float64)
        ref = user_loop(m64, x64, d64, alpha, points)
        scale = ref.abs().max()
        truth = {"path_vs_float64": float((fast.double() - ref).abs().max() / scale),
                 "loop_vs_float64": float((slow.double() - ref).abs().max() / scale)}  # fmt: skip
    ok_numbers = err <= 1e-10 if dtype == torch.float64 else (
        truth["path_vs_float64"] <= 2 * truth["loop_vs_float64"] + 1e-12)  # fmt: skip
    t_path, load_a = cpu_timed(lambda: path(model, x, direction, alpha, points, dtype),
                               args.repeats)  # fmt: skip
    t_loop, load_b = cpu_timed(lambda: user_loop(model, x, direction, alpha, points), args.repeats)
    t_prev, _ = cpu_timed(lambda: previous(model, x, direction, alpha, points, dtype),
                          args.repeats)  # fmt: skip
    t_vmap, _ = cpu_timed(lambda: path(model, x, direction, alpha, points, dtype, "vmap"),
                          args.repeats)  # fmt: skip
    modes = chosen_modes(model, x, direction, alpha, points, dtype)
    speedup = t_loop / t_path
    target = 3.0 if ONE_LAYER.get(name, (name,))[0] in SMALL and args.images <= 8 else 1.0
    other = round(max(load_a, load_b), 2)
    result = {
        "date": now(), "machine": machine(torch.device("cpu")), "model": name,
        "parameters": n_params, "dtype": dt, "images": args.images, "points": points,
        "path_s": round(t_path, 4), "loop_s": round(t_loop, 4), "previous_s": round(t_prev, 4),
        "vmap_s": round(t_vmap, 4), "speedup": round(speedup, 2), "target": target,
        "previous_speedup": round(t_loop / t_prev, 2), "vmap_speedup": round(t_loop / t_vmap, 2),
        "modes": modes, "max_rel_diff": err, **truth, "same_numbers": ok_numbers,
        "same_bits_twice": same_bits, "other_load_cores": other,
    }  # fmt: skip
    verdict = "; ".join([
        f"speed-up {'met' if speedup >= target else 'missed'} (≥ {target:g})",
        f"numbers {'same' if ok_numbers else 'differ'}",
        f"bits {'repeat' if same_bits else 'DIFFER'}",
    ])  # fmt: skip
    if other > 0.2:
        verdict += f" (shared machine: other load {other} cores)"
    print(f"VERDICT {name} {dt}: loop {t_loop:.3f} s, path {t_path:.3f} s -> {speedup:.2f}× "
          f"(previous {t_loop / t_prev:.2f}×, vmap {t_loop / t_vmap:.2f}×); modes {modes}; "
          f"rel. diff {err:.1e} -> {verdict}", flush=True)  # fmt: skip
    if not args.no_record:
        diff = f"{err:.1e}" + (f" (vs f64: path {truth['path_vs_float64']:.1e}, loop "
                               f"{truth['loop_vs_float64']:.1e})" if truth else "")  # fmt: skip
        write_row("weight-paths", [
            result["date"], result["machine"], f"{name} ({n_params} perturbed)", dt,
            f"{args.images} × {points}", f"{t_loop:.3f} s", f"{t_path:.3f} s",
            f"**{speedup:.2f}×** {'✓' if speedup >= target else '✗'} (≥ {target:g})",
            f"{t_loop / t_prev:.2f}×", f"{t_loop / t_vmap:.2f}×", modes, diff,
            "yes" if same_bits else "no", verdict,
        ])  # fmt: skip
    return result


LAYER_SHAPES = {  # the perturbed layers of the models above (and wider ones), with their inputs
    "toy16@7": (lambda: nn.Conv2d(16, 16, 3, 1, 1, bias=False), (16, 7, 7)),
    "toy48@7": (lambda: nn.Conv2d(16, 48, 3, 1, 1, bias=False), (16, 7, 7)),
    "res16@32": (lambda: nn.Conv2d(16, 16, 3, 1, 1, bias=False), (16, 32, 32)),
    "res32@16": (lambda: nn.Conv2d(32, 32, 3, 1, 1, bias=False), (32, 16, 16)),
    "res64@8": (lambda: nn.Conv2d(64, 64, 3, 1, 1, bias=False), (64, 8, 8)),
    "res1x1s2": (lambda: nn.Conv2d(16, 32, 1, 2, bias=False), (16, 32, 32)),
    "cifar3-16": (lambda: nn.Conv2d(3, 16, 3, 1, 1), (3, 32, 32)),
    "cifar16-32s2": (lambda: nn.Conv2d(16, 32, 3, 2, 1), (16, 32, 32)),
    "sd64@32": (lambda: nn.Conv1d(64, 64, 3, 1, 1, bias=False), (64, 32)),
    "sd64s2@128": (lambda: nn.Conv1d(64, 64, 2, 2, bias=False), (64, 128)),
    "linear64-10": (lambda: nn.Linear(64, 10), (64,)),
    "linear256-256": (lambda: nn.Linear(256, 256), (256,)),
    "linear784-256": (lambda: nn.Linear(784, 256), (784,)),
}


def layer_table(args) -> list[dict]:
    """Times of the three modes per layer shape, B and P; the choice's loss against the best."""
    cpu = torch.device("cpu")
    rows = []
    for dt, dtype in DTYPES.items():
        losses = []
        for name, (make, shape) in LAYER_SHAPES.items():
            layer = make().to(dtype)
            w = layer.weight.detach()
            b = None if layer.bias is None else layer.bias.detach()
            d_w, d_b = torch.randn_like(w), None if b is None else torch.randn_like(b)
            for batch in (1, 2, 4, 8, 16):
                for points in (16, 32, 64):
                    h = torch.randn(points * batch, *shape, dtype=dtype)
                    t = torch.rand(points, dtype=dtype)
                    case = (layer, h, t, batch, w, d_w, b, d_b)
                    times = {}
                    with torch.no_grad():
                        for mode in path_kernels.MODES:
                            _layer(mode, *case)  # warm-up: oneDNN builds a kernel per shape
                            times[mode], _ = cpu_timed(lambda m=mode, c=case: _layer(m, *c),
                                                       args.repeats)  # fmt: skip
                    choice = path_kernels.choose_mode(layer, tuple(h.shape), points, batch,
                                                      dtype, cpu)  # fmt: skip
                    best = min(times, key=times.get)
                    if h.numel() * h.element_size() <= path_kernels.CHUNK_BYTES:
                        losses.append((times[choice] / times[best], times["loop"] / times[choice]))
                    rows.append({"dtype": dt, "layer": name, "B": batch, "P": points,
                                 "times_s": times, "choice": choice, "best": best})  # fmt: skip
        ratios = sorted(v for v, _ in losses)
        gains = sorted(g for _, g in losses)
        print(f"{dt}, inputs within a chunk's cap: the choice is the fastest mode in "
              f"{ratios.count(1.0)}/{len(ratios)} cases (mean time / fastest "
              f"{sum(ratios) / len(ratios):.3f}, worst {ratios[-1]:.2f}); speed-up over the "
              f"loop mode: min {gains[0]:.2f}, median {gains[len(gains) // 2]:.2f}")
    return rows


def _layer(mode, layer, h, t, batch, w, d_w, b, d_b):
    if mode != "split":
        return path_kernels.perturbed_forward(layer, mode, h, t, batch, w, d_w, b, d_b)
    weight = torch.cat([w, d_w])
    bias = None if b is None else torch.cat([b, d_b])
    c = w.shape[0]
    if isinstance(layer, nn.Linear):
        y = torch.nn.functional.linear(h, weight, bias)
        y0, y1 = y[..., :c], y[..., c:]
    else:
        y = layer._conv_forward(h, weight, bias)
        y0, y1 = y[:, :c], y[:, c:]
    return torch.addcmul(y0, t.repeat_interleave(batch).view(-1, *([1] * (y0.dim() - 1))), y1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=str, default=",".join([*MODELS, *ONE_LAYER]))
    parser.add_argument("--dtype", type=str, default="float32,float64")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--layers", action="store_true", help="time the modes per layer instead")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true", help="do not write README rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.layers:
        results = layer_table(args)
    else:
        results = []
        for dt in [d for d in args.dtype.split(",") if d]:
            if dt not in DTYPES:
                raise SystemExit(f"--dtype: expected float32 or float64, got {dt!r}")
            for name in [n for n in args.models.split(",") if n]:
                if name not in MODELS and name not in ONE_LAYER:
                    raise SystemExit(f"--models: expected names from "
                                     f"{sorted(MODELS) + sorted(ONE_LAYER)}, got {name!r}")
                results.append(run_model(name, dt, args))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
