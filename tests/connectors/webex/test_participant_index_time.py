"""The participant index over time: instances that end after the watermark, participants
that arrive late, instances listed late, and a top-up interrupted midway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from connectors.clients import api_client_for
from connectors.models import WebexIndexedInstance, WebexParticipantIndex
from connectors.participant_index import ParticipantIndexStore
from connectors.providers.webex_fetch import _parse
from connectors.providers.webex_index import fetch_access_indexed
from connectors.simulator.seed import SUBJECT_EMAIL, UNKNOWN_EMAIL
from tests.connectors.webex.index_support import (
    LOOKBACK,
    MEETINGS_PATH,
    UNLIMITED,
    TimeShift,
    calls,
    full_scan,
    indexed,
    meetings,
    participant_reads,
    truth_ids,
)
from tests.factories import simulator_connection

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("max_jitter_clock")]


@pytest.fixture
def webex(simulator, settings):
    settings.CONNECTOR_RATE_LIMITS = UNLIMITED
    settings.FETCH_PARTICIPANT_CONCURRENCY = 4
    settings.FETCH_LOOKBACK_DAYS = LOOKBACK
    simulator.configure(webex_rate_per_minute=100_000)
    return simulator


@pytest.fixture
def time_shift(simulator, monkeypatch) -> Iterator[TimeShift]:
    shift = TimeShift(simulator, monkeypatch)
    try:
        yield shift
    finally:
        shift.restore()


@pytest.fixture
def connection(webex):
    return simulator_connection(webex, "webex")


def bridge(sim):
    """The seed's all-day meeting, in progress now; the subject is one of its participants."""
    return next(i for i in sim.state.org.webex.instances if i.title.startswith("Incident bridge"))


def same_as_full_scan(sim, connection) -> dict:
    got = indexed(connection, SUBJECT_EMAIL)
    assert got == full_scan(connection, SUBJECT_EMAIL)
    assert set(got) == truth_ids(sim, SUBJECT_EMAIL)
    return got


@pytest.mark.parametrize("margin", [timedelta(days=2), timedelta(minutes=1)])
def test_an_instance_that_ends_after_the_watermark_and_its_late_participants(
    webex, connection, time_shift, settings, margin
):
    """With a one-minute margin the bridge lies before the relisted range and is read
    on its own; with two days it is listed again."""
    settings.WEBEX_PARTICIPANT_INDEX_MARGIN = margin
    live = bridge(webex)
    time_shift.to(live.start + timedelta(hours=20))
    got = same_as_full_scan(webex, connection)
    assert live.id in got and got[live.id]["state"] == "inProgress"
    entry = WebexIndexedInstance.objects.get(instance_id=live.id)
    assert entry.settled is False

    # Ended five minutes ago: Webex shows no participants yet, so neither answer has it.
    time_shift.to(live.end + timedelta(minutes=5))
    webex.clear_log()
    assert live.id not in same_as_full_scan(webex, connection)
    assert live.id in participant_reads(webex)

    # Half an hour after the end the participants are there: read again, found again.
    time_shift.to(live.end + timedelta(minutes=30))
    webex.clear_log()
    got = same_as_full_scan(webex, connection)
    assert got[live.id]["state"] == "ended"
    if margin < timedelta(hours=1):
        one_minute = [
            r
            for r in calls(webex, MEETINGS_PATH)
            if "from" in r.query and _parse(r.query["from"][0]) == live.start
        ]
        assert one_minute  # read on its own, through a one-minute listing at its start

    # Ended long enough when read: settled, and never read again.
    time_shift.to(live.end + timedelta(hours=3))
    indexed(connection, UNKNOWN_EMAIL)
    assert WebexIndexedInstance.objects.get(instance_id=live.id).settled is True
    time_shift.by(timedelta(hours=1))
    webex.clear_log()
    assert indexed(connection, UNKNOWN_EMAIL) == {}
    assert participant_reads(webex) == []


def test_instances_listed_late_are_found_by_the_margin(webex, connection, time_shift):
    """The listing of the day before yesterday (the bridge's) comes back empty once (not
    yet listed); the next request's two-day margin lists it again."""
    time_shift.to(bridge(webex).end + timedelta(hours=2))
    windows = LOOKBACK  # one-day windows, one page each
    webex.fault(
        provider="webex",
        path_prefix=MEETINGS_PATH,
        status=200,
        body={"items": []},
        skip=windows - 2,
        count=1,
    )
    first = indexed(connection, SUBJECT_EMAIL, window=timedelta(days=1))
    expected = truth_ids(webex, SUBJECT_EMAIL)
    assert set(first) == expected - {bridge(webex).id}
    time_shift.by(timedelta(minutes=10))
    second = indexed(connection, SUBJECT_EMAIL, window=timedelta(days=1))
    assert set(second) == truth_ids(webex, SUBJECT_EMAIL)
    assert second == full_scan(connection, SUBJECT_EMAIL)


def test_an_interrupted_top_up_resumes_from_its_saved_position(webex, connection, time_shift):
    time_shift.to(bridge(webex).end + timedelta(hours=2))
    indexed(connection, UNKNOWN_EMAIL, window=timedelta(hours=12))  # the index is built
    time_shift.by(timedelta(days=3))
    # A top-up of five days in twelve-hour windows stops after two pages.
    connection.refresh_from_db()
    with api_client_for(connection) as client:
        batches = fetch_access_indexed(
            client, UNKNOWN_EMAIL, ParticipantIndexStore(connection), window=timedelta(hours=12)
        )
        taken = [next(batches), next(batches)]
        batches.close()
    state = WebexParticipantIndex.objects.get(connection=connection)
    assert state.scan is not None and state.lease_token == ""
    saved_from = _parse(state.scan["window_from"])
    assert taken[-1].checkpoint["window_from"] == state.scan["window_from"]
    webex.clear_log()

    got = indexed(connection, SUBJECT_EMAIL, window=timedelta(hours=12))

    listed = [r for r in calls(webex, MEETINGS_PATH) if "from" in r.query]
    assert _parse(listed[0].query["from"][0]) == saved_from  # not the watermark again
    assert meetings(taken) == {}
    assert set(got) == truth_ids(webex, SUBJECT_EMAIL)
    assert got == full_scan(connection, SUBJECT_EMAIL)
