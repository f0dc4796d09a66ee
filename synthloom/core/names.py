"""Every file name of a run folder, spelled once.

A run folder is read by the runner, curation, the report, export, refine and
the survivors count; they all find its files through these names.
"""

from __future__ import annotations

SAMPLES = "samples.jsonl"  # accepted samples (in a run folder and in curated/)
REJECTS = "rejects.jsonl"  # rejected and failed samples, one RejectRecord each
MANIFEST = "run.json"  # the run's manifest: status, counts, usage
SPEC = "spec.json"  # the resolved run spec, for resume and the CLI
CHECKPOINTS = "checkpoints.sqlite"  # LangGraph checkpoints of samples in flight
COVERAGE = "coverage.json"  # slots per leaf and what filled them
CONCEPTS = "concepts.json"  # the run's concept tree (node-link JSON)
CURATED = "curated"  # curation's sub-folder, holding SAMPLES, REJECTS, CURATION
CURATION = "curation.json"  # curation's manifest
JUDGEMENTS = "judgements.jsonl"  # the judge's verdicts, cached per sample
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
IMPORTED = "imported.json"  # where an imported dataset came from
LOCK = ".lock"  # the folder lock


def rejections_file(tree_file: str) -> str:
    """Where a tree's screened-out children go: `concepts.json` → `concepts.rejections.jsonl`."""
    stem = tree_file[: -len(".json")] if tree_file.endswith(".json") else tree_file
    return f"{stem}.rejections.jsonl"
