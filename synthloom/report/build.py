"""The dataset report as JSON: counts, diversity, coverage, conditions, judges and cost."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import ValidationError

from synthloom import __version__
from synthloom.core.errors import SynthloomError
from synthloom.core.records import Usage, code_of
from synthloom.core.textstats import words_of
from synthloom.curate.embedders import embed_normalized, embedder_name
from synthloom.curate.rundata import JUDGEMENTS, RunData, load_run_concepts, read_jsonl
from synthloom.curate.sample import Sample
from synthloom.planning import make_plans
from synthloom.report.cost import Pricing, cost_summary
from synthloom.report.coverage import coverage, leaf_set_for_run
from synthloom.report.metrics import (
    distinct_n,
    mean_pairwise_similarity,
    self_bleu,
    summary_stats,
    vendi_score,
)
from synthloom.report.tokens import metric_tokens, tokenization_of
from synthloom.run_tree import load_run_tree
from synthloom.rundir import now_iso
from synthloom.spec import RunSpec

MAX_EMBED = 2000
SELF_BLEU_SAMPLE = 200
LENGTH_BINS = (0, 10, 20, 40, 80, 160, 320, 640)


def _histogram(values: Iterable[int], bins: Sequence[int]) -> dict[str, int]:
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(bins, bins[1:], strict=False)] + [f"{bins[-1]}+"]
    counts = dict.fromkeys(labels, 0)
    for value in values:
        slot = sum(1 for edge in bins[1:] if value >= edge)
        counts[labels[slot]] += 1
    return counts


def _diversity(
    samples: Sequence[Sample], embedder: Embeddings | None, label: str | None, seed: int
) -> dict[str, Any]:
    texts = [s.text("dialogue") for s in samples]
    docs = [metric_tokens(text) for text in texts]  # characters for Korean, words for English
    bleu, sampled = self_bleu(docs, sample=SELF_BLEU_SAMPLE, seed=seed)
    result: dict[str, Any] = {
        "samples": len(samples),
        "tokens": tokenization_of(texts),
        **{f"distinct_{n}": _round(distinct_n(docs, n)) for n in (1, 2, 3)},
        "self_bleu": _round(bleu),
        "self_bleu_sampled": sampled,
        "embedding": None,
    }
    if embedder is not None and len(samples) >= 2:
        pool = list(samples)
        if len(pool) > MAX_EMBED:
            pool = random.Random(seed).sample(pool, MAX_EMBED)
        vectors = embed_normalized(embedder, [s.text("dialogue") for s in pool])
        vendi = vendi_score(vectors)
        result["embedding"] = {
            "embedder": label or embedder_name(embedder),
            "samples": len(pool),
            "mean_pairwise_similarity": _round(mean_pairwise_similarity(vectors)),
            "vendi_score": _round(vendi),
            # The effective number of distinct samples grows with the sample count; per
            # sample it falls as a run grows, so a larger run scoring higher is no artefact.
            "vendi_per_sample": None if vendi is None else _round(vendi / len(pool)),
        }
    return result


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _planned_conditions(run: RunData) -> dict[str, Counter[str]] | None:
    spec = run.spec
    try:
        run_spec = RunSpec.model_validate(spec)
    except ValidationError:
        return None  # a spec from another version: show the expected shares only
    planned: dict[str, Counter[str]] = {name: Counter() for name in run_spec.conditions}
    try:
        # The tree pinned in the run folder is what the run planned over (grown, maybe).
        tree = load_run_concepts(run.path, dict(spec)) or load_run_tree(run_spec)
    except SynthloomError:
        return None  # the tree file moved since the run: show the expected shares only
    for plan in make_plans(run_spec, tree):
        for name, value in plan.conditions.items():
            planned[name][value] += 1
    return planned


def _conditions(
    run: RunData, generated: Sequence[Sample], accepted: Sequence[Sample]
) -> dict[str, Any]:
    spec = run.spec
    planned = _planned_conditions(run)
    out: dict[str, Any] = {}
    for name, values in (spec.get("conditions") or {}).items():
        weights = {str(v["value"]): float(v.get("weight", 1.0)) for v in values}
        total = sum(weights.values()) or 1.0
        gen = Counter(s.conditions.get(name, "") for s in generated)
        acc = Counter(s.conditions.get(name, "") for s in accepted)
        out[name] = {
            "values": list(weights),
            "expected_share": {v: round(w / total, 4) for v, w in weights.items()},
            "planned": {v: planned[name][v] for v in weights} if planned else None,
            "generated": {v: gen[v] for v in weights},
            "accepted": {v: acc[v] for v in weights},
            "accepted_share": {
                v: round(acc[v] / len(accepted), 4) if accepted else None for v in weights
            },
        }
    return out


def _lengths(samples: Sequence[Sample]) -> dict[str, Any]:
    user = [len(words_of(t["content"])) for s in samples for t in s.turns if t["role"] == "user"]
    assistant = [
        len(words_of(t["content"])) for s in samples for t in s.turns if t["role"] == "assistant"
    ]
    sample_words = [len(words_of(s.text("dialogue"))) for s in samples]
    return {
        "user_words": {**summary_stats(user), "histogram": _histogram(user, LENGTH_BINS)},
        "assistant_words": {
            **summary_stats(assistant),
            "histogram": _histogram(assistant, LENGTH_BINS),
        },
        "sample_words": summary_stats(sample_words),
    }


def _turns(samples: Sequence[Sample]) -> dict[str, Any]:
    rounds = [
        int(s.metadata.get("rounds") or sum(1 for t in s.turns if t["role"] == "assistant"))
        for s in samples
    ]
    counts = Counter(rounds)
    return {
        "histogram": {str(k): counts[k] for k in sorted(counts)},
        **summary_stats(rounds),
    }


def _annotations(run: RunData) -> list[dict[str, Any]]:
    kept = [r.get("metadata", {}).get("curation") or {} for r in run.curated_samples or []]
    rejected = [r.get("curation") or {} for r in run.curated_rejects]
    return [a for a in kept + rejected if isinstance(a, dict)]


def _judge(run: RunData) -> dict[str, Any] | None:
    scores = [a["judge"]["overall"] for a in _annotations(run) if isinstance(a.get("judge"), dict)]
    if not scores:
        return None
    counts = Counter(int(s) for s in scores)
    settings = (run.curation or {}).get("settings", {}).get("judge", {})
    threshold = settings.get("min_score")
    return {
        "judged": len(scores),
        "histogram": {str(k): counts[k] for k in range(1, 6)},
        "mean": round(sum(scores) / len(scores), 3),
        "threshold": threshold,
        "passed": sum(1 for s in scores if threshold is None or s >= threshold),
    }


def _faithfulness(run: RunData) -> dict[str, Any] | None:
    checks = [
        a["faithfulness"]
        for a in _annotations(run)
        if isinstance(a.get("faithfulness"), dict) and a["faithfulness"].get("checked")
    ]
    if not checks:
        return None
    settings = (run.curation or {}).get("settings", {}).get("faithfulness", {})
    limit = float(settings.get("max_unsupported", 0.25))
    allowed = int(settings.get("max_contradicted", 0))
    faithful = sum(
        1 for c in checks if c["unsupported_share"] <= limit and c["contradicted"] <= allowed
    )
    claims = {
        k: sum(int(c[k]) for c in checks) for k in ("supported", "unsupported", "contradicted")
    }
    total = sum(claims.values())
    return {
        "checked": len(checks),
        "faithful": faithful,
        "rate": round(faithful / len(checks), 4),
        "claims": claims,
        "supported_share": round(claims["supported"] / total, 4) if total else None,
    }


def _labels(run: RunData) -> dict[str, Any] | None:
    labels = [a["labels"] for a in _annotations(run) if isinstance(a.get("labels"), dict)]
    if not labels:
        return None
    return {
        "labelled": len(labels),
        "difficulty": dict(Counter(str(x.get("difficulty")) for x in labels)),
        "quality": dict(Counter(str(x.get("quality")) for x in labels)),
        "topic_matches_plan": sum(1 for x in labels if x.get("topic_matches_plan")),
        "agreement": (run.curation or {}).get("agreement"),
    }


def _rejections(run: RunData) -> dict[str, dict[str, int]]:
    generation: Counter[str] = Counter()
    for record in run.rejects:
        key = code_of(record)
        generation[f"failed: {key}" if record.get("status") == "failed" else key] += 1
    curation: Counter[str] = Counter()
    for record in run.curated_rejects:
        # A reason per block that turned the sample away; older folders have one text.
        for entry in record.get("reasons") or [record]:
            curation[entry.get("code") or code_of(entry)] += 1
    return {
        "generation": dict(generation.most_common()),
        "curation": dict(curation.most_common()),
    }


def _judge_usage(run: RunData) -> dict[str, Usage]:
    path = run.curated_path / JUDGEMENTS
    by_model: dict[str, Usage] = {}
    if path.exists():
        for record in read_jsonl(path):
            name = str(record.get("model") or record.get("judge"))
            by_model[name] = by_model.get(name, Usage()) + Usage.of(record.get("usage"))
    return by_model


def build_report(
    run: RunData,
    *,
    embedder: Embeddings | None = None,
    embedder_label: str | None = None,
    pricing: Pricing | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The report of one run folder (curated samples when curation has run)."""
    generated = [Sample(r) for r in run.samples]
    curated = run.curated_samples is not None
    accepted = (
        [Sample(r) for r in run.curated_samples] if run.curated_samples is not None else generated
    )
    final_counts = (run.curation or {}).get("counts") if curated else run.generation_counts()
    generation_usage = Usage()
    for sample in generated:
        generation_usage += Usage.of(sample.metadata.get("usage"))
    for record in run.rejects:
        generation_usage += Usage.of(record.get("usage"))
    models = run.manifest.get("models") if isinstance(run.manifest.get("models"), dict) else {}
    report: dict[str, Any] = {
        "synthloom_version": __version__,
        "created_at": now_iso(),
        "run": {
            "path": str(run.path),
            "fingerprint": run.manifest.get("fingerprint"),
            "status": run.manifest.get("status"),
            "task": run.spec.get("task"),
            "models": models,
        },
        "dataset": "curated" if curated else "generated",
        "counts": {
            "generation": run.generation_counts(),
            "curation": (run.curation or {}).get("curation") if curated else None,
            "final": final_counts,
        },
        "diversity": _diversity(accepted, embedder, embedder_label, seed),
        "coverage": coverage(leaf_set_for_run(run.path, run.spec), (s.metadata for s in accepted)),
        "conditions": _conditions(run, generated, accepted),
        "turns": _turns(accepted),
        "lengths": _lengths(accepted),
        "judge": _judge(run),
        "faithfulness": _faithfulness(run),
        "labels": _labels(run),
        "rejections": _rejections(run),
        "cost": cost_summary(
            generation=generation_usage,
            generation_models={str(k): str(v) for k, v in (models or {}).items()},
            judge_by_model=_judge_usage(run),
            accepted=len(accepted),
            pricing=pricing,
            stages=(run.manifest.get("cost") or {}).get("stages"),
        ),
        "notes": list((run.curation or {}).get("notes") or []),
    }
    return report
