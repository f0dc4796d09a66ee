"""Money: what each model charges per million tokens, and what a tally of calls cost.

`pricing:` in a spec (or a pricing file for `report`/`compare`) names prices per
model; a few well-known hosted models ship with dated defaults that a spec's own
entry always overrides. Cached prompt tokens (`prompt_tokens_details.cached_tokens`)
are priced at `cached_input_per_1m`, the rest of the prompt at `input_per_1m`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import Field

from agents.flow import Tally
from synthloom.core.config import StrictModel
from synthloom.core.records import Usage

# The date the default prices below were read off the providers' price lists.
DEFAULT_PRICES_DATE = "2025-06"


class ModelPrice(StrictModel):
    """The price of one model, per million tokens."""

    input_per_1m: float = Field(ge=0.0, description="Price of 1M prompt tokens.")
    cached_input_per_1m: float | None = Field(
        default=None,
        ge=0.0,
        description="Price of 1M prompt tokens the server had cached; unset: as `input_per_1m`.",
    )
    output_per_1m: float = Field(ge=0.0, description="Price of 1M completion tokens.")

    def of(self, prompt: int, completion: int, cached: int = 0) -> float:
        """The charge for these tokens (`cached` is the part of `prompt` served from cache)."""
        cached = min(cached, prompt)
        cached_price = (
            self.input_per_1m if self.cached_input_per_1m is None else self.cached_input_per_1m
        )
        return (
            (prompt - cached) * self.input_per_1m
            + cached * cached_price
            + completion * self.output_per_1m
        ) / 1e6

    def cost(self, usage: Usage) -> float:
        """The cost of a usage total (no cached tokens in it)."""
        return self.of(usage.prompt_tokens, usage.completion_tokens)


# OpenAI's list prices per 1M tokens (input, cached input, output) as of DEFAULT_PRICES_DATE.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    name: ModelPrice(input_per_1m=i, cached_input_per_1m=c, output_per_1m=o)
    for name, (i, c, o) in {
        "gpt-4o": (2.50, 1.25, 10.00),
        "gpt-4o-mini": (0.15, 0.075, 0.60),
        "gpt-4.1": (2.00, 0.50, 8.00),
        "gpt-4.1-mini": (0.40, 0.10, 1.60),
        "gpt-4.1-nano": (0.10, 0.025, 0.40),
        "o4-mini": (1.10, 0.275, 4.40),
    }.items()
}


class Pricing(StrictModel):
    """`pricing:` in a spec, or a pricing file: model name → price, and the currency."""

    currency: str = "USD"
    models: dict[str, ModelPrice] = Field(default_factory=dict)
    defaults: bool = Field(
        default=True,
        description=f"Fall back on the shipped list prices of a few OpenAI models "
        f"(as of {DEFAULT_PRICES_DATE}) for models not named here.",
    )

    def price(self, model: str) -> ModelPrice | None:
        """The model's price: this spec's, else a shipped default, else None."""
        found = self.models.get(model)
        if found is None and self.defaults:
            found = DEFAULT_PRICES.get(model)
        return found

    def unpriced(self, models: Iterable[str]) -> list[str]:
        """The models among `models` with no price."""
        return sorted({m for m in models if self.price(m) is None})

    def cost(self, tally: Tally) -> float | None:
        """What the calls in `tally` cost; None if a model in it has no price."""
        total = 0.0
        for model, (_, prompt, cached, completion) in tally.models.items():
            price = self.price(model)
            if price is None:
                return None
            total += price.of(prompt, completion, cached)
        return total

    def breakdown(self, tally: Tally) -> dict[str, dict[str, float | int | None]]:
        """Per model: calls, tokens (cached apart) and cost (None where unpriced)."""
        out: dict[str, dict[str, float | int | None]] = {}
        for model, (calls, prompt, cached, completion) in sorted(tally.models.items()):
            price = self.price(model)
            out[model] = {
                "calls": calls,
                "prompt_tokens": prompt,
                "cached_prompt_tokens": cached,
                "completion_tokens": completion,
                "cost": None if price is None else round(price.of(prompt, completion, cached), 6),
            }
        return out


def priced_models(models: Mapping[str, str], pricing: Pricing) -> dict[str, ModelPrice | None]:
    """Role → price of its model (None where it has none)."""
    return {role: pricing.price(model) for role, model in models.items()}
