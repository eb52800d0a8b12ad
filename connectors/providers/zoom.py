"""Zoom (API v2): OAuth details, verification and the access fetch."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings

import connectors.providers.zoom_scopes as zs
from connectors.exceptions import ScopeMissing, Unauthorized, safe_path
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
            zs.USER_SCOPE: "finding the person by email (nothing can be fetched)",
            zs.USER_SETTINGS_SCOPE: "the person's Zoom settings",
            zs.GROUPS_SCOPE: "the person's groups",
            zs.MEETINGS_SCOPE: "the person's meetings",
            zs.WEBINARS_SCOPE: "the person's webinars",
            zs.RECORDINGS_SCOPE: "the person's cloud recordings",
            zs.PHONE_USER_SCOPE: "the person's Zoom Phone profile",
            zs.PHONE_SETTINGS_SCOPE: "the person's Zoom Phone settings",
            zs.PHONE_RECORDINGS_SCOPE: "the person's phone call recordings",
            zs.VOICEMAILS_SCOPE: "the person's voicemails",
            zs.CALL_LOGS_SCOPE: "the person's call logs",
            zs.CLASSIC_MEETINGS_SCOPE: "the person's meetings",
            zs.CLASSIC_WEBINARS_SCOPE: "the person's webinars",
            zs.CLASSIC_GROUPS_SCOPE: "the person's groups",
            zs.CLASSIC_CHAT_GROUPS_SCOPE: "the person's chat groups",
            zs.CLASSIC_USER_SCOPE: "finding the person by email and their settings",
            zs.CLASSIC_RECORDINGS_SCOPE: "the person's cloud recordings",
            zs.CLASSIC_PHONE_SCOPE: "everything from Zoom Phone",
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
        api_url = payload.get("api_url") if isinstance(payload, dict) else None
        return token_set_from_payload(
            payload, granted_scopes=granted, api_base_url=_valid_api_url(api_url)
        )

    def api_base_url(self, stored: str) -> str:
        """Zoom's token names a regional host (``api_url``); the API lives under /v2."""
        if stored:
            return f"{stored.rstrip('/')}/v2"
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
                f"Zoom would not list users: add the scope {zs.LIST_USERS_SCOPE} to the Zoom app "
                "so the connection check can see the whole account."
            )
            me = self._me(client)
        except Unauthorized as exc:
            raise VerificationFailed("Zoom refused the access token. Reconnect.") from exc
        if me is None:
            me = self._me(client)
        account = me.get("email", "") if isinstance(me, dict) else ""
        return VerifyResult(account=account if isinstance(account, str) else "", notes=notes)

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


def _valid_api_url(value: Any) -> str:
    """Accept Zoom's own hosts (or the configured API host, e.g. the simulator) only.

    The token response decides where every later call (with the token) goes, so an
    unexpected host is ignored rather than trusted.
    """
    if not isinstance(value, str):
        return ""
    parts = urlsplit(value)
    configured = urlsplit(settings.ZOOM_API_BASE_URL)
    host = (parts.hostname or "").lower()
    zoom_host = parts.scheme == "https" and (host == "zoom.us" or host.endswith(".zoom.us"))
    same_as_configured = (parts.scheme, parts.netloc) == (configured.scheme, configured.netloc)
    if not (zoom_host or same_as_configured):
        return ""
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


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
