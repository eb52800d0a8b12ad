"""Handing Results to django-q2: the one place a fetch task is enqueued."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import transaction

from requests_app.models import Result

TASK_PATH = "requests_app.tasks.fetch_result"
HOOK_PATH = "requests_app.tasks.fetch_result_done"


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


def enqueue_on_commit(result_ids: Iterable[int]) -> None:
    """Enqueue these Results once the current transaction commits.

    Looks ``enqueue`` up at commit time: this module's ``enqueue`` is the seam tests
    replace to keep work from being dispatched.
    """
    ids = list(result_ids)
    if ids:
        transaction.on_commit(lambda: [enqueue(result_id=pk) for pk in ids])
