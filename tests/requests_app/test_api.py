"""The JSON API through the test client: auth, errors, no secrets."""

import json

import pytest
from django.core.management import call_command

from portal.models import ApiToken
from requests_app.models import PrivacyRequest
from tests.factories import (
    ConnectionFactory,
    RecordFactory,
    ResultFactory,
    StaffFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_token(staff_user, capsys):
    call_command("create_api_token", email=staff_user.email)
    return capsys.readouterr().out.strip()


def auth(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_token_is_stored_hashed(api_token):
    row = ApiToken.objects.get()
    assert api_token not in (row.token_hash, row.prefix)
    assert len(row.token_hash) == 64
    assert api_token.startswith(row.prefix)


def test_token_for_non_staff_is_refused():
    user = UserFactory()
    with pytest.raises(Exception, match="staff"):
        call_command("create_api_token", email=user.email)


@pytest.mark.parametrize(
    "method,path",
    [
        ("post", "/api/v1/requests"),
        ("get", "/api/v1/requests/1"),
        ("get", "/api/v1/requests/1/records"),
        ("get", "/api/v1/connections"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
def test_endpoints_need_a_valid_token(client, method, path, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = getattr(client, method)(path, **extra)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_revoked_or_demoted_tokens_stop_working(client, api_token, staff_user):
    assert client.get("/api/v1/connections", **auth(api_token)).status_code == 200
    staff_user.is_staff = False
    staff_user.save()
    assert client.get("/api/v1/connections", **auth(api_token)).status_code == 401


def test_create_request_normalises_and_flags_duplicates(client, api_token):
    body = {
        "type": "deletion",
        "email": "  Jane.Doe@Example.COM ",
        "name": "Jane",
        "regulation": "gdpr",
    }
    first = client.post(
        "/api/v1/requests", json.dumps(body), content_type="application/json", **auth(api_token)
    )
    assert first.status_code == 201
    data = first.json()
    assert data["email"] == "jane.doe@example.com"
    assert data["type"] == "deletion"
    assert data["due_at"]
    second = client.post(
        "/api/v1/requests", json.dumps(body), content_type="application/json", **auth(api_token)
    )
    assert second.json()["possible_duplicate_of"] == data["id"]
    assert PrivacyRequest.objects.get(pk=data["id"]).source == PrivacyRequest.Source.API


def test_access_request_starts_fetching_one_result_per_active_connection(
    client, api_token, monkeypatch, django_capture_on_commit_callbacks
):
    enqueued = []
    monkeypatch.setattr(
        "requests_app.services.fetching.queue.enqueue",
        lambda *, result_id: enqueued.append(result_id),
    )
    active = ConnectionFactory(connected=True, provider="zoom")
    ConnectionFactory()  # not connected: no result
    body = {"type": "access", "email": "a@example.org", "name": "A", "regulation": "ccpa"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/requests", json.dumps(body), content_type="application/json", **auth(api_token)
        )
    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "processing"
    by_name = {r["connection"]: r for r in data["results"]}
    assert by_name[active.name]["status"] == "queued"
    assert by_name[active.name]["provider"] == "zoom"
    # The never-connected one is listed as skipped, with the reason, not left out.
    (skipped,) = [r for name, r in by_name.items() if name != active.name]
    assert skipped["status"] == "skipped" and skipped["error"]["code"] == "not_connected"
    assert len(enqueued) == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({"type": "erase", "email": "a@b.org", "regulation": "gdpr"}, "type"),
        ({"type": "access", "email": "not-an-email", "regulation": "gdpr"}, "email"),
        ({"type": "access", "email": "a@b.org", "regulation": "lgpd"}, "regulation"),
        ({"type": "access", "regulation": "gdpr"}, "email"),
    ],
)
def test_create_validation_errors_name_the_field(client, api_token, body, field):
    response = client.post(
        "/api/v1/requests", json.dumps(body), content_type="application/json", **auth(api_token)
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert PrivacyRequest.objects.count() == 0


def test_bad_json_and_wrong_content_type(client, api_token):
    bad = client.post(
        "/api/v1/requests", "{nope", content_type="application/json", **auth(api_token)
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_json"
    form = client.post("/api/v1/requests", {"type": "access"}, **auth(api_token))
    assert form.status_code == 415


def test_wrong_method_and_unknown_paths(client, api_token):
    assert client.delete("/api/v1/connections", **auth(api_token)).status_code == 405
    response = client.get("/api/v1/nothing-here", **auth(api_token))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_request_detail_has_results_with_counts_and_errors(client, api_token):
    result = ResultFactory(status="failed", error_code="http_503", error_message="Provider failed.")
    RecordFactory(result=result, object_type="meeting")
    RecordFactory(result=result, object_type="meeting")
    RecordFactory(result=result, object_type="webinar")
    response = client.get(f"/api/v1/requests/{result.request_id}", **auth(api_token))
    assert response.status_code == 200
    entry = response.json()["results"][0]
    assert entry["record_counts"] == {"meeting": 2, "webinar": 1}
    assert entry["error"] == {"code": "http_503", "message": "Provider failed."}
    assert client.get("/api/v1/requests/999999", **auth(api_token)).status_code == 404


def test_records_are_paginated_and_filtered(client, api_token):
    result = ResultFactory()
    for _ in range(105):
        RecordFactory(result=result, object_type="meeting")
    RecordFactory(result=result, object_type="settings")
    url = f"/api/v1/requests/{result.request_id}/records"
    first = client.get(url, **auth(api_token)).json()
    assert (first["count"], first["pages"], len(first["records"])) == (106, 2, 100)
    only = client.get(url, {"object_type": "settings"}, **auth(api_token)).json()
    assert [r["object_type"] for r in only["records"]] == ["settings"]
    none = client.get(url, {"provider": "nope"}, **auth(api_token)).json()
    assert none["count"] == 0
    assert client.get(url, {"page": "9"}, **auth(api_token)).status_code == 404
    assert client.get(url, {"page": "x"}, **auth(api_token)).status_code == 400


def test_connections_never_show_secrets(client, api_token):
    ConnectionFactory(
        connected=True,
        client_secret="SENTINEL-secret-api",
        access_token="SENTINEL-access-api",
        refresh_token="SENTINEL-refresh-api",
        granted_scopes=["meeting:schedules_read"],
    )
    response = client.get("/api/v1/connections", **auth(api_token))
    body = response.content.decode()
    assert response.status_code == 200
    assert "SENTINEL" not in body
    item = response.json()["connections"][0]
    assert "meeting:admin_schedule_read" in item["missing_scopes"]


def test_api_is_not_reachable_with_a_session_cookie_alone(client):
    client.force_login(StaffFactory())
    assert client.get("/api/v1/connections").status_code == 401
