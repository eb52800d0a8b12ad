"""The JSON API under hostile or clumsy input, and token scope, expiry and rate limit.

Every error is the envelope ``{"error": {"code", "message"}}`` with a 4xx status,
never HTML and never a 500.
"""

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone

from portal.api_tokens import api_token_create, api_token_revoke
from portal.models import ApiToken
from requests_app.models import PrivacyRequest
from tests.factories import ResultFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/requests"
VALID = {"type": "deletion", "email": "jane@example.com", "name": "Jane", "regulation": "gdpr"}


@pytest.fixture
def token(staff_user):
    return api_token_create(user=staff_user)[1]


@pytest.fixture
def read_only_token(staff_user):
    return api_token_create(user=staff_user, read_only=True)[1]


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def post_raw(client, raw, body, content_type="application/json", **extra):
    return client.post(URL, body, content_type=content_type, **auth(raw), **extra)


def assert_envelope(response, status, code=None):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    if code:
        assert error["code"] == code
    return error


# Item 6: read-only scope, expiry, revocation, rate limit.


@pytest.mark.parametrize("method", ["post", "patch", "delete", "put"])
@pytest.mark.parametrize("path", [URL, "/api/v1/requests/1", "/api/v1/connections"])
def test_read_only_token_cannot_write(client, read_only_token, method, path):
    response = getattr(client, method)(
        path, json.dumps(VALID), content_type="application/json", **auth(read_only_token)
    )
    assert_envelope(response, 403, "read_only_token")
    assert PrivacyRequest.objects.count() == 0


def test_read_only_token_can_read(client, read_only_token):
    result = ResultFactory()
    assert client.get("/api/v1/connections", **auth(read_only_token)).status_code == 200
    detail = client.get(f"/api/v1/requests/{result.request_id}", **auth(read_only_token))
    assert detail.status_code == 200
    records = client.get(f"/api/v1/requests/{result.request_id}/records", **auth(read_only_token))
    assert records.status_code == 200


def test_expired_token_is_refused(client, token):
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/connections", **auth(token))
    assert_envelope(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_refused(client, token, staff_user):
    api_token_revoke(token=ApiToken.objects.get(), actor=staff_user)
    assert_envelope(client.get("/api/v1/connections", **auth(token)), 401, "unauthenticated")


@override_settings(API_TOKEN_RATE_LIMIT="3/m")
def test_rate_limit_per_token_answers_429_with_retry_after(client, token, staff_user):
    # Frozen 15 s into a minute, so the fixed window cannot roll over mid-test.
    now = timezone.now().replace(second=15, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(now, tick=False):
        for _ in range(3):
            assert client.get("/api/v1/connections", **auth(token)).status_code == 200
        limited = client.get("/api/v1/connections", **auth(token))
        assert_envelope(limited, 429, "rate_limited")
        assert limited["Retry-After"] == "45"
        # Another token has its own budget.
        other = api_token_create(user=staff_user)[1]
        assert client.get("/api/v1/connections", **auth(other)).status_code == 200


# Item 8: bad input is a 4xx JSON envelope.


def test_deeply_nested_json_is_400(client, token):
    body = "[" * 100_000 + "]" * 100_000
    assert_envelope(post_raw(client, token, body), 400, "invalid_json")


def test_deeply_nested_object_inside_a_field_is_400(client, token):
    body = '{"name": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}"
    assert_envelope(post_raw(client, token, body), 400, "invalid_json")


@pytest.mark.parametrize("field", ["name", "email", "type", "regulation"])
def test_lone_surrogate_is_refused(client, token, field):
    body = json.dumps({**VALID, field: "Ja\ud800ne"})  # json.dumps escapes it as \ud800
    error = assert_envelope(post_raw(client, token, body), 400, "invalid")
    assert field in error["fields"]
    assert PrivacyRequest.objects.count() == 0


@pytest.mark.parametrize("field", ["name", "email"])
def test_nul_character_is_refused(client, token, field):
    body = json.dumps({**VALID, field: "Ja\x00ne"})
    error = assert_envelope(post_raw(client, token, body), 400, "invalid")
    assert field in error["fields"]
    assert PrivacyRequest.objects.count() == 0


NOT_ASCII_DIGITS = ["²", "\u0661", "\uff11", "0", "-1", "1.0", " 1", "1 ", "9" * 5000]


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
def test_page_must_be_ascii_digits(client, token, value):
    result = ResultFactory()
    url = f"/api/v1/requests/{result.request_id}/records"
    response = client.get(url, {"page": value}, **auth(token))
    assert_envelope(response, 400, "invalid_page")


@pytest.mark.parametrize("param", ["provider", "object_type"])
def test_nul_in_a_filter_is_400(client, token, param):
    result = ResultFactory()
    url = f"/api/v1/requests/{result.request_id}/records"
    response = client.get(url, {param: "a\x00b"}, **auth(token))
    assert_envelope(response, 400, "invalid_parameter")


def test_huge_request_id_is_404(client, token):
    for path in ("/api/v1/requests/" + "9" * 30, "/api/v1/requests/" + "9" * 30 + "/records"):
        assert_envelope(client.get(path, **auth(token)), 404, "not_found")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2_621_440)
def test_ten_megabyte_body_is_413_json(client, token):
    body = json.dumps({**VALID, "name": "x" * 10_000_000})
    assert_envelope(post_raw(client, token, body), 413, "payload_too_large")


def test_unknown_methods_are_405_json(client, token):
    cases = [("get", URL), ("put", URL), ("patch", URL), ("delete", "/api/v1/connections")]
    for method, path in cases:
        response = getattr(client, method)(path, **auth(token))
        error = assert_envelope(response, 405, "method_not_allowed")
        assert error["message"]
        assert response["Allow"]
    custom = client.generic("BREW", URL, **auth(token))
    assert_envelope(custom, 405, "method_not_allowed")


@pytest.mark.parametrize("body", ["[]", "1", '"s"', "null", "true", "[1, 2]"])
def test_non_object_json_is_400(client, token, body):
    assert_envelope(post_raw(client, token, body), 400, "invalid_json")


@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage", b"", b"\x00", b'{"a": "\xff"}'])
def test_undecodable_or_empty_body_is_400(client, token, body):
    # The test client leaves out the content type of an empty body unless told.
    response = post_raw(client, token, body, CONTENT_TYPE="application/json")
    assert_envelope(response, 400, "invalid_json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(client, token, content_type):
    response = post_raw(client, token, json.dumps(VALID), content_type=content_type)
    assert_envelope(response, 415, "unsupported_media_type")


def test_post_to_an_unknown_path_is_json_not_a_csrf_page(token):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/nothing", "{}", content_type="application/json")
    assert_envelope(response, 404, "not_found")


def test_huge_integers_in_the_body_are_400(client, token):
    body = '{"type": ' + "1" * 5000 + "}"
    assert_envelope(post_raw(client, token, body), 400, "invalid_json")
