"""Exponents of the scale-detection experiment against the training length (issue 24).

Paper B §4.3 trains the simple CNNs for 500 times their interpolation time (tanh: 200×) before
measuring D_k, G_k and R_k. The standard scale cannot afford that on two CPU cores, so it trains
for a smaller multiple; this script measures where the exponents the claims read have converged.
It trains the networks of one family exactly as the experiment does (same data, networks,
stopping rule: :func:`smoothscope.interpolation.train_to_interpolation`), taking a snapshot at
every multiple (each at the first check where the rule with that multiple would have stopped:
one trajectory per network gives the whole curve), measures every snapshot as the experiment's
cells do as soon as it is taken (one line each in ``<json>.jsonl``, so that a run cut short at
``--max-epochs`` keeps its rows), and fits the exponents over the same layers.

Usage::

    flock /work/tools/heavy.lock .venv/bin/python scripts/convergence_scale_detection.py \\
        --family task1 --scale standard --multiples 20,50,100,200,500 --seeds 4 --jobs 2 \\
        --json benchmarks/results/convergence_task1.json

It prints one markdown row per multiple: epochs reached (median over networks), the exponents
of D_k, G_k and R_k against the measured A_k with their 95 % t intervals (the claims' fits), the
pooled test error, and the CPU seconds spent.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smoothscope.experiments._paper_b import fit_exponent
from smoothscope.experiments.scale_detection import ScaleDetectionConfig
from smoothscope.experiments.scale_detection.cells import (
    CHECK_EVERY,
    build_network,
    effective_weight_decay,
    measure,
    split_data,
    training_backend,
)
from smoothscope.interpolation import InterpolationRule, train_to_interpolation
from smoothscope.sweep import derive_seed


def _one(args: tuple[str, int, list[float], dict[str, Any], str | None]) -> dict[str, Any]:
    """Train network ``s`` of ``name`` to the largest multiple, measuring every snapshot as it
    is taken (one JSON line each in ``log``, so that a run cut short keeps its rows)."""
    name, s, multiples, fields, log = args
    torch.set_num_threads(1)
    config = ScaleDetectionConfig.preset(fields.pop("scale"), **fields)
    family = config.tasks()[name]
    data_seed = derive_seed(config.seed, "scale-data", name)
    init_seed = derive_seed(config.seed, "scale-init", name, s)
    task, train, val, (x_test, y_test) = split_data(family, data_seed, config.n_val, config.n_test)
    model = build_network(family, init_seed)
    probe = build_network(family, init_seed)
    seed = derive_seed(config.seed, "scale-measure", name, s)
    rows: dict[str, Any] = {}
    start = time.process_time()

    def record(m: float, epoch: int, state: dict[str, torch.Tensor]) -> None:
        probe.load_state_dict(state)
        probe.eval()
        with torch.no_grad():
            error = float((torch.sign(probe(x_test)) != y_test).double().mean())
        out = measure(probe, family, task, x_test, moves=config.moves_per_input, seed=seed)
        row = {"epoch": epoch, "test_error": error, "cpu_s": time.process_time() - start, **out}
        rows[str(m)] = row
        if log:
            with open(log, "a") as fh:
                fh.write(json.dumps({"seed": s, "multiple": m, **row}) + "\n")
        print(f"network {s}: {m:g}× at epoch {epoch}, {row['cpu_s']:.0f} CPU-s", flush=True)

    with training_backend(family):
        result = train_to_interpolation(
            model,
            *train,
            *val,
            lr=family["lr"],
            batch_size=config.batch_size,
            weight_decay=effective_weight_decay(family, config.weight_decay, config.ridge),
            rule=InterpolationRule(max(multiples), check_every=CHECK_EVERY),
            max_epochs=config.max_epochs,
            seed=init_seed,
            snapshots=multiples,
            on_snapshot=record,
            progress=False,
        )
    if result.stop_epoch is not None:  # the largest multiple is where the rule stopped
        record(max(multiples), result.stop_epoch, result.state_dict)
    return {
        "seed": s,
        "interpolation_epoch": result.interpolation_epoch,
        "train_cpu_s": time.process_time() - start,
        "snapshots": rows,
        "fit_layers": family["fit_layers"],
    }


def _fit(runs: list[dict[str, Any]], m: str, q: str) -> tuple[float, float, float]:
    runs = [r for r in runs if m in r["snapshots"]]
    if not runs:
        return (float("nan"),) * 3
    k = runs[0]["fit_layers"]
    a = np.array([r["snapshots"][m]["A"][:k] for r in runs], dtype=np.float64)
    y = np.array([[row[q] for row in r["snapshots"][m]["rows"][:k]] for r in runs])
    f = fit_exponent(a, y)
    return f.value, f.low, f.high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="task1", choices=("task1", "task2", "task1-tanh"))
    parser.add_argument("--scale", default="standard", choices=("quick", "standard", "paper"))
    parser.add_argument("--multiples", default="20,50,100,200,500")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--max-epochs", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    multiples = [float(m) for m in args.multiples.split(",")]
    fields: dict[str, Any] = {"scale": args.scale, "max_epochs": args.max_epochs}
    for item in args.set:
        key, value = ScaleDetectionConfig.parse_option(item)
        fields[key] = value
    log = str(args.json.with_suffix(".jsonl")) if args.json else None
    if log:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text("")
    jobs = [(args.family, s, multiples, dict(fields), log) for s in range(args.seeds)]
    wall = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(_one, jobs))
    wall = time.perf_counter() - wall
    print(
        f"family {args.family}, scale {args.scale} {args.set or ''}, {args.seeds} networks, "
        f"interpolation epochs {[r['interpolation_epoch'] for r in runs]}, wall {wall:.0f} s"
    )
    print("| multiple | epochs (median) | D exponent | G exponent | R exponent | test error |")
    print("|---:|---:|---|---|---|---:|")
    table = []
    for m in multiples:
        key = str(m)
        have = [r for r in runs if key in r["snapshots"]]
        if not have:
            continue
        epochs = float(np.median([r["snapshots"][key]["epoch"] for r in have]))
        fits = {q: _fit(runs, key, q) for q in "DGR"}
        error = float(np.mean([r["snapshots"][key]["test_error"] for r in have]))
        table.append({"multiple": m, "epochs": epochs, "networks": len(have),
                      "test_error": error, **fits})  # fmt: skip
        cells = " | ".join(f"{v:.2f} [{lo:.2f}, {hi:.2f}]" for v, lo, hi in fits.values())
        print(f"| {m:g}× | {epochs:.0f} | {cells} | {error:.3f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                         "table": table, "runs": runs}, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
