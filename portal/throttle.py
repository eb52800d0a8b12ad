"""Fixed-window rate limits shared by every process: API tokens, the subject's pages.

Counters live in the default cache (Redis in production, ``portal.cache``'s
database cache that never evicts a live key otherwise). Each hit claims a numbered
slot with ``cache.add``, so the count is exact even where ``incr`` is not atomic
(the database cache). Windows are aligned to the epoch.
"""

from __future__ import annotations

from django.core.cache import cache
from django.utils import timezone

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(value: str) -> tuple[int, int] | None:
    """``"120/m"`` -> (120, 60); units s, m, h, d. Empty or ``0`` means no limit."""
    value = (value or "").strip()
    if value in ("", "0"):
        return None
    count, _, unit = value.partition("/")
    if unit not in _UNITS or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"A rate limit must look like 120/m or 10/h, not {value!r}.")
    return int(count), _UNITS[unit]


def throttle_hit(key: str, rate: str) -> int:
    """Count one hit for ``key``: 0 if it may proceed, else whole seconds until the
    window ends (for ``Retry-After``). ``key`` must carry no personal data."""
    parsed = parse_rate(rate)
    if parsed is None:
        return 0
    limit, seconds = parsed
    now = timezone.now().timestamp()
    window = int(now // seconds)
    retry_after = max(int((window + 1) * seconds - now + 0.999), 1)
    counter = f"throttle:{key}:{window}"
    ttl = seconds + 60
    for _ in range(limit + 1):
        cache.add(counter, 0, timeout=ttl)
        try:
            n = cache.incr(counter)
        except ValueError:  # expired between add and incr
            continue
        if n > limit:
            return retry_after
        if cache.add(f"{counter}:{n}", 1, timeout=ttl):
            return 0
    return retry_after
