"""Webex (API v1): OAuth details, verification and the access fetch."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone

from connectors.exceptions import (
    Forbidden,
    MalformedResponse,
    ScopeMissing,
    Unauthorized,
    safe_path,
)
from connectors.providers.base import (
    Batch,
    ScopeFamily,
    ScopeRequirement,
    TokenSet,
    VerificationFailed,
    VerifyResult,
    token_set_from_payload,
)
from connectors.providers.webex_fetch import fetch_access
from connectors.providers.webex_index import IndexStore, fetch_access_indexed

if TYPE_CHECKING:
    from connectors.http import ApiClient, ApiResponse, Params

logger = logging.getLogger("connectors.http")

# Every Webex scope the product uses, once (see docs/providers.md, 'Webex: OAuth and tokens').
PARTICIPANTS_SCOPE = "meeting:participants_read"
PARTICIPANTS_ADMIN_SCOPE = "meeting:admin_participants_read"
PREFERENCES_SCOPE = "meeting:preferences_read"
LIST_MEETINGS_SCOPE = "meeting:schedules_read"
LIST_MEETINGS_ADMIN_SCOPE = "meeting:admin_schedule_read"


class WebexProvider:
    slug = "webex"
    display_name = "Webex"
    scopes = ScopeRequirement(
        families=(
            ScopeFamily(
                "Webex meetings (admin)",
                (
                    PARTICIPANTS_SCOPE,
                    PARTICIPANTS_ADMIN_SCOPE,
                    PREFERENCES_SCOPE,
                    LIST_MEETINGS_SCOPE,
                    LIST_MEETINGS_ADMIN_SCOPE,
                ),
            ),
        ),
        blocks={
            PARTICIPANTS_SCOPE: "Without it Webex refuses to read the participants of meetings "
            "the connecting administrator hosts.",
            PARTICIPANTS_ADMIN_SCOPE: "Without it the participants of other people's meetings "
            "cannot be read, and that is how the person is found: nothing would be fetched.",
            PREFERENCES_SCOPE: "Nothing fetched today depends on it (meeting preferences "
            "are left out of reports); it is asked for with the other meeting scopes.",
            LIST_MEETINGS_SCOPE: "Without it Webex refuses to list meetings at all.",
            LIST_MEETINGS_ADMIN_SCOPE: "Without it only the administrator's own meetings are "
            "listed, so the person's meetings would not be found.",
        },
    )
    # Cisco publishes no figure for the Meetings and People APIs: 300 requests a minute
    # per token (see docs/providers.md, 'Webex: rate limits').
    rate_limits: Mapping[str, tuple[int, float]] = {"default": (300, 60.0)}
    # Webex does not name the granted scopes in a refresh answer.
    reports_granted_scopes = False
    # fetch_access takes an ``index`` store (connectors/participant_index.py).
    uses_participant_index = True

    @property
    def authorize_url(self) -> str:
        return f"{settings.WEBEX_BASE_URL}/authorize"

    @property
    def token_url(self) -> str:
        return f"{settings.WEBEX_BASE_URL}/access_token"

    @property
    def revoke_url(self) -> None:
        """Webex revokes only through its admin Authorizations API, a scope we do not ask
        for: staff remove the grant in Control Hub."""
        return None

    def token_request(self, *, client_id: str, client_secret: str, data: dict[str, str]) -> dict:
        # Webex takes the client credentials in the form body.
        return {"data": {**data, "client_id": client_id, "client_secret": client_secret}}

    def parse_token_response(self, payload: dict, *, requested: tuple[str, ...]) -> TokenSet:
        # Webex does not echo granted scopes: record the ones we requested.
        return token_set_from_payload(payload, granted_scopes=tuple(requested))

    def api_base_url(self, stored: str) -> str:
        return settings.WEBEX_BASE_URL

    def scope_missing(self, status: int, provider_code: int | None) -> bool:
        # Webex says so only in a 403's message, which ApiError reads (and drops).
        return False

    def pager(
        self,
        client: ApiClient,
        path: str,
        *,
        params: Params,
        start_cursor: str | None,
        page_size: int | None,
    ) -> LinkPager:
        return LinkPager(client, path, params=params, start_cursor=start_cursor)

    def verify(self, client: ApiClient) -> VerifyResult:
        """The person who connected must be an administrator (read-only is enough).

        Admin scopes do nothing for a non-administrator: the org-wide meeting list
        would silently hold only their own meetings (see docs/providers.md, 'Webex:
        roles and admin').
        """
        try:
            me = client.get("/people/me").json()
        except Unauthorized as exc:
            raise VerificationFailed(
                "Webex refused the access token. Reconnect the connection."
            ) from exc
        emails = me.get("emails") or []
        account = emails[0] if emails and isinstance(emails[0], str) else ""
        is_admin = admin_role_held(me.get("roles"))
        if is_admin is False:
            raise VerificationFailed(
                "The person who connected Webex is not a Webex administrator, so only their "
                f"own meetings would be searched. {RECOMMENDED_ROLE_ADVICE}"
            )
        notes: list[str] = []
        if is_admin is None:
            # The roles cannot be read: let the admin listing below decide.
            notes.append(
                "Webex did not say which roles the person who connected holds; the connection "
                "was accepted because it could list the organisation's meetings. If they are "
                "not an administrator only their own meetings will be found. "
                + RECOMMENDED_ROLE_ADVICE
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
                "who connected must be a Webex administrator (read-only administrator is "
                "enough and recommended), and the integration must have the "
                f"{LIST_MEETINGS_ADMIN_SCOPE} scope."
            ) from exc
        return VerifyResult(account=account, notes=notes)

    def fetch_access(
        self,
        client: ApiClient,
        email: str,
        *,
        checkpoint: dict[str, Any] | None = None,
        index: IndexStore | None = None,
    ) -> Iterator[Batch]:
        """The full scan, or with a participant ``index`` only the subject's instances
        (see connectors/providers/webex_index.py)."""
        if index is not None:
            return fetch_access_indexed(client, email, index, checkpoint=checkpoint)
        return fetch_access(client, email, checkpoint=checkpoint)


# Roles that may read every meeting in the organisation. The read-only administrator
# is the least privilege for a tool that only reads.
ADMIN_ROLES = frozenset({"id_readonly_admin", "id_full_admin"})
RECOMMENDED_ROLE_ADVICE = (
    "Reconnect as a Webex read-only administrator (recommended: it is the least "
    "privilege this tool needs) or a full administrator."
)
_ROLE_URI = re.compile(r"ciscospark://[^/\s]+/ROLE/(?P<name>[A-Za-z0-9_.-]+)")


def admin_role_held(roles: Any) -> bool | None:
    """Whether ``/people/me``'s ``roles`` include an administrator role that may read.

    Role IDs are base64 of ``ciscospark://<region>/ROLE/<name>``. Answers None when
    it cannot be decided (no list, or an ID that does not decode to a role): a
    role we cannot read might be the one that counts.
    """
    if not isinstance(roles, list):
        return None
    decided = True
    for role in roles:
        name = _role_name(role)
        if name in ADMIN_ROLES:
            return True
        if name is None:
            decided = False
    return False if decided else None


def _role_name(role: Any) -> str | None:
    if not isinstance(role, str):
        return None
    try:
        decoded = base64.urlsafe_b64decode(role + "=" * (-len(role) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    match = _ROLE_URI.fullmatch(decoded)
    return match["name"] if match else None


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class LinkPager:
    """Follows ``Link: <...>; rel="next"``, guarding Webex's known defects.

    The next URL is followed as given, except that ``max=null`` is removed and
    original ``params`` it dropped are added back (see docs/providers.md, 'Webex:
    meetings listing'). Stops at a repeated URL or when no next link remains; a
    next link to another host raises ``MalformedResponse``.
    """

    def __init__(
        self, client: ApiClient, path: str, *, params: Params, start_cursor: str | None
    ) -> None:
        self.client = client
        self.path = path
        self.original = {k: v for k, v in (params or {}).items() if v is not None}
        self.start_cursor = start_cursor
        self.url = ""
        self.seen: set[str] = set()

    def first_request(self) -> tuple[str, Params]:
        if self.start_cursor:
            return self._visit(self._repaired(self.start_cursor), None)
        return self._visit(self.client.build_url(self.path), self.original)

    def next_cursor(self, response: ApiResponse) -> str | None:
        link = response.next_link()
        next_url = self._repaired(link) if link else None
        if next_url and _canonical(next_url, None) in self.seen:
            logger.warning(
                "provider=%s path=%s pagination loop stopped",
                self.client.provider,
                safe_path(self.url),
            )
            return None
        return next_url

    def request_for(self, cursor: str) -> tuple[str, Params]:
        return self._visit(cursor, None)

    def _visit(self, url: str, query: Params) -> tuple[str, Params]:
        self.seen.add(_canonical(url, query))
        self.url = url
        return url, query

    def _repaired(self, next_url: str) -> str:
        """Fix Webex's next URL and refuse to send the token to another host."""
        absolute = self.client.build_url(next_url)
        base, target = urlsplit(self.client.base_url), urlsplit(absolute)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise MalformedResponse(
                provider=self.client.provider,
                method="GET",
                path=self.path,
                code="foreign_next_link",
            )
        query = [
            (k, v)
            for k, v in parse_qsl(target.query, keep_blank_values=True)
            if not (k == "max" and v in ("null", ""))
        ]
        present = {k for k, _ in query}
        for key, value in self.original.items():
            if key not in present:
                values = value if isinstance(value, list | tuple) else [value]
                query.extend((key, str(v)) for v in values)
        return urlunsplit(target._replace(query=urlencode(query)))


def _canonical(url: str, params: Params) -> str:
    """A URL with its query (plus ``params``) sorted, to recognise a page seen before."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    for key, value in (params or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        query.extend((key, str(v)) for v in values)
    return urlunsplit(parts._replace(query=urlencode(sorted(query))))
