"""Staff must enrol in TOTP before they can use the portal (allauth does not force it)."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

# Paths a signed-in user without MFA may still reach: sign-in/out and MFA set-up,
# assets, and the public pages for data subjects and system contacts; the JSON API
# authenticates with its own tokens.
_EXEMPT_PREFIXES = ("/accounts/", "/static/", "/favicon.ico", "/subject/", "/contact/", "/api/")


def user_has_mfa(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


class StaffMFAMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._must_enrol(request):
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)

    @staticmethod
    def _must_enrol(request) -> bool:
        if not settings.PORTAL_REQUIRE_MFA:
            return False
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return False
        if request.path.startswith(_EXEMPT_PREFIXES):
            return False
        return not user_has_mfa(user)
