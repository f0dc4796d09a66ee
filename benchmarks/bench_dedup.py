"""Dedup at scale: 100,000 synthetic dialogues with planted duplicates.

    python benchmarks/bench_dedup.py                 # 100k samples, all cores
    python benchmarks/bench_dedup.py --samples 20000 --workers 1

Texts are two-turn dialogues of Zipf-distributed words (like natural text, common
words repeat). A share of them are planted copies of earlier samples: exact copies,
and near copies with 1 to 4 word edits (substitute, insert, delete) plus a changed
greeting. The benchmark times the exact and the MinHash-LSH blocks as curation runs
them, and scores the near-duplicate block against the plant: precision (dropped
samples that were planted) and recall (planted near copies that were dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

import numpy as np

from synthloom.curate.config import DedupSpec
from synthloom.curate.dedup import ExactDedup, NearDedup
from synthloom.curate.sample import Sample

VOCABULARY = 20_000


def make_words(rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 10, size=VOCABULARY)
    return ["".join(rng.choice(letters, size=n)) for n in lengths]


def make_texts(count: int, words: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    vocab = np.array(make_words(rng))
    ranks = np.arange(1, VOCABULARY + 1)
    probs = 1.0 / ranks**1.07
    probs /= probs.sum()
    ids = rng.choice(VOCABULARY, size=(count, words), p=probs)
    return [list(vocab[row]) for row in ids]


def edit(tokens: list[str], edits: int, rng: random.Random) -> list[str]:
    out = list(tokens)
    for _ in range(edits):
        op = rng.choice(("sub", "ins", "del"))
        at = rng.randrange(len(out))
        if op == "sub":
            out[at] = f"edit{rng.randrange(10**6)}"
        elif op == "ins":
            out.insert(at, f"edit{rng.randrange(10**6)}")
        else:
            del out[at]
    return out


def record(index: int, tokens: list[str]) -> dict[str, object]:
    half = len(tokens) // 3
    return {
        "messages": [
            {"role": "user", "content": " ".join(tokens[:half]) + "?"},
            {"role": "assistant", "content": " ".join(tokens[half:]) + "."},
        ],
        "metadata": {"id": f"s{index:06d}", "index": index, "topic": "bench"},
    }


def build(samples: int, words: int, near_share: float, exact_share: float, seed: int):
    rng = random.Random(seed)
    planted_near = int(samples * near_share)
    planted_exact = int(samples * exact_share)
    originals = samples - planted_near - planted_exact
    texts = make_texts(originals, words, seed)
    kinds: dict[int, str] = {}
    for _ in range(planted_exact):
        texts.append(list(texts[rng.randrange(originals)]))
        kinds[len(texts) - 1] = "exact"
    for _ in range(planted_near):
        source = texts[rng.randrange(originals)]
        tokens = edit(source, rng.randint(1, 4), rng)
        tokens[0] = f"hello{rng.randrange(100)}"
        texts.append(tokens)
        kinds[len(texts) - 1] = "near"
    order = list(range(len(texts)))
    # Keep originals first so each copy comes after its source, as in a real run.
    tail = order[originals:]
    rng.shuffle(tail)
    order = order[:originals] + tail
    records = [Sample(record(i, texts[j])) for i, j in enumerate(order)]
    planted = {f"s{i:06d}": kinds[j] for i, j in enumerate(order) if j in kinds}
    return records, planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=120, help="words per dialogue")
    parser.add_argument("--near-share", type=float, default=0.05)
    parser.add_argument("--exact-share", type=float, default=0.01)
    parser.add_argument("--workers", type=int, default=0, help="0: one per core")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    started = time.perf_counter()
    samples, planted = build(args.samples, args.words, args.near_share, args.exact_share, args.seed)
    built_s = time.perf_counter() - started
    spec = DedupSpec(workers=args.workers)

    started = time.perf_counter()
    exact = ExactDedup(spec).run(samples)
    exact_s = time.perf_counter() - started
    survivors = [s for s in samples if s.id not in exact]
    started = time.perf_counter()
    near = NearDedup(spec).run(survivors)
    near_s = time.perf_counter() - started

    planted_near = {sid for sid, kind in planted.items() if kind == "near"}
    planted_exact = {sid for sid, kind in planted.items() if kind == "exact"}
    dropped = set(exact) | set(near)
    result = {
        "samples": args.samples,
        "words_per_sample": args.words,
        "cpus": os.cpu_count(),
        "workers": args.workers or os.cpu_count(),
        "threshold": spec.threshold,
        "ngram": spec.ngram,
        "num_perm": spec.num_perm,
        "build_s": round(built_s, 2),
        "exact_s": round(exact_s, 2),
        "near_s": round(near_s, 2),
        "dedup_s": round(exact_s + near_s, 2),
        "planted_exact": len(planted_exact),
        "planted_near": len(planted_near),
        "exact_dropped": len(exact),
        "exact_recall": round(len(set(exact) & planted_exact) / max(len(planted_exact), 1), 4),
        "near_dropped": len(near),
        "near_precision": round(len(set(near) & planted_near) / max(len(near), 1), 4),
        "near_recall": round(len(set(near) & planted_near) / max(len(planted_near), 1), 4),
        "false_drops": len(dropped - set(planted)),
    }
    print(
        f"dedup of {args.samples:,} samples ({args.words} words each) on "
        f"{result['workers']} worker(s): exact {exact_s:.1f}s + MinHash-LSH {near_s:.1f}s = "
        f"{exact_s + near_s:.1f}s; near-duplicates precision {result['near_precision']:.3f}, "
        f"recall {result['near_recall']:.3f}; exact recall {result['exact_recall']:.3f}"
    )
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
