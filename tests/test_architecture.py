"""The package's shape: no import circles, modules readable in one sitting, one layout per
experiment (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "smoothscope"
MAX_LINES = 600
EXPERIMENT_FILES = ("__init__.py", "config.py", "cells.py", "claims.py", "figures.py")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that ``name`` imports, at any depth of its code (a lazy import
    inside a function closes a circle as surely as one at the top)."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                module = ".".join([*anchor, *(node.module or "").split(".")]).strip(".")
            else:
                module = node.module or ""
            # `from pkg import sub` imports the submodule when there is one, else the package
            targets = [
                f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module
                for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` names a.b.c
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    # importing a package's submodule runs the package's __init__ first: that is not an edge
    # of the importer, so only explicit imports count
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_import_graph_finds_a_known_edge() -> None:
    # the checker itself must see relative imports, or an empty graph would pass
    graph = _graph()
    assert "smoothscope._errors" in graph["smoothscope.results"]
    assert "smoothscope.signals" in graph["smoothscope"]


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import circles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_module_over_600_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split by concept): {long}"


def _experiment_packages() -> list[Path]:
    root = PACKAGE / "experiments"
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def test_every_experiment_is_a_package_of_the_same_shape() -> None:
    from smoothscope.experiments import available_experiments

    packages = {p.name for p in _experiment_packages()}
    for spec in available_experiments():
        assert spec.name.replace("-", "_") in packages, f"{spec.name} is not a package"
    stray = [
        p.name
        for p in (PACKAGE / "experiments").glob("*.py")
        if p.stem not in ("__init__", "_base", "_paper_b")
    ]
    assert not stray, f"experiment code outside the experiment packages: {stray}"
    for package in _experiment_packages():
        missing = [f for f in EXPERIMENT_FILES if not (package / f).is_file()]
        assert not missing, f"experiments/{package.name} lacks {missing}"


@pytest.mark.parametrize("part", ["config", "cells", "claims", "figures"])
def test_experiment_parts_point_one_way(part: str) -> None:
    # config <- cells <- claims / figures <- __init__: a part never imports the package's
    # __init__ or a part that comes after it
    order = ["config", "cells", "claims", "figures"]
    modules = _modules()
    for package in _experiment_packages():
        name = _module_name(package / f"{part}.py")
        pkg = _module_name(package / "__init__.py")
        imported = _imports(name, package / f"{part}.py", modules)
        assert pkg not in imported, f"{name} imports its package's __init__"
        later = {f"{pkg}.{p}" for p in order[order.index(part) + 1 :]}
        if part in ("claims", "figures"):
            later -= {f"{pkg}.claims", f"{pkg}.figures"}
        assert not imported & later, f"{name} imports {sorted(imported & later)}"
