"""The shape of the code: layers point one way (the import-linter contract in pyproject.toml),
no package's modules import each other in a cycle, nothing hides an import, the numeric core
stays pure, no module grows past 450 lines, and tests mirror the source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("plugin", "webhooks", "widgets", "recommender")
MAX_LINES = 450
DATA_TABLES: frozenset[str] = frozenset()  # modules allowed past MAX_LINES: data, not logic
# Modules without behaviour of their own, so without a mirror test file (package __init__
# files hold docstrings, re-exports and constants and are left out too).
NO_BEHAVIOUR: dict[str, str] = {
    "webhooks/platforms.py": "the adapter and backfill tables; tests/webhooks/test_adapters.py "
                             "runs its suite over every registered adapter",
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES)


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_layers_contract_is_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "One-way layers KEPT" in done.stdout


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module among `modules` (Tarjan)."""
    edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_directory_has_an_import_cycle(graph) -> None:
    directories: dict[str, set[str]] = {}
    for module in graph.modules:
        parent = module.rpartition(".")[0] or module
        directories.setdefault(parent, set()).add(module)
    cycles = {d: c for d, ms in directories.items() if (c := _cycles(graph, ms))}
    assert cycles == {}


def test_packages_have_no_cycle_between_them(graph) -> None:
    """Sub-packages as units: plugin.store, plugin.engine, ... and the top-level packages."""
    units = {".".join(m.split(".")[:2]) if m.startswith("plugin.") else m.split(".")[0]
             for m in graph.modules}
    collapsed = grimp.ImportGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = (_unit(module, units), _unit(imported, units))
            if a != b:
                collapsed.add_import(importer=a, imported=b)
    assert _cycles(collapsed, set(collapsed.modules)) == []


def _unit(module: str, units: set[str]) -> str:
    two = ".".join(module.split(".")[:2])
    return two if two in units else module.split(".")[0]


def test_no_dynamic_imports_hide_a_dependency() -> None:
    hidden = []
    for path in sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "import_module":
                hidden.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "__import__":
                hidden.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert hidden == []


def test_no_module_reaches_into_another_modules_private_names() -> None:
    """`from x import _name` and `module._name` across modules (self/cls and dunders aside)."""
    reached = []
    own = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in sources()}
    for path in sources():
        tree = ast.parse(path.read_text())
        imported_modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        reached.append(f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}")
                    if f"{node.module}.{alias.name}" in own:
                        imported_modules.add(alias.asname or alias.name)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in imported_modules and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                reached.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}."
                               f"{node.attr}")
    assert reached == []


def test_the_numeric_core_imports_only_numeric_libraries() -> None:
    allowed = {"numpy", "scipy", "implicit", "threadpoolctl"}
    external = grimp.build_graph("recommender", include_external_packages=True)
    imported = {i.split(".")[0] for m in external.modules if m.startswith("recommender")
                for i in external.find_modules_directly_imported_by(m)}
    third_party = {name for name in imported - {"recommender"}
                   if name not in sys.stdlib_module_names}
    assert third_party <= allowed, third_party - allowed


def test_no_module_is_longer_than_450_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in sources()
            if (n := len(p.read_text().splitlines())) > MAX_LINES
            and str(p.relative_to(ROOT)) not in DATA_TABLES}
    assert long == {}


def test_every_module_with_behaviour_has_its_mirror_test_file() -> None:
    """`a/b/c.py` is tested in `tests/a/b/test_c.py` (docs/architecture.md, "Tests")."""
    missing = []
    for path in sources():
        relative = path.relative_to(ROOT)
        if path.name == "__init__.py" or str(relative) in NO_BEHAVIOUR:
            continue
        mirror = ROOT / "tests" / relative.parent / f"test_{path.name}"
        if not mirror.is_file():
            missing.append(str(mirror.relative_to(ROOT)))
    assert missing == []


def test_every_test_directory_is_a_package() -> None:
    """Test file names repeat across directories (tests/plugin/api/test_lifecycle.py and
    tests/plugin/engine/test_lifecycle.py): each directory needs its __init__.py."""
    bare = [str(d.relative_to(ROOT)) for d in (ROOT / "tests").rglob("*")
            if d.is_dir() and "__pycache__" not in d.parts and any(d.glob("test_*.py"))
            and not (d / "__init__.py").is_file()]
    assert bare == []
