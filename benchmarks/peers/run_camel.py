"""Contender ``camel``: two CAMEL ``ChatAgent``s per dialogue, driven with ``astep``.

The user-simulator agent has the role-play rules as its system message and answers
through ``response_format=UserReply`` (CAMEL sends it as a ``json_schema`` through the
SDK's ``parse``); the assistant agent has the assistant's system prompt; each agent's
own memory holds the growing history (CAMEL's way: the user agent sees the assistant's
replies as its input, not a transcript pasted into one prompt). One
``OPENAI_COMPATIBLE_MODEL`` backend on the scripted server is shared by all agents;
dialogues run under ``asyncio.Semaphore(C)`` (CAMEL has no concurrency setting of its
own for independent agents).

Usage: .bench/venvs/camel/bin/python benchmarks/peers/run_camel.py WORKLOAD.json
"""

from __future__ import annotations

import asyncio
import sys
from importlib import metadata
from typing import Any

from camel.agents import ChatAgent
from camel.models import ModelFactory
from camel.types import ModelPlatformType
from pydantic import BaseModel, Field
from workload import Dialogue, Workload, load, report


class UserReply(BaseModel):
    """The simulated person's next message."""

    message: str = Field(min_length=1, description="The person's next message.")
    end_conversation: bool = Field(default=False, description="True only when done.")


OPENING = "Write the PERSON's first message, opening the conversation."


async def dialogue(
    model: Any, w: Workload, d: Dialogue, slots: asyncio.Semaphore
) -> tuple[int, int]:
    async with slots:
        user = ChatAgent(system_message=d.user_preamble, model=model)
        assistant = ChatAgent(system_message=d.system_prompt, model=model)
        turns = bad = 0
        prompt = OPENING
        for _ in range(w.rounds):
            reply = await user.astep(prompt, response_format=UserReply)
            parsed = reply.msgs[0].parsed if reply.msgs else None
            if not isinstance(parsed, UserReply):
                bad += 1
                message = reply.msgs[0].content if reply.msgs else ""
            else:
                bad += parsed.end_conversation is not False
                message = parsed.message
            answer = await assistant.astep(message)
            content = answer.msgs[0].content if answer.msgs else ""
            bad += not content
            turns += 2
            prompt = f"ASSISTANT: {content}\nNow write the PERSON's next message."
    return turns, bad


async def main(path: str) -> None:
    w = load(path)
    model = ModelFactory.create(
        model_platform=ModelPlatformType.OPENAI_COMPATIBLE_MODEL,
        model_type=w.model,
        api_key=w.api_key,
        url=w.base_url,
        model_config_dict={"temperature": w.temperature, "max_tokens": w.max_tokens},
    )
    slots = asyncio.Semaphore(w.concurrency)
    results = await asyncio.gather(*(dialogue(model, w, d, slots) for d in w.dialogues))
    report(
        version=metadata.version("camel-ai"),
        dialogues=len(results),
        turns=sum(t for t, _ in results),
        bad=sum(b for _, b in results),
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
