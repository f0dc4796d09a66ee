"""The knowledge commands: `synthloom ingest`, `synthloom demos add`, `synthloom kb stats|query`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from synthloom.core.errors import SynthloomError

err = Console(stderr=True)
out = Console()

KbOption = Annotated[Path, typer.Option("--kb", help="The knowledge base folder.")]
ServerOption = Annotated[
    str | None,
    typer.Option(help="A Chroma server as HOST:PORT (`chroma run`), instead of the local folder."),
]
EmbeddingModelOption = Annotated[
    str | None, typer.Option(help="Embedding model name on --embedding-url (default: local).")
]
EmbeddingUrlOption = Annotated[
    str | None,
    typer.Option(help="An OpenAI-compatible embeddings endpoint, e.g. http://h:8000/v1."),
]
EmbeddingKeyOption = Annotated[
    str | None, typer.Option(help="Environment variable holding the embeddings API key.")
]


def _spec(
    kb: Path,
    server: str | None = None,
    embedding_model: str | None = None,
    embedding_url: str | None = None,
    embedding_key_env: str | None = None,
    **settings: Any,
) -> Any:
    from knowledge.spec import KnowledgeSpec

    data: dict[str, Any] = {"path": kb, **settings}
    if server is not None:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise SynthloomError(f"--server {server!r}: expected HOST:PORT, e.g. 127.0.0.1:8000")
        data["server"] = {"host": host, "port": int(port)}
    if embedding_url or embedding_key_env:
        if not embedding_model:
            raise SynthloomError("--embedding-model is required with an embeddings endpoint")
        data["embedding"] = {
            "provider": "openai",
            "model": embedding_model,
            "base_url": embedding_url,
            "api_key_env": embedding_key_env,
        }
    elif embedding_model:
        data["embedding"] = {"model": embedding_model}
    try:
        return KnowledgeSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise SynthloomError(f"invalid knowledge options: {problems}") from None


def ingest(
    sources: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.")],
    kb: KbOption = Path("kb"),
    collection: Annotated[str, typer.Option(help="Collection of the chunks.")] = "knowledge",
    chunk_size: Annotated[int, typer.Option(help="Characters per chunk.")] = 700,
    overlap: Annotated[int, typer.Option(help="Characters shared by neighbouring chunks.")] = 100,
    server: ServerOption = None,
    embedding_model: EmbeddingModelOption = None,
    embedding_url: EmbeddingUrlOption = None,
    embedding_key_env: EmbeddingKeyOption = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    max_file_mb: Annotated[
        float, typer.Option(help="Skip source files larger than this (MB).")
    ] = 50.0,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Embed on Ray: `local` starts a cluster here, `auto` or an address joins."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Ray worker processes (local ones without --ray).")
    ] = None,
) -> None:
    """Ingest .txt .md .html .pdf .jsonl .csv files into a knowledge base (re-runs are no-ops)."""
    from contextlib import ExitStack

    from knowledge.ingest import ingest as run_ingest
    from knowledge.store import KnowledgeStore
    from synthloom.execution.config import ExecutionSpec

    spec = _spec(
        kb,
        server,
        embedding_model,
        embedding_url,
        embedding_key_env,
        collection=collection,
        chunk_size=chunk_size,
        chunk_overlap=overlap,
        max_file_mb=max_file_mb,
    )
    # A first ingest that takes nothing leaves no knowledge-base folder behind.
    fresh = not spec.path.exists()
    execution = ExecutionSpec(ray=ray, workers=workers)
    with KnowledgeStore(spec, purpose="synthloom ingest") as store, ExitStack() as stack:
        bar = progress and err.is_terminal
        fan: dict[str, Any] = {}
        where = None
        if execution.distributed:
            from synthloom.execution.embedding import embedding_on_ray

            where = stack.enter_context(embedding_on_ray(spec, execution, store.embeddings))
            fan = {"embed_many": where.embed_many, "fan_out": where.fan_out}
        summary = run_ingest(
            store, sources, console=err if bar else None, log=None if bar else err, **fan
        )
        if where is not None:
            err.print(where.note(), markup=False, highlight=False)
    if fresh and summary.files == 0:
        shutil.rmtree(spec.path, ignore_errors=True)
    table = Table(title=f"ingest → {spec.describe()} [{collection}]", show_header=False)
    for name in ("files", "chunks", "added", "updated", "unchanged", "removed", "total"):
        table.add_row(name, str(getattr(summary, name)))
    table.add_row("seconds", f"{summary.wall_s:.1f}")
    out.print(table)
    _print_skipped(summary.skipped)
    if summary.files == 0:
        raise SynthloomError("nothing was ingested: no usable file among the sources")


def _print_skipped(skipped: list[Any]) -> None:
    for item in skipped:
        out.print(
            f"[yellow]skipped[/] {item.source}: {item.reason}", highlight=False, soft_wrap=True
        )


demos_app = typer.Typer(
    no_args_is_help=True, help="In-context demo dialogues: exemplars of format and depth."
)


@demos_app.command("add")
def demos_add(
    file: Annotated[Path, typer.Argument(help="JSONL of chat records (messages or ShareGPT).")],
    kb: KbOption = Path("kb"),
    collection: Annotated[str, typer.Option(help="Collection of the demos.")] = "demos",
    server: ServerOption = None,
    embedding_model: EmbeddingModelOption = None,
    embedding_url: EmbeddingUrlOption = None,
    embedding_key_env: EmbeddingKeyOption = None,
) -> None:
    """Add a file's dialogues to the demo collection (already present ones are kept)."""
    from knowledge.demos import add_demos
    from knowledge.store import KnowledgeStore

    spec = _spec(
        kb,
        server,
        embedding_model,
        embedding_url,
        embedding_key_env,
        demos_collection=collection,
    )
    with KnowledgeStore(spec, purpose="synthloom demos add") as store:
        summary = add_demos(store, file)
    out.print(
        f"demos: {summary.added} added, {summary.unchanged} already present, "
        f"{len(summary.skipped)} skipped; {summary.total} in {spec.describe()} [{collection}]"
    )
    _print_skipped(summary.skipped)


@demos_app.command("select")
def demos_select(
    topic: Annotated[str, typer.Argument(help="The concept a sample is about.")],
    kb: KbOption = Path("kb"),
    k: Annotated[int, typer.Option("-k", help="How many demos.")] = 2,
    seed: Annotated[str | None, typer.Option(help="A sample's seed (varies the choice).")] = None,
    server: ServerOption = None,
) -> None:
    """Preview which demos a sample about TOPIC would get."""
    from knowledge.grounding import KnowledgeBase

    with KnowledgeBase(_spec(kb, server), purpose="synthloom demos select") as base:
        demos = base.demo_selector.select(topic, k, seed=seed)
    for demo in demos:
        out.rule(f"{demo.id[:12]} score={demo.score:.3f} {demo.topic}")
        for turn in demo.messages:
            out.print(f"[bold]{turn['role']}[/]: {turn['content']}", highlight=False)


kb_app = typer.Typer(no_args_is_help=True, help="Inspect a knowledge base.")


@kb_app.command("stats")
def kb_stats(kb: KbOption = Path("kb"), server: ServerOption = None) -> None:
    """Collections, their sizes and the embedding model that built them."""
    from knowledge.store import EMBEDDING_KEY, KnowledgeStore

    spec = _spec(kb, server)
    table = Table(title=spec.describe())
    for column in ("collection", "records", "embedding"):
        table.add_column(column)
    with KnowledgeStore(spec, purpose="synthloom kb stats", create=False) as store:
        for item in store.client.list_collections():
            meta = item.metadata or {}
            table.add_row(item.name, str(item.count()), str(meta.get(EMBEDDING_KEY, "-")))
    out.print(table)


@kb_app.command("query")
def kb_query(
    text: Annotated[str, typer.Argument(help="What to search for.")],
    kb: KbOption = Path("kb"),
    k: Annotated[int, typer.Option("-k", min=1, help="How many chunks.")] = 5,
    collection: Annotated[str, typer.Option(help="Collection of the chunks.")] = "knowledge",
    server: ServerOption = None,
) -> None:
    """Show the chunks a query retrieves, with their scores and ids."""
    from knowledge.grounding import KnowledgeBase

    spec = _spec(kb, server, collection=collection)
    with KnowledgeBase(spec, purpose="synthloom kb query") as base:
        chunks = base.retriever.retrieve(text, k)
    if not chunks:
        err.print(f"no chunk above the relevance floor ({spec.min_relevance})")
    for chunk in chunks:
        out.rule(f"{chunk.score:.3f}  {chunk.source}#{chunk.position}  {chunk.id}")
        out.print(chunk.text, markup=False, highlight=False)
