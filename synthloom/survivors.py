"""What survives curation: the accepted set that coverage, refinement and refills count.

Before curation the accepted set is generation's `samples.jsonl`. Once `RUN/curated/`
holds a finished curation (`curation.json`, written after its two files), a sample
curation dropped (judge, faithfulness, dedup, leakage, ...) is lost to its slot like a
generation reject: coverage counts it as rejected, `synthloom run` plans a replacement
on its leaf and cell (within `coverage.replacements`), and the next `curate` judges the
replacement. Samples generated after the last curation count as accepted until a
curation has seen them. Nothing here writes: both stages' files stay as they are, so
each stage's ledger (requested = accepted + rejected + failed + pending) stays exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from synthloom.core import names
from synthloom.core.store import iter_records

CURATED = names.CURATED
CURATION_FILE = names.CURATION
CURATED_REJECTS = names.REJECTS


def curated(run_path: Path) -> bool:
    """Whether a curation of this run has finished."""
    return (run_path / CURATED / CURATION_FILE).is_file()


def curation_drops(run_path: Path) -> list[dict[str, Any]]:
    """The samples the last curation dropped (empty before any curation)."""
    if not curated(run_path):
        return []
    return list(iter_records(run_path / CURATED / CURATED_REJECTS))


def dropped_ids(run_path: Path) -> set[str]:
    """Ids of samples the last curation dropped: their slots are lost, like rejects."""
    return {str(r.get("id")) for r in curation_drops(run_path)}


def as_generation_reject(dropped: Mapping[str, Any]) -> dict[str, Any]:
    """A curation drop in the shape of a `rejects.jsonl` record (its plan: the metadata)."""
    status = "failed" if dropped.get("status") == "unjudged" else "rejected"
    return {
        "id": dropped.get("id"),
        "status": status,
        "reason": f"curation: {dropped.get('reason', '')}",
        "stage": "curate",
        "plan": dict(dropped.get("metadata") or {}),
    }


def surviving(
    run_path: Path,
    samples: Iterable[dict[str, Any]] | None = None,
    rejects: Iterable[dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run's accepted samples and lost slots as coverage counts them after curation.

    `samples` and `rejects` default to the run folder's generation files.
    """
    kept = list(iter_records(run_path / names.SAMPLES) if samples is None else samples)
    lost = list(iter_records(run_path / names.REJECTS) if rejects is None else rejects)
    drops = curation_drops(run_path)
    if not drops:
        return kept, lost
    gone = {str(r.get("id")) for r in drops}
    kept = [s for s in kept if str((s.get("metadata") or {}).get("id")) not in gone]
    return kept, [*lost, *(as_generation_reject(r) for r in drops)]
