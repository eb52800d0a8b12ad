"""Fuzz the JSON API: whatever comes in, the answer is 2xx or a 4xx JSON error envelope.

Never a 500, never HTML. Example counts stay modest so this runs in a few seconds.
"""

import json
from urllib.parse import urlencode

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portal.api_tokens import api_token_create
from tests.factories import RecordFactory, ResultFactory

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore")]

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
TRICKY = ["access", "deletion", "gdpr", "a@example.com", "\x00", "J\ud800", "x" * 300, "\ud83d"]
# Every code point, NUL and lone surrogates included (st.text() leaves surrogates out).
any_text = st.text(
    st.sampled_from(["a", " ", "\x00", "\ud800", "\udfff", "\U0001f600"])
    | st.characters(exclude_categories=()),
    max_size=20,
)
field_values = st.one_of(st.sampled_from(TRICKY), any_text, st.emails(), json_values)
VALID = {"type": "deletion", "email": "jane@example.com", "name": "Jane", "regulation": "gdpr"}
# A valid body with some fields replaced or removed, so bad values reach the database.
bodies_as_objects = st.tuples(
    st.dictionaries(st.sampled_from(sorted(VALID)), field_values, min_size=1, max_size=2),
    st.sets(st.sampled_from(sorted(VALID)), max_size=1),
).map(
    lambda t: json.dumps(
        {k: v for k, v in {**VALID, **t[0]}.items() if k not in t[1]}, allow_nan=True
    ).encode()
)
bodies = st.one_of(
    bodies_as_objects,
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
# WSGI header values are latin-1 strings.
header_values = st.text(st.characters(max_codepoint=255), max_size=60)
content_types = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]),
    header_values,
)


@pytest.fixture
def token(staff_user):
    return api_token_create(user=staff_user)[1]


def assert_json_answer(response):
    assert response.status_code < 500, response.content[:300]
    assert response.status_code < 300 or 400 <= response.status_code < 500
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    payload = json.loads(response.content)
    if response.status_code >= 400:
        assert isinstance(payload["error"]["code"], str)
        assert isinstance(payload["error"]["message"], str)


@override_settings(API_TOKEN_RATE_LIMIT="0")
@FUZZ
@given(body=bodies_as_objects, key=st.one_of(st.none(), st.sampled_from(["k1", "k2"])))
@example(body=json.dumps({**VALID, "name": "J\ud800"}).encode(), key=None)
@example(body=json.dumps({**VALID, "name": "J\x00"}).encode(), key="k1")
@example(body=b'{"name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", key=None)
def test_post_json_objects_always_answers_json(client, token, body, key):
    """Well-formed JSON objects with hostile field values reach the service and the database."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    response = client.post("/api/v1/requests", body, content_type="application/json", **headers)
    assert_json_answer(response)


@override_settings(API_TOKEN_RATE_LIMIT="0")
@FUZZ
@given(
    body=bodies,
    content_type=content_types,
    key=st.one_of(st.none(), header_values),
    extra=st.dictionaries(
        st.sampled_from(["HTTP_ACCEPT", "HTTP_X_FORWARDED_FOR", "HTTP_CONTENT_ENCODING"]),
        header_values,
        max_size=2,
    ),
)
def test_post_anything_always_answers_json(client, token, body, content_type, key, extra):
    """Arbitrary bytes, content types and headers."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", **extra}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    response = client.generic(
        "POST", "/api/v1/requests", body, content_type=content_type, **headers
    )
    assert_json_answer(response)


@override_settings(API_TOKEN_RATE_LIMIT="0")
@FUZZ
@given(
    query=st.one_of(
        st.dictionaries(
            st.sampled_from(["page", "provider", "object_type", "x"]),
            st.one_of(
                st.text(max_size=30),
                st.integers().map(str),
                st.sampled_from(["\u00b2", "\u0661", "\x00", "9" * 25, "meeting", "webex"]),
            ),
            max_size=3,
        ).map(lambda d: urlencode(d)),
        st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
    ),
    pk=st.one_of(st.none(), st.integers(min_value=0, max_value=10**30)),
)
@example(query="page=%C2%B2", pk=None)
@example(query="provider=a%00b", pk=None)
@example(query="", pk=10**25)
def test_get_records_always_answers_json(client, token, query, pk):
    result = ResultFactory() if pk is None else None
    if result is not None:
        RecordFactory(result=result, object_type="meeting")
    request_pk = result.request_id if result is not None else pk
    response = client.get(
        f"/api/v1/requests/{request_pk}/records",
        QUERY_STRING=query,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert_json_answer(response)


@override_settings(API_TOKEN_RATE_LIMIT="0")
@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW"]),
    path=st.sampled_from(
        ["/api/v1/requests", "/api/v1/requests/1", "/api/v1/connections", "/api/v1/x"]
    ),
    authorization=st.one_of(st.none(), header_values, st.just("valid")),
)
def test_any_method_and_authorization_answers_json(client, token, method, path, authorization):
    headers = {}
    if authorization is not None:
        value = f"Bearer {token}" if authorization == "valid" else authorization
        headers["HTTP_AUTHORIZATION"] = value
    response = client.generic(method, path, b"", **headers)
    if method == "HEAD":  # no body to parse
        assert response.status_code < 500
        return
    assert_json_answer(response)
