"""Secrets never reach disk or the console: one redaction for every text that could.

Masked: each API key the process read from an `api_key_env` variable (they are
registered as they are read), and anything shaped like a credential whatever its
origin — `Bearer <token>` and OpenAI-style `sk-...` keys — because servers and proxies
echo request headers into their error bodies, which become reasons, manifests and log
lines. The keys read are process-wide by nature (one environment), hence the registry.
"""

from __future__ import annotations

import re
import sys
from typing import IO, Any

MASK = "[redacted]"
_MIN_SECRET = 6  # shorter values ("x", "none") are placeholders, and masking them would maul text
_SHAPES = re.compile(
    r"(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9._~+/=-]{16,}"
    r"|\bsk-[A-Za-z0-9_-]{16,}"
)
_SHAPES_BYTES = re.compile(_SHAPES.pattern.encode())
_known: set[str] = set()


def remember_secret(value: str) -> str:
    """Register a secret read from the environment; returns it, for use in line."""
    if len(value) >= _MIN_SECRET:
        _known.add(value)
    return value


def _keep_prefix(match: re.Match[str]) -> str:
    return f"{match.group('bearer')}{MASK}" if match.group("bearer") else MASK


def redact(text: str) -> str:
    """`text` with every known secret and credential-shaped token replaced by `[redacted]`."""
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return _SHAPES.sub(_keep_prefix, text)


def _stars(match: re.Match[bytes]) -> bytes:
    bearer = match.group("bearer") or b""
    return bearer + b"*" * (len(match.group(0)) - len(bearer))


def redact_bytes(data: bytes) -> bytes:
    """Same-length masking of serialized data (length-prefixed formats stay valid)."""
    for secret in _known:
        raw = secret.encode()
        if raw in data:
            data = data.replace(raw, b"*" * len(raw))
    # Every checkpoint write passes here: a substring test is far cheaper than the scan.
    if b"sk-" not in data and b"earer" not in data:
        return data
    return _SHAPES_BYTES.sub(_stars, data)


class RedactingStream:
    """A text stream that redacts what is written to the one it wraps (stdout, stderr)."""

    def __init__(self, inner: IO[str]) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        """Write `text` redacted."""
        return self._inner.write(redact(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RedactingSerializer:
    """A LangGraph checkpoint serializer that masks secrets in what it writes.

    Checkpoints hold a failed step's error (often an echo of the server's error body)
    as well as the dialogue so far; masking is same-length, so msgpack stays readable.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize with the wrapped serializer, then mask."""
        kind, data = self._inner.dumps_typed(obj)
        return kind, redact_bytes(data)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Deserialize unchanged."""
        return self._inner.loads_typed(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def redact_standard_streams() -> None:
    """Route `sys.stdout` and `sys.stderr` through `redact` (the CLI, from its start)."""
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)
