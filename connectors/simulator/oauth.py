"""OAuth 2.0 authorization-code flow for both providers (authorize, token, revoke)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import secrets
from urllib.parse import urlencode, urlsplit

from .http import Request, Response, webex_error, zoom_oauth_error
from .seed import DemoClient
from .state import AuthCode, SimulatorState

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def redirect_allowed(uri: str) -> bool:
    """Demo clients accept any http(s) redirect URI on 127.0.0.1 or localhost."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    return (
        parts.scheme in {"http", "https"} and parts.hostname in LOCAL_HOSTS and not parts.fragment
    )


def _error_page(message: str) -> Response:
    return Response.html(
        400,
        f"<!doctype html><title>Authorization error</title>"
        f"<h1>Authorization error</h1><p>{html.escape(message)}</p>",
    )


def authorize(state: SimulatorState, provider: str, req: Request) -> Response:
    """Validate the authorize request, then auto-approve (default) or show a consent page."""
    client_id = req.arg("client_id") or ""
    demo = state.client(provider, client_id)
    if demo is None:
        return _error_page("Invalid client_id.")
    redirect_uri = req.arg("redirect_uri") or ""
    if not redirect_allowed(redirect_uri):
        return _error_page("Invalid redirect: the redirect URI is not registered for this app.")
    params = {"state": req.arg("state")} if req.arg("state") is not None else {}
    if req.arg("response_type") != "code":
        return Response.redirect(redirect_uri, {"error": "unsupported_response_type", **params})
    challenge, method = req.arg("code_challenge"), req.arg("code_challenge_method")
    if (challenge or method) and (method != "S256" or not challenge):
        return Response.redirect(
            redirect_uri,
            {"error": "invalid_request", **params, "error_description": "PKCE needs S256"},
        )
    scopes = _granted_scopes(demo, provider, req.arg("scope"))
    if scopes is None:
        return Response.redirect(redirect_uri, {"error": "invalid_scope", **params})
    try:
        user_email = state.stored_email(
            provider, demo.account, state.knobs.authorize_users.get(provider, demo.user_email)
        )
    except ValueError:
        return _error_page("The signed-in user does not belong to this account.")
    consent = req.arg("consent")
    if consent == "deny":
        return Response.redirect(redirect_uri, {"error": "access_denied", **params})
    if state.knobs.consent_page and consent != "approve":
        return _consent_page(req, demo, user_email, scopes)
    lifetime = (
        state.knobs.code_lifetime_webex if provider == "webex" else state.knobs.code_lifetime_zoom
    )
    code = state.new_code(
        provider,
        AuthCode(
            grant_args={
                "provider": provider,
                "client_id": demo.client_id,
                "account": demo.account,
                "user_email": user_email,
                "scopes": scopes,
            },
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            expires_at=state.ts() + lifetime,
        ),
    )
    return Response.redirect(redirect_uri, {"code": code, **params})


def _granted_scopes(demo: DemoClient, provider: str, scope: str | None) -> tuple[str, ...] | None:
    """Webex grants the requested subset of registered scopes; Zoom ignores `scope`."""
    if provider == "zoom":
        return demo.scopes
    requested = tuple(dict.fromkeys((scope or "").split()))
    if not requested or not set(requested) <= set(demo.scopes):
        return None
    return requested


def _consent_page(
    req: Request, demo: DemoClient, user_email: str, scopes: tuple[str, ...]
) -> Response:
    query = {k: v[-1] for k, v in req.query.items() if k != "consent"}
    approve = html.escape(f"{req.path}?{urlencode({**query, 'consent': 'approve'})}")
    deny = html.escape(f"{req.path}?{urlencode({**query, 'consent': 'deny'})}")
    items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
    return Response.html(
        200,
        f"<!doctype html><title>Authorize</title><h1>Authorize "
        f"{html.escape(demo.client_id)}</h1><p>Signed in as "
        f"{html.escape(user_email)}</p><ul>{items}</ul>"
        f'<a id="approve" href="{approve}">Accept</a> '
        f'<a id="deny" href="{deny}">Decline</a>',
    )


def _pkce_ok(challenge: str | None, verifier: str | None) -> bool:
    if challenge is None:
        return True
    if not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return secrets.compare_digest(expected, challenge)


def _consume_code(
    state: SimulatorState, client_id: str, code: str, redirect_uri: str | None, verifier: str | None
) -> tuple[str, dict | None]:
    """Single use: any presentation burns the code. Returns (error reason, grant args)."""
    with state.lock:
        entry = state.codes.get(code)
        if entry is None or entry.grant_args["client_id"] != client_id:
            return "Invalid authorization code", None
        if entry.used:
            return "Invalid authorization code", None
        entry.used = True
        if entry.expires_at <= state.ts():
            return "Authorization code is expired", None
        if redirect_uri != entry.redirect_uri:
            return "Redirect URI mismatch.", None
        if not _pkce_ok(entry.code_challenge, verifier):
            return "Invalid code_verifier", None
        return "", entry.grant_args


# ------------------------------------------------------------------------ Webex


def webex_token(state: SimulatorState, req: Request) -> Response:
    """POST /v1/access_token: client credentials in the form body only."""
    form = req.form()
    demo = state.client("webex", form.get("client_id", ""))
    if demo is None or not secrets.compare_digest(
        form.get("client_secret", ""), demo.client_secret
    ):
        return webex_error(
            401, "unauthorized_client: invalid client_id or client_secret", error="invalid_client"
        )
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        reason, args = _consume_code(
            state,
            demo.client_id,
            form.get("code", ""),
            form.get("redirect_uri"),
            form.get("code_verifier"),
        )
        if args is None:
            return webex_error(400, f"invalid_grant: {reason}", error="invalid_grant")
        grant = state.issue_grant(**args)
    elif grant_type == "refresh_token":
        grant = state.grant_for_refresh(form.get("refresh_token", ""))
        if grant is None or grant.client_id != demo.client_id:
            return webex_error(
                400,
                "The refresh token provided is expired, revoked, malformed, or invalid.",
                error="invalid_grant",
            )
        access, expires_in = state.refresh(grant)
        return _webex_token_body(state, grant, access, expires_in)
    else:
        return webex_error(400, "unsupported_grant_type", error="unsupported_grant_type")
    access, expires_in = state.issue_access(grant)
    return _webex_token_body(state, grant, access, expires_in)


def _webex_token_body(state: SimulatorState, grant, access: str, expires_in: int) -> Response:
    return Response.json(
        200,
        {
            "access_token": access,
            "expires_in": expires_in,
            "refresh_token": grant.refresh_token,
            "refresh_token_expires_in": max(int(grant.refresh_expires_at - state.ts()), 0),
            "token_type": "Bearer",
        },
        {"Cache-Control": "no-store"},
    )


# ------------------------------------------------------------------------- Zoom


def _basic_client(state: SimulatorState, req: Request) -> DemoClient | None:
    value = req.headers.get("authorization", "")
    if value[:6].lower() != "basic ":
        return None
    try:
        client_id, _, secret = base64.b64decode(value[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    demo = state.client("zoom", client_id)
    if demo is None or not secrets.compare_digest(secret, demo.client_secret):
        return None
    return demo


def zoom_token(state: SimulatorState, req: Request) -> Response:
    """POST /oauth/token: Basic client header; parameters in the form body or query."""
    demo = _basic_client(state, req)
    if demo is None:
        return zoom_oauth_error(401, "Invalid client_id or client_secret", "invalid_client")
    params = {k: v[-1] for k, v in req.query.items()} | req.form()
    grant_type = params.get("grant_type")
    if grant_type == "authorization_code":
        reason, args = _consume_code(
            state,
            demo.client_id,
            params.get("code", ""),
            params.get("redirect_uri"),
            params.get("code_verifier"),
        )
        if args is None:
            error = "invalid_request" if reason.startswith("Redirect") else "invalid_grant"
            return zoom_oauth_error(400, reason, error)
        if state.knobs.zoom_reauth_revokes_previous:
            with state.lock:
                for old in state.grants.values():
                    if old.client_id == demo.client_id and old.user_email == args["user_email"]:
                        old.revoked = True
        grant = state.issue_grant(**args)
        access, expires_in = state.issue_access(grant)
    elif grant_type == "refresh_token":
        grant = state.grant_for_refresh(params.get("refresh_token", ""))
        if grant is None or grant.client_id != demo.client_id:
            return zoom_oauth_error(400, "Invalid Token!", "invalid_grant")
        access, expires_in = state.refresh(grant)
    else:
        return zoom_oauth_error(400, "Unsupported grant type", "unsupported_grant_type")
    return Response.json(
        200,
        {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": grant.refresh_token,
            "expires_in": expires_in,
            "scope": " ".join(grant.scopes),
            "api_url": f"{req.base_url}/zoom",
        },
        {"Cache-Control": "no-store"},
    )


def zoom_revoke(state: SimulatorState, req: Request) -> Response:
    """POST /oauth/revoke: revokes the grant (access and refresh) behind `token`."""
    demo = _basic_client(state, req)
    if demo is None:
        return zoom_oauth_error(401, "Invalid client_id or client_secret", "invalid_client")
    token = ({k: v[-1] for k, v in req.query.items()} | req.form()).get("token", "")
    with state.lock:
        access = state.tokens.get(token)
        grant_id = access.grant_id if access else state.refresh_index.get(token)
        grant = state.grants.get(grant_id or -1)
        if grant is None or grant.client_id != demo.client_id or grant.revoked:
            return zoom_oauth_error(400, "Invalid Token!", "invalid_request")
        grant.revoked = True
    return Response.json(200, {"status": "success"})
