"""Component micro-benchmarks of a dialogue call's client CPU, without any server.

The end-to-end figures of bench_dialogue.py / profile_dialogue.py are sensitive to other
load on a small machine. This scratch tool measures the pieces on their own, CPU-bound
and in-process, as the minimum over repeats (contention only ever adds time):

A. prompt rendering: ``PromptTemplate.render`` (compiles the Jinja source on every call)
   against rendering a template compiled once;
B. one model call through each layer, served by an in-process ``httpx`` MockTransport
   (canned replies, no sockets): bare ``AsyncOpenAI.create`` vs ``ChatOpenAI.ainvoke``,
   plain and json_schema (langchain's ``parse()`` path) and json_schema via extra_body;
C. the whole ``DatasetRun`` with synthloom's models pointed at the MockTransport, with
   and without the checkpointer and with the what-ifs of profile_dialogue.py.

Usage::

    python benchmarks/micro_dialogue.py                 # all parts
    python benchmarks/micro_dialogue.py --parts A B
    python benchmarks/micro_dialogue.py --parts C --what-if prompt-cache merged-nodes
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for extra in (REPO, REPO / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx2  # noqa: E402
import openai  # noqa: E402
from bench_dialogue import _system_prompt, _user_preamble, make_spec  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from profile_dialogue import WHAT_IF_GROUPS, WHAT_IFS  # noqa: E402
from rich.console import Console  # noqa: E402

from agents.llm import make_chat_model  # noqa: E402
from agents.roles import UserReply  # noqa: E402
from prompts import _environment, load_prompt  # noqa: E402
from synthloom.planning import make_plans  # noqa: E402
from synthloom.runner import DatasetRun  # noqa: E402

BASE_URL = "http://mock.invalid/v1"
_WORDS = (
    "amber anchor atlas autumn beacon birch breeze bridge canyon cedar chart cinder cobalt "
    "comet copper coral crystal delta drift ember falcon fern field fjord flint forest garnet "
    "glacier granite harbor hazel horizon indigo island ivory jade juniper kernel lagoon"
).split()


# ------------------------------------------------------------------------ mock transport


def _completion(content: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 0,
            "model": "scripted-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 300, "completion_tokens": 25, "total_tokens": 325},
        }
    ).encode()


def mock_transport(variants: int = 4096) -> httpx2.MockTransport:
    """Canned completions, different every call (so synthloom's repeat check passes)."""
    rng = random.Random(0)

    def sentence(low: int, high: int) -> str:
        return " ".join(rng.choices(_WORDS, k=rng.randint(low, high))).capitalize() + "."

    json_replies = [
        _completion(json.dumps({"message": sentence(6, 14), "end_conversation": False}))
        for _ in range(variants)
    ]
    text_replies = [_completion(sentence(12, 30)) for _ in range(variants)]
    json_cycle = itertools.cycle(json_replies)
    text_cycle = itertools.cycle(text_replies)
    headers = {"content-type": "application/json"}

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = next(json_cycle) if b'"response_format"' in request.content else next(text_cycle)
        return httpx2.Response(200, content=body, headers=headers)

    return httpx2.MockTransport(handler)


def mock_openai(transport: httpx2.MockTransport) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=BASE_URL,
        api_key="mock",
        max_retries=4,
        timeout=60.0,
        http_client=httpx2.AsyncClient(transport=transport),
    )


def point_at_mock(model: ChatOpenAI, transport: httpx2.MockTransport) -> ChatOpenAI:
    """A product-built ChatOpenAI whose async client talks to the MockTransport."""
    client = mock_openai(transport)
    model.root_async_client = client
    model.async_client = client.chat.completions
    return model


# ---------------------------------------------------------------------------- measuring


def best_of(repeats: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeats))


def cpu_of(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


async def acpu_of(fn: Callable[[], Awaitable[object]]) -> float:
    t0 = time.process_time()
    await fn()
    return time.process_time() - t0


# ------------------------------------------------------------------------------ part A


def part_a(repeats: int) -> dict[str, float]:
    spec = make_spec(BASE_URL, Path("unused"), samples=1, rounds=4, concurrency=1,
                     checkpointer="none", max_tokens=1024)  # fmt: skip
    plan = next(make_plans(spec))
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": " ".join(_WORDS[i : i + 20])}
        for i in range(6)
    ]
    user = load_prompt("user_simulator")
    assistant = load_prompt("assistant")
    user_vars: dict[str, Any] = {
        "topic": plan.topic,
        "conditions": plan.conditions,
        "transcript": turns,
        "can_end": False,
        "feedback": None,
    }
    if "avoid" in user.variables:
        user_vars["avoid"] = []
    asst_vars = {
        "system_prompt": "You are a careful assistant.",
        "topic": plan.topic,
        "conditions": plan.conditions,
        "feedback": None,
    }
    n = 200
    out: dict[str, float] = {}
    for name, template, values in (("user", user, user_vars), ("assistant", assistant, asst_vars)):
        compiled = _environment().from_string(template.source)
        now = best_of(repeats, lambda t=template, v=values: cpu_of(  # type: ignore[misc]
            lambda: [t.render(**v) for _ in range(n)]))  # fmt: skip
        cached = best_of(repeats, lambda c=compiled, v=values: cpu_of(  # type: ignore[misc]
            lambda: [c.render(**v) for _ in range(n)]))  # fmt: skip
        out[f"render_{name}_ms"] = 1000 * now / n
        out[f"render_{name}_cached_ms"] = 1000 * cached / n
    return out


# ------------------------------------------------------------------------------ part B


async def part_b(repeats: int, calls: int, concurrency: int) -> dict[str, float]:
    transport = mock_transport()
    spec = make_spec(BASE_URL, Path("unused"), samples=1, rounds=4, concurrency=1,
                     checkpointer="none", max_tokens=1024)  # fmt: skip
    plan = next(make_plans(spec))
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": " ".join(_WORDS[i : i + 20])}
        for i in range(5)
    ]
    user_prompt = (
        _user_preamble(plan)
        + "The conversation so far:\n"
        + "\n".join(f"{t['role']}: {t['content']}" for t in history)
    )
    system = _system_prompt(plan)
    fmt: dict[str, Any] = {
        "type": "json_schema",
        "json_schema": {"name": "UserReply", "schema": UserReply.model_json_schema()},
    }
    bare = mock_openai(transport)
    model = point_at_mock(make_chat_model(spec.models.assistant, base_url=BASE_URL), transport)
    lc_user = [HumanMessage(user_prompt)]
    lc_asst = [
        SystemMessage(system),
        *[
            HumanMessage(t["content"]) if t["role"] == "user" else AIMessage(t["content"])
            for t in history
        ],
    ]
    raw_asst: list[Any] = [{"role": "system", "content": system}, *history]
    common: dict[str, Any] = {
        "model": "scripted-model",
        "temperature": 0.8,
        "max_completion_tokens": 1024,
    }

    variants: dict[str, Callable[[], Awaitable[object]]] = {
        "bare_plain": lambda: bare.chat.completions.create(messages=raw_asst, **common),
        "bare_json": lambda: bare.chat.completions.create(
            messages=[{"role": "user", "content": user_prompt}], response_format=fmt, **common
        ),
        "langchain_plain": lambda: model.ainvoke(lc_asst),
        "langchain_json_parse": lambda: model.bind(response_format=fmt).ainvoke(lc_user),
        "langchain_json_extra_body": lambda: model.bind(
            extra_body={"response_format": fmt}
        ).ainvoke(lc_user),
    }

    async def many(call: Callable[[], Awaitable[object]]) -> None:
        left = iter(range(calls))

        async def worker() -> None:
            for _ in left:
                await call()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    out: dict[str, float] = {}
    for name, call in variants.items():
        await many(call)  # warm-up
        best = min([await acpu_of(lambda c=call: many(c)) for _ in range(repeats)])  # type: ignore[misc]
        out[f"{name}_ms"] = 1000 * best / calls
    await bare.close()
    return out


# ------------------------------------------------------------------------------ part C


async def run_mocked(tmp: Path, name: str, dialogues: int, checkpointer: str) -> dict[str, Any]:
    transport = mock_transport()
    spec = make_spec(BASE_URL, tmp / name, samples=dialogues, rounds=4, concurrency=32,
                     checkpointer=checkpointer, max_tokens=1024)  # fmt: skip
    models: dict[str, BaseChatModel] = {
        role: point_at_mock(
            make_chat_model(getattr(spec.models, role), base_url=BASE_URL), transport
        )  # fmt: skip
        for role in ("user_simulator", "assistant")
    }
    job = DatasetRun(spec, models, console=Console(quiet=True), show_progress=False)
    t0 = time.process_time()
    w0 = time.perf_counter()
    result = await job.run()
    cpu = time.process_time() - t0
    calls = result.counts.usage.calls
    return {
        "run": name,
        "accepted": result.counts.accepted,
        "calls": calls,
        "wall_s": round(time.perf_counter() - w0, 3),
        "cpu_ms_per_call": round(1000 * cpu / max(1, calls), 3),
    }


def _contexts(names: list[str]) -> Iterator[str]:
    for n in names:
        yield from WHAT_IF_GROUPS.get(n, [n])


async def part_c(repeats: int, dialogues: int, what_ifs: list[str], tmp: Path) -> dict[str, float]:
    labels: list[tuple[str, str, list[str]]] = [
        ("sqlite", "sqlite", []),
        ("none", "none", []),
    ]
    for w in what_ifs:  # "none:NAME" runs NAME without the checkpointer
        if w.startswith("none:"):
            labels.append((w, "none", [w.removeprefix("none:")]))
        else:
            labels.append((w, "sqlite", [w]))
    await run_mocked(tmp, "warmup", 4, "sqlite")
    results: dict[str, list[float]] = {label: [] for label, _, _ in labels}
    # Interleave the variants repeat by repeat so slow periods hit all of them alike.
    for r in range(repeats):
        for label, checkpointer, names in labels:
            with ExitStack() as stack:
                for n in _contexts(names):
                    stack.enter_context(WHAT_IFS[n]())
                row = await run_mocked(tmp, f"{label}-{r}", dialogues, checkpointer)
            if row["accepted"] != dialogues:
                raise RuntimeError(f"{label}: only {row['accepted']}/{dialogues} accepted")
            results[label].append(row["cpu_ms_per_call"])
            print(json.dumps({"what_if": label, **row}), flush=True)
    return {f"run_{label}_ms": min(values) for label, values in results.items()}


# -------------------------------------------------------------------------------- main


async def main_async(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    if "A" in args.parts:
        out |= part_a(args.repeats)
    if "B" in args.parts:
        out |= await part_b(args.repeats, args.calls, args.concurrency)
    if "C" in args.parts:
        out |= await part_c(args.repeats, args.dialogues, args.what_if, tmp)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--parts", nargs="+", default=["A", "B", "C"], choices=("A", "B", "C"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=512, help="calls per variant (part B)")
    parser.add_argument("--concurrency", type=int, default=32, help="part B")
    parser.add_argument("--dialogues", type=int, default=64, help="per run (part C)")
    parser.add_argument(
        "--what-if",
        nargs="*",
        default=["prompt-cache", "durability-exit", "sqlite-normal", "merged-nodes",
                 "json-via-create", "direct-openai", "prompt+normal+merged+json", "everything"],
        help=f"any of {sorted(WHAT_IFS)} or groups {sorted(WHAT_IF_GROUPS)}",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="synthloom-micro-") as tmpdir:
        out = asyncio.run(main_async(args, Path(tmpdir)))
    print(f"\n{'measure (min over repeats)':<40} {'CPU ms':>8}")
    for key, value in out.items():
        print(f"{key:<40} {value:>8.3f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
