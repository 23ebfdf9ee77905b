"""Headless Chromium for the report tests: load a page at a window size and read back what a
probe script measured (the report itself has no script: the probe goes into a test copy)."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

SCREEN_HEIGHT = {1280: 800, 1920: 1080}
"""The window height used with each width (a 1280 × 800 laptop, a 1920 × 1080 screen)."""

LAYOUT_PROBE = """<script>
window.addEventListener("load", function () {
  var W = document.documentElement.clientWidth, H = window.innerHeight;
  var doc = document.documentElement;
  var imgs = Array.prototype.slice.call(document.images);
  var r = {
    width: W, height: H, innerWidth: window.innerWidth,
    scrollWidth: Math.max(doc.scrollWidth, document.body.scrollWidth),
    images: imgs.length,
    decoded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
    claims: 0, verdictsOutside: [], summaries: [], widest: [],
    scales: imgs.map(function (i) {
      return [i.alt, Math.round(100 * i.getBoundingClientRect().width / i.naturalWidth)];
    })
  };
  document.querySelectorAll("tbody.claim").forEach(function (t) {
    r.claims += 1;
    var v = t.querySelector("tr.head .verdict").getBoundingClientRect();
    if (v.left < 0 || v.right > W || v.width === 0) {
      r.verdictsOutside.push(t.id + " at x " + Math.round(v.left) + "-" + Math.round(v.right));
    }
  });
  document.querySelectorAll("section.paper").forEach(function (s) {
    var top = s.getBoundingClientRect().top;
    var summary = s.querySelector(".summary").getBoundingClientRect();
    r.summaries.push({id: s.id, bottom: Math.round(summary.bottom - top)});
  });
  document.querySelectorAll("body *").forEach(function (e) {
    var b = e.getBoundingClientRect();
    if (b.right > W + 1 && r.widest.length < 5) {
      r.widest.push(e.tagName + "." + e.className + " right " + Math.round(b.right));
    }
  });
  var div = document.createElement("div");
  div.id = "probe";
  div.textContent = JSON.stringify(r);
  document.body.appendChild(div);
});
</script>"""


_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "screenshot_report.py"
_spec = importlib.util.spec_from_file_location("screenshot_report", _SCRIPT)
_screenshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_screenshot)  # the lookup and flags of the README's screenshot


def chromium() -> str:
    """The Chromium executable; the test is skipped without one (``.ci/run`` installs it)."""
    path = _screenshot.find_chromium()
    if path is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    return path


def probe_layout(page: Path, width: int, tmp: Path) -> dict[str, Any]:
    """Open a copy of ``page`` with :data:`LAYOUT_PROBE` at ``width`` × its screen height and
    return the probe's measurements."""
    text = page.read_text()
    assert "<script" not in text.lower(), "the report must not need a script"
    copy = tmp / f"probe-{width}.html"
    copy.write_text(text.replace("</body>", LAYOUT_PROBE + "</body>"))
    profile = tmp / f"profile-{width}"
    profile.mkdir(exist_ok=True)
    cmd = [
        chromium(),
        *_screenshot.headless_flags(profile),
        f"--window-size={width},{SCREEN_HEIGHT.get(width, 900)}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        copy.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r'<div id="probe">(.*?)</div>', proc.stdout, re.S)
    assert match, proc.stdout[-2000:]
    return json.loads(html.unescape(match.group(1)))


def layout_problems(measured: dict[str, Any], width: int) -> list[str]:
    """What breaks the issue-26 layout rules at ``width``: horizontal scrolling, a claim's
    verdict outside the viewport, a paper summary below the first screen of its section."""
    problems = []
    if measured["innerWidth"] != width:
        problems.append(f"the window is {measured['innerWidth']} px wide, expected {width}")
    if measured["scrollWidth"] > measured["width"]:
        problems.append(
            f"the page scrolls horizontally: {measured['scrollWidth']} px in a "
            f"{measured['width']} px window ({'; '.join(measured['widest'])})"
        )
    if measured["verdictsOutside"]:
        problems.append(f"verdicts outside the viewport: {measured['verdictsOutside'][:5]}")
    for s in measured["summaries"]:
        if s["bottom"] > measured["height"]:
            problems.append(
                f"the summary of {s['id']} ends {s['bottom']} px below its section's top, "
                f"beyond the first screen ({measured['height']} px)"
            )
    return problems
