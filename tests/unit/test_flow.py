"""The endpoint controller on simulated servers (virtual clock): it finds the knee.

Each simulation keeps the endpoint as busy as the flow allows (endless demand) and
answers each request after a latency that depends on the requests in flight when
it started, as the scripted server's knee and 429 modes do over real HTTP.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2
import pytest

from agents.flow import ConcurrencySpec, EndpointFlow, FlowSettings, retry_after_s


@dataclass
class Sim:
    """What a simulated run saw: (time, level) after each answer, and each answer."""

    levels: list[tuple[float, int]] = field(default_factory=list)
    answers: list[tuple[float, int]] = field(default_factory=list)

    def mean_level(self, after: float) -> float:
        kept = [level for t, level in self.levels if t >= after]
        return sum(kept) / len(kept)

    def throughput(self, start: float, end: float) -> float:
        ok = [t for t, status in self.answers if start <= t < end and status == 200]
        return len(ok) / (end - start)

    def throttled_share(self, after: float) -> float:
        late = [status for t, status in self.answers if t >= after]
        return sum(1 for s in late if s == 429) / len(late)


def simulate(
    latency_of: Callable[[int], float],
    seconds: float,
    *,
    throttle_above: int | None = None,
    retry_after: float | None = 1.0,
    settings: FlowSettings | None = None,
) -> tuple[EndpointFlow, Sim]:
    now = [0.0]
    flow = EndpointFlow("http://sim/v1", settings or ConcurrencySpec().settings(), lambda: now[0])
    busy: list[tuple[float, float, int]] = []
    sim = Sim()
    while now[0] < seconds:
        while flow.try_acquire():
            n = flow.in_flight
            if throttle_above is not None and n > throttle_above:
                heapq.heappush(busy, (now[0] + 0.01, now[0], 429))
            else:
                heapq.heappush(busy, (now[0] + latency_of(n), now[0], 200))
        if not busy:
            now[0] = max(now[0], flow.cool_until) + 1e-6
            continue
        finish, started, status = heapq.heappop(busy)
        now[0] = finish
        flow.release(started, status, retry_after if status == 429 else None)
        sim.levels.append((finish, flow.limit))
        sim.answers.append((finish, status))
    return flow, sim


def test_auto_fills_a_server_with_64_slots() -> None:
    flow, sim = simulate(lambda n: max(1.0, n / 64), 60.0)
    # The ideal is 64 answers a second; what the ramp costs is the first few seconds.
    assert sim.throughput(0.0, 32.0) >= 0.9 * 64
    assert flow.limit >= 60


def test_auto_settles_at_a_knee_of_24() -> None:
    _, sim = simulate(lambda n: max(1.0, n / 24), 180.0)
    assert 20 <= sim.mean_level(after=30.0) <= 32
    assert max(level for t, level in sim.levels if t >= 30.0) <= 40


def test_auto_keeps_429s_rare_above_16() -> None:
    _, sim = simulate(lambda n: 1.0, 120.0, throttle_above=16)
    assert sim.throttled_share(after=30.0) < 0.05
    assert sim.throughput(30.0, 120.0) >= 0.7 * 16


def test_a_fixed_level_never_moves() -> None:
    flow, sim = simulate(lambda n: max(1.0, n / 8), 30.0, settings=FlowSettings(fixed=32))
    assert {level for _, level in sim.levels} == {32}


def test_the_level_stays_within_min_and_max() -> None:
    spec = ConcurrencySpec.model_validate({"min": 10, "max": 40})
    _, sim = simulate(lambda n: max(1.0, n / 4), 60.0, settings=spec.settings())
    assert min(level for _, level in sim.levels) >= 10
    _, sim = simulate(lambda n: 1.0, 60.0, settings=spec.settings())
    assert max(level for _, level in sim.levels) == 40


def test_a_429_with_retry_after_pauses_every_new_request() -> None:
    now = [100.0]
    flow = EndpointFlow("http://sim/v1", FlowSettings(fixed=8), lambda: now[0])
    assert flow.try_acquire() and flow.try_acquire()
    flow.release(now[0], 429, 2.5)
    assert not flow.try_acquire()  # another worker's new request waits too
    now[0] += 2.4
    assert not flow.try_acquire()
    now[0] += 0.2
    assert flow.try_acquire()


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after": "3"}, 3.0), ({"retry-after-ms": "250"}, 0.25), ({}, None)],
)
def test_retry_after_is_read_in_seconds_or_ms(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_s(httpx2.Headers(headers)) == seconds


def test_tokens_per_minute_hold_new_requests() -> None:
    now = [0.0]
    settings = FlowSettings(fixed=8, tokens_per_minute=1000)
    flow = EndpointFlow("http://sim/v1", settings, lambda: now[0])
    assert flow.try_acquire()
    flow.release(now[0], 200, None)
    flow.count_tokens(900)
    assert not flow.try_acquire()  # 900 used, ~900 expected more: past 1000 a minute
    now[0] += 60.5
    assert flow.try_acquire()


@pytest.mark.parametrize("bad", ["lots", {"min": 9, "max": 3}, 0])
def test_bad_concurrency_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        ConcurrencySpec.model_validate(bad)
