"""What a curation block is: a name, what it reads and writes, and a verdict per sample.

Per-sample filters return `(keep, reason)` in datatrove's style; dataset-level
blocks (dedup) see the whole batch and return the reason for each sample they
drop. A reason is a `Reason(code, text)`: counters and reports group by its code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from synthloom.core.records import Reason
from synthloom.curate.sample import Sample

Verdict = tuple[bool, Reason | None]
KEEP: Verdict = (True, None)


def reject(code: str, text: str) -> Verdict:
    """A rejecting verdict: the stable code to count by, and the detail for people."""
    return False, Reason(code, text)


@dataclass
class BlockStats:
    """Counters of one block: every sample it saw was kept, rejected or left unjudged."""

    name: str
    stage: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    seen: int = 0
    kept: int = 0
    rejected: int = 0
    unjudged: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    note: str | None = None

    def count(self, keep: bool | None, reason: Reason | None = None) -> None:
        """Record one sample's outcome (`None`: unjudged)."""
        self.seen += 1
        if keep is None:
            self.unjudged += 1
        elif keep:
            self.kept += 1
        else:
            self.rejected += 1
        if reason and keep is not True:
            self.reasons[reason.code] = self.reasons.get(reason.code, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        """As written into `curation.json`."""
        return {
            "name": self.name,
            "stage": self.stage,
            "reads": list(self.reads),
            "writes": list(self.writes),
            "seen": self.seen,
            "kept": self.kept,
            "rejected": self.rejected,
            "unjudged": self.unjudged,
            "reasons": dict(sorted(self.reasons.items())),
            "note": self.note,
        }


class Block(ABC):
    """Common declaration of every block."""

    name: ClassVar[str]
    reads: ClassVar[tuple[str, ...]] = ("messages",)
    writes: ClassVar[tuple[str, ...]] = ()

    def stats(self, stage: str) -> BlockStats:
        """Fresh counters for this block."""
        return BlockStats(self.name, stage, self.reads, self.writes)


class SampleFilter(Block):
    """A per-sample filter."""

    @abstractmethod
    def check(self, sample: Sample) -> Verdict:
        """Keep the sample, or reject it with a reason."""


class BatchFilter(Block):
    """A dataset-level block: sees the batch, in generation order."""

    note: str | None = None

    @abstractmethod
    def run(self, samples: Sequence[Sample]) -> dict[str, Reason]:
        """Reasons for the samples it drops, by sample id (the rest are kept)."""
