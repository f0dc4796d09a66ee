"""`synthloom tree …`: grow, import, inspect and export the concept tree.

    synthloom tree import icd10 --depth 2 --to icd10.json
    synthloom tree import symptoms.obo --to symptoms.json
    synthloom tree expand spec.yaml            # grows the spec's `concepts:` tree
    synthloom tree show tree.json --depth 2 --max-children 5
    synthloom tree stats tree.json --run runs/x
    synthloom tree export tree.json --format mermaid --to tree.mmd

Every command that reads a tree also reads the importable formats directly
(outline .yaml/.json, node-link .json, .obo).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from rich.console import Console

from knowledge.concepts.spec import ConceptsSpec, ExpandSpec
from knowledge.spec import KnowledgeSpec
from synthloom.core import names
from synthloom.core.errors import SpecError, SynthloomError, yaml_error
from synthloom.rundir import read_run_spec
from synthloom.spec import ModelsSpec, RunSpec, _format_errors

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from knowledge.concepts import ConceptTree

tree_app = typer.Typer(
    no_args_is_help=True,
    help="Grow, import, inspect and export the concept tree a dataset covers.",
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DEFAULT_TREE_FILE = names.CONCEPTS
COVERAGE_COUNTS = ("planned", "accepted", "rejected", "failed", "pending", "given_up")


class TreeJob(BaseModel):
    """What `tree expand` reads from a spec: `concepts:`, `models:`, `knowledge:` and `output`.

    Other keys of a run spec are ignored, so the same file serves both commands.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    concepts: ConceptsSpec
    models: ModelsSpec = ModelsSpec()
    knowledge: KnowledgeSpec | None = None
    output: Path | None = None

    def tree_path(self) -> Path:
        """Where the grown tree goes: `concepts.output`, else the run folder, else here."""
        if self.concepts.output is not None:
            return self.concepts.output
        return (self.output or Path(".")) / DEFAULT_TREE_FILE


def load_tree_job(path: Path) -> TreeJob:
    """Read a spec's tree settings, with errors naming the file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: spec file not found") from None
    try:
        data, root = yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        raise SpecError(yaml_error(path, exc)) from None
    if not isinstance(data, dict) or "concepts" not in data:
        raise SpecError(f"{path}: no `concepts:` block (a tree file or seeds to grow)")
    try:
        job = TreeJob.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, str(path), root)) from None
    # A tree file ships beside its spec: a relative one is read from the spec's folder.
    update: dict[str, Any] = {"concepts": job.concepts.anchored(path.parent)}
    if job.knowledge is not None:
        update["knowledge"] = job.knowledge.anchored(path.parent)
    return job.model_copy(update=update)


def read_tree(path: Path) -> ConceptTree:
    """A saved tree, or any importable file."""
    from knowledge.concepts.importers import import_tree

    return import_tree(path)


def _run_spec(run: Path) -> RunSpec | None:
    """The validated spec a run folder keeps (`spec.json`), if it has a readable one."""
    try:
        return read_run_spec(run)
    except SynthloomError:
        return None


def _tree_of(tree_path: Path | None, run: Path | None) -> tuple[ConceptTree, Path]:
    """The tree named on the command line, else the one the run folder pinned."""
    if tree_path is not None:
        return read_tree(tree_path), tree_path
    if run is None:
        raise SynthloomError("name a tree file, or a run folder with --run")
    spec = _run_spec(run)
    candidates = [run / DEFAULT_TREE_FILE]
    if spec is not None and spec.concepts is not None and spec.concepts.output is not None:
        candidates.append(spec.concepts.output)
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise SynthloomError(f"{run}: no {DEFAULT_TREE_FILE} here (a run over a concept tree?)")
    return read_tree(found), found


def _with_run_coverage(tree: ConceptTree, run: Path | None) -> bool:
    """Store the run's per-node coverage on `tree`; pending slots need the run's spec."""
    from synthloom.accounting import run_coverage

    if run is None:
        return False
    if not run.is_dir():
        raise SynthloomError(f"{run}: not a run folder")
    spec = _run_spec(run)
    plans: list[Any] = []
    max_attempts = 1
    if spec is not None and spec.concepts is not None:
        from synthloom.planning import Planner

        # Plans of the run's own tree: slots not yet run count as pending.
        plans = list(Planner(spec, tree).plans())
        max_attempts = spec.coverage.replacements + 1
    from synthloom.survivors import surviving

    kept, lost = surviving(run)  # after curation: what it kept
    report = run_coverage(plans, kept, lost, max_attempts=max_attempts)
    report.apply(tree)
    return True


@tree_app.command("import")
def import_(
    source: Annotated[str, typer.Argument(help="A .json, .yaml/.yml or .obo file, or `icd10`.")],
    to: Annotated[Path, typer.Option("--to", help="Where to save the tree (node-link JSON).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="auto | outline | node-link | obo")
    ] = "auto",
    root: Annotated[
        str | None, typer.Option(help="Put several top-level entries under a new root.")
    ] = None,
    depth: Annotated[
        int | None, typer.Option(min=1, help="Keep nodes down to this depth (icd10: default 3).")
    ] = None,
    relation: Annotated[
        list[str] | None, typer.Option(help="OBO relation that makes a parent (repeatable).")
    ] = None,
    multi_parent: Annotated[
        str,
        typer.Option(
            "--multi-parent",
            help="A concept under several parents: first (once, also_under) | all (under each).",
        ),
    ] = "first",
) -> None:
    """Import a hierarchy (outline, node-link, OBO ontology, or ICD-10) as a concept tree."""
    import warnings

    from knowledge.concepts.importers import (
        IMPORT_FORMATS,
        MULTI_PARENT,
        ConceptImportWarning,
        icd10_tree,
        import_tree,
    )

    if source.casefold() == "icd10":
        tree = icd10_tree(3 if depth is None else depth)
    else:
        if fmt not in IMPORT_FORMATS:
            raise SynthloomError(f"--format: expected one of {', '.join(IMPORT_FORMATS)}")
        if multi_parent not in MULTI_PARENT:
            raise SynthloomError(f"--multi-parent: expected one of {', '.join(MULTI_PARENT)}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConceptImportWarning)
            tree = import_tree(
                Path(source),
                fmt=fmt,  # type: ignore[arg-type]  # checked just above
                root=root,
                relations=tuple(relation or ("is_a",)),
                max_depth=depth,
                multi_parent=multi_parent,  # type: ignore[arg-type]  # checked just above
            )
        for warning in caught:
            err.print(f"warning: {warning.message}", markup=False, highlight=False, soft_wrap=True)
    tree.save(to)
    stats = tree.stats()
    err.print(f"imported {stats.nodes} nodes ({stats.leaves} leaves, depth {stats.height}) → {to}")


@tree_app.command()
def show(
    tree_path: Annotated[
        Path | None, typer.Argument(metavar="[TREE]", help="A tree file (default: the run's).")
    ] = None,
    depth: Annotated[
        int | None, typer.Option(min=0, help="Levels to show below the start.")
    ] = None,
    max_children: Annotated[int | None, typer.Option(help="Children shown per node.")] = None,
    node: Annotated[str | None, typer.Option(help="Start at this node id.")] = None,
    run: Annotated[
        Path | None, typer.Option(help="A run folder: show \\[accepted/planned] per node.")
    ] = None,
) -> None:
    """Print the tree as an indented outline."""
    from knowledge.concepts import render_tree

    tree, tree_path = _tree_of(tree_path, run)
    if node is not None and node not in tree:
        raise SynthloomError(f"--node: no node with id {node!r} in {tree_path}")
    coverage = _with_run_coverage(tree, run) or any(
        "coverage" in attrs for _, attrs in tree.graph.nodes(data=True)
    )
    lines = render_tree(
        tree, start=node, max_depth=depth, max_children=max_children, coverage=coverage
    )
    out.print("\n".join(lines), markup=False, soft_wrap=True)


@tree_app.command()
def stats(
    tree_path: Annotated[
        Path | None, typer.Argument(metavar="[TREE]", help="A tree file (default: the run's).")
    ] = None,
    run: Annotated[Path | None, typer.Option(help="A run folder: add per-leaf coverage.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Counts by depth and origin, branching, the last expansion, and coverage."""
    tree, _ = _tree_of(tree_path, run)
    summary: dict[str, Any] = asdict(tree.stats())
    summary["expansion"] = tree.graph.graph.get("expansion")
    if _with_run_coverage(tree, run):
        leaves = [tree.graph.nodes[n].get("coverage", {}) for n in tree.leaves()]
        accepted = [c.get("accepted", 0) for c in leaves]
        mean = sum(accepted) / len(accepted)
        summary["coverage"] = {
            "leaves_with_samples": sum(1 for a in accepted if a),
            "accepted_min": min(accepted),
            "accepted_max": max(accepted),
            "accepted_mean": round(mean, 3),
            "max_deviation": round(max(abs(a - mean) for a in accepted) / mean, 4)
            if mean
            else None,
            "root": tree.graph.nodes[tree.root].get("coverage"),
        }
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
        return
    for line in _stats_lines(summary):
        out.print(line, markup=False)


def _stats_lines(summary: Mapping[str, Any]) -> list[str]:
    lines = [
        f"nodes {summary['nodes']} · leaves {summary['leaves']} · depth {summary['height']}",
        "by depth: " + ", ".join(f"{d}: {n}" for d, n in summary["by_depth"].items()),
        "origin: " + ", ".join(f"{o} {n}" for o, n in summary["by_origin"].items()),
        f"children per inner node: min {summary['fanout_min']} · "
        f"mean {summary['fanout_mean']:.1f} · max {summary['fanout_max']}",
    ]
    if summary["by_status"]:
        lines.append("status: " + ", ".join(f"{s} {n}" for s, n in summary["by_status"].items()))
    expansion = summary.get("expansion")
    if expansion:
        rejected = ", ".join(f"{k} {v}" for k, v in expansion["rejected"].items()) or "none"
        lines.append(
            f"last expansion: {expansion['stop_reason']}, +{expansion['added']} nodes, "
            f"{expansion['calls']} calls, {expansion['failed']} failed nodes, rejected: {rejected}"
        )
    coverage = summary.get("coverage")
    if coverage:
        lines.append(
            f"coverage: {coverage['leaves_with_samples']}/{summary['leaves']} leaves with "
            f"samples · accepted per leaf min {coverage['accepted_min']} · mean "
            f"{coverage['accepted_mean']} · max {coverage['accepted_max']}"
        )
        root = coverage.get("root") or {}
        lines.append(
            "samples: "
            + " · ".join(f"{k.replace('_', ' ')} {root.get(k, 0)}" for k in COVERAGE_COUNTS)
        )
    return lines


@tree_app.command()
def export(
    tree_path: Annotated[Path, typer.Argument(metavar="TREE", help="A tree file.")],
    to: Annotated[Path, typer.Option("--to", help="Destination file.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="json (node-link) | graphml | mermaid")
    ] = "json",
    depth: Annotated[int | None, typer.Option(min=0, help="Mermaid: levels to draw.")] = None,
) -> None:
    """Write the tree as node-link JSON, GraphML, or a Mermaid flowchart."""
    from synthloom.core.store import write_atomically

    tree = read_tree(tree_path)
    if fmt == "json":
        tree.save(to)
    elif fmt == "graphml":
        tree.write_graphml(to)
    elif fmt == "mermaid":
        text = tree.to_mermaid(depth)
        write_atomically(to, lambda handle: handle.write(text))
    else:
        raise SynthloomError(f"--format: expected json, graphml or mermaid (got {fmt!r})")
    err.print(f"exported {len(tree)} nodes as {fmt} → {to}")


@tree_app.command()
def expand(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="A spec with `concepts:`.")],
    to: Annotated[Path | None, typer.Option("--to", help="Where to save the grown tree.")] = None,
    max_nodes: Annotated[int | None, typer.Option(help="Override expand.max_nodes.")] = None,
    max_depth: Annotated[int | None, typer.Option(help="Override expand.max_depth.")] = None,
    max_calls: Annotated[int | None, typer.Option(help="Override expand.max_calls.")] = None,
    restart: Annotated[
        bool, typer.Option(help="Forget this expansion's checkpoints and start over.")
    ] = False,
    embeddings: Annotated[
        bool, typer.Option(help="Semantic near-duplicate and relevance checks (local model).")
    ] = True,
) -> None:
    """Grow the spec's concept tree with the model; re-running resumes where it stopped."""
    from agents.endpoints import open_models
    from synthloom.grow import grow_tree

    job = load_tree_job(spec_path)
    settings = _settings(job, max_nodes=max_nodes, max_depth=max_depth, max_calls=max_calls)
    base = job.concepts.base_tree()
    dest = to or job.tree_path()
    if restart:
        dest.with_name(dest.name + ".checkpoints.sqlite").unlink(missing_ok=True)
    embedder = _embedder() if embeddings else None
    role = "expander" if "expander" in ModelsSpec.model_fields else "default"
    # open_models reads only `spec.models`; the rest of a run spec is not needed here.
    models_only = RunSpec.model_construct(samples=1, topics=[], models=job.models)
    with open_models(models_only, (role,), log_dir=Path(tempfile.gettempdir())) as models:
        from agents.llm import run_with_models

        result = run_with_models(
            grow_tree(
                base,
                models[role],
                settings,
                dest=dest,
                embeddings=embedder,
                knowledge=job.knowledge,
                on_batch=lambda state: _batch_line(base, state),
                console=err,
            )
        )
    summary = result.tree.graph.graph["expansion"]
    err.print(
        f"[bold]{summary['stop_reason']}[/]: {len(base)} → {len(result.tree)} nodes "
        f"(depth {result.tree.height}), {summary['calls']} calls, "
        f"{len(result.rejections)} children rejected, {summary['failed']} nodes failed"
        f"{' (resumed)' if result.resumed else ''} → {dest}"
    )


def _settings(job: TreeJob, **overrides: int | None) -> ExpandSpec:
    base = job.concepts.expand or ExpandSpec()
    changed = {k: v for k, v in overrides.items() if v is not None}
    try:
        return ExpandSpec.model_validate({**base.model_dump(), **changed})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise SynthloomError(f"--{field.replace('_', '-')}: {first['msg']}") from None


def _embedder() -> Embeddings | None:
    try:
        from knowledge.embeddings import default_embeddings
    except ImportError:
        err.print("note: no local embedding model; near-duplicates are checked by words only")
        return None
    return default_embeddings()


def _batch_line(base: ConceptTree, state: Mapping[str, Any]) -> None:
    err.print(
        f"batch {state.get('batches', 0)}: {len(base) + len(state.get('added', []))} nodes, "
        f"{state.get('calls', 0)} calls"
    )
