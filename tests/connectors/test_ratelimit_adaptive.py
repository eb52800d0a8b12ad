"""The adaptive budget (Webex): even pacing, additive increase, multiplicative decrease,
noise tolerance and a learned rate remembered across budgets and processes.

Everything runs on the fake clock; no timing is asserted against real time. Run as
``python -m tests.connectors.test_ratelimit_adaptive CONFIG_JSON ACTION`` this module
is also the second process of the cross-process test.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command

from connectors import clock
from connectors.providers import get_provider
from connectors.ratelimit import (
    ADAPTIVE_CUT,
    CUT_MARGIN,
    Adaptive,
    RateBudget,
    _Learned,
)

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)  # on a whole second


@pytest.fixture
def fake_clock():
    with clock.use(clock.FakeClock(START)) as c:
        yield c


@pytest.fixture(params=["test cache", "database cache"])
def shared_cache(request, settings):
    """The tests' cache (local memory, or Redis in CI's second pass), and the database
    cache that ``make run`` uses, which counts without atomic increments."""
    if request.param == "database cache":
        settings.CACHES = {
            "default": {"BACKEND": "portal.cache.NonCullingDatabaseCache", "LOCATION": "budget"}
        }
        call_command("createcachetable", verbosity=0)
    return request.param


def _budget(key: str = "conn-1", start: int = 5, ceiling: int = 50) -> RateBudget:
    return RateBudget(
        provider="webex",
        key=key,
        limits={"default": (start, 1.0)},
        ceilings={"default": (ceiling, 1.0)},
    )


def _tick(
    budget: RateBudget,
    fake_clock: clock.FakeClock,
    *,
    throttled: int = 0,
    headers: dict[str, str] | None = None,
) -> float:
    """One second of calls at the budget's rate (the first ``throttled`` answered 429),
    then the clock moves to the next second. Returns the rate the tick ran at."""
    budget.acquire()  # the first call of a tick judges the one before
    rate = budget.rate()
    for i in range(int(rate)):
        if i:
            budget.acquire()
        if i < throttled:
            budget.observe("default", 429, {"Retry-After": "1"})
        else:
            budget.observe("default", 200, headers or {})
    now = fake_clock.now().timestamp()
    fake_clock.advance(int(now) + 1 - now)
    return rate


def test_calls_are_paced_evenly_across_the_second(fake_clock):
    budget = _budget(ceiling=5)  # ceiling = start: nothing to learn

    waits = [budget.acquire() for _ in range(10)]

    assert waits[0] == 0
    assert all(w == pytest.approx(0.2) for w in waits[1:])


def test_slow_start_doubles_while_ticks_succeed_up_to_the_ceiling(fake_clock):
    budget = _budget()
    rates = [_tick(budget, fake_clock) for _ in range(7)]

    assert rates == [5, 10, 20, 40, 50, 50, 50]


def test_a_tick_that_did_not_use_its_quota_does_not_raise_the_rate(fake_clock):
    budget = _budget()
    budget.acquire()
    budget.observe("default", 200, {})
    fake_clock.advance(1)
    budget.acquire()

    assert budget.rate() == 5


def test_a_429_cuts_to_what_got_through_then_rises_additively():
    adaptive = Adaptive(start=5, ceiling=100)
    learned = _Learned(rate=60, slow_start=True, ref_ok=75)  # no noise seen

    assert learned.judge(ok=40, throttled=20, adaptive=adaptive) == "cut"
    assert learned.rate == pytest.approx(40 * CUT_MARGIN)  # under the two thirds let in
    assert learned.slow_start is False

    # The next tick still carries answers to calls paced before the cut: it settles.
    assert learned.judge(ok=36, throttled=2, adaptive=adaptive) == "hold"
    assert learned.rate == pytest.approx(40 * CUT_MARGIN)
    assert learned.judge(ok=38, throttled=0, adaptive=adaptive) == "raise"
    assert learned.rate == pytest.approx(38 + adaptive.step)
    assert adaptive.step == 2  # a fiftieth of the ceiling


def test_a_single_429_cuts_by_a_tenth():
    learned = _Learned(rate=50, slow_start=False, ref_ok=100)

    assert learned.judge(ok=49, throttled=1, adaptive=Adaptive(start=5, ceiling=100)) == "cut"
    assert learned.rate == pytest.approx(ADAPTIVE_CUT * 50)


def test_a_second_refusing_most_calls_is_the_limit_even_before_the_noise_is_known():
    learned = _Learned(rate=10)

    assert learned.judge(ok=2, throttled=8, adaptive=Adaptive(start=5, ceiling=100)) == "cut"
    assert learned.slow_start is False
    assert learned.rate == pytest.approx(10 * 0.2 * CUT_MARGIN)  # under what got through


def test_a_random_429_does_not_halve_slow_start():
    """Before the noise is known, a 429 that random refusals could explain is pooled
    and slow start goes on doubling (cut there, a 10%-noise scan spent seconds at a
    tenth of the limit); the stall, or a share no noise explains, shows the limit."""
    adaptive = Adaptive(start=5, ceiling=100)
    learned = _Learned(rate=5)
    assert learned.judge(ok=5, throttled=0, adaptive=adaptive) == "raise"

    assert learned.judge(ok=9, throttled=1, adaptive=adaptive) == "raise"

    assert learned.slow_start
    assert learned.rate == 20
    assert learned.noise == pytest.approx(1 / 15)


def test_the_providers_random_429s_are_noise_not_a_limit():
    adaptive = Adaptive(start=5, ceiling=100)
    learned = _Learned(rate=40, slow_start=False, ref_ok=180, ref_throttled=20)

    # About one in ten refused, as always: not a reason to slow down.
    assert learned.judge(ok=36, throttled=4, adaptive=adaptive) == "raise"
    # Far more than the noise explains: the limit.
    assert learned.judge(ok=30, throttled=15, adaptive=adaptive) == "cut"


def _provider_tick(rate: float, limit: float, noise: float, rng: random.Random) -> tuple[int, int]:
    """A provider that refuses ``noise`` of all calls at random, then everything over
    ``limit`` a second: (answered, refused) for one second at ``rate``."""
    calls = int(rate)
    noisy = sum(1 for _ in range(calls) if rng.random() < noise)
    ok = min(calls - noisy, int(limit))
    return ok, calls - ok


def _drive(limit: float, noise: float, ticks: int, seed: int) -> list[tuple[float, int, int]]:
    adaptive = Adaptive(start=5, ceiling=100)
    learned = _Learned(rate=adaptive.start)
    rng = random.Random(seed)
    history = []
    for _ in range(ticks):
        rate = learned.rate
        ok, refused = _provider_tick(rate, limit, noise, rng)
        history.append((rate, ok, refused))
        learned.judge(ok=ok, throttled=refused, adaptive=adaptive)
    return history


def test_random_429s_neither_hold_the_rate_down_nor_hide_the_limit():
    """10% of calls refused at random and a hidden limit of 50 a second: the rate
    reaches the limit within seconds and stays near it (not at the ceiling)."""
    reached = []
    for seed in range(5):
        history = _drive(limit=50, noise=0.1, ticks=60, seed=seed)
        answered = [ok for _, ok, _ in history]
        reached.append(next(i for i, ok in enumerate(answered) if ok >= 45))
        steady = answered[20:]
        assert sum(steady) / len(steady) >= 0.9 * 50  # close to what the limit lets through
        assert max(rate for rate, _, _ in history[20:]) < 50 / 0.9 * 1.25  # not the ceiling

    assert sorted(reached)[2] <= 12  # the noise does not stall the climb (median run)


@pytest.mark.parametrize("limit", [20, 50, 80])
def test_without_noise_the_limit_is_probed_rarely(limit):
    """Whatever the hidden limit (20 is met by slow start before the noise is known):
    after slow start's overshoot, about one refusal a minute, and the rate
    stays within a few per cent of the limit."""
    history = _drive(limit=limit, noise=0.0, ticks=120, seed=0)
    calls = sum(ok + refused for _, ok, refused in history)
    refused = sum(refused for _, _, refused in history[10:])

    assert refused <= 0.005 * calls
    assert sum(ok for _, ok, _ in history[10:]) / 110 >= 0.97 * limit


def test_a_limit_met_in_slow_start_is_not_learned_as_noise():
    """Slow start's doubling meets a limit of 20 before 50 answers are known: the
    answers stop growing, so the 429s are the limit's. They were once pooled as noise
    (a fifth of all calls), and every later second ran a fifth over the limit."""
    adaptive = Adaptive(start=5, ceiling=100)
    learned = _Learned(rate=5)
    for ok in (5, 10, 20):
        assert learned.judge(ok=ok, throttled=0, adaptive=adaptive) == "raise"

    assert learned.judge(ok=20, throttled=20, adaptive=adaptive) == "cut"

    assert learned.noise == 0.0
    assert not learned.slow_start
    assert learned.rate < 20


def test_a_falling_remaining_counts_as_a_warning(fake_clock):
    budget = _budget()
    _learn_past_slow_start(budget, fake_clock)
    before = _tick(
        budget, fake_clock, headers={"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "3"}
    )
    budget.acquire()

    assert budget.rate() < before
    assert budget.blocked_for() == 0  # a warning slows down; only 0 left pauses everyone


def _learn_past_slow_start(budget: RateBudget, fake_clock: clock.FakeClock) -> None:
    """5, 10, 20, 40 a second, then 50 (the ceiling) meets 5 429s: cut under the 45
    that got through, slow start over (75 answers without a 429 say there is no noise)."""
    for _ in range(4):
        _tick(budget, fake_clock)
    _tick(budget, fake_clock, throttled=5)
    budget.acquire()
    budget.observe("default", 200, {})
    assert budget.rate() == pytest.approx(45 * CUT_MARGIN)
    fake_clock.advance(1)  # the tick after the cut settles: neither cut nor raise
    budget.acquire()
    assert budget.rate() == pytest.approx(45 * CUT_MARGIN)


def test_short_429_pauses_are_pacing_long_ones_pause_everyone(fake_clock):
    budget = _budget()

    budget.observe("default", 429, {"Retry-After": "1"})
    assert budget.blocked_for() == 0

    budget.observe("default", 429, {"Retry-After": "30"})
    assert budget.blocked_for() == 30


def test_the_learned_rate_is_shared_by_budgets_of_the_same_connection(fake_clock):
    first = _budget("connection:7")
    _learn_past_slow_start(first, fake_clock)
    learned = first.rate()

    assert learned != 5
    assert _budget("connection:7").rate() == learned
    assert _budget("connection:8").rate() == 5  # another connection starts afresh


def test_webex_adapts_by_default_and_zoom_keeps_its_published_limits(settings):
    webex = RateBudget.for_provider(get_provider("webex"), key="a")
    zoom = RateBudget.for_provider(get_provider("zoom"), key="a")

    assert webex.rate() == 5  # 300 a minute to start with
    assert webex.adaptive["default"].ceiling == 100
    assert zoom.rate("light") is None

    settings.CONNECTOR_RATE_CEILINGS = {"webex": {"default": (600, 60)}}
    assert RateBudget.for_provider(get_provider("webex"), key="a").adaptive[
        "default"
    ].ceiling == pytest.approx(10)


def test_the_learned_rate_survives_in_another_process(tmp_path, fake_clock):
    config = {
        "sqlite_path": str(tmp_path / "cache.sqlite3"),
        "key": "connection:42",
        "start": START.isoformat(),
    }
    run = [sys.executable, "-m", "tests.connectors.test_ratelimit_adaptive", json.dumps(config)]
    subprocess.run([*run, "setup"], cwd=ROOT, check=True, timeout=60)
    subprocess.run([*run, "learn"], cwd=ROOT, check=True, timeout=60)

    answer = subprocess.run(
        [*run, "rate"], cwd=ROOT, check=True, timeout=60, capture_output=True, text=True
    )

    assert float(answer.stdout.strip()) == 50  # 5, 10, 20, 40, then the ceiling


def _worker(argv: list[str]) -> None:
    """The other process: learn three ticks, or print the rate it finds in the cache."""
    from tests.connectors.budget_worker import configure

    config = json.loads(argv[0])
    configure(config)
    if argv[1] == "setup":
        from django.core.management import call_command

        call_command("createcachetable", verbosity=0)
        return
    budget = _budget(config["key"])
    with clock.use(clock.FakeClock(datetime.fromisoformat(config["start"]))) as fake:
        if argv[1] == "learn":
            for _ in range(4):
                _tick(budget, fake)
            budget.acquire()
        else:
            print(budget.rate())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _worker(sys.argv[1:])


def test_slots_are_claimed_at_most_a_tick_ahead(fake_clock):
    """Callers beyond this tick's and the next tick's quota wait for the next tick and
    claim again at the rate learned by then, instead of holding slots seconds ahead at
    an old (slow start's) pace."""
    budget = _budget()
    now = fake_clock.now().timestamp()

    claims = [budget._claim_paced("default", now, 5) for _ in range(11)]

    assert claims[:10] == pytest.approx([now + i * 0.2 for i in range(10)])
    assert claims[10] is None


def test_a_noisy_second_short_of_work_keeps_slow_start():
    """At the start the work itself is slow (the listing): a second that sent no more
    calls than before and met one random 429 is not the limit, so the rate may still
    double (ending slow start there left a 10%-noise scan climbing by 2 a second)."""
    adaptive = Adaptive(start=5, ceiling=100)
    learned = _Learned(rate=5)
    assert learned.judge(ok=5, throttled=0, adaptive=adaptive) == "raise"

    learned.judge(ok=6, throttled=1, adaptive=adaptive)

    assert learned.slow_start
    assert learned.rate >= adaptive.start


def test_429s_near_the_limit_after_a_stall_are_not_learned_as_noise():
    """Held just under the pace of the last cut, calls that bunched after a stall meet
    the limit's sliding window: fewer got through, some were refused. That second is
    the limit's, not evidence that the provider refuses calls at random (learned as
    noise, it set off a climb past the limit and a cut every few seconds)."""
    adaptive = Adaptive(start=5, ceiling=100)
    learned = _Learned(
        rate=48.8, slow_start=False, granted=49, ref_ok=75, ref_throttled=0, peak=50.9
    )

    assert learned.judge(ok=42, throttled=6, adaptive=adaptive) == "cut"

    assert learned.noise == 0.0


@pytest.mark.django_db(transaction=True)  # the test's threads see the cache table
def test_slots_left_unused_by_an_idle_stretch_are_not_sent_at_once(fake_clock, shared_cache):
    """Nobody called for half a second: the callers after it go at the pace from now
    on. Handing them the slots that went by would send them in one burst, which the
    provider's sliding window counts together with the calls paced after it."""
    budget = _budget(ceiling=5)  # 5 a second, slots 0.2 s apart
    budget.acquire()
    fake_clock.advance(0.5)

    sent = []
    for _ in range(3):
        budget.acquire()
        sent.append(fake_clock.now().timestamp() - START.timestamp())

    assert sent == pytest.approx([0.5, 0.6, 0.8])


@pytest.mark.django_db(transaction=True)  # the test's threads see the cache table
def test_callers_of_a_new_tick_wait_for_its_judgement(fake_clock, monkeypatch, shared_cache):
    """The first caller of a tick judges the one before it; a caller arriving
    meanwhile claims at the rate judged, not the old one (slow start's doubling
    otherwise reached the calls a tick late)."""
    first = _budget()
    _tick(first, fake_clock)  # a busy tick at 5 a second: the next one runs at 10
    judging, judged = threading.Event(), threading.Event()
    judge = _Learned.judge

    def slow_judge(self, *args, **kwargs):
        judging.set()
        judged.wait(5)
        return judge(self, *args, **kwargs)

    monkeypatch.setattr(_Learned, "judge", slow_judge)
    second = _budget()  # another budget of the same connection (another fetch thread)
    judge_thread = threading.Thread(target=first.acquire)
    judge_thread.start()
    assert judging.wait(5)
    caller = threading.Thread(target=second.acquire)
    caller.start()
    caller.join(0.5)  # it waits for the judgement (without it, it claims at once)
    judged.set()
    judge_thread.join(5)
    caller.join(5)

    assert second._rates["default"] == 10


def test_a_limit_met_after_seconds_short_of_work_is_not_learned_as_noise():
    """Slow start's seconds were short of work (the listing came slowly), then the
    doubled pace met a limit of 50: the answers grew, so the calls did not stall, but
    nearly a third were refused where 40 calls before saw none. Random refusals do not
    jump like that; pooled as noise, they let every later second run a fifth over the
    limit (629 429s in one bench scan)."""
    adaptive = Adaptive(start=5, ceiling=100)
    learned = _Learned(rate=5)
    for ok in (5, 5, 10, 20):
        learned.judge(ok=ok, throttled=0, adaptive=adaptive)
    assert learned.rate == 80

    assert learned.judge(ok=50, throttled=22, adaptive=adaptive) == "cut"

    assert learned.noise == 0.0
    assert not learned.slow_start
    assert learned.rate < 50
