"""D, G, R to a given precision: the project vs a faithful re-implementation of the original loop.

What a user waits for is a standard error, not a pass. Both sides sample on the same fixed CNN
(zoo ``vgg11``, width 0.25, at init, 9 representation layers) and the same 256 inputs (sklearn
digits at 32 × 32), same T (middle of the natural range) and c = 3, one intra-op thread, and
stop once the relative standard error of R of the last layer is at most 1 %. Both use the same
estimator: R = mean d / mean g over all (input, draw) samples, standard error
``sd(d − R·g) / (√n · mean g)`` (the delta method for a ratio of paired means).

* **Original loop** (Tomasini et al. / Petrini et al. code, re-implemented here): passes over the
  inputs; every pass draws one diffeomorphism per image (one field per image), recomputes the
  clean features, runs clean, deformed and noisy batches, and recomputes the denominator
  ``E‖f(x1) − f(x2)‖²`` (all pairs, ``torch.cdist``) for every layer and for each of D and G.
  Passes continue until the precision is reached.
* **Project**: ``relative_stability`` (clean features once per call, several diffeomorphisms per
  image in one batch, float32 forward passes with float64 accumulation, one denominator per
  batch for all layers, fields as batched matmuls, channels-last layout on the CPU) in one
  call with ``target_rse``: a first round of 2 diffeomorphisms per input, then rounds sized
  from the precision reached, every draw pooled (the whole call is timed).

    .venv/bin/python benchmarks/bench_stability_precision.py [--target-rse 0.01]

Target: time to precision, original / project, ≥ 3, and R (last layer) agreeing within the
standard errors (|z| < 2, fixed before any run).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from _common import machine, now, write_row
from smoothscope.analysis.stability import default_temperature, relative_stability
from smoothscope.data.diffeo import random_diffeo
from smoothscope.data.digits import sklearn_digits_dataset
from smoothscope.models import build

TARGET_SPEEDUP = 3.0
Z_MAX = 2.0


def ratio_se(d: torch.Tensor, g: torch.Tensor) -> tuple[float, float]:
    """R = mean d / mean g and its paired delta-method standard error."""
    R = float(d.mean() / g.mean())
    se = float((d - R * g).std() / math.sqrt(d.numel()) / g.mean())
    return R, se


class OriginalLoop:
    """The original authors' loop: one diffeomorphism per image per pass (see the module doc)."""

    def __init__(self, model, x, layers, temperature, cut, seed, batch=64):
        self.model, self.x, self.layers = model, x, layers
        self.temperature, self.cut, self.batch = temperature, cut, batch
        self.g = torch.Generator().manual_seed(seed)
        self.store: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        for name in layers:
            modules[name].register_forward_hook(
                lambda m, a, o, n=name: self.store.__setitem__(n, o.flatten(1))
            )
        self.d = {n: [] for n in layers}
        self.g_ = {n: [] for n in layers}
        self.den = {n: [] for n in layers}

    @torch.no_grad()
    def one_pass(self) -> None:
        feats = {n: {"clean": [], "def": [], "noisy": []} for n in self.layers}
        for xb in self.x.split(self.batch):
            tau = torch.cat([
                random_diffeo(img[None].double().cpu(), self.temperature, self.cut,
                              generator=self.g)
                for img in xb
            ]).float().to(xb.device)  # fmt: skip
            noise = torch.randn(xb.shape, generator=self.g).to(xb.device)
            scale = (tau - xb).flatten(1).norm(dim=1) / noise.flatten(1).norm(dim=1)
            noisy = xb + noise * scale.view(-1, 1, 1, 1)
            for kind, inputs in (("clean", xb), ("def", tau), ("noisy", noisy)):
                self.model(inputs)
                for n in self.layers:
                    feats[n][kind].append(self.store[n])
        for n in self.layers:
            f0 = torch.cat(feats[n]["clean"])
            for kind, out in (("def", self.d), ("noisy", self.g_)):
                f = torch.cat(feats[n][kind])
                den = torch.cdist(f0, f0).pow(2).mean()  # recomputed per layer and quantity
                out[n].append(((f - f0) ** 2).sum(1).double())
                self.den[n].append(float(den))

    def estimate(self, layer: str) -> tuple[float, float, int]:
        d, g = torch.cat(self.d[layer]), torch.cat(self.g_[layer])
        R, se = ratio_se(d, g)
        return R, se, d.numel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=256)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--target-rse", type=float, default=0.01)
    parser.add_argument("--max-passes", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32, help="project: clean inputs per pass")
    parser.add_argument("--device", type=str, default="cpu", choices=["cpu", "cuda"],
                        help="cuda: both sides on the GPU (draws on CPU generators), wall times")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true", help="do not write README rows")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dev = torch.device(args.device)
    model = build("vgg11", in_channels=1, num_classes=10, width=args.width, seed=0).eval()

    def clock() -> float:  # CPU time on the CPU; wall time between synchronisations on CUDA
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            return time.perf_counter()
        return time.process_time()

    images, _ = sklearn_digits_dataset(size=32)
    x = images[: args.inputs].float()
    layers = list(model.representation_layers())
    last = layers[-1]
    T, cut = default_temperature(32, 3), 3
    relative_stability(model, x[:8], temperature=T, cut=cut, diffeos_per_input=1, batch_size=8,
                       device=dev)  # fmt: skip

    # ---- project: one call sampling to the precision (a first round of 2 draws per input,
    # then rounds sized from the precision reached; every draw pooled) -----------------------
    start = clock()
    final = relative_stability(model, x, temperature=T, cut=cut, diffeos_per_input=2,
                               batch_size=args.batch, seed=0, device=dev,
                               target_rse=args.target_rse)  # fmt: skip
    t_project = clock() - start
    k = final.diffeos_per_input
    R_p, se_p = final.rows[-1]["R"], final.rows[-1]["R_se"]

    # ---- original: passes until the precision is reached -----------------------------------
    model.to(dev)
    start = clock()
    loop = OriginalLoop(model, x.to(dev), layers, T, cut, seed=2)
    passes = 0
    while True:
        loop.one_pass()
        passes += 1
        R_o, se_o, n_o = loop.estimate(last)
        if se_o / R_o <= args.target_rse or passes >= args.max_passes:
            break
    t_original = clock() - start

    speedup = t_original / t_project
    z = abs(R_p - R_o) / math.hypot(se_p, se_o)
    per_layer = []
    for r in final.rows:
        Ro, so, _ = loop.estimate(r["layer"])
        per_layer.append({"layer": r["layer"], "R_project": r["R"], "R_original": Ro,
                          "z": round(abs(r["R"] - Ro) / math.hypot(r["R_se"], so), 2)})  # fmt: skip
    result = {
        "date": now(), "machine": machine(dev), "device": args.device,
        "model": f"vgg11 width {args.width} at init",
        "inputs": args.inputs, "target_rse": args.target_rse,
        "project_s": round(t_project, 2), "project_draws_per_input": k,
        "project_rounds": final.extra["rounds"],
        "project_samples": args.inputs * k, "project_R": R_p, "project_rse": se_p / R_p,
        "original_s": round(t_original, 2), "original_passes": passes,
        "original_samples": n_o, "original_R": R_o, "original_rse": se_o / R_o,
        "per_sample_ms_project": round(1e3 * t_project / (args.inputs * k), 3),
        "per_sample_ms_original": round(1e3 * t_original / n_o, 3),
        "speedup": round(speedup, 2), "target": TARGET_SPEEDUP, "z_last_layer": round(z, 2),
        "max_z_all_layers": max(p["z"] for p in per_layer), "layers": per_layer,
    }  # fmt: skip
    for key, value in result.items():
        if key != "layers":
            print(f"{key:24s} {value}")
    for p in per_layer:
        print(f"  {p['layer']:24s} R project {p['R_project']:.4g}  original "
              f"{p['R_original']:.4g}  |z| = {p['z']}")  # fmt: skip
    ok_speed, ok_agree = speedup >= TARGET_SPEEDUP, z < Z_MAX
    reached = se_o / R_o <= args.target_rse and se_p / R_p <= args.target_rse * 1.05
    verdict = (f"speed-up {'met' if ok_speed else 'missed'}; agreement "
               f"{'met' if ok_agree else 'missed'}"
               + ("" if reached else "; precision not reached"))  # fmt: skip
    print(f"VERDICT: time to {100 * args.target_rse:g} % rse on R({last}): original "
          f"{t_original:.1f} s / project {t_project:.1f} s = {speedup:.2f} (target >= "
          f"{TARGET_SPEEDUP:g}); |z| = {z:.2f} (< {Z_MAX:g}) -> {verdict}")  # fmt: skip
    if not args.no_record:
        write_row("stability-precision", [
            result["date"], machine(dev),
            f"{t_project:.1f} s ({args.inputs}×{k}, rounds {final.extra['rounds']})",
            f"{t_original:.1f} s ({passes} passes)",
            f"{result['per_sample_ms_project']} / {result['per_sample_ms_original']}",
            f"**{speedup:.2f}** {'✓' if ok_speed else '✗'}",
            f"{R_p:.4g} ± {se_p:.2g} / {R_o:.4g} ± {se_o:.2g}", f"{z:.2f}",
            f"{result['max_z_all_layers']}", verdict,
        ])  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
