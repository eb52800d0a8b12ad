"""Webex (API v1): OAuth details, verification and the access fetch."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from connectors.exceptions import Forbidden, ScopeMissing, Unauthorized
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


class WebexProvider:
    slug = "webex"
    display_name = "Webex"
    scopes = ScopeRequirement(
        families=(
            ScopeFamily(
                "Webex meetings (admin)",
                (
                    "meeting:participants_read",
                    "meeting:admin_participants_read",
                    "meeting:preferences_read",
                    "meeting:schedules_read",
                    "meeting:admin_schedule_read",
                ),
            ),
        ),
        blocks={
            "meeting:participants_read": "reading participants of meetings the admin hosts",
            "meeting:admin_participants_read": (
                "reading the participants of every meeting, which is how the subject is found"
            ),
            "meeting:preferences_read": "reading meeting preferences",
            "meeting:schedules_read": "listing meetings",
            "meeting:admin_schedule_read": (
                "listing every meeting in the organisation (without it no meetings are found)"
            ),
        },
    )

    @property
    def authorize_url(self) -> str:
        return f"{settings.WEBEX_BASE_URL}/authorize"

    @property
    def token_url(self) -> str:
        return f"{settings.WEBEX_BASE_URL}/access_token"

    def token_request(self, *, client_id: str, client_secret: str, data: dict[str, str]) -> dict:
        # Webex takes the client credentials in the form body.
        return {"data": {**data, "client_id": client_id, "client_secret": client_secret}}

    def parse_token_response(self, payload: dict, *, requested: tuple[str, ...]) -> TokenSet:
        # Webex does not echo granted scopes: record the ones we requested.
        return token_set_from_payload(payload, granted_scopes=tuple(requested))

    def api_base_url(self, stored: str) -> str:
        return settings.WEBEX_BASE_URL

    def verify(self, client: ApiClient) -> VerifyResult:
        try:
            me = client.get("/people/me").json()
        except Unauthorized as exc:
            raise VerificationFailed(
                "Webex refused the access token. Reconnect the connection."
            ) from exc
        emails = me.get("emails") or []
        account = emails[0] if emails and isinstance(emails[0], str) else ""
        if not _holds_admin_role(me.get("roles")):
            # Admin scopes do nothing for a non-administrator: the org-wide meeting
            # list would silently hold only their own meetings.
            raise VerificationFailed(
                "The person who connected Webex is not a Webex administrator, so only their "
                "own meetings would be searched. Reconnect as a full administrator."
            )
        now = timezone.now()
        try:
            client.get(
                "/meetings",
                params={
                    "meetingType": "meeting",
                    "from": _iso(now - timedelta(days=1)),
                    "to": _iso(now),
                    "max": 1,
                },
            )
        except (Forbidden, ScopeMissing) as exc:
            raise VerificationFailed(
                "Webex did not let this account list the organisation's meetings. The person "
                "who connected must be a Webex full or content administrator, and the "
                "integration must have the meeting:admin_schedule_read scope."
            ) from exc
        return VerifyResult(account=account)

    def fetch_access(
        self, client: ApiClient, email: str, *, checkpoint: dict[str, Any] | None = None
    ) -> Iterator[Batch]:
        from connectors.providers.webex_fetch import fetch_access

        return fetch_access(client, email, checkpoint=checkpoint)


ADMIN_ROLE_SUFFIXES = ("/ROLE/id_full_admin",)


def _holds_admin_role(roles) -> bool:
    """Webex role IDs are base64 of ``ciscospark://<region>/ROLE/<name>``."""
    if not isinstance(roles, list):
        return False
    for role in roles:
        if not isinstance(role, str):
            continue
        try:
            decoded = base64.urlsafe_b64decode(role + "=" * (-len(role) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            continue
        if decoded.endswith(ADMIN_ROLE_SUFFIXES):
            return True
    return False


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


register(WebexProvider())
