"""``pipelined``: groups come out in order, a slow call holds back only its own group,
and a failure of the group source comes after the groups already taken."""

from __future__ import annotations

import threading
import time

import pytest

from connectors.concurrency import pipelined


def test_groups_come_out_in_order_with_their_results_in_input_order():
    groups = [(k, list(range(k * 10, k * 10 + 5))) for k in range(6)]
    out = list(pipelined(iter(groups), lambda x: x * 2, max_workers=4, lookahead=2))
    assert out == [(k, [x * 2 for x in items]) for k, items in groups]


def test_a_slow_call_does_not_stop_the_next_groups_calls():
    release = threading.Event()
    done: list[int] = []

    def call(x: int) -> int:
        if x == 0:
            release.wait(5)
        done.append(x)
        return x

    out = pipelined(iter([("a", [0, 1]), ("b", [2, 3]), ("c", [4])]), call, max_workers=2)
    deadline = time.monotonic() + 5
    thread = threading.Thread(target=lambda: list(out))
    thread.start()
    while not {1, 2, 3, 4} <= set(done) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert {1, 2, 3, 4} <= set(done) and 0 not in done
    release.set()
    thread.join(5)


def test_a_failing_source_comes_after_the_groups_already_taken():
    def groups():
        yield "a", [1]
        yield "b", [2]
        raise RuntimeError("listing failed")

    seen = []
    with pytest.raises(RuntimeError):
        for key, results in pipelined(groups(), lambda x: x, max_workers=3):
            seen.append((key, results))
    assert seen == [("a", [1]), ("b", [2])]


@pytest.mark.parametrize("workers", [1, 3])
def test_a_failing_call_propagates(workers):
    def call(x: int) -> int:
        if x == 3:
            raise ValueError(x)
        return x

    seen = []
    with pytest.raises(ValueError):
        for key, _ in pipelined(
            iter([("a", [1, 2]), ("b", [3]), ("c", [4])]), call, max_workers=workers
        ):
            seen.append(key)
    assert seen == ["a"]


def test_pipelined_takes_more_small_groups_while_few_calls_wait():
    """Empty groups are taken well past ``lookahead`` while the first group's one call
    is still waiting, so sparse listing pages do not starve the workers."""
    release, all_taken = threading.Event(), threading.Event()

    def groups():
        for key in range(40):
            if key == 39:
                all_taken.set()
            yield key, ([key] if key == 0 else [])

    def fn(x: int) -> int:
        release.wait(timeout=10)
        return x

    out = pipelined(groups(), fn, max_workers=2, lookahead=2, lookahead_items=5)
    results: list = []
    consumer = threading.Thread(target=lambda: results.extend(out))
    consumer.start()

    assert all_taken.wait(timeout=10)  # all 40 taken while group 0 still waits
    assert not results
    release.set()
    consumer.join()
    assert [key for key, _ in results] == list(range(40))


def test_pipelined_stops_taking_groups_once_enough_calls_wait():
    taken: list[int] = []
    release = threading.Event()

    def groups():
        for key in range(100):
            taken.append(key)
            yield key, [key, key]

    def fn(x: int) -> int:
        release.wait(timeout=5)
        return x

    out = pipelined(groups(), fn, max_workers=2, lookahead=1, lookahead_items=10)
    blocked = threading.Thread(target=lambda: next(out))
    blocked.start()
    blocked.join(timeout=0.5)  # waits on group 0 with the others taken
    seen = len(taken)
    release.set()
    blocked.join()
    list(out)

    assert seen == 5  # 5 groups of 2 calls each: 10 waiting, no more taken
