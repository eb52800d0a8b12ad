"""Bounded concurrency for provider calls that may touch the database from threads.

Providers fetch independent things (participants of many meetings, Zoom's
object types) in parallel. Worker threads can reach the database through the
token source (a refresh) or the cache (the database cache locally), so each
thread closes its own connections when its work is done.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

from django.db import connections

T = TypeVar("T")
R = TypeVar("R")


def _closing(fn: Callable[[T], R]) -> Callable[[T], R]:
    def run(item: T) -> R:
        try:
            return fn(item)
        finally:
            connections.close_all()  # this thread's connections only

    return run


def bounded_map(fn: Callable[[T], R], items: Iterable[T], *, max_workers: int) -> Iterator[R]:
    """Like ``map`` (results in input order), at most ``max_workers`` calls at once.

    The first exception raised by ``fn`` propagates once the calls already started
    have finished; nothing is left running in the background.
    """
    items = list(items)
    if max_workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fetch") as pool:
        yield from pool.map(_closing(fn), items)


class Pending(Protocol[R]):
    """A call's outcome to come: ``result()`` returns it or raises its exception."""

    def result(self) -> R: ...


class _Deferred(Generic[R]):
    """A call made only when its result is asked for (the serial pool)."""

    def __init__(self, fn: Callable[[], R]) -> None:
        self._fn: Callable[[], R] | None = fn
        self._value: R | None = None

    def result(self) -> R:
        if self._fn is not None:
            fn, self._fn = self._fn, None
            self._value = fn()
        return self._value  # type: ignore[return-value]


@contextmanager
def worker_pool(max_workers: int) -> Iterator[Callable[[Callable[[], R]], Pending[R]]]:
    """A ``submit(fn)`` for calls that may start more calls as earlier ones answer.

    Up to ``max_workers`` calls run at once, in the order submitted; each closes its
    thread's database connections. With ``max_workers <= 1`` nothing runs in the
    background: a call runs in this thread when its ``result()`` is first asked for.
    Leaving the block (also by an exception, or a caller that stops early) cancels
    the calls not yet started and waits for the running ones, so nothing is left
    running in the background.
    """
    if max_workers <= 1:
        yield _Deferred
        return
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fetch")

    def submit(fn: Callable[[], R]) -> Future[R]:
        return pool.submit(_closing(lambda _: fn()), None)

    try:
        yield submit
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


K = TypeVar("K")
MAX_GROUPS_AHEAD = 64  # ``pipelined`` never takes more groups than this ahead


def _unfinished(pending: Iterable[tuple[object, list[Future]]]) -> int:
    return sum(1 for _, futures in pending for future in futures if not future.done())


def pipelined(
    groups: Iterable[tuple[K, list[T]]],
    fn: Callable[[T], R],
    *,
    max_workers: int,
    lookahead: int = 3,
    lookahead_items: int = 0,
    on_result: Callable[[], None] | None = None,
) -> Iterator[tuple[K, list[R]]]:
    """Run ``fn`` over the items of consecutive groups in one bounded pool; yield each
    group's key with its results (input order) once all of that group's calls are done.
    An exception raised by ``groups`` itself propagates after the groups already taken.

    Groups are taken from ``groups`` (lazily, in this thread) up to ``lookahead`` ahead
    of the one being yielded, and further (up to ``MAX_GROUPS_AHEAD``) while fewer than
    ``lookahead_items`` calls are waiting to finish, so a slow call (a 429 waiting out
    its ``Retry-After``) holds back only its own group's yield while the workers go on
    with the next groups' calls, and small or empty groups do not starve the workers.
    ``on_result`` runs in this thread after each finished call of the group being
    waited for (e.g. to renew a lease). The first exception propagates;
    calls not yet started are cancelled and the running ones finish first, so nothing
    is left running in the background, also when the caller stops early.
    """
    if max_workers <= 1:
        for key, items in groups:
            results = []
            for item in items:
                results.append(fn(item))
                if on_result is not None:
                    on_result()
            yield key, results
        return
    pending: deque[tuple[K, list[Future[R]]]] = deque()
    source = iter(groups)
    exhausted = False
    failure: Exception | None = None
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fetch")
    try:
        while True:
            while not exhausted and (
                len(pending) < max(lookahead, 1)
                or (len(pending) < MAX_GROUPS_AHEAD and _unfinished(pending) < lookahead_items)
            ):
                try:
                    key, items = next(source)
                except StopIteration:
                    exhausted = True
                    break
                except Exception as exc:  # the groups already taken are finished first
                    exhausted, failure = True, exc
                    break
                pending.append((key, [pool.submit(_closing(fn), item) for item in items]))
            if not pending:
                if failure is not None:
                    raise failure
                return
            key, futures = pending.popleft()
            results = []
            for future in futures:
                results.append(future.result())
                if on_result is not None:
                    on_result()
            yield key, results
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
