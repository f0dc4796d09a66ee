"""How long a run takes to give up on an endpoint whose every request hangs.

    python benchmarks/bench_give_up.py                 # the starter spec: timeout 60 s, 4 retries
    python benchmarks/bench_give_up.py --timeout 6     # the same shape, ten times faster

`synthloom run` (concurrency 8, as in `synthloom init`'s spec) against the scripted
server with every chat request hung; stderr is a pipe, so the run prints a status
line every 30 s. Reported: seconds until the process exits, its exit status, the
status lines it printed and its last line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.openai_server import ScriptedOpenAIServer  # noqa: E402

CLI = [sys.executable, "-c", "from synthloom.cli import main; main()"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--retries", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAIServer() as server:
        server.hang_next(seconds=24 * 3600, count=100_000)
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(
            f"samples: 100\noutput: {json.dumps(str(Path(tmp) / 'run'))}\n"
            f"concurrency: {args.concurrency}\ntopics: [Sleep, Bicycles]\n"
            f"models:\n  default: {{provider: openai, base_url: {json.dumps(server.base_url)}, "
            f"model: scripted-model, timeout: {args.timeout}, max_retries: {args.retries}}}\n"
        )
        started = time.monotonic()
        done = subprocess.run(
            [*CLI, "run", str(spec)], capture_output=True, text=True, timeout=3600, check=False
        )
        wall = time.monotonic() - started
        requests = server.requests
    lines = done.stderr.strip().splitlines()
    print(  # noqa: T201
        json.dumps(
            {
                "timeout_s": args.timeout,
                "retries": args.retries,
                "concurrency": args.concurrency,
                "gave_up_after_s": round(wall, 1),
                "rc": done.returncode,
                "requests": requests,
                "status_lines": [x for x in lines if x.startswith("status: ")],
                "last_line": lines[-1] if lines else "",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
