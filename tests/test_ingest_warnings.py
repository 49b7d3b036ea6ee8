"""Warnings for rows stored but counted nowhere or wrongly, and the exit status of
`ingest` (issue: nothing stored wrong without a word). Hand-made files, every engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from touchpoints.ingest import ingest_files
from touchpoints.store.base import Store

TOUCHPOINTS_BIN = str(Path(sys.executable).with_name("touchpoints"))


def ev(event_id: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_id,
        "customer_id": "c1",
        "touchpoint": "phone",
        "ts": "2026-01-01T10:00:00Z",
    }
    row.update(kw)
    return row


def codes(result: Any) -> dict[str, int]:
    return {str(w["code"]): int(w["rows"]) for w in result.warnings}


def test_rows_counted_nowhere_are_stored_with_a_warning(
    store: Store, csv_file: Callable[..., Path]
) -> None:
    path = csv_file(
        [
            ev("w1", wait_seconds=30),  # no abandoned: not a service contact
            ev("w2", handle_seconds=200),
            ev("w3", wait_seconds=5, abandoned="false"),  # a contact: fine
            # A delivery's duration: no queue (no answer target), so no service contact.
            ev("d1", touchpoint="delivery", handle_seconds=1800),
            ev("v1", value="99.9"),  # a value, but not a purchase
            ev("v2", value="10", action="purchase"),
            # Times out of range are not stored with a warning: the ts bound quarantines them.
            ev("t1", ts="1999-12-31T23:00:00Z"),
            ev("t2", ts="2090-01-01T00:00:00Z"),
        ],
        columns=["event_id", "customer_id", "touchpoint", "ts", "action", "value",
                 "wait_seconds", "handle_seconds", "abandoned"],
    )  # fmt: skip
    result = ingest_files(store, path)
    assert (result.ingested, result.rejected) == (6, 2)
    assert codes(result) == {"times_without_abandoned": 2, "value_not_purchase": 1}
    by_code = {w["code"]: w for w in result.to_json()["warnings"]}  # type: ignore[union-attr]
    assert "no offered, TME or TMA counts them" in str(
        by_code["times_without_abandoned"]["message"]
    )
    early, late = sorted(result.quarantine, key=lambda q: int(q["row"]))
    assert (early["row"], early["column"], late["row"], late["column"]) == (7, "ts", 8, "ts")
    assert str(early["reason"]).startswith("outside the accepted time range 2000-01-01T00:00:00")
    assert str(early["reason"]).endswith("UTC: '1999-12-31 23:00:00'")
    assert str(late["reason"]).endswith("UTC: '2090-01-01 00:00:00'")
    assert store.count() == 6


def test_clean_file_has_no_warnings(store: Store, csv_file: Callable[..., Path]) -> None:
    result = ingest_files(store, csv_file([ev("a"), ev("b", value=5, action="purchase")]))
    assert result.warnings == [] and result.to_json()["warnings"] == []


def test_unix_milliseconds_in_parquet_are_never_year_57140(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ms.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ["ms", "s"],
                "customer_id": ["c1", "c1"],
                "touchpoint": ["phone", "phone"],
                "ts": pa.array([1_767_261_600_000, 1_767_261_600], pa.int64()),
            }
        ),
        path,
    )
    result = ingest_files(store, path)
    assert (result.ingested, result.rejected) == (1, 1)
    (q,) = result.quarantine
    assert (q["row"], q["column"]) == (1, "ts")
    assert "milliseconds" in str(q["reason"]) and "unix_ms" in str(q["reason"])
    years = store.query("SELECT year(ts) AS y FROM events")
    assert years == [{"y": 2026}]


def test_unix_number_in_a_text_column_is_named_as_such(
    store: Store, csv_file: Callable[..., Path]
) -> None:
    result = ingest_files(store, csv_file([ev("a", ts="1767261600"), ev("b")]))
    (q,) = result.quarantine
    assert q["reason"] == (
        "a Unix time, not an ISO-8601 timestamp: '1767261600' "
        "(declare format unix_s or unix_ms for this column in a source)"
    )


def test_touchpoint_in_another_case_is_named(store: Store, csv_file: Callable[..., Path]) -> None:
    result = ingest_files(
        store, csv_file([ev("a", touchpoint="WhatsApp"), ev("b", touchpoint="WhatsApp"), ev("c")])
    )
    assert (result.ingested, result.rejected) == (1, 2)
    (w,) = result.warnings
    assert (w["code"], w["rows"], w["given"], w["meant"]) == (
        "touchpoint_case",
        2,
        "WhatsApp",
        "whatsapp",
    )


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPOINTS_")}
    return subprocess.run(
        [TOUCHPOINTS_BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_exit_status_all_rejected_and_strict(tmp_path: Path, csv_file: Callable[..., Path]) -> None:
    db = str(tmp_path / "s.duckdb")
    good = csv_file([ev("a"), ev("b", touchpoint="nowhere")])
    bad = csv_file([ev("x", touchpoint="nowhere")])
    mixed = run_cli("ingest", str(good), "--db", db, "--json", cwd=tmp_path)
    assert mixed.returncode == 0, mixed.stderr
    strict = run_cli("ingest", str(good), "--db", db, "--strict", cwd=tmp_path)
    assert strict.returncode == 1
    whole = run_cli("ingest", str(bad), "--db", db, "--json", cwd=tmp_path)
    assert whole.returncode == 1
    out = json.loads(whole.stdout)
    assert out["warnings"][0]["code"] == "all_rejected" and out["rejected"] == 1
    table = run_cli("ingest", str(bad), "--db", db, cwd=tmp_path)
    assert table.returncode == 1
    assert "every one of its 1 rows was rejected" in table.stdout
