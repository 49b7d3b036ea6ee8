"""The one core object the HTTP side shares (like Datasette's `Datasette`).

Routes never open stores themselves: they ask `request.app.state.service` to ingest,
quarantine or read. On DuckDB one process owns the file, so every store call is
serialised by a lock; on PostgreSQL each worker process has its own Service and the
database orders concurrent writers.

`POST /v1/events` goes through a group commit (`ingest_async`): requests that arrive
while a transaction is running wait for the next one, and that one stores all of them
at once. A request is answered only after the transaction holding its events commits,
so durability is unchanged while a burst of single-event posts costs one transaction
per burst instead of one per post.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from touchpoints.core.errors import StoreError
from touchpoints.core.settings import Settings, get_settings
from touchpoints.ingest import (
    LazyRecords,
    RecordsResult,
    ingest_records,
    key_text,
    quarantine_raw,
)
from touchpoints.ingest.identities import link
from touchpoints.server.cache import close_readers
from touchpoints.store import open_store
from touchpoints.store.base import Store

log = logging.getLogger("touchpoints.server")

T = TypeVar("T")
_PROCESS = uuid.uuid4().hex[:8]
_COUNTER = itertools.count()


def _new_process_prefix() -> None:
    global _PROCESS
    _PROCESS = uuid.uuid4().hex[:8]


os.register_at_fork(after_in_child=_new_process_prefix)  # forked workers get their own


@dataclass
class _Pending:
    records: Sequence[Any]
    source: str
    future: asyncio.Future[RecordsResult] = field(repr=False)
    values: Sequence[Any] | None = None  # the records parsed, when the caller has them


class Service:
    """A store plus settings, safe to call from the server's threads."""

    def __init__(self, settings: Settings | None = None, target: str | None = None) -> None:
        self.settings = settings or get_settings()
        # The server holds its DuckDB file itself: never through another server.
        self.store: Store = open_store(target or self.settings.db, via_server=False)
        self.lock = threading.RLock()
        self.scrub_pending = False  # set by an erase through the local door
        # Bumped after every commit: caches and the live stream compare it.
        self.version = 0
        self._pending: list[_Pending] = []
        # Every ingestion of this service pseudonymises with its own settings' key.
        self.key = key_text(self.settings.pseudonymize_key)
        self._drainer: asyncio.Task[None] | None = None

    def close(self) -> None:
        close_readers(self)
        with self.lock:
            if self.scrub_pending:  # an erase came through the local door (server.local)
                try:
                    self.store.scrub(())
                except StoreError as exc:
                    log.error("the store's file was not rewritten after an erase: %s", exc)
            self.store.close()

    @staticmethod
    def batch_source(kind: str) -> str:
        """A source name unique to one request (`api:...`, `whatsapp:...`), so quarantine
        rows of different requests never merge and each can be traced back.

        A random per-process prefix plus a counter: unique across workers and restarts
        without a system call per request (urandom is slow in sandboxed kernels)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        return f"{kind}:{stamp}:{_PROCESS}{next(_COUNTER):06x}"

    def ingest(self, records: Sequence[Any], kind: str = "api") -> RecordsResult:
        """Validate and store records; returns once the stored ones are committed."""
        with self.lock:
            result = ingest_records(self.store, records, self.batch_source(kind), key=self.key)
            self.version += 1
            return result

    async def ingest_async(
        self, records: Sequence[Any], kind: str = "api", values: Sequence[Any] | None = None
    ) -> RecordsResult:
        """As `ingest`, from the event loop, sharing a transaction with concurrent callers.

        `values`: the records already parsed (see `ingest.ingest_records`)."""
        if not records:
            return RecordsResult()
        future: asyncio.Future[RecordsResult] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(records, self.batch_source(kind), future, values))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        # shield: a client that disconnects must not cancel a commit others wait on.
        return await asyncio.shield(future)

    def _take_group(self) -> list[_Pending]:
        """The oldest pending requests, up to max_batch_events events (at least one)."""
        limit = max(self.settings.max_batch_events, 1)
        group, total = [], 0
        while self._pending and (not group or total + len(self._pending[0].records) <= limit):
            item = self._pending.pop(0)
            group.append(item)
            total += len(item.records)
        return group

    async def _drain(self) -> None:
        while self._pending:
            group = self._take_group()
            try:
                result = await run_in_threadpool(self._ingest_group, group)
            except Exception as exc:
                if len(group) == 1:
                    _settle(group[0], exception=exc)
                    continue
                # One request's failure must not fail the others: each alone (the group's
                # transaction rolled back, so nothing of it was stored).
                for p in group:
                    try:
                        _settle(p, await run_in_threadpool(self._ingest_group, [p]))
                    except Exception as alone:
                        _settle(p, exception=alone)
                continue
            except BaseException as exc:  # cancelled: every waiter hears of it
                for p in group:
                    _settle(p, exception=exc)
                raise
            counts = [len(p.records) for p in group]
            for p, part in zip(group, split_result(result, counts), strict=True):
                _settle(p, part)

    def _ingest_group(self, group: list[_Pending]) -> RecordsResult:
        values = (
            None if any(p.values is None for p in group) else [v for p in group for v in p.values]  # type: ignore[union-attr]
        )
        with self.lock:
            if len(group) == 1:
                result = ingest_records(
                    self.store, group[0].records, group[0].source, key=self.key, values=values
                )
            else:
                records = LazyRecords(
                    sum(len(p.records) for p in group),
                    lambda: [r for p in group for r in p.records],
                )
                parts = [(len(p.records), p.source) for p in group]
                result = ingest_records(
                    self.store,
                    records,
                    f"{group[0].source}+{len(group) - 1}",
                    key=self.key,
                    parts=parts,
                    values=values,
                )
            self.version += 1
            return result

    def link(self, groups: Sequence[Sequence[str]], kind: str) -> None:
        """Learn ids of one person from a connector (ingest.identities), before its events."""
        with self.lock:
            link(self.store, groups, kind, key=self.key)
            self.version += 1

    def quarantine_raw(
        self, kind: str, raw: Any, reason: str, column: str | None = None, row: int = 1
    ) -> None:
        """Keep a payload nothing could be made of (an unknown webhook shape, say)."""
        text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
        with self.lock:
            quarantine_raw(self.store, self.batch_source(kind), row, column, reason, text)
            self.version += 1

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(store, *args, **kwargs)` (an analysis) under the store lock."""
        with self.lock:
            return fn(self.store, *args, **kwargs)


def _settle(
    pending: _Pending, result: RecordsResult | None = None, exception: BaseException | None = None
) -> None:
    """Answer one waiting request (unless its client already gave up)."""
    if pending.future.done():
        return
    if exception is not None:
        pending.future.set_exception(exception)
    else:
        pending.future.set_result(result)  # type: ignore[arg-type]


def split_result(result: RecordsResult, counts: list[int]) -> list[RecordsResult]:
    """Cut one group's result back into each request's own (indexes from 0 again)."""
    if len(counts) == 1:
        return [result]
    parts, start = [], 0
    for count in counts:
        items = result.items[start : start + count]
        for item in items:
            item["index"] = int(item["index"]) - start  # type: ignore[call-overload]
        stored = sum(1 for i in items if i["status"] == "stored")
        duplicates = sum(1 for i in items if i["status"] == "duplicate")
        parts.append(RecordsResult(stored, duplicates, count - stored - duplicates, items))
        start += count
    return parts
