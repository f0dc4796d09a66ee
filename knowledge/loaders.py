"""Source loaders: a file becomes a titled document of text parts, or a reason to skip it.

HTML goes through BeautifulSoup and markdownify (headings survive as Markdown, so
chunking can follow them); PDF through pypdf, one part per page; CSV and JSONL one
part per row, so a FAQ entry is never glued to its neighbour. A file that cannot be
used raises `SkipFile` with the reason the ingest summary shows.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
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


class SkipFile(Exception):
    """This file cannot be ingested; `reason` says why, for the summary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Part:
    """A stretch of text chunked on its own: a whole file, a PDF page, a CSV row."""

    text: str
    markdown: bool = True
    page: int | None = None
    row: int | None = None


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


def _is_heading(lines: list[str], i: int) -> bool:
    """A short line standing alone between blank lines, not ending like a sentence."""
    line = lines[i].strip()
    alone = (i == 0 or not lines[i - 1].strip()) and (
        i + 1 >= len(lines) or not lines[i + 1].strip()
    )
    return alone and 0 < len(line) <= 80 and not line.endswith(_SENTENCE_ENDS)


def _text(text: str) -> tuple[str, list[Part]]:
    # Plain text has no markup, but notes and leaflets set their headings on lines of
    # their own; marking those as Markdown headings lets chunking follow them.
    lines = text.splitlines()
    marked = [
        f"## {line.strip()}" if _is_heading(lines, i) else line for i, line in enumerate(lines)
    ]
    title = next((line[3:] for line in marked if line.startswith("## ")), "")
    first = next((line.strip() for line in lines if line.strip()), "")
    return (title if first == title else ""), [Part("\n".join(marked))]


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
