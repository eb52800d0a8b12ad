"""Connection writes: create, update, authorise, verify, disconnect, delete.

What other apps must do when a connection becomes usable or is retired, they do
in receivers of ``connectors.signals``; this module imports nothing above it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from connectors.clients import api_client_for
from connectors.emails import email_normalize
from connectors.exceptions import ApiError, RateLimited, Transient
from connectors.models import Connection
from connectors.oauth import revoke_grant
from connectors.providers import get_provider
from connectors.providers.base import TokenSet, VerificationFailed, VerifyResult
from connectors.signals import connection_retired, connection_usable
from connectors.tokens import apply_tokens

# Re-exported only until requests_app imports it from connectors.tokens (merge of issue 9).
from portal.audit import audit_record

if TYPE_CHECKING:
    from portal.models import User

logger = logging.getLogger(__name__)


def connection_create(
    *,
    provider: str,
    name: str,
    client_id: str,
    client_secret: str,
    contact_email: str = "",
    escalation_policy: str = Connection.EscalationPolicy.BLOCK,
    access_mode: str = Connection.AccessMode.API,
    reminder_days: int = 5,
    escalation_days: int = 14,
    created_by: User | None = None,
) -> Connection:
    connection = Connection(
        provider=provider,
        name=name.strip(),
        client_id=client_id.strip(),
        client_secret=client_secret.strip(),
        contact_email=email_normalize(contact_email),
        escalation_policy=escalation_policy,
        access_mode=access_mode,
        reminder_days=reminder_days,
        escalation_days=escalation_days,
        created_by=created_by,
    )
    connection.full_clean()
    with transaction.atomic():
        connection.save()
        if created_by is not None:
            connection.owners.add(created_by)
        audit_record(action="connection.created", target=connection, actor=created_by)
    return connection


def connection_update(
    *, connection: Connection, actor: User, client_secret: str = "", **fields
) -> Connection:
    """Edit settings; a blank client secret keeps the stored one."""
    for name, value in fields.items():
        setattr(connection, name, value.strip() if isinstance(value, str) else value)
    if client_secret.strip():
        connection.client_secret = client_secret.strip()
    connection.contact_email = email_normalize(connection.contact_email)
    connection.full_clean()
    with transaction.atomic():
        connection.save()
        audit_record(
            action="connection.updated",
            target=connection,
            actor=actor,
            details={"fields": sorted([*fields, *(["client_secret"] if client_secret else [])])},
        )
    return connection


def connection_store_authorization(
    *, connection_id: int, tokens: TokenSet, actor: User
) -> Connection:
    """Save a fresh grant in one transaction, under the row lock refreshes use."""
    provider = get_provider(
        Connection.objects.values_list("provider", flat=True).get(pk=connection_id)
    )
    with transaction.atomic():
        connection = Connection.objects.select_for_update(no_key=True).get(pk=connection_id)
        was = connection.status
        fields = apply_tokens(connection, tokens)
        connection.granted_scopes = sorted(tokens.granted_scopes)
        connection.authorised_by = actor
        connection.authorised_at = timezone.now()
        connection.status = Connection.Status.ACTIVE
        connection.status_changed_at = timezone.now()
        connection.last_error = ""
        connection.save(
            update_fields=[
                *fields,
                "granted_scopes",
                "authorised_by",
                "authorised_at",
                "status",
                "status_changed_at",
                "last_error",
            ]
        )
        connection.owners.add(actor)
        missing = provider.scopes.missing(connection.granted_scopes)
        excess = provider.scopes.excess(connection.granted_scopes)
        audit_record(
            action="connection.authorised",
            target=connection,
            actor=actor,
            details={
                "scopes_missing": missing,
                "scopes_excess": excess,
                **({"from": was, "to": connection.status} if connection.status != was else {}),
            },
        )
    if excess:
        logger.warning(
            "provider granted more scopes than requested",
            extra={"connection_id": connection.pk, "excess": excess},
        )
    transaction.on_commit(lambda: _announce_usable(connection.pk))
    return connection


def _announce_usable(connection_id: int) -> None:
    """Tell listeners (paused fetches) that the connection works again."""
    connection_usable.send(sender=Connection, connection_id=connection_id)


def connection_verify(*, connection: Connection, actor: User | None = None) -> VerifyResult | None:
    """Check that the connection can do its job; record the outcome in words staff read.

    A temporary failure (provider down, rate limit) is recorded as the last error but
    does not change the status; a verified connection resumes the fetches it paused.
    """
    provider = get_provider(connection.provider)
    missing = provider.scopes.missing(connection.granted_scopes)
    temporary = False
    try:
        result = provider.verify(api_client_for(connection))
        problem = "Scopes missing: " + ", ".join(missing) + "." if missing else ""
    except VerificationFailed as exc:
        result, problem = None, str(exc)
    except (Transient, RateLimited) as exc:
        result, problem, temporary = None, _explain_api_error(exc, provider.display_name), True
    except ApiError as exc:
        result, problem = None, _explain_api_error(exc, provider.display_name)
    now = timezone.now()
    with transaction.atomic():
        # Under the lock, so a concurrent needs-reauth, disconnect or reconnect wins.
        connection = Connection.objects.select_for_update(no_key=True).get(pk=connection.pk)
        if (
            connection.status
            in (
                Connection.Status.NEEDS_REAUTH,
                Connection.Status.DISCONNECTED,
            )
            or not connection.access_token
        ):
            return None
        was = connection.status
        connection.last_error = problem[:500]
        if result is None:
            connection.last_error_at = now
            if not temporary:
                connection.status = Connection.Status.ERROR
            action = "connection.verify_failed"
        else:
            connection.status = Connection.Status.ACTIVE
            connection.last_verified_at = now
            connection.verification_notes = "\n".join(result.notes)
            connection.missing_products = list(result.missing_products)
            if result.account:
                connection.authorised_account = result.account[:255]
            action = "connection.verified"
        if connection.status != was:
            connection.status_changed_at = now
        connection.save(
            update_fields=[
                "status",
                "last_error",
                "last_error_at",
                "last_verified_at",
                "authorised_account",
                "verification_notes",
                "missing_products",
                "status_changed_at",
                "updated_at",
            ]
        )
        audit_record(
            action=action,
            target=connection,
            actor=actor,
            details={
                "error_code": "" if result else ("temporary" if temporary else "failed"),
                **({"from": was, "to": connection.status} if connection.status != was else {}),
            },
        )
        if result is not None and was != Connection.Status.ACTIVE:
            transaction.on_commit(lambda: _announce_usable(connection.pk))
    return result


def _explain_api_error(exc: ApiError, provider_name: str) -> str:
    status = getattr(exc, "status", None)
    if status == 401:
        return f"{provider_name} refused the access token. Reconnect the connection."
    if status == 403:
        return (
            f"{provider_name} refused access: the account that connected is not an "
            "administrator, or the app lacks a scope."
        )
    if status == 429:
        return f"{provider_name} asked us to slow down (rate limit). Try again in a few minutes."
    if status is None or status >= 500:
        return f"{provider_name} could not be reached or had an error. Try again later."
    return f"{provider_name} answered with an unexpected error (HTTP {status})."


def connection_disconnect(*, connection: Connection, actor: User) -> Connection:
    """Revoke where the provider allows it, then forget the tokens."""
    revoked = revoke_grant(connection)
    with transaction.atomic():
        connection = Connection.objects.select_for_update(no_key=True).get(pk=connection.pk)
        was = connection.status
        _wipe_tokens(connection)
        connection.status = Connection.Status.DISCONNECTED
        connection.status_changed_at = timezone.now()
        connection.save()
        # Inside the transaction, after the connection's lock: receivers take theirs next.
        connection_retired.send(
            sender=Connection,
            connection_id=connection.pk,
            code="disconnected",
            message="The connection was disconnected before this fetch finished. Reconnect "
            "it and press Retry to fetch from it again.",
            actor=actor,
        )
        audit_record(
            action="connection.disconnected",
            target=connection,
            actor=actor,
            details={"revoked_at_provider": revoked, "from": was, "to": connection.status},
        )
    return connection


def connection_delete(*, connection: Connection, actor: User) -> None:
    """Revoke, wipe and delete; its unfinished fetches end as skipped, with the reason."""
    revoke_grant(connection)
    with transaction.atomic():
        connection = Connection.objects.select_for_update(no_key=True).get(pk=connection.pk)
        _wipe_tokens(connection)
        connection.save()
        connection_retired.send(
            sender=Connection,
            connection_id=connection.pk,
            code="connection_deleted",
            message="The connection was deleted before this fetch finished.",
            actor=actor,
        )
        audit_record(
            action="connection.deleted",
            target=connection,
            actor=actor,
            details={"provider": connection.provider},
        )
        connection.delete()


def _wipe_tokens(connection: Connection) -> None:
    connection.access_token = None
    connection.refresh_token = None
    connection.access_token_expires_at = None
    connection.refresh_token_expires_at = None
    connection.granted_scopes = []
    connection.token_generation += 1
