"""The `curate`, `report` and `compare` commands (registered on `synthloom.cli.app`)."""

from __future__ import annotations

# Only light imports here: `synthloom --help` loads this module, and the curation
# pipeline, judges, report, matplotlib, datasketch and chromadb take seconds to
# import; each command imports what it needs.
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from synthloom.core import names
from synthloom.core.errors import RunDirError, SpecError, SynthloomError, yaml_error

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from synthloom.curate.config import CurateSpec
    from synthloom.curate.pipeline import CurationResult, Judges
    from synthloom.execution.config import ExecutionSpec
    from synthloom.report.cost import Pricing
    from synthloom.spec import RunSpec

err = Console(stderr=True)
stdout = Console()

EmbedderChoice = Literal["auto", "lexical", "none"]


def _run_spec(run_dir: Path) -> RunSpec:
    from synthloom.rundir import read_run_spec

    return read_run_spec(run_dir, ignore=("curate", "pricing"))


def load_curate_spec(run_dir: Path, config: Path | None) -> CurateSpec:
    """The curate settings: `--config` file, else the run's spec.json `curate:`, else defaults."""
    import yaml
    from pydantic import ValidationError

    from synthloom.curate.config import CurateSpec
    from synthloom.curate.rundata import read_json
    from synthloom.rundir import RunDir

    if config is not None:
        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise SpecError(f"{config}: curate config not found") from None
        except yaml.YAMLError as exc:
            raise SpecError(yaml_error(config, exc)) from None
        source = str(config)
    else:
        spec = read_json(run_dir / RunDir.SPEC, "run spec copy")
        data = spec.get("curate") or {}
        source = str(run_dir / RunDir.SPEC)
    if isinstance(data, dict) and isinstance(data.get("curate"), dict):
        data = data["curate"]
    try:
        return CurateSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"curate.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SpecError(f"{source}: invalid curate settings: {problems}") from None


def _embedder(choice: EmbedderChoice, *runs: Path) -> tuple[Embeddings | None, str]:
    from synthloom.curate.embedders import default_embedder
    from synthloom.languages import languages_of_run
    from synthloom.report.lexical import HashedNgramEmbeddings

    if choice == "none":
        return None, "no embedder: turned off with --embedder none"
    if choice == "lexical":
        lexical = HashedNgramEmbeddings()
        return lexical, lexical.model_name
    # One embedder for the run, chosen by its planned languages.
    embedder, note = default_embedder([code for run in runs for code in languages_of_run(run)])
    if embedder is None:
        lexical = HashedNgramEmbeddings()
        return lexical, f"{note}; using {lexical.model_name}"
    return embedder, note


def run_curation(
    run_dir: Path,
    settings: CurateSpec,
    spec: RunSpec,
    *,
    console: Console | None = None,
    execution: ExecutionSpec | None = None,
) -> CurationResult:
    """Curate a run folder with the judges and embedder its settings need.

    With a distributed `execution` (default: the spec's) the judge calls run on Ray
    workers; every block, the cache and the curated files stay in this process.
    """
    import tempfile

    from agents.llm import run_with_models
    from synthloom.curate.embedders import default_embedder
    from synthloom.curate.models import open_judges
    from synthloom.curate.pipeline import curate_run

    console = console or err
    execution = spec.execution if execution is None else execution
    # Semantic dedup needs a semantic embedder: the lexical fallback would only
    # repeat what MinHash already found.
    named = spec.knowledge.embedding if spec.knowledge is not None else None
    embedder, note = (
        default_embedder(spec.languages, named) if settings.dedup.semantic else (None, "turned off")
    )

    def log(message: str) -> None:
        console.print(f"[dim]{message}[/]")

    async def curate_here(judges: Judges) -> CurationResult:
        return await curate_run(
            run_dir, settings, judges=judges, embedder=embedder, embedder_note=note, log=log
        )

    async def curate_on_ray(judges: Judges) -> CurationResult:
        from synthloom.curate.remote import judges_on_ray

        async with judges_on_ray(spec, settings, execution, judges) as (remote, where):
            log(
                f"ray: {where.workers} judge workers on {where.nodes} node(s) of "
                f"{where.address}, ready in {where.start_s or 0:.1f}s"
            )
            result = await curate_run(
                run_dir,
                settings,
                judges=remote,
                embedder=embedder,
                embedder_note=note,
                log=log,
                execution=where.summary,
            )
            log(where.note())
            return result

    on_ray = execution.distributed and settings.uses_llm
    with open_judges(spec, settings, log_dir=Path(tempfile.gettempdir())) as judges:
        result = run_with_models(curate_on_ray(judges) if on_ray else curate_here(judges))
    _print_curation(result, console)
    _refresh_coverage(run_dir, spec, console)
    return result


def _refresh_coverage(run_dir: Path, spec: RunSpec, console: Console) -> None:
    """Rewrite `coverage.json` to count what curation kept, and say which leaves fell short.

    A tree run's dropped slots are refilled by the next `synthloom run` (the same
    command), on their leaf and cell, while `coverage.replacements` allows.
    """
    from knowledge.concepts import ConceptTree
    from synthloom.accounting import write_run_coverage
    from synthloom.planning import Planner
    from synthloom.rundir import RunDir

    tree_file = None if spec.concepts is None else spec.concepts.output or run_dir / names.CONCEPTS
    if tree_file is None or not tree_file.is_file():
        return
    tree = ConceptTree.load(tree_file)
    plans = [*Planner(spec, tree).plans(), *RunDir(run_dir).saved_plans()]
    attempts = spec.coverage.replacements + 1
    write_run_coverage(run_dir, tree, plans, tree_file=tree_file.name, max_attempts=attempts)
    for line in short_leaves(run_dir, attempts):
        console.print(line, markup=False, highlight=False)


def short_leaves(run_dir: Path, attempts: int) -> list[str]:
    """One line per leaf with fewer kept samples than planned, saying why."""
    from synthloom.curate.rundata import read_json

    document = read_json(run_dir / names.COVERAGE, "coverage file")
    lines = []
    for c in document["leaves"].values():
        if c["accepted"] >= c["planned"]:
            continue
        if c["pending"]:
            why = f"{c['pending']} to generate: `synthloom run` refills it on this leaf and cell"
        else:
            why = (
                f"{c['given_up']} slot(s) given up after {attempts} attempt(s); raise "
                "`coverage.replacements` to try again"
            )
        lines.append(f"leaf {c['topic']!r}: {c['accepted']} of {c['planned']} kept; {why}")
    return lines


def _print_curation(result: CurationResult, console: Console) -> None:
    table = Table(title=f"curation → {result.path}")
    for column in ("block", "stage", "seen", "kept", "rejected", "unjudged", "top reason"):
        table.add_column(
            column,
            justify="right" if column in ("seen", "kept", "rejected", "unjudged") else "left",
        )
    for block in result.blocks:
        top = max(block.reasons.items(), key=lambda kv: kv[1])[0] if block.reasons else ""
        table.add_row(
            block.name,
            block.stage,
            str(block.seen),
            str(block.kept),
            str(block.rejected),
            str(block.unjudged),
            top,
        )
    console.print(table)
    c = result.counts
    console.print(
        f"[bold]{c['accepted']}[/] accepted, {c['rejected']} rejected, {c['failed']} failed "
        f"(of which {result.curation['unjudged']} unjudged), {c['pending']} pending of "
        f"{c['requested']} requested; judge tokens this pass: {result.usage.total_tokens:,}; "
        f"{result.wall_s:.1f}s"
    )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")


def _dataset_folder(path: Path, out: Path | None) -> Path:
    """A run folder as it is, or a chat dataset imported into one (`NAME.synthloom`)."""
    from synthloom.imported import default_folder, import_dataset, is_run_folder

    if not path.exists():
        raise RunDirError(f"{path}: no such run folder (or chat dataset file)")
    if is_run_folder(path):
        return path
    if path.is_dir() and (path / names.MANIFEST).exists():
        return path  # a run folder missing its spec: _run_spec names what is wrong
    folder, count = import_dataset(path, out or default_folder(path))
    err.print(f"{path}: {count:,} conversations, curated in {folder}", soft_wrap=True)
    return folder


def curate(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="A run folder, or any chat dataset: OpenAI `messages` or ShareGPT JSONL "
            "(.gz too), a JSON array, a Hugging Face datasets folder."
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(help="YAML with curate settings (default: the run spec's `curate:`)."),
    ] = None,
    llm: Annotated[
        bool, typer.Option(help="Run the LLM blocks (judge, faithfulness, labels).")
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option(help="For a dataset: the folder to curate it in (default NAME.synthloom)."),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Judge on Ray: `local` starts a cluster here, `auto` or an address joins."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Ray worker processes (local ones without --ray).")
    ] = None,
) -> None:
    """Filter, deduplicate and judge a run's samples into RUN_DIR/curated (re-runnable)."""
    from synthloom.execution.config import ExecutionSpec

    run_dir = _dataset_folder(run_dir, out)
    spec = _run_spec(run_dir)
    settings = load_curate_spec(run_dir, config)
    if not llm:
        settings = settings.without_llm()
    # Only the flags decide: a run generated on Ray is curated here unless asked again.
    execution = ExecutionSpec(ray=ray, workers=workers)
    run_curation(run_dir, settings, spec, console=err, execution=execution)


def _pricing(run_dir: Path, pricing: Path | None) -> Pricing | None:
    from pydantic import ValidationError

    from synthloom.curate.rundata import read_json
    from synthloom.report.cost import Pricing, load_pricing
    from synthloom.rundir import RunDir

    if pricing is not None:
        return load_pricing(pricing)
    data = read_json(run_dir / RunDir.SPEC, "run spec copy").get("pricing")
    if not data:
        return None
    try:
        return Pricing.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{run_dir / RunDir.SPEC}: invalid pricing: {exc}") from None


def report(
    run_dir: Annotated[
        Path, typer.Argument(help="A run folder, or a chat dataset (as for `curate`).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Folder for report.json/html (default RUN_DIR/report).")
    ] = None,
    pricing: Annotated[
        Path | None, typer.Option(help="YAML prices per model per 1M tokens.")
    ] = None,
    embedder: Annotated[
        str, typer.Option(help="auto (knowledge embedder, else lexical) | lexical | none.")
    ] = "auto",
) -> None:
    """Write a JSON report and a self-contained HTML page with plots for a run or dataset."""
    from synthloom.core.locking import current_writer
    from synthloom.report import write_report

    run_dir = _dataset_folder(run_dir, None)

    if (writer := current_writer(run_dir)) is not None:
        err.print(
            f"note: {run_dir} is still being written by {writer}; this report covers what "
            "is written so far",
            soft_wrap=True,
        )
    choice = _choice(embedder)
    model, note = _embedder(choice, run_dir)
    json_path, html_path, data = write_report(
        run_dir,
        out,
        embedder=model,
        embedder_label=_label(model, note),
        pricing=_pricing(run_dir, pricing),
    )
    diversity = data["diversity"]
    err.print(
        f"{data['dataset']} samples: {diversity['samples']}; distinct-2 "
        f"{diversity['distinct_2']}; self-BLEU {diversity['self_bleu']}; coverage "
        f"{data['coverage']['covered']}/{data['coverage']['leaves']}; embedder: {note}"
    )
    err.print(f"wrote {json_path} and {html_path}")


def _label(model: Embeddings | None, note: str) -> str | None:
    """The embedder's name for the report (the fallback's own name when it stood in)."""
    if model is None:
        return None
    name = getattr(model, "model_name", None)
    return str(name) if "using " in note and name else note


def _choice(value: str) -> EmbedderChoice:
    if value == "auto":
        return "auto"
    if value == "lexical":
        return "lexical"
    if value == "none":
        return "none"
    raise SynthloomError(f"--embedder must be auto, lexical or none (got {value!r})")


def compare(
    run_a: Annotated[Path, typer.Argument(help="The first run folder (A).")],
    run_b: Annotated[Path, typer.Argument(help="The second run folder (B).")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for compare.json/html [default: RUN_A/compare/<RUN_B name>]."),
    ] = None,
    pricing: Annotated[
        Path | None, typer.Option(help="YAML prices per model per 1M tokens.")
    ] = None,
    embedder: Annotated[
        str, typer.Option(help="auto (knowledge embedder, else lexical) | lexical | none.")
    ] = "auto",
) -> None:
    """Put two runs' reports side by side (JSON, HTML and a table here)."""
    from synthloom.report import write_comparison

    model, note = _embedder(_choice(embedder), run_a, run_b)
    prices = _pricing(run_a, pricing)
    out = out or run_a / "compare" / (run_b.resolve().name or "b")
    json_path, html_path, comparison = write_comparison(
        run_a, run_b, out, embedder=model, embedder_label=_label(model, note), pricing=prices
    )
    table = Table(title=f"A: {run_a}   B: {run_b}")
    for column in ("metric", "A", "B", "B − A"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in comparison["metrics"]:
        table.add_row(
            row["metric"],
            _cell(row["a"]),
            _cell(row["b"]),
            "–" if row["delta"] is None else f"{row['delta']:+.3f}",
        )
    stdout.print(table)
    err.print(f"embedder: {note}; wrote {json_path} and {html_path}")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
