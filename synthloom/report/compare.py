"""Two runs side by side: the report's headline figures for each, and their differences."""

from __future__ import annotations

from typing import Any

from synthloom.report.html import Table, render_page
from synthloom.report.plots import Figure, grouped_figure
from synthloom.rundir import now_iso

# (label, JSON path, higher is better?) of the figures compared.
METRICS: tuple[tuple[str, str, bool | None], ...] = (
    ("accepted samples", "counts.final.accepted", True),
    ("rejected", "counts.final.rejected", False),
    ("failed / unjudged", "counts.final.failed", False),
    ("distinct-1", "diversity.distinct_1", True),
    ("distinct-2", "diversity.distinct_2", True),
    ("distinct-3", "diversity.distinct_3", True),
    ("self-BLEU", "diversity.self_bleu", False),
    ("mean pairwise cosine", "diversity.embedding.mean_pairwise_similarity", False),
    ("Vendi score", "diversity.embedding.vendi_score", True),
    ("Vendi score ÷ samples", "diversity.embedding.vendi_per_sample", True),
    # A tree run covers leaves, a flat run topics: the unit and its count say which.
    ("coverage unit", "coverage.key", None),
    ("units planned", "coverage.leaves", None),
    ("units covered", "coverage.covered", True),
    ("units covered (share)", "coverage.share", True),
    ("leaf entropy (normalised)", "coverage.normalized_entropy", True),
    ("mean judge score", "judge.mean", True),
    ("faithfulness rate", "faithfulness.rate", True),
    ("median assistant words", "lengths.assistant_words.median", None),
    ("mean rounds", "turns.mean", None),
    ("tokens per accepted sample", "cost.tokens_per_accepted", False),
    ("cost per accepted sample", "cost.cost_per_accepted", False),
)
BOUNDED = (
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "self_bleu",
    "mean_pairwise_similarity",
    "vendi_per_sample",
)


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path, or None where any step is missing."""
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Headline metrics of two reports with their difference (b - a)."""
    rows = []
    for label, path, higher_better in METRICS:
        left, right = lookup(a, path), lookup(b, path)
        delta = None
        if isinstance(left, int | float) and isinstance(right, int | float):
            delta = round(right - left, 4)
        rows.append(
            {
                "metric": label,
                "path": path,
                "a": left,
                "b": right,
                "delta": delta,
                "higher_is_better": higher_better,
            }
        )
    return {
        "created_at": now_iso(),
        "a": {"path": a["run"]["path"], "dataset": a["dataset"], "models": a["run"]["models"]},
        "b": {"path": b["run"]["path"], "dataset": b["dataset"], "models": b["run"]["models"]},
        "metrics": rows,
        "reports": {"a": a, "b": b},
    }


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def compare_figures(comparison: dict[str, Any]) -> list[Figure]:
    """Grouped bars of the bounded diversity metrics and coverage, run A vs run B."""
    rows = [
        r
        for r in comparison["metrics"]
        if r["path"].split(".")[-1] in (*BOUNDED, "share", "normalized_entropy")
        and r["a"] is not None
        and r["b"] is not None
    ]
    if not rows:
        return []
    return [
        grouped_figure(
            "compare",
            "Diversity and coverage, side by side",
            "distinct-n, Vendi ÷ samples, leaf coverage and entropy: higher is more diverse; "
            "self-BLEU and mean pairwise cosine: lower is more diverse.",
            [r["metric"] for r in rows],
            [("A", [r["a"] for r in rows]), ("B", [r["b"] for r in rows])],
        )
    ]


def render_compare_html(comparison: dict[str, Any]) -> str:
    """The comparison page."""
    a, b = comparison["a"], comparison["b"]
    rows = [
        [
            r["metric"],
            _cell(r["a"]),
            _cell(r["b"]),
            "–" if r["delta"] is None else f"{r['delta']:+.3f}",
        ]
        for r in comparison["metrics"]
    ]
    cards = [
        {"key": "a.path", "label": "run A", "value": str(a["path"])},
        {"key": "b.path", "label": "run B", "value": str(b["path"])},
    ]
    return render_page(
        title="synthloom run comparison",
        subtitle=f"A: {a['path']} ({a['dataset']}) · B: {b['path']} ({b['dataset']})",
        cards=cards,
        figures=compare_figures(comparison),
        tables=[Table("metrics", "Side by side", ["metric", "A", "B", "B − A"], rows)],
        notes=[],
        data={k: v for k, v in comparison.items() if k != "reports"}
        | {"created_at": comparison["created_at"]},
    )
