"""The embedded default store: one DuckDB file (or `:memory:`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from touchpoints.core.errors import OutOfMemoryError, StoreError
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.core.settings import get_settings
from touchpoints.store import derived
from touchpoints.store.base import EVENT_COLUMNS_SQL, Staging, Store
from touchpoints.store.params import Params, bound

GOOD_COLUMNS = ", ".join("g." + c for c in COLUMN_NAMES)


def is_lock_conflict(exc: BaseException) -> bool:
    """DuckDB's refusal to open a file another process holds."""
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


class StoreLocked(StoreError):
    """Another process holds the DuckDB file (DuckDB lets one process write a file)."""


def connect(path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to `path` with TOUCHPOINTS_DUCKDB_MEMORY_LIMIT applied. Without a
    limit DuckDB may keep 80 % of the machine's memory for one store, which a server
    sharing the machine cannot afford at 50M events; with one, it spills to disk instead."""
    limit = get_settings().duckdb_memory_limit
    config = {"memory_limit": limit} if limit else {}
    try:
        return duckdb.connect(path, read_only=read_only, config=config)
    except duckdb.Error as exc:
        if limit and isinstance(exc, duckdb.ParserException):  # the only text it parses
            raise StoreError(
                f"TOUCHPOINTS_DUCKDB_MEMORY_LIMIT={limit!r} is not a memory size DuckDB "
                "understands (write it like '3GB', '512MB' or '25%')"
            ) from None
        error = StoreLocked if is_lock_conflict(exc) else StoreError
        raise error(f"cannot open DuckDB store {path!r}: {str(exc).splitlines()[0]}") from None


@contextmanager
def memory_guard() -> Iterator[None]:
    """DuckDB's out-of-memory error as `OutOfMemoryError`: one line naming the limit, which
    the CLI prints and the server turns into a 503 page, instead of a stack trace."""
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        detail = str(exc).splitlines()[0].removeprefix("Out of Memory Error: ")
        raise OutOfMemoryError(get_settings().duckdb_memory_limit, detail) from None


class DuckDBStore(Store):
    engine = "duckdb"

    def __init__(self, path: str, read_only: bool = False) -> None:
        super().__init__(path)
        self.con = connect(path, read_only=read_only)
        self._in_transaction = False
        self._settings()
        if not read_only:
            self._create_schema()

    def _settings(self) -> None:
        self.con.execute("SET TimeZone = 'UTC'")
        # A server must not print progress bars; `touchpoints ingest` turns it on for itself.
        self.con.execute("SET enable_progress_bar = false")

    def scrub(self, tables: Sequence[str]) -> None:
        """Rewrite the whole database into a fresh file and put it in place atomically.

        DuckDB marks deleted rows and reuses their blocks later, so `CHECKPOINT; VACUUM`
        leaves erased text readable in the file; a copy holds only the live rows. The copy
        is made beside the file (same filesystem) and `os.replace`d over it, so a crash
        leaves either the old file or the new one, never half of each.
        """
        if self._in_transaction or self.target in ("", ":memory:"):
            return
        path = Path(self.target)
        fresh = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.scrub")
        database = self.con.execute("SELECT current_database()").fetchone()[0]
        self.con.execute("CHECKPOINT")
        try:
            self.con.execute("ATTACH $path AS tp_scrub", {"path": str(fresh)})
            self.con.execute(f'COPY FROM DATABASE "{database}" TO tp_scrub')
            self.con.execute("DETACH tp_scrub")
            os.chmod(fresh, path.stat().st_mode & 0o777)
            try:
                self.con.close()
            except duckdb.Error as exc:  # another cursor of this connection is busy
                raise StoreError(
                    f"erased, but {path} could not be rewritten while in use: {exc}"
                ) from None
            os.replace(fresh, path)
            self.con = connect(str(path))
            self._settings()
        finally:
            fresh.unlink(missing_ok=True)
            Path(f"{fresh}.wal").unlink(missing_ok=True)

    def close(self) -> None:
        self.con.close()

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        values = bound(sql, params)
        with memory_guard():
            cur = self.con.execute(sql, values) if values else self.con.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def execute(self, sql: str, params: Params | None = None) -> None:
        values = bound(sql, params)
        with memory_guard():
            if values:
                self.con.execute(sql, values)
            else:
                self.con.execute(sql)

    def _native(self, sql: str) -> None:
        self.con.execute(sql)

    def in_transaction(self) -> bool:
        return self._in_transaction

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_transaction:  # DuckDB has no nested transactions: join the outer one
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._in_transaction = False
            self.con.execute("ROLLBACK")
            raise
        self._in_transaction = False
        self.con.execute("COMMIT")

    def staging_connection(self) -> duckdb.DuckDBPyConnection:
        # Staging in the store's own connection: the good rows never leave DuckDB.
        return self.con

    def _replace_catalog(self, yaml_text: str, rows: list[tuple[Any, ...]]) -> None:
        with self.transaction():
            self.con.execute("DELETE FROM meta WHERE key = 'catalog'")
            self.con.execute("INSERT INTO meta VALUES ('catalog', $yaml)", {"yaml": yaml_text})
            self.con.execute("DELETE FROM touchpoints")
            self.con.executemany("INSERT INTO touchpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _commit(
        self, con: duckdb.DuckDBPyConnection, staging: Staging, want_ids: bool = False
    ) -> tuple[int, list[str] | None]:
        source = staging.source
        if con is not self.con:
            raise StoreError("a DuckDB store commits what was staged on its own connection")
        # Rows carry their ingestion order in `seq`, so the engine may write them in parallel.
        con.execute("SET preserve_insertion_order = false")
        try:
            with self.transaction():
                base = con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
                returning = " RETURNING event_id" if want_ids else ""
                # The stored ids the batch repeats, found with the batch's ids pushed
                # into the scan of `events` as a filter: an anti join straight against
                # `events` probes every stored id, 0.12-0.2 s per commit at 10M events
                # however few the batch holds; this, 3 ms (bench/RESULTS.md, beside).
                cur = con.execute(
                    f"""INSERT INTO events (seq, {EVENT_COLUMNS_SQL}, source)
                    SELECT $base + g._row, {GOOD_COLUMNS}, $source
                    FROM _good g ANTI JOIN (
                      SELECT event_id FROM events WHERE event_id IN (SELECT event_id FROM _good)
                    ) e ON e.event_id = g.event_id{returning}""",
                    {"base": base, "source": source},
                )
                ids = [r[0] for r in cur.fetchall()] if want_ids else None
                stored = len(ids) if ids is not None else cur.fetchone()[0]
                con.execute("""INSERT INTO quarantine SELECT b.*, now()::TIMESTAMP FROM _bad b
                    WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.source = b.source
                      AND q."row" = b."row" AND q."column" IS NOT DISTINCT FROM b."column"
                      AND q.reason = b.reason)""")
                if staging.logged:
                    con.execute(
                        "INSERT INTO ingest_log VALUES ($source, $stored, $duplicates, $rejected, "
                        "now()::TIMESTAMP)",
                        staging.log(stored),
                    )
                if stored:
                    derived.refresh(self, "SELECT DISTINCT customer_id FROM _good")
        finally:
            # Staging CSV and JSON Lines numbers rows by insertion order: keep it there.
            con.execute("SET preserve_insertion_order = true")
        return int(stored), ids
