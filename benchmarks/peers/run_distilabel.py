"""Contender ``distilabel``: a distilabel Pipeline, one Task step per turn.

``LoadDataFromDicts`` -> (user turn k -> assistant turn k) for k = 1..R, each a Task with
its own ``OpenAILLM`` on the scripted server; column ``turns_k`` holds the history
after step k. A user turn formats the role-play prompt and sends the UserReply schema
as a ``json_schema`` response format (through ``extra_body``: the LLM's own
``structured_output`` goes through instructor, which ``distilabel[openai]`` does not
install); an assistant turn sends the system prompt and the history. The step's
``input_batch_size`` (64) is the concurrency: an async LLM gathers one batch at once.
``use_cache=False``.

Usage: .bench/venvs/distilabel/bin/python benchmarks/peers/run_distilabel.py WORKLOAD.json
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Any

from distilabel.models import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import Task
from workload import Dialogue, assistant_messages, load, parse_user_reply, report, user_prompt


def _dialogue(row: dict[str, Any]) -> Dialogue:
    return Dialogue(
        id=row["id"],
        topic=row["topic"],
        conditions={},
        user_preamble=row["user_preamble"],
        system_prompt=row["system_prompt"],
    )


class Turn(Task):  # type: ignore[misc]
    """One turn: reads ``turns_{step-1}``, writes ``turns_{step}``."""

    step: int = 1
    assistant: bool = False

    @property
    def inputs(self) -> list[str]:
        return [f"turns_{self.step - 1}", "user_preamble", "system_prompt", "id", "topic"]

    @property
    def outputs(self) -> list[str]:
        return [f"turns_{self.step}", "bad"]

    def format_input(self, input: dict[str, Any]) -> list[dict[str, str]]:
        turns = input[f"turns_{self.step - 1}"]
        if self.assistant:
            return assistant_messages(_dialogue(input), turns)
        return [{"role": "user", "content": user_prompt(_dialogue(input), turns)}]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        assert input is not None
        turns = list(input[f"turns_{self.step - 1}"])
        bad = int(input.get("bad") or 0)
        if self.assistant:
            turns.append({"role": "assistant", "content": output or ""})
        else:
            message, ok = parse_user_reply(output)
            bad += not ok
            turns.append({"role": "user", "content": message})
        return {f"turns_{self.step}": turns, "bad": bad}


def main(path: str) -> None:
    w = load(path)
    rows = [
        {
            "id": d.id,
            "topic": d.topic,
            "user_preamble": d.user_preamble,
            "system_prompt": d.system_prompt,
            "turns_0": [],
            "bad": 0,
        }
        for d in w.dialogues
    ]
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "UserReply", "schema": w.user_schema},
    }
    with Pipeline(name="bench-dialogues") as pipeline:
        previous: Any = LoadDataFromDicts(data=rows, batch_size=w.concurrency)
        for k in range(1, 2 * w.rounds + 1):
            assistant = k % 2 == 0
            kwargs: dict[str, Any] = {"max_new_tokens": w.max_tokens, "temperature": w.temperature}
            if not assistant:
                kwargs["extra_body"] = {"response_format": response_format}
            llm = OpenAILLM(
                model=w.model,
                base_url=w.base_url,
                api_key=w.api_key,
                max_retries=4,
                generation_kwargs=kwargs,
            )
            turn = Turn(
                name=f"{'assistant' if assistant else 'user'}_{k}",
                step=k,
                assistant=assistant,
                llm=llm,
                input_batch_size=w.concurrency,
            )
            previous = previous >> turn
    distiset = pipeline.run(use_cache=False)
    out = distiset["default"]["train"]
    last = out[f"turns_{2 * w.rounds}"]
    report(
        version=metadata.version("distilabel"),
        dialogues=len(out),
        turns=sum(len(t or []) for t in last),
        bad=sum(int(b or 0) for b in out["bad"]),
    )


if __name__ == "__main__":
    main(sys.argv[1])
