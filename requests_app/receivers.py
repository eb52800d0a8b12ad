"""What requests do when the connections layer announces a change (connected in apps.py)."""

from __future__ import annotations

from typing import Any

from requests_app.services import fetching


def resume_fetches_on_connection_usable(sender: Any, *, connection_id: int, **kwargs: Any) -> None:
    """A working connection continues the fetches its lost grant paused."""
    fetching.fetch_resume_for_connection(connection_id=connection_id)


def end_fetches_on_connection_retired(
    sender: Any, *, connection_id: int, code: str, message: str, actor: Any = None, **kwargs: Any
) -> None:
    """A disconnected or deleted connection ends its unfinished fetches, in its transaction."""
    fetching.fetch_end_for_connection(
        connection_id=connection_id, code=code, message=message, actor=actor
    )
