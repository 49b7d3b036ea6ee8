"""Ingestion (SPEC §2, §5): quarantine of bad rows, whole-file errors, formats, `--map`,
time zones, idempotency and ingestion order, on every engine."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import touchpoints as tp
from touchpoints.core.errors import InputFileError, UsageError
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.ingest import ingest_files, parse_mapping
from touchpoints.store import open_store
from touchpoints.store.base import Store

TOUCHPOINTS_BIN = str(Path(sys.executable).with_name("touchpoints"))
TS = "2026-01-01T10:00:00Z"


def ev(event_id: str | None, **kw: Any) -> dict[str, Any]:
    """A valid event row; keyword arguments override or add columns."""
    row: dict[str, Any] = {
        "event_id": event_id,
        "customer_id": "c1",
        "touchpoint": "phone",
        "ts": TS,
    }
    row.update(kw)
    return row


def triples(result: tp.IngestResult) -> list[tuple[Any, Any, Any]]:
    return [(q["row"], q["column"], q["reason"]) for q in result.quarantine]


def stored_ids(store: Store) -> list[str]:
    return [r["event_id"] for r in store.query("SELECT event_id FROM events ORDER BY seq")]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    """Each item is a dict (dumped as JSON) or a raw string written as is."""
    text = "".join(
        (x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines
    )
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPOINTS_")}
    return subprocess.run(
        [TOUCHPOINTS_BIN, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


# -- bad rows: exact reason, column and row number; good rows still stored --------------------
COMPANY_LANE = (
    "'warehouse' is not a touchpoint (visibility company: a backstage step only the company sees)"
)
CUSTOMER_LANE = (
    "'compare_options' is not a touchpoint (visibility customer: a step only the customer sees)"
)
BAD_ROWS: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    ({"customer_id": None}, [("customer_id", "missing required value")]),
    ({"customer_id": "   "}, [("customer_id", "missing required value")]),
    ({"touchpoint": None}, [("touchpoint", "missing required value")]),
    ({"ts": None}, [("ts", "missing required value")]),
    ({"touchpoint": "fax"}, [("touchpoint", "unknown touchpoint 'fax' (not in the catalog)")]),
    ({"touchpoint": "warehouse"}, [("touchpoint", COMPANY_LANE)]),
    ({"touchpoint": "compare_options"}, [("touchpoint", CUSTOMER_LANE)]),
    ({"ts": "yesterday"}, [("ts", "not an ISO-8601 timestamp: 'yesterday'")]),
    ({"ts": "2026-13-45T10:00:00"}, [("ts", "not an ISO-8601 timestamp: '2026-13-45T10:00:00'")]),
    ({"wait_seconds": "-1"}, [("wait_seconds", "must be >= 0: '-1'")]),
    ({"handle_seconds": "abc"}, [("handle_seconds", "not a number: 'abc'")]),
    ({"nps": "11"}, [("nps", "out of range 0..10: '11'")]),
    ({"nps": "3.5"}, [("nps", "not a whole number: '3.5'")]),
    ({"nps": "-1"}, [("nps", "out of range 0..10: '-1'")]),
    ({"csat": "0"}, [("csat", "out of range 1..5: '0'")]),
    ({"csat": "6"}, [("csat", "out of range 1..5: '6'")]),
    ({"ces": "8"}, [("ces", "out of range 1..7: '8'")]),
    ({"emotion": "3"}, [("emotion", "out of range -2..2: '3'")]),
    ({"emotion": "-3"}, [("emotion", "out of range -2..2: '-3'")]),
    ({"abandoned": "maybe"}, [("abandoned", "not true/false: 'maybe'")]),
    ({"resolved": "2"}, [("resolved", "not true/false: '2'")]),
    ({"data_reused": "talvez"}, [("data_reused", "not true/false: 'talvez'")]),
    ({"phase": "later"}, [("phase", "must be one of before, during, after (got 'later')")]),
    ({"promise": "maybe"}, [("promise", "must be one of made, kept, broken (got 'maybe')")]),
    ({"value": "NaN"}, [("value", "not a finite number: 'NaN'")]),
    ({"value": "-inf"}, [("value", "not a finite number: '-inf'")]),
    ({"wait_seconds": "inf"}, [("wait_seconds", "not a finite number: 'inf'")]),
    ({"nps": "nan"}, [("nps", "not a finite number: 'nan'")]),
    # Several problems on one row: one entry per column, the row rejected once.
    (
        {"customer_id": None, "touchpoint": "fax", "nps": "12", "abandoned": "maybe"},
        [
            ("abandoned", "not true/false: 'maybe'"),
            ("customer_id", "missing required value"),
            ("nps", "out of range 0..10: '12'"),
            ("touchpoint", "unknown touchpoint 'fax' (not in the catalog)"),
        ],
    ),
]
ALL_COLUMNS = list(COLUMN_NAMES)


@pytest.fixture
def bad_rows_file(csv_file) -> tuple[Path, list[tuple[int, str, str]], list[str]]:
    """One good row, then each bad row followed by a good one; the expected quarantine."""
    rows = [ev("good-0")]
    expected: list[tuple[int, str, str]] = []
    good = ["good-0"]
    for i, (overrides, problems) in enumerate(BAD_ROWS, start=1):
        rows.append(ev(f"bad-{i}", **overrides))
        expected += [(len(rows), col, why) for col, why in sorted(problems)]
        rows.append(ev(f"good-{i}", customer_id=f"c{i}"))
        good.append(f"good-{i}")
    return csv_file(rows, columns=ALL_COLUMNS), expected, good


def test_bad_rows_quarantined_with_exact_reason_and_row(store: Store, bad_rows_file) -> None:
    path, expected, good = bad_rows_file
    result = ingest_files(store, [path])
    assert triples(result) == expected
    assert {q["file"] for q in result.quarantine} == {str(path)}
    assert result.rejected == len(BAD_ROWS)
    assert (result.ingested, result.duplicates) == (len(good), 0)
    assert stored_ids(store) == good


def test_quarantine_table_keeps_every_problem_and_the_raw_record(
    store: Store, bad_rows_file
) -> None:
    path, expected, _ = bad_rows_file
    ingest_files(store, [path])
    rows = store.query('SELECT source, "row", "column", reason, raw FROM quarantine')
    got = sorted((r["row"], r["column"], r["reason"]) for r in rows)
    assert got == sorted(expected)
    assert {r["source"] for r in rows} == {str(path)}
    by_row = {r["row"]: json.loads(r["raw"]) for r in rows}
    # Row 2 is bad-1 (customer_id empty); the multi-problem row is the last bad row.
    assert by_row[2]["event_id"] == "bad-1"
    assert by_row[2]["customer_id"] is None
    assert by_row[2]["touchpoint"] == "phone"
    last = 2 * len(BAD_ROWS)
    assert by_row[last]["touchpoint"] == "fax"
    assert by_row[last]["nps"] == "12"
    assert by_row[last]["abandoned"] == "maybe"
    assert len([r for r in rows if r["row"] == last]) == 4
    assert len({r["raw"] for r in rows if r["row"] == last}) == 1


def test_quarantine_raw_is_exactly_the_file_record(store: Store, csv_file) -> None:
    path = csv_file([ev("b", touchpoint="fax", comment="hi")])
    ingest_files(store, [path])
    (row,) = store.query("SELECT raw FROM quarantine")
    # The record as the file had it: its own columns, no internal bookkeeping ones.
    assert json.loads(row["raw"]) == {
        "event_id": "b",
        "customer_id": "c1",
        "touchpoint": "fax",
        "ts": TS,
        "comment": "hi",
    }


def test_good_values_are_typed_and_stored(store: Store, csv_file) -> None:
    path = csv_file(
        [
            ev(
                "a",
                action="Purchase",
                value="199.90",
                phase="DURING",
                agent="ana",
                wait_seconds="0",
                handle_seconds="12.5",
                abandoned="no",
                resolved="Sim",
                nps="10",
                csat="5",
                ces="1",
                comment="ótimo",
                promise="Kept",
                emotion="-2",
                data_reused="não",
                segment="fleet",
                ref_event_id="x",
            )
        ]
    )
    assert ingest_files(store, [path]).ingested == 1
    (row,) = store.query(f"SELECT {', '.join(COLUMN_NAMES)} FROM events")
    assert row == {
        "event_id": "a",
        "customer_id": "c1",
        "touchpoint": "phone",
        "ts": datetime(2026, 1, 1, 10, 0),
        "action": "purchase",
        "value": 199.9,
        "phase": "during",
        "agent": "ana",
        "wait_seconds": 0.0,
        "handle_seconds": 12.5,
        "abandoned": False,
        "resolved": True,
        "nps": 10,
        "csat": 5,
        "ces": 1,
        "comment": "ótimo",
        "promise": "kept",
        "emotion": -2,
        "data_reused": False,
        "segment": "fleet",
        "ref_event_id": "x",
    }


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        ("sim", True),
        ("SIM", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("não", False),
        ("NÃO", False),
        ("nao", False),
    ],
)
def test_boolean_words(word: str, expected: bool, tmp_path: Path, csv_file) -> None:
    with open_store(str(tmp_path / "b.duckdb")) as store:
        path = csv_file([ev("a", abandoned=word, resolved=word, data_reused=word)])
        result = ingest_files(store, [path])
        assert triples(result) == []
        row = store.query("SELECT abandoned, resolved, data_reused FROM events")[0]
        assert row == {"abandoned": expected, "resolved": expected, "data_reused": expected}


def test_booleans_on_postgres_too(store: Store, csv_file) -> None:
    words = ["true", "false", "1", "0", "yes", "no", "sim", "não"]
    path = csv_file([ev(f"e{i}", abandoned=w) for i, w in enumerate(words)])
    assert ingest_files(store, [path]).ingested == len(words)
    got = [r["abandoned"] for r in store.query("SELECT abandoned FROM events ORDER BY seq")]
    assert got == [True, False, True, False, True, False, True, False]


def test_action_defaults_and_choices_are_case_insensitive(store: Store, csv_file) -> None:
    path = csv_file(
        [
            ev("a"),
            ev("b", action=""),
            ev("c", action="PURCHASE", phase="After", promise="BROKEN"),
            ev("d", action="Feedback", phase="before", promise="made"),
        ],
        columns=["event_id", "customer_id", "touchpoint", "ts", "action", "phase", "promise"],
    )
    assert ingest_files(store, [path]).ingested == 4
    rows = store.query("SELECT action, phase, promise FROM events ORDER BY event_id")
    assert rows == [
        {"action": "interaction", "phase": None, "promise": None},
        {"action": "interaction", "phase": None, "promise": None},
        {"action": "purchase", "phase": "after", "promise": "broken"},
        {"action": "feedback", "phase": "before", "promise": "made"},
    ]


def test_action_defaults_when_column_absent(store: Store, csv_file) -> None:
    path = csv_file([ev("a")])
    ingest_files(store, [path])
    assert store.query("SELECT action FROM events") == [{"action": "interaction"}]


# -- whole-file problems ---------------------------------------------------------------------
def _whole_file_case(name: str, tmp_path: Path) -> tuple[Path, dict[str, str] | None, str]:
    """(file, mapping, expected message) for one kind of unreadable file."""
    if name == "missing":
        p = tmp_path / "nope.csv"
        return p, None, f"{p}: file not found"
    if name == "extension":
        p = tmp_path / "events.xls"
        p.write_text("customer_id,touchpoint,ts\nc1,phone,2026-01-01\n")
        return (
            p,
            None,
            f"{p}: unknown file type; name it .csv, .jsonl, .parquet, .xlsx or .ods, "
            "or pass --format",
        )
    if name == "no-ts-column":
        p = tmp_path / "events.csv"
        p.write_text("customer_id,touchpoint,created_at\nc1,phone,2026-01-01\n")
        return (
            p,
            None,
            f"{p}: no column 'ts', which is required (columns: customer_id, touchpoint, "
            "created_at); map yours with --map ts=YOUR_COLUMN",
        )
    if name == "fake-parquet":
        p = tmp_path / "events.parquet"
        p.write_text("customer_id,touchpoint,ts\nc1,phone,2026-01-01\n")
        return p, None, f"{p}: cannot be read as PARQUET"
    if name == "map-absent-column":
        p = tmp_path / "events.csv"
        p.write_text("customer_id,touchpoint,created_at\nc1,phone,2026-01-01\n")
        return (
            p,
            {"ts": "when"},
            f"{p}: --map ts=when: the file has no column 'when' "
            "(columns: customer_id, touchpoint, created_at)",
        )
    raise AssertionError(name)


WHOLE_FILE = ["missing", "extension", "no-ts-column", "fake-parquet", "map-absent-column"]


@pytest.mark.parametrize("case", WHOLE_FILE)
def test_whole_file_problem_raises_and_stores_nothing(
    case: str, store: Store, tmp_path: Path, csv_file
) -> None:
    path, mapping, message = _whole_file_case(case, tmp_path)
    with pytest.raises(InputFileError) as info:
        ingest_files(store, [path], mapping=mapping)
    assert str(info.value).startswith(message)
    assert info.value.path == str(path)
    assert store.count("events") == 0
    assert store.count("quarantine") == 0


def test_unreadable_file_keeps_earlier_files_and_stores_nothing_of_its_own(
    store: Store, tmp_path: Path, csv_file
) -> None:
    good = csv_file([ev("a"), ev("b", touchpoint="fax")])
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,touchpoint\nc1,phone\n")
    with pytest.raises(InputFileError, match="--map ts=YOUR_COLUMN"):
        ingest_files(store, [good, bad])
    assert stored_ids(store) == ["a"]
    assert {r["source"] for r in store.query("SELECT source FROM quarantine")} == {str(good)}


@pytest.mark.parametrize("case", WHOLE_FILE)
def test_cli_whole_file_problem_exits_2_without_traceback(case: str, tmp_path: Path) -> None:
    path, mapping, message = _whole_file_case(case, tmp_path)
    db = tmp_path / "t.duckdb"
    args = ["ingest", str(path), "--db", str(db)]
    for canonical, source in (mapping or {}).items():
        args += ["--map", f"{canonical}={source}"]
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    assert " ".join(message.split()) in " ".join(proc.stderr.split())
    with open_store(str(db)) as store:
        assert store.count("events") == 0


def test_cli_error_message_is_printed_on_one_line(tmp_path: Path) -> None:
    # A long path must not be wrapped: users copy it, scripts grep it.
    path, _, message = _whole_file_case("no-ts-column", tmp_path)
    proc = run_cli("ingest", str(path), "--db", str(tmp_path / "t.duckdb"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {message}\n"


def test_cli_file_with_bad_rows_exits_0_and_prints_spec_json(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,customer_id,touchpoint,ts,nps\n"
        "a,c1,phone,2026-01-01T10:00:00Z,9\n"
        "b,c1,fax,2026-01-01T10:00:00Z,12\n"
        "c,c2,store,2026-01-01T11:00:00Z,\n",
        encoding="utf-8",
    )
    db = str(tmp_path / "t.duckdb")
    proc = run_cli("ingest", str(path), "--db", db, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["ingested"], out["duplicates"], out["rejected"]) == (2, 0, 1)
    assert [(q["row"], q["column"], q["reason"]) for q in out["quarantine"]] == [
        (2, "nps", "out of range 0..10: '12'"),
        (2, "touchpoint", "unknown touchpoint 'fax' (not in the catalog)"),
    ]
    proc = run_cli("ingest", str(path), "--db", db, "--json", cwd=tmp_path)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["duplicates"] == 2
    # Without --json: a readable summary, still exit 0.
    proc = run_cli("ingest", str(path), "--db", db, cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip()


def test_cli_bad_map_syntax_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("customer_id,touchpoint,ts\nc1,phone,2026-01-01\n")
    proc = run_cli(
        "ingest", str(path), "--db", str(tmp_path / "t.duckdb"), "--map", "ts", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --map 'ts': expected CANONICAL=SOURCE")


# -- formats ---------------------------------------------------------------------------------
FORMAT_EVENTS: list[dict[str, Any]] = [
    {
        "event_id": "f1",
        "customer_id": "c1",
        "touchpoint": "phone",
        "ts": datetime(2026, 1, 2, 10, 0, 0),
        "action": "interaction",
        "value": None,
        "phase": None,
        "agent": "ana",
        "wait_seconds": 12.5,
        "handle_seconds": 300.0,
        "abandoned": False,
        "resolved": True,
        "nps": None,
        "csat": None,
        "ces": None,
        "comment": None,
        "promise": "made",
        "emotion": -1,
        "data_reused": False,
        "segment": "retail",
        "ref_event_id": None,
    },
    {
        "event_id": "f2",
        "customer_id": "c1",
        "touchpoint": "store",
        "ts": datetime(2026, 1, 2, 10, 30, 0, 123456),
        "action": "purchase",
        "value": 1234.56,
        "phase": "during",
        "agent": None,
        "wait_seconds": None,
        "handle_seconds": None,
        "abandoned": None,
        "resolved": None,
        "nps": None,
        "csat": None,
        "ces": None,
        "comment": None,
        "promise": "kept",
        "emotion": 2,
        "data_reused": True,
        "segment": "retail",
        "ref_event_id": None,
    },
    {
        "event_id": "f3",
        "customer_id": "c1",
        "touchpoint": "email",
        "ts": datetime(2026, 1, 5, 8, 0, 0),
        "action": "feedback",
        "value": None,
        "phase": "after",
        "agent": None,
        "wait_seconds": None,
        "handle_seconds": None,
        "abandoned": None,
        "resolved": None,
        "nps": 9,
        "csat": 5,
        "ces": 2,
        "comment": 'Ótimo, "rápido"; obrigado',
        "promise": None,
        "emotion": None,
        "data_reused": None,
        "segment": None,
        "ref_event_id": "f2",
    },
    {
        # No event_id: the derived key must not depend on the file format.
        "event_id": None,
        "customer_id": "c2",
        "touchpoint": "whatsapp",
        "ts": datetime(2026, 1, 3, 23, 59, 59),
        "action": "interaction",
        "value": None,
        "phase": None,
        "agent": "bot",
        "wait_seconds": 45.0,
        "handle_seconds": 0.0,
        "abandoned": True,
        "resolved": False,
        "nps": None,
        "csat": None,
        "ces": None,
        "comment": None,
        "promise": None,
        "emotion": 0,
        "data_reused": None,
        "segment": "fleet",
        "ref_event_id": None,
    },
]
INT_COLUMNS = ("nps", "csat", "ces", "emotion")
BOOL_COLUMNS = ("abandoned", "resolved", "data_reused")
FLOAT_COLUMNS = ("value", "wait_seconds", "handle_seconds")


def _iso(dt: datetime) -> str:
    return dt.isoformat() + "Z"


def write_format(fmt: str, path: Path, events: list[dict[str, Any]], tz: str | None = None) -> Path:
    if fmt == "csv":
        cells = [
            {
                k: (
                    _iso(v)
                    if isinstance(v, datetime)
                    else str(v).lower()
                    if isinstance(v, bool)
                    else v
                )
                for k, v in e.items()
            }
            for e in events
        ]
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(COLUMN_NAMES))
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in c.items()} for c in cells)
        return path
    if fmt == "jsonl":
        return write_jsonl(path, [{**e, "ts": _iso(e["ts"])} for e in events])
    # Parquet with typed columns; ts naive (TIMESTAMP) or zoned (TIMESTAMP WITH TIME ZONE).
    arrays = {}
    for name in COLUMN_NAMES:
        values = [e.get(name) for e in events]
        if name == "ts":
            if tz:
                values = [v.replace(tzinfo=UTC) for v in values]
            arrays[name] = pa.array(values, type=pa.timestamp("us", tz=tz))
        elif name in INT_COLUMNS:
            arrays[name] = pa.array(values, type=pa.int64())
        elif name in BOOL_COLUMNS:
            arrays[name] = pa.array(values, type=pa.bool_())
        elif name in FLOAT_COLUMNS:
            arrays[name] = pa.array(values, type=pa.float64())
        else:
            arrays[name] = pa.array(values, type=pa.string())
    pq.write_table(pa.table(arrays), path, row_group_size=2)
    return path


def test_csv_jsonl_parquet_store_identical_rows(tmp_path: Path) -> None:
    variants = {
        "csv": ("csv", None, "e.csv"),
        "jsonl": ("jsonl", None, "e.jsonl"),
        "parquet-naive": ("parquet", None, "naive.parquet"),
        "parquet-zoned": ("parquet", "America/Sao_Paulo", "zoned.parquet"),
    }
    seen: dict[str, list[tuple[Any, ...]]] = {}
    for label, (fmt, tz, name) in variants.items():
        path = write_format(fmt, tmp_path / name, FORMAT_EVENTS, tz)
        with open_store(str(tmp_path / f"{label}.duckdb")) as store:
            if fmt == "parquet":
                described = {
                    r["column_name"]: r["column_type"]
                    for r in store.query(f"DESCRIBE SELECT * FROM read_parquet('{path}')")
                }
                assert described["ts"] == ("TIMESTAMP WITH TIME ZONE" if tz else "TIMESTAMP")
                assert described["nps"] == "BIGINT"
                assert described["abandoned"] == "BOOLEAN"
                assert described["wait_seconds"] == "DOUBLE"
            result = ingest_files(store, [path])
            assert (result.ingested, result.rejected, result.duplicates) == (4, 0, 0), label
            assert result.ignored_columns == {}
            seen[label] = store.con.execute(
                "SELECT * EXCLUDE (seq, source) FROM events ORDER BY event_id"
            ).fetchall()
    assert seen["jsonl"] == seen["csv"]
    assert seen["parquet-naive"] == seen["csv"]
    assert seen["parquet-zoned"] == seen["csv"]
    # And what they all store is the events themselves.
    names = list(COLUMN_NAMES)
    rows = [dict(zip(names, r, strict=True)) for r in seen["csv"]]
    by_id = {r["event_id"]: r for r in rows}
    for e in FORMAT_EVENTS[:3]:
        assert by_id[e["event_id"]] == e
    derived = [r for r in rows if r["event_id"] not in ("f1", "f2", "f3")]
    assert len(derived) == 1
    assert derived[0]["event_id"]
    assert {k: v for k, v in derived[0].items() if k != "event_id"} == {
        k: v for k, v in FORMAT_EVENTS[3].items() if k != "event_id"
    }


def test_parquet_bad_records_numbered_by_record_index(store: Store, tmp_path: Path) -> None:
    events = [dict(FORMAT_EVENTS[0], event_id=f"p{i}") for i in range(7)]
    events[1]["touchpoint"] = "fax"
    events[4]["nps"] = 11
    events[6]["csat"] = 0
    path = write_format("parquet", tmp_path / "e.parquet", events)  # row groups of 2 records
    result = ingest_files(store, [path])
    assert triples(result) == [
        (2, "touchpoint", "unknown touchpoint 'fax' (not in the catalog)"),
        (5, "nps", "out of range 0..10: '11'"),
        (7, "csat", "out of range 1..5: '0'"),
    ]
    assert stored_ids(store) == ["p0", "p2", "p3", "p5"]


def test_parquet_non_whole_double_score_is_rejected(store: Store, tmp_path: Path) -> None:
    table = pa.table(
        {
            "customer_id": ["c1", "c1"],
            "touchpoint": ["phone", "phone"],
            "ts": pa.array([datetime(2026, 1, 1), datetime(2026, 1, 2)], type=pa.timestamp("us")),
            "nps": pa.array([3.5, 7.0], type=pa.float64()),
            "value": pa.array([math.nan, 1.0], type=pa.float64()),
        }
    )
    path = tmp_path / "e.parquet"
    pq.write_table(table, path)
    result = ingest_files(store, [path])
    assert triples(result) == [
        (1, "nps", "not a whole number: '3.5'"),
        (1, "value", "not a finite number: 'nan'"),
    ]
    assert store.query("SELECT nps, value FROM events") == [{"nps": 7, "value": 1.0}]


def test_jsonl_broken_and_blank_lines(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "e.jsonl",
        [
            ev("j1"),
            '{"event_id": "j2", "customer_id": "c1", broken',
            "",
            ev("j4", touchpoint="fax"),
            "[1, 2, 3]",
            ev("j6", nps=9, abandoned=False, wait_seconds=3),
        ],
    )
    result = ingest_files(store, [path])
    assert triples(result) == [
        (2, None, "not a JSON object on this line"),
        (4, "touchpoint", "unknown touchpoint 'fax' (not in the catalog)"),
        (5, None, "not a JSON object on this line"),
    ]
    assert (result.ingested, result.rejected) == (2, 3)
    assert stored_ids(store) == ["j1", "j6"]
    assert store.query("SELECT nps, abandoned, wait_seconds FROM events WHERE event_id = 'j6'") == [
        {"nps": 9, "abandoned": False, "wait_seconds": 3.0}
    ]


def test_jsonl_with_only_broken_lines_is_all_quarantined(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", ["not json", "{broken"])
    result = ingest_files(store, [path])
    assert triples(result) == [
        (1, None, "not a JSON object on this line"),
        (2, None, "not a JSON object on this line"),
    ]
    assert (result.ingested, result.rejected, store.count()) == (0, 2, 0)


def test_csv_structurally_broken_lines(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "event_id,customer_id,touchpoint,ts,comment\n"
        'e1,c1,phone,2026-01-01T10:00:00Z,"two\nlines"\n'
        "e2,c1,phone,2026-01-01T10:00:00Z,x,too,many\n"
        "e3,c1,fax,2026-01-01T10:00:00Z,x\n"
        "e4,c1,phone\n"
        "e5,c1,phone,2026-01-01T10:00:00Z,ok\n",
        encoding="utf-8",
    )
    result = ingest_files(store, [path])
    got = triples(result)
    # One entry per broken row, at its row number; later rows keep their numbers.
    assert [(r, c) for r, c, _ in got] == [(2, None), (3, "touchpoint"), (4, None)]
    assert got[1][2] == "unknown touchpoint 'fax' (not in the catalog)"
    assert result.rejected == 3
    assert stored_ids(store) == ["e1", "e5"]
    assert store.query("SELECT comment FROM events ORDER BY seq")[0]["comment"] == "two\nlines"
    assert [r["row"] for r in store.query('SELECT "row" FROM quarantine ORDER BY "row"')] == [
        2,
        3,
        4,
    ]


def test_csv_structural_rejects_do_not_leak_into_the_next_file(
    store: Store, tmp_path: Path, csv_file
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text(
        "event_id,customer_id,touchpoint,ts\n"
        "e1,c1,phone,2026-01-01T10:00:00Z\n"
        "e2,c1,phone,2026-01-01T10:00:00Z,extra\n"
    )
    assert ingest_files(store, [broken]).rejected == 1
    clean = csv_file([ev("k1"), ev("k2")])
    result = ingest_files(store, [clean])
    assert (result.ingested, result.rejected, result.quarantine) == (2, 0, [])
    assert store.query('SELECT source, "row" FROM quarantine') == [
        {"source": str(broken), "row": 2}
    ]


def test_csv_semicolon_delimiter_and_bom(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeffcustomer_id;touchpoint;ts;value\n"
        "c1;phone;2026-01-01 10:00:00;10.5\n"
        "c2;fax;2026-01-01 10:00:00;1\n".encode()
    )
    result = ingest_files(store, [path])
    assert result.ingested == 1
    assert triples(result) == [(2, "touchpoint", "unknown touchpoint 'fax' (not in the catalog)")]
    assert store.query("SELECT customer_id, value FROM events") == [
        {"customer_id": "c1", "value": 10.5}
    ]


def test_explicit_format_overrides_extension(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "events.log", [ev("a")])
    with pytest.raises(InputFileError, match="unknown file type"):
        ingest_files(store, [path])
    assert ingest_files(store, [path], fmt="jsonl").ingested == 1


# -- --map, column names ------------------------------------------------------------------------
def test_parse_mapping() -> None:
    assert parse_mapping(["ts=created_at", " customer_id = Cliente "]) == {
        "ts": "created_at",
        "customer_id": "Cliente",
    }
    assert parse_mapping([]) == {}


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("ts", "--map 'ts': expected CANONICAL=SOURCE, e.g. ts=created_at"),
        ("=created_at", "--map '=created_at': expected CANONICAL=SOURCE"),
        ("ts=", "--map 'ts=': expected CANONICAL=SOURCE"),
        ("when=created_at", "--map 'when=created_at': 'when' is not an event column; columns: "),
    ],
)
def test_parse_mapping_rejects_bad_pairs(pair: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_mapping([pair])
    assert str(info.value).startswith(message)


def test_mapping_renames_columns(store: Store, csv_file) -> None:
    path = csv_file(
        [{"id": "m1", "cliente": "c9", "canal": "whatsapp", "created_at": TS, "nota": "8"}]
    )
    result = ingest_files(
        store,
        [path],
        mapping={
            "event_id": "id",
            "customer_id": "cliente",
            "touchpoint": "canal",
            "ts": "created_at",
            "nps": "NOTA",  # the mapped name is matched case-insensitively too
        },
    )
    assert (result.ingested, result.rejected, result.ignored_columns) == (1, 0, {})
    assert store.query("SELECT event_id, customer_id, touchpoint, ts, nps FROM events") == [
        {
            "event_id": "m1",
            "customer_id": "c9",
            "touchpoint": "whatsapp",
            "ts": datetime(2026, 1, 1, 10, 0),
            "nps": 8,
        }
    ]


def test_mapped_column_reasons_use_canonical_names(store: Store, csv_file) -> None:
    path = csv_file([{"cliente": "", "touchpoint": "phone", "ts": TS}])
    result = ingest_files(store, [path], mapping={"customer_id": "cliente"})
    assert triples(result) == [(1, "customer_id", "missing required value")]


def test_column_names_are_case_insensitive(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("Event_ID,CUSTOMER_ID,TouchPoint,TS,NPS\ne1,c1,phone,2026-01-01T10:00:00Z,7\n")
    result = ingest_files(store, [path])
    assert (result.ingested, result.ignored_columns) == (1, {})
    assert store.query("SELECT event_id, customer_id, nps FROM events") == [
        {"event_id": "e1", "customer_id": "c1", "nps": 7}
    ]


def test_extra_columns_are_ignored_and_reported(store: Store, csv_file) -> None:
    path = csv_file([ev("x1", store_name="Centro", utm_source="google", nps="9")])
    result = ingest_files(store, [path])
    assert result.ingested == 1
    assert result.ignored_columns == {str(path): ["store_name", "utm_source"]}
    assert store.query("SELECT nps FROM events") == [{"nps": 9}]


# -- time zones --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ts", "timezone", "expected"),
    [
        ("2026-01-02T10:00:00-03:00", "UTC", datetime(2026, 1, 2, 13, 0)),
        ("2026-01-02T10:00:00+05:30", "UTC", datetime(2026, 1, 2, 4, 30)),
        ("2026-01-02T10:00:00Z", "UTC", datetime(2026, 1, 2, 10, 0)),
        ("2026-01-02T10:00:00", "UTC", datetime(2026, 1, 2, 10, 0)),
        ("2026-01-02 10:00:00", "UTC", datetime(2026, 1, 2, 10, 0)),
        ("2026-01-02T10:00:00", "America/Sao_Paulo", datetime(2026, 1, 2, 13, 0)),
        ("2026-01-02T10:00:00-03:00", "America/Sao_Paulo", datetime(2026, 1, 2, 13, 0)),
        ("2026-01-02T10:00:00Z", "America/Sao_Paulo", datetime(2026, 1, 2, 10, 0)),
        ("2026-07-02T10:00:00", "Europe/Lisbon", datetime(2026, 7, 2, 9, 0)),
    ],
)
def test_timestamps_stored_in_utc(
    ts: str, timezone: str, expected: datetime, store: Store, csv_file
) -> None:
    path = csv_file([ev("t", ts=ts)])
    result = ingest_files(store, [path], timezone=timezone)
    assert result.ingested == 1, result.quarantine
    assert store.query("SELECT ts FROM events") == [{"ts": expected}]


def test_parquet_naive_timestamps_use_timezone_and_zoned_ones_do_not(
    store: Store, tmp_path: Path
) -> None:
    naive = write_format("parquet", tmp_path / "naive.parquet", [FORMAT_EVENTS[0]])
    zoned = write_format(
        "parquet", tmp_path / "zoned.parquet", [dict(FORMAT_EVENTS[1], event_id="z")], "UTC"
    )
    ingest_files(store, [naive, zoned], timezone="America/Sao_Paulo")
    assert store.query("SELECT event_id, ts FROM events ORDER BY event_id") == [
        {"event_id": "f1", "ts": datetime(2026, 1, 2, 13, 0)},
        {"event_id": "z", "ts": datetime(2026, 1, 2, 10, 30, 0, 123456)},
    ]


def test_jsonl_naive_timestamp_uses_timezone(store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", [ev("j", ts="2026-01-02T22:30:00")])
    ingest_files(store, [path], timezone="America/Sao_Paulo")
    assert store.query("SELECT ts FROM events") == [{"ts": datetime(2026, 1, 3, 1, 30)}]


def test_unknown_timezone_is_a_usage_error(store: Store, csv_file) -> None:
    path = csv_file([ev("t")])
    with pytest.raises(UsageError, match="unknown time zone"):
        ingest_files(store, [path], timezone="Mars/Olympus")
    assert store.count("events") == 0


def test_failed_ingest_does_not_leave_the_store_in_another_time_zone(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,touchpoint\nc1,phone\n")
    with open_store(str(tmp_path / "t.duckdb")) as store:
        with pytest.raises(InputFileError):
            ingest_files(store, [bad], timezone="America/Sao_Paulo")
        # The DuckDB store's session runs in UTC (set when opened); a failed ingest must
        # not leave --timezone behind for the queries that follow.
        assert store.query("SELECT current_setting('TimeZone') AS tz") == [{"tz": "UTC"}]


# -- idempotency and ingestion order ------------------------------------------------------------
def test_reingesting_a_file_stores_nothing_new(store: Store, csv_file) -> None:
    path = csv_file([ev("a"), ev("b", touchpoint="fax"), ev(None, customer_id="c2"), ev("d")])
    first = ingest_files(store, [path])
    assert (first.ingested, first.duplicates, first.rejected) == (3, 0, 1)
    events = store.query("SELECT * FROM events ORDER BY seq")
    quarantine = store.query('SELECT source, "row", "column", reason FROM quarantine')
    again = ingest_files(store, [path])
    assert (again.ingested, again.duplicates, again.rejected) == (0, 3, 1)
    assert store.query("SELECT * FROM events ORDER BY seq") == events
    assert store.query('SELECT source, "row", "column", reason FROM quarantine') == quarantine


def test_identical_rows_without_event_id_stored_once(store: Store, csv_file) -> None:
    row = ev(None, wait_seconds="10", abandoned="false")
    path = csv_file([row, dict(row), ev("x"), dict(row)])
    result = ingest_files(store, [path])
    assert (result.ingested, result.duplicates, result.rejected) == (2, 2, 0)
    assert store.count() == 2
    # The same content in another file is a duplicate too.
    other = csv_file([dict(row)])
    assert (ingest_files(store, [other]).ingested, store.count()) == (0, 2)


VARIANT_VALUES = {
    "customer_id": "c2",
    "touchpoint": "store",
    "ts": "2026-01-01T10:00:01Z",
    "action": "purchase",
    "value": "11",
    "phase": "after",
    "agent": "bob",
    "wait_seconds": "11",
    "handle_seconds": "11",
    "abandoned": "true",
    "resolved": "true",
    "nps": "8",
    "csat": "4",
    "ces": "3",
    "comment": "other",
    "promise": "kept",
    "emotion": "1",
    "data_reused": "true",
    "segment": "fleet",
    "ref_event_id": "r2",
}
VARIANT_BASE = {
    "action": "interaction",
    "value": "10",
    "phase": "before",
    "agent": "ana",
    "wait_seconds": "10",
    "handle_seconds": "10",
    "abandoned": "false",
    "resolved": "false",
    "nps": "7",
    "csat": "3",
    "ces": "2",
    "comment": "same",
    "promise": "made",
    "emotion": "0",
    "data_reused": "false",
    "segment": "retail",
    "ref_event_id": "r1",
}


def test_rows_differing_in_any_column_are_all_stored(store: Store, csv_file) -> None:
    assert set(VARIANT_VALUES) == set(COLUMN_NAMES) - {"event_id"}
    base = ev(None, **VARIANT_BASE)
    rows = [base] + [dict(base, **{col: val}) for col, val in VARIANT_VALUES.items()]
    # ... and rows differing from the base only by a NULL in one optional column (an empty
    # action is the default "interaction", the base's own value, so it is left out).
    rows += [dict(base, **{col: None}) for col in VARIANT_BASE if col != "action"]
    path = csv_file(rows, columns=list(COLUMN_NAMES))
    result = ingest_files(store, [path])
    assert (result.ingested, result.duplicates, result.rejected) == (len(rows), 0, 0)
    ids = [r["event_id"] for r in store.query("SELECT event_id FROM events")]
    assert len(set(ids)) == len(rows)


@pytest.mark.parametrize(
    ("one", "two"),
    [
        pytest.param({"comment": None}, {"comment": "\\N"}, id="null-vs-backslash-N"),
        pytest.param(
            {"segment": "a\x1fb", "ref_event_id": "c"},
            {"segment": "a", "ref_event_id": "b\x1fc"},
            id="separator-inside-values",
        ),
    ],
)
def test_derived_key_does_not_collide(
    one: dict[str, Any], two: dict[str, Any], store: Store, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", [ev(None, **one), ev(None, **two)])
    result = ingest_files(store, [path])
    assert (result.ingested, result.duplicates) == (2, 0)


def test_repeated_event_id_first_wins(store: Store, csv_file) -> None:
    # Other content under a stored id is a conflict (SPEC §2): rejected, the first kept.
    path = csv_file([ev("dup", agent="first"), ev("other"), ev("dup", agent="second")])
    result = ingest_files(store, [path])
    assert (result.ingested, result.duplicates, result.rejected) == (2, 0, 1)
    later = csv_file([ev("dup", agent="third")])
    again = ingest_files(store, [later])
    assert (again.ingested, again.rejected, store.count()) == (0, 1, 2)
    assert store.query("SELECT agent FROM events WHERE event_id = 'dup'") == [{"agent": "first"}]


def test_seq_follows_file_order_and_files(store: Store, csv_file) -> None:
    # ts deliberately out of order: seq is ingestion order, not time order.
    first = csv_file(
        [
            ev("a3", ts="2026-01-03T00:00:00Z"),
            ev("a1", ts="2026-01-01T00:00:00Z"),
            ev("bad", touchpoint="fax"),
            ev("a2", ts="2026-01-02T00:00:00Z"),
        ]
    )
    second = csv_file([ev("b2", ts="2025-12-01T00:00:00Z"), ev("a1"), ev("b1")])
    ingest_files(store, [first, second])
    third = csv_file([ev("c1", ts="2020-01-01T00:00:00Z")])
    ingest_files(store, [third])
    rows = store.query("SELECT event_id, seq, source FROM events ORDER BY seq")
    assert [r["event_id"] for r in rows] == ["a3", "a1", "a2", "b2", "b1", "c1"]
    seqs = [r["seq"] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [r["source"] for r in rows] == [str(first)] * 3 + [str(second)] * 2 + [str(third)]


# -- the catalog travels with the events --------------------------------------------------------
CUSTOM_CATALOG = """touchpoints:
  - {id: kiosk, name: {en: Kiosk, pt-BR: Totem}, channel: store, kind: interactive}
  - {id: app, name: App, channel: app, kind: interactive}
  - {id: stockroom, name: Stockroom, channel: backstage, kind: human, visibility: company}
"""


def test_custom_catalog_is_stored_and_used_after_reopening(store: Store, csv_file) -> None:
    catalog = tp.parse_catalog(CUSTOM_CATALOG, "custom")
    first = csv_file([ev("k1", touchpoint="kiosk"), ev("p1", touchpoint="phone")])
    result = ingest_files(store, [first], catalog=catalog)
    assert triples(result) == [(2, "touchpoint", "unknown touchpoint 'phone' (not in the catalog)")]
    target = store.target
    store.close()

    with open_store(target) as again:
        assert again.has_catalog()
        assert again.catalog() == catalog
        second = csv_file(
            [
                ev("a1", touchpoint="app"),
                ev("s1", touchpoint="stockroom"),
                ev("w1", touchpoint="website"),
            ]
        )
        result = ingest_files(again, [second])
        assert [r["event_id"] for r in again.query("SELECT event_id FROM events ORDER BY seq")] == [
            "k1",
            "a1",
        ]
        assert [(r, c) for r, c, _ in triples(result)] == [(2, "touchpoint"), (3, "touchpoint")]
        assert triples(result)[0][2] == (
            "'stockroom' is not a touchpoint (visibility company: a backstage step only the company sees)"
        )
        rows = again.query("SELECT id, name_pt FROM touchpoints ORDER BY id")
        assert rows == [
            {"id": "app", "name_pt": "App"},
            {"id": "kiosk", "name_pt": "Totem"},
            {"id": "stockroom", "name_pt": "Stockroom"},
        ]


def test_default_catalog_is_stored_on_first_ingest(store: Store, csv_file) -> None:
    assert not store.has_catalog()
    ingest_files(store, [csv_file([ev("a")])])
    assert store.has_catalog()
    assert store.catalog() == tp.default_catalog()


def test_json_array_file_is_read_like_json_lines(store, tmp_path) -> None:
    """A `.json` export holding one array of objects: each element is a row, numbered from 1."""
    import json as _json

    path = tmp_path / "export.json"
    path.write_text(
        _json.dumps(
            [
                {
                    "event_id": "j1",
                    "customer_id": "c1",
                    "touchpoint": "website",
                    "ts": "2026-01-01T10:00:00Z",
                },
                {
                    "event_id": "j2",
                    "customer_id": "c1",
                    "touchpoint": "fax",
                    "ts": "2026-01-01T11:00:00Z",
                },
                {
                    "event_id": "j3",
                    "customer_id": "c2",
                    "touchpoint": "phone",
                    "ts": "2026-01-02T09:00:00Z",
                    "csat": 5,
                },
            ]
        )
    )
    result = ingest_files(store, [path])
    assert (result.ingested, result.rejected) == (2, 1)
    assert [(q["row"], q["column"]) for q in result.quarantine] == [(2, "touchpoint")]
    assert {r["event_id"] for r in store.query("SELECT event_id FROM events")} == {"j1", "j3"}


def test_empty_file_is_a_clear_file_error(store, tmp_path) -> None:
    from touchpoints.core.errors import InputFileError

    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(InputFileError, match="the file is empty"):
        ingest_files(store, [path])
    assert store.count() == 0
