"""Validation in SQL: one generated SELECT types and checks every canonical column of the
staged `_raw` relation, and splits it into `_good` (typed, deduplicated) and `_bad` (every
problem of every rejected row, with the raw record).

The SELECT is generated from the catalog and the column types DuckDB found, but holds no
value: touchpoint ids, time zone, allowed words and the pseudonymisation key are bound to
`$name` markers (lists as list parameters), so a catalog id with a quote in it is just data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from touchpoints.core.catalog import Catalog
from touchpoints.core.errors import InputFileError
from touchpoints.core.events import ACTION_DEFAULT, COLUMN_NAMES, COLUMNS, Column
from touchpoints.ingest.pseudonymize import KEY_PARAM, pseudonymize_sql
from touchpoints.ingest.results import QUARANTINE_LIST_LIMIT
from touchpoints.store.params import bound

NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)
TRUE_WORDS = ("true", "t", "1", "yes", "y", "sim", "s", "verdadeiro")
FALSE_WORDS = ("false", "f", "0", "no", "n", "nao", "não", "falso")
SQL_TYPES = {
    "text": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "double": "DOUBLE",
    "int": "SMALLINT",
    "bool": "BOOLEAN",
}


# Longest text accepted per column, in characters (docs/security.md); a longer value is
# quarantined with its reason, so a 1 MB "comment" never reaches the store.
TEXT_LIMITS = {
    "event_id": 256,
    "customer_id": 256,
    "touchpoint": 128,
    "action": 64,
    "agent": 256,
    "comment": 5000,
    "segment": 128,
    "ref_event_id": 256,
}
TEXT_LIMIT_DEFAULT = 1000


def text_limit(column: str) -> int:
    return TEXT_LIMITS.get(column, TEXT_LIMIT_DEFAULT)


def ts_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The accepted range of `ts` (naive UTC): settings `ts_min` (default 2000-01-01) to
    `ts_max_ahead_days` (default 1) after now. A time outside it is a clock or parsing
    error (year 1 or 9999), which would make every period comparison nonsense."""
    from touchpoints.core.settings import get_settings

    settings = get_settings()
    low = datetime.fromisoformat(settings.ts_min).replace(tzinfo=None)
    current = now or datetime.now(UTC).replace(tzinfo=None)
    return low, current + timedelta(days=settings.ts_max_ahead_days)


def text_problems(column: str, value: str) -> list[tuple[str, str]]:
    """Text over its column's length limit, or holding a NUL character (PostgreSQL cannot
    store one): (condition, reason) pairs for the staging SELECT."""
    limit = text_limit(column)
    return [
        (f"length({value}) > {limit}", f"'longer than {limit:,} characters'"),
        (f"strpos({value}, chr(0)) > 0", "'contains a NUL character'"),
    ]


def ts_problems(typed: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """`ts` outside `ts_bounds()`; the bounds are bound as `$ts_min`/`$ts_max`."""
    low, high = ts_bounds()
    params["ts_min"], params["ts_max"] = low, high
    span = f"{low.isoformat(timespec='seconds')} .. {high.isoformat(timespec='seconds')}"
    return [
        (
            f"{typed} < $ts_min OR {typed} > $ts_max",
            f"'outside the accepted time range {span} UTC: ' || {_shown(typed)}",
        )
    ]


def ident(name: str) -> str:
    """A quoted SQL identifier (column names come from the file)."""
    return '"' + name.replace('"', '""') + '"'


def _words(name: str) -> str:
    """A bound list of texts, typed even when empty."""
    return f"CAST(${name} AS VARCHAR[])"


def _shown(expr: str) -> str:
    """The offending value as it appears in reasons: quoted and cut to 60 characters."""
    return f"'''' || left(CAST({expr} AS VARCHAR), 60) || ''''"


@dataclass
class Staged:
    """Temp tables left on the staging connection: `_good` (typed, deduplicated) and `_bad`."""

    source: str
    rows: int
    good: int
    in_file_duplicates: int
    rejected_rows: int
    ignored_columns: list[str]


Structural = list[tuple[int, str, str | None]]  # (row, reason, raw text)


class _Checks:
    """Builds, per canonical column, a typed SQL expression and a reason-or-NULL expression;
    the values they need gather in `params`."""

    def __init__(self, catalog: Catalog, timezone: str) -> None:
        self.catalog = catalog
        self.timezone = timezone
        self.params: dict[str, Any] = {
            "action_default": ACTION_DEFAULT,
            "timezone": timezone,
            "true_words": list(TRUE_WORDS),
            "false_words": list(FALSE_WORDS),
        }

    def column(self, col: Column, src: str | None, src_type: str | None) -> tuple[str, str | None]:
        if src is None:
            typed = "$action_default" if col.name == "action" else "NULL"
            return f"CAST({typed} AS {SQL_TYPES[col.type]})", (
                "'missing required value'" if col.required else None
            )
        builder = getattr(self, f"_{col.type}")
        typed, problems = builder(col, src, (src_type or "VARCHAR").upper())
        if col.type == "text":
            problems += text_problems(col.name, self._text_value(src))
        elif col.name == "ts":
            problems += ts_problems(typed, self.params)
        if col.required:
            problems.insert(0, (f"{self._text_value(src)} IS NULL", "'missing required value'"))
        if not problems:
            return typed, None
        whens = " ".join(f"WHEN {cond} THEN {reason}" for cond, reason in problems)
        return typed, f"CASE {whens} END"

    @staticmethod
    def _text_value(src: str) -> str:
        return f"NULLIF(TRIM(CAST({src} AS VARCHAR)), '')"

    def _text(self, col: Column, src: str, src_type: str) -> tuple[str, list[tuple[str, str]]]:
        v = self._text_value(src)
        problems: list[tuple[str, str]] = []
        if col.choices:
            v = f"lower({v})"
            name = f"{col.name}_choices"
            self.params[name] = list(col.choices)
            problems.append(
                (
                    f"NOT list_contains({_words(name)}, {v})",
                    f"'must be one of {', '.join(col.choices)} (got ' || {_shown(v)} || ')'",
                )
            )
        if col.name == "action":
            v = f"coalesce(lower({v}), $action_default)"
        if col.name == "touchpoint":
            hidden = [t for t in self.catalog.touchpoints if not t.is_touchpoint]
            if hidden:
                self.params["hidden_touchpoints"] = [t.id for t in hidden]
                self.params["hidden_reasons"] = [
                    f"{t.id!r} is not a touchpoint (visibility {t.visibility}: "
                    + (
                        "a backstage step only the company sees"
                        if t.visibility == "company"
                        else "a step only the customer sees"
                    )
                    + ")"
                    for t in hidden
                ]
                problems.append(
                    (
                        f"list_contains({_words('hidden_touchpoints')}, {v})",
                        f"list_extract({_words('hidden_reasons')}, "
                        f"list_position({_words('hidden_touchpoints')}, {v}))",
                    )
                )
            self.params["touchpoints"] = [t.id for t in self.catalog.touchpoints if t.is_touchpoint]
            problems.append(
                (
                    f"NOT list_contains({_words('touchpoints')}, {v})",
                    f"'unknown touchpoint ' || {_shown(v)} || ' (not in the catalog)'",
                )
            )
        return v, problems

    def _timestamp(self, col: Column, src: str, src_type: str) -> tuple[str, list[tuple[str, str]]]:
        if src_type.startswith("TIMESTAMP WITH TIME ZONE") or src_type == "TIMESTAMPTZ":
            return f"timezone('UTC', {src})", []
        if src_type.startswith("TIMESTAMP") or src_type == "DATE":
            if self.timezone == "UTC":
                return f"CAST({src} AS TIMESTAMP)", []
            return f"timezone('UTC', timezone($timezone, CAST({src} AS TIMESTAMP)))", []
        if src_type in NUMERIC_TYPES:
            # Numbers are Unix epoch seconds, as most exports write them; milliseconds
            # would be read as a time thousands of years ahead (see unix_problems).
            number = f"CAST({src} AS DOUBLE)"
            typed = (
                f"timezone('UTC', to_timestamp(CASE WHEN isfinite({number}) AND "
                f"abs({number}) < {UNIX_SECONDS_LIMIT} THEN {number} END))"
            )
            return typed, unix_problems(f"CAST({src} AS DOUBLE)", _shown(src))
        v = self._text_value(src)
        # Naive strings are read in the connection's TimeZone, set to --timezone while staging.
        typed = f"timezone('UTC', TRY_CAST({v} AS TIMESTAMPTZ))"
        return typed, [
            (
                f"{v} IS NOT NULL AND {typed} IS NULL AND regexp_full_match({v}, '-?[0-9]{{9,16}}([.][0-9]+)?')",
                f"'a Unix time, not an ISO-8601 timestamp: ' || {_shown(v)} || "
                "' (declare format unix_s or unix_ms for this column in a source)'",
            ),
            (
                f"{v} IS NOT NULL AND {typed} IS NULL",
                f"'not an ISO-8601 timestamp: ' || {_shown(v)}",
            ),
        ]

    def _number(self, src: str, src_type: str) -> tuple[str, list[tuple[str, str]]]:
        shown = _shown(self._text_value(src))
        if src_type in NUMERIC_TYPES or src_type.startswith("DECIMAL"):
            typed = f"CAST({src} AS DOUBLE)"
            problems: list[tuple[str, str]] = []
        else:
            v = self._text_value(src)
            typed = f"TRY_CAST({v} AS DOUBLE)"
            problems = [(f"{v} IS NOT NULL AND {typed} IS NULL", f"'not a number: ' || {shown}")]
        problems.append((f"NOT isfinite({typed})", f"'not a finite number: ' || {shown}"))
        return typed, problems

    def _range(
        self, col: Column, src: str, typed: str, problems: list[tuple[str, str]], whole: bool
    ) -> None:
        fmt = (lambda x: str(int(x))) if whole else (lambda x: f"{x:g}")
        shown = _shown(self._text_value(src))
        if col.low is not None and col.high is not None:
            problems.append(
                (
                    f"{typed} < {col.low} OR {typed} > {col.high}",
                    f"'out of range {fmt(col.low)}..{fmt(col.high)}: ' || {shown}",
                )
            )
        elif col.low is not None:
            problems.append((f"{typed} < {col.low}", f"'must be >= {fmt(col.low)}: ' || {shown}"))

    def _double(self, col: Column, src: str, src_type: str) -> tuple[str, list[tuple[str, str]]]:
        typed, problems = self._number(src, src_type)
        self._range(col, src, typed, problems, whole=False)
        return typed, problems

    def _int(self, col: Column, src: str, src_type: str) -> tuple[str, list[tuple[str, str]]]:
        number, problems = self._number(src, src_type)
        problems.append(
            (
                f"{number} <> round({number})",
                f"'not a whole number: ' || {_shown(self._text_value(src))}",
            )
        )
        self._range(col, src, number, problems, whole=True)
        # Only rows without problems are stored, so the cast cannot overflow there.
        return (
            f"CAST(CASE WHEN {number} BETWEEN -32768 AND 32767 THEN {number} END AS SMALLINT)",
            problems,
        )

    def _bool(self, col: Column, src: str, src_type: str) -> tuple[str, list[tuple[str, str]]]:
        if src_type == "BOOLEAN":
            return src, []
        v = f"lower({self._text_value(src)})"
        typed = (
            f"(CASE WHEN list_contains({_words('true_words')}, {v}) THEN TRUE "
            f"WHEN list_contains({_words('false_words')}, {v}) THEN FALSE END)"
        )
        return typed, [
            (f"{v} IS NOT NULL AND {typed} IS NULL", f"'not true/false: ' || {_shown(v)}")
        ]


# Unix seconds at or beyond this are after the year 5000: the number is milliseconds (or
# microseconds), and reading it as seconds would store a time no export means.
UNIX_SECONDS_LIMIT = 95_617_584_000


def unix_problems(number: str, shown: str) -> list[tuple[str, str]]:
    """Reasons for a number read as Unix seconds that cannot be seconds."""
    return [
        (
            f"abs({number}) >= {UNIX_SECONDS_LIMIT}",
            f"'a Unix time in milliseconds? read as seconds it is after the year 5000: ' || {shown}"
            " || ' (declare format unix_ms for this column in a source)'",
        ),
        (f"NOT isfinite({number})", f"'not a finite number: ' || {shown}"),
    ]


def validate(
    con: duckdb.DuckDBPyConnection,
    source: str,
    kind: str,
    structural: Structural,
    catalog: Catalog,
    mapping: dict[str, str],
    timezone: str,
    key: str | None,
) -> Staged:
    """Type and check `_raw` (see `files.read_raw`) into `_typed`, `_good` and `_bad`.

    `structural` are the records that could not even be split into columns; they join
    `_bad` with a NULL column. `key` pseudonymises `customer_id` (None: stored as given).
    """
    try:
        described = con.execute("DESCRIBE SELECT * FROM _raw").fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputFileError(source, f"cannot be read as {kind.upper()}: {first}") from None
    src_types = {name: typ for name, typ, *_ in described if name != "_row"}
    lower_names = {n.lower(): n for n in src_types}

    checks = _Checks(catalog, timezone)
    typed_cols: list[str] = []
    reasons: list[tuple[str, str]] = []
    used: set[str] = set()
    for col in COLUMNS:
        wanted = mapping.get(col.name, col.name)
        found = wanted if wanted in src_types else lower_names.get(wanted.lower())
        if col.name in mapping and found is None:
            raise InputFileError(
                source,
                f"--map {col.name}={wanted}: the file has no column {wanted!r} "
                f"(columns: {', '.join(src_types) or 'none'})",
            )
        if found is None and col.required and (kind != "jsonl" or src_types or not structural):
            raise InputFileError(
                source,
                f"no column {col.name!r}, which is required (columns: {', '.join(src_types) or 'none'}); "
                f"map yours with --map {col.name}=YOUR_COLUMN",
            )
        if found is not None:
            used.add(found)
        typed, reason = checks.column(
            col, ident(found) if found else None, src_types.get(found) if found else None
        )
        if col.name == "customer_id" and key is not None:
            typed = pseudonymize_sql(typed)
            checks.params[KEY_PARAM] = key
        typed_cols.append(f"{typed} AS {col.name}")
        if reason:
            reasons.append((col.name, reason))
    ignored = [n for n in src_types if n not in used]

    first_reason = "coalesce(" + ", ".join(r for _, r in reasons) + ")" if reasons else "NULL"
    # The derived key hashes the typed row as JSON, which keeps fields and nulls apart.
    identity = ", ".join(f"{c} := {c}" for c in COLUMN_NAMES if c != "event_id")
    # One pass over the file: typed columns, the first problem of the row, and the event_id
    # (given, or derived from the row's content so identical rows dedupe).
    typed_sql = f"""CREATE OR REPLACE TEMP TABLE _typed AS
        SELECT * REPLACE (coalesce(event_id, 'h:' || md5(CAST(to_json(struct_pack({identity})) AS VARCHAR))) AS event_id)
        FROM (SELECT _row, {", ".join(typed_cols)}, {first_reason} AS _problem FROM _raw)"""
    _run(con, typed_sql, checks.params)
    n_rows, n_good, n_ids = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE _problem IS NULL), count(DISTINCT event_id) FILTER (WHERE _problem IS NULL) FROM _typed"
    ).fetchone()
    in_file_duplicates = n_good - n_ids
    good_filter = "_problem IS NULL"
    if in_file_duplicates:
        good_filter += " QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _row) = 1"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _good AS SELECT * EXCLUDE (_problem) FROM _typed WHERE {good_filter}"
    )

    if n_rows == n_good:
        # Nothing to explain: an empty table of the same shape costs no planning of the
        # lateral unnest (it matters for the many small batches of the HTTP API).
        con.execute(
            'CREATE OR REPLACE TEMP TABLE _bad (source VARCHAR, "row" BIGINT, "column" VARCHAR, '
            "reason VARCHAR, raw VARCHAR)"
        )
    else:
        # Every problem of every rejected row, with the raw record kept for repair.
        reason_list = (
            "[" + ", ".join(f"{{'column': '{name}', 'reason': {r}}}" for name, r in reasons) + "]"
        )
        record = ", ".join(f"{ident(n)} := r.{ident(n)}" for n in src_types) or "missing := NULL"
        bad_sql = f"""CREATE OR REPLACE TEMP TABLE _bad AS
        SELECT $source AS source, r._row AS "row", e.column AS "column", e.reason AS reason,
               CAST(to_json(struct_pack({record})) AS VARCHAR) AS raw
        FROM (SELECT * FROM _raw WHERE _row IN (SELECT _row FROM _typed WHERE _problem IS NOT NULL)) r,
             LATERAL (SELECT unnest(list_filter({reason_list}, lambda x: x.reason IS NOT NULL), recursive := true)) e"""
        _run(con, bad_sql, {**checks.params, "source": source})
    if structural:
        con.execute(
            "INSERT INTO _bad SELECT $source, unnest(CAST($rows AS BIGINT[])), NULL, "
            "unnest(CAST($reasons AS VARCHAR[])), unnest(CAST($raws AS VARCHAR[]))",
            {
                "source": source,
                "rows": [r for r, _, _ in structural],
                "reasons": [why for _, why, _ in structural],
                "raws": [raw for _, _, raw in structural],
            },
        )
    rejected_rows = con.execute('SELECT count(DISTINCT "row") FROM _bad').fetchone()[0]
    return Staged(
        source, n_rows + len(structural), n_ids, in_file_duplicates, rejected_rows, ignored
    )


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> None:
    """Run generated SQL with the values it names (DuckDB refuses the others)."""
    values = bound(sql, params)
    if values:
        con.execute(sql, values)
    else:
        con.execute(sql)


def quarantine_sample(
    con: duckdb.DuckDBPyConnection, limit: int = QUARANTINE_LIST_LIMIT
) -> list[dict[str, object]]:
    """The first rejections staged on `con`, as `IngestResult.quarantine` lists them."""
    rows = con.execute(
        'SELECT source, "row", "column", reason FROM _bad ORDER BY "row", "column" NULLS FIRST '
        "LIMIT $limit",
        {"limit": limit},
    ).fetchall()
    return [{"file": s, "row": r, "column": c, "reason": why} for s, r, c, why in rows]
