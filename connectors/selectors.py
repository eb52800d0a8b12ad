"""Connection reads for views and the API (no side effects)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from connectors.models import Connection
from connectors.providers import get_provider


def connection_list() -> QuerySet[Connection]:
    return Connection.objects.select_related("authorised_by").order_by("name")


@dataclass(frozen=True)
class ScopeRow:
    scope: str
    granted: bool
    # A full sentence: what breaks without the scope, or what an optional one adds.
    blocks: str
    optional: bool = False
    # The product the scope reads, when the account lacks it ("Zoom Phone"), else "".
    product_missing: str = ""


@dataclass(frozen=True)
class ScopeReport:
    family: str
    rows: list[ScopeRow]
    missing: list[str]
    excess: list[str]
    # Products the account lacks although their scopes are granted, with those scopes.
    products_missing: dict[str, list[str]] = field(default_factory=dict)


def connection_scope_report(connection: Connection) -> ScopeReport:
    """Granted against required, for the family closest to what was granted.

    Optional scopes are listed after the required ones, marked optional; a granted
    scope whose product the account lacks (Zoom Phone) is named as such, so nobody
    chases a scope problem that does not exist.
    """
    provider = get_provider(connection.provider)
    requirement = provider.scopes
    granted = set(connection.granted_scopes)
    family = requirement.best_family(granted)
    lacking = set(connection.missing_products or [])

    def product(scope: str) -> str:
        name = requirement.product_of(scope)
        return name if name in lacking else ""

    rows = [
        ScopeRow(
            scope=s,
            granted=s in granted,
            blocks=requirement.blocks.get(s, ""),
            product_missing=product(s),
        )
        for s in family.scopes
    ]
    rows += [
        ScopeRow(scope=s, granted=s in granted, blocks=adds, optional=True)
        for s, adds in requirement.optional.items()
    ]
    products: dict[str, list[str]] = {}
    for row in rows:
        if row.granted and row.product_missing:
            products.setdefault(row.product_missing, []).append(row.scope)
    return ScopeReport(
        family=family.name,
        rows=rows,
        missing=[r.scope for r in rows if not r.granted and not r.optional],
        excess=requirement.excess(granted),
        products_missing=products,
    )
