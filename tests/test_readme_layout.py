"""The README's layout section names every product module, and names none that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Folders whose modules the layout lists one by one (their subfolders are named as a whole).
LISTED = ["portal", "connectors", "connectors/providers", "requests_app", "requests_app/services"]
SKIP = {"__init__.py", "apps.py", "asgi.py", "wsgi.py", "settings_test.py"}


def _layout() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def _named(layout: str) -> set[str]:
    return set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*\.py)\b", layout))


def test_every_product_module_is_in_the_layout() -> None:
    named = _named(_layout())
    missing = [
        f"{folder}/{path.name}"
        for folder in LISTED
        for path in sorted((ROOT / folder).glob("*.py"))
        if path.name not in SKIP and path.name not in named
    ]
    assert missing == [], "README layout does not name: " + ", ".join(missing)


def test_every_module_the_layout_names_exists() -> None:
    existing = {p.name for folder in LISTED for p in (ROOT / folder).glob("*.py")}
    existing |= {p.name for p in (ROOT / "requests_app").rglob("*.py")}
    existing |= {p.name for p in (ROOT / "portal").rglob("*.py")}
    existing |= {p.name for p in (ROOT / "connectors").rglob("*.py")}
    existing |= {"manage.py"}
    gone = sorted(_named(_layout()) - existing)
    assert gone == [], "README layout names modules that do not exist: " + ", ".join(gone)
