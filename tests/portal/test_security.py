"""Security headers, cookie flags and production settings that must hold in every deployment."""

from __future__ import annotations

import json
import re

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from tests.factories import TEST_PASSWORD
from tests.portal.helpers import production_env, run_python

pytestmark = pytest.mark.django_db


def _csp(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in header.split(";")
        if part.strip()
    }


def _assert_common_headers(response) -> None:
    csp = _csp(response)
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert csp["style-src"] == "'self'"
    # Inline scripts run only with this response's nonce (pages that use none get none).
    nonce = re.search(r"'nonce-([A-Za-z0-9+/=_-]+)'", csp["script-src"])
    for tag in re.findall(r"<script[^>]*>", response.content.decode()):
        assert "src=" in tag or (nonce and f'nonce="{nonce.group(1)}"' in tag), tag
    assert "Content-Security-Policy-Report-Only" not in response
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.fixture
def hsts(settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True


@pytest.mark.usefixtures("hsts")
@pytest.mark.parametrize("name", ["sign_in", "dashboard", "request_list", "admin", "not_found"])
def test_security_headers_on_html_pages(client, admin_user, name):
    if name != "sign_in":
        client.force_login(admin_user)
    url = {
        "sign_in": reverse("account_login"),
        "dashboard": reverse("dashboard"),
        "request_list": reverse("requests:list"),
        "admin": reverse("admin:index"),
        "not_found": "/nowhere/",
    }[name]
    response = client.get(url, secure=True)
    assert response.status_code in (200, 404)
    _assert_common_headers(response)
    if name != "admin":  # our own layout always carries the nonce
        assert "'nonce-" in response["Content-Security-Policy"]
    assert response["Strict-Transport-Security"] == ("max-age=31536000; includeSubDomains; preload")


def test_script_tags_carry_the_header_nonce(client):
    response = client.get(reverse("account_login"))
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    html = response.content.decode()
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts
    assert all(f'nonce="{nonce}"' in tag for tag in scripts)
    # style-src is 'self' only: no inline style attributes or blocks.
    assert " style=" not in html and "<style" not in html


def test_no_external_resources(staff_client):
    html = staff_client.get(reverse("dashboard")).content.decode()
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_cookie_flags_with_production_cookie_settings(client, settings, staff_user):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SESSION_COOKIE_NAME = "__Host-sessionid"
    settings.CSRF_COOKIE_NAME = "__Host-csrftoken"
    response = client.get(reverse("account_login"), secure=True)
    csrf = response.cookies["__Host-csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax" and csrf["path"] == "/"
    assert not csrf["domain"]
    response = client.post(
        reverse("account_login"),
        {"login": staff_user.email, "password": TEST_PASSWORD},
        secure=True,
    )
    assert response.status_code == 302
    session = response.cookies["__Host-sessionid"]
    assert session["secure"]
    assert session["httponly"]
    assert session["samesite"] == "Lax"
    assert session["path"] == "/"
    assert not session["domain"]


# --- Production settings, in a fresh interpreter --------------------------------------


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_secrets(tmp_path, missing):
    result = run_python(["manage.py", "check"], production_env(tmp_path, **{missing: None}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} must be set when DJANGO_ENV=production." in result.stderr


_PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "keys": s.FIELD_ENCRYPTION_KEY,
    "debug": s.DEBUG,
    "session_secure": s.SESSION_COOKIE_SECURE,
    "csrf_secure": s.CSRF_COOKIE_SECURE,
    "session_name": s.SESSION_COOKIE_NAME,
    "csrf_name": s.CSRF_COOKIE_NAME,
    "session_httponly": s.SESSION_COOKIE_HTTPONLY,
    "samesite": [s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE],
    "session_age": s.SESSION_COOKIE_AGE,
    "hsts": s.SECURE_HSTS_SECONDS,
    "ssl_redirect": s.SECURE_SSL_REDIRECT,
    "cache": s.CACHES["default"]["BACKEND"],
    "require_mfa": s.PORTAL_REQUIRE_MFA,
    "signup_adapter": s.ACCOUNT_ADAPTER,
    "login_failed": s.ACCOUNT_RATE_LIMITS["login_failed"],
}))
"""


def test_production_settings_values(tmp_path):
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = production_env(tmp_path, FIELD_ENCRYPTION_KEY=f"{new}, {old}")
    result = run_python(["-c", _PRINT_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["keys"] == [new, old]  # several keys: rotation
    assert values["debug"] is False
    assert values["session_secure"] and values["csrf_secure"]
    assert values["session_name"].startswith("__Host-")
    assert values["csrf_name"].startswith("__Host-")
    assert values["session_httponly"] is True
    assert values["samesite"] == ["Lax", "Lax"]
    assert values["session_age"] <= 8 * 60 * 60
    assert values["hsts"] >= 31536000
    assert values["ssl_redirect"] is True
    # Throttling counters must be shared by every process: not LocMem or Dummy.
    assert "locmem" not in values["cache"].lower() and "dummy" not in values["cache"].lower()
    assert values["require_mfa"] is True
    assert values["login_failed"]


def test_field_encryption_key_must_differ_from_secret_key(tmp_path):
    key = Fernet.generate_key().decode()
    result = run_python(
        ["manage.py", "check"], production_env(tmp_path, SECRET_KEY=key, FIELD_ENCRYPTION_KEY=key)
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY must differ from SECRET_KEY" in result.stderr
