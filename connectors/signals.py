"""Signals the connections layer sends; higher layers (fetches) listen.

``connectors`` must not import the apps built on it, so it announces what
happened to a connection and lets them react (see docs/architecture.md,
'Signals between layers').
"""

from __future__ import annotations

from django.dispatch import Signal

# The connection works again (authorised, or verified after a problem). Sent after
# the transaction commits, with ``connection_id``. Receivers resume what it paused.
connection_usable = Signal()

# The connection was disconnected or is being deleted. Sent INSIDE that transaction,
# after the connection row is locked, with ``connection_id``, ``code`` (a machine
# code), ``message`` (plain words for staff) and ``actor``. Receivers end its
# unfinished work in the same transaction, taking their locks after the
# connection's; an exception from a receiver rolls the whole change back.
connection_retired = Signal()
