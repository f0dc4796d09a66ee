"""The `synthloom` command and its sub-commands.

init, validate, run, refine, export and prompts live here; the sub-apps
(ingest, demos, kb, tree, curate, report, compare) registered from their own modules.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from synthloom.core.errors import SpecError, SynthloomError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Generate grounded, diverse synthetic dialogue datasets with any OpenAI-compatible model.",
)
# soft_wrap: messages name files and URLs, which must not be split when stderr is a pipe.
err = Console(stderr=True, soft_wrap=True)
out = Console()


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter spec.")] = Path(
        "spec.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter spec that runs as-is on the embedded model."""
    if path.exists() and not force:
        raise SynthloomError(f"{path} exists; pass --force to overwrite it")
    text = resources.files("synthloom").joinpath("templates/spec.yaml").read_text("utf-8")
    path.write_text(text, encoding="utf-8")
    err.print(f"wrote {path}; run it with: synthloom run {path}")


@app.command()
def validate(spec_path: Annotated[Path, typer.Argument(help="The run spec (YAML).")]) -> None:
    """Check a spec and show what it will do, without calling any model."""
    from synthloom.estimate import describe as describe_estimate
    from synthloom.estimate import estimate_run
    from synthloom.planning import Planner
    from synthloom.run_tree import load_run_tree
    from synthloom.spec import ROLES, load_spec

    spec = load_spec(spec_path)
    table = Table(title=f"{spec_path} — {spec.samples} {spec.task} samples → {spec.output}")
    table.add_column("role")
    table.add_column("provider")
    table.add_column("model")
    table.add_column("endpoint")
    for role in ROLES:
        m = getattr(spec.models, role)
        more = f" (+{len(m.replicas)} replicas)" if m.replicas else ""
        table.add_row(role, m.provider, m.model, (m.base_url or "-") + more)
    out.print(table)
    tree = load_run_tree(spec)
    if tree is not None:
        out.print(f"concept tree: {len(tree)} nodes, {len(tree.leaves())} leaves (before growth)")
    # Plans are derived one at a time: any `samples` answers in seconds.
    planner = Planner(spec, tree)
    first = planner.plan(0)
    out.print(
        f"first plan: topic={first.topic!r} conditions={first.conditions} rounds={first.rounds}"
    )
    for line in describe_estimate(estimate_run(spec, planner)):
        out.print(line, markup=False, highlight=False)


@app.command()
def run(
    spec_path: Annotated[Path, typer.Argument(help="The run spec (YAML).")],
    samples: Annotated[int | None, typer.Option(help="Override `samples`.")] = None,
    output: Annotated[Path | None, typer.Option(help="Override `output`.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Override `concurrency`.")] = None,
    budget_tokens: Annotated[
        int | None, typer.Option(help="Override `budget.max_tokens` (tokens, all runs so far).")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option(help="Attempt again the samples recorded as failed.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    grace: Annotated[
        float,
        typer.Option(min=0, help="Seconds samples in flight get to finish after SIGTERM/SIGINT."),
    ] = 10.0,
    ray: Annotated[
        str | None,
        typer.Option(help="Run on Ray: `local` starts a cluster here, `auto` or an address joins."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Ray worker processes (local ones without --ray).")
    ] = None,
) -> None:
    """Generate the dataset; re-running the same command resumes where it stopped."""
    from agents.endpoints import open_models
    from synthloom.runner import DatasetRun
    from synthloom.spec import load_spec
    from synthloom.tasks import roles_for

    spec = load_spec(spec_path)
    given: dict[str, Any] = {"samples": samples, "output": output, "concurrency": concurrency}
    overrides = {k: v for k, v in given.items() if v is not None}
    if budget_tokens is not None:
        overrides["budget"] = spec.budget.model_dump() | {"max_tokens": budget_tokens}
    if ray is not None or workers is not None:
        asked = {"ray": ray, "workers": workers}
        overrides["execution"] = spec.execution.model_dump() | {
            k: v for k, v in asked.items() if v is not None
        }
    if overrides:
        spec = _with_overrides(spec, overrides)
    log_dir = Path(tempfile.gettempdir())
    with open_models(spec, roles_for(spec), log_dir=log_dir) as models:
        bar = progress and err.is_terminal
        runner = DatasetRun
        if spec.execution.distributed:
            from synthloom.execution.driver import RayDatasetRun

            runner = RayDatasetRun
        job = runner(
            spec,
            models,
            console=err,
            show_progress=bar,
            retry_failed=retry_failed,
            grace_s=grace,
            status_every_s=None if bar else STATUS_EVERY_S,
        )
        from agents.llm import run_with_models

        result = run_with_models(job.run())
    exit_if_interrupted(result)
    c = result.counts
    err.print(
        f"[bold]{result.status}[/] in {result.wall_s:.1f}s: {c.accepted} accepted, "
        f"{c.rejected} rejected, {c.failed} failed, {c.pending} pending of {c.requested} "
        f"({result.skipped} already done); {c.usage.total_tokens:,} tokens → {result.path}"
    )
    if rerun := int(getattr(job, "rerun", 0)):
        err.print(f"{rerun} samples re-run on other workers after a Ray worker was lost")
    if result.coverage:
        err.print(coverage_line(result.coverage, spec.coverage.replacements, result.path))
    if result.stopped_because:
        raise SynthloomError(
            f"run stopped: {result.stopped_because}. Nothing is lost: re-run the same command "
            "to resume."
        )
    if c.pending:
        raise SynthloomError(
            f"{c.pending} samples hit endpoint errors after retries (last: {result.last_error}); "
            "they are pending, not lost: re-run the same command to generate them"
        )
    if spec.curate is not None and spec.curate.enabled:
        # Generation is complete: curate now (re-runnable: judged samples are cached).
        from synthloom.cli_curate import run_curation

        run_curation(result.path, spec.curate, spec, console=err)
        err.print(f"report: synthloom report {result.path}")


# Seconds between status lines on a stderr that shows no progress bar (logs, CI, pods).
STATUS_EVERY_S = 30.0


def exit_if_interrupted(result: Any) -> None:
    """After a run a signal drained: one line on what happened and how to resume, rc 128+N."""
    from synthloom.signals import exit_code, signal_name

    if result.signal is None:
        return
    c = result.counts
    again = shlex.join(["synthloom", *sys.argv[1:]])
    err.print(
        f"interrupted by {signal_name(result.signal)}: {c.accepted} accepted, {c.rejected} "
        f"rejected, {c.failed} failed, {c.pending} pending of {c.requested}; samples in flight "
        f"were left pending with their checkpoints and {result.path / 'run.json'} is up to "
        f"date; resume with: {again}",
        markup=False,
        highlight=False,
    )
    raise typer.Exit(exit_code(result.signal))


def _with_overrides(spec: Any, overrides: dict[str, Any]) -> Any:
    """The spec with command-line options applied; a bad value names its option."""
    from pydantic import ValidationError

    try:
        return spec.model_validate({**spec.model_dump(), **overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"{_OPTIONS.get(e['loc'], '.'.join(map(str, e['loc'])))}: {e['msg']}"
            for e in exc.errors()
        )
        raise SpecError(f"invalid option: {problems}") from None


_OPTIONS: dict[tuple[int | str, ...], str] = {
    ("samples",): "--samples",
    ("output",): "--output",
    ("concurrency",): "--concurrency",
    ("budget", "max_tokens"): "--budget-tokens",
    ("execution", "ray"): "--ray",
    ("execution", "workers"): "--workers",
}


def coverage_line(summary: dict[str, Any], replacements: int, path: Path) -> str:
    """One line on how evenly a tree run's accepted samples sit on the leaves."""
    line = (
        f"coverage: {summary['accepted_per_leaf_min']}–{summary['accepted_per_leaf_max']} "
        f"accepted per leaf over {summary['leaves']} leaves"
    )
    if summary["given_up"]:
        line += (
            f"; {summary['given_up']} slot{'s' if summary['given_up'] != 1 else ''} lost "
            f"after {replacements + 1} attempt{'s' if replacements else ''} each "
            "(raise `coverage.replacements` to retry them on their leaf)"
        )
    return f"{line}; per node: synthloom tree show --run {path}"


@app.command()
def refine(
    spec_path: Annotated[Path, typer.Argument(help="The run spec (YAML) of a finished run.")],
    rounds: Annotated[
        int | None, typer.Option(min=1, max=20, help="Override `refine.rounds`.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Run refinement rounds aimed at the run's weakest cells (resumable like `run`)."""
    from agents.endpoints import open_models
    from synthloom.refine import plan_round
    from synthloom.rundir import RunDir
    from synthloom.runner import DatasetRun
    from synthloom.spec import load_spec
    from synthloom.tasks import roles_for

    spec = load_spec(spec_path)
    total = spec.refine.rounds if rounds is None else rounds
    run_dir = RunDir(spec.output)
    if run_dir.read_manifest() is None:
        raise SynthloomError(f"{spec.output}: no run here yet; `synthloom run {spec_path}` first")
    with open_models(spec, roles_for(spec), log_dir=Path(tempfile.gettempdir())) as models:
        for number in range(1, total + 1):
            saved = run_dir.path / RunDir.PLANS / f"round-{number:02d}.jsonl"
            if not saved.exists():
                plans = plan_round(spec, run_dir, number)
                if not plans:
                    err.print(f"round {number}: every cell meets its target; stopping")
                    break
                run_dir.save_plans(number, plans)
            bar = progress and err.is_terminal
            job = DatasetRun(
                spec,
                models,
                console=err,
                show_progress=bar,
                status_every_s=None if bar else STATUS_EVERY_S,
            )
            from agents.llm import run_with_models

            result = run_with_models(job.run())
            exit_if_interrupted(result)
            c = result.counts
            err.print(
                f"round {number}: {result.new_samples} new samples; totals {c.accepted} accepted, "
                f"{c.rejected} rejected, {c.failed} failed, {c.pending} pending of {c.requested}"
            )
            if result.stopped_because or c.pending:
                raise SynthloomError(
                    f"round {number} did not finish ({result.stopped_because or result.last_error})"
                    "; re-run the same command to resume it"
                )


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (holds samples.jsonl).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="sharegpt | hf | openai")] = "sharegpt",
    to: Annotated[Path | None, typer.Option(help="Destination file or folder.")] = None,
    layout: Annotated[
        str | None, typer.Option(help="CoT samples: re-render reasoning as `think` or `steps`.")
    ] = None,
    reasoning: Annotated[
        bool, typer.Option(help="Dialogues: include the assistant's hidden reasoning as <think>.")
    ] = False,
    which: Annotated[
        str,
        typer.Option("--set", help="auto (curated when RUN/curated exists) | curated | generated"),
    ] = "auto",
    partial: Annotated[
        bool, typer.Option(help="Export even while a run is still writing the folder.")
    ] = False,
) -> None:
    """Export accepted samples as ShareGPT JSONL, OpenAI JSONL or a Hugging Face dataset."""
    from synthloom.core.locking import current_writer
    from synthloom.export import export_run, sample_set

    writer = current_writer(run_dir)
    if writer is not None and not partial:
        raise SynthloomError(
            f"{run_dir} is still being written by {writer}: an export now would miss what is "
            "still to come; wait for the run to finish, or pass --partial to export what is "
            "there now"
        )
    if writer is not None:
        err.print(
            f"note: {run_dir} is still being written by {writer}; exporting what is there now"
        )

    chosen, source = sample_set(run_dir, which)
    dest, count = export_run(run_dir, fmt, to, layout=layout, reasoning=reasoning, which=chosen)
    err.print(f"exported {count} samples as {fmt} from the {chosen} set ({source}) → {dest}")


@app.command()
def prompts(
    name: Annotated[str | None, typer.Argument(help="A role's prompt; all if omitted.")] = None,
) -> None:
    """Preview the packaged prompt templates rendered with their sample values."""
    from prompts import available_prompts, load_prompt

    if name is not None and name not in available_prompts():
        raise SynthloomError(
            f"no packaged prompt named {name!r}; there are: {', '.join(available_prompts())}"
        )
    for prompt_name in [name] if name else available_prompts():
        template = load_prompt(prompt_name)
        out.rule(f"{prompt_name} — variables: {', '.join(template.variables)}")
        out.print(template.sample_render(), markup=False, highlight=False)


def _register_subcommands() -> None:
    # Each family lives in its own module; registering here keeps one entry point.
    from synthloom.cli_checks import checks_app
    from synthloom.cli_curate import compare, curate, report
    from synthloom.cli_knowledge import demos_app, ingest, kb_app
    from synthloom.cli_preview import preview
    from synthloom.cli_tree import tree_app

    app.command(help="Ingest files and folders into a knowledge base (re-running is a no-op).")(
        ingest
    )
    app.add_typer(demos_app, name="demos")
    app.add_typer(kb_app, name="kb")
    app.add_typer(tree_app, name="tree")
    app.add_typer(checks_app, name="checks")
    app.command()(curate)
    app.command()(report)
    app.command()(compare)
    app.command()(preview)


_register_subcommands()


def _one_line_import_warnings() -> None:
    """What a tree import kept (shared names, copies) as `warning: ...`, not a source dump."""
    import warnings

    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        # By name: importing the knowledge layer here would slow every command's start.
        if category.__name__ == "ConceptImportWarning":
            err.print(f"warning: {message}", markup=False, highlight=False)
        else:
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show


def main() -> None:
    """Console entry point: user errors are one line on stderr and exit code 2."""
    from synthloom import signals
    from synthloom.core.redact import redact_standard_streams

    # No API key reaches the console, whatever prints it (errors, tracebacks, logs).
    redact_standard_streams()
    # SIGTERM and SIGINT alike: a run drains; anything else stops with one line.
    signals.install()
    _one_line_import_warnings()
    try:
        app()
    except signals.Interrupted as stop:
        err.print(
            f"interrupted by {signals.signal_name(stop.signum)}: nothing is lost; re-run the "
            "same command to resume",
            markup=False,
            highlight=False,
        )
        sys.exit(signals.exit_code(stop.signum))
    except SynthloomError as exc:
        err.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
        sys.exit(2)
    except OSError as exc:
        # A path the user named cannot be read or written (permissions, a file where a
        # folder should be, a full disk): the path and the system's reason, no traceback.
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(
            Text.assemble(("error: ", "bold red"), f"{where}{exc.strerror or exc}"),
            highlight=False,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        # Only before `install` (or from code that raises it itself): same words, same rc.
        err.print("interrupted by SIGINT: nothing is lost; re-run the same command to resume")
        sys.exit(130)
