"""Tokens and cost: cost only where prices are given, per model and per 1M tokens."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from synthloom.core.errors import SpecError, yaml_error
from synthloom.core.records import Usage
from synthloom.pricing import ModelPrice, Pricing

__all__ = ["ModelPrice", "Pricing", "cost_summary", "load_pricing"]


def load_pricing(path: Path) -> Pricing:
    """A YAML pricing file, or a `SpecError` naming it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Pricing.model_validate(data or {})
    except FileNotFoundError:
        raise SpecError(f"{path}: pricing file not found") from None
    except yaml.YAMLError as exc:
        raise SpecError(yaml_error(path, exc)) from None
    except ValidationError as exc:
        raise SpecError(f"{path}: invalid pricing file: {exc}") from None


def _blended(pricing: Pricing, models: Iterable[str]) -> tuple[ModelPrice | None, bool]:
    """One price for usage summed over these models; exact only if they all cost the same."""
    prices = [pricing.price(m) for m in set(models)]
    if not prices or any(p is None for p in prices):
        return None, False
    known = [p for p in prices if p is not None]
    if len({(p.input_per_1m, p.output_per_1m) for p in known}) == 1:
        return known[0], True
    return (
        ModelPrice(
            input_per_1m=sum(p.input_per_1m for p in known) / len(known),
            output_per_1m=sum(p.output_per_1m for p in known) / len(known),
        ),
        False,
    )


def cost_summary(
    *,
    generation: Usage,
    generation_models: Mapping[str, str],
    judge_by_model: Mapping[str, Usage],
    accepted: int,
    pricing: Pricing | None,
    stages: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Tokens (always) and cost (when every model used has a price), total and per sample.

    `stages` is run.json's split of generation (first asks, regenerations, re-asks);
    the curation judges join it as one more stage.
    """
    judge = Usage()
    for usage in judge_by_model.values():
        judge += usage
    judge_cost: float | None = 0.0
    for model, usage in judge_by_model.items():
        price = pricing.price(model) if pricing else None
        judge_cost = None if price is None or judge_cost is None else judge_cost + price.cost(usage)
    total_tokens = generation.total_tokens + judge.total_tokens
    result: dict[str, Any] = {
        "tokens": {
            "generation": generation.as_dict(),
            "judge": judge.as_dict(),
            "total": total_tokens,
        },
        "accepted": accepted,
        "tokens_per_accepted": round(total_tokens / accepted, 1) if accepted else None,
        "currency": pricing.currency if pricing else None,
        "cost": None,
        "cost_per_accepted": None,
        "exact": None,
        "note": "no pricing given: tokens only",
        "stages": {
            **dict(stages or {}),
            "curation_judges": {
                "calls": judge.calls,
                "tokens": judge.total_tokens,
                "cost": None if judge_cost is None or not judge.calls else round(judge_cost, 6),
            },
        },
    }
    used = {*generation_models.values(), *judge_by_model}
    if pricing is None or len(pricing.unpriced(used)) == len(used):
        return result
    price, exact = _blended(pricing, generation_models.values())
    judge_prices = {m: pricing.price(m) for m in judge_by_model}
    missing = [m for m, p in judge_prices.items() if p is None]
    if price is None or missing:
        unpriced = pricing.unpriced(used)
        result["note"] = f"no price for {', '.join(unpriced)}: tokens only"
        return result
    cost = price.cost(generation) + sum(
        p.cost(judge_by_model[m]) for m, p in judge_prices.items() if p is not None
    )
    result.update(
        cost=round(cost, 6),
        cost_per_accepted=round(cost / accepted, 6) if accepted else None,
        exact=exact,
        note="exact" if exact else "estimate: roles with different prices share one usage total",
    )
    return result
