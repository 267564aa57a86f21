"""`score --report` as a reader sees it: opened in headless Chromium (Debian's package,
installed by scripts/chromium ensure), every chart drawn, no script error, nothing fetched.

"Drawn" is judged on the screenshot, not the DOM: each chart's box must be at least 100 ×
80 CSS pixels with ≥ 2 % non-white pixels in ≥ 3 colours (axes, text and data), so a chart
that exists but shows nothing fails. The screenshot is kept at .artifacts/score-report.png
(path printed) for people to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy
import pytest
from PIL import Image

from streams.cli.main import main
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from tests.unit.chromium import Chromium

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts"
COMPARE_CHARTS = {"chart-tiers", "chart-lorenz", "chart-rfm", "chart-counts", "chart-migration"}
_CHART_BOXES = """(() => Object.fromEntries(
  [...document.querySelectorAll('figure.chart')].map(f => {
  const svg = f.querySelector('svg');
  const r = (svg || f).getBoundingClientRect();
  return [f.id, {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height,
                 svg: svg !== null}];
})))()"""


def _chart_boxes(browser: Chromium) -> dict[str, dict[str, Any]]:
    boxes: dict[str, dict[str, Any]] = browser.evaluate(_CHART_BOXES)
    return boxes


def _undrawn(screenshot: Path, boxes: dict[str, dict[str, Any]]) -> list[str]:
    """Charts that are missing, too small or (nearly) blank on the screenshot."""
    image = Image.open(screenshot).convert("RGB")
    undrawn = []
    for name, box in sorted(boxes.items()):
        if not box["svg"] or box["width"] < 100 or box["height"] < 80:
            undrawn.append(f"{name}: no chart of useful size ({box})")
            continue
        left, top = int(box["x"]), int(box["y"])
        crop = image.crop((left, top, left + int(box["width"]), top + int(box["height"])))
        pixels = numpy.asarray(crop).reshape(-1, 3)
        inked = pixels[pixels.min(axis=1) < 235]
        colours = len(numpy.unique(inked, axis=0))
        if len(inked) < 0.02 * len(pixels) or colours < 3:
            undrawn.append(f"{name}: blank ({len(inked)} of {len(pixels)} pixels inked)")
    return undrawn


def _look(page: Path, screenshot: Path) -> tuple[dict[str, dict[str, Any]], list[str], list[str]]:
    """(chart boxes, undrawn charts, browser problems) of a page opened in Chromium."""
    with Chromium(timeout_seconds=60) as browser:
        browser.open(page)
        boxes = _chart_boxes(browser)
        browser.screenshot(screenshot)
        problems = browser.problems()
    return boxes, _undrawn(screenshot, boxes), problems


def test_compare_report_draws_every_chart_in_chromium_without_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = generate_history(400, 4000, seed=7)
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, history.orders)
    feedback = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, history.feedback)
    ARTIFACTS.mkdir(exist_ok=True)
    report, screenshot = ARTIFACTS / "score-report.html", ARTIFACTS / "score-report.png"
    code = main(
        [
            "score",
            str(orders),
            "--feedback",
            str(feedback),
            "--compare",
            "--as-of",
            "2026-03-31",
            "--as-of",
            "2026-06-30",
            "--out",
            str(tmp_path / "matrix.csv"),
            "--report",
            str(report),
        ]
    )
    assert code == 0
    boxes, undrawn, problems = _look(report, screenshot)
    with capsys.disabled():
        print(f"\nscore --report screenshot: {screenshot}")
    assert set(boxes) == COMPARE_CHARTS
    assert undrawn == []
    assert problems == []


BROKEN_PAGE = """<!DOCTYPE html><html><body>
<figure class="chart" id="chart-blank"><svg width="400" height="300"></svg></figure>
<figure class="chart" id="chart-drawn"><svg width="400" height="300">
  <rect x="10" y="10" width="200" height="200" fill="#1f4e79"/>
  <rect x="220" y="10" width="100" height="200" fill="#c55a11"/>
  <line x1="0" y1="290" x2="400" y2="290" stroke="black"/></svg></figure>
<img src="http://127.0.0.1:9/remote.png" alt="">
<script>throw new Error("boom")</script>
</body></html>"""


def test_browser_check_catches_a_blank_chart_a_script_error_and_a_fetch(tmp_path: Path) -> None:
    """The check above can fail: a blank chart, a thrown error and a non-local request."""
    page = tmp_path / "broken.html"
    page.write_text(BROKEN_PAGE, encoding="utf-8")
    _, undrawn, problems = _look(page, tmp_path / "broken.png")
    assert [line.split(":")[0] for line in undrawn] == ["chart-blank"]
    assert any("boom" in problem for problem in problems)
    assert any("127.0.0.1:9" in problem for problem in problems)
