"""A result cache for dashboard pages: analyses over millions of events take seconds, but
their results only change when events (or the catalog) change.

Entries are keyed by (function, arguments, data version). The version combines:
- `service.version` if the Service keeps one (incremented on every ingest),
- a counter bumped here (`bump(service)`, called after a catalog edit), and
- the number of rows in `ingest_log`: every ingestion, from this process or another one
  writing the same PostgreSQL database, adds one row, so a stale entry is never served
  once an ingestion has committed. Counting that small table costs about a millisecond.

Fast results (under SLOW_SECONDS to compute) are recomputed as soon as the version moves.
A slow one (attribution over millions of events takes tens of seconds) is reused for up to
STALE_SECONDS after newer data arrived: a live trickle of events would otherwise make every
analyst page recompute on every visit while holding the store's lock, stalling ingestion.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

MAX_ENTRIES = 512
SLOW_SECONDS = 2.0
STALE_SECONDS = 300.0


@dataclass
class Entry:
    version: tuple[int, int, int]
    result: Any
    computed_at: float
    cost: float


class ResultCache:
    """One bounded LRU per Service."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple[Any, ...], Entry] = OrderedDict()
        self.bumps = 0
        self.hits = 0
        self.misses = 0
        self.guard = threading.Lock()


# Weak keys: a closed Service takes its cache with it (and a new one never inherits it).
_CACHES: weakref.WeakKeyDictionary[Any, ResultCache] = weakref.WeakKeyDictionary()
_CACHES_GUARD = threading.Lock()


def cache_for(service: Any) -> ResultCache:
    with _CACHES_GUARD:
        cache = _CACHES.get(service)
        if cache is None:
            cache = _CACHES[service] = ResultCache()
        return cache


def bump(service: Any) -> None:
    """Forget every cached result of this service (call after a catalog change)."""
    cache = cache_for(service)
    with cache.guard:
        cache.bumps += 1
        cache.entries.clear()


def data_version(service: Any) -> tuple[int, int, int]:
    ingests = service.read(lambda store: store.query("SELECT count(*) AS n FROM ingest_log"))
    return (
        int(getattr(service, "version", 0)),
        cache_for(service).bumps,
        int(ingests[0]["n"]),
    )


def _freeze(value: Any) -> Any:
    """A hashable stand-in for arguments (dataclasses are frozen; lists and dicts are not)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set):
        return tuple(_freeze(v) for v in value)
    return value


def cached(service: Any, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`service.read(fn, *args, **kwargs)`, computed once per data version (see the module
    docstring for slow results).

    Callers must not mutate the result: the same object is handed to every later caller.
    """
    cache = cache_for(service)
    key = (
        getattr(fn, "__module__", ""),
        getattr(fn, "__qualname__", repr(fn)),
        _freeze(args),
        _freeze(kwargs),
    )
    version = data_version(service)
    now = time.monotonic()
    with cache.guard:
        entry = cache.entries.get(key)
        if entry is not None and (
            entry.version == version
            or (entry.cost >= SLOW_SECONDS and now - entry.computed_at < STALE_SECONDS)
        ):
            cache.entries.move_to_end(key)
            cache.hits += 1
            return entry.result
    start = time.monotonic()
    result = service.read(fn, *args, **kwargs)
    done = time.monotonic()
    with cache.guard:
        cache.misses += 1
        cache.entries[key] = Entry(version, result, done, done - start)
        cache.entries.move_to_end(key)
        while len(cache.entries) > cache.max_entries:
            cache.entries.popitem(last=False)
    return result
