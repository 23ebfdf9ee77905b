"""Command line: ``smoothscope list | run EXPERIMENT | reproduce | report DIR | analyze``.

Bad input is reported on one line (``smoothscope: error: ...``) with exit code 2; Ctrl-C ends
with one line and exit code 130 (a rerun of the same command resumes). Progress bars are shown
only when stderr is a terminal.

One command per module: ``listing`` (list), ``run``, ``reproduce`` (reproduce, report),
``analyze``; ``_common`` holds the options and helpers they share. ``profile`` and ``forensic``
live with their packages (:mod:`smoothscope.profiling.cli`, :mod:`smoothscope.forensic.cli`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from .._errors import SmoothscopeError
from ..forensic.cli import forensic
from ..profiling.cli import profile_command
from ._common import _progress as _progress
from ._common import claims_table as claims_table
from .analyze import _load_inputs as _load_inputs
from .analyze import analyze
from .listing import list_experiments
from .reproduce import report_command, reproduce_command
from .run import run_command

__all__ = ["claims_table", "main"]


class _Interrupted(Exception):
    """Ctrl-C, carried past click (which would print an empty line and a generic 'Aborted!')."""


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smoothscope")
def cli() -> None:
    """smoothscope: measure, model and exploit the smoothness of neural networks."""


cli.add_command(list_experiments)
cli.add_command(run_command)
cli.add_command(reproduce_command)
cli.add_command(report_command)
cli.add_command(analyze)
# command groups that live with their packages
cli.add_command(profile_command)
cli.add_command(forensic)


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
