"""The concept tree: what a dataset covers, and everything that reads, grows or draws it.

tree.py       the model (a `networkx.DiGraph` with one root) and its node-link form
files.py      the file format's marks, JSON read with located errors, GraphML values
render.py     indented text and Mermaid
importers.py  ICD-10, OBO, GraphML, node-link JSON and outlines into a tree
outline.py    nested YAML/JSON outlines (real hierarchies, several parents)
screen.py     the rules that keep a proposed child out (duplicates, off-topic)
spec.py       `concepts:` in a run spec

The names below load their module on first use: a run without a tree, or a
command that only reads `concepts:` of a spec, never imports networkx.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.concepts.files import PATH_SEPARATOR, read_json
    from knowledge.concepts.render import render_tree
    from knowledge.concepts.tree import (
        ROOT_ID,
        ConceptNode,
        ConceptTree,
        TreeStats,
        check_tree_shape,
        child_id,
    )

_HOMES = {
    "PATH_SEPARATOR": "files",
    "read_json": "files",
    "render_tree": "render",
    "ROOT_ID": "tree",
    "ConceptNode": "tree",
    "ConceptTree": "tree",
    "TreeStats": "tree",
    "check_tree_shape": "tree",
    "child_id": "tree",
}

__all__ = [
    "PATH_SEPARATOR",
    "ROOT_ID",
    "ConceptNode",
    "ConceptTree",
    "TreeStats",
    "check_tree_shape",
    "child_id",
    "read_json",
    "render_tree",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"knowledge.concepts.{home}"), name)
    globals()[name] = value
    return value
