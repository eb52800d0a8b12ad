"""Starting, retrying, resuming and ending API fetches, and handing them to django-q2."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from connectors.models import Connection
from portal.audit import audit_record
from portal.models import User
from requests_app.models import PrivacyRequest, Result
from requests_app.services.fetching.lifecycle import (
    FETCHABLE_REQUEST_STATUSES,
    privacy_request_check_fetched,
    privacy_request_status_set,
    result_transition,
)
from requests_app.services.fetching.queue import enqueue_on_commit

RETRYABLE_RESULT_STATUSES = (Result.Status.FAILED, Result.Status.PAUSED, Result.Status.SKIPPED)


def fetch_start(*, privacy_request: PrivacyRequest, actor: User | None = None) -> list[Result]:
    """One Result per API connection; usable ones are enqueued after commit.

    Every API connection gets a Result so none is left out silently: a connection
    that needs attention pauses its Result (it resumes after a reconnect or a
    successful verification), one that was never connected or was disconnected is
    skipped with the reason shown. Calling it again adds connections created since;
    a call that adds or starts nothing writes nothing (no audit event either).
    """
    with transaction.atomic():
        # Lock order everywhere: Results, then their request (as finishing a fetch does).
        list(
            Result.objects.select_for_update(no_key=True)
            .filter(request_id=privacy_request.pk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        privacy_request = PrivacyRequest.objects.select_for_update(no_key=True).get(
            pk=privacy_request.pk
        )
        if privacy_request.status not in FETCHABLE_REQUEST_STATUSES:
            raise ValidationError(
                f"A request that is {privacy_request.get_status_display().lower()} is not fetched."
            )
        results: list[Result] = []
        queued: list[int] = []
        changed: list[int] = []
        connections = Connection.objects.filter(access_mode=Connection.AccessMode.API)
        for connection in connections:
            result, created = Result.objects.get_or_create(
                request=privacy_request,
                connection=connection,
                defaults={
                    "provider": connection.provider,
                    "connection_name": connection.name,
                    "workflow": Result.Workflow.API,
                },
            )
            if result.workflow != Result.Workflow.API:
                continue  # another kind of Result (a Direct Contact task) for this connection
            if result.status in (Result.Status.PENDING, Result.Status.SKIPPED):
                # The request is looked at once, below, after every Result is in place.
                if connection.status == Connection.Status.ACTIVE:
                    result_queue_fresh(result, check_request=False)
                    queued.append(result.pk)
                    changed.append(result.pk)
                elif created or _hold_changes(result, connection):
                    result_hold(result, connection, check_request=False)
                    changed.append(result.pk)
            results.append(result)
        if queued or privacy_request.results.exclude(status__in=Result.FINISHED_STATUSES):
            privacy_request_status_set(
                privacy_request, PrivacyRequest.Status.PROCESSING, actor=actor
            )
        if changed:
            audit_record(
                action="request.fetch_started",
                target=privacy_request,
                actor=actor,
                details={"results": changed, "queued": queued},
            )
        enqueue_on_commit(queued)
        privacy_request_check_fetched(request_id=privacy_request.pk)
    return results


def _hold_changes(result: Result, connection: Connection) -> bool:
    """Whether holding this Result again would change it (a skip already said so)."""
    if result.status != Result.Status.SKIPPED:
        return True
    if connection.status in (Connection.Status.NEEDS_REAUTH, Connection.Status.ERROR):
        return True  # skipped before, pausable now: it can resume by itself
    return result.error_code != "not_connected"


def result_queue_fresh(result: Result, **kwargs) -> Result:
    """Queue a (locked) Result as a new start: the last error and failure count go."""
    return result_transition(
        result, Result.Status.QUEUED, code="", message="", changes={"failures": 0}, **kwargs
    )


def result_hold(result: Result, connection: Connection, *, check_request: bool = True) -> Result:
    """A connection that cannot fetch: pause (it can come back) or skip (switched off)."""
    state = connection.get_status_display().lower()
    if connection.status in (Connection.Status.NEEDS_REAUTH, Connection.Status.ERROR):
        return result_transition(
            result,
            Result.Status.PAUSED,
            code="needs_reauth",
            message=f"The connection's state is “{state}”; this fetch continues once it is "
            "reconnected or verified.",
            check_request=check_request,
        )
    return result_transition(
        result,
        Result.Status.SKIPPED,
        code="not_connected",
        message=f"The connection's state was “{state}”. Connect it, then press Retry or “Fetch "
        "from new connections” to include it.",
        check_request=check_request,
    )


def fetch_retry(*, result: Result, actor: User | None) -> Result:
    """Staff retry of a failed, paused or skipped Result; it resumes from its checkpoint."""
    with transaction.atomic():
        # Result before request: the order in which a finishing fetch takes them.
        result = Result.objects.select_for_update(no_key=True).get(pk=result.pk)
        privacy_request = PrivacyRequest.objects.select_for_update(no_key=True).get(
            pk=result.request_id
        )
        if privacy_request.status not in FETCHABLE_REQUEST_STATUSES:
            raise ValidationError(
                f"A request that is {privacy_request.get_status_display().lower()} is not "
                "fetched again."
            )
        if result.status not in RETRYABLE_RESULT_STATUSES or result.workflow != Result.Workflow.API:
            return result
        result_queue_fresh(result, action="result.retried", actor=actor)
        privacy_request_status_set(privacy_request, PrivacyRequest.Status.PROCESSING, actor=actor)
        enqueue_on_commit([result.pk])
    return result


def fetch_resume_for_connection(*, connection_id: int) -> int:
    """After a reconnect or a successful verification, continue every fetch it paused."""
    with transaction.atomic():
        paused = Result.objects.select_for_update(no_key=True).filter(
            connection_id=connection_id,
            workflow=Result.Workflow.API,
            status=Result.Status.PAUSED,
            request__status__in=FETCHABLE_REQUEST_STATUSES,
        )
        resumed = [result_queue_fresh(r, action="result.resumed").pk for r in paused]
        enqueue_on_commit(resumed)
    return len(resumed)


def fetch_end_for_connection(
    *, connection_id: int, code: str, message: str, actor: User | None = None
) -> int:
    """A connection was disconnected or deleted: its unfinished fetches end, visibly.

    Call inside the transaction that changes the connection. A run still in flight
    notices at its next batch (its Result is no longer running) and stops writing.
    """
    results = list(
        Result.objects.select_for_update(no_key=True)
        .filter(connection_id=connection_id, workflow=Result.Workflow.API)
        .exclude(status__in=Result.FINISHED_STATUSES)
        .order_by("pk")
    )
    for result in results:
        result_transition(
            result,
            Result.Status.SKIPPED,
            code=code,
            message=message,
            actor=actor,
            check_request=False,  # each request once, below
        )
    for request_id in sorted({r.request_id for r in results}):
        privacy_request_check_fetched(request_id=request_id)
    return len(results)
