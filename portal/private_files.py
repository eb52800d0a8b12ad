"""The SQLite database holds personal data and secrets: only its owner may read it.

Settings create the data folder 0700 (``portal.settings``); this receiver makes the database file
(and its WAL and shared-memory files, which hold recent pages) 0600 whenever a
connection opens, whatever the process umask was when SQLite created them.
"""

from __future__ import annotations

import os
import stat

from django.db.backends.signals import connection_created
from django.dispatch import receiver

PRIVATE_FILE_MODE = 0o600


def private_file_restrict(path: str | os.PathLike) -> None:
    """Drop group and other permissions from ``path`` if it exists."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & PRIVATE_FILE_MODE)


def _sqlite_file(connection) -> str | None:
    name = str(connection.settings_dict.get("NAME") or "")
    if connection.vendor != "sqlite" or not name or name == ":memory:":
        return None
    if name.startswith("file:"):  # URI names (in-memory test databases)
        return None
    return name


@receiver(connection_created, dispatch_uid="portal_private_sqlite_files")
def _restrict_sqlite_files(sender, connection, **kwargs) -> None:
    name = _sqlite_file(connection)
    if name is None:
        return
    for path in (name, f"{name}-wal", f"{name}-shm"):
        private_file_restrict(path)
