"""Command line: ``smoothscope list | run EXPERIMENT``.

Bad input is reported on one line (``smoothscope: error: ...``) with exit code 2.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

import click

from ._errors import SmoothscopeError
from .experiments import SCALES, available_experiments, get_experiment, run_experiment
from .sweep import EXECUTORS, ExecutorSpec

__all__ = ["claims_table", "main"]


def claims_table(claims: Sequence[dict[str, Any]], *, width: int | None = None) -> str:
    """A plain-text table of claims: id, verdict, measured value, interval, paper value."""

    def num(x: Any) -> str:
        return "—" if x is None else f"{x:.3g}"

    rows = [("claim", "verdict", "measured", "95% interval", "paper")]
    for c in claims:
        interval = c["uncertainty"]
        rows.append(
            (
                c["id"],
                c["verdict"],
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
            f"{c['id']}: {c['statement']} — rule: {c['rule']}",
            width=width,
            subsequent_indent="    ",
        )
        for c in claims
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(statements)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


@cli.command("run")
@click.argument("experiment")
@click.option(
    "--scale",
    type=click.Choice(SCALES),
    default="quick",
    show_default=True,
    help="quick: minutes on a laptop CPU; paper: the paper's counts.",
)
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
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default="process",
    show_default=True,
    help="Where cells run: this process, a local process pool, a Dask cluster, SLURM.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Workers of the process pool or of a local Dask cluster [default: CPU count].",
)
@click.option(
    "--address",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Dask scheduler address (default: start a local cluster).",
)
@click.option("--slurm-partition", default=None, help="SLURM partition.")
@click.option(
    "--slurm-time",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="SLURM time limit per cell, in minutes.",
)
@click.option(
    "--slurm-gpus", type=click.IntRange(min=0), default=0, show_default=True, help="GPUs per cell."
)
@click.option(
    "--slurm-cpus", type=click.IntRange(min=1), default=1, show_default=True, help="CPUs per cell."
)
@click.option(
    "--slurm-cluster",
    default=None,
    hidden=True,
    help="submitit cluster: 'local' or 'debug' run the SLURM code path without SLURM.",
)
def run_command(
    experiment: str,
    scale: str,
    seed: int,
    out: str | None,
    options: tuple[str, ...],
    mnist: str | None,
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
    overrides = dict(spec.config.parse_option(o) for o in options)
    if mnist is not None:
        if "mnist_path" not in {f for f in spec.config.__dataclass_fields__}:
            raise SmoothscopeError(f"--mnist: experiment {experiment!r} uses no digits")
        overrides["mnist_path"] = mnist
    where = ExecutorSpec(
        kind=executor,
        jobs=jobs or os.cpu_count() or 1,
        address=address,
        slurm_partition=slurm_partition,
        slurm_time=slurm_time,
        slurm_gpus=slurm_gpus,
        slurm_cpus=slurm_cpus,
        slurm_cluster=slurm_cluster,
    )
    results = run_experiment(
        experiment,
        scale=scale,
        seed=seed,
        out=out,
        options=overrides,
        progress=not no_progress,
        executor=where,
    )
    click.echo(claims_table(results["claims"]))
    click.echo(
        f"\nresults: {results['run_dir']}/results.json   figures: {results['run_dir']}/figures/"
    )


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
    except click.exceptions.Abort:
        click.echo("smoothscope: aborted", err=True)
        return 130
    except (click.ClickException, SmoothscopeError) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"smoothscope: error: {' '.join(message.split())}", err=True)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
