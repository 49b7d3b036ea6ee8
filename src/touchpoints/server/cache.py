"""A result cache for dashboard pages, kept warm in the background.

Analyses over millions of events take seconds, but their results only change when events
(or the catalog) change. Entries are keyed by (function, arguments) and remember the data
version they were computed at. The version combines:
- `service.version` if the Service keeps one (incremented on every ingest),
- a counter bumped here (`bump(service)`, called after a catalog edit), and
- the number of rows in `ingest_log`: every ingestion, from this process or another one
  writing the same PostgreSQL database, adds one row, so a stale entry is never mistaken
  for a current one. Counting that small table costs about a millisecond.
- the store's generation (`Store.generation`, a `meta` row) that `customer erase` and
  `privacy purge` raise, from any process: erased data is never served from memory.

Reads never take the Service lock that ingestion needs: they run on a *reader* store, a
second connection to the same database: a DuckDB cursor of the service's connection per
request thread, or on PostgreSQL one of a few connections lent to request threads in turn
(`ReaderPool`). Spark has none: reads there go through `service.read`.

Answers that cost more than KEEP_SECONDS are also kept in the store (`answer_cache`), with
the store's *stamp* (`store.derived.answer_stamp`): the events' version, the generation, the catalog and
the change log, read from the store itself. A server started later on the same store
(or another worker on the same PostgreSQL database) serves them at once while the stamp
holds, instead of computing every page's analyses again: a start is warm. A customer's
events or journey, the event list, the live queue and the attendant's conversations are
never kept; saving an answer drops those of any other stamp, and an erase, an identity
link or a comment purge empties the table: erased data never outlives the erase there
either. The stamp is read before an answer is computed and checked again when it is
saved, so an answer that an ingestion overtook is never kept as current; with a warmer
running, its thread writes the answers visitors' requests computed.

A `Warmer` thread per Service computes the pages' default analyses after server start and,
debounced, after each ingestion, and recomputes every entry pages asked for recently (the
cheapest to bring up to date first; a round that new data overtook starts over, see
`Warmer._ordered`). So:
- a fast result (under SLOW_SECONDS) that is out of date is recomputed for the visitor;
- a slow one is served as it was (stale-while-revalidate, with its `computed_at` time for
  an "as of" note) while the warmer computes the newer one, however long its round takes;
  without a warmer (scripts, tests), past STALE_SECONDS of staleness the visitor waits for
  a fresh one.

An answer is computed by one thread at a time (`_claim`): requests, or the warmer, that
need one another thread is computing for the same data version wait for it and share its
result. `/v1` answers (`current`) are shared that way too but never remembered: each is
computed over the data as they are when asked.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import queue
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel

from touchpoints.core.errors import OutOfMemoryError, TouchpointsError
from touchpoints.store.derived import answer_stamp

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_ENTRIES = 512
SLOW_SECONDS = 2.0
# While a warmer keeps the cache current, results costing more than this are served stale
# (it recomputes them within a round) rather than recomputed in the visitor's request.
WARMED_SLOW_SECONDS = 0.25
STALE_SECONDS = 300.0
# The warmer waits until no ingestion arrived for DEBOUNCE_SECONDS (a live trickle never
# stops, so it refreshes at least every MAX_DELAY_SECONDS), polling every POLL_SECONDS.
DEBOUNCE_SECONDS = 2.0
MAX_DELAY_SECONDS = 5.0
POLL_SECONDS = 0.5
# Answers that cost this much or more are refreshed by the warmer's second thread.
LANE_SECONDS = 2.0
# Entries asked for by pages that the warmer keeps current (most recently used first).
REWARM_ENTRIES = 64

Version = tuple[int, int, int, int]
Key = tuple[Any, ...]
# An answer to keep in the store: (fn, key, stamp read before computing, result,
# computed_at, cost).
Keep = tuple[Callable[..., Any], Key, "str | None", Any, float, float]


@dataclass
class Flight:
    """An answer being computed: its waiters wake on `done`, and read `result` when the
    computation went through (`ok`)."""

    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    ok: bool = False


@dataclass
class Entry:
    version: Version
    result: Any
    computed_at: float  # time.time() when computed: the page's "as of"
    cost: float
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class ResultCache:
    """One bounded LRU per Service, with the readers and warmer that serve it."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[Key, Entry] = OrderedDict()
        self.bumps = 0
        self.hits = 0
        self.misses = 0
        self.stale_hits = 0
        self.joined = 0
        self.guard = threading.Lock()
        self.readers = threading.local()
        self.pool: ReaderPool | None = None
        self.warmer: Warmer | None = None
        # The answers being computed now, per (key, data version): a second request for
        # one waits for it instead of computing it again (`_claim`).
        self.computing: dict[tuple[Key, Version], Flight] = {}


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
    if cache.warmer is not None:
        cache.warmer.wake()


# -- reader stores -------------------------------------------------------------------------
def open_reader(service: Any) -> Any | None:
    """A store on its own connection to the service's database, for reads outside the
    Service lock; None when the engine offers none (the caller then uses `service.read`).

    On DuckDB it is a copy of the service's store around a cursor (a connection to the same
    database that sees every committed ingestion); elsewhere a fresh `open_store`.
    """
    store = getattr(service, "store", None)
    if store is None:
        return None
    if store.engine == "duckdb":
        with service.lock:
            reader = copy.copy(store)
            reader.con = store.con.cursor()
        reader.con.execute("SET TimeZone = 'UTC'")
    elif store.engine == "postgres":
        from touchpoints.store import open_store

        reader = open_store(store.target)
    else:
        return None
    # Answers one analysis borrows from another (`analytics.registry.shared`) are shared
    # with every reader on this database: they are keyed by the data's stamp.
    reader.memo = store.memo
    # The catalog may be edited by the service: never keep a parsed copy here.
    reader._catalog = None
    reader.catalog = lambda: _fresh_catalog(reader)
    return reader


def _fresh_catalog(reader: Any) -> Any:
    reader._catalog = None
    return type(reader).catalog(reader)


def _close_reader(reader: Any) -> None:
    with contextlib.suppress(Exception):
        reader.close()


def _thread_reader(service: Any) -> Any | None:
    """This request thread's reader store for `service` (made once per thread), on DuckDB
    only: a cursor is cheap, while a PostgreSQL connection per server thread is not (there
    request threads borrow from a `ReaderPool`; the warmer has its own)."""
    store = getattr(service, "store", None)
    if store is None or store.engine != "duckdb":
        return None
    local = cache_for(service).readers
    if not hasattr(local, "store"):
        local.store = open_reader(service)
    return local.store


# PostgreSQL connections a Service keeps for its request threads' reads: as many as
# analyses can usefully run at once (more would only share the cores), at least two so a
# page's small reads never wait behind one long analysis.
READERS_AT_ONCE = max(2, os.cpu_count() or 2)


class ReaderPool:
    """Reader stores on their own PostgreSQL connections, lent to one thread at a time.

    A thread that asks again while it holds one (an analysis that reads another answer
    through the cache) gets the same one back, so nested reads never wait for a second
    connection. A connection left broken (the server restarted) is dropped, and the next
    borrower opens a new one."""

    def __init__(self, service: Any, size: int = READERS_AT_ONCE) -> None:
        self.service = service
        self.size = size
        self.idle: list[Any] = []
        self.opened = 0
        self.closed = False
        self.ready = threading.Condition()
        self.held = threading.local()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Any]:
        held = getattr(self.held, "reader", None)
        if held is not None:
            yield held
            return
        reader = self._take()
        self.held.reader = reader
        try:
            yield reader
        finally:
            self.held.reader = None
            self._give(reader)

    def _take(self) -> Any:
        with self.ready:
            while not self.idle and self.opened >= self.size:
                self.ready.wait()
            if self.idle:
                return self.idle.pop()
            self.opened += 1
        try:
            return open_reader(self.service)
        except BaseException:
            with self.ready:
                self.opened -= 1
                self.ready.notify()
            raise

    def _give(self, reader: Any) -> None:
        conn = reader.conn
        with self.ready:
            if self.closed or conn.closed or conn.broken:
                self.opened -= 1
                _close_reader(reader)
            else:
                self.idle.append(reader)
            self.ready.notify()

    def close(self) -> None:
        with self.ready:
            self.closed = True
            for reader in self.idle:
                _close_reader(reader)
            self.opened -= len(self.idle)
            self.idle.clear()


def _pool(service: Any) -> ReaderPool | None:
    store = getattr(service, "store", None)
    if store is None or store.engine != "postgres":
        return None
    cache = cache_for(service)
    with cache.guard:
        if cache.pool is None:
            cache.pool = ReaderPool(service)
        return cache.pool


def close_readers(service: Any) -> None:
    """Close the PostgreSQL connections lent to `service`'s request threads (on close)."""
    pool = cache_for(service).pool
    if pool is not None:
        pool.close()


def _runner(reader: Any) -> Callable[..., Any]:
    """A `run(fn, *args, **kwargs)` that calls `fn(reader, ...)`: the shape of
    `Service.read`, so callers need not know which kind of reader they were given."""
    return lambda fn, *a, **kw: fn(reader, *a, **kw)


@contextlib.contextmanager
def _reading(service: Any) -> Iterator[Callable[..., Any]]:
    """A `run(fn, *args, **kwargs)` on a reader store (or under the lock without one)."""
    reader = _thread_reader(service)
    if reader is not None:
        yield _runner(reader)
        return
    pool = _pool(service)
    if pool is None:
        yield service.read
        return
    with pool.borrow() as lent:
        yield _runner(lent)


def _store_version(store: Any) -> tuple[int, int]:
    """(ingestions logged, generation): two lookups of a millisecond each."""
    generation = getattr(store, "generation", None)
    return int(store.count("ingest_log")), int(generation()) if generation else 0


def _version_with(
    service: Any, run: Callable[..., Any], stored: tuple[int, int] | None = None
) -> Version:
    """The data version; `stored`: the store's part of it as read a moment ago (see
    `page_entry`), else read now."""
    ingests, generation = stored or run(_store_version)
    return (int(getattr(service, "version", 0)), cache_for(service).bumps, ingests, generation)


def data_version(service: Any) -> Version:
    with _reading(service) as run:
        return _version_with(service, run)


def _freeze(value: Any) -> Any:
    """A hashable stand-in for arguments (dataclasses are frozen; lists, dicts and option
    models holding lists are not)."""
    if isinstance(value, BaseModel):
        return (type(value).__qualname__, _freeze(value.model_dump()))
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set):
        return tuple(_freeze(v) for v in value)
    return value


# -- answers kept in the store ---------------------------------------------------------------
KEEP_SECONDS = 0.2
ANSWERS = "answer_cache"
# Analyses whose answers are never kept: rows about one customer, the event list, the
# live queue, the attendant's conversations. (Feedback comments are: an erase or a
# comment purge empties the table, `store.derived.forget_answers`.)
NOT_KEPT = ("customers", "events", "live", "attendant")
NOT_KEPT_FUNCTIONS: tuple[str, ...] = ()
# Page helpers whose answers are aggregates of analyses, kept like them.
KEPT_HELPERS = ("touchpoints.server.dashboard.data.all_attribution",)


def _keepable(fn: Callable[..., Any]) -> bool:
    module = getattr(fn, "__module__", "") or ""
    name = f"{module}.{getattr(fn, '__qualname__', '')}"
    if name in KEPT_HELPERS:
        return True
    if not module.startswith("touchpoints.analytics.") or name in NOT_KEPT_FUNCTIONS:
        return False
    return module.rsplit(".", 1)[1] not in NOT_KEPT


def _key_text(key: Key) -> str:
    return hashlib.sha256(repr(key).encode("utf-8")).hexdigest()


def load_answer(store: Any, key: str, stamp: str) -> tuple[Any, float, float] | None:
    """(answer, computed_at, cost) kept for `key` at `stamp`, if any."""
    if not store.has_table(ANSWERS):
        return None
    rows = store.query(
        f"SELECT result, computed_at, cost FROM {ANSWERS} WHERE key = $key AND stamp = $stamp",
        {"key": key, "stamp": stamp},
    )
    if not rows:
        return None
    return json.loads(rows[0]["result"]), float(rows[0]["computed_at"]), float(rows[0]["cost"])


def save_answer(
    store: Any, key: str, stamp: str, result: Any, computed_at: float, cost: float
) -> None:
    """Keep an answer that survives JSON unchanged; drop those of other stamps. Nothing
    when the store's stamp is no longer `stamp`: the data changed while the answer was
    computed, so it is out of date already (and would drop the newer stamp's answers)."""
    if answer_stamp(store) != stamp:
        return
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        return
    if json.loads(text) != result:
        return
    with store.transaction():
        store.execute(
            "CREATE TABLE IF NOT EXISTS answer_cache (key TEXT, stamp TEXT, "
            "computed_at DOUBLE PRECISION, cost DOUBLE PRECISION, result TEXT)"
        )
        store.execute(
            f"DELETE FROM {ANSWERS} WHERE stamp <> $stamp OR key = $key",
            {"stamp": stamp, "key": key},
        )
        store.execute(
            f"INSERT INTO {ANSWERS} VALUES ($key, $stamp, $computed_at, $cost, $result)",
            {"key": key, "stamp": stamp, "computed_at": computed_at, "cost": cost, "result": text},
        )


def _kept(
    run: Callable[..., Any], fn: Callable[..., Any], key: Key, last: Entry | None = None
) -> tuple[str | None, Any]:
    """(the store's stamp, the answer kept for this job at that stamp or None).

    The stamp is read before the job is computed and saved with its answer: an ingestion
    that lands while the job runs makes the stamp older than the data, never newer.

    Nothing is read for a job whose `last` answer cost less than KEEP_SECONDS: such
    answers are not kept, so the look-up (the stamp and a query, under a live feed for
    every cheap answer of every page load: about a tenth of a server's time) would find
    nothing; a recomputation that turns out slow is kept from its next turn on."""
    if not _keepable(fn) or (last is not None and last.cost < KEEP_SECONDS):
        return None, None
    try:
        stamp = run(answer_stamp)
        return stamp, None if stamp is None else run(load_answer, _key_text(key), stamp)
    except Exception:  # a store that cannot say: compute as before
        log.debug("answer cache: no lookup", exc_info=True)
        return None, None


def _worth_keeping(fn: Callable[..., Any], stamp: str | None, cost: float) -> bool:
    return stamp is not None and cost >= KEEP_SECONDS and _keepable(fn)


def _keep(run: Callable[..., Any], job: Keep) -> None:
    fn, key, stamp, result, computed_at, cost = job
    if not _worth_keeping(fn, stamp, cost):
        return
    try:
        run(save_answer, _key_text(key), stamp, result, computed_at, cost)
    except Exception:  # read-only store, a concurrent writer: the answer stays in memory
        log.debug("answer cache: not kept", exc_info=True)


def _key(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Key:
    return (
        getattr(fn, "__module__", ""),
        getattr(fn, "__qualname__", repr(fn)),
        _freeze(args),
        _freeze(kwargs),
    )


def _claim(cache: ResultCache, key: Key, version: Version) -> tuple[Flight, bool]:
    """Take the computation of `key` at `version`: (its flight, True) for the thread that
    computes it (pass the flight to `_release` when done), or, when another thread holds
    it, wait for that one and return (its flight, False). Call with `cache.guard` held:
    it is released while waiting.

    Without this, visitors who open the same uncached page together each compute its
    analyses: five visits at once to `/journeys` for a new week at 10M events took 39 s
    (one alone 9 s) and raised the server's memory by 6.1 GB (one alone 1.2 GB); now one
    computes and the others get its answer: 7 s and 1.6 GB (bench/RESULTS.md, together)."""
    busy = cache.computing.get((key, version))
    if busy is None:
        flight = cache.computing[(key, version)] = Flight()
        return flight, True
    cache.joined += 1
    cache.guard.release()
    try:
        busy.done.wait()
    finally:
        cache.guard.acquire()
    return busy, False


def _release(cache: ResultCache, key: Key, version: Version, flight: Flight) -> None:
    with cache.guard:
        cache.computing.pop((key, version), None)
    flight.done.set()


def _store(cache: ResultCache, key: Key, entry: Entry, only_if_newer: bool = False) -> None:
    with cache.guard:
        old = cache.entries.get(key)
        if only_if_newer and old is not None and old.computed_at > entry.computed_at:
            return
        cache.entries[key] = entry
        cache.entries.move_to_end(key)
        while len(cache.entries) > cache.max_entries:
            cache.entries.popitem(last=False)


def metrics_text(service: Any) -> str:
    """The cache's and its warmer's counters for /metrics (Prometheus text format): how
    often pages were served from memory, how often with an answer older than the data,
    and how long the warmer's last full round took (what bounds the slow answers' lag)."""
    cache = cache_for(service)
    warmer = cache.warmer
    rows = [
        ("touchpoints_cache_hits_total", "counter", "Answers served from memory.", cache.hits),
        (
            "touchpoints_cache_stale_hits_total",
            "counter",
            "Answers served from memory while newer data awaited the warmer.",
            cache.stale_hits,
        ),
        ("touchpoints_cache_misses_total", "counter", "Answers computed on request.", cache.misses),
        (
            "touchpoints_cache_joined_total",
            "counter",
            "Requests that waited for an answer another request or the warmer was computing.",
            cache.joined,
        ),
        (
            "touchpoints_cache_warmer_rounds_total",
            "counter",
            "Warmer rounds that brought every page's answers up to date.",
            warmer.rounds if warmer else 0,
        ),
        (
            "touchpoints_cache_warmer_last_round_seconds",
            "gauge",
            "Duration of the warmer's last complete round.",
            (warmer.last_round_seconds or 0.0) if warmer else 0.0,
        ),
    ]
    out = []
    for name, kind, text, value in rows:
        out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value:g}"]
    return "\n".join(out) + "\n"


def cached(service: Any, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(store, *args, **kwargs)` computed once per data version, on a reader store (see
    the module docstring for slow results).

    Callers must not mutate the result: the same object is handed to every later caller.
    """
    return cached_entry(service, fn, *args, **kwargs)[0].result  # type: ignore[no-any-return]


def cached_entry(
    service: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Entry, bool]:
    """`cached`'s answer as its entry (when computed and at what cost, for a page's "as
    of") and whether it is current: False when a slow answer older than the data is
    served while the warmer recomputes it."""
    entry, current, _ = page_entry(service, None, fn, args, kwargs)
    return entry, current


def page_entry(
    service: Any,
    stored: tuple[int, int] | None,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Entry, bool, tuple[int, int]]:
    """`cached_entry` for one of a page's answers, and the store's part of the data
    version it was judged by, to pass as `stored` for the page's next answer.

    A page shows a dozen answers; reading the store's ingestions and generation once for
    all of them saves two queries per answer (under a live feed, when every page load
    recomputes its cheap answers, about 7 % of a server's time). The version read first
    is never newer than the data an answer is computed from, so at worst an answer is
    filed under an older version and computed again on the next load; this process's own
    ingestions and catalog edits are still seen at once (`service.version`, `bump`)."""
    cache = cache_for(service)
    key = _key(fn, args, kwargs)
    with _reading(service) as run:
        version = _version_with(service, run, stored)
        with cache.guard:
            while True:
                entry = cache.entries.get(key)
                if entry is not None:
                    fresh = entry.version == version
                    slow = SLOW_SECONDS if cache.warmer is None else WARMED_SLOW_SECONDS
                    # With a warmer the refresh is already on its way, however long a round
                    # takes (minutes at 10M events): keep serving the last result meanwhile.
                    recent = (
                        cache.warmer is not None or time.time() - entry.computed_at < STALE_SECONDS
                    )
                    if fresh or (entry.cost >= slow and recent):
                        cache.entries.move_to_end(key)
                        cache.hits += 1
                        cache.stale_hits += not fresh
                        if not fresh and cache.warmer is not None:
                            cache.warmer.wake()
                        return entry, fresh, (version[2], version[3])
                # Another thread computing it at this version: its answer is ours (looked
                # at again above), or, if it failed, this thread computes it.
                flight, leader = _claim(cache, key, version)
                if leader:
                    break
        try:
            stamp, kept = _kept(run, fn, key, entry)
            if kept is not None:
                result, computed_at, cost = kept
            else:
                start = time.monotonic()
                result = run(fn, *args, **kwargs)
                cost = time.monotonic() - start
                computed_at = time.time()
                job = (fn, key, stamp, result, computed_at, cost)
                # A warmer writes it on its own thread: the visitor does not wait for a
                # large answer's text to be stored (1.6 s for 284k variants).
                warmer = cache.warmer
                if warmer is not None and _worth_keeping(fn, stamp, cost):
                    warmer.keep(job)
                else:
                    _keep(run, job)
            entry = Entry(version, result, computed_at, cost, fn, args, kwargs)
            _store(cache, key, entry, True)
        finally:
            _release(cache, key, version, flight)
    with cache.guard:
        cache.misses += 1
    return entry, True, (version[2], version[3])


# Analyses computed at once for `/v1` requests (each on its own reader): more would only
# share the cores and add their memory.
API_ANALYSES_AT_ONCE = max(2, os.cpu_count() or 2)
_API_SLOTS = threading.BoundedSemaphore(API_ANALYSES_AT_ONCE)


def current(service: Any, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(store, *args, **kwargs)` over the data as they are now, for `/v1`: computed on a
    reader store, outside the lock ingestion takes (an analysis of several seconds no
    longer holds back the events and webhooks arriving meanwhile), at most
    API_ANALYSES_AT_ONCE at a time, and shared by requests asking the same question of the
    same data at the same moment. Never an answer remembered from before: `/v1` answers
    what the store holds when asked (another worker's catalog edit, which the data version
    does not see, included)."""
    cache = cache_for(service)
    key = ("v1", *_key(fn, args, kwargs))
    with _reading(service) as run:
        version = _version_with(service, run)
        with cache.guard:
            while True:
                flight, leader = _claim(cache, key, version)
                if leader:
                    break
                if flight.ok:
                    return flight.result  # type: ignore[no-any-return]
        try:
            with _API_SLOTS:
                flight.result = run(fn, *args, **kwargs)
            flight.ok = True
            return flight.result  # type: ignore[no-any-return]
        finally:
            _release(cache, key, version, flight)


# -- the warmer ------------------------------------------------------------------------------
Job = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


@dataclass
class Lane:
    """One of the warmer's threads and the answers it refreshes: the cheap lane takes those
    that cost less than LANE_SECONDS last time (and those never computed), the costly lane
    the rest, so an analysis of a minute never holds back the answers of a second."""

    costly: bool
    poke: threading.Event = field(default_factory=threading.Event)
    warmed: Version | None = None
    rounds: int = 0
    last_round_seconds: float | None = None
    thread: threading.Thread | None = None


class Warmer:
    """Two daemon threads (`Lane`s) that keep a Service's cache current (see the module
    docstring).

    `jobs(run)` returns the analyses to compute whatever pages were visited (the default
    pages; `run(fn, *args)` reads an answer it needs through the cache); entries pages
    asked for since are recomputed too.
    """

    def __init__(self, service: Any, jobs: Callable[[Callable[..., Any]], list[Job]]) -> None:
        self.service = service
        self.jobs = jobs
        self.cache = cache_for(service)
        self.stopping = threading.Event()
        self.to_keep: queue.SimpleQueue[Keep] = queue.SimpleQueue()
        self.lanes = (Lane(costly=False), Lane(costly=True))
        for lane in self.lanes:
            name = "touchpoints-cache-warmer" + ("-costly" if lane.costly else "")
            lane.thread = threading.Thread(target=self._run, args=(lane,), name=name, daemon=True)

    @property
    def rounds(self) -> int:
        """Rounds after which every answer was up to date (the fewer of the two lanes')."""
        return min(lane.rounds for lane in self.lanes)

    @property
    def last_round_seconds(self) -> float | None:
        """The longer of the lanes' last rounds: how old a slow answer can get."""
        seconds = [lane.last_round_seconds for lane in self.lanes if lane.last_round_seconds]
        return max(seconds) if seconds else None

    def start(self) -> Warmer:
        self.cache.warmer = self
        for lane in self.lanes:
            assert lane.thread is not None
            lane.thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self.stopping.set()
        self.wake()
        for lane in self.lanes:
            assert lane.thread is not None
            lane.thread.join(timeout)
        if self.cache.warmer is self:
            self.cache.warmer = None

    def wake(self) -> None:
        for lane in self.lanes:
            lane.poke.set()

    def keep(self, job: Keep) -> None:
        """Store an answer a visitor's request computed, from the cheap lane's thread."""
        self.to_keep.put(job)
        self.lanes[0].poke.set()

    def _keep_waiting(self, run: Callable[..., Any], lane: Lane) -> None:
        while not lane.costly:
            try:
                job = self.to_keep.get_nowait()
            except queue.Empty:
                return
            _keep(run, job)

    def _run(self, lane: Lane) -> None:
        reader = open_reader(self.service)
        run = self.service.read if reader is None else _runner(reader)
        try:
            self._loop(run, lane)
            self._keep_waiting(run, lane)
        except Exception:  # the server goes on without a warm cache
            log.exception("cache warmer stopped")
        finally:
            if reader is not None:
                _close_reader(reader)

    def _loop(self, run: Callable[..., Any], lane: Lane) -> None:
        seen: Version | None = None
        changed_at = first_change = time.monotonic()
        while not self.stopping.is_set():
            self._keep_waiting(run, lane)
            version = _version_with(self.service, run)
            now = time.monotonic()
            if version != seen:
                if seen is None or seen == lane.warmed:
                    first_change = now
                seen, changed_at = version, now
            due = lane.warmed is None or (
                version != lane.warmed
                and (
                    now - changed_at >= DEBOUNCE_SECONDS or now - first_change >= MAX_DELAY_SECONDS
                )
            )
            if due:
                self._round(run, version, lane)
                continue
            lane.poke.wait(POLL_SECONDS)
            lane.poke.clear()

    def _ordered(self, todo: dict[Key, Job], lane: Lane) -> list[tuple[Key, Job]]:
        """This lane's jobs of the round, those never computed first (in the pages' order),
        then by how long each answer has been waiting for a refresh per second it costs,
        most first.

        Under a steady feed a round is cut short after any slow job that new data
        overtook (`_round`) and starts over with this order: an answer costing 0.3 s is
        redone after a few seconds of waiting, one costing 1.5 s after several, and as
        each answer's wait grows every one gets its turn (none starves). So the pages made
        of cheap answers follow the feed within seconds and an expensive answer is out of
        date for a time in proportion to its own cost.
        """
        now = time.time()
        with self.cache.guard:
            known = {key: self.cache.entries.get(key) for key in todo}
        mine = [
            item
            for item in todo.items()
            if lane.costly == (known[item[0]] is not None and known[item[0]].cost >= LANE_SECONDS)
        ]

        def urgency(item: tuple[Key, Job]) -> float:
            entry = known[item[0]]
            if entry is None:
                return float("inf")
            return (now - entry.computed_at) / max(entry.cost, 0.01)

        return sorted(mine, key=urgency, reverse=True)

    def _round(self, run: Callable[..., Any], version: Version, lane: Lane) -> None:
        start = time.monotonic()
        with self.cache.guard:
            recent = list(self.cache.entries.items())[-REWARM_ENTRIES:]
        todo: dict[Key, Job] = {}
        # What the job list itself reads (the latest event's day, the busiest channel) is
        # answers pages show too: read through the cache, each is computed once a round.
        for fn, args, kwargs in self.jobs(partial(cached, self.service)):
            todo[_key(fn, args, kwargs)] = (fn, args, kwargs)
        for key, entry in reversed(recent):
            todo.setdefault(key, (entry.fn, entry.args, entry.kwargs))
        for key, (fn, args, kwargs) in self._ordered(todo, lane):
            if self.stopping.is_set():
                return
            with self.cache.guard:
                current = self.cache.entries.get(key)
                if current is not None and current.version == version:
                    continue
                # A visitor computing it now: wait for that answer rather than compute
                # it beside them (a failure there is retried next round).
                flight, leader = _claim(self.cache, key, version)
            if not leader:
                continue
            self._keep_waiting(run, lane)
            try:
                cost = self._compute(run, key, (fn, args, kwargs), version, current)
            finally:
                _release(self.cache, key, version, flight)
            if cost is None:
                continue
            if cost >= WARMED_SLOW_SECONDS and _version_with(self.service, run) != version:
                return  # new data arrived meanwhile: start over, the most urgent first
        lane.warmed = version
        lane.rounds += 1
        lane.last_round_seconds = time.monotonic() - start

    def _compute(
        self, run: Callable[..., Any], key: Key, job: Job, version: Version, current: Entry | None
    ) -> float | None:
        """One job of a round, stored in the cache (read from the store's kept answers when
        there): its cost, or None when it failed (logged; the others go on)."""
        fn, args, kwargs = job
        stamp, kept = _kept(run, fn, key, current)
        if kept is not None:
            result, computed_at, cost = kept
        else:
            began = time.monotonic()
            try:
                result = run(fn, *args, **kwargs)
            except OutOfMemoryError as exc:  # a fault the operator can act on
                log.warning("cache warmer: %s: %s", getattr(fn, "__qualname__", fn), exc)
                return None
            except TouchpointsError as exc:  # the data cannot answer it (yet): no fault
                log.info("cache warmer: %s: %s", getattr(fn, "__qualname__", fn), exc)
                return None
            except Exception:  # one failing analysis must not stop the others
                log.exception("cache warmer: %s failed", getattr(fn, "__qualname__", fn))
                return None
            cost = time.monotonic() - began
            computed_at = time.time()
            _keep(run, (fn, key, stamp, result, computed_at, cost))
        _store(self.cache, key, Entry(version, result, computed_at, cost, fn, args, kwargs))
        return float(cost)
