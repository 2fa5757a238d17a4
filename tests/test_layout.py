"""The layout's promises (docs/architecture.md): modules under 500 lines, no import cycle,
nothing below the CLI imports it, the CLI names no task, ``import iga`` loads no task, and
every path the architecture document names exists."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "iga"
TASKS = ("image", "occupancy", "nerf", "function1d", "function")


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("iga"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("iga"))
    return found


def test_no_module_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*SRC.rglob("*.py"), *(ROOT / "probes").glob("*.py")]
        if (n := len(p.read_text().splitlines())) > 500 and p.parent.name != "probes"
    }
    assert not long


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {
        m: sorted(i for i in _imports(p, True) if i in modules and i != m)
        for m, p in modules.items()
    }
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, m, n]))
            if n not in state:
                visit(n, [*path, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_nothing_below_the_cli_imports_it() -> None:
    importers = [
        m
        for m, p in _modules().items()
        if not m.startswith("iga.cli") and any(i.startswith("iga.cli") for i in _imports(p, False))
    ]
    assert not importers


def test_the_cli_names_no_task() -> None:
    for path in (SRC / "cli").glob("*.py"):
        text = path.read_text()
        for task in TASKS:
            assert not re.search(
                rf"[\"'`]{task}[\"'`]|\bfit {task}\b|iga\.tasks\.{task}\b", text
            ), f"{path.name} names the {task} task"


def test_import_iga_loads_no_task_and_no_cli() -> None:
    code = (
        "import sys, iga; "
        "print(sorted(m for m in sys.modules if m.startswith(('iga.tasks.', 'iga.cli'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_path_the_architecture_document_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    paths = set(re.findall(r"`((?:src|tests|docs|probes|results|examples)/[\w./-]+)`", text))
    assert len(paths) >= 20
    missing = sorted(p for p in paths if not (ROOT / p.rstrip("/")).exists())
    assert not missing
