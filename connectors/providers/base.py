"""The Provider interface: what every provider module implements.

A provider knows its endpoints, its data rules and its quirks (how it pages,
what its error codes mean, its rate limits); it knows nothing about Django
models, tasks or HTTP retries (that is ``connectors.http.ApiClient``, which calls
the provider's hooks). The providers are listed in ``providers/registry.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from connectors.exceptions import MalformedResponse

if TYPE_CHECKING:
    from connectors.http import ApiClient, Pager, Params


@dataclass(frozen=True)
class ScopeFamily:
    """One complete set of scopes that satisfies the provider (e.g. Zoom granular)."""

    name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ScopeRequirement:
    """Required scopes: any one family, fully granted, is enough.

    ``blocks`` says in a full sentence what breaks without each scope, so staff know
    what a missing scope stops. ``optional`` lists scopes we do not ask for that
    still help, with what each adds. ``products`` names the provider products
    (Zoom Phone) whose data some scopes read: a granted scope reads nothing when the
    account lacks the product, and verification tells the two apart.
    """

    families: tuple[ScopeFamily, ...]
    blocks: Mapping[str, str] = field(default_factory=dict)
    optional: Mapping[str, str] = field(default_factory=dict)
    products: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def requested(self) -> tuple[str, ...]:
        """What we ask for at authorize time: the first (preferred) family."""
        return self.families[0].scopes

    def best_family(self, granted: set[str]) -> ScopeFamily:
        """The family ``granted`` belongs to: a satisfied one, else the most overlap.

        Ties go to the first (preferred) family.
        """
        for family in self.families:
            if set(family.scopes) <= granted:
                return family
        return max(self.families, key=lambda f: len(set(f.scopes) & granted))

    def missing(self, granted: set[str] | list[str]) -> list[str]:
        granted = set(granted)
        family = self.best_family(granted)
        return [s for s in family.scopes if s not in granted]

    def excess(self, granted: set[str] | list[str]) -> list[str]:
        """Granted scopes beyond every family we know (and the optional ones); we asked
        for least privilege."""
        known = {s for f in self.families for s in f.scopes} | set(self.optional)
        return sorted(set(granted) - known)

    def product_of(self, scope: str) -> str:
        """The product whose data ``scope`` reads (``Zoom Phone``), or ""."""
        return next((name for name, scopes in self.products.items() if scope in scopes), "")

    def is_satisfied(self, granted: set[str] | list[str]) -> bool:
        return not self.missing(granted)


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_in: int | None
    refresh_token_expires_in: int | None
    granted_scopes: tuple[str, ...]
    api_base_url: str = ""

    def __repr__(self) -> str:  # never show token values
        return f"TokenSet(expires_in={self.expires_in}, scopes={len(self.granted_scopes)})"


def token_set_from_payload(
    payload: Any, *, granted_scopes: tuple[str, ...], api_base_url: str = ""
) -> TokenSet:
    """Validate a token endpoint's JSON; a missing access token is a malformed answer."""
    access = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(access, str) or not access:
        raise MalformedResponse.without_response("token response has no access_token")
    refresh = payload.get("refresh_token")
    return TokenSet(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_in=_as_int(payload.get("expires_in")),
        refresh_token_expires_in=_as_int(payload.get("refresh_token_expires_in")),
        granted_scopes=granted_scopes,
        api_base_url=api_base_url,
    )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


@dataclass
class VerifyResult:
    """What verification learned; ``notes`` are plain words for staff."""

    account: str = ""
    notes: list[str] = field(default_factory=list)
    # Products (names from ``ScopeRequirement.products``) the account does not have.
    missing_products: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Batch:
    """Records of one object type, as they arrive, plus where to resume from."""

    object_type: str
    # (stable external id, object) pairs; an empty list still carries progress.
    records: list[tuple[str, dict[str, Any]]]
    # Where a resumed fetch should start after this batch is stored (ids and cursors only).
    checkpoint: dict[str, Any] | None = None
    # Counters merged into Result.progress, e.g. windows_done, windows_total, pages.
    progress: dict[str, Any] = field(default_factory=dict)
    # Plain words for staff when an object type is empty for a reason (no Zoom Phone...).
    note: str = ""


class SubjectNotFound(Exception):
    """The provider has no account for the subject: a normal "no data found" outcome.

    The message is shown to staff; it must not contain the email address.
    """


class VerificationFailed(Exception):
    """The connection works at the HTTP level but cannot do its job; message is for staff."""


class Provider(Protocol):
    slug: str
    display_name: str
    scopes: ScopeRequirement
    # Requests per window by rate category: {"light": (80, 1.0), ...}; settings may
    # override them (CONNECTOR_RATE_LIMITS).
    rate_limits: Mapping[str, tuple[int, float]]
    # Whether a refresh answer names the granted scopes (else the stored ones stay).
    reports_granted_scopes: bool
    # Whether ``fetch_access`` takes an ``index`` keyword (see ``IndexedProvider``); the
    # fetch pipeline passes one only to such providers.
    uses_participant_index: bool

    @property
    def authorize_url(self) -> str: ...

    @property
    def token_url(self) -> str: ...

    @property
    def revoke_url(self) -> str | None:
        """The token revocation endpoint, or None when the provider has none we may use."""

    def token_request(self, *, client_id: str, client_secret: str, data: dict[str, str]) -> dict:
        """Build kwargs for ``post_form``: where the client credentials go."""

    def parse_token_response(self, payload: dict, *, requested: tuple[str, ...]) -> TokenSet: ...

    def api_base_url(self, stored: str) -> str: ...

    def scope_missing(self, status: int, provider_code: int | None) -> bool:
        """Whether an error answer with this status and body code means a missing scope."""

    def pager(
        self,
        client: ApiClient,
        path: str,
        *,
        params: Params,
        start_cursor: str | None,
        page_size: int | None,
    ) -> Pager:
        """A fresh walk through the listing at ``path``, the provider's way."""

    def verify(self, client: ApiClient) -> VerifyResult: ...

    def fetch_access(
        self, client: ApiClient, email: str, *, checkpoint: dict[str, Any] | None = None
    ) -> Iterator[Batch]: ...


class IndexedProvider(Provider, Protocol):
    """A provider with ``uses_participant_index``: its fetch can answer from a participant
    index (connectors/participant_index.py) instead of scanning the whole organisation."""

    def fetch_access(
        self,
        client: ApiClient,
        email: str,
        *,
        checkpoint: dict[str, Any] | None = None,
        # A ``connectors.providers.webex_index.IndexStore`` (not imported: that module
        # builds on this one).
        index: Any | None = None,
    ) -> Iterator[Batch]:
        """Without ``index`` (None), the same as ``Provider.fetch_access``."""
