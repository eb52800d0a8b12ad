"""Small helpers for driving the simulator over real HTTP in tests."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from connectors.simulator.seed import DEMO_CLIENTS, DemoClient

REDIRECT = "http://127.0.0.1:8000/connections/callback"
WEBEX = next(c for c in DEMO_CLIENTS if c.provider == "webex")
ZOOM_FULL = next(c for c in DEMO_CLIENTS if c.account == "full")
ZOOM_BASIC = next(c for c in DEMO_CLIENTS if c.account == "basic")

# Keep-alive and no proxy lookups: the long walks stay fast. Local traffic only.
SESSION = requests.Session()
SESSION.trust_env = False


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def authorize_url(sim: Any, client: DemoClient) -> str:
    if client.provider == "webex":
        return f"{sim.webex_base_url}/authorize"
    return f"{sim.zoom_oauth_base_url}/oauth/authorize"


def authorize(sim: Any, client: DemoClient, **params: str) -> requests.Response:
    query = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "state": "st-123",
    }
    if client.provider == "webex":
        query["scope"] = "meeting:schedules_read meeting:admin_schedule_read spark:kms"
    query.update(params)
    query = {k: v for k, v in query.items() if v is not None}
    return requests.get(authorize_url(sim, client), params=query, allow_redirects=False, timeout=5)


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(sim: Any, client: DemoClient, code: str, **extra: str) -> requests.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    return token_call(sim, client, form)


def token_call(sim: Any, client: DemoClient, form: dict[str, str]) -> requests.Response:
    if client.provider == "webex":
        body = {"client_id": client.client_id, "client_secret": client.client_secret, **form}
        return requests.post(f"{sim.webex_base_url}/access_token", data=body, timeout=5)
    return requests.post(
        f"{sim.zoom_oauth_base_url}/oauth/token",
        data=form,
        auth=(client.client_id, client.client_secret),
        timeout=5,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def follow_webex(url: str, token: str, params: dict[str, Any] | None = None) -> list[dict]:
    """Every item of a Webex list, following `Link: rel="next"` exactly as given."""
    items: list[dict] = []
    response = SESSION.get(url, params=params, headers=bearer(token), timeout=5)
    while True:
        assert response.status_code == 200, response.text
        items.extend(response.json()["items"])
        nxt = response.links.get("next")
        if not nxt:
            return items
        response = SESSION.get(nxt["url"], headers=bearer(token), timeout=5)


def follow_zoom(url: str, token: str, key: str, params: dict[str, Any] | None = None) -> list:
    """Every item of a Zoom list, following `next_page_token`."""
    params = dict(params or {})
    items: list[dict] = []
    while True:
        response = SESSION.get(url, params=params, headers=bearer(token), timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body[key])
        if not body["next_page_token"]:
            return items
        params["next_page_token"] = body["next_page_token"]
