"""Demo data, drawn from the story in `story.py`: a year of a Brazilian tyre retailer's
touchpoint events; the same random seed always gives the same file.

The story is the tyre retailer's (SPEC §1): a tyre bursts on the road (invisible: no event), the
customer searches online and sees ads or signage, visits a store and talks to a sales rep,
goes away to think (an invisible gap of days), asks for more on WhatsApp, chat or the phone,
decides and buys; contract, SMS, delivery and fitting, support and an NPS survey follow.
Service contacts queue with waits that follow the hour of day, named agents differ in skill,
and satisfaction falls with long waits, unresolved contacts and broken promises, so every
analysis has something true to find.

Scale shapes the code: customers are simulated in fixed chunks, each with its own random
stream from (the random seed, chunk index), as NumPy arrays over *journeys* and *slots* (a slot
is one step of the story, drawn for all journeys at once). No Python loop runs per event or
per customer. Each chunk becomes one Parquet row group (or CSV / JSON Lines block), so memory
stays flat however many customers are asked for.

Times are drawn in São Paulo local time, where the retailer's opening hours and queues live,
and written in UTC (Brazil has had no daylight-saving time since 2019, so the offset is fixed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from touchpoints.core.errors import UsageError
from touchpoints.core.events import COLUMN_NAMES, COLUMNS
from touchpoints.demo.journeys import (
    simulate,
)
from touchpoints.demo.story import (
    ACTIONS,
    BANK,
    CHUNK_CUSTOMERS,
    NO_EMOTION,
    NULL8,
    PHASES,
    PROMISES,
    ROSTER,
    SEGMENTS,
    TOUCHPOINTS,
    UTC_OFFSET,
    YEAR_DAYS,
)

# -- to Arrow and to files ---------------------------------------------------------------------
ARROW_TYPES = {
    "text": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "double": pa.float64(),
    "int": pa.int8(),
    "bool": pa.bool_(),
}
SCHEMA = pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in COLUMNS])


def _text(codes: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    return pc.take(pa.array(names, pa.string()), pa.array(codes.astype(np.int64), mask=codes < 0))


def _ints(values: np.ndarray, null: int) -> pa.Array:
    return pa.array(values, pa.int8(), mask=values == null)


def _bools(values: np.ndarray) -> pa.Array:
    return pa.array(values == 1, pa.bool_(), mask=values == NULL8)


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def _ids(
    prefix: str, numbers: np.ndarray, mask: np.ndarray | None = None, width: int = 0
) -> pa.Array:
    digits = pc.cast(pa.array(numbers, pa.int64(), mask=mask), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def to_table(
    ev: dict[str, np.ndarray], random_seed: int, first_event: int, first_customer: int, width: int
) -> pa.Table:
    """The chunk as an Arrow table with exactly the canonical columns (SPEC §2), ts in UTC."""
    n = len(ev["t"])
    ref = ev["ref"]
    columns = {
        "event_id": _ids(f"ev-{random_seed}-", first_event + np.arange(n)),
        "customer_id": _ids("C", first_customer + ev["customer"] + 1, width=width),
        "touchpoint": _text(ev["tp"], TOUCHPOINTS),
        "ts": pa.array((ev["t"] + UTC_OFFSET) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "action": _text(ev["action"], ACTIONS),
        "value": _floats(ev["value"]),
        "phase": _text(ev["phase"], PHASES),
        "agent": _text(ev["agent"], ROSTER.names),
        "wait_seconds": _floats(ev["wait"]),
        "handle_seconds": _floats(ev["handle"]),
        "abandoned": _bools(ev["abandoned"]),
        "resolved": _bools(ev["resolved"]),
        "nps": _ints(ev["nps"], NULL8),
        "csat": _ints(ev["csat"], NULL8),
        "ces": _ints(ev["ces"], NULL8),
        "comment": _text(ev["comment"], BANK.texts),
        "promise": _text(ev["promise"], PROMISES),
        "emotion": _ints(ev["emotion"], NO_EMOTION),
        "data_reused": _bools(ev["data_reused"]),
        "segment": _text(ev["segment"], SEGMENTS),
        "ref_event_id": _ids(f"ev-{random_seed}-", first_event + np.maximum(ref, 0), mask=ref < 0),
    }
    return pa.table([columns[c] for c in COLUMN_NAMES], schema=SCHEMA)


def _iso_ts(table: pa.Table) -> pa.Table:
    """Text formats carry ts as ISO-8601 with Z, whole seconds."""
    seconds = pc.cast(table["ts"], pa.timestamp("s", tz="UTC"))
    text = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
    return table.set_column(table.schema.get_field_index("ts"), "ts", text)


class Sink(Protocol):
    """Where chunks go: one appended block per chunk, then `close` once."""

    def write(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


class _ParquetSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table, row_group_size=max(len(table), 1))

    def close(self) -> None:
        self._writer.close()


class _CsvSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        text_schema = schema.set(schema.get_field_index("ts"), pa.field("ts", pa.string()))
        self._writer = pa_csv.CSVWriter(path, text_schema)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(_iso_ts(table))

    def close(self) -> None:
        self._writer.close()


class _JsonlSink:
    """DuckDB turns each chunk into JSON objects (keys in column order; null keys left out,
    as hand-written JSON would, which also halves the file)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        import duckdb

        self._file = path.open("wb")
        self._con = duckdb.connect()

    def write(self, table: pa.Table) -> None:
        self._con.register("chunk", _iso_ts(table))
        sql = "SELECT json_strip_nulls(to_json(chunk))::VARCHAR AS line FROM chunk"
        lines = self._con.sql(sql).to_arrow_table()
        self._con.unregister("chunk")
        text = lines.column("line").to_pylist()
        if text:
            self._file.write(("\n".join(text) + "\n").encode("utf-8"))

    def close(self) -> None:
        self._con.close()
        self._file.close()


SINKS: dict[str, Callable[[Path, pa.Schema], Sink]] = {
    ".parquet": _ParquetSink,
    ".pq": _ParquetSink,
    ".csv": _CsvSink,
    ".jsonl": _JsonlSink,
    ".ndjson": _JsonlSink,
}


def _first_day(start: str) -> int:
    """Days since 1970-01-01 of `start` (YYYY-MM-DD, or an ISO date-time whose date is used)."""
    try:
        day = datetime.fromisoformat(start).date()
    except ValueError:
        raise UsageError(f"--start {start!r}: use a date like 2025-01-01") from None
    return (day - date(1970, 1, 1)).days


def _seed_sequence(random_seed: int, chunk: int) -> np.random.SeedSequence:
    """Chunk k's stream depends only on (the random seed, k): output never depends on how
    chunks are run."""
    return np.random.SeedSequence([random_seed & 0xFFFF_FFFF_FFFF_FFFF, chunk])


def year_ending(end: str) -> str:
    """The first day of the simulated year whose last day is `end` (YYYY-MM-DD)."""
    try:
        last = datetime.fromisoformat(end).date()
    except ValueError:
        raise UsageError(f"--end {end!r}: use a date like 2026-11-30") from None
    return (last - timedelta(days=YEAR_DAYS - 1)).isoformat()


def generate(
    customers: int,
    seed: int,
    out: str | Path,
    start: str = "2025-01-01",
    end: str | None = None,
) -> dict[str, int]:
    """Write a year of events for `customers` customers to `out` (.parquet, .csv, .jsonl):
    from `start`, or, given `end`, the year whose last day is `end` (the command line
    passes today, so the demo ends where the live trickle goes on). The same arguments
    always write the same bytes. Returns {"events", "customers"} (customers who have at
    least one event in the year)."""
    if end is not None:
        start = year_ending(end)
    if customers < 0:
        raise UsageError(f"--customers {customers}: use a number >= 0")
    path = Path(out)
    sink_type = SINKS.get(path.suffix.lower())
    if sink_type is None:
        raise UsageError(f"--out {str(path)!r}: name it .parquet, .csv or .jsonl")
    first_day = _first_day(start)
    random_seed = seed
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    width = max(6, len(str(customers)))
    events = seen = 0
    sink = sink_type(partial, SCHEMA)
    try:
        try:
            for chunk in range(math.ceil(customers / CHUNK_CUSTOMERS)):
                size = min(CHUNK_CUSTOMERS, customers - chunk * CHUNK_CUSTOMERS)
                rng = np.random.default_rng(_seed_sequence(random_seed, chunk))
                ev = simulate(rng, size, first_day)
                sink.write(to_table(ev, random_seed, events, chunk * CHUNK_CUSTOMERS, width))
                events += len(ev["t"])
                seen += len(np.unique(ev["customer"]))
        finally:
            sink.close()
    except BaseException:
        # A half-written file would ingest as if complete: leave nothing rather than that.
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return {"events": events, "customers": seen}
