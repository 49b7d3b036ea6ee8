"""The one core object the HTTP side shares (like Datasette's `Datasette`).

Routes never open stores themselves: they ask `request.app.state.service` to ingest,
quarantine or read. On DuckDB one process owns the file, so every store call is
serialised by a lock; on PostgreSQL each worker process has its own Service and the
database orders concurrent writers.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from touchpoints.ingest import RecordsResult
from touchpoints.settings import Settings, get_settings
from touchpoints.store import open_store
from touchpoints.store.base import Store

T = TypeVar("T")


class Service:
    """A store plus settings, safe to call from the server's threads."""

    def __init__(self, settings: Settings | None = None, target: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.store: Store = open_store(target or self.settings.db)
        self.lock = threading.RLock()

    def close(self) -> None:
        with self.lock:
            self.store.close()

    @staticmethod
    def batch_source(kind: str) -> str:
        """A source name unique to one request (`api:...`, `whatsapp:...`), so quarantine
        rows of different requests never merge and each can be traced back."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        return f"{kind}:{stamp}:{uuid.uuid4().hex[:12]}"

    def ingest(self, records: Sequence[Any], kind: str = "api") -> RecordsResult:
        """Validate and store records; returns once the stored ones are committed."""
        with self.lock:
            return self.store.ingest_records(records, self.batch_source(kind))

    def quarantine_raw(
        self, kind: str, raw: Any, reason: str, column: str | None = None, row: int = 1
    ) -> None:
        """Keep a payload nothing could be made of (an unknown webhook shape, say)."""
        text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
        with self.lock:
            self.store.quarantine_raw(self.batch_source(kind), row, column, reason, text)

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(store, *args, **kwargs)` (an analysis) under the store lock."""
        with self.lock:
            return fn(self.store, *args, **kwargs)
