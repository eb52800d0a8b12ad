"""The fetch pipeline: one Result per connection, run as resumable background work.

A task claims its Result (a run token under a row lock, so a redelivered or
duplicated task does not run beside a live one), asks the provider for
batches, and stores each batch with its checkpoint in one transaction.
Records are upserted by (result, object type, external id), so a re-run
never duplicates. Delays (rate limits, transient errors, time slices) are
expressed as ``next_attempt_at``; the sweeper enqueues what is due and
what a dead worker left behind.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from contextlib import closing
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from connectors import clock
from connectors.exceptions import (
    ApiError,
    ClientError,
    Forbidden,
    GrantRevoked,
    NotFound,
    RateLimited,
    ScopeMissing,
    Transient,
    Unauthorized,
)
from connectors.models import Connection
from connectors.providers import get_provider
from connectors.providers.base import Batch, SubjectNotFound
from connectors.services import connection_mark_needs_reauth
from portal.audit import audit_record
from requests_app.models import PrivacyRequest, Record, Result

logger = logging.getLogger(__name__)

TASK_PATH = "requests_app.tasks.fetch_result"
HOOK_PATH = "requests_app.tasks.fetch_result_done"


class StaleRun(Exception):
    """Another run took over this Result; this one stops without writing."""


# --- Starting and enqueueing -----------------------------------------------------------


FETCHABLE_REQUEST_STATUSES = (PrivacyRequest.Status.PROCESSING, PrivacyRequest.Status.IN_REVIEW)


def fetch_start(*, privacy_request: PrivacyRequest, actor=None) -> list[Result]:
    """One Result per API connection; usable ones are enqueued after commit.

    Every API connection gets a Result so none is left out silently: a connection
    that needs attention pauses its Result (it resumes after a reconnect or a
    successful verification), one that was never connected or was disconnected is
    skipped with the reason shown. Calling it again adds connections created since.
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
        connections = Connection.objects.filter(access_mode=Connection.AccessMode.API)
        for connection in connections:
            result, _ = Result.objects.get_or_create(
                request=privacy_request,
                connection=connection,
                defaults={
                    "provider": connection.provider,
                    "connection_name": connection.name,
                    "workflow": Result.Workflow.API,
                },
            )
            if result.status in (Result.Status.PENDING, Result.Status.SKIPPED):
                _prepare(result, connection)
                if result.status == Result.Status.QUEUED:
                    queued.append(result.pk)
            results.append(result)
        if queued or privacy_request.results.exclude(status__in=Result.FINISHED_STATUSES):
            _set_request_status(privacy_request, PrivacyRequest.Status.PROCESSING, actor=actor)
        audit_record(
            action="request.fetch_started",
            target=privacy_request,
            actor=actor,
            details={"results": [r.pk for r in results], "queued": queued},
        )
        transaction.on_commit(lambda: [enqueue(result_id=pk) for pk in queued])
        request_check_fetch_complete(request_id=privacy_request.pk)
    return results


def _prepare(result: Result, connection: Connection) -> None:
    """Queue a new Result, or pause or skip it according to its connection's state."""
    if connection.status == Connection.Status.ACTIVE:
        _mark_queued(result, fresh=True)
    else:
        _hold_for_connection(result, connection)


def _hold_for_connection(result: Result, connection: Connection) -> None:
    """A connection that cannot fetch: pause (it can come back) or skip (switched off)."""
    state = connection.get_status_display().lower()
    if connection.status in (Connection.Status.NEEDS_REAUTH, Connection.Status.ERROR):
        _pause(
            result,
            f"The connection's state is “{state}”; this fetch continues once it is "
            "reconnected or verified.",
        )
    else:
        _skip(
            result,
            "not_connected",
            f"The connection's state was “{state}”. Connect it, then press Retry or “Fetch "
            "from new connections” to include it.",
        )


def _skip(result: Result, code: str, message: str, *, actor=None) -> None:
    result.status = Result.Status.SKIPPED
    result.error_code = code
    result.error_message = message[:500]
    result.finished_at = timezone.now()
    result.next_attempt_at = None
    result.save(
        update_fields=["status", "error_code", "error_message", "finished_at", "next_attempt_at"]
    )
    audit_record(action="result.skipped", target=result, actor=actor, details={"error_code": code})


def enqueue(*, result_id: int) -> None:
    """Hand a Result to django-q2: its id and a dispatch UUID, nothing else.

    The dispatch UUID becomes the run token when the task claims the Result, so the
    failure hook can tell whether a dead task still owned it.
    """
    from django_q.tasks import async_task

    request_id = Result.objects.values_list("request_id", flat=True).get(pk=result_id)
    async_task(
        TASK_PATH,
        result_id,
        uuid.uuid4(),
        group=f"request-{request_id}",
        hook=HOOK_PATH,
        task_name=f"fetch-result-{result_id}-{uuid.uuid4().hex[:8]}",
    )


def _mark_queued(result: Result, *, at=None, fresh: bool = False) -> None:
    """Queue the Result; ``fresh`` also clears the last error and the attempt count."""
    result.status = Result.Status.QUEUED
    result.queued_at = timezone.now()
    result.next_attempt_at = at
    fields = ["status", "queued_at", "next_attempt_at"]
    if fresh:
        result.failures = 0
        result.error_code = ""
        result.error_message = ""
        result.finished_at = None
        fields += ["failures", "error_code", "error_message", "finished_at"]
    result.save(update_fields=fields)


_UNFINISHED = [s for s in Result.Status.values if s not in Result.FINISHED_STATUSES]
RETRYABLE_RESULT_STATUSES = (Result.Status.FAILED, Result.Status.PAUSED, Result.Status.SKIPPED)


def fetch_retry(*, result: Result, actor) -> Result:
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
        if result.status not in RETRYABLE_RESULT_STATUSES:
            return result
        _mark_queued(result, fresh=True)
        _set_request_status(privacy_request, PrivacyRequest.Status.PROCESSING, actor=actor)
        audit_record(action="result.retried", target=result, actor=actor)
        transaction.on_commit(lambda: enqueue(result_id=result.pk))
    return result


def fetch_resume_for_connection(*, connection_id: int) -> int:
    """After a reconnect, continue every fetch the lost grant paused."""
    resumed = []
    with transaction.atomic():
        paused = Result.objects.select_for_update(no_key=True).filter(
            connection_id=connection_id,
            status=Result.Status.PAUSED,
            request__status__in=FETCHABLE_REQUEST_STATUSES,
        )
        for result in paused:
            _mark_queued(result, fresh=True)
            audit_record(action="result.resumed", target=result)
            resumed.append(result.pk)
        transaction.on_commit(lambda: [enqueue(result_id=pk) for pk in resumed])
    return len(resumed)


def _sweepable(now) -> Q:
    stale = now - timedelta(seconds=settings.FETCH_STALE_AFTER_SECONDS)
    waiting = Q(status__in=[Result.Status.QUEUED, Result.Status.WAITING])
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, queued_at__lte=stale)
    dead = Q(status=Result.Status.RUNNING) & (
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
    )
    return (waiting & due) | dead


def fetch_end_for_connection(*, connection_id: int, code: str, message: str, actor=None) -> int:
    """A connection was disconnected or deleted: its unfinished fetches end, visibly.

    Call inside the transaction that changes the connection. A run still in flight
    notices at its next batch (its Result is no longer running) and stops writing.
    """
    results = list(
        Result.objects.select_for_update(no_key=True)
        .filter(connection_id=connection_id)
        .exclude(status__in=Result.FINISHED_STATUSES)
        .order_by("pk")
    )
    for result in results:
        _skip(result, code, message, actor=actor)
    for request_id in sorted({r.request_id for r in results}):
        request_check_fetch_complete(request_id=request_id)
    return len(results)


def fetch_sweep() -> int:
    """Periodic safety net; returns how many Results it enqueued.

    Enqueues delayed Results that are due, recovers runs whose worker died (counted as
    a failure, so a fetch that kills its worker every time ends as failed), resumes
    paused Results whose connection works again, and moves on requests whose Results
    all finished.
    """
    now = timezone.now()
    candidates = list(Result.objects.filter(_sweepable(now)).values_list("pk", flat=True))
    count = 0
    for pk in candidates:
        with transaction.atomic():
            # Re-check under the lock: it may have finished or been claimed meanwhile.
            result = (
                Result.objects.select_for_update(no_key=True)
                .filter(_sweepable(timezone.now()), pk=pk)
                .first()
            )
            if result is None:
                continue
            if result.status == Result.Status.RUNNING:
                logger.warning("recovering a fetch whose worker died", extra={"result_id": pk})
                if not _count_failure(result, code="worker_lost"):
                    continue
                audit_record(action="result.recovered", target=result)
            _mark_queued(result)
            transaction.on_commit(lambda pk=pk: enqueue(result_id=pk))
        count += 1
    reconnected = Result.objects.filter(
        status=Result.Status.PAUSED,
        connection__status=Connection.Status.ACTIVE,
        request__status__in=FETCHABLE_REQUEST_STATUSES,
    ).values_list("connection_id", flat=True)
    for connection_id in sorted(set(reconnected)):
        count += fetch_resume_for_connection(connection_id=connection_id)
    done = (
        PrivacyRequest.objects.filter(
            status=PrivacyRequest.Status.PROCESSING, results__isnull=False
        )
        .exclude(results__status__in=_UNFINISHED)
        .values_list("pk", flat=True)
        .distinct()
    )
    for pk in list(done):
        request_check_fetch_complete(request_id=pk)
    return count


def _count_failure(result: Result, *, code: str) -> bool:
    """One more failure of a (locked) Result; False when it has now failed for good."""
    result.failures += 1
    result.save(update_fields=["failures"])
    if result.failures < settings.FETCH_MAX_ATTEMPTS:
        return True
    _apply_final(
        result,
        Result.Status.FAILED,
        code,
        "The background worker stopped during this fetch too often. Retry it.",
    )
    return False


# --- Running -------------------------------------------------------------------------


def fetch_execute(*, result_id: int, dispatch: uuid.UUID | None = None) -> str:
    """Run (or resume) one Result; returns its status. Safe to call twice."""
    claimed = _claim(result_id, dispatch or uuid.uuid4())
    if claimed is None:
        return Result.objects.values_list("status", flat=True).get(pk=result_id)
    result, run_token = claimed
    try:
        _run(result, run_token)
    except StaleRun:
        logger.info("fetch run superseded", extra={"result_id": result_id})
    except SubjectNotFound as exc:
        _finish(result_id, run_token, Result.Status.NO_DATA, note=str(exc))
    except GrantRevoked:
        _settle(
            result_id,
            run_token,
            Result.Status.PAUSED,
            code="needs_reauth",
            message="The connection needs re-authorisation; this fetch continues after "
            "someone reconnects it.",
        )
    except Unauthorized:
        # 401 even with a freshly refreshed token: the grant no longer works.
        connection_mark_needs_reauth(
            connection_id=result.connection_id,
            reason="The provider refused a freshly refreshed access token. Reconnect.",
        )
        _settle(
            result_id,
            run_token,
            Result.Status.PAUSED,
            code="needs_reauth",
            message="The provider refused the connection's token; this fetch continues "
            "after someone reconnects it.",
        )
    except RateLimited as exc:
        wait = max(exc.retry_after or 60, 1)
        _settle(
            result_id,
            run_token,
            Result.Status.WAITING,
            code="rate_limited",
            message="Waiting on the provider's rate limit.",
            retry_in=wait,
        )
    except Transient as exc:
        _retry_or_fail(result_id, run_token, exc.code)
    except OperationalError:
        # Lock timeouts, serialisation failures, a lost connection: worth another go.
        _retry_or_fail(result_id, run_token, "database_busy")
    except (ScopeMissing, Forbidden) as exc:
        _settle(
            result_id,
            run_token,
            Result.Status.FAILED,
            code=exc.code,
            message="The provider refused access: the connection lacks a scope or an "
            "administrator role. Check the connection page, then retry.",
        )
    except (NotFound, ClientError, ApiError) as exc:
        _settle(
            result_id,
            run_token,
            Result.Status.FAILED,
            code=exc.code,
            message=f"The provider rejected a request (HTTP {exc.status}).",
        )
    except Exception as exc:
        # Class and place only: messages and tracebacks may quote fetched data.
        logger.error(
            "fetch failed unexpectedly",
            extra={"result_id": result_id, "error_class": type(exc).__name__, "at": _where(exc)},
        )
        _settle(
            result_id,
            run_token,
            Result.Status.FAILED,
            code="internal_error",
            message="An unexpected error stopped this fetch. Retry it; if it fails again, "
            "contact support.",
        )
    return Result.objects.values_list("status", flat=True).get(pk=result_id)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _claim(result_id: int, run_token: uuid.UUID) -> tuple[Result, uuid.UUID] | None:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.FETCH_STALE_AFTER_SECONDS)
    with transaction.atomic():
        result = (
            # Lock only the Result row: the connection join is an outer join (nullable FK).
            Result.objects.select_for_update(no_key=True, of=("self",))
            .select_related("request", "connection")
            .filter(pk=result_id)
            .first()
        )
        if result is None or result.is_finished:
            return None
        if result.request.status not in FETCHABLE_REQUEST_STATUSES:
            _skip(
                result,
                "request_closed",
                f"The request is {result.request.get_status_display().lower()}; "
                "nothing more is fetched for it.",
            )
            return None
        connection = result.connection
        if connection is None:
            _apply_final(
                result,
                Result.Status.FAILED,
                "connection_deleted",
                "The connection was deleted before this fetch finished.",
            )
            return None
        if result.status == Result.Status.PAUSED:
            return None
        if (
            result.status == Result.Status.RUNNING
            and result.heartbeat_at
            and (result.heartbeat_at > stale)
        ):
            return None  # A live run owns it.
        if result.next_attempt_at and result.next_attempt_at > now:
            return None  # Not due yet; the sweeper will enqueue it.
        if connection.status != Connection.Status.ACTIVE:
            _hold_for_connection(result, connection)
            return None
        result.status = Result.Status.RUNNING
        result.run_token = run_token
        result.attempts += 1
        result.started_at = result.started_at or now
        result.heartbeat_at = now
        result.next_attempt_at = None
        result.save(
            update_fields=[
                "status",
                "run_token",
                "attempts",
                "started_at",
                "heartbeat_at",
                "next_attempt_at",
            ]
        )
    return result, run_token


def _run(result: Result, run_token: uuid.UUID) -> None:
    from connectors.clients import api_client_for

    provider = get_provider(result.provider)
    client = api_client_for(result.connection)
    started = clock.monotonic()
    deadline = started + settings.FETCH_SLICE_SECONDS
    # No retry or rate-limit wait may run into the task's time limit: past this, the
    # call raises and the Result waits, resuming from its last checkpoint.
    client.deadline = started + settings.Q_CLUSTER["timeout"] * 0.8
    batches = provider.fetch_access(
        client, result.request.subject_email, checkpoint=result.checkpoint or None
    )
    with closing(batches), client:
        for batch in batches:
            _store_batch(result.pk, run_token, batch, api_calls=client.call_count)
            if clock.monotonic() > deadline:
                # Out of time for this slice: continue from the checkpoint in a fresh task.
                _settle(result.pk, run_token, Result.Status.QUEUED, code="", message="", retry_in=0)
                return
    _finish(result.pk, run_token, Result.Status.SUCCEEDED)


def _locked_own(result_id: int, run_token: uuid.UUID) -> Result:
    result = Result.objects.select_for_update(no_key=True).get(pk=result_id)
    if result.run_token != run_token or result.status != Result.Status.RUNNING:
        raise StaleRun
    return result


def _store_batch(result_id: int, run_token: uuid.UUID, batch: Batch, *, api_calls: int) -> None:
    now = timezone.now()
    with transaction.atomic():
        result = _locked_own(result_id, run_token)
        if batch.records:
            Record.objects.bulk_create(
                [
                    Record(
                        result_id=result_id,
                        object_type=batch.object_type,
                        external_id=str(external_id)[:255],
                        data=_without_nul(data),
                        fetched_at=now,
                    )
                    for external_id, data in batch.records
                ],
                update_conflicts=True,
                unique_fields=["result", "object_type", "external_id"],
                update_fields=["data", "fetched_at"],
            )
        progress = dict(result.progress)
        progress.update(batch.progress)
        progress["records"] = Record.objects.filter(result_id=result_id).count()
        progress["api_calls"] = progress.get("api_calls_before", 0) + api_calls
        progress.pop("waiting_until", None)
        if batch.note:
            progress.setdefault("notes", {})[batch.object_type] = batch.note
        result.progress = progress
        if batch.checkpoint is not None:
            result.checkpoint = batch.checkpoint
        result.heartbeat_at = now
        result.failures = 0  # progress was made: earlier failures no longer count
        result.save(update_fields=["progress", "checkpoint", "heartbeat_at", "failures"])


def _without_nul(value: Any) -> Any:
    """PostgreSQL's jsonb refuses U+0000; a provider string may carry one."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _finish(result_id: int, run_token: uuid.UUID, status: str, note: str = "") -> None:
    with transaction.atomic():
        try:
            result = _locked_own(result_id, run_token)
        except StaleRun:
            return
        if status == Result.Status.SUCCEEDED and not result.records.exists():
            status = Result.Status.NO_DATA
        if note:
            result.progress = {**result.progress, "notes": {"subject": note}}
        _apply_final(result, status, "", "")


def _apply_final(result: Result, status: str, code: str, message: str) -> None:
    """Finish the (locked) Result, audited; in the same transaction, move its request on."""
    result.status = status
    result.error_code = code
    result.error_message = message[:500]
    result.finished_at = timezone.now()
    result.next_attempt_at = None
    result.save(
        update_fields=[
            "status",
            "error_code",
            "error_message",
            "finished_at",
            "next_attempt_at",
            "progress",
        ]
    )
    audit_record(
        action="result.finished",
        target=result,
        details={
            "status": status,
            "error_code": code,
            "records": result.progress.get("records", 0),
        },
    )
    request_check_fetch_complete(request_id=result.request_id)


def _pause(result: Result, message: str, *, code: str = "needs_reauth") -> None:
    result.status = Result.Status.PAUSED
    result.error_code = code
    result.error_message = message[:500]
    result.save(update_fields=["status", "error_code", "error_message"])
    audit_record(action="result.paused", target=result, details={"error_code": code})


def _settle(
    result_id: int,
    run_token: uuid.UUID,
    status: str,
    *,
    code: str,
    message: str,
    retry_in: float | None = None,
) -> None:
    """Leave the running state: pause, wait, re-queue or fail, keeping the checkpoint."""
    with transaction.atomic():
        try:
            result = _locked_own(result_id, run_token)
        except StaleRun:
            return
        now = timezone.now()
        progress = dict(result.progress)
        progress["api_calls_before"] = progress.get("api_calls", 0)
        if status == Result.Status.FAILED:
            result.progress = progress
            _apply_final(result, status, code, message)
            return
        result.status = status
        result.error_code = code
        result.error_message = message[:500]
        if retry_in is not None:
            result.next_attempt_at = now + timedelta(seconds=retry_in)
            result.queued_at = now
            if status == Result.Status.WAITING:
                progress["waiting_until"] = result.next_attempt_at.isoformat()
        result.progress = progress
        result.save(
            update_fields=[
                "status",
                "error_code",
                "error_message",
                "next_attempt_at",
                "queued_at",
                "progress",
            ]
        )
        if status == Result.Status.PAUSED:
            audit_record(action="result.paused", target=result, details={"error_code": code})
        if retry_in == 0:
            transaction.on_commit(lambda: enqueue(result_id=result_id))


def _retry_or_fail(result_id: int, run_token: uuid.UUID, code: str) -> None:
    """A temporary failure: back off and retry, or give up after too many in a row."""
    with transaction.atomic():
        try:
            result = _locked_own(result_id, run_token)
        except StaleRun:
            return
        result.failures += 1
        result.save(update_fields=["failures"])
        failures = result.failures
    if failures >= settings.FETCH_MAX_ATTEMPTS:
        _settle(
            result_id,
            run_token,
            Result.Status.FAILED,
            code=code,
            message="The provider kept failing (errors, timeouts or malformed answers) "
            f"{failures} times in a row. Retry later.",
        )
        return
    backoff = min(60 * 2 ** (failures - 1), 3600)
    _settle(
        result_id,
        run_token,
        Result.Status.QUEUED,
        code=code,
        message=f"Temporary provider problem; retrying automatically (failure {failures}).",
        retry_in=backoff,
    )


def fetch_task_crashed(*, result_id: int, dispatch: uuid.UUID | None) -> None:
    """The task died (timeout, killed worker) before it could record anything.

    Acts only if that task's run still owns the Result; a newer run is left alone.
    """
    with transaction.atomic():
        result = Result.objects.select_for_update(no_key=True).filter(pk=result_id).first()
        if result is None or result.status != Result.Status.RUNNING:
            return
        if dispatch is not None and result.run_token != dispatch:
            return
        if _count_failure(result, code="worker_crashed"):
            _mark_queued(result, at=timezone.now())


# --- Request status -----------------------------------------------------------------


def request_check_fetch_complete(*, request_id: int) -> bool:
    """Move the request to review once every Result has finished."""
    with transaction.atomic():
        privacy_request = PrivacyRequest.objects.select_for_update(no_key=True).get(pk=request_id)
        if privacy_request.status != PrivacyRequest.Status.PROCESSING:
            return False
        results = privacy_request.results.all()
        if not results.exists():
            return False  # nothing was fetched from anywhere: not ready for review
        if results.exclude(status__in=Result.FINISHED_STATUSES).exists():
            return False
        _set_request_status(privacy_request, PrivacyRequest.Status.IN_REVIEW)
        return True


def _set_request_status(privacy_request: PrivacyRequest, status: str, *, actor=None) -> None:
    if privacy_request.status == status:
        return
    previous = privacy_request.status
    privacy_request.status = status
    privacy_request.status_changed_at = timezone.now()
    privacy_request.save(update_fields=["status", "status_changed_at"])
    audit_record(
        action="request.status_changed",
        target=privacy_request,
        actor=actor,
        details={"from": previous, "to": status},
    )
