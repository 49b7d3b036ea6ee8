"""The embedded default store: one DuckDB file (or `:memory:`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from touchpoints.core.errors import StoreError
from touchpoints.core.events import COLUMN_NAMES
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


class DuckDBStore(Store):
    engine = "duckdb"

    def __init__(self, path: str, read_only: bool = False) -> None:
        super().__init__(path)
        try:
            self.con = duckdb.connect(path, read_only=read_only)
        except duckdb.Error as exc:
            error = StoreLocked if is_lock_conflict(exc) else StoreError
            raise error(f"cannot open DuckDB store {path!r}: {str(exc).splitlines()[0]}") from None
        self._in_transaction = False
        self.con.execute("SET TimeZone = 'UTC'")
        # A server must not print progress bars; `touchpoints ingest` turns it on for itself.
        self.con.execute("SET enable_progress_bar = false")
        if not read_only:
            self._create_schema()

    def close(self) -> None:
        self.con.close()

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        values = bound(sql, params)
        cur = self.con.execute(sql, values) if values else self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def execute(self, sql: str, params: Params | None = None) -> None:
        values = bound(sql, params)
        if values:
            self.con.execute(sql, values)
        else:
            self.con.execute(sql)

    def _native(self, sql: str) -> None:
        self.con.execute(sql)

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
                cur = con.execute(
                    f"""INSERT INTO events (seq, {EVENT_COLUMNS_SQL}, source)
                    SELECT $base + g._row, {GOOD_COLUMNS}, $source
                    FROM _good g ANTI JOIN events e ON e.event_id = g.event_id{returning}""",
                    {"base": base, "source": source},
                )
                ids = [r[0] for r in cur.fetchall()] if want_ids else None
                stored = len(ids) if ids is not None else cur.fetchone()[0]
                con.execute("""INSERT INTO quarantine SELECT b.*, now()::TIMESTAMP FROM _bad b
                    WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.source = b.source
                      AND q."row" = b."row" AND q."column" IS NOT DISTINCT FROM b."column"
                      AND q.reason = b.reason)""")
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
