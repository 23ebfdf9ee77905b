"""Command line: ``smoothscope list | run EXPERIMENT | reproduce | report DIR | analyze``.

Bad input is reported on one line (``smoothscope: error: ...``) with exit code 2; Ctrl-C ends
with one line and exit code 130 (a rerun of the same command resumes). Progress bars are shown
only when stderr is a terminal.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ._errors import SmoothscopeError
from .experiments import SCALES, available_experiments, get_experiment, run_experiment
from .sweep import EXECUTORS, SLURM_CLUSTERS, ExecutorSpec

__all__ = ["claims_table", "main"]


def claims_table(claims: Sequence[dict[str, Any]], *, width: int | None = None) -> str:
    """A plain-text table of claims: id, kind, verdict, control verdict, measured value,
    interval, paper value; then each claim's statement, rule and power note."""

    def num(x: Any) -> str:
        return "—" if x is None else f"{x:.3g}"

    short_kind = {"paper": "paper", "extension": "ext", "post-hoc": "post-hoc"}
    rows = [("claim", "kind", "verdict", "control", "measured", "95% interval", "paper")]
    for c in claims:
        interval = c["uncertainty"]
        control = c.get("control")
        rows.append(
            (
                c["id"],
                short_kind.get(str(c.get("kind")), "—"),
                c["verdict"],
                str(control["verdict"]) if isinstance(control, dict) else "none",
                num(c["measured"]),
                "—" if interval is None else f"[{num(interval[0])}, {num(interval[1])}]",
                num(c["paper_value"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    width = width or shutil.get_terminal_size((120, 20)).columns
    statements = [
        textwrap.fill(
            f"{c['id']}: {c['statement']} — rule: {c['rule']}"
            + (f" — power: {c['power']}" if c.get("power") else ""),
            width=width,
            subsequent_indent="    ",
        )
        for c in claims
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(statements)


def _executor_options(fn):
    """The options that choose where cells run (shared by ``run`` and ``reproduce``)."""
    for option in reversed(_EXECUTOR_OPTIONS):
        fn = option(fn)
    return fn


_EXECUTOR_OPTIONS = [
    click.option(
        "--executor",
        type=click.Choice(EXECUTORS),
        default="process",
        show_default=True,
        help="Where cells run: this process, a local process pool, a Dask cluster, SLURM "
        "(refused without SLURM), or submitit's local executor (the SLURM code path, for "
        "debugging).",
    ),
    click.option(
        "--jobs",
        type=click.IntRange(min=1),
        default=None,
        help="Cells running at once, on every executor (process or Dask workers, cells in "
        "flight on a scheduler, jobs in the SLURM queue) [default: CPU count].",
    ),
    click.option(
        "--address",
        default=None,
        metavar="tcp://HOST:PORT",
        help="Dask scheduler address (default: start a local cluster).",
    ),
    click.option("--slurm-partition", default=None, help="SLURM partition."),
    click.option(
        "--slurm-time",
        type=click.IntRange(min=1),
        default=60,
        show_default=True,
        help="SLURM time limit per cell, in minutes.",
    ),
    click.option(
        "--slurm-gpus",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="GPUs per cell.",
    ),
    click.option(
        "--slurm-cpus",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="CPUs per cell.",
    ),
    click.option(
        "--slurm-cluster",
        type=click.Choice(SLURM_CLUSTERS),
        default=None,
        hidden=True,
        help="submitit cluster: 'local' or 'debug' run the SLURM code path without SLURM.",
    ),
]


def _executor_spec(
    executor: str,
    jobs: int | None,
    address: str | None,
    slurm_partition: str | None,
    slurm_time: int,
    slurm_gpus: int,
    slurm_cpus: int,
    slurm_cluster: str | None,
) -> ExecutorSpec:
    return ExecutorSpec(
        kind=executor,
        jobs=jobs or os.cpu_count() or 1,
        address=address,
        slurm_partition=slurm_partition,
        slurm_time=slurm_time,
        slurm_gpus=slurm_gpus,
        slurm_cpus=slurm_cpus,
        slurm_cluster=slurm_cluster,
    )


class _Interrupted(Exception):
    """Ctrl-C, carried past click (which would print an empty line and a generic 'Aborted!')."""


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted from None


def _progress(no_progress: bool) -> bool:
    """Progress bars unless hidden, and only on a terminal (never in a log file)."""
    return not no_progress and sys.stderr.isatty()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smoothscope")
def cli() -> None:
    """smoothscope: measure, model and exploit the smoothness of neural networks."""


@cli.command("list")
def list_experiments() -> None:
    """List the experiments with a one-line description."""
    specs = available_experiments()
    width = max(len(s.name) for s in specs)
    for spec in specs:
        click.echo(f"{spec.name.ljust(width)}  {spec.description}")


_scale_option = click.option(
    "--scale",
    type=click.Choice(SCALES),
    default="quick",
    show_default=True,
    help="quick: minutes on a laptop CPU; paper: the paper's counts.",
)

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(),
    default=None,
    help="Folder of datasets (cifar-10-batches-bin/, fashion-mnist/, mnist/), searched before "
    "$SMOOTHSCOPE_DATA, Debian's dataset-fashion-mnist and ~/.cache/smoothscope.",
)


_device_option = click.option(
    "--device",
    type=click.Choice(["cpu", "cuda", "auto"]),
    default="cpu",
    show_default=True,
    help="Device (auto: CUDA if available). Models, data and diffeomorphisms move there in "
    "`analyze stability` and in the experiments stability and scale-detection (run refuses "
    "cuda for the others; reproduce runs them on the CPU). Results state the device; "
    "bit-identical results are promised on the CPU only.",
)


def _use_device(device: str) -> None:
    """Check --device (CUDA present?) and make it the configs' default ($SMOOTHSCOPE_DEVICE,
    read in every worker process)."""
    from ._device import resolve_device
    from .experiments._base import DEVICE_ENV

    resolve_device(device)
    os.environ[DEVICE_ENV] = device


def _use_data_dir(data_dir: str | None) -> str | None:
    """Validate --data-dir and put it first in $SMOOTHSCOPE_DATA (read by every cell, in any
    worker process); returns its absolute path."""
    if data_dir is None:
        return None
    from .data.real import ENV_VAR

    if not Path(data_dir).expanduser().is_dir():
        raise SmoothscopeError(f"--data-dir: expected an existing folder, got {data_dir!r}")
    path = str(Path(data_dir).expanduser().resolve())
    old = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = path if not old else path + os.pathsep + old
    return path


@cli.command("run")
@click.argument("experiment")
@_scale_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the whole run.")
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Run directory (default runs/EXPERIMENT-SCALE-seedSEED); an existing one of "
    "the same config is resumed.",
)
@click.option(
    "--set",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config field, e.g. --set n_models=3 --set datasets=ellipsoid.",
)
@click.option(
    "--mnist",
    type=click.Path(),
    default=None,
    help="Folder of MNIST IDX files for the digits data (default: scikit-learn digits).",
)
@_data_dir_option
@_device_option
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@_executor_options
def run_command(
    experiment: str,
    scale: str,
    seed: int,
    out: str | None,
    options: tuple[str, ...],
    mnist: str | None,
    data_dir: str | None,
    device: str,
    no_progress: bool,
    executor: str,
    jobs: int | None,
    address: str | None,
    slurm_partition: str | None,
    slurm_time: int,
    slurm_gpus: int,
    slurm_cpus: int,
    slurm_cluster: str | None,
) -> None:
    """Run EXPERIMENT and print its claims.

    Cells (trainings, evaluations) run through --executor; a rerun with the same --out resumes
    whatever executor it uses, and retries only the cells that failed or did not finish.
    """
    spec = get_experiment(experiment)
    _use_device(device)
    overrides = dict(spec.config.parse_option(o) for o in options)
    if mnist is not None:
        if "mnist_path" not in {f for f in spec.config.__dataclass_fields__}:
            raise SmoothscopeError(f"--mnist: experiment {experiment!r} uses no digits")
        overrides["mnist_path"] = mnist
    data_dir = _use_data_dir(data_dir)
    if data_dir is not None and "data_dir" in spec.config.__dataclass_fields__:
        overrides["data_dir"] = data_dir
    where = _executor_spec(
        executor,
        jobs,
        address,
        slurm_partition,
        slurm_time,
        slurm_gpus,
        slurm_cpus,
        slurm_cluster,
    )
    results = run_experiment(
        experiment,
        scale=scale,
        seed=seed,
        out=out,
        options=overrides,
        progress=_progress(no_progress),
        executor=where,
    )
    click.echo(claims_table(results["claims"]))
    for role, text in results.get("data", {}).items():
        click.echo(f"data ({role}): {text}")
    click.echo(
        f"\nresults: {results['run_dir']}/results.json   figures: {results['run_dir']}/figures/"
    )


def _print_summary(result: dict[str, Any]) -> None:
    from .report import verdict_counts

    click.echo(claims_table(result["claims"]))
    for kind, title in (
        ("paper", "verdicts per paper (paper claims only)"),
        ("extension", "extensions (the project's own questions)"),
        ("post-hoc", "post-hoc rules"),
    ):
        counts = verdict_counts(result["claims"], kind)
        if kind != "paper" and not any(sum(r.values()) for r in counts.values()):
            continue
        click.echo(f"\n{title}:")
        for paper, row in counts.items():
            total = sum(row.values())
            if kind != "paper" and not total:
                continue
            parts = ", ".join(f"{n} {verdict}" for verdict, n in row.items())
            click.echo(f"  {paper}: {total} claim(s): {parts}")
    click.echo(f"\nreport: {result['report']}")


@cli.command("reproduce")
@_scale_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every experiment.")
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Output folder (default runs/reproduce-SCALE-seedSEED): one run directory per "
    "experiment and report.html. An existing one is resumed.",
)
@click.option(
    "--only",
    multiple=True,
    metavar="EXP[,EXP...]",
    help="Run only these experiments (repeatable or comma-separated) [default: all].",
)
@_data_dir_option
@_device_option
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@_executor_options
def reproduce_command(
    scale: str,
    seed: int,
    out: str | None,
    only: tuple[str, ...],
    data_dir: str | None,
    device: str,
    no_progress: bool,
    executor: str,
    jobs: int | None,
    address: str | None,
    slurm_partition: str | None,
    slurm_time: int,
    slurm_gpus: int,
    slurm_cpus: int,
    slurm_cluster: str | None,
) -> None:
    """Run every experiment and write one self-contained HTML report of all claims.

    Finished experiments in --out are not recomputed; an interrupted one is rerun and reuses
    its finished cells. The report is OUT/report.html.
    """
    from .report import reproduce

    _use_data_dir(data_dir)
    _use_device(device)
    where = _executor_spec(
        executor,
        jobs,
        address,
        slurm_partition,
        slurm_time,
        slurm_gpus,
        slurm_cpus,
        slurm_cluster,
    )
    result = reproduce(
        scale=scale,
        out=out,
        only=only or None,
        seed=seed,
        executor=where,
        progress=_progress(no_progress),
        device=device,
    )
    for name, info in result["experiments"].items():
        state = "reused (finished earlier)" if info["status"] == "reused" else "ran"
        click.echo(f"{name}: {state} -> {info['run_dir']}")
    click.echo("")
    _print_summary(result)


@cli.command("report")
@click.argument("directory", type=click.Path())
def report_command(directory: str) -> None:
    """Rebuild DIRECTORY/report.html from the results of `reproduce`, running nothing."""
    from .report import build_report

    _print_summary(build_report(directory))


def _load_model(spec: str, args: tuple[str, ...], weights: str | None):
    """A registry name or ``package.module:callable``, called with KEY=VALUE args."""
    import importlib
    import json

    from ._io import load_state_dict
    from .models import available_models, build

    kwargs: dict[str, Any] = {}
    for text in args:
        key, sep, raw = text.partition("=")
        if not sep:
            raise SmoothscopeError(f"--model-arg: expected KEY=VALUE, got {text!r}")
        try:
            kwargs[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            kwargs[key.replace("-", "_")] = raw
    if ":" in spec:
        module_name, _, name = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError) as exc:
            raise SmoothscopeError(
                f"--model: expected an importable 'package.module:callable', got {spec!r}"
            ) from exc
        try:
            model = factory(**kwargs)
        except TypeError as exc:
            raise SmoothscopeError(f"--model-arg: {spec} rejected {kwargs}: {exc}") from exc
    elif spec in available_models():
        model = build(spec, **kwargs)
    else:
        raise SmoothscopeError(
            f"--model: expected a zoo name ({', '.join(available_models())}) or "
            f"'package.module:callable', got {spec!r}"
        )
    import torch

    if not isinstance(model, torch.nn.Module):
        raise SmoothscopeError(f"--model: expected it to build an nn.Module, got {type(model)}")
    if weights is not None:
        state = load_state_dict(weights)
        ours = model.state_dict()
        missing = [k for k in ours if k not in state]
        unexpected = [k for k in state if k not in ours]
        resized = [
            f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
            for k, v in ours.items()
            if k in state and state[k].shape != v.shape
        ]
        if missing or unexpected or resized:
            parts = [
                f"{label} {', '.join(keys[:5])}{' …' if len(keys) > 5 else ''} ({len(keys)})"
                for label, keys in (
                    ("missing keys", missing),
                    ("unexpected keys", unexpected),
                    ("shape mismatch (file vs model)", resized),
                )
                if keys
            ]
            raise SmoothscopeError(f"--weights: does not fit the model: {'; '.join(parts)}")
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            message = " ".join(str(exc).split())
            raise SmoothscopeError(f"--weights: does not fit the model: {message}") from exc
    return model


def _load_inputs(source: str, n: int, size: int, channels: int, data_dir: str | None = None):
    import warnings

    import numpy as np
    import torch

    if source in ("auto", "cifar10", "fashion-mnist", "mnist"):
        from .data.real import load_images

        x, _, info = load_images(
            source, split="test", size=size, channels=channels, n=n, data_dir=data_dir
        )
        click.echo(f"inputs: {x.shape[0]} test images of {info.describe()}")
        return x
    if source == "digits":
        from .data.digits import sklearn_digits_dataset

        images, _ = sklearn_digits_dataset(size=size)
        order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
        x = images[order[:n]].float()
        return x.repeat(1, channels, 1, 1) if channels > 1 else x
    path = Path(source)
    if not path.is_file():
        raise SmoothscopeError(
            "--inputs: expected a dataset (auto, cifar10, fashion-mnist, mnist, digits) or a "
            f".npy/.pt file, got {source!r}"
        )
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            reason = " ".join(str(exc).split())
            raise SmoothscopeError(f"--inputs: expected a numeric .npy file, got {reason}") from exc
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf":
            kind = getattr(array, "dtype", type(array).__name__)
            raise SmoothscopeError(f"--inputs: expected a real-valued array, got dtype {kind}")
        x = torch.as_tensor(array)
    else:
        try:
            with warnings.catch_warnings():  # torch's pickle-protocol warning: not for users
                warnings.simplefilter("ignore", UserWarning)
                x = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SmoothscopeError(f"--inputs: expected a tensor file, got {reason}") from exc
    if not isinstance(x, torch.Tensor):
        raise SmoothscopeError(f"--inputs: expected a tensor [N, C, n, n], got {type(x).__name__}")
    if x.is_complex() or x.dtype == torch.bool:
        raise SmoothscopeError(f"--inputs: expected real numbers, got dtype {x.dtype}")
    return x[:n].float()


@cli.group()
def analyze() -> None:
    """Analyses of a model of yours (import path or zoo name + state_dict file)."""


@analyze.command("stability")
@click.option(
    "--model",
    "model_spec",
    required=True,
    help="Zoo name (e.g. vgg11) or 'package.module:callable' returning an nn.Module.",
)
@click.option(
    "--model-arg",
    "model_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keyword argument for the model builder (repeatable).",
)
@click.option("--weights", type=click.Path(), default=None, help="state_dict file (.pt).")
@click.option(
    "--inputs",
    default="digits",
    show_default=True,
    help="A dataset: 'digits' (scikit-learn's, resampled), 'auto', 'cifar10', "
    "'fashion-mnist', 'mnist' (test images, see --data-dir); or a .npy/.pt tensor [N, C, n, n].",
)
@_data_dir_option
@click.option("--n-inputs", type=click.IntRange(min=2), default=256, show_default=True)
@click.option(
    "--size",
    type=click.IntRange(min=4),
    default=32,
    show_default=True,
    help="Image side for --inputs given as a dataset.",
)
@click.option(
    "--channels",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Channels for --inputs given as a dataset (grey repeated, RGB to luma for 1).",
)
@click.option("--layers", default=None, help="Comma-separated module names and/or 'output'.")
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="Diffeomorphism temperature T [default: middle of the natural range].",
)
@click.option("--cut", type=float, default=3.0, show_default=True, help="Cut-off c.")
@click.option(
    "--diffeos",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Diffeomorphisms per input (with --target-rse: the first round).",
)
@click.option(
    "--target-rse",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Sample until R of the last layer has this relative standard error (e.g. 0.01); "
    "every draw is pooled.",
)
@click.option("--batch-size", type=click.IntRange(min=2), default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@_device_option
@click.option("--out", type=click.Path(), default=None, help="Write the table as JSON here.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def analyze_stability(
    model_spec,
    model_args,
    weights,
    inputs,
    data_dir,
    n_inputs,
    size,
    channels,
    layers,
    temperature,
    cut,
    diffeos,
    target_rse,
    batch_size,
    seed,
    device,
    out,
    no_progress,
) -> None:
    """D, G, R (paper B eq. 1) of every layer of a model."""
    from ._io import check_writable_file, save_json
    from .analysis.stability import relative_stability

    if out:
        check_writable_file(out, "--out")
    model = _load_model(model_spec, model_args, weights)
    x = _load_inputs(inputs, n_inputs, size, channels, _use_data_dir(data_dir))
    result = relative_stability(
        model,
        x,
        layers=layers.split(",") if layers else None,
        temperature=temperature,
        cut=cut,
        diffeos_per_input=diffeos,
        batch_size=batch_size,
        seed=seed,
        progress=_progress(no_progress),
        device=device,
        target_rse=target_rse,
    )
    width = max(len(r["layer"]) for r in result.rows)
    click.echo(
        f"{'layer'.ljust(width)}  depth   D (± se)              G (± se)              R (± se)"
    )
    for r in result.rows:
        click.echo(
            f"{r['layer'].ljust(width)}  {r['relative_depth']:.2f}   "
            f"{r['D']:.3e} ± {r['D_se']:.1e}   {r['G']:.3e} ± {r['G_se']:.1e}   "
            f"{r['R']:.3e} ± {r['R_se']:.1e}"
        )
    click.echo(
        f"T = {result.temperature:.3g}, c = {result.cut:g}, {result.n_inputs} inputs × "
        f"{result.diffeos_per_input} diffeomorphisms, device {result.extra['device']}"
    )
    if out:
        save_json(
            out,
            {
                "rows": result.rows,
                "temperature": result.temperature,
                "cut": result.cut,
                "n_inputs": result.n_inputs,
                "diffeos_per_input": result.diffeos_per_input,
                "rounds": result.extra["rounds"],
                "device": result.extra["device"],
            },
        )


def _register_commands() -> None:
    """Command groups that live with their packages."""
    from .profiling.cli import profile_command

    cli.add_command(profile_command)
    from .forensic.cli import forensic

    cli.add_command(forensic)


_register_commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0, or 2 for bad input)."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="smoothscope",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.exceptions.Abort, _Interrupted, KeyboardInterrupt):
        click.echo(
            "smoothscope: interrupted; finished cells are kept, rerun the same command to resume",
            err=True,
        )
        return 130
    except (click.ClickException, SmoothscopeError) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"smoothscope: error: {' '.join(message.split())}", err=True)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
