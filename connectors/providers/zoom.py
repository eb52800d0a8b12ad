"""Zoom (API v2): OAuth details, verification and the access fetch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings

from connectors.exceptions import ScopeMissing, Unauthorized
from connectors.providers.base import (
    Batch,
    ScopeFamily,
    ScopeRequirement,
    TokenSet,
    VerificationFailed,
    VerifyResult,
    register,
    token_set_from_payload,
)

if TYPE_CHECKING:
    from connectors.http import ApiClient

LIST_USERS_SCOPE = "user:read:list_users:admin"


class ZoomProvider:
    slug = "zoom"
    display_name = "Zoom"
    scopes = ScopeRequirement(
        families=(
            ScopeFamily(
                "Zoom granular scopes",
                (
                    "user:read:user:admin",
                    "user:read:settings:admin",
                    "group:read:group:admin",
                    "meeting:read:list_meetings:admin",
                    "webinar:read:list_webinars:admin",
                    "cloud_recording:read:list_user_recordings:admin",
                    "phone:read:user:admin",
                    "phone:read:user_setting:admin",
                    "phone:read:list_recordings:admin",
                    "phone:read:list_voicemails:admin",
                    "phone:read:list_call_logs:admin",
                ),
            ),
            ScopeFamily(
                "Zoom classic scopes",
                (
                    "meeting:read:admin",
                    "webinar:read:admin",
                    "group:read:admin",
                    "imgroup:read:admin",
                    "user:read:admin",
                    "recording:read:admin",
                    "phone:read:admin",
                ),
            ),
        ),
        blocks={
            "user:read:user:admin": "finding the person by email (nothing can be fetched)",
            "user:read:settings:admin": "the person's Zoom settings",
            "group:read:group:admin": "the person's groups",
            "meeting:read:list_meetings:admin": "the person's meetings",
            "webinar:read:list_webinars:admin": "the person's webinars",
            "cloud_recording:read:list_user_recordings:admin": "the person's cloud recordings",
            "phone:read:user:admin": "the person's Zoom Phone profile",
            "phone:read:user_setting:admin": "the person's Zoom Phone settings",
            "phone:read:list_recordings:admin": "the person's phone call recordings",
            "phone:read:list_voicemails:admin": "the person's voicemails",
            "phone:read:list_call_logs:admin": "the person's call logs",
            "meeting:read:admin": "the person's meetings",
            "webinar:read:admin": "the person's webinars",
            "group:read:admin": "the person's groups",
            "imgroup:read:admin": "the person's chat groups",
            "user:read:admin": "finding the person by email and their settings",
            "recording:read:admin": "the person's cloud recordings",
            "phone:read:admin": "everything from Zoom Phone",
        },
    )

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

    def verify(self, client: ApiClient) -> VerifyResult:
        notes: list[str] = []
        try:
            client.get("/users", params={"page_size": 1}, category="medium")
            me = None
        except ScopeMissing:
            # The DataGrail granular list lacks the list-users scope: fall back to /users/me.
            notes.append(
                f"Zoom would not list users: add the scope {LIST_USERS_SCOPE} to the Zoom app "
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
                "user:read:user:admin (or user:read:admin). Add it in the Zoom Marketplace "
                "and reconnect."
            ) from exc
        except Unauthorized as exc:
            raise VerificationFailed("Zoom refused the access token. Reconnect.") from exc

    def fetch_access(
        self, client: ApiClient, email: str, *, checkpoint: dict[str, Any] | None = None
    ) -> Iterator[Batch]:
        from connectors.providers.zoom_fetch import fetch_access

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


register(ZoomProvider())
