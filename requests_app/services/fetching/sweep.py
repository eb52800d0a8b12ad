"""The safety net: enqueue what is due, recover runs whose worker died, move requests on."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.models import Connection
from requests_app.models import PrivacyRequest, Result
from requests_app.services.fetching.lifecycle import (
    FETCHABLE_REQUEST_STATUSES,
    privacy_request_check_fetched,
    result_transition,
)
from requests_app.services.fetching.queue import enqueue_on_commit
from requests_app.services.fetching.start import fetch_resume_for_connection

logger = logging.getLogger(__name__)

_UNFINISHED = [s for s in Result.Status.values if s not in Result.FINISHED_STATUSES]

DIED_TOO_OFTEN_MESSAGE = "The background worker stopped during this fetch too often. Retry it."


def _sweepable(now: datetime) -> Q:
    stale = now - timedelta(seconds=settings.FETCH_STALE_AFTER_SECONDS)
    waiting = Q(status__in=[Result.Status.QUEUED, Result.Status.WAITING])
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, queued_at__lte=stale)
    dead = Q(status=Result.Status.RUNNING) & (
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
    )
    return Q(workflow=Result.Workflow.API) & ((waiting & due) | dead)


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
                if not _requeue_dead_run(result, code="worker_lost", action="result.recovered"):
                    continue
            else:
                result_transition(result, Result.Status.QUEUED)
            enqueue_on_commit([pk])
        count += 1
    reconnected = Result.objects.filter(
        workflow=Result.Workflow.API,
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
        privacy_request_check_fetched(request_id=pk)
    return count


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
        _requeue_dead_run(result, code="worker_crashed", at=timezone.now())


def _requeue_dead_run(
    result: Result, *, code: str, at: datetime | None = None, action: str | None = None
) -> bool:
    """Count one more failure of a (locked) dead run: queue it again, or fail it for good.

    Returns False when it has now failed for good.
    """
    failures = result.failures + 1
    if failures < settings.FETCH_MAX_ATTEMPTS:
        result_transition(
            result, Result.Status.QUEUED, at=at, changes={"failures": failures}, action=action
        )
        return True
    result_transition(
        result,
        Result.Status.FAILED,
        code=code,
        message=DIED_TOO_OFTEN_MESSAGE,
        changes={"failures": failures},
    )
    return False
