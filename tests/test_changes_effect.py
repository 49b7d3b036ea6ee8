"""The change log (`changes add|list`) on each engine, and `effect` on synthetic touchpoints
whose abandonment moved by a known amount while a shock moved every touchpoint."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from conftest import run
from touchpoints.core.errors import UsageError
from touchpoints.demo.synthetic import abandonment_days
from touchpoints.ingest import ingest_table
from touchpoints.ingest.changes import add_change
from touchpoints.store import open_store
from touchpoints.store.base import Store

TZ = "America/Sao_Paulo"
CHANGE_DAY = date(2026, 7, 27)
TOUCHPOINTS = ["whatsapp", "chat", "phone", "email", "social"]


def test_changes_are_logged_and_listed_newest_first(store: Store) -> None:
    first = add_change(store, "2026-07-27", "  WhatsApp bot answers FAQs ", "whatsapp")
    assert first == {
        "id": 1,
        "date": "2026-07-27",
        "title": "WhatsApp bot answers FAQs",
        "touchpoint": "whatsapp",
    }
    second = add_change(store, date(2026, 8, 3), "Two more agents on Saturdays", "store")
    third = add_change(store, "2026-06-01", "New opening hours")
    assert (second["id"], third["id"], third["touchpoint"]) == (2, 3, None)
    listed = run(store, "changes.list")["rows"]
    assert [r["id"] for r in listed] == [2, 1, 3]
    assert listed[1] == first


def test_a_bad_change_is_refused_and_nothing_is_stored(store: Store) -> None:
    with pytest.raises(UsageError, match=r"--date '27/07/2026': use a date like 2026-07-27"):
        add_change(store, "27/07/2026", "bot", "whatsapp")
    with pytest.raises(UsageError, match=r"--touchpoint 'whatsap': not in the catalog \(ads, "):
        add_change(store, "2026-07-27", "bot", "whatsap")
    with pytest.raises(UsageError, match="--title: say what changed"):
        add_change(store, "2026-07-27", "   ", "whatsapp")
    assert run(store, "changes.list") == {"rows": []}


def _effect_store(tmp_path: Path, effect: float, seed: int, days: int = 56) -> Store:
    rng = np.random.default_rng(seed)
    events = abandonment_days(
        TOUCHPOINTS, date(2026, 6, 29), days, "whatsapp", CHANGE_DAY, effect, rng
    )
    store = open_store(str(tmp_path / f"effect{seed}.duckdb"))
    ingest_table(store, pa.Table.from_pylist(events), "synthetic")
    return store


def test_an_effect_is_recovered_despite_a_shock_common_to_every_touchpoint(tmp_path: Path) -> None:
    store = _effect_store(tmp_path, effect=-0.04, seed=11)
    change = add_change(store, CHANGE_DAY, "WhatsApp bot answers FAQs", "whatsapp")
    result = run(store, "effect", change=change["id"], metric="abandonment_rate", timezone=TZ)
    assert result["method"] == "difference-in-differences"
    assert result["controls"] == ["chat", "email", "phone", "social"]
    assert result["low"] <= -0.04 <= result["high"]
    assert result["high"] < 0  # the bot lowered abandonment, and the interval says so
    # Naively, abandonment at WhatsApp rose (the shock of +5 points hid the bot's -4).
    assert result["after"] > result["before"]
    assert set(result) >= {
        "change",
        "metric",
        "before",
        "after",
        "effect",
        "low",
        "high",
        "controls",
        "method",
    }


def test_a_placebo_change_finds_nothing(tmp_path: Path) -> None:
    store = _effect_store(tmp_path, effect=0.0, seed=12)
    change = add_change(store, CHANGE_DAY, "A change that did nothing", "whatsapp")
    result = run(store, "effect", change=change["id"], metric="abandonment_rate", timezone=TZ)
    assert result["low"] <= 0 <= result["high"]
    assert abs(result["effect"]) < 0.02


def test_a_touchpoint_with_a_logged_change_is_never_a_control(tmp_path: Path) -> None:
    store = _effect_store(tmp_path, effect=-0.04, seed=13)
    change = add_change(store, CHANGE_DAY, "WhatsApp bot", "whatsapp")
    add_change(store, date(2026, 8, 10), "Chat moved to the new tool", "chat")  # in the window
    add_change(store, date(2026, 1, 10), "Phone menu", "phone")  # long before: still a control
    result = run(store, "effect", change=change["id"], metric="abandonment_rate", timezone=TZ)
    assert result["controls"] == ["email", "phone", "social"]
    for other in ("email", "phone", "social"):
        add_change(store, CHANGE_DAY, f"{other} change", other)
    with pytest.raises(
        UsageError, match="no control touchpoint for abandonment_rate around change 1"
    ):
        run(store, "effect", change=change["id"], metric="abandonment_rate", timezone=TZ)


def test_too_little_data_and_bad_options_are_refused(tmp_path: Path) -> None:
    store = _effect_store(tmp_path, effect=0.0, seed=14, days=32)  # 4 days after the change
    change = add_change(store, CHANGE_DAY, "bot", "whatsapp")
    with pytest.raises(
        UsageError,
        match="too little data: whatsapp has abandonment_rate on 28 days before and 4 after",
    ):
        run(store, "effect", change=change["id"], metric="abandonment_rate", timezone=TZ)
    with pytest.raises(UsageError, match="--change 99: no such change"):
        run(store, "effect", change=99, metric="abandonment_rate")
    with pytest.raises(UsageError, match="--metric 'speed': use one of events"):
        run(store, "effect", change=change["id"], metric="speed")
    nowhere = add_change(store, CHANGE_DAY, "New prices everywhere")
    with pytest.raises(UsageError, match="names no touchpoint"):
        run(store, "effect", change=nowhere["id"], metric="abandonment_rate")
    with pytest.raises(UsageError, match="--window '3d': use whole days, at least 7d"):
        run(store, "effect", change=change["id"], metric="abandonment_rate", window="3d")


def test_a_drifting_pre_period_is_called_a_poor_fit(tmp_path: Path) -> None:
    """The treated touchpoint's abandonment climbs steadily before the change while its
    controls stay flat: the controls do not stand for it, and the answer says so."""
    rng = np.random.default_rng(15)
    events = abandonment_days(TOUCHPOINTS, date(2026, 6, 29), 56, "whatsapp", CHANGE_DAY, 0.0, rng)
    for e in events:
        if e["touchpoint"] == "whatsapp" and not e["abandoned"]:
            day = (e["ts"].date() - date(2026, 6, 29)).days
            if rng.random() < 0.006 * day:
                e["abandoned"], e["handle_seconds"] = True, None
    store = open_store(str(tmp_path / "drift.duckdb"))
    ingest_table(store, pa.Table.from_pylist(events), "synthetic")
    change = add_change(store, CHANGE_DAY, "bot", "whatsapp")
    result = run(store, "effect", change=change["id"], metric="abandonment_rate", timezone=TZ)
    assert result["pre_fit_poor"] is True and result["pre_trend_p"] < 0.05


def test_changes_over_http_follow_the_key_scopes(tmp_path: Path) -> None:
    """POST /v1/changes needs the ingest scope (or admin); GET /v1/changes the read scope;
    a refused change answers 400 with the reason and stores nothing."""
    from fastapi.testclient import TestClient

    from touchpoints.core.settings import Settings
    from touchpoints.server import auth
    from touchpoints.server.app import create_app

    db = str(tmp_path / "http.duckdb")
    body = {"date": "2026-07-27", "title": "WhatsApp bot answers FAQs", "touchpoint": "whatsapp"}
    with TestClient(create_app(Settings(db=db), db), raise_server_exceptions=False) as c:
        store = c.app.state.service.store  # type: ignore[attr-defined]

        def headers(*scopes: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {auth.create_key(store, list(scopes))[1]}"}

        assert c.post("/v1/changes", json=body).status_code == 401
        assert c.post("/v1/changes", json=body, headers=headers("read")).status_code == 403
        made = c.post("/v1/changes", json=body, headers=headers("ingest"))
        assert (made.status_code, made.json()) == (201, {"id": 1, **body})
        again = c.post(
            "/v1/changes", json={"date": "2026-08-01", "title": "x"}, headers=headers("admin")
        )
        assert again.status_code == 201 and again.json()["touchpoint"] is None
        bad = c.post("/v1/changes", json={**body, "date": "tomorrow"}, headers=headers("ingest"))
        assert (bad.status_code, bad.json()) == (
            400,
            {"detail": "--date 'tomorrow': use a date like 2026-07-27"},
        )
        assert c.get("/v1/changes", headers=headers("ingest")).status_code == 403
        listed = c.get("/v1/changes", headers=headers("read"))
        assert [r["id"] for r in listed.json()["rows"]] == [2, 1]


def test_the_commands_log_list_and_measure(demo_300: str, tmp_path: Path) -> None:
    """`changes add --json` prints SPEC §5's object; `changes list`, `effect` and
    `forecast` print their tables (the demo store holds one logged change)."""
    import json
    import shutil

    from typer.testing import CliRunner

    from touchpoints.cli import app

    db = str(tmp_path / "copy.duckdb")
    shutil.copy(demo_300, db)
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "changes",
            "add",
            "--date",
            "2025-09-01",
            "--title",
            "Two more agents",
            "--touchpoint",
            "store",
            "--db",
            db,
            "--json",
        ],
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout) == {
        "id": 2,
        "date": "2025-09-01",
        "title": "Two more agents",
        "touchpoint": "store",
    }
    listed = runner.invoke(app, ["changes", "list", "--db", db, "--json"])
    assert [r["id"] for r in json.loads(listed.stdout)["rows"]] == [2, 1]
    bad = runner.invoke(
        app,
        [
            "changes",
            "add",
            "--date",
            "2025-09-01",
            "--title",
            "x",
            "--touchpoint",
            "nowhere",
            "--db",
            db,
        ],
    )
    assert isinstance(bad.exception, UsageError)  # `main()` prints it and exits 2
    assert str(bad.exception).startswith("--touchpoint 'nowhere': not in the catalog (ads, ")
    assert (
        len(
            json.loads(runner.invoke(app, ["changes", "list", "--db", db, "--json"]).stdout)["rows"]
        )
        == 2
    )
    table = runner.invoke(
        app,
        [
            "forecast",
            "--touchpoint",
            "store",
            "--horizon",
            "1d",
            "--timezone",
            TZ,
            "--db",
            db,
            "--lang",
            "pt-BR",
        ],
    )
    assert table.exit_code == 0, table.output
    assert table.stdout.startswith("Contatos ofertados previstos (America/Sao_Paulo; modelo ")
    assert "30/12/2025 09:00" in table.stdout


def test_changes_fall_in_the_category_that_holds_their_day() -> None:
    from touchpoints.analytics.changes import markers

    weeks = ["2026-01-05", "2026-01-12", "2026-01-19"]
    logged = [
        {"id": 1, "date": "2026-01-04", "title": "too early"},
        {"id": 2, "date": "2026-01-05", "title": "first day"},
        {"id": 3, "date": "2026-01-18", "title": "a Sunday"},
        {"id": 4, "date": "2026-01-25", "title": "last day of the last week"},
        {"id": 5, "date": "2026-01-26", "title": "past the axis"},
    ]
    assert [(i, c["id"]) for i, c in markers(logged, weeks)] == [(0, 2), (1, 3), (2, 4)]
    assert markers(logged, []) == []
    assert [c["id"] for _, c in markers(logged, ["2026-01-05"])] == [2]  # a day long
    assert [c["id"] for _, c in markers(logged, ["2026-01-05"], timedelta(days=7))] == [2]


def test_the_report_marks_changes_on_its_weekly_chart(store: Store) -> None:
    from test_report import FIXTURE
    from touchpoints.ingest import ingest_records
    from touchpoints.reports.report import build_report

    ingest_records(store, FIXTURE, "report")
    add_change(store, "2026-01-07", "New phone menu", "phone")
    html = build_report(store, "2026-01-05", "2026-01-11", "en", timezone="UTC").decode()
    assert "<title>1/7/2026 New phone menu</title></line>" in html


def test_effect_reads_the_same_daily_metric_on_each_engine(store: Store) -> None:
    """The engine's daily abandonment per touchpoint (local days) is exactly the one
    counted here from the events, so `effect` is `did()` of those counts on every engine."""
    from collections import defaultdict

    from touchpoints.analytics.changes import did
    from touchpoints.ingest import ingest_records

    rng = np.random.default_rng(21)
    events = abandonment_days(
        TOUCHPOINTS[:3], date(2026, 7, 13), 28, "whatsapp", CHANGE_DAY, -0.05, rng, per_day=30
    )
    records = [{**e, "ts": e["ts"].isoformat() + "Z"} for e in events]
    assert ingest_records(store, records, "synthetic").rejected == 0
    change = add_change(store, CHANGE_DAY, "bot", "whatsapp")
    result = run(
        store, "effect", change=change["id"], metric="abandonment_rate", window="14d", timezone=TZ
    )
    counts: dict[str, dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for e in events:
        cell = counts[e["touchpoint"]][(e["ts"] - timedelta(hours=3)).date()]
        cell[0] += int(e["abandoned"])
        cell[1] += 1
    daily = {tp: {d: a / n for d, (a, n) in days.items()} for tp, days in counts.items()}
    expected = did(daily["whatsapp"], [daily["chat"], daily["phone"]], CHANGE_DAY)
    assert result["controls"] == ["chat", "phone"]
    for key in ("effect", "low", "high"):
        assert result[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15)
    assert (result["days_before"], result["days_after"]) == (14, 14)
