"""Profile synthloom's dialogue run and measure what-if changes (scratch tool).

Runs the same real path as bench_dialogue.py (scripted server in its own process,
parse_spec -> open_models -> DatasetRun(...).run()) at a low latency, so the client is
CPU-bound, and either profiles it (cProfile, main thread) or measures client CPU ms per
call with some parts of synthloom monkeypatched ("what-ifs"). The what-ifs only exist in
this process; product code is untouched.

Usage::

    python benchmarks/profile_dialogue.py --profile cprofile --top 40
    python benchmarks/profile_dialogue.py --what-if all      # one run per what-if, compared
    python benchmarks/profile_dialogue.py --what-if durability-exit checkpointer-none
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for extra in (REPO, REPO / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench_dialogue import (  # noqa: E402
    ServerProcess,
    make_spec,
    run_synthloom,
)

WhatIf = Callable[[], Iterator[None]]
WHAT_IFS: dict[str, WhatIf] = {}


def what_if(name: str) -> Callable[[WhatIf], WhatIf]:
    def register(fn: WhatIf) -> WhatIf:
        WHAT_IFS[name] = contextmanager(fn)  # type: ignore[assignment]
        return fn

    return register


@contextmanager
def patched(obj: Any, attr: str, value: Any) -> Iterator[None]:
    old = getattr(obj, attr)
    setattr(obj, attr, value)
    try:
        yield
    finally:
        setattr(obj, attr, old)


# --------------------------------------------------------------------------------- what-ifs


@what_if("durability-exit")
def _durability_exit() -> Iterator[None]:
    """graph.ainvoke(durability="exit"): one checkpoint at the end instead of every step."""
    from langgraph.pregel import Pregel

    original = Pregel.ainvoke

    async def ainvoke(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.checkpointer is not None:
            kwargs["durability"] = "exit"
        return await original(self, *args, **kwargs)

    with patched(Pregel, "ainvoke", ainvoke):
        yield


@what_if("direct-openai")
def _direct_openai() -> Iterator[None]:
    """ChatOpenAI.ainvoke calls its AsyncOpenAI client directly (no Runnable/callbacks)."""
    from langchain_core.messages import AIMessage
    from langchain_openai.chat_models.base import BaseChatOpenAI

    async def ainvoke(
        self: Any, input: Any, config: Any = None, *, stop: Any = None, **kwargs: Any
    ) -> AIMessage:
        payload = self._get_request_payload(input, stop=stop, **kwargs)
        payload.pop("stream", None)
        completion = await self.root_async_client.chat.completions.create(**payload)
        choice = completion.choices[0]
        usage = completion.usage
        return AIMessage(
            choice.message.content or "",
            response_metadata={"finish_reason": choice.finish_reason},
            usage_metadata={
                "input_tokens": usage.prompt_tokens if usage else 0,
                "output_tokens": usage.completion_tokens if usage else 0,
                "total_tokens": usage.total_tokens if usage else 0,
            },
        )

    with patched(BaseChatOpenAI, "ainvoke", ainvoke):
        yield


@what_if("no-plan-validate")
def _no_plan_validate() -> Iterator[None]:
    """Nodes reuse a Plan object instead of Plan.model_validate(state['plan']) per node."""
    from graphs import dialogue
    from synthloom.core.records import Plan

    cache: dict[str, Plan] = {}

    class FastPlan:
        @staticmethod
        def model_validate(data: dict[str, Any]) -> Plan:
            plan = cache.get(data["id"])
            if plan is None:
                plan = cache[data["id"]] = Plan.model_validate(data)
            return plan

    with patched(dialogue, "Plan", FastPlan):
        yield


WHAT_IF_GROUPS: dict[str, list[str]] = {
    # Prompt caching, json_schema via create(), SQLite synchronous=NORMAL and checking
    # turns inside their nodes were what-ifs here; they are in the product now.
    "everything": ["durability-exit", "no-plan-validate", "direct-openai"],
}


# ------------------------------------------------------------------------------------ runs


async def one_run(
    base_url: str, tmp: Path, name: str, args: argparse.Namespace, checkpointer: str
) -> dict[str, Any]:
    spec = make_spec(
        base_url,
        tmp / name,
        samples=args.dialogues,
        rounds=args.rounds,
        concurrency=args.concurrency,
        checkpointer=checkpointer,
        max_tokens=1024,
    )
    result, sample = await run_synthloom(spec)
    calls = result.counts.usage.calls
    return {
        "what_if": name,
        "checkpointer": checkpointer,
        "accepted": result.counts.accepted,
        "calls": calls,
        "wall_s": round(sample.wall_s, 3),
        "cpu_s": round(sample.cpu_s, 3),
        "cpu_ms_per_call": round(1000 * sample.cpu_s / max(1, calls), 3),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


async def bare_cpu(base_url: str, args: argparse.Namespace, tmp: Path) -> float:
    from bench_dialogue import _plans, run_bare

    spec = make_spec(
        base_url,
        tmp / "bare",
        samples=args.dialogues,
        rounds=args.rounds,
        concurrency=args.concurrency,
        checkpointer="none",
        max_tokens=1024,
    )
    calls = args.dialogues * 2 * args.rounds
    made, _, sample = await run_bare(
        base_url, _plans(spec), calls, 2 * args.rounds, args.concurrency, 1024
    )
    return 1000 * sample.cpu_s / max(1, made)


def _expand(names: Sequence[str]) -> list[tuple[str, list[str]]]:
    runs: list[tuple[str, list[str]]] = [("baseline", [])]
    singles = list(WHAT_IFS) if "all" in names else [n for n in names if n in WHAT_IFS]
    runs += [(n, [n]) for n in singles]
    groups = list(WHAT_IF_GROUPS) if "all" in names else [n for n in names if n in WHAT_IF_GROUPS]
    runs += [(g, WHAT_IF_GROUPS[g]) for g in groups]
    return runs


async def main_async(args: argparse.Namespace, tmp: Path) -> None:
    with ServerProcess(args.latency, args.slots) as server:
        # Warm-up: lazy imports and first-connection costs.
        warm = argparse.Namespace(**{**vars(args), "dialogues": 4, "rounds": 1})
        await one_run(server.base_url, tmp, "warmup", warm, args.checkpointer)

        if args.profile != "none":
            await profile_run(server.base_url, tmp, args)
            return

        rows: list[dict[str, Any]] = []
        bare = await bare_cpu(server.base_url, args, tmp)
        for label, names in _expand(args.what_if):
            for repeat in range(args.repeats):
                with ExitStack() as stack:
                    for n in names:
                        stack.enter_context(WHAT_IFS[n]())
                    row = await one_run(
                        server.base_url, tmp, f"{label}-{repeat}", args, args.checkpointer
                    )
                row["what_if"] = label
                rows.append(row)
                print(json.dumps(row), flush=True)
            if args.checkpointer == "sqlite" and label == "baseline":
                for repeat in range(args.repeats):
                    row = await one_run(server.base_url, tmp, f"none-{repeat}", args, "none")
                    row["what_if"] = "checkpointer-none"
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        print_table(rows, bare)


async def profile_run(base_url: str, tmp: Path, args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        for n in args.what_if:
            for m in WHAT_IF_GROUPS.get(n, [n]):
                stack.enter_context(WHAT_IFS[m]())
        if args.profile == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="disabled", interval=0.0005)
            profiler.start()
            row = await one_run(base_url, tmp, "profiled", args, args.checkpointer)
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        else:
            prof = cProfile.Profile()
            prof.enable()
            row = await one_run(base_url, tmp, "profiled", args, args.checkpointer)
            prof.disable()
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats(args.sort).print_stats(args.top)
            print(out.getvalue())
            print_by_package(stats)
            if args.pstats:
                stats.dump_stats(args.pstats)
    print(json.dumps(row))


def _package_of(filename: str, name: str) -> str:
    if "select.epoll" in name:
        return "(idle: epoll wait)"
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins/C"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    try:
        rel = path.relative_to(REPO)
    except ValueError:
        return f"stdlib:{path.stem}" if "python3" in filename else path.stem
    return f"repo:{rel.parts[0]}"


def print_by_package(stats: pstats.Stats) -> None:
    """Own time (tottime) summed per package: where the main thread's CPU goes."""
    totals: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, name), (_, _, tottime, _, _) in raw.items():
        key = _package_of(filename, name)
        totals[key] = totals.get(key, 0.0) + tottime
    grand = sum(totals.values())
    print(f"{'package (own time)':<32} {'s':>8} {'share':>7}")
    for key, value in sorted(totals.items(), key=lambda kv: -kv[1])[:25]:
        print(f"{key:<32} {value:>8.2f} {value / grand:>7.1%}")


def print_table(rows: list[dict[str, Any]], bare_ms: float) -> None:
    by: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by.setdefault(row["what_if"], []).append(row)
    base = statistics.median(r["cpu_ms_per_call"] for r in by["baseline"])
    print(
        f"\n{'what-if':<28} {'CPU ms/call':>11} {'(min)':>7} {'wall s':>7} "
        f"{'vs baseline':>11} {'vs bare':>8}"
    )
    for label, group in by.items():
        med = statistics.median(r["cpu_ms_per_call"] for r in group)
        low = min(r["cpu_ms_per_call"] for r in group)
        wall = statistics.median(r["wall_s"] for r in group)
        print(
            f"{label:<28} {med:>11.2f} {low:>7.2f} {wall:>7.2f} {med / base:>11.2f} "
            f"{med / bare_ms:>8.2f}"
        )
    print(f"{'bare openai':<28} {bare_ms:>11.2f} {'':>7} {'':>7} {bare_ms / base:>11.2f} {1:>8.2f}")
    print("CPU ms/call = median over repeats; wall s = median wall of the synthloom run.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dialogues", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--checkpointer", choices=("sqlite", "none"), default="sqlite")
    parser.add_argument("--profile", choices=("none", "cprofile", "pyinstrument"), default="none")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (cprofile)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--pstats", type=Path, default=None, help="dump cProfile stats here")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--what-if",
        nargs="*",
        default=[],
        help=f"any of {sorted(WHAT_IFS)}, groups {sorted(WHAT_IF_GROUPS)}, or 'all'",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server too
    with tempfile.TemporaryDirectory(prefix="synthloom-profile-") as tmpdir:
        asyncio.run(main_async(args, Path(tmpdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
