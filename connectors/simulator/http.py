"""Minimal request/response types and the providers' error shapes."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    base_url: str

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8") or "null")

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        if value[:7].lower() == "bearer " and value[7:].strip():
            return value[7:].strip()
        return None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode()
        return cls(
            status, body, {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}
        )

    @classmethod
    def html(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})

    @classmethod
    def redirect(cls, url: str, params: dict[str, str]) -> Response:
        joiner = "&" if "?" in url else "?"
        return cls(302, b"", {"Location": url + joiner + urlencode(params)})


def tracking_id() -> str:
    return f"ROUTER_{secrets.token_hex(8).upper()}"


def webex_error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    payload = {
        "message": message,
        "errors": [{"description": message}],
        "trackingId": tracking_id(),
        **extra,
    }
    return Response.json(status, payload, {"trackingId": payload["trackingId"], **(headers or {})})


def zoom_error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    return Response.json(status, {"code": code, "message": message}, headers)


def zoom_oauth_error(status: int, reason: str, error: str) -> Response:
    return Response.json(status, {"reason": reason, "error": error})


WEBEX_401 = "The request requires a valid access token set in the Authorization request header."
WEBEX_403_SCOPE = (
    "The server understood the request, but refused to fulfill it because the access token "
    "is missing required scopes or the user is missing required roles or licenses."
)
