"""The dataset report (`synthloom report`) and run comparison (`synthloom compare`).

RUN_DIR/report/report.json   every figure as data
RUN_DIR/report/report.html   one self-contained page with the plots
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from synthloom.core import names
from synthloom.core.store import write_json_atomic
from synthloom.curate.rundata import load_run
from synthloom.report.build import build_report
from synthloom.report.compare import compare_reports, render_compare_html
from synthloom.report.cost import ModelPrice, Pricing, load_pricing
from synthloom.report.html import render_report_html

REPORT_DIR = "report"

__all__ = [
    "ModelPrice",
    "Pricing",
    "build_report",
    "compare_reports",
    "load_pricing",
    "make_report",
    "render_compare_html",
    "render_report_html",
    "write_comparison",
    "write_report",
]


def make_report(
    run_dir: Path,
    *,
    embedder: Embeddings | None = None,
    embedder_label: str | None = None,
    pricing: Pricing | None = None,
) -> dict[str, Any]:
    """The report of a run folder as a dict."""
    return build_report(
        load_run(run_dir), embedder=embedder, embedder_label=embedder_label, pricing=pricing
    )


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(
    run_dir: Path,
    out: Path | None = None,
    *,
    embedder: Embeddings | None = None,
    embedder_label: str | None = None,
    pricing: Pricing | None = None,
) -> tuple[Path, Path, dict[str, Any]]:
    """Write report.json and report.html (into RUN_DIR/report by default)."""
    report = make_report(run_dir, embedder=embedder, embedder_label=embedder_label, pricing=pricing)
    folder = out or run_dir / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / names.REPORT_JSON, folder / names.REPORT_HTML
    write_json_atomic(json_path, report)
    _write_text(html_path, render_report_html(report))
    return json_path, html_path, report


def write_comparison(
    run_a: Path,
    run_b: Path,
    out: Path,
    *,
    embedder: Embeddings | None = None,
    embedder_label: str | None = None,
    pricing: Pricing | None = None,
) -> tuple[Path, Path, dict[str, Any]]:
    """Write compare.json and compare.html for two run folders into `out`."""
    options: dict[str, Any] = {
        "embedder": embedder,
        "embedder_label": embedder_label,
        "pricing": pricing,
    }
    a = make_report(run_a, **options)
    b = make_report(run_b, **options)
    comparison = compare_reports(a, b)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "compare.json", out / "compare.html"
    write_json_atomic(json_path, comparison)
    _write_text(html_path, render_compare_html(comparison))
    return json_path, html_path, comparison
