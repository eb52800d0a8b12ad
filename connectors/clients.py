"""Build the ApiClient a connection's calls go through."""

from __future__ import annotations

from connectors.http import ApiClient
from connectors.models import Connection
from connectors.providers import get_provider
from connectors.ratelimit import RateBudget
from connectors.tokens import ConnectionTokenSource


def api_client_for(connection: Connection) -> ApiClient:
    """Tokens from the connection (refreshed under its lock), a budget every worker shares.

    The budget is keyed by connection: Webex limits per token, Zoom per account,
    and one connection is one account's grant.
    """
    provider = get_provider(connection.provider)
    return ApiClient(
        provider=provider,
        base_url=provider.api_base_url(connection.api_base_url),
        token_source=ConnectionTokenSource(connection.pk),
        budget=RateBudget.for_provider(provider, key=f"connection:{connection.pk}"),
    )
