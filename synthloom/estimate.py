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
from synthloom.pricing import ModelPrice
from synthloom.spec import RunSpec

# Prompt tokens of a call before the conversation: system prompt, task, demos, snippets.
PROMPT_BASE = 600
# The low end of a money range assumes answers of this share of `max_tokens`.
SHORT_ANSWER = 1 / 8


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
    cost_low: float | None = None
    cost_high: float | None = None
    """Money for all samples (None: a model has no price), fewest calls with short answers
    up to most calls at `max_tokens` with the whole conversation in every prompt."""
    currency: str = "USD"
    measured_cost: float | None = None
    """Money spent by the run folder so far (its run.json), if recorded."""

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


def _calls(spec: RunSpec, rounds: int) -> list[tuple[str, int]]:
    """(role, max_tokens) of each call of one sample of `rounds` rounds at its most, in order."""
    models = spec.models
    if spec.task == "dialogue":
        user, assistant = models.user_simulator.max_tokens, models.assistant.max_tokens
        return [("user_simulator", user), ("assistant", assistant)] * rounds
    cot = spec.cot
    calls = [("user_simulator", models.user_simulator.max_tokens)]
    calls += [("assistant", models.assistant.max_tokens)] * (cot.max_steps + 1)
    return calls + ([("judge", models.judge.max_tokens)] if cot.verify else [])


def sample_cost_range(spec: RunSpec, plan: Plan | None) -> tuple[float, float] | None:
    """(low, high) money for one sample, None if a role's model has no price.

    High: every call at `max_tokens` and every prompt carrying the whole conversation
    so far on top of `PROMPT_BASE`. Low: the fewest calls, answers of `SHORT_ANSWER`
    of `max_tokens`, the conversation grown by those.
    """
    prices: dict[str, ModelPrice] = {}
    for role in ("user_simulator", "assistant", "judge"):
        price = spec.pricing.price(getattr(spec.models, role).model)
        if price is not None:
            prices[role] = price
    rounds = plan.rounds if plan is not None else spec.dialogue.rounds.max
    calls = _calls(spec, rounds)
    if any(role not in prices for role, _ in calls):
        return None
    fewest = (
        2 if spec.task == "dialogue" else len(calls) - (spec.cot.max_steps - spec.cot.min_steps)
    )
    return (
        _walk(calls[:fewest], prices, SHORT_ANSWER),
        _walk(calls, prices, 1.0),
    )


def _walk(calls: list[tuple[str, int]], prices: dict[str, ModelPrice], share: float) -> float:
    total, history = 0.0, 0
    for role, ceiling in calls:
        answer = int(ceiling * share)
        total += prices[role].of(PROMPT_BASE + history, answer)
        history += answer
    return total


def sample_calls_max(spec: RunSpec, plan: Plan | None) -> int:
    """Model calls of one sample at most, before regenerations (the longest plan if None)."""
    rounds = plan.rounds if plan is not None else spec.dialogue.rounds.max
    return len(_calls(spec, rounds))


def sample_tokens_high(spec: RunSpec, plan: Plan | None) -> int:
    """Tokens of one sample at its most (the same walk as the money's high end)."""
    total, history = 0, 0
    rounds = plan.rounds if plan is not None else spec.dialogue.rounds.max
    for _, ceiling in _calls(spec, rounds):
        total += PROMPT_BASE + history + ceiling
        history += ceiling
    return total


def measured_cost(output: Path) -> float | None:
    """Money a run folder's run.json says was spent, if it says."""
    try:
        manifest = json.loads((output / "run.json").read_text(encoding="utf-8"))
        value = manifest["cost"]["spent"]
        return None if value is None else float(value)
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    cost_low: float | None = 0.0
    cost_high: float | None = 0.0
    for plan in plans:
        low, high, ceiling = _per_sample(spec, plan)
        samples += 1
        calls_min += low
        calls_max += high
        completion += ceiling
        money = sample_cost_range(spec, plan) if cost_low is not None else None
        if money is None:
            cost_low = cost_high = None
        elif cost_low is not None and cost_high is not None:
            cost_low += money[0]
            cost_high += money[1]
    output = Path(spec.output)
    done, tokens = measured(output)
    return Estimate(
        samples,
        calls_min,
        calls_max,
        completion,
        done,
        tokens,
        cost_low=cost_low,
        cost_high=cost_high,
        currency=spec.pricing.currency,
        measured_cost=measured_cost(output),
    )


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
        cost_low=None if part.cost_low is None else part.cost_low * scale,
        cost_high=None if part.cost_high is None else part.cost_high * scale,
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
    if est.cost_low is not None and est.cost_high is not None:
        lines.append(
            f"money: {_money(est.cost_low, est.currency)}–{_money(est.cost_high, est.currency)} "
            f"for {est.samples:,} samples (fewest calls with answers at 1/8 of max_tokens, up "
            f"to most calls at max_tokens with the whole conversation in every prompt; "
            f"prompts of {PROMPT_BASE:,} tokens before the conversation; prices from `pricing`)"
        )
    else:
        lines.append("money: not estimated (a model has no price under `pricing.models`)")
    projected = est.projected_tokens
    if projected is not None:
        per = est.measured_tokens / est.measured_samples
        lines.append(
            f"measured: {est.measured_samples:,} samples finished in the output folder used "
            f"{per:,.0f} tokens each → about {projected:,} tokens for all {est.samples:,}"
        )
        if est.measured_cost is not None:
            each = est.measured_cost / est.measured_samples
            lines.append(
                f"measured: {_money(est.measured_cost, est.currency)} spent, "
                f"{_money(each, est.currency)} per finished sample → about "
                f"{_money(each * est.samples, est.currency)} for all {est.samples:,}"
            )
    return lines


def _money(value: float, currency: str) -> str:
    """An amount with enough digits to be read at any size."""
    digits = 2 if value >= 10 else 4 if value >= 0.01 else 6
    return f"{value:,.{digits}f} {currency}"
