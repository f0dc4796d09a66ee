"""The novelty gate: lookups at 100,000 accepted samples, and its thresholds on real text.

    python benchmarks/bench_novelty.py                      # 100k synthetic samples
    python benchmarks/bench_novelty.py --samples 20000 --real benchmarks/data/sharegpt_fit.jsonl.gz

1. Scale (synthetic text). `--samples` dialogues of Zipf-distributed words (four turns,
   `--words` words in all, made on demand so the resident memory is the index's) are
   admitted one by one into a `NoveltyIndex`, as a run does; then `--probes` more are
   admitted and timed one call each: half fresh texts, half near copies of indexed
   samples (1 to 12 word edits), and the opening of each is checked too. It reports
   p50/p95/max of `admit` and `check_opening`, the build time, the resident memory
   (VmRSS) before and after, and how many planted copies at word 3-gram Jaccard >= the
   threshold were refused (recall; every refusal is verified by exact Jaccard, so
   precision is 1 by construction).
2. Repeats (`--dialogues N`): two real runs of N dialogues over HTTP against the scripted
   server in repeat mode (30% of its conversations played again), the gate off then
   on: the share of accepted samples with word 3-gram Jaccard >= 0.8 to an earlier one,
   the near-duplicate rejects, the openings the gate redirected, and the slots filled.
3. Thresholds (real text, `--real`: OpenAI-format JSONL(.gz) conversations). Over
   distinct real conversations it reports the highest word 3-gram Jaccard of each to
   any other (what a threshold would wrongly refuse), and for light edits of real
   conversations (a share of the words replaced) the Jaccard they keep (what it
   catches). The same for openings (the first user turn).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make the repo's packages importable
    sys.path.insert(0, str(REPO))

from synthloom.core.records import Plan, Role, SampleRecord, Turn  # noqa: E402
from synthloom.curate.dedup import shingle_hashes  # noqa: E402
from synthloom.novelty import NoveltyIndex, jaccard  # noqa: E402

VOCABULARY = 20_000


def rss_mb() -> float:
    """Resident memory of this process now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def vocabulary(rng: np.random.Generator) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 10, size=VOCABULARY)
    return np.array(["".join(rng.choice(letters, size=n)) for n in lengths])


class ZipfTexts:
    """Text `i` of `words` Zipf-distributed words, made on demand (no corpus in memory)."""

    def __init__(self, words: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.vocab = vocabulary(rng)
        probs = 1.0 / np.arange(1, VOCABULARY + 1) ** 1.07
        self.cdf = np.cumsum(probs / probs.sum())
        self.words = words
        self.seed = seed

    def __getitem__(self, i: int) -> list[str]:
        draws = np.random.default_rng((self.seed, i)).random(self.words)
        ids = np.minimum(np.searchsorted(self.cdf, draws), VOCABULARY - 1)
        return list(self.vocab[ids])


def edited(tokens: list[str], edits: int, rng: random.Random) -> list[str]:
    out = list(tokens)
    for _ in range(edits):
        out[rng.randrange(len(out))] = f"edit{rng.randrange(10**6)}"
    return out


def as_record(sample_id: str, tokens: list[str], cell: int) -> SampleRecord:
    quarter = max(1, len(tokens) // 4)
    turns = [" ".join(tokens[i : i + quarter]) for i in range(0, len(tokens), quarter)][:4]
    roles: list[Role] = ["user", "assistant", "user", "assistant"]
    messages: list[Turn] = [{"role": r, "content": t} for r, t in zip(roles, turns, strict=False)]
    return SampleRecord(
        messages=messages,
        metadata={"id": sample_id, "topic": f"topic {cell % 500}", "conditions": {}},
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_scale(args: argparse.Namespace) -> dict[str, Any]:
    texts = ZipfTexts(args.words, seed=7)
    base_rss = rss_mb()
    gate = NoveltyIndex(threshold=args.threshold, opening_threshold=args.threshold)
    started = time.perf_counter()
    for i in range(args.samples):
        gate.admit(as_record(f"s{i}", texts[i], i))
    build_s = time.perf_counter() - started
    built_rss = rss_mb()
    rng = random.Random(11)
    admit_ms: list[float] = []
    opening_ms: list[float] = []
    admit_cpu_ms: list[float] = []
    planted = caught = 0
    for j in range(args.probes):
        if j % 2:
            source = rng.randrange(args.samples)
            tokens = edited(texts[source], rng.randint(1, 12), rng)
            exact = jaccard(
                shingle_hashes(" ".join(texts[source]), 3), shingle_hashes(" ".join(tokens), 3)
            )
        else:
            tokens, exact = texts[args.samples + j], 0.0
        record = as_record(f"p{j}", tokens, j)
        plan = Plan(id=f"p{j}", index=j, topic=f"topic {j % 500}", rounds=2)
        opening = record.messages[0]["content"]
        t0 = time.perf_counter()
        gate.check_opening(plan, opening)
        t1, c1 = time.perf_counter(), time.thread_time()
        near = gate.admit(record)
        t2, c2 = time.perf_counter(), time.thread_time()
        opening_ms.append((t1 - t0) * 1000)
        admit_ms.append((t2 - t1) * 1000)
        admit_cpu_ms.append((c2 - c1) * 1000)
        if exact >= args.threshold:
            planted += 1
            caught += near is not None
    return {
        "accepted": args.samples,
        "words_per_sample": args.words,
        "build_s": round(build_s, 1),
        "rss_mb_before": round(base_rss),
        "rss_mb_after": round(built_rss),
        "rss_mb_index": round(built_rss - base_rss),
        "admit_ms_p50": round(statistics.median(admit_ms), 3),
        "admit_ms_p95": round(percentile(admit_ms, 0.95), 3),
        "admit_ms_max": round(max(admit_ms), 3),
        # CPU time of the call: what wall time would be on an idle machine.
        "admit_cpu_ms_p50": round(statistics.median(admit_cpu_ms), 3),
        "admit_cpu_ms_p95": round(percentile(admit_cpu_ms, 0.95), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "check_opening_ms_p50": round(statistics.median(opening_ms), 3),
        "check_opening_ms_p95": round(percentile(opening_ms, 0.95), 3),
        "planted_at_threshold": planted,
        "recall": round(caught / planted, 4) if planted else None,
    }


SPEC = """\
task: dialogue
samples: {samples}
seed: 5
output: {output}
concurrency: 8
topics: {topics}
conditions:
  persona: [a retired schoolteacher, a student on a budget, a parent of two toddlers]
  tone: {{curious: 2, skeptical: 1}}
dialogue: {{rounds: {{min: 2, max: 2}}}}
coverage: {{replacements: 3}}
novelty: {{enabled: {gate}}}
models:
  default: {{provider: openai, base_url: "{url}", model: scripted-model, max_tokens: 200}}
"""


def trigram_near_share(records: list[dict[str, Any]], threshold: float = 0.8) -> float:
    """Share of records with word 3-gram Jaccard >= threshold to an earlier one."""
    grams = [
        shingle_hashes("\n".join(m["content"] for m in r["messages"] if m["role"] != "system"), 3)
        for r in records
    ]
    repeats = sum(
        1
        for j in range(len(grams))
        if any(jaccard(grams[i], grams[j]) >= threshold for i in range(j))
    )
    return repeats / max(1, len(records))


def bench_repeats(dialogues: int, share: float) -> dict[str, Any]:
    import asyncio
    import tempfile

    from agents.endpoints import open_models
    from synthloom.runner import DatasetRun
    from synthloom.spec import parse_spec
    from tests.support.openai_server import ScriptedOpenAIServer

    out: dict[str, Any] = {"dialogues": dialogues, "repeat_share": share}
    for gate in (False, True):
        with (
            ScriptedOpenAIServer(repeat_share=share) as server,
            tempfile.TemporaryDirectory() as tmp,
        ):
            folder = Path(tmp) / "run"
            # Enough topics that two plans rarely share a prompt: the scripted server answers
            # equal prompts equally, which would be repeats of another kind.
            topics = json.dumps([f"everyday question {k}" for k in range(max(3, dialogues // 8))])
            text = SPEC.format(
                samples=dialogues,
                output=folder,
                gate=str(gate).lower(),
                url=server.base_url,
                topics=topics,
            )
            spec = parse_spec(text, source="bench-novelty.yaml")
            started = time.perf_counter()
            with open_models(spec, ("user_simulator", "assistant")) as models:
                result = asyncio.run(DatasetRun(spec, models, show_progress=False).run())
            samples = [json.loads(line) for line in (folder / "samples.jsonl").open()]
            rejects = [json.loads(line) for line in (folder / "rejects.jsonl").open()]
            manifest = json.loads((folder / "run.json").read_text())
            stats = server.repeats.stats if server.repeats else None
            out["gate_on" if gate else "gate_off"] = {
                "status": result.status,
                "wall_s": round(time.perf_counter() - started, 1),
                "openings_served": stats.openings if stats else None,
                "openings_repeated_by_server": stats.repeated if stats else None,
                "accepted": len(samples),
                "near_duplicate_share_at_0.8": round(trigram_near_share(samples), 4),
                "rejected_near_duplicate": sum(
                    r["reason"].startswith("near_duplicate of") for r in rejects
                ),
                "rejected_other": sum(
                    not r["reason"].startswith("near_duplicate of") for r in rejects
                ),
                "openings_redirected": (manifest.get("novelty") or {}).get("openings_redirected"),
                "counts": manifest["counts"],
            }
    return out


def read_conversations(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def bench_real(path: Path, threshold: float) -> dict[str, Any]:
    records = read_conversations(path)
    texts = [
        "\n".join(m["content"] for m in r["messages"] if m["role"] != "system") for r in records
    ]
    openings = [
        next((m["content"] for m in r["messages"] if m["role"] == "user"), "") for r in records
    ]

    def highest(items: list[str]) -> list[float]:
        grams = [shingle_hashes(t, 3) for t in items]
        best = []
        for i, a in enumerate(grams):
            best.append(max((jaccard(a, b) for j, b in enumerate(grams) if j != i), default=0.0))
        return best

    def kept_after(items: list[str], share: float) -> list[float]:
        rng = random.Random(3)
        out = []
        for text in items:
            words = text.split()
            if len(words) < 4:
                continue
            for _ in range(max(1, int(share * len(words)))):
                words[rng.randrange(len(words))] = f"edit{rng.randrange(10**6)}"
            out.append(jaccard(shingle_hashes(text, 3), shingle_hashes(" ".join(words), 3)))
        return out

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "median": round(statistics.median(values), 3),
            "p99": round(percentile(values, 0.99), 3),
            "max": round(max(values), 3),
            f"share_at_or_above_{threshold:g}": round(
                sum(v >= threshold for v in values) / len(values), 4
            ),
        }

    result: dict[str, Any] = {"file": str(path), "conversations": len(records)}
    for name, items in (("samples", texts), ("openings", openings)):
        result[f"{name}_distinct_highest_jaccard"] = summary(highest(items))
        for share in (0.02, 0.05, 0.1):
            result[f"{name}_edited_{int(share * 100)}pct_kept_jaccard"] = summary(
                kept_after(items, share)
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=2_000)
    parser.add_argument("--words", type=int, default=240)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--real", type=Path, default=None, help="real conversations (JSONL)")
    parser.add_argument("--dialogues", type=int, default=0, help="runs against repeats")
    parser.add_argument("--repeat-share", type=float, default=0.3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    if args.samples:
        figures["scale"] = bench_scale(args)
    if args.dialogues:
        figures["repeats"] = bench_repeats(args.dialogues, args.repeat_share)
    if args.real is not None:
        figures["real"] = bench_real(args.real, args.threshold)
    text = json.dumps(figures, indent=2)
    print(text)  # noqa: T201 - a benchmark's report is its output
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
