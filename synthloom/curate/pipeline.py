"""The curation pipeline: filters → dedup → judges, written beside the generation output.

    RUN_DIR/curated/samples.jsonl     kept samples, with `metadata.curation` annotations
    RUN_DIR/curated/rejects.jsonl     curation rejects and unjudged samples, all reasons
    RUN_DIR/curated/curation.json     per-block counters and counts that add up
    RUN_DIR/curated/judgements.jsonl  append-only judge cache: a re-run never re-judges

Generation output is never touched. Cheap filters all look at every sample (so a
reject lists every reason they found); dedup sees the samples the filters kept;
the judges see the samples dedup kept, each judge every one of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from agents.judge import FaithfulnessChecker, Labeler, RubricJudge
from synthloom import __version__
from synthloom.core.errors import SynthloomError
from synthloom.core.records import Reason, ReasonEntry, RejectRecord, Usage
from synthloom.core.store import rewrite_jsonl, write_json_atomic
from synthloom.curate.base import BatchFilter, BlockStats, SampleFilter
from synthloom.curate.cache import JudgementCache
from synthloom.curate.config import CurateSpec
from synthloom.curate.dedup import ExactDedup, NearDedup
from synthloom.curate.faithfulness import FaithfulnessBlock
from synthloom.curate.heuristics import heuristic_filters
from synthloom.curate.labels import LabelBlock
from synthloom.curate.language import LanguageFilter
from synthloom.curate.leakage import LeakageFilter
from synthloom.curate.llm import LLMBlock, Outcome
from synthloom.curate.rubric import RubricBlock
from synthloom.curate.rundata import (
    CURATED_REJECTS,
    CURATED_SAMPLES,
    CURATION,
    JUDGEMENTS,
    RunData,
    load_run,
    planned_topics,
)
from synthloom.curate.sample import Sample
from synthloom.curate.semantic import SemanticDedup
from synthloom.rundir import RunDirLock, now_iso

Log = Callable[[str], None]


@dataclass(frozen=True)
class Judges:
    """The judge roles curation may call; a block whose judge is missing is skipped."""

    rubric: RubricJudge | None = None
    faithfulness: FaithfulnessChecker | None = None
    labelers: dict[str, Labeler] = field(default_factory=dict)


@dataclass
class _Verdicts:
    """Every sample's reasons and annotations as the stages go."""

    reasons: dict[str, list[ReasonEntry]] = field(default_factory=dict)
    unjudged: dict[str, list[ReasonEntry]] = field(default_factory=dict)
    annotations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, sid: str, block: str, reason: Reason) -> None:
        self.reasons.setdefault(sid, []).append(_entry(block, reason))

    def annotate(self, sid: str, key: str, value: Any) -> None:
        self.annotations.setdefault(sid, {})[key] = value


def _entry(block: str, reason: Reason) -> ReasonEntry:
    return {"block": block, "code": reason.code, "reason": reason.text}


@dataclass
class CurationResult:
    """What a curation pass did, for the CLI and tests."""

    path: Path
    counts: dict[str, int]
    curation: dict[str, int]
    blocks: list[BlockStats]
    usage: Usage
    notes: list[str]
    wall_s: float


def _cheap_filters(spec: CurateSpec) -> list[SampleFilter]:
    filters = heuristic_filters(spec.heuristics)
    if spec.language.enabled:
        filters.append(LanguageFilter(spec.language))
    if spec.leakage.enabled:
        filters.append(LeakageFilter(spec.leakage))
    return filters


def _dedup_blocks(
    spec: CurateSpec, embedder: Embeddings | None, embedder_note: str, notes: list[str]
) -> list[BatchFilter]:
    blocks: list[BatchFilter] = []
    if spec.dedup.exact:
        blocks.append(ExactDedup(spec.dedup))
    if spec.dedup.near:
        blocks.append(NearDedup(spec.dedup))
    if spec.dedup.semantic:
        if embedder is None:
            notes.append(f"semantic dedup skipped: {embedder_note}")
        else:
            blocks.append(SemanticDedup(spec.dedup, embedder))
    return blocks


def _llm_blocks(
    spec: CurateSpec, judges: Judges, topics: Sequence[str], cache: JudgementCache, notes: list[str]
) -> list[LLMBlock]:
    blocks: list[LLMBlock] = []
    wanted = [
        ("judge", spec.judge.enabled, judges.rubric),
        ("faithfulness", spec.faithfulness.enabled, judges.faithfulness),
        ("labels", spec.labels.enabled, judges.labelers or None),
    ]
    for name, enabled, role in wanted:
        if enabled and role is None:
            notes.append(f"{name} skipped: no judge model given")
    if spec.judge.enabled and judges.rubric is not None:
        blocks.append(RubricBlock(spec.judge, judges.rubric, cache))
    if spec.faithfulness.enabled and judges.faithfulness is not None:
        blocks.append(FaithfulnessBlock(spec.faithfulness, judges.faithfulness, cache))
    if spec.labels.enabled and judges.labelers:
        blocks.append(LabelBlock(spec.labels, judges.labelers, topics, cache))
    return blocks


class Curator:
    """One curation pass over one run folder."""

    def __init__(
        self,
        run: RunData,
        spec: CurateSpec,
        *,
        judges: Judges | None = None,
        embedder: Embeddings | None = None,
        embedder_note: str = "no embedder given",
        log: Log | None = None,
        execution: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.run = run
        self.execution = execution
        """Where the judge calls ran (a Ray pass), for `curation.json`."""
        self.spec = spec
        self.log = log or (lambda _message: None)
        self.notes: list[str] = []
        self.cache = JudgementCache(run.curated_path / JUDGEMENTS)
        topics = planned_topics(run.path, run.spec)
        self.filters = _cheap_filters(spec)
        self.dedup = _dedup_blocks(spec, embedder, embedder_note, self.notes)
        self.llm = _llm_blocks(spec, judges or Judges(), topics, self.cache, self.notes)
        self.stats: list[BlockStats] = []
        self.usage = Usage()
        self.verdicts = _Verdicts()
        self.summaries: dict[str, Any] = {}

    async def run_async(self) -> CurationResult:
        """Run every stage and write the curated files."""
        started = time.monotonic()
        samples = [Sample(r) for r in self.run.samples]
        try:
            survivors = self._filter(samples)
            survivors = self._deduplicate(survivors)
            await self._judge(survivors)
        finally:
            self.cache.close()
        return self._write(samples, time.monotonic() - started)

    def _filter(self, samples: list[Sample]) -> list[Sample]:
        stats = [f.stats("filter") for f in self.filters]
        for sample in samples:
            for block, counter in zip(self.filters, stats, strict=True):
                keep, reason = block.check(sample)
                counter.count(keep, reason)
                if not keep:
                    self.verdicts.add(
                        sample.id, block.name, reason or Reason(block.name, block.name)
                    )
        self.stats.extend(stats)
        kept = [s for s in samples if s.id not in self.verdicts.reasons]
        self.log(f"filters: {len(kept)} of {len(samples)} kept")
        return kept

    def _deduplicate(self, samples: list[Sample]) -> list[Sample]:
        for block in self.dedup:
            counter = block.stats("dedup")
            dropped = block.run(samples)
            for sample in samples:
                reason = dropped.get(sample.id)
                counter.count(reason is None, reason)
                if reason is not None:
                    self.verdicts.add(sample.id, block.name, reason)
            self.stats.append(counter)
            samples = [s for s in samples if s.id not in dropped]
            self.log(f"{block.name}: {len(dropped)} dropped, {len(samples)} left")
        return samples

    async def _judge(self, samples: list[Sample]) -> None:
        if not self.llm or not samples:
            return
        counters = [b.stats("judge") for b in self.llm]
        gate = asyncio.Semaphore(self.spec.concurrency)

        async def one(sample: Sample) -> None:
            async with gate:
                outcomes = await asyncio.gather(*(b.judge(sample) for b in self.llm))
            for block, counter, outcome in zip(self.llm, counters, outcomes, strict=True):
                self._record(sample, block.name, counter, outcome)

        await asyncio.gather(*(one(s) for s in samples))
        self.stats.extend(counters)
        for block in self.llm:
            summary = block.summary()
            if summary is not None:
                self.summaries[block.name] = summary
        self.log(f"judges: {len(samples)} samples judged by {', '.join(b.name for b in self.llm)}")

    def _record(self, sample: Sample, name: str, counter: BlockStats, outcome: Outcome) -> None:
        counter.count(outcome.keep, outcome.reason)
        self.usage += outcome.usage
        if outcome.annotation is not None:
            self.verdicts.annotate(sample.id, name, outcome.annotation)
        if outcome.flags:
            flags = self.verdicts.annotations.get(sample.id, {}).get("flags", [])
            self.verdicts.annotate(sample.id, "flags", [*flags, *outcome.flags])
        if outcome.keep is None:
            entry = _entry(name, outcome.reason or Reason("unjudged", "unjudged"))
            self.verdicts.unjudged.setdefault(sample.id, []).append(entry)
        elif not outcome.keep:
            self.verdicts.add(sample.id, name, outcome.reason or Reason(name, name))

    def _write(self, samples: list[Sample], wall_s: float) -> CurationResult:
        kept: list[dict[str, Any]] = []
        rejects: list[dict[str, Any]] = []
        hold = self.spec.on_unjudged == "hold"
        for sample in samples:
            sid = sample.id
            annotation = dict(self.verdicts.annotations.get(sid, {}))
            unjudged = self.verdicts.unjudged.get(sid, [])
            if unjudged:
                annotation["unjudged"] = [u["block"] for u in unjudged]
            reasons = self.verdicts.reasons.get(sid, [])
            if reasons or (unjudged and hold):
                status = "rejected" if reasons else "unjudged"
                every = [*reasons, *unjudged]
                turned_away = RejectRecord(
                    id=sid,
                    status=status,
                    reason="; ".join(f"{r['code']}: {r['reason']}" for r in every),
                    reason_code=every[0]["code"],
                    reasons=every,
                    stage="curate",
                    messages=sample.messages,
                    metadata=sample.metadata,
                    curation=annotation,
                )
                rejects.append(turned_away.as_json())
            else:
                record = dict(sample.record)
                record["metadata"] = {**sample.metadata, "curation": annotation}
                kept.append(record)
        return self._write_files(kept, rejects, wall_s)

    def _write_files(
        self, kept: list[dict[str, Any]], rejects: list[dict[str, Any]], wall_s: float
    ) -> CurationResult:
        folder = self.run.curated_path
        folder.mkdir(parents=True, exist_ok=True)
        rewrite_jsonl(folder / CURATED_SAMPLES, kept)
        rewrite_jsonl(folder / CURATED_REJECTS, rejects)
        generation = self.run.generation_counts()
        unjudged = sum(1 for r in rejects if r["status"] == "unjudged")
        curation = {
            "seen": len(self.run.samples),
            "kept": len(kept),
            "rejected": len(rejects) - unjudged,
            "unjudged": unjudged,
        }
        counts = {
            "requested": generation["requested"],
            "accepted": len(kept),
            "rejected": generation["rejected"] + curation["rejected"],
            "failed": generation["failed"] + unjudged,
            "pending": generation["pending"],
        }
        total = counts["accepted"] + counts["rejected"] + counts["failed"] + counts["pending"]
        if total != counts["requested"]:
            raise SynthloomError(
                f"{self.run.path}: counts do not add up ({total} != {counts['requested']} "
                "requested); the run folder was changed during curation?"
            )
        write_json_atomic(
            folder / CURATION,
            {
                "synthloom_version": __version__,
                "updated_at": now_iso(),
                "counts": counts,
                "generation": generation,
                "curation": curation,
                "failed_breakdown": {"generation": generation["failed"], "unjudged": unjudged},
                "blocks": [s.as_dict() for s in self.stats],
                "agreement": self.summaries.get("labels"),
                "judge_usage": self.usage.as_dict(),
                "judge_usage_total": self._cached_usage().as_dict(),
                "notes": self.notes,
                "settings": self.spec.model_dump(mode="json"),
                "wall_s": round(wall_s, 3),
                **({"execution": self.execution()} if self.execution is not None else {}),
            },
        )
        return CurationResult(
            path=folder,
            counts=counts,
            curation=curation,
            blocks=self.stats,
            usage=self.usage,
            notes=self.notes,
            wall_s=wall_s,
        )

    def _cached_usage(self) -> Usage:
        total = Usage()
        for record in self.cache.records():
            total += Usage.of(record.get("usage"))
        return total


async def curate_run(
    path: Path,
    spec: CurateSpec,
    *,
    judges: Judges | None = None,
    embedder: Embeddings | None = None,
    embedder_note: str = "no embedder given",
    log: Log | None = None,
    execution: Callable[[], dict[str, Any]] | None = None,
) -> CurationResult:
    """Curate the run folder at `path` (re-runnable: cached judgements are reused).

    `execution` says where the judge calls ran (written into `curation.json`).
    """
    # Not while a `synthloom run` is still appending to it (nor two curations at once).
    # A missing folder is left to `load_run`'s error: the lock would create it.
    with RunDirLock(path, "synthloom curate") if path.is_dir() else nullcontext():
        run = load_run(path, with_curation=False)
        curator = Curator(
            run,
            spec,
            judges=judges,
            embedder=embedder,
            embedder_note=embedder_note,
            log=log,
            execution=execution,
        )
        return await curator.run_async()
