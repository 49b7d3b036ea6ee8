"""The embedded default store: one DuckDB file (or `:memory:`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from touchpoints.core.errors import StoreError
from touchpoints.ingest import Staged
from touchpoints.store.base import EVENT_COLUMNS_SQL, Store
from touchpoints.store.dialects import Params, bound


class DuckDBStore(Store):
    engine = "duckdb"

    def __init__(self, path: str, read_only: bool = False) -> None:
        super().__init__(path)
        try:
            self.con = duckdb.connect(path, read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(
                f"cannot open DuckDB store {path!r}: {str(exc).splitlines()[0]}"
            ) from None
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

    def query_params(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.con.execute(sql, params or [])

    def _staging_connection(self) -> duckdb.DuckDBPyConnection:
        # Staging in the store's own connection: the good rows never leave DuckDB.
        return self.con

    def _replace_catalog(self, yaml_text: str, rows: list[tuple[Any, ...]]) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM meta WHERE key = 'catalog'")
            con.execute("INSERT INTO meta VALUES ('catalog', ?)", [yaml_text])
            con.execute("DELETE FROM touchpoints")
            con.executemany("INSERT INTO touchpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _commit_staged(
        self, con: duckdb.DuckDBPyConnection, staged: Staged, want_ids: bool = False
    ) -> tuple[int, list[str] | None]:
        # Rows carry their ingestion order in `seq`, so the engine may write them in parallel.
        con.execute("SET preserve_insertion_order = false")
        con.execute("BEGIN TRANSACTION")
        try:
            base = con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            returning = " RETURNING event_id" if want_ids else ""
            cur = con.execute(
                f"""INSERT INTO events (seq, {EVENT_COLUMNS_SQL}, source)
                SELECT {base} + g._row, {", ".join("g." + c for c in EVENT_COLUMNS_SQL.split(", "))}, ?
                FROM _good g ANTI JOIN events e ON e.event_id = g.event_id{returning}""",
                [staged.source],
            )
            ids = [r[0] for r in cur.fetchall()] if want_ids else None
            stored = len(ids) if ids is not None else cur.fetchone()[0]
            # Re-ingesting a file does not repeat its quarantine entries.
            con.execute("""INSERT INTO quarantine SELECT b.*, now()::TIMESTAMP FROM _bad b
                WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.source = b.source AND q."row" = b."row"
                  AND q."column" IS NOT DISTINCT FROM b."column" AND q.reason = b.reason)""")
            con.execute(
                "INSERT INTO ingest_log VALUES (?, ?, ?, ?, now()::TIMESTAMP)",
                [
                    staged.source,
                    stored,
                    staged.good - stored + staged.in_file_duplicates,
                    staged.rejected_rows,
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            # Staging CSV and JSON Lines numbers rows by insertion order: keep it there.
            con.execute("SET preserve_insertion_order = true")
        return int(stored), ids
