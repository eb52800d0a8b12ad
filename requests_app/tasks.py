"""django-q2 entry points: thin; they take IDs and call services."""

from __future__ import annotations

from requests_app.services import fetching


def fetch_result(result_id: int) -> str:
    return fetching.fetch_execute(result_id=result_id)


def fetch_result_done(task) -> None:
    """Runs after every fetch task; catches deaths the task could not record."""
    if task.success:
        return
    args = task.args or ()
    if args and isinstance(args[0], int):
        fetching.fetch_task_crashed(result_id=args[0])


def fetch_sweep() -> int:
    return fetching.fetch_sweep()
