"""Traffic to one endpoint: how many requests fly at once, when to pause, what was used.

Every request of a role's chat model goes through a `FlowTransport` under the
HTTP client, the smallest scope that sees each attempt (the openai client's own
retries included). Per endpoint (base URL) one `EndpointFlow` holds:

- the level of requests in flight: fixed, or found by an AIMD controller
  (`auto`): doubling while nothing pushes back, then additive steps while
  latency holds; a multiplicative cut on 429/503 or when latency climbs past
  the knee (self-hosted servers queue instead of refusing, so latency is their
  only signal);
- one shared cool-down: a 429/503 with `Retry-After` pauses every worker's new
  requests to that endpoint, not only the retry of the call that got it;
- `requests_per_second` and `tokens_per_minute` limits, tokens counted from the
  usage the server reports.

A `Meter` counts calls and tokens (cached prompt tokens apart) per model, for the
whole process and for the sample whose context the call runs in (`sample_tally`).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import email.utils
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson
from pydantic import Field, model_validator

from synthloom.core.config import StrictModel

# Latency past this multiple of the endpoint's unloaded latency is slow; a window in
# which more than SLOW_SHARE of the answers were slow is past the knee.
KNEE = 1.2
SLOW_SHARE = 0.25
# A cut on 429/503 keeps this share of the level; a knee cut scales with the overshoot.
BACKOFF = 0.7
# Near the level of the last 429/503 (this share of it), the level grows a third as fast.
NEAR_PUSHBACK = 0.85
# Without a Retry-After header, a 429/503 pauses the endpoint this long.
DEFAULT_COOL_S = 0.5
# Controller windows last at least this long (a window is about one request's latency).
MIN_WINDOW_S = 0.05


@dataclass
class Tally:
    """Calls and tokens per model name: what pricing turns into money."""

    models: dict[str, list[int]] = field(default_factory=dict)
    """model → [calls, prompt tokens, cached prompt tokens, completion tokens]."""

    def add(self, model: str, prompt: int, cached: int, completion: int) -> None:
        """Count one call."""
        row = self.models.get(model)
        if row is None:
            row = self.models[model] = [0, 0, 0, 0]
        row[0] += 1
        row[1] += prompt
        row[2] += cached
        row[3] += completion

    @property
    def calls(self) -> int:
        """Calls over every model."""
        return sum(row[0] for row in self.models.values())

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens over every model."""
        return sum(row[1] + row[3] for row in self.models.values())

    def merge(self, other: Tally) -> None:
        """Add another tally's counts into this one."""
        for model, (calls, prompt, cached, completion) in other.models.items():
            row = self.models.setdefault(model, [0, 0, 0, 0])
            row[0] += calls
            row[1] += prompt
            row[2] += cached
            row[3] += completion


_SAMPLE: contextvars.ContextVar[Tally | None] = contextvars.ContextVar(
    "synthloom_sample_tally", default=None
)


@contextmanager
def sample_tally(tally: Tally) -> Iterator[Tally]:
    """Count the calls made inside the block (and the tasks it starts) into `tally` too."""
    token = _SAMPLE.set(tally)
    try:
        yield tally
    finally:
        _SAMPLE.reset(token)


GENERATION = "generation"
REGENERATION = "regeneration"  # a turn or step asked again after a check sent it back
REASK = "reask"  # a structured answer asked again after it failed its schema
_STAGE: contextvars.ContextVar[str] = contextvars.ContextVar("synthloom_stage", default=GENERATION)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the calls made inside the block under stage `name` (default: generation)."""
    token = _STAGE.set(name)
    try:
        yield
    finally:
        _STAGE.reset(token)


class Meter:
    """Calls and tokens of every model call in this process, of each stage and each sample."""

    def __init__(self) -> None:
        self.total = Tally()
        self.stages: dict[str, Tally] = {}

    def record(self, model: str, prompt: int, cached: int, completion: int) -> None:
        """Count one answered call: in the total, its stage and the current sample's tally."""
        self.total.add(model, prompt, cached, completion)
        name = _STAGE.get()
        by_stage = self.stages.get(name)
        if by_stage is None:
            by_stage = self.stages[name] = Tally()
        by_stage.add(model, prompt, cached, completion)
        sample = _SAMPLE.get()
        if sample is not None:
            sample.add(model, prompt, cached, completion)


@dataclass(frozen=True)
class FlowSettings:
    """How an endpoint's level of requests in flight is chosen."""

    fixed: int | None = None
    """A fixed level; None: the controller finds it between `low` and `high`."""
    start: int = 8
    low: int = 1
    high: int = 256
    requests_per_second: float | None = None
    tokens_per_minute: int | None = None


class ConcurrencySpec(StrictModel):
    """`concurrency:` in a spec: `auto` (the default), a number, or `{start, min, max}`."""

    fixed: int | None = Field(
        default=None, ge=1, le=4096, description="Requests in flight, fixed; unset: `auto`."
    )
    start: int = Field(default=8, ge=1, le=4096, description="Where `auto` starts.")
    min: int = Field(default=1, ge=1, le=4096, description="The least `auto` goes down to.")
    max: int = Field(default=256, ge=1, le=4096, description="The most `auto` goes up to.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data == "auto":
            return {}
        if isinstance(data, int) and not isinstance(data, bool):
            return {"fixed": data}
        if isinstance(data, str):
            raise ValueError("must be `auto`, a number or {start, min, max}")
        return data

    @model_validator(mode="after")
    def _ordered(self) -> ConcurrencySpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self

    @property
    def auto(self) -> bool:
        """Whether the controller chooses the level."""
        return self.fixed is None

    def settings(self) -> FlowSettings:
        """The flow settings this stands for (rate limits come from each role)."""
        return FlowSettings(
            fixed=self.fixed,
            start=max(self.min, min(self.max, self.start)),
            low=self.min,
            high=self.max,
        )

    def __str__(self) -> str:
        return "auto" if self.fixed is None else str(self.fixed)


class EndpointFlow:
    """Requests in flight to one endpoint, under its level, cool-down and rate limits."""

    def __init__(
        self,
        url: str,
        settings: FlowSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.settings = settings
        self.clock = clock
        self.auto = settings.fixed is None
        level = settings.fixed if settings.fixed is not None else settings.start
        self.level = float(max(settings.low, min(settings.high, level)) if self.auto else level)
        self.in_flight = 0
        self.cool_until = 0.0
        self.calls = 0
        self.throttled = 0
        """Answers with 429 or 503."""
        self.peak_level = self.level
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._listeners: list[Callable[[], None]] = []
        # Controller state: the window being measured and what earlier ones showed.
        self._slow_start = True
        self._base_latency: float | None = None
        self._window_start = clock()
        self._window_done = 0
        self._window_latency = 0.0
        self._window_slow = 0
        self._window_demand = 0
        self._window_pushback = False
        self._last_cut = -1.0
        self._pushback_level: float | None = None
        # Rate limits: a token bucket for requests, a 60 s window of tokens.
        self._bucket = 1.0
        self._bucket_at = clock()
        self._minute: collections.deque[tuple[float, int]] = collections.deque()
        self._minute_tokens = 0
        self._tokens_per_call = 0.0

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return max(1, int(self.level))

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever the level rises or a request finishes."""
        self._listeners.append(listener)

    async def acquire(self) -> None:
        """Wait for a slot under the level, the cool-down and the rate limits; take it."""
        woken = False
        while not self.try_acquire(woken):
            wait = self._wait_s()
            if wait > 0:
                await asyncio.sleep(wait)
                woken = True
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            woken = True

    def try_acquire(self, woken: bool = False) -> bool:
        """Take a slot if one is free now (False: the caller waits, and counts as demand).

        A new caller queues behind callers already waiting; a `woken` one does not.
        """
        queued = sum(1 for w in self._waiters if not w.done())
        if self.in_flight >= self.limit or (queued and not woken) or self._wait_s() > 0:
            self._window_demand = max(self._window_demand, self.in_flight + queued + 1)
            return False
        self.in_flight += 1
        self._window_demand = max(self._window_demand, self.in_flight + queued)
        if self.settings.requests_per_second:
            self._bucket -= 1.0
        return True

    def _wait_s(self) -> float:
        """Seconds until a request may start (0: now), from the cool-down and rate limits."""
        now = self.clock()
        wait = self.cool_until - now
        rps = self.settings.requests_per_second
        if rps:
            self._bucket = min(max(1.0, rps), self._bucket + (now - self._bucket_at) * rps)
            self._bucket_at = now
            if self._bucket < 1.0:
                wait = max(wait, (1.0 - self._bucket) / rps)
        tpm = self.settings.tokens_per_minute
        if tpm:
            while self._minute and self._minute[0][0] <= now - 60.0:
                self._minute_tokens -= self._minute.popleft()[1]
            expected = self._minute_tokens + (self.in_flight + 1) * self._tokens_per_call
            if self._minute and expected > tpm:
                wait = max(wait, self._minute[0][0] + 60.0 - now)
        return wait

    def release(self, started: float, status: int | None, retry_after: float | None) -> None:
        """A request ended (`status` None: no answer); feed the controller and wake a waiter."""
        now = self.clock()
        self.in_flight -= 1
        self.calls += 1
        pushback = status in (429, 503)
        if pushback:
            self.throttled += 1
            cool = retry_after if retry_after is not None else DEFAULT_COOL_S
            self.cool_until = max(self.cool_until, now + cool)
            self._window_pushback = True
        elif status is not None and status < 400 and started >= self._window_start:
            # Only requests sent in this window speak for its level.
            self._window_done += 1
            self._window_latency += now - started
            if self._base_latency is not None and now - started > KNEE * self._base_latency:
                self._window_slow += 1
        if self.auto:
            self._steer(now)
        self._wake()

    def count_tokens(self, tokens: int) -> None:
        """Tokens a call used, for `tokens_per_minute`."""
        if not self.settings.tokens_per_minute:
            return
        now = self.clock()
        self._minute.append((now, tokens))
        self._minute_tokens += tokens
        n = len(self._minute)
        self._tokens_per_call += (tokens - self._tokens_per_call) / min(n, 32)

    def _wake(self) -> None:
        free = self.limit - self.in_flight
        for waiter in self._waiters:
            if free <= 0:
                break
            if not waiter.done():
                waiter.set_result(None)
                free -= 1
        for listener in self._listeners:
            listener()

    def _steer(self, now: float) -> None:
        """At the end of each window: cut on pushback or a latency knee, else grow."""
        base = self._base_latency
        window = max(MIN_WINDOW_S, base or 0.0)
        if self._window_pushback and now - self._last_cut >= window:
            self._pushback_level = self.level
            self._cut(BACKOFF, now)
            return
        done = self._window_done
        if now - self._window_start < window or done < max(4, self.limit):
            return
        latency = self._window_latency / done
        if base is None or latency < base:
            # The unloaded latency: the least of the windows' mean latencies.
            self._base_latency = base = latency
        if self._window_slow > SLOW_SHARE * done:
            self._cut(max(0.5, min(0.85, KNEE * base / latency)), now)
            return
        if self._window_demand >= self.limit:
            if self._slow_start:
                step = self.level
            else:
                step = max(1.0, self.level / 16)
                near = self._pushback_level
                if near is not None and self.level >= NEAR_PUSHBACK * near:
                    step /= 3
            self.level = min(float(self.settings.high), self.level + step)
            self.peak_level = max(self.peak_level, self.level)
        self._new_window(now)

    def _cut(self, factor: float, now: float) -> None:
        self.level = max(float(self.settings.low), self.level * factor)
        self._slow_start = False
        self._last_cut = now
        self._new_window(now)

    def _new_window(self, now: float) -> None:
        self._window_start = now
        self._window_done = 0
        self._window_latency = 0.0
        self._window_slow = 0
        self._window_demand = self.in_flight + len(self._waiters)
        self._window_pushback = False

    def summary(self) -> dict[str, Any]:
        """What run.json records of this endpoint."""
        return {
            "mode": "auto" if self.auto else "fixed",
            "level": self.limit,
            "peak": int(self.peak_level),
            "calls": self.calls,
            "throttled": self.throttled,
        }


def retry_after_s(headers: httpx2.Headers) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date), if any."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class FlowTransport(httpx2.AsyncBaseTransport):
    """Puts each chat request under its endpoint's flow and meters the answer's usage."""

    def __init__(
        self, inner: httpx2.AsyncBaseTransport, flow: EndpointFlow, meter: Meter, model: str
    ) -> None:
        self.inner = inner
        self.flow = flow
        self.meter = meter
        self.model = model

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send one request once the flow allows it; count what it used."""
        if request.method != "POST":
            return await self.inner.handle_async_request(request)
        flow = self.flow
        await flow.acquire()
        started = flow.clock()
        status: int | None = None
        retry_after: float | None = None
        try:
            response = await self.inner.handle_async_request(request)
            status = response.status_code
            if status in (429, 503):
                retry_after = retry_after_s(response.headers)
            elif status == 200 and "json" in response.headers.get("content-type", ""):
                # A whole JSON answer (a stream of events is left to flow as it comes).
                await response.aread()
                self._count(response.content)
            return response
        finally:
            flow.release(started, status, retry_after)

    def _count(self, body: bytes) -> None:
        try:
            usage = orjson.loads(body).get("usage") or {}
            prompt = int(usage.get("prompt_tokens") or 0)
            completion = int(usage.get("completion_tokens") or 0)
            details = usage.get("prompt_tokens_details") or {}
            cached = int(details.get("cached_tokens") or 0)
        except (ValueError, AttributeError, TypeError):  # orjson's decode error is a ValueError
            return  # not a chat completion: nothing to count
        self.meter.record(self.model, prompt, cached, completion)
        self.flow.count_tokens(prompt + completion)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


class Traffic:
    """The flows (one per endpoint URL) and the meter of one set of role models."""

    def __init__(self, settings: FlowSettings | None = None) -> None:
        self.settings = settings or FlowSettings()
        self.flows: dict[str, EndpointFlow] = {}
        self.meter = Meter()

    def flow(self, url: str, settings: FlowSettings | None = None) -> EndpointFlow:
        """The endpoint's flow, made on first use (its first role's limits stand)."""
        key = url.rstrip("/")
        found = self.flows.get(key)
        if found is None:
            found = self.flows[key] = EndpointFlow(key, settings or self.settings)
        return found

    def slots(self) -> int:
        """Requests all endpoints allow in flight now (what bounds samples in flight)."""
        return sum(f.limit for f in self.flows.values()) or self.settings.start

    def summary(self) -> dict[str, Any]:
        """Per endpoint: mode, level now, peak, calls, 429/503 answers."""
        return {url: f.summary() for url, f in self.flows.items()}
