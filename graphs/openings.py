"""The opening check: a sample whose first turn repeats the accepted set is redirected.

A repeated opening usually means a repeated dialogue (for CoT: a repeated question),
so it is cheapest to catch it before the rest is played out. The run's novelty gate
(`synthloom.novelty`, reached through the graph's context as an `OpeningCheck`) says
which accepted openings the candidate is too close to; the model is then asked again
with those shown as already covered, within the same budget as any bad turn, and the
sample is rejected as `near_duplicate of <id>` when it keeps repeating.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from graphs.common import plan_of, rejected
from synthloom.core.records import Plan, Reason, Turn


class CoveredOpening(Protocol):
    """An accepted opening the candidate is too close to."""

    @property
    def of(self) -> str:
        """The accepted sample's id."""
        ...

    @property
    def similarity(self) -> float:
        """Word n-gram Jaccard of the two openings."""
        ...

    @property
    def opening(self) -> str:
        """The accepted opening's text."""
        ...


class OpeningCheck(Protocol):
    """The part of the novelty gate a dialogue graph asks."""

    def check_opening(self, plan: Plan, opening: str) -> Sequence[CoveredOpening]:
        """Accepted openings at or above the gate's threshold, nearest first."""
        ...


def covered_feedback(nearest: Sequence[CoveredOpening]) -> str:
    """What the user simulator is told when its opening repeats accepted ones."""
    shown = "; ".join(f'"{n.opening[:200]}"' for n in nearest)
    return (
        f"it repeats an opening already in the dataset ({shown}); that is covered, so "
        "open with a different question, situation or angle"
    )


def check_opening(
    state: Mapping[str, Any],
    candidate: Turn,
    gate: OpeningCheck,
    max_regenerations: int,
    *,
    attempts_key: str = "attempts",
) -> dict[str, Any] | None:
    """None for a novel opening; else a regeneration with feedback, or the rejection.

    `attempts_key` names the graph's counter of tries at the current turn (the CoT
    graph counts its question's tries in `step_attempts`, and has no `regenerations`).
    """
    nearest = gate.check_opening(plan_of(state), candidate["content"])
    if not nearest:
        return None
    retries = int(state.get("novelty_retries", 0)) + 1
    attempts = int(state.get(attempts_key, 0)) + 1
    if attempts > max_regenerations:
        first = nearest[0]
        text = (
            f"near_duplicate of {first.of} (opening, word n-gram Jaccard "
            f"{first.similarity:.2f}; still repeating after {attempts} tries)"
        )
        return {**rejected(Reason("near_duplicate", text)), "novelty_retries": retries}
    update = {attempts_key: attempts, "novelty_retries": retries}
    if attempts_key == "attempts":
        update["regenerations"] = int(state.get("regenerations", 0)) + 1
    return {**update, "feedback": covered_feedback(nearest)}
