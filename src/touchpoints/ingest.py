"""File ingestion: read CSV / JSON Lines / Parquet with DuckDB, validate every row in SQL,
quarantine what is bad (file, row, column, reason), keep what is good.

The file never becomes Python objects: DuckDB reads it into a staging table, one generated
SELECT types and checks every column, and the store copies the good rows in. Rows are
numbered from 1 in file order (the header of a CSV is not a row).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from touchpoints.core.catalog import Catalog
from touchpoints.core.errors import InputFileError, UsageError
from touchpoints.core.events import ACTION_DEFAULT, COLUMN_NAMES, COLUMNS, Column
from touchpoints.privacy import pseudonymize, pseudonymize_key, pseudonymize_sql

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
QUARANTINE_LIST_LIMIT = 1000
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


@dataclass
class IngestResult:
    """What one `ingest` did; `to_json` is SPEC §5's shape (plus each rejection's file)."""

    ingested: int = 0
    duplicates: int = 0
    rejected: int = 0
    quarantine: list[dict[str, object]] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)

    def add(self, other: IngestResult) -> None:
        self.ingested += other.ingested
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        room = QUARANTINE_LIST_LIMIT - len(self.quarantine)
        self.quarantine.extend(other.quarantine[: max(room, 0)])
        self.ignored_columns.update(other.ignored_columns)

    def to_json(self) -> dict[str, object]:
        return {
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "quarantine": self.quarantine,
        }


@dataclass
class RecordsResult:
    """What `Store.ingest_records` did, item by item (SPEC §6 `POST /v1/events` body)."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    items: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "items": self.items,
        }


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """`--map ts=created_at` pairs -> {canonical: source column}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        canonical, sep, source = pair.partition("=")
        canonical, source = canonical.strip(), source.strip()
        if not sep or not canonical or not source:
            raise UsageError(f"--map {pair!r}: expected CANONICAL=SOURCE, e.g. ts=created_at")
        if canonical not in COLUMN_NAMES:
            raise UsageError(
                f"--map {pair!r}: {canonical!r} is not an event column; columns: {', '.join(COLUMN_NAMES)}"
            )
        mapping[canonical] = source
    return mapping


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in ("csv", "jsonl", "parquet"):
            raise UsageError(f"--format {fmt!r}: use csv, jsonl or parquet")
        return fmt
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".zst")]
    if suffixes and suffixes[-1] in FORMATS:
        return FORMATS[suffixes[-1]]
    raise InputFileError(
        str(path), "unknown file type; name it .csv, .jsonl or .parquet, or pass --format"
    )


def q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _shown(expr: str) -> str:
    """The offending value as it appears in reasons: quoted and cut to 60 characters."""
    return f"'''' || left(CAST({expr} AS VARCHAR), 60) || ''''"


class _Checks:
    """Builds, per canonical column, a typed SQL expression and a reason-or-NULL expression."""

    def __init__(self, catalog: Catalog, timezone: str) -> None:
        self.catalog = catalog
        self.timezone = timezone

    def column(self, col: Column, src: str | None, src_type: str | None) -> tuple[str, str | None]:
        if src is None:
            typed = "NULL"
            if col.name == "action":
                typed = q(ACTION_DEFAULT)
            cast = {
                "text": "VARCHAR",
                "timestamp": "TIMESTAMP",
                "double": "DOUBLE",
                "int": "SMALLINT",
                "bool": "BOOLEAN",
            }[col.type]
            return f"CAST({typed} AS {cast})", (
                "'missing required value'" if col.required else None
            )
        builder = getattr(self, f"_{col.type}")
        typed, problems = builder(col, src, (src_type or "VARCHAR").upper())
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
            allowed = ", ".join(q(c) for c in col.choices)
            problems.append(
                (
                    f"{v} NOT IN ({allowed})",
                    f"'must be one of {', '.join(col.choices)} (got ' || {_shown(v)} || ')'",
                )
            )
        if col.name == "action":
            v = f"coalesce(lower({v}), {q(ACTION_DEFAULT)})"
        if col.name == "touchpoint":
            valid = [t.id for t in self.catalog.touchpoints if t.is_touchpoint]
            hidden = [t for t in self.catalog.touchpoints if not t.is_touchpoint]
            for t in hidden:
                lane = (
                    "a backstage step only the company sees"
                    if t.visibility == "company"
                    else "a step only the customer sees"
                )
                problems.append(
                    (
                        f"{v} = {q(t.id)}",
                        q(f"{t.id!r} is not a touchpoint (visibility {t.visibility}: {lane})"),
                    )
                )
            problems.append(
                (
                    f"{v} NOT IN ({', '.join(q(i) for i in valid)})",
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
            return f"timezone('UTC', timezone({q(self.timezone)}, CAST({src} AS TIMESTAMP)))", []
        if src_type in NUMERIC_TYPES:
            # Numbers are Unix epoch seconds, as most exports write them.
            typed = f"timezone('UTC', to_timestamp(CAST({src} AS DOUBLE)))"
            return typed, []
        v = self._text_value(src)
        # Naive strings are read in the connection's TimeZone, set to --timezone while staging.
        typed = f"timezone('UTC', TRY_CAST({v} AS TIMESTAMPTZ))"
        return typed, [
            (
                f"{v} IS NOT NULL AND {typed} IS NULL",
                f"'not an ISO-8601 timestamp: ' || {_shown(v)}",
            )
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
        truthy = ", ".join(q(w) for w in TRUE_WORDS)
        falsy = ", ".join(q(w) for w in FALSE_WORDS)
        typed = f"(CASE WHEN {v} IN ({truthy}) THEN TRUE WHEN {v} IN ({falsy}) THEN FALSE END)"
        return typed, [
            (f"{v} IS NOT NULL AND {typed} IS NULL", f"'not true/false: ' || {_shown(v)}")
        ]


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


def _json_rows(con: duckdb.DuckDBPyConnection, p: str, path: Path) -> Structural:
    """JSON Lines (or a JSON array): one text per record, parsed in SQL so that a broken
    record is quarantined alone. Creates `_raw` with every key as a text column."""
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
    if head.startswith(b"["):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _lines AS SELECT CAST(unnest(json_extract(content, '$[*]')) AS VARCHAR) "
            f"AS line FROM read_text({p})"
        )
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _lines AS SELECT line FROM read_csv({p}, columns = {{'line': 'VARCHAR'}}, "
            "header = false, delim = chr(31), quote = '', escape = '', auto_detect = false)"
        )
    ok = "json_valid(line) AND starts_with(ltrim(line), '{')"
    keys = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT unnest(json_keys(line)) FROM _lines WHERE {ok}"
        ).fetchall()
    ]
    structural: Structural = [
        (int(row), "not a JSON object on this line", line)
        for row, line in con.execute(
            f"SELECT rowid + 1, line FROM _lines WHERE trim(line) <> '' AND NOT ({ok}) ORDER BY 1"
        ).fetchall()
    ]
    # Each line is parsed once for all its keys (a list of paths), not once per key.
    if keys:
        paths = "[" + ", ".join(q("$." + json.dumps(k)) for k in keys) + "]"
        cols = ", ".join(f"v[{i + 1}] AS {ident(k)}" for i, k in enumerate(keys)) + ","
        inner = f"json_extract_string(line, {paths}) AS v,"
    else:
        cols = inner = ""
    con.execute(f"""CREATE OR REPLACE TEMP VIEW _raw AS
        SELECT {cols} _row FROM (SELECT {inner} rowid + 1 AS _row FROM _lines WHERE {ok})""")
    return structural


def _csv_rows(con: duckdb.DuckDBPyConnection, p: str) -> Structural:
    """CSV read by DuckDB as text; lines it cannot parse are kept as structural rejects and
    the rows after them keep their position in the file."""
    con.execute("DROP TABLE IF EXISTS _csv_rejects")
    con.execute("DROP TABLE IF EXISTS _csv_scans")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _csv AS SELECT * FROM read_csv({p}, all_varchar = true, "
        "header = true, store_rejects = true, rejects_table = '_csv_rejects', rejects_scan = '_csv_scans')"
    )
    # DuckDB may report several errors for one line: keep the first of each.
    rejects = con.execute(
        "SELECT line, arg_min(error_message, error_message), arg_min(csv_line, error_message) "
        "FROM _csv_rejects GROUP BY line ORDER BY line"
    ).fetchall()
    if not rejects:
        con.execute("CREATE OR REPLACE TEMP VIEW _raw AS SELECT *, rowid + 1 AS _row FROM _csv")
        return []
    # DuckDB's line counts the header as line 1, so the data row is line - 1.
    structural: Structural = [
        (int(line) - 1, f"unreadable CSV row: {msg}", raw) for line, msg, raw in rejects
    ]
    con.execute("CREATE OR REPLACE TEMP TABLE _bad_rows (r BIGINT)")
    con.executemany("INSERT INTO _bad_rows VALUES (?)", [(r,) for r, _, _ in structural])
    total = con.execute("SELECT count(*) FROM _csv").fetchone()[0] + len(structural)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _rownums AS
        SELECT row_number() OVER (ORDER BY r) - 1 AS k, r FROM range(1, {total} + 1) t(r)
        WHERE r NOT IN (SELECT r FROM _bad_rows)""")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _raw AS SELECT c.*, n.r AS _row FROM _csv c JOIN _rownums n ON n.k = c.rowid"
    )
    return structural


def _source_relation(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> Structural:
    """Create the view `_raw` (one row per record, `_row` numbered from 1 in file order);
    return the records that could not even be split into columns."""
    p = q(str(path))
    if path.stat().st_size == 0:
        raise InputFileError(str(path), "the file is empty")
    if fmt == "parquet":
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT * EXCLUDE (file_row_number), "
            f"file_row_number + 1 AS _row FROM read_parquet({p}, file_row_number = true)"
        )
        return []
    if fmt == "csv":
        return _csv_rows(con, p)
    return _json_rows(con, p, path)


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    catalog: Catalog,
    mapping: dict[str, str] | None = None,
    timezone: str = "UTC",
    fmt: str | None = None,
) -> Staged:
    """Read and validate one file into temp tables `_good` and `_bad` on `con`."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(str(p), "file not found")
    if not p.is_file():
        raise InputFileError(str(p), "not a file")
    kind = detect_format(p, fmt)
    mapping = mapping or {}
    try:
        con.execute(f"SET TimeZone = {q(timezone)}")
    except duckdb.Error:
        raise UsageError(
            f"--timezone {timezone!r}: unknown time zone (use an IANA name like America/Sao_Paulo)"
        ) from None
    try:
        return _stage(con, p, kind, catalog, mapping, timezone)
    finally:
        con.execute("SET TimeZone = 'UTC'")


def _stage(
    con: duckdb.DuckDBPyConnection,
    p: Path,
    kind: str,
    catalog: Catalog,
    mapping: dict[str, str],
    timezone: str,
) -> Staged:
    try:
        structural = _source_relation(con, p, kind)
        described = con.execute("DESCRIBE SELECT * FROM _raw").fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputFileError(str(p), f"cannot be read as {kind.upper()}: {first}") from None
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
                str(p),
                f"--map {col.name}={wanted}: the file has no column {wanted!r} "
                f"(columns: {', '.join(src_types) or 'none'})",
            )
        if found is None and col.required and (kind != "jsonl" or src_types or not structural):
            raise InputFileError(
                str(p),
                f"no column {col.name!r}, which is required (columns: {', '.join(src_types) or 'none'}); "
                f"map yours with --map {col.name}=YOUR_COLUMN",
            )
        if found is not None:
            used.add(found)
        typed, reason = checks.column(
            col, ident(found) if found else None, src_types.get(found) if found else None
        )
        if col.name == "customer_id":
            typed = pseudonymize_sql(con, typed)  # keyed hash when a key is configured
        typed_cols.append(f"{typed} AS {col.name}")
        if reason:
            reasons.append((col.name, reason))
    ignored = [n for n in src_types if n not in used]

    first_reason = "coalesce(" + ", ".join(r for _, r in reasons) + ")" if reasons else "NULL"
    # The derived key hashes the typed row as JSON, which keeps fields and nulls apart.
    identity = ", ".join(f"{c} := {c}" for c in COLUMN_NAMES if c != "event_id")
    # One pass over the file: typed columns, the first problem of the row, and the event_id
    # (given, or derived from the row's content so identical rows dedupe).
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _typed AS
        SELECT * REPLACE (coalesce(event_id, 'h:' || md5(CAST(to_json(struct_pack({identity})) AS VARCHAR))) AS event_id)
        FROM (SELECT _row, {", ".join(typed_cols)}, {first_reason} AS _problem FROM _raw)""")
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

    # Every problem of every rejected row, with the raw record kept for repair.
    reason_list = (
        "[" + ", ".join(f"{{'column': {q(name)}, 'reason': {r}}}" for name, r in reasons) + "]"
    )
    record = ", ".join(f"{ident(n)} := r.{ident(n)}" for n in src_types) or "missing := NULL"
    bad_select = f"""
        SELECT {q(str(p))} AS source, r._row AS "row", e.column AS "column", e.reason AS reason,
               CAST(to_json(struct_pack({record})) AS VARCHAR) AS raw
        FROM (SELECT * FROM _raw WHERE _row IN (SELECT _row FROM _typed WHERE _problem IS NOT NULL)) r,
             LATERAL (SELECT unnest(list_filter({reason_list}, lambda x: x.reason IS NOT NULL), recursive := true)) e"""
    if n_rows == n_good:
        # Nothing to explain: an empty table of the same shape costs no planning of the
        # lateral unnest (it matters for the many small batches of the HTTP API).
        con.execute(
            'CREATE OR REPLACE TEMP TABLE _bad (source VARCHAR, "row" BIGINT, "column" VARCHAR, '
            "reason VARCHAR, raw VARCHAR)"
        )
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _bad AS {bad_select}")
    if structural:
        con.executemany(
            "INSERT INTO _bad VALUES (?, ?, NULL, ?, ?)",
            [(str(p), r, why, raw) for r, why, raw in structural],
        )
    rejected_rows = con.execute('SELECT count(DISTINCT "row") FROM _bad').fetchone()[0]
    return Staged(
        str(p), n_rows + len(structural), n_ids, in_file_duplicates, rejected_rows, ignored
    )


def quarantine_sample(
    con: duckdb.DuckDBPyConnection, limit: int = QUARANTINE_LIST_LIMIT
) -> list[dict[str, object]]:
    rows = con.execute(
        f'SELECT source, "row", "column", reason FROM _bad ORDER BY "row", "column" NULLS FIRST LIMIT {limit}'
    ).fetchall()
    return [{"file": s, "row": r, "column": c, "reason": why} for s, r, c, why in rows]


ProgressHook = Callable[[str, str], None]


# -- fast path: records already parsed in Python ------------------------------------------
# Staging a batch costs a fixed ~100 ms of DuckDB planning (the typed SELECT alone is one
# huge expression), which dominates small HTTP batches and a good part of large ones.
# `check_records` types, in Python, records it can decide with certainty to be valid under
# exactly the rules of `_Checks`; anything else (a rejection, a derived event_id, a value
# whose text DuckDB might read differently) makes it answer None and the batch is staged
# as before. So every reason text still comes from the staging SQL alone.


class _Unclear(Exception):
    """A record the fast path does not decide: the staging path will."""


TypedRow = tuple[object, ...]  # the canonical columns in COLUMN_NAMES order
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:(Z)|([+-])(\d\d):(\d\d))?"
)
_EXACT_DOUBLE = 2**53  # larger integers may read differently through DuckDB's text path


def _no_constant(name: str) -> None:
    raise _Unclear(name)


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # Python keeps the last of repeated keys; DuckDB's JSON reader may not.
    record = dict(pairs)
    if len(record) != len(pairs):
        raise _Unclear("repeated key")
    return record


# Refuses NaN, Infinity and repeated keys, which Python reads differently from DuckDB.
_STRICT = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_no_constant)


def loads_strict(text: str | bytes) -> object | None:
    """The JSON value of `text`, or None for text the fast path must not interpret."""
    try:
        return _STRICT.decode(text if isinstance(text, str) else text.decode("utf-8"))
    except (_Unclear, ValueError):
        return None


def _plain_text(value: object) -> str | None:
    """A JSON string exactly as DuckDB's NULLIF(TRIM(...), '') reads it, or _Unclear."""
    if value is None or value == "":
        return None
    if type(value) is not str or value[0].isspace() or value[-1].isspace() or "\x00" in value:
        raise _Unclear(value)
    if not value.isascii():
        try:
            value.encode("utf-8")  # lone surrogates are not valid JSON for DuckDB
        except UnicodeEncodeError:
            raise _Unclear(value) from None
    return value


def _ascii_lower(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.isascii():  # DuckDB's lower() and Python's may differ beyond ASCII
        raise _Unclear(value)
    return value.lower()


def _timestamp(value: object) -> datetime | None:
    """An ISO-8601 text read in UTC (as staging does with --timezone UTC), as naive UTC."""
    text = _plain_text(value)
    if text is None:
        return None
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        raise _Unclear(text)
    y, mo, d, h, mi, s, frac, zulu, sign, oh, om = m.groups()
    try:
        ts = datetime(
            int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0").ljust(6, "0"))
        )
        if sign:
            if int(oh) > 15 or int(om) > 59:
                raise _Unclear(text)
            offset = timedelta(hours=int(oh), minutes=int(om))
            ts = ts - offset if sign == "+" else ts + offset
    except (ValueError, OverflowError):
        raise _Unclear(text) from None
    return ts


def _number(value: object, col: Column) -> float | None:
    if value is None:
        return None
    if type(value) is int:
        if abs(value) > _EXACT_DOUBLE:
            raise _Unclear(value)
        number = float(value)
    elif type(value) is float and math.isfinite(value):
        number = value
    else:
        raise _Unclear(value)
    if (col.low is not None and number < col.low) or (col.high is not None and number > col.high):
        raise _Unclear(value)
    return number


def _converter(col: Column, catalog: Catalog, key: str | None) -> Callable[[object], object]:
    """value -> typed value for one column, raising _Unclear unless certainly valid."""
    if col.type == "timestamp":
        convert: Callable[[object], object] = _timestamp
    elif col.type == "double":

        def convert(v: object) -> object:
            return _number(v, col)

    elif col.type == "int":

        def convert(v: object) -> object:
            number = _number(v, col)
            if number is None:
                return None
            if not number.is_integer() or not -32768 <= number <= 32767:
                raise _Unclear(v)
            return int(number)

    elif col.type == "bool":

        def convert(v: object) -> object:
            if v is None or type(v) is bool:
                return v
            raise _Unclear(v)

    elif col.choices:
        choices = frozenset(col.choices)

        def convert(v: object) -> object:
            text = _ascii_lower(_plain_text(v))
            if text is not None and text not in choices:
                raise _Unclear(v)
            return text

    elif col.name == "action":

        def convert(v: object) -> object:
            return _ascii_lower(_plain_text(v)) or ACTION_DEFAULT

    elif col.name == "touchpoint":
        valid = frozenset(t.id for t in catalog.touchpoints if t.is_touchpoint)

        def convert(v: object) -> object:
            text = _plain_text(v)
            if text is not None and text not in valid:
                raise _Unclear(v)
            return text

    elif col.name == "customer_id" and key is not None:

        def convert(v: object) -> object:
            text = _plain_text(v)
            return None if text is None else pseudonymize(text, key)

    else:
        convert = _plain_text
    return convert


def check_records(
    records: Sequence[object], catalog: Catalog, timezone: str = "UTC"
) -> list[TypedRow] | None:
    """Every record typed as the staging SELECT would type it, or None unless all are
    certainly valid (JSON objects with canonical keys only and their own event_id).

    Records are Python JSON values (dicts) or the text of one JSON value (bytes/str).
    """
    if timezone != "UTC":
        return None
    key = pseudonymize_key()
    convert = {col.name: _converter(col, catalog, key) for col in COLUMNS}
    position = {name: i for i, name in enumerate(COLUMN_NAMES)}
    blank: list[object] = [None] * len(COLUMNS)
    blank[position["action"]] = ACTION_DEFAULT
    # event_id too: without it staging derives one from the row's content.
    needed = [position[c.name] for c in COLUMNS if c.required or c.name == "event_id"]
    rows: list[TypedRow] = []
    try:
        for record in records:
            value = loads_strict(record) if isinstance(record, bytes | str) else record
            if type(value) is not dict:
                return None
            row = blank.copy()
            for name, v in value.items():
                row[position[name]] = convert[name](v)
            for i in needed:
                if row[i] is None:
                    return None
            rows.append(tuple(row))
    except (_Unclear, KeyError, ValueError):  # KeyError: not a canonical column
        return None
    return rows


class LazyRecords(Sequence[object]):
    """Records whose texts are made only if asked for: the HTTP API parses a body once
    for the fast path and cuts it into per-record texts only when a batch must be staged."""

    def __init__(self, count: int, make: Callable[[], Sequence[object]]) -> None:
        self._count = count
        self._make = make
        self._records: Sequence[object] | None = None

    def _all(self) -> Sequence[object]:
        if self._records is None:
            self._records = self._make()
        return self._records

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):  # type: ignore[no-untyped-def,override]
        return self._all()[index]

    def __iter__(self) -> Iterator[object]:
        return iter(self._all())
