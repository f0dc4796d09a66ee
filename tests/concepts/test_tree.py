"""The concept tree type: attributes, files (atomic), exports and the text rendering."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from knowledge.concepts import ConceptTree, child_id, render_tree
from synthloom.core import store
from synthloom.core.errors import ConceptTreeError


def small_tree() -> ConceptTree:
    tree = ConceptTree.from_seeds(
        [("Hypertension", "Raised blood pressure"), "Asthma"], root="Chronic disease care"
    )
    hyper = child_id(tree.root, "Hypertension")
    tree.add(hyper, "Renal hypertension", 'Caused by "kidney" disease')
    tree.add(hyper, "Hypertension in pregnancy")
    return tree


def test_nodes_carry_name_description_depth_origin_and_path() -> None:
    tree = small_tree()
    hyper = child_id(tree.root, "Hypertension")
    renal = tree.children(hyper)[0]
    node = tree.node(renal)
    assert (node.name, node.depth, node.origin) == ("Renal hypertension", 2, "generated")
    assert node.path == ("Chronic disease care", "Hypertension", "Renal hypertension")
    assert tree.node(hyper).origin == "seed" and tree.node(tree.root).depth == 0
    assert tree.topic(renal) == "Hypertension > Renal hypertension"
    assert tree.parent(renal) == hyper and tree.parent(tree.root) is None
    assert [tree.name(n) for n in tree.leaves()] == [
        "Asthma",
        "Renal hypertension",
        "Hypertension in pregnancy",
    ]


def test_ids_are_stable_and_seeds_must_differ() -> None:
    assert child_id("root", "The Hypertensions") == child_id("root", "hypertension")
    with pytest.raises(ConceptTreeError, match="listed twice"):
        ConceptTree.from_seeds(["Asthma", "asthma"])


def test_node_link_round_trip_keeps_order_and_attributes(tmp_path: Path) -> None:
    tree = small_tree()
    tree.graph.nodes[tree.leaves()[0]]["coverage"] = {"planned": 3, "accepted": 2}
    path = tree.save(tmp_path / "tree.json")
    data = json.loads(path.read_text())
    assert data["graph"]["format"] == "synthloom-concept-tree" and "edges" in data
    again = ConceptTree.load(path)
    assert again.to_node_link() == tree.to_node_link()
    assert again.nodes() == tree.nodes()
    assert again.fingerprint() == tree.fingerprint()


def test_a_failed_save_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_tree().save(tmp_path / "tree.json")
    before = path.read_bytes()
    bigger = small_tree()
    bigger.add(bigger.root, "Diabetes")

    def crash(fd: int) -> None:
        raise OSError("disk full")

    # The new content is written but never made durable: the rename must not happen.
    monkeypatch.setattr("synthloom.core.store.os.fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        bigger.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tree.json"]  # no temporary file left
    assert ConceptTree.load(path).to_node_link() == small_tree().to_node_link()


def test_write_atomically_removes_its_temporary_file_on_error(tmp_path: Path) -> None:
    def boom(handle: object) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write_atomically(tmp_path / "x.txt", boom)
    assert list(tmp_path.iterdir()) == []


def test_graphml_export_reads_back_with_flat_attributes(tmp_path: Path) -> None:
    import networkx as nx

    tree = small_tree()
    tree.graph.nodes[tree.root]["coverage"] = {"planned": 4, "accepted": 3}
    path = tree.write_graphml(tmp_path / "tree.graphml")
    ET.parse(path)  # well-formed XML
    back = nx.read_graphml(path)
    assert back.number_of_nodes() == len(tree) and back.number_of_edges() == len(tree) - 1
    root = back.nodes[tree.root]
    assert root["name"] == "Chronic disease care" and root["coverage_accepted"] == 3
    renal = tree.children(child_id(tree.root, "Hypertension"))[0]
    assert back.nodes[renal]["path"] == "Chronic disease care > Hypertension > Renal hypertension"


def test_mermaid_export_escapes_quotes_and_can_stop_at_a_depth() -> None:
    tree = small_tree()
    text = tree.to_mermaid()
    assert text.startswith("flowchart TD\n")
    assert 'n0["Chronic disease care"]' in text
    assert "#quot;" not in text  # descriptions are not drawn, only names
    assert text.count("-->") == len(tree) - 1
    assert tree.to_mermaid(max_depth=1).count("-->") == 2
    quoted = ConceptTree.new('Say "hi"').to_mermaid()
    assert "Say #quot;hi#quot;" in quoted


def test_render_tree_draws_branches_and_cuts() -> None:
    tree = small_tree()
    assert render_tree(tree) == [
        "Chronic disease care",
        "├── Hypertension",
        "│   ├── Renal hypertension",
        "│   └── Hypertension in pregnancy",
        "└── Asthma",
    ]
    assert render_tree(tree, max_depth=1) == [
        "Chronic disease care",
        "├── Hypertension (+2)",
        "└── Asthma",
    ]
    assert render_tree(tree, max_children=1) == [
        "Chronic disease care",
        "├── Hypertension",
        "│   ├── Renal hypertension",
        "│   └── … 1 more",
        "└── … 1 more",
    ]


def test_stats_count_depths_origins_and_fanout() -> None:
    stats = small_tree().stats()
    assert (stats.nodes, stats.leaves, stats.height) == (5, 3, 2)
    assert stats.by_depth == {0: 1, 1: 2, 2: 2}
    assert stats.by_origin == {"generated": 2, "seed": 3}
    assert (stats.fanout_min, stats.fanout_max) == (2, 2)


def test_cut_keeps_the_upper_levels() -> None:
    tree = small_tree().cut(1)
    assert len(tree) == 3 and tree.height == 1
