"""Test helpers for signing in staff the way production does (password + TOTP)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import time_machine
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from cryptography.fernet import Fernet
from django.urls import reverse

from tests.factories import TEST_PASSWORD

ROOT = Path(__file__).resolve().parents[2]


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


def production_env(tmp_path, **overrides) -> dict[str, str]:
    """A production environment with fresh secrets; an override of None removes a key."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "portal.example.com",
        "PORTAL_BASE_URL": "https://portal.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "DATA_DIR": str(tmp_path / "data"),
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run this repository's Python with ``args`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
