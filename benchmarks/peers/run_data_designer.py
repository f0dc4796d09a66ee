"""Contender ``data-designer``: NeMo Data Designer, one LLM column per turn.

A seed DataFrame holds each dialogue's prompts; columns ``user_1``, ``assistant_1``, ...,
``user_R``, ``assistant_R`` follow, each a Jinja prompt over the columns before it:
a user turn is an ``LLMStructuredColumnConfig`` with ``output_format=UserReply``, an
assistant turn an ``LLMTextColumnConfig`` with the system prompt (Data Designer has no
chat-history input: the history is rendered into the prompt as a transcript). Data
Designer asks for structured output in the prompt (a fenced JSON block) and parses it;
the scripted server answers JSON only to a ``json_schema`` response format, so the user
model's ``extra_body`` sends the same one the other contenders send. Concurrency is each
model's ``max_parallel_requests`` (64); telemetry is off.

Usage: .bench/venvs/data-designer/bin/python benchmarks/peers/run_data_designer.py WORKLOAD.json
"""

from __future__ import annotations

import os

os.environ.setdefault("NEMO_TELEMETRY_ENABLED", "false")

import sys  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import data_designer.config as dd  # noqa: E402
import pandas as pd  # noqa: E402
from data_designer.config.seed_source_dataframe import DataFrameSeedSource  # noqa: E402
from data_designer.interface.data_designer import DataDesigner  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402
from workload import load, parse_user_reply, report  # noqa: E402


class UserReply(BaseModel):
    """The simulated person's next message."""

    message: str = Field(min_length=1, description="The person's next message.")
    end_conversation: bool = Field(default=False, description="True only when done.")


def transcript(k: int) -> str:
    """Jinja for the transcript before user turn k (1-based), from the earlier columns."""
    return "".join(
        f"PERSON: {{{{ user_{i}.message }}}}\nASSISTANT: {{{{ assistant_{i} }}}}\n"
        for i in range(1, k)
    )


def main(path: str) -> None:
    w = load(path)
    provider = dd.ModelProvider(
        name="scripted", endpoint=w.base_url, provider_type="openai", api_key=w.api_key
    )
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "UserReply", "schema": w.user_schema},
    }

    def params(**extra: Any) -> Any:
        return dd.ChatCompletionInferenceParams(
            temperature=w.temperature,
            max_tokens=w.max_tokens,
            max_parallel_requests=w.concurrency,
            **extra,
        )

    builder = dd.DataDesignerConfigBuilder(
        model_configs=[
            dd.ModelConfig(
                alias="user",
                model=w.model,
                provider="scripted",
                inference_parameters=params(extra_body={"response_format": response_format}),
            ),
            dd.ModelConfig(
                alias="assistant", model=w.model, provider="scripted", inference_parameters=params()
            ),
        ]
    )
    seed = pd.DataFrame(
        [
            {
                "id": d.id,
                "topic": d.topic,
                "user_preamble": d.user_preamble,
                "system_prompt": d.system_prompt,
            }
            for d in w.dialogues
        ]
    )
    builder.with_seed_dataset(DataFrameSeedSource(df=seed))
    for k in range(1, w.rounds + 1):
        if k == 1:
            ask = "Write the PERSON's first message, opening the conversation."
        else:
            ask = f"The conversation so far:\n{transcript(k)}\nNow write the PERSON's next message."
        builder.add_column(
            dd.LLMStructuredColumnConfig(
                name=f"user_{k}",
                prompt="{{ user_preamble }}" + ask,
                model_alias="user",
                output_format=UserReply,
            )
        )
        builder.add_column(
            dd.LLMTextColumnConfig(
                name=f"assistant_{k}",
                system_prompt="{{ system_prompt }}",
                prompt=f"{transcript(k)}PERSON: {{{{ user_{k}.message }}}}\n"
                "Answer the PERSON's last message.",
                model_alias="assistant",
            )
        )
    designer = DataDesigner(artifact_path=Path.cwd() / "artifacts", model_providers=[provider])
    results = designer.create(builder, num_records=len(w.dialogues), dataset_name="dialogues")
    df = results.load_dataset()
    bad = turns = 0
    for _, row in df.iterrows():
        for k in range(1, w.rounds + 1):
            user = row.get(f"user_{k}")
            if isinstance(user, dict):
                turns += 1
                bad += user.get("end_conversation") is not False
            else:
                _, ok = parse_user_reply(str(user))
                turns += int(user is not None)
                bad += not ok
            turns += int(bool(row.get(f"assistant_{k}")))
    report(version=metadata.version("data-designer"), dialogues=len(df), turns=turns, bad=bad)


if __name__ == "__main__":
    main(sys.argv[1])
