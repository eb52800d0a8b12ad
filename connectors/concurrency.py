"""Bounded concurrency for provider calls that may touch the database from threads.

Providers fetch independent things (participants of many meetings, Zoom's
object types) in parallel. Worker threads can reach the database through the
token source (a refresh) or the cache (the database cache locally), so each
thread closes its own connections when its work is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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
