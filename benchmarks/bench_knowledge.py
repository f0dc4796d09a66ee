"""Knowledge base benchmark: embedder throughput, ingest throughput, query latency.

Three measurements, because at 100k chunks the real model dominates everything and
would take tens of minutes on a 2-core machine:

1. **embedder** — the offline model (all-MiniLM-L6-v2 int8) on `--embed-sample`
   real chunks of ~`--chunk-size` characters: chunks/s and tokens/s.
2. **ingest** — for each size in `--sizes`, synthetic Markdown leaflets (one chunk per
   section) go through the real `knowledge.ingest.ingest` (discover, load, chunk,
   existence check, upsert into a local Chroma folder) with *precomputed* vectors:
   the pipeline's own chunks/s, and the expected end-to-end rate with the model,
   1 / (1/pipeline + 1/embedder). Then the same ingest again: the no-op re-ingest.
3. **query** — p50/p95 latency of `Retriever.retrieve` (embed the query with the real
   model, Chroma HNSW search of `fetch_k` candidates, MMR) and of Chroma alone with a
   precomputed query vector, over `--queries` queries.

Usage::

    python benchmarks/bench_knowledge.py                      # sizes 10000,100000
    python benchmarks/bench_knowledge.py --sizes 1000 --queries 50 --json out.json
    python benchmarks/bench_knowledge.py --full-embed 2000    # also: real model end to end
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the repo's packages importable
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402

from knowledge.embeddings import LOCAL_DIMENSION, default_embeddings  # noqa: E402
from knowledge.ingest import ingest  # noqa: E402
from knowledge.retrieval import Retriever  # noqa: E402
from knowledge.spec import KnowledgeSpec  # noqa: E402
from knowledge.store import KnowledgeStore  # noqa: E402

WORDS = (
    "blood pressure glucose insulin metformin fever child infant dose tablet clinic nurse "
    "doctor symptom rash fluid kidney heart stroke salt exercise weight diet sleep cough "
    "reading monitor cuff target review screening vitamin injection pharmacy urgent daily "
    "weekly morning evening measure record average treatment risk lifestyle hospital"
).split()
SECTIONS_PER_FILE = 50


class PrecomputedEmbeddings(Embeddings):
    """Deterministic unit vectors per text, at almost no cost: the pipeline without the model."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text).tolist()

    @staticmethod
    def _vector(text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        v = np.random.default_rng(seed).standard_normal(LOCAL_DIMENSION).astype(np.float32)
        return v / np.linalg.norm(v)


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
    return " ".join(words).capitalize() + "."


def section_text(rng: random.Random, chars: int) -> str:
    out = []
    while sum(len(s) + 1 for s in out) < chars * 0.8:
        out.append(sentence(rng))
    return " ".join(out)


def write_corpus(folder: Path, chunks: int, chars: int, seed: int = 0) -> None:
    """`chunks` sections of ~0.8*chars characters, in leaflets of 50 sections each."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for f in range((chunks + SECTIONS_PER_FILE - 1) // SECTIONS_PER_FILE):
        count = min(SECTIONS_PER_FILE, chunks - f * SECTIONS_PER_FILE)
        parts = [f"# Leaflet {f}"]
        for s in range(count):
            parts.append(f"## Section {s} of leaflet {f}\n\n{section_text(rng, chars)}")
        (folder / f"leaflet-{f:05d}.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass
class SizeResult:
    chunks: int
    ingest_s: float
    pipeline_chunks_per_s: float
    expected_chunks_per_s_with_model: float
    reingest_s: float
    retrieve_p50_ms: float
    retrieve_p95_ms: float
    chroma_p50_ms: float
    chroma_p95_ms: float
    disk_mb: float


@dataclass
class Report:
    cores: int
    load_avg: tuple[float, float, float]
    embed_chunks_per_s: float = 0.0
    embed_tokens_per_s: float = 0.0
    embed_mean_tokens: float = 0.0
    full_embed: dict[str, float] = field(default_factory=dict)
    sizes: list[SizeResult] = field(default_factory=list)


def bench_embedder(sample: int, chars: int) -> tuple[float, float, float]:
    rng = random.Random(1)
    texts = [section_text(rng, chars) for _ in range(sample)]
    model = default_embeddings()
    model.encode(texts[:8])  # load and warm up
    from knowledge.embeddings import _local_model

    tokenizer = _local_model().tokenizer
    tokens = [sum(e.attention_mask) for e in tokenizer.encode_batch(texts)]
    start = time.perf_counter()
    model.encode(texts)
    wall = time.perf_counter() - start
    return sample / wall, sum(tokens) / wall, statistics.mean(tokens)


def bench_size(size: int, chars: int, queries: int, work: Path, embed_rate: float) -> SizeResult:
    corpus = work / f"corpus-{size}"
    write_corpus(corpus, size, chars)
    spec = KnowledgeSpec(path=work / f"kb-{size}", chunk_size=chars, chunk_overlap=0)
    fake = PrecomputedEmbeddings()
    with KnowledgeStore(spec, fake) as store:
        start = time.perf_counter()
        summary = ingest(store, [corpus], write_batch=1000)
        ingest_s = time.perf_counter() - start
        assert summary.total == size, (summary.total, size)
        start = time.perf_counter()
        again = ingest(store, [corpus])
        reingest_s = time.perf_counter() - start
        assert again.added == 0 and again.total == size
        real = Retriever(store.knowledge, default_embeddings(), min_relevance=-1.0)
        rng = random.Random(7)
        texts = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(queries)]
        real.retrieve(texts[0])  # warm up the model and the index
        retrieve_ms = []
        for text in texts:
            t0 = time.perf_counter()
            real.retrieve(text)
            retrieve_ms.append((time.perf_counter() - t0) * 1000)
        vectors = default_embeddings().encode(texts)
        chroma_ms = []
        for vector in vectors:
            t0 = time.perf_counter()
            store.knowledge.query(
                query_embeddings=vector[None, :],
                n_results=spec.fetch_k,
                include=["documents", "metadatas", "distances", "embeddings"],
            )
            chroma_ms.append((time.perf_counter() - t0) * 1000)
    pipeline = size / ingest_s
    disk = sum(f.stat().st_size for f in spec.path.rglob("*") if f.is_file()) / 1e6
    return SizeResult(
        chunks=size,
        ingest_s=round(ingest_s, 2),
        pipeline_chunks_per_s=round(pipeline, 1),
        expected_chunks_per_s_with_model=round(1 / (1 / pipeline + 1 / embed_rate), 1),
        reingest_s=round(reingest_s, 2),
        retrieve_p50_ms=round(percentile(retrieve_ms, 0.5), 1),
        retrieve_p95_ms=round(percentile(retrieve_ms, 0.95), 1),
        chroma_p50_ms=round(percentile(chroma_ms, 0.5), 1),
        chroma_p95_ms=round(percentile(chroma_ms, 0.95), 1),
        disk_mb=round(disk, 1),
    )


def bench_full_embed(count: int, chars: int, work: Path) -> dict[str, float]:
    """The real ingest path with the real model, end to end."""
    corpus = work / f"full-{count}"
    write_corpus(corpus, count, chars, seed=3)
    spec = KnowledgeSpec(path=work / f"kb-full-{count}", chunk_size=chars, chunk_overlap=0)
    with KnowledgeStore(spec) as store:
        start = time.perf_counter()
        summary = ingest(store, [corpus])
        wall = time.perf_counter() - start
    return {
        "chunks": summary.total,
        "seconds": round(wall, 1),
        "chunks_per_s": round(count / wall, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="chunk counts, comma-separated")
    parser.add_argument("--chunk-size", type=int, default=700, help="characters per chunk")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per size")
    parser.add_argument("--embed-sample", type=int, default=256, help="chunks for the embedder")
    parser.add_argument(
        "--full-embed", type=int, default=0, help="also ingest N chunks with the real model"
    )
    parser.add_argument("--json", type=Path, help="write the report here too")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    report = Report(cores=os.cpu_count() or 0, load_avg=os.getloadavg())
    rate, tokens, mean_tokens = bench_embedder(args.embed_sample, args.chunk_size)
    report.embed_chunks_per_s = round(rate, 1)
    report.embed_tokens_per_s = round(tokens, 0)
    report.embed_mean_tokens = round(mean_tokens, 1)
    print(
        f"embedder: {rate:.1f} chunks/s, {tokens:.0f} tokens/s "
        f"({mean_tokens:.0f} tokens per ~{args.chunk_size}-char chunk)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-knowledge-") as tmp:
        work = Path(tmp)
        if args.full_embed:
            report.full_embed = bench_full_embed(args.full_embed, args.chunk_size, work)
            print(f"full ingest with the model: {report.full_embed}", flush=True)
        for size in sizes:
            result = bench_size(size, args.chunk_size, args.queries, work, rate)
            report.sizes.append(result)
            print(json.dumps(asdict(result)), flush=True)
    print()
    print(
        "| chunks | ingest (pipeline, precomputed vectors) | with the model (expected) | "
        "re-ingest (no-op) | retrieve p50 / p95 | Chroma query p50 / p95 |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for r in report.sizes:
        print(
            f"| {r.chunks:,} | {r.pipeline_chunks_per_s:,.0f} chunks/s | "
            f"{r.expected_chunks_per_s_with_model:,.1f} chunks/s | {r.reingest_s:.1f} s | "
            f"{r.retrieve_p50_ms:.1f} / {r.retrieve_p95_ms:.1f} ms | "
            f"{r.chroma_p50_ms:.1f} / {r.chroma_p95_ms:.1f} ms |"
        )
    print(f"\n{report.cores} cores, load average {report.load_avg}")
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")


if __name__ == "__main__":
    main()
