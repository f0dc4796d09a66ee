"""SIGTERM and SIGINT: a run drains, anything else stops at once, a second signal exits.

`docker stop`, Kubernetes, systemd and Slurm pre-emption send SIGTERM; a person sends
SIGINT with Ctrl-C. Both mean the same here. While a run is going (inside `draining`),
the first signal is handed to the run on its event loop: no new sample starts, the ones
in flight get a short grace period and are then cancelled (pending, checkpoints kept).
Outside a run the first signal raises `Interrupted`, which the CLI reports in one line.
A second signal calls the run's last words (the manifest) and exits at once.

The handler is process-wide by nature (there is one set of signal dispositions), so the
state it routes to is module-level; `install` is called by the CLI only, never by tests
or library users, who keep Python's own behaviour.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal number (143 for SIGTERM, 130 for SIGINT)."""
    return 128 + signum


def signal_name(signum: int) -> str:
    """`SIGTERM`, `SIGINT`, ..."""
    return signal.Signals(signum).name


class Interrupted(BaseException):  # noqa: N818 - it is a stop, not an error
    """A signal outside a run: unwinds like KeyboardInterrupt, but typer lets it through."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


@dataclass
class _Route:
    loop: asyncio.AbstractEventLoop | None = None
    drain: Callable[[int], None] | None = None
    last_words: Callable[[int], None] | None = None
    received: int | None = None


_route = _Route()


def install() -> None:
    """Route SIGTERM and SIGINT through `_handle` for the rest of the process."""
    for sig in SIGNALS:
        signal.signal(sig, _handle)


def received() -> int | None:
    """The first signal this process got, if any (the CLI's exit code follows it)."""
    return _route.received


def _handle(signum: int, frame: FrameType | None) -> None:
    if _route.received is not None:
        # A second signal: the user means now. Say so, leave the manifest right, go.
        if _route.last_words is not None:
            with suppress(Exception):
                _route.last_words(signum)
        with suppress(Exception):
            sys.stderr.write(
                f"{signal_name(signum)} again: exiting now; samples in flight stay pending\n"
            )
            sys.stderr.flush()
        os._exit(exit_code(_route.received))
    _route.received = signum
    if _route.loop is not None and _route.drain is not None:
        _route.loop.call_soon_threadsafe(_route.drain, signum)
        return
    raise Interrupted(signum)


@contextmanager
def draining(
    drain: Callable[[int], None], last_words: Callable[[int], None] | None = None
) -> Iterator[None]:
    """Inside, a first signal calls `drain(signum)` on the running loop instead of raising.

    `last_words(signum)` runs on a second signal, just before the process exits.
    """
    loop = asyncio.get_running_loop()
    saved = (_route.loop, _route.drain, _route.last_words)
    _route.loop, _route.drain, _route.last_words = loop, drain, last_words
    try:
        if _route.received is not None:
            # A signal came while the run was starting: drain straight away.
            loop.call_soon(drain, _route.received)
        yield
    finally:
        _route.loop, _route.drain, _route.last_words = saved
