"""Money from tallies: cached prompt tokens at their own price, unpriced models named."""

from __future__ import annotations

import asyncio

import pytest

from agents.flow import FlowSettings, Tally, Traffic
from synthloom.budget import Admission
from synthloom.pricing import DEFAULT_PRICES, ModelPrice, Pricing


def test_cached_prompt_tokens_are_priced_apart() -> None:
    price = ModelPrice(input_per_1m=2.0, cached_input_per_1m=0.5, output_per_1m=8.0)
    # 1,000 prompt tokens of which 600 cached, 100 completion.
    assert price.of(1000, 100, cached=600) == pytest.approx((400 * 2 + 600 * 0.5 + 100 * 8) / 1e6)
    # Without a cached price, cached tokens cost as input.
    plain = ModelPrice(input_per_1m=2.0, output_per_1m=8.0)
    assert plain.of(1000, 100, cached=600) == pytest.approx((1000 * 2 + 100 * 8) / 1e6)


def test_a_tally_is_priced_only_when_every_model_has_a_price() -> None:
    tally = Tally()
    tally.add("gpt-4o-mini", 1000, 0, 100)
    pricing = Pricing()
    assert pricing.cost(tally) == pytest.approx(DEFAULT_PRICES["gpt-4o-mini"].of(1000, 100))
    tally.add("local-model", 10, 0, 10)
    assert pricing.cost(tally) is None
    assert pricing.unpriced(tally.models) == ["local-model"]
    assert Pricing(defaults=False).price("gpt-4o-mini") is None


def test_a_sample_waits_while_its_expected_cost_does_not_fit() -> None:
    pricing = Pricing(models={"m": ModelPrice(input_per_1m=1e6, output_per_1m=0.0)})
    traffic = Traffic(FlowSettings(fixed=8))
    gate = Admission(traffic=traffic, pricing=pricing, fixed=16, max_cost=10.0, prior_cost=100.0)

    async def scenario() -> list[object]:
        first = await gate.enter("a", size=2)  # a probe: nothing is measured yet
        assert isinstance(first, Tally)
        waiting = asyncio.ensure_future(gate.enter("b", size=2))
        await asyncio.sleep(0)
        assert not waiting.done()  # the ceiling (100 a call) does not fit beside "a"
        traffic.meter.record("m", 1, 0, 0)  # spent outside a sample context
        first.add("m", 1, 0, 0)  # "a" cost 1.0 over its 2 planned calls
        gate.leave("a", finished=True)
        second = await waiting  # 0.5 a call x 2 calls fits beside the 1.0 spent
        assert isinstance(second, Tally)
        flying = {"b": second}
        for name in "cdefghij":
            entered = await gate.enter(name, size=2)
            assert isinstance(entered, Tally)
            flying[name] = entered
        # 1.0 spent and nine samples expected at 1.0 each: the tenth does not fit yet.
        tenth = asyncio.ensure_future(gate.enter("k", size=2))
        await asyncio.sleep(0)
        assert not tenth.done()
        for name, tally in flying.items():
            traffic.meter.record("m", 1, 0, 0)
            tally.add("m", 1, 0, 0)
            gate.leave(name, finished=True)
        return [await tenth]

    (refused,) = asyncio.run(scenario())
    # 10.0 spent and nothing in flight: the tenth is refused with the reason.
    assert isinstance(refused, str)
    assert "cost budget reached" in refused
