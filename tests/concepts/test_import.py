"""Importing trees: outlines, node-link JSON, OBO ontologies, ICD-10; and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.concepts import ConceptTree
from knowledge.concepts.importers import icd10_tree, import_tree
from synthloom.core.errors import ConceptTreeError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SYMPTOMS = EXAMPLES / "ontology" / "symptoms.obo"


def names(tree: ConceptTree) -> list[str]:
    return [tree.name(n) for n in tree.nodes()]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_outline_in_both_spellings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "outline.yaml",
        """
name: Cardiology
description: The heart and vessels
children:
  - name: Hypertension
    code: I10
    children: [Primary hypertension, Secondary hypertension]
  - Arrhythmia:
      Atrial fibrillation: Irregular, often fast heart rhythm
      Bradycardia: null
  - Heart failure
""",
    )
    tree = import_tree(path)
    assert names(tree) == [
        "Cardiology",
        "Hypertension",
        "Arrhythmia",
        "Heart failure",
        "Primary hypertension",
        "Secondary hypertension",
        "Atrial fibrillation",
        "Bradycardia",
    ]
    af = next(n for n in tree.nodes() if tree.name(n) == "Atrial fibrillation")
    assert tree.node(af).description == "Irregular, often fast heart rhythm"
    assert tree.node(af).path == ("Cardiology", "Arrhythmia", "Atrial fibrillation")
    assert tree.node(tree.children(tree.root)[0]).code == "I10"
    assert {tree.node(n).origin for n in tree.nodes()} == {"imported"}


def test_json_outline_and_cut_depth(tmp_path: Path) -> None:
    outline = {"Medicine": {"Cardiology": ["Hypertension", "Angina"], "Neurology": None}}
    path = write(tmp_path / "outline.json", json.dumps(outline))
    tree = import_tree(path)
    assert len(tree) == 5 and tree.height == 2
    assert len(import_tree(path, max_depth=1)) == 3


def test_multi_rooted_outline_is_an_error_unless_a_root_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "outline.yaml", "- Cardiology\n- Neurology\n- Oncology\n")
    with pytest.raises(ConceptTreeError, match=r"3 top-level entries .*--root NAME"):
        import_tree(path)
    tree = import_tree(path, root="Medicine")
    assert names(tree) == ["Medicine", "Cardiology", "Neurology", "Oncology"]


def test_outline_errors_name_the_file_and_place(tmp_path: Path) -> None:
    twice = write(tmp_path / "twice.yaml", "Medicine: [Cardiology, cardiology]\n")
    with pytest.raises(ConceptTreeError, match=r"twice.yaml: Medicine: 'cardiology' appears twice"):
        import_tree(twice)
    typo = write(tmp_path / "typo.yaml", "name: Medicine\nchildern: [A]\n")
    with pytest.raises(ConceptTreeError, match=r"unknown key\(s\) \['childern'\]"):
        import_tree(typo)
    bad = write(tmp_path / "bad.yaml", "Medicine: [a, b\n")
    with pytest.raises(ConceptTreeError, match=r"bad.yaml:\d+: invalid YAML"):
        import_tree(bad)
    scalar = write(tmp_path / "scalar.yaml", "concepts/medicine.yaml\n")
    with pytest.raises(ConceptTreeError, match=r"scalar.yaml: expected an outline .*single value"):
        import_tree(scalar)
    one = write(tmp_path / "one.yaml", "- Medicine\n")
    assert len(import_tree(one)) == 1  # a one-topic list is a (tiny) tree


def test_node_link_json_from_networkx(tmp_path: Path) -> None:
    data = {
        "directed": True,
        "multigraph": False,
        "graph": {},
        "nodes": [{"id": 1, "label": "Root"}, {"id": 2, "label": "Leaf", "extra": 7}],
        "links": [{"source": 1, "target": 2}],
    }
    tree = import_tree(write(tmp_path / "g.json", json.dumps(data)))
    assert names(tree) == ["Root", "Leaf"]
    assert tree.root == "1" and tree.node("2").attrs["extra"] == 7


def test_cyclic_node_link_is_an_error(tmp_path: Path) -> None:
    data = {
        "directed": True,
        "nodes": [{"id": "r", "name": "Root"}, {"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
        "edges": [
            {"source": "r", "target": "a"},
            {"source": "a", "target": "b"},
            {"source": "b", "target": "a"},
        ],
    }
    path = write(tmp_path / "cycle.json", json.dumps(data))
    with pytest.raises(ConceptTreeError, match=r"cycle.json: the hierarchy has a cycle: .*→"):
        import_tree(path)


def test_two_parents_in_node_link_is_an_error(tmp_path: Path) -> None:
    data = {
        "nodes": [{"id": x, "name": x} for x in "rabc"],
        "edges": [
            {"source": "r", "target": "a"},
            {"source": "r", "target": "b"},
            {"source": "a", "target": "c"},
            {"source": "b", "target": "c"},
        ],
    }
    with pytest.raises(ConceptTreeError, match=r"'c' has 2 parents \('a', 'b'\)"):
        import_tree(write(tmp_path / "dag.json", json.dumps(data)))


def test_unknown_format_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConceptTreeError, match=r"unknown file format '.csv'"):
        import_tree(write(tmp_path / "tree.csv", "a,b\n"))
    with pytest.raises(ConceptTreeError, match="file not found"):
        import_tree(tmp_path / "missing.json")
    with pytest.raises(ConceptTreeError, match=r"broken.json:1:\d+: invalid JSON"):
        import_tree(write(tmp_path / "broken.json", "{"))
    with pytest.raises(ConceptTreeError, match="the tree is empty"):
        import_tree(write(tmp_path / "empty.json", '{"nodes": [], "edges": []}'))


def test_obo_example_imports_with_is_a_parents() -> None:
    tree = import_tree(SYMPTOMS)
    assert tree.root == "MSO:0000001" and tree.name(tree.root) == "symptom"
    assert len(tree) == 20  # the obsolete term is skipped
    assert [tree.name(n) for n in tree.children(tree.root)] == [
        "general symptom",
        "respiratory symptom",
        "pain",
        "gastrointestinal symptom",
    ]
    pleuritic = tree.node("MSO:0000032")
    # Two is_a parents: the first listed is the tree parent, the other is recorded.
    assert pleuritic.path == ("symptom", "pain", "chest pain", "pleuritic chest pain")
    assert pleuritic.attrs["also_under"] == ["MSO:0000020"]
    assert pleuritic.description == "Sharp chest pain that worsens on breathing in or coughing."
    assert pleuritic.code == "MSO:0000032"
    assert tree.graph.graph["ontology"] == "mso"


def test_obo_relations_beyond_is_a_can_make_parents() -> None:
    tree = import_tree(SYMPTOMS, relations=("is_a", "part_of"))
    assert tree.node("MSO:0000034").attrs["also_under"] == ["MSO:0000040"]


def test_multi_rooted_obo_needs_a_root(tmp_path: Path) -> None:
    text = SYMPTOMS.read_text().replace("is_a: MSO:0000001 ! symptom\n", "", 1)
    path = write(tmp_path / "two.obo", text)
    with pytest.raises(ConceptTreeError, match=r"2 roots \('symptom', 'general symptom'\)"):
        import_tree(path)
    tree = import_tree(path, root="Symptoms")
    assert tree.name(tree.root) == "Symptoms" and len(tree) == 21


def test_cyclic_obo_is_an_error(tmp_path: Path) -> None:
    text = SYMPTOMS.read_text().replace(
        "name: symptom\n", "name: symptom\nis_a: MSO:0000011 ! fever\n", 1
    )
    with pytest.raises(ConceptTreeError, match="cycle"):
        import_tree(write(tmp_path / "cycle.obo", text))


def test_icd10_chapters_blocks_categories_cut_to_a_depth() -> None:
    tree = icd10_tree(max_depth=3)
    stats = tree.stats()
    assert stats.by_depth[1] == 22  # chapters I..XXII
    assert stats.by_depth[2] == 211  # top-level blocks
    assert tree.node("A00").path == (
        "ICD-10",
        "Certain infectious and parasitic diseases",
        "Intestinal infectious diseases",
        "Cholera",
    )
    assert tree.node("A00").attrs["kind"] == "category"
    assert tree.node("I").attrs["kind"] == "chapter" and tree.node("I").code == "I"
    assert len(icd10_tree(max_depth=2)) == 1 + 22 + 211


def test_shipped_icd10_example_is_the_depth_two_cut() -> None:
    path = EXAMPLES / "icd10" / "icd10-depth2.json"
    assert path.stat().st_size < 1_000_000
    shipped = ConceptTree.load(path)
    assert shipped.to_node_link() == icd10_tree(max_depth=2).to_node_link()
