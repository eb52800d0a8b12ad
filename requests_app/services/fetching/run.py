"""Running one API fetch: claim the Result, store batches, end as the outcome table says.

A task claims its Result (a run token under a row lock, so a redelivered or
duplicated task does not run beside a live one), asks the provider for batches, and
stores each batch with its checkpoint in one transaction. Records are upserted by
(result, object type, external id), so a re-run never duplicates. Delays (rate
limits, transient errors, time slices) are expressed as ``next_attempt_at``; the
sweeper enqueues what is due.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from contextlib import closing
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connectors import clock
from connectors.models import Connection
from connectors.participant_index import participant_index_for
from connectors.providers import get_provider
from connectors.providers.base import Batch
from connectors.tokens import connection_mark_needs_reauth
from requests_app.models import Record, Result
from requests_app.services.fetching import outcomes
from requests_app.services.fetching.lifecycle import (
    FETCHABLE_REQUEST_STATUSES,
    StaleRun,
    result_transition,
)
from requests_app.services.fetching.outcomes import Retry
from requests_app.services.fetching.queue import enqueue_on_commit
from requests_app.services.fetching.record_upsert import records_upsert
from requests_app.services.fetching.start import result_hold

logger = logging.getLogger(__name__)

# No retry or rate-limit wait may run into the task's time limit: this share of it.
TIME_LIMIT_SHARE = 0.8


def fetch_execute(
    *, result_id: int, dispatch: uuid.UUID | None = None, time_limit: float | None = None
) -> str:
    """Run (or resume) one Result; returns its status. Safe to call twice.

    ``time_limit`` is the task runner's limit in seconds (None: no limit); the HTTP
    client stops retrying and waiting well before it, and the Result waits instead.
    """
    claimed = _claim(result_id, dispatch or uuid.uuid4())
    if claimed is None:
        return Result.objects.values_list("status", flat=True).get(pk=result_id)
    result, run_token = claimed
    try:
        _run(result, run_token, time_limit=time_limit)
    except Exception as exc:
        _stop(result, run_token, exc)
    return Result.objects.values_list("status", flat=True).get(pk=result_id)


def _stop(result: Result, run_token: uuid.UUID, exc: Exception) -> None:
    """End a run that raised, as the first matching row of the outcome table says."""
    outcome = outcomes.outcome_for(exc)
    if outcome.status is None:
        logger.info("fetch run superseded", extra={"result_id": result.pk})
        return
    if outcome.unexpected:
        # Class and place only: messages and tracebacks may quote fetched data.
        logger.error(
            "fetch failed unexpectedly",
            extra={"result_id": result.pk, "error_class": type(exc).__name__, "at": _where(exc)},
        )
    if outcome.needs_reauth:
        connection_mark_needs_reauth(
            connection_id=result.connection_id,
            reason="The provider refused a freshly refreshed access token. Reconnect.",
        )
    code = outcome.code_for(exc)
    if outcome.note:
        _finish(result.pk, run_token, outcome.status, note=str(exc))
    elif outcome.retry is Retry.BACKOFF:
        _retry_or_fail(result.pk, run_token, code)
    else:
        retry_in = outcomes.rate_limit_seconds(exc) if outcome.retry is Retry.RATE_LIMIT else None
        _settle(
            result.pk,
            run_token,
            outcome.status,
            code=code,
            message=outcome.message_for(exc),
            retry_in=retry_in,
        )


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
        if result is None or result.is_finished or result.workflow != Result.Workflow.API:
            return None
        if result.request.status not in FETCHABLE_REQUEST_STATUSES:
            result_transition(
                result,
                Result.Status.SKIPPED,
                code="request_closed",
                message=f"The request is {result.request.get_status_display().lower()}; "
                "nothing more is fetched for it.",
            )
            return None
        connection = result.connection
        if connection is None:
            result_transition(
                result,
                Result.Status.FAILED,
                code="connection_deleted",
                message="The connection was deleted before this fetch finished.",
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
            result_hold(result, connection)
            return None
        result_transition(
            result,
            Result.Status.RUNNING,
            changes={"run_token": run_token, "attempts": result.attempts + 1},
        )
    return result, run_token


def _run(result: Result, run_token: uuid.UUID, *, time_limit: float | None) -> None:
    from connectors.clients import api_client_for

    provider = get_provider(result.provider)
    client = api_client_for(result.connection)
    started = clock.monotonic()
    deadline = started + settings.FETCH_SLICE_SECONDS
    if time_limit is not None:
        # Past this, a retry or wait raises and the Result waits, resuming from its
        # last checkpoint, instead of the task being killed mid-batch.
        client.deadline = started + time_limit * TIME_LIMIT_SHARE
    # Webex: the participant index, unless the setting turns it off.
    index = participant_index_for(provider, result.connection)
    batches = provider.fetch_access(
        client,
        result.request.subject_email,
        checkpoint=result.checkpoint or None,
        **({"index": index} if index is not None else {}),
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
    """Store one batch and its checkpoint together; the Result stays running."""
    now = timezone.now()
    with transaction.atomic():
        result = _locked_own(result_id, run_token)
        records_upsert(
            result_id,
            batch.object_type,
            ((str(external_id), data) for external_id, data in batch.records),
            fetched_at=now,
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


def _finish(result_id: int, run_token: uuid.UUID, status: str, note: str = "") -> None:
    """The provider had nothing more: succeeded (or no data), with an optional note."""
    with transaction.atomic():
        try:
            result = _locked_own(result_id, run_token)
        except StaleRun:
            return
        if status == Result.Status.SUCCEEDED and not result.records.exists():
            status = Result.Status.NO_DATA
        progress = {**result.progress, "notes": {"subject": note}} if note else result.progress
        result_transition(result, status, code="", message="", changes={"progress": progress})


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
        _leave_run(result, status, code=code, message=message, retry_in=retry_in)


def _leave_run(
    result: Result,
    status: str,
    *,
    code: str,
    message: str,
    retry_in: float | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """The transition out of ``running`` for a (locked, owned) Result."""
    progress = dict(result.progress)
    # The next run counts its API calls on top of this one's.
    progress["api_calls_before"] = progress.get("api_calls", 0)
    at = None
    if retry_in is not None:
        at = timezone.now() + timedelta(seconds=retry_in)
        if status == Result.Status.WAITING:
            progress["waiting_until"] = at.isoformat()
    result_transition(
        result,
        status,
        code=code,
        message=message,
        at=at,
        changes={"progress": progress, **(changes or {})},
    )
    if retry_in == 0:
        enqueue_on_commit([result.pk])


def _retry_or_fail(result_id: int, run_token: uuid.UUID, code: str) -> None:
    """A temporary failure: back off and retry, or give up after too many in a row."""
    with transaction.atomic():
        try:
            result = _locked_own(result_id, run_token)
        except StaleRun:
            return
        failures = result.failures + 1
        if failures >= settings.FETCH_MAX_ATTEMPTS:
            _leave_run(
                result,
                Result.Status.FAILED,
                code=code,
                message=outcomes.GIVE_UP_MESSAGE.format(failures=failures),
                changes={"failures": failures},
            )
            return
        _leave_run(
            result,
            Result.Status.QUEUED,
            code=code,
            message=outcomes.RETRYING_MESSAGE.format(failures=failures),
            retry_in=outcomes.backoff_seconds(failures),
            changes={"failures": failures},
        )
