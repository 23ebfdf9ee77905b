"""``smoothscope run EXPERIMENT``: one experiment, its claims printed."""

from __future__ import annotations

import click

from .._errors import SmoothscopeError
from ..experiments import get_experiment, run_experiment
from ._common import (
    MAX_SEED,
    _check_reachable,
    _data_dir_option,
    _device_option,
    _executor_options,
    _executor_spec,
    _progress,
    _scale_option,
    _use_data_dir,
    _use_device,
    bounded,
    claims_table,
)

__all__ = ["run_command"]


@click.command("run")
@click.argument("experiment")
@_scale_option
@click.option(
    "--seed",
    type=bounded(int, 0, MAX_SEED),
    default=0,
    show_default=True,
    help="Seed of the whole run.",
)
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
    from ..report import planned_warnings, run_view, summary_text

    config = spec.config.preset(scale, seed=seed, **overrides)
    from pathlib import Path

    from ..experiments._base import _check_run_dir

    # a bad --out is refused in one line, before any warning (issue 28); run_experiment
    # checks it again
    run_dir = Path(out) if out is not None else Path("runs") / f"{experiment}-{scale}-seed{seed}"
    _check_run_dir(run_dir, config.to_dict(), experiment, scale)
    _check_reachable(where)
    warnings = planned_warnings(experiment, config, scale)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    results = run_experiment(
        experiment,
        scale=scale,
        seed=seed,
        out=out,
        options=overrides,
        progress=_progress(no_progress),
        executor=where,
    )
    view = run_view(results)
    click.echo(claims_table(results["claims"]))
    for role, text in results.get("data", {}).items():
        click.echo(f"data ({role}): {text}")
    click.echo("\n" + summary_text(view["claims"], view["warnings"]))
    click.echo(
        f"\nresults: {results['run_dir']}/results.json   figures: {results['run_dir']}/figures/"
    )
