"""The staff audit log (/audit/): readable names, filters, CSV, pages; sign-ins, two-factor
enrolment and connection events appear in it."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.urls import reverse
from django.utils import timezone

from connectors import services as connection_services
from portal.audit import audit_record
from portal.audit_labels import AUDIT_ACTION_LABELS, audit_action_label
from portal.models import AuditEvent
from requests_app.services.fetching.lifecycle import result_transition
from tests.factories import (
    TEST_PASSWORD,
    ConnectionFactory,
    PrivacyRequestFactory,
    ResultFactory,
    StaffFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _log(client, **params) -> str:
    response = client.get(reverse("audit_log"), params)
    assert response.status_code == 200
    return response.content.decode()


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return re.findall(r"<tr>.*?</tr>", body, flags=re.S)


def test_staff_only(client, plain_user):
    assert client.get(reverse("audit_log")).status_code == 302
    client.force_login(plain_user)
    assert client.get(reverse("audit_log")).status_code == 403


def test_the_navigation_links_it(staff_client):
    assert f'href="{reverse("audit_log")}"' in staff_client.get("/").content.decode()


def test_every_action_the_code_writes_has_words():
    written = set()
    for path in [*ROOT.glob("portal/**/*.py"), *ROOT.glob("connectors/**/*.py")]:
        written |= set(re.findall(r'action\s*=\s*"([a-z_]+\.[a-z_]+)"', path.read_text()))
    for path in ROOT.glob("requests_app/**/*.py"):
        written |= set(re.findall(r'action\s*=\s*"([a-z_]+\.[a-z_]+)"', path.read_text()))
    assert written, "the scan found no audit actions"
    assert sorted(written - set(AUDIT_ACTION_LABELS)) == []


def test_actions_read_as_words_not_codes(staff_client, staff_user):
    request = PrivacyRequestFactory()
    audit_record(action="request.fetch_started", target=request, actor=staff_user)
    page = _log(staff_client, request=request.pk)
    (row,) = _rows(page)
    assert "Fetching started" in row
    assert row.count("request.fetch_started") == 1  # only as the hover title
    assert f"Request #{request.pk}" in row and reverse("requests:detail", args=[request.pk]) in row
    assert audit_action_label("some.new_thing") == "Some new thing"


def test_a_status_change_says_from_and_to(staff_client, staff_user):
    request = PrivacyRequestFactory()
    audit_record(
        action="request.status_changed",
        target=request,
        actor=staff_user,
        details={"from": "processing", "to": "in_review"},
    )
    assert "Status: processing → in review" in _log(staff_client)


def test_filters_by_request_connection_person_action_and_date(staff_client, staff_user):
    other = StaffFactory()
    connection = ConnectionFactory(connected=True)
    result = ResultFactory(connection=connection, status="running")
    request = result.request
    audit_record(action="request.extended", target=request, actor=staff_user)
    result_transition(result, "succeeded")  # a fetch event: names request and connection
    audit_record(action="connection.updated", target=connection, actor=other)
    old = audit_record(action="request.created", target=PrivacyRequestFactory(), actor=other)
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))

    by_request = _rows(_log(staff_client, request=request.pk))
    assert len(by_request) == 3  # extended, fetch finished, request to review (status)
    by_connection = _log(staff_client, connection=connection.pk)
    assert len(_rows(by_connection)) == 2
    assert "Connection settings changed" in by_connection and "Fetch finished" in by_connection
    by_person = _rows(_log(staff_client, person=other.pk))
    assert len(by_person) == 2 and "Due date extended" not in "".join(by_person)
    by_action = _rows(_log(staff_client, action="request.extended"))
    assert len(by_action) == 1
    today = timezone.localdate().isoformat()
    recent = _rows(_log(staff_client, since=today, until=today))
    assert len(recent) == AuditEvent.objects.count() - 1
    assert "Nothing recorded" not in _log(staff_client)
    assert "No event matches" in _log(staff_client, action="email.sent")


def test_bad_filters_are_reported(staff_client):
    response = staff_client.get(reverse("audit_log"), {"request": "abc"})
    assert response.status_code == 400
    assert "problem" in response.content.decode()


def test_pages_of_fifty(staff_client, staff_user):
    request = PrivacyRequestFactory()
    for _ in range(51):
        audit_record(action="report.downloaded", target=request, actor=staff_user)
    first = _log(staff_client, action="report.downloaded")
    assert len(_rows(first)) == 50 and "Page 1 of 2" in first
    assert "action=report.downloaded&amp;page=2" in first  # the filters stay on every page
    assert len(_rows(_log(staff_client, action="report.downloaded", page=2))) == 1


def test_csv_export_follows_the_filters_and_neutralises_formulas(staff_client, staff_user):
    request = PrivacyRequestFactory()
    audit_record(action="request.extended", target=request, actor=staff_user, reason="=1+1")
    audit_record(action="report.downloaded", target=request, actor=staff_user)
    response = staff_client.get(
        reverse("audit_log"), {"action": "request.extended", "format": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["When (UTC)", "What happened", "Action code"]
    assert len(rows) == 2
    assert rows[1][1] == "Due date extended" and rows[1][4] == staff_user.email
    assert rows[1][6] == "'=1+1"


def test_sign_in_and_sign_out_are_recorded_with_no_personal_data(client):
    user = StaffFactory()
    client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    client.post(reverse("account_logout"))
    events = list(AuditEvent.objects.filter(target_type="portal.user").order_by("id"))
    assert [e.action for e in events] == ["user.signed_in", "user.signed_out"]
    for event in events:
        assert event.actor == user and event.target_id == str(user.pk)
        assert user.email not in str(event.details)
    client.force_login(StaffFactory())
    page = _log(client, person=user.pk)
    assert "Signed in" in page and "Signed out" in page and "Staff account #" in page


@pytest.mark.django_db(transaction=True)
def test_two_factor_enrolment_is_recorded(client, settings):
    settings.PORTAL_REQUIRE_MFA = True
    user = StaffFactory()
    with time_machine.travel(time.time(), tick=False):
        client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
        response = client.get(reverse("mfa_activate_totp"))
        client.post(response["Location"], {"password": TEST_PASSWORD})
        client.get(reverse("mfa_activate_totp"))
        secret = client.session["mfa.totp.secret"]
        code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
        client.post(reverse("mfa_activate_totp"), {"code": code})
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    event = AuditEvent.objects.get(action="mfa.enrolled", details__method="totp")
    assert event.actor == user
    assert secret not in str(event.details)
    assert "Two-factor authentication set up" in _log(client, action="mfa.enrolled")


def test_connection_events_appear_with_their_change(staff_client, staff_user, simulator):
    from tests.factories import simulator_connection

    connection = simulator_connection(simulator, "webex")
    connection_services.connection_disconnect(connection=connection, actor=staff_user)
    page = _log(staff_client, connection=connection.pk)
    assert "Connection disconnected" in page
    assert "Status: active → disconnected" in page


def test_an_inactive_staff_member_is_still_listed_by_address(staff_client):
    gone = UserFactory(is_staff=True, is_active=False)
    audit_record(action="report.downloaded", target=PrivacyRequestFactory(), actor=gone)
    assert gone.email in _log(staff_client)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" =1+1", "' =1+1"),
        ("\n  @SUM(A1)", "'\n  @SUM(A1)"),
        ("  -2", "'  -2"),
        ("\t=1", "'\t=1"),
        ("plain words", "plain words"),
        ("  spaced = fine", "  spaced = fine"),
    ],
)
def test_the_csv_neutraliser_looks_past_leading_whitespace(value, expected):
    from portal.views_audit import _csv_cell

    assert _csv_cell(value) == expected
