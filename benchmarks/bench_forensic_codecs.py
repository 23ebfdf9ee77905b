"""Held-out evaluation of the forensic detector through real storage pipelines (issue 27).

The detector is fitted exactly as ``smoothscope forensic fit --scale SCALE`` fits it (every
choice, its calibrated threshold included, made on its own training videos), then scored once
on videos and processors it never saw:

* **contents** (not among the experiment's): ``blobs``, three Gaussian blobs (σ 3–8 pixels,
  amplitudes ±) drifting on straight lines at 0.3–1.5 pixels per frame over a smooth gradient,
  the issue's "analytic moving Gaussian blob"; ``waves``, four plane waves (wavelengths 8–32
  pixels) drifting at 0.2–1 pixel per frame under a slow brightness ramp. Both are analytic in
  t, so smooth in time. Authentic-labelled: each video and its sharpened version (unsharp
  masking, a fixed linear filter, so still smooth in time);
* **processors** (architectures not among the experiment's families), each on every frame:
  ``relu_cnn``, a random-init 3-layer ReLU CNN (width 16: the issue's "random ReLU CNN");
  ``leaky_encdec``, a random-init encoder-decoder (LeakyReLU 0.1, max pooling, bilinear
  upsampling); ``relu6_residual``, a random-init residual block ``x + conv(ReLU6(conv(x)))``;
  ``dncnn_trained``, a 5-layer ReLU residual denoiser (DnCNN-style, width 16) trained for a few
  epochs on frames of separate videos of the same contents (an image-to-image network close to
  the identity, the hard case);
* **pipelines**: float, 8-bit, H.264 at CRF 18/23/28, MPEG-4 at quantiser 4/10, JPEG 90/60,
  resizing by 0.5, noise at 30 dB then 8-bit.

Per pipeline it reports the ROC-AUC (processed vs authentic-labelled) with a 95 % cluster-
bootstrap interval over source videos, the AUC of each processor, the share of authentic videos
the shipped threshold flags (false-positive rate) and of processed ones, and the control: the
AUC separating authentic videos through the pipeline from the same videos in float.

    .venv/bin/python benchmarks/bench_forensic_codecs.py                  # standard detector
    .venv/bin/python benchmarks/bench_forensic_codecs.py --scale quick --videos 8   # smoke run

Run it under the heavy lock (``flock /work/tools/heavy.lock``); at the standard scale it takes
about 6 minutes on 2 cores. The table goes to stdout and ``--markdown`` (default
``benchmarks/results/forensic_codecs.md``); the numbers are recorded in docs/forensic.md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from smoothscope.experiments.forensic import ForensicConfig, fit_default_detector
from smoothscope.experiments.forensic.config import PIPELINES
from smoothscope.forensic.detector import load_detector
from smoothscope.forensic.evaluation import bootstrap_weights, interval, weighted_auc
from smoothscope.forensic.features import video_features
from smoothscope.forensic.pipelines import apply_pipeline, codecs_available, pipeline_family
from smoothscope.sweep import ExecutorSpec, open_executor

CONTENTS = ("blobs", "waves")
PROCESSORS = ("relu_cnn", "leaky_encdec", "relu6_residual", "dncnn_trained")


# ---------------------------------------------------------------------------------------------
# held-out contents: analytic, smooth in time


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    y, x = torch.meshgrid(
        torch.arange(size, dtype=torch.float64),
        torch.arange(size, dtype=torch.float64),
        indexing="ij",
    )
    return y, x


def blobs(n: int, frames: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` videos ``[n, T, 1, S, S]`` of three Gaussian blobs drifting over a gradient."""
    y, x = _grid(size)
    t = torch.arange(frames, dtype=torch.float64)[:, None, None]
    out = []
    for _ in range(n):
        g = rng.uniform(-0.3, 0.3, 2)
        video = 0.4 + (g[0] * y + g[1] * x)[None] / size + 0 * t
        for _ in range(3):
            sigma = rng.uniform(3, 8)
            amplitude = rng.choice([-1, 1]) * rng.uniform(0.3, 0.8)
            start = rng.uniform(0.2 * size, 0.8 * size, 2)
            speed = rng.uniform(0.3, 1.5)
            angle = rng.uniform(0, 2 * math.pi)
            cy = start[0] + speed * math.sin(angle) * (t - frames / 2)
            cx = start[1] + speed * math.cos(angle) * (t - frames / 2)
            video = video + amplitude * torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))
        out.append(video)
    return torch.stack(out).unsqueeze(2)


def waves(n: int, frames: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` videos ``[n, T, 1, S, S]`` of four drifting plane waves and a brightness ramp."""
    y, x = _grid(size)
    t = torch.arange(frames, dtype=torch.float64)[:, None, None]
    out = []
    for _ in range(n):
        video = 0.5 + rng.uniform(-0.004, 0.004) * (t - frames / 2) + 0 * y
        for _ in range(4):
            wavelength = rng.uniform(8, 32)
            angle = rng.uniform(0, 2 * math.pi)
            k = 2 * math.pi / wavelength
            velocity = rng.uniform(0.2, 1.0)
            phase = k * (math.cos(angle) * x + math.sin(angle) * y) - k * velocity * t
            video = video + rng.uniform(0.05, 0.2) * torch.cos(phase + rng.uniform(0, 2 * math.pi))
        out.append(video)
    return torch.stack(out).unsqueeze(2)


def sharpen(videos: torch.Tensor) -> torch.Tensor:
    """Unsharp masking ``x + 0.6 (x − blur(x))`` of every frame (a fixed linear filter)."""
    v, t, c, h, w = videos.shape
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
    kernel = (kernel[:, None] * kernel[None]) / 256.0
    frames = videos.reshape(v * t, c, h, w)
    padded = nn.functional.pad(frames, (2, 2, 2, 2), mode="replicate")
    blurred = nn.functional.conv2d(padded, kernel[None, None])
    return (frames + 0.6 * (frames - blurred)).reshape(videos.shape)


# ---------------------------------------------------------------------------------------------
# held-out processors


class ReLUCNN(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class LeakyEncDec(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(width, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ReLU6Residual(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, width, 3, padding=1)
        self.b = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(nn.functional.relu6(4 * self.a(x)))


class DnCNN(nn.Module):
    def __init__(self, width: int = 16, depth: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.body(x)


def build(name: str, seed: int, frames: torch.Tensor) -> nn.Module:
    """A held-out processor; ``dncnn_trained`` is trained to denoise ``frames`` (σ = 0.05)."""
    torch.manual_seed(seed)
    model = {
        "relu_cnn": ReLUCNN,
        "leaky_encdec": LeakyEncDec,
        "relu6_residual": ReLU6Residual,
        "dncnn_trained": DnCNN,
    }[name]()
    if name == "dncnn_trained":
        generator = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
        data = frames.float()
        for _ in range(6):
            order = torch.randperm(data.shape[0], generator=generator)
            for start in range(0, data.shape[0], 64):
                clean = data[order[start : start + 64]]
                noisy = clean + 0.05 * torch.randn(clean.shape, generator=generator)
                loss = nn.functional.mse_loss(model(noisy), clean)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    return model.eval()


def process(model: nn.Module, videos: torch.Tensor) -> torch.Tensor:
    """Every frame of ``[V, T, 1, S, S]`` through ``model`` in float64."""
    model = model.double()
    with torch.no_grad():
        frames = videos.reshape(-1, *videos.shape[2:])
        return model(frames).reshape(videos.shape)


# ---------------------------------------------------------------------------------------------
# the evaluation


def auc_with_interval(scores, labels, groups, n_boot, seed) -> list[float]:
    weights = bootstrap_weights(groups, n_boot, seed)
    point = float(weighted_auc(scores, labels)[0])
    est = interval(weighted_auc(scores, labels, weights), point)
    return [est.value, est.low, est.high]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="standard", choices=("quick", "standard", "paper"))
    parser.add_argument("--detector", type=Path, default=None, help="Reuse a fitted detector.")
    parser.add_argument("--videos", type=int, default=20, help="Source videos per content.")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=2027, help="Seed of the held-out videos.")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="Cells of the detector's fit.")
    parser.add_argument("--save-detector", type=Path, default=None)
    parser.add_argument(
        "--markdown", type=Path, default=Path(__file__).parent / "results" / "forensic_codecs.md"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()

    if args.detector is not None:
        detector = load_detector(args.detector)
    else:
        config = ForensicConfig.preset(args.scale, seed=0)
        spec = (
            ExecutorSpec("process", jobs=args.jobs) if args.jobs > 1 else ExecutorSpec("inprocess")
        )
        with tempfile.TemporaryDirectory(prefix="bench-forensic-") as tmp:
            with open_executor(spec) as pool:
                detector = fit_default_detector(
                    config, args.work or Path(tmp), executor=pool, progress=False
                )
        detector.meta["scale"] = args.scale
    if args.save_detector is not None:
        detector.save(args.save_detector)
    fitted = time.perf_counter()

    rng = np.random.default_rng(args.seed)
    generators = {"blobs": blobs, "waves": waves}
    sources = {c: generators[c](args.videos, args.frames, args.size, rng) for c in CONTENTS}
    # separate videos of the same contents to train the denoiser on
    train_frames = torch.cat(
        [generators[c](8, args.frames, args.size, rng).flatten(0, 1) for c in CONTENTS]
    )
    models = {p: build(p, args.seed + i, train_frames) for i, p in enumerate(PROCESSORS)}
    versions: dict[str, torch.Tensor] = {}
    groups, labels, names = [], [], []
    for ci, c in enumerate(CONTENTS):
        batch = {"authentic": sources[c], "sharpened": sharpen(sources[c])}
        batch |= {p: process(m, sources[c]) for p, m in models.items()}
        for name, videos in batch.items():
            versions[f"{c}/{name}"] = videos
            groups += [ci * 10000 + i for i in range(args.videos)]
            labels += [name in PROCESSORS] * args.videos
            names += [name] * args.videos
    groups_a, labels_a, names_a = np.array(groups), np.array(labels), np.array(names)

    codecs = codecs_available()
    pipelines = [
        p
        for p in PIPELINES
        if pipeline_family(p) not in ("h264", "mpeg4") or pipeline_family(p) in codecs
    ]
    rows = []
    scores = {}
    for pi, pipe in enumerate(pipelines):
        probability = []
        for vi, videos in enumerate(versions.values()):
            generator = torch.Generator().manual_seed(args.seed + 1000 * pi + vi)
            stored = apply_pipeline(pipe, videos, generator=generator)
            feats = np.stack([video_features(v).values for v in stored])
            probability.append(detector.probability(feats))
        p = np.concatenate(probability)
        scores[pipe] = p
        row = {
            "pipeline": pipe,
            "auc": auc_with_interval(p, labels_a, groups_a, args.n_boot, args.seed),
            "fpr_at_threshold": float((p[~labels_a] > detector.threshold).mean()),
            "tpr_at_threshold": float((p[labels_a] > detector.threshold).mean()),
            "per_processor": {
                name: float(weighted_auc(p[sel], labels_a[sel])[0])
                for name in PROCESSORS
                if (sel := ~labels_a | (names_a == name)).any()
            },
        }
        if pipe != "float":
            authentic = ~labels_a
            both = np.r_[scores["float"][authentic], p[authentic]]
            which = np.r_[np.zeros(authentic.sum(), bool), np.ones(authentic.sum(), bool)]
            row["control"] = auc_with_interval(
                both, which, np.r_[groups_a[authentic], groups_a[authentic]], args.n_boot, args.seed
            )
        rows.append(row)
        print(
            f"{pipe:10s} AUC {row['auc'][0]:.3f} [{row['auc'][1]:.3f}, {row['auc'][2]:.3f}]  "
            f"FPR {row['fpr_at_threshold']:.3f}  TPR {row['tpr_at_threshold']:.3f}",
            flush=True,
        )
    finished = time.perf_counter()
    result = {
        "detector": {
            "scale": detector.meta.get("scale"),
            "threshold": detector.threshold,
            "calibration": detector.calibration,
            "trained_on": detector.meta.get("trained_on"),
        },
        "held_out": {
            "contents": list(CONTENTS),
            "processors": list(PROCESSORS),
            "videos_per_content": args.videos,
            "frames": args.frames,
            "size": args.size,
            "seed": args.seed,
        },
        "rows": rows,
        "seconds": {"fit": fitted - started, "evaluate": finished - fitted},
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
    }
    text = markdown(result)
    print(text)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(text)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def markdown(result: dict) -> str:
    """The held-out table as Markdown."""
    d, h = result["detector"], result["held_out"]
    cal = d["calibration"]
    lines = [
        f"Detector: `forensic fit --scale {d['scale']}`, threshold {d['threshold']:.3f} "
        f"(target {100 * cal['target_fpr']:.0f} % of authentic compressed training videos "
        f"flagged; {100 * cal['fpr_authentic_compressed']:.1f} % measured on them, "
        f"leave-one-content-out). Held out: contents {', '.join(h['contents'])}; processors "
        f"{', '.join(h['processors'])}; {h['videos_per_content']} source videos per content, "
        f"{h['frames']} frames of {h['size']}×{h['size']}; seed {h['seed']}.",
        "",
        "| pipeline | AUC [95 % interval] | "
        + " | ".join(result["held_out"]["processors"])
        + " | flagged: authentic / processed | control AUC (authentic stored vs float) |",
        "|---|---|" + "---|" * len(result["held_out"]["processors"]) + "---|---|",
    ]
    for r in result["rows"]:
        auc = r["auc"]
        per = " | ".join(f"{r['per_processor'][p]:.2f}" for p in result["held_out"]["processors"])
        ctrl = r.get("control")
        control = f"{ctrl[0]:.2f} [{ctrl[1]:.2f}, {ctrl[2]:.2f}]" if ctrl else "—"
        lines.append(
            f"| {r['pipeline']} | {auc[0]:.3f} [{auc[1]:.3f}, {auc[2]:.3f}] | {per} | "
            f"{100 * r['fpr_at_threshold']:.1f} % / {100 * r['tpr_at_threshold']:.1f} % | "
            f"{control} |"
        )
    s = result["seconds"]
    lines += [
        "",
        f"Time: fit {s['fit']:.0f} s, evaluation {s['evaluate']:.0f} s ({result['machine']}).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
