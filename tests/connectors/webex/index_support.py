"""Helpers for the participant index tests: clients, stores, full-scan comparisons, time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors.clients import api_client_for
from connectors.models import Connection
from connectors.participant_index import ParticipantIndexStore
from connectors.providers.base import Batch
from connectors.providers.webex_fetch import MEETING, fetch_access
from connectors.providers.webex_index import fetch_access_indexed

MEETINGS_PATH = "/webex/v1/meetings"
PARTICIPANTS_PATH = "/webex/v1/meetingParticipants"
PEOPLE_ME_PATH = "/webex/v1/people/me"
LOOKBACK = 25
UNLIMITED = {"webex": {"default": (100_000, 60.0)}}


def meetings(batches: list[Batch]) -> dict[str, dict[str, Any]]:
    """What the pipeline's upsert keeps: the last data per meeting id."""
    return {ext: data for b in batches if b.object_type == MEETING for ext, data in b.records}


def indexed(connection: Connection, email: str, **options: Any) -> dict[str, dict[str, Any]]:
    """One indexed request, run to the end on a fresh store and client."""
    connection.refresh_from_db()
    store = ParticipantIndexStore(connection)
    with api_client_for(connection) as client:
        return meetings(list(fetch_access_indexed(client, email, store, **options)))


def full_scan(connection: Connection, email: str, **options: Any) -> dict[str, dict[str, Any]]:
    with api_client_for(connection) as client:
        return meetings(list(fetch_access(client, email, **options)))


def truth_ids(sim, email: str, lookback_days: int = LOOKBACK) -> set[str]:
    now = timezone.now()
    expected = sim.state.expected_webex_meetings(email, now - timedelta(days=lookback_days), now)
    return {m["id"] for m in expected}


def calls(sim, path: str) -> list:
    return [r for r in sim.requests("webex") if r.path == path]


def participant_reads(sim) -> list[str]:
    """Instance ids whose participant list was read (first pages only)."""
    return [
        r.query["meetingId"][0] for r in calls(sim, PARTICIPANTS_PATH) if "cursor" not in r.query
    ]


class TimeShift:
    """Moves the simulator's clock and Django's ``timezone.now`` forward together."""

    def __init__(self, sim, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta(0)
        state = sim.state
        real_clock = state.clock
        self.restore = lambda: setattr(state, "clock", real_clock)
        state.clock = lambda: real_clock() + self.offset.total_seconds()
        real_now = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real_now() + self.offset)
        self._real_now = real_now

    def to(self, moment: datetime) -> None:
        """Make ``moment`` the present."""
        self.offset = moment - self._real_now()

    def by(self, delta: timedelta) -> None:
        self.offset += delta
