"""The first administrator can enrol in TOTP in production (issue 10, item 4).

``createsuperuser --noinput`` (the README's way) must lead to a working TOTP
sign-in with ``PORTAL_REQUIRE_MFA`` on; addresses made by createsuperuser and
invitations are verified and primary; staff cannot add addresses, and an
unverified extra address does not block enrolment.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import time_machine
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core.management import call_command
from django.urls import reverse

from portal.admin import staff_invite
from portal.models import User
from tests.factories import TEST_PASSWORD, StaffFactory
from tests.portal.helpers import totp_code

pytestmark = pytest.mark.django_db

EMAIL = "First.Admin@Example.com"


@pytest.fixture
def production_mfa(settings):
    """The sign-in settings production runs with (portal.settings, DJANGO_ENV=production)."""
    settings.PORTAL_REQUIRE_MFA = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SESSION_COOKIE_NAME = "__Host-sessionid"
    settings.CSRF_COOKIE_NAME = "__Host-csrftoken"


def _createsuperuser(monkeypatch) -> User:
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", EMAIL)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", TEST_PASSWORD)
    call_command("createsuperuser", interactive=False, verbosity=0)
    return User.objects.get()


def _sign_in(client, email: str):
    return client.post(
        reverse("account_login"), {"login": email, "password": TEST_PASSWORD}, secure=True
    )


def _activate_totp(client) -> str:
    """Open the activation page, read its secret, answer with a code; returns the secret."""
    page = client.get(reverse("mfa_activate_totp"), secure=True)
    if page.status_code == 302 and page["Location"].startswith(reverse("account_reauthenticate")):
        # allauth asks for the password again before adding an authenticator.
        response = client.post(page["Location"], {"password": TEST_PASSWORD}, secure=True)
        assert response.status_code == 302, response
        assert response["Location"] == reverse("mfa_activate_totp")
        page = client.get(reverse("mfa_activate_totp"), secure=True)
    assert page.status_code == 200, page
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)}, secure=True)
    assert response.status_code == 302, response.context["form"].errors
    return secret


@pytest.mark.django_db(transaction=True)  # allauth reports enrolment on commit
def test_first_admin_walks_from_createsuperuser_to_a_totp_sign_in(
    client, monkeypatch, production_mfa
):
    user = _createsuperuser(monkeypatch)
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == (EMAIL.lower(), True, True)

    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        response = _sign_in(client, EMAIL)
        assert response.status_code == 302
        # Every page sends the new administrator to TOTP set-up first.
        response = client.get(reverse("dashboard"), secure=True)
        assert response.status_code == 302
        assert response["Location"] == reverse("mfa_activate_totp")
        # Opening allauth's address page (or asking for a password reset) used to
        # record the address as unverified, which blocks TOTP enrolment.
        client.get(reverse("account_email"), secure=True)
        secret = _activate_totp(client)
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()

    with time_machine.travel(start.timestamp() + 60, tick=False):  # a fresh code
        assert client.get(reverse("dashboard"), secure=True).status_code == 200
        client.post(reverse("account_logout"), secure=True)
        assert client.get(reverse("dashboard"), secure=True).status_code == 302

        response = _sign_in(client, EMAIL.lower())
        assert response["Location"] == reverse("mfa_authenticate")
        response = client.post(
            reverse("mfa_authenticate"), {"code": totp_code(secret)}, secure=True
        )
        assert response.status_code == 302
        dashboard = client.get(reverse("dashboard"), secure=True)
        assert dashboard.status_code == 200
        assert dashboard.context["user"] == user


def test_invited_staff_address_is_verified_and_primary(rf, admin_user):
    user = StaffFactory()
    EmailAddress.objects.filter(user=user).delete()
    request = rf.get("/")
    request.user = admin_user
    staff_invite(request=request, user=user)
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == (user.email, True, True)


def test_staff_created_in_code_get_a_verified_primary_address():
    user = User.objects.create_user(email="Someone@Example.com", password=TEST_PASSWORD)
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == (user.email, True, True)


def test_an_existing_unverified_address_is_verified_by_createsuperuser(monkeypatch):
    # A superuser re-created for an address allauth already knew, unverified.
    user = _createsuperuser(monkeypatch)
    EmailAddress.objects.filter(user=user).update(verified=False, primary=False)
    user.delete()
    user = _createsuperuser(monkeypatch)
    address = EmailAddress.objects.get(user=user)
    assert address.verified and address.primary


def test_staff_cannot_add_email_addresses(client, staff_user):
    client.force_login(staff_user)
    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "other@example.com"}
    )
    assert not EmailAddress.objects.filter(email="other@example.com").exists()
    assert response.status_code in (200, 302, 403, 404)


def test_an_unverified_extra_address_does_not_block_enrolment(client, production_mfa):
    user = StaffFactory()
    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    EmailAddress.objects.create(user=user, email="old@example.com", verified=False)
    with time_machine.travel(time.time(), tick=False):
        assert _sign_in(client, user.email).status_code == 302
        _activate_totp(client)
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
