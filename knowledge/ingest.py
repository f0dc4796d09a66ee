"""Ingest: files → chunks → vectors → Chroma, idempotent and safe to interrupt.

Chunk ids are content hashes and Chroma is asked first which ids it already has,
so re-ingesting unchanged files embeds and writes nothing, and an ingest killed at
any point is finished by running it again: each write is one Chroma batch of
complete chunks (text, vector, metadata together). Files are read and chunked as a
stream and chunks are written in batches as they come, so memory stays bounded
whatever a file's size (only the ids seen are kept). Files that cannot be used are
named in the summary with their reason and the rest goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chromadb.api.models.Collection import Collection
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from knowledge.chunking import ChunkDraft, iter_chunks
from knowledge.embeddings import Vectors, as_array
from knowledge.loaders import SkipFile, load_document, unsupported_reason
from knowledge.store import KnowledgeStore

# Chunks embedded and written per Chroma call: small enough for a smooth progress
# bar and little lost work on a kill, large enough to keep the embedder busy.
WRITE_BATCH = 128


@dataclass(frozen=True)
class Skipped:
    """A source that was not ingested, and why."""

    source: str
    reason: str


@dataclass
class IngestSummary:
    """What an ingest did, for the CLI's summary and for tests."""

    files: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    total: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    wall_s: float = 0.0


def source_key(path: Path) -> str:
    """How a file is named in metadata: relative to the working directory when inside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def discover(
    sources: Sequence[Path], *, max_file_mb: float | None = None
) -> tuple[list[Path], list[Skipped]]:
    """The files named or contained in `sources` (hidden ones left out), in a stable order.

    Broken links and files over `max_file_mb` are listed as skipped, with the reason.
    """
    files: list[Path] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    for source in sources:
        if source.is_dir():
            found = sorted(
                p
                for p in source.rglob("*")
                if (p.is_file() or _broken_link(p))
                and not any(part.startswith(".") for part in p.relative_to(source).parts)
            )
        elif source.exists() or source.is_symlink():
            found = [source]
        else:
            skipped.append(Skipped(str(source), "no such file or directory"))
            continue
        for path in found:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            reason = unsupported_reason(path) or _too_big(path, max_file_mb)
            if reason is None:
                files.append(path)
            else:
                # A broken link is named by itself: its target is what is missing.
                where = source_key(path.parent) + "/" + path.name if _broken_link(path) else None
                skipped.append(Skipped(where or source_key(path), reason))
    return files, skipped


def _broken_link(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def _too_big(path: Path, max_file_mb: float | None) -> str | None:
    """Why a file is not read (a broken link, over the size limit), or None."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"broken link (to {path.readlink()})" if path.is_symlink() else "no such file"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if max_file_mb is not None and size > max_file_mb * 1_000_000:
        return (
            f"{size / 1_000_000:,.1f} MB is over the {max_file_mb:g} MB limit; raise "
            "`knowledge.max_file_mb` (or --max-file-mb) to ingest it"
        )
    return None


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing(collection: Collection, ids: Sequence[str], batch: int) -> dict[str, Any]:
    """Metadata of the ids Chroma already holds."""
    found: dict[str, Any] = {}
    for group in _batches(list(ids), batch):
        result = collection.get(ids=list(group), include=["metadatas"])
        found.update(zip(result["ids"], result["metadatas"] or [], strict=True))
    return found


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=console is None,
        transient=False,
    )


def ingest(
    store: KnowledgeStore,
    sources: Sequence[Path],
    *,
    console: Console | None = None,
    on_write: Callable[[int], None] | None = None,
    write_batch: int = WRITE_BATCH,
    log: Console | None = None,
    embed_many: Callable[[list[list[str]]], list[Vectors]] | None = None,
    fan_out: int = 1,
) -> IngestSummary:
    """Ingest files and folders into the store's knowledge collection.

    `on_write` is called with the running count of chunks written after each batch.
    `console` shows progress bars; `log` (where there are none: a pipe, a log file)
    gets one line per file read, so a long ingest is never silent. `embed_many`
    embeds `fan_out` batches at once (e.g. on Ray workers, in parallel), each as
    `as_array` would; this process still does every Chroma write.
    """
    started = time.monotonic()
    collection = store.knowledge
    spec = store.spec
    batch = store.max_batch()
    files, skipped = discover(sources, max_file_mb=spec.max_file_mb)
    summary = IngestSummary(skipped=skipped)
    read: list[str] = []
    keep: set[str] = set()  # every chunk id of the files read, for stale ones and duplicates
    pending: list[ChunkDraft] = []
    with _progress(console) as progress:
        scan = progress.add_task("reading", total=len(files))
        write = progress.add_task("embedding", total=None)

        def flush() -> None:
            existing = _existing(collection, [d.id for d in pending], batch)
            todo = [d for d in pending if d.id not in existing]
            moved = [d for d in pending if d.id in existing and existing[d.id] != d.metadata]
            groups = list(_batches(todo, min(write_batch, batch)))
            texts = [[d.text for d in group] for group in groups]
            embedded = embed_many(texts) if embed_many is not None and texts else None
            for index, group in enumerate(groups):
                vectors = (
                    embedded[index]
                    if embedded is not None
                    else as_array(store.embeddings, texts[index])
                )
                collection.upsert(
                    ids=[d.id for d in group],
                    embeddings=vectors,
                    documents=[d.text for d in group],
                    metadatas=[d.metadata for d in group],
                )
                summary.added += len(group)
                progress.advance(write, len(group))
                if on_write is not None:
                    on_write(summary.added)
            for group in _batches(moved, batch):
                # Same text under a new path or position: fix the metadata, keep the vector.
                collection.update(ids=[d.id for d in group], metadatas=[d.metadata for d in group])
                summary.updated += len(group)
            summary.unchanged += len(pending) - len(todo) - len(moved)
            pending.clear()

        for path in files:
            source = source_key(path)
            if log is not None:
                log.print(
                    f"reading {source} ({path.stat().st_size / 1_000_000:,.1f} MB)",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
            try:
                document = load_document(path, source)
                for draft in iter_chunks(
                    document, size=spec.chunk_size, overlap=spec.chunk_overlap
                ):
                    # First occurrence of each id: the same passage in two files is stored once.
                    if draft.id in keep:
                        continue
                    keep.add(draft.id)
                    summary.chunks += 1
                    pending.append(draft)
                    if len(pending) >= min(write_batch, batch) * max(1, fan_out):
                        flush()
            except SkipFile as exc:
                summary.skipped.append(Skipped(source, exc.reason))
            else:
                read.append(source)
            progress.advance(scan)
        flush()
    summary.files = len(read)
    for source in read:
        held = collection.get(where={"source": source}, include=[])["ids"]
        stale = [i for i in held if i not in keep]
        for group in _batches(stale, batch):
            collection.delete(ids=list(group))
        summary.removed += len(stale)
    summary.total = collection.count()
    summary.wall_s = time.monotonic() - started
    return summary
