"""Contender ``curator``: bespokelabs-curator, one ``curator.LLM`` call per turn.

Each round is two passes over all the dialogues: the user-simulator LLM (with
``response_format=UserReply``, sent as a ``json_schema``) then the assistant LLM (the
system prompt plus the history as messages); rows carry the growing history. The
OpenAI backend points at the scripted server; ``max_concurrent_requests`` is the
concurrency, rate limits are set far above what the run needs, and the cache, the rich
display, telemetry and the viewer are off.

Usage: .bench/venvs/curator/bin/python benchmarks/peers/run_curator.py WORKLOAD.json
"""

from __future__ import annotations

import os

from workload import bundled_tiktoken_dir

os.environ.setdefault("CURATOR_DISABLE_CACHE", "1")
os.environ.setdefault("CURATOR_DISABLE_RICH_DISPLAY", "1")
os.environ.setdefault("TELEMETRY_ENABLED", "false")
os.environ.setdefault("BESPOKE_CURATOR_TRACKER_DISABLED", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# Curator counts tokens with tiktoken's cl100k_base, which tiktoken would download; the
# litellm wheel Curator depends on ships that file (litellm points tiktoken at it too,
# but only once it is imported, after Curator asked).
os.environ.setdefault("TIKTOKEN_CACHE_DIR", bundled_tiktoken_dir())

import sys  # noqa: E402
from importlib import metadata  # noqa: E402
from typing import Any  # noqa: E402

from bespokelabs import curator  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402
from workload import Dialogue, assistant_messages, load, report, user_prompt  # noqa: E402


class UserReply(BaseModel):
    """The simulated person's next message."""

    message: str = Field(min_length=1, description="The person's next message.")
    end_conversation: bool = Field(default=False, description="True only when done.")


def _dialogue(row: dict[str, Any]) -> Dialogue:
    return Dialogue(
        id=row["id"],
        topic=row["topic"],
        conditions={},
        user_preamble=row["user_preamble"],
        system_prompt=row["system_prompt"],
    )


class UserSimulator(curator.LLM):
    response_format = UserReply

    def prompt(self, row: dict[str, Any]) -> str:
        return user_prompt(_dialogue(row), row["turns"])

    def parse(self, row: dict[str, Any], response: UserReply) -> dict[str, Any]:
        bad = row["bad"] + (response.end_conversation is not False)
        turn = {"role": "user", "content": response.message}
        return {**row, "turns": [*row["turns"], turn], "bad": bad}


class Assistant(curator.LLM):
    def prompt(self, row: dict[str, Any]) -> list[dict[str, str]]:
        return assistant_messages(_dialogue(row), row["turns"])

    def parse(self, row: dict[str, Any], response: str) -> dict[str, Any]:
        turn = {"role": "assistant", "content": response}
        return {**row, "turns": [*row["turns"], turn]}


def main(path: str) -> None:
    w = load(path)
    backend_params: Any = {
        "base_url": w.base_url,
        "api_key": w.api_key,
        "max_concurrent_requests": w.concurrency,
        "max_requests_per_minute": 10_000_000,
        "max_tokens_per_minute": 10_000_000_000,
        "max_retries": 4,
    }
    generation_params = {"temperature": w.temperature, "max_completion_tokens": w.max_tokens}
    kwargs: Any = {
        "model_name": w.model,
        "backend": "openai",
        "backend_params": backend_params,
        "generation_params": generation_params,
    }
    user, assistant = UserSimulator(**kwargs), Assistant(**kwargs)
    rows: list[dict[str, Any]] = [
        {
            "id": d.id,
            "topic": d.topic,
            "user_preamble": d.user_preamble,
            "system_prompt": d.system_prompt,
            "turns": [],
            "bad": 0,
        }
        for d in w.dialogues
    ]
    for _ in range(w.rounds):
        rows = user(rows).dataset.to_list()
        rows = assistant(rows).dataset.to_list()
    report(
        version=metadata.version("bespokelabs-curator"),
        dialogues=len(rows),
        turns=sum(len(r["turns"]) for r in rows),
        bad=sum(int(r["bad"]) for r in rows),
    )


if __name__ == "__main__":
    main(sys.argv[1])
