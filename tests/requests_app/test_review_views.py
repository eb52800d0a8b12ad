"""Review actions through the staff pages: roles, selection, edits, preview, approval, download."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import override_settings

from portal.models import AuditEvent
from portal.roles import Role
from requests_app.models import ObjectTypeSelection, PrivacyRequest, Record, RecordEdit, Report
from requests_app.reports import report_style_csp_source
from tests.factories import PrivacyRequestFactory, RecordFactory, ResultFactory, StaffFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 4, 10, 30, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False
    return tmp_path


@pytest.fixture
def review():
    """A request in review with three Webex meetings (one credential field each)."""
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.IN_REVIEW)
    result = ResultFactory(request=request, status="succeeded", connection__name="Webex EU")
    records = [
        RecordFactory(
            result=result,
            object_type="meeting",
            external_id=f"m{i}",
            data={"id": f"m{i}", "title": f"Planning {i}", "hostKey": f"99887{i}"},
        )
        for i in range(3)
    ]
    return request, result, records


def _client(client, *roles: Role, **kwargs):
    user = StaffFactory(roles=list(roles), **kwargs)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def viewer(client):
    return _client(client, Role.VIEWER)


@pytest.fixture
def reviewer(client):
    return _client(client, Role.REVIEWER)


@pytest.fixture
def approver(client):
    return _client(client, Role.APPROVER)


def url(request, tail: str = "") -> str:
    return f"/requests/{request.pk}/review/{tail}"


def type_url(request, result, tail: str = "") -> str:
    return url(request, f"{result.pk}/meeting/{tail}")


def preview(client, request) -> str:
    response = client.get(url(request, "preview/"))
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


# --- roles ------------------------------------------------------------------------------------


def _forbidden_posts(request, result, record, edit):
    return [
        (type_url(request, result, "include/"), {"included": "off"}),
        (type_url(request, result, "field/"), {"path": "title", "selected": "off"}),
        (type_url(request, result, "records/"), {"records": [record.pk], "page": "1"}),
        (
            url(request, f"records/{record.pk}/edit/"),
            {"path": "title", "value": "x", "value_format": "text", "reason": "typo"},
        ),
        (url(request, f"edits/{edit.pk}/revert/"), {}),
    ]


def _an_edit(record) -> RecordEdit:
    return RecordEdit.objects.create(
        record=record, path="title", original="Planning 0", value="Fixed", reason="typo"
    )


def test_viewer_gets_403_for_every_change_and_nothing_changes(viewer, review):
    request, result, records = review
    edit = _an_edit(records[0])
    posts = [
        *_forbidden_posts(request, result, records[0], edit),
        (url(request, "approve/"), {}),
        (url(request, "deny/"), {"deny-reason": "no"}),
        (url(request, "reopen/"), {"reopen-reason": "no"}),
    ]
    for path, data in posts:
        assert viewer.post(path, data).status_code == 403, path
    assert not ObjectTypeSelection.objects.exists()
    assert RecordEdit.objects.get().reverted_at is None
    assert set(Record.objects.values_list("included", flat=True)) == {None}
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW
    assert request.review_last_editor is None


def test_reviewer_cannot_approve_or_deny(reviewer, review):
    request, _result, _records = review
    assert reviewer.post(url(request, "approve/")).status_code == 403
    assert reviewer.post(url(request, "deny/"), {"deny-reason": "no"}).status_code == 403
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW
    assert not Report.objects.exists()


def test_approver_without_reviewer_role_cannot_edit(approver, review):
    request, result, records = review
    edit = _an_edit(records[0])
    for path, data in _forbidden_posts(request, result, records[0], edit):
        assert approver.post(path, data).status_code == 403, path


def test_anonymous_is_sent_to_sign_in_and_non_staff_refused(client, review):
    request, _result, _records = review
    response = client.get(url(request))
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(StaffFactory(is_staff=False, roles=[]))
    assert client.get(url(request)).status_code == 403
    assert client.get(url(request, "preview/")).status_code == 403


def test_buttons_follow_the_role(client, review):
    request, result, _records = review
    pages = {}
    for role in (Role.VIEWER, Role.REVIEWER, Role.APPROVER):
        c = _client(client, role)
        pages[role] = (
            c.get(url(request)).content.decode(),
            c.get(type_url(request, result)).content.decode(),
        )
    viewer_page, viewer_records = pages[Role.VIEWER]
    assert "Read only" in viewer_page
    assert "Approve and build" not in viewer_page and "Withhold" not in viewer_page
    assert "Save which records" not in viewer_records and 'name="included" value="off"' not in (
        viewer_records
    )
    reviewer_page, reviewer_records = pages[Role.REVIEWER]
    assert "Withhold" in reviewer_page and "Leave out" in reviewer_page
    assert "Approve and build" not in reviewer_page and "Deny the request" not in reviewer_page
    assert "Save which records" in reviewer_records
    approver_page, _approver_records = pages[Role.APPROVER]
    assert "Approve and build" in approver_page and "Deny the request" in approver_page
    assert "Withhold" not in approver_page


def test_navigation_shows_only_what_the_role_allows(client, review):
    viewer_page = _client(client, Role.VIEWER).get("/").content.decode()
    assert "Approvals" not in viewer_page and "New request" not in viewer_page
    assert ">Viewer<" in viewer_page
    approver_page = _client(client, Role.APPROVER).get("/").content.decode()
    assert "Approvals" in approver_page and ">Approver<" in approver_page
    reviewer_page = _client(client, Role.REVIEWER).get("/").content.decode()
    assert "New request" in reviewer_page and "Approvals" not in reviewer_page


# --- selection and edits change the preview ----------------------------------------------------


def test_field_type_and_record_choices_change_the_preview(reviewer, review):
    request, result, records = review
    before = preview(reviewer, request)
    assert "Planning 0" in before and "Planning 2" in before
    assert "998870" not in before  # the host key is a credential: withheld by default

    response = reviewer.post(
        type_url(request, result, "records/"),
        {
            "records": [r.pk for r in records],
            "included": [records[0].pk, records[2].pk],
            "page": "1",
            "next": type_url(request, result),
        },
    )
    assert response.status_code == 302 and response["Location"] == type_url(request, result)
    assert Record.objects.get(pk=records[1].pk).included is False
    assert {Record.objects.get(pk=r.pk).included for r in (records[0], records[2])} == {None}
    after = preview(reviewer, request)
    assert "Planning 1" not in after and "Planning 0" in after

    reviewer.post(type_url(request, result, "field/"), {"path": "hostKey", "selected": "on"})
    assert "998870" in preview(reviewer, request)
    reviewer.post(type_url(request, result, "field/"), {"path": "title", "selected": "off"})
    assert "Planning 0" not in preview(reviewer, request)
    reviewer.post(type_url(request, result, "include/"), {"included": "off"})
    assert "Webex EU" not in preview(reviewer, request).split("</header>")[-1]

    request.refresh_from_db()
    assert request.review_last_editor == reviewer.user
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"review.record_selection_changed", "review.field_selection_changed"} <= actions


def test_a_record_can_go_back_to_its_default(reviewer, review):
    request, result, records = review
    Record.objects.filter(pk=records[1].pk).update(included=False)
    response = reviewer.post(
        type_url(request, result, "records/"),
        {"records": [r.pk for r in records], "reset": records[1].pk, "page": "1"},
    )
    assert response.status_code == 302
    assert Record.objects.get(pk=records[1].pk).included is None


def test_edit_changes_the_preview_and_keeps_the_original(reviewer, review):
    request, result, records = review
    response = reviewer.post(
        url(request, f"records/{records[0].pk}/edit/"),
        {
            "path": "title",
            "value": "Planning (corrected)",
            "value_format": "text",
            "reason": "Subject asked for the real title",
        },
    )
    assert response.status_code == 302
    edit = RecordEdit.objects.get()
    assert (edit.path, edit.original, edit.value) == ("title", "Planning 0", "Planning (corrected)")
    assert Record.objects.get(pk=records[0].pk).data["title"] == "Planning 0"
    shown = preview(reviewer, request)
    assert "Planning (corrected)" in shown and "Planning 0" not in shown

    page = reviewer.get(type_url(request, result)).content.decode()
    assert "Planning (corrected)" in page and "Edited" in page and "Planning 0" in page

    response = reviewer.post(url(request, f"edits/{edit.pk}/revert/"))
    assert response.status_code == 302
    assert "Planning 0" in preview(reviewer, request)
    assert RecordEdit.objects.get().reverted_by == reviewer.user


def test_edit_as_json_stores_the_parsed_value(reviewer, review):
    request, _result, records = review
    reviewer.post(
        url(request, f"records/{records[0].pk}/edit/"),
        {"path": "title", "value": '{"en": "Plan"}', "value_format": "json", "reason": "r"},
    )
    assert RecordEdit.objects.get().value == {"en": "Plan"}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"value": "New", "value_format": "text", "reason": ""}, "This field is required"),
        ({"value": "New", "value_format": "text", "reason": "   "}, "This field is required"),
        ({"value": "{oops", "value_format": "json", "reason": "r"}, "not valid JSON"),
    ],
)
@time_machine.travel(NOW, tick=False)  # the preview carries its generation time
def test_edit_without_reason_or_with_bad_json_changes_nothing(reviewer, review, data, error):
    request, _result, records = review
    before = preview(reviewer, request)
    response = reviewer.post(
        url(request, f"records/{records[0].pk}/edit/"), {"path": "title", **data}
    )
    assert response.status_code == 400
    assert error in response.content.decode()
    assert "data-focus-on-load" in response.content.decode()
    assert not RecordEdit.objects.exists()
    request.refresh_from_db()
    assert request.review_last_editor is None
    assert preview(reviewer, request) == before


def test_changes_are_refused_with_a_message_once_approved(reviewer, review):
    request, result, _records = review
    PrivacyRequest.objects.filter(pk=request.pk).update(status=PrivacyRequest.Status.APPROVED)
    response = reviewer.post(
        type_url(request, result, "field/"), {"path": "title", "selected": "off"}, follow=True
    )
    assert "not in review" in _messages(response)
    assert not ObjectTypeSelection.objects.exists()


def test_unknown_field_path_is_a_message_not_a_crash(reviewer, review):
    request, result, _records = review
    response = reviewer.post(
        type_url(request, result, "field/"), {"path": "nope", "selected": "off"}, follow=True
    )
    assert response.status_code == 200
    assert "no field" in _messages(response)


def test_records_of_another_request_are_404(reviewer, review):
    request, _result, _records = review
    other = RecordFactory(object_type="meeting")
    assert reviewer.get(url(request, f"records/{other.pk}/edit/?path=id")).status_code == 404
    assert reviewer.get(url(request, f"{other.result_id}/meeting/")).status_code == 404


# --- preview ------------------------------------------------------------------------------------


def test_preview_has_its_own_csp_and_may_be_framed_by_the_site_only(viewer, review):
    request, _result, _records = review
    response = viewer.get(url(request, "preview/"))
    csp = response["Content-Security-Policy"]
    assert f"style-src {report_style_csp_source()}" in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert "script-src" not in csp
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response.streaming
    page = viewer.get(url(request))
    assert page["X-Frame-Options"] == "DENY"
    assert f'src="{url(request, "preview/")}" sandbox=""' in page.content.decode()


def test_preview_is_byte_equal_to_the_delivered_report_html(client, review):
    request, _result, records = review
    reviewer = _client(client, Role.REVIEWER)
    reviewer.post(
        url(request, f"records/{records[1].pk}/edit/"),
        {"path": "title", "value": "<b>Budget</b> 😀\nnext", "value_format": "text", "reason": "r"},
    )
    approver = _client(client, Role.APPROVER)
    with time_machine.travel(NOW, tick=False):
        streamed = approver.get(url(request, "preview/"))
        assert streamed.streaming  # never the whole report.html in memory at once
        previewed = b"".join(streamed.streaming_content)
        response = approver.post(url(request, "approve/"), follow=True)
    assert "Approved" in _messages(response)
    report = Report.objects.get()
    assert report.generated_at == NOW
    download = approver.get(url(request, f"reports/{report.pk}/download/"))
    zipped = b"".join(download.streaming_content)
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        delivered = archive.read("report.html")
    assert delivered == previewed
    assert b"&lt;b&gt;Budget&lt;/b&gt;" in previewed


# --- approve, deny, reopen, download --------------------------------------------------------------


def test_download_streams_the_zip_with_its_checksum_and_is_audited(client, review):
    request, _result, _records = review
    approver = _client(client, Role.APPROVER)
    approver.post(url(request, "approve/"))
    report = Report.objects.get()
    response = approver.get(url(request, f"reports/{report.pk}/download/"))
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == report.sha256
    assert response["X-Checksum-SHA256"] == report.sha256
    assert response["Digest"].startswith("sha-256=")
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Length"] == str(len(body))
    assert response["Content-Disposition"] == (
        f'attachment; filename="dsar-report-{request.reference}-round1.zip"'
    )
    event = AuditEvent.objects.get(action="report.downloaded")
    assert event.actor == approver.user
    assert event.details == {"report_id": report.pk, "round": 1, "sha256": report.sha256}
    assert request.subject_email not in str(event.details)

    viewer = _client(client, Role.VIEWER)
    assert viewer.get(url(request, f"reports/{report.pk}/download/")).status_code == 403
    assert AuditEvent.objects.filter(action="report.downloaded").count() == 1


def test_four_eyes_refuses_the_last_editor_with_a_clear_message(client, review):
    request, result, _records = review
    both = _client(client, Role.REVIEWER, Role.APPROVER)
    both.post(type_url(request, result, "field/"), {"path": "title", "selected": "off"})
    with override_settings(REVIEW_FOUR_EYES=True):
        page = both.get(url(request)).content.decode()
        assert "another approver must approve" in page
        response = both.post(url(request, "approve/"), follow=True)
        assert "another approver must approve" in _messages(response)
        request.refresh_from_db()
        assert request.status == PrivacyRequest.Status.IN_REVIEW
        assert not Report.objects.exists()

        other = _client(client, Role.APPROVER)
        other.post(url(request, "approve/"))
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.APPROVED


def test_four_eyes_off_lets_the_last_editor_approve(client, review):
    request, result, _records = review
    both = _client(client, Role.REVIEWER, Role.APPROVER)
    both.post(type_url(request, result, "field/"), {"path": "title", "selected": "off"})
    both.post(url(request, "approve/"))
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.APPROVED


def test_approval_waits_for_running_fetches(approver, review):
    request, _result, _records = review
    ResultFactory(request=request, status="running")
    response = approver.post(url(request, "approve/"), follow=True)
    assert "every fetch has finished" in _messages(response)
    assert not Report.objects.exists()


def test_deny_needs_a_reason(approver, review):
    request, _result, _records = review
    response = approver.post(url(request, "deny/"), {"deny-reason": ""})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW

    response = approver.post(url(request, "deny/"), {"deny-reason": "Identity not confirmed"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.DENIED
    assert "Identity not confirmed" in request.denial_notice
    page = approver.get(url(request)).content.decode()
    assert "Identity not confirmed" in page and "Wording for the subject" in page


def test_reopen_needs_a_reason_and_supersedes_the_report(approver, review):
    request, _result, _records = review
    approver.post(url(request, "approve/"))
    report = Report.objects.get()
    page = approver.get(url(request)).content.decode()
    assert "Download the report" in page and report.sha256 in page

    response = approver.post(url(request, "reopen/"), {"reopen-reason": ""})
    assert response.status_code == 400
    response = approver.post(url(request, "reopen/"), {"reopen-reason": "Wrong meeting kept"})
    assert response.status_code == 302
    request.refresh_from_db()
    report.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW
    assert report.superseded_at is not None
    assert approver.get(url(request, f"reports/{report.pk}/download/")).status_code == 404
    assert "Superseded" in approver.get(url(request)).content.decode()


def test_edit_page_never_links_back_off_site(reviewer, review):
    request, result, records = review
    base = url(request, f"records/{records[0].pk}/edit/?path=title")
    for hostile in ("javascript:alert(1)", "https://evil.example/"):
        page = reviewer.get(f"{base}&next={hostile}").content.decode()
        assert hostile not in page
        assert f'href="{type_url(request, result)}"' in page
    response = reviewer.post(
        url(request, f"records/{records[0].pk}/edit/"),
        {
            "path": "title",
            "value": "x",
            "value_format": "text",
            "reason": "r",
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == type_url(request, result)


def test_edit_page_of_an_unknown_field_is_404(reviewer, review):
    request, _result, records = review
    assert reviewer.get(url(request, f"records/{records[0].pk}/edit/?path=nope")).status_code == 404
    assert reviewer.get(url(request, f"records/{records[0].pk}/edit/")).status_code == 404
