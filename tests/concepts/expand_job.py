"""One checkpointed expansion with the scripted model: the kill/resume test's subprocess.

    python -m tests.concepts.expand_job --db ckpt.sqlite --out tree.json [--delay 0.05]

Prints `batch N` after each checkpointed batch, then `done calls=C resumed=R`.
"""

from __future__ import annotations

import argparse
import asyncio

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from knowledge.concepts import ConceptTree
from knowledge.concepts.spec import ExpandSpec
from synthloom.grow import expand_tree, expansion_context
from tests.concepts.scripted import ScriptedChatModel, taxonomy_answer

SETTINGS = ExpandSpec(max_depth=3, children_per_node=8, max_nodes=5000, batch_size=4)


async def run(db: str, out: str, delay: float) -> None:
    model = ScriptedChatModel(taxonomy_answer, delay=delay)
    tree = ConceptTree.from_seeds(
        ["Hypertension", "Type 2 diabetes", "Asthma"], root="Chronic disease care"
    )
    ctx = expansion_context(tree, model, SETTINGS)
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        result = await expand_tree(
            ctx, checkpointer=saver, on_batch=lambda s: print(f"batch {s['batches']}", flush=True)
        )
    result.tree.save(out)
    print(f"done calls={model.calls} resumed={result.resumed}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(run(args.db, args.out, args.delay))


if __name__ == "__main__":
    main()
