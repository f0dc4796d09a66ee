"""Build the labelled failure set from the held-out real conversations.

    python benchmarks/data/make_failures.py

Reads `sharegpt_holdout.jsonl.gz` and writes `failures.jsonl.gz`: for each kind of
failure the checks exist for, conversations cut after one planted bad turn, labelled
in the message (`"label": "loop"`). The generators are `tests/support/corruptions.py`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.support.corruptions import CORRUPTIONS, labelled, plant  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=60)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    with gzip.open(HERE / "sharegpt_holdout.jsonl.gz", "rt", encoding="utf-8") as handle:
        good = [json.loads(line)["messages"] for line in handle]
    rng = random.Random(args.seed)
    out = HERE / "failures.jsonl.gz"
    counts = {}
    with gzip.open(out, "wt", encoding="utf-8") as handle:
        for kind in CORRUPTIONS:
            made = 0
            while made < args.per_kind:
                planted = plant(rng.choice(good), kind, rng, good)
                if planted is None:
                    continue
                messages, index = planted
                record = labelled(messages, index, kind, source="sharegpt-v3 holdout, planted")
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                made += 1
            counts[kind] = made
    print(f"{out.name}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
