"""The Python fast path of `ingest_records` (`ingest.check_records`) against the staging SQL.

The fast path may only accept records the staging path would store, and must type them
exactly as staging does; for anything else it answers None and the batch is staged.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchpoints.core.catalog import default_catalog
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.ingest import LazyRecords, check_records, ingest_records, stage_file
from touchpoints.ingest.records import without_nan
from touchpoints.server.api import parse_body
from touchpoints.store import open_store

CATALOG = default_catalog()
TOUCHPOINTS = [t.id for t in CATALOG.touchpoints]

texts = st.one_of(
    st.sampled_from(
        ["a", "c1", "Ana", "", " x", "x ", "\tx", "ação", "Ü", "x\x00y", "p:" + "a" * 64]
    ),
    st.text(max_size=6),
)
stamps = st.one_of(
    st.sampled_from(
        [
            "2025-03-01T10:00:00",
            "2025-03-01 10:00:00",
            "2025-03-01T10:00:00Z",
            "2025-03-01T10:00:00.5",
            "2025-03-01T10:00:00.123456+03:00",
            "2025-03-01T00:30:00-01:30",
            "2025-02-30T10:00:00",
            "2025-03-01T24:00:00",
            "2025-03-01T10:00:60",
            "2025-03-01",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-02:00",
            "2025-03-01T10:00:00.1234567",
            "2025-03-01t10:00:00",
            "not a date",
        ]
    ),
    st.datetimes().map(lambda d: d.isoformat()),
)
numbers = st.one_of(
    st.integers(-40000, 40000),
    st.floats(allow_nan=False, allow_infinity=False),
    # NaN: pandas' missing value, read as null by both paths.
    st.sampled_from([0, -1, 1.5, 2.0, 10, 11, -2, 3, 2**60, "3", True, float("nan")]),
)


def mostly(
    valid: st.SearchStrategy[object], other: st.SearchStrategy[object]
) -> st.SearchStrategy[object]:
    """Valid values most of the time, so that whole batches reach the fast path often."""
    return st.integers(0, 11).flatmap(lambda i: other if i == 0 else valid)


def record() -> st.SearchStrategy[dict[str, object]]:
    names = st.sampled_from(["a", "c1", "Ana", "ação", "p:" + "a" * 64])
    stamps_ok = st.sampled_from(
        ["2025-03-01T10:00:00", "2025-03-01 10:00:00.25Z", "2025-03-01T00:30:00-01:30"]
    )
    score = st.integers(1, 5)
    values = {
        "event_id": mostly(names, st.one_of(st.none(), texts)),
        "customer_id": mostly(names, texts),
        "touchpoint": mostly(
            st.sampled_from(TOUCHPOINTS), st.sampled_from(["nowhere", "Phone", ""])
        ),
        "ts": mostly(stamps_ok, stamps),
        "action": mostly(st.sampled_from(["purchase", "Feedback", ""]), texts),
        "value": mostly(st.floats(-1e6, 1e6), numbers),
        "phase": mostly(
            st.sampled_from(["before", "During", ""]), st.sampled_from(["later", "Düring"])
        ),
        "agent": mostly(names, texts),
        "wait_seconds": mostly(st.floats(0, 1e4), numbers),
        "abandoned": mostly(st.booleans(), st.just("yes")),
        "nps": mostly(st.integers(0, 10), numbers),
        "csat": mostly(score, numbers),
        "emotion": mostly(st.sampled_from([-2, 0, 2.0]), numbers),
        "promise": mostly(st.sampled_from(["made", "KEPT"]), st.just("lost")),
        "comment": mostly(st.none(), st.just("odd key")),
    }
    return st.fixed_dictionaries(
        {k: values[k] for k in ("event_id", "customer_id", "touchpoint", "ts")},
        optional={
            k: v
            for k, v in values.items()
            if k not in ("event_id", "customer_id", "touchpoint", "ts")
        },
    )


def staged_rows(
    tmp: Path, records: list[object], key: str | None = None
) -> list[tuple[object, ...]]:
    """What staging types the records to: (problem, *columns) per record, in order."""
    path = tmp / "batch.jsonl"
    lines = [
        json.dumps(without_nan(r), ensure_ascii=False).encode("utf-8", "surrogatepass")
        for r in records
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    con = duckdb.connect()
    try:
        stage_file(con, path, CATALOG, None, "UTC", "jsonl", key=key)
        return con.execute(
            f"SELECT _problem, {', '.join(COLUMN_NAMES)} FROM _typed ORDER BY _row"
        ).fetchall()
    except Exception:
        return [("unstageable",)]
    finally:
        con.close()


@pytest.mark.parametrize("key", [None, "k3y"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(record(), min_size=1, max_size=4))
def test_fast_path_accepts_only_valid_records_typed_as_staging(
    tmp_path_factory: pytest.TempPathFactory, key: str | None, records: list[dict[str, object]]
) -> None:
    rows = check_records(records, CATALOG, key=key)
    if rows is None:
        return
    staged = staged_rows(tmp_path_factory.mktemp("b"), records, key)
    assert [r[0] for r in staged] == [None] * len(records)
    assert rows == [tuple(r[1:]) for r in staged]


def test_fast_path_takes_clean_batches_and_leaves_the_rest_to_staging() -> None:
    good = {
        "event_id": "e1",
        "customer_id": "c",
        "touchpoint": TOUCHPOINTS[0],
        "ts": "2025-03-01T10:00:00Z",
    }
    (row,) = check_records([good], CATALOG) or [()]
    assert row[:4] == ("e1", "c", TOUCHPOINTS[0], datetime(2025, 3, 1, 10))
    assert row[4] == "interaction"
    for bad in (
        {**good, "event_id": None},  # staging derives the id from the content
        {**good, "csat": 9},  # a rejection: its reason comes from the staging SQL
        {**good, "EXTRA": 1},  # not a canonical key
        {**good, "agent": " padded"},
    ):
        assert check_records([good, bad], CATALOG) is None
    assert check_records([b'{"event_id": "e", "csat": NaN}'], CATALOG) is None
    assert check_records([b'{"event_id": "e", "event_id": "f"}'], CATALOG) is None


@pytest.mark.parametrize("key", [None, "k3y"])
def test_store_answers_and_rows_match_the_staging_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    """The same batch (repeats, an already stored id) through both paths: same items, same
    stored rows (pseudonymised alike). Repeats carry the same content: other content under
    one id is a conflict (tests/test_conflicts.py)."""
    records = [
        {
            "event_id": f"e{i % 3}",
            "customer_id": f"c{i % 3}",
            "touchpoint": TOUCHPOINTS[i % 3 % 2],
            "ts": f"2025-03-0{1 + i % 3}T10:00:00+01:00",
            "csat": 1 + i % 3,
            "abandoned": i % 3 % 2 == 0,
            "wait_seconds": 2.5 * (i % 3),
            "phase": "During",
        }
        for i in range(4)
    ]

    def run(db: str) -> tuple[object, list[tuple[object, ...]]]:
        with open_store(db) as store:
            ingest_records(store, records[:1], "api:first", key=key)
            result = ingest_records(store, records, "api:second", key=key)
            rows = store.con.execute(  # type: ignore[attr-defined]
                f"SELECT seq, source, {', '.join(COLUMN_NAMES)} FROM events ORDER BY seq"
            ).fetchall()
            return result.to_json(), rows

    fast = run(str(tmp_path / "fast.duckdb"))
    monkeypatch.setattr("touchpoints.ingest.pipeline.check_records", lambda *a, **k: None)
    slow = run(str(tmp_path / "slow.duckdb"))
    assert fast == slow
    assert fast[0]["stored"] == 2 and fast[0]["duplicates"] == 2  # type: ignore[index]


def test_array_body_is_parsed_once_and_split_only_when_staged() -> None:
    items, values = parse_body(b'[{"a": 1}, {"b": [2, 3]}]', "application/json", 10)
    assert isinstance(items, LazyRecords) and values == [{"a": 1}, {"b": [2, 3]}]
    assert items._records is None and len(items) == 2
    assert list(items) == [b'{"a": 1}', b'{"b": [2, 3]}']
    # NaN and repeated keys are read differently by Python: only the texts go on.
    items, values = parse_body(b'[{"a": NaN}]', "application/json", 10)
    assert values is None and list(items) == [b'{"a": NaN}']
