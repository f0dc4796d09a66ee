"""Build the Korean evaluation sets: real exchanges, and planted failures in them.

The source is `ChatbotData.csv` of github.com/songys/Chatbot_data (commit 4cf20d1,
MIT licence, © 2018 Youngsook Song): 11,823 Korean question/answer pairs written by
a person for chatbot training, modelled on what people post in a Korean community
forum (everyday talk, break-ups, love). They are short, casual, human-written Korean:
the user side as people type it, the answer side as a person would reply.

    git clone https://github.com/songys/Chatbot_data /tmp/Chatbot_data
    python benchmarks/data/build_korean_sets.py --source /tmp/Chatbot_data/ChatbotData.csv

Writes, in OpenAI `messages` JSONL (gzip):
    korean_chatbot_fit.jsonl.gz      exchanges the Korean patterns were written against
    korean_chatbot_holdout.jsonl.gz  exchanges they were never looked at on
    korean_failures.jsonl.gz         holdout dialogues (three exchanges each) cut after
                                     one planted bad turn, labelled in the message
    korean_dialogues.jsonl.gz        200 holdout dialogues of three exchanges on one theme,
                                     for replaying a Korean run (`--replay`); each exchange
                                     is real, their sequence is not one conversation
The split is by a hash of the question, so it is stable and disjoint. The generators
are `tests/support/corruptions_ko.py`.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.support.corruptions import labelled, plant  # noqa: E402
from tests.support.corruptions_ko import CORRUPTIONS  # noqa: E402

SOURCE = "songys/Chatbot_data ChatbotData.csv (MIT)"
PLANT_MIN_WORDS = 4


def split_of(question: str) -> str:
    """`fit` or `holdout`, from a hash of the question."""
    digest = int(hashlib.sha256(question.encode()).hexdigest()[:8], 16)
    return "holdout" if digest % 2 else "fit"


def write(path: Path, records: list[dict[str, Any]]) -> None:
    """Gzipped JSONL, one record a line, Korean kept as is (no timestamp: same bytes)."""
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    path.write_bytes(gzip.compress(lines.encode("utf-8"), mtime=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="ChatbotData.csv")
    parser.add_argument("--per-kind", type=int, default=60)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    with args.source.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    sets: dict[str, list[dict[str, Any]]] = {"fit": [], "holdout": []}
    for number, row in enumerate(rows, 2):  # line 1 is the header
        messages = [
            {"role": "user", "content": row["Q"].strip()},
            {"role": "assistant", "content": row["A"].strip()},
        ]
        meta = {"source": SOURCE, "source_line": number, "label": row["label"].strip()}
        sets[split_of(row["Q"])].append({"messages": messages, "metadata": meta})
    for name, records in sets.items():
        write(HERE / f"korean_chatbot_{name}.jsonl.gz", records)
    rng = random.Random(args.seed)
    exchanges = [
        r["messages"]
        for r in sets["holdout"]
        if all(len(m["content"].split()) >= PLANT_MIN_WORDS for m in r["messages"])
    ]
    failures, counts = [], {}
    for kind in CORRUPTIONS:
        made = 0
        while made < args.per_kind:
            dialogue = [m for _ in range(3) for m in rng.choice(exchanges)]
            planted = plant(dialogue, kind, rng, exchanges, CORRUPTIONS)
            if planted is None:
                continue
            messages, index = planted
            failures.append(labelled(messages, index, kind, source=f"{SOURCE}, planted"))
            made += 1
        counts[kind] = made
    write(HERE / "korean_failures.jsonl.gz", failures)
    themes: dict[str, list[list[dict[str, str]]]] = {}
    for record in sets["holdout"]:
        themes.setdefault(record["metadata"]["label"], []).append(record["messages"])
    replayed = []
    for _ in range(200):
        pool = themes[rng.choice(sorted(themes))]
        turns = [m for exchange in rng.sample(pool, 3) for m in exchange]
        replayed.append({"messages": turns, "metadata": {"source": SOURCE}})
    write(HERE / "korean_dialogues.jsonl.gz", replayed)
    sizes = {name: len(records) for name, records in sets.items()}
    print(f"korean_chatbot: {sizes}; korean_failures.jsonl.gz: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
