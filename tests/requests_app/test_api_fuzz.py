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
from portal.roles import Role
from tests.factories import (
    RecordFactory,
    ResultFactory,
    StaffFactory,
    in_review_result,
    records_create,
)

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


# --- review and release endpoints -----------------------------------------------------------

MEETING = {
    "id": 1,
    "topic": "Budget",
    "start_url": "https://zoom.example/s/1?zak=TOKEN",
    "settings": {"host_video": True, "alternative_hosts": "x@example.com"},
}
# Paths and type names that exist, that nearly exist, and that no database can store.
PATHS = ["topic", "settings.host_video", "start_url", "topic\x00", "\x00", "a..b", "J\ud800", ""]
TYPES = ["meeting", "meet\x00ing", "\x00", "J\ud800", "call_log", ""]
text_or_json = st.one_of(st.sampled_from(TRICKY), any_text, json_values)
edit_items = st.fixed_dictionaries(
    {"path": st.one_of(st.sampled_from(PATHS), any_text, json_values)},
    optional={"value": text_or_json, "reason": st.one_of(st.just("Typo"), text_or_json)},
)
edit_ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2**63 - 1, 2**63, 10**30]),
    json_values,
)
record_bodies = st.dictionaries(
    st.sampled_from(["included", "edits", "revert", "x"]),
    st.one_of(
        st.lists(edit_items, max_size=3),
        st.lists(edit_ids, max_size=3),
        json_values,
    ),
    max_size=3,
)
tristates = st.one_of(st.none(), st.booleans(), json_values)


@pytest.fixture
def review_token(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False
    user = StaffFactory(roles=[Role.REVIEWER, Role.APPROVER])
    return api_token_create(user=user)[1]


def review_request():
    result = in_review_result("zoom")
    (record,) = records_create(result, "meeting", [MEETING])
    return result, record


def send(client, method, path, body, token, content_type="application/json"):
    if not isinstance(body, bytes):
        body = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
    return client.generic(
        method, path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}"
    )


@override_settings(API_TOKEN_RATE_LIMIT="0")
@FUZZ
@given(body=st.one_of(record_bodies, bodies), record_pk=st.sampled_from(["own", 0, 10**30]))
@example(body={"edits": [{"path": "topic\x00", "value": "x", "reason": "r"}]}, record_pk="own")
@example(body={"edits": [{"path": "topic", "value": "x\x00", "reason": "r"}]}, record_pk="own")
@example(body={"edits": [{"path": "topic", "value": "x", "reason": "r\x00"}]}, record_pk="own")
@example(body={"edits": [{"path": "topic", "value": "J\ud800", "reason": "r"}]}, record_pk="own")
@example(body={"edits": [{"path": "topic", "value": {"k\x00": 1}, "reason": "r"}]}, record_pk="own")
@example(body={"edits": [{"path": "topic", "value": "x", "reason": "J\ud800"}]}, record_pk="own")
@example(body={"revert": [10**30]}, record_pk="own")
@example(body={"revert": [-(2**70)]}, record_pk="own")
def test_patch_record_always_answers_json(client, review_token, body, record_pk):
    result, record = review_request()
    pk = record.pk if record_pk == "own" else record_pk
    response = send(
        client, "PATCH", f"/api/v1/requests/{result.request_id}/records/{pk}", body, review_token
    )
    assert_json_answer(response)


def selection_bodies(result_pk: int):
    keys = st.one_of(
        st.sampled_from([f"{result_pk}:{t}" for t in TYPES]),
        st.sampled_from(["x:y", f"{10**30}:meeting", f"{2**63}:meeting", ":meeting", "1:"]),
        any_text,
    )
    return st.dictionaries(
        st.sampled_from(["object_types", "fields", "x"]),
        st.one_of(
            st.dictionaries(keys, tristates, max_size=3),
            st.dictionaries(
                keys,
                st.one_of(
                    st.dictionaries(st.one_of(st.sampled_from(PATHS), any_text), tristates),
                    json_values,
                ),
                max_size=3,
            ),
            json_values,
        ),
        max_size=2,
    )


@override_settings(API_TOKEN_RATE_LIMIT="0")
@FUZZ
@given(data=st.data())
def test_patch_selection_always_answers_json(client, review_token, data):
    result, _ = review_request()
    body = data.draw(st.one_of(selection_bodies(result.pk), bodies), label="body")
    response = send(
        client, "PATCH", f"/api/v1/requests/{result.request_id}/selection", body, review_token
    )
    assert_json_answer(response)


@pytest.mark.parametrize(
    "body,code",
    [
        ({"object_types": {"{pk}:meet\x00ing": False}}, "invalid_parameter"),
        ({"object_types": {"{pk}:J\ud800": False}}, "invalid_parameter"),
        ({"fields": {"{pk}:meeting": {"topic\x00": False}}}, "invalid_parameter"),
        ({"fields": {"{pk}:meeting": {"J\ud800": False}}}, "invalid_parameter"),
        ({"fields": {"{pk}:\x00": {"topic": False}}}, "invalid_parameter"),
        ({"object_types": {f"{10**30}:meeting": False}}, "invalid"),
        ({"object_types": {f"{2**63}:meeting": False}}, "invalid"),
    ],
)
@override_settings(API_TOKEN_RATE_LIMIT="0")
def test_unstorable_selection_keys_are_a_400(client, review_token, body, code):
    result, _ = review_request()
    text = json.dumps(body).replace("{pk}", str(result.pk))
    response = send(
        client,
        "PATCH",
        f"/api/v1/requests/{result.request_id}/selection",
        text.encode(),
        review_token,
    )
    assert_json_answer(response)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "body,code",
    [
        ({"edits": [{"path": "topic\x00", "value": "x", "reason": "r"}]}, "invalid_parameter"),
        ({"edits": [{"path": "topic", "value": "x\x00", "reason": "r"}]}, "invalid_parameter"),
        ({"edits": [{"path": "topic", "value": "x", "reason": "r\x00"}]}, "invalid_parameter"),
        ({"edits": [{"path": "topic", "value": "J\ud800", "reason": "r"}]}, "invalid_parameter"),
        ({"edits": [{"path": "topic", "value": {"k\x00": 1}, "reason": "r"}]}, "invalid_parameter"),
        ({"revert": [10**30]}, "invalid"),
    ],
)
@override_settings(API_TOKEN_RATE_LIMIT="0")
def test_unstorable_record_changes_are_a_400(client, review_token, body, code):
    result, record = review_request()
    response = send(
        client,
        "PATCH",
        f"/api/v1/requests/{result.request_id}/records/{record.pk}",
        body,
        review_token,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not record.edits.exists()


@override_settings(API_TOKEN_RATE_LIMIT="0")
@FUZZ
@given(
    action=st.sampled_from(["approve", "deny"]),
    body=st.one_of(
        st.fixed_dictionaries({"reason": text_or_json}),
        st.dictionaries(st.sampled_from(["reason", "x"]), text_or_json, max_size=2),
        bodies,
    ),
    content_type=st.one_of(st.just("application/json"), content_types),
)
@example(action="deny", body={"reason": "No\x00"}, content_type="application/json")
@example(action="deny", body={"reason": "J\ud800"}, content_type="application/json")
def test_approve_and_deny_always_answer_json(client, review_token, action, body, content_type):
    result, _ = review_request()
    response = send(
        client,
        "POST",
        f"/api/v1/requests/{result.request_id}/{action}",
        body,
        review_token,
        content_type=content_type,
    )
    assert_json_answer(response)
