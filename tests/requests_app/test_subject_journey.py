"""The data subject's whole journey through the test client, from the form to the zip."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from connectors.simulator.seed import SUBJECT_EMAIL
from portal.models import AuditEvent
from portal.roles import Role
from requests_app.models import OutboundEmail, PrivacyRequest, Report, Result, SubjectLink
from requests_app.services import fetching
from tests.factories import StaffFactory, simulator_connection
from tests.requests_app.subject_support import (
    form_data,
    mailed_code,
    mailed_links,
    tokens_in_outbox,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False
    settings.PRIVACY_COMPANY_NAME = "Acme Widgets"


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what would happen on commit (enqueued fetches, emails) at the end of the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def fetch_inline(monkeypatch):
    """Enqueued fetches run at once in this process (the worker's job in production)."""
    monkeypatch.setattr(
        fetching.queue,
        "enqueue",
        lambda *, result_id: fetching.fetch_execute(result_id=result_id),
    )


def test_the_whole_subject_journey(client, simulator, fetch_inline, commit, caplog):
    caplog.set_level(logging.DEBUG)
    simulator_connection(simulator, "zoom", account="full")

    # The form: nothing is fetched before the address is confirmed.
    page = client.get("/privacy/")
    assert page.status_code == 200 and b"Acme Widgets" in page.content
    assert b"csrfmiddlewaretoken" in page.content and b'name="website"' in page.content
    with commit():
        answer = client.post("/privacy/", form_data(email=SUBJECT_EMAIL, message="Thanks!"))
    assert answer.status_code == 302 and answer["Location"] == reverse("privacy:sent")
    assert b"Check your inbox" in client.get(answer["Location"]).content
    request = PrivacyRequest.objects.get()
    assert request.status == PrivacyRequest.Status.AWAITING_VERIFICATION
    assert request.source == PrivacyRequest.Source.PUBLIC_FORM
    assert request.subject_message.body == "Thanks!"
    assert not Result.objects.exists()
    assert [m.to for m in mail.outbox] == [[SUBJECT_EMAIL]]
    verify_email = mail.outbox[0]
    assert verify_email.alternatives and verify_email.alternatives[0][1] == "text/html"

    # Verification: the link opens a page whose button confirms (single use).
    links = mailed_links(verify_email)
    opened = client.get(links["verify"])
    assert opened.status_code == 302 and opened["Location"] == reverse("privacy:verify")
    assert b"Yes, I made this request" in client.get(opened["Location"]).content
    with commit():
        confirmed = client.post(reverse("privacy:verify"))
    assert confirmed["Location"] == reverse("privacy:status")
    request.refresh_from_db()
    assert request.verified_at is not None
    # The fetch ran against the simulator and the request waits for review.
    assert request.status == PrivacyRequest.Status.IN_REVIEW
    assert Result.objects.get().status == Result.Status.SUCCEEDED
    assert "We are working on your privacy request" in mail.outbox[-1].subject
    status_page = client.get(reverse("privacy:status"))
    assert status_page.status_code == 200 and b"In progress" in status_page.content
    assert client.get(links["verify"]).status_code == 404  # used

    # Staff approve; the subject gets the download link by email.
    approver = StaffFactory(roles=[Role.APPROVER])
    staff = Client()
    staff.force_login(approver)
    with commit():
        staff.post(reverse("requests:approve", args=[request.pk]))
    report = Report.objects.get()
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.APPROVED
    ready = mail.outbox[-1]
    assert "report" in ready.subject.lower() and "download" in mailed_links(ready)

    # Opening the link mails a one-time code; the right code opens the download page.
    with commit():
        opened = client.get(mailed_links(ready)["download"])
    assert opened["Location"] == reverse("privacy:download")
    code = mailed_code()
    assert client.get(reverse("privacy:download_file")).status_code == 404  # no code yet
    entered = client.post(reverse("privacy:download"), {"code": code, "action": "check"})
    assert entered.status_code == 302
    page = client.get(reverse("privacy:download"))
    assert page.status_code == 200
    assert report.sha256.encode() in page.content
    download = client.get(reverse("privacy:download_file"))
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == report.sha256 and len(body) == report.size
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.DELIVERED
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    for action in (
        "request.created",
        "request.verification_sent",
        "request.verified",
        "request.approved",
        "delivery.link_issued",
        "delivery.code_sent",
        "delivery.code_accepted",
        "report.downloaded",
        "email.sent",
    ):
        assert action in actions, action
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"sent"}

    # No token or code in logs, audit events or stored emails.
    secrets_ = [*tokens_in_outbox(), code]
    audit = json.dumps(list(AuditEvent.objects.values_list("action", "reason", "details")))
    stored = json.dumps(
        [[e.subject, e.text_body, e.html_body, e.to_address] for e in OutboundEmail.objects.all()]
    )
    for secret in secrets_:
        assert secret not in caplog.text
        assert secret not in audit
        assert secret not in stored
    assert SUBJECT_EMAIL not in audit
    # Only hashes are stored.
    assert not SubjectLink.objects.filter(token_hash__in=secrets_).exists()


def test_the_staff_request_page_shows_the_subject_side(client, commit):
    with commit():
        client.post("/privacy/", form_data())
    request = PrivacyRequest.objects.get()
    staff = Client()
    staff.force_login(StaffFactory(roles=[Role.REVIEWER]))
    page = staff.get(reverse("requests:detail", args=[request.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Awaiting verification" in html and "Confirm your email" in html
    assert "Sent" in html
    for token in tokens_in_outbox():
        assert token not in html
