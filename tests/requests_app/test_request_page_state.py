"""The request page's state and wording: live regions, why a fetch waits, progress in an
analyst's terms, rows that agree with themselves, honest actions, duplicates by type and
a timeline that says what changed (issue: the fetch side in plain words)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Result
from requests_app.presenters import fetch_action, result_row, when_text
from requests_app.services.fetching import fetch_start, privacy_request_check_fetched
from requests_app.services.fetching.lifecycle import privacy_request_status_set, result_transition
from tests.factories import (
    ConnectionFactory,
    PrivacyRequestFactory,
    ResultFactory,
    records_create,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    """Queued fetches are not handed to a worker here."""
    monkeypatch.setattr("requests_app.services.fetching.queue.enqueue", lambda pk: None)


def _page(client, privacy_request: PrivacyRequest) -> str:
    return html.unescape(
        client.get(reverse("requests:detail", args=[privacy_request.pk])).content.decode()
    )


def _live(client, privacy_request: PrivacyRequest) -> str:
    return html.unescape(
        client.get(reverse("requests:results", args=[privacy_request.pk])).content.decode()
    )


def _region(page: str, region_id: str) -> str:
    """The element with this id, nested elements of its tag included."""
    match = re.search(rf'<(\w+)[^>]*\bid="{region_id}"', page)
    assert match, region_id
    tag, depth = match.group(1), 0
    for m in re.finditer(rf"<(/?){tag}\b", page[match.start() :]):
        depth += -1 if m.group(1) else 1
        if depth == 0:
            return page[match.start() : match.start() + m.end()]
    raise AssertionError(f"unclosed {region_id}")


# --- Live state ------------------------------------------------------------------------


def test_the_live_answer_holds_every_region_and_polls_only_while_running(staff_client):
    result = ResultFactory(status=Result.Status.RUNNING, heartbeat_at=timezone.now())
    live = _live(staff_client, result.request)
    for region in ("request-status", "request-notice", "results", "request-actions", "timeline"):
        assert f'id="{region}" data-live-region' in live, region
    assert "data-refresh-url" in _region(live, "results")

    Result.objects.filter(pk=result.pk).update(status=Result.Status.SUCCEEDED)
    live = _live(staff_client, result.request)
    assert "data-refresh-url" not in live  # nothing runs: the page stops polling


def test_the_page_and_the_live_answer_follow_the_request_to_review(staff_client, staff_user):
    result = ResultFactory(status=Result.Status.RUNNING, heartbeat_at=timezone.now())
    request = result.request
    page = _page(staff_client, request)
    assert "Processing" in _region(page, "request-status")
    assert "Review opens when fetching has finished" in page

    result_transition(result, Result.Status.SUCCEEDED)  # the last fetch finishes
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW
    live = _live(staff_client, request)
    assert "In review" in _region(live, "request-status")
    assert "Review the data" in _region(live, "request-actions")
    timeline = _region(live, "timeline")
    assert "Status: processing → in review" in timeline
    assert f"{result.connection_name}: fetch finished" in timeline


def test_the_page_works_without_javascript(staff_client):
    result = ResultFactory(status=Result.Status.RUNNING, heartbeat_at=timezone.now())
    page = _page(staff_client, result.request)
    assert "<noscript> Reload the page to see progress.</noscript>" in page
    assert "<script" not in page.split("</head>")[1]  # no inline script in the body


# --- Why it waits, progress ------------------------------------------------------------


def test_a_rate_limited_fetch_says_who_asked_and_when_it_resumes(staff_client):
    due = timezone.now() + timedelta(minutes=7)
    result = ResultFactory(
        status=Result.Status.WAITING,
        error_code="rate_limited",
        next_attempt_at=due,
        progress={"waiting_until": due.isoformat(), "windows_done": 2, "windows_total": 9},
    )
    row = _region(_page(staff_client, result.request), "results")
    assert f"Webex asked us to slow down (rate limit); resuming at {when_text(due)}." in row
    assert "Running" not in row


def test_a_backoff_says_it_tries_again_and_when(staff_client):
    due = timezone.now() + timedelta(minutes=2)
    result = ResultFactory(
        connection=ConnectionFactory(provider="zoom", connected=True),
        status=Result.Status.QUEUED,
        error_code="http_503",
        failures=1,
        next_attempt_at=due,
    )
    row = _region(_page(staff_client, result.request), "results")
    assert f"Zoom had a temporary problem; trying again at {when_text(due)} (attempt 2)." in row


def test_progress_reads_in_meetings_checked_with_counters_in_a_toggle(staff_client):
    result = ResultFactory(
        status=Result.Status.RUNNING,
        heartbeat_at=timezone.now(),
        progress={
            "meetings_checked": 1240,
            "windows_done": 31,
            "windows_total": 50,
            "pages": 44,
            "api_calls": 1301,
            "records": 67,
        },
    )
    records_create(result, "meeting", [{"id": f"m{i}"} for i in range(67)])
    row = _region(_page(staff_client, result.request), "results")
    assert "Meetings checked: 1,240 of about 2,000; 67 found" in row
    technical = row[row.index("<details") : row.index("</details>")]
    assert "<summary>Technical details</summary>" in technical
    assert "Time windows: 31 of 50" in technical and "1,301 API calls" in technical
    assert "44 pages" in technical


def test_a_zoom_fetch_counts_searches_not_meetings():
    result = ResultFactory.build(
        provider="zoom",
        status=Result.Status.RUNNING,
        progress={"windows_done": 4, "windows_total": 30},
    )
    row = result_row(result, {"meeting": 3})
    assert row.progress == "Searches done: 4 of 30; 3 found"
    assert (row.bar_done, row.bar_total) == (4, 30)


# --- Rows that agree with themselves ---------------------------------------------------


def test_no_data_found_says_so_once_with_the_reason(staff_client):
    reason = "Zoom has no user with this email address in the connected account."
    result = ResultFactory(
        connection=ConnectionFactory(provider="zoom", connected=True),
        status=Result.Status.NO_DATA,
        progress={"notes": {"subject": reason}},
    )
    row = _region(_page(staff_client, result.request), "results")
    assert f"No data found. {reason}" in row
    assert row.count(reason) == 1
    assert "Not started" not in row


def test_a_failed_fetch_states_the_problem_in_the_same_sentence(staff_client):
    result = ResultFactory(
        status=Result.Status.FAILED,
        error_code="http_400",
        error_message="The provider rejected a request (HTTP 400).",
    )
    row = _region(_page(staff_client, result.request), "results")
    assert "Stopped. The provider rejected a request (HTTP 400)." in row
    assert row.count("The provider rejected a request") == 1
    assert "Retry" in row


# --- Honest actions --------------------------------------------------------------------


def test_no_fetch_button_when_every_connection_has_a_result(staff_client):
    result = ResultFactory(status=Result.Status.SUCCEEDED)
    PrivacyRequest.objects.filter(pk=result.request_id).update(status="in_review")
    page = _page(staff_client, result.request)
    assert "Fetch from" not in page and "Start fetching" not in page


def test_the_fetch_button_says_how_many_connections_it_adds(staff_client):
    result = ResultFactory(status=Result.Status.SUCCEEDED)
    PrivacyRequest.objects.filter(pk=result.request_id).update(status="in_review")
    ConnectionFactory(connected=True)
    ConnectionFactory(provider="zoom", connected=True)
    page = _page(staff_client, result.request)
    assert "Fetch from 2 new connections" in page
    assert "2 connections added since this request was fetched have no result yet." in page


def test_the_fetch_action_is_absent_for_closed_or_deletion_requests():
    closed = PrivacyRequestFactory.build(status=PrivacyRequest.Status.CLOSED)
    deletion = PrivacyRequestFactory.build(request_type="deletion")
    assert fetch_action(closed, has_results=False, new_connections=3) is None
    assert fetch_action(deletion, has_results=False, new_connections=3) is None


def test_a_fetch_click_that_adds_nothing_writes_no_timeline_entry(staff_client):
    result = ResultFactory(status=Result.Status.SUCCEEDED)
    request = result.request
    PrivacyRequest.objects.filter(pk=request.pk).update(status="in_review")
    before = AuditEvent.objects.count()
    response = staff_client.post(reverse("requests:fetch", args=[request.pk]), follow=True)
    assert "Nothing new to fetch" in response.content.decode()
    assert AuditEvent.objects.count() == before
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW


def test_a_fetch_that_adds_a_connection_is_on_the_timeline(staff_client, staff_user):
    result = ResultFactory(status=Result.Status.SUCCEEDED)
    request = result.request
    PrivacyRequest.objects.filter(pk=request.pk).update(status="in_review")
    ConnectionFactory(name="Zoom later", provider="zoom", connected=True)
    response = staff_client.post(reverse("requests:fetch", args=[request.pk]), follow=True)
    page = html.unescape(response.content.decode())
    assert "Fetching from 1 new connection." in page
    timeline = _region(page, "timeline")
    assert "Fetching started" in timeline and staff_user.email in timeline
    assert "Status: in review → processing" in timeline


def test_fetch_start_twice_audits_once():
    ConnectionFactory(connected=True)
    ConnectionFactory(name="Never connected")  # skipped with a reason, once
    request = PrivacyRequestFactory()
    fetch_start(privacy_request=request)
    fetch_start(privacy_request=request)
    assert AuditEvent.objects.filter(action="request.fetch_started").count() == 1
    assert AuditEvent.objects.filter(action="result.skipped").count() == 1


# --- Duplicates by type ----------------------------------------------------------------


def test_the_duplicate_banner_names_the_other_request_once(staff_client):
    first = PrivacyRequestFactory(subject_email="dup@example.org")
    second = PrivacyRequestFactory(subject_email="dup@example.org", possible_duplicate_of=first)
    page = _page(staff_client, second)
    banner = page[page.index("Likely duplicate.") : page.index("Check before answering twice.")]
    assert banner.count(f"#{first.pk}") == 1
    assert "Another open access request for the same email address" in banner


def test_a_request_of_another_type_is_not_flagged(staff_client):
    PrivacyRequestFactory(subject_email="two@example.org", request_type="access")
    deletion = PrivacyRequestFactory(subject_email="two@example.org", request_type="deletion")
    assert "Likely duplicate" not in _page(staff_client, deletion)


# --- The timeline says what changed ----------------------------------------------------


def test_the_timeline_says_what_changed_who_and_when(staff_client, staff_user):
    request = PrivacyRequestFactory()
    locked = PrivacyRequest.objects.get(pk=request.pk)
    privacy_request_status_set(locked, PrivacyRequest.Status.IN_REVIEW, actor=staff_user)
    event = AuditEvent.objects.get(action="request.status_changed")
    assert event.details == {"from": "processing", "to": "in_review"}
    timeline = _region(_page(staff_client, request), "timeline")
    assert "Status changed" in timeline
    assert "Status: processing → in review" in timeline
    assert staff_user.email in timeline
    assert f'datetime="{event.created_at.isoformat()}' in timeline
    assert "request.status_changed" not in timeline.replace('title="request.status_changed"', "")


def test_automatic_steps_say_the_portal_did_them(staff_client):
    result = ResultFactory(status=Result.Status.RUNNING)
    result_transition(result, Result.Status.NO_DATA)
    privacy_request_check_fetched(request_id=result.request_id)
    timeline = _region(_page(staff_client, result.request), "timeline")
    assert "The portal (automatic)" in timeline
    assert "Outcome: no data found" in timeline
