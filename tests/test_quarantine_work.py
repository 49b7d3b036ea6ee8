"""Quarantine you can work with (issue 17): list by file, reason and date; rows of a file
loaded again with them fixed are resolved; export as CSV; clear; the hint after an ingest
repeats the --db used. Every engine for the store functions; the CLI on DuckDB."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from touchpoints.ingest import ingest_files
from touchpoints.ingest.quarantine import clear_quarantine, list_quarantine
from touchpoints.store.base import Store

TOUCHPOINTS_BIN = str(Path(sys.executable).with_name("touchpoints"))


def ev(event_id: str, **kw: Any) -> dict[str, Any]:
    row = {"event_id": event_id, "customer_id": "c1", "touchpoint": "phone",
           "ts": "2026-01-01T10:00:00Z"}  # fmt: skip
    row.update(kw)
    return row


def test_fixed_rows_are_resolved_and_filters_apply(
    store: Store, csv_file: Callable[..., Path]
) -> None:
    path = csv_file([ev("a"), ev("b", nps=11), ev("c", touchpoint="nowhere")], name="crm.csv")
    other = csv_file([ev("x", csat=9)], name="other.csv")
    ingest_files(store, [path, other])
    total, rows = list_quarantine(store)
    assert total == 3
    assert list_quarantine(store, source=str(path))[0] == 2
    assert [r["column"] for r in list_quarantine(store, reason="OUT OF RANGE")[1]] == [
        "nps",
        "csat",
    ]
    assert list_quarantine(store, since=datetime(2099, 1, 1))[0] == 0
    # The same file, row 2 fixed: its quarantine row is resolved, row 3's is not.
    csv_file([ev("a"), ev("b", nps=9), ev("c", touchpoint="nowhere")], name="crm.csv")
    again = ingest_files(store, path)
    assert (again.ingested, again.rejected) == (1, 1)
    assert [(r["row"], r["column"]) for r in list_quarantine(store, source=str(path))[1]] == [
        (3, "touchpoint")
    ]
    everything = list_quarantine(store, source=str(path), resolved=True)[1]
    assert [(r["row"], r["resolved_at"] is not None) for r in everything] == [(2, True), (3, False)]
    assert clear_quarantine(store, resolved_only=True) == 1
    assert clear_quarantine(store, source=str(other)) == 1
    assert list_quarantine(store, resolved=True)[0] == 1
    assert clear_quarantine(store) == 1
    assert store.count("quarantine") == 0


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPOINTS_")}
    return subprocess.run(
        [TOUCHPOINTS_BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_hint_export_and_clear(tmp_path: Path, csv_file: Callable[..., Path]) -> None:
    db = str(tmp_path / "my store.duckdb")
    path = csv_file([ev("a"), ev("b", nps=11)])
    ingest = run_cli("ingest", str(path), "--db", db, cwd=tmp_path)
    assert f"see all with: touchpoints quarantine --db '{db}'" in ingest.stdout
    export = run_cli("quarantine", "export", "--format", "csv", "--db", db, cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert [(r["row"], r["column"], r["reason"]) for r in rows] == [
        ("2", "nps", "out of range 0..10: '11'")
    ]
    listed = run_cli("quarantine", "--reason", "range", "--db", db, "--json", cwd=tmp_path)
    assert '"total": 1' in listed.stdout
    cleared = run_cli("quarantine", "clear", "--db", db, cwd=tmp_path)
    assert "cleared 1 quarantined rows" in cleared.stdout
