"""The error family: classification, safe text, pickling."""

from __future__ import annotations

import pickle

import pytest

from connectors.exceptions import (
    ApiError,
    ClientError,
    GrantRevoked,
    MalformedResponse,
    RateLimited,
    Transient,
    Unauthorized,
    safe_path,
)

SECRET = "SENTINEL-BODY-SECRET"


def _from(status: int, content: bytes = b"", headers: dict | None = None) -> ApiError:
    return ApiError.from_response(
        provider="zoom",
        method="get",
        path="/v2/users/jdoe%40example.com?status=active",
        status=status,
        headers=headers or {},
        content=content,
        retry_after=3.0,
    )


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (429, RateLimited, "rate_limited"),
        (500, Transient, "http_500"),
        (504, Transient, "http_504"),
    ],
)
def test_retryable_statuses(status, kind, code):
    error = _from(status, b'{"code": 429, "message": "' + SECRET.encode() + b'"}')

    assert type(error) is kind
    assert error.code == code
    assert error.retry_after == 3.0
    assert error.method == "GET"
    assert error.path == "/v2/users/{email}"


def test_text_is_fixed_and_carries_status_and_path():
    error = _from(418, SECRET.encode())

    assert isinstance(error, ClientError)
    assert str(error) == (
        "Provider rejected the request [http_418] provider=zoom status=418 GET /v2/users/{email}"
    )
    assert SECRET not in repr(error)
    assert "status=active" not in str(error)


def test_tracking_id_falls_back_to_the_header():
    error = _from(404, b"not json", {"TrackingID": "ROUTER_9"})

    assert error.tracking_id == "ROUTER_9"
    assert error.provider_code is None


def test_errors_survive_pickling():
    error = _from(429)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is RateLimited
    assert (copy.code, copy.status, copy.retry_after, copy.path) == (
        "rate_limited",
        429,
        3.0,
        "/v2/users/{email}",
    )
    assert str(copy) == str(error)


def test_oauth_errors_keep_only_the_error_code():
    error = ApiError.from_oauth_response(
        provider="zoom",
        method="POST",
        path="/oauth/token",
        status=400,
        content=b'{"reason": "Invalid Token!", "error": "invalid_grant"}',
    )

    assert isinstance(error, GrantRevoked)
    assert "Invalid Token" not in str(error)


def test_unauthorized_from_oauth_401_without_body():
    error = ApiError.from_oauth_response(
        provider="webex", method="POST", path="/v1/access_token", status=401, content=b""
    )

    assert type(error) is Unauthorized
    assert error.code == "http_401"


def test_without_response_for_parser_errors():
    error = MalformedResponse.without_response("token response has no access_token")

    assert isinstance(error, Transient)
    assert error.code == "malformed_response"
    assert "no access_token" in str(error)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.zoom.us/v2/users/a@b.com/meetings?x=1", "/v2/users/{email}/meetings"),
        ("/v2/users/a%40b.com", "/v2/users/{email}"),
        ("https://webexapis.com/v1/meetings?hostEmail=a@b.com", "/v1/meetings"),
    ],
)
def test_safe_path(url, expected):
    assert safe_path(url) == expected
