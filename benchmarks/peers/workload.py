"""The shared workload of the peer benchmark, read by every contender's script.

Standard library only: each peer script runs in its own virtual environment
(``.bench/venvs/<name>``) and imports this file from its own folder. bench_peers.py
writes the workload JSON (prompts, schema, server address); a script reads it, runs
every dialogue, and prints one ``RESULT {...}`` line on stdout as its last line.

A dialogue of R rounds is 2R calls: the user simulator (one user message holding the
role-play instructions and the transcript so far, answered through a ``json_schema``
response format with the UserReply schema), then the assistant (its system prompt and
the history as chat messages), the history growing by one turn per call.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Dialogue:
    """One planned dialogue: its topic, conditions and the two roles' prompts."""

    id: str
    topic: str
    conditions: dict[str, str]
    user_preamble: str
    system_prompt: str


@dataclass(frozen=True)
class Workload:
    """Everything a contender needs; the same for all of them in one run."""

    base_url: str
    api_key: str
    model: str
    concurrency: int
    rounds: int
    max_tokens: int
    temperature: float
    user_schema: dict[str, Any]
    dialogues: list[Dialogue]

    @property
    def calls(self) -> int:
        return 2 * self.rounds * len(self.dialogues)


def load(path: str | Path) -> Workload:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    dialogues = [Dialogue(**d) for d in raw.pop("dialogues")]
    return Workload(dialogues=dialogues, **raw)


def transcript(turns: list[dict[str, str]]) -> str:
    return "".join(
        f"{'PERSON' if t['role'] == 'user' else 'ASSISTANT'}: {t['content']}\n" for t in turns
    )


def user_prompt(dialogue: Dialogue, turns: list[dict[str, str]]) -> str:
    """The user simulator's whole prompt: role-play rules plus the transcript so far."""
    if not turns:
        opening = "Write the PERSON's first message, opening the conversation."
        return dialogue.user_preamble + opening
    return (
        dialogue.user_preamble
        + f"The conversation so far:\n{transcript(turns)}\nNow write the PERSON's next message."
    )


def assistant_messages(dialogue: Dialogue, turns: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": "system", "content": dialogue.system_prompt}, *turns]


def parse_user_reply(content: str | None) -> tuple[str, bool]:
    """(message, well_formed): well formed means valid JSON with end_conversation false."""
    try:
        data = json.loads(content or "")
    except ValueError:
        return content or "", False
    if not isinstance(data, dict):
        return str(data), False
    message = data.get("message")
    return str(message or ""), isinstance(message, str) and data.get("end_conversation") is False


def bundled_tiktoken_dir() -> str:
    """litellm's bundled tiktoken files (cl100k_base...), found without importing litellm."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return ""
    folder = Path(next(iter(spec.submodule_search_locations)))
    return str(folder / "litellm_core_utils" / "tokenizers")


def report(*, version: str, dialogues: int, turns: int, bad: int, **extra: Any) -> None:
    """The last line on stdout, read by bench_peers.py (server-side counts are the figures)."""
    body = {"version": version, "dialogues": dialogues, "turns": turns, "bad": bad, **extra}
    sys.stdout.flush()
    print("RESULT " + json.dumps(body), flush=True)
