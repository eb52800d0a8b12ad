"""Faults (scripted and seeded-random), rate limits, control endpoints, the request log."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import requests

from connectors.simulator import fingerprint
from connectors.simulator.seed import floor_day
from tests.simulator.helpers import bearer


@pytest.fixture
def zoom_token(simulator):
    return simulator.mint_token("zoom", account="full")["access_token"]


@pytest.fixture
def webex_token(simulator):
    return simulator.mint_token("webex")["access_token"]


def zget(sim, path, token, **kw):
    return requests.get(f"{sim.zoom_api_base_url}{path}", headers=bearer(token), timeout=5, **kw)


def test_scripted_fault_hits_the_next_n_matching_requests(simulator, zoom_token):
    simulator.fault(
        provider="zoom",
        path_prefix="/zoom/v2/users/me",
        status=503,
        count=2,
        headers={"Retry-After": "7"},
        body={"code": 503, "message": "busy"},
    )
    assert zget(simulator, "/users/me/settings", zoom_token).status_code == 503
    assert zget(simulator, "/phone/users/me", zoom_token).status_code == 200  # other prefix
    second = zget(simulator, "/users/me", zoom_token)
    assert second.status_code == 503
    assert second.headers["Retry-After"] == "7"
    assert second.json() == {"code": 503, "message": "busy"}
    assert zget(simulator, "/users/me", zoom_token).status_code == 200
    statuses = [r.status for r in simulator.requests("zoom", "/zoom/v2/users/me")]
    assert statuses == [503, 503, 200]


def test_scripted_malformed_bodies(simulator, webex_token):
    simulator.fault(provider="webex", path_prefix="/webex/v1/people", kind="bad_json")
    simulator.fault(provider="webex", path_prefix="/webex/v1/people", kind="html", status=502)
    url = f"{simulator.webex_base_url}/people/me"
    bad = requests.get(url, headers=bearer(webex_token))
    assert bad.status_code == 200
    with pytest.raises(ValueError):
        bad.json()
    html = requests.get(url, headers=bearer(webex_token))
    assert html.status_code == 502 and html.text.startswith("<html>")
    assert requests.get(url, headers=bearer(webex_token)).status_code == 200


def test_scripted_slow_response_beats_a_read_timeout(simulator, webex_token):
    simulator.fault(provider="webex", path_prefix="/webex/v1/people", kind="slow", delay=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            f"{simulator.webex_base_url}/people/me", headers=bearer(webex_token), timeout=0.3
        )


def test_latency_knob_delays_every_request(simulator, webex_token):
    simulator.configure(latency=0.2)
    started = time.monotonic()
    requests.get(f"{simulator.webex_base_url}/people/me", headers=bearer(webex_token))
    assert time.monotonic() - started >= 0.2


def _statuses(sim, token, n=30):
    return [
        requests.get(f"{sim.zoom_api_base_url}/users/me", headers=bearer(token)).status_code
        for _ in range(n)
    ]


def test_random_faults_are_deterministic_for_a_seed(simulator):
    runs = []
    for _ in range(2):
        simulator.reset(seed=7, rate_5xx=0.3, rate_429=0.1)
        token = simulator.mint_token("zoom", account="full")["access_token"]
        runs.append(_statuses(simulator, token))
    assert runs[0] == runs[1]
    assert {200, 503, 429} == set(runs[0])
    simulator.reset(seed=8, rate_5xx=0.3, rate_429=0.1)
    token = simulator.mint_token("zoom", account="full")["access_token"]
    assert _statuses(simulator, token) != runs[0]


def test_webex_rate_limit_per_token(simulator, webex_token):
    simulator.configure(webex_rate_per_minute=3)
    url = f"{simulator.webex_base_url}/people/me"
    assert [requests.get(url, headers=bearer(webex_token)).status_code for _ in range(3)] == [
        200
    ] * 3
    limited = requests.get(url, headers=bearer(webex_token))
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    other = simulator.mint_token("webex")["access_token"]
    assert requests.get(url, headers=bearer(other)).status_code == 200


def test_zoom_qps_limit_per_account_and_category(simulator, zoom_token):
    simulator.configure(zoom_qps={"Light": 100, "Medium": 2}, zoom_qps_window=60)
    assert [zget(simulator, "/users/me/settings", zoom_token).status_code for _ in range(2)] == [
        200,
        200,
    ]
    limited = zget(simulator, "/users/me/settings", zoom_token)
    assert limited.status_code == 429
    assert limited.json()["code"] == 429
    assert limited.headers["X-RateLimit-Category"] == "Medium"
    assert limited.headers["X-RateLimit-Type"] == "QPS"
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in limited.headers
    assert zget(simulator, "/users/me", zoom_token).status_code == 200  # Light is separate
    same_account = simulator.mint_token("zoom", account="full")["access_token"]
    assert zget(simulator, "/users/me/settings", same_account).status_code == 429
    other_account = simulator.mint_token("zoom", account="basic")["access_token"]
    assert zget(simulator, "/users/me/settings", other_account).status_code == 200
    simulator.configure(zoom_qps_retry_after=True)
    assert zget(simulator, "/users/me/settings", zoom_token).headers["Retry-After"].isdigit()
    simulator.configure(zoom_ratelimit_headers=False)
    bare = zget(simulator, "/users/me/settings", zoom_token)
    assert bare.status_code == 429
    assert not [h for h in bare.headers if h.lower().startswith(("x-ratelimit", "retry-after"))]


def test_zoom_daily_limit_retry_after_is_an_iso_date(simulator, zoom_token):
    simulator.configure(zoom_daily_limit={"Light": 1})
    assert zget(simulator, "/users/me", zoom_token).status_code == 200
    limited = zget(simulator, "/users/me", zoom_token)
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Type"] == "Daily-limit"
    midnight = floor_day(simulator.state.now()) + timedelta(days=1)
    assert datetime.fromisoformat(limited.headers["Retry-After"].replace("Z", "+00:00")) == midnight


def test_control_endpoints_over_http(simulator):
    base = f"{simulator.base_url}/_sim"
    minted = requests.post(
        f"{base}/tokens",
        json={
            "provider": "zoom",
            "account": "basic",
            "scopes": ["user:read:admin"],
            "lifetime": 120,
        },
    ).json()
    assert minted["expires_in"] == 120 and minted["account"] == "basic"
    token = minted["access_token"]
    assert zget(simulator, "/users/me", token).status_code == 200
    requests.post(
        f"{base}/faults", json={"provider": "zoom", "path_prefix": "/zoom/v2/", "status": 500}
    )
    assert zget(simulator, "/users/me", token).status_code == 500
    log = requests.get(f"{base}/requests", params={"provider": "zoom"}).json()["requests"]
    assert [e["status"] for e in log] == [200, 500]
    assert {e["token_fingerprint"] for e in log} == {fingerprint(token)}
    assert token not in str(log)
    requests.post(f"{base}/tokens/expire", json={"token": token})
    assert zget(simulator, "/users/me", token).json()["message"] == "Access token is expired."
    requests.post(f"{base}/tokens/revoke", json={"token": token})
    assert zget(simulator, "/users/me", token).json()["message"] == "Invalid access token."
    knobs = requests.post(f"{base}/knobs", json={"webex_rate_per_minute": 5}).json()
    assert knobs["webex_rate_per_minute"] == 5
    assert requests.post(f"{base}/knobs", json={"nonsense": 1}).status_code == 400
    reset = requests.post(f"{base}/reset", json={"seed": 3})
    assert reset.status_code == 200
    assert simulator.state.knobs.seed == 3 and simulator.requests() == []
    assert zget(simulator, "/users/me", token).status_code == 401  # tokens are forgotten
    clients = requests.get(f"{base}/clients").json()["clients"]
    assert {c["provider"] for c in clients} == {"webex", "zoom"}


def test_minting_resolves_the_user_and_refuses_strangers(simulator):
    from connectors.simulator.seed import SUBJECT_EMAIL, UNKNOWN_EMAIL

    token = simulator.mint_token(
        "zoom", account="full", user_email=SUBJECT_EMAIL, scopes=["user:read:user"]
    )["access_token"]
    assert zget(simulator, "/users/me", token).json()["email"] != SUBJECT_EMAIL  # stored case
    with pytest.raises(ValueError):
        simulator.mint_token("webex", user_email=UNKNOWN_EMAIL)
    response = requests.post(
        f"{simulator.base_url}/_sim/tokens", json={"provider": "zoom", "user_email": UNKNOWN_EMAIL}
    )
    assert response.status_code == 400


def test_concurrent_clients_are_served_consistently(simulator, zoom_token):
    from concurrent.futures import ThreadPoolExecutor

    paths = ["/users/me", "/users/me/settings", "/phone/users/me", "/users/me/meetings"] * 15
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda p: zget(simulator, p, zoom_token).status_code, paths))
    assert statuses == [200] * len(paths)
    assert len(simulator.requests("zoom")) == len(paths)


def test_scripted_fault_can_skip_the_first_matches(simulator, zoom_token):
    simulator.fault(provider="zoom", path_prefix="/zoom/v2/users/me", status=502, skip=2)
    statuses = [zget(simulator, "/users/me", zoom_token).status_code for _ in range(4)]
    assert statuses == [200, 200, 502, 200]
    simulator.fault(provider="zoom", path_prefix="/zoom/v2/", status=500, count=5)
    simulator.clear_faults()
    assert zget(simulator, "/users/me", zoom_token).status_code == 200
