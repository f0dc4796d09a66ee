"""The `concepts:` block: which tree a run covers, and the expansion settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from knowledge.concepts.spec import ConceptsSpec, ExpandSpec
from synthloom.core.errors import ConceptTreeError

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


def test_the_plan_fingerprint_names_the_tree_not_where_the_checkout_lives(
    tmp_path: Path,
) -> None:
    from synthloom.spec import load_spec

    body = (
        "samples: 4\noutput: {out}\n"
        "concepts: {{tree: {tree}, expand: {{max_depth: 2, concurrency: {c}}}}}\n"
    )

    def fingerprint(folder: str, *, tree: str = "t.yaml", c: int = 4, out: str = "r") -> str:
        where = tmp_path / folder
        where.mkdir(exist_ok=True)
        (where / tree).write_text("Root:\n  A: [a1, a2]\n", encoding="utf-8")
        (where / "spec.yaml").write_text(body.format(out=out, tree=tree, c=c), encoding="utf-8")
        spec = load_spec(where / "spec.yaml")
        assert spec.concepts is not None and spec.concepts.tree is not None
        assert spec.concepts.tree.is_absolute()
        return spec.plan_fingerprint()

    base = fingerprint("one")
    assert fingerprint("two") == base  # the same spec and tree in another checkout
    assert fingerprint("three", c=32, out="elsewhere") == base  # speed and save place
    assert fingerprint("four", tree="other.yaml") != base  # another tree


def test_a_missing_or_unreadable_tree_file_names_the_spec_field(tmp_path: Path) -> None:
    with pytest.raises(ConceptTreeError, match=r"^concepts\.tree: .*nope\.json: file not found"):
        ConceptsSpec(tree=tmp_path / "nope.json").base_tree()
    (tmp_path / "t.txt").write_text("hi", encoding="utf-8")
    with pytest.raises(ConceptTreeError, match=r"^concepts\.tree: .*unknown file format '\.txt'"):
        ConceptsSpec(tree=tmp_path / "t.txt").base_tree()
