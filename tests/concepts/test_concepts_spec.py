"""The `concepts:` block: which tree a run covers, and the expansion settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from knowledge.concepts import ConceptTreeError
from knowledge.concepts_spec import ConceptsSpec, ExpandSpec

SYMPTOMS = Path(__file__).resolve().parents[2] / "examples" / "ontology" / "symptoms.obo"


def test_seeds_make_a_root_with_one_child_each() -> None:
    spec = ConceptsSpec(seeds=["Asthma", "Hypertension"], root="Chronic care")
    tree = spec.base_tree()
    assert [tree.name(n) for n in tree.nodes()] == ["Chronic care", "Asthma", "Hypertension"]
    assert {tree.node(n).origin for n in tree.nodes()} == {"seed"}


def test_a_tree_file_is_imported_and_cut() -> None:
    tree = ConceptsSpec(tree=SYMPTOMS, max_depth=1).base_tree()
    assert len(tree) == 5 and tree.name(tree.root) == "symptom"


def test_only_an_explicit_root_wraps_a_multi_rooted_file(tmp_path: Path) -> None:
    outline = tmp_path / "two.yaml"
    outline.write_text("- Asthma\n- COPD\n")
    with pytest.raises(ConceptTreeError, match="2 top-level entries"):
        ConceptsSpec(tree=outline).base_tree()
    tree = ConceptsSpec(tree=outline, root="Lung disease").base_tree()
    assert tree.name(tree.root) == "Lung disease" and len(tree) == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "either `tree`"),
        ({"seeds": ["a"], "tree": "t.json"}, "either `tree`"),
        ({"seeds": ["Asthma", "asthma "]}, "lists a topic twice"),
        ({"seeds": ["a"], "expand": {"max_depth": 0}}, "greater than or equal to 1"),
        ({"seeds": ["a"], "expand": {"childern_per_node": 3}}, "Extra inputs"),
    ],
)
def test_invalid_blocks(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ConceptsSpec.model_validate(data)


def test_expand_settings_become_screen_rules() -> None:
    rules = ExpandSpec(overlap_threshold=0.6, exclude=["veterinary"]).rules()
    assert rules.overlap_threshold == 0.6 and rules.exclude == ("veterinary",)
    assert rules.similarity_threshold == ExpandSpec().similarity_threshold
