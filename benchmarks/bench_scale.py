"""Memory and start-up at scale: `validate` of 10M samples, `run` of 1M, a 200 MB source.

    python benchmarks/bench_scale.py
    python benchmarks/bench_scale.py --validate-samples 10000000 --run-samples 1000000

Each measurement is a fresh `synthloom` process; its peak RSS comes from the kernel
(`wait4`'s `ru_maxrss`), so nothing is sampled and nothing is missed.

- validate: wall time and peak RSS of `synthloom validate` on a spec of N samples.
- run: seconds from process start to the first chat request at a local scripted
  OpenAI-compatible server, and the peak RSS up to then (`VmHWM`); the run then goes
  on for a few seconds and is stopped with SIGTERM, which must drain it (rc 143).
- ingest: `synthloom ingest` of a folder holding one 200 MB text file, which the
  default 50 MB limit skips with its reason: wall time and peak RSS; then again
  with `--max-file-mb 300`, so the file is read and chunked as a stream and its
  chunks written (`ingest_streamed`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.openai_server import ScriptedOpenAIServer  # noqa: E402

CLI = [sys.executable, "-c", "from synthloom.cli import main; main()"]


def spec_text(samples: int, output: Path, base_url: str | None) -> str:
    models = (
        f"models:\n  default: {{provider: openai, base_url: {json.dumps(base_url)}, "
        "model: scripted-model, max_tokens: 100, timeout: 30}\n"
        if base_url
        else ""
    )
    return (
        f"samples: {samples}\noutput: {json.dumps(str(output))}\nconcurrency: 8\n"
        "topics: [Sleep hygiene for night-shift nurses, Choosing a first road bicycle, "
        "Repotting a root-bound houseplant]\n"
        "conditions:\n"
        "  persona: [a retired schoolteacher, a university student, a parent of two toddlers]\n"
        "  tone: {curious and chatty: 2, blunt and skeptical: 1}\n" + models
    )


def finish(proc: subprocess.Popen[Any]) -> tuple[int, float]:
    """Exit status and peak RSS (MB) of a child, from the kernel's own accounting."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


def peak_now(pid: int) -> float:
    """VmHWM (peak RSS so far, MB) of a running process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_validate(folder: Path, samples: int) -> dict[str, Any]:
    spec = folder / "validate.yaml"
    spec.write_text(spec_text(samples, folder / "validate-run", None))
    started = time.monotonic()
    proc = subprocess.Popen([*CLI, "validate", str(spec)], stdout=subprocess.DEVNULL)
    rc, peak = finish(proc)
    return {"samples": samples, "rc": rc, "wall_s": time.monotonic() - started, "peak_mb": peak}


def bench_run(folder: Path, samples: int, after_s: float) -> dict[str, Any]:
    with ScriptedOpenAIServer(latency=0.2) as server:
        spec = folder / "run.yaml"
        spec.write_text(spec_text(samples, folder / "run", server.base_url))
        started = time.monotonic()
        proc = subprocess.Popen(
            [*CLI, "run", str(spec), "--no-progress", "--grace", "2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        while server.requests == 0:
            if proc.poll() is not None:
                raise SystemExit(f"run ended before its first request: {proc.stderr}")
            time.sleep(0.005)
        first_s = time.monotonic() - started
        first_peak = peak_now(proc.pid)
        time.sleep(after_s)
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        rc, peak = finish(proc)
        drain_s = time.monotonic() - stopped
        assert proc.stderr is not None
        last = proc.stderr.read().strip().splitlines()[-1:]
    manifest = json.loads((folder / "run" / "run.json").read_text())
    return {
        "samples": samples,
        "first_request_s": first_s,
        "peak_mb_at_first_request": first_peak,
        "peak_mb": peak,
        "rc_after_sigterm": rc,
        "drain_s": drain_s,
        "counts": manifest["counts"],
        "last_line": last[0] if last else "",
    }


def bench_ingest(folder: Path, megabytes: int, max_file_mb: float | None = None) -> dict[str, Any]:
    sources = folder / "sources"
    if not sources.exists():
        sources.mkdir()
        line = "Water keeps the kidneys working and the blood flowing well.\n"
        with open(sources / "huge.txt", "w", encoding="utf-8") as handle:
            for _ in range(megabytes * 1_000_000 // len(line)):
                handle.write(line)
    limit = [] if max_file_mb is None else ["--max-file-mb", f"{max_file_mb:g}"]
    kb = folder / ("kb" if max_file_mb is None else "kb-streamed")
    started = time.monotonic()
    proc = subprocess.Popen(
        [*CLI, "ingest", str(sources), "--kb", str(kb), *limit],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    rc, peak = finish(proc)
    skipped = [x for x in output.splitlines() if x.startswith("skipped")]
    return {
        "megabytes": megabytes,
        "rc": rc,
        "wall_s": time.monotonic() - started,
        "peak_mb": peak,
        "skipped": skipped,
        "reading": [x for x in output.splitlines() if x.startswith("reading")],
        "last_line": output.strip().splitlines()[-1:] or [""],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validate-samples", type=int, default=10_000_000)
    parser.add_argument("--run-samples", type=int, default=1_000_000)
    parser.add_argument("--run-seconds", type=float, default=5.0)
    parser.add_argument("--ingest-mb", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = {
            "validate": bench_validate(folder, args.validate_samples),
            "run": bench_run(folder, args.run_samples, args.run_seconds),
            "ingest": bench_ingest(folder, args.ingest_mb),
            "ingest_streamed": bench_ingest(folder, args.ingest_mb, max_file_mb=300),
        }
    print(json.dumps(results, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
