"""Storing fetched records: insert, or update the row the same object already has.

Records are keyed by (result, object type, external id), so a re-run or a resumed
fetch never duplicates one. This is the fetch's hot path (a Zoom request with six
months of phone history stores thousands of call logs while the rest is still being
read), so it is one ``INSERT ... ON CONFLICT DO UPDATE`` per row through
``executemany``, with the values adapted by the database backend itself: about a
third of the cost of ``bulk_create(update_conflicts=True)``, which builds a model
instance and prepares every field of every row in Python. SQLite (3.24+) and
PostgreSQL both speak this statement.

PostgreSQL's jsonb refuses U+0000, which a provider string may carry: it is removed
from the encoded JSON (keys and values alike), which costs a substring test per row
instead of a walk through every value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection

from requests_app.models import Record

# Stored per row; ``included`` (a review decision) is left as it is on conflict.
_COLUMNS = ("result_id", "object_type", "external_id", "data", "fetched_at")
_UPDATED = ("data", "fetched_at")
_KEY = ("result_id", "object_type", "external_id")
# JSON's escape for U+0000, unless its backslash is itself escaped (an escaped backslash
# followed by the text "u0000" is kept): an even run of backslashes before it is kept.
_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


class _WithoutNul(json.JSONEncoder):
    def encode(self, o: Any) -> str:
        text = super().encode(o)
        return _NUL.sub(r"\1", text) if "\\u0000" in text else text


def _statement() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in _COLUMNS)
    key = ", ".join(quote(c) for c in _KEY)
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in _UPDATED)
    placeholders = ", ".join(["%s"] * len(_COLUMNS))
    return (
        f"INSERT INTO {quote(Record._meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608 (names from the model, values are parameters)
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


def records_upsert(
    result_id: int,
    object_type: str,
    records: Iterable[tuple[str, dict[str, Any]]],
    *,
    fetched_at: datetime,
) -> None:
    """Store ``(external id, data)`` pairs of one object type; call inside a transaction."""
    ops = connection.ops
    when = ops.adapt_datetimefield_value(fetched_at)
    rows = [
        (
            result_id,
            object_type,
            external_id.replace("\x00", "")[:255],
            ops.adapt_json_value(data, _WithoutNul),
            when,
        )
        for external_id, data in records
    ]
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(_statement(), rows)
