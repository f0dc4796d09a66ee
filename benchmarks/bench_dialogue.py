"""Throughput and client-CPU benchmark of synthloom's dialogue run.

Starts the scripted OpenAI-compatible server (tests/support/openai_server.py) as a
separate process with a fixed latency per chat call and a cap on calls served at once
("slots"), then, in this process:

1. runs synthloom's real path (parse_spec -> open_models -> DatasetRun(...).run()) on
   N dialogues of exactly R rounds (2R calls each: user simulator + assistant);
2. makes the same number of calls with the bare ``openai.AsyncOpenAI`` client, same
   concurrency, half json_schema requests and half plain chat requests of similar size.

It reports:

* efficiency = ideal wall time / measured wall time, ideal = calls x latency / slots;
* client CPU ms per model call (process CPU time of this process, all threads) for
  synthloom and for the bare client, and their ratio.

Usage::

    python benchmarks/bench_dialogue.py --dialogues 256 --rounds 4 --latency 1.0 --slots 64
    python benchmarks/bench_dialogue.py --checkpointer none --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make the repo's packages importable
    sys.path.insert(0, str(REPO))

import openai  # noqa: E402
from rich.console import Console  # noqa: E402

from agents.endpoints import open_models  # noqa: E402
from agents.roles import UserReply  # noqa: E402
from synthloom.core.records import Plan  # noqa: E402
from synthloom.planning import make_plans  # noqa: E402
from synthloom.runner import DatasetRun, RunResult  # noqa: E402
from synthloom.spec import RunSpec, parse_spec  # noqa: E402

_T = TypeVar("_T")
ROLES = ("user_simulator", "assistant")
TOPICS = (
    "Managing type 2 diabetes after diagnosis",
    "Understanding high blood pressure readings",
    "When a fever in a child needs a doctor",
    "Choosing a first mechanical keyboard",
    "Planning a week of vegetarian meals on a budget",
    "Getting started with rock climbing indoors",
    "Repairing a slow bicycle puncture",
    "Learning to read sheet music as an adult",
)
CONDITIONS = {
    "persona": [
        "a newly diagnosed adult who is worried",
        "a parent asking about their child",
        "a curious retiree",
        "a busy student",
    ],
    "style": {"brief and practical": 2, "detailed and curious": 1},
}


# ----------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    """Wall and CPU time of one measured phase."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0


@contextmanager
def measure() -> Iterator[Sample]:
    """Wall clock and this process's CPU time (every thread: the event loop, aiosqlite...)."""
    sample = Sample()
    gc.collect()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = time.process_time()
    w0 = time.perf_counter()
    try:
        yield sample
    finally:
        sample.wall_s = time.perf_counter() - w0
        sample.cpu_s = time.process_time() - c0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        sample.user_s = r1.ru_utime - r0.ru_utime
        sample.sys_s = r1.ru_stime - r0.ru_stime


def proc_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by another process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# ------------------------------------------------------------------------------- server


class ServerProcess:
    """The scripted OpenAI server in its own process (its CPU is not billed to us)."""

    def __init__(self, latency: float, slots: int | None, extra: Sequence[str] = ()) -> None:
        self.latency = latency
        self.slots = slots
        self.extra = list(extra)
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> ServerProcess:
        cmd = [
            sys.executable,
            "-m",
            "tests.support.openai_server",
            "--port",
            "0",
            "--latency",
            str(self.latency),
            *(["--max-concurrency", str(self.slots)] if self.slots else []),
            *self.extra,
        ]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
        line: list[str] = []
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(30.0)
        if not line or not line[0].startswith("LISTENING "):
            self.__exit__()
            raise RuntimeError(f"scripted server did not start (got {line!r})")
        self.base_url = line[0].split(None, 1)[1].strip()
        return self

    def cpu_s(self) -> float | None:
        return proc_cpu_s(self.proc.pid) if self.proc else None

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


# ------------------------------------------------------------------------------ synthloom


def make_spec(
    base_url: str,
    output: Path,
    *,
    samples: int,
    rounds: int,
    concurrency: int | str,
    checkpointer: str,
    max_tokens: int,
) -> RunSpec:
    """A dialogue spec against the scripted server, built through the YAML parser."""
    spec = {
        "task": "dialogue",
        "samples": samples,
        "seed": 1,
        "output": str(output),
        "concurrency": concurrency,
        "checkpointer": checkpointer,
        "topics": list(TOPICS),
        "conditions": CONDITIONS,
        "dialogue": {"rounds": {"min": rounds, "max": rounds}},
        "models": {
            "default": {
                "provider": "openai",
                "base_url": base_url,
                "model": "scripted-model",
                "max_tokens": max_tokens,
            }
        },
    }
    # JSON is valid YAML: this goes through the same parser as a spec file.
    return parse_spec(json.dumps(spec), source="<bench>")


async def run_synthloom(spec: RunSpec) -> tuple[RunResult, Sample]:
    """synthloom's real path: open_models + DatasetRun(...).run(); measures the run only.

    Everything runs in one event loop, as in the CLI: langchain-openai caches one httpx
    client per (base_url, timeout) for the whole process, so a second ``asyncio.run``
    would reuse connections bound to a closed loop ("Event loop is closed").
    """
    quiet = Console(stderr=True, quiet=True)
    with open_models(spec, ROLES) as models:
        with measure() as sample:
            job = DatasetRun(spec, models, console=quiet, show_progress=False)
            result = await job.run()
    return result, sample


@dataclass
class DialogueCheck:
    """What the run's output files say about the dialogues."""

    samples_written: int = 0
    rounds: dict[int, int] = field(default_factory=dict)
    ended_by: dict[str, int] = field(default_factory=dict)
    regenerations: int = 0
    calls_in_samples: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    example_rejects: list[str] = field(default_factory=list)


def inspect_output(path: Path) -> DialogueCheck:
    check = DialogueCheck()
    rounds: Counter[int] = Counter()
    ended: Counter[str] = Counter()
    samples = path / "samples.jsonl"
    if samples.exists():
        for line in samples.read_text(encoding="utf-8").splitlines():
            meta = json.loads(line)["metadata"]
            check.samples_written += 1
            rounds[int(meta["rounds"])] += 1
            ended[str(meta["ended_by"])] += 1
            check.regenerations += int(meta.get("regenerations", 0))
            check.calls_in_samples += int(meta["usage"]["calls"])
    rejects = path / "rejects.jsonl"
    reasons: Counter[str] = Counter()
    if rejects.exists():
        for line in rejects.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            reasons[str(record.get("reason"))] += 1
            if len(check.example_rejects) < 3:
                check.example_rejects.append(json.dumps(record)[:600])
    check.rounds = dict(rounds)
    check.ended_by = dict(ended)
    check.reject_reasons = dict(reasons)
    return check


# ---------------------------------------------------------------------------- bare openai


def _user_preamble(plan: Plan) -> str:
    # About the size of the user simulator prompt synthloom renders (~1.5 kB).
    return (
        "You are role-playing a PERSON who is talking to an AI assistant. You are the human, "
        "never the assistant.\n\n"
        f"Topic of the conversation: {plan.topic}\nWho you are and how you talk:\n"
        + "".join(f"- {k}: {v}\n" for k, v in plan.conditions.items())
        + "\nRules:\n- Write only the person's next message, in the first person, as this "
        "person would type it.\n- Ask questions, describe your situation, react to what the "
        "assistant said, ask follow-ups.\n- Never answer your own question, never give advice, "
        "never act like an assistant.\n- Keep it to one to three sentences.\n- Keep the "
        "conversation going: set end_conversation to false.\n\nReply with a JSON object with "
        'two fields: "message" holds the person\'s next message (what they actually type, '
        'never a description of it), and "end_conversation" is true or false.\n\n'
    )


def _system_prompt(plan: Plan) -> str:
    return (
        "You are a knowledgeable, careful assistant. Answer accurately and concretely, say "
        "when something is uncertain, and keep answers focused on the user's question.\n\n"
        f"The conversation is about: {plan.topic}.\nWhat you know about the person and how "
        "to answer:\n"
        + "".join(f"- {k}: {v}\n" for k, v in plan.conditions.items())
        + "Answer the person's last message directly and helpfully."
    )


async def bare_dialogue(
    client: openai.AsyncOpenAI, plan: Plan, calls: int, max_tokens: int
) -> tuple[int, int]:
    """Alternate json_schema (user) and plain (assistant) calls; returns (calls, bad)."""
    schema = UserReply.model_json_schema()
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "UserReply", "schema": schema},
    }
    preamble = _user_preamble(plan)
    system = _system_prompt(plan)
    turns: list[dict[str, str]] = []
    made = bad = 0
    while made < calls:
        if made % 2 == 0:
            transcript = "".join(
                f"{'PERSON' if t['role'] == 'user' else 'ASSISTANT'}: {t['content']}\n"
                for t in turns
            )
            prompt = preamble + (
                f"The conversation so far:\n{transcript}\nNow write the PERSON's next message."
                if turns
                else "Write the PERSON's first message, opening the conversation."
            )
            completion = await client.chat.completions.create(
                model="scripted-model",
                messages=[{"role": "user", "content": prompt}],
                response_format=response_format,
                max_completion_tokens=max_tokens,
                temperature=0.8,
            )
            data = json.loads(completion.choices[0].message.content or "{}")
            if data.get("end_conversation") is not False:
                bad += 1
            turns.append({"role": "user", "content": str(data.get("message", ""))})
        else:
            completion = await client.chat.completions.create(
                model="scripted-model",
                messages=[{"role": "system", "content": system}, *turns],  # type: ignore[list-item]
                max_completion_tokens=max_tokens,
                temperature=0.8,
            )
            choice = completion.choices[0]
            if choice.finish_reason != "stop":
                bad += 1
            turns.append({"role": "assistant", "content": choice.message.content or ""})
        made += 1
    return made, bad


async def run_bare_async(
    base_url: str, plans: list[Plan], calls: int, per_dialogue: int, concurrency: int, mt: int
) -> tuple[int, int]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=4, timeout=60.0)
    jobs: list[tuple[Plan, int]] = []
    left = calls
    i = 0
    while left > 0:
        n = min(per_dialogue, left)
        jobs.append((plans[i % len(plans)], n))
        left -= n
        i += 1
    pending = iter(jobs)
    totals = [0, 0]

    async def worker() -> None:
        for plan, n in pending:
            made, bad = await bare_dialogue(client, plan, n, mt)
            totals[0] += made
            totals[1] += bad

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(jobs)))))
    finally:
        await client.close()
    return totals[0], totals[1]


async def run_bare(
    base_url: str, plans: list[Plan], calls: int, per_dialogue: int, concurrency: int, mt: int
) -> tuple[int, int, Sample]:
    with measure() as sample:
        made, bad = await run_bare_async(base_url, plans, calls, per_dialogue, concurrency, mt)
    return made, bad, sample


# ----------------------------------------------------------------------------------- main


@dataclass
class Report:
    """Everything the benchmark measured (written with --json)."""

    config: dict[str, Any]
    synthloom: dict[str, Any]
    bare: dict[str, Any] | None
    output_check: dict[str, Any]
    server_cpu_s: dict[str, float | None]
    cpu_ratio: float | None = None
    verdict: dict[str, Any] = field(default_factory=dict)


def _phase(calls: int, sample: Sample, latency: float, slots: int) -> dict[str, Any]:
    ideal = calls * latency / slots
    return {
        "calls": calls,
        "wall_s": round(sample.wall_s, 3),
        "ideal_s": round(ideal, 3),
        "efficiency": round(ideal / sample.wall_s, 4) if sample.wall_s else None,
        "cpu_s": round(sample.cpu_s, 3),
        "user_s": round(sample.user_s, 3),
        "sys_s": round(sample.sys_s, 3),
        "cpu_ms_per_call": round(1000 * sample.cpu_s / calls, 3) if calls else None,
        "cpu_util_cores": round(sample.cpu_s / sample.wall_s, 3) if sample.wall_s else None,
    }


async def _timed_server_cpu(server: ServerProcess, work: Awaitable[_T]) -> tuple[_T, float | None]:
    before = server.cpu_s()
    value = await work
    after = server.cpu_s()
    used = None if before is None or after is None else round(after - before, 3)
    return value, used


async def warm_up(server: ServerProcess, tmp: Path, args: argparse.Namespace) -> None:
    """Import and first-call costs (lazy imports, pydantic schemas) outside the figures."""
    spec = make_spec(
        server.base_url,
        tmp / "warmup",
        samples=2,
        rounds=1,
        concurrency=2,
        checkpointer=args.checkpointer,
        max_tokens=args.max_tokens,
    )
    await run_synthloom(spec)
    await run_bare(server.base_url, _plans(spec), 4, 2, 2, args.max_tokens)


def _plans(spec: RunSpec) -> list[Plan]:
    return list(make_plans(spec))


async def bench(args: argparse.Namespace, tmp: Path) -> Report:
    """Start the server, warm up, run both phases and build the report."""
    concurrency = args.concurrency or args.slots
    load_before = os.getloadavg()[0]
    with ServerProcess(args.latency, args.slots) as server:
        if not args.no_warmup:
            await warm_up(server, tmp, args)
        spec = make_spec(
            server.base_url,
            tmp / "run",
            samples=args.dialogues,
            rounds=args.rounds,
            concurrency=concurrency,
            checkpointer=args.checkpointer,
            max_tokens=args.max_tokens,
        )
        (result, s_sample), s_server = await _timed_server_cpu(server, run_synthloom(spec))
        calls = result.counts.usage.calls
        check = inspect_output(spec.output)
        bare: dict[str, Any] | None = None
        b_server: float | None = None
        if not args.no_bare:
            work = run_bare(
                server.base_url,
                _plans(spec),
                calls,
                2 * args.rounds,
                concurrency,
                args.max_tokens,
            )
            (made, bad, b_sample), b_server = await _timed_server_cpu(server, work)
            bare = _phase(made, b_sample, args.latency, args.slots)
            bare["bad_replies"] = bad

    s_phase = _phase(calls, s_sample, args.latency, args.slots)
    s_phase |= {
        "accepted": result.counts.accepted,
        "rejected": result.counts.rejected,
        "failed": result.counts.failed,
        "pending": result.counts.pending,
        "status": result.status,
        "stopped_because": result.stopped_because,
        "expected_calls": args.dialogues * 2 * args.rounds,
        "prompt_tokens": result.counts.usage.prompt_tokens,
        "completion_tokens": result.counts.usage.completion_tokens,
    }
    report = Report(
        config={
            "dialogues": args.dialogues,
            "rounds": args.rounds,
            "latency_s": args.latency,
            "slots": args.slots,
            "concurrency": concurrency,
            "checkpointer": args.checkpointer,
            "max_tokens": args.max_tokens,
            "warmup": not args.no_warmup,
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            # Other processes on the machine skew wall time (and CPU time a little).
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        },
        synthloom=s_phase,
        bare=bare,
        output_check=asdict(check),
        server_cpu_s={"synthloom": s_server, "bare": b_server},
    )
    if bare and bare["cpu_ms_per_call"]:
        report.cpu_ratio = round(s_phase["cpu_ms_per_call"] / bare["cpu_ms_per_call"], 3)
    report.verdict = {
        "efficiency_ok": (s_phase["efficiency"] or 0) >= 0.9,
        "cpu_ratio_ok": report.cpu_ratio is not None and report.cpu_ratio <= 1.3,
        "all_accepted": result.counts.accepted == args.dialogues,
        "all_ran_full_rounds": check.rounds == {args.rounds: args.dialogues},
        "calls_match_plan": calls == args.dialogues * 2 * args.rounds,
    }
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dialogues", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--latency", type=float, default=1.0, help="server seconds per call")
    parser.add_argument("--slots", type=int, default=64, help="server calls served at once")
    parser.add_argument("--concurrency", type=int, default=None, help="default: --slots")
    parser.add_argument("--checkpointer", choices=("sqlite", "none"), default="sqlite")
    parser.add_argument(
        "--max-tokens", type=int, default=1024, help="spec max_tokens (replies are <= 30 words)"
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-openai phase")
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM unwinds normally, so the server process is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="synthloom-bench-") as tmpdir:
        # One event loop for everything, as the CLI does (see run_synthloom).
        report = asyncio.run(bench(args, Path(tmpdir)))
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    ok = all(report.verdict.values())
    return 0 if ok else 1


def print_report(r: Report) -> None:
    c = r.config
    s = r.synthloom
    print(
        f"\nsynthloom dialogue benchmark: {c['dialogues']} dialogues x {c['rounds']} rounds, "
        f"latency {c['latency_s']} s, {c['slots']} slots, concurrency {c['concurrency']}, "
        f"checkpointer {c['checkpointer']}, python {c['python']}, {c['cpus']} cpus, "
        f"load average {c['loadavg_1m_before']} -> {c['loadavg_1m_after']}"
    )
    print(
        f"dialogues: accepted {s['accepted']}, rejected {s['rejected']}, failed {s['failed']}, "
        f"pending {s['pending']} (status {s['status']}); rounds per sample "
        f"{r.output_check['rounds']}, ended_by {r.output_check['ended_by']}, "
        f"regenerations {r.output_check['regenerations']}"
    )
    if r.output_check["reject_reasons"]:
        print(f"reject reasons: {r.output_check['reject_reasons']}")
        for example in r.output_check["example_rejects"]:
            print(f"  e.g. {example}")
    header = (
        f"{'phase':<10} {'calls':>6} {'wall s':>8} {'ideal s':>8} {'effic.':>7} "
        f"{'CPU s':>7} {'user':>6} {'sys':>6} {'CPU ms/call':>11} {'cores':>6} {'srv CPU s':>9}"
    )
    print(header)
    print("-" * len(header))
    rows: list[tuple[str, dict[str, Any], float | None]] = [
        ("synthloom", s, r.server_cpu_s["synthloom"])
    ]
    if r.bare:
        rows.append(("bare", r.bare, r.server_cpu_s["bare"]))
    for name, p, srv in rows:
        print(
            f"{name:<10} {p['calls']:>6} {p['wall_s']:>8.2f} {p['ideal_s']:>8.2f} "
            f"{p['efficiency']:>7.3f} {p['cpu_s']:>7.2f} {p['user_s']:>6.2f} {p['sys_s']:>6.2f} "
            f"{p['cpu_ms_per_call']:>11.3f} {p['cpu_util_cores']:>6.2f} "
            f"{'-' if srv is None else f'{srv:.2f}':>9}"
        )
    if r.cpu_ratio is not None:
        print(f"CPU/call ratio synthloom / bare = {r.cpu_ratio:.3f}  (aim <= 1.3)")
    print(f"efficiency synthloom = {s['efficiency']:.3f}  (aim >= 0.9)")
    print(f"checks: {r.verdict}")


if __name__ == "__main__":
    sys.exit(main())
