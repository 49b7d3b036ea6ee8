"""Conflicts are not duplicates (SPEC §2): a row whose `event_id` is already stored, or
repeated earlier in the same input, **with other content** is rejected into quarantine
with both contents, so that two tools' colliding ids never silently drop data. A re-sent
row with the same content stays a duplicate.

Runs on the staging connection after `checks.validate`, before the store commits: rows of
`_typed` found in conflict get a `_problem` (so the `_good` view no longer holds them) and
one `_bad` entry each, whose `raw` is `{"incoming": {...}, "stored": {...}}`.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

from touchpoints.core.events import COLUMN_NAMES
from touchpoints.ingest.checks import Staged
from touchpoints.ingest.records import ARROW_TYPES, TypedRow
from touchpoints.store.base import Store

CONTENT = tuple(c for c in COLUMN_NAMES if c != "event_id")
ID_CHUNK = 1000
CONFLICT = "conflict"
# Every conflict's reason ends so (callers tell a conflict from other rejections by it).
CONFLICT_MARK = "a conflict, not a duplicate"


# The content columns' names, bound as values where a reason lists them.
NAMES = {f"content_{i}": c for i, c in enumerate(CONTENT)}


def _differs(a: str, b: str) -> str:
    """A list of the content columns in which rows `a` and `b` differ (names bound from
    NAMES)."""
    items = ", ".join(
        f"CASE WHEN {a}.{c} IS DISTINCT FROM {b}.{c} THEN $content_{i} END"
        for i, c in enumerate(CONTENT)
    )
    return f"list_filter([{items}], lambda x: x IS NOT NULL)"


def _packed(alias: str) -> str:
    return (
        "CAST(to_json(struct_pack("
        + ", ".join(f"{c} := {alias}.{c}" for c in COLUMN_NAMES)
        + ")) AS VARCHAR)"
    )


def _any_stored(store: Store) -> bool:
    return store.holds_rows("events")


def fetch_stored(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    """The stored canonical rows of these event_ids (and their source), on any engine."""
    cols = ", ".join(COLUMN_NAMES)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        marks = ", ".join(f"$id_{i}" for i in range(len(chunk)))
        rows.extend(
            store.query(
                f"SELECT {cols}, source FROM events WHERE event_id IN ({marks})",
                {f"id_{i}": v for i, v in enumerate(chunk)},
            )
        )
    return rows


def _stored_relation(store: Store, con: duckdb.DuckDBPyConnection) -> str | None:
    """The name of a relation on `con` holding the stored rows the staged ids may collide
    with: the events table itself on DuckDB (staging shares the store's connection), a
    registered Arrow table of the fetched rows elsewhere. None: nothing can collide."""
    if not _any_stored(store):
        return None
    if getattr(store, "con", None) is con:  # DuckDB's own connection (not through a server)
        return "events"
    ids = [r[0] for r in con.execute("SELECT DISTINCT event_id FROM _good").fetchall()]
    stored = fetch_stored(store, ids)
    if not stored:
        return None
    schema = pa.schema([(c, ARROW_TYPES[c]) for c in COLUMN_NAMES] + [("source", pa.string())])
    table = pa.Table.from_pylist([{**r, "ts": _naive(r["ts"])} for r in stored], schema=schema)
    con.register("_stored_rows", table)
    return "_stored_rows"


def _naive(ts: Any) -> Any:
    """Stored times are naive UTC; an engine may hand them back zoned."""
    if ts is not None and getattr(ts, "tzinfo", None) is not None:
        from datetime import UTC

        return ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def reject_conflicts(store: Store, con: duckdb.DuckDBPyConnection, staged: Staged) -> Staged:
    """Move conflicting rows of `_typed` into `_bad` (see the module doc) and return the
    staged counts updated; without conflicts nothing on `con` changes."""
    found = 0
    if staged.in_file_duplicates:
        found += _in_input(con, staged.source)
    relation = _stored_relation(store, con) if staged.good else None
    if relation is not None:
        try:
            found += _with_stored(con, staged.source, relation)
        finally:
            if relation == "_stored_rows":
                con.unregister("_stored_rows")
    if not found:
        return staged
    n_good, n_ids = con.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM _typed WHERE _problem IS NULL"
    ).fetchall()[0]
    rejected = con.execute('SELECT count(DISTINCT "row") FROM _bad').fetchall()[0][0]
    staged.good = int(n_ids)
    staged.in_file_duplicates = int(n_good - n_ids)
    staged.rejected_rows = int(rejected)
    return staged


def _with_stored(con: duckdb.DuckDBPyConnection, source: str, relation: str) -> int:
    """Rows whose event_id is stored with other content."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _conflicts AS
        SELECT t._row, t.event_id, e.source AS stored_source, {_differs("t", "e")} AS differs,
               '{{"incoming": ' || {_packed("t")} || ', "stored": ' || {_packed("e")} || '}}' AS raw
        FROM (SELECT * FROM _typed WHERE _problem IS NULL) t
        JOIN {relation} e ON e.event_id = t.event_id
        WHERE {" OR ".join(f"t.{c} IS DISTINCT FROM e.{c}" for c in CONTENT)}""",
        NAMES,
    )
    return _reject(
        con,
        source,
        "'already stored with other content (from ' || coalesce(stored_source, '?') || "
        "'; differs in ' || array_to_string(differs, ', ') || '): a conflict, not a duplicate'",
    )


def _in_input(con: duckdb.DuckDBPyConnection, source: str) -> int:
    """Rows repeating an earlier row's event_id of the same input with other content."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _conflicts AS
        WITH firsts AS (
            SELECT * FROM _typed WHERE _problem IS NULL
            QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _row) = 1)
        SELECT t._row, t.event_id, 'row ' || e._row AS stored_source, {_differs("t", "e")} AS differs,
               '{{"incoming": ' || {_packed("t")} || ', "stored": ' || {_packed("e")} || '}}' AS raw
        FROM (SELECT * FROM _typed WHERE _problem IS NULL) t
        JOIN firsts e ON e.event_id = t.event_id AND e._row < t._row
        WHERE {" OR ".join(f"t.{c} IS DISTINCT FROM e.{c}" for c in CONTENT)}""",
        NAMES,
    )
    return _reject(
        con,
        source,
        "'repeats the event_id of ' || stored_source || ' with other content (differs in ' "
        "|| array_to_string(differs, ', ') || '): a conflict, not a duplicate'",
    )


def _reject(con: duckdb.DuckDBPyConnection, source: str, reason_sql: str) -> int:
    found = con.execute("SELECT count(*) FROM _conflicts").fetchall()[0][0]
    if not found:
        return 0
    con.execute(
        f"""INSERT INTO _bad SELECT $source, _row, 'event_id', {reason_sql}, raw
        FROM _conflicts""",
        {"source": source},
    )
    con.execute(
        "UPDATE _typed SET _problem = $conflict WHERE _row IN (SELECT _row FROM _conflicts)",
        {"conflict": CONFLICT},
    )
    return int(found)


def batch_collides(rows: list[TypedRow]) -> bool:
    """Whether a batch the records fast path typed repeats an event_id with other content:
    then it is staged instead, where the conflict gets its reason and quarantine row."""
    first: dict[object, TypedRow] = {}
    for row in rows:
        seen = first.setdefault(row[0], row)
        if seen is not row and seen != row:
            return True
    return False


def settle_duplicates(
    store: Store, rows: list[TypedRow], items: list[dict[str, object]], sources: list[str]
) -> int:
    """After the fast path committed a batch: its items answered `duplicate` whose stored
    row has other content are conflicts — `rejected`, with a quarantine row holding both
    contents (under `sources[i]`, row i + 1). Only the duplicates are looked up, so a batch
    of new events costs nothing more. Returns how many became rejected."""
    duplicates = {str(rows[int(str(i["index"]))][0]) for i in items if i["status"] == "duplicate"}
    if not duplicates:
        return 0
    stored = {r["event_id"]: r for r in fetch_stored(store, sorted(duplicates))}
    rejected = 0
    for item in items:
        if item["status"] != "duplicate":
            continue
        index = int(str(item["index"]))
        mine = dict(zip(COLUMN_NAMES, rows[index], strict=True))
        theirs = stored.get(str(mine["event_id"]))
        if theirs is None:
            continue
        differs = [c for c in CONTENT if mine[c] != (_naive(theirs[c]) if c == "ts" else theirs[c])]
        if not differs:
            continue
        reason = (
            f"already stored with other content (from {theirs.get('source') or '?'}; "
            f"differs in {', '.join(differs)}): {CONFLICT_MARK}"
        )
        raw = json.dumps(
            {"incoming": mine, "stored": {c: theirs[c] for c in COLUMN_NAMES}},
            default=str,
            ensure_ascii=False,
        )
        store.execute(
            'INSERT INTO quarantine (source, "row", "column", reason, raw, quarantined_at) '
            "VALUES ($source, $row_number, 'event_id', $reason, $raw_text, CURRENT_TIMESTAMP)",
            {"source": sources[index], "row_number": index + 1, "reason": reason, "raw_text": raw},
        )
        item.pop("event_id", None)
        item.update(status="rejected", reason=f"event_id: {reason}")
        rejected += 1
    return rejected
