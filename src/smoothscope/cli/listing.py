"""``smoothscope list``: the experiments; ``list models``: the model zoo; ``list fields
EXPERIMENT``: an experiment's config fields (what ``--set KEY=VALUE`` takes)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import click

__all__ = ["list_command"]


def _first_line(text: str | None) -> str:
    for line in (text or "").strip().splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def _experiments() -> None:
    from ..experiments import available_experiments

    specs = available_experiments()
    width = max(len(s.name) for s in specs)
    for spec in specs:
        click.echo(f"{spec.name.ljust(width)}  {spec.description}")


@click.group("list", invoke_without_command=True)
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """List the experiments with a one-line description; `list models` lists the model zoo,
    `list fields EXPERIMENT` an experiment's config fields (the keys of --set)."""
    if ctx.invoked_subcommand is None:
        _experiments()


@list_command.command("experiments")
def list_experiments() -> None:
    """The experiments with a one-line description (what plain `list` prints)."""
    _experiments()


@list_command.command("models")
def list_models() -> None:
    """The model zoo: names for --model and build(), with what each builds."""
    from ..models import _registry, available_models

    names = available_models()
    width = max(len(n) for n in names)
    for name in names:
        text = _first_line(_registry._BUILDERS[name].__doc__).replace(":class:", "")
        click.echo(f"{name.ljust(width)}  {text.replace('`', '')}")
    click.echo(
        "\nany other model: --model package.module:callable (returning an nn.Module); "
        "keyword arguments: --model-arg KEY=VALUE"
    )


def _type_text(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    return text or str(hint).replace("typing.", "")


def _value_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) if value else "()"
    return str(value)


@list_command.command("fields")
@click.argument("experiment")
def list_fields(experiment: str) -> None:
    """EXPERIMENT's config fields: type, bounds, quick / standard / paper values, and the
    paper's value where the protocol ledger declares one."""
    from .._validate import Bound
    from ..experiments import get_experiment

    spec = get_experiment(experiment)
    cls = spec.config
    hints = typing.get_type_hints(cls)
    bounds = cls.field_bounds()
    ledger = cls.protocol()
    presets = {"quick": cls.scale_values("quick"), "paper": {}}
    if cls.STANDARD is not None:
        presets["standard"] = cls.scale_values("standard")
    rows = [("field", "type", "bounds", "quick", "standard", "paper", "paper's value (source)")]
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        bound = bounds.get(f.name)
        hint = hints[f.name]
        if bound is None:
            scalar = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint
            bound = Bound.default(scalar) if scalar in (int, float) else None
        if bound is None:
            bound_text = "existing folder" if f.name.endswith(("_dir", "_path")) else "—"
        else:
            low, high = (
                "—" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:g}"
                for v in (bound.low, bound.high)
            )
            bound_text = f"{'(' if bound.low_open else '['}{low}, {high}]"
        values = [
            _value_text(presets[s].get(f.name, default)) if s in presets else "—"
            for s in ("quick", "standard", "paper")
        ]
        paper = ledger.get(f.name)
        paper_text = (
            f"{_value_text(paper.display or paper.value)} ({paper.source})" if paper else ""
        )
        rows.append((f.name, _type_text(hint), bound_text, *values, paper_text))
    widths = [min(32, max(len(r[i]) for r in rows)) for i in range(6)]
    for row in rows:
        cells = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(row, widths, strict=False)]
        line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        click.echo(f"{line}  {row[6]}".rstrip())
    click.echo(f"\nset a field: smoothscope run {spec.name} --set KEY=VALUE")
