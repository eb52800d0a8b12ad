"""A demo that shows real data at once: sample subjects in `make run`, on the dashboard,
and on the simulator's own root page."""

from __future__ import annotations

from io import StringIO
from types import SimpleNamespace

import pytest
import requests
from django.core.management import call_command

from connectors.management.commands import rundemo
from connectors.simulator.seed import (
    DEMO_CLIENTS,
    SUBJECT_EMAIL,
    UNKNOWN_EMAIL,
    ZOOM_NO_PHONE_EMAIL,
    sample_subjects,
)

pytestmark = pytest.mark.django_db


def test_sample_subjects_name_the_seeded_people():
    emails = [s.email for s in sample_subjects()]
    assert emails == [SUBJECT_EMAIL, ZOOM_NO_PHONE_EMAIL.lower(), UNKNOWN_EMAIL]
    holds = {s.email: s.holds for s in sample_subjects()}
    assert "Webex meetings" in holds[SUBJECT_EMAIL] and "Zoom Phone" in holds[SUBJECT_EMAIL]
    assert "no Zoom Phone licence" in holds[ZOOM_NO_PHONE_EMAIL.lower()]
    assert "No data found" in holds[UNKNOWN_EMAIL]


def test_the_dashboard_shows_them_in_the_demo_only(staff_client, settings):
    settings.SIMULATOR_ENABLED = True
    page = staff_client.get("/").content.decode()
    assert "Try the demo with these sample people" in page
    for subject in sample_subjects():
        assert subject.email in page
    settings.SIMULATOR_ENABLED = False
    assert "Try the demo" not in staff_client.get("/").content.decode()


def test_make_run_prints_them(monkeypatch, settings):
    settings.SIMULATOR_ENABLED = True
    # Every child process "exits" at once, so the command stops after printing.
    exited = SimpleNamespace(poll=lambda: 0, returncode=0, wait=lambda timeout: 0)
    monkeypatch.setattr(rundemo, "_start", lambda argv, env: exited)
    monkeypatch.setattr(rundemo.signal, "signal", lambda *a: None)
    monkeypatch.setattr(rundemo.time, "sleep", lambda seconds: None)
    out = StringIO()
    call_command("rundemo", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "Try a new access request for one of these sample people:" in text
    for subject in sample_subjects():
        assert f"  {subject.email}: {subject.holds}" in text


def test_the_simulators_root_is_a_page_naming_base_urls_and_clients(simulator):
    response = requests.get(f"{simulator.base_url}/", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert f"{simulator.base_url}/webex/v1" in page
    assert f"{simulator.base_url}/zoom/v2" in page
    for client in DEMO_CLIENTS:
        assert client.client_id in page
    assert SUBJECT_EMAIL in page
    # Other unknown paths still answer like an API: a JSON 404.
    other = requests.get(f"{simulator.base_url}/nothing", timeout=5)
    assert other.status_code == 404 and other.json() == {"error": "not found"}
