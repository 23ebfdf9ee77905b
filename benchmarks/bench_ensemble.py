"""Scale-detection's networks trained K at a time (``smoothscope.ensemble``) vs one at a time.

Paper B §4.3 trains several simple CNNs per task, one per seed, with SGD on the hinge loss
(batches of 8, weight decay on the filters) until a multiple of each one's interpolation time.
For every family of ``ScaleDetectionConfig.preset(--scale).tasks()`` without BatchNorm (task 1,
task 2, task 1 with tanh: width 64 at the standard scale, ``seeds`` networks each), the same
members (same initialisations, data and minibatch seeds) are trained twice in the same run:

* **alone**: one after another, each by its one-at-a-time trainer (``vectorize=False``:
  ``smoothscope.interpolation.train_to_interpolation`` for ``--rule paper``, the paper's stopping
  rule; ``smoothscope.train.train_hinge`` for ``--rule error``);
* **together**: ``train_to_interpolation_ensemble`` / ``train_hinge_ensemble``: the stacked,
  vmapped members, each stopping on its own.

Both with one intra-op thread; times are CPU times (user + sys) of the whole trainings. On the
2-core machine the experiment runs one training per core (the sweep's process pool, one thread
per cell), so the 2-core speed-up is this per-core ratio when the work splits evenly over the
two workers. Each member is compared: interpolation and stopping epochs, the largest relative
parameter difference, the test error on held-out points (float rounding of the grouped kernels,
carried along by SGD: ``smoothscope.ensemble``'s docstring).

Target: ``alone / together`` ≥ 2 over scale-detection's networks.

    .venv/bin/python benchmarks/bench_ensemble.py [--scale standard] [--multiple 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from _common import cpu_timed, machine, now, write_row
from smoothscope.data import scale_detection as sd
from smoothscope.ensemble import train_hinge_ensemble, train_to_interpolation_ensemble
from smoothscope.experiments.scale_detection import ScaleDetectionConfig
from smoothscope.interpolation import InterpolationRule
from smoothscope.models import build

TARGET = 2.0


def family_data(family: dict, n_val: int, n_test: int, seed: int = 0):
    """Balanced training, validation and test sets of the family's task (disjoint pairs)."""
    task = sd.ScaleTask(**family["task"])
    total = family["points"] + n_val + n_test
    pairs, labels = sd.sample_pairs(task, total, generator=torch.Generator().manual_seed(seed))
    x, y = sd.render_pairs(task, pairs).float(), labels.float()
    pos, neg = torch.nonzero(y == 1).flatten(), torch.nonzero(y == -1).flatten()
    parts, start = [], 0
    for count in (family["points"], n_val, n_test):
        half = count // 2
        idx = torch.cat([pos[start : start + half], neg[start : start + half]])
        parts.append((x[idx], y[idx]))
        start += half
    return parts


def train(family: dict, data, args, vectorize: bool):
    (x, y), (x_val, y_val), _ = data
    nets = [build("simple-cnn", dim=family["task"]["dim"], seed=s, **family["net"])
            for s in range(family["seeds"])]  # fmt: skip
    seeds = list(range(family["seeds"]))
    out: dict[str, list] = {}

    def run() -> None:
        if args.rule == "paper":
            rule = InterpolationRule(multiple=args.multiple, check_every=args.check_every)
            out["results"] = train_to_interpolation_ensemble(
                nets, x, y, x_val, y_val, seeds=seeds, lr=family["lr"], rule=rule,
                max_epochs=args.max_epochs, vectorize=vectorize, progress=False)  # fmt: skip
        else:
            out["results"] = train_hinge_ensemble(
                nets, x, y, seeds=seeds, lr=family["lr"], interpolation_multiple=args.multiple,
                max_epochs=args.max_epochs, vectorize=vectorize, progress=False)  # fmt: skip

    seconds, other = cpu_timed(run, 1)  # CPU time of the whole trainings, the other load
    return seconds, other, out["results"], nets


@torch.no_grad()
def test_error(net, state, x, y) -> float:
    net.load_state_dict(state)
    net.eval()
    return float((torch.sign(net(x)) != y).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="standard", choices=["quick", "standard", "paper"])
    parser.add_argument("--families", default="task1,task2,task1-tanh")
    parser.add_argument("--rule", default="paper", choices=["paper", "error"])
    parser.add_argument("--multiple", type=float, default=3.0)
    parser.add_argument("--check-every", type=int, default=10)
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--n-val", type=int, default=64)
    parser.add_argument("--n-test", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    families = ScaleDetectionConfig.preset(args.scale).tasks()
    rows, total_alone, total_together, loads = [], 0.0, 0.0, []
    for name in [f for f in args.families.split(",") if f]:
        family = families[name]
        data = family_data(family, args.n_val, args.n_test)
        t_alone, load_a, alone, nets = train(family, data, args, vectorize=False)
        t_together, load_b, together, _ = train(family, data, args, vectorize=True)
        other = round(max(load_a, load_b), 2)
        loads.append(other)
        total_alone, total_together = total_alone + t_alone, total_together + t_together
        x_test, y_test = data[2]
        same_epochs = sum(
            (a.interpolation_epoch, a.epochs) == (b.interpolation_epoch, b.epochs)
            for a, b in zip(alone, together, strict=True)
        )
        gap = max(
            float((a.state_dict[k] - b.state_dict[k]).abs().max() / a.state_dict[k].abs().max())
            for a, b in zip(alone, together, strict=True) for k in a.state_dict
        )
        err_alone, err_together = (
            [test_error(n, r.state_dict, x_test, y_test) for n, r in zip(nets, runs, strict=True)]
            for runs in (alone, together)
        )
        epochs = [r.epochs for r in alone]
        ratio = t_alone / t_together
        row = {"family": name, "members": len(nets), "epochs": epochs,
               "interpolation": [r.interpolation_epoch for r in alone],
               "alone_s": round(t_alone, 2), "together_s": round(t_together, 2),
               "ratio": round(ratio, 2), "same_epochs": f"{same_epochs}/{len(nets)}",
               "max_param_gap": gap, "test_error_alone": err_alone,
               "test_error_together": err_together, "other_load_cores": other}  # fmt: skip
        rows.append(row)
        print(f"{name}: {len(nets)} members, epochs {epochs}: alone {t_alone:.1f} s, together "
              f"{t_together:.1f} s -> {ratio:.2f}×; same epochs {same_epochs}/{len(nets)}, "
              f"max parameter gap {gap:.1e}, test errors {err_alone} vs {err_together}; other "
              f"load {other} cores", flush=True)  # fmt: skip
        if not args.no_record:
            write_row("ensemble", [
                now(), machine(torch.device("cpu")), f"{args.scale} {name}", len(nets),
                f"{args.rule} ×{args.multiple:g}", ", ".join(map(str, epochs)),
                f"{t_alone:.1f} s", f"{t_together:.1f} s", f"**{ratio:.2f}×**",
                f"{same_epochs}/{len(nets)}", f"{gap:.1e}",
                f"{sum(err_alone) / len(err_alone):.3f} / "
                f"{sum(err_together) / len(err_together):.3f}",
                f"other load {other} cores" if other > 0.2 else "",
            ])  # fmt: skip
    ratio = total_alone / total_together
    verdict = f"{'met' if ratio >= TARGET else 'missed'} (≥ {TARGET:g})"
    if max(loads, default=0.0) > 0.2:
        verdict += f" (shared machine: other load up to {max(loads)} cores)"
    print(f"VERDICT ensemble ({args.scale}, {args.rule} ×{args.multiple:g}): alone "
          f"{total_alone:.1f} s, together {total_together:.1f} s -> {ratio:.2f}× {verdict}")
    if not args.no_record:
        write_row("ensemble", [
            now(), machine(torch.device("cpu")), f"{args.scale}, all", "", "", "",
            f"{total_alone:.1f} s", f"{total_together:.1f} s", f"**{ratio:.2f}×**", "", "", "",
            verdict,
        ])  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"families": rows, "ratio": ratio}, indent=2) + "\n")


if __name__ == "__main__":
    main()
