"""The run folder: samples, rejects, manifest and checkpoints of one dataset.

samples.jsonl      accepted samples, OpenAI chat format + metadata
rejects.jsonl      rejected and failed samples, each with its reason
run.json           the manifest: counts that always add up, usage, status
spec.json          the validated spec the run was started with
checkpoints.sqlite LangGraph checkpoints of dialogues in progress
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthloom import __version__
from synthloom.core import names
from synthloom.core.errors import RunDirError
from synthloom.core.locking import FolderLock
from synthloom.core.records import Plan, RejectRecord, SampleRecord, Usage
from synthloom.core.store import JsonlAppender, iter_records, rewrite_jsonl, write_json_atomic

if TYPE_CHECKING:
    from synthloom.spec import RunSpec


def now_iso() -> str:
    """UTC timestamp for records and the manifest."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Counts:
    """Per-status counts over the run's planned ids."""

    requested: int
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    usage: Usage = field(default_factory=Usage)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        """Planned samples with no outcome yet."""
        return self.requested - self.accepted - self.rejected - self.failed

    def as_dict(self) -> dict[str, Any]:
        """Counts as written into `run.json`."""
        return {
            "requested": self.requested,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "failed": self.failed,
            "pending": self.pending,
        }


class RunDirLock(FolderLock):
    """One process writes a run folder at a time: two would both generate the same ids."""

    error = RunDirError

    def busy_message(self, who: str) -> str:  # noqa: D102
        return (
            f"run folder {self.folder} is being written by {who}; wait for it to finish "
            "(re-running the same command then resumes), or give this run another `output:`"
        )


class RunDir:
    """Owns the files of one run folder and the bookkeeping that makes resume exact."""

    SAMPLES = names.SAMPLES
    REJECTS = names.REJECTS
    MANIFEST = names.MANIFEST
    SPEC = names.SPEC
    CHECKPOINTS = names.CHECKPOINTS

    def __init__(self, path: Path) -> None:
        self.path = path
        self._samples: JsonlAppender | None = None
        self._rejects: JsonlAppender | None = None

    @property
    def samples_path(self) -> Path:
        """Accepted samples."""
        return self.path / self.SAMPLES

    @property
    def rejects_path(self) -> Path:
        """Rejected and failed samples."""
        return self.path / self.REJECTS

    @property
    def checkpoints_path(self) -> Path:
        """SQLite checkpoints of dialogues in flight."""
        return self.path / self.CHECKPOINTS

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, if this folder holds a run."""
        path = self.path / self.MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{path}: unreadable run manifest ({exc})") from None
        return data if isinstance(data, dict) else None

    def claim(self, fingerprint: str, spec_json: dict[str, Any]) -> None:
        """Create the folder, or check an existing one holds this same dataset."""
        manifest = self.read_manifest()
        if manifest is not None and manifest.get("fingerprint") != fingerprint:
            raise RunDirError(
                f"{self.path} holds a run of a different spec (topics, concept tree, conditions, "
                "seed or dialogue changed); choose another `output:` or delete the folder"
            )
        if manifest is None and self.path.exists() and any(self.path.iterdir()):
            stray = {p.name for p in self.path.iterdir()} - {self.CHECKPOINTS}
            if stray & {self.SAMPLES, self.REJECTS}:
                raise RunDirError(f"{self.path} has sample files but no run.json manifest")
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path / self.SPEC, spec_json)

    PLANS = "plans"

    def saved_plans(self) -> list[Plan]:
        """Plans of refinement rounds written by `save_plans`, in round order."""
        folder = self.path / self.PLANS
        if not folder.is_dir():
            return []
        return [
            Plan.model_validate(record)
            for path in sorted(folder.glob("round-*.jsonl"))
            for record in iter_records(path)
        ]

    def save_plans(self, round_number: int, plans: Iterable[Plan]) -> Path:
        """Persist a round's plans before generating them, so a resume sees the same ones."""
        folder = self.path / self.PLANS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"round-{round_number:02d}.jsonl"
        rewrite_jsonl(path, (p.model_dump(mode="json") for p in plans))
        return path

    def drop_failed(self) -> int:
        """Remove `failed` rejects so a `--retry-failed` run attempts them again."""
        if not self.rejects_path.exists():
            return 0
        kept, dropped = [], 0
        for record in iter_records(self.rejects_path):
            if record.get("status") == "failed":
                dropped += 1
            else:
                kept.append(record)
        if dropped:
            rewrite_jsonl(self.rejects_path, kept)
        return dropped

    def open_writers(self) -> None:
        """Open both output files for appending (repairing a torn last line)."""
        self._samples = JsonlAppender(self.samples_path)
        self._rejects = JsonlAppender(self.rejects_path)

    def write_sample(self, record: SampleRecord) -> None:
        """Append an accepted sample."""
        if self._samples is None:
            raise RuntimeError("open_writers() first")
        self._samples.append(record.model_dump(mode="json"))

    def write_sample_lines(self, lines: Sequence[str]) -> None:
        """Append accepted samples already encoded (`core.store.encode_line`), in one write."""
        if self._samples is None:
            raise RuntimeError("open_writers() first")
        self._samples.append_encoded(lines)

    def write_reject(self, record: RejectRecord) -> None:
        """Append a rejected or failed sample with its reason."""
        if self._rejects is None:
            raise RuntimeError("open_writers() first")
        self._rejects.append(record.as_json())

    def close(self) -> None:
        """Close the output files."""
        for writer in (self._samples, self._rejects):
            if writer is not None:
                writer.close()
        self._samples = self._rejects = None

    def compact_checkpoints(self) -> None:
        """Give back the pages of finished dialogues' checkpoints (SQLite keeps them).

        A completed run's checkpoints are all deleted, but the file keeps its peak size
        until it is vacuumed; called once nothing else has the database open.
        """
        if not self.checkpoints_path.exists():
            return
        conn = sqlite3.connect(self.checkpoints_path)
        try:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise RunDirError(f"{self.checkpoints_path}: cannot compact ({exc})") from None
        finally:
            conn.close()

    def write_manifest(
        self, counts: Counts, *, fingerprint: str, status: str, extra: dict[str, Any]
    ) -> None:
        """Atomically rewrite `run.json` with the current counts."""
        previous = self.read_manifest() or {}
        write_json_atomic(
            self.path / self.MANIFEST,
            {
                "synthloom_version": __version__,
                "fingerprint": fingerprint,
                "status": status,
                "started_at": previous.get("started_at", now_iso()),
                "updated_at": now_iso(),
                "counts": counts.as_dict(),
                "usage": counts.usage.as_dict(),
                "reject_reasons": dict(sorted(counts.reasons.items())),
                "files": {"samples": self.SAMPLES, "rejects": self.REJECTS},
                **extra,
            },
        )


def read_run_spec(run_dir: Path, *, ignore: tuple[str, ...] = ()) -> RunSpec:
    """The validated spec a run folder keeps (`spec.json`), for every command that reads one.

    `ignore` names blocks a command reads on its own (curation takes `curate:`
    from `--config` as well). A missing folder or file, or a spec that no longer
    validates, is one `RunDirError` or `SpecError` naming the file.
    """
    from pydantic import ValidationError

    from synthloom.core.errors import SpecError
    from synthloom.spec import RunSpec

    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run folder")
    path = run_dir / names.SPEC
    if not path.is_file():
        raise RunDirError(f"{path}: missing (is {run_dir} a synthloom run folder?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable run spec copy ({exc})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: the run spec copy is not a JSON object")
    try:
        return RunSpec.model_validate({k: v for k, v in data.items() if k not in ignore})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "spec"
        raise SpecError(f"{path}: {where}: {first['msg']}") from None


def load_samples(run_dir: Path) -> Iterable[dict[str, Any]]:
    """Accepted samples of a finished or partial run."""
    path = run_dir / RunDir.SAMPLES
    if not path.exists():
        raise RunDirError(f"{run_dir}: no {RunDir.SAMPLES} here (is this a synthloom run folder?)")
    return _checked_samples(path)


def _checked_samples(path: Path) -> Iterator[dict[str, Any]]:
    # Lines that are not sample records are named by line, not met as a KeyError later.
    for number, record in enumerate(iter_records(path, missing_ok=False), 1):
        if not isinstance(record.get("messages"), list):
            raise RunDirError(f"{path}: record {number} is not a sample (no `messages` list)")
        yield record
