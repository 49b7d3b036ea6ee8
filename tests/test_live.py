"""Live service monitor: the snapshot on a hand-checked fixture, alerts against catalog
targets, the SSE generator reacting to an ingest, and the routes' access rules."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli_tables import assert_fits, cli, table_cells
from conftest import run
from touchpoints.analytics.live import alerts_for
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_records
from touchpoints.store.base import Store

AT = "2026-01-10T12:00:00"  # the moment the monitor looks from
TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "touchpoints" / "web" / "templates"


def ev(eid: str, cust: str, tp: str, ts: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "customer_id": cust, "touchpoint": tp, "ts": f"2026-01-10T{ts}Z", **kw}


# phone targets (data/catalog.yaml): tme 60, service level 0.8, abandonment 0.05.
FIXTURE = [
    ev("p1q", "c1", "phone", "11:05:00", action="queued"),  # answered at 11:10: not waiting
    ev(
        "p1",
        "c1",
        "phone",
        "11:10:00",
        abandoned=False,
        wait_seconds=30,
        handle_seconds=200,
        agent="ana",
    ),
    ev(
        "p2",
        "c2",
        "phone",
        "11:20:00",
        abandoned=False,
        wait_seconds=90,
        handle_seconds=100,
        agent="bia",
    ),
    ev("p3", "c3", "phone", "11:30:00", abandoned=True, wait_seconds=40),
    ev("p4", "c4", "phone", "10:30:00", abandoned=False, wait_seconds=10, agent="caio"),  # too old
    ev("p5q", "c5", "phone", "11:50:00", action="queued"),  # waiting 600 s
    ev(
        "w1",
        "c6",
        "whatsapp",
        "11:40:00",
        abandoned=False,
        wait_seconds=10,
        handle_seconds=50,
        agent="ana",
    ),
    ev("w2q", "c7", "whatsapp", "11:55:00", action="queued"),  # waiting 300 s
    ev("w3q", "c8", "whatsapp", "11:58:00", action="queued"),  # waiting 120 s
    ev("s1", "c9", "website", "11:30:00"),  # not a service contact
]


@pytest.fixture
def loaded(store: Store) -> Store:
    result = ingest_records(store, FIXTURE, "test")
    assert result.stored == len(FIXTURE)
    return store


def test_snapshot_numbers_by_hand(loaded: Store) -> None:
    snap = run(loaded, "live", at=AT)
    assert snap["now"] == "2026-01-10T12:00:00Z"
    assert snap["waiting"] == 3
    assert snap["longest_wait_seconds"] == 600.0
    assert (snap["offered"], snap["answered"], snap["abandoned"]) == (4, 3, 1)
    assert snap["tme_seconds"] == pytest.approx((30 + 90 + 10) / 3, abs=1e-3)
    assert snap["tma_seconds"] == pytest.approx((200 + 100 + 50) / 3, abs=1e-3)
    assert snap["abandonment_rate"] == 0.25
    # w1 within WhatsApp's 120 s and p1 within the phone's 60 s (their catalog
    # answer_within targets), of 4 offered
    assert snap["service_level"] == 0.5
    assert snap["agents"] == 2  # ana, bia (caio is outside the window)
    rows = {r["touchpoint"]: r for r in snap["touchpoints"]}
    assert list(rows) == ["whatsapp", "phone"]  # most waiting first; website is no queue
    phone, whatsapp = rows["phone"], rows["whatsapp"]
    assert (phone["waiting"], phone["longest_wait_seconds"], phone["agents"]) == (1, 600.0, 2)
    assert (whatsapp["waiting"], whatsapp["longest_wait_seconds"]) == (2, 300.0)
    assert phone["tme_seconds"] == 60.0 and phone["abandonment_rate"] == pytest.approx(1 / 3)
    assert phone["name"] == {"en": "Phone call centre", "pt-BR": "Central de atendimento"}
    assert [m["minute"] for m in snap["series"]] == [
        f"2026-01-10T11:{m}:00Z" for m in ("10", "20", "30", "40")
    ]
    assert [m["abandoned"] for m in snap["series"]] == [0, 0, 1, 0]
    assert snap["last_seq"] is not None


def test_alerts_name_the_broken_targets(loaded: Store) -> None:
    snap = run(loaded, "live", at=AT)
    # phone: TME 60 equals its target (no alert); abandonment 1/3 > 0.05; SL 0 < 0.8.
    got = {(a["touchpoint"], a["metric"], a["direction"]) for a in snap["alerts"]}
    assert got == {
        ("phone", "abandonment_rate", "above"),
        ("phone", "service_level", "below"),
    }
    assert alerts_for("x", {"tme_seconds": 61.0}, {"tme_seconds": 60}) == [
        {
            "touchpoint": "x",
            "metric": "tme_seconds",
            "value": 61.0,
            "target": 60,
            "direction": "above",
        }
    ]
    assert alerts_for("x", {"tme_seconds": None}, {"tme_seconds": 60}) == []


def test_filters_and_window(loaded: Store) -> None:
    snap = run(loaded, "live", at=AT, channel="messaging")
    assert [r["touchpoint"] for r in snap["touchpoints"]] == ["whatsapp"]
    assert (snap["waiting"], snap["offered"], snap["agents"]) == (2, 1, 1)
    snap = run(loaded, "live", at=AT, window=5, touchpoint="whatsapp")
    assert (snap["waiting"], snap["offered"]) == (2, 0)  # queued 11:55 and 11:58
    assert snap["tme_seconds"] is None and snap["alerts"] == []
    later = run(loaded, "live", at="2026-01-10T13:00:00")
    assert later["waiting"] == 0 and later["offered"] == 0
    with pytest.raises(UsageError, match="use 1 to 1440 minutes"):
        run(loaded, "live", at=AT, window=0)


def test_answer_ends_the_wait(loaded: Store) -> None:
    ingest_records(
        loaded,
        [ev("p5", "c5", "phone", "11:50:00", abandoned=False, wait_seconds=500, agent="bia")],
        "t",
    )
    snap = run(loaded, "live", at=AT)
    phone = next(r for r in snap["touchpoints"] if r["touchpoint"] == "phone")
    assert phone["waiting"] == 0 and phone["longest_wait_seconds"] is None
    assert snap["longest_wait_seconds"] == 300.0
    assert any(a["metric"] == "tme_seconds" for a in phone["alerts"])  # (30+90+500)/3 > 60


def test_the_stream_writes_the_snapshot_for_the_reader(loaded: Store) -> None:
    """Each pushed frame carries the snapshot as the viewer reads it (core.format, the
    catalog's words), so live.js only places strings."""
    from touchpoints.server.live import display

    snap = run(loaded, "live", at=AT)
    pt, en = display(snap, "pt-BR"), display(snap, "en")
    assert pt["totals"]["tme_seconds"] == "43 s" and en["totals"]["tme_seconds"] == "43 sec"
    assert pt["totals"]["abandonment_rate"] == "25,0%" and en["totals"]["service_level"] == "50.0%"
    assert pt["totals"]["longest_wait_seconds"] == "10 min" and pt["totals"]["waiting"] == "3"
    phone = next(r for r in pt["touchpoints"] if r["touchpoint"] == "phone")
    assert phone["name"] == "Central de atendimento" and phone["breach"]
    assert phone["cells"] == ["1", "10 min", "2", "1", "1 min", "33,3%", "33,3%", "2"]
    assert pt["alerts"] == [
        "Central de atendimento: abandono 33,3% — acima da meta (meta 5,0%)",
        "Central de atendimento: nível de serviço 33,3% — abaixo da meta (meta 80,0%)",
    ]
    assert en["alerts"][0] == "Phone call centre: abandonment 33.3% — above target (target 5.0%)"
    # Every whole minute of the window (11:00-11:59 UTC; 12:00 has only begun), quiet ones
    # as zeros, as the company's local clock (São Paulo, UTC-3).
    local = display(snap, "pt-BR", "America/Sao_Paulo")
    assert len(local["minutes"]) == 60
    assert local["minutes"][0] == "08:00" and local["minutes"][-1] == "08:59"
    assert local["answered"][10] == 1 and local["abandoned"][30] == 1  # p1 11:10, p3 11:30
    assert sum(local["answered"]) == 3 and sum(local["abandoned"]) == 1
    assert local["updated"] == "09:00:00" and pt["updated"] == "12:00:00"
    assert not local["empty"]


def test_a_quiet_window_says_there_is_no_data_not_that_targets_are_met(loaded: Store) -> None:
    from touchpoints.server.live import display

    snap = run(loaded, "live", at="2026-01-11T12:00:00Z")
    text = display(snap, "pt-BR", "America/Sao_Paulo")
    assert text["empty"] and text["alerts"] == []
    assert text["answered"] == [0] * 60


# -- the server side -------------------------------------------------------------------------
@pytest.fixture
def service(tmp_path: Path) -> Any:
    from touchpoints.server.service import Service

    svc = Service(target=str(tmp_path / "live.duckdb"))
    svc.ingest(FIXTURE)
    yield svc
    svc.close()


def test_stream_pushes_a_snapshot_after_an_ingest(service: Any) -> None:
    from touchpoints.server.live import SnapshotCache, snapshot_events

    frames: list[tuple[float, dict[str, Any]]] = []

    async def run() -> None:
        stop = asyncio.Event()

        async def disconnected() -> bool:
            return stop.is_set()

        gen = snapshot_events(service, SnapshotCache(), (60, None, None), disconnected, poll=0.05)
        async for frame in gen:
            assert frame.startswith("event: snapshot\ndata: ")
            frames.append((time.monotonic(), json.loads(frame.split("data: ", 1)[1])))
            if len(frames) == 1:
                just_now = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
                queued = {"customer_id": "c10", "touchpoint": "chat", "action": "queued"}
                await asyncio.to_thread(service.ingest, [{**queued, "ts": just_now.isoformat()}])
                posted = time.monotonic()
            else:
                stop.set()
        assert frames[1][0] - posted < 1.0

    asyncio.run(run())
    assert frames[1][1]["waiting"] == frames[0][1]["waiting"] + 1
    assert frames[1][1]["text"]["totals"]["waiting"] == str(frames[1][1]["waiting"])


def _client(service: Any, role: str | None) -> Any:
    from fastapi.testclient import TestClient

    from touchpoints.server.app import create_app
    from touchpoints.server.users import (
        COOKIE,
        create_user,
        session_epoch,
        session_secret,
        sign_session,
    )

    app = create_app(target=None, settings=service.settings)
    app.state.service.close()
    app.state.service = service
    client = TestClient(app, follow_redirects=False)
    if role:
        service.read(create_user, f"u-{role}", "password123", role)
        epoch = service.read(session_epoch, f"u-{role}")
        client.cookies.set(COOKIE, sign_session(session_secret(service), f"u-{role}", epoch=epoch))
    return client


def test_snapshot_route_roles(service: Any) -> None:
    assert _client(service, None).get("/live/snapshot").status_code == 303  # to /login
    assert _client(service, "analyst").get("/live/snapshot").status_code == 200
    just_now = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=2)
    service.ingest(
        [
            {"customer_id": c, "touchpoint": tp, "action": "queued", "ts": just_now.isoformat()}
            for c, tp in (("c20", "whatsapp"), ("c21", "phone"))
        ]
    )
    body = _client(service, "supervisor").get("/live/snapshot?window=10&channel=messaging")
    assert body.status_code == 200
    rows = body.json()["touchpoints"]
    assert [(r["touchpoint"], r["waiting"]) for r in rows] == [("whatsapp", 1)]
    admin = _client(service, "admin")
    assert admin.get("/live/snapshot?window=0").status_code == 422


@pytest.mark.skipif(not (TEMPLATES / "base.html").exists(), reason="base.html not written yet")
def test_live_page_in_both_languages(service: Any) -> None:
    client = _client(service, "admin")
    client.cookies.set("tp_lang", "pt-BR")
    page = client.get("/live?channel=messaging&window=30")
    assert page.status_code == 200, page.text
    assert "Aguardando agora" in page.text and "TME" in page.text
    assert 'data-stream="/live/stream?window=30&amp;channel=messaging"' in page.text
    client.cookies.set("tp_lang", "en")
    page = client.get("/live")
    assert "Waiting now" in page.text and "ASA" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "")


def test_trickle_feeds_valid_contacts_that_queue_then_end(service: Any) -> None:
    from touchpoints.demo.trickle import Trickle

    trickle = Trickle(service, rate=60, seed=3)
    first = trickle.tick()
    queued = [r for r in first if r.get("action") == "queued"]
    assert queued and len(trickle.pending) == len(queued)
    assert service.ingest(first).rejected == 0
    assert service.read(run, "live")["waiting"] == len(queued)
    trickle.pending = [(0.0, q) for _, q in trickle.pending]  # every wait is over
    second = trickle.tick()
    ended = [r for r in second if r.get("abandoned") is not None]
    assert len(ended) == len(queued)
    assert all(r["agent"] for r in ended if r["abandoned"] is False)
    assert service.ingest(second).rejected == 0
    waiting_now = len([r for r in second if r.get("action") == "queued"])
    assert service.read(run, "live")["waiting"] == waiting_now


# -- the command line ------------------------------------------------------------------------
@pytest.fixture
def live_db(tmp_path: Path) -> str:
    from touchpoints.store import open_store

    db = str(tmp_path / "cli.duckdb")
    with open_store(db) as store:
        assert ingest_records(store, FIXTURE, "test").stored == len(FIXTURE)
    return db


def test_cli_table_in_both_languages(live_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The numbers of test_snapshot_numbers_by_hand, per touchpoint and for the whole queue
    # ("all": its agents are the 2 distinct people, not 1 + 2); most waiting first.
    args = ["live", "--at", AT, "--db", live_db]
    pt = cli([*args, "--lang", "pt-BR"], monkeypatch)
    assert pt.exit_code == 0, pt.output
    assert "Fila ao vivo às 10/01/2026 12:00 UTC (últimos 60 min)" in pt.stdout
    assert merged(table_cells(pt.stdout)) == [
        ["ponto de contato", "aguardando", "maior espera", "atendidos", "abandonados",
         "abandono", "TME", "nível de serviço", "agentes"],
        ["WhatsApp", "2", "5 min", "1", "0", "0,0%", "10 s", "100,0%", "1"],
        ["Central de atendimento", "1", "10 min", "2", "1", "33,3%", "1 min", "33,3%", "2"],
        ["todos", "3", "10 min", "3", "1", "25,0%", "43 s", "50,0%", "2"],
    ]  # fmt: skip
    assert "• Central de atendimento: abandono 33,3%, acima da meta 5,0%" in pt.stdout
    assert "• Central de atendimento: nível de serviço 33,3%, abaixo da meta 80,0%" in pt.stdout
    assert_fits(pt.stdout)
    en = cli(args, monkeypatch)
    assert "Live queue at 1/10/2026 12:00 UTC (last 60 min)" in en.stdout
    assert merged(table_cells(en.stdout)) == [
        ["touchpoint", "waiting", "longest wait", "answered", "abandoned", "abandonment", "ASA",
         "service level", "agents"],
        ["WhatsApp", "2", "5 min", "1", "0", "0.0%", "10 sec", "100.0%", "1"],
        ["Phone call centre", "1", "10 min", "2", "1", "33.3%", "1 min", "33.3%", "2"],
        ["all", "3", "10 min", "3", "1", "25.0%", "43 sec", "50.0%", "2"],
    ]  # fmt: skip
    assert "• Phone call centre: abandonment 33.3%, above the target 5.0%" in en.stdout
    assert_fits(en.stdout)


def merged(cells: list[list[str]]) -> list[list[str]]:
    """The rows of a table split over several (each repeating the row labels), joined."""
    rows: dict[str, list[str]] = {}
    for row in cells:
        rows.setdefault(row[0], [row[0]]).extend(row[1:])
    return list(rows.values())


def test_cli_quiet_queue_and_csv(live_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = cli(
        ["live", "--at", "2026-01-10T15:00:00", "--db", live_db, "--lang", "pt-BR"], monkeypatch
    )
    assert quiet.exit_code == 0, quiet.output
    assert "nenhum contato de atendimento nos últimos 60 minutos" in quiet.stdout
    res = cli(["live", "--at", AT, "--db", live_db, "--format", "csv"], monkeypatch)
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["touchpoint"], r["waiting"], r["longest_wait_seconds"]) for r in rows] == [
        ("whatsapp", "2", "300.0"),
        ("phone", "1", "600.0"),
    ]
    assert float(rows[1]["abandonment_rate"]) == pytest.approx(1 / 3, abs=1e-15)
