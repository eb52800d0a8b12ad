"""Every staff page needs a signed-in staff user: sign-in for anonymous, 403 for others."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import PrivacyRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def privacy_request():
    return PrivacyRequestFactory()


def _portal_urls(pr) -> list[tuple[str, str]]:
    return [
        ("get", reverse("dashboard")),
        ("get", reverse("requests:list")),
        ("get", reverse("requests:new")),
        ("post", reverse("requests:new")),
        ("get", reverse("requests:detail", args=[pr.pk])),
        ("post", reverse("requests:extend", args=[pr.pk])),
    ]


PAGES = range(6)


@pytest.mark.parametrize("index", PAGES)
def test_anonymous_goes_to_sign_in(client, privacy_request, index):
    method, url = _portal_urls(privacy_request)[index]
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")


@pytest.mark.parametrize("index", PAGES)
def test_non_staff_user_gets_403(client, plain_user, privacy_request, index):
    client.force_login(plain_user)
    method, url = _portal_urls(privacy_request)[index]
    response = getattr(client, method)(url)
    assert response.status_code == 403
    assert "You cannot open this page" in response.content.decode()


@pytest.mark.parametrize("index", [0, 1, 2, 4])
def test_staff_reaches_pages(staff_client, privacy_request, index):
    _, url = _portal_urls(privacy_request)[index]
    response = staff_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="#main"' in html and '<main id="main"' in html
    assert 'aria-label="Main"' in html


def test_admin_link_only_for_superusers(client, staff_user, admin_user):
    client.force_login(staff_user)
    assert reverse("admin:index") not in client.get(reverse("dashboard")).content.decode()
    client.force_login(admin_user)
    assert reverse("admin:index") in client.get(reverse("dashboard")).content.decode()


def test_admin_sends_anonymous_to_allauth_and_refuses_non_staff(client, plain_user):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    follow = client.get(response["Location"])
    assert follow["Location"].startswith(reverse("account_login"))
    client.force_login(plain_user)
    assert client.get(reverse("admin:login")).status_code == 403
