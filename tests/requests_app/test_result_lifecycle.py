"""The Result lifecycle: one transition per target status, and the outcome table's order."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import DataError, OperationalError
from django.utils import timezone

from connectors.exceptions import (
    ApiError,
    ClientError,
    Forbidden,
    GrantRevoked,
    MalformedResponse,
    NotFound,
    RateLimited,
    ScopeMissing,
    Transient,
    Unauthorized,
)
from connectors.providers.base import SubjectNotFound
from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Result
from requests_app.services.fetching import (
    OUTCOMES,
    TRANSITIONS,
    Retry,
    StaleRun,
    outcome_for,
    result_transition,
)
from requests_app.services.fetching.outcomes import backoff_seconds, rate_limit_seconds
from tests.factories import ConnectionFactory, PrivacyRequestFactory, ResultFactory, StaffFactory

pytestmark = pytest.mark.django_db

EARLIER = timezone.now() - timedelta(days=1)
FINISHED = set(Result.FINISHED_STATUSES)


def _busy_result(**kwargs) -> Result:
    """A Result with every lifecycle column filled, so each reset is visible."""
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.PROCESSING)
    values = {
        "status": Result.Status.RUNNING,
        "error_code": "old_code",
        "error_message": "Old message.",
        "failures": 2,
        "attempts": 3,
        "queued_at": EARLIER,
        "started_at": EARLIER,
        "heartbeat_at": EARLIER,
        "finished_at": EARLIER,
        "next_attempt_at": EARLIER,
        "progress": {"records": 7},
        **kwargs,
    }
    return ResultFactory(request=request, **values)


# (target, columns that become "now", columns that become None)
EXPECTED = [
    # Direct Contact only: a task that cannot be sent yet.
    (Result.Status.PENDING, set(), {"next_attempt_at", "finished_at"}),
    (Result.Status.QUEUED, {"queued_at"}, {"finished_at"}),
    (Result.Status.WAITING, {"queued_at"}, {"finished_at"}),
    (Result.Status.RUNNING, {"heartbeat_at"}, {"next_attempt_at"}),
    (Result.Status.PAUSED, set(), {"next_attempt_at", "finished_at"}),
    (Result.Status.SUCCEEDED, {"finished_at"}, {"next_attempt_at"}),
    (Result.Status.NO_DATA, {"finished_at"}, {"next_attempt_at"}),
    (Result.Status.FAILED, {"finished_at"}, {"next_attempt_at"}),
    (Result.Status.SKIPPED, {"finished_at"}, {"next_attempt_at"}),
]
AUDIT = {
    Result.Status.PENDING: None,
    Result.Status.QUEUED: None,
    Result.Status.WAITING: None,
    Result.Status.RUNNING: None,
    Result.Status.PAUSED: "result.paused",
    Result.Status.SUCCEEDED: "result.finished",
    Result.Status.NO_DATA: "result.finished",
    Result.Status.FAILED: "result.finished",
    Result.Status.SKIPPED: "result.skipped",
}


def test_every_status_a_result_can_enter_has_a_row():
    assert set(TRANSITIONS) == set(Result.Status.values)
    assert {target for target, _, _ in EXPECTED} == set(TRANSITIONS)


@pytest.mark.parametrize(("target", "stamped", "cleared"), EXPECTED)
def test_transition_sets_and_resets_its_columns_and_saves_once(
    target, stamped, cleared, django_assert_num_queries
):
    result = _busy_result()
    at = timezone.now() + timedelta(minutes=5)
    before = timezone.now()
    # One UPDATE, plus the audit event's INSERT where the row names one.
    with django_assert_num_queries(1 + (AUDIT[target] is not None)):
        result_transition(result, target, at=at, check_request=False)
    stored = Result.objects.get(pk=result.pk)
    assert stored.status == target
    for column in stamped:
        assert getattr(stored, column) >= before, column
    for column in cleared - {"next_attempt_at"}:
        assert getattr(stored, column) is None, column
    if TRANSITIONS[target].schedules:
        assert stored.next_attempt_at == at  # the caller's "due at" wins over any reset
    elif "next_attempt_at" in cleared:
        assert stored.next_attempt_at is None
    # Columns the row does not name are left alone.
    untouched = {"queued_at", "started_at", "heartbeat_at", "finished_at", "next_attempt_at"}
    untouched -= stamped | cleared | {"started_at"}
    if TRANSITIONS[target].schedules:
        untouched.discard("next_attempt_at")
    for column in untouched:
        assert getattr(stored, column) == EARLIER, column
    assert stored.started_at == EARLIER  # a resumed run keeps its first start
    # Error, counters and progress change only when the caller says so.
    assert (stored.error_code, stored.error_message) == ("old_code", "Old message.")
    assert (stored.failures, stored.attempts, stored.progress) == (2, 3, {"records": 7})


@pytest.mark.parametrize("target", list(AUDIT))
def test_transition_writes_at_most_one_audit_event(target):
    result = _busy_result()
    result_transition(result, target, code="x_code", check_request=False)
    events = list(AuditEvent.objects.filter(target_id=str(result.pk)).order_by("id"))
    if AUDIT[target] is None:
        assert events == []
    else:
        (event,) = events
        assert event.action == AUDIT[target]
        assert event.details["error_code"] == "x_code"
        assert event.target_type == "requests_app.result"


def test_finished_event_details_are_ids_and_counts():
    result = _busy_result()
    result_transition(result, Result.Status.FAILED, code="http_500", message="Provider broke.")
    event = AuditEvent.objects.get(action="result.finished")
    assert event.details == {
        "request_id": result.request_id,
        "connection_id": result.connection_id,
        "status": "failed",
        "error_code": "http_500",
        "records": 7,
    }


def test_caller_values_code_message_changes_actor_and_action():
    staff = StaffFactory()
    result = _busy_result(started_at=None)
    result_transition(
        result,
        Result.Status.QUEUED,
        code="",
        message="x" * 600,
        changes={"failures": 0},
        action="result.retried",
        actor=staff,
        check_request=False,
    )
    stored = Result.objects.get(pk=result.pk)
    assert (stored.error_code, len(stored.error_message), stored.failures) == ("", 500, 0)
    assert stored.next_attempt_at is None  # no "at": due at once
    event = AuditEvent.objects.get(target_id=str(result.pk))
    assert (event.action, event.actor) == ("result.retried", staff)


def test_running_stamps_started_at_only_the_first_time():
    result = _busy_result(status=Result.Status.QUEUED, started_at=None)
    token = uuid.uuid4()
    result_transition(result, Result.Status.RUNNING, changes={"run_token": token})
    stored = Result.objects.get(pk=result.pk)
    assert stored.started_at is not None and stored.run_token == token


@pytest.mark.parametrize("target", list(TRANSITIONS))
def test_finishing_the_last_result_moves_the_request_to_review(target):
    result = _busy_result()
    result_transition(result, target)
    request = PrivacyRequest.objects.get(pk=result.request_id)
    expected = (
        PrivacyRequest.Status.IN_REVIEW if target in FINISHED else PrivacyRequest.Status.PROCESSING
    )
    assert request.status == expected
    moved = AuditEvent.objects.filter(action="request.status_changed").count()
    assert moved == (1 if target in FINISHED else 0)


def test_finishing_one_of_two_results_keeps_the_request_processing():
    result = _busy_result()
    ResultFactory(request=result.request, status=Result.Status.RUNNING)
    result_transition(result, Result.Status.SUCCEEDED)
    assert PrivacyRequest.objects.get(pk=result.request_id).status == "processing"


def test_check_request_false_leaves_the_request_to_the_caller():
    result = _busy_result()
    result_transition(result, Result.Status.SKIPPED, check_request=False)
    assert PrivacyRequest.objects.get(pk=result.request_id).status == "processing"


# --- The outcome table ----------------------------------------------------------------


def _api(cls, **kwargs):
    return cls(provider="webex", method="GET", path="/x", **kwargs)


@pytest.mark.parametrize(
    ("exc", "status", "code", "retry"),
    [
        (StaleRun(), None, None, Retry.NONE),
        (SubjectNotFound("No such user."), Result.Status.NO_DATA, "", Retry.NONE),
        (_api(GrantRevoked), Result.Status.PAUSED, "needs_reauth", Retry.NONE),
        (_api(Unauthorized, status=401), Result.Status.PAUSED, "needs_reauth", Retry.NONE),
        (_api(RateLimited, status=429), Result.Status.WAITING, "rate_limited", Retry.RATE_LIMIT),
        (_api(Transient, code="http_503"), Result.Status.QUEUED, "http_503", Retry.BACKOFF),
        (_api(MalformedResponse), Result.Status.QUEUED, "malformed_response", Retry.BACKOFF),
        (OperationalError("locked"), Result.Status.QUEUED, "database_busy", Retry.BACKOFF),
        (_api(ScopeMissing, status=403), Result.Status.FAILED, "scope_missing", Retry.NONE),
        (_api(Forbidden, status=403), Result.Status.FAILED, "forbidden", Retry.NONE),
        (_api(NotFound, status=404), Result.Status.FAILED, "not_found", Retry.NONE),
        (_api(ClientError, status=400), Result.Status.FAILED, "client_error", Retry.NONE),
        (_api(ApiError, status=500), Result.Status.FAILED, "api_error", Retry.NONE),
        (DataError("SENTINEL"), Result.Status.FAILED, "internal_error", Retry.NONE),
        (KeyError("SENTINEL"), Result.Status.FAILED, "internal_error", Retry.NONE),
    ],
)
def test_each_exception_gets_its_outcome(exc, status, code, retry):
    outcome = outcome_for(exc)
    assert (outcome.status, outcome.retry) == (status, retry)
    if status is not None:
        assert outcome.code_for(exc) == code
        assert "SENTINEL" not in outcome.message_for(exc)


def test_the_table_keeps_the_order_of_the_former_except_ladder():
    order = [outcome.types for outcome in OUTCOMES]
    assert order == [
        (StaleRun,),
        (SubjectNotFound,),
        (GrantRevoked,),
        (Unauthorized,),
        (RateLimited,),
        (Transient,),
        (OperationalError,),
        (ScopeMissing, Forbidden),
        (NotFound, ClientError, ApiError),
        (Exception,),
    ]


def test_no_row_is_shadowed_by_an_earlier_one():
    """A row whose types all inherit from an earlier row's type could never match."""
    for index, outcome in enumerate(OUTCOMES):
        earlier = [t for row in OUTCOMES[:index] for t in row.types]
        for cls in outcome.types:
            assert not any(issubclass(cls, base) for base in earlier), cls


def test_first_match_wins_like_an_except_clause():
    class Both(Transient, Forbidden):
        """Matches two rows: the earlier one (Transient) must win."""

    assert outcome_for(_api(Both)).retry is Retry.BACKOFF


def test_message_quotes_the_http_status_only():
    assert outcome_for(_api(ApiError, status=502)).message_for(_api(ApiError, status=502)) == (
        "The provider rejected a request (HTTP 502)."
    )


def test_backoff_and_rate_limit_waits():
    assert [backoff_seconds(n) for n in (1, 2, 3, 7, 8, 20)] == [60, 120, 240, 3600, 3600, 3600]
    assert rate_limit_seconds(_api(RateLimited, retry_after=120)) == 120
    assert rate_limit_seconds(_api(RateLimited)) == 60
    assert rate_limit_seconds(_api(RateLimited, retry_after=0.2)) == 1


# --- Direct Contact tasks are Results the API pipeline leaves alone -------------------


def _direct_contact(status: str, **kwargs) -> Result:
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.PROCESSING)
    return ResultFactory(
        request=request,
        workflow=Result.Workflow.DIRECT_CONTACT_ACCESS,
        status=status,
        connection=ConnectionFactory(connected=True),
        **kwargs,
    )


def test_run_sweep_and_retry_leave_direct_contact_tasks_alone(monkeypatch, staff_user):
    from requests_app.services import fetching

    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: pytest.fail("enqueued"))
    old = timezone.now() - timedelta(days=1)
    queued = _direct_contact(Result.Status.QUEUED, queued_at=old, next_attempt_at=old)
    running = _direct_contact(Result.Status.RUNNING, heartbeat_at=old)
    failed = _direct_contact(Result.Status.FAILED)
    assert fetching.fetch_execute(result_id=queued.pk) == Result.Status.QUEUED
    assert fetching.fetch_sweep() == 0
    fetching.fetch_retry(result=failed, actor=staff_user)
    assert Result.objects.get(pk=running.pk).status == Result.Status.RUNNING
    assert Result.objects.get(pk=failed.pk).status == Result.Status.FAILED
    assert (
        fetching.fetch_end_for_connection(
            connection_id=queued.connection_id, code="disconnected", message="Gone."
        )
        == 0
    )


def test_start_does_not_turn_a_direct_contact_task_into_a_fetch(monkeypatch):
    from requests_app.services import fetching

    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: None)
    task = _direct_contact(Result.Status.PENDING)
    assert fetching.fetch_start(privacy_request=task.request) == []
    assert Result.objects.get(pk=task.pk).status == Result.Status.PENDING
