"""Reading a run folder for curation and reports, with one clear error per problem."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthloom.core import names
from synthloom.core.errors import RunDirError
from synthloom.core.store import iter_records
from synthloom.rundir import RunDir

if TYPE_CHECKING:
    from knowledge.concepts import ConceptTree

CURATED = names.CURATED
CURATED_SAMPLES = names.SAMPLES
CURATED_REJECTS = names.REJECTS
CURATION = names.CURATION
JUDGEMENTS = names.JUDGEMENTS
TREE_FILE = names.CONCEPTS


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file that must exist (see `iter_records`)."""
    return iter_records(path, missing_ok=False)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object file, or an error naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path}: {what} is missing") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable {what} ({exc})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: {what} is not a JSON object")
    return data


@dataclass
class RunData:
    """What one run folder holds: manifest, spec, accepted samples and generation rejects."""

    path: Path
    manifest: dict[str, Any]
    spec: dict[str, Any]
    samples: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    curation: dict[str, Any] | None = None
    curated_samples: list[dict[str, Any]] | None = None
    curated_rejects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def curated_path(self) -> Path:
        """The folder curation writes into."""
        return self.path / CURATED

    def generation_counts(self) -> dict[str, int]:
        """Counts (requested, accepted, rejected, failed, pending) from the files themselves."""
        raw = self.manifest.get("counts")
        counts: dict[str, Any] = raw if isinstance(raw, dict) else {}
        requested = int(counts.get("requested") or self.spec.get("samples") or 0)
        failed = sum(1 for r in self.rejects if r.get("status") == "failed")
        rejected = len(self.rejects) - failed
        accepted = len(self.samples)
        return {
            "requested": requested,
            "accepted": accepted,
            "rejected": rejected,
            "failed": failed,
            "pending": max(0, requested - accepted - rejected - failed),
        }


def _unique_samples(records: Iterator[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for number, record in enumerate(records, 1):
        meta = record.get("metadata")
        if (
            not isinstance(meta, dict)
            or "id" not in meta
            or not isinstance(record.get("messages"), list)
        ):
            raise RunDirError(f"{path}: record {number} lacks `messages` or `metadata.id`")
        sid = str(meta["id"])
        if sid not in seen:  # the runner never writes an id twice; be safe on resume races
            seen.add(sid)
            out.append(record)
    return out


def load_run(path: Path, *, with_curation: bool = True) -> RunData:
    """Load a run folder; a missing folder or file is one clear `RunDirError`."""
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run folder")
    manifest_path = path / RunDir.MANIFEST
    if not manifest_path.exists():
        raise RunDirError(
            f"{path}: no {RunDir.MANIFEST} here; is this a synthloom run folder? "
            "(`synthloom run SPEC` creates one)"
        )
    manifest = read_json(manifest_path, "run manifest")
    spec = read_json(path / RunDir.SPEC, "run spec copy")
    samples_path = path / RunDir.SAMPLES
    rejects_path = path / RunDir.REJECTS
    for required in (samples_path, rejects_path):
        if not required.exists():
            raise RunDirError(
                f"{required} is missing: the run folder is incomplete (re-run "
                "`synthloom run SPEC` to resume it)"
            )
    samples = _unique_samples(read_jsonl(samples_path), samples_path)
    accepted = {str(s["metadata"]["id"]) for s in samples}
    rejects: list[dict[str, Any]] = []
    seen: set[str] = set()
    for record in read_jsonl(rejects_path):
        sid = str(record.get("id"))
        if sid not in accepted and sid not in seen:
            seen.add(sid)
            rejects.append(record)
    data = RunData(path, manifest, spec, samples, rejects)
    if with_curation:
        curated = path / CURATED
        if (curated / CURATION).exists():
            data.curation = read_json(curated / CURATION, "curation summary")
            kept_file = curated / CURATED_SAMPLES
            if not kept_file.exists():
                raise RunDirError(f"{kept_file} is missing; run `synthloom curate {path}` again")
            data.curated_samples = list(read_jsonl(kept_file))
            rejects_file = curated / CURATED_REJECTS
            data.curated_rejects = list(read_jsonl(rejects_file)) if rejects_file.exists() else []
    return data


def run_tree_file(run_path: Path, spec: dict[str, Any]) -> Path | None:
    """The concept tree the run pinned: in its folder, or where `concepts.output` put it."""
    concepts = spec.get("concepts")
    if not isinstance(concepts, dict):
        return None
    candidates = [run_path / TREE_FILE]
    if concepts.get("output"):
        candidates.append(Path(str(concepts["output"])))
    return next((p for p in candidates if p.is_file()), None)


def load_run_concepts(run_path: Path, spec: dict[str, Any]) -> ConceptTree | None:
    """The run's pinned concept tree, or None for a run over flat `topics`."""
    path = run_tree_file(run_path, spec)
    if path is None:
        return None
    from knowledge.concepts import ConceptTree

    return ConceptTree.load(path)


def planned_topics(run_path: Path, spec: dict[str, Any]) -> list[str]:
    """What the run's samples may be about: its tree's leaf topics, else its `topics`."""
    tree = load_run_concepts(run_path, spec)
    if tree is not None:
        return [tree.topic(leaf) for leaf in tree.leaves()]
    return [str(t) for t in spec.get("topics") or []]
