"""``smoothscope analyze stability``: D, G, R of every layer of a model of yours."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import SmoothscopeError
from ..models.loading import load_model
from ._common import _data_dir_option, _device_option, _progress, _use_data_dir

__all__ = ["analyze"]


def _load_inputs(source: str, n: int, size: int, channels: int, data_dir: str | None = None):
    import warnings

    import numpy as np
    import torch

    if source in ("auto", "cifar10", "fashion-mnist", "mnist"):
        from ..data.real import load_images

        x, _, info = load_images(
            source, split="test", size=size, channels=channels, n=n, data_dir=data_dir
        )
        click.echo(f"inputs: {x.shape[0]} test images of {info.describe()}")
        return x
    if source == "digits":
        from ..data.digits import sklearn_digits_dataset

        images, _ = sklearn_digits_dataset(size=size)
        order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
        x = images[order[:n]].float()
        return x.repeat(1, channels, 1, 1) if channels > 1 else x
    path = Path(source)
    if not path.is_file():
        raise SmoothscopeError(
            "--inputs: expected a dataset (auto, cifar10, fashion-mnist, mnist, digits) or a "
            f".npy/.pt file, got {source!r}"
        )
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            reason = " ".join(str(exc).split())
            raise SmoothscopeError(f"--inputs: expected a numeric .npy file, got {reason}") from exc
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf":
            kind = getattr(array, "dtype", type(array).__name__)
            raise SmoothscopeError(f"--inputs: expected a real-valued array, got dtype {kind}")
        x = torch.as_tensor(array)
    else:
        try:
            with warnings.catch_warnings():  # torch's pickle-protocol warning: not for users
                warnings.simplefilter("ignore", UserWarning)
                x = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SmoothscopeError(f"--inputs: expected a tensor file, got {reason}") from exc
    if not isinstance(x, torch.Tensor):
        raise SmoothscopeError(f"--inputs: expected a tensor [N, C, n, n], got {type(x).__name__}")
    if x.is_complex() or x.dtype == torch.bool:
        raise SmoothscopeError(f"--inputs: expected real numbers, got dtype {x.dtype}")
    return x[:n].float()


@click.group()
def analyze() -> None:
    """Analyses of a model of yours (import path or zoo name + state_dict file)."""


@analyze.command("stability")
@click.option(
    "--model",
    "model_spec",
    required=True,
    help="Zoo name (e.g. vgg11) or 'package.module:callable' returning an nn.Module.",
)
@click.option(
    "--model-arg",
    "model_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keyword argument for the model builder (repeatable).",
)
@click.option("--weights", type=click.Path(), default=None, help="state_dict file (.pt).")
@click.option(
    "--inputs",
    default="digits",
    show_default=True,
    help="A dataset: 'digits' (scikit-learn's, resampled), 'auto', 'cifar10', "
    "'fashion-mnist', 'mnist' (test images, see --data-dir); or a .npy/.pt tensor [N, C, n, n].",
)
@_data_dir_option
@click.option("--n-inputs", type=click.IntRange(min=2), default=256, show_default=True)
@click.option(
    "--size",
    type=click.IntRange(min=4),
    default=32,
    show_default=True,
    help="Image side for --inputs given as a dataset.",
)
@click.option(
    "--channels",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Channels for --inputs given as a dataset (grey repeated, RGB to luma for 1).",
)
@click.option("--layers", default=None, help="Comma-separated module names and/or 'output'.")
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="Diffeomorphism temperature T [default: middle of the natural range].",
)
@click.option("--cut", type=float, default=3.0, show_default=True, help="Cut-off c.")
@click.option(
    "--diffeos",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Diffeomorphisms per input (with --target-rse: the first round).",
)
@click.option(
    "--target-rse",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Sample until R of the last layer has this relative standard error (e.g. 0.01); "
    "every draw is pooled.",
)
@click.option("--batch-size", type=click.IntRange(min=2), default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
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
    """D, G, R (paper B eq. 1) of every layer of a model."""
    from .._io import check_writable_file, save_json
    from ..analysis.stability import relative_stability

    if out:
        check_writable_file(out, "--out")
    model = load_model(model_spec, model_args, weights)
    x = _load_inputs(inputs, n_inputs, size, channels, _use_data_dir(data_dir))
    result = relative_stability(
        model,
        x,
        layers=layers.split(",") if layers else None,
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
            },
        )
