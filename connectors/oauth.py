"""OAuth 2.0 for connections: authorize URL, state + PKCE, code exchange, refresh.

State follows allauth's statekit: a random id maps to a small dict in the
staff member's session, popped exactly once in the callback. Refresh happens
only in :func:`refresh_tokens`, under a row lock, so two workers never spend
the same (Zoom: rotating) refresh token.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from connectors.exceptions import ApiError, GrantRevoked, Unauthorized
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


def apply_tokens(connection: Connection, tokens: TokenSet) -> list[str]:
    """Copy a token set onto the (locked) connection; returns the fields to save."""
    now = timezone.now()
    connection.access_token = tokens.access_token
    if tokens.refresh_token:
        connection.refresh_token = tokens.refresh_token
    connection.access_token_expires_at = (
        now + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    )
    if tokens.refresh_token_expires_in:
        connection.refresh_token_expires_at = now + timedelta(
            seconds=tokens.refresh_token_expires_in
        )
    if tokens.api_base_url:
        connection.api_base_url = tokens.api_base_url
    connection.token_generation += 1
    return [
        "access_token",
        "refresh_token",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "api_base_url",
        "token_generation",
        "updated_at",
    ]


def _lock_timeout() -> None:
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", [f"{settings.TOKEN_REFRESH_LOCK_TIMEOUT}s"])


def needs_refresh(connection: Connection) -> bool:
    expires = connection.access_token_expires_at
    return expires is not None and expires <= timezone.now() + settings.TOKEN_REFRESH_MARGIN


def refresh_tokens(*, connection_id: int, stale_access_token: str | None = None) -> Connection:
    """Refresh once, under a row lock; a worker that waited uses the token the first got.

    With ``stale_access_token`` (after a 401) the refresh happens only if the
    stored token is still that one; without it (proactive), only if the token
    expires within ``TOKEN_REFRESH_MARGIN``. The new refresh token is saved in
    the same transaction as the new access token, before anyone uses it.
    """
    refused: GrantRevoked | Unauthorized | None = None
    with transaction.atomic():
        _lock_timeout()
        connection = Connection.objects.select_for_update(no_key=True).get(pk=connection_id)
        if connection.status == Connection.Status.NEEDS_REAUTH or not connection.refresh_token:
            raise _needs_reauth(connection)
        if stale_access_token is not None:
            if connection.access_token != stale_access_token:
                return connection  # Another worker refreshed while we waited.
        elif not needs_refresh(connection):
            return connection
        provider = get_provider(connection.provider)
        used_refresh_token = connection.refresh_token
        try:
            payload = post_token_form(
                provider.token_url,
                provider=provider.slug,
                **provider.token_request(
                    client_id=connection.client_id,
                    client_secret=connection.client_secret,
                    data={"grant_type": "refresh_token", "refresh_token": used_refresh_token},
                ),
            )
        except (GrantRevoked, Unauthorized) as exc:
            # invalid_grant (grant revoked or expired) or invalid_client (app deleted,
            # secret changed): either way only a person can fix it.
            refused = exc
        else:
            tokens = provider.parse_token_response(
                payload, requested=tuple(connection.granted_scopes)
            )
            # Zoom answers refreshes with the scopes again; Webex does not (keep ours).
            if provider.slug == "zoom" and tokens.granted_scopes:
                connection.granted_scopes = list(tokens.granted_scopes)
            fields = apply_tokens(connection, tokens)
            connection.save(update_fields=[*fields, "granted_scopes"])
            logger.info(
                "token refreshed",
                extra={"connection_id": connection.pk, "provider": provider.slug},
            )
            return connection
    # Refused. Mark the connection only if no other worker (or a reconnect) stored a
    # newer refresh token meanwhile; otherwise use theirs.
    from connectors.services import connection_mark_needs_reauth

    if isinstance(refused, Unauthorized):
        reason = (
            "The provider refused the app's client ID or secret (the app was removed or its "
            "secret changed). Update the client secret, then reconnect."
        )
    else:
        reason = (
            "The provider refused to refresh the access token (the grant was revoked or "
            "expired). Reconnect to continue."
        )
    connection = connection_mark_needs_reauth(
        connection_id=connection_id, reason=reason, only_if_refresh_token=used_refresh_token
    )
    if connection.status == Connection.Status.ACTIVE and connection.access_token:
        return connection
    if isinstance(refused, GrantRevoked):
        raise refused
    raise _needs_reauth(connection) from refused


def refresh_expiring_tokens() -> int:
    """Refresh every active connection whose access token expires within the margin.

    Runs on a schedule so fetches rarely meet an expired token; each refresh takes
    the row lock, so it never races a worker refreshing after a 401.
    """
    soon = timezone.now() + settings.TOKEN_REFRESH_MARGIN
    due = Connection.objects.filter(
        status=Connection.Status.ACTIVE,
        refresh_token__isnull=False,
        access_token_expires_at__lte=soon,
    ).values_list("pk", flat=True)
    refreshed = 0
    for pk in list(due):
        try:
            refresh_tokens(connection_id=pk)
            refreshed += 1
        except Exception as exc:  # one connection's trouble must not stop the others
            logger.warning(
                "scheduled token refresh failed",
                extra={
                    "connection_id": pk,
                    "error_class": type(exc).__name__,
                    "error_code": getattr(exc, "code", ""),
                },
            )
    return refreshed


def revoke_tokens(connection: Connection) -> bool:
    """Ask the provider to revoke the grant; True when it confirmed.

    Zoom has a revocation endpoint. Webex only revokes through its admin
    Authorizations API (a scope we do not ask for), so staff remove the grant in
    Control Hub; we forget the tokens either way.
    """
    provider = get_provider(connection.provider)
    revoke_url = getattr(provider, "revoke_url", None)
    token = connection.access_token
    if not revoke_url or not token:
        return False
    try:
        post_form(
            revoke_url,
            provider=provider.slug,
            data={"token": token},
            basic_auth=(connection.client_id, connection.client_secret),
        )
    except ApiError as exc:
        logger.warning(
            "token revocation failed",
            extra={"connection_id": connection.pk, "error_code": exc.code},
        )
        return False
    return True


def _needs_reauth(connection: Connection) -> GrantRevoked:
    return GrantRevoked.without_response(
        "connection needs re-authorisation", provider=connection.provider
    )


class ConnectionTokenSource:
    """Gives ``ApiClient`` a fresh access token and refreshes once after a 401.

    Thread-safe: the token is cached in memory, so concurrent calls (participants
    fetched in parallel) read the database only to load or refresh it.
    """

    def __init__(self, connection_id: int):
        self.connection_id = connection_id
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = None

    def _remember(self, connection: Connection) -> str:
        if connection.status == Connection.Status.NEEDS_REAUTH or not connection.access_token:
            raise _needs_reauth(connection)
        self._token = connection.access_token
        self._expires_at = connection.access_token_expires_at
        return self._token

    def access_token(self) -> str:
        with self._lock:
            soon = timezone.now() + settings.TOKEN_REFRESH_MARGIN
            if self._token is None or (self._expires_at is not None and self._expires_at <= soon):
                connection = Connection.objects.get(pk=self.connection_id)
                if needs_refresh(connection):
                    connection = refresh_tokens(connection_id=self.connection_id)
                return self._remember(connection)
            return self._token

    def refreshed_token(self, stale: str) -> str:
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token  # Another thread of this client refreshed already.
            connection = refresh_tokens(connection_id=self.connection_id, stale_access_token=stale)
            return self._remember(connection)
