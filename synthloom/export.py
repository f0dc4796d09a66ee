"""Export accepted samples: OpenAI chat JSONL, ShareGPT JSONL, Hugging Face datasets.

Once a run is curated (`RUN/curated/curation.json` exists) the curated set is what a
user trains on, so it is the default; `which="generated"` exports generation's set.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synthloom.core import names
from synthloom.core.errors import SynthloomError
from synthloom.core.layouts import LAYOUTS, render_cot
from synthloom.rundir import load_samples

FORMATS = ("openai", "sharegpt", "hf")
SETS = ("auto", "curated", "generated")
# Curation writes its summary after both of its files, so the summary marks a curated set.
_CURATED_MARK = Path(names.CURATED) / names.CURATION
_CURATED_SAMPLES = Path(names.CURATED) / names.SAMPLES
_SHAREGPT_ROLE = {"user": "human", "assistant": "gpt", "system": "system"}


def to_sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    """ShareGPT layout: `conversations` of human/gpt turns, the system prompt apart."""
    messages = record["messages"]
    system = next((m["content"] for m in messages if m["role"] == "system"), None)
    conversations = [
        {"from": _SHAREGPT_ROLE[m["role"]], "value": m["content"]}
        for m in messages
        if m["role"] != "system"
    ]
    out: dict[str, Any] = {"conversations": conversations}
    if system is not None:
        out["system"] = system
    out["metadata"] = record.get("metadata", {})
    return out


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    # Written beside the target and renamed at the end: a bad record leaves nothing behind.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    count = 0
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def relayout(record: dict[str, Any], layout: str) -> dict[str, Any]:
    """A CoT record with its assistant turn re-rendered in another layout."""
    cot = record.get("metadata", {}).get("cot")
    if not cot:
        return record
    content = render_cot(cot["steps"], cot["answer"], layout)  # type: ignore[arg-type]
    messages = [
        {**m, "content": content} if m["role"] == "assistant" else m for m in record["messages"]
    ]
    return {
        **record,
        "messages": messages,
        "metadata": {**record["metadata"], "cot": {**cot, "layout": layout}},
    }


def inline_reasoning(record: dict[str, Any]) -> dict[str, Any]:
    """A dialogue record with each turn's hidden reasoning put back as a `<think>` block."""
    hidden = record.get("metadata", {}).get("reasoning") or {}
    if not hidden:
        return record
    messages = [
        {**m, "content": f"<think>\n{hidden[str(i)]}\n</think>\n\n{m['content']}"}
        if str(i) in hidden
        else m
        for i, m in enumerate(record["messages"])
    ]
    return {**record, "messages": messages}


def sample_set(run_dir: Path, which: str = "auto") -> tuple[str, Path]:
    """Which set an export reads ("curated" or "generated") and its file.

    `auto` takes the curated set when the run has one: exporting generation's samples
    after curation would ship what curation dropped.
    """
    if which not in SETS:
        raise SynthloomError(f"unknown sample set {which!r}; choose one of {', '.join(SETS)}")
    curated = (run_dir / _CURATED_MARK).is_file()
    if which == "curated" and not curated:
        raise SynthloomError(
            f"{run_dir}: no curated set here yet; run `synthloom curate {run_dir}` first"
        )
    if which == "curated" or (which == "auto" and curated):
        return "curated", run_dir / _CURATED_SAMPLES
    return "generated", run_dir / names.SAMPLES


def export_run(
    run_dir: Path,
    fmt: str,
    dest: Path | None = None,
    *,
    layout: str | None = None,
    reasoning: bool = False,
    which: str = "auto",
) -> tuple[Path, int]:
    """Write the run's accepted samples in `fmt`; returns the destination and the count.

    `which` picks the set (see `sample_set`): the curated one by default when it exists.
    """
    if fmt not in FORMATS:
        raise SynthloomError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if layout is not None and layout not in LAYOUTS:
        raise SynthloomError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    chosen, _ = sample_set(run_dir, which)
    records: Iterable[dict[str, Any]] = load_samples(
        run_dir / names.CURATED if chosen == "curated" else run_dir
    )
    if layout is not None:
        records = (relayout(r, layout) for r in records)
    if reasoning:
        records = (inline_reasoning(r) for r in records)
    if fmt == "openai":
        target = dest or run_dir / "export" / "openai.jsonl"
        return target, _write_jsonl(target, records)
    if fmt == "sharegpt":
        target = dest or run_dir / "export" / "sharegpt.jsonl"
        return target, _write_jsonl(target, (to_sharegpt(r) for r in records))
    return _export_hf(list(records), dest or run_dir / "export" / "hf")


def _export_hf(records: list[dict[str, Any]], target: Path) -> tuple[Path, int]:
    try:
        import datasets
    except ImportError:
        raise SynthloomError(
            "Hugging Face export needs the `hf` extra: pip install 'synthloom[hf]'"
        ) from None
    # Conditions differ per spec, so metadata travels as a JSON string column
    # beside flat columns that every run has.
    rows = [
        {
            "id": r["metadata"]["id"],
            "messages": r["messages"],
            "topic": r["metadata"].get("topic"),
            "metadata": json.dumps(r["metadata"], ensure_ascii=False),
        }
        for r in records
    ]
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "messages": [{"role": datasets.Value("string"), "content": datasets.Value("string")}],
            "topic": datasets.Value("string"),
            "metadata": datasets.Value("string"),
        }
    )
    dataset = datasets.Dataset.from_list(rows, features=features)
    dataset.save_to_disk(str(target))
    return target, len(rows)
