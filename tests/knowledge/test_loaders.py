"""Loaders: every supported format yields titled text; every bad input yields a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pypdf import PdfWriter

from knowledge.loaders import SkipFile, load_document, unsupported_reason
from tests.knowledge.conftest import EXAMPLE_KNOWLEDGE


def load(name: str):  # type: ignore[no-untyped-def]
    path = EXAMPLE_KNOWLEDGE / name
    return load_document(path, name)


def test_markdown_keeps_headings_and_takes_the_first_as_title() -> None:
    doc = load("type-2-diabetes.md")
    assert doc.kind == "markdown" and doc.title == "Type 2 diabetes"
    assert "## Low blood glucose (hypoglycaemia)" in doc.parts[0].text


def test_plain_text_lines_standing_alone_become_headings() -> None:
    doc = load("high-blood-pressure.txt")
    assert doc.title == "High blood pressure (hypertension)"
    text = doc.parts[0].text
    assert "## What the numbers mean" in text
    assert "## When to get help urgently" in text
    # Sentences are never mistaken for headings.
    assert "## A reading of 180/120" not in text


def test_html_becomes_markdown_without_page_furniture() -> None:
    doc = load("fever-in-children.html")
    text = doc.parts[0].text
    assert doc.title == "Fever in children"
    assert "## When to get urgent help" in text
    assert "38°C (100.4°F) or higher" in text  # <strong> stripped, text kept
    assert "Home |" not in text and "font-family" not in text  # nav and style removed
    # Line breaks inside a paragraph of the source are just spaces.
    assert "when a glass is pressed against it" in text


def test_pdf_gives_one_part_per_page_with_its_number() -> None:
    doc = load("home-blood-pressure-monitoring.pdf")
    assert doc.title == "Measuring your blood pressure at home"
    assert [p.page for p in doc.parts] == [1, 2]
    assert "back supported" in doc.parts[1].text


def test_csv_and_jsonl_give_one_part_per_record() -> None:
    faq = load("faq-diabetes.csv")
    assert len(faq.parts) == 6 and faq.parts[0].row == 2
    assert faq.parts[2].text.startswith("Question: Can I drink alcohol")
    assert "Answer: Usually in moderation" in faq.parts[2].text
    lines = load("faq-fever-and-blood-pressure.jsonl")
    assert [p.row for p in lines.parts] == [1, 2, 3, 4, 5, 6]


def test_jsonl_text_field_is_used_with_its_title(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_text('{"title": "Salt", "text": "Less than 6 g a day.", "id": 3}\n')
    doc = load_document(path, "notes.jsonl")
    assert doc.parts[0].text == "Salt\nLess than 6 g a day."
    assert doc.title == "Notes"


def _blank_pdf(path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with path.open("wb") as handle:
        writer.write(handle)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"  \n\n\t\n", "empty file"),
        ("latin1.txt", "caf\xe9 au lait".encode("latin-1"), "not UTF-8 text"),
        ("binary.txt", b"\x00\x01\x02abc", "binary content"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "not a readable PDF"),
        ("bad.jsonl", b'{"text": "ok"}\n{"text": \n', "line 2: invalid JSON"),
        ("list.jsonl", b"[1, 2]\n", "line 1: expected a JSON object"),
        ("notes.docx", b"PK\x03\x04", "unsupported file type '.docx'"),
        ("headers-only.csv", b"question,answer\n", "no text in the file"),
    ],
)
def test_bad_input_is_skipped_with_its_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SkipFile) as info:
        load_document(path, name)
    assert reason in info.value.reason


def test_pdf_without_text_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    _blank_pdf(path)
    with pytest.raises(SkipFile, match="no extractable text"):
        load_document(path, "scan.pdf")


def test_missing_and_dangling_paths(tmp_path: Path) -> None:
    link = tmp_path / "gone.md"
    link.symlink_to(tmp_path / "nowhere.md")
    with pytest.raises(SkipFile, match="no such file"):
        load_document(link, "gone.md")
    assert unsupported_reason(tmp_path / "x.MD") is None  # extensions are case-blind


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("hidden")
    path.chmod(0)
    with pytest.raises(SkipFile, match="unreadable"):
        load_document(path, "secret.txt")
