"""The public form and verification: spam defences, equal answers, expiry, purge, staff side."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent
from portal.roles import Role
from requests_app.models import (
    EmailTemplate,
    OutboundEmail,
    PrivacyRequest,
    Result,
    SubjectLink,
    SubjectMessage,
)
from requests_app.services import fetching, notifications
from requests_app.services.due_dates import privacy_request_extend
from requests_app.services.intake import privacy_request_create
from requests_app.services.retention import retention_purge
from tests.factories import ConnectionFactory, StaffFactory
from tests.requests_app.subject_support import form_data, mailed_links, tokens_in_outbox

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
SENT = reverse("privacy:sent")


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def enqueued(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: ids.append(result_id))
    return ids


@pytest.fixture
def reviewer_client():
    client = Client()
    client.force_login(StaffFactory(roles=[Role.REVIEWER]))
    return client


def submit(client, commit, **fields):
    with commit():
        return client.post(reverse("privacy:form"), form_data(**fields))


def test_the_form_is_accessible_and_self_contained(client):
    page = client.get(reverse("privacy:form")).content.decode()
    assert '<html lang="en">' in page and 'name="viewport"' in page
    assert 'href="#main"' in page and "<legend>" in page
    assert "http://" not in page.replace("http://testserver", "") and "https://" not in page
    css = client.get(reverse("privacy:brand_css"))
    assert css["Content-Type"].startswith("text/css") and b"--privacy-accent" in css.content


def test_the_honeypot_stores_and_sends_nothing(client, commit):
    answer = submit(client, commit, website="http://spam.example")
    assert answer.status_code == 302 and answer["Location"] == SENT
    assert not PrivacyRequest.objects.exists() and not mail.outbox


def test_the_answer_is_the_same_whether_or_not_the_email_has_requests(client, commit):
    first = submit(client, commit)
    first_page = client.get(first["Location"]).content
    second = submit(Client(), commit)
    assert (first.status_code, first["Location"]) == (second.status_code, second["Location"])
    assert Client().get(second["Location"]).content == first_page
    old, new = PrivacyRequest.objects.order_by("pk")
    assert new.possible_duplicate_of == old  # flagged for staff, not told to the visitor


def test_the_form_is_rate_limited_per_ip_and_per_email(client, commit, settings):
    settings.SUBJECT_FORM_RATE_LIMIT = "2/h"
    settings.SUBJECT_FORM_EMAIL_RATE_LIMIT = "1/h"
    with time_machine.travel(START, tick=False):
        assert submit(client, commit, email="one@example.com").status_code == 302
        # Same email from another address: the same answer, nothing stored.
        other = Client(REMOTE_ADDR="10.0.0.9")
        assert submit(other, commit, email="ONE@example.com")["Location"] == SENT
        assert PrivacyRequest.objects.count() == 1
        assert submit(client, commit, email="two@example.com").status_code == 302
        assert submit(client, commit, email="three@example.com").status_code == 429
        assert PrivacyRequest.objects.count() == 2


HOSTILE_NAME = "URGENT: your account is locked, call +1 555 0100 or visit evil.example"


def test_the_verify_email_does_not_relay_the_unconfirmed_name(client, commit, settings):
    assert submit(client, commit, name=HOSTILE_NAME).status_code == 302
    (message,) = mail.outbox
    html = message.alternatives[0][0]
    for text in (message.subject, message.body, html):
        assert "evil.example" not in text and "URGENT" not in text
    assert message.body.startswith("Hello,")
    assert mailed_links(message)["verify"]


def test_a_verify_template_cannot_name_the_unconfirmed_name():
    parts = notifications.template_default("verify")
    approver = StaffFactory(roles=[Role.APPROVER])
    with pytest.raises(ValidationError) as caught:
        notifications.template_save(
            "verify", {**parts, "subject": "Hi {{ subject_name }}"}, actor=approver
        )
    assert "Unknown variable(s): subject_name" in str(caught.value)
    # An edit stored before this rule is not sent: the default wording goes out.
    EmailTemplate.objects.create(key="verify", **{**parts, "subject": "Hi {{ subject_name }}!"})
    request = privacy_request_create(
        request_type="access",
        email="x@example.com",
        name=HOSTILE_NAME,
        regulation="gdpr",
        source="staff",
    )
    outbound = notifications.notify_verify(
        request, verify_url="http://x/privacy/verify/?token=t", expires_at=request.received_at
    )
    assert outbound.subject == "Confirm your email address for your privacy request"
    assert "Hi" not in outbound.subject


def test_invalid_input_is_shown_on_the_form(client, commit):
    answer = submit(client, commit, email="not-an-email", request_type="rectify")
    assert answer.status_code == 400
    assert b"Enter a valid email address" in answer.content
    assert not PrivacyRequest.objects.exists()


def test_the_verification_link_expires_after_a_day(client, commit, enqueued):
    ConnectionFactory(connected=True)
    with time_machine.travel(START, tick=False) as clock:
        submit(client, commit)
        url = mailed_links()["verify"]
        clock.shift(dt.timedelta(hours=24, seconds=1))
        assert client.get(url).status_code == 404
    request = PrivacyRequest.objects.get()
    assert request.status == PrivacyRequest.Status.AWAITING_VERIFICATION
    assert not enqueued and not Result.objects.exists()


def test_unconfirmed_requests_are_purged_after_the_configured_days(client, commit, settings):
    settings.SUBJECT_UNVERIFIED_PURGE_DAYS = 7
    with time_machine.travel(START, tick=False) as clock:
        submit(client, commit, message="Please hurry")
        request = PrivacyRequest.objects.get()
        clock.shift(dt.timedelta(days=6))
        assert retention_purge() == 0
        clock.shift(dt.timedelta(days=1, seconds=1))
        # One purge path: the retention purge, with all its steps.
        assert retention_purge() == 1
        assert retention_purge() == 0
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.CANCELLED and request.purged_at
    assert request.closed_at and request.subject_email == "" and request.subject_name == ""
    assert not SubjectMessage.objects.exists()
    assert not SubjectLink.objects.exists() and not OutboundEmail.objects.exists()
    assert request.purge.finished_at is not None
    assert AuditEvent.objects.filter(action="request.unconfirmed_cancelled").exists()
    assert AuditEvent.objects.filter(action="request.purged").exists()


def test_one_setting_decides_when_unconfirmed_requests_go():
    from django.conf import settings as django_settings

    assert hasattr(django_settings, "SUBJECT_UNVERIFIED_PURGE_DAYS")
    assert not hasattr(django_settings, "ABANDONED_RETENTION_DAYS")


def test_no_token_in_other_pages_urls_or_bodies(client, commit):
    submit(client, commit)
    token = tokens_in_outbox()[0]
    opened = client.get(mailed_links()["verify"])
    assert token not in opened["Location"]
    confirm = client.get(opened["Location"])
    with commit():
        done = client.post(reverse("privacy:verify"))
    status = client.get(done["Location"])
    for response in (confirm, status):
        assert token not in response.content.decode()
    assert token not in done["Location"]
    for other in tokens_in_outbox():
        assert other not in status.content.decode()


def test_staff_requests_can_be_marked_verified_or_sent_the_email(reviewer_client, commit, enqueued):
    ConnectionFactory(connected=True)
    with commit():
        request = privacy_request_create(
            request_type="access",
            email="staff-made@example.com",
            name="",
            regulation="ccpa",
            source=PrivacyRequest.Source.STAFF,
        )
    assert request.status == PrivacyRequest.Status.PROCESSING and len(enqueued) == 1
    with commit():
        reviewer_client.post(reverse("requests:send_verification", args=[request.pk]))
    assert mail.outbox[-1].to == ["staff-made@example.com"]
    url = mailed_links()["verify"]
    subject = Client()
    subject.get(url)
    with commit():
        subject.post(reverse("privacy:verify"))
    request.refresh_from_db()
    assert request.verified_at and request.status == PrivacyRequest.Status.PROCESSING
    assert len(enqueued) == 1  # confirming does not fetch twice

    other = privacy_request_create(
        request_type="deletion",
        email="phoned@example.com",
        name="",
        regulation="gdpr",
        source=PrivacyRequest.Source.API,
    )
    answer = reviewer_client.post(
        reverse("requests:verify_identity", args=[other.pk]),
        {"method": "Called back on the number in our CRM"},
    )
    assert answer.status_code == 302
    other.refresh_from_db()
    assert other.verified_at is not None
    event = AuditEvent.objects.get(action="request.verified", target_id=str(other.pk))
    assert event.reason == "Called back on the number in our CRM"
    page = reviewer_client.get(reverse("requests:detail", args=[other.pk])).content.decode()
    assert "Called back on the number in our CRM" in page


def test_staff_verifying_a_public_request_starts_the_fetch(
    client, reviewer_client, commit, enqueued
):
    ConnectionFactory(connected=True)
    submit(client, commit)
    request = PrivacyRequest.objects.get()
    with commit():
        reviewer_client.post(
            reverse("requests:verify_identity", args=[request.pk]), {"method": "ID checked"}
        )
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.PROCESSING and len(enqueued) == 1
    assert "working on your privacy request" in mail.outbox[-1].subject
    # The old verification link no longer works.
    assert Client().get(mailed_links(mail.outbox[0])["verify"]).status_code == 404


def test_extension_and_status_page_tell_the_subject(client, commit, enqueued):
    submit(client, commit)
    subject = Client()
    subject.get(mailed_links()["verify"])
    with commit():
        subject.post(reverse("privacy:verify"))
    request = PrivacyRequest.objects.get()
    with commit():
        privacy_request_extend(
            privacy_request=request, reason="Several years of recordings", actor=None
        )
    notice = mail.outbox[-1]
    assert "more time" in notice.subject and "Several years of recordings" in notice.body
    request.refresh_from_db()
    assert f"{request.due_at:%-d %B %Y}" in notice.body
    page = Client().get(mailed_links(notice)["status"])
    status = Client()
    status.get(mailed_links(notice)["status"])
    content = status.get(reverse("privacy:status")).content.decode()
    assert page.status_code == 302 and "Several years of recordings" in content
    assert "In progress" in content


def test_public_forms_need_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse("privacy:form"), form_data()).status_code == 403
    page = client.get(reverse("privacy:form"))
    token = page.context["csrf_token"]
    answer = client.post(reverse("privacy:form"), {**form_data(), "csrfmiddlewaretoken": token})
    assert answer.status_code == 302 and PrivacyRequest.objects.count() == 1


def test_the_timeline_shows_the_subject_steps(client, commit, reviewer_client):
    submit(client, commit)
    request = PrivacyRequest.objects.get()
    page = reviewer_client.get(reverse("requests:detail", args=[request.pk])).content.decode()
    for label in ("Verification email sent", "Email queued", "Email sent"):
        assert label in page
    assert request.subject_email in page  # staff see the address on the card, not in events
    events = AuditEvent.objects.filter(target_id=str(request.pk))
    assert all(request.subject_email not in str(e.details) for e in events)
