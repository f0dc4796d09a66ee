"""`synthloom run` with a `knowledge:` block, as a user runs it: a CLI process over real HTTP.

The knowledge files sit beside the spec and the command runs from elsewhere; the run
ingests them first (a no-op the second time) and holds the base against other
processes, and a run killed with SIGKILL resumes with every sample once, grounded
exactly as an uninterrupted run grounds it.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest

from knowledge.grounding import KnowledgeBase
from knowledge.store import KnowledgeStore
from synthloom.core.errors import KnowledgeBaseLockedError
from synthloom.spec import parse_spec
from tests.integration.conftest import cli, cli_popen, read_jsonl, run_dataset
from tests.knowledge.conftest import EXAMPLE_DEMOS, EXAMPLE_KNOWLEDGE, spec_for
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

SAMPLES = 6
SPEC = """\
task: dialogue
samples: {samples}
seed: 5
output: {output}
concurrency: 2
topics:
  - Managing type 2 diabetes after diagnosis
  - When a fever in a child needs a doctor
conditions:
  persona: [a worried adult, a parent asking about their child]
dialogue:
  rounds: {{min: 1, max: 2}}
models:
  default:
    provider: openai
    base_url: {base_url}
    model: scripted-model
    max_tokens: 200
    timeout: 5
knowledge:
  path: {kb}
  sources: [docs]
  demos: [exemplars.jsonl]
  top_k: 2
  demos_k: 1
"""


def _grounding(output: Path) -> dict[str, tuple[list[str], list[str]]]:
    metas = [r["metadata"] for r in read_jsonl(output / "samples.jsonl")]
    return {
        m["id"]: ([s["id"] for s in m["sources"]], [d["id"] for d in m["demos"]]) for m in metas
    }


async def test_cli_run_ingests_beside_the_spec_and_resumes_grounded_the_same_way(
    tmp_path: Path,
) -> None:
    project, workdir = tmp_path / "project", tmp_path / "work"
    (project / "docs").mkdir(parents=True)
    workdir.mkdir()
    for name in ("type-2-diabetes.md", "fever-in-children.html", "faq-diabetes.csv"):
        shutil.copy(EXAMPLE_KNOWLEDGE / name, project / "docs" / name)
    shutil.copy(EXAMPLE_DEMOS, project / "exemplars.jsonl")
    output = tmp_path / "run"

    with ScriptedOpenAIServer(latency=0.2) as server:
        spec_path = project / "spec.yaml"
        text = SPEC.format(
            samples=SAMPLES, output=json.dumps(str(output)), base_url=server.base_url, kb="kb"
        )
        spec_path.write_text(text, encoding="utf-8")

        proc = cli_popen("run", str(spec_path), "--no-progress", cwd=workdir)
        deadline = time.monotonic() + 120
        samples = output / "samples.jsonl"
        while time.monotonic() < deadline and proc.poll() is None:
            if samples.exists() and samples.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        # The run holds its local knowledge base: a second process is told who has it.
        with pytest.raises(KnowledgeBaseLockedError, match=rf"pid {proc.pid} \(synthloom run"):
            KnowledgeStore(spec_for(workdir / "kb"))
        proc.send_signal(signal.SIGKILL)
        _, first_err = proc.communicate()
        assert "knowledge kb: 3 files" in first_err and "demos " in first_err
        killed_at = len(read_jsonl(samples))
        assert 1 <= killed_at < SAMPLES

        resumed = cli("run", str(spec_path), "--no-progress", cwd=workdir)
        assert resumed.returncode == 0, resumed.stderr
        # The second ingest found everything in place.
        assert "0 chunks added, 0 updated" in resumed.stderr
        assert "0 added," in resumed.stderr.split("demos ", 1)[1]

        # An uninterrupted run of the same plans against the same knowledge base.
        clean = tmp_path / "clean"
        reference = parse_spec(
            SPEC.format(
                samples=SAMPLES,
                output=json.dumps(str(clean)),
                base_url=server.base_url,
                kb=json.dumps(str(workdir / "kb")),
            ),
            source="clean.yaml",
        )
        assert reference.knowledge is not None
        reference = reference.model_copy(
            update={"knowledge": reference.knowledge.anchored(project)}
        )
        await run_dataset(reference)

    ids = [r["metadata"]["id"] for r in read_jsonl(samples)]
    assert len(ids) == len(set(ids)) == SAMPLES
    assert _grounding(output) == _grounding(clean)
    with KnowledgeBase(spec_for(workdir / "kb")) as base:
        for sources, _ in _grounding(output).values():
            assert [c.id for c in base.retriever.get(sources)] == sources
            assert all("/docs/" in c.source for c in base.retriever.get(sources))
