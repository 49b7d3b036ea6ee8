"""Ingestion: files, records and tables in; good rows stored, bad rows quarantined with
their row, column and reason, duplicates counted (SPEC §2).

Every input is validated by the same staging SQL (`checks.validate`) on the store's
staging connection, then written by `Store.commit_staged`; the fast path of records
(`records.check_records`) only skips staging for batches it can prove valid. The
pseudonymisation key is an argument of each call (`key=`), never process state.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from touchpoints.core.catalog import Catalog
from touchpoints.core.errors import UsageError
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.ingest.checks import Staged, quarantine_sample
from touchpoints.ingest.conflicts import batch_collides, reject_conflicts, settle_duplicates
from touchpoints.ingest.files import stage_file
from touchpoints.ingest.identities import apply_records, apply_staged
from touchpoints.ingest.pseudonymize import key_text
from touchpoints.ingest.quarantine import resolve_loaded
from touchpoints.ingest.records import (
    ARROW_TYPES,
    EVERY_COLUMN_LINE,
    TypedRow,
    check_records,
    json_line,
)
from touchpoints.ingest.results import IngestResult, RecordsResult
from touchpoints.ingest.sources import SUFFIXES as SHEET_SUFFIXES
from touchpoints.ingest.sources import Source, stage_source
from touchpoints.ingest.warnings import source_note, staged_warnings
from touchpoints.store.base import Store

Progress = Callable[[str], None]
PathLike = str | os.PathLike[str]


def _active_catalog(store: Store, catalog: Catalog | None = None) -> Catalog:
    """The catalog rows are validated against; stored on first use, so analyses join the
    same catalog ingestion checked."""
    if catalog is not None:
        store.set_catalog(catalog)
    elif not store.has_catalog():
        store.set_catalog(store.catalog())
    return store.catalog()


def _commit(
    store: Store, con: duckdb.DuckDBPyConnection, staged: Staged, want_ids: bool = False
) -> tuple[int, list[str] | None]:
    return store.commit_staged(
        con,
        staged.source,
        good=staged.good,
        in_file_duplicates=staged.in_file_duplicates,
        rejected=staged.rejected_rows,
        want_ids=want_ids,
    )


def _file_result(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    staged: Staged,
    progress: Progress | None,
    catalog: Catalog,
) -> IngestResult:
    """Commit one staged file and say what became of its rows."""
    apply_staged(store, con)
    staged = reject_conflicts(store, con, staged)
    warnings = staged_warnings(con, staged, catalog)
    if progress:
        progress(f"storing {staged.good:,} rows of {staged.source}")
    stored, _ = _commit(store, con, staged)
    resolve_loaded(store, con, staged.source)
    return IngestResult(
        ingested=stored,
        duplicates=staged.good - stored + staged.in_file_duplicates,
        rejected=staged.rejected_rows,
        quarantine=quarantine_sample(con),
        ignored_columns={staged.source: staged.ignored_columns} if staged.ignored_columns else {},
        warnings=warnings,
    )


def ingest_files(
    store: Store,
    paths: PathLike | Iterable[PathLike],
    catalog: Catalog | None = None,
    mapping: dict[str, str] | None = None,
    timezone: str = "UTC",
    fmt: str | None = None,
    *,
    key: str | None = None,
    progress: Progress | None = None,
    source: Source | None = None,
) -> IngestResult:
    """Ingest files (one path or several); good rows are stored, bad rows quarantined,
    duplicates counted. `catalog` replaces the stored one first; `mapping` maps canonical
    columns to the file's (`{"ts": "created_at"}`); `timezone` reads times without a zone;
    `key` pseudonymises customer ids; `source` reads each file as an export another tool
    wrote (SPEC §5 "Sources", `ingest.sources`) instead of as SPEC §2 columns.

    Each file is committed on its own, so an unreadable file (raised as InputFileError)
    leaves the files before it stored.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    active = _active_catalog(store, catalog)
    total = IngestResult()
    con = store.staging_connection()
    for path in paths:
        if progress:
            progress(f"reading {path}")
        notes: list[dict[str, object]] = []
        how = source
        if how is None and Path(path).suffix.lower() in SHEET_SUFFIXES:
            how = Source()  # a sheet of SPEC §2 columns: read like any sheet
        if how is not None:
            staged, reading = stage_source(con, path, how, active, timezone, key=key_text(key))
            notes = [source_note(staged, n) for n in reading.notes]
        else:
            staged = stage_file(con, path, active, mapping, timezone, fmt, key=key_text(key))
        result = _file_result(store, con, staged, progress, active)
        result.warnings[:0] = notes
        total.add(result)
    return total


def ingest_table(
    store: Store,
    table: Any,
    source: str = "dataframe",
    catalog: Catalog | None = None,
    mapping: dict[str, str] | None = None,
    timezone: str = "UTC",
    *,
    key: str | None = None,
) -> IngestResult:
    """Ingest a pyarrow Table or a pandas DataFrame, validated exactly like a file: rows
    numbered from 1 in table order, bad rows quarantined under `source`.

    The table is written to a temporary Parquet file and staged as one, so its columns keep
    their types (timestamps, numbers, booleans) and every check is the file path's own;
    `catalog`, `mapping`, `timezone` and `key` mean what they mean for `ingest_files`.
    """
    arrow = _as_arrow(table, source)
    active = _active_catalog(store, catalog)
    con = store.staging_connection()
    with tempfile.TemporaryDirectory(prefix="tp-table-") as tmp:
        path = Path(tmp) / "table.parquet"
        import pyarrow.parquet as pq

        pq.write_table(arrow, path)
        staged = stage_file(
            con, path, active, mapping, timezone, "parquet", key=key_text(key), source=source
        )
        return _file_result(store, con, staged, None, active)


def _as_arrow(table: Any, source: str) -> pa.Table:
    """A pyarrow Table from a Table, a RecordBatch, a pandas DataFrame (pandas is optional:
    only a frame already made needs it) or anything exporting an Arrow stream."""
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(table, pandas.DataFrame):
        try:
            # NaN in a float column becomes null, as a missing value should.
            return pa.Table.from_pandas(table, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # A column mixing types (numbers and text, say) is read as text, as a CSV would be.
            return pa.Table.from_pandas(_mixed_as_text(pandas, table), preserve_index=False)
    if hasattr(table, "__arrow_c_stream__"):
        return pa.table(table)
    raise UsageError(f"{source}: expected a pyarrow Table or a pandas DataFrame")


def _mixed_as_text(pandas: Any, frame: Any) -> Any:
    """Object columns as text (None, NaN and NA stay missing)."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = [None if _missing(pandas, v) else str(v) for v in out[name]]
    return out


def _missing(pandas: Any, value: Any) -> bool:
    return (
        value is None
        or value is pandas.NA
        or value is pandas.NaT
        or (isinstance(value, float) and value != value)
    )


def quarantine_raw(
    store: Store, source: str, row: int, column: str | None, reason: str, raw: str
) -> None:
    """Quarantine one thing that never became a row (a webhook payload no connector could
    map, a log line no importer could read), so nothing a channel sent is lost."""
    store.execute(
        'INSERT INTO quarantine (source, "row", "column", reason, raw, quarantined_at) '
        "VALUES ($source, $row_number, $column_name, $reason, $raw_text, CURRENT_TIMESTAMP)",
        {
            "source": source,
            "row_number": row,
            "column_name": column,
            "reason": reason,
            "raw_text": raw,
        },
    )


def ingest_records(
    store: Store,
    records: Sequence[Any],
    source: str,
    timezone: str = "UTC",
    *,
    key: str | None = None,
    parts: Sequence[tuple[int, str]] | None = None,
    values: Sequence[Any] | None = None,
) -> RecordsResult:
    """Ingest already-parsed records (HTTP API, connectors, surveys) in one transaction.

    The records go through the same validation as files (they are staged as JSON Lines),
    so an API client gets exactly the reasons a file would. Each item gets a status:
    `stored`, `duplicate` (event_id already stored, or repeated in the batch) or
    `rejected` (quarantined under `source` with its 1-based position as row). A float NaN
    value (pandas' missing value) is read as null; `key` pseudonymises customer ids.

    An item may be `bytes`: the text of one JSON value on one line, already checked to be
    JSON by the caller (the HTTP API passes request lines through untouched instead of
    decoding and re-encoding them). `parts` — `(count, source)` pairs covering the records
    in order — lets several requests share one transaction (group commit) while each keeps
    its own quarantine source and row numbers.

    A batch whose records are all certainly valid (`records.check_records`) is typed in
    Python and skips staging (~100 ms of DuckDB planning per batch); any other batch is
    staged, so rejections and their reasons always come from the staging SQL. `values`
    are the records already parsed (the HTTP API parses a body once): then `records` is
    only read when the batch must be staged.
    """
    catalog = _active_catalog(store)
    secret = key_text(key)
    if not records:
        return RecordsResult()
    con = store.staging_connection()
    rows = check_records(values if values is not None else records, catalog, timezone, secret)
    if rows is not None:
        rows = apply_records(store, rows)
    if rows is not None and not batch_collides(rows):
        # A conflict is only found after the commit (among the duplicates): the events,
        # its quarantine rows and the ingest_log row counting it as rejected commit together.
        with _together(store):
            result = _ingest_checked(store, con, rows, source)
            sources = [s for count, s in (parts or [(len(rows), source)]) for _ in range(count)]
            conflicts = settle_duplicates(store, rows, result.items, sources)
            result.duplicates -= conflicts
            result.rejected += conflicts
            store.log_ingest(source, result.stored, result.duplicates, result.rejected)
        return result
    with tempfile.TemporaryDirectory(prefix="tp-records-") as tmp:
        path = Path(tmp) / "records.jsonl"
        with path.open("wb") as fh:
            fh.write(b"\n".join(json_line(r) for r in records))
            fh.write(b"\n" + EVERY_COLUMN_LINE + b"\n")
        staged = stage_file(con, path, catalog, None, timezone, "jsonl", key=secret, source=source)
        # The last line only made every column exist: forget its rejection.
        con.execute('DELETE FROM _bad WHERE "row" = $row', {"row": len(records) + 1})
        staged.rows -= 1
        staged.rejected_rows -= 1
        apply_staged(store, con)
        staged = reject_conflicts(store, con, staged)
        reasons = _locate_rejections(con, parts, bool(staged.rejected_rows))
        # Position -> event_id of every valid item (in-batch repeats included).
        valid = con.execute(
            "SELECT _row, event_id FROM _typed WHERE _problem IS NULL ORDER BY _row"
        ).fetchall()
        stored, ids = _commit(store, con, staged, want_ids=True)
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
    return RecordsResult(stored, duplicates, len(items) - stored - duplicates, items)


def _locate_rejections(
    con: duckdb.DuckDBPyConnection, parts: Sequence[tuple[int, str]] | None, rejected: bool
) -> dict[int, str]:
    """Give `_bad` each part's source and row numbers (group commit), and return every
    rejected item's reasons by position in the whole batch (from 1)."""
    grouped = bool(parts and len(parts) > 1 and rejected)
    if grouped:
        los, his, sources, start = [], [], [], 0
        for count, part_source in parts or ():
            los.append(start)
            his.append(start + count)
            sources.append(part_source)
            start += count
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _parts AS SELECT unnest(CAST($los AS BIGINT[])) AS lo, "
            "unnest(CAST($his AS BIGINT[])) AS hi, unnest(CAST($sources AS VARCHAR[])) AS src",
            {"los": los, "his": his, "sources": sources},
        )
        con.execute(
            'UPDATE _bad SET source = p.src, "row" = _bad."row" - p.lo FROM _parts p '
            'WHERE _bad."row" > p.lo AND _bad."row" <= p.hi'
        )
        located = (
            'SELECT b."row" + p.lo, b."column", b.reason FROM _bad b JOIN _parts p '
            "ON b.source = p.src ORDER BY 1, 2 NULLS FIRST"
        )
    else:
        if parts:
            con.execute("UPDATE _bad SET source = $source", {"source": parts[0][1]})
        located = 'SELECT "row", "column", reason FROM _bad ORDER BY "row", "column" NULLS FIRST'
    reasons: dict[int, str] = {}
    for row, column, reason in con.execute(located).fetchall():
        text = f"{column}: {reason}" if column else reason
        reasons[int(row)] = f"{reasons[int(row)]}; {text}" if int(row) in reasons else text
    return reasons


def _together(store: Store) -> AbstractContextManager[None]:
    """One transaction where the engine has them (Spark's Parquet tables have none)."""
    return nullcontext() if store.engine == "spark" else store.transaction()


def _ingest_checked(
    store: Store, con: duckdb.DuckDBPyConnection, rows: list[TypedRow], source: str
) -> RecordsResult:
    """Store records `check_records` typed: they become `_good` (first of each event_id,
    `_row` = position from 1, as staging numbers them) with an empty `_bad`."""
    first: dict[object, int] = {}
    for position, row in enumerate(rows):
        first.setdefault(row[0], position)
    keep = sorted(first.values()) if len(first) < len(rows) else range(len(rows))
    columns = {"_row": pa.array([p + 1 for p in keep], pa.int64())}
    for i, name in enumerate(COLUMN_NAMES):
        columns[name] = pa.array([rows[p][i] for p in keep], ARROW_TYPES[name])
    con.register("_checked", pa.table(columns))
    try:
        con.execute("CREATE OR REPLACE TEMP VIEW _good AS SELECT * FROM _checked")
        con.execute(
            'CREATE OR REPLACE TEMP TABLE _bad (source VARCHAR, "row" BIGINT, '
            '"column" VARCHAR, reason VARCHAR, raw VARCHAR)'
        )
        stored, ids = store.commit_staged(
            con,
            source,
            good=len(first),
            in_file_duplicates=len(rows) - len(first),
            want_ids=True,
            logged=False,
        )
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
