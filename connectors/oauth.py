"""The OAuth 2.0 protocol: state + PKCE, authorize URL, code exchange, refresh, revoke.

Nothing here writes to the database: the grant calls return token sets, and
``connectors.tokens`` stores them (refreshing under the connection's row lock).
State follows allauth's statekit: a random id maps to a small dict in the staff
member's session, popped exactly once in the callback.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from connectors.exceptions import ApiError
from connectors.http import post_form, post_token_form
from connectors.models import Connection
from connectors.providers import get_provider
from connectors.providers.base import TokenSet

logger = logging.getLogger(__name__)

SESSION_KEY = "connector_oauth_states"
STATE_TTL = timedelta(minutes=10)
MAX_PENDING_STATES = 10


class OAuthStateError(Exception):
    """The callback's state is missing, unknown, used, expired or not this user's."""


@dataclass(frozen=True)
class PendingAuthorization:
    connection_id: int
    code_verifier: str


def redirect_uri(provider_slug: str) -> str:
    """The exact redirect URI staff register with the provider; one constant per provider."""
    return settings.PORTAL_BASE_URL + reverse(
        "connectors:oauth_callback", kwargs={"provider": provider_slug}
    )


def authorize_origin(provider_slug: str) -> str:
    """scheme://host[:port] of the provider's authorize endpoint (for CSP form-action)."""
    parts = urlsplit(get_provider(provider_slug).authorize_url)
    return f"{parts.scheme}://{parts.netloc}"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def authorization_url(*, request, connection: Connection) -> str:
    """Start the flow: remember a single-use state in the session, return the provider URL."""
    provider = get_provider(connection.provider)
    state = secrets.token_urlsafe(32)  # 256 bits
    verifier, challenge = pkce_pair()
    pending = dict(request.session.get(SESSION_KEY, {}))
    pending[state] = {
        "connection": connection.pk,
        "provider": connection.provider,
        "user": request.user.pk,
        "verifier": verifier,
        "created": time.time(),
    }
    # Keep only the newest few, as allauth's statekit does.
    newest = sorted(pending.items(), key=lambda kv: kv[1]["created"])[-MAX_PENDING_STATES:]
    request.session[SESSION_KEY] = dict(newest)
    params = {
        "client_id": connection.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri(connection.provider),
        "scope": " ".join(provider.scopes.requested),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{provider.authorize_url}?{urlencode(params)}"


def pop_state(*, request, provider_slug: str, state: str | None) -> PendingAuthorization:
    """Take the state out of the session (used once whatever happens next) and check it."""
    if not state:
        raise OAuthStateError("The provider's answer had no state.")
    pending = dict(request.session.get(SESSION_KEY, {}))
    match = None
    for key in list(pending):
        if constant_time_compare(key, state):
            match = pending.pop(key)
    request.session[SESSION_KEY] = pending
    # Persist the removal now: Django skips saving the session on 5xx responses,
    # which would make the state replayable after a failed exchange.
    request.session.save()
    if match is None:
        raise OAuthStateError("This sign-in link is unknown or was already used.")
    if time.time() - match["created"] > STATE_TTL.total_seconds():
        raise OAuthStateError("This sign-in attempt expired. Start again.")
    if match["user"] != request.user.pk or match["provider"] != provider_slug:
        raise OAuthStateError("This sign-in attempt belongs to another session.")
    return PendingAuthorization(connection_id=match["connection"], code_verifier=match["verifier"])


def exchange_code(*, connection: Connection, code: str, code_verifier: str) -> TokenSet:
    provider = get_provider(connection.provider)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(connection.provider),
        "code_verifier": code_verifier,
    }
    payload = post_token_form(
        provider.token_url,
        provider=provider.slug,
        **provider.token_request(
            client_id=connection.client_id, client_secret=connection.client_secret, data=data
        ),
    )
    return provider.parse_token_response(payload, requested=provider.scopes.requested)


def refresh_grant(*, connection: Connection, refresh_token: str) -> TokenSet:
    """Spend ``refresh_token`` for a new token set; stores nothing.

    Raises ``GrantRevoked`` (``invalid_grant``) or ``Unauthorized`` (bad client
    credentials) when the provider refuses.
    """
    provider = get_provider(connection.provider)
    payload = post_token_form(
        provider.token_url,
        provider=provider.slug,
        **provider.token_request(
            client_id=connection.client_id,
            client_secret=connection.client_secret,
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        ),
    )
    return provider.parse_token_response(payload, requested=tuple(connection.granted_scopes))


def revoke_grant(connection: Connection) -> bool:
    """Ask the provider to revoke the grant; True when it confirmed. Stores nothing.

    Providers without a revocation endpoint we may use (``Provider.revoke_url`` is
    None) return False: staff remove the grant in the provider's admin console.
    """
    provider = get_provider(connection.provider)
    token = connection.access_token
    if not provider.revoke_url or not token:
        return False
    try:
        post_form(
            provider.revoke_url,
            provider=provider.slug,
            **provider.token_request(
                client_id=connection.client_id,
                client_secret=connection.client_secret,
                data={"token": token},
            ),
        )
    except ApiError as exc:
        logger.warning(
            "token revocation failed",
            extra={"connection_id": connection.pk, "error_code": exc.code},
        )
        return False
    return True
