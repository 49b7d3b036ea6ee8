"""Invariant over generated exports (issue 17): no path in ingestion stores a value
different from the file's meaning without a warning or a quarantine row. Each generated
row is written as a Brazilian export would write it (decimal commas and thousands dots,
dd/mm/yyyy times, hh:mm:ss durations, minutes, Sim/Não, a currency), sometimes with a cell
no source can read; after ingesting through the matching source, every row is either
stored with exactly the values it means, or quarantined under its row number."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchpoints.ingest import ingest_files
from touchpoints.ingest.checks import ts_bounds
from touchpoints.ingest.sources import parse_source
from touchpoints.store import open_store

SOURCE = {
    "dialect": {"delimiter": ";", "encoding": "cp1252"},
    "timezone": "America/Sao_Paulo",
    "columns": {
        "event_id": {"from": "Protocolo"},
        "customer_id": {"from": "Cliente"},
        "touchpoint": {"value": "whatsapp"},
        "ts": {"from": "Data", "format": "%d/%m/%Y %H:%M"},
        "value": {"from": "Valor", "decimalChar": ",", "groupChar": ".", "bareNumber": False},
        "wait_seconds": {"from": "Espera", "format": "hh:mm:ss"},
        "handle_seconds": {"from": "Minutos", "unit": "minutes", "decimalChar": ","},
        "abandoned": {"from": "Abandonou", "trueValues": ["Sim"], "falseValues": ["Não"]},
        "action": {"value": "purchase"},
    },
}
GARBAGE = ["", "??", "12.5", "1,2,3", "31/02/2026 10:00", "1 min", "talvez", "R$ ,", "--"]


def money(cents: int) -> str:
    whole, frac = divmod(cents, 100)
    return "R$ " + f"{whole:,}".replace(",", ".") + f",{frac:02d}"


@st.composite
def export_row(draw: st.DrawFn) -> dict[str, Any]:
    ts = datetime(2025, 1, 1) + timedelta(minutes=draw(st.integers(0, 600_000)))
    cents = draw(st.integers(0, 10**9))
    wait = draw(st.integers(0, 99 * 3600))
    tenths = draw(st.integers(0, 10_000))  # minutes with one decimal
    gone = draw(st.booleans())
    cells = {
        "Data": ts.strftime("%d/%m/%Y %H:%M"),
        "Valor": money(cents),
        "Espera": f"{wait // 3600:02d}:{wait // 60 % 60:02d}:{wait % 60:02d}",
        "Minutos": f"{tenths // 10},{tenths % 10}",
        "Abandonou": "Sim" if gone else "Não",
    }
    spoiled = draw(st.sampled_from([None, *cells]))
    if spoiled is not None:
        cells[spoiled] = draw(st.sampled_from(GARBAGE))
    truth = {
        "ts": ts + timedelta(hours=3),  # São Paulo has no daylight saving since 2019
        "value": float(Decimal(cents) / 100),
        "wait_seconds": float(wait),
        "handle_seconds": float(Decimal(tenths) / 10 * 60),
        "abandoned": gone,
    }
    return {"cells": cells, "truth": truth, "spoiled": spoiled}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=st.lists(export_row(), min_size=1, max_size=12))
def test_every_row_is_stored_as_meant_or_quarantined(
    tmp_path_factory: Any, rows: list[dict[str, Any]]
) -> None:
    folder: Path = tmp_path_factory.mktemp("export")
    path = folder / "relatorio.csv"
    header = ["Protocolo", "Cliente", "Data", "Valor", "Espera", "Minutos", "Abandonou"]
    with path.open("w", newline="", encoding="cp1252") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(header)
        for i, r in enumerate(rows):
            w.writerow([f"p{i}", f"c{i}", *(r["cells"][h] for h in header[2:])])
    with open_store(":memory:") as store:
        result = ingest_files(store, path, source=parse_source(SOURCE))
        stored = {
            r["event_id"]: r
            for r in store.query(
                "SELECT event_id, ts, value, wait_seconds, handle_seconds, abandoned FROM events"
            )
        }
        quarantined = {int(r["row"]) for r in store.query('SELECT "row" FROM quarantine')}
    assert result.ingested + result.rejected == len(rows)
    for i, r in enumerate(rows):
        row = stored.get(f"p{i}")
        if row is None:
            # Not stored: it must be in quarantine, and only a spoiled cell may put it there.
            assert i + 1 in quarantined, (r, result.quarantine)
            assert r["spoiled"] is not None, (r, result.quarantine)
            continue
        assert i + 1 not in quarantined
        meant = r["truth"]
        if r["spoiled"] is not None:
            # A spoiled cell that was still read must be a missing value (the empty cell).
            column = {"Data": "ts", "Valor": "value", "Espera": "wait_seconds",
                      "Minutos": "handle_seconds", "Abandonou": "abandoned"}[r["spoiled"]]  # fmt: skip
            assert r["cells"][r["spoiled"]] == "" and row[column] is None, (r, row)
            meant = {**meant, column: None}
        assert {k: row[k] for k in meant} == meant, (r["cells"], row)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    stamps=st.lists(
        st.tuples(st.integers(946_684_800, 4_102_444_800), st.booleans()), min_size=1, max_size=8
    )
)
def test_unix_numbers_in_parquet_are_seconds_or_quarantined(
    tmp_path_factory: Any, stamps: list[tuple[int, bool]]
) -> None:
    """A plain Parquet file whose ts holds Unix numbers, some in milliseconds: a row is
    stored at exactly the second it means, or quarantined — never as year 57140.
    Milliseconds are quarantined naming `unix_ms`; seconds after tomorrow (up to 2100
    here) by the accepted time range."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path_factory.mktemp("pq") / "events.parquet"
    numbers = [s * 1000 if ms else s for s, ms in stamps]
    pq.write_table(
        pa.table({
            "event_id": [f"e{i}" for i in range(len(stamps))],
            "customer_id": ["c1"] * len(stamps),
            "touchpoint": ["phone"] * len(stamps),
            "ts": pa.array(numbers, pa.int64()),
        }),
        path,
    )  # fmt: skip
    with open_store(":memory:") as store:
        latest = ts_bounds()[1]  # now + 1 day: moves while the file is ingested
        ingest_files(store, path)
        latest_after = ts_bounds()[1]
        stored = {r["event_id"]: r["ts"] for r in store.query("SELECT event_id, ts FROM events")}
        reasons = {
            int(r["row"]): str(r["reason"])
            for r in store.query('SELECT "row", reason FROM quarantine')
        }
    for i, (seconds, ms) in enumerate(stamps):
        meant = datetime(1970, 1, 1) + timedelta(seconds=seconds)
        if ms:
            assert f"e{i}" not in stored and "unix_ms" in reasons[i + 1]
        elif meant <= latest:
            assert stored[f"e{i}"] == meant and i + 1 not in reasons
        elif meant > latest_after:
            assert f"e{i}" not in stored
            assert reasons[i + 1].startswith("outside the accepted time range")
