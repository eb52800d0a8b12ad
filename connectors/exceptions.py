"""One error family for every provider call (Sentry's ``shared_integrations`` shape).

``str()`` and ``repr()`` of every error are a fixed text plus provider, status,
method and path: django-q2 stores ``str(exc)`` in the database and admin, so a
response body, header, token, query string or email address must never reach it.
Paths are stored with email-like segments replaced (Zoom takes emails as user IDs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

_SAFE_CODE = re.compile(r"^[a-z0-9_]{1,40}$")


def safe_path(path_or_url: str) -> str:
    """The path of a URL without query string, with email-like segments redacted."""
    path = urlsplit(path_or_url).path or "/"
    segments = ["{email}" if "@" in unquote(s) else s for s in path.split("/")]
    return "/".join(segments)


class ApiError(Exception):
    """A provider call failed. Carries machine-readable facts, never provider text."""

    text = "Provider API error"
    default_code = "api_error"

    def __init__(
        self,
        *,
        provider: str,
        method: str,
        path: str,
        status: int | None = None,
        code: str | None = None,
        provider_code: int | None = None,
        retry_after: float | None = None,
        tracking_id: str | None = None,
        detail: str = "",
    ) -> None:
        self.detail = detail
        self.provider = provider
        self.method = method.upper()
        self.path = safe_path(path)
        self.status = status
        self.code = code or self.default_code
        self.provider_code = provider_code
        self.retry_after = retry_after
        self.tracking_id = tracking_id
        super().__init__(str(self))

    def __str__(self) -> str:
        status = self.status if self.status is not None else "-"
        detail = f": {self.detail}" if self.detail else ""
        return (
            f"{self.text}{detail} [{self.code}] provider={self.provider} status={status} "
            f"{self.method} {self.path}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self!s})"

    def __reduce__(self):
        # Keyword-only __init__: pickle (multiprocessing, q2) needs a helper.
        return (_rebuild, (type(self), self._kwargs()))

    def _kwargs(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "code": self.code,
            "provider_code": self.provider_code,
            "retry_after": self.retry_after,
            "tracking_id": self.tracking_id,
            "detail": self.detail,
        }

    @classmethod
    def without_response(cls, detail: str, *, provider: str = "unknown") -> ApiError:
        """An error found while interpreting data, away from any HTTP call.

        ``detail`` must be a fixed text written in our code, never provider data.
        """
        return cls(provider=provider, method="-", path="-", detail=detail)

    @classmethod
    def from_response(
        cls,
        *,
        provider: str,
        method: str,
        path: str,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        retry_after: float | None = None,
        scope_missing: Callable[[int, int | None], bool] | None = None,
    ) -> ApiError:
        """Pick the subclass for an error response.

        Both providers' bodies carry the fields read here (``code``, ``message``,
        ``trackingId``); what a provider's own codes mean comes from
        ``scope_missing(status, provider_code)`` (the provider's hook).
        """
        body = _json_object(content)
        provider_code = body.get("code") if isinstance(body.get("code"), int) else None
        tracking = body.get("trackingId") or headers.get("TrackingID")
        tracking_id = tracking if isinstance(tracking, str) and len(tracking) <= 200 else None
        message = body.get("message") if isinstance(body.get("message"), str) else ""
        kwargs: dict[str, Any] = {
            "provider": provider,
            "method": method,
            "path": path,
            "status": status,
            "provider_code": provider_code,
            "retry_after": retry_after,
            "tracking_id": tracking_id,
        }
        if status == 429:
            return RateLimited(code="rate_limited", **kwargs)
        if status >= 500:
            return Transient(code=f"http_{status}", **kwargs)
        code = f"{provider}_{provider_code}" if provider_code is not None else f"http_{status}"
        if scope_missing is not None and scope_missing(status, provider_code):
            return ScopeMissing(code=code, **kwargs)
        if status == 401:
            return Unauthorized(code=code, **kwargs)
        if status == 403:
            # Only a message about scopes alone is recognisable; Webex's usual 403 text
            # ("missing required scopes or ... roles or licenses") stays Forbidden.
            # The message picks the class and is then dropped.
            text = message.lower()
            if "scope" in text and "role" not in text and "licen" not in text:
                return ScopeMissing(code=code if provider_code else "scope_missing", **kwargs)
            return Forbidden(code=code, **kwargs)
        if status == 404:
            return NotFound(code=code, **kwargs)
        return ClientError(code=code, **kwargs)

    @classmethod
    def from_oauth_response(
        cls,
        *,
        provider: str,
        method: str,
        path: str,
        status: int,
        content: bytes,
    ) -> ApiError:
        """Classify a token-endpoint 4xx by its OAuth ``error`` code alone (never ``reason``)."""
        error = _json_object(content).get("error")
        oauth_code = error if isinstance(error, str) and _SAFE_CODE.match(error) else None
        kwargs: dict[str, Any] = {
            "provider": provider,
            "method": method,
            "path": path,
            "status": status,
        }
        if oauth_code == "invalid_grant":
            return GrantRevoked(code="invalid_grant", **kwargs)
        code = oauth_code or f"http_{status}"
        if status == 401 or oauth_code == "invalid_client":
            return Unauthorized(code=code, **kwargs)
        return ClientError(code=code, **kwargs)


def _rebuild(kind: type[ApiError], kwargs: dict[str, Any]) -> ApiError:
    return kind(**kwargs)


def _json_object(content: bytes) -> dict[str, Any]:
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class Unauthorized(ApiError):
    """401 after one refresh: the connection needs re-authorisation."""

    text = "Provider rejected the access token"
    default_code = "unauthorized"


class Forbidden(ApiError):
    text = "Provider refused access"
    default_code = "forbidden"


class NotFound(ApiError):
    text = "Provider resource not found"
    default_code = "not_found"


class RateLimited(ApiError):
    """429 beyond the retry budget; ``retry_after`` says when a task may try again."""

    text = "Provider rate limit reached"
    default_code = "rate_limited"


class Transient(ApiError):
    """5xx, timeout or connection failure after retries: worth trying again later."""

    text = "Provider temporarily unavailable"
    default_code = "transient"


class MalformedResponse(Transient):
    """The provider answered with something that is not the JSON object we expect."""

    text = "Provider response was malformed"
    default_code = "malformed_response"


class ScopeMissing(ApiError):
    """The grant lacks a scope: reconnect with more scopes."""

    text = "Provider grant is missing a scope"
    default_code = "scope_missing"


class GrantRevoked(ApiError):
    """The token endpoint refused the refresh token (``invalid_grant``)."""

    text = "Provider refused the grant"
    default_code = "grant_revoked"


class ClientError(ApiError):
    """Any other 4xx: our request was wrong; retrying will not help."""

    text = "Provider rejected the request"
    default_code = "client_error"
