"""The report page in headless Chromium: it renders, and its figures show the JSON's numbers.

Needs Debian's chromium (`apt-get install -y chromium`); skipped without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image as mpimg

from synthloom.report import write_report
from synthloom.report.lexical import HashedNgramEmbeddings
from synthloom.report.plots import fmt
from tests.curate.report_fixture import curated_run

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs headless Chromium: apt-get install -y chromium"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "HOME": profile},
        )


class FigureTexts(HTMLParser):
    """Each figure's data-values and the text of its SVG <text> elements, from the DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, dict[str, Any]] = {}
        self._current: str | None = None
        self._in_text = 0
        self.data_json = ""
        self._in_data = False
        self._value_label = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "figure":
            self._current = str(attributes["id"])
            values = json.loads(attributes["data-values"] or "[]")
            self.figures[self._current] = {"values": values, "texts": [], "drawn": []}
        elif tag == "g" and str(attributes.get("id") or "").startswith("value-"):
            self._value_label = True  # the next <text> is a bar's value label
        elif tag == "text" and self._current:
            self._in_text += 1
        elif tag == "script" and attributes.get("id") == "report-data":
            self._in_data = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._current = None
        elif tag == "text" and self._in_text:
            self._in_text -= 1
            self._value_label = False
        elif tag == "script":
            self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_text and self._current:
            self.figures[self._current]["texts"].append(data.strip())
            if self._value_label and data.strip():
                self.figures[self._current]["drawn"].append(data.strip())
        if self._in_data:
            self.data_json += data


def expected_values(report: dict[str, Any]) -> dict[str, list[Any]]:
    """What each figure must show, read straight from the JSON report."""
    counts = report["counts"]
    gen, cur = counts["generation"], counts["curation"]
    diversity = report["diversity"]
    expected: dict[str, list[Any]] = {
        "fig-counts": [
            gen["requested"],
            gen["accepted"],
            gen["rejected"],
            gen["failed"],
            cur["rejected"],
            cur["unjudged"],
            counts["final"]["accepted"],
        ],
        "fig-diversity": [
            diversity["distinct_1"],
            diversity["distinct_2"],
            diversity["distinct_3"],
            diversity["self_bleu"],
            diversity["embedding"]["mean_pairwise_similarity"],
        ],
        "fig-coverage": list(report["coverage"]["counts"].values()),
        "fig-turns": list(report["turns"]["histogram"].values()),
        "fig-judge": list(report["judge"]["histogram"].values()),
        "fig-faithfulness": list(report["faithfulness"]["claims"].values()),
        "fig-rejections": [
            *report["rejections"]["generation"].values(),
            *report["rejections"]["curation"].values(),
        ],
    }
    for name, cond in report["conditions"].items():
        expected[f"fig-condition-{name}"] = [
            *(cond["expected_share"][v] for v in cond["values"]),
            *(cond["accepted_share"][v] for v in cond["values"]),
        ]
    return expected


async def test_report_renders_in_chromium_and_its_figures_match_the_json(tmp_path: Path) -> None:
    run = await curated_run(tmp_path / "run", samples=12)
    json_path, html_path, report = write_report(run, embedder=HashedNgramEmbeddings())

    dom = chromium("--dump-dom", "--virtual-time-budget=2000", html_path.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Uncaught" not in dom.stderr and ":CONSOLE" not in dom.stderr, dom.stderr[-2000:]
    parser = FigureTexts()
    parser.feed(dom.stdout)
    assert json.loads(parser.data_json) == json.loads(json_path.read_text())

    for fig_id, values in expected_values(report).items():
        figure = parser.figures[fig_id]
        assert [v for _, v in figure["values"]] == values, fig_id
        # The bar labels Chromium has in its DOM, in order, are the JSON's numbers.
        assert figure["drawn"] == [fmt(v) for v in values], fig_id
    assert set(parser.figures) >= {*expected_values(report), "fig-lengths", "fig-tokens"}
    drawn_tokens = [int(t) for t in parser.figures["fig-tokens"]["drawn"]]
    assert abs(sum(drawn_tokens) - report["cost"]["tokens_per_accepted"]) <= 1

    screenshot = tmp_path / "report.png"
    shot = chromium(
        "--screenshot=" + str(screenshot),
        "--window-size=1280,2000",
        "--hide-scrollbars",
        html_path.as_uri(),
    )
    assert shot.returncode == 0 and screenshot.stat().st_size > 20_000, shot.stderr[-2000:]
    pixels = np.asarray(mpimg.imread(screenshot))[..., :3]
    # A blank or unstyled page is one colour; the report has cards, bars and text.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
