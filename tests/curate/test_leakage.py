"""Leakage: verbatim copies of in-context demos or retrieved chunks are flagged."""

from __future__ import annotations

from synthloom.curate.config import LeakageSpec
from synthloom.curate.leakage import LeakageFilter
from tests.curate.conftest import EXCHANGES, dialogue, sample

DEMO = dialogue(*EXCHANGES["Managing type 2 diabetes after diagnosis"][:2], system=None)
SOURCE = (
    "HbA1c reflects the average blood glucose over the previous two to three months. For most "
    "adults with type 2 diabetes a target of 53 mmol/mol (7.0%) is agreed with the care team, "
    "and metformin is usually the first medicine offered alongside changes to diet and activity."
)
BLOCK = LeakageFilter(LeakageSpec())


def test_a_sample_that_replays_its_demo_is_flagged() -> None:
    leaked = dialogue(
        (
            "Hello! I was just told I have type 2 diabetes. What should I change first?",
            DEMO[1]["content"],
        ),
        ("Do I have to stop eating bread?", DEMO[3]["content"]),
    )
    record = sample(leaked, demos=[{"id": "demo-7", "messages": DEMO}])
    keep, reason = BLOCK.check(record)
    assert not keep and reason is not None
    assert reason.code == "leakage" and reason.text.startswith("copies demo demo-7 (")


def test_a_sample_that_follows_its_demo_without_copying_passes() -> None:
    own = dialogue(*EXCHANGES["Understanding high blood pressure readings"][:2])
    assert BLOCK.check(sample(own, demos=[{"id": "demo-7", "messages": DEMO}])) == (True, None)
    # Demos given as plain strings work the same way.
    assert BLOCK.check(sample(own, demos=["some other demo text entirely"])) == (True, None)


def test_an_answer_pasted_from_a_source_is_flagged() -> None:
    pasted = dialogue(("What does HbA1c mean for me?", SOURCE))
    keep, reason = BLOCK.check(sample(pasted, sources=[{"id": "chunk-3", "text": SOURCE}]))
    assert not keep and reason is not None
    assert reason.code == "leakage"
    assert reason.text.startswith("assistant turn 2 pastes source chunk-3 (100%")


def test_a_grounded_answer_in_its_own_words_passes() -> None:
    grounded = dialogue(
        (
            "What does HbA1c mean for me?",
            "It is your average blood sugar over roughly the last three months. Many adults agree "
            "a target near 7% with their team, and metformin is often the first medicine.",
        ),
    )
    assert BLOCK.check(sample(grounded, sources=[SOURCE])) == (True, None)
