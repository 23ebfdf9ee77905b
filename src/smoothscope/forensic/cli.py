"""``smoothscope forensic fit | score``: train the detector, score the user's videos."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from .._errors import SmoothscopeError

__all__ = ["forensic"]


def _check_writable_file(path: Path, option: str) -> None:
    if path.exists() and path.is_dir():
        raise SmoothscopeError(f"{option}: expected a file path, got the folder {path}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise SmoothscopeError(f"{option}: expected a writable folder for {path}, got {parent}")


@click.group()
def forensic() -> None:
    """Detect that a video went through a neural network (paper A, Fig. 7)."""


@forensic.command("fit")
@click.option("--out", required=True, type=click.Path(), help="Where to write the detector (JSON).")
@click.option(
    "--scale",
    type=click.Choice(("quick", "standard", "paper")),
    default="standard",
    show_default=True,
    help="Protocol of the training videos and networks (the forensic experiment's presets).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--set", "options", multiple=True, metavar="KEY=VALUE", help="Config field.")
@click.option("--work", type=click.Path(), default=None, help="Cell folder [default: temporary].")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--no-progress", is_flag=True)
def fit(out, scale, seed, options, work, jobs, no_progress) -> None:
    """Train the detector on authentic and network-processed videos."""
    from ..experiments.forensic import ForensicConfig, fit_default_detector
    from ..sweep import ExecutorSpec, open_executor

    out = Path(out)
    _check_writable_file(out, "--out")
    overrides = dict(ForensicConfig.parse_option(o) for o in options)
    config = ForensicConfig.preset(scale, seed=seed, **overrides)
    spec = ExecutorSpec("inprocess") if jobs == 1 else ExecutorSpec("process", jobs=jobs)
    with tempfile.TemporaryDirectory(prefix="smoothscope-forensic-") as tmp:
        folder = Path(work) if work else Path(tmp)
        with open_executor(spec) as pool:
            detector = fit_default_detector(config, folder, executor=pool, progress=not no_progress)
    detector.meta["scale"] = scale
    detector.save(out)
    click.echo(
        f"detector written to {out} ({detector.meta['n_train']} videos, "
        f"{detector.meta['n_positive']} processed by a network)"
    )


@forensic.command("score")
@click.argument("detector", type=click.Path())
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@click.option(
    "--maps",
    type=click.Path(),
    default="forensic-maps",
    show_default=True,
    help="Folder for the PNG maps of peaks per pixel.",
)
@click.option("--json", "json_out", type=click.Path(), default=None, help="Also write JSON here.")
@click.option(
    "--window",
    type=click.IntRange(min=8),
    default=256,
    show_default=True,
    help="Frames analysed together (long videos are streamed).",
)
def score(detector, videos, maps, json_out, window) -> None:
    """Probability that a network processed each VIDEO (.npy/.npz [T,H,W] or [T,C,H,W], a
    folder of numbered PNG frames, or a video file with the 'video' extra)."""
    import numpy as np

    from .._io import atomic_write_bytes, save_json
    from .detector import load_detector
    from .features import FEATURE_NAMES, video_features
    from .io import open_video

    model = load_detector(detector)
    if tuple(model.feature_names) != FEATURE_NAMES:
        raise SmoothscopeError(
            f"{detector}: expected a detector of the features {', '.join(FEATURE_NAMES)}, got "
            f"{', '.join(model.feature_names)}"
        )
    sources = [open_video(v) for v in videos]  # every input is validated before any compute
    maps_dir = Path(maps)
    if maps_dir.exists() and not maps_dir.is_dir():
        raise SmoothscopeError(f"--maps: expected a folder, got the file {maps_dir}")
    if json_out:
        _check_writable_file(Path(json_out), "--json")
    results = []
    for source in sources:
        feats = video_features(source.chunks(), window=window)
        results.append((source, feats, float(model.probability(feats.values)[0])))
    rows = []
    for i, (source, feats, p) in enumerate(results):  # nothing is written before all succeeded
        stem = f"{i:03d}_{source.path.stem or 'video'}"
        png = maps_dir / f"{stem}_peaks.png"
        rough = maps_dir / f"{stem}_d2_over_d1.png"
        atomic_write_bytes(png, _map_png(feats.peak_map))
        atomic_write_bytes(rough, _map_png(feats.ratio_map))
        click.echo(f"{source.path}: P(processed by a network) = {p:.3f}  ({feats.frames} frames)")
        click.echo("    " + "  ".join(f"{k}={v:.4g}" for k, v in feats.as_dict().items()))
        click.echo(f"    peaks per pixel: {png} (max {int(np.max(feats.peak_map))})")
        click.echo(
            f"    log10 |δ²|/|δ¹| per pixel: {rough} (from {np.min(feats.ratio_map):.2f} "
            f"black to {np.max(feats.ratio_map):.2f} white)"
        )
        rows.append(
            {
                "video": str(source.path),
                "probability": p,
                "frames": feats.frames,
                "features": feats.as_dict(),
                "peak_map": str(png),
                "d2_over_d1_map": str(rough),
            }
        )
    if json_out:
        save_json(json_out, {"detector": str(detector), "videos": rows})


def _map_png(values) -> bytes:
    """A per-pixel map as an 8-bit PNG, scaled from its minimum (black) to its maximum (white);
    a map of peak counts whose minimum is 0 stays black where there is no peak."""
    import io

    import numpy as np
    from PIL import Image

    low = min(float(np.min(values)), 0.0) if np.min(values) >= 0 else float(np.min(values))
    span = float(np.max(values)) - low
    scaled = np.zeros(values.shape) if span <= 0 else (values - low) / span
    image = Image.fromarray(np.round(scaled * 255).astype(np.uint8))
    if max(image.size) < 256:
        factor = max(1, 256 // max(image.size))
        image = image.resize((image.size[0] * factor, image.size[1] * factor), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
