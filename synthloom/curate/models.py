"""The judge models of a curation pass: the run's `models.judge`, plus named label judges."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agents.embedded import EmbeddedServers
from agents.endpoints import ModelFactory
from agents.judge import build_judges
from synthloom.curate.config import CurateSpec
from synthloom.curate.pipeline import Judges
from synthloom.spec import RunSpec


@contextmanager
def open_judges(spec: RunSpec, curate: CurateSpec, log_dir: Path | None = None) -> Iterator[Judges]:
    """Judge roles for the enabled LLM blocks, valid inside the block."""
    if not curate.uses_llm:
        yield Judges()
        return
    servers = EmbeddedServers(log_dir)
    try:
        factory = ModelFactory(servers)
        prompt_dir = str(curate.prompt_dir) if curate.prompt_dir else None
        rubric, faithfulness, labeler = build_judges(
            factory.build("judge", spec.models.judge),
            max_reasks=curate.max_reasks,
            prompt_dir=prompt_dir,
        )
        labelers = {labeler.name: labeler}
        if curate.labels.judges:
            labelers = {
                name: build_judges(
                    factory.build(f"curate.labels.judges.{name}", model_spec),
                    max_reasks=curate.max_reasks,
                    prompt_dir=prompt_dir,
                )[2]
                for name, model_spec in curate.labels.judges.items()
            }
        yield Judges(rubric=rubric, faithfulness=faithfulness, labelers=labelers)
    finally:
        servers.close()
