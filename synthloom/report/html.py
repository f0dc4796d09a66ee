"""The report as one self-contained HTML page: inline CSS, inline SVG, the JSON embedded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from knowledge.concepts import PATH_SEPARATOR
from synthloom import __version__
from synthloom.report.plots import Figure, Value, bar_figure, fmt, grouped_figure

TEMPLATE = "page.html.jinja2"


@dataclass
class Table:
    """A table of the page."""

    id: str
    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    empty: str = "Nothing to show."


@cache
def _template() -> Any:
    source = resources.files(__package__ or "synthloom.report").joinpath(TEMPLATE)
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
    return env.from_string(source.read_text(encoding="utf-8"))


def _json_for_script(data: Any) -> Markup:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    # "</" would close the <script> element early.
    return Markup(text.replace("</", "<\\/"))


def render_page(
    *,
    title: str,
    subtitle: str,
    cards: list[dict[str, str]],
    figures: list[Figure],
    tables: list[Table],
    notes: list[str],
    data: Any,
) -> str:
    """Render the page template."""
    figs = [
        {
            "id": f.id,
            "title": f.title,
            "caption": f.caption,
            "svg": Markup(f.svg),
            "values_json": json.dumps([[label, value] for label, value in f.values]),
        }
        for f in figures
    ]
    html: str = _template().render(
        title=title,
        subtitle=subtitle,
        cards=cards,
        figures=figs,
        tables=tables,
        notes=notes,
        data_json=_json_for_script(data),
        version=__version__,
        created=data.get("created_at", "") if isinstance(data, dict) else "",
    )
    return html


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _words(value: Any) -> str:
    return "–" if value is None else f"{value:g}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value:.0%}"


def report_cards(report: dict[str, Any]) -> list[dict[str, str]]:
    """The key figures at the top of the page, each tied to its JSON path."""
    final = report["counts"]["final"] or {}
    diversity = report["diversity"]
    embedding = diversity.get("embedding") or {}
    cov = report["coverage"]
    faith = report.get("faithfulness") or {}
    judge = report.get("judge") or {}
    cost = report["cost"]
    cards = [
        ("counts.final.requested", "requested", _num(final.get("requested"))),
        ("counts.final.accepted", f"accepted ({report['dataset']})", _num(final.get("accepted"))),
        ("counts.final.rejected", "rejected", _num(final.get("rejected"))),
        ("counts.final.failed", "failed / unjudged", _num(final.get("failed"))),
        ("diversity.distinct_2", "distinct-2", _num(diversity.get("distinct_2"))),
        (
            "diversity.self_bleu",
            "self-BLEU (lower is more diverse)",
            _num(diversity.get("self_bleu")),
        ),
        ("diversity.embedding.vendi_score", "Vendi score", _num(embedding.get("vendi_score"))),
        ("coverage.share", "leaves covered", _pct(cov.get("share"))),
        (
            "coverage.normalized_entropy",
            "leaf entropy (normalised)",
            _num(cov.get("normalized_entropy")),
        ),
        ("judge.mean", "mean judge score", _num(judge.get("mean"))),
        ("faithfulness.rate", "faithful samples", _pct(faith.get("rate"))),
        (
            "cost.tokens_per_accepted",
            "tokens per accepted sample",
            _tokens(cost),
        ),
    ]
    if cost.get("cost_per_accepted") is not None:
        cards.append(
            (
                "cost.cost_per_accepted",
                f"cost per accepted sample ({cost['currency']})",
                f"{cost['cost_per_accepted']:.5f}",
            )
        )
    return [{"key": k, "label": label, "value": v} for k, label, v in cards]


def _tokens(cost: dict[str, Any]) -> str:
    value = cost.get("tokens_per_accepted")
    return "–" if value is None else f"{value:,.0f}"


MAX_LEAF_BARS = 30


def coverage_figure(cov: dict[str, Any]) -> Figure:
    """One bar per leaf for a small tree; leaves by sample count for a large one."""
    caption = (
        f"{cov['covered']} of {cov['leaves']} planned leaves ({cov['source']}) have an "
        f"accepted sample; normalised entropy {_num(cov['normalized_entropy'])}; "
        f"{cov['off_plan']} samples off plan."
    )
    if len(cov["counts"]) <= MAX_LEAF_BARS:
        # A tree leaf's topic is its path: bars name the leaf, colours its top branch.
        paths = [str(cov.get("labels", {}).get(leaf, leaf)) for leaf in cov["counts"]]
        parts = [path.split(PATH_SEPARATOR) for path in paths]
        return bar_figure(
            "coverage",
            "Concept coverage",
            "Accepted samples per planned leaf"
            + (", coloured by top-level branch. " if cov.get("labels") else ". ")
            + caption,
            [(p[-1], n) for p, n in zip(parts, cov["counts"].values(), strict=True)],
            horizontal=True,
            ylabel="accepted samples",
            groups=[p[0] for p in parts] if cov.get("labels") else None,
        )
    return bar_figure(
        "coverage",
        "Concept coverage",
        "Leaves by how many accepted samples they got (0: an uncovered leaf). " + caption,
        [(f"{k} samples", n) for k, n in cov["leaves_by_samples"].items()],
        ylabel="leaves",
    )


def report_figures(report: dict[str, Any]) -> list[Figure]:
    """Every figure the report has data for."""
    figures: list[Figure] = []
    final = report["counts"]["final"] or {}
    generation = report["counts"]["generation"]
    curation = report["counts"].get("curation") or {}
    funnel: list[tuple[str, Value]] = [
        ("requested", generation["requested"]),
        ("generated", generation["accepted"]),
        ("gen. rejected", generation["rejected"]),
        ("gen. failed", generation["failed"]),
    ]
    if curation:
        funnel += [("curation rejected", curation["rejected"]), ("unjudged", curation["unjudged"])]
    funnel.append(("accepted", final.get("accepted", 0)))
    figures.append(
        bar_figure(
            "counts",
            "Where every requested sample went",
            "requested = accepted + rejected + failed + pending, generation and curation together.",
            funnel,
        )
    )
    diversity = report["diversity"]
    div_values: list[tuple[str, Value]] = [
        (name, diversity[key])
        for name, key in (
            ("distinct-1", "distinct_1"),
            ("distinct-2", "distinct_2"),
            ("distinct-3", "distinct_3"),
            ("self-BLEU", "self_bleu"),
        )
        if diversity.get(key) is not None
    ]
    embedding = diversity.get("embedding")
    if embedding and embedding.get("mean_pairwise_similarity") is not None:
        div_values.append(("mean pairwise cos", embedding["mean_pairwise_similarity"]))
    if div_values:
        vendi = (
            f" Vendi score {fmt(embedding['vendi_score'])} with {embedding['embedder']} "
            f"over {embedding['samples']} samples."
            if embedding and embedding.get("vendi_score") is not None
            else " No embedder: no embedding similarity or Vendi score."
        )
        figures.append(
            bar_figure(
                "diversity",
                "Diversity",
                f"distinct-n over {diversity['samples']} samples (higher is more diverse); "
                f"self-BLEU over {diversity['self_bleu_sampled']} sampled (lower is more diverse)."
                + vendi,
                div_values,
                ylim=(0, 1.1),
            )
        )
    cov = report["coverage"]
    if cov["counts"]:
        figures.append(coverage_figure(cov))
    for name, cond in report["conditions"].items():
        values = cond["values"]
        figures.append(
            grouped_figure(
                f"condition-{name}",
                f"Condition “{name}”: requested vs actual",
                "Share of each value: as the spec's weights request it, and among accepted "
                "samples. A gap means generation or curation lost samples unevenly.",
                values,
                [
                    ("requested", [cond["expected_share"][v] for v in values]),
                    ("accepted", [cond["accepted_share"][v] or 0.0 for v in values]),
                ],
                ylabel="share",
            )
        )
    turns = report["turns"]["histogram"]
    if turns:
        figures.append(
            bar_figure(
                "turns",
                "Rounds per dialogue",
                "Assistant turns per accepted dialogue.",
                [(k, v) for k, v in turns.items()],
                ylabel="dialogues",
            )
        )
    lengths = report["lengths"]
    bins = list(lengths["user_words"]["histogram"])
    figures.append(
        grouped_figure(
            "lengths",
            "Turn lengths",
            f"Words per turn. Median user turn {_words(lengths['user_words']['median'])} words, "
            f"median assistant turn {_words(lengths['assistant_words']['median'])} words.",
            bins,
            [
                ("user", [lengths["user_words"]["histogram"][b] for b in bins]),
                ("assistant", [lengths["assistant_words"]["histogram"][b] for b in bins]),
            ],
            ylabel="turns",
        )
    )
    judge = report.get("judge")
    if judge:
        figures.append(
            bar_figure(
                "judge",
                "Judge scores",
                f"Overall rubric score of {judge['judged']} judged samples; kept at "
                f">= {judge['threshold']}. Mean {_num(judge['mean'])}.",
                list(judge["histogram"].items()),
                ylabel="samples",
            )
        )
    faith = report.get("faithfulness")
    if faith:
        figures.append(
            bar_figure(
                "faithfulness",
                "Faithfulness of claims",
                f"{faith['faithful']} of {faith['checked']} checked samples faithful "
                f"({_pct(faith['rate'])}); claims by verdict against retrieved sources.",
                list(faith["claims"].items()),
                ylabel="claims",
            )
        )
    rejections = report["rejections"]
    reasons: list[tuple[str, Value]] = [
        *((f"generation · {k}", v) for k, v in rejections["generation"].items()),
        *((f"curation · {k}", v) for k, v in rejections["curation"].items()),
    ]
    if reasons:
        figures.append(
            bar_figure(
                "rejections",
                "Rejection reasons",
                "Every rejected sample with every reason it was given (a curation reject may "
                "have several).",
                reasons,
                horizontal=True,
                ylabel="samples",
            )
        )
    tokens = report["cost"]["tokens"]
    accepted = report["cost"]["accepted"] or 0
    if accepted:
        figures.append(
            bar_figure(
                "tokens",
                "Tokens per accepted sample",
                "All tokens spent (on rejected samples too), divided by accepted samples "
                f"({report['cost']['note']}).",
                [
                    ("generation", round(tokens["generation"]["total_tokens"] / accepted)),
                    ("judges", round(tokens["judge"]["total_tokens"] / accepted)),
                ],
                ylabel="tokens",
            )
        )
    return figures


def report_tables(report: dict[str, Any]) -> list[Table]:
    """Tables: blocks, conditions, agreement, cost."""
    tables: list[Table] = []
    cond_rows = []
    for name, cond in report["conditions"].items():
        for value in cond["values"]:
            planned = cond["planned"][value] if cond["planned"] else None
            cond_rows.append(
                [
                    name,
                    value,
                    _pct(cond["expected_share"][value]),
                    _num(planned),
                    cond["generated"][value],
                    cond["accepted"][value],
                    _pct(cond["accepted_share"][value]),
                ]
            )
    tables.append(
        Table(
            "conditions",
            "Conditions: requested vs actual",
            ["condition", "value", "requested", "planned", "generated", "accepted", "share"],
            cond_rows,
            "The spec has no conditions.",
        )
    )
    agreement = (report.get("labels") or {}).get("agreement") or {}
    kappa_rows = [
        [pair, *(_num(k.get(f)) for f in ("topic", "difficulty", "quality"))]
        for pair, k in (agreement.get("kappa") or {}).items()
    ]
    tables.append(
        Table(
            "agreement",
            "Judge agreement (Cohen's kappa)",
            ["judges", "topic", "difficulty", "quality"],
            kappa_rows,
            "Agreement needs two or more label judges (curate.labels.judges).",
        )
    )
    tokens = report["cost"]["tokens"]
    tables.append(
        Table(
            "cost",
            "Tokens and cost",
            ["what", "prompt tokens", "completion tokens", "total"],
            [
                [
                    what,
                    tokens[what]["prompt_tokens"],
                    tokens[what]["completion_tokens"],
                    tokens[what]["total_tokens"],
                ]
                for what in ("generation", "judge")
            ],
        )
    )
    return tables


def render_report_html(report: dict[str, Any]) -> str:
    """The report page."""
    run = report["run"]
    subtitle = (
        f"{run['path']} · {report['dataset']} samples · task {run['task']} · "
        f"models {', '.join(f'{k}: {v}' for k, v in (run['models'] or {}).items()) or '–'}"
    )
    return render_page(
        title="synthloom dataset report",
        subtitle=subtitle,
        cards=report_cards(report),
        figures=report_figures(report),
        tables=report_tables(report),
        notes=list(report.get("notes") or []),
        data=report,
    )
