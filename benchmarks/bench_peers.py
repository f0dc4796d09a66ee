"""synthloom's CLI beside the bare SDK and peer frameworks, one workload, one run.

Starts the scripted OpenAI-compatible server (tests/support/openai_server.py) in its own
process, then runs each contender as a **separate process**, start-up included:

* ``bare``: the plain ``openai.AsyncOpenAI`` client (benchmarks/peers/run_bare.py);
* ``synthloom``: the real CLI, ``synthloom run SPEC --output DIR --no-progress``;
* ``curator``, ``distilabel``, ``camel``, ``data-designer``: each framework's own way of
  doing the dialogues (benchmarks/peers/run_<name>.py), each installed by this script into
  its own venv under ``.bench/venvs/<name>`` at a pinned version (never a project
  dependency).

The workload: N dialogues x R rounds; a round is a user-simulator call (``json_schema``
response format, the UserReply schema) then an assistant call (system prompt plus the
history), so 2R calls per dialogue, C dialogues at once. The figures come from outside
the contender: client CPU from the kernel (``os.wait4`` of the child: user + sys of it
and of the children it reaped), wall time from spawn to exit, chat calls and the first
request's arrival as counted by the server (``GET /_stats``).

Usage::

    .venv/bin/python benchmarks/bench_peers.py                       # all six, 256 x 4
    .venv/bin/python benchmarks/bench_peers.py --only bare,synthloom,curator --repeats 3
    .venv/bin/python benchmarks/bench_peers.py --json /tmp/peers.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for extra in (REPO, REPO / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench_dialogue import (  # noqa: E402
    CONDITIONS,
    TOPICS,
    ServerProcess,
    _system_prompt,
    _user_preamble,
)

from agents.roles import UserReply  # noqa: E402
from synthloom.planning import make_plans  # noqa: E402
from synthloom.spec import parse_spec  # noqa: E402

PEERS_DIR = REPO / "benchmarks" / "peers"
VENVS = REPO / ".bench" / "venvs"
# tiktoken downloads its encodings on first use, and nothing but the scripted server is
# reachable: the files come from the litellm wheel (which ships cl100k_base, o200k_base
# and p50k_base under litellm_core_utils/tokenizers), fetched from the package index.
TIKTOKEN_DIR = REPO / ".bench" / "tiktoken"
TIKTOKEN_WHEEL = "litellm==1.83.7"
TIKTOKEN_FILES = {
    "9b5ad71b2ce5302211f9c61530b329a4922fc6a4": "cl100k_base",
    "fb374d419588a4632f3f557e76b4b70aebbca790": "o200k_base",
    "ec7223a39ce59f226a68acc30dc1af2788490e15": "p50k_base",
}
MODEL = "scripted-model"


@dataclass(frozen=True)
class Contender:
    """One row of the table: how to install it and how to run it."""

    name: str
    requirements: tuple[str, ...] = ()
    """pip requirements installed into .bench/venvs/<name>; none: the project's venv."""
    distribution: str | None = None
    """The distribution whose version the row shows."""

    @property
    def python(self) -> Path:
        if not self.requirements:
            return Path(sys.executable)
        return VENVS / self.name / "bin" / "python"


CONTENDERS = {
    c.name: c
    for c in (
        Contender("bare", distribution="openai"),
        Contender("synthloom", distribution="synthloom"),
        Contender("curator", ("bespokelabs-curator==0.1.31",), "bespokelabs-curator"),
        # distilabel 1.5.3 imports requests at import time without depending on it.
        Contender("distilabel", ("distilabel[openai]==1.5.3", "requests"), "distilabel"),
        # camel-ai 0.2.90 imports mcp.server.FastMCP, which mcp 2 removed; it pins no bound.
        Contender("camel", ("camel-ai==0.2.90", "mcp<2"), "camel-ai"),
        Contender("data-designer", ("data-designer==0.9.7",), "data-designer"),
    )
}

# Nothing but the scripted server is reachable, and nothing should be tried: no telemetry,
# no hub look-ups. HOME (and so every ~/.cache) is a fresh folder for each run, so no
# framework can answer from a cache filled by an earlier run.
QUIET_ENV = {
    "OPENAI_API_KEY": "bench",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONUNBUFFERED": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
}


# ---------------------------------------------------------------------------- installs


def ensure_venv(c: Contender, log: Path) -> str | None:
    """Create .bench/venvs/<name> with the pinned requirement; None if ready, else why not."""
    if not c.requirements:
        return None
    venv = VENVS / c.name
    marker = venv / ".installed"
    wanted = " ".join(c.requirements)
    if marker.exists() and marker.read_text().strip() == wanted and c.python.exists():
        return None
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"installing {wanted} into {venv.relative_to(REPO)} ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(c.python), "-m", "pip", "install", "--quiet", *c.requirements],
    ]
    with log.open("ab") as out:
        for step in steps:
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                return f"install failed ({' '.join(step[3:])}): {' '.join(tail)[:200]}"
    marker.write_text(wanted + "\n")
    return None


def ensure_tiktoken(log: Path) -> str | None:
    """Stage tiktoken's encoding files in .bench/tiktoken; None if there, else why not."""
    if all((TIKTOKEN_DIR / name).exists() for name in TIKTOKEN_FILES):
        return None
    wheels = REPO / ".bench" / "wheels"
    step = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    step += ["--only-binary", ":all:", "--dest", str(wheels), TIKTOKEN_WHEEL]
    with log.open("ab") as out:
        done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False)
    found = sorted(wheels.glob("litellm-*.whl"))
    if done.returncode != 0 or not found:
        return f"pip download {TIKTOKEN_WHEEL} failed (tiktoken encodings)"
    TIKTOKEN_DIR.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[-1]) as wheel:
        for name in TIKTOKEN_FILES:
            member = f"litellm/litellm_core_utils/tokenizers/{name}"
            (TIKTOKEN_DIR / name).write_bytes(wheel.read(member))
    return None


def version_of(c: Contender) -> str:
    if c.distribution is None:
        return "-"
    if not c.requirements:
        try:
            return metadata.version(c.distribution)
        except metadata.PackageNotFoundError:
            return "?"
    code = f"import importlib.metadata as m; print(m.version({c.distribution!r}))"
    done = subprocess.run([str(c.python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or "?"


# ---------------------------------------------------------------------------- workload


def spec_body(args: argparse.Namespace, base_url: str, output: Path) -> dict[str, Any]:
    concurrency: int | str = args.synthloom_concurrency or "auto"
    return {
        "task": "dialogue",
        "samples": args.dialogues,
        "seed": 1,
        "output": str(output),
        "concurrency": concurrency,
        "topics": list(TOPICS),
        "conditions": CONDITIONS,
        "dialogue": {"rounds": {"min": args.rounds, "max": args.rounds}},
        "models": {
            "default": {
                "provider": "openai",
                "base_url": base_url,
                "model": MODEL,
                "max_tokens": args.max_tokens,
            }
        },
    }


def write_workload(args: argparse.Namespace, base_url: str, path: Path) -> None:
    """The peers' workload: synthloom's plans (topics x conditions) with the same prompts."""
    spec = parse_spec(json.dumps(spec_body(args, base_url, path.parent)), source="<bench>")
    dialogues = [
        {
            "id": plan.id,
            "topic": plan.topic,
            "conditions": dict(plan.conditions),
            "user_preamble": _user_preamble(plan),
            "system_prompt": _system_prompt(plan),
        }
        for plan in make_plans(spec)
    ]
    body = {
        "base_url": base_url,
        "api_key": "bench",
        "model": MODEL,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "max_tokens": args.max_tokens,
        "temperature": 0.8,
        "user_schema": UserReply.model_json_schema(),
        "dialogues": dialogues,
    }
    path.write_text(json.dumps(body, indent=1), encoding="utf-8")


def command_for(
    c: Contender, args: argparse.Namespace, base_url: str, workload: Path, work: Path
) -> list[str]:
    if c.name == "synthloom":
        spec = work / "spec.yaml"
        out = work / "run"
        # JSON is valid YAML.
        spec.write_text(json.dumps(spec_body(args, base_url, out), indent=1), encoding="utf-8")
        cli = Path(sys.executable).with_name("synthloom")
        return [str(cli), "run", str(spec), "--output", str(out), "--no-progress"]
    return [str(c.python), str(PEERS_DIR / f"run_{c.name.replace('-', '_')}.py"), str(workload)]


# ------------------------------------------------------------------------------ server


def server_root(base_url: str) -> str:
    return base_url.removesuffix("/").removesuffix("/v1")


def server_stats(base_url: str, reset: bool = False) -> dict[str, Any]:
    root = server_root(base_url)
    if reset:
        request = urllib.request.Request(f"{root}/_stats/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    with urllib.request.urlopen(f"{root}/_stats", timeout=10) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


# ---------------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One contender's measured run (one repeat)."""

    calls: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    startup_s: float | None = None
    user_s: float = 0.0
    sys_s: float = 0.0
    max_rss_mb: float = 0.0
    exit_code: int | None = None
    max_in_flight: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])[:300]


def synthloom_outcome(out: Path) -> dict[str, Any]:
    """Dialogues finished (accepted or rejected by synthloom's gates) and why rejected."""
    lines: dict[str, list[str]] = {}
    for kind in ("samples", "rejects"):
        path = out / f"{kind}.jsonl"
        lines[kind] = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    reasons: dict[str, int] = {}
    for line in lines["rejects"]:
        record = json.loads(line)
        code = str(record.get("reason_code") or record.get("reason"))
        reasons[code] = reasons.get(code, 0) + 1
    accepted, rejected = len(lines["samples"]), len(lines["rejects"])
    return {
        "dialogues": accepted + rejected,
        "accepted": accepted,
        "rejected": rejected,
        "reject_reasons": reasons,
        "turns": None,
        "bad": None,
    }


def run_one(
    c: Contender,
    args: argparse.Namespace,
    base_url: str,
    workload: Path,
    work: Path,
    logs: Path,
    tag: str,
) -> Run:
    work.mkdir(parents=True)
    home = work / "home"
    home.mkdir()
    env = {**os.environ, **QUIET_ENV, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env["TIKTOKEN_CACHE_DIR"] = str(TIKTOKEN_DIR)
    env.pop("VIRTUAL_ENV", None)
    cmd = command_for(c, args, base_url, workload, work)
    stdout_path = logs / f"{tag}.stdout"
    stderr_path = logs / f"{tag}.stderr"
    server_stats(base_url, reset=True)
    run = Run()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdout=out, stderr=err, start_new_session=True
        )
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(args.timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        run.wall_s = time.monotonic() - t0
    # Stray grandchildren (a framework's worker processes) must not outlive the run.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    time.sleep(0.2)
    stats = server_stats(base_url)
    run.exit_code = proc.returncode
    run.user_s = usage.ru_utime
    run.sys_s = usage.ru_stime
    run.max_rss_mb = usage.ru_maxrss / 1024
    run.calls = int(stats["requests"])
    run.status_counts = stats["status_counts"]
    run.max_in_flight = int(stats["max_in_flight"])
    if stats["first_request_at"] is not None:
        run.startup_s = float(stats["first_request_at"]) - t0
    for line in reversed(stdout_path.read_text(errors="replace").splitlines()):
        if line.startswith("RESULT "):
            run.result = json.loads(line[len("RESULT ") :])
            break
    expected = args.dialogues * 2 * args.rounds
    if c.name == "synthloom":
        run.result = synthloom_outcome(work / "run")
    turns = (run.result or {}).get("turns")
    if killed.is_set():
        run.error = f"killed after {args.timeout:g} s ({run.calls} calls)"
    elif run.exit_code != 0:
        run.error = f"exit {run.exit_code}: {_tail(stderr_path) or _tail(stdout_path)}"
    elif run.calls < expected:
        run.error = f"made {run.calls} of {expected} calls"
    elif run.result is None:
        run.error = "no RESULT line on stdout"
    elif run.result["dialogues"] != args.dialogues:
        run.error = f"returned {run.result['dialogues']} of {args.dialogues} dialogues"
    elif turns is not None and turns != expected:
        run.error = f"returned {turns} of {expected} turns"
    return run


# ------------------------------------------------------------------------------- report


@dataclass
class Row:
    """A contender's figures: medians over the repeats that succeeded."""

    name: str
    version: str = "-"
    runs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    calls: int | None = None
    wall_s: float | None = None
    ideal_s: float | None = None
    efficiency: float | None = None
    startup_s: float | None = None
    cpu_s: float | None = None
    user_s: float | None = None
    sys_s: float | None = None
    cpu_ms_per_call: float | None = None
    x_bare: float | None = None
    max_rss_mb: float | None = None
    max_in_flight: int | None = None
    note: str = ""


def summarise(row: Row, runs: list[Run], args: argparse.Namespace) -> None:
    row.runs = [asdict(r) | {"cpu_s": r.cpu_s} for r in runs]
    bad = [r for r in runs if r.error]
    if bad or not runs:
        row.error = bad[0].error if bad else row.error or "not run"
        return

    def med(values: list[float]) -> float:
        return float(statistics.median(values))

    row.calls = int(med([r.calls for r in runs]))
    row.wall_s = round(med([r.wall_s for r in runs]), 2)
    row.ideal_s = round(row.calls * args.latency / args.slots, 2)
    row.efficiency = round(med([row.ideal_s / r.wall_s for r in runs]), 3)
    starts = [r.startup_s for r in runs if r.startup_s is not None]
    row.startup_s = round(med(starts), 2) if starts else None
    row.cpu_s = round(med([r.cpu_s for r in runs]), 2)
    row.user_s = round(med([r.user_s for r in runs]), 2)
    row.sys_s = round(med([r.sys_s for r in runs]), 2)
    row.cpu_ms_per_call = round(med([1000 * r.cpu_s / r.calls for r in runs]), 2)
    row.max_rss_mb = round(med([r.max_rss_mb for r in runs]), 1)
    row.max_in_flight = max(r.max_in_flight for r in runs)
    notes: list[str] = []
    expected = args.dialogues * 2 * args.rounds
    if row.calls != expected:
        notes.append(f"{row.calls - expected:+d} calls beyond the workload's {expected}")
    last = runs[-1].result or {}
    if last.get("accepted") is not None:
        notes.append(f"accepted {last['accepted']}, rejected {last['rejected']}")
        if last.get("reject_reasons"):
            notes.append(f"reject reasons {last['reject_reasons']}")
    if last.get("bad"):
        notes.append(f"{last['bad']} malformed or unexpected replies")
    notes.append(f"max in flight {row.max_in_flight}")
    row.note = "; ".join(notes)


def print_table(rows: list[Row], config: dict[str, Any]) -> None:
    c = config
    print(
        f"\npeer benchmark: {c['dialogues']} dialogues x {c['rounds']} rounds = "
        f"{c['expected_calls']} calls, latency {c['latency_s']} s, {c['slots']} slots, "
        f"peer concurrency {c['concurrency']}, synthloom concurrency "
        f"{c['synthloom_concurrency']}, repeats {c['repeats']}, python {c['python']}, "
        f"{c['cpus']} cpus, load average {c['loadavg_1m_before']} -> {c['loadavg_1m_after']}, "
        f"synthloom at {c['synthloom_tree']}, {c['date_utc']}"
    )
    header = (
        f"{'contender':<14} {'version':<10} {'calls':>6} {'wall s':>7} {'ideal s':>7} "
        f"{'effic.':>6} {'start s':>7} {'CPU s':>7} {'ms/call':>7} {'x bare':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if r.error:
            print(f"{r.name:<14} {r.version:<10} not measured: {r.error}")
            continue
        start = "-" if r.startup_s is None else f"{r.startup_s:.2f}"
        ratio = "-" if r.x_bare is None else f"{r.x_bare:.2f}"
        print(
            f"{r.name:<14} {r.version:<10} {r.calls:>6} {r.wall_s:>7.2f} {r.ideal_s:>7.2f} "
            f"{r.efficiency:>6.3f} {start:>7} {r.cpu_s:>7.2f} {r.cpu_ms_per_call:>7.2f} "
            f"{ratio:>6}"
        )
    for r in rows:
        if r.note:
            print(f"  {r.name}: {r.note}")


# ---------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help=f"comma-separated contenders (default: all of {','.join(CONTENDERS)})",
    )
    parser.add_argument("--dialogues", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--latency", type=float, default=1.0, help="server seconds per call")
    parser.add_argument("--slots", type=int, default=64, help="server calls served at once")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="dialogues at once (bare and peers)"
    )
    parser.add_argument(
        "--synthloom-concurrency",
        type=int,
        default=None,
        help="a fixed `concurrency` for synthloom (default: its own `auto`)",
    )
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=1, help="runs per contender (median)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds one contender's run may take"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep each run's folder and logs here"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contender(s) {unknown}; known: {list(CONTENDERS)}")
    args.names = names
    return args


def tree_state() -> str:
    """The commit synthloom's row ran from, with +dirty when tracked files were changed."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "?"
    return (head or "?") + ("+dirty" if dirty else "")


def bench(args: argparse.Namespace, tmp: Path) -> tuple[list[Row], dict[str, Any]]:
    logs = tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows = {n: Row(n) for n in args.names}
    ready: list[Contender] = []
    no_tiktoken = ensure_tiktoken(logs / "install-tiktoken.log")
    for name in args.names:
        c = CONTENDERS[name]
        why = ensure_venv(c, logs / f"install-{name}.log")
        if not why and c.requirements and no_tiktoken:
            why = no_tiktoken
        if why:
            rows[name].error = why
            continue
        rows[name].version = version_of(c)
        ready.append(c)
    runs: dict[str, list[Run]] = {c.name: [] for c in ready}
    tree = tree_state()
    load_before = os.getloadavg()[0]
    with ServerProcess(args.latency, args.slots) as server:
        workload = tmp / "workload.json"
        write_workload(args, server.base_url, workload)
        for k in range(args.repeats):  # round robin: drift on the machine hits every row
            for c in ready:
                tag = f"{c.name}-{k}"
                run = run_one(c, args, server.base_url, workload, tmp / tag, logs, tag)
                runs[c.name].append(run)
                status = run.error or f"{run.calls} calls"
                print(
                    f"  {tag:<16} wall {run.wall_s:7.2f} s  CPU {run.cpu_s:7.2f} s  "
                    f"start {run.startup_s if run.startup_s is None else round(run.startup_s, 2)}"
                    f" s  {status}",
                    flush=True,
                )
    load_after = os.getloadavg()[0]
    for c in ready:
        summarise(rows[c.name], runs[c.name], args)
    bare = rows.get("bare")
    for row in rows.values():
        if bare and bare.cpu_ms_per_call and row.cpu_ms_per_call is not None:
            row.x_bare = round(row.cpu_ms_per_call / bare.cpu_ms_per_call, 2)
    config = {
        "dialogues": args.dialogues,
        "rounds": args.rounds,
        "expected_calls": args.dialogues * 2 * args.rounds,
        "latency_s": args.latency,
        "slots": args.slots,
        "concurrency": args.concurrency,
        "synthloom_concurrency": args.synthloom_concurrency or "auto",
        "max_tokens": args.max_tokens,
        "repeats": args.repeats,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "synthloom_tree": tree,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_1m_before": round(load_before, 2),
        "loadavg_1m_after": round(load_after, 2),
    }
    return list(rows.values()), config


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="synthloom-peers-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            rows, config = bench(args, tmp)
        finally:
            if args.keep:
                shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
    print_table(rows, config)
    if args.json:
        body = {"config": config, "rows": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0 if all(r.error is None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
