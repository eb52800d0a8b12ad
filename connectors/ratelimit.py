"""A rate-limit budget shared by every worker on every machine, kept in Django's cache.

One ``RateBudget`` per provider account (Zoom) or token/connection (Webex). Each
category has ``requests`` per ``seconds`` in fixed windows aligned to the epoch;
``acquire()`` takes a slot or waits (through ``connectors.clock``) for the next
window. After a 429, or a response saying ``X-RateLimit-Remaining: 0``, the budget
stores a shared "blocked until" so every client using the same key pauses.

Defaults come from each provider (``Provider.rate_limits``: see
``connectors.providers``); ``settings.CONNECTOR_RATE_LIMITS`` overrides them, same
shape. A budget made without limits uses the settings alone.

Guarantees: counting uses ``cache.incr``, which is atomic on Redis, memcached and
LocMem. On other backends (database, file) each slot is also claimed with
``cache.add`` of a per-slot key; that makes the limit exact on the database cache
(primary-key insert) and best effort on the file cache, whose ``add`` is not atomic.
Without Redis the default cache is ``portal.cache.NonCullingDatabaseCache``, which
never drops a live key, so the per-slot claims are exact. Django's own
``DatabaseCache`` is unsafe for the budget: at ``MAX_ENTRIES`` it culls keys whether
live or not, and a culled slot is claimed again, so more calls pass than the limit.
Fixed windows allow up to twice the limit across a window boundary; provider
windows are not aligned with ours anyway, and a 429 is handled by the shared block.
The "blocked until" value only ever moves later, but two workers recording a block
at once may keep the earlier one (get-then-set); the next 429 corrects it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from django.conf import settings
from django.core.cache import cache, caches

from connectors import clock

FALLBACK_LIMIT = (60, 1.0)
# Pause after a 429 that gave no usable Retry-After.
DEFAULT_429_PAUSE = 1.0
_ATOMIC_BACKENDS = ("RedisCache", "LocMemCache", "PyMemcacheCache", "PyLibMCCache")
_NUMBER = re.compile(r"^\s*\d+(\.\d+)?\s*$")


class ProviderLimits(Protocol):
    """The part of a provider a budget needs (``connectors.providers.base.Provider``)."""

    slug: str
    rate_limits: Mapping[str, tuple[int, float]]


@dataclass(frozen=True)
class Limit:
    requests: int
    seconds: float


class BudgetWaitTooLong(Exception):
    """Waiting for a slot would exceed the caller's ``max_wait``."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("rate budget wait too long")
        self.retry_after = retry_after


def configured_limits(
    provider: str, defaults: Mapping[str, tuple[int, float]] | None = None
) -> dict[str, Limit]:
    """The provider's limits: ``defaults`` overlaid with ``settings.CONNECTOR_RATE_LIMITS``."""
    merged = dict(defaults or {})
    merged.update(getattr(settings, "CONNECTOR_RATE_LIMITS", {}).get(provider, {}))
    return {name: Limit(int(n), float(s)) for name, (n, s) in merged.items()}


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After``: seconds, an HTTP-date or an ISO-8601 date."""
    if not value:
        return None
    if _NUMBER.match(value):
        return float(value)
    when: datetime | None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        when = None
    if when is None:
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


class RateBudget:
    """Slots per (provider, key, category) held in the shared cache."""

    def __init__(
        self,
        *,
        provider: str,
        key: str,
        limits: Mapping[str, Limit | tuple[int, float]] | None = None,
    ) -> None:
        self.provider = provider
        # Keys may be tokens or account IDs: only a digest reaches the cache.
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        self._prefix = f"ratelimit:{provider}:{digest}"
        source = limits if limits is not None else configured_limits(provider)
        self.limits = {
            name: v if isinstance(v, Limit) else Limit(int(v[0]), float(v[1]))
            for name, v in source.items()
        }

    @classmethod
    def for_provider(cls, provider: ProviderLimits, *, key: str) -> RateBudget:
        """A budget with the provider's default limits (and the settings' overrides)."""
        return cls(
            provider=provider.slug,
            key=key,
            limits=configured_limits(provider.slug, provider.rate_limits),
        )

    def limit(self, category: str) -> Limit:
        return (
            self.limits.get(category.lower())
            or self.limits.get("default")
            or Limit(*FALLBACK_LIMIT)
        )

    def acquire(self, category: str = "default", *, max_wait: float | None = None) -> float:
        """Take one slot, sleeping until one is free. Returns the seconds slept.

        Raises ``BudgetWaitTooLong`` instead of sleeping past ``max_wait`` in total.
        """
        category = category.lower()
        waited = 0.0
        while True:
            now = clock.now().timestamp()
            wait = self._blocked_for(category, now)
            if wait <= 0:
                limit = self.limit(category)
                window = int(now // limit.seconds)
                if self._claim(category, window, limit):
                    return waited
                wait = (window + 1) * limit.seconds - now
            wait = max(wait, 0.001)
            if max_wait is not None and waited + wait > max_wait:
                raise BudgetWaitTooLong(retry_after=wait)
            clock.sleep(wait)
            waited += wait

    def block_for(self, category: str, seconds: float) -> None:
        """Pause every client of this budget and category for ``seconds`` from now."""
        now = clock.now().timestamp()
        until = now + max(seconds, 0.0)
        key = self._block_key(category.lower())
        current = cache.get(key)
        if current is None or until > current:
            cache.set(key, until, timeout=int(seconds) + 5)

    def blocked_for(self, category: str = "default") -> float:
        """Seconds left in a shared pause (0 when not blocked)."""
        return max(self._blocked_for(category.lower(), clock.now().timestamp()), 0.0)

    def observe(self, category: str, status: int, headers: Mapping[str, str]) -> None:
        """Learn from a response: 429 or ``X-RateLimit-Remaining: 0`` pause everyone."""
        now = clock.now()
        retry_after = parse_retry_after(headers.get("Retry-After"), now)
        if status == 429:
            self.block_for(category, retry_after if retry_after is not None else DEFAULT_429_PAUSE)
            return
        if (headers.get("X-RateLimit-Remaining") or "").strip() != "0":
            return
        reset = headers.get("X-RateLimit-Reset") or ""
        if _NUMBER.match(reset):
            value = float(reset)
            # A large number is a unix timestamp, a small one a delay in seconds.
            pause = value - now.timestamp() if value > 1_000_000_000 else value
        elif retry_after is not None:
            pause = retry_after
        else:
            pause = self.limit(category).seconds
        self.block_for(category, max(pause, 0.0))

    def _blocked_for(self, category: str, now: float) -> float:
        until = cache.get(self._block_key(category))
        return (until - now) if until is not None else 0.0

    def _block_key(self, category: str) -> str:
        return f"{self._prefix}:{category}:blocked"

    def _claim(self, category: str, window: int, limit: Limit) -> bool:
        counter = f"{self._prefix}:{category}:{window}"
        ttl = int(limit.seconds) + 60
        for _ in range(limit.requests + 1):
            cache.add(counter, 0, timeout=ttl)
            try:
                n = cache.incr(counter)
            except ValueError:  # expired between add and incr
                continue
            if n > limit.requests:
                return False
            if type(caches["default"]).__name__ in _ATOMIC_BACKENDS:
                return True
            # Non-atomic incr: two workers may read the same n; the slot key decides.
            if cache.add(f"{counter}:{n}", 1, timeout=ttl):
                return True
        return False
