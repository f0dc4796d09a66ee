"""Long Markdown is handed to the heading splitter in pieces: same sections, linear time."""

from __future__ import annotations

from langchain_text_splitters import ExperimentalMarkdownSyntaxTextSplitter

from knowledge.chunking import _pieces, _sections
from knowledge.loaders import Part


def whole(text: str) -> list[tuple[dict[str, object], str]]:
    splitter = ExperimentalMarkdownSyntaxTextSplitter(strip_headers=True)
    return [(d.metadata, d.page_content.strip()) for d in splitter.split_text(text)]


def in_pieces(text: str, block: int) -> list[tuple[dict[str, object], str]]:
    splitter = ExperimentalMarkdownSyntaxTextSplitter(strip_headers=True)
    return [
        (d.metadata, d.page_content.strip())
        for t in _pieces(text, block)
        for d in splitter.split_text(t)
    ]


def document(sections: int) -> str:
    out = ["Intro line before any heading.\n\n"]
    for i in range(sections):
        out.append(f"# Part {i}\n\nAbout part {i}.\n\n## Detail {i}\n\nFine print {i}.\n\n")
        out.append(f"```python\n# not a heading {i}\nx = {i}\n```\n\n### Deep {i}\n\nDeeper {i}.\n")
    return "".join(out)


def test_pieces_give_the_sections_the_whole_text_gives() -> None:
    text = document(200)
    pieces = list(_pieces(text, block=500))
    assert len(pieces) > 20
    assert in_pieces(text, 500) == whole(text)


def test_a_long_section_is_cut_at_paragraphs_and_keeps_its_heading_path() -> None:
    body = "".join(f"Paragraph {i} of the long section.\n\n" for i in range(5000))
    text = "# Guide\n\n## Long\n\n" + body + "## After\n\nThe end.\n"
    sections = _sections(Part(text))
    long = [b for h, b in sections if h == ["Guide", "Long"]]
    assert len(long) > 1 and all(len(b) < 2 * 64_000 for b in long)
    assert "".join(long).split() == body.split()
    # Only whitespace at a cut differs, and chunks are stripped.
    assert (sections[-1][0], sections[-1][1].strip()) == (["Guide", "After"], "The end.")
