"""What `touchpoints.ingest` accepts besides lists of files: one path, a pyarrow Table or a
pandas DataFrame (validated like a file), records holding pandas' NaN, and a
pseudonymisation key given per call rather than per process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from touchpoints.core.settings import Settings
from touchpoints.ingest import ingest_files, ingest_records, ingest_table
from touchpoints.ingest.pseudonymize import pseudonymize
from touchpoints.server.service import Service
from touchpoints.store.base import Store

ROWS = [
    {"event_id": "a1", "customer_id": "ana", "touchpoint": "phone", "ts": "2026-01-01T10:00:00Z"},
    {"event_id": "a2", "customer_id": "bia", "touchpoint": "chat", "ts": "2026-01-01T11:00:00Z"},
]


@pytest.mark.parametrize("as_path", [str, Path])
def test_one_path_is_one_file_not_a_list_of_characters(
    store: Store, csv_file: Callable[..., Path], as_path: Callable[[Path], object]
) -> None:
    path = csv_file(ROWS)
    result = ingest_files(store, as_path(path))  # type: ignore[arg-type]
    assert (result.ingested, result.rejected) == (2, 0)
    assert ingest_files(store, (p for p in [path])).duplicates == 2  # any iterable of paths


def test_a_dataframe_is_validated_like_a_file(store: Store) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(
        {
            "event_id": ["d1", "d2", "d3"],
            "customer_id": ["ana", "bia", "cid"],
            "touchpoint": ["phone", "nowhere", "chat"],
            "ts": pandas.to_datetime(["2026-01-01 10:00", "2026-01-01 11:00", "2026-01-02 09:30"]),
            "csat": [5.0, 4.0, float("nan")],  # NaN: a missing answer
            "abandoned": [False, True, None],
        }
    )
    result = ingest_table(store, frame, source="crm-export")
    assert (result.ingested, result.duplicates, result.rejected) == (2, 0, 1)
    assert result.quarantine == [
        {
            "file": "crm-export",
            "row": 2,
            "column": "touchpoint",
            "reason": "unknown touchpoint 'nowhere' (not in the catalog)",
        }
    ]
    quarantined = store.query('SELECT source, "row", "column" FROM quarantine')
    assert quarantined == [{"source": "crm-export", "row": 2, "column": "touchpoint"}]
    rows = store.query("SELECT event_id, csat, abandoned, source FROM events ORDER BY event_id")
    assert rows == [
        {"event_id": "d1", "csat": 5, "abandoned": False, "source": "crm-export"},
        {"event_id": "d3", "csat": None, "abandoned": None, "source": "crm-export"},
    ]
    # The same frame again: all duplicates, its quarantine row not repeated.
    assert ingest_table(store, frame, source="crm-export").duplicates == 2
    assert store.count("quarantine") == 1


def test_a_dataframe_mixing_types_in_a_column_reads_it_as_text(store: Store) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(
        {
            "customer_id": [7, "bia"],  # numbers and text: pyarrow refuses the column as is
            "touchpoint": ["phone", "chat"],
            "ts": ["2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"],
        }
    )
    assert ingest_table(store, frame).ingested == 2
    ids = store.query("SELECT customer_id FROM events ORDER BY customer_id")
    assert [r["customer_id"] for r in ids] == ["7", "bia"]


def test_an_arrow_table_keeps_its_types_and_row_numbers(store: Store) -> None:
    table = pa.table(
        {
            "customer_id": ["ana", None],
            "touchpoint": ["phone", "phone"],
            "ts": pa.array([1767261600, 1767265200], pa.int64()),  # Unix seconds
            "nps": pa.array([9, 11], pa.int8()),
        }
    )
    result = ingest_table(store, table, source="arrow")
    assert (result.ingested, result.rejected) == (1, 1)
    assert [(q["row"], q["column"]) for q in result.quarantine] == [
        (2, "customer_id"),
        (2, "nps"),
    ]
    with pytest.raises(Exception, match="pyarrow Table or a pandas DataFrame"):
        ingest_table(store, [{"customer_id": "x"}])


def test_nan_in_records_is_a_missing_value(store: Store) -> None:
    """pandas' `to_dict("records")` writes missing numbers as NaN: read as null, on the fast
    path (all records valid) and on the staging path (a rejected record in the batch)."""
    nan = float("nan")
    clean = [
        {**ROWS[0], "csat": nan, "wait_seconds": 12.5, "agent": nan},
        {**ROWS[1], "csat": 4, "wait_seconds": nan},
    ]
    assert ingest_records(store, clean, "fast").stored == 2
    mixed = [
        {
            "event_id": "b1",
            "customer_id": "cid",
            "touchpoint": "store",
            "ts": "2026-01-02",
            "nps": nan,
        },
        {"event_id": "b2", "customer_id": "cid", "touchpoint": "nowhere", "ts": "2026-01-02"},
    ]
    result = ingest_records(store, mixed, "staged")
    assert [i["status"] for i in result.items] == ["stored", "rejected"]
    rows = store.query("SELECT event_id, csat, nps, wait_seconds, agent FROM events ORDER BY 1")
    assert rows == [
        {"event_id": "a1", "csat": None, "nps": None, "wait_seconds": 12.5, "agent": None},
        {"event_id": "a2", "csat": 4, "nps": None, "wait_seconds": None, "agent": None},
        {"event_id": "b1", "csat": None, "nps": None, "wait_seconds": None, "agent": None},
    ]


def test_each_store_pseudonymises_with_its_own_key(tmp_path: Path) -> None:
    """Two services in one process, each with its settings' key: neither's key leaks into
    the other's ingestion (the key is an argument, not process state)."""
    first = Service(Settings(pseudonymize_key="key-one"), target=str(tmp_path / "one.duckdb"))
    second = Service(Settings(pseudonymize_key="key-two"), target=str(tmp_path / "two.duckdb"))
    plain = Service(Settings(pseudonymize_key=None), target=str(tmp_path / "plain.duckdb"))
    try:
        for service in (first, second, plain):
            assert service.ingest([dict(ROWS[0])]).stored == 1
        stored = [
            s.read(lambda st: st.query("SELECT customer_id FROM events")[0]["customer_id"])
            for s in (first, second, plain)
        ]
        assert stored == [pseudonymize("ana", "key-one"), pseudonymize("ana", "key-two"), "ana"]
        # Files too, through the staging SQL: the same pseudonym as the fast path.
        csv = tmp_path / "e.csv"
        csv.write_text("customer_id,touchpoint,ts\nana,store,2026-01-03T10:00:00Z\n")
        ingest_files(second.store, csv, key="key-two")
        ids = second.read(lambda st: st.query("SELECT DISTINCT customer_id FROM events"))
        assert ids == [{"customer_id": pseudonymize("ana", "key-two")}]
    finally:
        for service in (first, second, plain):
            service.close()
