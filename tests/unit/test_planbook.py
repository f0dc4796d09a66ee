"""Plans as a stream: the tally and what is left, from the files and plan indices alone."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from synthloom.core.records import Plan, RejectRecord
from synthloom.core.store import JsonlAppender
from synthloom.planbook import Done, PlanBook
from synthloom.planning import Planner
from synthloom.rundir import RunDir
from synthloom.spec import RunSpec, parse_spec


def spec_of(tmp_path: Path, samples: int, replacements: int = 0) -> RunSpec:
    return parse_spec(
        f"samples: {samples}\ntopics: [asthma, gout, eczema]\noutput: {tmp_path / 'run'}\n"
        f"coverage: {{replacements: {replacements}}}\n",
        source="spec.yaml",
    )


def accept(run_dir: RunDir, plan: Plan) -> None:
    meta = {
        "id": plan.id,
        "index": plan.index,
        "usage": {"prompt_tokens": 6, "completion_tokens": 4},
    }
    if plan.attempt:
        meta["attempt"] = plan.attempt
    JsonlAppender(run_dir.samples_path).append({"messages": [], "metadata": meta})


def reject(run_dir: RunDir, plan: Plan, status: Literal["rejected", "failed"] = "rejected") -> None:
    record = RejectRecord(id=plan.id, status=status, reason="loop: x", stage="dialogue", plan=plan)
    JsonlAppender(run_dir.rejects_path).append(record.model_dump(mode="json"))


def test_tally_counts_planned_samples_and_todo_skips_them_by_index(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, samples=6, replacements=1)
    planner = Planner(spec)
    run_dir = RunDir(spec.output)
    run_dir.path.mkdir()
    accept(run_dir, planner.plan(1))
    accept(run_dir, planner.plan(1))  # a duplicate line counts once
    reject(run_dir, planner.plan(2))
    reject(run_dir, planner.plan(4), status="failed")
    accept(run_dir, planner.plan(9))  # from a larger run of the same spec: not planned now

    book = PlanBook(spec, planner, run_dir)
    counts, done = book.tally()

    # Both lost slots get their first replacement; the accepted one needs none.
    assert set(book.replacements) == {planner.plan(2, 1).id, planner.plan(4, 1).id}
    assert (counts.requested, counts.accepted, counts.rejected, counts.failed) == (8, 1, 1, 1)
    assert counts.pending == 5 and len(done) == 3
    assert counts.usage.total_tokens == 10
    todo = [(p.index, p.attempt) for p in book.todo(done)]
    assert todo == [(0, 0), (3, 0), (5, 0), (2, 1), (4, 1)]
    assert [p.id for p in book.all_plans()][:6] == [planner.plan(i).id for i in range(6)]


def test_a_lost_replacement_calls_for_the_next_within_the_budget(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, samples=3, replacements=2)
    planner = Planner(spec)
    run_dir = RunDir(spec.output)
    run_dir.path.mkdir()
    reject(run_dir, planner.plan(0))
    reject(run_dir, planner.plan(0, 1))
    accept(run_dir, planner.plan(1))
    reject(run_dir, planner.plan(1, 1))  # rejected once, later accepted: no replacement

    book = PlanBook(spec, planner, run_dir)
    counts, done = book.tally()

    assert set(book.replacements) == {planner.plan(0, 1).id, planner.plan(0, 2).id}
    assert counts.requested == 5 and counts.rejected == 2 and counts.accepted == 1
    assert [(p.index, p.attempt) for p in book.todo(done)] == [(2, 0), (0, 2)]


def test_done_is_a_byte_per_base_sample() -> None:
    done = Done(10_000_000)
    assert done.add({"index": 9_999_999, "id": "a"})
    assert not done.add({"index": 9_999_999, "id": "a"})
    assert done.add({"index": 3, "attempt": 1, "id": "b"})
    assert done.has({"index": 9_999_999}) and done.has({"index": 3, "attempt": 1, "id": "b"})
    assert not done.has({"index": 3}) and len(done) == 2
