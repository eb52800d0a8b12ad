"""The review pages as a privacy analyst reads them: tables, badges, folding, pages, queues."""

from __future__ import annotations

import re

import pytest

from portal.roles import Role
from requests_app.models import ObjectTypeSelection, PrivacyRequest, RecordEdit
from tests.factories import (
    AdminFactory,
    PrivacyRequestFactory,
    RecordFactory,
    ResultFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db

LONG_AGENDA = "Quarterly planning. " * 20
DASH = "\N{EN DASH}"


@pytest.fixture
def review():
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.IN_REVIEW)
    result = ResultFactory(request=request, status="succeeded", connection__name="Webex EU")
    record = RecordFactory(
        result=result,
        object_type="meeting",
        external_id="m1",
        data={
            "id": "m1",
            "title": "<script>alert(1)</script> 😀",
            "agenda": LONG_AGENDA,
            "hostKey": "554433",
            "invitees": [{"email": "other@example.org"}],
            "settings": {"autoRecord": True, "audio": {"mode": "voip"}},
            "tags": ["a", "b"],
        },
    )
    return request, result, record


def _login(client, roles=None, **kwargs):
    user = AdminFactory() if roles == "admin" else StaffFactory(roles=roles or [], **kwargs)
    client.force_login(user)
    return user


ROLES = [[Role.VIEWER], [Role.REVIEWER], [Role.APPROVER], [], "admin"]


@pytest.mark.parametrize("roles", ROLES, ids=["viewer", "reviewer", "approver", "none", "admin"])
def test_every_review_page_renders_for_every_role(client, review, roles):
    request, result, record = review
    _login(client, roles)
    base = f"/requests/{request.pk}/"
    for path in (
        f"{base}review/",
        f"{base}review/{result.pk}/meeting/",
        f"{base}review/records/{record.pk}/edit/?path=title",
        f"{base}review/preview/",
        base,
        "/",
        "/requests/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path


def test_overview_lists_connection_type_and_fields_with_defaults_and_reasons(client, review):
    request, result, _record = review
    _login(client, [Role.REVIEWER])
    page = client.get(f"/requests/{request.pk}/review/").content.decode()
    assert "Webex EU" in page and "Meetings" in page and "1 record" in page
    assert "Credential" in page and "The host key lets anyone take over" in page
    assert "Other people&#x27;s data" in page and "The other people invited" in page
    assert "default" in page and "changed by staff" not in page
    assert "flagged by a data rule" in page
    ObjectTypeSelection.objects.create(result=result, object_type="meeting", fields={"id": False})
    page = client.get(f"/requests/{request.pk}/review/").content.decode()
    assert "changed by staff" in page


def test_records_table_is_readable_not_a_json_dump(client, review):
    request, result, _record = review
    _login(client, [Role.VIEWER])
    page = client.get(f"/requests/{request.pk}/review/{result.pk}/meeting/").content.decode()
    table = page[page.index("<table") : page.index("</table>")]
    # Columns are the released dotted paths; withheld ones are listed apart, with their reason.
    headers = re.findall(r'<code class="field-path">([^<]+)</code>', table)
    assert headers == [
        "id",
        "title",
        "agenda",
        "settings.audio.mode",
        "settings.autoRecord",
        "tags",
    ]
    assert "hostKey" not in table and "554433" not in table and "other@example.org" not in table
    withheld = page[page.index("Withheld fields") : page.index("<table")]
    assert "hostKey" in withheld and "invitees" in withheld and "Credential" in withheld
    # Hostile text is escaped, emoji intact; long text folds; lists read as lists.
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 😀" in table
    assert '<details class="value-fold"><summary>Quarterly planning.' in table
    assert '<ol class="value-list"><li>a</li><li>b</li></ol>' in table
    assert "voip" in table and "yes" in table
    assert '{"' not in table  # never a raw JSON dump
    assert f"records 1{DASH}1 of 1" in page


def test_nested_objects_read_as_definition_lists(client, review):
    request, result, record = review
    record.data["invitees"] = [{"email": "x@example.org", "name": "X"}]
    record.save()
    ObjectTypeSelection.objects.create(
        result=result, object_type="meeting", fields={"invitees": True}
    )
    _login(client, [Role.VIEWER])
    page = client.get(f"/requests/{request.pk}/review/{result.pk}/meeting/").content.decode()
    assert '<dl class="value-object"><dt>email</dt><dd>x@example.org</dd>' in page


def test_edited_cell_shows_the_original_beside_it(client, review):
    request, result, record = review
    RecordEdit.objects.create(
        record=record, path="title", original=record.data["title"], value="Fixed", reason="typo"
    )
    _login(client, [Role.REVIEWER])
    page = client.get(f"/requests/{request.pk}/review/{result.pk}/meeting/").content.decode()
    cell = page[page.index('cell-edited">') :][:1500]
    assert "Fixed" in cell and "Edited" in cell and "&lt;script&gt;" in cell and "Revert" in cell
    edit_page = client.get(
        f"/requests/{request.pk}/review/records/{record.pk}/edit/?path=title"
    ).content.decode()
    assert "As fetched from Webex EU" in edit_page and "In the report now" in edit_page
    assert "typo" in edit_page and "Revert to the fetched value" in edit_page
    assert '<label class="form-label" for="id_reason">Reason for the change</label>' in edit_page


def test_records_paginate_on_the_server(client):
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.IN_REVIEW)
    result = ResultFactory(request=request, status="succeeded")
    for i in range(120):
        RecordFactory(result=result, object_type="meeting", data={"id": i, "title": f"T{i:03}"})
    _login(client, [Role.VIEWER])
    base = f"/requests/{request.pk}/review/{result.pk}/meeting/"
    first = client.get(base).content.decode()
    assert first.count('name="records"') == 50
    assert "T000" in first and "T050" not in first
    assert "Page 1 of 3" in first and f"records 1{DASH}50 of 120" in first
    last = client.get(base + "?page=3").content.decode()
    assert last.count('name="records"') == 20 and "T119" in last and "T099" not in last
    assert f"records 101{DASH}120 of 120" in last
    clamped = client.get(base + "?page=99").content.decode()
    assert "Page 3 of 3" in clamped
    assert client.get(base + "?page=abc").status_code == 200


def test_unknown_type_or_foreign_result_is_404(client, review):
    request, result, _record = review
    _login(client, [Role.VIEWER])
    assert client.get(f"/requests/{request.pk}/review/{result.pk}/webinar/").status_code == 404
    other = ResultFactory()
    assert client.get(f"/requests/{request.pk}/review/{other.pk}/meeting/").status_code == 404
    assert client.get("/requests/999999/review/").status_code == 404


def test_empty_state_when_nothing_was_fetched(client):
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.PROCESSING)
    _login(client, [Role.REVIEWER])
    page = client.get(f"/requests/{request.pk}/review/").content.decode()
    assert "Nothing to review yet" in page
    assert "not in review" in page
    assert "<iframe" not in page


def test_request_page_links_to_the_review(client, review):
    request, _result, _record = review
    _login(client, [Role.VIEWER])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert f'href="/requests/{request.pk}/review/"' in page and "Open the review" in page
    assert "Extend once" not in page  # viewers do not act
    _login(client, [Role.REVIEWER])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "Review the data" in page and "Extend once" in page


def test_dashboard_and_list_count_what_waits_for_review_and_approval(client, review):
    PrivacyRequestFactory(status=PrivacyRequest.Status.APPROVED)
    waiting = PrivacyRequestFactory(status=PrivacyRequest.Status.IN_REVIEW)
    ResultFactory(request=waiting, status="running")
    _login(client, [Role.APPROVER])
    dashboard = client.get("/").content.decode()
    section = dashboard[dashboard.index("Review and release") :]
    values = re.findall(r'<div class="stat-value">(\d+)</div>', section)
    assert values[:3] == ["2", "1", "1"]  # in review, ready for approval, approved
    assert "Waiting for review" in section and "Ready for approval" in section
    listing = client.get("/requests/").content.decode()
    assert "2 waiting for review" in listing and "1 of them ready for approval" in listing
    assert "1 approved, not yet delivered" in listing


def test_attached_files_say_they_go_with_their_record(client, review):
    request, _result, _record = review
    files = ResultFactory(request=request, status="succeeded", workflow="dc_access")
    RecordFactory(
        result=files,
        object_type="direct_contact_file",
        external_id="contact-files/x.enc",
        data={"file": "files/HR/export.csv", "name": "export.csv", "size": 12},
    )
    _login(client, [Role.REVIEWER])
    page = client.get(f"/requests/{request.pk}/review/{files.pk}/direct_contact_file/")
    html = page.content.decode()
    assert "released or withheld with its record" in html
    meetings = client.get(f"/requests/{request.pk}/review/{_result.pk}/meeting/").content
    assert b"released or withheld with its record" not in meetings


def test_cells_escape_hostile_paths_ids_and_values(client):
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.IN_REVIEW)
    result = ResultFactory(request=request, status="succeeded")
    record = RecordFactory(
        result=result,
        object_type="meeting",
        external_id='"><img src=x>',
        data={"<b>k</b>": "<script>v</script>", "n": 7, "none": None},
    )
    _login(client, [Role.REVIEWER])
    html = client.get(f"/requests/{request.pk}/review/{result.pk}/meeting/").content.decode()
    assert "<script>v" not in html and "&lt;script&gt;v&lt;/script&gt;" in html
    assert "<b>k</b>" not in html and "&lt;b&gt;k&lt;/b&gt;" in html
    assert '"><img src=x>' not in html
    edit_link = (
        f"/requests/{request.pk}/review/records/{record.pk}/edit/?path=%3Cb%3Ek%3C/b%3E&amp;next="
    )
    assert edit_link in html
