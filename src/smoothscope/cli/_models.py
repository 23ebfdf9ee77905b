"""What ``analyze`` and ``profile`` share: the model options, the inputs, and one setup that
builds the model, reads the inputs it needs and adapts it
(:mod:`smoothscope.models.adapter`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click

__all__ = ["INPUTS_HELP", "LAYERS_HELP", "OUTPUT_HELP", "Setup", "model_and_inputs"]

INPUTS_HELP = (
    "A built-in set: digits (scikit-learn's, bundled), auto, cifar10, fashion-mnist, mnist "
    "(test images, see --data-dir); or a .npy/.npz/.pt file [N, C, H, W] or [N, H, W], or a "
    "folder of images."
)
LAYERS_HELP = (
    "Comma-separated module names or patterns ('layer*': layer1..layer4, 'layer1.*': its "
    "blocks, '**.conv1': at any depth) and/or 'output' [default: the model's "
    "representation_layers(), else its top-level children and the output]."
)
OUTPUT_HELP = (
    "When the model returns a tuple or list: the index of the tensor to analyse; a dict: its "
    "key [default: the first tensor, with a note]."
)


def model_options(fn):
    """``--model``, ``--model-arg`` and ``--weights``."""
    fn = click.option(
        "--weights",
        type=click.Path(),
        default=None,
        help="state_dict file (.pt), loaded with weights_only=True.",
    )(fn)
    fn = click.option(
        "--model-arg",
        "model_args",
        multiple=True,
        metavar="KEY=VALUE",
        help="Keyword argument for the model builder (repeatable; VALUE read as JSON).",
    )(fn)
    return click.option(
        "--model",
        "model_spec",
        default=None,
        help="Zoo name (`smoothscope list models`) or 'package.module:callable' returning an "
        "nn.Module.",
    )(fn)


@dataclass
class Setup:
    """A model ready to measure and its inputs."""

    model: Any
    adapted: Any
    inputs: Any
    weights: dict[str, str] | None
    notes: list[str] = field(default_factory=list)


def model_and_inputs(
    spec: str | None,
    args: tuple[str, ...],
    weights: str | None,
    source: str,
    *,
    n: int,
    size: int | None,
    channels: int | None,
    data_dir: str | None,
    seed: int,
    output: str | None,
    layers: str | None,
) -> Setup:
    """Build ``spec``, read ``source`` with the model's channels and side (inferred when the
    options leave them out), check the model on the inputs and settle its output and layers;
    prints the notes. Every refusal is a one-line :class:`~smoothscope.SmoothscopeError`."""
    from .._errors import SmoothscopeError
    from ..data.user_inputs import BUILT_IN, load_inputs
    from ..models.adapter import adapt_model, infer_input_size, input_spec
    from ..models.loading import load_model, weights_record

    if spec is None:
        raise SmoothscopeError("--model: required (a zoo name or 'package.module:callable')")
    model = load_model(spec, args, weights)
    model_channels, model_size = input_spec(model)
    channels = channels or model_channels
    if source in BUILT_IN and size is None:
        size = model_size
        if size is None:
            size, reason = infer_input_size(model, model_channels or channels or 1)
            if size is None:
                raise SmoothscopeError(
                    f"--size: the model accepts none of the usual image sides ({reason}); "
                    "give --size"
                )
    elif source not in BUILT_IN:
        if size is not None and model_size is not None and size != model_size:
            raise SmoothscopeError(
                f"--size: the model was built for {model_size}×{model_size} images, got {size}"
            )
        size = size or model_size
    inputs = load_inputs(
        source, n=n, size=size, channels=channels, data_dir=data_dir, seed=seed
    )
    adapted = adapt_model(model, inputs.images, output=output, layers=layers)
    notes = [f"inputs: {note}" for note in inputs.notes] + list(adapted.notes)
    click.echo(f"inputs: {inputs.description}")
    for note in notes:
        click.echo(f"note: {note}")
    record = weights_record(weights) if weights else None
    return Setup(model, adapted, inputs, record, notes)
