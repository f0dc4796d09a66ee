"""`synthloom tree …` commands, with a scripted model behind `tree expand`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from typer.testing import CliRunner

from knowledge.concepts import ConceptTree
from synthloom.cli_tree import tree_app
from synthloom.core.errors import ConceptTreeError, SpecError
from tests.concepts.scripted import ScriptedChatModel, taxonomy_answer, taxonomy_for
from tests.support.openai_server import ScriptedOpenAIServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    result = runner.invoke(tree_app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_import_obo_then_show_and_stats(tmp_path: Path) -> None:
    dest = tmp_path / "symptoms.json"
    invoke("import", EXAMPLES / "ontology" / "symptoms.obo", "--to", dest)
    shown = invoke("show", dest, "--depth", "1").stdout
    assert shown.splitlines() == [
        "MSO:0000001 symptom",
        "├── MSO:0000010 general symptom (+3)",
        "├── MSO:0000020 respiratory symptom (+3)",
        "├── MSO:0000030 pain (+3)",
        "└── MSO:0000040 gastrointestinal symptom (+3)",
    ]
    stats = json.loads(invoke("stats", dest, "--json").stdout)
    assert (stats["nodes"], stats["leaves"], stats["height"]) == (20, 13, 3)
    text = invoke("stats", dest).stdout
    assert "nodes 20 · leaves 13 · depth 3" in text


def test_import_icd10_at_a_depth(tmp_path: Path) -> None:
    dest = tmp_path / "icd.json"
    invoke("import", "icd10", "--depth", "1", "--to", dest)
    tree = ConceptTree.load(dest)
    assert len(tree) == 23 and tree.name("IX") == "Diseases of the circulatory system"


def test_import_errors_are_clear(tmp_path: Path) -> None:
    outline = tmp_path / "two.yaml"
    outline.write_text("- A\n- B\n")
    with pytest.raises(ConceptTreeError, match="2 top-level entries"):
        invoke("import", outline, "--to", tmp_path / "x.json")
    invoke("import", outline, "--to", tmp_path / "x.json", "--root", "Both")
    assert ConceptTree.load(tmp_path / "x.json").name("root") == "Both"
    with pytest.raises(ConceptTreeError, match="unknown file format '.txt'"):
        invoke("import", tmp_path / "tree.txt", "--to", tmp_path / "y.json")


def test_export_formats(tmp_path: Path) -> None:
    source = EXAMPLES / "ontology" / "symptoms.obo"
    invoke("export", source, "--format", "graphml", "--to", tmp_path / "t.graphml")
    assert nx.read_graphml(tmp_path / "t.graphml").number_of_nodes() == 20
    invoke("export", source, "--format", "mermaid", "--to", tmp_path / "t.mmd", "--depth", "1")
    assert (tmp_path / "t.mmd").read_text().count("-->") == 4
    invoke("export", source, "--to", tmp_path / "t.json")
    assert len(ConceptTree.load(tmp_path / "t.json")) == 20
    with pytest.raises(Exception, match="expected json, graphml or mermaid"):
        invoke("export", source, "--format", "dot", "--to", tmp_path / "t.dot")


SPEC = """
samples: 10
seed: 3
output: {output}
topics: [unused by tree commands]
concepts:
  seeds: [Hypertension, Type 2 diabetes, Asthma]
  root: Chronic disease care
  expand: {{max_depth: 2, children_per_node: 4, batch_size: 2}}
models:
  default: {{provider: openai, base_url: "http://model.test/v1", model: scripted}}
"""


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> list[ScriptedChatModel]:
    made: list[ScriptedChatModel] = []

    @contextmanager
    def open_models(spec: Any, roles: tuple[str, ...], log_dir: Any = None) -> Iterator[Any]:
        assert spec.models.default.model == "scripted"
        model = ScriptedChatModel(taxonomy_answer)
        made.append(model)
        yield {role: model for role in roles}

    monkeypatch.setattr("agents.endpoints.open_models", open_models)
    return made


def test_expand_grows_saves_and_resumes(tmp_path: Path, scripted: list[ScriptedChatModel]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(output=tmp_path / "run"))
    first = invoke("expand", spec, "--no-embeddings")
    dest = tmp_path / "run" / "concepts.json"
    tree = ConceptTree.load(dest)
    assert len(tree) == 1 + 3 + 12 and scripted[0].calls == 3
    assert "complete: 4 → 16 nodes" in first.stderr
    assert (tmp_path / "run" / "concepts.rejections.jsonl").exists()
    again = invoke("expand", spec, "--no-embeddings")
    assert "(resumed)" in again.stderr and scripted[1].calls == 0
    bigger = invoke(
        "expand", spec, "--no-embeddings", "--max-depth", "3", "--to", tmp_path / "d3.json"
    )
    assert "→ 64 nodes" in bigger.stderr
    shown = invoke("show", tmp_path / "d3.json", "--depth", "1").stdout.splitlines()
    assert shown[0] == "Chronic disease care" and shown[1] == "├── Hypertension (+4)"


@pytest.mark.integration
def test_expand_over_http_with_the_real_client(tmp_path: Path) -> None:
    def answer(request: dict[str, Any]) -> str:
        return taxonomy_for(request["messages"][0]["content"])

    with ScriptedOpenAIServer(responder=answer) as server:
        server.malformed_next(1, content='{"children": [{"name": "Cut off')
        spec = tmp_path / "spec.yaml"
        spec.write_text(
            SPEC.format(output=tmp_path / "run").replace("http://model.test/v1", server.base_url)
        )
        invoke("expand", spec, "--no-embeddings")
        log = server.request_log
    tree = ConceptTree.load(tmp_path / "run" / "concepts.json")
    assert len(tree) == 16 and tree.graph.graph["expansion"]["calls"] == 4  # one re-ask
    assert len(log) == 4
    assert log[0]["response_format"]["json_schema"]["name"] == "ChildProposals"
    (reask,) = [r for r in log if len(r["messages"]) == 3]
    assert "not valid JSON for the schema" in reask["messages"][-1]["content"]


def test_expand_spec_errors_name_the_field(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("samples: 3\ntopics: [a]\n")
    with pytest.raises(SpecError, match="no `concepts:` block"):
        invoke("expand", spec)
    spec.write_text("concepts:\n  seeds: [a]\n  expand:\n    max_depht: 3\n")
    with pytest.raises(SpecError, match=r"spec.yaml:4: concepts.expand.max_depht: unknown field"):
        invoke("expand", spec)
    spec.write_text("concepts:\n  seeds: [a]\n  tree: t.json\n")
    with pytest.raises(SpecError, match="either `tree`"):
        invoke("expand", spec)


def test_show_and_stats_report_coverage_of_a_run(tmp_path: Path) -> None:
    tree = ConceptTree.from_seeds(["A", "B"])
    a, b = tree.children(tree.root)
    tree.save(tmp_path / "tree.json")
    run = tmp_path / "run"
    run.mkdir()
    samples = [{"metadata": {"index": i, "leaf": a if i % 2 else b}} for i in range(5)]
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    rejects = [{"status": "rejected", "plan": {"index": 5, "leaf": a}}]
    (run / "rejects.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejects))
    shown = invoke("show", tmp_path / "tree.json", "--run", run).stdout.splitlines()
    assert shown == ["Topics  [5/6]", "├── A  [2/3]", "└── B  [3/3]"]
    stats = json.loads(invoke("stats", tmp_path / "tree.json", "--run", run, "--json").stdout)
    assert stats["coverage"]["accepted_min"] == 2 and stats["coverage"]["accepted_max"] == 3
