"""Delivery: download links and one-time codes under frozen time; IDOR; re-issue."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent
from portal.roles import Role
from requests_app.models import PrivacyRequest, SubjectLink
from requests_app.services.approval import privacy_request_approve
from tests.factories import StaffFactory, in_review_result, records_create
from tests.requests_app.subject_support import mailed_code, mailed_links

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
DOWNLOAD = reverse("privacy:download")
FILE = reverse("privacy:download_file")


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def approver():
    return StaffFactory(roles=[Role.APPROVER])


def approved(commit, approver, email: str):
    """An approved request for ``email``; returns it and its mailed download URL."""
    result = in_review_result("zoom", subject_email=email)
    records_create(result, "meeting", [{"id": 1, "topic": f"Meeting of {email}"}])
    with commit():
        report = privacy_request_approve(result.request, actor=approver)
    message = next(m for m in reversed(mail.outbox) if m.to == [email])
    return result.request, report, mailed_links(message)["download"]


def open_and_code(client, commit, url: str, email: str) -> str:
    with commit():
        assert client.get(url).status_code == 302
    message = next(m for m in reversed(mail.outbox) if m.to == [email])
    return mailed_code(message)


def not_found(response) -> bool:
    return response.status_code == 404 and b"This link is not valid" in response.content


def test_a_link_expires_after_seven_days(client, clock, commit, approver):
    _, _, url = approved(commit, approver, "a@example.com")
    clock.shift(dt.timedelta(days=7, seconds=-1))
    code = open_and_code(client, commit, url, "a@example.com")
    clock.shift(dt.timedelta(seconds=2))
    assert not_found(client.post(DOWNLOAD, {"code": code}))
    assert not_found(client.get(url))


def test_a_code_expires_after_ten_minutes_and_a_new_one_works(client, clock, commit, approver):
    _, _, url = approved(commit, approver, "a@example.com")
    code = open_and_code(client, commit, url, "a@example.com")
    clock.shift(dt.timedelta(minutes=10, seconds=1))
    answer = client.post(DOWNLOAD, {"code": code})
    assert answer.status_code == 400 and b"Ask for a new code" in answer.content
    with commit():
        client.post(DOWNLOAD, {"action": "resend"})
    fresh = mailed_code()
    assert client.post(DOWNLOAD, {"code": fresh}).status_code == 302
    assert client.get(FILE).status_code == 200


def test_three_wrong_tries_then_a_new_code_must_be_asked_for(client, clock, commit, approver):
    _, _, url = approved(commit, approver, "a@example.com")
    code = open_and_code(client, commit, url, "a@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    first = client.post(DOWNLOAD, {"code": wrong})
    assert b"2 tries left" in first.content
    assert b"1 try left" in client.post(DOWNLOAD, {"code": wrong}).content
    third = client.post(DOWNLOAD, {"code": wrong})
    assert b"Ask for a new code" in third.content
    # Even the right code no longer works.
    assert client.post(DOWNLOAD, {"code": code}).status_code == 400
    assert not_found(client.get(FILE))
    rejected = AuditEvent.objects.filter(action="delivery.code_rejected").count()
    assert rejected == 3
    with commit():
        client.post(DOWNLOAD, {"action": "resend"})
    assert client.post(DOWNLOAD, {"code": mailed_code()}).status_code == 302


def test_a_code_is_single_use(client, clock, commit, approver):
    _, _, url = approved(commit, approver, "a@example.com")
    code = open_and_code(client, commit, url, "a@example.com")
    assert client.post(DOWNLOAD, {"code": code}).status_code == 302
    other = Client()
    other.get(url)  # a second browser with the same link needs its own code
    assert client.get(DOWNLOAD).status_code == 200
    assert other.post(DOWNLOAD, {"code": code}).status_code == 400


def test_three_downloads_then_the_link_is_used_up(client, clock, commit, approver):
    request, report, url = approved(commit, approver, "a@example.com")
    code = open_and_code(client, commit, url, "a@example.com")
    client.post(DOWNLOAD, {"code": code})
    for n in range(3):
        response = client.get(FILE)
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        assert hashlib.sha256(body).hexdigest() == report.sha256
        if n == 0:
            request.refresh_from_db()
            assert request.status == PrivacyRequest.Status.DELIVERED
    assert not_found(client.get(FILE))
    assert not_found(client.get(DOWNLOAD))
    assert not_found(client.get(url))
    downloads = AuditEvent.objects.filter(action="report.downloaded")
    assert sorted(e.details["download"] for e in downloads) == [1, 2, 3]
    assert {e.actor_type for e in downloads} == {AuditEvent.ActorType.SUBJECT}


def test_the_code_session_ends_and_staff_reissue_revokes_the_old_link(
    client, clock, commit, approver
):
    request, _, url = approved(commit, approver, "a@example.com")
    code = open_and_code(client, commit, url, "a@example.com")
    client.post(DOWNLOAD, {"code": code})
    staff = Client()
    staff.force_login(approver)
    with commit():
        answer = staff.post(reverse("requests:reissue_link", args=[request.pk]))
    assert answer.status_code == 302
    new_url = mailed_links()["download"]
    assert new_url != url
    assert not_found(client.get(FILE)) and not_found(client.get(url))
    new_code = open_and_code(client, commit, new_url, "a@example.com")
    client.post(DOWNLOAD, {"code": new_code})
    assert client.get(FILE).status_code == 200
    assert AuditEvent.objects.filter(action="delivery.link_issued").count() == 2
    # A reviewer without the approve role may not re-issue.
    reviewer = Client()
    reviewer.force_login(StaffFactory(roles=[Role.REVIEWER]))
    assert reviewer.post(reverse("requests:reissue_link", args=[request.pk])).status_code == 403


def test_idor_between_two_subjects_gets_the_missing_request_answer(client, clock, commit, approver):
    _, _, url_a = approved(commit, approver, "a@example.com")
    _, _, url_b = approved(commit, approver, "b@example.com")
    missing = client.get(DOWNLOAD + "?token=" + "x" * 43)
    assert not_found(missing)
    code_a = open_and_code(client, commit, url_a, "a@example.com")
    assert client.post(DOWNLOAD, {"code": code_a}).status_code == 302
    # Subject A, holding a code session, switches to B's link: no access to B's file.
    client.get(url_b)
    b_file = client.get(FILE)
    assert not_found(b_file) and b_file.content == missing.content
    # A's code does not open B's link.
    assert client.post(DOWNLOAD, {"code": code_a}).status_code == 400
    assert not_found(client.get(FILE))
    # A download token used as a status or verification token: the same answer.
    token_b = url_b.split("token=")[1]
    for name in ("privacy:status", "privacy:verify"):
        answer = client.get(reverse(name) + "?token=" + token_b)
        assert not_found(answer) and answer.content == missing.content
    # A tampered token.
    tampered = url_a[:-1] + ("A" if url_a[-1] != "A" else "B")
    assert not_found(Client().get(tampered))
    # A fresh browser with no link at all.
    fresh = Client()
    assert not_found(fresh.get(DOWNLOAD)) and not_found(fresh.get(FILE))


def test_a_new_review_round_stops_the_old_link(client, clock, commit, approver):
    from requests_app.services.approval import privacy_request_reopen_review

    request, _, url = approved(commit, approver, "a@example.com")
    privacy_request_reopen_review(request, actor=approver, reason="Missed a record")
    assert not_found(client.get(url))
    assert SubjectLink.objects.filter(purpose="download").count() == 1


def test_link_pages_are_rate_limited_per_token(client, clock, commit, approver, settings):
    settings.SUBJECT_LINK_TOKEN_RATE_LIMIT = "3/h"
    _, _, url = approved(commit, approver, "a@example.com")
    with commit():
        answers = [Client().get(url).status_code for _ in range(4)]
    assert answers == [302, 302, 302, 429]
    clock.shift(dt.timedelta(hours=1))
    assert Client().get(url).status_code == 302


def test_link_pages_are_rate_limited_per_ip(client, clock, commit, approver, settings):
    settings.SUBJECT_LINK_RATE_LIMIT = "3/h"
    settings.SUBJECT_LINK_TOKEN_RATE_LIMIT = "0"
    _, _, url = approved(commit, approver, "a@example.com")
    pages = [url, reverse("privacy:verify"), reverse("privacy:status"), FILE]
    with commit():
        answers = [client.get(page).status_code for page in pages]
    assert answers == [302, 404, 404, 429]  # every link page counts for the same address
    assert client.get(url).status_code == 429  # a good token does not get past it
    with commit():
        assert Client(REMOTE_ADDR="10.1.2.3").get(url).status_code == 302  # another address
    clock.shift(dt.timedelta(hours=1))
    with commit():
        assert client.get(url).status_code == 302


def test_codes_mailed_per_link_are_limited(client, clock, commit, approver, settings):
    settings.SUBJECT_CODE_SEND_RATE_LIMIT = "2/h"
    _, _, url = approved(commit, approver, "a@example.com")
    open_and_code(client, commit, url, "a@example.com")  # the first code
    sent = len(mail.outbox)
    with commit():
        again = client.post(DOWNLOAD, {"action": "resend"}, follow=True)
    assert b"We sent a new code" in again.content and len(mail.outbox) == sent + 1
    with commit():
        refused = client.post(DOWNLOAD, {"action": "resend"}, follow=True)
    assert b"Too many codes were sent" in refused.content and len(mail.outbox) == sent + 1
    clock.shift(dt.timedelta(hours=1))
    with commit():
        client.post(DOWNLOAD, {"action": "resend"})
    assert len(mail.outbox) == sent + 2
