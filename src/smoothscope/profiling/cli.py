"""``smoothscope profile``: the command line of :func:`smoothscope.profiling.profile`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from .._errors import SmoothscopeError

__all__ = ["load_profile_inputs", "profile_command"]

BUILT_IN = ("digits", "fashion-mnist", "mnist", "cifar10")


def _model_channels(model: torch.nn.Module) -> int:
    """Input channels of the first module that declares them (1 when none does)."""
    for module in model.modules():
        channels = getattr(module, "in_channels", None)
        if isinstance(channels, int) and channels > 0:
            return channels
    return 1


def _png_folder(folder: Path) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise SmoothscopeError(f"--inputs: expected PNG images in the folder {folder}, found none")
    images = []
    for path in files:
        try:
            with Image.open(path) as img:
                mode = "L" if img.mode in ("L", "I", "1") else "RGB"
                images.append(np.asarray(img.convert(mode)))
        except (OSError, UnidentifiedImageError) as exc:
            raise SmoothscopeError(f"--inputs: cannot read {path.name} as a PNG ({exc})") from exc
    shapes = {a.shape for a in images}
    if len(shapes) != 1:
        raise SmoothscopeError(f"--inputs: expected PNGs of one size, got sizes {sorted(shapes)}")
    array = np.stack(images).astype(np.float32) / 255.0
    if array.ndim == 3:
        array = array[:, None]
    else:
        array = array.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(array))


def _array_file(path: Path) -> torch.Tensor:
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise SmoothscopeError(
            f"--inputs: {path.name} holds Python objects (pickles are refused); save a plain "
            "numeric array"
        ) from exc
    except OSError as exc:
        raise SmoothscopeError(f"--inputs: cannot read {path} as .npy/.npz ({exc})") from exc
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if len(loaded.files) != 1:
                raise SmoothscopeError(
                    f"--inputs: expected one array in {path.name}, got {loaded.files}"
                )
            array = loaded[loaded.files[0]]
    else:
        array = loaded
    if array.dtype.kind not in "fiu":
        raise SmoothscopeError(
            f"--inputs: expected a real numeric array, got dtype {array.dtype} in {path.name}"
        )
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if x.dim() == 3:
        x = x[:, None]
    if x.dim() != 4:
        raise SmoothscopeError(
            f"--inputs: expected images [N, H, W] or [N, C, H, W], got shape {list(x.shape)}"
        )
    return x


def load_profile_inputs(
    source: str, *, n: int, size: int, channels: int, data_dir: str | None = None, seed: int = 0
) -> tuple[torch.Tensor, str]:
    """Images ``[N, C, H, W]`` (float32) for a profile and their description.

    ``source`` is a built-in set (:data:`BUILT_IN`, through
    :func:`smoothscope.data.real.load_images`: test split, ``size`` pixels, ``channels``), a
    ``.npy``/``.npz`` array ``[N, H, W]`` or ``[N, C, H, W]``, or a folder of PNG images.
    """
    if source in BUILT_IN:
        from ..data.real import load_images

        images, _, info = load_images(
            source, split="test", size=size, channels=channels, n=n, data_dir=data_dir, seed=seed
        )
        return images, f"{info.describe()}, {images.shape[0]} test images at {size}×{size}"
    path = Path(source)
    if path.is_dir():
        x = _png_folder(path)
    elif path.is_file() and path.suffix in (".npy", ".npz"):
        x = _array_file(path)
    else:
        raise SmoothscopeError(
            f"--inputs: expected one of {', '.join(BUILT_IN)}, a .npy/.npz file or a folder of "
            f"PNGs, got {source!r}"
        )
    if not bool(torch.isfinite(x).all()):
        raise SmoothscopeError(f"--inputs: {path.name} holds NaN or inf values")
    if x.shape[1] != channels and x.shape[1] == 1:
        x = x.repeat(1, channels, 1, 1)
    return x[:n], f"{path.name}, {min(n, x.shape[0])} images {list(x.shape[1:])}"


def _summary(result: Any) -> str:
    from .core import Profile

    if not isinstance(result, Profile):
        rows = result.rows
        n = sum(not r["covers_zero"] for r in rows)
        return f"{n} of {len(rows)} differences have a 95 % interval that excludes 0"
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


@click.command("profile")
@click.option("--model", "model_spec", default=None, help="Zoo name or 'package.module:callable'.")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE")
@click.option("--weights", type=click.Path(), default=None, help="state_dict file (.pt).")
@click.option(
    "--inputs",
    default="digits",
    show_default=True,
    help="digits | fashion-mnist | mnist | cifar10, a .npy/.npz array or a folder of PNGs.",
)
@click.option("--data-dir", type=click.Path(), default=None, help="Folder of dataset files.")
@click.option("--n-inputs", type=click.IntRange(min=2, max=100_000), default=128, show_default=True)
@click.option("--size", type=click.IntRange(min=8, max=512), default=32, show_default=True)
@click.option(
    "--channels",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Input channels [default: the model's first layer's].",
)
@click.option("--lenses", default="A,B,C,D", show_default=True, help="Lenses to measure.")
@click.option("--layers", default=None, help="Comma-separated module names and/or 'output'.")
@click.option("--quick", is_flag=True, help="A rough profile in about a minute.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--compare",
    nargs=2,
    type=click.Path(),
    default=None,
    metavar="A.json B.json",
    help="Compare two profiles (profile.json files) instead of measuring.",
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
    size: int,
    channels: int | None,
    lenses: str,
    layers: str | None,
    quick: bool,
    seed: int,
    compare: tuple[str, str] | None,
    out: str | None,
    no_progress: bool,
) -> None:
    """All four papers' lenses on one model, layer by layer, in one card (card.html).

    A: nonsmoothness along smooth input videos; B: D, G, R; C: weight-path spectra and h;
    D: output jumps as the resolution grows (fully convolutional models).
    """
    from .core import _check_lenses, compare_profiles, load_profile, profile, write_profile_dir

    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise SmoothscopeError(f"--out: expected a directory, got the file {out}")
    if compare:
        first, second = (load_profile(p) for p in compare)
        result: Any = compare_profiles(first, second)
        folder = Path(out or "runs/profile-compare")
    else:
        if model_spec is None:
            raise SmoothscopeError("--model: required (or give --compare A.json B.json)")
        from ..models.loading import load_model

        chosen = _check_lenses(lenses)
        model = load_model(model_spec, model_args, weights)
        channels = channels or _model_channels(model)
        x, described = load_profile_inputs(
            inputs, n=n_inputs, size=size, channels=channels, data_dir=data_dir, seed=seed
        )
        from .core import check_model_accepts
        from .lenses import select_layers

        check_model_accepts(model, x)
        names = select_layers(model, layers.split(",") if layers else None)
        result = profile(
            model,
            x,
            lenses=chosen,
            layers=names,
            seed=seed,
            quick=quick,
            progress=not no_progress and os.isatty(2),
            name=model_spec,
            inputs_name=described,
        )
        safe = model_spec.replace(":", "-").replace("/", "-").replace(".", "-")
        folder = Path(out or f"runs/profile-{safe}")
    files = write_profile_dir(result, folder)
    click.echo(_summary(result))
    click.echo("\n" + "   ".join(f"{k}: {v}" for k, v in files.items()))
