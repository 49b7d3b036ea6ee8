"""The HTTP API in-process (TestClient): ingestion answers, limits, the analyses returning
exactly the CLI's --json, catalog, health, metrics and security headers."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import _PG_PROBLEM, PG_URL
from touchpoints.cli import app as cli
from touchpoints.core.settings import Settings
from touchpoints.ingest import ingest_records
from touchpoints.server import auth
from touchpoints.server.app import create_app
from touchpoints.server.service import Service, split_result
from touchpoints.store import open_store

EVENTS = [
    {"event_id": "a1", "customer_id": "c1", "touchpoint": "website", "ts": "2025-03-01T10:00:00"},
    {
        "event_id": "a2",
        "customer_id": "c1",
        "touchpoint": "phone",
        "ts": "2025-03-01T11:00:00",
        "wait_seconds": 30,
        "handle_seconds": 200,
        "abandoned": False,
        "agent": "ana",
    },
    {"event_id": "a3", "customer_id": "c1", "touchpoint": "store", "ts": "2025-03-02T09:00:00",
     "action": "purchase", "value": 500},
    {"event_id": "a4", "customer_id": "c2", "touchpoint": "warehouse", "ts": "2025-03-02T09:00:00"},
    {"event_id": "a1", "customer_id": "c1", "touchpoint": "website", "ts": "2025-03-01T10:00:00"},
    {"event_id": "a5", "customer_id": "c2", "touchpoint": "phone", "ts": "2025-03-03", "nps": 11},
]  # fmt: skip
WAREHOUSE = (
    "touchpoint: 'warehouse' is not a touchpoint (visibility company: "
    "a backstage step only the company sees)"
)


def make_client(db: str, **settings: Any) -> TestClient:
    app = create_app(Settings(db=db, **settings), db)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(str(tmp_path / "api.duckdb")) as c:
        yield c


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """A client on each store engine a server runs on."""
    if request.param == "duckdb":
        with make_client(str(tmp_path / "api.duckdb")) as c:
            yield c
        return
    if _PG_PROBLEM:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable: {_PG_PROBLEM}")
    schema = f"tp_api_{uuid.uuid4().hex[:12]}"
    try:
        with make_client(f"{PG_URL}?schema={schema}") as c:
            yield c
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def key_for(c: TestClient, *scopes: str) -> dict[str, str]:
    key = auth.create_key(c.app.state.service.store, list(scopes) or ["admin"])[1]  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {key}"}


def post(c: TestClient, body: bytes | str, ctype: str = "application/json", **kw: Any) -> Any:
    headers = {**key_for(c, "ingest"), "Content-Type": ctype}
    return c.post("/v1/events", content=body, headers=headers, **kw)


EXPECTED_ITEMS = [
    {"index": 0, "status": "stored", "event_id": "a1"},
    {"index": 1, "status": "stored", "event_id": "a2"},
    {"index": 2, "status": "stored", "event_id": "a3"},
    {"index": 3, "status": "rejected", "reason": WAREHOUSE},
    {"index": 4, "status": "duplicate", "event_id": "a1"},
    {"index": 5, "status": "rejected", "reason": "nps: out of range 0..10: '11'"},
]


def test_post_array_answers_per_item_and_quarantines(client: TestClient) -> None:
    r = post(client, json.dumps(EVENTS))
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 3, "duplicates": 1, "rejected": 2, "items": EXPECTED_ITEMS}
    store = client.app.state.service.store  # type: ignore[attr-defined]
    rows = store.query('SELECT source, "row", "column" FROM quarantine ORDER BY "row"')
    assert [(q["row"], q["column"]) for q in rows] == [(4, "touchpoint"), (6, "nps")]
    assert rows[0]["source"] == rows[1]["source"] and rows[0]["source"].startswith("api:")
    # Idempotent: the same batch again stores nothing; its quarantine rows get a new source.
    again = post(client, json.dumps(EVENTS)).json()
    assert (again["stored"], again["duplicates"], again["rejected"]) == (0, 4, 2)
    sources = {q["source"] for q in store.query("SELECT source FROM quarantine")}
    assert len(sources) == 2
    assert store.count() == 3


def test_post_json_lines_same_answer(client: TestClient) -> None:
    body = "\n".join(json.dumps(e) for e in EVENTS[:3]) + "\n\n" + json.dumps(EVENTS[3]) + "\r\n"
    r = post(client, body, "application/x-ndjson")
    assert r.json() == {
        "stored": 3,
        "duplicates": 0,
        "rejected": 1,
        "items": EXPECTED_ITEMS[:4],
    }
    # JSON Lines under application/json too; a non-object value is rejected alone.
    r = post(client, '{"event_id": "a1", "customer_id": "c1", "touchpoint": "website", '
             '"ts": "2025-03-01T10:00:00"}\n[1, 2]\n', "application/json; charset=utf-8")  # fmt: skip
    assert r.json()["items"] == [
        {"index": 0, "status": "duplicate", "event_id": "a1"},
        {"index": 1, "status": "rejected", "reason": "not a JSON object on this line"},
    ]


def test_pretty_printed_array_and_empty_array(client: TestClient) -> None:
    r = post(client, json.dumps(EVENTS[:2], indent=2))
    assert [i["status"] for i in r.json()["items"]] == ["stored", "stored"]
    r = post(client, " [ ] ")
    assert r.json() == {"stored": 0, "duplicates": 0, "rejected": 0, "items": []}


@pytest.mark.parametrize(
    ("body", "ctype", "status", "detail"),
    [
        ('[{"a": 1}, {"b": ]', "application/json", 400,
         "broken JSON at line 1, column 18: Expecting value"),
        ('[{"a": 1} {"b": 2}]', "application/json", 400,
         "broken JSON at line 1, column 11: expected ',' or ']' after an array element"),
        ('[{"a": 1}] x', "application/json", 400,
         "broken JSON at line 1, column 12: extra data after the array"),
        ('{"a": 1}\n{"b": 2,}\n', "application/x-ndjson", 400,
         "broken JSON at line 2, column 9: Expecting property name enclosed in double quotes"),
        ('\n\n[{"a": 1},\n  {"b": 2]', "application/json", 400,
         "broken JSON at line 4, column 10: Expecting ',' delimiter"),
        ("", "application/json", 400, "empty body: send a JSON array or JSON Lines of events"),
        (b"\xff\xfe", "application/json", 400, "body is not UTF-8 (byte 0)"),
        ("a,b\n1,2", "text/csv", 415, "unsupported Content-Type 'text/csv': send "
         "application/json (a JSON array or JSON Lines) or application/x-ndjson"),
        ("[]", "", 415, "unsupported Content-Type '(none)': send "
         "application/json (a JSON array or JSON Lines) or application/x-ndjson"),
    ],
)  # fmt: skip
def test_bad_bodies_are_4xx_with_a_clear_message(
    client: TestClient, body: str | bytes, ctype: str, status: int, detail: str
) -> None:
    r = post(client, body, ctype)
    assert (r.status_code, r.json()) == (status, {"detail": detail})
    assert client.app.state.service.store.count() == 0  # type: ignore[attr-defined]
    assert client.get("/healthz").status_code == 200


def test_limits_on_body_bytes_and_batch_size(tmp_path: Path) -> None:
    with make_client(str(tmp_path / "l.duckdb"), max_body_bytes=600, max_batch_events=3) as c:
        r = post(c, json.dumps(EVENTS[:4]))
        assert r.status_code == 413
        assert r.json() == {"detail": "4 events in one request; the limit is 3 (split the batch)"}
        big = json.dumps([{"customer_id": "x" * 700}])
        r = post(c, big)  # declared Content-Length over the limit
        assert (r.status_code, r.json()) == (
            413,
            {"detail": "request body larger than the limit of 600 bytes"},
        )

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b" " * 100

        r = post(c, chunks())
        assert (r.status_code, r.json()["detail"]) == (
            413,
            "request body larger than the limit of 600 bytes",
        )
        assert post(c, json.dumps(EVENTS[:2])).json()["stored"] == 2


def test_group_commit_keeps_each_request_apart(tmp_path: Path) -> None:
    """Concurrent requests share one transaction but keep their own answers, quarantine
    source and row numbers; an event_id posted twice at once is stored once."""
    service = Service(Settings(db=str(tmp_path / "g.duckdb")))
    batches = [
        [json.dumps(EVENTS[0]).encode(), json.dumps(EVENTS[3]).encode()],
        [json.dumps(EVENTS[5]).encode(), json.dumps(EVENTS[0]).encode()],
        [json.dumps(EVENTS[1]).encode()],
    ]

    async def run() -> list[Any]:
        return await asyncio.gather(*(service.ingest_async(b) for b in batches))

    groups: list[int] = []
    real = service._ingest_group
    service._ingest_group = lambda g: groups.append(len(g)) or real(g)  # type: ignore[method-assign]
    results = asyncio.run(run())
    assert groups == [3]  # one transaction
    assert [r.to_json() for r in results] == [
        {
            "stored": 1,
            "duplicates": 0,
            "rejected": 1,
            "items": [
                {"index": 0, "status": "stored", "event_id": "a1"},
                {"index": 1, "status": "rejected", "reason": WAREHOUSE},
            ],
        },
        {
            "stored": 0,
            "duplicates": 1,
            "rejected": 1,
            "items": [
                {"index": 0, "status": "rejected", "reason": "nps: out of range 0..10: '11'"},
                {"index": 1, "status": "duplicate", "event_id": "a1"},
            ],
        },
        {
            "stored": 1,
            "duplicates": 0,
            "rejected": 0,
            "items": [{"index": 0, "status": "stored", "event_id": "a2"}],
        },
    ]
    rows = service.store.query('SELECT source, "row", "column" FROM quarantine ORDER BY "column"')
    assert [(q["row"], q["column"]) for q in rows] == [(1, "nps"), (2, "touchpoint")]
    assert rows[0]["source"] != rows[1]["source"]
    assert service.store.count() == 2
    service.close()


# -- the analyses answer exactly what the CLI prints --------------------------------------
SAME_AS_CLI = [
    (["kpis"], "/v1/kpis"),
    (["kpis", "--by", "touchpoint", "--answer-within", "60"], "/v1/kpis?by=touchpoint&answer_within=60"),
    (["kpis", "--by", "agent", "--touchpoint", "phone", "--touchpoint", "store", "--from", "2025-03-01",
      "--to", "2025-03-02"],
     "/v1/kpis?by=agent&touchpoint=phone&touchpoint=store&from=2025-03-01&to=2025-03-02"),
    (["kpis", "--by", "day", "--timezone", "America/Sao_Paulo"], "/v1/kpis?by=day&timezone=America/Sao_Paulo"),
    (["journeys", "dfg"], "/v1/journeys/dfg"),
    (["journeys", "dfg", "--case", "cycle", "--top", "2"], "/v1/journeys/dfg?case=cycle&top=2"),
    (["journeys", "variants", "--top", "1"], "/v1/journeys/variants?top=1"),
    (["attribution", "--model", "position"], "/v1/attribution?model=position"),
    (["attribution", "--model", "markov", "--details"], "/v1/attribution?model=markov&details=true"),
    (["insights", "--lang", "pt-BR", "--min-answers", "1"], "/v1/insights?lang=pt-BR&min_answers=1"),
    (["staffing", "--arrivals", "100", "--interval-minutes", "30", "--aht-seconds", "180",
      "--target-service-level", "0.8", "--shrinkage", "0.3"],
     "/v1/staffing?arrivals=100&interval_minutes=30&aht_seconds=180&target_service_level=0.8"
     "&shrinkage=0.3"),
    (["staffing", "--touchpoint", "phone"], "/v1/staffing?touchpoint=phone"),
    (["catalog", "show"], "/v1/catalog"),
]  # fmt: skip


@pytest.fixture(scope="module")
def cli_outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Any]]:
    """The CLI's --json for each case, computed before a server holds the file."""
    db = str(tmp_path_factory.mktemp("same") / "same.duckdb")
    with open_store(db) as store:
        ingest_records(store, EVENTS, "fixture")
    outputs = []
    for args, _ in SAME_AS_CLI:
        res = CliRunner().invoke(cli, [*args, "--json", "--db", db])
        assert res.exit_code == 0, (args, res.output)
        outputs.append(json.loads(res.stdout))
    return db, outputs


def test_analyses_return_the_cli_json(cli_outputs: tuple[str, list[Any]]) -> None:
    db, outputs = cli_outputs
    with make_client(db) as c:
        headers = key_for(c, "read")
        for (args, url), expected in zip(SAME_AS_CLI, outputs, strict=True):
            r = c.get(url, headers=headers)
            assert r.status_code == 200, (url, r.text)
            assert r.json() == expected, args


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("/v1/kpis?by=weekday", "--by 'weekday': use one of touchpoint, channel, kind, phase, "
         "agent, segment, day, week, month"),
        ("/v1/journeys/dfg?case=visit", "--case 'visit': use customer or cycle"),
        ("/v1/attribution?model=lastt", "--model 'lastt': use one of first, last, linear, "
         "position, time-decay, markov, shapley"),
        ("/v1/staffing?arrivals=10", "--arrivals and --aht-seconds go together: pass both, or "
         "neither to measure them from stored contacts with --touchpoint or --channel"),
    ],
)  # fmt: skip
def test_usage_errors_are_400_with_the_message(client: TestClient, url: str, detail: str) -> None:
    r = client.get(url, headers=key_for(client, "read"))
    assert (r.status_code, r.json()) == (400, {"detail": detail})


def test_query_validation_is_422(client: TestClient) -> None:
    r = client.get("/v1/journeys/variants?top=0", headers=key_for(client, "read"))
    assert r.status_code == 422
    r = client.get("/v1/kpis?answer_within=soon", headers=key_for(client, "read"))
    assert r.status_code == 422


def test_unexpected_errors_do_not_leak(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from touchpoints.analytics import kpis

    def broken(*a: Any, **k: Any) -> None:
        raise RuntimeError("secret path /etc/shadow")

    monkeypatch.setattr(kpis, "derive", broken)
    r = client.get("/v1/kpis", headers=key_for(client, "read"))
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error; the server log has the details"}
    assert "shadow" not in r.text and "Traceback" not in r.text
    assert r.headers["x-frame-options"] == "DENY"


# -- catalog, health, metrics, headers ----------------------------------------------------
CATALOG = """touchpoints:
  - id: kiosk
    name: {en: Kiosk, pt-BR: Quiosque}
    channel: store
    kind: interactive
    visibility: both
    phase: [during]
"""


def test_catalog_put_and_get(client: TestClient) -> None:
    admin = key_for(client, "admin")
    r = client.put("/v1/catalog", content=CATALOG, headers=admin)
    assert r.status_code == 200 and [t["id"] for t in r.json()["touchpoints"]] == ["kiosk"]
    got = client.get("/v1/catalog", headers=key_for(client, "read")).json()
    assert got == r.json()
    # The new catalog rules ingestion at once.
    r = post(client, json.dumps([{"customer_id": "c", "touchpoint": "phone", "ts": "2025-01-01"}]))
    assert (
        r.json()["items"][0]["reason"]
        == "touchpoint: unknown touchpoint 'phone' (not in the catalog)"
    )
    r = client.put("/v1/catalog", json=json.loads(json.dumps(got)), headers=admin)
    assert r.status_code == 200
    bad = CATALOG.replace("kind: interactive", "kind: magic")
    r = client.put("/v1/catalog", content=bad, headers=admin)
    assert r.status_code == 422
    assert r.json()["detail"].startswith("catalog: touchpoints[0] (id 'kiosk'): field 'kind'")
    r = client.put("/v1/catalog", content="touchpoints: [", headers=admin)
    assert r.status_code == 422 and r.json()["detail"].startswith("catalog: not valid YAML at line")


def test_health_metrics_and_security_headers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "engine": "duckdb"}
    post(client, json.dumps(EVENTS))
    post(client, "nope", "text/plain")
    text = client.get("/metrics").text
    assert 'touchpoints_events_total{kind="api",status="stored"} 3' in text
    assert 'touchpoints_events_total{kind="api",status="duplicate"} 1' in text
    assert 'touchpoints_events_total{kind="api",status="rejected"} 2' in text
    assert (
        'touchpoints_http_requests_total{method="POST",route="/v1/events",status="200"} 1' in text
    )
    assert (
        'touchpoints_http_requests_total{method="POST",route="/v1/events",status="415"} 1' in text
    )
    assert (
        'touchpoints_http_request_duration_seconds_count{method="POST",route="/v1/events"} 2'
        in text
    )
    for r in (client.get("/healthz"), client.get("/v1/kpis"), client.get("/nowhere")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["content-security-policy"].startswith("default-src 'self'; ")
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "server" not in r.headers
    docs = client.get("/docs")
    # Swagger UI is served from our own /static: nothing on the page names another host.
    assert "http://" not in docs.text and "https://" not in docs.text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert '"validatorUrl": null' in docs.text  # no badge fetched from validator.swagger.io
    assert "https:" not in docs.headers["content-security-policy"]
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert "/v1/events" in client.get("/openapi.json").json()["paths"]


def test_items_missing_every_required_column_are_rejected_one_by_one(client: TestClient) -> None:
    """A batch none of whose items has customer_id is not a "file without that column":
    each item is rejected with its reasons, and ingest_log counts exactly them."""
    r = post(client, json.dumps([{"a": 1}, None]))
    assert r.json() == {
        "stored": 0,
        "duplicates": 0,
        "rejected": 2,
        "items": [
            {
                "index": 0,
                "status": "rejected",
                "reason": "customer_id: missing required value; touchpoint: missing required "
                "value; ts: missing required value",
            },
            {"index": 1, "status": "rejected", "reason": "not a JSON object on this line"},
        ],
    }
    store = client.app.state.service.store  # type: ignore[attr-defined]
    assert store.query('SELECT max("row") AS r, count(*) AS n FROM quarantine') == [
        {"r": 2, "n": 4}
    ]
    assert store.query("SELECT ingested, duplicates, rejected FROM ingest_log") == [
        {"ingested": 0, "duplicates": 0, "rejected": 2}
    ]


def test_a_failing_request_does_not_fail_its_group(tmp_path: Path) -> None:
    service = Service(Settings(db=str(tmp_path / "f.duckdb")))
    real = service._ingest_group
    poison = json.dumps(EVENTS[1]).encode()

    def flaky(group: list[Any]) -> Any:
        if any(poison in p.records for p in group):
            raise RuntimeError("disk full")
        return real(group)

    service._ingest_group = flaky  # type: ignore[method-assign]

    async def run() -> list[Any]:
        return await asyncio.gather(
            service.ingest_async([json.dumps(EVENTS[0]).encode()]),
            service.ingest_async([poison]),
            return_exceptions=True,
        )

    good, bad = asyncio.run(run())
    assert good.to_json()["items"] == [{"index": 0, "status": "stored", "event_id": "a1"}]
    assert isinstance(bad, RuntimeError) and str(bad) == "disk full"
    assert service.store.count() == 1
    service.close()


POOL = [*EVENTS, {"customer_id": "c3", "touchpoint": "chat", "ts": "2025-03-04T08:00:00"}, 7]


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    parts=st.lists(
        st.lists(st.sampled_from(range(len(POOL))), min_size=1, max_size=4),
        min_size=1,
        max_size=4,
    )
)
def test_group_commit_answers_as_if_requests_ran_one_by_one(
    tmp_path_factory: pytest.TempPathFactory, parts: list[list[int]]
) -> None:
    """Invariant: one grouped transaction gives each request the answer it would get
    alone, in arrival order (same statuses, reasons, counts; same rows stored)."""
    base = tmp_path_factory.mktemp("prop")
    records = [[json.dumps(POOL[i]).encode() for i in part] for part in parts]
    with open_store(str(base / "seq.duckdb")) as seq, open_store(str(base / "grp.duckdb")) as grp:
        alone = [ingest_records(seq, r, f"s{n}").to_json() for n, r in enumerate(records)]
        group = ingest_records(
            grp,
            [x for r in records for x in r],
            "group",
            parts=[(len(r), f"s{n}") for n, r in enumerate(records)],
        )
        together = [p.to_json() for p in split_result(group, [len(r) for r in records])]
        assert together == alone
        quarantined = 'SELECT source, "row", "column", reason FROM quarantine ORDER BY ALL'
        assert grp.query(quarantined) == seq.query(quarantined)
        stored = "SELECT event_id, customer_id FROM events ORDER BY ALL"
        assert grp.query(stored) == seq.query(stored)


def test_an_analysis_does_not_hold_back_ingestion_and_is_shared(
    any_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `/v1` analysis runs beside ingestion, not under its lock: events posted while a
    slow analysis computes are stored at once. A second request for the same analysis
    at that moment waits for the first one's computation and gets its answer; a later
    request sees every event stored since."""
    import threading
    import time

    client = any_client
    from touchpoints.analytics import kpis
    from touchpoints.server import cache

    assert post(client, json.dumps(EVENTS[:3])).status_code == 200
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []
    derive = kpis.derive

    def slow(raw: Any) -> Any:
        if threading.current_thread().name.startswith("touchpoints-cache-warmer"):
            return derive(raw)  # the dashboard's warmer: not what this test holds back
        calls.append(1)
        entered.set()
        assert release.wait(30)
        return derive(raw)

    claim = cache._claim
    waiting: list[str] = []

    def watched(shared: Any, key: Any, version: Any) -> Any:
        if key[0] == "v1" and (key, version) in shared.computing:  # about to wait for it
            waiting.append(threading.current_thread().name)
        return claim(shared, key, version)

    monkeypatch.setattr(kpis, "derive", slow)
    monkeypatch.setattr(cache, "_claim", watched)
    read = key_for(client, "read")
    answers: list[Any] = []
    askers = [
        threading.Thread(target=lambda: answers.append(client.get("/v1/kpis", headers=read)))
        for _ in range(2)
    ]
    askers[0].start()
    assert entered.wait(30)
    askers[1].start()
    try:
        deadline = time.monotonic() + 30
        while not waiting and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(waiting) == 1  # the second request waits for the first one's answer
        later = post(
            client,
            json.dumps(
                [
                    {
                        "event_id": "b1",
                        "customer_id": "c3",
                        "touchpoint": "website",
                        "ts": "2025-03-04T10:00:00",
                    }
                ]
            ),  # fmt: skip
        )
        assert later.status_code == 200 and later.json()["stored"] == 1
        assert not release.is_set() and askers[0].is_alive()
    finally:
        release.set()
        for t in askers:
            t.join(30)
    assert [r.status_code for r in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["rows"][0]["events"] == 3 and calls == [1]
    monkeypatch.setattr(kpis, "derive", derive)
    assert client.get("/v1/kpis", headers=read).json()["rows"][0]["events"] == 4
