"""Which sample may start now: under the endpoints' levels and within the budgets.

A sample starts only if its expected cost (and tokens) fits beside what is spent and
what the samples in flight are still expected to spend. Expectations are per planned
call (a plan of 4 rounds is twice the size of one of 2), so the short samples that
finish first do not make the long ones in flight look cheap: the measured cost per
planned call (mean plus one standard deviation once a few finished, the largest seen
before that; a ceiling from the spec before any finished) times the sample's size.
A sample in flight counts at the larger of what it spent and its expectation. So a
budget is held to about one sample, not to `concurrency` samples. With nothing
measured yet, one sample may start as a probe (the ceiling is no measurement).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from agents.flow import Tally, Traffic
from synthloom.pricing import Pricing

# Below this many finished samples the expectation is the largest seen, not mean + sd.
FEW = 8
# Samples in flight above the endpoints' levels, so a request is ready as a slot frees.
HEADROOM = 0.1


@dataclass
class _Stats:
    """Running mean and variance (Welford) of one per-sample figure."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    largest: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)
        self.largest = max(self.largest, value)

    def expected(self, prior: float) -> float:
        if self.n == 0:
            return prior
        if self.n < FEW:
            return self.largest
        return self.mean + math.sqrt(self.m2 / (self.n - 1))


@dataclass
class Admission:
    """Gatekeeper of sample starts; `enter` waits or says the budget is reached."""

    traffic: Traffic
    pricing: Pricing
    fixed: int | None
    """Samples in flight for a fixed `concurrency`; None: follow the endpoints' levels."""
    max_cost: float | None = None
    max_tokens: int | None = None
    cost_before: float = 0.0
    """Money spent into this folder by earlier runs."""
    tokens_used: Callable[[], int] = lambda: 0
    """Tokens of the folder's finished samples (every run so far)."""
    prior_cost: float = 0.0
    prior_tokens: float = 0.0
    """Per planned call, before any sample finished (a ceiling from the spec)."""
    in_flight: dict[str, Tally] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    """Planned calls of each sample in flight."""
    _cost: _Stats = field(default_factory=_Stats)
    _tokens: _Stats = field(default_factory=_Stats)
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for flow in self.traffic.flows.values():
            flow.on_change(self._wake)

    def slots(self) -> int:
        """Samples allowed in flight now."""
        if self.fixed is not None:
            return self.fixed
        levels = self.traffic.slots()
        return levels + max(1, math.ceil(levels * HEADROOM))

    def spent(self) -> float:
        """Money spent into the folder: earlier runs and every call of this process."""
        return self.cost_before + (self.pricing.cost(self.traffic.meter.total) or 0.0)

    def committed(self) -> tuple[float, float]:
        """(money, tokens) spent plus what the samples in flight are still expected to use."""
        cost_per_call = self._cost.expected(self.prior_cost)
        tokens_per_call = self._tokens.expected(self.prior_tokens)
        cost = self.spent()
        tokens = float(self.tokens_used())
        for sample, tally in self.in_flight.items():
            size = self.sizes.get(sample, 1)
            cost += max(0.0, cost_per_call * size - (self.pricing.cost(tally) or 0.0))
            tokens += max(float(tally.tokens), tokens_per_call * size)
        return cost, tokens

    def over_budget(self, size: int = 1) -> str | None:
        """Why one more sample of `size` planned calls would not fit, or None if it would."""
        cost, tokens = self.committed()
        if self.max_cost is not None:
            each = self._cost.expected(self.prior_cost) * size
            if cost + each > self.max_cost:
                return (
                    f"cost budget reached: {self.spent():,.4f} {self.pricing.currency} spent "
                    f"of {self.max_cost:,.4f}, and a sample is expected to cost {each:,.4f}; "
                    "raise `budget.max_cost` to go on"
                )
        if self.max_tokens is not None:
            each_t = self._tokens.expected(self.prior_tokens) * size
            if tokens + each_t > self.max_tokens:
                return (
                    f"token budget reached: {self.tokens_used():,} of {self.max_tokens:,} "
                    f"tokens used, and a sample is expected to use {each_t:,.0f}; raise "
                    "`budget.max_tokens` (or pass --budget-tokens) to go on"
                )
        return None

    async def enter(self, sample_id: str, size: int = 1) -> Tally | str:
        """Wait for room; the sample's tally, or why no sample may start any more.

        `size` is the sample's planned calls (the unit the expectations are kept in).
        """
        while True:
            if len(self.in_flight) < self.slots():
                reason = self.over_budget(size)
                if reason is None or self._probe():
                    tally = self.in_flight[sample_id] = Tally()
                    self.sizes[sample_id] = max(1, size)
                    return tally
                if not self.in_flight:
                    return reason
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _probe(self) -> bool:
        """Whether one sample may start as a probe of what samples cost.

        Only while none has finished in this run and none is in flight, and the folder
        is under its limits: the spec's ceiling is no measurement.
        """
        if self.in_flight or self._cost.n or self._tokens.n:
            return False
        under_cost = self.max_cost is None or self.spent() < self.max_cost
        under_tokens = self.max_tokens is None or self.tokens_used() < self.max_tokens
        return under_cost and under_tokens

    def leave(self, sample_id: str, finished: bool) -> None:
        """A sample ended; `finished` ones (not cancelled) teach the expectation."""
        tally = self.in_flight.pop(sample_id, None)
        size = self.sizes.pop(sample_id, 1)
        if tally is not None and finished and tally.calls:
            cost = self.pricing.cost(tally)
            if cost is not None:
                self._cost.add(cost / size)
            self._tokens.add(tally.tokens / size)
        self._wake()

    def expected_cost(self, size: int = 1) -> float:
        """Money one more sample of `size` planned calls is expected to cost."""
        return self._cost.expected(self.prior_cost) * size

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
