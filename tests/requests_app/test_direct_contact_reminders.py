"""Direct Contact reminders: every N days, never twice a day, even with two workers."""

from __future__ import annotations

import datetime as dt
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection as db_connection

from requests_app.models import DirectContactReminder, RequestType
from requests_app.services import direct_contact as dc
from requests_app.services.intake import privacy_request_create
from tests.requests_app.dc_helpers import dc_connection, links_to

START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)


def _two_workers_tick() -> list:
    """Run the tick on two threads at once (each with its own database connection)."""
    barrier = threading.Barrier(2)
    outcomes: list = []

    def worker() -> None:
        try:
            barrier.wait()
            outcomes.append(dc.direct_contact_tick().reminded)
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            outcomes.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_reminders_every_n_days_once_a_day_with_two_workers(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    with time_machine.travel(START, tick=False) as frozen:
        dc_connection("Slow System", "owner@corp.example", reminder_days=5, escalation_days=30)
        privacy_request_create(
            request_type=RequestType.DELETION,
            email="dana@example.org",
            name="",
            regulation="gdpr",
            source="staff",
        )
        assert len(links_to("owner@corp.example")) == 1  # the first email, after commit

        frozen.move_to(START + timedelta(days=4, hours=23))
        assert _two_workers_tick() == [0, 0]
        assert len(links_to("owner@corp.example")) == 1

        frozen.move_to(START + timedelta(days=5))
        outcomes = _two_workers_tick()
        assert sorted(outcomes) == [0, 1], outcomes
        reminders = [m for m in mail.outbox if m.subject.startswith("Reminder")]
        assert len(reminders) == 1
        assert DirectContactReminder.objects.count() == 1

        # Later the same day: nothing more.
        frozen.move_to(START + timedelta(days=5, hours=8))
        assert _two_workers_tick() == [0, 0]

        # The next one is due N days after the last.
        frozen.move_to(START + timedelta(days=9, hours=23))
        assert _two_workers_tick() == [0, 0]
        frozen.move_to(START + timedelta(days=10))
        assert sorted(_two_workers_tick()) == [0, 1]
        assert DirectContactReminder.objects.count() == 2
        assert len([m for m in mail.outbox if m.subject.startswith("Reminder")]) == 2
