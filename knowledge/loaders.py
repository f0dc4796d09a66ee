"""Source loaders: a file becomes a titled document of text parts, or a reason to skip it.

HTML goes through BeautifulSoup and markdownify (headings survive as Markdown, so
chunking can follow them); PDF through pypdf, one part per page; CSV and JSONL one
part per row, so a FAQ entry is never glued to its neighbour. A file that cannot be
used raises `SkipFile` with the reason the ingest summary shows.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

LOADERS = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".jsonl": "jsonl",
    ".csv": "csv",
}
# Keys whose value is a record's main text, in order of preference.
_TEXT_KEYS = ("text", "content", "body", "passage")
_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SENTENCE_ENDS = (".", ",", ";", ":", "!", "?")
_NON_CONTENT = ("script", "style", "noscript", "template", "nav", "header", "footer", "aside")
# Text and Markdown files larger than this are read as a stream, in pieces of
# STREAM_BLOCK bytes cut at line ends (a line longer than _LONG_LINE is cut anyway).
STREAM_FROM_BYTES = 1 << 20
STREAM_BLOCK = 1 << 16
_LONG_LINE = 1 << 20
_STREAMED = ("text", "markdown")


class SkipFile(Exception):
    """This file cannot be ingested; `reason` says why, for the summary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Part:
    """A stretch of text chunked on its own: a whole file, a PDF page, a CSV row.

    A large text or Markdown file has no `text`: `lines` reads it again, as a stream
    of lines (with their ends), each time it is called.
    """

    text: str
    markdown: bool = True
    page: int | None = None
    row: int | None = None
    lines: Callable[[], Iterator[str]] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Document:
    """A loaded source file."""

    source: str
    kind: str
    title: str
    parts: list[Part] = field(default_factory=list)


def unsupported_reason(path: Path) -> str | None:
    """Why no loader reads this file, or None when one does."""
    if path.suffix.lower() in LOADERS:
        return None
    known = ", ".join(sorted(LOADERS))
    return f"unsupported file type {path.suffix or '(none)'!r} (supported: {known})"


def load_document(path: Path, source: str) -> Document:
    """Load one file; raises `SkipFile` for anything unusable."""
    kind = LOADERS.get(path.suffix.lower())
    if kind is None:
        raise SkipFile(unsupported_reason(path) or "unsupported file type")
    try:
        if kind in _STREAMED and path.stat().st_size > STREAM_FROM_BYTES:
            return _streamed(path, source, kind)
        data = path.read_bytes()
    except FileNotFoundError:
        raise SkipFile("no such file (a broken link?)") from None
    except OSError as exc:
        raise SkipFile(f"unreadable: {exc.strerror or exc}") from None
    if not data.strip():
        raise SkipFile("empty file")
    if kind == "pdf":
        title, parts = _pdf(data)
    else:
        text = _decode(data)
        title, parts = _READERS[kind](text)
    parts = [p for p in parts if p.text.strip()]
    if not parts:
        raise SkipFile("no text in the file")
    return Document(source=source, kind=kind, title=title or _title_from_name(path), parts=parts)


def _streamed(path: Path, source: str, kind: str) -> Document:
    """A large text file checked (and its title found) in a first pass, chunked later."""
    empty, blank, best = True, True, (7, "")
    for raw_blank, text in _blocks(path):
        empty = empty and raw_blank
        blank = blank and not text.strip()
        if kind == "markdown":
            for match in _ATX_HEADING.finditer(text):
                best = min(best, (len(match.group(1)), match.group(2)))
    if empty:
        raise SkipFile("empty file")
    if blank:
        raise SkipFile("no text in the file")
    if kind == "text":
        title = _text_title(_pairs(ln for _, t in _blocks(path) for ln in t.splitlines()))
        lines = partial(_marked_lines, path)
    else:
        title, lines = best[1], partial(_plain_lines, path)
    part = Part("", lines=lines)
    return Document(source=source, kind=kind, title=title or _title_from_name(path), parts=[part])


def _blocks(path: Path) -> Iterator[tuple[bool, str]]:
    """(all ASCII blank?, text) of a file's ~STREAM_BLOCK pieces, each ending at a line end."""
    position = 0
    rest = b""
    bom = False
    try:
        handle = path.open("rb")
    except OSError as exc:  # gone or unreadable since it was found
        raise SkipFile(f"unreadable: {exc.strerror or exc}") from None
    with handle:
        while True:
            block = handle.read(STREAM_BLOCK)
            data = rest + block
            if not data:
                return
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if not cut:
                if len(data) < _LONG_LINE:
                    rest = data
                    continue
                # No line end in a long stretch: cut before its last character starts.
                cut = len(data) - 1
                while cut > 0 and data[cut] & 0xC0 == 0x80:
                    cut -= 1
            raw, rest = data[:cut], data[cut:]
            if position < 8192 and b"\x00" in raw[: 8192 - position]:
                raise SkipFile("binary content in a text file")
            if position == 0:
                bom = raw.startswith(codecs.BOM_UTF8)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                offset = position + exc.start - (3 if bom else 0)
                raise SkipFile(f"not UTF-8 text (bad byte at offset {offset})") from None
            if position == 0 and bom:
                text = text[1:]
            position += len(raw)
            yield not raw.strip(), text


def _plain_lines(path: Path) -> Iterator[str]:
    for _, text in _blocks(path):
        yield from text.splitlines(keepends=True)


def _marked_lines(path: Path) -> Iterator[str]:
    """The lines of `_text`'s marked text, with their ends, as `str.splitlines` gives them."""
    held: str | None = None
    for _, line in _pairs(ln for _, text in _blocks(path) for ln in text.splitlines()):
        if held is not None:
            yield held + "\n"
        held = line
    if held:
        yield held


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise SkipFile("binary content in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipFile(f"not UTF-8 text (bad byte at offset {exc.start})") from None


def _title_from_name(path: Path) -> str:
    words = re.sub(r"[_\-]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name


def _first_heading(markdown: str) -> str:
    headings = [(len(m.group(1)), m.group(2)) for m in _ATX_HEADING.finditer(markdown)]
    return min(headings)[1] if headings else ""


def _pairs(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(line, marked line) pairs: headings marked `## `.

    A heading is a short line standing alone between blank lines, not ending like a sentence.
    """
    before_blank = True
    held: str | None = None
    for line in lines:
        if held is not None:
            yield held, _mark(held, before_blank, not line.strip())
            before_blank = not held.strip()
        held = line
    if held is not None:
        yield held, _mark(held, before_blank, True)


def _mark(line: str, before_blank: bool, after_blank: bool) -> str:
    text = line.strip()
    heading = 0 < len(text) <= 80 and not text.endswith(_SENTENCE_ENDS)
    return f"## {text}" if before_blank and after_blank and heading else line


def _text_title(pairs: Iterable[tuple[str, str]]) -> str:
    """The first heading, when it is the first line too (read up to that heading)."""
    first = ""
    for line, marked in pairs:
        first = first or line.strip()
        if marked.startswith("## "):
            return marked[3:] if first == marked[3:] else ""
    return ""


def _text(text: str) -> tuple[str, list[Part]]:
    # Plain text has no markup, but notes and leaflets set their headings on lines of
    # their own; marking those as Markdown headings lets chunking follow them.
    pairs = list(_pairs(text.splitlines()))
    return _text_title(pairs), [Part("\n".join(marked for _, marked in pairs))]


def _markdown(text: str) -> tuple[str, list[Part]]:
    return _first_heading(text), [Part(text)]


def _html(text: str) -> tuple[str, list[Part]]:
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_NON_CONTENT):
        tag.decompose()
    root = soup.body or soup
    # wrap without a width: source line breaks inside a paragraph are just spaces.
    converter = MarkdownConverter(
        heading_style="ATX",
        strip=["a", "img", "b", "strong", "i", "em"],
        bullets="-",
        wrap=True,
        wrap_width=None,
    )
    markdown = converter.convert_soup(root)
    markdown = re.sub(r"\n{3,}", "\n\n", markdown).strip()
    return title or _first_heading(markdown), [Part(markdown)]


def _pdf(data: bytes) -> tuple[str, list[Part]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs every recoverable oddity of a damaged file; the summary says enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SkipFile("encrypted PDF (a password is needed)")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.title or "").strip() if reader.metadata else ""
    except SkipFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise SkipFile(f"not a readable PDF ({exc})") from None
    if not any(p.strip() for p in pages):
        raise SkipFile("PDF has no extractable text (scanned images? run OCR first)")
    return title, [Part(p, markdown=False, page=i) for i, p in enumerate(pages, start=1)]


def _record_text(record: dict[str, Any]) -> str:
    for key in _TEXT_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            heading = record.get("title") or record.get("question")
            return f"{heading}\n{value}" if isinstance(heading, str) and heading else value
    lines = [
        f"{key.replace('_', ' ').capitalize()}: {value}"
        for key, value in record.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value)
    ]
    return "\n".join(lines)


def _jsonl(text: str) -> tuple[str, list[Part]]:
    parts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SkipFile(f"line {number}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise SkipFile(f"line {number}: expected a JSON object")
        parts.append(Part(_record_text(record), markdown=False, row=number))
    return "", parts


def _rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            yield reader.line_num, record
    except csv.Error as exc:
        raise SkipFile(f"line {reader.line_num}: malformed CSV ({exc})") from None


def _csv(text: str) -> tuple[str, list[Part]]:
    parts = [
        Part(_record_text({k: v for k, v in record.items() if k}), markdown=False, row=line)
        for line, record in _rows(text)
    ]
    return "", parts


_READERS = {"text": _text, "markdown": _markdown, "html": _html, "jsonl": _jsonl, "csv": _csv}
