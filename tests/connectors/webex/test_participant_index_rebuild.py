"""When the participant index is rebuilt, dropped or bypassed, and the pipeline with it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.utils import timezone

from connectors.models import WebexIndexedInstance, WebexIndexedParticipant, WebexParticipantIndex
from connectors.providers.webex_index import PURGE_GRACE
from connectors.simulator.seed import SUBJECT_EMAIL, UNKNOWN_EMAIL
from requests_app.models import PrivacyRequest, Record, Result
from requests_app.services import fetching
from tests.connectors.webex.index_support import (
    LOOKBACK,
    UNLIMITED,
    full_scan,
    indexed,
    participant_reads,
    truth_ids,
)
from tests.factories import PrivacyRequestFactory, ResultFactory, simulator_connection

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("max_jitter_clock")]


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


@pytest.fixture
def built(webex, connection):
    """An index built by one request; the log cleared; the number of instances indexed."""
    indexed(connection, UNKNOWN_EMAIL)
    webex.clear_log()
    return WebexIndexedInstance.objects.filter(index__connection=connection).count()


def assert_rebuilt(webex, connection, built: int) -> None:
    got = indexed(connection, SUBJECT_EMAIL)
    assert got == full_scan(connection, SUBJECT_EMAIL)
    assert set(got) == truth_ids(webex, SUBJECT_EMAIL)
    reads = participant_reads(webex)
    assert len(reads) >= built  # the index's reads, then the full scan's


def test_reconnected_to_another_organisation_rebuilds(webex, connection, built):
    WebexParticipantIndex.objects.filter(connection=connection).update(org_id="another-org")
    assert_rebuilt(webex, connection, built)
    assert WebexParticipantIndex.objects.get(connection=connection).org_id == (
        webex.state.org.webex.org_id
    )


def test_changed_scopes_rebuild(webex, connection, built):
    connection.granted_scopes = [*connection.granted_scopes, "spark:people_read"]
    connection.save(update_fields=["granted_scopes"])
    assert_rebuilt(webex, connection, built)
    state = WebexParticipantIndex.objects.get(connection=connection)
    assert "spark:people_read" in state.scopes


def test_key_rotation_rebuilds_with_new_hashes(webex, connection, built, settings):
    before = set(WebexIndexedParticipant.objects.values_list("email_hash", flat=True))
    old_key_id = WebexParticipantIndex.objects.get(connection=connection).key_id
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEY]
    assert_rebuilt(webex, connection, built)
    after = set(WebexIndexedParticipant.objects.values_list("email_hash", flat=True))
    assert after and not before & after
    assert WebexParticipantIndex.objects.get(connection=connection).key_id != old_key_id


def test_a_longer_lookback_is_a_gap_and_rebuilds(webex, connection, built, settings):
    settings.FETCH_LOOKBACK_DAYS = LOOKBACK + 15
    got = indexed(connection, SUBJECT_EMAIL)
    assert len(participant_reads(webex)) > built
    assert got == full_scan(connection, SUBJECT_EMAIL)
    assert set(got) == truth_ids(webex, SUBJECT_EMAIL, LOOKBACK + 15)


def test_a_scan_position_that_does_not_continue_the_watermark_rebuilds(webex, connection, built):
    state = WebexParticipantIndex.objects.get(connection=connection)
    later = state.watermark + timedelta(days=1)
    scan = {
        "webex_scan": 1,
        "range_from": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "range_to": (later + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_from": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "span_seconds": 3600,
    }
    WebexParticipantIndex.objects.filter(pk=state.pk).update(scan=scan)
    assert_rebuilt(webex, connection, built)


def index_aged(connection, by: timedelta = timedelta(minutes=5)) -> None:
    """The watermark moves back: the next request must top the index up."""
    state = WebexParticipantIndex.objects.get(connection=connection)
    WebexParticipantIndex.objects.filter(pk=state.pk).update(watermark=state.watermark - by)


def test_entries_older_than_the_lookback_are_dropped(webex, connection, built, settings):
    settings.FETCH_LOOKBACK_DAYS = 10
    index_aged(connection)
    got = indexed(connection, SUBJECT_EMAIL)
    # Still trusted: nothing was read again but the subject's own instances.
    assert len(participant_reads(webex)) <= len(got) + 3
    assert got == full_scan(connection, SUBJECT_EMAIL)
    assert set(got) == truth_ids(webex, SUBJECT_EMAIL, 10)
    oldest = timezone.now() - timedelta(days=10) - PURGE_GRACE - timedelta(minutes=1)
    instances = WebexIndexedInstance.objects.filter(index__connection=connection)
    assert instances.exists() and not instances.filter(start__lt=oldest).exists()
    assert instances.count() < built


def test_the_command_rebuilds_from_scratch(webex, connection, built, capsys):
    first_ids = set(WebexIndexedInstance.objects.values_list("pk", flat=True))
    call_command("rebuild_participant_index", connection.name)
    assert f"{connection.name}: {built} meeting instances indexed" in capsys.readouterr().out
    assert len(participant_reads(webex)) == built
    assert not first_ids & set(WebexIndexedInstance.objects.values_list("pk", flat=True))
    webex.clear_log()
    got = indexed(connection, SUBJECT_EMAIL)
    assert set(got) == truth_ids(webex, SUBJECT_EMAIL)
    assert len(participant_reads(webex)) <= len(got) + 3


def test_the_command_refuses_an_unknown_connection(connection):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no active Webex connection"):
        call_command("rebuild_participant_index", "nope")


def test_a_dead_holders_lease_expires(webex, connection, built):
    WebexParticipantIndex.objects.filter(connection=connection).update(
        lease_token="dead", lease_until=timezone.now() - timedelta(seconds=1)
    )
    index_aged(connection)
    assert set(indexed(connection, SUBJECT_EMAIL)) == truth_ids(webex, SUBJECT_EMAIL)
    assert WebexParticipantIndex.objects.get(connection=connection).lease_token == ""


# --- through the fetch pipeline -----------------------------------------------------------


@pytest.fixture
def pipeline(monkeypatch):
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: None)


def run_request(connection, email: str = SUBJECT_EMAIL) -> Result:
    request = PrivacyRequestFactory(subject_email=email, status=PrivacyRequest.Status.PROCESSING)
    result = ResultFactory(request=request, connection=connection, status=Result.Status.QUEUED)
    fetching.fetch_execute(result_id=result.pk)
    result.refresh_from_db()
    return result


def stored_ids(result: Result) -> set[str]:
    return set(Record.objects.filter(result=result).values_list("external_id", flat=True))


def test_pipeline_with_the_index_then_a_cheap_second_request(webex, connection, pipeline):
    first = run_request(connection)
    assert first.status == Result.Status.SUCCEEDED
    assert stored_ids(first) == truth_ids(webex, SUBJECT_EMAIL)
    assert first.checkpoint["webex_index"] == 1 and "webex_scan" not in first.checkpoint
    assert len(participant_reads(webex)) > 30
    webex.clear_log()
    second = run_request(connection, " Dana.Kowalski@ACME.example")
    assert stored_ids(second) == stored_ids(first)
    assert len(participant_reads(webex)) <= len(stored_ids(first)) + 3


def test_setting_off_scans_the_whole_organisation_as_before(webex, connection, pipeline, settings):
    settings.WEBEX_PARTICIPANT_INDEX = False
    first = run_request(connection)
    reads = len(participant_reads(webex))
    second = run_request(connection)
    assert stored_ids(first) == stored_ids(second) == truth_ids(webex, SUBJECT_EMAIL)
    assert len(participant_reads(webex)) == 2 * reads
    assert not WebexParticipantIndex.objects.exists()
    assert "webex_scan" in second.checkpoint
