"""Review and release through the JSON API: records with their state, selection, edits,
approval, denial and the report, with the same role and four-eyes rules as the pages."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

import pytest

from portal.api_tokens import api_token_create
from portal.models import AuditEvent
from portal.roles import Role
from requests_app.api_review import CREDENTIAL_MASK
from requests_app.models import PrivacyRequest, Record, RecordEdit
from tests.factories import StaffFactory, in_review_result, records_create

pytestmark = pytest.mark.django_db

MEETINGS = [
    {
        "id": 1,
        "topic": "Budget <script>alert(1)</script>",
        "start_url": "https://zoom.example/s/1?zak=START-TOKEN-1",
        "settings": {"host_video": True, "alternative_hosts": "someone.else@example.com"},
    },
    {"id": 2, "topic": "Roadmap", "start_url": "https://zoom.example/s/2?zak=START-TOKEN-2"},
]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False
    settings.API_TOKEN_RATE_LIMIT = "0"
    return tmp_path


@pytest.fixture
def result():
    result = in_review_result("zoom")
    records_create(result, "meeting", MEETINGS)
    return result


def headers(*roles: Role, read_only: bool = False) -> dict[str, str]:
    user = StaffFactory(roles=list(roles))
    _, raw = api_token_create(user=user, read_only=read_only)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def patch(client, path, body, auth):
    return client.patch(path, json.dumps(body), content_type="application/json", **auth)


def post(client, path, body, auth):
    return client.post(path, json.dumps(body), content_type="application/json", **auth)


def test_records_carry_id_state_and_edits_and_mask_credentials(client, result):
    request = result.request
    record = Record.objects.get(result=result, external_id="1")
    reviewer = headers(Role.REVIEWER)
    answer = patch(
        client,
        f"/api/v1/requests/{request.pk}/records/{record.pk}",
        {"edits": [{"path": "topic", "value": "Budget", "reason": "Typo in the title"}]},
        reviewer,
    )
    assert answer.status_code == 200, answer.content
    body = client.get(f"/api/v1/requests/{request.pk}/records", **reviewer).json()
    first = next(r for r in body["records"] if r["id"] == record.pk)
    assert first["included"] is None
    assert first["edits"][0]["path"] == "topic"
    assert first["edits"][0]["value"] == "Budget"
    assert first["edits"][0]["original"] == MEETINGS[0]["topic"]
    assert first["data"]["start_url"] == CREDENTIAL_MASK
    assert first["masked_credentials"] == ["start_url"]
    assert "START-TOKEN" not in json.dumps(body)
    assert first["data"]["topic"] == MEETINGS[0]["topic"]  # as stored, not edited


def test_edits_of_credential_paths_are_masked_like_the_data(client, result):
    request = result.request
    record = Record.objects.get(result=result, external_id="1")
    reviewer = headers(Role.REVIEWER)
    url = f"/api/v1/requests/{request.pk}/records/{record.pk}"
    answer = patch(
        client,
        url,
        {
            "edits": [
                {
                    "path": "start_url",
                    "value": "https://zoom.example/s/1?zak=NEW-START-TOKEN",
                    "reason": "Link changed",
                }
            ]
        },
        reviewer,
    )
    assert answer.status_code == 200, answer.content
    (edit,) = answer.json()["edits"]
    assert edit["path"] == "start_url"
    assert edit["value"] == edit["original"] == CREDENTIAL_MASK
    body = client.get(f"/api/v1/requests/{request.pk}/records", **reviewer).json()
    assert "START-TOKEN" not in json.dumps(body)
    assert "START-TOKEN" not in answer.content.decode()


def test_edits_of_conditional_credentials_follow_the_rule(client, result):
    """join_url is a credential only when it carries its passcode (the rule's ``when``)."""
    request = result.request
    (record,) = records_create(
        result, "meeting", [{"id": 3, "join_url": "https://zoom.example/j/3"}]
    )
    reviewer = headers(Role.REVIEWER)
    url = f"/api/v1/requests/{request.pk}/records/{record.pk}"
    plain = patch(
        client,
        url,
        {"edits": [{"path": "join_url", "value": "https://zoom.example/j/33", "reason": "x"}]},
        reviewer,
    ).json()["edits"][0]
    assert plain["value"] == "https://zoom.example/j/33"
    assert plain["original"] == "https://zoom.example/j/3"
    secret = patch(
        client,
        url,
        {
            "edits": [
                {"path": "join_url", "value": "https://zoom.example/j/3?pwd=SECRET", "reason": "y"}
            ]
        },
        reviewer,
    ).json()["edits"]
    assert "SECRET" not in json.dumps(secret)
    assert [e["value"] for e in secret if e["path"] == "join_url"][-1] == CREDENTIAL_MASK


def test_record_include_and_revert_then_report_leaves_it_out(client, result):
    request = result.request
    keep, drop = Record.objects.filter(result=result).order_by("external_id")
    reviewer = headers(Role.REVIEWER)
    url = f"/api/v1/requests/{request.pk}/records/{drop.pk}"
    assert patch(client, url, {"included": False}, reviewer).json()["included"] is False
    edited = patch(
        client,
        f"/api/v1/requests/{request.pk}/records/{keep.pk}",
        {"edits": [{"path": "topic", "value": "Budget 2025", "reason": "Subject asked"}]},
        reviewer,
    ).json()
    edit_id = edited["edits"][0]["id"]
    reverted = patch(
        client, f"/api/v1/requests/{request.pk}/records/{keep.pk}", {"revert": [edit_id]}, reviewer
    ).json()
    assert reverted["edits"] == []
    assert RecordEdit.objects.get(pk=edit_id).reverted_at is not None

    approver = headers(Role.APPROVER)
    approved = post(client, f"/api/v1/requests/{request.pk}/approve", {}, approver)
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    download = client.get(f"/api/v1/requests/{request.pk}/report", **approver)
    assert download.status_code == 200
    payload = b"".join(download.streaming_content)
    digest = hashlib.sha256(payload).hexdigest()
    assert digest == approved.json()["report"]["sha256"] == download["X-Checksum-SHA256"]
    assert download["Digest"] == "sha-256=" + base64.b64encode(bytes.fromhex(digest)).decode()
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        everything = b"".join(archive.read(n) for n in archive.namelist()).decode("utf-8")
        report = json.loads(archive.read("report.json"))
    assert "Roadmap" not in everything  # the withheld record is in no format
    assert "START-TOKEN" not in everything  # credentials withheld by default
    assert "someone.else@example.com" not in everything  # other people's data withheld
    assert report["reference"] == str(request.reference)
    assert AuditEvent.objects.filter(action="report.downloaded").count() == 1


def test_selection_get_and_patch_with_defaults_and_reset(client, result):
    request = result.request
    reviewer = headers(Role.REVIEWER)
    key = f"{result.pk}:meeting"
    body = client.get(f"/api/v1/requests/{request.pk}/selection", **reviewer).json()
    fields = body["object_types"][key]["fields"]
    assert fields["start_url"]["selected"] is False
    assert fields["start_url"]["rule"]["kind"] == "credential"
    assert fields["topic"] == {"selected": True, "is_default": True, "rule": None}

    changed = patch(
        client,
        f"/api/v1/requests/{request.pk}/selection",
        {"object_types": {key: True}, "fields": {key: {"topic": False, "start_url": None}}},
        reviewer,
    )
    assert changed.status_code == 200, changed.content
    fields = changed.json()["object_types"][key]["fields"]
    assert fields["topic"]["selected"] is False and fields["topic"]["is_default"] is False
    assert fields["start_url"]["is_default"] is True
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"review.type_selection_changed", "review.field_selection_changed"} <= actions
    # Audit details name paths and ids, never values.
    details = json.dumps(list(AuditEvent.objects.values_list("details", flat=True)))
    assert "Budget" not in details


@pytest.mark.parametrize(
    "body",
    [
        {"object_types": {"nope": True}},
        {"object_types": {"999999:meeting": True}},
        {"fields": {"X:meeting": {"topic": False}}},
        {"fields": {"{rid}:meeting": {"no.such.path": False}}},
        {"fields": {"{rid}:meeting": {"topic": "yes"}}},
        {"fields": {"{rid}:meeting": ["topic"]}},
        {"colour": "blue"},
        {},
    ],
)
def test_bad_selection_is_refused_and_changes_nothing(client, result, body):
    request = result.request
    body = json.loads(json.dumps(body).replace("{rid}", str(result.pk)))
    answer = patch(client, f"/api/v1/requests/{request.pk}/selection", body, headers(Role.REVIEWER))
    assert answer.status_code == 400
    assert set(answer.json()["error"]) >= {"code", "message"}
    assert not AuditEvent.objects.filter(action__startswith="review.").exists()


def test_an_edit_needs_a_reason_and_a_known_path(client, result):
    request = result.request
    record = Record.objects.filter(result=result).first()
    url = f"/api/v1/requests/{request.pk}/records/{record.pk}"
    reviewer = headers(Role.REVIEWER)
    no_reason = patch(client, url, {"edits": [{"path": "topic", "value": "x"}]}, reviewer)
    assert no_reason.status_code == 400
    unknown = patch(
        client, url, {"edits": [{"path": "nope", "value": "x", "reason": "r"}]}, reviewer
    )
    assert unknown.status_code == 400
    assert not RecordEdit.objects.exists()


def test_roles_are_enforced(client, result):
    request = result.request
    record = Record.objects.filter(result=result).first()
    viewer = headers(Role.VIEWER)
    reviewer = headers(Role.REVIEWER)
    assert client.get(f"/api/v1/requests/{request.pk}/records", **viewer).status_code == 200
    refused = patch(
        client, f"/api/v1/requests/{request.pk}/records/{record.pk}", {"included": False}, viewer
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert post(client, f"/api/v1/requests/{request.pk}/approve", {}, reviewer).status_code == 403
    denied = post(client, f"/api/v1/requests/{request.pk}/deny", {"reason": "x"}, reviewer)
    assert denied.status_code == 403
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW


def test_read_only_tokens_cannot_change_the_review(client, result):
    request = result.request
    record = Record.objects.filter(result=result).first()
    auth = headers(Role.REVIEWER, Role.APPROVER, read_only=True)
    url = f"/api/v1/requests/{request.pk}/records/{record.pk}"
    assert patch(client, url, {"included": False}, auth).status_code == 403
    assert post(client, f"/api/v1/requests/{request.pk}/approve", {}, auth).status_code == 403


def test_four_eyes_refuses_the_last_editor(client, result, settings):
    settings.REVIEW_FOUR_EYES = True
    request = result.request
    record = Record.objects.filter(result=result).first()
    both = headers(Role.REVIEWER, Role.APPROVER)
    url = f"/api/v1/requests/{request.pk}/records/{record.pk}"
    assert patch(client, url, {"included": True}, both).status_code == 200
    refused = post(client, f"/api/v1/requests/{request.pk}/approve", {}, both)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "four_eyes"
    other = headers(Role.APPROVER)
    assert post(client, f"/api/v1/requests/{request.pk}/approve", {}, other).status_code == 200


def test_after_approval_the_review_is_locked_and_the_report_is_fixed(client, result):
    request = result.request
    record = Record.objects.filter(result=result).first()
    approver = headers(Role.APPROVER)
    first = post(client, f"/api/v1/requests/{request.pk}/approve", {}, approver).json()
    locked = patch(
        client,
        f"/api/v1/requests/{request.pk}/records/{record.pk}",
        {"included": False},
        headers(Role.REVIEWER),
    )
    assert locked.status_code == 409 and locked.json()["error"]["code"] == "not_in_review"
    again = post(client, f"/api/v1/requests/{request.pk}/approve", {}, approver)
    assert again.status_code == 409
    report = client.get(f"/api/v1/requests/{request.pk}/report", **approver)
    assert report["X-Checksum-SHA256"] == first["report"]["sha256"]


def test_deny_needs_a_reason_and_keeps_the_regulation_wording(client, result):
    request = result.request
    approver = headers(Role.APPROVER)
    assert post(client, f"/api/v1/requests/{request.pk}/deny", {}, approver).status_code == 400
    answer = post(
        client, f"/api/v1/requests/{request.pk}/deny", {"reason": "Identity unproven"}, approver
    )
    assert answer.status_code == 200 and answer.json()["status"] == "denied"
    request.refresh_from_db()
    assert "Identity unproven" in request.denial_notice


def test_no_report_before_approval_and_records_of_other_requests_are_not_found(client, result):
    request = result.request
    approver = headers(Role.APPROVER, Role.REVIEWER)
    missing = client.get(f"/api/v1/requests/{request.pk}/report", **approver)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_report"
    other = in_review_result("zoom")
    (foreign,) = records_create(other, "meeting", [{"id": 9, "topic": "Theirs"}])
    answer = patch(
        client,
        f"/api/v1/requests/{request.pk}/records/{foreign.pk}",
        {"included": False},
        approver,
    )
    assert answer.status_code == 404
    huge = patch(
        client, f"/api/v1/requests/{request.pk}/records/{2**70}", {"included": False}, approver
    )
    assert huge.status_code == 404


@pytest.mark.parametrize("roles", [[Role.VIEWER], []], ids=["viewer", "no-role"])
def test_report_download_needs_review_or_approve(client, result, roles):
    request = result.request
    approver = headers(Role.APPROVER)
    assert post(client, f"/api/v1/requests/{request.pk}/approve", {}, approver).status_code == 200
    refused = client.get(f"/api/v1/requests/{request.pk}/report", **headers(*roles))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert not AuditEvent.objects.filter(action="report.downloaded").exists()
    reviewer = client.get(f"/api/v1/requests/{request.pk}/report", **headers(Role.REVIEWER))
    assert reviewer.status_code == 200
    b"".join(reviewer.streaming_content)
