"""The Webex data rules on documented payload shapes, and the fetch inside the rate budget."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors import clock
from connectors.emails import email_normalize
from connectors.http import ApiClient, ApiResponse
from connectors.providers import get_provider
from connectors.providers.webex_fetch import (
    Attendance,
    ScanState,
    fetch_access,
    meeting_record,
    participant_params,
)
from connectors.ratelimit import RateBudget
from connectors.simulator.seed import SUBJECT_EMAIL
from tests.connectors.doubles import StaticToken

SUBJECT = email_normalize(" Dana.Kowalski@Acme.example ")


def participant(email: str | None, *, host: bool = False, pid: str = "") -> dict[str, Any]:
    """A participant record in the shape of Webex's Participant schema (docs/providers.md,
    'Webex: participants')."""
    return {
        "id": pid or f"3a688f62840346e8b87dde2b50703511_{email or 'phone'}",
        "host": host,
        "coHost": False,
        "email": email,
        "displayName": (email or "Call-in user").split("@")[0],
        "invitee": not host,
        "state": "end",
        "joinedTime": "2022-10-25T09:00:00Z",
        "leftTime": "2022-10-25T09:30:00Z",
        "meetingId": "3a688f62840346e8b87dde2b50703511_I_197977258267247872",
        "hostEmail": "janeDoe@cisco.com",
        "devices": [{"correlationId": "8ccc", "deviceType": "webex_meeting_center_mac"}],
    }


def meeting(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "3a688f62840346e8b87dde2b50703511_I_197977258267247872",
        "meetingSeriesId": "3a688f62840346e8b87dde2b50703511",
        "title": "Example",
        "password": "BgJep@43",
        "state": "ended",
        "hostUserId": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9j",
        "hostDisplayName": "Jane Doe",
        "hostEmail": "janeDoe@cisco.com",
        "hostKey": "123456",
        "hostDidJoin": True,
        "attendeeDidJoin": True,
        "siteUrl": "example.webex.com",
        "telephony": {"accessCode": "1234567890", "callInNumbers": []},
    }
    return {**base, **fields}


def attendance(*records: dict[str, Any]) -> Attendance:
    result = Attendance(SUBJECT)
    result.add(records)
    return result


def test_participants_are_counted_as_people_and_only_the_subjects_records_kept():
    seen = attendance(
        participant("janeDoe@cisco.com", host=True),
        participant(" dana.kowalski@ACME.example"),
        participant("Dana.Kowalski@acme.example ", pid="rejoined"),
        participant(None, pid="call-in-1"),
        participant(None, pid="call-in-2"),
        participant("JANEDOE@cisco.com", pid="jane-again"),
    )
    assert seen.total == 4  # Jane once, Dana once, two call-ins
    assert [r["id"] for r in seen.subject_records][1:] == ["rejoined"]
    assert len(seen.subject_records) == 2


def test_someone_elses_meeting_loses_every_host_attribute_and_other_interpreters():
    data = meeting(
        simultaneousInterpretation={
            "enabled": True,
            "interpreters": [
                {"email": "interp@cisco.com", "displayName": "Ivo Interp", "languageCode1": "en"},
                {
                    "email": "DANA.kowalski@acme.example",
                    "displayName": "Dana",
                    "languageCode1": "pl",
                },
            ],
        }
    )
    seen = attendance(participant("janeDoe@cisco.com", host=True), participant(SUBJECT))
    record = meeting_record(data, seen, SUBJECT)

    assert not [k for k in record if k.startswith("host")]
    assert record["attendeeDidJoin"] is True and record["password"] == "BgJep@43"
    (own,) = record["subject_participants"]
    assert "hostEmail" not in own and own["host"] is False and own["devices"]
    assert [i["languageCode1"] for i in record["simultaneousInterpretation"]["interpreters"]] == [
        "pl"
    ]
    assert record["total_participants"] == 2 and record["is_1_on_1_conversation"] is True
    assert "janedoe" not in repr(record).lower() and "ivo" not in repr(record).lower()
    assert data["hostEmail"] == "janeDoe@cisco.com"  # the input is not changed


def test_the_subjects_own_meeting_keeps_its_host_attributes():
    by_email = meeting(hostEmail=" DANA.Kowalski@acme.example", hostDisplayName="Dana K")
    seen = attendance(participant(SUBJECT, host=True), participant("a@x.example"))
    record = meeting_record(by_email, seen, SUBJECT)
    assert record["hostKey"] == "123456" and record["hostDisplayName"] == "Dana K"
    assert record["subject_participants"][0]["hostEmail"] == "janeDoe@cisco.com"

    # The host flag on her own participant record also makes her the host.
    without_email = {k: v for k, v in meeting().items() if k != "hostEmail"}
    record = meeting_record(without_email, seen, SUBJECT)
    assert record["hostUserId"] and record["hostDidJoin"] is True


def test_a_lone_subject_is_not_a_conversation():
    record = meeting_record(meeting(), attendance(participant(SUBJECT)), SUBJECT)
    assert record["total_participants"] == 1 and record["is_1_on_1_conversation"] is False


def test_participant_queries_pass_explicit_ranges_around_the_instance():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    old = participant_params(meeting(start="2025-06-01T09:00:00Z"), now)
    assert old == {
        "meetingId": meeting()["id"],
        "max": 100,
        "joinTimeFrom": "2025-05-31T09:00:00Z",
        "joinTimeTo": "2025-08-28T09:00:00Z",  # 89 days: inside Webex's 90-day limit
        "meetingStartTimeFrom": "2025-05-31T09:00:00Z",
        "meetingStartTimeTo": "2025-06-02T09:00:00Z",
    }
    recent = participant_params(meeting(start="2026-03-01T11:00:00+01:00"), now)
    assert recent["joinTimeFrom"] == "2026-02-28T10:00:00Z"
    assert recent["joinTimeTo"] == "2026-03-01T12:05:00Z"  # not far into the future
    live = participant_params(meeting(start="2026-03-01T11:00:00Z", state="inProgress"), now)
    assert "joinTimeFrom" not in live and "joinTimeTo" not in live
    assert live["meetingStartTimeFrom"] == "2026-02-28T11:00:00Z"
    assert participant_params(meeting(start=None), now) == {
        "meetingId": meeting()["id"],
        "max": 100,
    }


def test_scan_state_round_trips_and_splits_a_capped_window():
    now = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    state = ScanState.start(now=now, lookback_days=28, window=timedelta(days=7))
    assert state.range_to == now.replace(microsecond=0)
    assert state.progress() == {
        "windows_done": 0,
        "windows_total": 4,
        "pages": 0,
        "meetings_checked": 0,
    }
    state.window_items = 10
    assert state.end_window(cap=10) is True  # capped: same start, half the span
    assert state.window_from == state.range_from and state.span == timedelta(days=3.5)
    assert state.progress()["windows_total"] == 8
    state.window_items = 9
    assert state.end_window(cap=10) is False
    assert state.window_from == state.range_from + timedelta(days=3.5)
    assert ScanState.from_checkpoint(state.checkpoint()) == state
    assert ScanState.from_checkpoint({"webex_scan": 1, "range_from": "yesterday"}) is None


class PeakCountingClient(ApiClient):
    """Counts how many GETs run at once: all of them, and participant reads alone."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self.in_flight = self.reads_in_flight = 0
        self.peak = self.reads_peak = 0

    def get(self, path_or_url: str, **kwargs: Any) -> ApiResponse:
        read = "meetingParticipants" in path_or_url
        with self._lock:
            self.in_flight += 1
            self.reads_in_flight += read
            self.peak = max(self.peak, self.in_flight)
            self.reads_peak = max(self.reads_peak, self.reads_in_flight)
        try:
            return super().get(path_or_url, **kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.reads_in_flight -= read


def test_participants_are_read_in_parallel_within_the_shared_budget(simulator, settings):
    settings.CONNECTOR_RATE_LIMITS = {"webex": {"default": (6, 60.0)}}
    settings.CONNECTOR_RATE_CEILINGS = {"webex": {"default": (6, 60.0)}}  # no learning
    settings.FETCH_PARTICIPANT_CONCURRENCY = 3
    simulator.configure(webex_rate_per_minute=100_000)
    token = simulator.mint_token("webex")["access_token"]
    client = PeakCountingClient(
        provider=get_provider("webex"),
        base_url=simulator.webex_base_url,
        token_source=StaticToken(token),
        budget=RateBudget.for_provider(get_provider("webex"), key="test-webex-budget"),
    )
    started = timezone.now()
    with clock.use(clock.FakeClock()) as fake:
        batches = list(fetch_access(client, SUBJECT_EMAIL, lookback_days=10))

    calls = simulator.requests("webex")
    assert len(calls) > 12
    # Six calls per (fake) minute: the budget made the fetch wait between minutes.
    assert fake.total_slept >= 60 * (len(calls) // 6 - 1)
    # Three participant reads at most, plus the next listing page fetched meanwhile.
    assert 1 <= client.reads_peak <= 3 and client.peak <= 4
    truth = simulator.state.expected_webex_meetings(
        SUBJECT_EMAIL, started - timedelta(days=10), started
    )
    found = {ext for b in batches if b.object_type == "meeting" for ext, _ in b.records}
    assert found == {t["id"] for t in truth}


@pytest.mark.parametrize("email", ["", "   "])
def test_an_empty_email_is_refused_before_any_call(email):
    with pytest.raises(ValueError):
        next(
            fetch_access(
                ApiClient(provider=get_provider("webex"), base_url="http://127.0.0.1:9"), email
            )
        )
