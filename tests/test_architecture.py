"""The layering in docs/architecture.md, checked on the source instead of trusted.

Every module of the product apps is parsed with ``ast`` (no import, so a broken
app cannot hide an edge) and every ``import`` / ``from ... import`` statement
counts: module level, inside functions, under ``TYPE_CHECKING`` and relative
ones alike. A deferred import still couples two modules; it only hides the
coupling from the interpreter.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("portal", "connectors", "requests_app")
SIMULATOR = "connectors.simulator"
# portal/urls.py is the project's URL root: it may name app views.
PORTAL_MAY_IMPORT_APPS = {"portal.urls"}
SKIPPED_DIRS = {"migrations", "tests", "__pycache__"}


def _module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every product module except migrations and tests."""
    modules: dict[str, Path] = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if SKIPPED_DIRS.intersection(relative.parts[:-1]):
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _module_files()


def _imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Absolute dotted names this module imports, with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # A package's own name is its anchor; a module's anchor is its package.
                anchor = module.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                # ``from pkg import name``: name may be a submodule or an attribute.
                yield f"{base}.{alias.name}", node.lineno


def _resolve(name: str) -> str | None:
    """The most specific product module a dotted name lives in, or None (stdlib, third party)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _build_graph() -> dict[str, dict[str, list[int]]]:
    """module -> {imported product module: lines of the import statements}; no self-edges."""
    graph: dict[str, dict[str, list[int]]] = {}
    for module, path in MODULES.items():
        edges: dict[str, list[int]] = {}
        for name, line in _imported_names(module, path):
            target = _resolve(name)
            if target is not None and target != module:
                lines = edges.setdefault(target, [])
                if line not in lines:
                    lines.append(line)
        graph[module] = edges
    return graph


GRAPH = _build_graph()


def _app(module: str) -> str:
    return module.split(".")[0]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _edges() -> Iterator[tuple[str, str, list[int]]]:
    for source, targets in sorted(GRAPH.items()):
        for target, lines in sorted(targets.items()):
            yield source, target, lines


def _describe(source: str, target: str, lines: list[int]) -> str:
    where = ",".join(str(line) for line in sorted(lines))
    return f"{MODULES[source].relative_to(ROOT)}:{where} imports {target}"


def _components() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(GRAPH[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            connect(node)
    return components


def _shortest_cycle(start: str, members: set[str]) -> list[str]:
    """The shortest cycle from ``start`` back to itself inside one component (breadth-first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(GRAPH[node]):
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is on no cycle inside {sorted(members)}")


def _cycles() -> list[list[str]]:
    """The shortest cycle through each module that is on one, without repeats."""
    seen: set[frozenset[tuple[str, str]]] = set()
    cycles = []
    for component in _components():
        for start in component:
            path = _shortest_cycle(start, set(component))
            edges = frozenset(pairwise(path))
            if edges not in seen:
                seen.add(edges)
                cycles.append(path)
    return cycles


def test_the_graph_sees_the_apps() -> None:
    """Guards the checks below against passing because nothing was parsed."""
    assert {"portal.models", "connectors.http", "requests_app.models"} <= set(GRAPH)
    assert any(_app(s) == "requests_app" and _app(t) == "connectors" for s, t, _ in _edges())
    assert any(t == "portal.audit" for _, t, _ in _edges())


def test_no_import_cycles() -> None:
    cycles = [" -> ".join(path) for path in _cycles()]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_connectors_do_not_import_requests_app() -> None:
    """Connections tell requests_app what happened through signals (docs/architecture.md)."""
    bad = [
        _describe(s, t, lines)
        for s, t, lines in _edges()
        if _app(s) == "connectors" and _app(t) == "requests_app"
    ]
    assert not bad, "\n".join(bad)


def test_portal_imports_neither_app() -> None:
    """portal is the shared core; settings and URLs name the apps by dotted string."""
    bad = [
        _describe(s, t, lines)
        for s, t, lines in _edges()
        if _app(s) == "portal"
        and _app(t) in ("connectors", "requests_app")
        and s not in PORTAL_MAY_IMPORT_APPS
    ]
    assert not bad, "\n".join(bad)


def test_providers_do_not_import_portal() -> None:
    bad = [
        _describe(s, t, lines)
        for s, t, lines in _edges()
        if _within(s, "connectors.providers") and _app(t) == "portal"
    ]
    assert not bad, "\n".join(bad)


def test_simulator_imports_only_itself() -> None:
    """The simulator stands in for the providers, so it must not share our code's mistakes."""
    bad = [
        _describe(s, t, lines)
        for s, t, lines in _edges()
        if _within(s, SIMULATOR) and not _within(t, SIMULATOR)
    ]
    assert not bad, "\n".join(bad)


# --- Documents ----------------------------------------------------------------------

# Directories that are not the product's own text.
NOT_SCANNED = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".bench"}
TOP_LEVEL_NOT_SCANNED = {"data"}
DOC_REFERENCE = re.compile(r"(?<![\w/.-])docs/[\w./-]+?\.md\b")
# Written in pieces so this file does not match itself.
OUTSIDE_DOCUMENTS = (
    ".." + "/shared",
    "PROVIDER" + "_APIS",
    "RELIABILITY" + ".md",
    "DESIGN" + ".md",
    "SPEC" + ".md",
)


def _text_files() -> Iterator[tuple[Path, str]]:
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in TOP_LEVEL_NOT_SCANNED or NOT_SCANNED.intersection(relative.parts):
            continue
        if not path.is_file():
            continue
        try:
            yield relative, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary


def test_documents_named_in_the_repo_exist() -> None:
    missing = sorted(
        f"{relative}: {match}"
        for relative, text in _text_files()
        for match in set(DOC_REFERENCE.findall(text))
        if not (ROOT / match).is_file()
    )
    assert not missing, "references to missing documents:\n" + "\n".join(missing)


def test_no_references_to_documents_outside_the_repo() -> None:
    """The next maintainer has docs/ and nothing else."""
    found = [
        f"{relative}:{number}: {needle}"
        for relative, text in _text_files()
        if relative.parts[0] != "docs"
        for number, line in enumerate(text.splitlines(), start=1)
        for needle in OUTSIDE_DOCUMENTS
        if needle in line
    ]
    assert not found, "references to documents outside the repository:\n" + "\n".join(found)
