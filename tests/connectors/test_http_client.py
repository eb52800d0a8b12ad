"""ApiClient against a real HTTP server on 127.0.0.1, with a fake clock for every wait."""

from __future__ import annotations

import logging
import random
import socket
from datetime import timedelta
from email.utils import format_datetime

import pytest

from connectors import http
from connectors.exceptions import (
    ApiError,
    ClientError,
    Forbidden,
    GrantRevoked,
    MalformedResponse,
    NotFound,
    RateLimited,
    ScopeMissing,
    Transient,
    Unauthorized,
)
from connectors.providers import get_provider
from connectors.ratelimit import RateBudget
from tests.connectors.httpfake import Reply, ScriptedServer

# Every wait here is fake time, and backoff waits are the top of their range.
pytestmark = pytest.mark.usefixtures("max_jitter_clock")

SECRET = "SENTINEL-SECRET-TOKEN-3f9a"
FRESH = "SENTINEL-FRESH-TOKEN-77c1"
OK = Reply(200, json={"ok": True})


class FakeTokens:
    def __init__(self, token: str = SECRET, fresh: str = FRESH) -> None:
        self.token, self.fresh = token, fresh
        self.refreshed_from: list[str] = []

    def access_token(self) -> str:
        return self.token

    def refreshed_token(self, stale: str) -> str:
        self.refreshed_from.append(stale)
        self.token = self.fresh
        return self.fresh


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def make_client(server, max_jitter_clock):
    clients = []

    def make(**kwargs):
        options = {
            "provider": "webex",
            "base_url": server.url("/v1"),
            "token_source": FakeTokens(),
            "max_attempts": 6,
            "max_retry_wait": 300.0,
            **kwargs,
        }
        options["provider"] = get_provider(options["provider"])
        client = http.ApiClient(**options)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


# --- retries -------------------------------------------------------------------------


def test_429_storm_then_success_honours_retry_after_seconds(server, make_client, max_jitter_clock):
    storm = Reply(429, json={"message": "Too many"}, headers={"Retry-After": "2"})
    server.script("GET", "/v1/people/me", storm, storm, storm, OK)

    response = make_client().get("/people/me")

    assert response.status == 200
    assert response.json() == {"ok": True}
    assert max_jitter_clock.sleeps == [2.0, 2.0, 2.0]
    hits = server.hits("GET", "/v1/people/me")
    assert len(hits) == 4
    assert all(h.headers["Authorization"] == f"Bearer {SECRET}" for h in hits)


def test_429_beyond_wait_cap_raises_rate_limited_with_retry_after(
    server, make_client, max_jitter_clock
):
    server.script("GET", "/v1/meetings", Reply(429, headers={"Retry-After": "100"}))

    with pytest.raises(RateLimited) as caught:
        make_client(max_retry_wait=250).get("/meetings")

    assert max_jitter_clock.sleeps == [100.0, 100.0]
    assert max_jitter_clock.total_slept <= 250
    assert caught.value.retry_after == 100.0
    assert caught.value.status == 429
    assert caught.value.code == "rate_limited"
    assert len(server.hits("GET", "/v1/meetings")) == 3


def test_429_without_retry_after_uses_capped_exponential_backoff(
    server, make_client, max_jitter_clock
):
    server.script("GET", "/v1/meetings", Reply(429), Reply(429), Reply(429), OK)

    make_client().get("/meetings")

    assert max_jitter_clock.sleeps == [1.0, 2.0, 4.0]


def test_full_jitter_stays_within_the_exponential_bound(
    server, make_client, max_jitter_clock, monkeypatch
):
    server.script("GET", "/v1/meetings", *[Reply(503)] * 5, OK)

    with http.use_jitter(random.Random(42)):
        make_client().get("/meetings")

    assert len(max_jitter_clock.sleeps) == 5
    for attempt, slept in enumerate(max_jitter_clock.sleeps, start=1):
        assert 0 <= slept <= 2 ** (attempt - 1)


def test_5xx_then_success(server, make_client, max_jitter_clock):
    server.script("GET", "/v1/meetings", Reply(503), Reply(502), OK)

    assert make_client().get("/meetings").json() == {"ok": True}
    assert max_jitter_clock.sleeps == [1.0, 2.0]


def test_5xx_exhausted_raises_transient(server, make_client, max_jitter_clock):
    server.script("GET", "/v1/meetings", Reply(503, body="<html>down</html>"))

    with pytest.raises(Transient) as caught:
        make_client(max_attempts=3).get("/meetings")

    assert caught.value.status == 503
    assert caught.value.code == "http_503"
    assert caught.value.retry_after == 4.0
    assert max_jitter_clock.sleeps == [1.0, 2.0]
    assert len(server.hits("GET", "/v1/meetings")) == 3


def test_read_timeout_becomes_transient(server, make_client, max_jitter_clock):
    server.script("GET", "/v1/meetings", Reply(hang=True))

    with pytest.raises(Transient) as caught:
        make_client(read_timeout=0.05, max_attempts=2).get("/meetings")

    assert caught.value.code == "timeout"
    assert caught.value.status is None
    assert max_jitter_clock.sleeps == [1.0]
    assert len(server.hits("GET", "/v1/meetings")) == 2


def test_connection_refused_becomes_transient(max_jitter_clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = http.ApiClient(
        provider=get_provider("zoom"),
        base_url=f"http://127.0.0.1:{port}/v2",
        max_attempts=3,
        connect_timeout=1,
    )

    with pytest.raises(Transient) as caught:
        client.get("/users/me")

    assert caught.value.code == "connection_error"
    assert max_jitter_clock.sleeps == [1.0, 2.0]
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_post_is_not_retried_on_5xx_unless_idempotent(server, make_client, max_jitter_clock):
    server.script("POST", "/v1/meetingParticipants/query", Reply(503), OK)
    client = make_client()

    with pytest.raises(Transient):
        client.post("/meetingParticipants/query", json={"emails": ["a@example.com"]})
    assert len(server.hits("POST", "/v1/meetingParticipants/query")) == 1

    server.script("POST", "/v1/meetingParticipants/query", Reply(503), OK)
    response = client.post("/meetingParticipants/query", json={"emails": []}, idempotent=True)
    assert response.status == 200
    assert max_jitter_clock.sleeps == [1.0]


def test_post_is_retried_on_429(server, make_client, max_jitter_clock):
    server.script("POST", "/v1/x", Reply(429, headers={"Retry-After": "1"}), OK)

    assert make_client().post("/x", json={}).status == 200
    assert max_jitter_clock.sleeps == [1.0]


# --- Retry-After forms -----------------------------------------------------------------


def test_retry_after_as_http_date(server, make_client, max_jitter_clock):
    when = format_datetime(max_jitter_clock.now() + timedelta(seconds=30), usegmt=True)
    server.script("GET", "/v1/meetings", Reply(429, headers={"Retry-After": when}), OK)

    make_client().get("/meetings")

    assert max_jitter_clock.sleeps == [30.0]


def test_retry_after_as_iso_date(server, make_client, max_jitter_clock):
    when = (max_jitter_clock.now() + timedelta(seconds=45)).strftime("%Y-%m-%dT%H:%M:%SZ")
    server.script("GET", "/v2/users", Reply(429, headers={"Retry-After": when}), OK)

    make_client(provider="zoom", base_url=server.url("/v2")).get("/users")

    assert max_jitter_clock.sleeps == [45.0]


# --- 401 and refresh -------------------------------------------------------------------


def test_401_refreshes_once_and_retries_with_the_new_token(server, make_client):
    server.script("GET", "/v1/people/me", Reply(401, json={"message": "expired"}), OK)
    tokens = FakeTokens()

    response = make_client(token_source=tokens).get("/people/me")

    assert response.status == 200
    assert tokens.refreshed_from == [SECRET]
    auth = [h.headers["Authorization"] for h in server.hits("GET", "/v1/people/me")]
    assert auth == [f"Bearer {SECRET}", f"Bearer {FRESH}"]


def test_second_401_raises_unauthorized_after_exactly_one_refresh(server, make_client):
    server.script("GET", "/v2/users/me", Reply(401, json={"code": 124, "message": "Invalid"}))
    tokens = FakeTokens()

    with pytest.raises(Unauthorized) as caught:
        make_client(provider="zoom", base_url=server.url("/v2"), token_source=tokens).get(
            "/users/me"
        )

    assert tokens.refreshed_from == [SECRET]
    assert len(server.hits("GET", "/v2/users/me")) == 2
    assert caught.value.provider_code == 124
    assert caught.value.code == "zoom_124"


def test_refused_refresh_propagates_grant_revoked(server, make_client):
    class Revoked(FakeTokens):
        def refreshed_token(self, stale: str) -> str:
            raise GrantRevoked(provider="webex", method="POST", path="/v1/access_token")

    server.script("GET", "/v1/people/me", Reply(401))

    with pytest.raises(GrantRevoked):
        make_client(token_source=Revoked()).get("/people/me")
    assert len(server.hits("GET", "/v1/people/me")) == 1


def test_unauthenticated_client_sends_no_authorization_header(server, make_client):
    server.script("GET", "/v1/public", OK)

    make_client(token_source=None).get("/public")

    assert "Authorization" not in server.hits("GET", "/v1/public")[0].headers


# --- 4xx mapping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (
            404,
            {"code": 1001, "message": "User does not exist: jdoe@example.com"},
            NotFound,
            "zoom_1001",
        ),
        (
            400,
            {"code": 4711, "message": "Invalid access token, does not contain scopes"},
            ScopeMissing,
            "zoom_4711",
        ),
        (403, {"code": 2031, "message": "Zoom Phone has not been enabled"}, Forbidden, "zoom_2031"),
        (400, {"code": 300, "message": "Invalid user id."}, ClientError, "zoom_300"),
        (409, None, ClientError, "http_409"),
    ],
)
def test_zoom_4xx_are_typed_and_not_retried(
    server, make_client, max_jitter_clock, status, body, kind, code
):
    path = "/v2/users/jdoe@example.com"
    server.script("GET", path, Reply(status, json=body))

    with pytest.raises(kind) as caught:
        make_client(provider="zoom", base_url=server.url("/v2")).get(
            "/users/jdoe@example.com", params={"status": "active"}
        )

    error = caught.value
    assert type(error) is kind
    assert error.code == code
    assert error.status == status
    assert error.path == "/v2/users/{email}"
    assert "jdoe" not in str(error) and "jdoe" not in repr(error)
    assert "does not" not in str(error) and "status=active" not in str(error)
    assert len(server.hits("GET", path)) == 1
    assert max_jitter_clock.sleeps == []


def test_webex_error_keeps_tracking_id_not_message(server, make_client):
    body = {
        "message": "The requested resource could not be found.",
        "errors": [{"description": "The requested resource could not be found."}],
        "trackingId": "ROUTER_1234",
    }
    server.script("GET", "/v1/meetings/abc", Reply(404, json=body))

    with pytest.raises(NotFound) as caught:
        make_client().get("/meetings/abc")

    assert caught.value.tracking_id == "ROUTER_1234"
    assert caught.value.code == "http_404"
    assert "could not be found" not in str(caught.value)


def test_webex_403_for_missing_scope_is_scope_missing(server, make_client):
    body = {"message": "The request requires the meeting:admin_schedule_read scope."}
    server.script("GET", "/v1/meetings", Reply(403, json=body))

    with pytest.raises(ScopeMissing) as caught:
        make_client().get("/meetings", params={"hostEmail": "a@example.com"})

    assert caught.value.code == "scope_missing"


def test_webex_generic_403_stays_forbidden(server, make_client):
    body = {
        "message": "The server understood the request, but refused to fulfill it because the "
        "access token is missing required scopes or the user is missing required roles or "
        "licenses."
    }
    server.script("GET", "/v1/meetings", Reply(403, json=body))

    with pytest.raises(Forbidden) as caught:
        make_client().get("/meetings")

    assert type(caught.value) is Forbidden
    assert caught.value.code == "http_403"


# --- malformed bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, body="{not json"),
        Reply(200, body="<html><body>Gateway login</body></html>"),
        Reply(200, json=[1, 2, 3]),
        Reply(200, body=""),
    ],
)
def test_malformed_bodies_raise_malformed_response(server, make_client, reply):
    server.script("GET", "/v1/people/me", reply)

    with pytest.raises(MalformedResponse) as caught:
        make_client().get("/people/me").json()
    assert len(server.hits("GET", "/v1/people/me")) == http.MALFORMED_MAX_ATTEMPTS
    assert isinstance(caught.value, Transient)
    assert caught.value.code == "malformed_response"
    assert "Gateway" not in str(caught.value)


def test_pagination_with_non_list_items_is_malformed(server, make_client):
    server.script("GET", "/v1/meetings", Reply(200, json={"items": {"id": 1}}))

    with pytest.raises(MalformedResponse):
        list(make_client().paginate("/meetings"))


# --- Link pagination -------------------------------------------------------------------


def _link(url: str) -> dict[str, str]:
    return {"Link": f'<{{base}}{url}>; rel="next"'}


def test_link_pagination_strips_max_null_and_readds_dropped_filters(server, make_client):
    server.script(
        "GET",
        "/v1/meetings",
        Reply(
            200,
            json={"items": [{"id": 1}, {"id": 2}]},
            headers=_link("/v1/meetings?max=null&cursor=p2"),
        ),
        Reply(200, json={"items": [{"id": 3}]}, headers=_link("/v1/meetings?max=2&cursor=p3")),
        Reply(200, json={"items": []}),
    )
    params = {"meetingType": "meeting", "hostEmail": "jdoe@example.com", "max": 2}

    pages = list(make_client().paginate("/meetings", params=params))

    assert [[i["id"] for i in p.items] for p in pages] == [[1, 2], [3], []]
    assert pages[-1].next_cursor is None
    hits = server.hits("GET", "/v1/meetings")
    assert hits[0].params == {"meetingType": "meeting", "hostEmail": "jdoe@example.com", "max": "2"}
    assert hits[1].params == {
        "cursor": "p2",
        "meetingType": "meeting",
        "hostEmail": "jdoe@example.com",
        "max": "2",
    }
    assert all("null" not in dict(h.query).values() for h in hits)
    assert hits[2].params["cursor"] == "p3"
    assert hits[2].params["hostEmail"] == "jdoe@example.com"


def test_link_pagination_stops_on_a_looping_next_link(server, make_client):
    server.script(
        "GET",
        "/v1/meetings",
        Reply(200, json={"items": [{"id": 1}]}, headers=_link("/v1/meetings?cursor=p2")),
        Reply(200, json={"items": []}, headers=_link("/v1/meetings?cursor=p2")),
    )

    pages = list(make_client().paginate("/meetings", params={"max": 1}))

    assert len(pages) == 2
    assert pages[-1].next_cursor is None
    assert len(server.hits("GET", "/v1/meetings")) == 2


def test_link_pagination_stops_on_a_link_back_to_the_first_page(server, make_client):
    server.script(
        "GET",
        "/v1/meetings",
        Reply(200, json={"items": [{"id": 1}]}, headers=_link("/v1/meetings?cursor=p2&max=1")),
        Reply(200, json={"items": [{"id": 2}]}, headers=_link("/v1/meetings?max=1")),
    )

    pages = list(make_client().paginate("/meetings", params={"max": 1}))

    assert [p.items for p in pages] == [[{"id": 1}], [{"id": 2}]]
    assert len(server.hits("GET", "/v1/meetings")) == 2


def test_link_pagination_refuses_a_next_link_to_another_host(server, make_client):
    server.script(
        "GET",
        "/v1/meetings",
        Reply(
            200,
            json={"items": []},
            headers={"Link": '<https://evil.example/v1/meetings?c=2>; rel="next"'},
        ),
    )

    with pytest.raises(MalformedResponse) as caught:
        list(make_client().paginate("/meetings"))
    assert caught.value.code == "foreign_next_link"


def test_link_pagination_max_pages_then_resume_from_persisted_cursor(server, make_client):
    pages_script = [
        Reply(200, json={"items": [{"id": n}]}, headers=_link(f"/v1/meetings?cursor=p{n + 1}"))
        for n in range(1, 4)
    ] + [Reply(200, json={"items": [{"id": 4}]})]
    server.script("GET", "/v1/meetings", *pages_script)
    client = make_client()
    params = {"hostEmail": "jdoe@example.com"}

    first = list(client.paginate("/meetings", params=params, max_pages=2))
    cursor = first[-1].next_cursor  # what a fetcher checkpoints after storing the page
    assert [p.items[0]["id"] for p in first] == [1, 2]
    assert cursor is not None and cursor.startswith(server.url("/v1/meetings?"))

    rest = list(client.paginate("/meetings", params=params, start_cursor=cursor))

    assert [p.items[0]["id"] for p in rest] == [3, 4]
    assert rest[-1].next_cursor is None
    assert server.hits("GET", "/v1/meetings")[2].params == {
        "cursor": "p3",
        "hostEmail": "jdoe@example.com",
    }


def test_401_mid_pagination_refreshes_once_and_continues(server, make_client):
    server.script(
        "GET",
        "/v1/meetings",
        Reply(200, json={"items": [{"id": 1}]}, headers=_link("/v1/meetings?cursor=p2")),
        Reply(401),
        Reply(200, json={"items": [{"id": 2}]}),
    )
    tokens = FakeTokens()

    pages = list(make_client(token_source=tokens).paginate("/meetings"))

    assert [p.items[0]["id"] for p in pages] == [1, 2]
    assert tokens.refreshed_from == [SECRET]


# --- next_page_token pagination --------------------------------------------------------


def test_token_pagination_follows_next_page_token(server, make_client):
    server.script(
        "GET",
        "/v2/users",
        Reply(200, json={"users": [{"id": "a"}], "next_page_token": "t2"}),
        Reply(200, json={"users": [{"id": "b"}], "next_page_token": "t3"}),
        Reply(200, json={"users": [{"id": "c"}], "next_page_token": ""}),
    )
    client = make_client(provider="zoom", base_url=server.url("/v2"))

    pages = list(client.paginate("/users", params={"status": "active"}, items_key="users"))

    assert [p.items[0]["id"] for p in pages] == ["a", "b", "c"]
    assert [p.next_cursor for p in pages] == ["t2", "t3", None]
    queries = [h.params for h in server.hits("GET", "/v2/users")]
    assert queries[0] == {"status": "active", "page_size": "300"}
    assert queries[1] == {"status": "active", "page_size": "300", "next_page_token": "t2"}


def test_token_pagination_stops_on_a_repeated_token(server, make_client):
    server.script(
        "GET",
        "/v2/users",
        Reply(200, json={"users": [{"id": "a"}], "next_page_token": "t2"}),
        Reply(200, json={"users": [{"id": "b"}], "next_page_token": "t2"}),
    )
    client = make_client(provider="zoom", base_url=server.url("/v2"))

    pages = list(client.paginate("/users", items_key="users"))

    assert len(pages) == 2
    assert pages[-1].next_cursor is None
    assert len(server.hits("GET", "/v2/users")) == 2


def test_token_pagination_max_pages_then_resume(server, make_client):
    server.script(
        "GET",
        "/v2/users",
        *[
            Reply(200, json={"users": [{"id": n}], "next_page_token": f"t{n + 1}"})
            for n in range(1, 5)
        ],
        Reply(200, json={"users": [{"id": 5}]}),
    )
    client = make_client(provider="zoom", base_url=server.url("/v2"))

    first = list(client.paginate("/users", items_key="users", page_size=1, max_pages=3))
    assert [p.items[0]["id"] for p in first] == [1, 2, 3]
    assert first[-1].next_cursor == "t4"

    rest = list(
        client.paginate(
            "/users", items_key="users", page_size=1, start_cursor=first[-1].next_cursor
        )
    )

    assert [p.items[0]["id"] for p in rest] == [4, 5]
    assert rest[-1].next_cursor is None
    assert server.hits("GET", "/v2/users")[3].params["next_page_token"] == "t4"


# --- OAuth token endpoint --------------------------------------------------------------


def test_post_token_form_returns_json_and_sends_form_with_basic_auth(server, max_jitter_clock):
    server.script("POST", "/oauth/token", Reply(503), Reply(200, json={"access_token": "new"}))

    body = http.post_token_form(
        server.url("/oauth/token"),
        data={"grant_type": "refresh_token", "refresh_token": SECRET},
        basic_auth=("client-id", "client-secret"),
        provider="zoom",
    )

    assert body == {"access_token": "new"}
    hit = server.hits("POST", "/oauth/token")[-1]
    assert hit.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert hit.headers["Authorization"].startswith("Basic ")
    assert f"refresh_token={SECRET}".encode() in hit.body
    assert max_jitter_clock.sleeps == [1.0]


def test_invalid_grant_is_grant_revoked_without_body_text(server, max_jitter_clock):
    server.script(
        "POST",
        "/oauth/token",
        Reply(400, json={"reason": "Invalid Token!", "error": "invalid_grant"}),
    )

    with pytest.raises(GrantRevoked) as caught:
        http.post_token_form(
            server.url("/oauth/token"),
            data={"grant_type": "refresh_token", "refresh_token": SECRET},
            provider="zoom",
        )

    error = caught.value
    assert error.code == "invalid_grant"
    assert error.status == 400
    for text in (str(error), repr(error)):
        assert "Invalid Token" not in text and SECRET not in text
    assert len(server.hits("POST", "/oauth/token")) == 1


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (
            401,
            {"error": "invalid_client", "error_description": "bad secret"},
            Unauthorized,
            "invalid_client",
        ),
        (400, {"error": "invalid_request", "reason": "x"}, ClientError, "invalid_request"),
        (400, {"error": "<script>alert(1)</script>"}, ClientError, "http_400"),
    ],
)
def test_token_endpoint_errors_keep_only_the_oauth_code(
    server, max_jitter_clock, status, body, kind, code
):
    server.script("POST", "/v1/access_token", Reply(status, json=body))

    with pytest.raises(kind) as caught:
        http.post_token_form(
            server.url("/v1/access_token"), data={"code": SECRET}, provider="webex"
        )

    assert type(caught.value) is kind
    assert caught.value.code == code
    assert "bad secret" not in str(caught.value) and "script" not in str(caught.value)


def test_token_endpoint_retries_stay_inside_the_refresh_lock(server, max_jitter_clock, settings):
    settings.TOKEN_REFRESH_LOCK_TIMEOUT = 60
    server.script("POST", "/oauth/token", Reply(503))

    with pytest.raises(Transient):
        http.post_token_form(server.url("/oauth/token"), data={}, provider="zoom")
    assert len(server.hits("POST", "/oauth/token")) == http.TOKEN_MAX_ATTEMPTS
    assert max_jitter_clock.sleeps == [1.0, 2.0]

    server.script("POST", "/oauth/token", Reply(429, headers={"Retry-After": "20"}))
    with pytest.raises(RateLimited) as caught:
        http.post_token_form(server.url("/oauth/token"), data={}, provider="zoom")
    assert caught.value.retry_after == 20.0
    assert max_jitter_clock.sleeps == [1.0, 2.0]  # 20 s exceeds a quarter of the lock timeout


def test_post_form_for_revocation_returns_the_response(server, max_jitter_clock):
    server.script("POST", "/oauth/revoke", Reply(200, json={"status": "success"}))

    response = http.post_form(
        server.url("/oauth/revoke"),
        data={"token": SECRET},
        basic_auth=("id", "secret"),
        provider="zoom",
    )

    assert response.status == 200
    assert response.json() == {"status": "success"}


# --- shared budget ---------------------------------------------------------------------


def test_429_pauses_every_client_sharing_the_budget_key(server, make_client, max_jitter_clock):
    server.script("GET", "/v1/a", Reply(429, headers={"Retry-After": "20"}))
    server.script("GET", "/v1/b", OK)
    first = make_client(
        budget=RateBudget.for_provider(get_provider("webex"), key="conn-1"), max_attempts=1
    )
    second = make_client(budget=RateBudget.for_provider(get_provider("webex"), key="conn-1"))
    other = make_client(budget=RateBudget.for_provider(get_provider("webex"), key="conn-2"))

    with pytest.raises(RateLimited):
        first.get("/a")
    other.get("/b")
    assert max_jitter_clock.sleeps == []

    second.get("/b")
    assert max_jitter_clock.sleeps == [20.0]


def test_budget_wait_beyond_cap_raises_rate_limited(server, make_client, max_jitter_clock):
    budget = RateBudget.for_provider(get_provider("webex"), key="conn-1")
    budget.block_for("default", 500)

    with pytest.raises(RateLimited) as caught:
        make_client(budget=budget, max_retry_wait=60).get("/b")

    assert caught.value.retry_after == 500
    assert server.hits("GET", "/v1/b") == []
    assert max_jitter_clock.sleeps == []


def test_client_spends_budget_slots_per_request(server, make_client, max_jitter_clock):
    server.script("GET", "/v2/users/me", OK)
    budget = RateBudget(provider="zoom", key="acct", limits={"light": (2, 1.0)})
    client = make_client(provider="zoom", base_url=server.url("/v2"), budget=budget)

    for _ in range(5):
        client.get("/users/me", category="light")

    assert len(max_jitter_clock.sleeps) == 2
    assert max_jitter_clock.total_slept == pytest.approx(2.0)


# --- secrets never leak ----------------------------------------------------------------


def test_no_secret_in_logs_or_errors(server, make_client, max_jitter_clock, caplog):
    caplog.set_level(logging.DEBUG)
    server.script("GET", "/v1/ok", Reply(401), OK)
    server.script("GET", "/v1/down", Reply(503, json={"message": SECRET}))
    server.script("GET", "/v1/bad", Reply(200, body=f"<html>{SECRET}</html>"))
    server.script("GET", "/v1/gone", Reply(404, json={"message": SECRET, "trackingId": "T1"}))
    server.script(
        "POST", "/oauth/token", Reply(400, json={"error": "invalid_grant", "reason": SECRET})
    )
    client = make_client(max_attempts=2)
    query = {"hostEmail": "subject@example.com", "token": SECRET}
    errors: list[Exception] = []

    client.get("/ok", params=query)
    for path in ("/down", "/gone"):
        with pytest.raises(ApiError) as caught:
            client.get(path, params=query)
        errors.append(caught.value)
    with pytest.raises(MalformedResponse) as caught:
        client.get("/bad", params=query).json()
    errors.append(caught.value)
    with pytest.raises(GrantRevoked) as caught:
        http.post_token_form(
            server.url("/oauth/token"),
            data={"refresh_token": SECRET},
            basic_auth=("id", SECRET),
            provider="zoom",
        )
    errors.append(caught.value)

    for text in [caplog.text] + [str(e) for e in errors] + [repr(e) for e in errors]:
        assert SECRET not in text
        assert FRESH not in text
        assert "subject@example.com" not in text
        assert "hostEmail" not in text
    records = [r for r in caplog.records if r.name == "connectors.http"]
    assert len(records) == 2 + 2 + 1 + http.MALFORMED_MAX_ATTEMPTS + 1  # one per attempt
    first = records[0]
    assert (
        first.http_provider,
        first.http_method,
        first.http_path,
        first.http_status,
        first.http_attempt,
    ) == ("webex", "GET", "/v1/ok", 401, 1)
    assert records[1].http_status == 200 and records[1].http_attempt == 2


# --- proxies from the environment --------------------------------------------------------


def test_a_proxy_from_the_environment_carries_every_call(server, make_client, monkeypatch):
    """The proxy environment is read once per host and still applies to every call."""
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.script("GET", "/v1/people/me", OK)
    client = make_client(base_url="http://provider.invalid/v1")

    for _ in range(3):
        assert client.get("/people/me").json() == {"ok": True}
    assert len(server.hits("GET", "/v1/people/me")) == 3


def test_no_proxy_from_the_environment_is_honoured(server, make_client, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server.script("GET", "/v1/people/me", OK)
    client = make_client()

    assert client.get("/people/me").json() == {"ok": True}
    assert client.get("/people/me").json() == {"ok": True}
