"""Staff must enrol in TOTP, and have used it in this session, before using the portal.

allauth does not force enrolment, so this middleware does (setting
``PORTAL_REQUIRE_MFA``). A staff member without a TOTP authenticator is sent to
set one up; one who has it but whose session never proved it (no MFA step at
sign-in, no enrolment in this session) is asked for a code first. The proof is
recorded from allauth's public MFA signals.
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_used
from django.conf import settings
from django.dispatch import receiver
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode

# Paths a signed-in user without MFA may still reach: sign-in/out and MFA set-up,
# assets, and the public pages for data subjects and system contacts; the JSON API
# authenticates with its own tokens.
_EXEMPT_PREFIXES = (
    "/accounts/",
    "/static/",
    "/favicon.ico",
    "/privacy/",
    "/subject/",
    "/contact/",
    "/api/",
)

# Session key: the id of the user who proved a second factor in this session.
MFA_VERIFIED_SESSION_KEY = "portal_mfa_verified_user"


def user_has_mfa(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def session_mfa_verified(request) -> bool:
    """Whether this session's user passed an MFA step (sign-in, reauthentication, enrolment)."""
    return request.session.get(MFA_VERIFIED_SESSION_KEY) == str(request.user.pk)


def _mark_verified(request, user) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[MFA_VERIFIED_SESSION_KEY] = str(user.pk)


@receiver(authenticator_used, dispatch_uid="portal_mfa_used")
def _on_authenticator_used(sender, request=None, user=None, **kwargs) -> None:
    _mark_verified(request, user)


@receiver(authenticator_added, dispatch_uid="portal_mfa_added")
def _on_authenticator_added(sender, request=None, user=None, authenticator=None, **kwargs) -> None:
    # Activating TOTP means entering a valid code from the new authenticator.
    if authenticator is not None and authenticator.type == Authenticator.Type.TOTP:
        _mark_verified(request, user)


@receiver(authenticator_removed, dispatch_uid="portal_mfa_removed")
def _on_authenticator_removed(sender, request=None, authenticator=None, **kwargs) -> None:
    is_totp = authenticator is not None and authenticator.type == Authenticator.Type.TOTP
    if is_totp and request is not None and hasattr(request, "session"):
        request.session.pop(MFA_VERIFIED_SESSION_KEY, None)


class StaffMFAMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._applies(request):
            if not user_has_mfa(request.user):
                return redirect(reverse("mfa_activate_totp"))
            if not session_mfa_verified(request):
                next_url = request.get_full_path() if request.method == "GET" else "/"
                return redirect(f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}")
        return self.get_response(request)

    @staticmethod
    def _applies(request) -> bool:
        if not settings.PORTAL_REQUIRE_MFA:
            return False
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return False
        return not request.path.startswith(_EXEMPT_PREFIXES)


class NoStoreMiddleware:
    """Every page and API answer may hold personal data: no browser or proxy keeps a copy.

    Static files never reach this middleware (WhiteNoise answers them first) and
    keep their long-lived caching.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        return response
