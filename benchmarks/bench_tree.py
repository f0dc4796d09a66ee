"""Expansion and planning over a large concept tree (synthloom's own overhead, no model time).

1. Expansion: the real expansion graph (select → propose → screen/add, checkpointed)
   grows 3 seed topics to `--nodes` nodes with a scripted model that answers at once
   (langchain-core's GenericFakeChatModel), so the time measured is synthloom's:
   prompt rendering, structured-output parsing, screening, state and checkpoints.
2. Planning: `Allocator` deals `--samples` samples over the grown tree's leaves and a
   condition grid; then a coverage report with 20% random rejects, reallocation until
   settled, and coverage written onto every node. `run_plans_s` times what
   `synthloom run` does before its first sample: the run's `Planner` over the tree
   (each plan with its id), plus one replacement plan for a fifth of them.
3. Files: save and load the tree (node-link JSON).

Usage::

    python benchmarks/bench_tree.py                       # 50,000 nodes, SQLite checkpoints
    python benchmarks/bench_tree.py --checkpointer none --samples 200000 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the repo's packages importable
    sys.path.insert(0, str(REPO))

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver  # noqa: E402

from knowledge.concepts import ConceptTree  # noqa: E402
from knowledge.concepts.spec import ConceptsSpec, ExpandSpec  # noqa: E402
from synthloom.accounting import coverage_report  # noqa: E402
from synthloom.allocation import Allocator, ConditionGrid, Outcome, reallocate  # noqa: E402
from synthloom.grow import expand_tree, expansion_context  # noqa: E402
from synthloom.planning import Planner  # noqa: E402
from synthloom.spec import RunSpec  # noqa: E402
from tests.concepts.scripted import HashingEmbeddings, ScriptedChatModel, taxonomy_answer  # noqa: E402

SEEDS = ["Hypertension", "Type 2 diabetes", "Asthma"]
CONDITIONS = {
    "persona": [("patient", 3.0), ("caregiver", 2.0), ("clinician", 1.0)],
    "difficulty": ["beginner", "intermediate", "advanced"],
    "style": ["brief", "detailed"],
}


@contextmanager
def timed(figures: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    figures[name] = round(time.perf_counter() - start, 3)


async def expand(args: argparse.Namespace, figures: dict[str, float]) -> ConceptTree:
    settings = ExpandSpec(
        max_depth=16,
        children_per_node=args.children,
        max_nodes=args.nodes,
        max_calls=args.nodes,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
    )
    model = ScriptedChatModel(taxonomy_answer)
    ctx = expansion_context(
        ConceptTree.from_seeds(SEEDS, root="Chronic disease care"),
        model,
        settings,
        embeddings=HashingEmbeddings() if args.embeddings == "hashing" else None,
    )
    with tempfile.TemporaryDirectory() as tmp, timed(figures, "expand_s"):
        if args.checkpointer == "sqlite":
            async with AsyncSqliteSaver.from_conn_string(f"{tmp}/ckpt.sqlite") as saver:
                result = await expand_tree(ctx, checkpointer=saver)
            figures["checkpoint_db_mb"] = round(
                Path(f"{tmp}/ckpt.sqlite").stat().st_size / 2**20, 1
            )
        else:
            result = await expand_tree(ctx)
    summary = result.tree.graph.graph["expansion"]
    figures |= {
        "nodes": len(result.tree),
        "leaves": len(result.tree.leaves()),
        "depth": result.tree.height,
        "model_calls": summary["calls"],
        "batches": summary["batches"],
        "rejected_children": sum(summary["rejected"].values()),
    }
    return result.tree


def plan(tree: ConceptTree, args: argparse.Namespace, figures: dict[str, float]) -> None:
    with timed(figures, "leaves_s"):
        leaves = tree.leaves()
    with timed(figures, "plan_s"):
        allocator = Allocator(leaves, ConditionGrid.from_conditions(CONDITIONS), seed=0)
        assignments = allocator.plan(args.samples)
    rng = random.Random(0)
    with timed(figures, "reallocate_s"):
        outcomes: dict[tuple[int, int], Outcome] = {}
        every, todo = list(assignments), assignments
        while todo:
            for a in todo:
                outcomes[a.key] = "rejected" if rng.random() < 0.2 else "accepted"
            todo = reallocate(todo, outcomes, max_attempts=4)  # only the newest can be lost
            every += todo
    with timed(figures, "coverage_s"):
        report = coverage_report(every, outcomes, max_attempts=4)
        report.apply(tree)
    balance = report.balance("planned")
    spec = RunSpec.model_validate(
        {
            "samples": args.samples,
            "concepts": ConceptsSpec(seeds=SEEDS),
            "conditions": {
                name: {v: w for v, w in values} if isinstance(values[0], tuple) else values
                for name, values in CONDITIONS.items()
            },
            "coverage": {"replacements": 3},
        }
    )
    with timed(figures, "run_plans_s"):
        planner = Planner(spec, tree)
        plans = list(planner.plans())
        replacements = planner.replacements(plans[::5])
    figures["run_plans"] = len(plans) + len(replacements)
    figures |= {
        "samples": args.samples,
        "replacement_samples": len(every) - len(assignments),
        "planned_per_leaf_min": balance.min,
        "planned_per_leaf_max": balance.max,
    }


def files(tree: ConceptTree, figures: dict[str, float]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tree.json"
        with timed(figures, "save_s"):
            tree.save(path)
        figures["tree_file_mb"] = round(path.stat().st_size / 2**20, 1)
        with timed(figures, "load_s"):
            ConceptTree.load(path)


def cache_prompt_work() -> None:
    """Cache what is rebuilt on every model call today (see the closing note of issue #4).

    `PromptTemplate.render` compiles its Jinja source on each call and
    `ask_structured` regenerates the JSON schema of its answer model on each call.
    """
    import agents.structured
    import prompts

    env = prompts._environment()
    env.from_string = functools.lru_cache(maxsize=64)(env.from_string)  # type: ignore[method-assign]
    agents.structured.response_format = functools.cache(agents.structured.response_format)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--children", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--checkpointer", choices=["sqlite", "none"], default="sqlite")
    parser.add_argument("--embeddings", choices=["none", "hashing"], default="none")
    parser.add_argument(
        "--cache-prompts",
        action="store_true",
        help="Compile each prompt template and answer schema once (a proposed fix).",
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    if args.cache_prompts:
        cache_prompt_work()
    figures: dict[str, Any] = {
        "checkpointer": args.checkpointer,
        "embeddings": args.embeddings,
        "cache_prompts": args.cache_prompts,
    }
    tree = asyncio.run(expand(args, figures))
    plan(tree, args, figures)
    files(tree, figures)
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
