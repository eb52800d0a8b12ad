"""A connection's tokens: storing them, refreshing them, and giving up on them.

Refresh happens only in ``refresh_tokens``, under the connection's row lock, so
two workers never spend the same (Zoom: rotating) refresh token; the new refresh
token is saved in the same transaction as the new access token. When the provider
refuses the grant, ``connection_mark_needs_reauth`` stops using it and tells the
connection's owners.

A token is refreshed when it expires within ``refresh_margin``: the
``TOKEN_REFRESH_MARGIN`` setting, or half the token's lifetime when that is
shorter, so a 30-second token is refreshed about every 15 seconds rather than
before every call.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection as db_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from connectors import oauth
from connectors.exceptions import GrantRevoked, Unauthorized
from connectors.models import Connection
from connectors.providers import get_provider
from connectors.providers.base import TokenSet
from portal.audit import audit_record
from portal.models import User

logger = logging.getLogger(__name__)


def apply_tokens(connection: Connection, tokens: TokenSet) -> list[str]:
    """Copy a token set onto the (locked) connection; returns the fields to save."""
    now = timezone.now()
    connection.access_token = tokens.access_token
    if tokens.refresh_token:
        connection.refresh_token = tokens.refresh_token
    connection.access_token_expires_at = (
        now + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    )
    connection.access_token_lifetime = tokens.expires_in or None
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
        "access_token_lifetime",
        "refresh_token_expires_at",
        "api_base_url",
        "token_generation",
        "updated_at",
    ]


def _lock_timeout() -> None:
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", [f"{settings.TOKEN_REFRESH_LOCK_TIMEOUT}s"])


def refresh_margin(lifetime: int | None) -> timedelta:
    """How long before expiry to refresh: the setting, at most half the token's lifetime.

    An unknown lifetime (tokens stored before it was kept) gets the setting.
    """
    margin = settings.TOKEN_REFRESH_MARGIN
    if lifetime:
        margin = min(margin, timedelta(seconds=lifetime / 2))
    return margin


def expires_soon(expires_at: datetime | None, lifetime: int | None) -> bool:
    """Whether a token expiring at ``expires_at`` is due for a refresh now."""
    return expires_at is not None and expires_at <= timezone.now() + refresh_margin(lifetime)


def needs_refresh(connection: Connection) -> bool:
    return expires_soon(connection.access_token_expires_at, connection.access_token_lifetime)


def refresh_tokens(*, connection_id: int, stale_access_token: str | None = None) -> Connection:
    """Refresh once, under a row lock; a worker that waited uses the token the first got.

    With ``stale_access_token`` (after a 401) the refresh happens only if the
    stored token is still that one; without it (proactive), only if the token
    expires within its ``refresh_margin``. The new refresh token is saved in
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
            tokens = oauth.refresh_grant(connection=connection, refresh_token=used_refresh_token)
        except (GrantRevoked, Unauthorized) as exc:
            # invalid_grant (grant revoked or expired) or invalid_client (app deleted,
            # secret changed): either way only a person can fix it.
            refused = exc
        else:
            if provider.reports_granted_scopes and tokens.granted_scopes:
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
    """Refresh every active connection whose access token expires within its margin.

    Runs on a schedule so fetches rarely meet an expired token; each refresh takes
    the row lock, so it never races a worker refreshing after a 401. Returns how
    many were due.
    """
    soon = timezone.now() + settings.TOKEN_REFRESH_MARGIN  # the widest margin
    candidates = Connection.objects.filter(
        status=Connection.Status.ACTIVE,
        refresh_token__isnull=False,
        access_token_expires_at__lte=soon,
    ).values_list("pk", "access_token_expires_at", "access_token_lifetime")
    due = [pk for pk, expires, lifetime in candidates if expires_soon(expires, lifetime)]
    refreshed = 0
    for pk in due:
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
        self._expires_at: datetime | None = None
        self._lifetime: int | None = None

    def _remember(self, connection: Connection) -> str:
        if connection.status == Connection.Status.NEEDS_REAUTH or not connection.access_token:
            raise _needs_reauth(connection)
        self._token = connection.access_token
        self._expires_at = connection.access_token_expires_at
        self._lifetime = connection.access_token_lifetime
        return self._token

    def access_token(self) -> str:
        with self._lock:
            if self._token is None or expires_soon(self._expires_at, self._lifetime):
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

    def stored_token(self, rejected: str) -> str | None:
        """The token now stored for the connection, read afresh, unless it is ``rejected``.

        After a refreshed token got a 401 too, another worker may have refreshed (and
        the provider dropped ours) meanwhile: the row, not this cache, knows.
        """
        with self._lock:
            connection = Connection.objects.get(pk=self.connection_id)
            if connection.access_token == rejected:
                return None
            return self._remember(connection)


# --- Giving up on a grant -------------------------------------------------------------


def connection_mark_needs_reauth(
    *, connection_id: int, reason: str, only_if_refresh_token: str | None = None
) -> Connection:
    """Stop using the grant, tell the owners, keep requests resumable.

    With ``only_if_refresh_token``, nothing changes when another worker or a
    reconnect already stored a different refresh token.
    """
    with transaction.atomic():
        connection = Connection.objects.select_for_update(no_key=True).get(pk=connection_id)
        if only_if_refresh_token is not None and (
            connection.refresh_token != only_if_refresh_token
        ):
            return connection
        if connection.status == Connection.Status.NEEDS_REAUTH:
            return connection
        now = timezone.now()
        connection.status = Connection.Status.NEEDS_REAUTH
        connection.status_changed_at = now
        connection.last_error = reason[:500]
        connection.last_error_at = now
        connection.save(
            update_fields=["status", "status_changed_at", "last_error", "last_error_at"]
        )
        audit_record(
            action="connection.needs_reauth", target=connection, details={"error_code": "grant"}
        )
        transaction.on_commit(lambda: _notify_owners_needs_reauth(connection.pk))
    return connection


def _owner_emails(connection: Connection) -> list[str]:
    emails = {u.email for u in connection.owners.filter(is_active=True)}
    for user in (connection.authorised_by, connection.created_by):
        if user is not None and user.is_active:
            emails.add(user.email)
    if not emails:
        emails = set(
            User.objects.filter(is_superuser=True, is_active=True).values_list("email", flat=True)
        )
    return sorted(emails)


def _notify_owners_needs_reauth(connection_id: int) -> None:
    """Best effort: a mail server problem must not turn a pause into a failure."""
    try:
        _send_needs_reauth_mail(connection_id)
    except Exception as exc:
        logger.error(
            "could not email the connection's owners",
            extra={"connection_id": connection_id, "error_class": type(exc).__name__},
        )


def _send_needs_reauth_mail(connection_id: int) -> None:
    connection = Connection.objects.get(pk=connection_id)
    recipients = _owner_emails(connection)
    if not recipients:
        return
    context = {
        "connection": connection,
        "url": settings.PORTAL_BASE_URL
        + reverse("connectors:detail", kwargs={"pk": connection.pk}),
    }
    send_mail(
        subject=f"Connection {connection.name} needs re-authorisation",
        message=render_to_string("connectors/emails/needs_reauth.txt", context),
        from_email=None,
        recipient_list=recipients,
    )
