"""`synthloom preview SPEC [--index N] [--interactive]`: one sample, step by step."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from synthloom.core.errors import SynthloomError

out = Console(soft_wrap=True)


def preview(
    spec_path: Annotated[Path, typer.Argument(help="The run spec (YAML).")],
    index: Annotated[int, typer.Option(min=0, help="Which plan to play (0: the first).")] = 0,
    interactive: Annotated[
        bool, typer.Option(help="Pause before each model call (Enter goes on, q stops).")
    ] = False,
) -> None:
    """Play one planned sample with every prompt, call, check and the record; write nothing."""
    from agents.endpoints import open_models
    from synthloom.estimate import describe
    from synthloom.preview import ModelCall, preview_sample, summary_lines
    from synthloom.spec import load_spec
    from synthloom.tasks import roles_for

    spec = load_spec(spec_path)
    if index >= spec.samples:
        raise SynthloomError(f"--index: {spec_path} plans samples 0..{spec.samples - 1}")

    async def pause(call: ModelCall) -> None:
        answer = await asyncio.to_thread(_ask, f"send call {call.number}? [Enter/q] ")
        if answer.strip().casefold().startswith("q"):
            raise typer.Exit(0)

    with open_models(spec, roles_for(spec), log_dir=Path(tempfile.gettempdir())) as models:
        from agents.llm import run_with_models

        result = run_with_models(
            preview_sample(
                spec, models, index=index, console=out, pause=pause if interactive else None
            )
        )
    out.rule(f"the {'record' if result.outcome == 'completed' else 'reject'} it would write")
    out.print(json.dumps(result.record, ensure_ascii=False, indent=2), markup=False)
    out.rule("cost")
    for line in [*summary_lines(result, spec), *describe(result.cost)]:
        out.print(line, markup=False, highlight=False)


def _ask(prompt: str) -> str:
    sys.stdout.write(prompt)
    sys.stdout.flush()
    return sys.stdin.readline()
