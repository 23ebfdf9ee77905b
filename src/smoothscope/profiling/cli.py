"""``smoothscope profile``: the command line of :func:`smoothscope.profiling.profile`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from .._errors import SmoothscopeError
from ..cli._common import MAX_SEED, _use_data_dir, bounded
from ..cli._models import INPUTS_HELP, LAYERS_HELP, OUTPUT_HELP, model_options

__all__ = ["profile_command"]

MAX_INPUTS = 100_000
IMAGE_BYTES = 3 * 32 * 32 * 4
"""Bytes of one float32 3 × 32 × 32 input, the unit of the stated cost of --n-inputs."""


def _summary(result: Any) -> str:
    from .core import Profile

    if not isinstance(result, Profile):
        return result.summary()
    lines = []
    a = {r["layer"]: r for r in result.lenses.get("A", {}).get("layers", [])}
    b = {r["layer"]: r for r in result.lenses.get("B", {}).get("layers", [])}
    c = {r["layer"]: r for r in result.lenses.get("C", {}).get("layers", [])}
    width = max(len(n) for n in ["input", *result.layers])
    lines.append(f"{'layer'.ljust(width)}  peak share  R          h")
    for name in ["input", *result.layers]:
        ra, rb, rc = a.get(name, {}), b.get(name, {}), c.get(name, {})
        h = rc.get("h")
        h_text = rc.get("path_kind", "—") if h is None or h != h else f"{h:.2f}"
        peak = ra.get("peak_share")
        r_value = rb.get("R")
        lines.append(
            f"{name.ljust(width)}  {'—' if peak is None else f'{peak:.3f}':10}  "
            f"{'—' if r_value is None else f'{r_value:.3g}':9}  {h_text}"
        )
    d = result.lenses.get("D")
    if d is not None:
        lines.append(
            f"lens D: β = {d['beta']:.2f} ± {d['beta_se']:.2f}"
            if d.get("applies")
            else f"lens D: {d.get('reason')}"
        )
    return "\n".join(lines)


def _side(text: str) -> list[Path]:
    """A side of ``--compare``: profile.json files or profile folders, comma-separated."""
    paths = [Path(p.strip()) for p in text.split(",") if p.strip()]
    if not paths:
        raise SmoothscopeError(f"--compare: expected profile.json files, got {text!r}")
    return paths


@click.command("profile")
@model_options
@click.option("--inputs", default="digits", show_default=True, help=INPUTS_HELP)
@click.option("--data-dir", type=click.Path(), default=None, help="Folder of dataset files.")
@click.option(
    "--n-inputs",
    type=bounded(int, 2, MAX_INPUTS, unit_bytes=IMAGE_BYTES, unit="input of 3×32×32"),
    default=128,
    show_default=True,
)
@click.option(
    "--size",
    type=bounded(int, 8, 512),
    default=None,
    help="Image side for a built-in --inputs set [default: the model's, else 32].",
)
@click.option(
    "--channels",
    type=bounded(int, 1, 64),
    default=None,
    help="Input channels [default: the model's first layer's].",
)
@click.option("--lenses", default="A,B,C,D", show_default=True, help="Lenses to measure.")
@click.option("--layers", default=None, help=LAYERS_HELP)
@click.option("--output", default=None, help=OUTPUT_HELP)
@click.option("--quick", is_flag=True, help="A rough profile in about a minute.")
@click.option("--seed", type=bounded(int, 0, MAX_SEED), default=0, show_default=True)
@click.option(
    "--compare",
    nargs=2,
    default=None,
    metavar="A B",
    help="Compare profiles instead of measuring: each side one profile.json (or its folder), "
    "or several of one architecture, comma-separated (initialisations or seeds: their spread "
    "enters the intervals).",
)
@click.option("--out", type=click.Path(), default=None, help="Output folder.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def profile_command(
    model_spec: str | None,
    model_args: tuple[str, ...],
    weights: str | None,
    inputs: str,
    data_dir: str | None,
    n_inputs: int,
    size: int | None,
    channels: int | None,
    lenses: str,
    layers: str | None,
    output: str | None,
    quick: bool,
    seed: int,
    compare: tuple[str, str] | None,
    out: str | None,
    no_progress: bool,
) -> None:
    """All four papers' lenses on one model, layer by layer, in one card (card.html).

    A: nonsmoothness along smooth input videos; B: D, G, R; C: weight-path spectra and h;
    D: output jumps as the resolution grows (fully convolutional models). profile.json records
    the weights file (path, sha256), the inputs, the seed and the output analysed.
    """
    from .._io import check_writable_dir
    from .compare import compare_profiles
    from .core import _check_lenses, profile
    from .files import load_profile, write_profile_dir

    result: Any
    if compare:
        folder = check_writable_dir(out or "runs/profile-compare", "--out")
        side_a, side_b = ([load_profile(p) for p in _side(text)] for text in compare)
        result = compare_profiles(side_a, side_b)
    else:
        if model_spec is None:
            raise SmoothscopeError("--model: required (or give --compare A B)")
        chosen = _check_lenses(lenses)
        safe = model_spec.replace(":", "-").replace("/", "-").replace(".", "-")[:200]
        folder = check_writable_dir(out or f"runs/profile-{safe}", "--out")
        from ..cli._models import model_and_inputs

        setup = model_and_inputs(
            model_spec,
            model_args,
            weights,
            inputs,
            n=n_inputs,
            size=size,
            channels=channels,
            data_dir=_use_data_dir(data_dir),
            seed=seed,
            output=output,
            layers=layers,
        )
        result = profile(
            setup.adapted.module,
            setup.inputs.images,
            lenses=chosen,
            layers=setup.adapted.layers,
            seed=seed,
            quick=quick,
            progress=not no_progress and os.isatty(2),
            name=model_spec,
            inputs_name=setup.inputs.description,
            weights=setup.weights,
            inputs_source=setup.inputs.source,
        )
        result.output = setup.adapted.output
        result.notes = setup.notes
    files = write_profile_dir(result, folder)
    click.echo(_summary(result))
    click.echo("\n" + "   ".join(f"{k}: {v}" for k, v in files.items()))
