"""The package's modules import each other without a cycle, the decisions below what reads and writes."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "flask_session_epoch"


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module's imports of the package's modules: top-level, function-level and for type checking alike."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            found = {target} if node.module else set()
            found |= {f"{target}.{alias.name}" for alias in node.names}
            graph[name] |= {module for module in found if module in paths and module != name}
    return graph


def cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for imported in sorted(graph[module]):
            if imported == start:
                return [*path, start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    cycles = [cycle for cycle in (cycle_through(graph, module) for module in sorted(graph)) if cycle]
    assert cycles == []


@pytest.mark.parametrize(("lower", "upper"), [
    ("flask_session_epoch.state", "flask_session_epoch.check"),
    ("flask_session_epoch.check", "flask_session_epoch.registry"),
    ("flask_session_epoch.check", "flask_session_epoch.store"),
    ("flask_session_epoch.registry", "flask_session_epoch.store"),
    ("flask_session_epoch.request_state", "flask_session_epoch.oidc"),
    ("flask_session_epoch.listeners", "flask_session_epoch.revoke"),
])
def test_the_decisions_sit_below_what_reads_and_writes(lower: str, upper: str) -> None:
    graph = import_graph()

    def reaches(start: str, goal: str) -> bool:
        stack, seen = [start], {start}
        while stack:
            for imported in graph[stack.pop()]:
                if imported == goal:
                    return True
                if imported not in seen:
                    seen.add(imported)
                    stack.append(imported)
        return False

    assert not reaches(lower, upper)


def test_the_graph_sees_the_imports() -> None:
    """The checks above are only as good as the graph: it finds a known import of each kind."""
    graph = import_graph()
    assert "flask_session_epoch.state" in graph["flask_session_epoch.check"]  # top level
    assert "flask_session_epoch.check" in graph["flask_session_epoch.airflow.auth_manager"]  # from ..


def test_the_package_imports_without_the_oidc_extra() -> None:
    """Authlib (and its HTTP client, requests) come with the ``oidc`` extra only: the demo has neither."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['requests'] = None; sys.modules['authlib'] = None\n"
            "import flask_session_epoch.manager, flask_session_epoch.idp_logout")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
