"""Ray scale-out: calls/s with 1 and 2 workers, worker start-up, driver CPU per sample.

    python benchmarks/bench_ray.py                      # 500 dialogues per configuration
    python benchmarks/bench_ray.py --samples 2000 --latency 1.0

The scripted OpenAI-compatible server runs in its own process with room for far more
requests than the run sends (`--slots`, default 1024; `--concurrency` samples in flight),
so the endpoint is not the bottleneck: what limits calls/s is the client CPU of the
processes running the sample graphs. One Ray cluster (started here, as `--ray local`
does) serves every configuration, so cluster start-up is not in the figures; worker
start-up is (each configuration asks for fresh workers).

Measured per configuration (the same dialogues, a fresh run folder each):
- `in_process`: today's single-process run, the reference;
- `ray_1`, `ray_2`: the Ray driver with 1 and 2 worker actors.
Figures: calls/s over the generating wall time (from the workers being ready to the
last outcome; the whole run for `in_process`), worker start-up (asked for → models and
checkpointer open), the driver's own CPU per sample over that time (its process, Ray's
threads included), and the workers' CPU per model call (from /proc). The machine is
shared: absolute figures are noisy, the ratios within one invocation are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.endpoints import open_models  # noqa: E402
from synthloom.execution.config import ExecutionSpec  # noqa: E402
from synthloom.execution.driver import RayDatasetRun, connect  # noqa: E402
from synthloom.runner import DatasetRun  # noqa: E402
from synthloom.spec import RunSpec, parse_spec  # noqa: E402

ROLES = ("user_simulator", "assistant")
ROUNDS = 3
CALLS_PER_SAMPLE = 2 * ROUNDS  # the user simulator and the assistant, once a round


def spec_for(
    base_url: str, output: Path, samples: int, concurrency: int, checkpointer: str = "sqlite"
) -> RunSpec:
    saver = "checkpointer: none\n" if checkpointer == "none" else ""
    text = f"""\
{saver}samples: {samples}
seed: 5
output: {json.dumps(str(output))}
concurrency: {concurrency}
topics: [Sleep hygiene for night-shift nurses, Choosing a first road bicycle,
         Repotting a root-bound houseplant, Learning to bake sourdough]
conditions:
  persona: [a retired schoolteacher, a university student, a parent of two toddlers]
  tone: {{curious and chatty: 2, blunt and skeptical: 1}}
dialogue: {{rounds: {{min: {ROUNDS}, max: {ROUNDS}}}}}
novelty: {{enabled: false}}
models:
  default: {{provider: openai, base_url: {json.dumps(base_url)}, model: scripted-model,
            max_tokens: 120, timeout: 60}}
"""
    return parse_spec(text, source="bench-ray.yaml")


def start_server(latency: float, slots: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.openai_server", "--port", "0",
         "--latency", str(latency), "--max-concurrency", str(slots)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("LISTENING "), line
    return proc, line.split()[1]


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, from /proc (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MeasuredRun(RayDatasetRun):
    """The Ray driver, with its CPU clock read when the workers are ready and at the end."""

    generating_cpu: tuple[float, float] = (0.0, 0.0)
    generating_wall: tuple[float, float] = (0.0, 0.0)

    async def _drive(self, graph: Any, saver: Any, todo: Any, live: Any) -> None:
        await self._start_pool()
        cpu, wall = time.process_time(), time.monotonic()
        await super()._drive(graph, saver, todo, live)
        self.generating_cpu = (cpu, time.process_time())
        self.generating_wall = (wall, time.monotonic())


class WorkerCpu:
    """Samples the CPU time of a job's worker processes until they exit."""

    def __init__(self, job: MeasuredRun) -> None:
        self.job = job
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.wait(0.2):
            pool = self.job.pool
            for pid in list(pool.stats.pids) if pool is not None else []:
                seconds = cpu_seconds(pid)
                if seconds is not None:
                    self.last[pid] = seconds

    def total(self) -> float:
        return sum(self.last.values())


async def one(spec: RunSpec, workers: int | None, server_pid: int) -> dict[str, Any]:
    shutil.rmtree(spec.output, ignore_errors=True)
    if workers is not None:
        spec = spec.model_validate(
            {**spec.model_dump(), "execution": {"ray": "local", "workers": workers}}
        )
    with open_models(spec, ROLES) as models:
        job: DatasetRun
        watch: WorkerCpu | None = None
        if workers is None:
            job = DatasetRun(spec, models, show_progress=False)
        else:
            job = MeasuredRun(spec, models, show_progress=False)
            watch = WorkerCpu(job)
            watch.thread.start()
        cpu0, wall0 = time.process_time(), time.monotonic()
        served0 = cpu_seconds(server_pid) or 0.0
        result = await job.run()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        served = (cpu_seconds(server_pid) or 0.0) - served0
        if watch is not None:
            watch.stop.set()
            watch.thread.join()
    assert result.status == "completed", result
    samples = result.counts.accepted + result.counts.rejected
    calls = samples * CALLS_PER_SAMPLE
    manifest = json.loads((spec.output / "run.json").read_text())
    execution = manifest.get("execution") or {}
    startup = float(execution.get("worker_start_s") or 0.0)
    generating, driver_cpu = wall, cpu
    if isinstance(job, MeasuredRun):
        # The Ray driver's figures cover dealing and recording only, not the set-up.
        generating = job.generating_wall[1] - job.generating_wall[0]
        driver_cpu = job.generating_cpu[1] - job.generating_cpu[0]
    row: dict[str, Any] = {
        "workers": workers or 0,
        "samples": samples,
        "calls": calls,
        "wall_s": round(wall, 2),
        "worker_start_s": round(startup, 2),
        "calls_per_s": round(calls / generating, 1),
        "driver_cpu_ms_per_sample": round(1000 * driver_cpu / samples, 3),
        # The scripted server's own CPU (its process), for the CPU budget of the machine.
        "server_cpu_ms_per_call": round(1000 * served / calls, 2),
    }
    if watch is not None:
        row["worker_cpu_ms_per_call"] = round(1000 * watch.total() / calls, 2)
        row["samples_per_worker"] = execution.get("samples_per_worker")
    else:
        # In-process, the driver *is* the worker: its CPU is the per-call client cost.
        row["cpu_ms_per_call"] = round(1000 * cpu / calls, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=256, help="samples in flight")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per chat call")
    parser.add_argument("--slots", type=int, default=1024, help="the server's requests at once")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument(
        "--checkpointer",
        choices=("sqlite", "none"),
        default="sqlite",
        help="none: the per-call cost of the workers' SQLite checkpoints, by difference",
    )
    parser.add_argument("--only", choices=("ray_1", "ray_2"), help="one configuration")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds idle before each configuration"
    )
    args = parser.parse_args()

    server, base_url = start_server(args.latency, args.slots)
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    rows: dict[str, Any] = {}
    cluster = contextlib.ExitStack()
    try:
        began = time.monotonic()
        # The cluster `--ray local` starts, started once for every configuration.
        cluster.enter_context(connect(ExecutionSpec(ray="local"), 2))
        rows["cluster_start_s"] = round(time.monotonic() - began, 2)
        spec = spec_for(base_url, folder / "run", args.samples, args.concurrency, args.checkpointer)
        configs: list[tuple[str, int | None]] = [("ray_1", 1), ("ray_2", 2)]
        if args.only is not None:
            configs = [c for c in configs if c[0] == args.only]
        elif not args.skip_in_process:
            configs.insert(0, ("in_process", None))
        for name, workers in configs:
            # A cluster between runs has its idle worker processes up (Ray starts new ones
            # after a run's actors exit): start-up is measured from there, as on a live one.
            time.sleep(args.settle)
            rows[name] = asyncio.run(one(spec, workers, server.pid))
            print(name, json.dumps(rows[name]), file=sys.stderr, flush=True)
        if "ray_1" in rows and "ray_2" in rows:
            rows["speedup_2_vs_1"] = round(
                rows["ray_2"]["calls_per_s"] / rows["ray_1"]["calls_per_s"], 2
            )
    finally:
        cluster.close()
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    rows["settings"] = vars(args) | {"cpus": os.cpu_count(), "calls_per_sample": CALLS_PER_SAMPLE}
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
