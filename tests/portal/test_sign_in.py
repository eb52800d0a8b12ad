"""Staff sign-in: password, MFA enrolment and use, throttling, no sign-up, invitations."""

from __future__ import annotations

import os
import re
import time

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from portal.models import User
from tests.factories import TEST_PASSWORD, PrivacyRequestFactory, StaffFactory
from tests.portal.helpers import sign_in_with_totp

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def _frozen_clock():
    """TOTP codes change every 30 s: a frozen clock keeps code and check in one window."""
    with time_machine.travel(time.time(), tick=False):
        yield


def _totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _sign_in(client, email: str, password: str = TEST_PASSWORD):
    return client.post(LOGIN, {"login": email, "password": password})


def _confirm_password(client) -> None:
    """allauth asks for the password again before adding an authenticator."""
    response = client.get(reverse("mfa_activate_totp"))
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    response = client.post(response["Location"], {"password": TEST_PASSWORD})
    assert response["Location"] == reverse("mfa_activate_totp")


class TestMFAEnforcement:
    @pytest.fixture(autouse=True)
    def _require_mfa(self, settings):
        settings.PORTAL_REQUIRE_MFA = True

    def test_staff_without_totp_is_sent_to_setup_from_every_page(self, staff_client):
        # staff_client is signed in without any second factor.
        pr = PrivacyRequestFactory()
        for url in (
            reverse("dashboard"),
            reverse("requests:list"),
            reverse("requests:new"),
            reverse("requests:detail", args=[pr.pk]),
            reverse("admin:index"),
        ):
            response = staff_client.get(url)
            assert response.status_code == 302, url
            assert response["Location"] == reverse("mfa_activate_totp"), url
        post = staff_client.post(reverse("requests:extend", args=[pr.pk]), {"reason": "x"})
        assert post["Location"] == reverse("mfa_activate_totp")

    def test_setup_page_itself_is_reachable(self, client, staff_user):
        _sign_in(client, staff_user.email)
        _confirm_password(client)
        response = client.get(reverse("mfa_activate_totp"))
        assert response.status_code == 200
        assert "Authenticator secret" in response.content.decode()

    def test_after_enrolling_the_dashboard_opens(self, client, staff_user):
        sign_in_with_totp(client, staff_user)  # TOTP.activate, then password + code
        assert client.get(reverse("dashboard")).status_code == 200
        assert client.get(reverse("requests:list")).status_code == 200

    def test_enrolled_but_not_used_in_this_session_must_enter_a_code(self, client, staff_user):
        secret = generate_totp_secret()
        TOTP.activate(staff_user, secret)
        client.force_login(staff_user)  # a session that never passed the MFA step
        response = client.get(reverse("requests:list"))
        assert response.status_code == 302
        assert response["Location"] == (
            reverse("mfa_reauthenticate") + "?next=" + reverse("requests:list").replace("/", "%2F")
        )
        response = client.post(response["Location"], {"code": _totp_code(secret)})
        assert response.status_code == 302
        assert response["Location"] == reverse("requests:list")
        assert client.get(reverse("requests:list")).status_code == 200

    def test_recovery_code_sign_in_satisfies_the_requirement(self, client, staff_user):
        TOTP.activate(staff_user, generate_totp_secret())
        code = RecoveryCodes.activate(staff_user).get_unused_codes()[0]
        _sign_in(client, staff_user.email)
        client.post(reverse("mfa_authenticate"), {"code": code})
        assert client.get(reverse("dashboard")).status_code == 200

    @pytest.mark.django_db(transaction=True)
    def test_enrolling_through_the_page(self, client, staff_user):
        _sign_in(client, staff_user.email)
        _confirm_password(client)
        client.get(reverse("mfa_activate_totp"))
        secret = client.session["mfa.totp.secret"]
        # Real commits (transaction=True): allauth announces the new authenticator on
        # commit, inside the request, and that enrolment counts as this session's MFA.
        response = client.post(reverse("mfa_activate_totp"), {"code": _totp_code(secret)})
        assert response.status_code == 302
        assert Authenticator.objects.filter(user=staff_user, type="totp").exists()
        assert client.get(reverse("dashboard")).status_code == 200

    def test_non_staff_and_setting_off_are_not_redirected(self, client, settings, staff_user):
        client.force_login(staff_user)
        settings.PORTAL_REQUIRE_MFA = False
        assert client.get(reverse("dashboard")).status_code == 200


class TestMFASignIn:
    @pytest.fixture
    def enrolled(self, db):
        user = StaffFactory()
        secret = generate_totp_secret()
        TOTP.activate(user, secret)
        codes = RecoveryCodes.activate(user)
        return user, secret, codes

    def test_password_alone_is_not_enough(self, client, enrolled):
        user, _, _ = enrolled
        response = _sign_in(client, user.email)
        assert response["Location"] == reverse("mfa_authenticate")
        assert client.get(reverse("dashboard")).status_code == 302
        assert "_auth_user_id" not in client.session

    def test_totp_code_completes_sign_in(self, client, enrolled):
        user, secret, _ = enrolled
        _sign_in(client, user.email)
        response = client.post(reverse("mfa_authenticate"), {"code": "000000"})
        assert response.status_code == 200  # wrong code: the form again
        assert "_auth_user_id" not in client.session
        response = client.post(reverse("mfa_authenticate"), {"code": _totp_code(secret)})
        assert response.status_code == 302
        assert client.session["_auth_user_id"] == str(user.pk)
        assert client.get(reverse("dashboard")).status_code == 200

    def test_recovery_code_works_once(self, client, enrolled):
        user, _, codes = enrolled
        code = codes.get_unused_codes()[0]
        _sign_in(client, user.email)
        response = client.post(reverse("mfa_authenticate"), {"code": code})
        assert response.status_code == 302
        assert client.session["_auth_user_id"] == str(user.pk)

        client.post(reverse("account_logout"))
        _sign_in(client, user.email)
        response = client.post(reverse("mfa_authenticate"), {"code": code})
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
        rc = RecoveryCodes(Authenticator.objects.get(user=user, type="recovery_codes"))
        assert code not in rc.get_unused_codes()


class TestPasswordSignIn:
    def test_fields_login_and_password(self, client, staff_user):
        response = client.get(LOGIN)
        html = response.content.decode()
        assert 'name="login"' in html and 'name="password"' in html
        assert "sign up" not in html.lower()
        response = _sign_in(client, staff_user.email.upper())
        assert response.status_code == 302
        assert client.get(reverse("dashboard")).status_code == 200

    def test_wrong_password_shows_error(self, client, staff_user):
        response = _sign_in(client, staff_user.email, "wrong password here")
        assert response.status_code == 200
        assert "is-invalid" in response.content.decode() or "alert-danger" in (
            response.content.decode()
        )
        assert "_auth_user_id" not in client.session

    def test_createsuperuser_noinput_then_sign_in(self, client, monkeypatch):
        monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Root@Example.com")
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long admin password 99")
        call_command("createsuperuser", "--noinput", verbosity=0)
        user = User.objects.get()
        assert user.email == "root@example.com"
        assert user.is_superuser and user.is_staff
        response = _sign_in(client, "root@example.com", "a long admin password 99")
        assert response.status_code == 302
        assert client.get(reverse("admin:index")).status_code == 200
        assert os.environ["DJANGO_SUPERUSER_EMAIL"] == "Root@Example.com"

    def test_sign_out_is_a_post(self, staff_client):
        html = staff_client.get(reverse("dashboard")).content.decode()
        assert f'action="{reverse("account_logout")}"' in html
        staff_client.post(reverse("account_logout"))
        assert staff_client.get(reverse("dashboard")).status_code == 302


class TestThrottling:
    def test_bad_passwords_are_throttled(self, client, staff_user):
        for _ in range(5):
            _sign_in(client, staff_user.email, "wrong password here")
        # Even the right password is refused once the limit is reached.
        response = _sign_in(client, staff_user.email)
        assert response.status_code == 200
        assert "Too many failed login attempts" in response.content.decode()
        assert "_auth_user_id" not in client.session
        # Keep going and the login endpoint answers 429 outright.
        statuses = [_sign_in(client, staff_user.email, "wrong").status_code for _ in range(30)]
        assert 429 in statuses
        response = _sign_in(client, staff_user.email, "wrong")
        assert response.status_code == 429
        assert "Too many attempts" in response.content.decode()

    def test_admin_login_goes_through_throttled_allauth(self, client):
        response = client.get(reverse("admin:login"))
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN)
        # Posting to the admin login never authenticates by itself.
        response = client.post(
            reverse("admin:login"), {"username": "x@example.com", "password": "y"}
        )
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN)


class TestNoSignUp:
    def test_signup_is_closed(self, client):
        response = client.get(reverse("account_signup"))
        assert "Sign-up is closed" in response.content.decode()
        assert 'name="password1"' not in response.content.decode()
        client.post(
            reverse("account_signup"),
            {"email": "new@example.com", "password1": "x" * 20, "password2": "x" * 20},
        )
        assert not User.objects.filter(email="new@example.com").exists()


class TestPasswordReset:
    def test_reset_email_and_new_password(self, client, staff_user):
        response = client.post(reverse("account_reset_password"), {"email": staff_user.email})
        assert response.status_code == 302
        assert len(mail.outbox) == 1
        link = re.search(r"https?://\S+/password/reset/key/\S+/", mail.outbox[0].body).group(0)
        path = link.split("testserver", 1)[1]
        response = client.get(path)
        assert response.status_code == 302  # allauth moves the key into the session
        new = "a brand new password 77"
        response = client.post(response["Location"], {"password1": new, "password2": new})
        assert response.status_code == 302
        staff_user.refresh_from_db()
        assert staff_user.check_password(new)


class TestAdminInvitation:
    def test_admin_creates_staff_and_invitation_is_sent(
        self, client, admin_user, django_capture_on_commit_callbacks
    ):
        client.force_login(admin_user)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("admin:portal_user_add"),
                {"email": "New.Analyst@Example.com", "first_name": "Nia", "last_name": "Ng"},
            )
        assert response.status_code == 302
        user = User.objects.get(email="new.analyst@example.com")
        assert user.is_staff and not user.is_superuser
        assert not user.has_usable_password()
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["new.analyst@example.com"]
        assert "/accounts/password/reset/key/" in mail.outbox[0].body

    def test_invitation_action(self, client, admin_user):
        staff = StaffFactory()
        client.force_login(admin_user)
        response = client.post(
            reverse("admin:portal_user_changelist"),
            {"action": "send_invitation", "_selected_action": [staff.pk]},
        )
        assert response.status_code == 302
        assert [m.to for m in mail.outbox] == [[staff.email]]
