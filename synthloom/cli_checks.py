"""`synthloom checks eval`: measure the turn checks and curation heuristics on any chat data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from synthloom.checks_eval import EvalReport

checks_app = typer.Typer(
    help="Measure the quality gates: what they flag on your data, and how well.",
    no_args_is_help=True,
)
stdout = Console()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _settings(spec_path: Path | None) -> tuple[Any, Any]:
    """The turn checks and heuristics of a spec (`dialogue.checks`, `curate.heuristics`)."""
    from graphs.checks import TurnChecks
    from synthloom.curate.config import HeuristicsSpec

    if spec_path is None:
        return TurnChecks(), HeuristicsSpec()
    from synthloom.spec import load_spec

    spec = load_spec(spec_path)
    heuristics = spec.curate.heuristics if spec.curate is not None else HeuristicsSpec()
    return spec.dialogue.checks, heuristics


def _print(report: EvalReport, path: Path, examples: int) -> None:
    data = report.as_dict()
    turns = data["turns"]
    stdout.print(
        f"{path}: {data['dialogues']:,} dialogues, {turns.get('user', 0):,} user and "
        f"{turns.get('assistant', 0):,} assistant turns"
        + (" (labelled)" if report.labelled else "")
    )
    table = Table(title="Turn checks (what a run would regenerate)", title_justify="left")
    for column in ("check", "user", "assistant", "dialogues", "on good"):
        table.add_column(column, justify="left" if column == "check" else "right", no_wrap=True)
    if report.labelled:
        table.add_column("on failures", justify="right", no_wrap=True)
        table.add_column("precision", justify="right", no_wrap=True)
    for code, check in data["checks"].items():
        row = [
            code,
            f"{check['turns'].get('user', 0):,}",
            f"{check['turns'].get('assistant', 0):,}",
            f"{check['dialogues']:,}",
            f"{check['on_good']:,}",
        ]
        if report.labelled:
            row += [f"{check['on_failures']:,}", _pct(check["precision"])]
        table.add_row(*row)
    stdout.print(table)
    rate = data["good_turn_flag_rate"]
    stdout.print(
        f"good data: {_pct(rate.get('user'))} of user turns, {_pct(rate.get('assistant'))} of "
        f"assistant turns and {_pct(data['good_dialogue_flag_rate'])} of dialogues flagged; "
        f"curation's heuristics drop {_pct(data['curation_good_drop_rate'])} of dialogues "
        f"({', '.join(f'{k} {v}' for k, v in data['curation_dropped'].items()) or 'none'})"
    )
    cut = data["cut_off"]
    stdout.print(
        f"cut_off (text only; a run reads truncation from the server): "
        f"{cut['turns'].get('assistant', 0):,} assistant turns end mid-sentence"
        + (f", {cut['on_failures']:,} of them labelled" if report.labelled else "")
    )
    if data["kinds"]:
        kinds = Table(title="Labelled failures", title_justify="left")
        for column in ("kind", "labelled", "caught", "by its own check"):
            kinds.add_column(column, justify="left" if column == "kind" else "right")
        for kind, tally in data["kinds"].items():
            kinds.add_row(
                kind,
                f"{tally['labelled']:,}",
                _pct(tally["recall"]),
                _pct(tally["recall_own_check"]),
            )
        stdout.print(kinds)
        stdout.print(f"caught overall: {_pct(data['recall'])}")
    if examples:
        for code, check in data["checks"].items():
            for example in check["examples"][:examples]:
                label = f" [{example['label']}]" if example.get("label") else ""
                stdout.print(
                    f"  {code}{label} {example['record']} #{example['message']}: {example['text']}",
                    markup=False,
                    highlight=False,
                )


@checks_app.command("eval")
def eval_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="Chat data: OpenAI `messages` or ShareGPT JSONL (.gz too), a JSON array, "
            "a Hugging Face datasets folder, or a run folder. Labels are optional."
        ),
    ],
    spec: Annotated[
        Path | None,
        typer.Option(help="Take `dialogue.checks` and `curate.heuristics` from this spec."),
    ] = None,
    examples: Annotated[int, typer.Option(min=0, max=20, help="Flagged examples per check.")] = 2,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write every figure as JSON here.")
    ] = None,
) -> None:
    """Run every turn check and curation heuristic over a chat dataset and report the figures."""
    from synthloom.chatdata import read_chats
    from synthloom.checks_eval import evaluate

    checks, heuristics = _settings(spec)
    report = evaluate(read_chats(path), checks, heuristics)
    if report.dialogues == 0:
        raise typer.BadParameter(f"{path}: no conversations in it", param_hint="PATH")
    _print(report, path, examples)
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
        stdout.print(f"figures written to {json_out}")
