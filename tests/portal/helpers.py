"""Test helpers for signing in staff the way production does (password + TOTP)."""

from __future__ import annotations

import time

import time_machine
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.urls import reverse

from tests.factories import TEST_PASSWORD


def totp_code(secret: str) -> str:
    """The current code for ``secret``, computed with allauth's own helpers."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def sign_in_with_totp(client, user, *, secret: str | None = None) -> str:
    """Enrol ``user`` in TOTP if needed and sign in with password and code; returns the secret.

    Afterwards the session counts as MFA-verified, so the portal opens even with
    ``PORTAL_REQUIRE_MFA`` on. Users must have the factories' TEST_PASSWORD.
    """
    if secret is None:
        secret = generate_totp_secret()
        TOTP.activate(user, secret)
    # Frozen clock: the 30-second TOTP window cannot roll over between code and check.
    with time_machine.travel(time.time(), tick=False):
        response = client.post(
            reverse("account_login"), {"login": user.email, "password": TEST_PASSWORD}
        )
        assert response.status_code == 302, response
        assert response["Location"] == reverse("mfa_authenticate"), response["Location"]
        response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
        assert response.status_code == 302, response
    return secret
