"""`summary`: what a store holds — the analyst's first look (`touchpoints summary`) and the
dashboard's filter bar and trend windows — on every engine, and its table in both
languages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from conftest import run
from touchpoints.cli import app
from touchpoints.ingest import ingest_records
from touchpoints.store import open_store
from touchpoints.store.base import Store


def ev(cust: str, tp: str, ts: str, **kw: Any) -> dict[str, Any]:
    return {"customer_id": cust, "touchpoint": tp, "ts": ts, **kw}


ROWS = [
    ev("c1", "website", "2026-01-05T09:00:00Z", segment="retail"),
    ev("c1", "phone", "2026-01-05T10:00:00Z", segment="retail", abandoned=False),
    ev("c1", "store", "2026-01-06T11:00:00Z", segment="retail", action="purchase", value=900),
    ev("c2", "phone", "2026-01-07T10:00:00Z", segment="fleet", abandoned=True),
    ev("c3", "whatsapp", "2026-01-09T08:30:00Z", segment="fleet"),
    ev("c3", "whatsapp", "2026-01-10T08:30:00Z", segment="fleet"),
    ev("c4", "website", "2026-01-11T23:59:00Z"),
]


def test_counts_period_touchpoints_and_segments(store: Store) -> None:
    assert ingest_records(store, ROWS, "test").stored == len(ROWS)
    got = run(store, "summary")
    assert (got["events"], got["customers"]) == (7, 4)
    assert got["first_event"] == "2026-01-05T09:00:00"
    assert got["last_event"] == "2026-01-11T23:59:00"
    assert got["segment_count"] == 2
    assert [(s["segment"], s["events"], s["customers"]) for s in got["segments"]] == [
        ("fleet", 3, 2),
        ("retail", 3, 1),
    ]  # most events first, ties by name
    seen = {r["touchpoint"]: r for r in got["touchpoints"]}
    assert [r["touchpoint"] for r in got["touchpoints"]][:2] == ["phone", "website"]
    assert (seen["website"]["events"], seen["website"]["customers"]) == (2, 2)
    assert seen["website"]["last_event"] == "2026-01-11T23:59:00"
    assert seen["whatsapp"]["first_event"] == "2026-01-09T08:30:00"


def test_the_scope_and_the_segment_limit(store: Store) -> None:
    ingest_records(store, ROWS, "test")
    fleet = run(store, "summary", segment="fleet", date_to="2026-01-09")
    assert (fleet["events"], fleet["customers"]) == (2, 2)
    assert fleet["last_event"] == "2026-01-09T08:30:00"
    one = run(store, "summary", segments=1)
    assert [s["segment"] for s in one["segments"]] == ["fleet"] and one["segment_count"] == 2
    assert run(store, "summary", segments=0)["segments"] == []
    nothing = run(store, "summary", channel="email")
    assert nothing["events"] == 0 and nothing["first_event"] is None
    assert nothing["touchpoints"] == [] and nothing["segments"] == []


def test_the_table_in_both_languages_never_cuts_a_number(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    with open_store(db) as s:
        ingest_records(s, ROWS * 1, "test")
    runner = CliRunner()
    pt = runner.invoke(app, ["summary", "--db", db, "--lang", "pt-BR", "--segments", "1"])
    assert pt.exit_code == 0, pt.output
    assert "O que a base contém" in pt.output and "05/01/2026 09:00" in pt.output
    assert "Central de atendimento (phone)" in pt.output
    assert "segmentos com mais eventos: 1 de 2" in pt.output
    en = runner.invoke(app, ["summary", "--db", db, "--lang", "en"])
    assert "What the store holds" in en.output and "1/11/2026 23:59" in en.output
    assert "Phone call centre (phone)" in en.output and "times in UTC" in en.output
    for output in (pt.output, en.output):
        assert all(len(line) <= 100 for line in output.splitlines())
    as_json = runner.invoke(app, ["summary", "--db", db, "--json"])
    with open_store(db) as s:
        assert json.loads(as_json.output) == run(s, "summary")
    csv = runner.invoke(app, ["summary", "--db", db, "--format", "csv"]).output
    assert csv.splitlines()[0] == "touchpoint,events,customers,first_event,last_event"
    assert re.search(r"^website,2,2,2026-01-05T09:00:00,2026-01-11T23:59:00$", csv, re.M)
