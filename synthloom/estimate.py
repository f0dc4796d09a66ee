"""What a spec will cost before it runs, and what its folder says it costs so far.

Model calls and a completion-token ceiling come from the plans; the projection
comes from the run folder's measured tokens per finished sample.

Prompt tokens are not bounded here — they depend on the prompts, retrieved snippets
and the dialogue so far — so the projection from measured usage is the figure to
budget on once a few samples exist (`--samples 10` first, then the full run).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from synthloom.core import names
from synthloom.core.records import Plan
from synthloom.planning import Planner
from synthloom.spec import RunSpec


@dataclass(frozen=True)
class Estimate:
    """Call counts and token bounds of one spec's planned samples."""

    samples: int
    calls_min: int
    calls_max: int
    completion_max: int
    measured_samples: int = 0
    measured_tokens: int = 0
    sampled: int = 0
    """When not 0: the bounds are scaled from this many evenly spaced plans."""

    @property
    def projected_tokens(self) -> int | None:
        """Total tokens at the measured rate per finished sample, if any finished yet."""
        if not self.measured_samples:
            return None
        return round(self.measured_tokens / self.measured_samples * self.samples)


def _per_sample(spec: RunSpec, plan: Plan) -> tuple[int, int, int]:
    """(fewest calls, most calls, completion-token ceiling) of one sample, no regenerations."""
    models = spec.models
    if spec.task == "dialogue":
        # One user and one assistant turn per round; the user may end early.
        per_round = models.user_simulator.max_tokens + models.assistant.max_tokens
        return 2, 2 * plan.rounds, plan.rounds * per_round
    cot = spec.cot
    verify = 1 if cot.verify else 0
    fewest = 1 + cot.min_steps + 1 + verify
    most = 1 + cot.max_steps + 1 + verify
    ceiling = (
        models.user_simulator.max_tokens
        + (cot.max_steps + 1) * models.assistant.max_tokens
        + verify * models.judge.max_tokens
    )
    return fewest, most, ceiling


def measured(output: Path) -> tuple[int, int]:
    """(finished samples, tokens spent) recorded in a run folder's run.json, or zeros."""
    try:
        manifest = json.loads((output / names.MANIFEST).read_text(encoding="utf-8"))
        counts, usage = manifest["counts"], manifest["usage"]
        finished = int(counts["accepted"]) + int(counts["rejected"]) + int(counts["failed"])
        return finished, int(usage["total_tokens"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, 0


def estimate(spec: RunSpec, plans: Iterable[Plan]) -> Estimate:
    """The spec's cost bounds over `plans`, with the run folder's measured rate if any."""
    samples = calls_min = calls_max = completion = 0
    for plan in plans:
        low, high, ceiling = _per_sample(spec, plan)
        samples += 1
        calls_min += low
        calls_max += high
        completion += ceiling
    done, tokens = measured(Path(spec.output))
    return Estimate(samples, calls_min, calls_max, completion, done, tokens)


# Up to this many plans the estimate walks them all; beyond, it scales from this many.
EXACT_UP_TO = 50_000


def estimate_run(spec: RunSpec, planner: Planner) -> Estimate:
    """The estimate over every planned sample, in seconds and bounded memory at any size.

    Plans are derived one at a time; past `EXACT_UP_TO` samples an evenly spaced
    selection of that many stands for all (the per-sample bounds depend only on
    each plan's turn budget, drawn uniformly, so the scaled sums are within a
    fraction of a percent).
    """
    total = spec.samples
    if total <= EXACT_UP_TO:
        return estimate(spec, planner.plans())
    step = total / EXACT_UP_TO
    part = estimate(spec, (planner.plan(int(k * step)) for k in range(EXACT_UP_TO)))
    scale = total / part.samples
    return dataclasses.replace(
        part,
        samples=total,
        calls_min=round(part.calls_min * scale),
        calls_max=round(part.calls_max * scale),
        completion_max=round(part.completion_max * scale),
        sampled=part.samples,
    )


def describe(est: Estimate) -> list[str]:
    """Lines for `synthloom validate`."""
    lines = [
        f"cost: {est.calls_min:,}–{est.calls_max:,} model calls for {est.samples:,} samples "
        f"(before regenerations and re-asks); completion tokens at most {est.completion_max:,} "
        "(max_tokens per call); prompt tokens come on top"
    ]
    if est.sampled:
        lines[0] += f" (scaled from {est.sampled:,} evenly spaced plans)"
    projected = est.projected_tokens
    if projected is not None:
        per = est.measured_tokens / est.measured_samples
        lines.append(
            f"measured: {est.measured_samples:,} samples finished in the output folder used "
            f"{per:,.0f} tokens each → about {projected:,} tokens for all {est.samples:,}"
        )
    return lines
