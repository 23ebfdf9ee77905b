"""Command line: ``smoothscope list | run EXPERIMENT | reproduce | report DIR | analyze | profile
| forensic``.

Bad input is reported on one line (``smoothscope: error: ...``) with exit code 2; Ctrl-C ends
with one line and exit code 130, SIGTERM (``docker stop``, systemd, SLURM) like Ctrl-C with
exit code 143 (128 + 15, what those supervisors expect of a process ended by SIGTERM); in both
cases the pool workers are stopped and a rerun of the same command resumes. Progress bars are
shown only when stderr is a terminal.

One command per module: ``listing`` (list), ``run``, ``reproduce`` (reproduce, report),
``analyze``; ``_common`` holds the options and helpers they share. ``profile`` and ``forensic``
live with their packages (:mod:`smoothscope.profiling.cli`, :mod:`smoothscope.forensic.cli`).
The commands are imported when they run (:class:`_Group`): ``smoothscope --help`` imports
neither torch nor NumPy.
"""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Sequence
from typing import Any

import click

from .._errors import SmoothscopeError

__all__ = ["claims_table", "main"]

COMMANDS: dict[str, tuple[str, str, str]] = {
    "list": (
        "smoothscope.cli.listing",
        "list_command",
        "The experiments; `list models`, `list fields EXPERIMENT`.",
    ),
    "run": ("smoothscope.cli.run", "run_command", "Run EXPERIMENT and print its claims."),
    "reproduce": (
        "smoothscope.cli.reproduce",
        "reproduce_command",
        "Run every experiment and write one HTML report.",
    ),
    "report": (
        "smoothscope.cli.reproduce",
        "report_command",
        "Rebuild DIRECTORY/report.html, running nothing.",
    ),
    "analyze": (
        "smoothscope.cli.analyze",
        "analyze",
        "Analyses of a model of yours (D, G, R per layer).",
    ),
    "profile": (
        "smoothscope.profiling.cli",
        "profile_command",
        "All four papers' lenses on one model, in one card.",
    ),
    "forensic": (
        "smoothscope.forensic.cli",
        "forensic",
        "Detect network-processed video by nonsmoothness.",
    ),
}
"""Command name → (module, attribute, short help); a command's module is imported when the
command runs or shows its own help."""

INTERRUPTED = 130
TERMINATED = 143


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM, carried past click (which would print an empty line and a generic
    'Aborted!')."""

    def __init__(self, terminated: bool = False) -> None:
        super().__init__("terminated" if terminated else "interrupted")
        self.terminated = terminated


class _Terminated(KeyboardInterrupt):
    """Raised by the SIGTERM handler: every cleanup written for Ctrl-C runs for it too."""


class _Group(click.Group):
    """The top group: commands imported on first use; Ctrl-C and SIGTERM carried out."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module, attribute, short = COMMANDS[name]
            command = getattr(importlib.import_module(module), attribute)
            command.short_help = short
            self.commands[name] = command
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, self.commands[name].get_short_help_str(80))
            if name in self.commands
            else (name, COMMANDS[name][2])
            for name in self.list_commands(ctx)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Interrupted(isinstance(exc, _Terminated)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="smoothscope")
def cli() -> None:
    """smoothscope: measure, model and exploit the smoothness of neural networks."""


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: the cleanup is running
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0; 2 for bad input; 130 after Ctrl-C; 143 after
    SIGTERM)."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="smoothscope",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.exceptions.Abort, _Interrupted, KeyboardInterrupt) as exc:
        terminated = isinstance(exc, _Terminated) or getattr(exc, "terminated", False)
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        click.echo(
            f"smoothscope: {what}; finished cells are kept, rerun the same command to resume",
            err=True,
        )
        return TERMINATED if terminated else INTERRUPTED
    except (click.ClickException, SmoothscopeError) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"smoothscope: error: {' '.join(message.split())}", err=True)
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    return 0


def __getattr__(name: str) -> Any:
    """The helpers other modules and tests import from here, loaded on first use."""
    if name in ("claims_table", "_progress"):
        return getattr(importlib.import_module("smoothscope.cli._common"), name)
    if name == "_load_inputs":
        return importlib.import_module("smoothscope.cli.analyze")._load_inputs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
