"""django-q2 entry points: thin; they take IDs and call services."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings

from requests_app.services import (
    direct_contact,
    fetching,
    notifications,
    orphan_blobs,
    retention,
)


class FetchTaskError(RuntimeError):
    """What django-q2 stores when a fetch task fails: the class name, never a message."""


def fetch_result(result_id: int, dispatch: UUID | None = None) -> str:
    try:
        # The task runner's time limit is its business: the service is told, not asked.
        return fetching.fetch_execute(
            result_id=result_id, dispatch=dispatch, time_limit=settings.Q_CLUSTER["timeout"]
        )
    except Exception as exc:
        # q2 writes str(exc) and the traceback into its tables and logs.
        raise FetchTaskError(f"fetch task failed: {type(exc).__name__}") from None


def fetch_result_done(task) -> None:
    """Runs after every fetch task; catches deaths the task could not record."""
    if task.success:
        return
    args = tuple(task.args or ())
    if args and isinstance(args[0], int):
        dispatch = args[1] if len(args) > 1 and isinstance(args[1], UUID) else None
        fetching.fetch_task_crashed(result_id=args[0], dispatch=dispatch)


def fetch_sweep() -> int:
    return fetching.fetch_sweep()


def subject_email_send(outbound_id: int) -> str:
    """Send one email to a data subject; a failure is recorded and retried by the sweep."""
    return notifications.email_send(outbound_id)


def subject_sweep() -> dict[str, int]:
    """Periodic: retry due emails to subjects (unconfirmed requests go with the
    retention purge)."""
    return {"emails": notifications.email_sweep()}


def direct_contact_tick() -> str:
    """Escalations, due reminders and email retries of Direct Contact tasks."""
    report = direct_contact.direct_contact_tick()
    return (
        f"escalated {report.escalated}, reminded {report.reminded}, retried {report.mail_retried}"
    )


def retention_purge() -> dict[str, int]:
    """Purge requests whose retention time is over (and finish interrupted purges),
    then remove stored blobs that no row names (a worker died between the two)."""
    return {
        "purged": retention.retention_purge(),
        "orphan_blobs": orphan_blobs.orphan_blobs_sweep(),
    }
