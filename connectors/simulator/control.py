"""`/_sim/...` control endpoints: reset, knobs, faults, request log, tokens."""

from __future__ import annotations

from typing import Any

from .http import Request, Response
from .seed import DEMO_CLIENTS
from .state import SimulatorState


def handle(state: SimulatorState, req: Request, sub: str) -> Response:
    try:
        body: Any = req.json() if req.body else {}
    except ValueError:
        return Response.json(400, {"error": "body must be JSON"})
    if body is not None and not isinstance(body, dict):
        return Response.json(400, {"error": "body must be a JSON object"})
    body = body or {}
    try:
        return _route(state, req, sub, body)
    except (ValueError, TypeError, KeyError) as exc:
        return Response.json(400, {"error": str(exc)})


def _route(state: SimulatorState, req: Request, sub: str, body: dict[str, Any]) -> Response:
    key = (req.method, sub)
    if key == ("POST", "/reset"):
        knobs = dict(body.get("knobs") or {})
        state.reset(body.get("seed"), **knobs)
        return Response.json(200, {"status": "reset", "anchor": state.org.anchor.isoformat()})
    if key == ("GET", "/knobs"):
        return Response.json(200, state.knobs.as_dict())
    if key == ("POST", "/knobs"):
        state.configure(**body)
        return Response.json(200, state.knobs.as_dict())
    if key == ("POST", "/faults"):
        rule = state.add_fault(**body)
        return Response.json(201, rule.__dict__)
    if key == ("GET", "/faults"):
        with state.lock:
            return Response.json(200, {"faults": [dict(r.__dict__) for r in state.faults]})
    if key == ("DELETE", "/faults"):
        state.clear_faults()
        return Response(204)
    if key == ("GET", "/requests"):
        entries = state.requests(req.arg("provider"), req.arg("path_prefix") or "")
        return Response.json(200, {"requests": [e.as_dict() for e in entries]})
    if key == ("GET", "/truth/zoom-counts"):
        email = req.arg("email")
        if not email:
            raise ValueError("email is required")
        counts = state.expected_zoom_counts(
            email, req.arg("account") or "full", int(req.arg("lookback_days") or 365)
        )
        return Response.json(200, counts)
    if key == ("DELETE", "/requests"):
        state.clear_log()
        return Response(204)
    if key == ("POST", "/tokens"):
        return Response.json(
            201,
            state.mint_token(
                provider=body["provider"],
                client_id=body.get("client_id"),
                user_email=body.get("user_email"),
                scopes=body.get("scopes"),
                lifetime=body.get("lifetime"),
                account=body.get("account"),
            ),
        )
    if key == ("POST", "/tokens/expire"):
        state.expire_token(body["token"])
        return Response(204)
    if key == ("POST", "/tokens/revoke"):
        state.revoke_token(body["token"])
        return Response(204)
    if key == ("POST", "/page-tokens/expire"):
        state.expire_cursors()
        return Response(204)
    if key == ("GET", "/clients"):
        return Response.json(
            200,
            {
                "clients": [
                    {
                        "provider": c.provider,
                        "client_id": c.client_id,
                        "client_secret": c.client_secret,
                        "account": c.account,
                        "user_email": c.user_email,
                        "scopes": list(c.scopes),
                    }
                    for c in DEMO_CLIENTS
                ]
            },
        )
    return Response.json(404, {"error": "unknown control endpoint"})
