"""Semantic dedup on Korean: distinct dialogues kept apart, near-copies caught.

    .venv/bin/python benchmarks/bench_dedup_korean.py             # about 5 min on 2 cores
    .venv/bin/python benchmarks/bench_dedup_korean.py --english   # MiniLM beside it

Dialogues are three real Korean exchanges (benchmarks/data/korean_chatbot_*.jsonl.gz,
songys/Chatbot_data, MIT). For each: a near-copy (word endings and punctuation
re-typed in ~15% of the words, `tests/support/corruptions_ko.py`) and a distinct
dialogue on the same theme (the set's own label: everyday, break-up, love), the
hardest kind of pair to keep apart. The threshold is chosen on the `fit` half (the
midpoint between the 99th percentile of distinct pairs and the 1st of near-copies)
and measured on the `holdout` half with the real `SemanticDedup` block.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge.embeddings import LocalEmbeddings, MultilingualEmbeddings  # noqa: E402
from synthloom.curate.config import DedupSpec  # noqa: E402
from synthloom.curate.embedders import embed_normalized  # noqa: E402
from synthloom.curate.sample import Sample  # noqa: E402
from synthloom.curate.semantic import SemanticDedup  # noqa: E402
from tests.support.corruptions_ko import _edit  # noqa: E402

DATA = ROOT / "benchmarks" / "data"


def triples(split: str, pairs: int, seed: int) -> list[tuple[list[Any], list[Any], list[Any]]]:
    """(dialogue, its near-copy, a distinct dialogue of the same label), `pairs` times."""
    with gzip.open(DATA / f"korean_chatbot_{split}.jsonl.gz", "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    by_label: dict[str, list[list[dict[str, str]]]] = {}
    for record in records:
        by_label.setdefault(record["metadata"]["label"], []).append(record["messages"])
    rng = random.Random(seed)
    out = []
    for _ in range(pairs):
        pool = by_label[rng.choice(sorted(by_label))]
        chosen = rng.sample(pool, 6)
        dialogue = [m for exchange in chosen[:3] for m in exchange]
        copy = [{**m, "content": _edit(m["content"], rng)} for m in dialogue]
        other = [m for exchange in chosen[3:] for m in exchange]
        out.append((dialogue, copy, other))
    return out


def similarities(embedder: Any, found: list[tuple[Any, Any, Any]]) -> tuple[Any, Any]:
    """Cosine of each dialogue with its near-copy, and with its distinct partner."""
    texts = [Sample({"messages": d}).text("dialogue") for t in found for d in t]
    vectors = embed_normalized(embedder, texts).reshape(len(found), 3, -1)
    copies = (vectors[:, 0] * vectors[:, 1]).sum(axis=1)
    distinct = (vectors[:, 0] * vectors[:, 2]).sum(axis=1)
    return copies, distinct


def through_the_block(embedder: Any, found: list[Any], threshold: float) -> dict[str, float]:
    """Run `SemanticDedup` over every dialogue, copy and partner; score what it drops."""
    samples: list[Sample] = []
    copies: set[str] = set()
    firsts: set[str] = set()
    for n, (dialogue, copy, other) in enumerate(found):
        for kind, messages in (("a", dialogue), ("copy", copy), ("b", other)):
            sid = f"{kind}{n}"
            samples.append(Sample({"messages": messages, "metadata": {"id": sid}}))
            (copies if kind == "copy" else firsts).add(sid)
    spec = DedupSpec(semantic_threshold=threshold)
    dropped = set(SemanticDedup(spec, embedder).run(samples))
    return {
        "near_copies_caught": round(len(dropped & copies) / len(copies), 4),
        "distinct_dropped": round(len(dropped & firsts) / len(firsts), 4),
    }


def measure(name: str, embedder: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Threshold from the fit half, figures on the holdout half."""
    copies, distinct = similarities(embedder, triples("fit", args.pairs, args.seed))
    chosen = (np.percentile(distinct, 99) + np.percentile(copies, 1)) / 2
    threshold = round(float(np.floor(chosen * 200) / 200), 3)
    held = triples("holdout", args.pairs, args.seed + 1)
    h_copies, h_distinct = similarities(embedder, held)
    result = {
        "embedder": name,
        "fit": {
            "distinct_p99": round(float(np.percentile(distinct, 99)), 4),
            "copies_p1": round(float(np.percentile(copies, 1)), 4),
            "chosen_threshold": threshold,
        },
        "holdout": {
            "pairs": len(held),
            "distinct_median": round(float(np.median(h_distinct)), 4),
            "distinct_max": round(float(h_distinct.max()), 4),
            "copies_min": round(float(h_copies.min()), 4),
            "at_chosen": through_the_block(embedder, held, args.threshold or threshold),
            "distinct_at_0.95": round(float((h_distinct >= 0.95).mean()), 4),
            "copies_at_0.95": round(float((h_copies >= 0.95).mean()), 4),
        },
    }
    print(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=None, help="score this one instead")
    parser.add_argument("--english", action="store_true", help="also measure MiniLM")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results = [measure("multilingual-e5-small", MultilingualEmbeddings(), args)]
    if args.english:
        results.append(measure("all-MiniLM-L6-v2", LocalEmbeddings(), args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
