"""The concept tree drawn for people: indented text lines and Mermaid labels."""

from __future__ import annotations

from typing import Any

from knowledge.concepts.tree import ConceptTree


def mermaid_label(name: str, code: Any) -> str:
    """A node's Mermaid label: its code before its name, quotes escaped."""
    text = f"{code} {name}" if code else name
    return text.replace('"', "#quot;").replace("\n", " ")


def render_tree(
    tree: ConceptTree,
    *,
    start: str | None = None,
    max_depth: int | None = None,
    max_children: int | None = None,
    coverage: bool = False,
) -> list[str]:
    """The tree as indented text lines (codes before names; `[accepted/planned]` coverage).

    Below `max_depth` levels a node shows `(+N)`, its hidden children; past
    `max_children` a level ends with `… N more`.
    """
    top = start or tree.root
    limit = tree.depth(top) + max_depth if max_depth is not None else None
    lines = [_line_label(tree, top, coverage)]
    # Iterative depth-first walk: deep ontologies would overflow recursion.
    pending = _rows(tree, top, "", max_children)[::-1]
    while pending:
        node, prefix, last, hidden = pending.pop()
        branch = prefix + ("└── " if last else "├── ")
        if node is None:
            lines.append(f"{branch}… {hidden} more")
            continue
        label = _line_label(tree, node, coverage)
        kids = tree.children(node)
        if limit is not None and kids and tree.depth(node) >= limit:
            lines.append(f"{branch}{label} (+{len(kids)})")
            continue
        lines.append(branch + label)
        below = prefix + ("    " if last else "│   ")
        pending.extend(_rows(tree, node, below, max_children)[::-1])
    return lines


def _rows(
    tree: ConceptTree, node: str, prefix: str, max_children: int | None
) -> list[tuple[str | None, str, bool, int]]:
    kids = tree.children(node)
    shown = kids if max_children is None else kids[:max_children]
    hidden = len(kids) - len(shown)
    rows: list[tuple[str | None, str, bool, int]] = [
        (k, prefix, i == len(shown) - 1 and not hidden, 0) for i, k in enumerate(shown)
    ]
    if hidden:
        rows.append((None, prefix, True, hidden))
    return rows


def _line_label(tree: ConceptTree, node: str, coverage: bool) -> str:
    attrs = tree.graph.nodes[node]
    text = f"{attrs['code']} {attrs['name']}" if attrs.get("code") else str(attrs["name"])
    if attrs.get("status") == "failed":
        text += "  ✗ expansion failed"
    counts = attrs.get("coverage") if coverage else None
    if counts:
        text += f"  [{counts.get('accepted', 0)}/{counts.get('planned', 0)}]"
    return text


def mermaid(tree: ConceptTree, max_depth: int | None = None) -> str:
    """A Mermaid `flowchart` of the tree (down to `max_depth` if given)."""
    lines = ["flowchart TD"]
    alias: dict[str, str] = {}
    for node in tree.nodes():
        if max_depth is not None and tree.depth(node) > max_depth:
            continue
        alias[node] = f"n{len(alias)}"
        label = mermaid_label(tree.name(node), tree.graph.nodes[node].get("code"))
        parent = tree.parent(node)
        if parent is None:
            lines.append(f'    {alias[node]}["{label}"]')
        else:
            lines.append(f'    {alias[parent]} --> {alias[node]}["{label}"]')
    return "\n".join(lines) + "\n"
