"""Measure the quality gates on a chat dataset: what they flag, and with labels how well.

A gate that rejects good data costs money and skews the dataset as surely as one
that lets bad data through, so every check is measured both ways: on good data,
the share of turns and dialogues it flags; on labelled failures, the share of each
kind it catches (recall) and the share of its flags that are failures (precision).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graphs.checks import (
    CHECK_CODES,
    DEFAULT_CHECKS,
    Finding,
    TurnChecks,
    all_problems,
    check_cut_off,
    default_context,
)
from synthloom.chatdata import ChatRecord, turns_of
from synthloom.core.records import Turn
from synthloom.curate.config import HeuristicsSpec
from synthloom.curate.heuristics import heuristic_filters
from synthloom.curate.sample import Sample

# Which check codes count as catching a labelled kind (a cut-off is caught by the
# server's finish_reason at generation and by `cut_off` in data without it).
KIND_CODES: dict[str, frozenset[str]] = {
    "truncated": frozenset({"truncated", "cut_off"}),
}
KINDS = ("role_flip", "loop", "echo", "repeat", "placeholder", "prompt_leak", "empty", "truncated")
EXAMPLES_PER_CHECK = 3


@dataclass
class CheckTally:
    """One check's flags, by role, over unlabelled and labelled turns."""

    turns: Counter[str] = field(default_factory=Counter)
    dialogues: int = 0
    on_failures: int = 0
    on_good: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class KindTally:
    """One failure kind: labelled turns, caught by any check, caught by its own."""

    labelled: int = 0
    caught: int = 0
    caught_by_own: int = 0
    missed: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EvalReport:
    """What `synthloom checks eval` prints and writes as JSON."""

    dialogues: int = 0
    turns: Counter[str] = field(default_factory=Counter)
    good_turns: Counter[str] = field(default_factory=Counter)
    good_flagged: Counter[str] = field(default_factory=Counter)
    dialogues_flagged: int = 0
    good_dialogues: int = 0
    good_dialogues_flagged: int = 0
    checks: dict[str, CheckTally] = field(default_factory=dict)
    kinds: dict[str, KindTally] = field(default_factory=dict)
    curation: Counter[str] = field(default_factory=Counter)
    curation_good_dropped: int = 0
    labelled: bool = False
    cut_off: CheckTally = field(default_factory=CheckTally)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON for `--json`."""
        return {
            "dialogues": self.dialogues,
            "turns": dict(self.turns),
            "good_turns": dict(self.good_turns),
            "good_turns_flagged": dict(self.good_flagged),
            "good_turn_flag_rate": {
                role: _share(self.good_flagged[role], n) for role, n in self.good_turns.items()
            },
            "dialogues_flagged": self.dialogues_flagged,
            "good_dialogues": self.good_dialogues,
            "good_dialogue_flag_rate": _share(self.good_dialogues_flagged, self.good_dialogues),
            "curation_dropped": dict(self.curation),
            "curation_good_drop_rate": _share(self.curation_good_dropped, self.good_dialogues),
            "checks": {
                code: {
                    "turns": dict(t.turns),
                    "dialogues": t.dialogues,
                    "on_failures": t.on_failures,
                    "on_good": t.on_good,
                    "precision": _share(t.on_failures, t.on_failures + t.on_good)
                    if self.labelled
                    else None,
                    "examples": t.examples,
                }
                for code, t in self.checks.items()
            },
            "cut_off": {
                "turns": dict(self.cut_off.turns),
                "on_failures": self.cut_off.on_failures,
                "on_good": self.cut_off.on_good,
                "examples": self.cut_off.examples,
            },
            "kinds": {
                kind: {
                    "labelled": k.labelled,
                    "recall": _share(k.caught, k.labelled),
                    "recall_own_check": _share(k.caught_by_own, k.labelled),
                    "missed": k.missed,
                }
                for kind, k in self.kinds.items()
            },
            "recall": _share(
                sum(k.caught for k in self.kinds.values()),
                sum(k.labelled for k in self.kinds.values()),
            ),
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _clip(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _caught_by_own(kind: str, findings: list[Finding]) -> bool:
    codes = KIND_CODES.get(kind, frozenset({kind}))
    return any(f.code in codes for f in findings)


def _tally_cut_off(
    tally: CheckTally, cut: Finding, turn: dict[str, str], index: int, kind: str | None, rid: str
) -> None:
    tally.turns[turn["role"]] += 1
    if kind is None:
        tally.on_good += 1
    else:
        tally.on_failures += 1
    if len(tally.examples) < EXAMPLES_PER_CHECK:
        tally.examples.append(
            {"record": rid, "message": index, "label": kind, "text": _clip(turn["content"])}
        )


def evaluate(
    records: Iterable[ChatRecord],
    checks: TurnChecks = DEFAULT_CHECKS,
    heuristics: HeuristicsSpec | None = None,
) -> EvalReport:
    """Run every turn check and curation heuristic over `records` and tally the results."""
    report = EvalReport()
    filters = heuristic_filters(heuristics or HeuristicsSpec())
    for code in CHECK_CODES:
        if code == "truncated":
            continue
        if getattr(checks, code, False):
            report.checks[code] = CheckTally()
    for record in records:
        _evaluate_record(record, checks, filters, report)
    return report


def _evaluate_record(
    record: ChatRecord, checks: TurnChecks, filters: list[Any], report: EvalReport
) -> None:
    turns, indexes, system = turns_of(record)
    ctx = default_context(system, words=checks.prompt_leak_words)
    labelled_here = bool(record.labels)
    report.labelled = report.labelled or labelled_here
    report.dialogues += 1
    flagged_codes: set[str] = set()
    for position, (turn, index) in enumerate(zip(turns, indexes, strict=True)):
        typed: Turn = {"role": turn["role"], "content": turn["content"]}  # type: ignore[typeddict-item]
        history: list[Turn] = turns[:position]  # type: ignore[assignment]
        findings = all_problems(typed, history, checks, ctx)
        kind = record.labels.get(index)
        if not checks.cut_off:
            # Generation knows truncation from the server; data on disk only from the text.
            cut = check_cut_off(typed, history, checks, ctx)
            if cut is not None:
                _tally_cut_off(report.cut_off, cut, turn, index, kind, record.id)
                if kind is not None:
                    findings = [*findings, cut]
        report.turns[turn["role"]] += 1
        if kind is None:
            report.good_turns[turn["role"]] += 1
            if findings:
                report.good_flagged[turn["role"]] += 1
        else:
            tally = report.kinds.setdefault(kind, KindTally())
            tally.labelled += 1
            if findings:
                tally.caught += 1
            if _caught_by_own(kind, findings):
                tally.caught_by_own += 1
            elif len(tally.missed) < EXAMPLES_PER_CHECK:
                tally.missed.append(
                    {"record": record.id, "message": index, "text": _clip(turn["content"])}
                )
        for finding in findings:
            if finding.code == "cut_off" and not checks.cut_off:
                continue  # tallied on its own above
            check = report.checks.setdefault(finding.code, CheckTally())
            check.turns[turn["role"]] += 1
            if kind is None:
                check.on_good += 1
            else:
                check.on_failures += 1
            if finding.code not in flagged_codes:
                check.dialogues += 1
                flagged_codes.add(finding.code)
            if len(check.examples) < EXAMPLES_PER_CHECK:
                check.examples.append(
                    {
                        "record": record.id,
                        "message": index,
                        "label": kind,
                        "reason": finding.text,
                        "text": _clip(turn["content"]),
                    }
                )
    if flagged_codes:
        report.dialogues_flagged += 1
    if not labelled_here:
        report.good_dialogues += 1
        report.good_dialogues_flagged += bool(flagged_codes)
    sample = Sample({"messages": record.messages, "metadata": record.metadata})
    for block in filters:
        keep, reason = block.check(sample)
        if not keep:
            report.curation[block.name] += 1
            if not labelled_here:
                report.curation_good_dropped += 1
            break
