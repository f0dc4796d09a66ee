"""The report's figures: matplotlib drawn to inline SVG, each bar labelled with its value.

Text stays text in the SVG (`svg.fonttype: none`), so the numbers a reader sees
are in the page's DOM, and a test can compare them with the JSON report.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure as MplFigure

PALETTE = ("#3b6ea5", "#e08a2e", "#5a9e6f", "#c0504d", "#8064a2", "#4bacc6")
WIDTH, HEIGHT = 6.4, 3.4
LABEL_CHARS = 38
WRAP_CHARS = 18

Value = int | float


def fmt(value: Value) -> str:
    """How a value is written on its bar: integers whole, fractions to three decimals."""
    return str(value) if isinstance(value, int) else f"{value:.3f}"


@dataclass
class Figure:
    """One figure of the page and the values it shows."""

    id: str
    title: str
    caption: str
    svg: str
    values: list[tuple[str, Value]] = field(default_factory=list)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _svg(fig: MplFigure, salt: str) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    # Inline SVG needs neither the XML declaration nor the DOCTYPE.
    return text[text.index("<svg") :]


def _new(height: float = HEIGHT) -> tuple[MplFigure, Axes]:
    fig = MplFigure(figsize=(WIDTH, height), dpi=96)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    return fig, ax


def _label_bars(
    ax: Axes,
    bars: Any,
    values: Sequence[Value],
    horizontal: bool = False,
    *,
    fig_id: str,
    start: int = 0,
) -> None:
    # Each value label is an SVG group `value-<figure>-<n>`, in data order, so a
    # browser test can read what the page draws and hold it against the JSON.
    for number, (bar, value) in enumerate(zip(bars, values, strict=True), start):
        gid = f"value-{fig_id}-{number}"
        if horizontal:
            ax.annotate(
                fmt(value),
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
                gid=gid,
            )
        else:
            ax.annotate(
                fmt(value),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                gid=gid,
            )


def bar_figure(
    fig_id: str,
    title: str,
    caption: str,
    values: Sequence[tuple[str, Value]],
    *,
    horizontal: bool = False,
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
    groups: Sequence[str] | None = None,
) -> Figure:
    """A labelled bar chart of (label, value) pairs; bars of one of `groups` share a colour."""
    labels = [_short(label) for label, _ in values]
    numbers = [v for _, v in values]
    height = max(HEIGHT, 0.28 * len(values) + 1.0) if horizontal else HEIGHT
    fig, ax = _new(height)
    if groups is not None:
        order = list(dict.fromkeys(groups))
        colors = [PALETTE[order.index(g) % len(PALETTE)] for g in groups]
    else:
        colors = [PALETTE[i % len(PALETTE)] for i in range(len(values))]
    if horizontal:
        bars = ax.barh(range(len(values)), numbers, color=colors)
        ax.set_yticks(range(len(values)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel, fontsize=8)
        ax.set_xlim(0, (max(numbers, default=0) or 1) * 1.18)
    else:
        bars = ax.bar(range(len(values)), numbers, color=colors)
        tilt = len(values) > 4 and max((len(label) for label in labels), default=0) > 6
        ax.set_xticks(
            range(len(values)), labels, rotation=20 if tilt else 0, ha="right" if tilt else "center"
        )
        ax.set_ylabel(ylabel, fontsize=8)
        top = max(numbers, default=0) or 1
        ax.set_ylim(*(ylim or (0, top * 1.15)))
    _label_bars(ax, bars, numbers, horizontal, fig_id=fig_id)
    return Figure(fig_id, title, caption, _svg(fig, fig_id), list(values))


def grouped_figure(
    fig_id: str,
    title: str,
    caption: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Value]]],
    *,
    ylabel: str = "",
) -> Figure:
    """Side-by-side bars: one group per category, one bar per series, all labelled."""
    fig, ax = _new()
    width = 0.8 / max(len(series), 1)
    flat: list[tuple[str, Value]] = []
    top = 0.0
    for index, (name, numbers) in enumerate(series):
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(categories))]
        bars = ax.bar(positions, numbers, width, label=name, color=PALETTE[index % len(PALETTE)])
        _label_bars(ax, bars, numbers, fig_id=fig_id, start=len(flat))
        flat.extend((f"{name} · {c}", v) for c, v in zip(categories, numbers, strict=True))
        top = max(top, *numbers) if numbers else top
    wrapped = [textwrap.fill(_short(c), WRAP_CHARS) for c in categories]
    ax.set_xticks(range(len(categories)), wrapped, fontsize=7 if len(categories) > 3 else 8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_ylim(0, (top or 1) * 1.2)
    ax.legend(fontsize=7, frameon=False)
    return Figure(fig_id, title, caption, _svg(fig, fig_id), flat)


def figure_ids(svg_html: str) -> list[str]:
    """Ids of the figures in a rendered page (for tests and tooling)."""
    return re.findall(r'<figure[^>]*id="([^"]+)"', svg_html)
