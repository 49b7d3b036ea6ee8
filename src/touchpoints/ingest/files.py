"""Reading files: CSV, JSON Lines, JSON arrays and Parquet become the staging view `_raw`
(one row per record, `_row` numbered from 1 in file order; the header of a CSV is not a
row), and records that cannot even be split into columns become structural rejects.

The file never becomes Python objects: DuckDB reads it, `checks.validate` types and checks
it in SQL, and the store copies the good rows in. File paths and JSON keys reach SQL as
bound values (views, which cannot hold parameters, read them from session variables).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import duckdb

from touchpoints.core.catalog import Catalog
from touchpoints.core.errors import InputFileError, UsageError
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.ingest.checks import Staged, Structural, ident, validate

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
# Session variables the `_raw` view reads (a view cannot hold bound parameters).
PATH_VARIABLE = "touchpoints_staged_path"
JSON_PATHS_VARIABLE = "touchpoints_json_paths"


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
        str(path),
        "unknown file type; name it .csv, .jsonl, .parquet, .xlsx or .ods, or pass --format",
    )


def _json_rows(con: duckdb.DuckDBPyConnection, path: Path) -> Structural:
    """JSON Lines (or a JSON array): one text per record, parsed in SQL so that a broken
    record is quarantined alone. Creates `_raw` with every key as a text column."""
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
    if head.startswith(b"["):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _lines AS SELECT CAST(unnest(json_extract(content, '$[*]')) AS VARCHAR) "
            "AS line FROM read_text($path)",
            {"path": str(path)},
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _lines AS SELECT line FROM read_csv($path, columns = {'line': 'VARCHAR'}, "
            "header = false, delim = chr(31), quote = '', escape = '', auto_detect = false)",
            {"path": str(path)},
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
        con.execute(
            f"SET VARIABLE {JSON_PATHS_VARIABLE} = CAST($paths AS VARCHAR[])",
            {"paths": ["$." + json.dumps(k) for k in keys]},
        )
        cols = ", ".join(f"v[{i + 1}] AS {ident(k)}" for i, k in enumerate(keys)) + ","
        inner = f"json_extract_string(line, getvariable('{JSON_PATHS_VARIABLE}')) AS v,"
    else:
        cols = inner = ""
    con.execute(f"""CREATE OR REPLACE TEMP VIEW _raw AS
        SELECT {cols} _row FROM (SELECT {inner} rowid + 1 AS _row FROM _lines WHERE {ok})""")
    return structural


def csv_rows(
    con: duckdb.DuckDBPyConnection, path: Path, dialect: dict[str, object] | None = None
) -> Structural:
    """CSV read by DuckDB as text; lines it cannot parse are kept as structural rejects and
    the rows after them keep their position in the file. `dialect` holds read_csv options
    a source declares (`delim`, `quote`, `header`), bound like the path."""
    con.execute("DROP TABLE IF EXISTS _csv_rejects")
    con.execute("DROP TABLE IF EXISTS _csv_scans")
    options = {"header": True, **(dialect or {})}
    declared = "".join(f", {k} = ${k}" for k in options)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _csv AS SELECT * FROM read_csv($path, all_varchar = true"
        f"{declared}, store_rejects = true, rejects_table = '_csv_rejects', "
        "rejects_scan = '_csv_scans')",
        {"path": str(path), **options},
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
    total = con.execute("SELECT count(*) FROM _csv").fetchone()[0] + len(structural)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _bad_rows AS SELECT unnest(CAST($rows AS BIGINT[])) AS r",
        {"rows": [r for r, _, _ in structural]},
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _rownums AS
        SELECT row_number() OVER (ORDER BY r) - 1 AS k, r FROM range(1, $total + 1) t(r)
        WHERE r NOT IN (SELECT r FROM _bad_rows)""",
        {"total": total},
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW _raw AS SELECT c.*, n.r AS _row FROM _csv c JOIN _rownums n ON n.k = c.rowid"
    )
    return structural


def read_raw(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, name: str) -> Structural:
    """Create the view `_raw` (one row per record, `_row` numbered from 1 in file order);
    return the records that could not even be split into columns."""
    if path.stat().st_size == 0:
        raise InputFileError(name, "the file is empty")
    if fmt == "parquet":
        con.execute(f"SET VARIABLE {PATH_VARIABLE} = $path", {"path": str(path)})
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _raw AS SELECT * EXCLUDE (file_row_number), "
            f"file_row_number + 1 AS _row FROM read_parquet(getvariable('{PATH_VARIABLE}'), "
            "file_row_number = true)"
        )
        return []
    if fmt == "csv":
        return csv_rows(con, path)
    return _json_rows(con, path)


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    catalog: Catalog,
    mapping: dict[str, str] | None = None,
    timezone: str = "UTC",
    fmt: str | None = None,
    *,
    key: str | None = None,
    source: str | None = None,
) -> Staged:
    """Read and validate one file into temp tables `_good` and `_bad` on `con`.

    `source` names the file in quarantine and messages (default: its path); `key`
    pseudonymises customer ids (None: stored as given).
    """
    p = Path(path)
    name = source or str(p)
    if not p.exists():
        raise InputFileError(name, "file not found")
    if not p.is_file():
        raise InputFileError(name, "not a file")
    kind = detect_format(p, fmt)
    try:
        con.execute("SET TimeZone = $timezone", {"timezone": timezone})
    except duckdb.Error:
        raise UsageError(
            f"--timezone {timezone!r}: unknown time zone (use an IANA name like America/Sao_Paulo)"
        ) from None
    try:
        try:
            structural = read_raw(con, p, kind, name)
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise InputFileError(name, f"cannot be read as {kind.upper()}: {first}") from None
        return validate(con, name, kind, structural, catalog, mapping or {}, timezone, key)
    finally:
        con.execute("SET TimeZone = 'UTC'")
