"""The Store: one canonical events table on some engine, with its catalog and quarantine.

Subclasses only say how to run SQL and how to copy staged rows in; analytics are written
once in DuckDB's SQL dialect and each store translates them for its engine.
"""

from __future__ import annotations

import json
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from touchpoints.core.catalog import Catalog, default_catalog, parse_catalog
from touchpoints.core.errors import StoreError
from touchpoints.core.events import COLUMN_NAMES, COLUMNS
from touchpoints.ingest import (
    IngestResult,
    RecordsResult,
    Staged,
    TypedRow,
    check_records,
    quarantine_sample,
    stage_file,
)
from touchpoints.store.dialects import Params
from touchpoints.store.schema import ddl

Progress = Callable[[str], None]


class Store(ABC):
    """Events, quarantine and catalog on one engine; analytics call `query`."""

    engine: str = ""
    placeholder: str = "?"  # how `execute` spells a parameter on this engine

    def __init__(self, target: str) -> None:
        self.target = target
        self._catalog: Catalog | None = None

    # -- engine primitives -------------------------------------------------------------
    @abstractmethod
    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run one SELECT written in DuckDB's dialect; rows as dicts. Values are bound to
        the query's `$name` markers from `params`, never written into its text."""

    def query_params(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """A parameterised SELECT in the engine's own dialect, `?` marking each parameter:
        for values people type (ids, names), which must never be spliced into SQL."""
        raise StoreError(f"parameterised queries need DuckDB or PostgreSQL, not {self.engine}")

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement in the engine's own dialect (DDL, writes)."""

    @abstractmethod
    def _commit_staged(
        self, con: duckdb.DuckDBPyConnection, staged: Staged, want_ids: bool = False
    ) -> tuple[int, list[str] | None]:
        """Copy `_good` (minus stored event_ids) and `_bad` in one transaction.

        Returns the number of rows stored and, with `want_ids`, their event_ids (the HTTP
        API answers per item; a file of millions of rows does not want them back).
        """

    @abstractmethod
    def _staging_connection(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection to read and validate files with."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection(s)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_schema(self) -> None:
        for stmt in ddl(self.engine):
            self.execute(stmt)

    # -- catalog ---------------------------------------------------------------------------
    def catalog(self) -> Catalog:
        """The stored catalog, or the package default when none was ever given."""
        if self._catalog is None:
            rows = self.query("SELECT value FROM meta WHERE key = 'catalog'")
            self._catalog = (
                parse_catalog(rows[0]["value"], "stored catalog") if rows else default_catalog()
            )
        return self._catalog

    def has_catalog(self) -> bool:
        return bool(self.query("SELECT 1 AS x FROM meta WHERE key = 'catalog'"))

    def set_catalog(self, catalog: Catalog) -> None:
        """Store the catalog (YAML in `meta`, one row per entry in `touchpoints` for joins)."""
        rows = [
            (
                t.id,
                t.label("en"),
                t.label("pt-BR"),
                t.channel,
                t.kind,
                t.visibility,
                ",".join(t.phase),
                t.owner,
                json.dumps(t.target),
            )
            for t in catalog.touchpoints
        ]
        self._replace_catalog(catalog.to_yaml(), rows)
        self._catalog = catalog

    @abstractmethod
    def _replace_catalog(self, yaml_text: str, rows: list[tuple[Any, ...]]) -> None: ...

    # -- ingestion -------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[str | Path],
        catalog: Catalog | None = None,
        mapping: dict[str, str] | None = None,
        timezone: str = "UTC",
        fmt: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Ingest files; good rows are stored, bad rows quarantined, duplicates counted.

        Each file is committed on its own, so an unreadable file (raised as InputFileError)
        leaves the files before it stored.
        """
        if catalog is not None:
            self.set_catalog(catalog)
        elif not self.has_catalog():
            self.set_catalog(self.catalog())
        active = self.catalog()
        total = IngestResult()
        con = self._staging_connection()
        for path in paths:
            if progress:
                progress(f"reading {path}")
            staged = stage_file(con, path, active, mapping, timezone, fmt)
            if progress:
                progress(f"storing {staged.good:,} rows of {path}")
            stored, _ = self._commit_staged(con, staged)
            result = IngestResult(
                ingested=stored,
                duplicates=staged.good - stored + staged.in_file_duplicates,
                rejected=staged.rejected_rows,
                quarantine=quarantine_sample(con),
                ignored_columns={staged.source: staged.ignored_columns}
                if staged.ignored_columns
                else {},
            )
            total.add(result)
        return total

    def ingest_records(
        self,
        records: Sequence[Any],
        source: str,
        timezone: str = "UTC",
        *,
        parts: Sequence[tuple[int, str]] | None = None,
        values: Sequence[Any] | None = None,
    ) -> RecordsResult:
        """Ingest already-parsed records (HTTP API, connectors, surveys) in one transaction.

        The records go through the same validation as files (they are staged as JSON
        Lines), so an API client gets exactly the reasons a file would. Each item gets a
        status: `stored`, `duplicate` (event_id already stored, or repeated in the batch)
        or `rejected` (quarantined under `source` with its 1-based position as row).

        An item may be `bytes`: the text of one JSON value on one line, already checked
        to be JSON by the caller (the HTTP API passes request lines through untouched
        instead of decoding and re-encoding them). `parts` — `(count, source)` pairs
        covering the records in order — lets several requests share one transaction
        (group commit) while each keeps its own quarantine source and row numbers.

        A batch whose records are all certainly valid (`ingest.check_records`) is typed in
        Python and skips staging (~100 ms of DuckDB planning per batch); any other batch is
        staged, so rejections and their reasons always come from the staging SQL. `values`
        are the records already parsed (the HTTP API parses a body once): then `records`
        is only read when the batch must be staged.
        """
        if not self.has_catalog():
            self.set_catalog(self.catalog())
        result = RecordsResult()
        if not records:
            return result
        con = self._staging_connection()
        rows = check_records(values if values is not None else records, self.catalog(), timezone)
        if rows is not None:
            return self._ingest_checked(con, rows, source)
        with tempfile.TemporaryDirectory(prefix="tp-records-") as tmp:
            path = Path(tmp) / "records.jsonl"
            with path.open("wb") as fh:
                fh.write(b"\n".join(_json_line(r) for r in records))
                fh.write(b"\n" + EVERY_COLUMN_LINE + b"\n")
            staged = stage_file(con, path, self.catalog(), None, timezone, "jsonl")
            staged.source = source
            # The last line only made every column exist: forget its rejection.
            con.execute('DELETE FROM _bad WHERE "row" = ?', [len(records) + 1])
            staged.rows -= 1
            staged.rejected_rows -= 1
            grouped = bool(parts and len(parts) > 1 and staged.rejected_rows)
            if grouped:
                los, his, sources, start = [], [], [], 0
                for count, part_source in parts or ():
                    los.append(start)
                    his.append(start + count)
                    sources.append(part_source)
                    start += count
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE _parts AS "
                    "SELECT unnest(?) AS lo, unnest(?) AS hi, unnest(?) AS src",
                    [los, his, sources],
                )
                con.execute(
                    'UPDATE _bad SET source = p.src, "row" = _bad."row" - p.lo FROM _parts p '
                    'WHERE _bad."row" > p.lo AND _bad."row" <= p.hi'
                )
            else:
                con.execute("UPDATE _bad SET source = ?", [parts[0][1] if parts else source])
            # Reasons by position in `records` (rows of _bad are renumbered per part).
            located = (
                'SELECT b."row" + p.lo, b."column", b.reason FROM _bad b JOIN _parts p '
                "ON b.source = p.src ORDER BY 1, 2 NULLS FIRST"
                if grouped
                else 'SELECT "row", "column", reason FROM _bad ORDER BY "row", "column" NULLS FIRST'
            )
            reasons: dict[int, str] = {}
            for row, column, reason in con.execute(located).fetchall():
                text = f"{column}: {reason}" if column else reason
                reasons[int(row)] = f"{reasons[int(row)]}; {text}" if int(row) in reasons else text
            # Position -> event_id of every valid item (in-batch repeats included).
            valid = con.execute(
                "SELECT _row, event_id FROM _typed WHERE _problem IS NULL ORDER BY _row"
            ).fetchall()
            stored, ids = self._commit_staged(con, staged, want_ids=True)
        fresh = set(ids or ())
        items: list[dict[str, object]] = [
            {"index": index, "status": "rejected", "reason": reasons.get(index + 1, "rejected")}
            for index in range(len(records))
        ]
        duplicates = 0
        for row, event_id in valid:
            item = items[int(row) - 1]
            del item["reason"]
            if event_id in fresh:
                fresh.discard(event_id)  # a repeat later in the batch is a duplicate
                item["status"] = "stored"
            else:
                item["status"] = "duplicate"
                duplicates += 1
            item["event_id"] = event_id
        result.items = items
        result.stored = stored
        result.duplicates = duplicates
        result.rejected = len(items) - stored - duplicates
        return result

    def _ingest_checked(
        self, con: duckdb.DuckDBPyConnection, rows: list[TypedRow], source: str
    ) -> RecordsResult:
        """Store records `check_records` typed: they become `_good` (first of each event_id,
        `_row` = position from 1, as staging numbers them) with an empty `_bad`."""
        first: dict[object, int] = {}
        for position, row in enumerate(rows):
            first.setdefault(row[0], position)
        keep = sorted(first.values()) if len(first) < len(rows) else range(len(rows))
        columns = {"_row": pa.array([p + 1 for p in keep], pa.int64())}
        for i, name in enumerate(COLUMN_NAMES):
            columns[name] = pa.array([rows[p][i] for p in keep], _ARROW_TYPES[name])
        con.register("_checked", pa.table(columns))
        try:
            con.execute("CREATE OR REPLACE TEMP VIEW _good AS SELECT * FROM _checked")
            con.execute(
                'CREATE OR REPLACE TEMP TABLE _bad (source VARCHAR, "row" BIGINT, '
                '"column" VARCHAR, reason VARCHAR, raw VARCHAR)'
            )
            staged = Staged(source, len(rows), len(first), len(rows) - len(first), 0, [])
            stored, ids = self._commit_staged(con, staged, want_ids=True)
        finally:
            con.execute("DROP VIEW IF EXISTS _good")
            con.unregister("_checked")
        fresh = set(ids or ())
        items: list[dict[str, object]] = []
        for index, row in enumerate(rows):
            event_id = row[0]
            if event_id in fresh:
                fresh.discard(event_id)  # a repeat later in the batch is a duplicate
                items.append({"index": index, "status": "stored", "event_id": event_id})
            else:
                items.append({"index": index, "status": "duplicate", "event_id": event_id})
        return RecordsResult(stored, len(rows) - stored, 0, items)

    def quarantine_raw(
        self, source: str, row: int, column: str | None, reason: str, raw: str
    ) -> None:
        """Quarantine one thing that never became a row (a webhook payload no connector
        could map), so nothing a channel sent is lost."""
        marks = ", ".join([self.placeholder] * 5)
        self.execute(
            f'INSERT INTO quarantine (source, "row", "column", reason, raw, quarantined_at) '
            f"VALUES ({marks}, CURRENT_TIMESTAMP)",
            [source, row, column, reason, raw],
        )

    # -- analytics (thin conveniences over touchpoints.analytics) ----------------------
    def kpis(self, **options: Any) -> dict[str, Any]:
        from touchpoints.analytics.kpis import kpis

        return kpis(self, **options)

    def count(self, table: str = "events") -> int:
        return int(self.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])


EVENT_COLUMNS_SQL = ", ".join(COLUMN_NAMES)
_ARROW_TYPES = {
    c.name: {
        "text": pa.string(),
        "timestamp": pa.timestamp("us"),
        "double": pa.float64(),
        "int": pa.int16(),
        "bool": pa.bool_(),
    }[c.type]
    for c in COLUMNS
}


# Appended to every batch of records: a row holding every canonical column (all null),
# so a batch whose items all lack, say, `customer_id` gets a per-item "missing required
# value" instead of failing as a file without that column.
EVERY_COLUMN_LINE = json.dumps(dict.fromkeys(COLUMN_NAMES)).encode()


def _json_line(record: Any) -> bytes:
    """One record as one line of JSON Lines (bytes are taken as already-encoded JSON)."""
    if isinstance(record, bytes):
        return record
    return json.dumps(record, ensure_ascii=False, default=str).encode("utf-8")
