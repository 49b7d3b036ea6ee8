"""Quarantine you can work with: list it by file, reason and date, export it, clear it, and
see which rejected rows were fixed.

A quarantined row is *resolved* when a later ingestion of the same file (the same source
name) stores its row number, or finds it already stored: the file was corrected and loaded
again. Resolutions live in their own table (`quarantine_resolved`), so the quarantine rows
themselves — what was rejected, and why — are never rewritten.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb

from touchpoints.store.base import Store

RESOLVED_DDL = (
    'CREATE TABLE IF NOT EXISTS quarantine_resolved (source {text}, "row" {bigint}, '
    "resolved_at {timestamp})"
)
TYPES = {
    "duckdb": {"text": "VARCHAR", "bigint": "BIGINT", "timestamp": "TIMESTAMP"},
    "postgres": {"text": "TEXT", "bigint": "BIGINT", "timestamp": "TIMESTAMP"},
    "spark": {"text": "STRING", "bigint": "BIGINT", "timestamp": "TIMESTAMP"},
}
COLUMNS = ("file", "row", "column", "reason", "raw", "quarantined_at", "resolved_at")


def ensure_table(store: Store) -> None:
    """The resolutions table, created on first use (stores made before it lack it; a
    Spark store creates it with its other tables)."""
    if store.engine == "spark":
        return
    store._native(RESOLVED_DDL.format(**TYPES.get(store.engine, TYPES["duckdb"])))


def _where(
    source: str | None, reason: str | None, since: datetime | None, resolved: bool
) -> tuple[str, dict[str, Any]]:
    parts, params = ["TRUE"], {}
    if source:
        parts.append("q.source = $source")
        params["source"] = source
    if reason:
        parts.append("lower(q.reason) LIKE $reason")
        params["reason"] = "%" + reason.lower().replace("%", "").replace("_", "") + "%"
    if since:
        parts.append("q.quarantined_at >= $since")
        params["since"] = since
    if not resolved:
        parts.append("r.resolved_at IS NULL")
    return " AND ".join(parts), params


RESOLUTION = (
    'LEFT JOIN (SELECT source, "row", min(resolved_at) AS resolved_at FROM quarantine_resolved '
    'GROUP BY source, "row") r ON r.source = q.source AND r."row" = q."row"'
)

# A store opened read-only that never resolved anything has no resolutions table.
NO_RESOLUTION = (
    'LEFT JOIN (SELECT CAST(NULL AS VARCHAR) AS source, CAST(NULL AS BIGINT) AS "row", '
    "CAST(NULL AS TIMESTAMP) AS resolved_at) r ON FALSE"
)


def _resolution(store: Store) -> str:
    return RESOLUTION if store.has_table("quarantine_resolved") else NO_RESOLUTION


def list_quarantine(
    store: Store,
    source: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    resolved: bool = False,
    limit: int | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, rows) — unresolved rows only unless `resolved`; `reason` is a
    case-insensitive piece of the reason text; `since` a naive UTC time."""
    join = _resolution(store)
    where, params = _where(source, reason, since, resolved)
    total = store.query(f"SELECT count(*) AS n FROM quarantine q {join} WHERE {where}", params)[0][
        "n"
    ]
    cap = " LIMIT $limit" if limit is not None else ""
    rows = store.query(
        f"""SELECT q.source AS file, q."row", q."column", q.reason, q.raw, q.quarantined_at,
               r.resolved_at
        FROM quarantine q {join} WHERE {where}
        ORDER BY q.quarantined_at, q.source, q."row", q."column" NULLS FIRST{cap}""",
        {**params, **({"limit": int(limit)} if limit is not None else {})},
    )
    return int(total), rows


def clear_quarantine(store: Store, source: str | None = None, resolved_only: bool = False) -> int:
    """Delete quarantine rows (of one file, or only the resolved ones); how many."""
    ensure_table(store)
    where, params = _where(source, None, None, True)
    if resolved_only:
        where += " AND r.resolved_at IS NOT NULL"
    n = store.query(f"SELECT count(*) AS n FROM quarantine q {RESOLUTION} WHERE {where}", params)
    matched = f"""EXISTS (SELECT 1 FROM quarantine q {RESOLUTION} WHERE {where}
        AND q.source = quarantine.source AND q."row" = quarantine."row")"""
    with store.transaction():
        store.execute(f"DELETE FROM quarantine WHERE {matched}", params)
        store.execute(
            "DELETE FROM quarantine_resolved WHERE NOT EXISTS (SELECT 1 FROM quarantine q "
            'WHERE q.source = quarantine_resolved.source AND q."row" = quarantine_resolved."row")'
        )
    return int(n[0]["n"])


def resolve_loaded(store: Store, con: duckdb.DuckDBPyConnection, source: str) -> int:
    """After a file was committed: its quarantined rows whose row number is now good in the
    staging (`_typed` without a problem) are resolved. Reads the few quarantined row numbers
    of this file first, so a file of millions of good rows costs one small query."""
    if store.engine not in TYPES:
        return 0
    ensure_table(store)
    pending = store.query(
        f"""SELECT DISTINCT q."row" FROM quarantine q {RESOLUTION}
        WHERE q.source = $source AND r.resolved_at IS NULL""",
        {"source": source},
    )
    if not pending:
        return 0
    rows = [int(r["row"]) for r in pending]
    fixed = [
        int(r[0])
        for r in con.execute(
            "SELECT _row FROM _typed WHERE _problem IS NULL AND _row IN "
            "(SELECT unnest(CAST($rows AS BIGINT[])))",
            {"rows": rows},
        ).fetchall()
    ]
    if not fixed:
        return 0
    now = datetime.now(UTC).replace(tzinfo=None)
    for start in range(0, len(fixed), 1000):
        chunk = fixed[start : start + 1000]
        marks = ", ".join(f"($source, $r{i}, $now)" for i in range(len(chunk)))
        store.execute(
            f'INSERT INTO quarantine_resolved (source, "row", resolved_at) VALUES {marks}',
            {"source": source, "now": now, **{f"r{i}": v for i, v in enumerate(chunk)}},
        )
    return len(fixed)
