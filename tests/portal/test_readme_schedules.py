"""The README names every periodic task that setup_schedules creates."""

from __future__ import annotations

from pathlib import Path

from portal.schedules import SCHEDULES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_schedule_is_listed_in_the_readme():
    text = README.read_text()
    operations = text[text.index("`python manage.py setup_schedules`") :][:2000]
    assert [name for name in SCHEDULES if f"`{name}`" not in operations] == []
