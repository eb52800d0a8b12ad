"""The Webex participant index gives exactly the full scan's answer, for a fraction of
its calls (connectors/providers/webex_index.py, connectors/participant_index.py)."""

from __future__ import annotations

import re

import pytest
from django.db import connection as db

from connectors.models import WebexIndexedInstance, WebexIndexedParticipant, WebexParticipantIndex
from connectors.simulator.seed import SUBJECT_EMAIL, UNKNOWN_EMAIL
from tests.connectors.webex.index_support import (
    LOOKBACK,
    MEETINGS_PATH,
    PEOPLE_ME_PATH,
    UNLIMITED,
    calls,
    full_scan,
    indexed,
    participant_reads,
    truth_ids,
)
from tests.factories import simulator_connection

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("max_jitter_clock")]

ASKED_AS = "  DANA.kowalski@Acme.EXAMPLE "


@pytest.fixture
def webex(simulator, settings):
    settings.CONNECTOR_RATE_LIMITS = UNLIMITED
    settings.FETCH_PARTICIPANT_CONCURRENCY = 4
    settings.FETCH_LOOKBACK_DAYS = LOOKBACK
    simulator.configure(webex_rate_per_minute=100_000)
    return simulator


@pytest.fixture
def connection(webex):
    return simulator_connection(webex, "webex")


def test_cold_request_equals_the_full_scan_and_the_truth(webex, connection):
    expected = full_scan(connection, SUBJECT_EMAIL)
    scan_reads = len(participant_reads(webex))
    webex.clear_log()

    got = indexed(connection, ASKED_AS)

    assert got == expected
    assert set(got) == truth_ids(webex, SUBJECT_EMAIL) and len(got) > 5
    # The cold build reads every instance once and answers its own subject on the way.
    assert len(participant_reads(webex)) == scan_reads
    state = WebexParticipantIndex.objects.get(connection=connection)
    assert state.watermark and state.scan is None and state.lease_token == ""
    assert state.org_id == webex.state.org.webex.org_id


def test_warm_request_reads_only_its_own_meetings(webex, connection):
    indexed(connection, UNKNOWN_EMAIL)  # builds the index
    expected = full_scan(connection, SUBJECT_EMAIL)
    webex.clear_log()

    got = indexed(connection, SUBJECT_EMAIL)

    assert got == expected
    reads = participant_reads(webex)
    # Its own instances, plus at most the unsettled ones (the all-day meeting in progress).
    assert set(got) <= set(reads) and len(reads) <= len(got) + 3
    assert len(calls(webex, PEOPLE_ME_PATH)) == 1
    instances = WebexIndexedInstance.objects.filter(index__connection=connection).count()
    assert len(webex.requests("webex")) < len(got) * 2 + 10 < instances


def test_subject_in_other_case_and_unknown_subject(webex, connection):
    indexed(connection, SUBJECT_EMAIL)
    assert indexed(connection, "DANA.KOWALSKI@ACME.EXAMPLE") == indexed(connection, SUBJECT_EMAIL)
    webex.clear_log()
    assert indexed(connection, UNKNOWN_EMAIL) == {}
    assert len(participant_reads(webex)) <= 3  # nothing of its own: only unsettled instances


def test_the_index_holds_no_email_and_no_name(webex, connection):
    indexed(connection, SUBJECT_EMAIL)
    hashes = list(WebexIndexedParticipant.objects.values_list("email_hash", flat=True))
    assert len(hashes) > 300 and all(re.fullmatch(r"[0-9a-f]{32}", h) for h in hashes)
    with db.cursor() as cursor:
        dumped = []
        for model in (WebexParticipantIndex, WebexIndexedInstance, WebexIndexedParticipant):
            cursor.execute(f"SELECT * FROM {model._meta.db_table}")
            dumped.extend(str(row) for row in cursor.fetchall())
    blob = "\n".join(dumped).lower()
    assert "@" not in blob
    people = webex.state.org.webex.people.values()
    assert not [p for p in people if p.display_name.lower() in blob]


def test_listing_and_reads_after_the_build(webex, connection):
    indexed(connection, SUBJECT_EMAIL)
    webex.clear_log()
    indexed(connection, SUBJECT_EMAIL)
    listings = calls(webex, MEETINGS_PATH)
    # The margin's listing plus one narrow listing per matching instance; never the lookback.
    assert listings and all("from" in r.query or "cursor" in r.query for r in listings)
