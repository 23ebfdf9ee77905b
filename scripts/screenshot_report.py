#!/usr/bin/env python
"""Screenshot the top of a reproduction report with headless Chromium (the README's image).

Usage::

    python scripts/screenshot_report.py runs/demo/report.html --out docs/report-top.png
    python scripts/screenshot_report.py runs/demo/report.html --width 1920 --height 1080 \\
        --out /tmp/report-1920.png

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it); nothing else is needed.
The report is opened read-only from disk; the PNG shows the first ``--height`` pixels of the
page in a ``--width`` px window.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
"""Executables tried in order (``tests/_chromium.py`` uses the same lookup and flags)."""


def find_chromium() -> str | None:
    """The Chromium executable, or ``None``."""
    return next((p for n in CHROMIUM_NAMES if (p := shutil.which(n))), None)


def headless_flags(profile: str | Path) -> list[str]:
    """Flags of a headless, offline, quiet Chromium with its own profile folder."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ]


def screenshot(report: Path, out: Path, width: int = 1280, height: int = 900) -> Path:
    """Write a PNG of the first ``height`` pixels of ``report`` in a ``width`` px window."""
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("screenshot_report: chromium not found (apt-get install chromium)")
    if not report.is_file():
        raise SystemExit(f"screenshot_report: expected a report file, got {report}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium,
            *headless_flags(profile),
            f"--window-size={width},{height}",
            "--virtual-time-budget=10000",
            f"--screenshot={out.resolve()}",
            report.resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0 or not out.is_file():
        raise SystemExit(f"screenshot_report: chromium failed:\n{proc.stderr[-2000:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="the report.html to photograph")
    parser.add_argument("--out", type=Path, default=Path("docs/report-top.png"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    path = screenshot(args.report, args.out, args.width, args.height)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
