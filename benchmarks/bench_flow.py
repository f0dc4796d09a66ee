"""`concurrency: auto` against three scripted servers, and `budget.max_cost` at 64.

Each scenario runs synthloom's real path (parse_spec -> open_models -> DatasetRun)
against the scripted server in its own process, with `concurrency: auto` and no other
tuning, and reads what the endpoint's flow chose (sampled every 0.5 s):

- `slots`: 1 s latency, 64 slots (requests above 64 queue): efficiency vs the ideal
  `calls x latency / 64` (aim >= 0.9); `slots-fixed` is the same with `concurrency: 64`,
  the hand-tuned reference measured in the same run (on a loaded machine the client's
  CPU caps both: compare the two);
- `knee`: latency x (in flight / 24) above 24 in flight, no cap: the level after the
  first 30 s (aim: settles between 20 and 32);
- `throttle`: 429 with Retry-After 1 s above 16 in flight: the share of 429s among the
  requests after the first 30 s (aim < 5%);
- `budget`: concurrency 64, `budget.max_cost` at about half the run: spend vs the limit
  (aim: overshoot <= 5%).

Usage::

    .venv/bin/python benchmarks/bench_flow.py                 # all four (about 4 min)
    .venv/bin/python benchmarks/bench_flow.py --only knee throttle
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for extra in (REPO, REPO / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench_dialogue import ServerProcess, make_spec  # noqa: E402
from rich.console import Console  # noqa: E402

from agents.endpoints import open_models  # noqa: E402
from agents.flow import EndpointFlow  # noqa: E402
from synthloom.runner import DatasetRun  # noqa: E402
from synthloom.spec import RunSpec, parse_spec  # noqa: E402

ROLES = ("user_simulator", "assistant")
PRICE = {"input_per_1m": 1.0, "cached_input_per_1m": 0.5, "output_per_1m": 4.0}


@dataclass
class Trace:
    """The flow's level and counters, sampled while the run works."""

    points: list[tuple[float, int, int, int]] = field(default_factory=list)
    """(seconds since start, level, calls, 429/503 answers)."""

    def after(self, t0: float) -> list[tuple[float, int, int, int]]:
        return [p for p in self.points if p[0] >= t0]


async def _sample(flow: EndpointFlow, trace: Trace, start: float) -> None:
    while True:
        trace.points.append((time.monotonic() - start, flow.limit, flow.calls, flow.throttled))
        await asyncio.sleep(0.5)


async def run_auto(spec: RunSpec) -> tuple[Any, Trace, float, dict[str, Any]]:
    """One run with the flow sampled; (result, trace, wall s, run.json)."""
    quiet = Console(stderr=True, quiet=True)
    trace = Trace()
    with open_models(spec, ROLES) as models:
        job = DatasetRun(spec, models, console=quiet, show_progress=False)
        (flow,) = job.traffic.flows.values()
        start = time.monotonic()
        sampler = asyncio.create_task(_sample(flow, trace, start))
        try:
            result = await job.run()
        finally:
            sampler.cancel()
        wall = time.monotonic() - start
    manifest = json.loads((Path(spec.output) / "run.json").read_text())
    return result, trace, wall, manifest


def _spec(base_url: str, out: Path, dialogues: int, rounds: int, **extra: Any) -> RunSpec:
    base = make_spec(
        base_url,
        out,
        samples=dialogues,
        rounds=rounds,
        concurrency="auto",
        checkpointer="sqlite",
        max_tokens=1024,
    )
    data = base.model_dump(mode="json") | extra
    return parse_spec(json.dumps(data), source="<bench>")


async def scenario(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    latency = 1.0
    if name in ("slots", "slots-fixed"):
        server_args: tuple[int | None, list[str]] = (64, [])
        dialogues = args.dialogues
    elif name == "knee":
        server_args = (None, ["--knee", "24"])
        dialogues = args.dialogues // 2
    elif name == "throttle":
        server_args = (None, ["--throttle-above", "16", "--throttle-retry-after", "1"])
        dialogues = args.dialogues // 2
    else:
        server_args = (64, [])
        dialogues = args.dialogues
    slots, extra = server_args
    with ServerProcess(latency, slots, extra) as server:
        out = tmp / name
        more: dict[str, Any] = {}
        if name == "slots-fixed":
            more = {"concurrency": 64}
        if name == "budget":
            more = {
                "concurrency": 64,
                "pricing": {"models": {"scripted-model": PRICE}},
                "budget": {"max_cost": args.max_cost},
            }
        spec = _spec(server.base_url, out, dialogues, args.rounds, **more)
        result, trace, wall, manifest = await run_auto(spec)
    calls = result.counts.usage.calls
    row: dict[str, Any] = {
        "scenario": name,
        "calls": calls,
        "wall_s": round(wall, 1),
        "status": result.status,
        "concurrency": manifest["concurrency"],
    }
    late = trace.after(30.0)
    levels = [p[1] for p in late] or [p[1] for p in trace.points]
    row["level_after_30s"] = {
        "median": statistics.median(levels),
        "min": min(levels),
        "max": max(levels),
    }
    if name in ("slots", "slots-fixed"):
        ideal = calls * latency / 64
        row["ideal_s"] = round(ideal, 1)
        row["efficiency"] = round(ideal / wall, 3)
        row["ok"] = row["efficiency"] >= 0.9
    elif name == "knee":
        row["ok"] = 20 <= row["level_after_30s"]["median"] <= 32
    elif name == "throttle":
        first = trace.after(30.0)[0] if trace.after(30.0) else trace.points[0]
        last = trace.points[-1]
        sent, throttled = last[2] - first[2], last[3] - first[3]
        row["after_30s"] = {"requests": sent, "429": throttled}
        row["share_429_after_30s"] = round(throttled / max(1, sent), 4)
        row["ok"] = row["share_429_after_30s"] < 0.05
    else:
        spent = manifest["cost"]["spent"]
        row["spent"] = spent
        row["max_cost"] = args.max_cost
        row["overshoot"] = round(spent / args.max_cost - 1.0, 4)
        finished = result.counts.accepted + result.counts.rejected + result.counts.failed
        row["finished"] = finished
        row["ok"] = spent <= args.max_cost * 1.05
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dialogues", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--max-cost", type=float, default=0.25, help="the budget scenario's budget.max_cost"
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=["slots", "slots-fixed", "knee", "throttle", "budget"],
        help="scenarios",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            row = asyncio.run(scenario(name, args, Path(tmp)))
            rows.append(row)
            print(json.dumps(row), flush=True)  # noqa: T201
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
