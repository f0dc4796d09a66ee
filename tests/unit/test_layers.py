"""The floor plan holds: imports point down the layers, and no modules import each other.

core ← prompts ← knowledge, agents ← graphs ← the application. A graph that
imports the run spec, or a role that imports a graph, fails here with the
file and the import named, whether the import is at the top or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("synthloom", "graphs", "agents", "knowledge", "prompts")
# Lower number = lower floor. knowledge and agents share a floor but never import each other.
FLOORS = {"core": 0, "prompts": 1, "knowledge": 2, "agents": 2, "graphs": 3, "application": 4}


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _area(module: str) -> str | None:
    """Which floor a project module stands on; None for third-party modules."""
    top = module.split(".")[0]
    if module == "synthloom" or module.startswith("synthloom.core"):
        return "core"  # the bare package holds only __version__
    if top == "synthloom":
        return "application"
    return top if top in FLOORS else None


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) for every absolute import in a file."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in top_level))
    return found


def _project_files() -> list[Path]:
    return sorted(f for pkg in PACKAGES for f in (ROOT / pkg).rglob("*.py"))


def upward_imports(files: list[Path], root: Path = ROOT) -> list[str]:
    """`file:line: area imports area (module)` for every import that points up or sideways."""
    wrong = []
    for path in files:
        mine = _area(_module_name(path, root))
        assert mine is not None
        for module, line, _ in _imports(path):
            theirs = _area(module)
            if theirs is None or theirs == mine:
                continue
            if FLOORS[theirs] >= FLOORS[mine]:
                where = path.relative_to(root)
                wrong.append(f"{where}:{line}: {mine} imports {theirs} ({module})")
    return wrong


def import_cycles(files: list[Path], root: Path = ROOT) -> list[list[str]]:
    """Cycles among project modules through module-level imports."""
    names = {_module_name(f, root) for f in files}
    graph: nx.DiGraph[str] = nx.DiGraph()
    for path in files:
        me = _module_name(path, root)
        for module, _, top in _imports(path):
            target = next((m for m in (module, module.rsplit(".", 1)[0]) if m in names), None)
            if top and target is not None and target != me and not me.startswith(target + "."):
                graph.add_edge(me, target)
    return [sorted(cycle) for cycle in nx.simple_cycles(graph)]


def test_no_import_points_up() -> None:
    assert upward_imports(_project_files()) == []


def test_no_modules_import_each_other() -> None:
    assert import_cycles(_project_files()) == []


def test_core_imports_nothing_above_it() -> None:
    core = [f for f in _project_files() if _module_name(f).startswith("synthloom.core")]
    assert core, "synthloom/core is where the shared records live"
    for path in core:
        for module, line, _ in _imports(path):
            assert _area(module) in (None, "core"), f"{path}:{line} imports {module}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from synthloom.spec import RunSpec\n", "agents imports application"),
        ("import graphs.dialogue\n", "agents imports graphs"),
        ("def f():\n    from knowledge.store import open_store\n", "agents imports knowledge"),
    ],
)
def test_the_walk_sees_an_upward_import(tmp_path: Path, source: str, expected: str) -> None:
    # The walk must catch a bad import, top-level or lazy, or the tests above prove nothing.
    fake = tmp_path / "agents" / "probe.py"
    fake.parent.mkdir()
    fake.write_text(source, "utf-8")
    assert any(expected in line for line in upward_imports([fake], root=tmp_path))


def test_the_walk_sees_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "synthloom").mkdir()
    first = tmp_path / "synthloom" / "a.py"
    second = tmp_path / "synthloom" / "b.py"
    first.write_text("import synthloom.b\n", "utf-8")
    second.write_text("from synthloom.a import x\n\ndef f():\n    import synthloom.b\n", "utf-8")
    assert import_cycles([first, second], root=tmp_path) == [["synthloom.a", "synthloom.b"]]
