"""Contender ``bare``: the plain ``openai.AsyncOpenAI`` client, asyncio.Semaphore(C).

Usage: python benchmarks/peers/run_bare.py WORKLOAD.json (in the project's venv).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import openai
from workload import Dialogue, Workload, assistant_messages, load, parse_user_reply, report
from workload import user_prompt as make_user_prompt


async def dialogue(
    client: openai.AsyncOpenAI, w: Workload, d: Dialogue, slots: asyncio.Semaphore
) -> tuple[int, int]:
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "UserReply", "schema": w.user_schema},
    }
    turns: list[dict[str, str]] = []
    bad = 0
    async with slots:
        for _ in range(w.rounds):
            completion = await client.chat.completions.create(
                model=w.model,
                messages=[{"role": "user", "content": make_user_prompt(d, turns)}],
                response_format=response_format,
                max_completion_tokens=w.max_tokens,
                temperature=w.temperature,
            )
            message, ok = parse_user_reply(completion.choices[0].message.content)
            bad += not ok
            turns.append({"role": "user", "content": message})
            completion = await client.chat.completions.create(
                model=w.model,
                messages=assistant_messages(d, turns),  # type: ignore[arg-type]
                max_completion_tokens=w.max_tokens,
                temperature=w.temperature,
            )
            choice = completion.choices[0]
            bad += choice.finish_reason != "stop"
            turns.append({"role": "assistant", "content": choice.message.content or ""})
    return len(turns), bad


async def main(path: str) -> None:
    w = load(path)
    client = openai.AsyncOpenAI(base_url=w.base_url, api_key=w.api_key, max_retries=4)
    slots = asyncio.Semaphore(w.concurrency)
    try:
        results = await asyncio.gather(*(dialogue(client, w, d, slots) for d in w.dialogues))
    finally:
        await client.close()
    report(
        version=openai.__version__,
        dialogues=len(results),
        turns=sum(t for t, _ in results),
        bad=sum(b for _, b in results),
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
