"""django-q2 entry points for connections: thin; they call services."""

from __future__ import annotations

from connectors.tokens import refresh_expiring_tokens


def refresh_expiring() -> int:
    return refresh_expiring_tokens()
