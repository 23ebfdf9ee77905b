"""``smoothscope analyze stability``: D, G, R of every layer of a model of yours."""

from __future__ import annotations

import click

from .._errors import SmoothscopeError
from ._common import (
    MAX_SEED,
    _data_dir_option,
    _device_option,
    _progress,
    _use_data_dir,
    bounded,
)
from ._models import (
    INPUTS_HELP,
    LAYERS_HELP,
    OUTPUT_HELP,
    model_and_inputs,
    model_options,
)

__all__ = ["analyze"]

MAX_INPUTS = 100_000
MAX_DIFFEOS = 512
MAX_BATCH = 4096
MAX_PASS_BYTES = 8e9
"""Largest forward-pass input ``batch × (1 + 2·diffeos) × C × n × n × 8`` bytes (float64 copies
of the clean, deformed and noisy images before the model's activations)."""
IMAGE_BYTES = 3 * 32 * 32 * 8
"""Bytes of one float64 image at the defaults (3 × 32 × 32), the unit of the costs stated."""


def _load_inputs(source: str, n: int, size: int, channels: int, data_dir: str | None = None):
    """Images ``[N, C, n, n]`` as ``analyze`` reads ``--inputs`` (kept for callers of the old
    helper; see :func:`smoothscope.data.user_inputs.load_inputs`)."""
    from ..data.user_inputs import BUILT_IN, load_inputs

    inputs = load_inputs(
        source,
        n=n,
        size=size if source in BUILT_IN else None,
        channels=channels,
        data_dir=data_dir,
    )
    return inputs.images


@click.group()
def analyze() -> None:
    """Analyses of a model of yours (import path or zoo name + state_dict file)."""


@analyze.command("stability")
@model_options
@click.option("--inputs", default="digits", show_default=True, help=INPUTS_HELP)
@_data_dir_option
@click.option(
    "--n-inputs",
    type=bounded(int, 2, MAX_INPUTS, unit_bytes=IMAGE_BYTES, unit="input of 3×32×32"),
    default=256,
    show_default=True,
)
@click.option(
    "--size",
    type=bounded(int, 4, 1024),
    default=None,
    help="Image side for a built-in --inputs set [default: the model's, else 32].",
)
@click.option(
    "--channels",
    type=bounded(int, 1, 64),
    default=None,
    help="Channels of the inputs [default: the model's first layer's].",
)
@click.option("--layers", default=None, help=LAYERS_HELP)
@click.option("--output", "output", default=None, help=OUTPUT_HELP)
@click.option(
    "--temperature",
    type=bounded(float, 0, 1, low_open=True),
    default=None,
    help="Diffeomorphism temperature T in (0, 1] [default: middle of the natural range].",
)
@click.option(
    "--cut",
    type=bounded(float, 1, 64, low_open=True),
    default=3.0,
    show_default=True,
    help="Cut-off c in (1, 64].",
)
@click.option(
    "--diffeos",
    type=bounded(
        int, 1, MAX_DIFFEOS, unit_bytes=2 * 64 * IMAGE_BYTES, unit="draw (batch 64, 3×32×32)"
    ),
    default=4,
    show_default=True,
    help="Diffeomorphisms per input (with --target-rse: the first round).",
)
@click.option(
    "--target-rse",
    type=bounded(float, 0, 1, low_open=True),
    default=None,
    help="Sample until R of the last layer has this relative standard error (e.g. 0.01); "
    "every draw is pooled.",
)
@click.option(
    "--batch-size",
    type=bounded(int, 2, MAX_BATCH, unit_bytes=9 * IMAGE_BYTES, unit="input (3×32×32, 4 draws)"),
    default=64,
    show_default=True,
)
@click.option("--seed", type=bounded(int, 0, MAX_SEED), default=0, show_default=True)
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
    output,
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
    """D, G, R (paper B eq. 1) of every layer of a model.

    Layers: the model's representation_layers() (the zoo), else its top-level children and the
    output; modules that return no tensor are skipped with a note. Inputs and channels follow
    the model. The input batch of one forward pass, batch × (1 + 2·diffeos) images, is bounded
    to 8 GB.
    """
    from .._io import check_writable_file, save_json
    from ..analysis.stability import relative_stability

    if out:
        check_writable_file(out, "--out")
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
    x = setup.inputs.images
    pass_bytes = min(batch_size, x.shape[0]) * (1 + 2 * diffeos) * x[0].numel() * 8
    if pass_bytes > MAX_PASS_BYTES:
        raise SmoothscopeError(
            f"--batch-size × (1 + 2 × --diffeos): {min(batch_size, x.shape[0])} × "
            f"{1 + 2 * diffeos} images of {list(x.shape[1:])} need {pass_bytes / 1e9:.1f} GB per "
            f"forward pass before any activation (at most {MAX_PASS_BYTES / 1e9:g} GB); lower "
            "one of them"
        )
    result = relative_stability(
        setup.adapted.module,
        x,
        layers=setup.adapted.layers,
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
    for reason in result.extra.get("undefined", {}).items():
        click.echo(f"note: layer {reason[0]!r} has undefined D, G, R: {reason[1]}")
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
                "model": model_spec,
                "weights": setup.weights,
                "inputs": setup.inputs.source,
                "output": setup.adapted.output,
                "notes": setup.notes,
            },
        )
