"""The concept tree: what a dataset covers, and everything that reads, grows or draws it.

tree.py       the model (a `networkx.DiGraph` with one root) and its node-link form
files.py      the file format's marks, JSON read with located errors, GraphML values
render.py     indented text and Mermaid
importers.py  ICD-10, OBO, GraphML, node-link JSON and outlines into a tree
outline.py    nested YAML/JSON outlines (real hierarchies, several parents)
screen.py     the rules that keep a proposed child out (duplicates, off-topic)
spec.py       `concepts:` in a run spec
"""

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
