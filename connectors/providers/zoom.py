"""Zoom (API v2): OAuth details, verification and the access fetch."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

import connectors.providers.zoom_scopes as zs
from connectors.exceptions import ApiError, ScopeMissing, Unauthorized, safe_path
from connectors.providers.base import (
    Batch,
    ScopeFamily,
    ScopeRequirement,
    TokenSet,
    VerificationFailed,
    VerifyResult,
    token_set_from_payload,
)
from connectors.providers.zoom_codes import ZoomCode
from connectors.providers.zoom_fetch import fetch_access

if TYPE_CHECKING:
    from connectors.http import ApiClient, ApiResponse, Params

logger = logging.getLogger("connectors.http")

PAGE_SIZE = 300  # Zoom's largest page_size


class ZoomProvider:
    slug = "zoom"
    display_name = "Zoom"
    scopes = ScopeRequirement(
        families=(
            ScopeFamily("Zoom granular scopes", zs.GRANULAR_SCOPES),
            ScopeFamily("Zoom classic scopes", zs.CLASSIC_SCOPES),
        ),
        blocks={
            zs.USER_SCOPE: "Without it Zoom cannot look the person up by email, so nothing at "
            "all can be fetched.",
            zs.USER_SETTINGS_SCOPE: "Without it the person's Zoom settings are left out.",
            zs.GROUPS_SCOPE: "Without it the groups the person belongs to are left out.",
            zs.MEETINGS_SCOPE: "Without it the person's meetings are left out.",
            zs.WEBINARS_SCOPE: "Without it the person's webinars are left out.",
            zs.RECORDINGS_SCOPE: "Without it the person's cloud recordings are left out.",
            zs.PHONE_USER_SCOPE: "Without it the person's Zoom Phone profile is left out.",
            zs.PHONE_SETTINGS_SCOPE: "Without it the person's Zoom Phone settings are left out.",
            zs.PHONE_RECORDINGS_SCOPE: "Without it the person's phone call recordings are left "
            "out.",
            zs.VOICEMAILS_SCOPE: "Without it the person's voicemails are left out.",
            zs.CALL_LOGS_SCOPE: "Without it the person's call history is left out.",
            zs.CLASSIC_MEETINGS_SCOPE: "Without it the person's meetings are left out.",
            zs.CLASSIC_WEBINARS_SCOPE: "Without it the person's webinars are left out.",
            zs.CLASSIC_GROUPS_SCOPE: "Without it the groups the person belongs to are left out.",
            zs.CLASSIC_CHAT_GROUPS_SCOPE: "Without it the person's chat groups are left out.",
            zs.CLASSIC_USER_SCOPE: "Without it Zoom cannot look the person up by email, so "
            "nothing at all can be fetched.",
            zs.CLASSIC_RECORDINGS_SCOPE: "Without it the person's cloud recordings are left out.",
            zs.CLASSIC_PHONE_SCOPE: "Without it everything from Zoom Phone (profile, settings, "
            "call history, voicemails, call recordings) is left out.",
        },
        optional={
            zs.LIST_USERS_SCOPE: "Optional: the email lookup works without it. With it, the "
            "connection check can see the whole account, and a person whose address Zoom "
            "stores with other capital letters is still found.",
        },
        products={
            "Zoom Phone": (
                zs.PHONE_USER_SCOPE,
                zs.PHONE_SETTINGS_SCOPE,
                zs.PHONE_RECORDINGS_SCOPE,
                zs.VOICEMAILS_SCOPE,
                zs.CALL_LOGS_SCOPE,
                zs.CLASSIC_PHONE_SCOPE,
            ),
        },
    )
    # Per account, Business+ plan (see docs/providers.md, 'Zoom: rate limits'); Pro
    # accounts should lower these through settings.CONNECTOR_RATE_LIMITS.
    rate_limits: Mapping[str, tuple[int, float]] = {
        "light": (80, 1.0),
        "medium": (60, 1.0),
        "heavy": (40, 1.0),
        "resource_intensive": (20, 60.0),
        "default": (60, 1.0),
    }
    # Zoom names the granted scopes again in every refresh answer.
    reports_granted_scopes = True
    # fetch_access takes no participant index.
    uses_participant_index = False

    @property
    def authorize_url(self) -> str:
        return f"{settings.ZOOM_OAUTH_BASE_URL}/oauth/authorize"

    @property
    def token_url(self) -> str:
        return f"{settings.ZOOM_OAUTH_BASE_URL}/oauth/token"

    @property
    def revoke_url(self) -> str:
        return f"{settings.ZOOM_OAUTH_BASE_URL}/oauth/revoke"

    def token_request(self, *, client_id: str, client_secret: str, data: dict[str, str]) -> dict:
        # Zoom takes the client credentials in an HTTP Basic header.
        return {"data": data, "basic_auth": (client_id, client_secret)}

    def parse_token_response(self, payload: dict, *, requested: tuple[str, ...]) -> TokenSet:
        scope = payload.get("scope") if isinstance(payload, dict) else None
        granted = tuple(scope.split()) if isinstance(scope, str) else tuple(requested)
        # Checked on every token response (code exchange and refresh both land here).
        api_url = payload.get("api_url") if isinstance(payload, dict) else None
        return token_set_from_payload(
            payload,
            granted_scopes=granted,
            api_base_url=_checked_api_url(api_url, where="token response"),
        )

    def api_base_url(self, stored: str) -> str:
        """Zoom's token names a regional host (``api_url``); the API lives under /v2.

        The stored value is checked again, so a row saved under an older, looser
        check cannot send the token elsewhere.
        """
        checked = _checked_api_url(stored, where="stored connection") if stored else ""
        if checked:
            return f"{checked.rstrip('/')}/v2"
        return settings.ZOOM_API_BASE_URL

    def scope_missing(self, status: int, provider_code: int | None) -> bool:
        # Zoom says a scope is missing with 400 and code 4711, not with 401/403.
        return status == 400 and provider_code == ZoomCode.SCOPE_MISSING

    def pager(
        self,
        client: ApiClient,
        path: str,
        *,
        params: Params,
        start_cursor: str | None,
        page_size: int | None,
    ) -> PageTokenPager:
        return PageTokenPager(
            client, path, params=params, start_cursor=start_cursor, page_size=page_size
        )

    def verify(self, client: ApiClient) -> VerifyResult:
        notes: list[str] = []
        try:
            client.get("/users", params={"page_size": 1}, category="medium")
            me = None
        except ScopeMissing:
            # The DataGrail granular list lacks the list-users scope: fall back to /users/me.
            notes.append(
                f"The optional scope {zs.LIST_USERS_SCOPE} is not granted. Fetching works "
                "without it; adding it to the Zoom app lets the connection check see the whole "
                "account and finds a person whose address Zoom stores with other capital letters."
            )
            me = self._me(client)
        except Unauthorized as exc:
            raise VerificationFailed("Zoom refused the access token. Reconnect.") from exc
        if me is None:
            me = self._me(client)
        account = me.get("email", "") if isinstance(me, dict) else ""
        return VerifyResult(
            account=account if isinstance(account, str) else "",
            notes=notes,
            missing_products=self._missing_products(client),
        )

    @staticmethod
    def _missing_products(client: ApiClient) -> list[str]:
        """``["Zoom Phone"]`` when the account has no Zoom Phone (see docs/providers.md,
        'Zoom: phone'): the phone scopes may be granted and still read nothing."""
        try:
            client.get("/phone/users/me", category="light")
        except ApiError as exc:
            if exc.provider_code == ZoomCode.PHONE_NOT_ENABLED:
                return ["Zoom Phone"]
            return []  # no licence for the admin, a missing scope: not an account fact
        return []

    @staticmethod
    def _me(client: ApiClient) -> dict:
        try:
            return client.get("/users/me", category="light").json()
        except ScopeMissing as exc:
            raise VerificationFailed(
                "Zoom refused to read the authorising user: the app lacks the scope "
                f"{zs.USER_SCOPE} (or {zs.CLASSIC_USER_SCOPE}). Add it in the Zoom Marketplace "
                "and reconnect."
            ) from exc
        except Unauthorized as exc:
            raise VerificationFailed("Zoom refused the access token. Reconnect.") from exc

    def fetch_access(
        self, client: ApiClient, email: str, *, checkpoint: dict[str, Any] | None = None
    ) -> Iterator[Batch]:
        return fetch_access(client, email, checkpoint=checkpoint)


# Zoom's API hosts: the global one and the regional clusters (eu01api, sg01api,
# sa01api...); see docs/providers.md, 'Zoom: OAuth and tokens'.
_ZOOM_API_HOST = re.compile(r"(?:api|[a-z]{2}[0-9]{2}api)\.zoom\.us", re.ASCII)
# Deliberately narrower than RFC 3986: an ASCII host name or a bracketed IPv6 literal,
# an optional numeric port and a plain path. No userinfo, backslash, percent-escape,
# whitespace, query or fragment can get through, so there is nothing for ``requests``
# to read differently from this check.
_API_URL = re.compile(
    r"(?P<scheme>https?)://"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*)/?",
    re.ASCII,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def zoom_api_url(value: Any) -> str:
    """The API base named by a token's ``api_url`` if the token may go there, else "".

    It decides where every later call (with the bearer token) goes, so only https to a
    Zoom API host on the default port is accepted, or exactly the configured
    ``ZOOM_API_BASE_URL``'s scheme, host and port (the simulator). The answer is rebuilt
    from the parsed parts and cross-checked against urllib3's parser, which is what
    ``requests`` connects with. An empty answer means: keep the configured base.
    """
    if not isinstance(value, str):
        return ""
    match = _API_URL.fullmatch(value)
    if match is None:
        return ""
    scheme = match["scheme"]
    host = match["host"].lower()
    port = int(match["port"]) if match["port"] else _DEFAULT_PORTS[scheme]
    if not (_is_zoom_api_host(scheme, host, port) or _is_configured_host(scheme, host, port)):
        return ""
    if _connects_to(value) != (host, port):
        return ""
    netloc = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{match['path']}"


def _is_zoom_api_host(scheme: str, host: str, port: int) -> bool:
    return scheme == "https" and port == 443 and _ZOOM_API_HOST.fullmatch(host) is not None


def _is_configured_host(scheme: str, host: str, port: int) -> bool:
    configured = urlsplit(settings.ZOOM_API_BASE_URL)
    try:
        configured_port = configured.port or _DEFAULT_PORTS.get(configured.scheme)
    except ValueError:
        return False
    return (scheme, host, port) == (
        configured.scheme,
        (configured.hostname or "").lower(),
        configured_port,
    )


def _connects_to(url: str) -> tuple[str, int] | None:
    """(host, port) urllib3 (under ``requests``) would open a connection to."""
    try:
        parsed = parse_url(url)
    except LocationParseError:
        return None
    scheme = (parsed.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS or not parsed.host or parsed.auth:
        return None
    return parsed.host.lower(), parsed.port or _DEFAULT_PORTS[scheme]


def _checked_api_url(value: Any, *, where: str) -> str:
    """``zoom_api_url``, logging a refusal so staff can see a base was not trusted."""
    accepted = zoom_api_url(value)
    if value and not accepted:
        logger.warning(
            "provider=zoom api_url from the %s refused; the configured API base is used: %r",
            where,
            str(value)[:200],
        )
    return accepted


class PageTokenPager:
    """Follows Zoom's ``next_page_token`` until it is empty or repeats."""

    def __init__(
        self,
        client: ApiClient,
        path: str,
        *,
        params: Params,
        start_cursor: str | None,
        page_size: int | None,
    ) -> None:
        self.client = client
        self.path = path
        self.params = dict(params or {})
        self.page_size = page_size or PAGE_SIZE
        self.start_cursor = start_cursor or None
        self.seen: set[str] = {self.start_cursor} if self.start_cursor else set()

    def first_request(self) -> tuple[str, Params]:
        return self._request(self.start_cursor)

    def next_cursor(self, response: ApiResponse) -> str | None:
        raw = response.json().get("next_page_token")
        token = raw if isinstance(raw, str) and raw else None
        if token and token in self.seen:
            logger.warning(
                "provider=%s path=%s repeated page token stopped",
                self.client.provider,
                safe_path(self.path),
            )
            return None
        return token

    def request_for(self, cursor: str) -> tuple[str, Params]:
        self.seen.add(cursor)
        return self._request(cursor)

    def _request(self, token: str | None) -> tuple[str, Params]:
        query = {**self.params, "page_size": self.page_size}
        if token:
            query["next_page_token"] = token
        return self.path, query
