"""The plans of one run folder, in memory that does not grow with `samples`.

Base plans are never listed: plan `i` is derived from the spec and `i` when it is
needed, and a finished base sample is one byte in a bitmap over the indices. Only
what the folder itself holds is kept whole: refinement rounds' saved plans, the
replacements its rejects call for and the ids of the non-base samples done. So a
run of 1,000,000 samples starts its first request at once, and a resume skips the
finished ones without deriving their plans.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from synthloom.core.records import Plan, Usage, code_of
from synthloom.core.store import iter_records
from synthloom.planning import Planner
from synthloom.rundir import Counts, RunDir
from synthloom.spec import RunSpec
from synthloom.survivors import curation_drops


def _is_base(plan: Mapping[str, Any]) -> bool:
    """A first try of a base-run slot: derived from its index alone."""
    return not plan.get("round") and not plan.get("attempt") and not plan.get("parent_id")


class Done:
    """Which planned samples have an outcome: a byte per base index, a set for the rest."""

    def __init__(self, samples: int) -> None:
        self._base = bytearray(samples)
        self._other: set[str] = set()
        self.count = 0

    def add(self, plan: Mapping[str, Any]) -> bool:
        """Mark a plan (a Plan dump or a record's metadata) done; False if it already was."""
        if _is_base(plan):
            index = int(plan["index"])
            if self._base[index]:
                return False
            self._base[index] = 1
        else:
            sid = str(plan["id"])
            if sid in self._other:
                return False
            self._other.add(sid)
        self.count += 1
        return True

    def has(self, plan: Mapping[str, Any]) -> bool:
        """Whether the plan has an outcome already."""
        if _is_base(plan):
            index = int(plan["index"])
            return 0 <= index < len(self._base) and bool(self._base[index])
        return str(plan["id"]) in self._other

    def __len__(self) -> int:
        return self.count


class PlanBook:
    """Base plans by index, plus the folder's round plans and replacements, with the tally."""

    def __init__(
        self, spec: RunSpec, planner: Planner, run_dir: RunDir, extra: Sequence[Plan] = ()
    ) -> None:
        self.samples = spec.samples
        self.planner = planner
        self.run_dir = run_dir
        self.budget = spec.coverage.replacements
        # Refinement rounds' plans are persisted; they count like the base plans.
        extras = [*run_dir.saved_plans(), *extra]
        self.extras: dict[str, Plan] = {p.id: p for p in extras if not _is_base(p.model_dump())}
        self.replacements: dict[str, Plan] = self._replacements_so_far()

    @property
    def requested(self) -> int:
        """How many samples the folder plans so far."""
        return self.samples + len(self.extras) + len(self.replacements)

    def known_ids(self) -> set[str]:
        """Ids of the planned non-base samples (replacement ids never equal a base id)."""
        return {*self.extras, *self.replacements}

    def planned(self, plan: Mapping[str, Any]) -> bool:
        """Whether a recorded plan belongs to this run's plans (not, say, to a larger run)."""
        if _is_base(plan):
            return 0 <= int(plan.get("index", -1)) < self.samples
        sid = str(plan.get("id"))
        return sid in self.extras or sid in self.replacements

    def _lost(self) -> dict[str, int]:
        """Ids recorded as rejected or failed (and not also accepted) → base index, or -1."""
        lost: dict[str, int] = {}
        for record in iter_records(self.run_dir.rejects_path):
            plan = record.get("plan") or {}
            base = "index" in plan and _is_base(plan)
            lost[str(record.get("id"))] = int(plan["index"]) if base else -1
        if lost:
            for record in iter_records(self.run_dir.samples_path):
                lost.pop(str(record.get("metadata", {}).get("id")), None)
        # A sample the last curation dropped leaves its slot short too: it is refilled.
        for record in curation_drops(self.run_dir.path):
            meta = record.get("metadata") or {}
            base = "index" in meta and _is_base(meta)
            lost[str(record.get("id"))] = int(meta["index"]) if base else -1
        return lost

    def _replacements_so_far(self) -> dict[str, Plan]:
        """Replacement plans earlier runs called for: recomputed from the rejects on disk."""
        if not self.budget:
            return {}
        lost = self._lost()
        found: dict[str, Plan] = {}
        for index in lost.values():
            if not 0 <= index < self.samples:
                continue
            # Attempt k+1 exists when attempt k was lost too, up to the budget.
            for attempt in range(1, self.budget + 1):
                fresh = self.planner.plan(index, attempt)
                found[fresh.id] = fresh
                if fresh.id not in lost:
                    break
        return found

    def tally(self) -> tuple[Counts, Done]:
        """Counts over the planned samples and what of them is done, from the files."""
        counts = Counts(requested=self.requested)
        done = Done(self.samples)
        for record in iter_records(self.run_dir.samples_path):
            meta = record.get("metadata", {})
            if "index" in meta and self.planned(meta) and done.add(meta):
                counts.accepted += 1
                counts.usage += Usage.of(meta.get("usage"))
        for record in iter_records(self.run_dir.rejects_path):
            plan = record.get("plan") or {}
            if "index" in plan and self.planned(plan) and done.add(plan):
                if record.get("status") == "failed":
                    counts.failed += 1
                else:
                    counts.rejected += 1
                counts.usage += Usage.of(record.get("usage"))
                reason = code_of(record)
                counts.reasons[reason] = counts.reasons.get(reason, 0) + 1
        return counts, done

    def all_plans(self) -> Iterator[Plan]:
        """Every planned sample: base plans in index order, then rounds and replacements."""
        for index in range(self.samples):
            yield self.planner.plan(index)
        yield from self.extras.values()
        yield from self.replacements.values()

    def todo(self, done: Done) -> Iterator[Plan]:
        """The planned samples without an outcome, derived as they are reached."""
        for index in range(self.samples):
            if not done.has({"index": index}):
                yield self.planner.plan(index)
        for plan in [*self.extras.values(), *self.replacements.values()]:
            if not done.has(plan.model_dump()):
                yield plan
