"""``smoothscope reproduce`` (every experiment and one HTML report) and ``smoothscope report DIR``
(the report rebuilt from finished runs)."""

from __future__ import annotations

from typing import Any

import click

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
)

__all__ = ["report_command", "reproduce_command"]


def _print_summary(result: dict[str, Any]) -> None:
    """The report's top as text: tallies, each claim that did not reproduce with its cause,
    the warnings (substituted data, undertrained models, the scale), the report's path."""
    from ..report import summary_text

    click.echo(summary_text(result["claims"], result.get("warnings", ())))
    click.echo(f"\nreport: {result['report']}")


def _warn(line: str) -> None:
    click.echo(f"warning: {line}", err=True)


@click.command("reproduce")
@_scale_option
@click.option(
    "--seed",
    type=bounded(int, 0, MAX_SEED),
    default=0,
    show_default=True,
    help="Seed of every experiment.",
)
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
    from ..report import reproduce

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
    _check_reachable(where)  # before the warnings reproduce prints
    result = reproduce(
        scale=scale,
        out=out,
        only=only or None,
        seed=seed,
        executor=where,
        progress=_progress(no_progress),
        device=device,
        notify=_warn,
    )
    for name, info in result["experiments"].items():
        state = "reused (finished earlier)" if info["status"] == "reused" else "ran"
        click.echo(f"{name}: {state} -> {info['run_dir']}")
    click.echo("")
    _print_summary(result)


@click.command("report")
@click.argument("directory", type=click.Path())
def report_command(directory: str) -> None:
    """Rebuild DIRECTORY/report.html from the results of `reproduce`, running nothing."""
    from .._io import check_path_name, check_writable_dir
    from ..report import build_report

    # report.html is written last: check the folder can take it before reading anything
    if check_path_name(directory, "DIRECTORY").is_dir():  # a missing one: build_report says so
        check_writable_dir(directory, "DIRECTORY")

    _print_summary(build_report(directory))
