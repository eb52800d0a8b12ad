"""API tokens expire, can be read-only, are revoked for good, audited and rate-limited
(issue 10, item 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from portal.api_tokens import (
    api_token_authenticate,
    api_token_create,
    api_token_resolve,
    api_token_revoke,
    api_token_throttle,
)
from portal.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db


def _days_left(token: ApiToken) -> float:
    return (token.expires_at - timezone.now()) / timedelta(days=1)


# --- Creation ----------------------------------------------------------------------------


def test_command_prints_only_the_token_and_shows_expiry_and_scope(staff_user, capsys):
    call_command("create_api_token", email=staff_user.email)
    out, err = capsys.readouterr()
    token = ApiToken.objects.get()
    assert out.strip().startswith(token.prefix) and "\n" not in out.strip()
    assert 89.9 < _days_left(token) <= 90
    assert f"expires {token.expires_at:%Y-%m-%d}" in err
    assert "read and write" in err
    assert token.read_only is False


def test_command_days_and_read_only(staff_user, capsys):
    call_command("create_api_token", email=staff_user.email, days=7, read_only=True)
    _, err = capsys.readouterr()
    token = ApiToken.objects.get()
    assert 6.9 < _days_left(token) <= 7
    assert token.read_only is True
    assert "read-only" in err
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.details == {"days": 7, "read_only": True}


@pytest.mark.parametrize("days", [0, -1, 10000])
def test_command_refuses_silly_lifetimes(staff_user, days):
    with pytest.raises(CommandError, match="between 1 and"):
        call_command("create_api_token", email=staff_user.email, days=days)


# --- Authentication ------------------------------------------------------------------------


def test_resolve_returns_the_token_with_its_scope(staff_user):
    token, raw = api_token_create(user=staff_user, read_only=True)
    resolved = api_token_resolve(raw)
    assert resolved == token and resolved.read_only is True
    assert resolved.user == staff_user
    assert api_token_authenticate(raw) == staff_user


def test_expired_tokens_are_refused(client, staff_user):
    _, raw = api_token_create(user=staff_user, days=1)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/v1/connections", **headers).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert api_token_resolve(raw) is None
        assert api_token_authenticate(raw) is None
        assert client.get("/api/v1/connections", **headers).status_code == 401


def test_revoked_tokens_are_refused_and_stay_revoked(staff_user, admin_user):
    token, raw = api_token_create(user=staff_user)
    assert api_token_revoke(token=token, actor=admin_user) is True
    first = ApiToken.objects.get().revoked_at
    assert api_token_revoke(token=token, actor=admin_user) is False  # no second record
    assert ApiToken.objects.get().revoked_at == first
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1
    assert api_token_authenticate(raw) is None
    token.revoked_at = None
    with pytest.raises(ValueError, match="cannot be reinstated"):
        token.save()
    assert ApiToken.objects.get().revoked_at == first


# --- Admin ------------------------------------------------------------------------------------


def test_admin_revokes_with_an_audited_action(client, admin_user, staff_user):
    token, raw = api_token_create(user=staff_user)
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:portal_apitoken_changelist"),
        {"action": "revoke", ACTION_CHECKBOX_NAME: [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor == admin_user and event.target_id == str(token.pk)
    assert api_token_authenticate(raw) is None


def test_admin_cannot_undo_a_revocation(client, admin_user, staff_user):
    token, _ = api_token_create(user=staff_user, name="ci")
    api_token_revoke(token=token, actor=admin_user)
    revoked_at = ApiToken.objects.get().revoked_at
    client.force_login(admin_user)
    url = reverse("admin:portal_apitoken_change", args=[token.pk])
    page = client.get(url).content.decode()
    for name in ("name", "revoked_at", "expires_at", "read_only", "token_hash", "created_at"):
        assert f'name="{name}"' not in page
    client.post(url, {"name": "renamed", "revoked_at": "", "read_only": "on"})
    token.refresh_from_db()
    assert (token.revoked_at, token.name, token.read_only) == (revoked_at, "ci", False)


def test_admin_edits_are_audited_and_scope_fields_read_only(client, admin_user, staff_user):
    token, _ = api_token_create(user=staff_user, name="ci")
    client.force_login(admin_user)
    url = reverse("admin:portal_apitoken_change", args=[token.pk])
    page = client.get(url).content.decode()
    assert 'name="name"' in page
    for name in ("revoked_at", "expires_at", "read_only", "token_hash", "created_at"):
        assert f'name="{name}"' not in page
    response = client.post(url, {"name": "nightly export", "read_only": "on"})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.name == "nightly export" and token.read_only is False
    event = AuditEvent.objects.get(action="api_token.changed")
    assert event.actor == admin_user and event.details == {"fields": ["name"]}


def test_admin_cannot_add_or_delete_tokens(client, admin_user, staff_user):
    token, _ = api_token_create(user=staff_user)
    client.force_login(admin_user)
    assert client.get(reverse("admin:portal_apitoken_add")).status_code == 403
    assert client.get(reverse("admin:portal_apitoken_delete", args=[token.pk])).status_code == 403
    response = client.post(
        reverse("admin:portal_apitoken_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [token.pk]},
    )
    assert response.status_code in (200, 302)
    assert ApiToken.objects.filter(pk=token.pk).exists()


# --- Per-token rate limit ------------------------------------------------------------------------


def test_throttle_allows_the_limit_per_window_then_says_how_long(settings, staff_user):
    settings.API_TOKEN_RATE_LIMIT = "3/m"
    token, _ = api_token_create(user=staff_user)
    other, _ = api_token_create(user=staff_user)
    start = timezone.now().replace(second=10, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(start, tick=False):
        assert [api_token_throttle(token) for _ in range(3)] == [0, 0, 0]
        assert api_token_throttle(token) == 50  # seconds to the next minute
        assert api_token_throttle(other) == 0  # each token has its own budget
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        assert api_token_throttle(token) == 0


def test_throttle_default_and_off(settings, staff_user):
    token, _ = api_token_create(user=staff_user)
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(start, tick=False):
        assert sum(api_token_throttle(token) == 0 for _ in range(125)) == 120
        settings.API_TOKEN_RATE_LIMIT = "0"
        assert api_token_throttle(token) == 0


def test_malformed_rate_limit_fails_the_checks(settings):
    settings.API_TOKEN_RATE_LIMIT = "lots"
    assert "portal.E003" in [e.id for e in run_checks()]
