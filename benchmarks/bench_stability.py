"""Layer-by-layer D, G, R in one forward pass per batch vs the straightforward computation.

What is measured: ``relative_stability`` (all layers recorded by hooks from one forward pass per
batch of clean + deformed + noisy images) against a straightforward implementation that, for
every layer and every diffeomorphism, re-runs the network on one input at a time (clean,
deformed, noisy) and keeps that layer's output. Same model (a zoo VGG11 at init), same inputs
(digits resampled to 32 × 32), same T and c, in the same run. The two use different random
draws, so they must agree within their standard errors, not bit for bit.

    .venv/bin/python benchmarks/bench_stability.py [--inputs 32] [--diffeos 4] [--width 0.25]

Target: speed-up ≥ 5.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

from _common import machine, now, write_row
from smoothscope.analysis.stability import default_temperature, relative_stability
from smoothscope.data.diffeo import random_diffeo
from smoothscope.data.digits import sklearn_digits_dataset
from smoothscope.models import build


@torch.no_grad()
def straightforward(model, x, layers, temperature, cut, per, seed):
    """D per layer, one layer and one diffeomorphism at a time (the baseline)."""
    modules = dict(model.named_modules())
    g = torch.Generator().manual_seed(seed)
    out = {}
    for layer in layers:
        store = {}
        handle = modules[layer].register_forward_hook(
            lambda m, a, o, store=store: store.__setitem__("f", o.flatten(1).double())
        )

        def rep(image, store=store):
            model(image)
            return store["f"]

        d, n = [], []
        for i in range(x.shape[0]):
            xi = x[i : i + 1]
            for _ in range(per):
                tau = random_diffeo(xi.double(), temperature, cut, generator=g).float()
                noise = torch.randn(xi.shape, generator=g)
                noise *= (tau - xi).norm() / noise.norm()
                f0 = rep(xi)
                d.append(((rep(tau) - f0) ** 2).sum())
                n.append(((rep(xi + noise) - f0) ** 2).sum())
        feats = torch.cat([rep(x[i : i + 1]) for i in range(x.shape[0])])
        den = torch.cdist(feats, feats).pow(2).sum() / (x.shape[0] * (x.shape[0] - 1))
        handle.remove()
        d = torch.stack(d)
        out[layer] = (float(d.mean() / den), float(d.std() / math.sqrt(d.numel()) / den))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=32)
    parser.add_argument("--diffeos", type=int, default=4)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true", help="do not write a README row")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = build("vgg11", in_channels=1, num_classes=10, width=args.width, seed=0).eval()
    images, _ = sklearn_digits_dataset(size=32)
    x = images[: args.inputs].float()
    layers = model.representation_layers()
    temperature, cut = default_temperature(32, 3), 3

    start = time.perf_counter()
    fast = relative_stability(model, x, layers=layers, temperature=temperature, cut=cut,
                              diffeos_per_input=args.diffeos, batch_size=args.inputs, seed=0)
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    slow = straightforward(model, x, layers, temperature, cut, args.diffeos, seed=1)
    t_slow = time.perf_counter() - start

    agree = []
    for row in fast.rows:
        value, se = slow[row["layer"]]
        z = abs(value - row["D"]) / math.hypot(se, row["D_se"])
        agree.append({"layer": row["layer"], "D_batched": row["D"], "D_straightforward": value,
                      "z": round(z, 2)})
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(), "threads": 1, "torch": torch.__version__,
        "model": f"vgg11 width {args.width}", "layers": len(layers), "inputs": args.inputs,
        "diffeos_per_input": args.diffeos, "batched_s": round(t_fast, 3),
        "straightforward_s": round(t_slow, 3), "speedup": round(t_slow / t_fast, 2),
        "target": 5.0, "max_z": max(a["z"] for a in agree), "agreement": agree,
    }
    for key, value in result.items():
        if key != "agreement":
            print(f"{key:18s} {value}")
    for a in agree:
        print(f"  {a['layer']:24s} D batched {a['D_batched']:.4g}  straightforward "
              f"{a['D_straightforward']:.4g}  |z| = {a['z']}")
    ok_speed, ok_z = result["speedup"] >= 5.0, result["max_z"] < 2.0
    verdict = f"speed-up {'met' if ok_speed else 'missed'}, agreement {'met' if ok_z else 'missed'}"
    print(f"VERDICT: speed-up {result['speedup']:.1f} (target >= 5), max |z| {result['max_z']} "
          f"(< 2) -> {verdict}")  # fmt: skip
    if not args.no_record:
        write_row("stability-layers", [
            now(), machine(), f"{t_fast:.3f} s", f"{t_slow:.3f} s",
            f"**{result['speedup']:.1f}** {'✓' if ok_speed else '✗'}", result["max_z"], verdict,
        ])  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
