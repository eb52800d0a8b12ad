"""Thread-safe simulator state: seed data, grants and tokens, faults, the request log."""

from __future__ import annotations

import hashlib
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import seed, truth
from .knobs import FaultRule, Knobs


def fingerprint(token: str) -> str:
    """A non-secret handle for a token: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass
class Grant:
    """What a user authorised for a client: the scopes and the current refresh token."""

    id: int
    provider: str
    client_id: str
    account: str
    user_email: str
    scopes: tuple[str, ...]
    refresh_token: str | None
    refresh_expires_at: float
    revoked: bool = False


@dataclass
class AccessToken:
    grant_id: int
    expires_at: float
    revoked: bool = False


@dataclass
class AuthCode:
    grant_args: dict[str, Any]
    redirect_uri: str
    code_challenge: str | None
    expires_at: float
    used: bool = False


@dataclass
class PageCursor:
    key: tuple[Any, ...]
    offset: int
    expires_at: float


@dataclass
class LoggedRequest:
    provider: str
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    token_fingerprint: str | None
    at: float = field(default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SimulatorState:
    """All mutable state behind one lock. Handlers call `with state.lock:`."""

    def __init__(self, knobs: Knobs | None = None, clock: Any = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or time.time
        self.wake = threading.Event()  # set on stop so slow faults end at once
        self.base_knobs = knobs or Knobs()
        self.reset()

    # ---------------------------------------------------------------- lifecycle

    def reset(self, seed_value: int | None = None, **knobs: Any) -> None:
        """Rebuild the organisation and forget tokens, faults, limits and the log."""
        with self.lock:
            self.knobs = Knobs(**self.base_knobs.as_dict())
            if seed_value is not None:
                self.knobs.seed = seed_value
            self.knobs.update(knobs)
            self.org = seed.build(
                self.knobs.seed,
                seed.floor_day(self.now()),
                self.knobs.webex_extra_instances,
                self.knobs.webex_extra_subjects,
                self.knobs.zoom_extra_call_logs,
            )
            self.rng = random.Random(self.knobs.seed)  # noqa: S311 - reproducible faults
            self.grants: dict[int, Grant] = {}
            self.tokens: dict[str, AccessToken] = {}
            self.refresh_index: dict[str, int] = {}
            self.codes: dict[str, AuthCode] = {}
            self.cursors: dict[str, PageCursor] = {}
            self.faults: list[FaultRule] = []
            self.log: list[LoggedRequest] = []
            self.hits: dict[tuple[Any, ...], deque[float]] = {}
            self.daily: dict[tuple[Any, ...], int] = {}

    def configure(self, **knobs: Any) -> None:
        """Change knobs at runtime (kept until the next reset)."""
        with self.lock:
            self.knobs.update(knobs)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def ts(self) -> float:
        return self.clock()

    # ------------------------------------------------------------------ clients

    def client(self, provider: str, client_id: str) -> seed.DemoClient | None:
        for demo in seed.DEMO_CLIENTS:
            if demo.provider == provider and demo.client_id == client_id:
                return demo
        return None

    # ------------------------------------------------------------------- tokens

    def issue_grant(
        self,
        *,
        provider: str,
        client_id: str,
        account: str,
        user_email: str,
        scopes: tuple[str, ...],
    ) -> Grant:
        with self.lock:
            knobs = self.knobs
            life = (
                knobs.webex_refresh_lifetime if provider == "webex" else knobs.zoom_refresh_lifetime
            )
            grant = Grant(
                len(self.grants) + 1,
                provider,
                client_id,
                account,
                user_email,
                tuple(scopes),
                None,
                self.ts() + life,
            )
            self.grants[grant.id] = grant
            self._new_refresh(grant)
            return grant

    def _new_refresh(self, grant: Grant) -> None:
        if grant.refresh_token:
            self.refresh_index.pop(grant.refresh_token, None)
        grant.refresh_token = self._token_value(grant)
        self.refresh_index[grant.refresh_token] = grant.id

    def _token_value(self, grant: Grant) -> str:
        if grant.provider == "webex":
            return f"{secrets.token_urlsafe(48)}_PF84_{self.org.webex.org_id[:36]}"
        return "eyJzdiI6IjAwMDAwMSIsImFsZyI6IkhTNTEyIn0." + secrets.token_urlsafe(96)

    def issue_access(self, grant: Grant, lifetime: int | None = None) -> tuple[str, int]:
        with self.lock:
            if lifetime is None:
                lifetime = self.knobs.access_lifetime_by_client.get(grant.client_id) or (
                    self.knobs.webex_access_lifetime
                    if grant.provider == "webex"
                    else self.knobs.zoom_access_lifetime
                )
            value = self._token_value(grant)
            self.tokens[value] = AccessToken(grant.id, self.ts() + lifetime)
            return value, lifetime

    def refresh(self, grant: Grant) -> tuple[str, int]:
        """Issue a new access token; rotate the refresh token when the provider does."""
        with self.lock:
            if grant.provider == "zoom" or self.knobs.webex_rotate_refresh:
                self._new_refresh(grant)
            life = (
                self.knobs.webex_refresh_lifetime
                if grant.provider == "webex"
                else self.knobs.zoom_refresh_lifetime
            )
            if grant.provider == "webex":
                grant.refresh_expires_at = self.ts() + life
            return self.issue_access(grant)

    def grant_for_refresh(self, refresh_token: str) -> Grant | None:
        with self.lock:
            grant = self.grants.get(self.refresh_index.get(refresh_token, -1))
            if grant is None or grant.revoked or grant.refresh_expires_at <= self.ts():
                return None
            return grant

    def token_status(self, token: str) -> tuple[str, Grant | None]:
        """'ok', 'expired' or 'invalid' for an access token, with its grant."""
        with self.lock:
            access = self.tokens.get(token)
            if access is None:
                return "invalid", None
            grant = self.grants[access.grant_id]
            if access.revoked or grant.revoked:
                return "invalid", None
            if access.expires_at <= self.ts():
                return "expired", grant
            return "ok", grant

    def revoke_grant(self, grant: Grant) -> None:
        with self.lock:
            grant.revoked = True

    def mint_token(
        self,
        *,
        provider: str,
        client_id: str | None = None,
        user_email: str | None = None,
        scopes: list[str] | tuple[str, ...] | None = None,
        lifetime: int | None = None,
        account: str | None = None,
    ) -> dict[str, Any]:
        """Skip the OAuth dance: a token pair for a demo client (or a given account/user)."""
        with self.lock:
            demo = self._pick_client(provider, client_id, account)
            grant = self.issue_grant(
                provider=provider,
                client_id=demo.client_id,
                account=demo.account,
                user_email=self.stored_email(provider, demo.account, user_email or demo.user_email),
                scopes=tuple(scopes) if scopes is not None else demo.scopes,
            )
            access, expires_in = self.issue_access(grant, lifetime)
            return {
                "access_token": access,
                "refresh_token": grant.refresh_token,
                "expires_in": expires_in,
                "scopes": list(grant.scopes),
                "client_id": demo.client_id,
                "account": demo.account,
                "fingerprint": fingerprint(access),
            }

    def stored_email(self, provider: str, account: str, email: str) -> str:
        """The user's email as the provider stores it; unknown users are a test bug."""
        if provider == "webex":
            person = self.org.webex.people.get(email.lower())
            if person is not None:
                return person.email
        else:
            for user in self.org.zoom[account].users:
                if user.email.lower() == email.lower():
                    return user.email
        raise ValueError(f"no {provider} user {email!r} in account {account!r}")

    def _pick_client(
        self, provider: str, client_id: str | None, account: str | None
    ) -> seed.DemoClient:
        for demo in seed.DEMO_CLIENTS:
            if demo.provider != provider:
                continue
            if client_id and demo.client_id != client_id:
                continue
            if account and demo.account != account:
                continue
            return demo
        raise ValueError("no demo client matches")

    def expire_token(self, token: str) -> None:
        """Make an access token expired now (refresh still works)."""
        with self.lock:
            if token in self.tokens:
                self.tokens[token].expires_at = self.ts() - 1

    def revoke_token(self, token: str) -> None:
        """Revoke the grant behind an access or refresh token."""
        with self.lock:
            grant_id = self.tokens[token].grant_id if token in self.tokens else None
            grant_id = grant_id or self.refresh_index.get(token)
            if grant_id:
                self.grants[grant_id].revoked = True

    # ------------------------------------------------------------------- codes

    def new_code(self, provider: str, code: AuthCode) -> str:
        with self.lock:
            value = secrets.token_urlsafe(32)
            if provider == "webex":
                value += "_PF84_" + self.org.webex.org_id[:36]
            self.codes[value] = code
            return value

    # ------------------------------------------------------------ page cursors

    def new_cursor(self, key: tuple[Any, ...], offset: int) -> str:
        with self.lock:
            value = secrets.token_urlsafe(24)
            self.cursors[value] = PageCursor(
                key, offset, self.ts() + self.knobs.zoom_page_token_ttl
            )
            return value

    def take_cursor(self, value: str, key: tuple[Any, ...]) -> int | None:
        with self.lock:
            cursor = self.cursors.get(value)
            if cursor is None or cursor.key != key or cursor.expires_at <= self.ts():
                return None
            return cursor.offset

    def expire_cursors(self) -> None:
        """Age every Zoom next_page_token past its 15 minutes."""
        with self.lock:
            for cursor in self.cursors.values():
                cursor.expires_at = self.ts() - 1

    # ------------------------------------------------------------------ faults

    def add_fault(self, rule: FaultRule | None = None, **fields: Any) -> FaultRule:
        """Script: the next `count` requests matching provider/path prefix get this answer."""
        with self.lock:
            rule = rule or FaultRule.from_dict(fields)
            self.faults.append(rule)
            return rule

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def take_fault(self, provider: str, method: str, path: str) -> FaultRule | None:
        with self.lock:
            for rule in self.faults:
                if rule.matches(provider, method, path):
                    if rule.skip > 0:
                        rule.skip -= 1
                        return None
                    rule.count -= 1
                    return rule
            return None

    def random_fault(self, provider: str) -> str | None:
        """Draw from the seeded RNG: None, '429', '5xx', 'bad_json', 'html', 'wrong_shape'
        or 'slow'."""
        with self.lock:
            k = self.knobs
            if k.fault_provider and k.fault_provider != provider:
                return None
            for name, rate in (
                ("429", k.rate_429),
                ("5xx", k.rate_5xx),
                ("malformed", k.rate_malformed),
                ("bad_body", k.rate_bad_body),
                ("slow", k.rate_slow),
            ):
                if rate and self.rng.random() < rate:
                    if name == "malformed":
                        return self.rng.choice(["bad_json", "html"])
                    if name == "bad_body":
                        return self.rng.choice(["bad_json", "wrong_shape"])
                    return name
            return None

    # ------------------------------------------------------------- rate limits

    def hit(self, key: tuple[Any, ...], limit: int, window: float) -> float | None:
        """Count a request in a sliding window; return seconds to wait when over the limit."""
        with self.lock:
            now = self.ts()
            stamps = self.hits.setdefault(key, deque())
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= limit:
                return max(stamps[0] + window - now, 0.001)
            stamps.append(now)
            return None

    def hit_daily(self, key: tuple[Any, ...], limit: int) -> bool:
        """Count against a per-UTC-day quota; True when the quota is spent."""
        with self.lock:
            day_key = (*key, self.now().date())
            if self.daily.get(day_key, 0) >= limit:
                return True
            self.daily[day_key] = self.daily.get(day_key, 0) + 1
            return False

    # ------------------------------------------------------------- request log

    def record(self, entry: LoggedRequest) -> None:
        with self.lock:
            entry.at = self.ts()
            self.log.append(entry)

    def requests(self, provider: str | None = None, path_prefix: str = "") -> list[LoggedRequest]:
        with self.lock:
            return [
                r
                for r in self.log
                if (provider is None or r.provider == provider) and r.path.startswith(path_prefix)
            ]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    # ------------------------------------------------------------ truth helpers

    def expected_webex_meetings(
        self, email: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Webex instances `email` took part in, start in [start, end); see truth.py."""
        with self.lock:
            start = start or self.now() - timedelta(days=365)
            return truth.webex_meetings(self.org, email, start, end or self.now(), self.now())

    def expected_zoom_counts(
        self, email: str, account: str = "full", lookback_days: int = 365
    ) -> dict[str, Any]:
        """Zoom object counts per type a complete fetch for `email` must return."""
        with self.lock:
            return truth.zoom_counts(
                self.org,
                account,
                email,
                self.now(),
                lookback_days,
                self.knobs.zoom_email_case_sensitive,
            )
