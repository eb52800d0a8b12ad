"""The fetch pipeline with a scripted provider: storing, resuming, pausing, retrying."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from connectors.exceptions import GrantRevoked, RateLimited, Transient, Unauthorized
from connectors.models import Connection
from connectors.providers.base import Batch, SubjectNotFound
from connectors.providers.registry import all_providers, override_providers
from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Record, Result
from requests_app.services import fetching
from requests_app.tasks import fetch_result
from tests.factories import ConnectionFactory, PrivacyRequestFactory, ResultFactory

pytestmark = pytest.mark.django_db


class FakeClient:
    call_count = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class ScriptedProvider:
    """Yields three pages of meetings; can fail before a given page."""

    slug = "webex"
    display_name = "Webex"
    revoke_url = None

    def __init__(self, pages=3, per_page=4, fail_before=None, error=None, fail_times=1):
        self.pages, self.per_page = pages, per_page
        self.fail_before, self.error, self.fail_times = fail_before, error, fail_times
        self.started_from: list[int] = []

    def api_base_url(self, stored):
        return "http://fake.invalid"

    def fetch_access(self, client, email, *, checkpoint=None):
        start = (checkpoint or {}).get("next_page", 0)
        self.started_from.append(start)
        for page in range(start, self.pages):
            if page == self.fail_before and self.fail_times > 0:
                self.fail_times -= 1
                raise self.error
            records = [
                (f"m-{page}-{i}", {"id": f"m-{page}-{i}", "title": f"Meeting {page}.{i}"})
                for i in range(self.per_page)
            ]
            yield Batch(
                "meeting",
                records,
                checkpoint={"next_page": page + 1},
                progress={"windows_done": page + 1, "windows_total": self.pages, "pages": page + 1},
            )


@pytest.fixture
def provider(monkeypatch):
    scripted = ScriptedProvider()
    monkeypatch.setattr("connectors.clients.api_client_for", lambda connection: FakeClient())
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: None)
    with override_providers([scripted if p.slug == "webex" else p for p in all_providers()]):
        yield scripted


def make_result(**kwargs) -> Result:
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.PROCESSING)
    return ResultFactory(request=request, **{"status": Result.Status.QUEUED, **kwargs})


def test_fetch_stores_every_record_and_moves_request_to_review(provider):
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    result.refresh_from_db()
    assert Record.objects.filter(result=result).count() == 12
    assert result.progress["records"] == 12
    assert result.progress["windows_done"] == 3
    assert result.request.status == PrivacyRequest.Status.IN_REVIEW
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"result.finished", "request.status_changed"} <= actions


def test_re_running_a_finished_result_changes_nothing(provider):
    result = make_result()
    fetch_result(result.pk)
    before = list(Record.objects.order_by("id").values_list("id", "external_id", "data"))
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    assert list(Record.objects.order_by("id").values_list("id", "external_id", "data")) == before
    assert provider.started_from == [0]


def test_a_forced_rerun_upserts_instead_of_duplicating(provider):
    result = make_result()
    fetch_result(result.pk)
    Result.objects.filter(pk=result.pk).update(status=Result.Status.QUEUED, checkpoint={})
    fetch_result(result.pk)
    assert Record.objects.filter(result=result).count() == 12
    assert provider.started_from == [0, 0]


def test_transient_failure_retries_from_the_checkpoint(provider):
    provider.fail_before, provider.error = (
        2,
        Transient(provider="webex", method="GET", path="/meetings", status=503, code="http_503"),
    )
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.QUEUED
    result.refresh_from_db()
    assert result.error_code == "http_503"
    assert result.next_attempt_at > timezone.now()
    assert Record.objects.filter(result=result).count() == 8
    # Not due yet: a redelivered task does nothing.
    assert fetch_result(result.pk) == Result.Status.QUEUED
    with time_machine.travel(result.next_attempt_at + timedelta(seconds=1), tick=False):
        assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    assert provider.started_from == [0, 2]
    assert Record.objects.filter(result=result).count() == 12


def test_transient_failures_give_up_after_the_attempt_limit(provider, settings):
    settings.FETCH_MAX_ATTEMPTS = 2
    provider.fail_before, provider.fail_times = 0, 10
    provider.error = Transient(provider="webex", method="GET", path="/x", code="timeout")
    result = make_result()
    fetch_result(result.pk)
    result.refresh_from_db()
    with time_machine.travel(result.next_attempt_at + timedelta(seconds=1), tick=False):
        assert fetch_result(result.pk) == Result.Status.FAILED
    result.refresh_from_db()
    assert result.error_code == "timeout"
    assert "2 times in a row" in result.error_message
    assert result.request.status == PrivacyRequest.Status.IN_REVIEW


def test_rate_limit_waits_and_shows_until_when(provider):
    provider.fail_before = 1
    provider.error = RateLimited(
        provider="webex", method="GET", path="/meetings", status=429, retry_after=120
    )
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.WAITING
    result.refresh_from_db()
    assert result.progress["waiting_until"] == result.next_attempt_at.isoformat()
    assert 119 <= (result.next_attempt_at - timezone.now()).total_seconds() <= 121
    with time_machine.travel(result.next_attempt_at + timedelta(seconds=1), tick=False):
        assert fetching.fetch_sweep() == 1
        assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    assert provider.started_from == [0, 1]


def test_revoked_grant_pauses_and_reconnect_resumes(provider):
    provider.fail_before = 1
    provider.error = GrantRevoked(provider="webex", method="POST", path="/access_token")
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.PAUSED
    result.refresh_from_db()
    assert result.error_code == "needs_reauth"
    assert result.request.status == PrivacyRequest.Status.PROCESSING
    assert fetching.fetch_resume_for_connection(connection_id=result.connection_id) == 1
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    assert provider.started_from == [0, 1]
    assert Record.objects.filter(result=result).count() == 12


def test_needs_reauth_connection_is_not_called(provider):
    result = make_result()
    Connection.objects.filter(pk=result.connection_id).update(status=Connection.Status.NEEDS_REAUTH)
    assert fetch_result(result.pk) == Result.Status.PAUSED
    assert provider.started_from == []


def test_subject_not_found_is_no_data_not_an_error(monkeypatch, provider):
    def not_found(client, email, *, checkpoint=None):
        raise SubjectNotFound("No Zoom user has this email address.")
        yield  # pragma: no cover

    monkeypatch.setattr(provider, "fetch_access", not_found)
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.NO_DATA
    result.refresh_from_db()
    assert result.progress["notes"]["subject"] == "No Zoom user has this email address."


def test_unexpected_errors_fail_with_a_short_reason(monkeypatch, provider):
    def boom(client, email, *, checkpoint=None):
        raise KeyError("SENTINEL-internal-detail")
        yield  # pragma: no cover

    monkeypatch.setattr(provider, "fetch_access", boom)
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.FAILED
    result.refresh_from_db()
    assert result.error_code == "internal_error"
    assert "SENTINEL" not in result.error_message


def test_a_live_run_is_not_duplicated_by_a_redelivered_task(provider):
    result = make_result()
    Result.objects.filter(pk=result.pk).update(
        status=Result.Status.RUNNING, heartbeat_at=timezone.now()
    )
    assert fetch_result(result.pk) == Result.Status.RUNNING
    assert provider.started_from == []


def test_sweeper_recovers_a_run_whose_worker_died(provider, settings):
    result = make_result()
    Result.objects.filter(pk=result.pk).update(
        status=Result.Status.RUNNING,
        heartbeat_at=timezone.now() - timedelta(seconds=settings.FETCH_STALE_AFTER_SECONDS + 5),
        checkpoint={"next_page": 2},
    )
    assert fetching.fetch_sweep() == 1
    assert Result.objects.get(pk=result.pk).status == Result.Status.QUEUED
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    assert provider.started_from == [2]


def test_time_slice_requeues_from_the_checkpoint(provider, settings, monkeypatch):
    settings.FETCH_SLICE_SECONDS = -1  # every batch ends the slice
    requeued = []
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: requeued.append(result_id))
    result = make_result()
    for _ in range(3):
        assert fetch_result(result.pk) == Result.Status.QUEUED
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    assert provider.started_from == [0, 1, 2, 3]
    assert Record.objects.filter(result=result).count() == 12


def test_staff_retry_of_a_failed_result(provider, staff_user):
    result = make_result(status=Result.Status.FAILED, error_code="http_500", failures=5)
    fetching.fetch_retry(result=result, actor=staff_user)
    result.refresh_from_db()
    assert (result.status, result.failures, result.error_code) == (Result.Status.QUEUED, 0, "")
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED


def test_crash_hook_requeues_then_fails(provider, settings):
    settings.FETCH_MAX_ATTEMPTS = 2
    result = make_result()
    dispatch = uuid.uuid4()
    Result.objects.filter(pk=result.pk).update(status=Result.Status.RUNNING, run_token=dispatch)
    fetching.fetch_task_crashed(result_id=result.pk, dispatch=dispatch)
    assert Result.objects.get(pk=result.pk).status == Result.Status.QUEUED
    Result.objects.filter(pk=result.pk).update(status=Result.Status.RUNNING)
    fetching.fetch_task_crashed(result_id=result.pk, dispatch=dispatch)
    result.refresh_from_db()
    assert (result.status, result.error_code) == (Result.Status.FAILED, "worker_crashed")


def test_crash_hook_leaves_a_newer_run_alone(provider):
    result = make_result()
    Result.objects.filter(pk=result.pk).update(
        status=Result.Status.RUNNING, run_token=uuid.uuid4(), heartbeat_at=timezone.now()
    )
    fetching.fetch_task_crashed(result_id=result.pk, dispatch=uuid.uuid4())
    result.refresh_from_db()
    assert (result.status, result.failures) == (Result.Status.RUNNING, 0)


def test_time_slices_do_not_count_as_failures(provider, settings, monkeypatch):
    settings.FETCH_SLICE_SECONDS = -1
    settings.FETCH_MAX_ATTEMPTS = 2
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: None)
    provider.fail_before = 2
    provider.error = Transient(provider="webex", method="GET", path="/x", code="timeout")
    result = make_result()
    fetch_result(result.pk)  # slice 1
    fetch_result(result.pk)  # slice 2
    assert fetch_result(result.pk) == Result.Status.QUEUED  # the first failure: retried
    result.refresh_from_db()
    assert (result.attempts, result.failures) == (3, 1)


def test_unauthorized_after_refresh_pauses_and_flags_the_connection(provider):
    provider.fail_before = 1
    provider.error = Unauthorized(provider="webex", method="GET", path="/meetings", status=401)
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.PAUSED
    assert Connection.objects.get(pk=result.connection_id).status == (
        Connection.Status.NEEDS_REAUTH
    )


def test_database_errors_are_retried_not_failed(provider, monkeypatch):
    from django.db import OperationalError

    provider.fail_before = 1
    provider.error = OperationalError("database is locked")
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.QUEUED
    result.refresh_from_db()
    assert result.error_code == "database_busy"


def test_start_creates_one_result_per_api_connection_and_enqueues_ids_only(
    monkeypatch, django_capture_on_commit_callbacks
):
    from django_q.conf import Conf

    packages = []

    class RecordingBroker:
        """Stands in for whichever broker is configured (ORM or Redis): keeps the package."""

        list_key = "test"

        def enqueue(self, package):
            packages.append(package)
            return "1"

    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr("django_q.tasks.get_broker", lambda *args: RecordingBroker())
    active = ConnectionFactory(connected=True, access_token="SENTINEL-token-q2")
    paused = ConnectionFactory(connected=True, status=Connection.Status.NEEDS_REAUTH)
    never = ConnectionFactory()  # never connected: listed as skipped, with the reason
    ConnectionFactory(connected=True, access_mode=Connection.AccessMode.DIRECT_CONTACT)
    request = PrivacyRequestFactory(subject_email="SENTINEL@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        results = fetching.fetch_start(privacy_request=request)
    statuses = {r.connection_id: r.status for r in results}
    assert statuses == {
        active.pk: Result.Status.QUEUED,
        paused.pk: Result.Status.PAUSED,
        never.pk: Result.Status.SKIPPED,
    }
    from django_q.signing import SignedPackage

    assert len(packages) == 1
    task = SignedPackage.loads(packages[0])
    result_id, dispatch = task["args"]
    assert result_id == next(r.pk for r in results if r.connection_id == active.pk)
    assert isinstance(dispatch, uuid.UUID)
    assert all(isinstance(a, int | uuid.UUID) for a in task["args"])
    assert not task["kwargs"]
    assert "SENTINEL" not in repr(task)
    # Starting again does not create more results.
    with django_capture_on_commit_callbacks(execute=True):
        fetching.fetch_start(privacy_request=request)
    assert Result.objects.filter(request=request).count() == 3


def test_request_states_that_cannot_be_fetched(staff_user):
    from django.core.exceptions import ValidationError

    ConnectionFactory(connected=True)
    for status in (
        PrivacyRequest.Status.AWAITING_VERIFICATION,
        PrivacyRequest.Status.APPROVED,
        PrivacyRequest.Status.CANCELLED,
    ):
        request = PrivacyRequestFactory(status=status)
        with pytest.raises(ValidationError):
            fetching.fetch_start(privacy_request=request, actor=staff_user)
        assert not request.results.exists()
        request.refresh_from_db()
        assert request.status == status


def test_fetching_again_with_nothing_new_keeps_the_request_in_review(provider):
    result = make_result(status=Result.Status.SUCCEEDED)
    request = result.request
    PrivacyRequest.objects.filter(pk=request.pk).update(status=PrivacyRequest.Status.IN_REVIEW)
    fetching.fetch_start(privacy_request=request)
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW


def test_no_connections_at_all_never_reaches_review():
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.PROCESSING)
    assert fetching.fetch_start(privacy_request=request) == []
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.PROCESSING


def test_retry_is_refused_once_the_request_is_cancelled(provider, staff_user):
    from django.core.exceptions import ValidationError

    result = make_result(status=Result.Status.FAILED)
    PrivacyRequest.objects.filter(pk=result.request_id).update(
        status=PrivacyRequest.Status.CANCELLED
    )
    with pytest.raises(ValidationError):
        fetching.fetch_retry(result=result, actor=staff_user)
    result.refresh_from_db()
    assert result.status == Result.Status.FAILED


def test_a_connection_that_failed_verification_pauses_its_result(provider):
    connection = ConnectionFactory(connected=True, status=Connection.Status.ERROR)
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.PROCESSING)
    (result,) = fetching.fetch_start(privacy_request=request)
    assert result.status == Result.Status.PAUSED
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.PROCESSING  # not silently in review
    assert connection.pk == result.connection_id


def test_sweeper_moves_on_a_request_whose_results_all_finished(provider):
    result = make_result(status=Result.Status.SUCCEEDED)
    fetching.fetch_sweep()
    result.request.refresh_from_db()
    assert result.request.status == PrivacyRequest.Status.IN_REVIEW


def test_disconnecting_ends_unfinished_fetches_so_the_request_moves_on(provider, staff_user):
    from connectors.services import connection_disconnect

    result = make_result()
    connection_disconnect(connection=result.connection, actor=staff_user)
    result.refresh_from_db()
    assert (result.status, result.error_code) == (Result.Status.SKIPPED, "disconnected")
    result.request.refresh_from_db()
    assert result.request.status == PrivacyRequest.Status.IN_REVIEW
    assert AuditEvent.objects.filter(action="result.skipped", actor=staff_user).exists()


def test_a_run_that_keeps_killing_its_worker_ends_as_failed(provider, settings):
    settings.FETCH_MAX_ATTEMPTS = 2
    result = make_result()
    stale = timezone.now() - timedelta(seconds=settings.FETCH_STALE_AFTER_SECONDS + 5)
    for _ in range(2):
        Result.objects.filter(pk=result.pk).update(status=Result.Status.RUNNING, heartbeat_at=stale)
        fetching.fetch_sweep()
    result.refresh_from_db()
    assert (result.status, result.error_code) == (Result.Status.FAILED, "worker_lost")


def test_sweeper_resumes_paused_results_whose_connection_works_again(provider):
    result = make_result(status=Result.Status.PAUSED, error_code="needs_reauth")
    assert fetching.fetch_sweep() == 1
    result.refresh_from_db()
    assert result.status == Result.Status.QUEUED


def test_nothing_more_is_fetched_for_a_closed_request(provider):
    result = make_result()
    PrivacyRequest.objects.filter(pk=result.request_id).update(
        status=PrivacyRequest.Status.CANCELLED
    )
    assert fetch_result(result.pk) == Result.Status.SKIPPED
    assert provider.started_from == []


def test_other_database_errors_fail_without_quoting_data(provider, caplog):
    from django.db import DataError

    provider.fail_before = 1
    provider.error = DataError("invalid input: SENTINEL-row-value")
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.FAILED
    result.refresh_from_db()
    assert result.error_code == "internal_error"
    assert "SENTINEL" not in caplog.text
    assert "DataError" in repr([r.__dict__ for r in caplog.records])


def test_nul_characters_are_dropped_before_storing(provider, monkeypatch):
    def with_nul(client, email, *, checkpoint=None):
        yield Batch("meeting", [("m-1", {"title": "a\x00b", "x\x00": ["c\x00"]})])

    monkeypatch.setattr(provider, "fetch_access", with_nul)
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    assert Record.objects.get(result=result).data == {"title": "ab", "x": ["c"]}


def test_an_escaping_task_error_leaves_only_its_class(monkeypatch):
    from requests_app import tasks

    def boom(**kwargs):
        raise ValueError("SENTINEL personal data")

    monkeypatch.setattr(fetching, "fetch_execute", boom)
    with pytest.raises(tasks.FetchTaskError) as raised:
        tasks.fetch_result(1)
    assert str(raised.value) == "fetch task failed: ValueError"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_nul_characters_are_dropped_and_look_alike_text_is_kept(provider):
    """PostgreSQL's jsonb refuses U+0000: it is removed from keys, values and ids; an
    escaped backslash followed by the text "u0000" is data and stays as it is."""
    nul_record = {
        "id": "m\x00-1",
        "title": "Budget\x00 review",
        "path": "C:\\u0000\\x",
        "tail": "\\\x00",
        "nested": [{"k\x00ey": "\x00"}],
    }

    def fetch_access(client, email, *, checkpoint=None):
        yield Batch("meeting", [("m\x00-1", nul_record)], checkpoint={}, progress={})

    provider.fetch_access = fetch_access
    result = make_result()
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    record = Record.objects.get(result=result)
    assert record.external_id == "m-1"
    assert record.data == {
        "id": "m-1",
        "title": "Budget review",
        "path": "C:\\u0000\\x",
        "tail": "\\",
        "nested": [{"key": ""}],
    }


def test_a_forced_rerun_refreshes_the_data_and_keeps_review_decisions(provider):
    result = make_result()
    fetch_result(result.pk)
    Record.objects.filter(result=result, external_id="m-0-0").update(
        included=False, data={"id": "m-0-0", "title": "stale"}
    )
    Result.objects.filter(pk=result.pk).update(status=Result.Status.QUEUED, checkpoint={})
    fetch_result(result.pk)
    record = Record.objects.get(result=result, external_id="m-0-0")
    assert record.data == {"id": "m-0-0", "title": "Meeting 0.0"}
    assert record.included is False
    assert Record.objects.filter(result=result).count() == 12
