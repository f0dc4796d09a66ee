"""Shared fixtures: the example knowledge, a built copy of it, and a real Chroma server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from knowledge.demos import add_demos
from knowledge.ingest import IngestSummary, ingest
from knowledge.spec import KnowledgeSpec
from knowledge.store import KnowledgeStore

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "clinic-dialogue"
EXAMPLE_KNOWLEDGE = EXAMPLE / "knowledge"
EXAMPLE_DEMOS = EXAMPLE / "demos.jsonl"


def spec_for(path: Path, **settings: Any) -> KnowledgeSpec:
    """A knowledge spec for a folder, with overrides."""
    return KnowledgeSpec(path=path, **settings)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    # Source keys are relative to the working directory: make them stable.
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="session")
def built_kb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestSummary]:
    """The example knowledge and demos ingested once per session (read-only: copy to change)."""
    folder = tmp_path_factory.mktemp("example-kb")
    os.chdir(REPO)
    with KnowledgeStore(spec_for(folder)) as store:
        summary = ingest(store, [EXAMPLE_KNOWLEDGE])
        add_demos(store, EXAMPLE_DEMOS)
    return folder, summary


@pytest.fixture
def example_kb(built_kb: tuple[Path, IngestSummary], tmp_path: Path) -> Path:
    """A private, writable copy of the built example knowledge base."""
    target = tmp_path / "kb"
    shutil.copytree(built_kb[0], target, ignore=shutil.ignore_patterns(".lock*"))
    return target


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real `chroma run` server on loopback, torn down after the test."""
    chroma = Path(sys.executable).parent / "chroma"
    port = free_port()
    log = (tmp_path / "chroma.log").open("w")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1"]
        + ["--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api/v2/heartbeat"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (tmp_path / "chroma.log").read_text()
                raise RuntimeError(f"chroma server did not start:\n{output}")
            time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
