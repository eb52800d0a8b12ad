"""OAuth: authorize validation, code exchange, PKCE, refresh, rotation, revocation."""

from __future__ import annotations

import base64

import requests
import time_machine

from tests.simulator.helpers import (
    REDIRECT,
    WEBEX,
    ZOOM_BASIC,
    ZOOM_FULL,
    authorize,
    bearer,
    exchange,
    pkce_pair,
    redirect_params,
    token_call,
)


def test_unknown_client_gets_an_error_page_not_a_redirect(simulator):
    for client in (WEBEX, ZOOM_FULL):
        response = authorize(simulator, client, client_id="nope")
        assert response.status_code == 400
        assert "Location" not in response.headers
        assert "Invalid client_id" in response.text


def test_redirect_uri_must_be_local(simulator):
    for uri in ("https://evil.example/cb", "http://127.0.0.1.evil.example/cb", "not a url"):
        response = authorize(simulator, ZOOM_FULL, redirect_uri=uri)
        assert response.status_code == 400
        assert "Location" not in response.headers
    assert (
        authorize(simulator, ZOOM_FULL, redirect_uri="http://localhost:9999/x").status_code == 302
    )


def test_bad_response_type_redirects_with_error_and_state(simulator):
    params = redirect_params(authorize(simulator, WEBEX, response_type="token"))
    assert params == {"error": "unsupported_response_type", "state": "st-123"}


def test_webex_scope_must_be_a_registered_subset(simulator):
    params = redirect_params(authorize(simulator, WEBEX, scope="meeting:schedules_write"))
    assert params["error"] == "invalid_scope"


def test_plain_pkce_is_refused(simulator):
    params = redirect_params(
        authorize(simulator, ZOOM_FULL, code_challenge="abc", code_challenge_method="plain")
    )
    assert params["error"] == "invalid_request"


def test_webex_code_exchange_has_no_scope_and_14_day_lifetime(simulator):
    verifier, challenge = pkce_pair()
    params = redirect_params(
        authorize(simulator, WEBEX, code_challenge=challenge, code_challenge_method="S256")
    )
    assert params["state"] == "st-123"
    assert params["code"].endswith(simulator.state.org.webex.org_id[:36])
    response = exchange(simulator, WEBEX, params["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "refresh_token_expires_in",
        "token_type",
    }
    assert body["expires_in"] == 1209599
    assert body["token_type"] == "Bearer"
    me = requests.get(f"{simulator.webex_base_url}/people/me", headers=bearer(body["access_token"]))
    assert me.json()["emails"] == [WEBEX.user_email]


def test_webex_credentials_in_basic_header_are_refused(simulator):
    code = redirect_params(authorize(simulator, WEBEX))["code"]
    response = requests.post(
        f"{simulator.webex_base_url}/access_token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(WEBEX.client_id, WEBEX.client_secret),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_code_is_single_use(simulator):
    code = redirect_params(authorize(simulator, ZOOM_FULL))["code"]
    assert exchange(simulator, ZOOM_FULL, code).status_code == 200
    again = exchange(simulator, ZOOM_FULL, code)
    assert again.status_code == 400
    assert again.json() == {"reason": "Invalid authorization code", "error": "invalid_grant"}


def test_code_expires_after_five_minutes(simulator):
    with time_machine.travel("2026-03-02 10:00:00 +0000", tick=False) as traveller:
        simulator.reset()
        code = redirect_params(authorize(simulator, ZOOM_FULL))["code"]
        traveller.shift(301)
        response = exchange(simulator, ZOOM_FULL, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "expired" in response.json()["reason"]


def test_pkce_mismatch_and_missing_verifier_fail(simulator):
    _, challenge = pkce_pair()
    for client in (WEBEX, ZOOM_FULL):
        for extra in ({"code_verifier": "wrong-verifier"}, {}):
            params = redirect_params(
                authorize(simulator, client, code_challenge=challenge, code_challenge_method="S256")
            )
            response = exchange(simulator, client, params["code"], **extra)
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_on_exchange(simulator):
    code = redirect_params(authorize(simulator, ZOOM_FULL))["code"]
    response = exchange(simulator, ZOOM_FULL, code, redirect_uri="http://127.0.0.1:8000/other")
    assert response.status_code == 400


def test_zoom_token_response_and_rotation(simulator):
    verifier, challenge = pkce_pair()
    params = redirect_params(
        authorize(simulator, ZOOM_FULL, code_challenge=challenge, code_challenge_method="S256")
    )
    first = exchange(simulator, ZOOM_FULL, params["code"], code_verifier=verifier).json()
    assert first["token_type"] == "bearer"
    assert first["expires_in"] == 3599
    assert first["scope"].split() == list(ZOOM_FULL.scopes)
    assert first["api_url"] == f"{simulator.base_url}/zoom"
    refreshed = token_call(
        simulator,
        ZOOM_FULL,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    stale = token_call(
        simulator,
        ZOOM_FULL,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert stale.status_code == 400
    assert stale.json() == {"reason": "Invalid Token!", "error": "invalid_grant"}
    users = requests.get(f"{second['api_url']}/v2/users/me", headers=bearer(second["access_token"]))
    assert users.status_code == 200


def test_zoom_needs_basic_client_header(simulator):
    code = redirect_params(authorize(simulator, ZOOM_FULL))["code"]
    response = requests.post(
        f"{simulator.zoom_oauth_base_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": ZOOM_FULL.client_id,
            "client_secret": ZOOM_FULL.client_secret,
        },
    )
    assert response.status_code == 401
    wrong = requests.post(
        f"{simulator.zoom_oauth_base_url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(ZOOM_FULL.client_id, "wrong"),
    )
    assert wrong.status_code == 401


def test_zoom_refresh_token_of_another_client_is_refused(simulator):
    minted = simulator.mint_token("zoom", account="full")
    response = token_call(
        simulator,
        ZOOM_BASIC,
        {"grant_type": "refresh_token", "refresh_token": minted["refresh_token"]},
    )
    assert response.status_code == 400


def test_webex_refresh_keeps_token_unless_rotation_knob(simulator):
    minted = simulator.mint_token("webex")
    form = {"grant_type": "refresh_token", "refresh_token": minted["refresh_token"]}
    body = token_call(simulator, WEBEX, form).json()
    assert body["refresh_token"] == minted["refresh_token"]
    assert "scope" not in body
    simulator.configure(webex_rotate_refresh=True)
    rotated = token_call(simulator, WEBEX, form).json()
    assert rotated["refresh_token"] != minted["refresh_token"]
    assert token_call(simulator, WEBEX, form).status_code == 400


def test_configurable_access_lifetime_and_expiry_message(simulator):
    simulator.configure(zoom_access_lifetime=60)
    code = redirect_params(authorize(simulator, ZOOM_FULL))["code"]
    body = exchange(simulator, ZOOM_FULL, code).json()
    assert body["expires_in"] == 60
    simulator.expire_token(body["access_token"])
    response = requests.get(
        f"{simulator.zoom_api_base_url}/users/me", headers=bearer(body["access_token"])
    )
    assert response.status_code == 401
    assert response.json() == {"code": 124, "message": "Access token is expired."}


def test_zoom_revoke_kills_access_and_refresh(simulator):
    minted = simulator.mint_token("zoom", account="full")
    response = requests.post(
        f"{simulator.zoom_oauth_base_url}/oauth/revoke",
        data={"token": minted["access_token"]},
        auth=(ZOOM_FULL.client_id, ZOOM_FULL.client_secret),
    )
    assert response.json() == {"status": "success"}
    api = requests.get(
        f"{simulator.zoom_api_base_url}/users/me", headers=bearer(minted["access_token"])
    )
    assert api.status_code == 401
    assert api.json() == {"code": 124, "message": "Invalid access token."}
    form = {"grant_type": "refresh_token", "refresh_token": minted["refresh_token"]}
    assert token_call(simulator, ZOOM_FULL, form).status_code == 400


def test_zoom_reauthorisation_revokes_the_earlier_grant(simulator):
    first = exchange(simulator, ZOOM_FULL, redirect_params(authorize(simulator, ZOOM_FULL))["code"])
    exchange(simulator, ZOOM_FULL, redirect_params(authorize(simulator, ZOOM_FULL))["code"])
    response = requests.get(
        f"{simulator.zoom_api_base_url}/users/me", headers=bearer(first.json()["access_token"])
    )
    assert response.status_code == 401


def test_webex_admin_revocation_by_client_id(simulator):
    minted = simulator.mint_token("webex")
    other = simulator.mint_token("webex")
    response = requests.delete(
        f"{simulator.webex_base_url}/authorizations",
        params={"clientId": WEBEX.client_id},
        headers=bearer(minted["access_token"]),
    )
    assert response.status_code == 204
    me = requests.get(
        f"{simulator.webex_base_url}/people/me", headers=bearer(other["access_token"])
    )
    assert me.status_code == 401
    assert set(me.json()) == {"message", "errors", "trackingId"}
    assert me.json()["errors"][0]["description"]


def test_consent_page_knob(simulator):
    simulator.configure(consent_page=True)
    page = authorize(simulator, ZOOM_FULL)
    assert page.status_code == 200
    assert 'id="approve"' in page.text
    approve = requests.get(
        f"{simulator.zoom_oauth_base_url}/oauth/authorize",
        params={
            "client_id": ZOOM_FULL.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": "s",
            "consent": "approve",
        },
        allow_redirects=False,
    )
    assert "code" in redirect_params(approve)
    deny = authorize(simulator, ZOOM_FULL, consent="deny")
    assert redirect_params(deny)["error"] == "access_denied"


def test_zoom_basic_header_is_base64_of_id_and_secret(simulator):
    raw = base64.b64encode(f"{ZOOM_FULL.client_id}:{ZOOM_FULL.client_secret}".encode()).decode()
    code = redirect_params(authorize(simulator, ZOOM_FULL))["code"]
    response = requests.post(
        f"{simulator.zoom_oauth_base_url}/oauth/token",
        params={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        headers={"Authorization": f"Basic {raw}"},
    )
    assert response.status_code == 200


def test_authorize_users_knob_changes_who_signs_in(simulator):
    simulator.configure(authorize_users={"webex": "nina.nutzer@acme.example"})
    code = redirect_params(authorize(simulator, WEBEX))["code"]
    token = exchange(simulator, WEBEX, code).json()["access_token"]
    me = requests.get(f"{simulator.webex_base_url}/people/me", headers=bearer(token)).json()
    assert me["emails"] == ["Nina.Nutzer@acme.example"]
    assert me["roles"] == []  # not an admin: admin scopes will not count
    simulator.configure(authorize_users={"zoom": "stranger@unknown.example"})
    assert authorize(simulator, ZOOM_FULL).status_code == 400
