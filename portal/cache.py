"""A database cache that never evicts a live key.

Django's ``DatabaseCache`` keeps at most ``MAX_ENTRIES`` rows: past that it
deletes a share of the keys in key order, live or not (or every key with
``CULL_FREQUENCY = 0``). The provider rate budget (``connectors.ratelimit``)
and allauth's login throttling keep their counters in the default cache, so an
evicted counter silently resets a limit. This backend culls only rows whose
timeout has passed; the table holds exactly the live keys plus expired rows
not yet swept, and every counter lives until its own timeout.
"""

from __future__ import annotations

from django.core.cache.backends.db import DatabaseCache
from django.db import connections


class NonCullingDatabaseCache(DatabaseCache):
    """``DatabaseCache`` whose cull deletes expired rows only, never live ones.

    ``MAX_ENTRIES`` keeps its meaning as the row count above which a write
    sweeps expired rows; it is no longer a cap on live keys.
    """

    def _cull(self, db, cursor, now, num) -> None:
        connection = connections[db]
        table = connection.ops.quote_name(self._table)
        expires = connection.ops.quote_name("expires")
        cursor.execute(
            # Quoted identifiers from the backend's own settings; the value is a parameter.
            f"DELETE FROM {table} WHERE {expires} < %s",  # noqa: S608
            [connection.ops.adapt_datetimefield_value(now)],
        )
