"""Safe parsing as a property: whatever bytes a provider sends, parsing gives a dict or a
typed MalformedResponse, never another exception or silently wrong data."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.exceptions import MalformedResponse
from connectors.http import ApiResponse

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


FIXED_MESSAGE = (
    "Provider response was malformed [malformed_response] provider=zoom status=200 GET /users"
)


def response(content: bytes, status: int = 200) -> ApiResponse:
    return ApiResponse(
        status=status, headers={}, content=content, provider="zoom", method="GET", path="/users"
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_parses_to_a_dict_or_a_typed_error(content):
    try:
        body = response(content).json()
    except MalformedResponse as exc:
        # A fixed text: nothing of the body (which may hold personal data) is in it.
        assert str(exc) == FIXED_MESSAGE
        return
    assert isinstance(body, dict)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_a_page_is_a_list_of_objects_or_a_typed_error(items):
    page = response(json.dumps({"users": items}).encode())
    try:
        parsed = page.items("users")
    except MalformedResponse:
        assert not (
            items is None or (isinstance(items, list) and all(isinstance(i, dict) for i in items))
        )
        return
    assert isinstance(parsed, list) and all(isinstance(i, dict) for i in parsed)
    assert parsed == ([] if items is None else items)
