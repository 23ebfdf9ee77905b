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
    _check_writable_folder(path.parent if str(path.parent) else Path("."), option, for_file=path)


def _check_writable_folder(folder: Path, option: str, *, for_file: Path | None = None) -> None:
    """Refuse, before any compute, a folder that cannot be created or written: an existing
    file on its path, or a nearest existing ancestor that is not a writable folder."""
    what = f"for {for_file}" if for_file is not None else f"{folder}"
    if folder.exists() and not folder.is_dir():
        raise SmoothscopeError(f"{option}: expected a folder {what}, got the file {folder}")
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SmoothscopeError(
            f"{option}: expected a folder {what}, but {ancestor} on its path is a file"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise SmoothscopeError(f"{option}: expected a writable folder {what}, got {ancestor}")
    try:  # a read-only file system passes os.access: create and remove a probe folder
        os.rmdir(tempfile.mkdtemp(prefix=".smoothscope-probe-", dir=ancestor))
    except OSError as exc:
        raise SmoothscopeError(
            f"{option}: expected a writable folder {what}, got {ancestor} ({exc.strerror})"
        ) from exc


@click.group()
def forensic() -> None:
    """Detect that a video went through a neural network (paper A, Fig. 7)."""


@forensic.command("fit")
@click.option("--out", required=True, type=click.Path(), help="Where to write the detector (JSON).")
@click.option(
    "--scale",
    type=click.Choice(("quick", "standard", "paper")),
    default="quick",
    show_default=True,
    help="Protocol of the training videos and networks (the forensic experiment's presets).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--set", "options", multiple=True, metavar="KEY=VALUE", help="Config field.")
@click.option("--work", type=click.Path(), default=None, help="Cell folder [default: temporary].")
@click.option("--jobs", type=click.IntRange(min=1, max=256), default=1, show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def fit(out, scale, seed, options, work, jobs, no_progress) -> None:
    """Train the detector on authentic and network-processed videos, each passed through the
    storage pipelines (8-bit, codecs, JPEG, resizing, noise), and calibrate its threshold."""
    from ..experiments.forensic import ForensicConfig, fit_default_detector
    from ..sweep import ExecutorSpec, open_executor

    out = Path(out)
    _check_writable_file(out, "--out")
    if work:
        _check_writable_folder(Path(work), "--work")
    overrides = dict(ForensicConfig.parse_option(o) for o in options)
    config = ForensicConfig.preset(scale, seed=seed, **overrides)
    spec = ExecutorSpec("inprocess") if jobs == 1 else ExecutorSpec("process", jobs=jobs)
    with tempfile.TemporaryDirectory(prefix="smoothscope-forensic-") as tmp:
        folder = Path(work) if work else Path(tmp)
        with open_executor(spec) as pool:
            detector = fit_default_detector(config, folder, executor=pool, progress=not no_progress)
    detector.meta["scale"] = scale
    detector.save(out)
    cal = detector.calibration
    click.echo(
        f"detector written to {out} ({detector.meta['n_train']} videos, "
        f"{detector.meta['n_positive']} processed by a network); threshold "
        f"{detector.threshold:.3f}: flags {100 * cal['fpr_authentic_compressed']:.1f} % of "
        f"authentic and {100 * cal['tpr_processed_compressed']:.1f} % of processed compressed "
        "training videos (scored by models that did not see their content)"
    )


@forensic.command("score")
@click.argument("detector", type=click.Path())
@click.argument("videos", nargs=-1, required=True, type=click.Path())
@click.option(
    "--maps",
    type=click.Path(),
    default=None,
    help="Folder for PNG maps (kinks and peaks per pixel) of each video [default: none].",
)
@click.option("--json", "json_out", type=click.Path(), default=None, help="Also write JSON here.")
@click.option(
    "--window",
    type=click.IntRange(min=16, max=100_000),
    default=256,
    show_default=True,
    help="Frames analysed together (long videos are streamed).",
)
def score(detector, videos, maps, json_out, window) -> None:
    """Probability that a network processed each VIDEO (.npy/.npz [T,H,W] or [T,C,H,W], a
    folder of numbered PNG frames, or a video file with the 'video' extra), the verdict at the
    detector's calibrated threshold, and a note when the video lies outside what it saw."""
    from .._io import save_json
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
    maps_dir = Path(maps) if maps is not None else None
    if maps_dir is not None:
        _check_writable_folder(maps_dir, "--maps")
    if json_out:
        _check_writable_file(Path(json_out), "--json")
    results = []
    for source in sources:
        feats = video_features(source.chunks(), window=window)
        p = float(model.probability(feats.values)[0])
        notes = model.ood_notes(feats.values, frames=feats.frames, shape=feats.shape)
        notes += _dynamic_range_notes(source.bits, feats.value_range)
        results.append((source, feats, p, notes))
    rows = []
    for i, (source, feats, p, notes) in enumerate(results):  # nothing written before all succeed
        flagged = p > model.threshold
        verdict = "processed by a network" if flagged else "no sign of network processing"
        fpr = model.calibration.get("fpr_authentic_compressed")
        at = f"threshold {model.threshold:.3f}" + (
            f", which flags {100 * fpr:.1f} % of authentic compressed training videos"
            if fpr is not None
            else ""
        )
        click.echo(
            f"{source.path}: P(processed by a network) = {p:.3f} → {verdict} ({at}); "
            f"{feats.frames} frames of {feats.shape[2]}×{feats.shape[1]}"
        )
        if feats.requantised:
            click.echo(
                "    measured as its 8-bit copy (more than 256 distinct values: a float video, "
                "which no file holds; rounded to 256 levels of its range, as training videos "
                "were stored)"
            )
        if notes:
            click.echo("    out of distribution, read the score with care: " + "; ".join(notes))
        click.echo("    " + "  ".join(f"{k}={v:.4g}" for k, v in feats.as_dict().items()))
        row = {
            "video": str(source.path),
            "probability": p,
            "threshold": model.threshold,
            "flagged": bool(flagged),
            "out_of_distribution": notes,
            "frames": feats.frames,
            "measured_as_8bit_copy": bool(feats.requantised),
            "features": feats.as_dict(),
        }
        if maps_dir is not None:
            name = source.path.stem.encode()[:150].decode(errors="ignore")  # file names ≤ 255 B
            stem = f"{i:03d}_{name or 'video'}"
            try:
                written = _write_maps(maps_dir, stem, source.path.name, feats, p, verdict)
            except OSError as exc:
                raise SmoothscopeError(f"--maps: could not write into {maps_dir} ({exc})") from exc
            click.echo("    maps: " + ", ".join(str(w) for w in written))
            row["maps"] = [str(w) for w in written]
        rows.append(row)
    if json_out:
        try:
            save_json(json_out, {"detector": str(detector), "videos": rows})
        except OSError as exc:
            raise SmoothscopeError(f"--json: could not write {json_out} ({exc})") from exc


def _dynamic_range_notes(bits: int | None, value_range: tuple[float, float]) -> list[str]:
    """A note when an integer-valued source uses few of its levels (a dark or flat video: each
    level is then a large step against the video's own range)."""
    if bits is None:
        return []
    span = value_range[1] - value_range[0]
    # PNG and video frames are read as value / 255 (16-bit PNGs as raw integers)
    levels = span * 255 if bits == 8 and value_range[1] <= 1.0 + 1e-9 else span
    if levels >= 32:
        return []
    return [f"dynamic range: the video uses {levels:.0f} intensity levels (fewer than 32)"]


def _write_maps(folder: Path, stem: str, name: str, feats, p: float, verdict: str) -> list[Path]:
    """Two PNG maps with a colour bar and a title: kink-to-noise energy and peaks per pixel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._io import save_figure

    panels = (
        (
            "kinks",
            feats.kink_map,
            "magma",
            "log10 kink / noise energy per pixel (0: noise, +0.55: kinks)",
            "where the video bends in time",
        ),
        (
            "peaks",
            feats.peak_map,
            "viridis",
            "peaks of |δ²| per pixel (paper A §V-B)",
            "paper A's peaks",
        ),
    )
    written = []
    for suffix, values, cmap, label, what in panels:
        fig, ax = plt.subplots(figsize=(4.6, 4.0))
        image = ax.imshow(values, cmap=cmap, interpolation="nearest")
        fig.colorbar(image, ax=ax, label=label, shrink=0.85)
        ax.set_title(f"{name}: {what}\nP(network) = {p:.2f}, {verdict}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        written.append(save_figure(fig, folder / f"{stem}_{suffix}.png"))
    return written
