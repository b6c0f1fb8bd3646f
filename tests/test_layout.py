"""The layout rules of ARCHITECTURE.md, checked from the import graph so the code cannot drift from them.

Imports are read from the source (every ``import`` statement, module level or inside a function), so a lazy
import counts as much as an eager one: it runs on some path, and that path is what a device executes.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgeyolo"
BACKEND = "edgeyolo._backend"
TORCH_FREE = (
    "edgeyolo.runtime",
    "edgeyolo.bench",
    "edgeyolo.select",
    "edgeyolo.report",
    "edgeyolo.predict",
    "edgeyolo.live",
)
HEAVY = ("torch", "torchvision", "ultralytics")
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _graph() -> dict[str, set[str]]:
    """module -> every module it imports (absolute names; relative imports resolved)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets.add(module)
                # `from edgeyolo.x import y` may import the submodule edgeyolo.x.y
                targets.update(f"{module}.{a.name}" for a in node.names)
        graph[name] = targets
    return graph


def _own(target: str) -> str | None:
    """The edgeyolo module an import name refers to (the longest known prefix), or None if outside."""
    graph = _graph()
    while target:
        if target in graph:
            return target
        target = target.rpartition(".")[0]
    return None


def _under(module: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_only_the_backend_imports_ultralytics():
    offenders = sorted(
        f"{m} imports {t}"
        for m, targets in _graph().items()
        for t in targets
        if _under(t, "ultralytics") and not _under(m, BACKEND)
    )
    assert not offenders, offenders


def _reachable(start: str) -> dict[str, str]:
    """Every module reachable from ``start`` (edgeyolo's and third-party), each with the module importing it."""
    graph, seen, todo = _graph(), {start: ""}, [start]
    while todo:
        m = todo.pop()
        for t in graph.get(m, ()):
            own = _own(t)
            key = own or t
            if key not in seen:
                seen[key] = m
                if own:
                    todo.append(own)
    return seen


@pytest.mark.parametrize("package", TORCH_FREE)
def test_torch_free_packages_reach_no_torch_in_the_source(package):
    """No import path, lazy ones included, leads from these packages to torch, ultralytics or the backend."""
    starts = [m for m in _graph() if _under(m, package)]
    assert starts, f"{package} does not exist"
    bad = {}
    for start in starts:
        for m, via in _reachable(start).items():
            if _under(m, HEAVY + (BACKEND, "edgeyolo.train", "edgeyolo.export")):
                bad[m] = f"{start} ... {via} -> {m}"
    assert not bad, sorted(bad.values())


def test_torch_free_packages_import_no_torch_at_run_time():
    modules = sorted(m for m in _graph() if _under(m, TORCH_FREE))
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[-2] == "[]"


def test_commands_only_parse_options_and_call_the_api():
    """A command reaches the library through ``edgeyolo.api`` only; the library never imports click."""
    allowed = ("edgeyolo.api", "edgeyolo.errors", "edgeyolo.commands", "edgeyolo._version", "edgeyolo.cli")
    offenders = []
    for m, targets in _graph().items():
        command_side = _under(m, ("edgeyolo.commands", "edgeyolo.cli", "edgeyolo.__main__"))
        for t in targets:
            own = _own(t)
            if command_side and own and not _under(own, allowed):
                offenders.append(f"{m} imports {own}")
            if not command_side and _under(t, "click"):
                offenders.append(f"{m} (library) imports click")
    assert not offenders, sorted(set(offenders))


def test_cli_holds_no_command():
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    decorated = [
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and any("command" in ast.unparse(d) for d in n.decorator_list)
    ]
    assert not decorated, f"cli.py defines commands {decorated}; they belong in edgeyolo/commands/"


def test_no_import_cycle_between_packages():
    """edgeyolo.X -> edgeyolo.Y edges (lazy imports included) form no cycle."""
    edges: dict[str, set[str]] = defaultdict(set)
    for m, targets in _graph().items():
        for t in targets:
            own = _own(t)
            if own and _package(own) != _package(m):
                edges[_package(m)].add(_package(own))
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, [" -> ".join(c) for c in cycles]


def test_long_files_are_named_in_architecture_md():
    """A module over the size goal is allowed only where ARCHITECTURE.md says which concern needs it."""
    doc = (ROOT / "ARCHITECTURE.md").read_text()
    section = doc.split("## Files over", 1)[1] if "## Files over" in doc else ""
    named = set(re.findall(r"`(edgeyolo/[\w/]+\.py)`", section))
    long = {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*.py")
        if len(p.read_text().splitlines()) > MAX_LINES
    }
    assert long <= named, (
        f"over {MAX_LINES} lines and not justified in ARCHITECTURE.md: {sorted(long - named)}"
    )
    assert named <= long, f"ARCHITECTURE.md justifies files that are no longer long: {sorted(named - long)}"


def test_api_names_load_lazily_and_match_their_typed_imports():
    """``edgeyolo.api`` imports a name's module on first use; its table agrees with the imports type checkers
    read, and every name it exports resolves to the object its module defines."""
    import importlib

    tree = ast.parse((PACKAGE / "api.py").read_text())
    typed = {
        a.asname or a.name: (node.module, a.name)
        for block in tree.body
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }
    api = importlib.import_module("edgeyolo.api")
    assert typed == api._WHERE
    assert sorted(api.__all__) == sorted(typed)
    for name, (module, attr) in typed.items():
        assert getattr(api, name) is getattr(importlib.import_module(module), attr)
    code = "import sys, edgeyolo.api; print(' '.join(m for m in sys.modules if m.startswith('edgeyolo.')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == {"edgeyolo.api", "edgeyolo._version"}
