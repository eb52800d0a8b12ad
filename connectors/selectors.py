"""Connection reads for views and the API (no side effects)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from connectors.models import Connection
from connectors.providers import get_provider


def connection_list() -> QuerySet[Connection]:
    return Connection.objects.select_related("authorised_by").order_by("name")


@dataclass(frozen=True)
class ScopeRow:
    scope: str
    granted: bool
    blocks: str


@dataclass(frozen=True)
class ScopeReport:
    family: str
    rows: list[ScopeRow]
    missing: list[str]
    excess: list[str]


def connection_scope_report(connection: Connection) -> ScopeReport:
    """Granted against required, for the family closest to what was granted."""
    provider = get_provider(connection.provider)
    granted = set(connection.granted_scopes)
    family = provider.scopes.best_family(granted)
    rows = [
        ScopeRow(scope=s, granted=s in granted, blocks=provider.scopes.blocks.get(s, ""))
        for s in family.scopes
    ]
    return ScopeReport(
        family=family.name,
        rows=rows,
        missing=[r.scope for r in rows if not r.granted],
        excess=provider.scopes.excess(granted),
    )
