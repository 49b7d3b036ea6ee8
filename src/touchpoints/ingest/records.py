"""Records already parsed in Python (HTTP API, connectors, surveys): the fast path that
types a batch without staging it, and the JSON Lines form a batch is staged as otherwise.

Staging a batch costs a fixed ~100 ms of DuckDB planning (the typed SELECT alone is one
huge expression), which dominates small HTTP batches and a good part of large ones.
`check_records` types, in Python, records it can decide with certainty to be valid under
exactly the rules of `checks._Checks`; anything else (a rejection, a derived event_id, a
value whose text DuckDB might read differently) makes it answer None and the batch is
staged. So every reason text still comes from the staging SQL alone.

A float NaN in a record (pandas and NumPy write missing values so) is a missing value:
both paths read it as null (`without_nan`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from touchpoints.core.catalog import Catalog
from touchpoints.core.events import ACTION_DEFAULT, COLUMN_NAMES, COLUMNS, Column
from touchpoints.ingest.checks import text_limit, ts_bounds
from touchpoints.ingest.pseudonymize import pseudonymize

ARROW_TYPES = {
    c.name: {
        "text": pa.string(),
        "timestamp": pa.timestamp("us"),
        "double": pa.float64(),
        "int": pa.int16(),
        "bool": pa.bool_(),
    }[c.type]
    for c in COLUMNS
}
# Appended to every staged batch of records: a row holding every canonical column (all
# null), so a batch whose items all lack, say, `customer_id` gets a per-item "missing
# required value" instead of failing as a file without that column.
EVERY_COLUMN_LINE = json.dumps(dict.fromkeys(COLUMN_NAMES)).encode()


def without_nan(record: Any) -> Any:
    """A dict record with its float NaN values as None (JSON has no NaN: staged as is, the
    line would not even be JSON). Other records are returned unchanged."""
    if type(record) is not dict or not any(
        isinstance(v, float) and math.isnan(v) for v in record.values()
    ):
        return record
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}


def json_line(record: Any) -> bytes:
    """One record as one line of JSON Lines (bytes are taken as already-encoded JSON)."""
    if isinstance(record, bytes):
        return record
    return json.dumps(without_nan(record), ensure_ascii=False, default=str).encode("utf-8")


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


def _bounded(col: Column, convert: Callable[[object], object]) -> Callable[[object], object]:
    """`convert` that leaves to staging (which quarantines with the reason) a text over its
    length limit or a `ts` outside the accepted range (`checks.text_limit`, `ts_bounds`)."""
    if col.type == "text":
        limit = text_limit(col.name)

        def text(v: object) -> object:
            if isinstance(v, str) and len(v) > limit:
                raise _Unclear(v)
            return convert(v)

        return text
    if col.name == "ts":
        low, high = ts_bounds()

        def ts(v: object) -> object:
            typed = convert(v)
            if isinstance(typed, datetime) and not low <= typed <= high:
                raise _Unclear(v)
            return typed

        return ts
    return convert


def check_records(
    records: Sequence[object], catalog: Catalog, timezone: str = "UTC", key: str | None = None
) -> list[TypedRow] | None:
    """Every record typed as the staging SELECT would type it, or None unless all are
    certainly valid (JSON objects with canonical keys only and their own event_id).

    Records are Python JSON values (dicts) or the text of one JSON value (bytes/str);
    `key` pseudonymises `customer_id` as staging does.
    """
    if timezone != "UTC":
        return None
    convert = {col.name: _bounded(col, _converter(col, catalog, key)) for col in COLUMNS}
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
                if isinstance(v, float) and v != v:  # NaN: a missing value (`without_nan`)
                    v = None
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
