"""Chunking that follows headings, then paragraphs, then sentences.

A document is first cut at its Markdown headings; each section is then packed into
chunks of at most `size` characters, breaking at paragraph ends before sentence
ends before line ends, with `overlap` characters carried into the next chunk. Each
chunk starts with its breadcrumb (title > heading > subheading), which is what
makes a short chunk findable and tells a prompt where a fact comes from. Its id is
a hash of that text, so the same content always gets the same id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from langchain_text_splitters import (
    ExperimentalMarkdownSyntaxTextSplitter,
    RecursiveCharacterTextSplitter,
)

from knowledge.loaders import Document, Part

BREADCRUMB_SEPARATOR = " > "
# Characters of Markdown handed to the heading splitter at a time (see `_pieces`).
PIECE_CHARS = 64_000
# The heading splitter's own rules for headings and code fences.
_HEADING = re.compile(r"^(#{1,6}) (.*)")
_CODE_FENCE = re.compile(r"^(```|~~~)")
# Paragraph, sentence, line, clause, word: the first that fits wins.
_SEPARATORS = ["\n\n", ". ", "? ", "! ", "\n", "; ", ", ", " ", ""]


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk ready to embed: content-hash id, text and Chroma metadata."""

    id: str
    text: str
    metadata: dict[str, str | int]


def chunk_id(text: str) -> str:
    """The content hash that makes re-ingesting idempotent."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@cache
def _packer(size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=overlap, separators=_SEPARATORS, keep_separator="end"
    )


def _pieces(text: str | Iterable[str], block: int = PIECE_CHARS) -> Iterator[str]:
    """The text (or its lines, with their ends) cut at blank lines into ~`block` pieces.

    Each piece starts with the heading lines in force there, so the Markdown splitter
    (quadratic in a text's lines) sees the same heading path piece by piece as it
    would in the whole text; only sections longer than `block` are cut in two, and a
    code block longer than 16 x `block` goes on in the next piece behind its fence.
    """
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    size = 0
    fenced = ""
    for line in text.splitlines(keepends=True) if isinstance(text, str) else text:
        if _CODE_FENCE.match(line):
            fenced = "" if fenced else line
        elif not fenced and (heading := _HEADING.match(line)):
            depth = len(heading.group(1))
            stack = [(d, h) for d, h in stack if d < depth]
            if size >= block:
                yield "".join(lines)
                lines, size = [h for _, h in stack], 0
            stack.append((depth, line if line.endswith("\n") else line + "\n"))
        lines.append(line)
        size += len(line)
        # A blank line ends a paragraph; past twice the size any line will do.
        if not fenced and (size >= 2 * block or (size >= block and not line.strip())):
            yield "".join(lines)
            lines, size = [h for _, h in stack], 0
        elif fenced and size >= 16 * block:
            yield "".join(lines) + fenced[:3] + "\n"
            lines, size = [h for _, h in stack] + [fenced], 0
    if size:
        yield "".join(lines)


def _sections(part: Part) -> list[tuple[list[str], str]]:
    """(heading path, body) pairs of one part."""
    return list(_iter_sections(part))


def _iter_sections(part: Part) -> Iterator[tuple[list[str], str]]:
    """(heading path, body) pairs of one part, as they are made (a streamed part read once)."""
    if not part.markdown:
        yield [], part.text
        return
    splitter = ExperimentalMarkdownSyntaxTextSplitter(strip_headers=True)
    text = part.lines() if part.lines is not None else part.text
    for piece in (doc for chunk in _pieces(text) for doc in splitter.split_text(chunk)):
        headings = [
            str(value)
            for key, value in sorted(piece.metadata.items())
            if key.startswith("Header ") and value
        ]
        yield headings, piece.page_content


def _breadcrumb(title: str, headings: list[str]) -> str:
    trail = [title] if title else []
    for heading in headings:
        if heading.casefold() != (trail[-1].casefold() if trail else ""):
            trail.append(heading)
    return BREADCRUMB_SEPARATOR.join(trail)


def chunk_document(document: Document, *, size: int, overlap: int) -> list[ChunkDraft]:
    """All chunks of a document in reading order, duplicates (same text) dropped."""
    return list(iter_chunks(document, size=size, overlap=overlap))


def iter_chunks(document: Document, *, size: int, overlap: int) -> Iterator[ChunkDraft]:
    """The chunks of `chunk_document`, yielded as they are made (only their ids are kept)."""
    packer = _packer(size, overlap)
    position = 0
    seen: set[str] = set()
    for part in document.parts:
        for headings, body in _iter_sections(part):
            crumb = _breadcrumb(document.title, headings)
            section = BREADCRUMB_SEPARATOR.join(headings)
            for piece in packer.split_text(body):
                if not piece.strip():
                    continue
                text = f"{crumb}\n{piece.strip()}" if crumb else piece.strip()
                cid = chunk_id(text)
                if cid in seen:
                    continue
                seen.add(cid)
                metadata: dict[str, str | int] = {
                    "source": document.source,
                    "title": document.title,
                    "section": section,
                    "position": position,
                    "kind": document.kind,
                }
                if part.page is not None:
                    metadata["page"] = part.page
                if part.row is not None:
                    metadata["row"] = part.row
                position += 1
                yield ChunkDraft(id=cid, text=text, metadata=metadata)
