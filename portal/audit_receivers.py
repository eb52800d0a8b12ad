"""Sign-ins, sign-outs, password and two-factor changes of staff, in the audit trail.

Django and allauth send the signals; these receivers write an ``AuditEvent`` whose
actor and target are the staff member. Nothing else about the person is stored:
no address, no IP, no user agent, no code. Connected by importing this module in
``PortalConfig.ready()``.
"""

from __future__ import annotations

from typing import Any

from allauth.account.signals import password_changed, password_reset
from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from portal.audit import audit_record


def _record(action: str, user: Any, details: dict[str, Any] | None = None) -> None:
    if user is None or getattr(user, "pk", None) is None:
        return
    audit_record(action=action, target=user, actor=user, details=details)


def _kind(authenticator: Any) -> dict[str, str]:
    """The authenticator's type (``totp``, ``recovery_codes``, ``webauthn``), never its data."""
    kind = getattr(authenticator, "type", "")
    return {"method": str(kind)} if kind else {}


@receiver(user_logged_in, dispatch_uid="portal_audit_signed_in")
def _on_signed_in(sender, request=None, user=None, **kwargs) -> None:
    _record("user.signed_in", user)


@receiver(user_logged_out, dispatch_uid="portal_audit_signed_out")
def _on_signed_out(sender, request=None, user=None, **kwargs) -> None:
    _record("user.signed_out", user)


@receiver(password_changed, dispatch_uid="portal_audit_password_changed")
def _on_password_changed(sender, request=None, user=None, **kwargs) -> None:
    _record("user.password_changed", user)


@receiver(password_reset, dispatch_uid="portal_audit_password_reset")
def _on_password_reset(sender, request=None, user=None, **kwargs) -> None:
    _record("user.password_reset", user)


@receiver(authenticator_added, dispatch_uid="portal_audit_mfa_added")
def _on_mfa_added(sender, request=None, user=None, authenticator=None, **kwargs) -> None:
    _record("mfa.enrolled", user, _kind(authenticator))


@receiver(authenticator_removed, dispatch_uid="portal_audit_mfa_removed")
def _on_mfa_removed(sender, request=None, user=None, authenticator=None, **kwargs) -> None:
    _record("mfa.removed", user, _kind(authenticator))


@receiver(authenticator_reset, dispatch_uid="portal_audit_mfa_reset")
def _on_mfa_reset(sender, request=None, user=None, authenticator=None, **kwargs) -> None:
    _record("mfa.recovery_codes_reset", user, _kind(authenticator))
