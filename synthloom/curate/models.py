"""The judge models of a curation pass: the run's `models.judge`, plus named label judges."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from agents.embedded import EmbeddedServers
from agents.endpoints import OPENAI_BASE_URL, check_endpoint
from agents.judge import build_judges
from agents.llm import make_chat_model
from synthloom.curate.config import CurateSpec
from synthloom.curate.pipeline import Judges
from synthloom.spec import ModelSpec, RunSpec


class _Factory:
    """Builds chat models, starting embedded servers and checking each endpoint once."""

    def __init__(self, servers: EmbeddedServers) -> None:
        self.servers = servers
        self.checked: set[str] = set()

    def build(self, role: str, spec: ModelSpec) -> BaseChatModel:
        if spec.provider == "embedded":
            base_url = self.servers.base_url_for(spec)
        else:
            base_url = spec.base_url or OPENAI_BASE_URL
            if base_url not in self.checked:
                check_endpoint(role, base_url, spec.api_key())
                self.checked.add(base_url)
        return make_chat_model(spec, base_url=base_url)


@contextmanager
def open_judges(spec: RunSpec, curate: CurateSpec, log_dir: Path | None = None) -> Iterator[Judges]:
    """Judge roles for the enabled LLM blocks, valid inside the block."""
    if not curate.uses_llm:
        yield Judges()
        return
    servers = EmbeddedServers(log_dir)
    try:
        factory = _Factory(servers)
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
