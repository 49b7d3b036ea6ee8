"""Sources (SPEC §5): an export read as another tool writes it, described by a YAML file in
the words of the Frictionless Data specs (CSV Dialect, Table Schema) where they have one.

The file is read into the staging relation `_src` (CSV through DuckDB, after transcoding
to UTF-8 when it is not; spreadsheets through fastexcel, which reads .xlsx/.ods in Rust
into Arrow), then one generated SELECT turns its columns into the canonical ones (`_raw`)
— value maps, constants, decimal and group characters, date formats, Unix times, hh:mm:ss
durations and units — and `checks.validate` checks the result as it checks any file.
Every conversion is vectorised SQL; no cell passes through Python.

A value the source cannot read (a date not in its format, a number with stray letters, a
word in neither trueValues nor falseValues) rejects its row into quarantine with the row,
the column and a reason that quotes the value as the file has it.
"""

from __future__ import annotations

import codecs
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from touchpoints.core.catalog import Catalog
from touchpoints.core.errors import InputFileError, UsageError
from touchpoints.core.events import BY_NAME, COLUMN_NAMES, COLUMNS
from touchpoints.ingest.checks import NUMERIC_TYPES, Staged, ident, validate
from touchpoints.ingest.files import csv_rows, read_raw

SHEET_FORMATS = ("xlsx", "ods")
FORMATS = ("csv", "jsonl", "parquet", *SHEET_FORMATS)
SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".ods": "ods"}
UNITS = {"seconds": 1.0, "milliseconds": 0.001, "minutes": 60.0, "hours": 3600.0}
SAMPLE_BYTES = 1 << 20
CURRENCY = r"([A-Z]{0,3}[$€£¥₹]|BRL|USD|EUR|GBP)"
BARE_AROUND = rf"^\s*{CURRENCY}?\s*|\s*({CURRENCY}|%|‰)?\s*$"
LATIN_PAGES = {
    codecs.lookup(e).name
    for e in (
        "cp1250",
        "cp1252",
        "latin-1",
        "iso8859-15",
        "cp1254",
        "cp1257",
        "iso8859-2",
        "mac-roman",
        "cp850",
    )
}
TRANSCODE_BLOCK = 1 << 24
# A spreadsheet date is a count of days since 1899-12-30 (the 1900 system's day 0).
SHEET_EPOCH = "TIMESTAMP '1899-12-30'"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Dialect(_Strict):
    """Frictionless CSV Dialect (the parts exports need)."""

    delimiter: str | None = None
    encoding: str | None = None
    quoteChar: str = '"'  # noqa: N815 - the Frictionless name
    header: bool = True

    @field_validator("delimiter", "quoteChar")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError("must be one character")
        return value

    @field_validator("encoding")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
        return value


class ColumnSource(_Strict):
    """Where one canonical column comes from and how to read it (Frictionless Table Schema
    field words: format, decimalChar, groupChar, bareNumber, trueValues, falseValues,
    missingValues)."""

    from_: str | None = Field(None, alias="from")
    value: Any = None
    values: dict[str, Any] | None = None
    # What a value not listed in `values` becomes (default: itself). Touchpoints' word:
    # Frictionless has none.
    otherwise: Any = None
    format: str | None = None
    unit: Literal["seconds", "milliseconds", "minutes", "hours"] | None = None
    decimalChar: str = "."  # noqa: N815
    groupChar: str | None = None  # noqa: N815
    bareNumber: bool = True  # noqa: N815
    trueValues: list[str] | None = None  # noqa: N815
    falseValues: list[str] | None = None  # noqa: N815
    missingValues: list[str] | None = None  # noqa: N815


class Source(_Strict):
    """How to read one kind of export (SPEC §5, "Sources")."""

    format: Literal["csv", "jsonl", "parquet", "xlsx", "ods"] | None = None
    dialect: Dialect = Field(default_factory=Dialect)
    sheet: str | int | None = None
    timezone: str | None = None
    id_prefix: str | None = None
    missingValues: list[str] = Field(default_factory=lambda: [""])  # noqa: N815
    columns: dict[str, ColumnSource] = Field(default_factory=dict)
    # Columns read so only when the file has them (the `ingest --decimal` rules).
    _optional: set[str] = PrivateAttr(default_factory=set)

    @field_validator("columns")
    @classmethod
    def _canonical(cls, value: dict[str, ColumnSource]) -> dict[str, ColumnSource]:
        for name, spec in value.items():
            if name not in COLUMN_NAMES:
                raise ValueError(
                    f"{name!r} is not an event column; columns: {', '.join(COLUMN_NAMES)}"
                )
            if spec.from_ is None and spec.value is None:
                raise ValueError(f"{name}: give 'from' (a column of the file) or 'value'")
        return value


def load_source(path: str | Path) -> Source:
    """A source file, every problem named by its field (`columns.ts.format: ...`)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{p}: source file not found") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{p}: not YAML: {str(exc).splitlines()[0]}") from None
    return parse_source(data or {}, str(p))


def parse_source(data: Any, name: str = "source") -> Source:
    try:
        return Source.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'source'}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"{name}: {problems}") from None


def options_source(
    mapping: dict[str, str] | None = None,
    encoding: str | None = None,
    decimal: str | None = None,
    date_format: str | None = None,
    delimiter: str | None = None,
) -> Source | None:
    """The source that `ingest --encoding/--decimal/--date-format/--delimiter` mean (with
    `--map`), or None when none of them is given (plain SPEC §2 files)."""
    if not (encoding or decimal or date_format or delimiter):
        return None
    columns: dict[str, dict[str, Any]] = {k: {"from": v} for k, v in (mapping or {}).items()}
    if decimal:
        group = "." if decimal == "," else ","
        for c in COLUMNS:
            if c.type in ("double", "int"):
                columns.setdefault(c.name, {"from": c.name}).update(
                    decimalChar=decimal, groupChar=group
                )
    if date_format:
        columns.setdefault("ts", {"from": "ts"})["format"] = date_format
    dialect = {"encoding": encoding, "delimiter": delimiter}
    source = parse_source({"dialect": dialect, "columns": columns}, "options")
    source._optional = {n for n in columns if n not in (mapping or {})}
    return source


@dataclass
class Reading:
    """What reading through a source noticed (the encoding it detected, say)."""

    notes: list[dict[str, object]] = field(default_factory=list)


# -- reading the file into `_src` ------------------------------------------------------------
def _format(path: Path, source: Source) -> str:
    if source.format:
        return source.format
    suffix = path.suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    from touchpoints.ingest.files import detect_format

    return detect_format(path)


def detect_encoding(path: Path) -> tuple[str, bool]:
    """(encoding, detected): UTF-8 when the first megabyte is UTF-8 (a BOM is fine), else
    charset-normalizer's best guess (cp1252 for most Brazilian Excel exports)."""
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8", False
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise InputFileError(str(path), "cannot tell its encoding; declare dialect.encoding")
    encoding = codecs.lookup(best.encoding).name
    if encoding in LATIN_PAGES:
        # A short sample cannot tell the Latin code pages apart; Excel on Windows writes
        # cp1252 for Portuguese, Spanish, English and French, so prefer it when it reads.
        try:
            sample.decode("cp1252")
            return "cp1252", True
        except UnicodeDecodeError:
            pass
    return encoding, True


def _transcode(path: Path, encoding: str, tmp: Path) -> Path:
    """The file as UTF-8, block by block (the codec runs in C over whole blocks)."""
    out = tmp / "utf8.csv"
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with path.open("rb") as src, out.open("wb") as dst:
        while block := src.read(TRANSCODE_BLOCK):
            try:
                dst.write(decoder.decode(block).encode("utf-8"))
            except UnicodeDecodeError as exc:
                raise InputFileError(
                    str(path), f"not {encoding}: byte {exc.start} of a block cannot be read"
                ) from None
        dst.write(decoder.decode(b"", final=True).encode("utf-8"))
    return out


def _read_sheet(con: duckdb.DuckDBPyConnection, path: Path, source: Source, name: str) -> None:
    """The sheet through fastexcel (Rust, calamine) straight into Arrow; each column's type
    is inferred over every row, so a mixed column is text rather than a coerced null."""
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
        sheets = reader.sheet_names
        wanted = source.sheet if source.sheet is not None else 0
        if isinstance(wanted, str) and wanted not in sheets:
            raise InputFileError(name, f"no sheet {wanted!r} (sheets: {', '.join(sheets)})")
        table = reader.load_sheet(wanted, schema_sample_rows=None).to_arrow()
    except InputFileError:
        raise
    except Exception as exc:  # fastexcel's own error types; the message says what failed
        raise InputFileError(name, f"cannot be read as a spreadsheet: {exc}") from None
    con.register("_sheet", table)
    _drop(con, "_src")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _src AS SELECT *, row_number() OVER () AS _row FROM _sheet"
    )
    con.unregister("_sheet")


def read_source_file(
    con: duckdb.DuckDBPyConnection, path: Path, source: Source, name: str, tmp: Path
) -> tuple[str, list[tuple[int, str, str | None]], Reading]:
    """Create `_src` (the file's own columns, `_row` from 1); return its format, the
    records that could not be split into columns, and what was noticed."""
    kind = _format(path, source)
    reading = Reading()
    if path.stat().st_size == 0:
        raise InputFileError(name, "the file is empty")
    if kind in SHEET_FORMATS:
        _read_sheet(con, path, source, name)
        return kind, [], reading
    if kind == "csv":
        encoding = source.dialect.encoding
        if encoding is None:
            encoding, detected = detect_encoding(path)
            if detected:
                reading.notes.append({"code": "encoding_detected", "encoding": encoding})
        if codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
            path = _transcode(path, encoding, tmp)
        options = {"quote": source.dialect.quoteChar, "header": source.dialect.header}
        if source.dialect.delimiter:
            options["delim"] = source.dialect.delimiter
        try:
            structural = csv_rows(con, path, options)
        except duckdb.Error as exc:
            raise InputFileError(
                name, f"cannot be read as CSV: {str(exc).splitlines()[0]}"
            ) from None
        _rename_raw(con)
        return kind, structural, reading
    structural = read_raw(con, path, kind, name)
    _rename_raw(con)
    return kind, structural, reading


def _drop(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a staging relation, table or view (DuckDB refuses DROP TABLE on a view)."""
    kind = con.execute(
        "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = $n AND temporary "
        "UNION ALL SELECT 'VIEW' FROM duckdb_views() WHERE view_name = $n AND temporary",
        {"n": name},
    ).fetchall()
    for (what,) in kind:
        con.execute(f"DROP {what} {name}")


def _rename_raw(con: duckdb.DuckDBPyConnection) -> None:
    """The file's own columns become `_src`; `_raw` will hold the canonical ones."""
    _drop(con, "_src")
    con.execute("ALTER VIEW _raw RENAME TO _src")


# -- the canonical columns ---------------------------------------------------------------------
class _Build:
    """The SELECT from `_src` to the canonical `_raw`, and the source problems it checks."""

    def __init__(self, source: Source, kind: str, types: dict[str, str]) -> None:
        self.source = source
        self.kind = kind
        self.types = types
        self.params: dict[str, Any] = {}
        self.problems: list[tuple[str, str, str]] = []  # (column, condition, reason)
        self.used: set[str] = set()

    def bind(self, name: str, value: Any) -> str:
        self.params[name] = value
        return f"${name}"

    def words(self, name: str, values: list[Any]) -> str:
        return (
            f"CAST({self.bind(name, [None if v is None else str(v) for v in values])} AS VARCHAR[])"
        )

    def column(self, name: str) -> str | None:
        spec = self.source.columns.get(name)
        if spec is None:
            found = self._find(name, required=False)
            if found is None:
                return None
            spec = ColumnSource(**{"from": found})
        if spec.value is not None:
            return self.bind(f"{name}_constant", _text(spec.value))
        optional = name in self.source._optional
        column = self._find(spec.from_ or name, required=not optional, canonical=name)
        if column is None:
            return None
        self.used.add(column)
        src = ident(column)
        src_type = self.types[column].upper()
        target = BY_NAME[name].type
        if (
            spec.values is not None
            or src_type not in (*NUMERIC_TYPES, "BOOLEAN")
            and not src_type.startswith(("TIMESTAMP", "DATE", "DECIMAL"))
        ):
            text = self._text(name, spec, src, src_type)
            return self._from_text(name, spec, text, target, src)
        return self._from_typed(name, spec, src, src_type, target)

    def _find(self, wanted: str, required: bool, canonical: str | None = None) -> str | None:
        if wanted in self.types:
            return wanted
        lower = {n.lower(): n for n in self.types}
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        if required:
            raise UsageError(
                f"columns.{canonical}.from: the file has no column {wanted!r} "
                f"(columns: {', '.join(self.types)})"
            )
        return None

    def _text(self, name: str, spec: ColumnSource, src: str, src_type: str) -> str:
        """The cell as trimmed text: missing values null, value maps applied."""
        if src_type in ("DOUBLE", "FLOAT", "REAL"):
            # A sheet's whole numbers (ids, codes) read as 1040.0: keep them 1040.
            raw = f"CASE WHEN {src} = trunc({src}) AND abs({src}) < 1e15 THEN CAST(CAST({src} AS BIGINT) AS VARCHAR) ELSE CAST({src} AS VARCHAR) END"
        else:
            raw = f"CAST({src} AS VARCHAR)"
        missing = (
            spec.missingValues if spec.missingValues is not None else self.source.missingValues
        )
        v = f"trim({raw})"
        if missing:
            v = f"CASE WHEN list_contains({self.words(f'{name}_missing', missing)}, {v}) THEN NULL ELSE {v} END"
        if spec.values is not None:
            if "" in spec.values:
                # The key "" names an empty cell, which the reader may already hold as null.
                v = f"coalesce({v}, '')"
            keys = self.words(f"{name}_keys", list(spec.values))
            vals = self.words(f"{name}_vals", [_text(x) for x in spec.values.values()])
            # `otherwise: null` is a value too: only an absent `otherwise` keeps the cell.
            other = (
                f"CAST({self.bind(f'{name}_otherwise', _text(spec.otherwise))} AS VARCHAR)"
                if "otherwise" in spec.model_fields_set
                else v
            )
            v = f"CASE WHEN list_contains({keys}, {v}) THEN list_extract({vals}, list_position({keys}, {v})) WHEN {v} IS NOT NULL THEN {other} END"
        return v

    def _problem(self, name: str, condition: str, reason: str) -> None:
        self.problems.append((name, condition, reason))

    def _from_text(self, name: str, spec: ColumnSource, v: str, target: str, src: str) -> str:
        shown = f"'''' || left(CAST({src} AS VARCHAR), 60) || ''''"
        if target == "timestamp":
            return self._ts_text(name, spec, v, shown)
        if target in ("double", "int"):
            return self._number_text(name, spec, v, shown)
        if target == "bool" and (spec.trueValues or spec.falseValues):
            true = self.words(f"{name}_true", spec.trueValues or [])
            false = self.words(f"{name}_false", spec.falseValues or [])
            typed = f"(CASE WHEN list_contains({true}, {v}) THEN 'true' WHEN list_contains({false}, {v}) THEN 'false' END)"
            listed = ", ".join([*(spec.trueValues or []), *(spec.falseValues or [])])
            self._problem(
                name,
                f"{v} IS NOT NULL AND {typed} IS NULL",
                f"'not one of the trueValues/falseValues (' || {self.bind(f'{name}_listed', listed)} "
                f"|| '): ' || {shown}",
            )
            return typed
        if name in ("event_id", "ref_event_id") and self.source.id_prefix:
            return f"{self.bind('id_prefix', self.source.id_prefix)} || {v}"
        return v

    def _ts_text(self, name: str, spec: ColumnSource, v: str, shown: str) -> str:
        fmt = spec.format
        if fmt in ("unix_s", "unix_ms"):
            number = f"TRY_CAST({v} AS DOUBLE)"
            typed = self._unix(number, fmt)
            self._problem(
                name,
                f"{v} IS NOT NULL AND {typed} IS NULL",
                f"'not a Unix time ({fmt}): ' || {shown}",
            )
            return typed
        if fmt and fmt not in ("default", "any"):
            typed = f"try_strptime({v}, {self.bind(f'{name}_format', fmt)})"
            if self.kind in SHEET_FORMATS:
                # Date cells among text cells reach the text as day counts.
                days = f"TRY_CAST({v} AS DOUBLE)"
                serial = (
                    f"{SHEET_EPOCH} + to_microseconds(CAST(round({days} * 86400000000) AS BIGINT))"
                )
                # (as ISO text or day counts, depending on the reader's version).
                typed = (
                    f"CASE WHEN {days} IS NOT NULL THEN {serial} "
                    f"ELSE coalesce({typed}, TRY_CAST({v} AS TIMESTAMP)) END"
                )
            self._problem(
                name,
                f"{v} IS NOT NULL AND {typed} IS NULL",
                f"'does not match the format ' || {self.bind(f'{name}_format', fmt)} || ': ' "
                f"|| {shown}",
            )
            return typed
        if self.kind in SHEET_FORMATS:
            # A mixed column of a sheet keeps its dates as day counts: read them as dates.
            days = f"TRY_CAST({v} AS DOUBLE)"
            return f"CASE WHEN {days} IS NOT NULL THEN CAST({SHEET_EPOCH} + to_microseconds(CAST(round({days} * 86400000000) AS BIGINT)) AS VARCHAR) ELSE {v} END"
        return v

    def _unix(self, number: str, fmt: str) -> str:
        seconds = f"{number} / 1000.0" if fmt == "unix_ms" else number
        return f"to_timestamp(CASE WHEN isfinite({seconds}) AND abs({seconds}) < 95617584000 THEN {seconds} END)"

    def _number_text(self, name: str, spec: ColumnSource, v: str, shown: str) -> str:
        scale = UNITS[spec.unit] if spec.unit else 1.0
        if spec.format in ("hh:mm:ss", "hh:mm", "mm:ss"):
            parts = f"string_split({v}, ':')"
            if spec.format == "hh:mm:ss":
                pattern, seconds = (
                    r"[0-9]+:[0-5]?[0-9]:[0-5]?[0-9]([.][0-9]+)?",
                    (
                        f"CAST({parts}[1] AS DOUBLE) * 3600 + CAST({parts}[2] AS DOUBLE) * 60 + CAST({parts}[3] AS DOUBLE)"
                    ),
                )
            elif spec.format == "hh:mm":
                pattern, seconds = (
                    r"[0-9]+:[0-5]?[0-9]",
                    f"CAST({parts}[1] AS DOUBLE) * 3600 + CAST({parts}[2] AS DOUBLE) * 60",
                )
            else:
                pattern, seconds = (
                    r"[0-9]+:[0-5]?[0-9]([.][0-9]+)?",
                    f"CAST({parts}[1] AS DOUBLE) * 60 + CAST({parts}[2] AS DOUBLE)",
                )
            matches = f"regexp_full_match({v}, {self.bind(f'{name}_pattern', pattern)})"
            typed = f"CASE WHEN {matches} THEN {seconds} END"
            if self.kind in SHEET_FORMATS:
                # A time cell of a sheet is a fraction of a day.
                days = f"TRY_CAST({v} AS DOUBLE)"
                typed = f"coalesce({typed}, round({days} * 86400, 3))"
            self._problem(
                name,
                f"{v} IS NOT NULL AND ({typed}) IS NULL",
                f"'not a duration {spec.format}: ' || {shown}",
            )
            return typed
        if spec.format == "words":
            # "1 hour 5 minutes", "3 minutes 12 seconds", "2 days" (help desks' reports).
            units = (
                ("days?", 86400),
                ("hours?|hrs?|horas?", 3600),
                ("minutes?|mins?|minutos?", 60),
                ("seconds?|secs?|segundos?", 1),
            )
            total = " + ".join(
                f"coalesce(TRY_CAST(regexp_extract(lower({v}), '([0-9]+(?:[.][0-9]+)?) *(?:{unit})\\b', 1) AS DOUBLE), 0) * {factor}"
                for unit, factor in units
            )
            pattern = "^ *([0-9]+(?:[.][0-9]+)? *(days?|hours?|hrs?|horas?|minutes?|mins?|minutos?|seconds?|secs?|segundos?) *)+$"
            typed = f"CASE WHEN regexp_full_match(lower({v}), {self.bind(f'{name}_words', pattern)}) THEN ({total}) * {scale!r} END"
            self._problem(
                name,
                f"{v} IS NOT NULL AND ({typed}) IS NULL",
                f"'not a duration in words (like 3 minutes 12 seconds): ' || {shown}",
            )
            return typed
        cleaned = v
        if not spec.bareNumber:
            # Currency signs and codes, percent signs and spaces around the number
            # ("R$ 1.234,56", "12 %", "EUR 5"); words stay, so "1 min" is not a number.
            pattern = self.bind(f"{name}_around", BARE_AROUND)
            cleaned = f"regexp_replace({cleaned}, {pattern}, '', 'g')"
        number = cleaned
        if spec.groupChar:
            number = f"replace({number}, {self.bind(f'{name}_group', spec.groupChar)}, '')"
        if spec.decimalChar != ".":
            number = f"replace({number}, {self.bind(f'{name}_decimal', spec.decimalChar)}, '.')"
        typed = f"TRY_CAST({number} AS DOUBLE)"
        if spec.groupChar or spec.decimalChar != ".":
            # Group characters only between thousands: "12.5" under groupChar "." is not
            # 125 but a mistake (or a sheet's number cell, whose text uses ".").
            whole = (
                f"([0-9]{{1,3}}({_re(spec.groupChar)}[0-9]{{3}})+|[0-9]+)"
                if spec.groupChar
                else "[0-9]+"
            )
            shape = f"[+-]?{whole}({_re(spec.decimalChar)}[0-9]+)?"
            well = f"regexp_full_match({cleaned}, {self.bind(f'{name}_shape', shape)})"
            cell = "FALSE"
            if self.kind in SHEET_FORMATS and spec.decimalChar != ".":
                plain = r"[+-]?[0-9]+[.][0-9]+([eE][+-]?[0-9]+)?"
                cell = f"regexp_full_match({cleaned}, {self.bind(f'{name}_cell', plain)})"
            typed = (
                f"CASE WHEN {well} THEN {typed} WHEN {cell} THEN TRY_CAST({cleaned} AS DOUBLE) END"
            )
        if spec.decimalChar != "." or spec.groupChar or not spec.bareNumber:
            how = f"decimalChar {spec.decimalChar!r}" + (
                f", groupChar {spec.groupChar!r}" if spec.groupChar else ""
            )
            self._problem(
                name,
                f"{v} IS NOT NULL AND {typed} IS NULL",
                f"'not a number (' || {self.bind(f'{name}_how', how)} || '): ' || {shown}",
            )
        elif scale == 1.0:
            return v  # plain numbers: checks.validate reads and explains them
        else:
            self._problem(
                name, f"{v} IS NOT NULL AND {typed} IS NULL", f"'not a number: ' || {shown}"
            )
        return _scaled(typed, scale)

    def _from_typed(
        self, name: str, spec: ColumnSource, src: str, src_type: str, target: str
    ) -> str:
        scale = UNITS[spec.unit] if spec.unit else 1.0
        numeric = src_type in NUMERIC_TYPES or src_type.startswith("DECIMAL")
        if target == "timestamp":
            if numeric and spec.format in ("unix_s", "unix_ms"):
                typed = self._unix(f"CAST({src} AS DOUBLE)", spec.format)
                self._problem(
                    name,
                    f"{src} IS NOT NULL AND {typed} IS NULL",
                    f"'not a Unix time ({spec.format}): ' || {src}",
                )
                return typed
            if numeric and self.kind in SHEET_FORMATS:
                return f"{SHEET_EPOCH} + to_microseconds(CAST(round(CAST({src} AS DOUBLE) * 86400000000) AS BIGINT))"
            return src
        if target in ("double", "int"):
            if src_type.startswith("TIMESTAMP") and spec.format in ("hh:mm:ss", "hh:mm", "mm:ss"):
                # A sheet's time cell: calamine dates it on 1899-12-31.
                return f"epoch({src} - TIMESTAMP '1899-12-31')"
            if (
                numeric
                and spec.format in ("hh:mm:ss", "hh:mm", "mm:ss")
                and self.kind in SHEET_FORMATS
            ):
                return f"round(CAST({src} AS DOUBLE) * 86400, 3)"
            return _scaled(f"CAST({src} AS DOUBLE)", scale) if scale != 1.0 else src
        if target == "text" and src_type in ("DOUBLE", "FLOAT", "REAL"):
            text = self._text(name, spec, src, src_type)
            return self._from_text(name, spec, text, target, src)
        if target == "text":
            return self._from_text(name, spec, f"CAST({src} AS VARCHAR)", target, src)
        return src


def _scaled(number: str, scale: float) -> str:
    """`number` × `scale` in decimal arithmetic, so 4.1 minutes are 246 seconds, not
    245.99999999999997 (doubles read from short decimals round back to them at 12 places)."""
    if scale == 1.0:
        return number
    exact = (
        f"CAST(CAST({number} AS DECIMAL(38, 12)) * CAST({scale!r} AS DECIMAL(38, 12)) AS DOUBLE)"
    )
    return f"(CASE WHEN abs({number}) < 1e20 THEN {exact} ELSE {number} * {scale!r} END)"


def _text(value: Any) -> str | None:
    """A YAML value as the text checks.validate reads (true/false, numbers as written)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _re(char: str) -> str:
    return "\\" + char if char in "\\^$.|?*+()[]{}-" else char


def stage_source(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    source: Source,
    catalog: Catalog,
    timezone: str = "UTC",
    *,
    key: str | None = None,
    name: str | None = None,
) -> tuple[Staged, Reading]:
    """Read and validate one file through `source` into `_good`/`_bad` on `con`, like
    `files.stage_file` does for SPEC §2 files."""
    p = Path(path)
    name = name or str(p)
    if not p.exists():
        raise InputFileError(name, "file not found")
    zone = source.timezone or timezone
    try:
        con.execute("SET TimeZone = $timezone", {"timezone": zone})
    except duckdb.Error:
        raise UsageError(
            f"timezone {zone!r}: unknown time zone (use an IANA name like America/Sao_Paulo)"
        ) from None
    try:
        with tempfile.TemporaryDirectory(prefix="tp-source-") as tmp:
            kind, structural, reading = read_source_file(con, p, source, name, Path(tmp))
            described = con.execute("DESCRIBE SELECT * FROM _src").fetchall()
            types = {n: t for n, t, *_ in described if n != "_row"}
            build = _Build(source, kind, types)
            selects = []
            for col in COLUMN_NAMES:
                expr = build.column(col)
                if expr is not None:
                    selects.append(f"{expr} AS {col}")
            if not any(s.endswith(" AS customer_id") for s in selects):
                raise InputFileError(name, "no customer_id: map one with columns.customer_id.from")
            # A table, not a view: the conversions' values are bound parameters.
            sql = f"CREATE TEMP TABLE _raw AS SELECT _row, {', '.join(selects)} FROM _src"
            _drop(con, "_raw")
            _run(con, sql, build.params)
            staged = validate(con, name, kind, structural, catalog, {}, zone, key)
            staged.ignored_columns = [
                c for c in types if c not in build.used and c not in COLUMN_NAMES
            ]
            if build.problems:
                staged = _reject_unreadable(con, build, name, staged)
    except duckdb.Error as exc:
        raise InputFileError(name, f"cannot be read: {str(exc).strip().splitlines()[0]}") from None
    finally:
        con.execute("SET TimeZone = 'UTC'")
        # Plain files stage `_raw` and `_src` as views: leave neither name taken by a table.
        _drop(con, "_raw")
        _drop(con, "_src")
    return staged, reading


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> None:
    from touchpoints.store.params import bound

    values = bound(sql, params)
    con.execute(sql, values) if values else con.execute(sql)


def _reject_unreadable(
    con: duckdb.DuckDBPyConnection, build: _Build, name: str, staged: Staged
) -> Staged:
    """Values the source could not read: each becomes a `_bad` entry quoting the cell as
    the file has it, and its row leaves `_good`."""
    items = ", ".join(
        f"{{'column': {build.bind(f'problem_column_{i}', column)}, "
        f"'reason': CASE WHEN {cond} THEN {reason} END}}"
        for i, (column, cond, reason) in enumerate(build.problems)
    )
    record = ", ".join(f"{ident(n)} := s.{ident(n)}" for n in build.types) or "missing := NULL"
    sql = f"""CREATE OR REPLACE TEMP TABLE _unreadable AS
        SELECT s._row, e.column AS "column", e.reason AS reason,
               CAST(to_json(struct_pack({record})) AS VARCHAR) AS raw
        FROM _src s, LATERAL (SELECT unnest(list_filter([{items}], lambda x: x.reason IS NOT NULL), recursive := true)) e"""
    _run(con, sql, build.params)
    if not con.execute("SELECT count(*) FROM _unreadable").fetchall()[0][0]:
        return staged
    # A value the source could not read is null in `_raw`: its "missing required value"
    # would only repeat the reason given here.
    con.execute(
        """DELETE FROM _bad WHERE reason = 'missing required value' AND ("row", "column") IN
        (SELECT _row, "column" FROM _unreadable)"""
    )
    con.execute(
        'INSERT INTO _bad SELECT $source, _row, "column", reason, raw FROM _unreadable',
        {"source": name},
    )
    con.execute(
        "UPDATE _typed SET _problem = 'unreadable' WHERE _row IN (SELECT _row FROM _unreadable)"
    )
    n_good, n_ids = con.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM _typed WHERE _problem IS NULL"
    ).fetchall()[0]
    staged.good = int(n_ids)
    staged.in_file_duplicates = int(n_good - n_ids)
    staged.rejected_rows = int(
        con.execute('SELECT count(DISTINCT "row") FROM _bad').fetchall()[0][0]
    )
    return staged
