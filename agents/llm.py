"""The one code path to a model: `ChatOpenAI` on any OpenAI-compatible endpoint.

Transient errors (429 with Retry-After, 5xx, timeouts, dropped connections) are
retried inside the openai client with exponential backoff — the smallest scope —
and never a 400 or 401. What is left after the retries is classified here so the
run can decide: fail this sample, pause the sample for a later resume, or stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ssl
import weakref
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

import httpx
import httpx2
import openai
import orjson
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_openai import ChatOpenAI
from langchain_openai.chat_models.base import (
    _handle_openai_api_error,
    _handle_openai_bad_request,
)
from pydantic import SecretStr

from agents.flow import EndpointFlow, FlowSettings, FlowTransport, Traffic
from synthloom.core.modelspec import ModelSpec
from synthloom.core.records import Usage

ErrorKind = Literal["sample", "transient", "fatal"]
T = TypeVar("T")

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Requests in flight for a model built on its own, outside a run (tests, one-off calls).
STANDALONE_LEVEL = 1024


class PooledTransport(httpx2.AsyncBaseTransport):
    """aiohttp's connection pool under the openai client, one pool per event loop.

    httpx's own pool checks every pooled connection's socket for each request it
    assigns (a `poll` per connection per request): at 64 calls in flight that was a
    sixth of a run's client CPU. aiohttp's connector hands out a free connection
    without it; the openai client ships the adapter (`openai[aiohttp]`,
    `DefaultAioHttpClient`) and maps its errors to the httpx ones, so retries and
    error classes are unchanged. An aiohttp session belongs to the loop it was made
    in, so each loop (a CLI command may run several) gets its own, and
    `close_connections` closes the running loop's before that loop ends.
    """

    def __init__(self) -> None:
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, httpx2.AsyncBaseTransport
        ] = weakref.WeakKeyDictionary()

    def _pool(self) -> httpx2.AsyncBaseTransport:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = _new_pool()
            self._pools[loop] = pool
            _LIVE.setdefault(loop, set()).add(self)
        return pool

    @property
    def open_pools(self) -> int:
        """Pools not closed yet: one per event loop that sent a request since."""
        return len(self._pools)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send the request on the running loop's pool."""
        return await self._pool().handle_async_request(request)

    async def aclose(self) -> None:
        """Close the running loop's pool (a later request opens a new one)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.aclose()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every model client: loading the CA bundle takes ~40 ms a time."""
    return httpx2.create_ssl_context()


def _new_pool() -> httpx2.AsyncBaseTransport:
    limits = openai.DEFAULT_CONNECTION_LIMITS
    try:
        from openai._vendor.httpx_aiohttp import AiohttpTransport
    except ImportError:  # pragma: no cover - aiohttp is a dependency; httpx works without it
        return httpx2.AsyncHTTPTransport(limits=limits, verify=tls_context())
    return AiohttpTransport(limits=limits, verify=tls_context())


# The transports that opened a pool in each loop, for `close_connections`.
_LIVE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[PooledTransport]] = (
    weakref.WeakKeyDictionary()
)


async def close_connections() -> None:
    """Close every model connection opened in the running loop (call before it ends)."""
    for transport in _LIVE.pop(asyncio.get_running_loop(), set()):
        await transport.aclose()


def run_with_models(job: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(job)`, closing the model connections it opened before its loop ends.

    Left open, aiohttp warns of each unclosed session when the loop is gone.
    """

    async def closing() -> T:
        try:
            return await job
        finally:
            await close_connections()

    return asyncio.run(closing())


class FlowClient(openai.DefaultAsyncHttpxClient):
    """The openai HTTP client with every request under its endpoint's flow."""

    def __init__(self, flow: EndpointFlow, traffic: Traffic, model: str, timeout: float) -> None:
        inner = PooledTransport()
        super().__init__(
            timeout=timeout,
            transport=FlowTransport(inner, flow, traffic.meter, model),
            verify=tls_context(),
        )
        self.flow = flow
        self.traffic = traffic


def flow_settings(spec: ModelSpec, base: FlowSettings) -> FlowSettings:
    """The run's concurrency settings with this role's rate limits."""
    return dataclasses.replace(
        base,
        requests_per_second=spec.requests_per_second,
        tokens_per_minute=spec.tokens_per_minute,
    )


def make_chat_model(
    spec: ModelSpec, base_url: str | None = None, traffic: Traffic | None = None
) -> ChatOpenAI:
    """Build the chat model for one role; `base_url` overrides the spec (embedded server).

    Its requests go under `traffic`'s flow for the endpoint (a fixed, roomy one of its
    own if none is given: a lone model, as in tests).
    """
    traffic = traffic or Traffic(FlowSettings(fixed=STANDALONE_LEVEL))
    url = base_url or spec.base_url or OPENAI_BASE_URL
    flow = traffic.flow(url, flow_settings(spec, traffic.settings))
    extra: dict[str, Any] = {}
    for name in ("top_p", "frequency_penalty", "presence_penalty"):
        if getattr(spec, name) is not None:
            extra[name] = getattr(spec, name)
    if spec.extra_body:
        extra["extra_body"] = dict(spec.extra_body)
    return LeanChatOpenAI(
        model=spec.model,
        base_url=base_url or spec.base_url,
        api_key=SecretStr(spec.api_key()),
        temperature=spec.temperature,
        max_completion_tokens=spec.max_tokens,
        timeout=spec.timeout,
        max_retries=spec.max_retries,
        # An HTTP client of this model's own: langchain-openai otherwise shares one per
        # (base_url, timeout) across the process, bound to the first event loop that used
        # it, so a second `asyncio.run` (curation after generation) finds it closed.
        http_async_client=FlowClient(flow, traffic, spec.model, spec.timeout),
        # Chat Completions is what every OpenAI-compatible server speaks.
        use_responses_api=False,
        stream_usage=False,
        **extra,
    )


def request_body(payload: dict[str, Any]) -> bytes:
    """The JSON body of a chat completion, as `create()` would send it, serialized once.

    `extra_body` merges into the top level (as the openai client merges it); the
    body goes out as bytes, so the client neither walks it through its typed
    transform nor serializes it again.
    """
    body = {k: v for k, v in payload.items() if k not in ("extra_body", "stream")}
    body.update(payload.get("extra_body") or {})
    return orjson.dumps(body)


def completion_of(content: bytes) -> dict[str, Any]:
    """A chat completion's JSON answer as a dict; a body that is not one is a clear error."""
    try:
        answer = orjson.loads(content)
    except orjson.JSONDecodeError:
        preview = content[:200].decode("utf-8", "replace")
        raise ValueError(
            f"the endpoint answered a chat completion with a body that is not JSON: {preview!r}"
        ) from None
    if not isinstance(answer, dict):
        raise ValueError(f"the endpoint answered a chat completion with {type(answer).__name__}")
    return answer


class LeanChatOpenAI(ChatOpenAI):
    """`ChatOpenAI` whose plain calls go straight to the openai client.

    A call with no callbacks to tell (no tracing, no preview, no message streaming)
    skips langchain's Runnable layers: the callback manager, the run tree and the
    executor thread that parses each answer. The body is serialized once, straight to
    bytes, and the answer read as plain JSON (no typed transform of the request, no
    typed model of the answer dumped back to a dict). Same payload, same parsed message
    (usage, finish reason, tool calls), same retries and error mapping; anything else
    takes the full path.
    """

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """One chat completion."""
        if not self._lean(config):
            return await super().ainvoke(input, config, stop=stop, **kwargs)
        messages = self._convert_input(input).to_messages()
        payload = self._get_request_payload(messages, stop=stop, **kwargs)
        if "response_format" in payload or payload.get("stream"):
            return await super().ainvoke(input, config, stop=stop, **kwargs)
        try:
            content = await self.root_async_client.post(
                "/chat/completions", content=request_body(payload), cast_to=bytes
            )
        except openai.BadRequestError as exc:
            _handle_openai_bad_request(exc)
            raise
        except openai.APIError as exc:
            _handle_openai_api_error(exc)
            raise
        result = self._create_chat_result(completion_of(content))
        generation = result.generations[0]
        message = generation.message
        assert isinstance(message, AIMessage)
        # As the full path does: the finish reason (a cut at max_tokens), the token usage and
        # the model name live in llm_output and generation_info; they belong on the message.
        message.response_metadata = {
            **(result.llm_output or {}),
            "model_provider": "openai",
            **(generation.generation_info or {}),
            **message.response_metadata,
        }
        return message

    def _lean(self, config: RunnableConfig | None) -> bool:
        if self.callbacks or self.cache or self.rate_limiter or self.streaming:
            return False
        callbacks = ensure_config(config).get("callbacks")
        if callbacks is None:
            return True
        handlers = callbacks if isinstance(callbacks, list) else callbacks.handlers
        return not handlers


def traffic_of(model: BaseChatModel) -> Traffic | None:
    """The traffic (flows and meter) a role model's requests go through, if it has one."""
    models = getattr(model, "models", None)
    if isinstance(models, list) and models:
        return traffic_of(models[0])
    client = getattr(model, "http_async_client", None)
    return client.traffic if isinstance(client, FlowClient) else None


def make_role_model(
    spec: ModelSpec, base_url: str, traffic: Traffic | None = None
) -> BaseChatModel:
    """The role's model: one server, or an `EndpointPool` over `base_url` and the replicas."""
    if not spec.replicas:
        return make_chat_model(spec, base_url=base_url, traffic=traffic)
    from agents.pool import EndpointPool

    traffic = traffic or Traffic(FlowSettings(fixed=STANDALONE_LEVEL))
    models = [
        make_chat_model(spec, base_url=url, traffic=traffic) for url in spec.endpoints(base_url)
    ]
    # Each server has its own flow (level, cool-down, rate limits).
    return EndpointPool(models=list(models), model_name=spec.model)


def usage_of(message: BaseMessage) -> Usage:
    """Token usage of one model answer (zero where the server reports none)."""
    meta = getattr(message, "usage_metadata", None) or {}
    return Usage(
        calls=1,
        prompt_tokens=int(meta.get("input_tokens", 0)),
        completion_tokens=int(meta.get("output_tokens", 0)),
    )


def _transport_errors() -> tuple[type[Exception], ...]:
    # Newer openai releases sit on httpx2, whose errors are not httpx's; a raw
    # transport error from either that slips past openai's wrapping is transient.
    errors: list[type[Exception]] = [httpx.TransportError]
    try:
        import httpx2
    except ImportError:
        return tuple(errors)
    return (*errors, httpx2.TransportError)


_TRANSPORT_ERRORS = _transport_errors()


def classify_error(exc: BaseException) -> ErrorKind:
    """What an error left after the client's retries means for the run.

    - `sample`: this request is bad (400, 413, 422): record the sample as failed.
    - `transient`: the endpoint is struggling (429/5xx/timeout/connection after
      retries): leave the sample pending so a re-run picks it up.
    - `fatal`: nothing will work (401/403/404 — wrong key or model name): stop.
    """
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, *_TRANSPORT_ERRORS)):
        return "transient"
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in (401, 403, 404):
            return "fatal"
        if status == 408 or status == 409 or status == 429 or status >= 500:
            return "transient"
        return "sample"
    return "sample"


def describe_error(exc: BaseException) -> str:
    """One line for logs and reject records: the HTTP status and the server's message."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        message = body.get("message") or body.get("error", {}).get("message") or exc.message
        return f"HTTP {exc.status_code} from {exc.request.url}: {message}"
    if isinstance(exc, openai.APITimeoutError):
        return f"request to {exc.request.url} timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot connect to {exc.request.url}"
    return f"{type(exc).__name__}: {exc}"


def model_name(model: BaseChatModel) -> str:
    """The served model's name, for record metadata."""
    return str(getattr(model, "model_name", None) or type(model).__name__)
