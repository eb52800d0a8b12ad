"""connectors tells requests_app about connection changes only through signals."""

from __future__ import annotations

import ast
from pathlib import Path

from connectors.signals import connection_retired, connection_usable

CONNECTORS = Path(__file__).resolve().parents[2] / "connectors"


def test_connectors_imports_nothing_from_requests_app():
    for path in CONNECTORS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "requests_app" for n in names), path


def test_requests_app_listens_to_the_connection_signals():
    assert connection_usable.has_listeners()
    assert connection_retired.has_listeners()
