"""The CLI on broken input: one clear message, exit code 2, nothing created.

Each case is a real CLI subprocess. They are started together once per module (each
pays the same import cost, so running them side by side keeps the folder fast) and
every test checks one case's outcome.
"""

from __future__ import annotations

import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import CLI_PREFIX, spec_yaml

pytestmark = pytest.mark.integration

GOOD_BASE_URL = "http://127.0.0.1:9/v1"  # never contacted: these specs fail validation
# `run` is what users call, but each `run` process pays ~3 s of imports before it reads
# the spec. `validate` reads it through the same `load_spec` and error path, so the cases
# that only check a message's wording use it; `run` covers a YAML error, a type error and
# the unreachable endpoint (nothing created before the endpoint check).
VALIDATE_ONLY = {
    "unknown_field",
    "missing_topics",
    "no_such_file",
    "wrong_type_in_default",
    "long_path",
}


@dataclass
class Case:
    spec_path: Path
    output: Path
    text: str | None  # None: the spec file is not created
    command: str = "run"
    returncode: int = -1
    stderr: str = ""

    @property
    def message(self) -> str:
        """stderr with rich's hard wrapping undone."""
        return " ".join(self.stderr.split())

    def line_of(self, needle: str) -> int:
        """1-based line of the spec text holding `needle`."""
        assert self.text is not None
        for number, line in enumerate(self.text.splitlines(), start=1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} not in spec")


def _replace_line(text: str, startswith: str, new: str) -> str:
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(startswith))
    lines[index] = new
    return "\n".join(lines) + "\n"


def _insert_after(text: str, startswith: str, new: str) -> str:
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(startswith))
    lines.insert(index + 1, new)
    return "\n".join(lines) + "\n"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _texts(root: Path) -> dict[str, tuple[Path, str | None, str]]:
    """Case name -> (folder, spec text or None, base_url)."""
    dead_url = f"http://127.0.0.1:{_closed_port()}/v1"
    cases: dict[str, tuple[Path, str | None, str]] = {}
    for name in (
        "bad_yaml",
        "wrong_type",
        "wrong_type_in_default",
        "unknown_field",
        "missing_topics",
        "unreachable",
        "no_such_file",
        "long_path",
    ):
        folder = root / name
        if name == "long_path":
            folder = root / ("a-rather-long-folder-name-for-a-dataset-project-" * 2) / "specs"
        base_url = dead_url if name == "unreachable" else GOOD_BASE_URL
        good = spec_yaml(base_url, folder / "out", samples=3)
        text: str | None = good
        if name == "bad_yaml":
            text = _replace_line(good, "concurrency:", "concurrency: 2: 3")
        elif name in ("wrong_type", "long_path"):
            text = good + "  assistant:\n    temperature: hot\n"
        elif name == "wrong_type_in_default":
            text = _replace_line(good, "    temperature:", "    temperature: hot")
        elif name == "unknown_field":
            text = _insert_after(good, "  max_reasks:", "  max_turns: 4")
        elif name == "missing_topics":
            lines = good.splitlines()
            start = lines.index("topics:")
            text = "\n".join(lines[:start] + lines[start + 4 :]) + "\n"
            assert "\ntopics:" not in text and "Sleep hygiene" not in text
        elif name == "no_such_file":
            text = None
        cases[name] = (folder, text, base_url)
    return cases


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("cli")
    started: dict[str, tuple[Case, subprocess.Popen[str]]] = {}
    for name, (folder, text, _) in _texts(root).items():
        folder.mkdir(parents=True)
        command = "validate" if name in VALIDATE_ONLY else "run"
        case = Case(folder / "spec.yaml", folder / "out", text, command)
        if text is not None:
            case.spec_path.write_text(text, encoding="utf-8")
        proc = subprocess.Popen(
            [*CLI_PREFIX, case.command, str(case.spec_path)]
            + (["--no-progress"] if command == "run" else []),
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[name] = (case, proc)
    for case, proc in started.values():
        _, case.stderr = proc.communicate(timeout=120)
        case.returncode = proc.returncode
    return {name: case for name, (case, _) in started.items()}


def assert_one_clean_error(case: Case) -> None:
    assert case.returncode == 2, case.stderr
    assert "Traceback" not in case.stderr
    assert case.stderr.lstrip().startswith("error:"), case.stderr
    assert case.stderr.count("error:") == 1, case.stderr
    assert not case.output.exists(), "the output folder was created for a run that never began"
    assert sorted(p.name for p in case.spec_path.parent.iterdir()) == (
        ["spec.yaml"] if case.text is not None else []
    )


def test_bad_yaml_names_file_and_line(cases: dict[str, Case]) -> None:
    case = cases["bad_yaml"]
    assert_one_clean_error(case)
    line = case.line_of("concurrency: 2: 3")
    assert f"{case.spec_path}:{line}: invalid YAML" in case.message


def test_wrong_type_names_file_line_and_field(cases: dict[str, Case]) -> None:
    case = cases["wrong_type"]
    assert_one_clean_error(case)
    assert "1 problem" in case.message
    line = case.line_of("temperature: hot")
    assert f"{case.spec_path}:{line}: models.assistant.temperature:" in case.message
    assert "valid number" in case.message and "'hot'" in case.message


def test_wrong_type_in_default_is_one_problem(cases: dict[str, Case]) -> None:
    case = cases["wrong_type_in_default"]
    assert_one_clean_error(case)
    line = case.line_of("temperature: hot")
    assert f"{case.spec_path}:{line}: models.default.temperature:" in case.message
    assert "1 problem" in case.message
    for role in ("user_simulator", "assistant", "judge"):
        assert f"models.{role}.temperature" not in case.message


def test_unknown_field_names_file_line_and_field(cases: dict[str, Case]) -> None:
    case = cases["unknown_field"]
    assert_one_clean_error(case)
    assert "1 problem" in case.message
    line = case.line_of("max_turns: 4")
    assert f"{case.spec_path}:{line}: dialogue.max_turns: unknown field" in case.message


def test_missing_topics_names_file_and_field(cases: dict[str, Case]) -> None:
    case = cases["missing_topics"]
    assert_one_clean_error(case)
    assert "1 problem" in case.message
    assert re.search(
        rf"{re.escape(str(case.spec_path))}(:\d+)?: topics: required field is missing",
        case.message,
    ), case.message


def test_missing_spec_file_is_one_clear_message(cases: dict[str, Case]) -> None:
    case = cases["no_such_file"]
    assert_one_clean_error(case)
    assert f"{case.spec_path}: spec file not found" in case.message


def test_unreachable_endpoint_names_role_and_url(cases: dict[str, Case]) -> None:
    case = cases["unreachable"]
    assert case.text is not None
    url = re.search(r'base_url: "([^"]+)"', case.text)
    assert url is not None
    assert_one_clean_error(case)
    assert f"models.user_simulator: endpoint {url.group(1)} is unreachable" in case.message
    assert case.message.count("unreachable") == 1


def test_long_spec_path_is_not_split_in_the_message(cases: dict[str, Case]) -> None:
    case = cases["long_path"]
    assert_one_clean_error(case)
    assert len(str(case.spec_path)) > 80
    assert str(case.spec_path) in case.stderr
