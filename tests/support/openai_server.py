"""A real, scriptable OpenAI-compatible HTTP server for integration tests and benchmarks.

Tests need to exercise the actual HTTP path (langchain-openai -> openai -> httpx -> socket)
without a GPU or network access, and they need to script failures (5xx, 429 with
``Retry-After``, hangs, malformed JSON) at precise points. This module serves
``/v1/models`` and non-streaming ``/v1/chat/completions`` on loopback with aiohttp, produces
deterministic replies (plain text, ``json_schema`` structured output, or tool calls), and
records what clients sent.

In-process use::

    with ScriptedOpenAIServer(latency=0.05) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
        server.fail_next(429, retry_after=0.1)
        ...

Out-of-process use (benchmarks, so server CPU is not billed to the client)::

    python -m tests.support.openai_server --port 0 --latency 1.0 --max-concurrency 64
    # prints exactly one line: LISTENING http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import json
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from tests.support.repeats import RepeatMemory
from tests.support.replay import Replay, Reply

__all__ = [
    "DEFAULT_MODEL",
    "REQUEST_LOG_LIMIT",
    "Responder",
    "ScriptedOpenAIServer",
    "ServerStats",
    "count_words",
    "schema_instance",
]

DEFAULT_MODEL = "scripted-model"
REQUEST_LOG_LIMIT = 10_000

Responder = Callable[[dict[str, Any]], "str | Reply | None"]
"""Given the parsed request body, return the reply content (or a ``Reply`` with its
finish_reason), or ``None`` for the default."""

_JSON_HEADERS = {"Content-Type": "application/json"}
_MAX_SCHEMA_DEPTH = 8

_VOCABULARY: tuple[str, ...] = (
    "amber", "anchor", "atlas", "autumn", "beacon", "birch", "breeze", "bridge", "canyon",
    "cedar", "chart", "cinder", "cobalt", "comet", "copper", "coral", "crystal", "delta",
    "drift", "ember", "falcon", "fern", "field", "fjord", "flint", "forest", "garnet",
    "glacier", "granite", "harbor", "hazel", "horizon", "indigo", "island", "ivory", "jade",
    "juniper", "kernel", "lagoon", "lantern", "lattice", "ledger", "linen", "maple",
    "marble", "meadow", "meridian", "mesa", "mirror", "moss", "nebula", "north", "oasis",
    "ochre", "orbit", "orchid", "pebble", "prairie", "prism", "quarry", "quartz", "quiet",
    "raven", "reef", "ridge", "river", "saffron", "sage", "signal", "silver", "slate",
    "spruce", "summit", "tandem", "thistle", "tide", "timber", "topaz", "tundra", "umber",
    "valley", "velvet", "vessel", "willow", "winter", "yarrow", "zenith", "carries",
    "follows", "gathers", "holds", "keeps", "maps", "measures", "mends", "notes", "shapes",
    "shelters", "tends", "weaves", "quickly", "slowly", "gently", "boldly", "calmly",
)  # fmt: skip

_ERROR_TYPES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "model_not_found"),
    408: ("timeout_error", "timeout"),
    409: ("conflict_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "overloaded"),
    504: ("server_error", "gateway_timeout"),
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Fault:
    """One scripted misbehaviour, consumed by exactly one chat request."""

    kind: Literal["fail", "hang", "malformed"]
    status: int = 500
    retry_after: float | None = None
    body: dict[str, Any] | None = None
    seconds: float = 0.0
    content: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class ServerStats:
    """A consistent point-in-time copy of the server's counters, safe to keep and compare.

    Attributes:
        requests: Chat-completion requests received (including faulted and rejected ones).
        status_counts: HTTP status -> how many chat responses were sent with it.
        in_flight: Chat calls currently holding a concurrency slot.
        max_in_flight: Highest ``in_flight`` seen since start or the last ``reset_stats()``.
        request_log: Parsed JSON bodies of chat requests, oldest first (last 10,000 kept).
    """

    requests: int
    status_counts: dict[int, int]
    in_flight: int
    max_in_flight: int
    request_log: list[dict[str, Any]]


# --------------------------------------------------------------------------- reply synthesis


def _text_of(content: Any) -> str:
    """Flatten OpenAI message content (a string or a list of parts) to plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return " ".join(parts)
    return ""


def count_words(messages: Any) -> int:
    """Rough token count of a conversation: whitespace-split words of every message.

    Tool-call arguments count too, so agent loops see usage grow as they would for real.
    """
    if not isinstance(messages, list):
        return 0
    total = 0
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        total += len(_text_of(message.get("content")).split())
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
                total += len(str(call["function"].get("arguments", "")).split())
    return total


def _digest(*parts: str) -> int:
    """Stable 64-bit hash so replies are reproducible across runs and processes."""
    hasher = hashlib.blake2b(digest_size=8)
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\x00")
    return int.from_bytes(hasher.digest(), "big")


def _words(seed: int, count: int) -> list[str]:
    """Pick ``count`` vocabulary words deterministically from ``seed``."""
    rng = random.Random(seed)
    return rng.choices(_VOCABULARY, k=count)


def _sentence(seed: int, low: int, high: int) -> str:
    """A capitalised sentence of ``low``..``high`` words derived from ``seed``."""
    rng = random.Random(seed)
    words = rng.choices(_VOCABULARY, k=rng.randint(low, high))
    return " ".join(words).capitalize() + "."


def _resolve_ref(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    """Follow a local JSON pointer such as ``#/$defs/Item`` inside ``root``."""
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref values are supported, got {ref!r}")
    node: Any = root
    for raw in ref[1:].split("/"):
        if not raw:
            continue
        key = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {ref!r} does not point at a schema object")
    return node


class _SchemaFiller:
    """Builds one JSON instance for a schema; holds the root so ``$ref`` can be resolved."""

    __slots__ = ("_root", "_seed", "_turn_words")

    def __init__(self, root: Mapping[str, Any], seed: int, turn_words: int) -> None:
        self._root = root
        self._seed = seed
        self._turn_words = turn_words

    def fill(self, schema: Any, path: str, depth: int) -> Any:
        """Return an instance of ``schema``; ``path`` salts strings so properties differ."""
        if not isinstance(schema, Mapping):  # `true` / `{}`-like schemas accept anything
            return self._string(path, {})
        if "$ref" in schema:
            target = _resolve_ref(self._root, str(schema["$ref"]))
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.fill(merged, path, depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            merged = dict(schema)
            del merged["allOf"]
            for sub in schema["allOf"]:
                if isinstance(sub, Mapping) and "$ref" in sub:
                    sub = _resolve_ref(self._root, str(sub["$ref"]))
                if isinstance(sub, Mapping):
                    props = {**merged.get("properties", {}), **sub.get("properties", {})}
                    merged = {**sub, **merged, "properties": props}
            return self.fill(merged, path, depth + 1)
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self.fill(self._pick_option(options, depth), path, depth + 1)
        if "default" in schema and depth > _MAX_SCHEMA_DEPTH:
            return schema["default"]

        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [t for t in kind if t != "null"]
            if depth > _MAX_SCHEMA_DEPTH and "null" in kind:
                return None
            kind = non_null[0] if non_null else "null"
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            else:
                kind = "string"

        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth)
        if kind == "string":
            return self._string(path, schema)
        if kind == "integer":
            return int(self._clamp(schema, 1))
        if kind == "number":
            return self._clamp(schema, 0.5)
        if kind == "boolean":
            return False
        return None

    def _pick_option(self, options: list[Any], depth: int) -> Any:
        """Prefer the first concrete option; fall back to ``null`` when nesting gets deep."""
        nulls = [o for o in options if isinstance(o, Mapping) and o.get("type") == "null"]
        concrete = [o for o in options if o not in nulls]
        if depth > _MAX_SCHEMA_DEPTH and nulls:
            return nulls[0]
        return concrete[0] if concrete else options[0]

    def _object(self, schema: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        required = schema.get("required")
        names = list(properties)
        if depth > _MAX_SCHEMA_DEPTH and isinstance(required, list):
            names = [n for n in names if n in required]  # stop recursive schemas growing
        return {name: self.fill(properties[name], f"{path}/{name}", depth + 1) for name in names}

    def _array(self, schema: Mapping[str, Any], path: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [self.fill(s, f"{path}/{i}", depth + 1) for i, s in enumerate(prefix)]
        min_items = int(schema.get("minItems", 0))
        max_items = schema.get("maxItems")
        count = min_items if depth > _MAX_SCHEMA_DEPTH else max(1, min_items)
        if isinstance(max_items, int):
            count = min(count, max_items)
        items = schema.get("items", {})
        return [self.fill(items, f"{path}/{i}", depth + 1) for i in range(count)]

    def _string(self, path: str, schema: Mapping[str, Any]) -> str:
        seed = _digest(str(self._seed), path)
        fmt = schema.get("format")
        if fmt == "date-time":
            text = "2024-01-01T00:00:00Z"
        elif fmt == "date":
            text = "2024-01-01"
        elif fmt == "time":
            text = "12:00:00"
        elif fmt == "email":
            text = f"user{seed % 10_000}@example.com"
        elif fmt in ("uri", "url"):
            text = f"https://example.com/{_words(seed, 1)[0]}"
        elif fmt == "uuid":
            text = str(uuid.UUID(int=seed << 64 | seed))
        else:
            words = _words(seed, 3 + seed % 4)
            text = f"{' '.join(words).capitalize()}, noted after {self._turn_words} words."
        min_len = schema.get("minLength")
        max_len = schema.get("maxLength")
        if isinstance(min_len, int) and len(text) < min_len:
            text = text + "." * (min_len - len(text))
        if isinstance(max_len, int) and len(text) > max_len:
            text = text[:max_len]
        return text

    @staticmethod
    def _clamp(schema: Mapping[str, Any], value: float) -> float:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if isinstance(low, int | float) and value < low:
            value = low + (1 if "exclusiveMinimum" in schema else 0)
        if isinstance(high, int | float) and value > high:
            value = high - (1 if "exclusiveMaximum" in schema else 0)
        return value


def schema_instance(schema: Mapping[str, Any], *, seed: int = 0, turn_words: int = 0) -> Any:
    """Return a deterministic JSON value valid for ``schema`` (the server's default filler).

    Exposed so tests can predict what the server will answer for a given schema.
    """
    return _SchemaFiller(schema, seed, turn_words).fill(schema, "", 0)


def _error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI-style error envelope, which the openai client turns into typed exceptions."""
    err_type, code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", str(status))
    )
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


# --------------------------------------------------------------------------------- the server


class ScriptedOpenAIServer:
    """Scriptable OpenAI-compatible server on loopback, run in a background thread or CLI.

    All public methods are thread-safe: tests call them from the main thread while the
    server's event loop runs in its own thread.

    Attributes:
        responder: Optional hook ``(request_json) -> content | None`` that scripts exact
            replies; ``None`` (or returning ``None``) uses the deterministic default.
        model: Model id reported by ``/v1/models`` and used when a request names none.
        latency: Seconds each chat call takes (while holding a concurrency slot).
        max_concurrency: Chat calls served at once; excess calls queue. ``None``: no cap.
        knee: Knee mode: above this many calls in flight each call takes ``latency`` times
            (in flight / knee), as a self-hosted server that queues instead of refusing.
        throttle_above: 429 mode: a call arriving with this many already in flight gets a
            429 with ``Retry-After: throttle_retry_after``, as a provider's rate limit.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        max_concurrency: int | None = None,
        model: str = DEFAULT_MODEL,
        responder: Responder | None = None,
        shutdown_timeout: float = 2.0,
        repeat_share: float = 0.0,
        knee: int | None = None,
        throttle_above: int | None = None,
        throttle_retry_after: float = 1.0,
    ) -> None:
        if latency < 0:
            raise ValueError("latency must be >= 0")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1 or None")
        self.host = host
        self.latency = latency
        self.max_concurrency = max_concurrency
        self.knee = knee
        self.throttle_above = throttle_above
        self.throttle_retry_after = throttle_retry_after
        self.model = model
        self.responder: Responder | None = responder
        # Repeat mode (tests/support/repeats.py): a share of conversations played again.
        self.repeats = RepeatMemory(repeat_share) if repeat_share else None
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout

        self._lock = threading.Lock()
        self._faults: collections.deque[_Fault] = collections.deque()
        self._requests = 0
        self._status_counts: dict[int, int] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        # time.monotonic() (system-wide on Linux) of the first and last chat request.
        self._first_request_at: float | None = None
        self._last_request_at: float | None = None
        self._request_log: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=REQUEST_LOG_LIMIT
        )

        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        """The bound TCP port (known once started)."""
        if self._port is None:
            raise RuntimeError("server is not started")
        return self._port

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI ``base_url``, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    # ------------------------------------------------------------------ fault scripting

    def fail_next(
        self,
        status: int,
        count: int = 1,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``count`` chat requests with ``status`` and an OpenAI error body.

        Args:
            status: HTTP status to send (200..599).
            count: How many consecutive chat requests get this answer.
            retry_after: If given, sent as the ``Retry-After`` header (seconds).
            body: JSON body to send verbatim instead of the default error envelope.
        """
        if not 200 <= status <= 599:
            raise ValueError("status must be within 200..599")
        fault = _Fault("fail", status=status, retry_after=retry_after, body=body)
        self._push(fault, count)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        """Stall the next ``count`` chat requests ``seconds`` before answering normally."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self._push(_Fault("hang", seconds=seconds), count)

    def malformed_next(self, count: int = 1, content: str = '{"message": "unterminated') -> None:
        """Return a well-formed 200 completion whose content is ``content`` (broken JSON)."""
        self._push(_Fault("malformed", content=content), count)

    def pending_faults(self) -> int:
        """How many scripted faults are still waiting for a request."""
        with self._lock:
            return len(self._faults)

    def clear_faults(self) -> None:
        """Drop every scripted fault not yet consumed."""
        with self._lock:
            self._faults.clear()

    def _push(self, fault: _Fault, count: int) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            self._faults.extend([fault] * count)

    # ------------------------------------------------------------------ stats

    @property
    def stats(self) -> ServerStats:
        """A consistent snapshot of all counters (copies; later requests do not change it)."""
        with self._lock:
            return ServerStats(
                requests=self._requests,
                status_counts=dict(self._status_counts),
                in_flight=self._in_flight,
                max_in_flight=self._max_in_flight,
                request_log=list(self._request_log),
            )

    @property
    def requests(self) -> int:
        """Chat requests received so far."""
        with self._lock:
            return self._requests

    @property
    def status_counts(self) -> dict[int, int]:
        """Copy of HTTP status -> count of chat responses."""
        with self._lock:
            return dict(self._status_counts)

    @property
    def max_in_flight(self) -> int:
        """Most chat calls served at the same time."""
        with self._lock:
            return self._max_in_flight

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """Copy of the parsed chat request bodies, oldest first (last 10,000 kept)."""
        with self._lock:
            return list(self._request_log)

    def reset_stats(self) -> None:
        """Zero counters and the request log (calls in flight stay counted as in flight)."""
        with self._lock:
            self._requests = 0
            self._status_counts.clear()
            self._max_in_flight = self._in_flight
            self._request_log.clear()
            self._first_request_at = self._last_request_at = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> Self:
        """Bind the port and serve from a daemon thread; return once it is listening."""
        if self._thread is not None:
            return self
        sock = self._bind()
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(
            target=self._thread_main, args=(sock,), name="scripted-openai-server", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("scripted OpenAI server did not start in time")
        if self._startup_error is not None:
            self._thread.join(timeout)
            self._thread = None
            raise RuntimeError("scripted OpenAI server failed to start") from self._startup_error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; hanging requests are woken and dropped, so this never blocks long."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(
        self, *, on_ready: Callable[[str], None] | None = None, use_uvloop: bool = True
    ) -> None:
        """Serve on the calling (main) thread until SIGINT/SIGTERM; used by the CLI.

        Args:
            on_ready: Called with ``base_url`` once the socket is listening.
            use_uvloop: Use uvloop when importable, for lower per-request overhead.
        """
        sock = self._bind()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            ready = asyncio.Event()
            serving = asyncio.ensure_future(self._serve(sock, ready.set))
            waiting = asyncio.ensure_future(ready.wait())
            await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if serving.done():  # failed during startup: surface the error
                waiting.cancel()
                serving.result()
                return
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._request_stop)
            if on_ready is not None:
                on_ready(self.base_url)
            await serving

        if use_uvloop:
            try:
                import uvloop
            except ImportError:
                pass
            else:
                uvloop.run(main())
                return
        asyncio.run(main())

    def _request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
        except BaseException:
            sock.close()
            raise
        self._port = int(sock.getsockname()[1])
        return sock

    def _thread_main(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._serve(sock, self._ready.set))
        except BaseException as exc:  # surfaced to start() instead of dying silently
            self._startup_error = exc
            self._ready.set()

    async def _serve(self, sock: socket.socket, on_ready: Callable[[], None]) -> None:
        """Run the app on ``sock`` until ``_stopping`` is set, then shut down promptly."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._semaphore = asyncio.Semaphore(self.max_concurrency) if self.max_concurrency else None
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self._handle_models)
        app.router.add_post("/v1/chat/completions", self._handle_chat)
        # For out-of-process users (benchmarks): the counters as JSON, and their reset.
        app.router.add_get("/_stats", self._handle_stats)
        app.router.add_post("/_stats/reset", self._handle_stats_reset)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=self._shutdown_timeout
        )
        await runner.setup()
        try:
            await web.SockSite(runner, sock, backlog=1024).start()
            on_ready()
            await self._stopping.wait()
        finally:
            await runner.cleanup()
            sock.close()

    # ------------------------------------------------------------------ handlers

    async def _handle_models(self, request: web.Request) -> web.Response:
        body = {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "tests"}],
        }
        return web.json_response(body)

    async def _handle_stats(self, request: web.Request) -> web.Response:
        with self._lock:
            body = {
                "requests": self._requests,
                "status_counts": {str(k): v for k, v in self._status_counts.items()},
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "first_request_at": self._first_request_at,
                "last_request_at": self._last_request_at,
            }
        return web.json_response(body)

    async def _handle_stats_reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return web.json_response({"ok": True})

    def _finish(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> web.Response:
        with self._lock:
            self._status_counts[status] = self._status_counts.get(status, 0) + 1
        all_headers = {**_JSON_HEADERS, **headers} if headers else _JSON_HEADERS
        return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)

    async def _handle_chat(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        now = time.monotonic()
        with self._lock:
            self._requests += 1
            if self._first_request_at is None:
                self._first_request_at = now
            self._last_request_at = now
            if isinstance(payload, dict):
                self._request_log.append(payload)
            fault = self._faults.popleft() if self._faults and isinstance(payload, dict) else None
        if not isinstance(payload, dict):
            return self._finish(400, _error_body(400, "request body must be a JSON object"))

        malformed: str | None = None
        if fault is not None:
            if fault.kind == "fail":
                headers: dict[str, str] = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                body = fault.body
                if body is None:
                    body = _error_body(fault.status, f"scripted failure (HTTP {fault.status})")
                return self._finish(fault.status, body, headers)
            if fault.kind == "hang":
                stopping = self._stopping
                assert stopping is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), fault.seconds)
                if stopping.is_set():
                    return self._finish(503, _error_body(503, "server shutting down"))
            else:
                malformed = fault.content

        if payload.get("stream"):
            return self._finish(400, _error_body(400, "streaming is not supported by this server"))
        if not isinstance(payload.get("messages"), list):
            return self._finish(400, _error_body(400, "'messages' must be a list"))

        if self.throttle_above is not None and self._in_flight >= self.throttle_above:
            headers = {"Retry-After": f"{self.throttle_retry_after:g}"}
            body = _error_body(429, f"more than {self.throttle_above} requests in flight")
            return self._finish(429, body, headers)
        if self._semaphore is None:
            return await self._serve_chat(payload, malformed)
        async with self._semaphore:
            return await self._serve_chat(payload, malformed)

    async def _serve_chat(self, payload: dict[str, Any], malformed: str | None) -> web.Response:
        with self._lock:
            self._in_flight += 1
            if self._in_flight > self._max_in_flight:
                self._max_in_flight = self._in_flight
        try:
            if self.latency > 0:
                load = self._in_flight / self.knee if self.knee else 1.0
                await asyncio.sleep(self.latency * max(1.0, load))
            try:
                completion = self._completion(payload, malformed)
            except Exception as exc:  # a broken responder should fail loudly, not hang
                message = f"scripted server error: {type(exc).__name__}: {exc}"
                return self._finish(500, _error_body(500, message))
            return self._finish(200, completion)
        finally:
            with self._lock:
                self._in_flight -= 1

    # ------------------------------------------------------------------ completions

    def _completion(self, payload: dict[str, Any], malformed: str | None) -> dict[str, Any]:
        """Build a full ``chat.completion`` object for ``payload``."""
        messages: list[Any] = payload["messages"]
        prompt_tokens = count_words(messages)
        content: str | None = malformed
        tool_calls: list[dict[str, Any]] | None = None
        finish_reason = "stop"

        responder = self.responder
        if content is None and responder is not None:
            answer = responder(payload)
            if isinstance(answer, Reply):
                content, finish_reason = answer.content, answer.finish_reason
            else:
                content = answer
        if content is None:
            seed = _digest(json.dumps(messages, sort_keys=True, default=str))
            tool = self._tool_to_call(payload)
            response_format = payload.get("response_format")
            if tool is not None:
                name = str(tool.get("name", "tool"))
                params = tool.get("parameters") or {"type": "object", "properties": {}}
                args = _SchemaFiller(params, _digest(str(seed), name), prompt_tokens)
                arguments = json.dumps(args.fill(params, name, 0))
                tool_calls = [
                    {
                        "id": f"call_{_digest(str(seed), name, 'id'):016x}",
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                ]
                finish_reason = "tool_calls"
            elif isinstance(response_format, Mapping) and response_format.get("type") in (
                "json_schema",
                "json_object",
            ):
                content = json.dumps(self._structured(response_format, seed, prompt_tokens))
            else:
                content = _sentence(seed, 12, 30)
                limit = payload.get("max_completion_tokens") or payload.get("max_tokens")
                words = content.split()
                if isinstance(limit, int) and 0 < limit < len(words):
                    content = " ".join(words[:limit])
                    finish_reason = "length"

        if self.repeats is not None and tool_calls is None and content is not None:
            content = self.repeats.serve(payload, content)
        if tool_calls is not None:
            completion_tokens = sum(len(c["function"]["arguments"].split()) for c in tool_calls)
        else:
            completion_tokens = len((content or "").split())
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls is not None:
            message["tool_calls"] = tool_calls
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model") or self.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    @staticmethod
    def _structured(response_format: Mapping[str, Any], seed: int, turn_words: int) -> Any:
        """Fill the requested JSON schema (or a tiny object for plain ``json_object``)."""
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if response_format.get("type") == "json_object" or not isinstance(schema, Mapping):
            return {"response": _sentence(seed, 12, 30)}
        return _SchemaFiller(schema, seed, turn_words).fill(schema, "", 0)

    @staticmethod
    def _tool_to_call(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Choose which function to call, mimicking how a cooperative model uses tools.

        A named ``tool_choice`` or ``"required"`` always calls; ``"none"`` never does;
        ``"auto"`` calls the first tool unless the last message is a tool result, so that
        agent loops (call -> result -> answer) terminate.
        """
        tools = payload.get("tools")
        if not isinstance(tools, list) or not tools:
            return None
        functions: list[Mapping[str, Any]] = [
            t["function"]
            for t in tools
            if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
        ]
        if not functions:
            return None
        choice = payload.get("tool_choice", "auto")
        if choice == "none":
            return None
        if isinstance(choice, Mapping):
            wanted = (choice.get("function") or {}).get("name")
            for fn in functions:
                if fn.get("name") == wanted:
                    return fn
            return functions[0]
        if choice == "auto":
            messages = payload.get("messages") or []
            last = messages[-1] if messages else None
            if isinstance(last, Mapping) and last.get("role") == "tool":
                return None
        return functions[0]


# ------------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> None:
    """Serve in the foreground for benchmarks run in a separate process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat call")
    parser.add_argument("--max-concurrency", type=int, default=None)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--knee", type=int, default=None, help="latency grows above N in flight")
    parser.add_argument("--throttle-above", type=int, default=None, help="429 above N in flight")
    parser.add_argument("--throttle-retry-after", type=float, default=1.0)
    parser.add_argument("--no-uvloop", action="store_true", help="use the default event loop")
    parser.add_argument(
        "--repeat-share", type=float, default=0.0, help="share of conversations played again"
    )
    parser.add_argument(
        "--replay", default=None, help="answer dialogue calls from this messages JSONL (.gz)"
    )
    args = parser.parse_args(argv)
    server = ScriptedOpenAIServer(
        host=args.host,
        port=args.port,
        latency=args.latency,
        max_concurrency=args.max_concurrency,
        model=args.model,
        repeat_share=args.repeat_share,
        knee=args.knee,
        throttle_above=args.throttle_above,
        throttle_retry_after=args.throttle_retry_after,
        responder=Replay.from_file(args.replay) if args.replay else None,
    )

    def announce(base_url: str) -> None:
        print(f"LISTENING {base_url}", flush=True)

    server.serve_forever(on_ready=announce, use_uvloop=not args.no_uvloop)


if __name__ == "__main__":
    main()
