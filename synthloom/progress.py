"""The run's progress bar: done, rejected, failed, tokens, rate and ETA.

Kept apart from the runner so the sample loop does not depend on how it is shown,
and so other long jobs (curation, ingest) can show the same columns.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from synthloom.rundir import Counts


class ProgressScope:
    """A rich progress bar: done, rejected, failed, tokens, rate and ETA."""

    def __init__(self, console: Console, counts: Counts, *, enabled: bool, label: str) -> None:
        self.progress = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "[green]✓ {task.fields[accepted]}[/] [yellow]✗ {task.fields[rejected]}[/] "
                "[red]! {task.fields[failed]}[/]"
            ),
            TextColumn("{task.fields[tokens]:,} tok"),
            # What the run adds: requests in flight chosen per endpoint, spend per sample.
            TextColumn("{task.fields[status]}"),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.counts = counts

    def __enter__(self) -> tuple[Progress, Any]:
        c = self.counts
        self.progress.start()
        task_id = self.progress.add_task(
            "dialogues",
            total=c.requested,
            completed=c.accepted + c.rejected + c.failed,
            accepted=c.accepted,
            rejected=c.rejected,
            failed=c.failed,
            tokens=c.usage.total_tokens,
            status="",
        )
        return self.progress, task_id

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


class RateColumn(ProgressColumn):
    """Samples per minute (dialogues take seconds to minutes each)."""

    def render(self, task: Task) -> Text:
        """The rate cell."""
        speed = task.finished_speed or task.speed
        return Text(f"{speed * 60:.1f}/min" if speed else "-/min", style="cyan")
