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

Adaptive categories (Webex, which publishes no rate: see docs/providers.md,
'Webex: rate limits') learn the rate instead of trusting a number; see
``Adaptive`` and ``RateBudget`` for the controller. Fixed categories (Zoom's
published per-category limits) keep the fixed windows above.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import threading
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
# On a cache without atomic counters (the database cache) a claim is several write
# transactions. The threads of one process take turns through this lock instead of
# through SQLite's busy handler, which sleeps in growing steps (up to 100 ms) before
# trying again: forty fetch threads queued there waited hundreds of milliseconds for
# a slot that was free. Other processes still meet at the database's own lock.
_WRITE_TURNS = threading.Lock()
# The threads of a process that start a tick together wait for the one judging the tick
# before it: otherwise they claim the new tick's slots at the old rate while it judges,
# and every change of the rate reaches the calls a tick late (slow start doubled every
# other second).
_JUDGING = threading.Lock()


def _atomic_cache() -> bool:
    """Whether the default cache counts atomically (else each slot is also claimed)."""
    return type(caches["default"]).__name__ in _ATOMIC_BACKENDS


def _turns() -> contextlib.AbstractContextManager[object]:
    return contextlib.nullcontext() if _atomic_cache() else _WRITE_TURNS


_NUMBER = re.compile(r"^\s*\d+(\.\d+)?\s*$")

# Ceilings of the adaptive categories, same shape as ``CONNECTOR_RATE_LIMITS``; the
# ``CONNECTOR_RATE_CEILINGS`` setting overrides them. A category with a ceiling starts at
# its configured limit and learns; one without keeps its fixed limit. Webex publishes no
# figure (300/minute is Contact Center's), organisations differ by ten times and more.
DEFAULT_CEILINGS: dict[str, dict[str, tuple[int, float]]] = {"webex": {"default": (6000, 60.0)}}
# The adaptive controller (see ``RateBudget``). Ticks are one second, aligned to the epoch.
TICK = 1.0
ADAPTIVE_FLOOR = 1.0  # calls per second: never slower (a 429 still waits its Retry-After)
ADAPTIVE_CUT = 0.9  # the most a cut keeps; deeper when more calls were refused
CUT_MARGIN = 0.95  # a cut goes this far under the rate that got through
ADAPTIVE_STEP = 0.02  # additive increase per tick, as a share of the ceiling (>= 1/s)
CREEP = 0.1  # near the rate of the last cut the increase shrinks to this share of a step
# Without noise: the rate holds at this share of the pace of the last cut, and takes a
# step over it after this many seconds without a cut.
APPROACH = 0.96
PROBE_AFTER = 60
# A tick raises the rate only if it used this share of its quota (in slow start, when
# the work is still ramping up, half): a pace nobody uses is not evidence of the limit.
ADAPTIVE_BUSY = 0.8
SLOW_START_BUSY = 0.5
NOISE_MIN_CALLS = 5  # fewer reference answers than this: the noise is taken as zero
NOISE_KNOWN_CALLS = 50  # reference answers before any 429 beyond the noise cuts slow start
NOISE_POOL_MAX = 500  # reference answers kept (older ones are scaled away)
NOISE_PLAUSIBLE_MAX = 0.3  # a larger share of 429s is never taken for random refusals
GRANTED_SHARE = 0.9  # a tick that let fewer through than this share of the most cannot
GRANTED_DECAY = 0.99  # have met the limit; the most decays per tick (a limit may drop)
SATURATED_SHARE = 0.97  # a tick that let through this share of the most met the limit
OFFERED_MORE = 1.05  # ... if the pace offered this much more than got through
# In slow start, a tick with too many 429s that sent at least this many times the most
# answers granted before, but got fewer than that through, met the limit (below it,
# doubling the pace nearly doubles the answers): slow start ends, and its 429s are
# not taken for noise.
SLOW_START_GROWTH = 1.5
# A 429 pauses every worker of an adaptive budget only when the provider asks for a
# longer pause than this; shorter ones are pacing, answered by the cut.
ADAPTIVE_BLOCK_MIN = 5.0
CLAIM_AHEAD_TICKS = 2  # a paced slot is claimed in this tick or the next, never further
LEARNED_TTL = 30 * 86400  # the learned rate is remembered this long after its last use


class ProviderLimits(Protocol):
    """The part of a provider a budget needs (``connectors.providers.base.Provider``)."""

    slug: str
    rate_limits: Mapping[str, tuple[int, float]]


@dataclass(frozen=True)
class Limit:
    requests: int
    seconds: float


@dataclass(frozen=True)
class Adaptive:
    """An adaptive category: starts at ``start`` calls per second, never above ``ceiling``."""

    start: float
    ceiling: float

    @property
    def floor(self) -> float:
        return min(ADAPTIVE_FLOOR, self.start)

    @property
    def step(self) -> float:
        return max(1.0, self.ceiling * ADAPTIVE_STEP)


@dataclass
class _Learned:
    """What an adaptive category remembers in the shared cache (per connection).

    The provider's noise (429s that come whatever our pace) is estimated from ticks
    that cannot have met the limit: those that got clearly fewer answers through
    than the most the provider has granted in a tick (``granted``), and slow start's
    before its first cut with the noise known. A faster tick is judged against
    that pool. A pool over every tick would learn the limit's own 429s as noise and
    climb past it; leaving out the ticks that were cut would keep the estimate at
    zero and cut every noisy tick; a median of per-tick shares reads zero at a slow
    pace (most small ticks see no 429).
    """

    rate: float
    slow_start: bool = True
    granted: float = 0.0  # the most answers let through in one tick (decays slowly)
    ref_ok: float = 0.0  # answers of the noise pool
    ref_throttled: float = 0.0
    peak: float = 0.0  # the pace of the last cut: the increase creeps near it
    settling: bool = False  # the tick after a cut: judged by neither cut nor raise
    calm: int = 0  # seconds judged since the last cut

    def as_dict(self) -> dict[str, object]:
        return {
            "rate": self.rate,
            "slow_start": self.slow_start,
            "granted": self.granted,
            "ref_ok": self.ref_ok,
            "ref_throttled": self.ref_throttled,
            "peak": self.peak,
            "settling": self.settling,
            "calm": self.calm,
        }

    @classmethod
    def from_value(cls, value: object, adaptive: Adaptive) -> _Learned:
        learned = cls(adaptive.start)
        if isinstance(value, dict):
            try:
                learned = cls(
                    rate=float(value["rate"]),
                    slow_start=bool(value.get("slow_start", True)),
                    granted=max(float(value.get("granted", 0.0)), 0.0),
                    ref_ok=max(float(value.get("ref_ok", 0.0)), 0.0),
                    ref_throttled=max(float(value.get("ref_throttled", 0.0)), 0.0),
                    peak=max(float(value.get("peak", 0.0)), 0.0),
                    settling=bool(value.get("settling", False)),
                    calm=max(int(value.get("calm", 0)), 0),
                )
            except (KeyError, TypeError, ValueError):
                learned = cls(adaptive.start)
        learned.rate = min(max(learned.rate, adaptive.floor), adaptive.ceiling)
        return learned

    @property
    def reference_calls(self) -> float:
        return self.ref_ok + self.ref_throttled

    @property
    def noise(self) -> float:
        """The provider's share of 429s that do not depend on our pace."""
        calls = self.reference_calls
        return self.ref_throttled / calls if calls >= NOISE_MIN_CALLS else 0.0

    def allowed(self, calls: int) -> float:
        """The most 429s among ``calls`` answers the noise explains: its estimate plus
        one standard error of that estimate, then two standard deviations and a half
        (with no noise seen, that is zero: one 429 is the limit)."""
        noise = self.noise
        if noise:
            noise = min(noise + math.sqrt(noise * (1 - noise) / self.reference_calls), 1.0)
        expected = noise * calls
        return expected + 2 * math.sqrt(expected * (1 - noise)) + 0.5

    def judge(self, ok: int, throttled: int, adaptive: Adaptive) -> str:
        """Update from one finished tick's answers; returns "cut", "raise" or "hold".

        More 429s than the noise explains cut the rate to ``CUT_MARGIN`` of what got
        through beyond the noise, and at least by ``ADAPTIVE_CUT``, and end slow start;
        while the noise is not yet known, slow start is cut only when the limit was
        plainly met (the answers stalled, or far more 429s than noise could explain).
        The tick after a cut only settles (its answers include calls
        paced before the cut). A tick that used enough of its quota without that raises
        the rate: doubling in slow start, then by ``Adaptive.step``, slowing near the
        pace of the last cut (see ``_step``: held under it without noise, crept past it
        with noise) so the limit is probed rarely. Counts are shares, so counters that
        lost an update on a non-atomic cache only blur them.
        """
        self.calm += 1
        if self.settling:
            # The tick after a cut still carries answers to calls paced before it: it
            # neither cuts again nor raises, and its 429s are not noise.
            self.settling = False
            self._note_granted(ok)
            return "hold"
        calls = ok + throttled
        # The provider has let clearly more through in a tick. Without noise so far, the
        # pace must also be clear of that of the last cut that met the limit: there,
        # calls that bunch after a stall meet the limit's sliding window although
        # fewer got through, and taking those 429s for noise would set off a climb
        # past the limit.
        below_limit = ok <= GRANTED_SHARE * self.granted and not (
            self.peak and not self.noise and self.rate >= GRANTED_SHARE * self.peak
        )
        noise_known = self.reference_calls >= NOISE_KNOWN_CALLS
        # Near the most the provider ever let through in a tick: maybe the limit.
        at_granted = ok >= SATURATED_SHARE * self.granted > 0
        # At the limit the answers let through stop growing although the pace offers
        # more: then any 429s beyond the noise's own share are the limit's.
        saturated = (
            noise_known
            and at_granted
            and ok <= self.granted
            and self.rate * period(self.rate) * (1 - self.noise) >= OFFERED_MORE * ok
        )
        over = throttled > self.allowed(calls) or (saturated and throttled > self.noise * calls + 1)
        # Slow start doubles the pace: below the limit the answers let through grow with
        # it. When the calls grew but the answers let through did not, the 429s are the
        # limit's, noise known or not (a tick short of work sent no more calls).
        stalled = ok < SLOW_START_GROWTH * self.granted <= calls
        # Nor are far more 429s than the answers so far make plausible as noise (a
        # slow start short of work may meet the limit with its answers still growing).
        limit_met = stalled or throttled > self._plausible_noise(calls)
        if over and self.slow_start and not noise_known and not limit_met:
            # Before the noise is known, 429s that random refusals could explain do not
            # cut slow start (halving it there cost seconds at a tenth of the pace): they
            # are pooled, and the stall shows the limit.
            over = False
        verdict = "hold"
        if over:
            through = 1 - max(throttled / calls - self.noise, 0.0)
            # Under the rate that got through, measured both as a share of the calls
            # and as answers a second (calls may not have used the whole quota), and
            # never more than halved at once.
            let_in = ok / max(1 - self.noise, 0.5) / period(self.rate)
            cut = min(
                self.rate * min(ADAPTIVE_CUT, through * CUT_MARGIN),
                max(let_in * CUT_MARGIN, self.rate / 2),
            )
            self.settling = True
            self.calm = 0
            self.slow_start = False
            # Creep near this pace only if it met the limit (a cut the noise caused
            # below the limit would otherwise hold the climb back).
            self.peak = self.rate if at_granted else 0.0
            self.rate = cut
            verdict = "cut"
        elif calls >= (SLOW_START_BUSY if self.slow_start else ADAPTIVE_BUSY) * self.rate * period(
            self.rate
        ):
            self.rate = self.rate * 2 if self.slow_start else self.rate + self._step(adaptive)
            verdict = "raise"
        if calls and (below_limit or self.slow_start):
            self._pool(ok, throttled)
        self._note_granted(ok)
        self.rate = min(max(self.rate, adaptive.floor), adaptive.ceiling)
        return verdict

    def _plausible_noise(self, calls: int) -> float:
        """The most 429s among ``calls`` that random refusals could explain, judged
        from the answers pooled so far with a rule-of-three prior: no 429s in n answers
        still allows a share of about 3 / n, and never more than ``NOISE_PLAUSIBLE_MAX``."""
        share = min((self.ref_throttled + 3) / (self.reference_calls + 3), NOISE_PLAUSIBLE_MAX)
        expected = share * calls
        return expected + 2 * math.sqrt(expected * (1 - share)) + 0.5

    def _note_granted(self, ok: int) -> None:
        self.granted = max(self.granted * GRANTED_DECAY, float(ok))

    def _step(self, adaptive: Adaptive) -> float:
        step = adaptive.step
        if not self.peak:
            return step
        if self.noise:
            # A cut may have been the noise's: halve the distance to it, creep past it,
            # then double the step again, so a cut the noise caused is left behind.
            if self.rate < self.peak:
                return max(step * CREEP, min(step, (self.peak - self.rate) / 2))
            return max(step * CREEP, min(step, self.rate - self.peak))
        # Without noise every cut was the limit's. Close in on a pace just under it and
        # hold there (calls sent at the very limit meet it whenever their sending
        # jitters); every ``PROBE_AFTER`` seconds take one step over it, in case the
        # limit rose.
        near = self.peak * APPROACH
        if self.rate < near:
            return max(step * CREEP, min(step, (near - self.rate) / 2))
        if self.rate < self.peak and self.calm < PROBE_AFTER:
            return 0.0
        return step

    def _pool(self, ok: int, throttled: int) -> None:
        self.ref_ok += ok
        self.ref_throttled += throttled
        total = self.reference_calls
        if total > NOISE_POOL_MAX:
            scale = NOISE_POOL_MAX / total
            self.ref_ok *= scale
            self.ref_throttled *= scale


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


def configured_ceilings(provider: str) -> dict[str, Limit]:
    """The provider's adaptive ceilings: ``DEFAULT_CEILINGS`` and ``CONNECTOR_RATE_CEILINGS``."""
    merged = dict(DEFAULT_CEILINGS.get(provider, {}))
    merged.update(getattr(settings, "CONNECTOR_RATE_CEILINGS", {}).get(provider, {}))
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
    """Slots per (provider, key, category) held in the shared cache.

    Fixed categories count calls in fixed windows. Adaptive categories (``adaptive``)
    pace calls evenly at a learned rate: each one-second tick has ``rate`` slots, the
    first caller of a tick counts the slots already past as taken, and slot n of a
    tick starts at ``n / rate`` seconds into it, so workers on every machine send at
    an even pace rather than in bursts at the start of a window. Every answer is
    counted per tick (``observe``); the first caller of the next tick judges the
    finished one (see ``_Learned.judge``: additive increase while calls succeed,
    multiplicative decrease on 429s or a falling ``X-RateLimit-Remaining`` beyond the
    provider's noise) and stores the rate for the connection, so the next scan
    starts where the last one ended.
    """

    def __init__(
        self,
        *,
        provider: str,
        key: str,
        limits: Mapping[str, Limit | tuple[int, float]] | None = None,
        ceilings: Mapping[str, Limit | tuple[int, float]] | None = None,
    ) -> None:
        self.provider = provider
        # Keys may be tokens or account IDs: only a digest reaches the cache.
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        self._prefix = f"ratelimit:{provider}:{digest}"
        source = limits if limits is not None else configured_limits(provider)
        self.limits = {name: _limit(v) for name, v in source.items()}
        self.adaptive: dict[str, Adaptive] = {}
        for name, value in (ceilings or {}).items():
            start, ceiling = self.limit(name), _limit(value)
            per_second = start.requests / start.seconds
            top = max(ceiling.requests / ceiling.seconds, per_second)
            self.adaptive[name.lower()] = Adaptive(start=per_second, ceiling=top)
        self._adjusted: dict[str, tuple[float, int]] = {}  # category -> last tick judged here
        self._rates: dict[str, float] = {}  # category -> the rate this instance last paced at

    @classmethod
    def for_provider(cls, provider: ProviderLimits, *, key: str) -> RateBudget:
        """A budget with the provider's default limits (and the settings' overrides)."""
        return cls(
            provider=provider.slug,
            key=key,
            limits=configured_limits(provider.slug, provider.rate_limits),
            ceilings=configured_ceilings(provider.slug),
        )

    def limit(self, category: str) -> Limit:
        return (
            self.limits.get(category.lower())
            or self.limits.get("default")
            or Limit(*FALLBACK_LIMIT)
        )

    def rate(self, category: str = "default") -> float | None:
        """The learned calls per second of an adaptive category (None for a fixed one)."""
        adaptive = self._adaptive(category.lower())
        if adaptive is None:
            return None
        return self._learned(category.lower(), adaptive).rate

    def acquire(self, category: str = "default", *, max_wait: float | None = None) -> float:
        """Take one slot, sleeping until one is free. Returns the seconds slept.

        Raises ``BudgetWaitTooLong`` instead of sleeping past ``max_wait`` in total.
        """
        category = category.lower()
        adaptive = self._adaptive(category)
        waited = 0.0
        while True:
            now = clock.now().timestamp()
            wait = self._blocked_for(category, now)
            if wait <= 0 and adaptive is not None:
                with _JUDGING:
                    self._judge_previous_tick(category, adaptive, now)
                rate = self._learned(category, adaptive).rate
                self._rates[category] = rate
                with _turns():
                    at = self._claim_paced(category, now, rate)
                if at is not None:
                    wait = at - now
                    if wait <= 0:
                        return waited
                    if max_wait is not None and waited + wait > max_wait:
                        raise BudgetWaitTooLong(retry_after=wait)
                    clock.sleep(wait)
                    return waited + wait
                # This tick and the next are taken: ask again when the next one starts,
                # at the rate learned by then (a claim far ahead would keep an old pace).
                length = period(rate)
                wait = (int(now // length) + 1) * length - now
            if wait <= 0:
                limit = self.limit(category)
                window = int(now // limit.seconds)
                with _turns():
                    claimed = self._claim(category, window, limit)
                if claimed:
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
        """Learn from a response: 429 or ``X-RateLimit-Remaining: 0`` pause everyone.

        In an adaptive category the answer is also counted for the tick, and a 429
        pauses everyone only when its ``Retry-After`` is longer than
        ``ADAPTIVE_BLOCK_MIN`` (shorter ones are answered by slowing down).
        """
        category = category.lower()
        now = clock.now()
        retry_after = parse_retry_after(headers.get("Retry-After"), now)
        adaptive = self._adaptive(category)
        if adaptive is not None and status < 500:
            rate = self._rates.get(category) or self._learned(category, adaptive).rate
            with _turns():
                self._count(
                    category, now.timestamp(), throttled=_throttled(status, headers), rate=rate
                )
        if status == 429:
            pause = retry_after if retry_after is not None else DEFAULT_429_PAUSE
            if adaptive is None or pause > ADAPTIVE_BLOCK_MIN:
                self.block_for(category, pause)
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

    # --- adaptive categories --------------------------------------------------------

    def _adaptive(self, category: str) -> Adaptive | None:
        return self.adaptive.get(category) or (
            self.adaptive.get("default") if category not in self.limits else None
        )

    def _learned_key(self, category: str) -> str:
        return f"{self._prefix}:{category}:learned"

    def _learned(self, category: str, adaptive: Adaptive) -> _Learned:
        return _Learned.from_value(cache.get(self._learned_key(category)), adaptive)

    def _tick_key(self, category: str, length: float, tick: int, what: str) -> str:
        return f"{self._prefix}:{category}:tick:{length:g}:{tick}:{what}"

    def _count(self, category: str, now: float, *, throttled: bool, rate: float) -> None:
        length = period(rate)
        key = self._tick_key(category, length, int(now // length), "429" if throttled else "ok")
        cache.add(key, 0, timeout=int(length * 2) + 60)
        with contextlib.suppress(ValueError):  # expired since the add: a statistic, not a slot
            cache.incr(key)

    def _judge_previous_tick(self, category: str, adaptive: Adaptive, now: float) -> None:
        """The first caller of a tick (on any machine) judges the one before it."""
        learned = self._learned(category, adaptive)
        length = period(learned.rate)
        tick = int(now // length)
        if self._adjusted.get(category) == (length, tick):
            return
        self._adjusted[category] = (length, tick)
        judged = self._tick_key(category, length, tick, "judged")
        if not cache.add(judged, 1, timeout=int(length) + 60):
            return
        ok = cache.get(self._tick_key(category, length, tick - 1, "ok")) or 0
        throttled = cache.get(self._tick_key(category, length, tick - 1, "429")) or 0
        if not ok and not throttled:
            return  # idle, or nobody sent: nothing learned
        learned.judge(int(ok), int(throttled), adaptive)
        cache.set(self._learned_key(category), learned.as_dict(), timeout=LEARNED_TTL)

    def _claim_paced(self, category: str, now: float, rate: float) -> float | None:
        """Claim the next free slot at ``rate`` per second in this tick or the next;
        returns when it starts (None when both are taken)."""
        length = period(rate)
        quota = max(1, int(rate * length))
        spacing = length / quota
        tick = int(now // length)
        atomic = _atomic_cache()
        ttl = int(length) + 60
        for ahead in range(CLAIM_AHEAD_TICKS):
            start = (tick + ahead) * length
            counter = self._tick_key(category, length, tick + ahead, "slots")
            past = max(0, math.floor((now - start) / spacing)) if ahead == 0 else 0
            if past >= quota:
                continue
            cache.add(counter, past, timeout=ttl + ahead)
            for _ in range(quota + 1):
                try:
                    n = cache.incr(counter)
                except ValueError:  # expired between add and incr
                    cache.add(counter, past, timeout=ttl + ahead)
                    continue
                if n <= past:
                    # A slot nobody used has gone by: move the count up to now instead.
                    # Handing out the slots of an idle stretch would send them all at
                    # once, a burst that the provider's sliding window counts together
                    # with the calls paced after it.
                    try:
                        n = cache.incr(counter, past + 1 - n)
                    except ValueError:
                        continue
                if n > quota:
                    break
                # Non-atomic incr: two workers may read the same n; the slot key decides.
                if atomic or cache.add(f"{counter}:{n}", 1, timeout=ttl + ahead):
                    return start + (n - 1) * spacing
        return None

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
            if _atomic_cache():
                return True
            # Non-atomic incr: two workers may read the same n; the slot key decides.
            if cache.add(f"{counter}:{n}", 1, timeout=ttl):
                return True
        return False


def period(rate: float) -> float:
    """The tick an adaptive category paces and learns in: a second, or one call's spacing."""
    return max(TICK, 1.0 / rate) if rate > 0 else TICK


def _limit(value: Limit | tuple[int, float]) -> Limit:
    return value if isinstance(value, Limit) else Limit(int(value[0]), float(value[1]))


def _throttled(status: int, headers: Mapping[str, str]) -> bool:
    """A 429, or a remaining allowance fallen below a tenth of the limit."""
    if status == 429:
        return True
    remaining = (headers.get("X-RateLimit-Remaining") or "").strip()
    limit = (headers.get("X-RateLimit-Limit") or "").strip()
    if not _NUMBER.match(remaining):
        return False
    if _NUMBER.match(limit):
        return float(remaining) < 0.1 * float(limit)
    return float(remaining) == 0
