"""Knobs for robustness runs: a short access-token lifetime for one client, and 200
answers whose body is unusable."""

from __future__ import annotations

import json

import requests

from tests.simulator.helpers import WEBEX, ZOOM_FULL, bearer, token_call


def test_access_lifetime_can_be_set_for_one_client(simulator):
    simulator.reset(access_lifetime_by_client={ZOOM_FULL.client_id: 30})
    full = simulator.mint_token("zoom", account="full")
    assert full["expires_in"] == 30
    assert simulator.mint_token("zoom", account="basic")["expires_in"] == 3599
    assert simulator.mint_token("webex")["expires_in"] == 1209599

    refreshed = token_call(
        simulator,
        ZOOM_FULL,
        {"grant_type": "refresh_token", "refresh_token": full["refresh_token"]},
    )
    assert refreshed.status_code == 200 and refreshed.json()["expires_in"] == 30


def _bodies(sim, token, n=60):
    answers = [
        requests.get(f"{sim.webex_base_url}/people/me", headers=bearer(token), timeout=5)
        for _ in range(n)
    ]
    assert {a.status_code for a in answers} == {200}
    return [a.content for a in answers]


def _kind(body: bytes) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return "bad_json"
    return "object" if isinstance(value, dict) else "wrong_shape"


def test_bad_bodies_are_200s_drawn_from_the_seed(simulator):
    runs = []
    for _ in range(2):
        simulator.reset(seed=11, rate_bad_body=0.3)
        token = simulator.mint_token("webex", client_id=WEBEX.client_id)["access_token"]
        runs.append([_kind(b) for b in _bodies(simulator, token)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"object", "bad_json", "wrong_shape"}
