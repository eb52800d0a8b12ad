"""Behaviour knobs and fault rules: everything a test or the CLI can tune."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

WEBEX_ACCESS_LIFETIME = 1209599  # 14 days minus a second, as observed
WEBEX_REFRESH_LIFETIME = 7776000  # 90 days
ZOOM_ACCESS_LIFETIME = 3599
ZOOM_REFRESH_LIFETIME = 15 * 365 * 86400  # "Refresh tokens expire after 15 years"


@dataclass
class Knobs:
    """Tunable behaviour. Defaults reproduce the real services as documented."""

    seed: int = 20240601
    # OAuth
    consent_page: bool = False
    # Who signs in at /authorize, per provider ({"webex": email}); default: the demo admin.
    authorize_users: dict[str, str] = field(default_factory=dict)
    code_lifetime_webex: int = 300
    code_lifetime_zoom: int = 300
    webex_access_lifetime: int = WEBEX_ACCESS_LIFETIME
    webex_refresh_lifetime: int = WEBEX_REFRESH_LIFETIME
    webex_rotate_refresh: bool = False
    zoom_access_lifetime: int = ZOOM_ACCESS_LIFETIME
    # Access token lifetime for one client ({client_id: seconds}); overrides the above.
    access_lifetime_by_client: dict[str, int] = field(default_factory=dict)
    zoom_refresh_lifetime: int = ZOOM_REFRESH_LIFETIME
    zoom_reauth_revokes_previous: bool = True
    # Webex API
    webex_link_defects: bool = False
    webex_instance_cap: int = 10000
    webex_people_me_requires_scope: bool = False
    webex_rate_per_minute: int = 300
    webex_rate_window: float = 60.0
    # A larger organisation for benchmarks (applied at reset): extra ended instances over
    # the last year, and people (seed.BENCH_SUBJECT_EMAIL) in about 20 of them each.
    webex_extra_instances: int = 0
    webex_extra_subjects: int = 0
    # More Zoom Phone history for benchmarks (applied at reset): that many extra call logs
    # of seed.SUBJECT_EMAIL in account "full", spread over the last six months.
    zoom_extra_call_logs: int = 0
    # Zoom API
    zoom_email_case_sensitive: bool = False
    zoom_page_token_ttl: int = 900
    zoom_qps: dict[str, int] = field(default_factory=lambda: {"Light": 80, "Medium": 60})
    zoom_qps_window: float = 1.0
    zoom_daily_limit: dict[str, int] = field(default_factory=dict)
    zoom_ratelimit_headers: bool = True
    zoom_qps_retry_after: bool = False
    # Random faults (seeded RNG); rates are probabilities per request, 0..1.
    fault_provider: str | None = None
    latency: float = 0.0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_malformed: float = 0.0
    # A 200 whose body is unusable: truncated JSON or a JSON array instead of an object.
    rate_bad_body: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 5.0

    def update(self, values: dict[str, Any]) -> None:
        """Apply known knob values; unknown names are a programming error."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown simulator knobs: {sorted(unknown)}")
        for name, value in values.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class FaultRule:
    """A scripted fault: the next `count` matching requests get this response.

    `kind` is "status" (status/headers/body as given), "bad_json", "html" or "slow"
    (sleep `delay` seconds, then answer normally). `skip` lets the first matching
    requests through untouched, so a test can fail, say, the third page of a list.
    """

    provider: str | None = None
    path_prefix: str = ""
    method: str | None = None
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    count: int = 1
    kind: str = "status"
    delay: float = 0.0
    skip: int = 0  # let this many matching requests through first (e.g. fail page 3)

    def matches(self, provider: str, method: str, path: str) -> bool:
        if self.count <= 0:
            return False
        if self.provider and self.provider != provider:
            return False
        if self.method and self.method.upper() != method:
            return False
        return path.startswith(self.path_prefix)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FaultRule:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if values.get("kind", "status") not in {"status", "bad_json", "html", "slow"}:
            raise ValueError("kind must be status, bad_json, html or slow")
        return cls(**values)
