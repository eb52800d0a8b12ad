"""Webex verification: which administrators may connect (see docs/providers.md,
'Webex: roles and admin'). Served by a scripted HTTP fake: the simulator's people
have only a full administrator or no role.
"""

from __future__ import annotations

import base64

import pytest

from connectors import http
from connectors.providers import get_provider
from connectors.providers.base import VerificationFailed
from tests.connectors.doubles import StaticToken
from tests.connectors.httpfake import Reply, ScriptedServer

pytestmark = pytest.mark.usefixtures("max_jitter_clock")

ADMIN_EMAIL = "ro.admin@acme.example"
LISTING_OK = Reply(200, json={"items": []})
LISTING_FORBIDDEN = Reply(
    403,
    json={
        "message": "The server understood the request, but refused to fulfill it because the "
        "access token is missing required scopes or the user is missing required roles or "
        "licenses.",
        "trackingId": "ROUTER_1",
    },
)


def role_id(name: str, region: str = "us") -> str:
    """How Webex spells a role: unpadded base64 of its ``ciscospark://`` URI."""
    return base64.b64encode(f"ciscospark://{region}/ROLE/{name}".encode()).decode().rstrip("=")


def me(**fields) -> Reply:
    return Reply(200, json={"id": "P1", "emails": [ADMIN_EMAIL], **fields})


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def verify(server):
    def run():
        client = http.ApiClient(
            provider=get_provider("webex"),
            base_url=server.url("/v1"),
            token_source=StaticToken("tok"),
            max_attempts=1,
        )
        try:
            return get_provider("webex").verify(client)
        finally:
            client.close()

    return run


@pytest.mark.parametrize(
    "roles",
    [
        [role_id("id_readonly_admin")],
        [role_id("id_full_admin")],
        [role_id("id_user_admin"), role_id("id_readonly_admin", region="eu")],
        ["not base64 at all!!", role_id("id_readonly_admin")],
    ],
    ids=["read-only", "full", "read-only among others", "read-only beside junk"],
)
def test_a_read_only_or_full_administrator_passes(server, verify, roles):
    server.script("GET", "/v1/people/me", me(roles=roles))
    server.script("GET", "/v1/meetings", LISTING_OK)

    result = verify()

    assert result.account == ADMIN_EMAIL
    assert result.notes == []
    assert server.hits("GET", "/v1/meetings")


@pytest.mark.parametrize(
    "roles",
    [[], [role_id("id_user_admin")], [role_id("id_device_admin"), role_id("id_support_admin")]],
    ids=["no role", "user admin", "device and support admin"],
)
def test_a_person_whose_roles_say_not_an_administrator_is_refused(server, verify, roles):
    server.script("GET", "/v1/people/me", me(roles=roles))
    server.script("GET", "/v1/meetings", LISTING_OK)

    with pytest.raises(VerificationFailed, match="read-only administrator"):
        verify()


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"roles": None},
        {"roles": "id_full_admin"},
        {"roles": ["%%%not-base64%%%"]},
        {"roles": [base64.b64encode(b"\xff\xfe\xfd").decode()]},
        {"roles": [base64.b64encode(b"something://else").decode()]},
        {"roles": [role_id("id_user_admin"), 7]},
    ],
    ids=["no roles", "null", "not a list", "junk", "not text", "not a role", "a number"],
)
def test_undecidable_roles_fall_back_to_the_admin_listing(server, verify, fields):
    server.script("GET", "/v1/people/me", me(**fields))
    server.script("GET", "/v1/meetings", LISTING_OK)

    result = verify()

    assert result.account == ADMIN_EMAIL
    assert result.notes and "read-only administrator" in result.notes[0]
    (listing,) = server.hits("GET", "/v1/meetings")
    assert listing.params["meetingType"] == "meeting"


def test_undecidable_roles_and_a_refused_listing_fail(server, verify):
    server.script("GET", "/v1/people/me", me())
    server.script("GET", "/v1/meetings", LISTING_FORBIDDEN)

    with pytest.raises(VerificationFailed, match="read-only administrator"):
        verify()


def test_an_administrator_whose_listing_is_refused_fails(server, verify):
    server.script("GET", "/v1/people/me", me(roles=[role_id("id_readonly_admin")]))
    server.script("GET", "/v1/meetings", LISTING_FORBIDDEN)

    with pytest.raises(VerificationFailed, match="meeting:admin_schedule_read"):
        verify()


@pytest.mark.django_db
def test_the_connection_pages_recommend_a_read_only_administrator(staff_client):
    from tests.factories import ConnectionFactory

    webex = ConnectionFactory(provider="webex", name="Acme Webex")
    zoom = ConnectionFactory(provider="zoom", name="Acme Zoom")

    detail = staff_client.get(f"/connections/{webex.pk}/").content.decode()
    form = staff_client.get("/connections/new/").content.decode()

    assert "read-only administrator" in detail
    assert "read-only administrator" in form
    zoom_detail = staff_client.get(f"/connections/{zoom.pk}/").content.decode()
    assert "read-only administrator" not in zoom_detail
