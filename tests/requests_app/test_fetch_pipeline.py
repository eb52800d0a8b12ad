"""The fetch pipeline with a scripted provider: storing, resuming, pausing, retrying."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from connectors.exceptions import GrantRevoked, RateLimited, Transient
from connectors.models import Connection
from connectors.providers import base as provider_base
from connectors.providers.base import Batch, SubjectNotFound
from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Record, Result
from requests_app.services import fetching
from requests_app.tasks import fetch_result
from tests.factories import ConnectionFactory, PrivacyRequestFactory, ResultFactory

pytestmark = pytest.mark.django_db


class FakeClient:
    call_count = 0


class ScriptedProvider:
    """Yields three pages of meetings; can fail before a given page."""

    slug = "webex"
    display_name = "Webex"

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
    provider_base.get_provider("webex")  # fill the registry before replacing an entry
    monkeypatch.setitem(provider_base._REGISTRY, "webex", scripted)
    monkeypatch.setattr("connectors.clients.api_client_for", lambda connection: FakeClient())
    monkeypatch.setattr(fetching, "enqueue", lambda *, result_id: None)
    return scripted


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
    assert "after 2 attempts" in result.error_message
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
    monkeypatch.setattr(fetching, "enqueue", lambda *, result_id: requeued.append(result_id))
    result = make_result()
    for _ in range(3):
        assert fetch_result(result.pk) == Result.Status.QUEUED
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED
    assert provider.started_from == [0, 1, 2, 3]
    assert Record.objects.filter(result=result).count() == 12


def test_staff_retry_of_a_failed_result(provider, staff_user):
    result = make_result(status=Result.Status.FAILED, error_code="http_500", attempts=5)
    fetching.fetch_retry(result=result, actor=staff_user)
    result.refresh_from_db()
    assert (result.status, result.attempts, result.error_code) == (Result.Status.QUEUED, 0, "")
    assert fetch_result(result.pk) == Result.Status.SUCCEEDED


def test_crash_hook_requeues_then_fails(provider, settings):
    settings.FETCH_MAX_ATTEMPTS = 2
    result = make_result()
    Result.objects.filter(pk=result.pk).update(status=Result.Status.RUNNING, attempts=1)
    fetching.fetch_task_crashed(result_id=result.pk)
    assert Result.objects.get(pk=result.pk).status == Result.Status.QUEUED
    Result.objects.filter(pk=result.pk).update(status=Result.Status.RUNNING, attempts=2)
    fetching.fetch_task_crashed(result_id=result.pk)
    result.refresh_from_db()
    assert (result.status, result.error_code) == (Result.Status.FAILED, "worker_crashed")


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
    ConnectionFactory()  # never connected
    ConnectionFactory(connected=True, access_mode=Connection.AccessMode.DIRECT_CONTACT)
    request = PrivacyRequestFactory(subject_email="SENTINEL@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        results = fetching.fetch_start(privacy_request=request)
    statuses = {r.connection_id: r.status for r in results}
    assert statuses == {active.pk: Result.Status.QUEUED, paused.pk: Result.Status.PAUSED}
    from django_q.signing import SignedPackage

    assert len(packages) == 1
    task = SignedPackage.loads(packages[0])
    assert task["args"] == (next(r.pk for r in results if r.connection_id == active.pk),)
    assert all(isinstance(a, int) for a in task["args"])
    assert not task["kwargs"]
    assert "SENTINEL" not in repr(task)
    # Starting again does not create more results.
    with django_capture_on_commit_callbacks(execute=True):
        fetching.fetch_start(privacy_request=request)
    assert Result.objects.filter(request=request).count() == 2
