"""An endpoint that echoes the API key in its errors: the key is in no file and no output."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from synthloom.core.redact import MASK, redact, redact_bytes, remember_secret
from tests.integration.conftest import cli, read_jsonl, read_manifest, spec_yaml
from tests.support.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

KEY_ENV = "SYNTHLOOM_TEST_API_KEY"


def echo(status: int, key: str, stray: str) -> dict[str, object]:
    """An error body as some proxies send it: the request's credentials copied back."""
    message = f"HTTP {status} for Authorization: Bearer {key} (key {key}); upstream used {stray}"
    return {"error": {"message": message, "type": "echo", "code": status}}


def test_a_key_echoed_by_the_server_is_in_no_file_and_no_output(
    server: ScriptedOpenAIServer, tmp_path: Path
) -> None:
    key = "tok-" + secrets.token_hex(16)  # not credential-shaped: only the key read masks it
    stray = "sk-" + secrets.token_hex(20)  # a key synthloom never read: masked by its shape
    output = tmp_path / "run"
    text = spec_yaml(
        server.base_url, output, samples=4, concurrency=1, rounds=(2, 2), max_retries=0
    )
    text = text.replace(
        "    model: scripted-model\n", f"    model: scripted-model\n    api_key_env: {KEY_ENV}\n"
    )
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(text)
    # Sample 1 fails (HTTP 400: a reject reason), sample 2 stops at its second call
    # (HTTP 500: pending, its checkpoint and error kept), then the key is refused (401).
    server.fail_next(400, body=echo(400, key, stray))
    server.fail_next(500, body=echo(500, key, stray))
    server.fail_next(401, body=echo(401, key, stray))
    server.responder = None

    done = cli(
        "run", str(spec_path), "--no-progress", cwd=tmp_path, env={**os.environ, KEY_ENV: key}
    )

    assert done.returncode == 2, done.stderr
    assert server.pending_faults() == 0, "not every echoing error was met"
    written = {p: p.read_bytes() for p in output.rglob("*") if p.is_file()}
    assert output / "checkpoints.sqlite" in written
    for path, data in written.items():
        assert key.encode() not in data, f"the API key is in {path}"
        assert stray.encode() not in data, f"an sk- key is in {path}"
    for stream in (done.stdout, done.stderr):
        assert key not in stream and stray not in stream
    # The errors themselves are kept, masked.
    (failed,) = read_jsonl(output / "rejects.jsonl")
    assert f"Bearer {MASK} (key {MASK}); upstream used {MASK}" in failed["reason"]
    manifest = read_manifest(output)
    assert MASK in manifest["stopped_because"] and "HTTP 401" in manifest["stopped_because"]
    assert MASK in done.stderr


def test_redaction_masks_keys_read_and_credential_shapes_only() -> None:
    key = remember_secret("k3y-" + secrets.token_hex(8))
    assert redact(f"x {key} y") == f"x {MASK} y"
    assert redact("Authorization: Bearer abcdefghijklmnop0123") == f"Authorization: Bearer {MASK}"
    assert redact("use sk-proj-ABCDEFGHIJ0123456789 here") == f"use {MASK} here"
    # Ordinary prose is left alone: short words after "bearer", a bare "sk-".
    prose = "Bearer tokens are short-lived; the sk- prefix marks a key."
    assert redact(prose) == prose
    data = f"\xa5{key}\x00Bearer abcdefghijklmnop0123".encode()
    masked = redact_bytes(data)
    assert len(masked) == len(data) and key.encode() not in masked
    assert masked.endswith(b"Bearer " + b"*" * 20)
