"""``smoothscope list``: the experiments with a one-line description."""

from __future__ import annotations

import click

from ..experiments import available_experiments

__all__ = ["list_experiments"]


@click.command("list")
def list_experiments() -> None:
    """List the experiments with a one-line description."""
    specs = available_experiments()
    width = max(len(s.name) for s in specs)
    for spec in specs:
        click.echo(f"{spec.name.ljust(width)}  {spec.description}")
