"""The web dashboard: login and roles, every page against the analysis functions, filters,
language, CSV downloads, no foreign hosts, the result cache, and `touchpoints users`."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import run
from forms import FormClient
from touchpoints import demo
from touchpoints.core import format, messages
from touchpoints.core.errors import OutOfMemoryError, UsageError
from touchpoints.core.settings import Settings
from touchpoints.ingest import ingest_files
from touchpoints.server import cache, users
from touchpoints.server.app import create_app
from touchpoints.server.cache import cache_for
from touchpoints.server.pages import STATIC_DIR

SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse"
PAGES = (
    "/",
    "/map",
    "/journeys",
    "/touchpoints/phone",
    "/service",
    "/feedback",
    "/attribution",
    "/catalog",
)


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dash") / "events.parquet"
    demo.generate(customers=400, seed=11, out=path)
    return path


def make_app(db: Path, events: Path, secret: str | None = SECRET) -> Any:
    key_file = str(db.parent / "secret_key")
    app = create_app(settings=Settings(secret_key=secret, secret_key_file=key_file), target=str(db))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    service = app.state.service
    if not service.store.count():
        ingest_files(service.store, [str(events)])
    for name, role in (("ada", "admin"), ("ana", "analyst"), ("sue", "supervisor")):
        if service.read(users.get_user, name) is None:
            service.read(users.create_user, name, PASSWORD, role)
    return app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, events_file: Path) -> Iterator[Any]:
    application = make_app(tmp_path_factory.mktemp("db") / "dash.duckdb", events_file)
    yield application
    application.state.service.close()


def client_for(app: Any, username: str | None = "ada", lang: str = "en") -> TestClient:
    client = FormClient(app, follow_redirects=False)
    client.cookies.set("tp_lang", lang)
    if username:
        r = client.post("/login", data={"username": username, "password": PASSWORD})
        assert r.status_code == 303, r.text
    return client


def shown(key: str, value: Any, lang: str = "en") -> str:
    """How a page writes `value` of the column `key` (core.format, by what it measures)."""
    return format.value(key, value, lang)


def card_value(html: str, key: str) -> str:
    """The text of the KPI card's value paragraph, whitespace collapsed."""
    m = re.search(rf'id="kpi-{key}".*?<p class="value"[^>]*>(.*?)</p>', html, re.S)
    assert m, f"no card {key}"
    return " ".join(re.sub(r"<[^>]+>", " ", m.group(1)).split())


# -- login and roles -------------------------------------------------------------------------
def test_login_sets_a_signed_httponly_lax_cookie_and_follows_next(app: Any) -> None:
    client = FormClient(app, follow_redirects=False)
    r = client.post(
        "/login", data={"username": "ADA", "password": PASSWORD, "next": "/service?channel=phone"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/service?channel=phone"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("tp_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/service").status_code == 200


def test_wrong_password_and_unknown_user_are_refused_with_a_message(app: Any) -> None:
    client = FormClient(app, follow_redirects=False)
    client.cookies.set("tp_lang", "en")  # the message is asserted in English
    for name, password in (("ada", "wrong password"), ("nobody", PASSWORD)):
        r = client.post("/login", data={"username": name, "password": password})
        assert r.status_code == 401
        assert "Wrong username or password." in r.text
        assert "tp_session" not in r.headers.get("set-cookie", "")
    assert client.get("/").status_code == 303


def test_a_login_name_holding_sql_finds_no_user_and_breaks_nothing(app: Any) -> None:
    client = FormClient(app, follow_redirects=False)
    for name in ("x' OR '1'='1", "ada' --", "ada'; DROP TABLE users; --"):
        r = client.post("/login", data={"username": name, "password": PASSWORD})
        assert r.status_code == 401
        assert "tp_session" not in r.headers.get("set-cookie", "")
    assert app.state.service.read(users.list_users)[0]["username"] == "ada"
    assert client_for(app, "ada").get("/").status_code == 200


def test_pages_redirect_to_login_with_next(app: Any) -> None:
    client = FormClient(app, follow_redirects=False)
    r = client.get("/service?channel=phone")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/service%3Fchannel%3Dphone"
    assert client.get("/data/kpis").status_code == 303
    assert client.get("/login").status_code == 200


def test_login_never_redirects_to_another_site(app: Any) -> None:
    client = FormClient(app, follow_redirects=False)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = client.post("/login", data={"username": "ada", "password": PASSWORD, "next": target})
        assert r.headers["location"] == "/"


def test_a_tampered_or_foreign_cookie_is_not_a_session(app: Any) -> None:
    client = client_for(app)
    good = client.cookies.get("tp_session")
    payload, mac = good.split(".")
    forged_payload = users.sign_session(b"another key", "sue").split(".")[0]
    for bad in (f"{forged_payload}.{mac}", users.sign_session(b"another key", "ada"), "x.y", ""):
        client.cookies.clear()
        client.cookies.set("tp_session", bad)
        assert client.get("/").status_code == 303
    client.cookies.clear()
    client.cookies.set("tp_session", good)
    assert client.get("/").status_code == 200


def test_expired_session_is_refused() -> None:
    cookie = users.sign_session(b"k", "ada", now=1000.0)
    assert users.read_session(b"k", cookie, now=1000.0 + users.SESSION_SECONDS - 1) == "ada"
    assert users.read_session(b"k", cookie, now=1000.0 + users.SESSION_SECONDS + 1) is None


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=30), st.integers(min_value=0, max_value=200))
def test_session_round_trips_and_any_changed_character_breaks_it(name: str, pos: int) -> None:
    cookie = users.sign_session(b"secret", name)
    assert users.read_session(b"secret", cookie) == name
    i = pos % len(cookie)
    changed = cookie[:i] + ("A" if cookie[i] != "A" else "B") + cookie[i + 1 :]
    assert users.read_session(b"secret", changed) is None


def test_supervisor_sees_service_pages_only(app: Any) -> None:
    client = client_for(app, "sue")
    for path in ("/", "/service", "/feedback", "/catalog", "/data/kpis?by=channel"):
        assert client.get(path).status_code == 200, path
    for path in ("/attribution", "/map", "/journeys", "/touchpoints/phone", "/data/strength"):
        assert client.get(path).status_code == 403, path
    assert client.post("/catalog", data={"yaml_text": "touchpoints: []"}).status_code == 403
    # A browser gets a page in its language; scripts and other clients the JSON message.
    page = client.get("/map", headers={"Accept": "text/html"})
    assert page.status_code == 403 and "Your role cannot open this page." in page.text
    assert "<html" in page.text and "https://" not in page.text
    assert client.get("/data/strength").json() == {"detail": "your role cannot open this page"}
    # The 403 page keeps the frame: the supervisor's navigation and a way to log out.
    assert 'href="/service' in page.text and 'action="/logout"' in page.text
    assert 'href="/map' not in page.text
    # No page links to what a supervisor cannot open.
    for path in ("/", "/service", "/feedback", "/catalog", "/live"):
        html = client.get(path).text
        for forbidden in ("/attribution", "/map", "/journeys", "/touchpoints/"):
            assert f'href="{forbidden}' not in html, (path, forbidden)
    assert "<textarea" not in client.get("/catalog").text


def test_analyst_reads_everything_but_cannot_edit_the_catalog(app: Any) -> None:
    client = client_for(app, "ana")
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert "<textarea" not in client.get("/catalog").text
    assert client.post("/catalog", data={"yaml_text": "touchpoints: []"}).status_code == 403


def test_passwords_are_salted_scrypt_hashes() -> None:
    one, two = users.hash_password("s3cret-pass"), users.hash_password("s3cret-pass")
    assert one != two and one.startswith("scrypt$16384$8$1$")
    assert users.verify_password("s3cret-pass", one) and users.verify_password("s3cret-pass", two)
    assert not users.verify_password("s3cret-pasS", one)
    assert not users.verify_password("s3cret-pass", "md5$abc")


def test_without_a_configured_key_the_session_secret_survives_a_restart(
    tmp_path: Path, events_file: Path
) -> None:
    db = tmp_path / "keyless.duckdb"
    first = make_app(db, events_file, secret=None)
    secret = users.session_secret(first.state.service)
    cookie = client_for(first).cookies.get("tp_session")
    first.state.service.close()
    second = make_app(db, events_file, secret=None)
    try:
        assert users.session_secret(second.state.service) == secret
        client = FormClient(second, follow_redirects=False)
        client.cookies.set("tp_session", cookie)
        assert client.get("/").status_code == 200
        # Kept in a file only its owner may read, never in the store.
        key_file = tmp_path / "secret_key"
        assert key_file.read_text().encode() == secret
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert not second.state.service.store.query(
            "SELECT value FROM meta WHERE key = 'session_secret'"
        )
    finally:
        second.state.service.close()


# -- pages show the analysis functions' numbers ----------------------------------------------
def test_every_page_renders_and_draws_from_embedded_specs(app: Any) -> None:
    client = client_for(app)
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert '<html lang="en">' in r.text
        for chart_id in re.findall(r'data-chart="([^"]+)"', r.text):
            m = re.search(
                rf'<script type="application/json" id="{chart_id}">(.*?)</script>', r.text, re.S
            )
            assert m, (path, chart_id)
            spec = json.loads(m.group(1))
            assert spec["kind"] in {"bar", "lines", "sankey", "heatmap"}


@pytest.mark.postgres
def test_every_page_on_postgres_reads_on_lent_connections_and_shows_duckdb_s_numbers(
    app: Any, events_file: Path, tmp_path: Path
) -> None:
    """A server on PostgreSQL renders every page from reader connections lent from its
    pool (not the connection ingestion writes on), at most `size` of them, and its
    overview shows the numbers of the same events on DuckDB."""
    import uuid

    import psycopg

    from conftest import _PG_PROBLEM, PG_URL

    if _PG_PROBLEM:
        pytest.skip(_PG_PROBLEM)
    schema = f"tp_dash_{uuid.uuid4().hex[:12]}"
    pg = create_app(
        settings=Settings(secret_key=SECRET, secret_key_file=str(tmp_path / "key")),
        target=f"{PG_URL}?schema={schema}",
    )
    pg.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    service = pg.state.service
    try:
        ingest_files(service.store, [str(events_file)])
        service.read(users.create_user, "ada", PASSWORD, "admin")
        with client_for(pg) as client:
            for path in PAGES:
                r = client.get(path)
                assert r.status_code == 200, (path, r.text[:500])
            pool = cache_for(service).pool
            assert pool is not None and 1 <= pool.opened <= pool.size
            assert all(reader.conn is not service.store.conn for reader in pool.idle)
            overview = client.get("/").text
        on_duckdb = client_for(app).get("/").text
        for key in ("conversions", "nps", "csat", "revenue"):
            assert card_value(overview, key) == card_value(on_duckdb, key)
    finally:
        service.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


TZ = "America/Sao_Paulo"  # the company's time zone (settings' default)


def period(html: str) -> dict[str, str]:
    """The overview's stated period: local days of its cards and of their comparison."""
    m = re.search(r'<div id="period"([^>]*)>', html)
    assert m, "no period"
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(1)))


def group_ids(html: str, title: str) -> str:
    m = re.search(rf'aria-labelledby="{title}" data-touchpoints="([^"]*)"', html)
    assert m, title
    return m.group(1)


def window_kpis(store: Any, p: dict[str, str], prev: bool = False, **options: Any) -> Any:
    first, last = (p["prev-from"], p["prev-to"]) if prev else (p["from"], p["to"])
    return run(store, "kpis", date_from=first, date_to=last, timezone=TZ, **options)["rows"][0]


def test_overview_cards_cover_the_period_their_caption_names(app: Any) -> None:
    """Without a period the cards are the last 28 local days of data, not the whole
    store, and the caption says which days; waits and service level are the remote
    channels' (the store's queue apart), each judged against its own target."""
    store = app.state.service.store
    html = client_for(app).get("/").text
    p = period(html)
    summary = run(store, "summary")
    newest = format.local(summary["last_event"], TZ)
    assert p["to"] == newest.date().isoformat()
    assert (date.fromisoformat(p["to"]) - date.fromisoformat(p["from"])).days == 27
    assert (date.fromisoformat(p["from"]) - date.fromisoformat(p["prev-to"])).days == 1
    cap = f"Last 28 days of data ({format.date(p['from'], 'en')}–{format.date(p['to'], 'en')})"
    assert cap in html
    row = window_kpis(store, p)
    whole = run(store, "kpis")["rows"][0]
    assert row["conversions"] < whole["conversions"]
    assert card_value(html, "conversions") == shown("conversions", row["conversions"])
    nps, margin = format.number(row["nps"], "en", 1), format.number(row["nps_margin"], "en", 1)
    assert card_value(html, "nps") == f"{nps} ± {margin}"
    assert card_value(html, "csat") == format.percent(row["csat"] / 100, "en")
    assert card_value(html, "revenue") == format.money(row["revenue"], "en", digits=0)
    remote = group_ids(html, "remote-title")
    assert "store" not in remote.split(",") and "whatsapp" in remote.split(",")
    queue = window_kpis(store, p, touchpoint=remote)
    assert card_value(html, "tme_seconds") == format.duration(queue["tme_seconds"], "en")
    assert card_value(html, "tma_seconds") == format.duration(queue["tma_seconds"], "en")
    assert card_value(html, "abandonment_rate") == format.percent(queue["abandonment_rate"], "en")
    assert card_value(html, "service_level") == format.percent(queue["service_level"], "en")
    onsite = window_kpis(store, p, touchpoint=group_ids(html, "onsite-title"))
    assert card_value(html, "onsite-tme_seconds") == format.duration(onsite["tme_seconds"], "en")
    months = [
        m for m in run(store, "kpis", by="month", timezone=TZ)["rows"] if m["retention"] is not None
    ]
    assert card_value(html, "retention") == format.percent(months[-1]["retention"], "en")


def test_each_queue_is_judged_against_its_own_answer_target(app: Any) -> None:
    """WhatsApp's service level counts answers within its catalog's 120 s, the phone's
    within 60 s: the same SQL threshold as `kpis` uses, checked by hand on the events."""
    store = app.state.service.store
    for tp, seconds in (("whatsapp", 120), ("phone", 60)):
        row = run(store, "kpis", touchpoint=tp)["rows"][0]
        within = run(store, "events", metric="within-target", touchpoint=tp, limit=1)["total"]
        assert row["service_level"] == pytest.approx(within / row["offered"])
        waits = run(store, "events", metric="answered", touchpoint=tp, limit=100)["rows"]
        assert any(seconds >= r["wait_seconds"] > 20 for r in waits), tp


def test_a_month_is_compared_with_the_month_before(app: Any) -> None:
    store = app.state.service.store
    html = client_for(app).get("/?from=2025-06-01&to=2025-06-30").text
    p = period(html)
    assert (p["prev-from"], p["prev-to"]) == ("2025-05-01", "2025-05-31")
    assert "June 2025 vs May 2025" in html
    june = window_kpis(store, p)
    assert card_value(html, "conversions") == shown("conversions", june["conversions"])
    html = client_for(app).get("/?from=2025-06-03&to=2025-06-12").text
    assert "6/3/2025–6/12/2025 vs the same number of days before (5/24/2025–6/2/2025)" in html


def test_a_period_without_data_says_so(app: Any) -> None:
    html = client_for(app).get("/?from=2030-01-01&to=2030-01-31").text
    assert "No data in this period." in html
    assert 'id="kpi-conversions"' not in html
    html = client_for(app, lang="pt-BR").get("/?from=2030-01-01&to=2030-01-31").text
    assert "Sem dados neste período." in html


def test_data_up_to_is_the_newest_event_in_local_time(app: Any) -> None:
    store = app.state.service.store
    newest = format.local(run(store, "summary")["last_event"], TZ)
    html = client_for(app, lang="pt-BR").get("/").text
    assert f"Dados até {format.datetime(newest, 'pt-BR')}" in html
    assert " UTC" not in visible(html)


def test_overview_compares_with_catalog_targets(app: Any) -> None:
    store = app.state.service.store
    html = client_for(app).get("/").text
    p = period(html)
    phone = next(
        r
        for r in run(
            store, "kpis", by="touchpoint", date_from=p["from"], date_to=p["to"], timezone=TZ
        )["rows"]
        if r["group"] == "phone"
    )
    met = "✓ met" if phone["tme_seconds"] <= 60 else "✗ missed"
    # The KPI is named for the reader (ASA), the target of 60 s written like every wait.
    pattern = (
        r'Phone call centre</a></td>\s*<td data-key="tme_seconds">ASA</td>\s*'
        r'<td class="num">1 min</td>\s*'
        rf'<td class="num">{re.escape(shown("tme_seconds", phone["tme_seconds"]))}</td>\s*'
        rf"<td[^>]*>{met}</td>"
    )
    assert re.search(pattern, html)
    assert 'data-key="answer_within"' not in html  # a threshold, not a result to meet


def test_filters_change_the_numbers_and_are_kept_in_links(app: Any) -> None:
    store = app.state.service.store
    client = client_for(app)
    html = client.get("/?channel=phone").text
    p = period(html)
    everything = window_kpis(store, p, touchpoint=group_ids(html, "remote-title"))
    phone = window_kpis(store, p, channel="phone", touchpoint=group_ids(html, "remote-title"))
    assert phone["tme_seconds"] != everything["tme_seconds"]
    assert card_value(html, "tme_seconds") == shown("tme_seconds", phone["tme_seconds"])
    assert 'href="/service?channel=phone"' in html
    assert '<option value="phone" selected>' in html


def test_a_bad_filter_is_reported_not_a_crash(app: Any) -> None:
    r = client_for(app).get("/?from=2025-13-01")
    assert r.status_code == 400  # the page, unfiltered, with the reason; the client hears it
    assert "Filter not applied: --from &#39;2025-13-01&#39;" in r.text
    assert client_for(app).get("/data/kpis?from=2025-13-01").status_code == 400


def test_map_shows_strength_shares_and_the_blueprint_lanes(app: Any) -> None:
    store = app.state.service.store
    html = client_for(app).get("/map").text
    rows = run(store, "strength")["rows"]
    site = next(r for r in rows if r["touchpoint"] == "website" and r["phase"] == "before")
    assert re.search(
        rf'href="/touchpoints/website">Website</a>\s*<span class="val">{re.escape(format.percent(site["share_of_cycles"], "en", 0))}</span>',
        html,
    )
    order = [
        html.index(s)
        for s in (
            "Backstage",
            "line of visibility",
            "Touchpoints (both",
            "line of interaction",
            "Customer alone",
        )
    ]
    assert order == sorted(order)
    assert "Warehouse picking" in html and "Comparing options alone" in html


def test_journeys_lists_the_top_variants(app: Any) -> None:
    store = app.state.service.store
    top = run(store, "journeys.variants", top=10)["variants"][0]
    html = client_for(app).get("/journeys").text
    names = {tp.id: tp.label("en") for tp in store.catalog().touchpoints}
    path = " → ".join(names[s] for s in top["path"])
    assert re.search(rf"<td>{re.escape(path)}</td><td class=\"num\">{top['count']:,}</td>", html)


def test_the_flow_shows_one_side_of_the_purchase_at_a_time(app: Any) -> None:
    """Pre-purchase flows by default (after-purchase events open cycles of their own and
    would lead the chart); the after-purchase ones behind a switch; the CSV follows."""
    from touchpoints.server.dashboard.data import SANKEY_DEPTH

    store = app.state.service.store
    client = client_for(app)
    pre = run(store, "journeys.sankey", phase="before,during", depth=SANKEY_DEPTH, timezone=TZ)
    post = run(store, "journeys.sankey", phase="after", depth=SANKEY_DEPTH, timezone=TZ)
    assert pre != post
    assert client.get("/data/sankey").json() == json.loads(json.dumps(pre))
    assert client.get("/data/sankey?flow=post").json() == json.loads(json.dumps(post))
    html = client.get("/journeys").text
    assert 'href="/journeys?flow=post"' in html
    spec = json.loads(re.search(r'id="sankey-spec">(.*?)</script>', html, re.S).group(1))
    assert sum(link["value"] for link in spec["links"]) == sum(li["value"] for li in pre["links"])
    html = client.get("/journeys?flow=post").text
    assert "/data/sankey?flow=post&amp;format=csv" in html or "flow=post" in html


def test_touchpoint_detail_shows_its_own_kpis(app: Any) -> None:
    store = app.state.service.store
    row = run(store, "kpis", touchpoint="phone")["rows"][0]
    client = client_for(app)
    html = client.get("/touchpoints/phone").text
    assert "<h1>Phone call centre</h1>" in html
    assert card_value(html, "events") == shown("events", row["events"])
    assert card_value(html, "tme_seconds") == shown("tme_seconds", row["tme_seconds"])
    assert "target 1 min" in html  # the catalog's 60 s, written like every wait
    assert client.get("/touchpoints/nowhere").status_code == 404


def test_a_static_touchpoint_shows_no_row_of_dashes(app: Any) -> None:
    """Signage has no queue and no ratings: no service cards of "—", a note saying why,
    and its purchases named as those made there (its credit is under attribution)."""
    html = client_for(app).get("/touchpoints/signage").text
    assert 'id="kpi-tme_seconds"' not in html and 'id="kpi-csat"' not in html
    assert "No queue, ratings or surveys at this touchpoint" in html
    assert "Purchases made here" in html
    phone = client_for(app).get("/touchpoints/phone").text
    assert 'id="kpi-tme_seconds"' in phone and "No queue, ratings" not in phone


def test_service_page_by_channel(app: Any) -> None:
    store = app.state.service.store
    rows = [r for r in run(store, "kpis", by="channel", timezone=TZ)["rows"] if r["offered"]]
    html = client_for(app).get("/service").text
    pt = client_for(app, lang="pt-BR").get("/service").text
    assert '<th scope="row" data-code="store">loja</th>' in pt  # codes in the reader's words
    for r in rows:
        # Each cell links to the events it counts (`<a class="drill" href="/events?...">`).
        link = r'(?:<a class="drill" href="[^"]*">)?'
        name = messages.t("en", f"pages.channel_{r['group']}")
        assert re.search(
            rf'<th scope="row" data-code="{r["group"]}">{name}</th><td class="num">{link}{shown("offered", r["offered"])}(?:</a>)?</td>'
            rf'<td class="num">{link}{re.escape(shown("tme_seconds", r["tme_seconds"]))}(?:</a>)?</td>',
            html,
        )


def test_feedback_weeks_match_kpis_by_week(app: Any) -> None:
    store = app.state.service.store
    week = next(w for w in run(store, "kpis", by="week")["rows"] if w["nps"] is not None)
    html = client_for(app).get("/feedback").text
    nps, day = format.number(week["nps"], "en", 1), format.date(week["group"], "en")
    assert f'<td>{day}</td><td class="num">{nps}</td>' in html


# -- language --------------------------------------------------------------------------------
def test_language_toggle_changes_labels_and_is_remembered(app: Any) -> None:
    client = client_for(app, lang="en")
    session = client.cookies.get("tp_session")
    html = client.get("/service").text
    assert ">AHT<" in html and ">ASA<" in html and ">TMA<" not in html
    r = client.get("/lang/pt-BR?next=/service%3Fchannel%3Dphone")
    assert r.status_code == 303 and r.headers["location"] == "/service?channel=phone"
    assert r.cookies.get("tp_lang") == "pt-BR"
    client.cookies.clear()
    client.cookies.set("tp_session", session)
    client.cookies.set("tp_lang", "pt-BR")
    html = client.get("/service").text
    assert '<html lang="pt-BR">' in html
    assert ">TMA<" in html and ">TME<" in html and ">AHT<" not in html
    assert "Atendimento" in html


def test_language_defaults_from_accept_language(app: Any) -> None:
    session = client_for(app).cookies.get("tp_session")
    client = FormClient(app, follow_redirects=False)
    client.cookies.set("tp_session", session)
    r = client.get("/", headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"})
    assert "Visão geral" in r.text
    assert messages.from_accept_language("en-US,pt;q=0.3") == "en"
    assert messages.from_accept_language("de-DE, pt-PT;q=0.8") == "pt-BR"
    assert messages.from_accept_language(None) == "en"
    # Neither a choice nor a browser language we have: the company's (`locale`).
    assert messages.from_accept_language(None, "pt-BR") == "pt-BR"
    assert messages.from_accept_language("fr-FR, de;q=0.5", "pt-BR") == "pt-BR"
    assert messages.from_accept_language("fr-FR, en;q=0.5", "pt-BR") == "en"
    assert app.state.service.settings.locale == "pt-BR"
    assert "Visão geral" in client.get("/").text  # no Accept-Language at all
    assert "Visão geral" in client.get("/", headers={"Accept-Language": "fr-FR"}).text
    assert ">Overview<" in client.get("/", headers={"Accept-Language": "en-US"}).text


def test_the_company_locale_is_the_default_language(tmp_path: Path) -> None:
    application = create_app(
        settings=Settings(_env_file=None, secret_key=SECRET, locale="en"),
        target=str(tmp_path / "en.duckdb"),
    )
    client = FormClient(application, follow_redirects=False)
    login = client.get("/login")
    assert '<html lang="en">' in login.text
    pt = client.get("/login", headers={"Accept-Language": "pt-BR"})
    assert '<html lang="pt-BR">' in pt.text
    client.cookies.set("tp_lang", "pt-BR")
    assert '<html lang="pt-BR">' in client.get("/login").text
    application.state.service.close()


def visible(html: str) -> str:
    """The text a reader sees: no tags, no embedded chart specs, whitespace collapsed."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


PT_ONLY = re.compile(r"\d,\d%|R\$\s\d|\d\.\d{3},\d|\b(?:TMA|TME)\b")
EN_ONLY = re.compile(r"\d\.\d%|R\$\d|\d,\d{3}\.\d|\b(?:AHT|ASA)\b|\bsec\b")


def test_a_brazilian_reads_brazilian_numbers_on_every_page(app: Any) -> None:
    """pt-BR pages write 26,3%, R$ 1.234,56, 05/01/2026 and TMA/TME, never the English
    26.3% / R$1,234.56 / AHT, and one duration style ('2 min 5 s')."""
    store = app.state.service.store
    client = client_for(app, lang="pt-BR")
    html = client.get("/").text
    row = window_kpis(store, period(html))
    queue = window_kpis(store, period(html), touchpoint=group_ids(html, "remote-title"))
    # The card rounds to whole reais so it fits; the monthly table shows the cents.
    # card_value collapses whitespace; the page keeps "R$" and the amount together (NBSP).
    revenue = format.money(row["revenue"], "pt-BR", digits=0)
    assert card_value(html, "revenue") == revenue.replace("\xa0", " ")
    assert re.fullmatch(r"R\$ \d{1,3}(?:\.\d{3})*", card_value(html, "revenue"))
    assert re.search(r">R\$\xa0\d{1,3}(?:\.\d{3})*,\d{2}</td>", html)
    assert card_value(html, "abandonment_rate") == format.percent(
        queue["abandonment_rate"], "pt-BR"
    )
    assert re.fullmatch(r"\d+,\d%", card_value(html, "abandonment_rate"))
    assert card_value(html, "tme_seconds") == format.duration(queue["tme_seconds"], "pt-BR")
    assert re.search(r"\bp\.p\. vs período anterior", visible(html))  # shares move in points
    html = client.get("/?from=2025-06-01&to=2025-06-30").text
    assert "junho de 2025 comparado com maio de 2025" in html
    for path in PAGES:
        text = visible(client.get(path).text)
        assert not EN_ONLY.search(text), (path, EN_ONLY.search(text))
    service = visible(client.get("/service").text)
    assert "seg." in service and re.search(r"\d+ min \d+ s\b", service)
    assert "out. de 2025" in visible(client.get("/").text)  # months as a Brazilian names them


# Codes and English words a Brazilian reader reported on pt-BR pages: none may show.
ENGLISH_WORDS = re.compile(
    r"\b(?:ads|messaging|outdoor|delivery|documents|backstage|app_driver|fleet|retail|"
    r"unplanned|customer service|logistics|sales|"
    r"tme_seconds|tma_seconds|service_level|abandonment_rate|answer_within|csat_margin|"
    r"before|during|after|static|interactive|human|company|customer|both|"
    r"first|last|position|time-decay|markov|shapley|Feedback|"
    r"any|all|met|missed|target|actual|status quo|Download|Chart|Data up to|UTC|NaN)\b"
)


def test_a_brazilian_finds_no_english_word_on_any_page(app: Any) -> None:
    client = client_for(app, lang="pt-BR")
    store = app.state.service.store
    abandoned = run(store, "events", metric="abandoned", limit=1)["rows"][0]
    agent = run(store, "agents")["rows"][0]["agent"]
    # The pages of the later features too: the drill-down (Events, a customer's journey,
    # the team), the attendant, the change log and the catalog's form.
    pages = (
        *PAGES,
        "/attribution?compare=1",
        "/live",
        "/events",
        "/events?metric=abandoned",
        "/events?metric=dissatisfied",
        f"/customers/{abandoned['customer_id']}",
        "/customers",
        "/team",
        f"/team?who={agent}",
        "/attendant",
        "/changes",
        "/catalog/touchpoints/new",
        "/catalog/touchpoints/phone",
    )
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.text
        # Customers' own words (comments) are data, quoted as written (<blockquote>, <q>);
        # identifiers (<code>) and the catalog's YAML source are what an admin types.
        text = visible(re.sub(r"<(blockquote|code|q|textarea)\b.*?</\1>", " ", html, flags=re.S))
        options = " ".join(re.findall(r"<option[^>]*>([^<]*)</option>", html))
        found = ENGLISH_WORDS.findall(text + " " + options)
        assert not found, (path, sorted(set(found)))


def test_an_english_reader_reads_english_numbers_on_every_page(app: Any) -> None:
    client = client_for(app, lang="en")
    html = client.get("/").text
    assert re.fullmatch(r"R\$\d{1,3}(?:,\d{3})*", card_value(html, "revenue"))
    assert re.search(r">R\$\d{1,3}(?:,\d{3})*\.\d{2}</td>", html)
    assert re.fullmatch(r"\d+\.\d%", card_value(html, "abandonment_rate"))
    for path in PAGES:
        text = visible(client.get(path).text)
        assert not PT_ONLY.search(text), (path, PT_ONLY.search(text))
    service = visible(client.get("/service").text)
    assert "Mon" in service and re.search(r"\d+ min \d+ sec\b", service)


def test_chart_labels_are_written_for_the_reader(app: Any) -> None:
    """Bars and tooltips show the server's formatted values, not the browser's."""
    html = client_for(app, lang="pt-BR").get("/service").text
    m = re.search(
        r'<script type="application/json" id="by-channel-spec">(.*?)</script>', html, re.S
    )
    spec = json.loads(m.group(1))
    tme = spec["series"][0]
    assert tme["name"] == "TME"
    assert tme["labels"] == [format.duration(v, "pt-BR") for v in tme["values"]]


# -- CSV and hosts ---------------------------------------------------------------------------
def test_csv_download_has_the_rows_of_the_analysis(app: Any) -> None:
    store = app.state.service.store
    r = client_for(app).get("/data/kpis?by=channel&format=csv&kind=human")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    got = list(csv.DictReader(io.StringIO(r.text)))
    want = run(store, "kpis", by="channel", kind="human")["rows"]
    assert [(g["group"], int(g["events"])) for g in got] == [
        (w["group"], w["events"]) for w in want
    ]
    as_json = client_for(app).get("/data/kpis?by=channel&kind=human").json()
    assert as_json == json.loads(json.dumps({"rows": want}))


def test_a_brazilian_csv_opens_in_a_brazilian_excel(app: Any) -> None:
    """pt-BR: UTF-8 with a byte order mark, ';' between columns, decimal commas at full
    precision, Portuguese headers and phase names; the same numbers as the JSON."""
    store = app.state.service.store
    r = client_for(app, lang="pt-BR").get("/data/kpis?by=phase&format=csv")
    assert r.status_code == 200
    assert r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    header = rows[0]
    assert "Nível de serviço" in header and "service_level" not in header
    want = run(store, "kpis", by="phase", timezone=TZ)["rows"]
    level = header.index("Nível de serviço")
    for got, w in zip(rows[1:], want, strict=True):
        assert got[0] == messages.t("pt-BR", f"common.{w['group']}")
        assert float(got[level].replace(",", ".")) == w["service_level"]
        assert "." not in got[level]
    english = client_for(app).get("/data/kpis?by=phase&format=csv").content
    assert not english.startswith(b"\xef\xbb\xbf") and english.startswith(b"group,")


def test_every_chart_links_to_its_csv(app: Any) -> None:
    client = client_for(app)
    for path in PAGES:
        html = client.get(path).text
        for href in re.findall(r'class="csv" href="([^"]+)"', html):
            r = client.get(href.replace("&amp;", "&"))
            assert r.status_code == 200 and r.text.count("\n") >= 1, (path, href)


def test_no_page_loads_anything_from_another_host(app: Any) -> None:
    client = client_for(app)
    external = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
    for path in (*PAGES, "/login"):
        assert not external.search(client.get(path).text), path
    for name in ("charts.js", "app.css"):
        text = (STATIC_DIR / name).read_text()
        assert not re.search(r"(?:url\(|import\s|fetch\()\s*['\"]?(?:https?:)?//", text), name
    r = client.get("/static/vendor/echarts.min.js")
    assert r.status_code == 200 and "echarts" in r.text[:2000].lower()
    assert (STATIC_DIR / "vendor" / "echarts.LICENSE").exists()


# -- catalog and cache -----------------------------------------------------------------------
def test_admin_edits_the_catalog_and_bad_yaml_is_explained(
    tmp_path: Path, events_file: Path
) -> None:
    application = make_app(tmp_path / "cat.duckdb", events_file)
    try:
        client = client_for(application)
        yaml_text = application.state.service.store.catalog().to_yaml()
        r = client.post(
            "/catalog", data={"yaml_text": yaml_text.replace("kind: human", "kind: robot", 1)}
        )
        assert r.status_code == 400
        assert 'class="message error" role="alert"' in r.text and "robot" in r.text
        renamed = yaml_text.replace("Phone call centre", "Call centre 24h")
        before = client.get("/touchpoints/phone").text
        assert "Phone call centre" in before
        r = client.post("/catalog", data={"yaml_text": renamed})
        assert r.status_code == 200 and "Catalog saved." in r.text
        assert "<h1>Call centre 24h</h1>" in client.get("/touchpoints/phone").text
    finally:
        application.state.service.close()


def test_cache_serves_repeats_and_is_invalidated_by_an_ingest(
    tmp_path: Path, events_file: Path
) -> None:
    application = make_app(tmp_path / "cache.duckdb", events_file)
    service = application.state.service
    try:
        client = client_for(application)
        first = card_value(client.get("/").text, "conversions")
        hits = cache_for(service).hits
        assert card_value(client.get("/").text, "conversions") == first
        assert cache_for(service).hits > hits
        result = service.ingest(
            [
                {
                    "customer_id": "new-buyer",
                    "touchpoint": "store",
                    "ts": "2025-12-30T10:00:00Z",
                    "action": "purchase",
                    "value": 10,
                },
                {
                    "customer_id": "new-buyer-2",
                    "touchpoint": "website",
                    "ts": "2025-12-30T11:00:00Z",
                    "action": "purchase",
                    "value": 20,
                },
            ]
        )
        assert [i["status"] for i in result.items] == ["stored", "stored"]
        html = client.get("/").text
        want = window_kpis(service.store, period(html))["conversions"]
        assert card_value(html, "conversions") == shown("conversions", want)
        assert card_value(html, "conversions") == shown("conversions", int(first) + 2)
    finally:
        service.close()


class FakeService:
    """Just enough of Service for the cache: `read`, and an ingest_log that grows."""

    def __init__(self) -> None:
        self.ingests = 0
        self.calls = 0

    def count(self, table: str) -> int:
        assert table == "ingest_log"
        return self.ingests

    def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(self, *args, **kwargs)


def counting(store: FakeService, x: int, *, times: int = 1) -> dict[str, int]:
    store.calls += 1
    return {"x": x * times, "ingests": store.ingests}


def test_cache_keys_on_arguments_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    service = FakeService()
    assert cache.cached(service, counting, 2, times=3) == {"x": 6, "ingests": 0}
    assert cache.cached(service, counting, 2, times=3) == {"x": 6, "ingests": 0}
    assert service.calls == 1
    cache.cached(service, counting, 2, times=4)
    assert service.calls == 2
    service.ingests += 1
    assert cache.cached(service, counting, 2, times=3) == {"x": 6, "ingests": 1}
    assert service.calls == 3
    cache.bump(service)
    cache.cached(service, counting, 2, times=3)
    assert service.calls == 4


def test_a_page_reads_the_store_version_once_and_still_sees_its_own_writes() -> None:
    """`page_entry`: a page's answers after the first are judged by the store's version as
    the page first read it (no query per answer); a catalog edit (`bump`) or an ingestion
    by this process (`service.version`) in between still makes the next answer fresh."""

    class Counting(FakeService):
        version = 0
        reads = 0

        def count(self, table: str) -> int:
            self.reads += 1
            return super().count(table)

    service = Counting()
    entry, current, seen = cache.page_entry(service, None, counting, (1,), {})
    assert current and service.reads == 1 and service.calls == 1
    cache.page_entry(service, seen, counting, (2,), {})
    assert service.reads == 1 and service.calls == 2  # not read again
    service.ingests += 1  # another process: seen by the next page, not this one
    again, _, _ = cache.page_entry(service, seen, counting, (1,), {})
    assert again.result == {"x": 1, "ingests": 0} and service.calls == 2
    service.version += 1  # this process ingested: seen at once
    mine, _, _ = cache.page_entry(service, seen, counting, (1,), {})
    assert mine.result == {"x": 1, "ingests": 1} and service.calls == 3
    cache.bump(service)
    cache.page_entry(service, seen, counting, (1,), {})
    assert service.calls == 4 and service.reads == 1
    _, _, newer = cache.page_entry(service, None, counting, (1,), {})  # the next page
    assert newer == (1, 0) and service.reads == 2


def test_slow_results_are_reused_for_a_while_after_new_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = FakeService()
    monkeypatch.setattr(cache, "SLOW_SECONDS", 0.0)
    cache.cached(service, counting, 1)
    service.ingests += 1
    assert cache.cached(service, counting, 1) == {"x": 1, "ingests": 0}
    monkeypatch.setattr(cache, "STALE_SECONDS", 0.0)
    assert cache.cached(service, counting, 1) == {"x": 1, "ingests": 1}
    assert service.calls == 2


def test_with_a_warmer_slow_results_stay_served_until_it_refreshes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 10M events a warm-up round takes minutes: an entry older than STALE_SECONDS is
    still served (and the warmer woken) rather than recomputed in the visitor's request."""

    class StubWarmer:
        woken = 0

        def wake(self) -> None:
            self.woken += 1

    service = FakeService()
    monkeypatch.setattr(cache, "WARMED_SLOW_SECONDS", 0.0)
    monkeypatch.setattr(cache, "STALE_SECONDS", 0.0)
    warmer = StubWarmer()
    cache.cache_for(service).warmer = warmer
    cache.cached(service, counting, 1)
    service.ingests += 1
    assert cache.cached(service, counting, 1) == {"x": 1, "ingests": 0}
    assert service.calls == 1 and warmer.woken == 1


def test_a_page_showing_results_older_than_the_data_says_since_when(
    tmp_path: Path, events_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the warmer recomputes, a page serves its slow results as they were: it says
    so, with the moment those results read the data, in the company's time; `data-as-of`
    carries the same moment (epoch seconds) for the freshness benchmark."""

    class StubWarmer:
        def wake(self) -> None:
            pass

        def keep(self, job: Any) -> None:
            pass

    application = make_app(tmp_path / "asof.duckdb", events_file)
    service = application.state.service
    monkeypatch.setattr(cache, "WARMED_SLOW_SECONDS", 0.0)
    try:
        client = client_for(application, lang="pt-BR")
        cache_for(service).warmer = StubWarmer()
        before = time.time()
        html = client.get("/").text
        as_of = float(re.search(r'data-as-of="([0-9.]+)"', html).group(1))
        assert before - 1 <= as_of <= time.time()
        assert "Atualizando" not in html
        result = service.ingest(
            [{"customer_id": "late", "touchpoint": "store", "ts": "2025-12-30T10:00:00Z"}]
        )
        assert [i["status"] for i in result.items] == ["stored"]
        html = client.get("/").text
        assert float(re.search(r'data-as-of="([0-9.]+)"', html).group(1)) == as_of
        note = re.search(r'<p class="as-of updating" role="status">([^<]+)</p>', html)
        assert note, "no updating note"
        moment = format.local(datetime.fromtimestamp(as_of, UTC).replace(tzinfo=None), TZ)
        assert note.group(1) == (
            "Atualizando: alguns números desta página ainda não incluem os dados recebidos depois de "
            f"{moment:%d/%m/%Y %H:%M:%S}"
        )
    finally:
        cache_for(service).warmer = None
        service.close()


# -- CLI -------------------------------------------------------------------------------------
def refused(result: Any) -> str:
    """The UsageError a command raised (cli.main turns it into one line and exit 2)."""
    assert isinstance(result.exception, UsageError), result.output
    return str(result.exception)


def test_users_cli_creates_lists_and_deletes(tmp_path: Path) -> None:
    from touchpoints.cli import app as cli

    db = str(tmp_path / "users.duckdb")
    runner = CliRunner()
    r = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            "Maria",
            "--password",
            "s3nha-forte",
            "--role",
            "supervisor",
            "--db",
            db,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "created user maria (supervisor)" in r.output
    r = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            "maria",
            "--password",
            "s3nha-forte",
            "--role",
            "analyst",
            "--db",
            db,
        ],
    )
    assert refused(r) == "user 'maria' already exists"
    r = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            "joe",
            "--password",
            "s3nha-forte",
            "--role",
            "boss",
            "--db",
            db,
        ],
    )
    assert refused(r) == "--role 'boss': use admin, analyst or supervisor"
    r = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--username",
            "joe",
            "--password",
            "short",
            "--role",
            "analyst",
            "--db",
            db,
        ],
    )
    assert refused(r) == "--password: use at least 8 characters"
    r = runner.invoke(cli, ["users", "list", "--json", "--db", db])
    listed = json.loads(r.output)["users"]
    assert [(u["username"], u["role"]) for u in listed] == [("maria", "supervisor")]
    assert "s3nha" not in r.output
    import touchpoints as tp

    with tp.open(db) as store:
        assert users.authenticate(store, "maria", "s3nha-forte") == users.User(
            "maria", "supervisor"
        )
        assert users.authenticate(store, "maria", "wrong-pass") is None
    r = runner.invoke(cli, ["users", "delete", "--username", "maria", "--db", db])
    assert r.exit_code == 0
    r = runner.invoke(cli, ["users", "delete", "--username", "maria", "--db", db])
    assert refused(r) == "no user 'maria'"


def test_attribution_opens_on_markov_with_revenue_and_compares_on_demand(app: Any) -> None:
    """One model by default (exact Markov: conversions, share and R$ per touchpoint); every
    model side by side only behind the comparison switch."""
    store = app.state.service.store
    markov = {
        r["touchpoint"]: r for r in run(store, "attribution", model="markov", timezone=TZ)["rows"]
    }
    html = client_for(app).get("/attribution").text
    header = re.search(r'<table id="attribution">.*?<thead><tr>(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'<th scope="col">([^<]+)</th>', header) == [
        "Touchpoint", "Conversions", "Share", "Revenue"
    ]  # fmt: skip
    top = max(markov.values(), key=lambda r: r["conversions"])
    row = re.search(rf'<tr data-touchpoint="{top["touchpoint"]}">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert cells == [
        format.number(top["conversions"], "en", 1),
        format.percent(top["share"], "en"),
        format.money(top["value"], "en", digits=0),
    ]
    assert cells[2].startswith("R$")
    assert 'href="/attribution?compare=1"' in html
    linear = run(store, "attribution", model="linear", timezone=TZ)["rows"][0]
    html = client_for(app).get("/attribution?compare=1").text
    header = re.search(r'<table id="attribution">.*?<thead><tr>(.*?)</tr>', html, re.S).group(1)
    models = re.findall(r'<th scope="col">([^<]+)</th>', header)[1:]
    assert models == ["first", "last", "linear", "position", "time-decay", "markov", "shapley"]
    row = re.search(
        rf'href="/touchpoints/{linear["touchpoint"]}">[^<]+</a></th>(.*?)</tr>',
        html,
        re.S,
    ).group(1)
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert cells[2].startswith(format.number(linear["conversions"], "en", 1))


def test_insights_is_one_answer_for_both_languages(app: Any) -> None:
    """Each finding carries its sentence in en and pt-BR, so an English and a Portuguese
    reader share one computed answer (and the warmer computes it once per round)."""
    from touchpoints.server.dashboard import default_jobs

    service = app.state.service
    entries = cache.cache_for(service).entries
    for lang in ("en", "pt-BR"):
        assert client_for(app, lang=lang).get("/attribution").status_code == 200
    kept = [k for k in list(entries) if k[0] == "touchpoints.analytics.insights"]
    assert len(kept) == 1, kept
    jobs = default_jobs(lambda fn, *a, **kw: service.read(fn, *a, **kw), timezone=TZ)
    insights = [j for j in jobs if getattr(j[0], "__module__", "") == kept[0][0]]
    assert len(insights) == 1
    assert cache._key(*insights[0]) == kept[0]


def test_recommendations_list_problems_apart_merged_across_phases(app: Any) -> None:
    """Problems before strengths, each touchpoint/metric once whatever the phases, the
    largest first, with the catalog's owner, R$ at stake and an action."""
    from markupsafe import escape

    store = app.state.service.store
    findings = run(store, "insights", lang="en", timezone=TZ)["findings"]
    weak = [f for f in findings if f["direction"] == "weakness"]
    html = client_for(app).get("/attribution").text
    problems = re.search(r'<ol class="recs problems">(.*?)</ol>', html, re.S)
    assert problems, "no problems listed"
    items = re.findall(r'data-touchpoint="([^"]+)" data-metric="([^"]+)"', html)
    assert len(items) == len(set(items))  # merged: one entry per touchpoint and metric
    assert html.index('id="problems-title"') < html.index('id="strengths-title"')
    first = weak[0]
    assert str(escape(first["text"]["en"].split(";")[0])) in problems.group(1).split("</li>")[0]
    owner = store.catalog().get(first["touchpoint"]).owner
    assert f"<dd>{owner}</dd>" in problems.group(1).split("</li>")[0]
    assert "Suggested action" in problems.group(1) and "R$" in problems.group(1)
    assert len(re.findall(r'<li class="rec"', problems.group(1))) <= 5


def test_feedback_shows_survey_first_heard_answers_when_there_are_some(
    tmp_path: Path, events_file: Path
) -> None:
    """Without survey answers the chart is each customer's first touchpoint; once customers
    answer "how did you first hear about us?", their answers are shown, counted per customer."""
    application = make_app(tmp_path / "heard.duckdb", events_file)
    service = application.state.service
    try:
        client = client_for(application)
        assert "first touchpoint of each customer" in client.get("/feedback").text
        heard = [
            ("s1", "a", "social"), ("s2", "b", "social"), ("s3", "c", "ads"),
            ("s4", "a", "social"),  # the same customer again: counted once
        ]  # fmt: skip
        service.ingest(
            [
                {
                    "event_id": f"survey:{token}:first-heard",
                    "customer_id": customer,
                    "touchpoint": tp,
                    "ts": f"2025-12-0{i + 1}T10:00:00Z",
                    "action": "feedback",
                    "phase": "before",
                }
                for i, (token, customer, tp) in enumerate(heard)
            ]
        )
        data = client.get("/data/first_touch").json()
        assert data["source"] == "survey"
        assert [(r["touchpoint"], r["customers"]) for r in data["rows"]] == [
            ("social", 2),
            ("ads", 1),
        ]
        assert "How did you first hear about us?" in client.get("/feedback").text
    finally:
        service.close()


# -- pages run the registry's analyses -------------------------------------------------------
def test_every_data_set_is_its_analysis_over_the_page_scope(app: Any) -> None:
    """`/data/{name}` answers the registry's analysis with the page's options and filters,
    as JSON, and its main table as the CSV every interface writes (analytics.results)."""
    from touchpoints.analytics.registry import get
    from touchpoints.analytics.results import table_rows, to_csv
    from touchpoints.server.dashboard.data import ANALYSES

    store = app.state.service.store
    client = client_for(app)
    for name, (analysis, options) in ANALYSES.items():
        # The flow is the pre-purchase side unless ?flow=post (see the flow test).
        side = {"phase": "before,during"} if name == "sankey" else {}
        want = run(store, analysis, channel="phone", timezone=TZ, **side, **options)
        r = client.get(f"/data/{name}?channel=phone")
        assert r.status_code == 200, (name, r.text[:300])
        assert r.json() == json.loads(json.dumps(want)), name
        csv_text = client.get(f"/data/{name}?channel=phone&format=csv").text
        assert csv_text == to_csv(table_rows(want, get(analysis).table)), name
    assert client.get("/data/kpis?by=colour").status_code == 400
    assert "--by 'colour'" in client.get("/data/kpis?by=colour").json()["detail"]
    assert client.get("/data/nothing").status_code == 404


def test_a_filter_an_analysis_does_not_take_is_not_applied_to_it() -> None:
    """Staffing has no segment option on the CLI or the API: a page's segment filter does not
    reach it either, so the page shows what `touchpoints staffing` prints."""
    from touchpoints.analytics.registry import get
    from touchpoints.analytics.scope import Scope
    from touchpoints.server.pages import narrow

    scope = Scope.build("2025-06-01", "2025-06-30", channel="phone", segment="fleet", phase="after")
    staffing = narrow(scope, get("staffing"))
    assert staffing.channels == ("phone",) and staffing.date_from == scope.date_from
    assert staffing.segments == () and staffing.phases == ()
    assert narrow(scope, get("kpis")) == scope


def test_every_attribution_model_in_one_table_and_its_csv(app: Any) -> None:
    store = app.state.service.store
    data = client_for(app).get("/data/attribution").json()
    assert data["models"] == [
        "first",
        "last",
        "linear",
        "position",
        "time-decay",
        "markov",
        "shapley",
    ]
    markov = [r for r in data["rows"] if r["model"] == "markov"]
    want = run(store, "attribution", model="markov")["rows"]
    assert markov == json.loads(json.dumps([{"model": "markov", **r} for r in want]))
    rows = list(
        csv.DictReader(io.StringIO(client_for(app).get("/data/attribution?format=csv").text))
    )
    assert len(rows) == len(data["rows"]) and set(rows[0]) >= {"model", "touchpoint", "share"}


def test_the_filter_bar_offers_the_segments_of_the_summary_analysis(app: Any) -> None:
    store = app.state.service.store
    segments = sorted(s["segment"] for s in run(store, "summary")["segments"])
    html = client_for(app).get("/").text
    bar = re.search(r'<select name="segment">(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'<option value="([^"]+)"', bar) == segments


def test_pages_offer_only_the_filters_their_numbers_follow(app: Any) -> None:
    client = client_for(app)
    live = client.get("/live").text
    assert 'name="channel"' in live and 'name="segment"' not in live and 'name="from"' not in live
    assert 'class="filters"' not in client.get("/catalog").text
    assert all(f'name="{k}"' in client.get("/").text for k in ("from", "to", "phase", "segment"))


def test_a_change_too_small_to_show_is_no_change() -> None:
    from touchpoints.server.dashboard.overview import trend

    assert trend("tme_seconds", 107.02, 107.0, "pt-BR") == {"delta": 0, "dir": "flat"}
    assert trend("abandonment_rate", 0.06001, 0.06, "en")["dir"] == "flat"
    assert trend("tme_seconds", 108.0, 107.0, "en") == {"delta": 1.0, "dir": "up"}
    assert trend("nps", None, 10.0, "en") is None


def test_a_page_whose_question_runs_out_of_memory_says_so_and_keeps_the_frame(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past TOUCHPOINTS_DUCKDB_MEMORY_LIMIT an analysis fails; the reader gets a 503 page in
    their language with the filter bar (a shorter period is their way out) and the limit
    an administrator can raise, and a script the one-line message, never a bare 500."""
    from touchpoints.server.pages import Page

    ran = Page.run

    def short_of_memory(self: Page, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "summary":  # the frame's own numbers still fit
            return ran(self, name, *args, **kwargs)
        raise OutOfMemoryError("3GB", "failed to allocate data of size 16.0 MiB")

    monkeypatch.setattr(Page, "run", short_of_memory)
    client = client_for(app, lang="pt-BR")
    page = client.get("/map", headers={"Accept": "text/html"})
    assert page.status_code == 503
    text = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert "Memória insuficiente" in text
    assert (
        "Os números desta página precisaram de mais memória do que o banco de dados pode "
        "usar agora. As outras páginas continuam funcionando." in text
    )
    assert (
        "Tente um período mais curto nos filtros ou tente de novo em alguns minutos. Um "
        "administrador pode aumentar o limite (TOUCHPOINTS_DUCKDB_MEMORY_LIMIT, hoje 3GB)." in text
    )
    assert 'name="from"' in page.text and 'action="/logout"' in page.text
    answer = client.get("/data/strength")
    assert answer.status_code == 503
    assert answer.json() == {
        "detail": "DuckDB needed more memory than TOUCHPOINTS_DUCKDB_MEMORY_LIMIT=3GB allows "
        "(failed to allocate data of size 16.0 MiB): raise the limit, free memory on the "
        "machine, or ask for less at once (a shorter period, a smaller file)"
    }


def test_a_brazilian_reads_roles_and_models_in_portuguese(app: Any) -> None:
    client = client_for(app, "ana", lang="pt-BR")
    assert "ana (analista)" in client.get("/").text
    html = client.get("/attribution?compare=1").text
    header = re.search(r'<table id="attribution">.*?<thead><tr>(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'<th scope="col">([^<]+)</th>', header)[1:] == [
        "primeiro toque", "último toque", "linear", "posição", "decaimento no tempo",
        "Markov", "Shapley",
    ]  # fmt: skip
    assert "<td>Decaimento no tempo</td>" in client.get("/touchpoints/phone").text
    assert "sue (supervisor)" in client_for(app, "sue", lang="pt-BR").get("/").text


def test_a_supervisor_gets_no_link_to_a_page_their_role_cannot_open(app: Any) -> None:
    html = client_for(app, "sue").get("/").text
    assert "Phone call centre" in html and 'href="/touchpoints/' not in html


def test_the_nps_band_stays_on_the_nps_scale(app: Any) -> None:
    html = client_for(app).get("/feedback").text
    spec = json.loads(
        re.search(
            r'<script type="application/json" id="nps-trend-spec">(.*?)</script>', html, re.S
        ).group(1)
    )
    assert (spec["min"], spec["max"]) == (-100, 100)
    line = spec["series"][0]
    bounds = [v for v in line["low"] + line["high"] if v is not None]
    assert bounds and all(-100 <= v <= 100 for v in bounds)


def test_small_flow_nodes_are_drawn_without_a_label(app: Any) -> None:
    html = client_for(app).get("/journeys").text
    spec = json.loads(
        re.search(
            r'<script type="application/json" id="sankey-spec">(.*?)</script>', html, re.S
        ).group(1)
    )
    small = [n for n in spec["nodes"] if n["small"]]
    big = [n for n in spec["nodes"] if not n["small"]]
    assert big and max(n["value"] for n in small or [{"value": 0}]) < min(n["value"] for n in big)
    assert {"Purchase", "End"} <= {n["name"] for n in big}


def test_under_a_steady_feed_the_warmer_refreshes_cheap_answers_often_and_every_one_in_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """New data arrive while each slow answer is computed (a live feed): after every slow
    job the round starts over at the new version. The answers take turns by how long they
    have waited per second they cost: a cheap one is redone several times while a costly
    one is redone once, and none is starved by a round that never ends."""
    import threading
    import types

    monkeypatch.setattr(cache, "WARMED_SLOW_SECONDS", 0.05)
    monkeypatch.setattr(cache, "MAX_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(cache, "POLL_SECONDS", 0.01)
    # The warmer's clock moves only while an answer is computed, by exactly its cost: the
    # order of the turns is then the same on a loaded machine (a CI run once measured a
    # 0.06 s sleep as several times that and the cheap answers lost their turns).
    clock = [1_000.0]
    monkeypatch.setattr(
        cache, "time", types.SimpleNamespace(monotonic=lambda: clock[0], time=lambda: clock[0])
    )
    service = FakeService()
    log: list[str] = []
    feeding = threading.Event()

    def slow(store: FakeService, name: str, seconds: float) -> int:
        log.append(name)
        clock[0] += seconds
        time.sleep(0.001)
        if feeding.is_set():
            store.ingests += 1  # the feed lands while this answer is computed
        return store.ingests

    jobs = [(slow, ("costly", 0.4), {}), (slow, ("cheap", 0.06), {}), (slow, ("other", 0.06), {})]
    warmer = cache.Warmer(service, lambda run: jobs).start()
    try:
        deadline = time.monotonic() + 20
        while warmer.rounds == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert warmer.rounds == 1
        assert "\ntouchpoints_cache_warmer_rounds_total 1\n" in cache.metrics_text(service)
        del log[:]
        feeding.set()
        service.ingests += 1
        warmer.wake()
        while log.count("costly") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        feeding.clear()
    finally:
        warmer.stop()
    assert log.count("costly") >= 3, log
    # between two turns of the costly answer, both cheap ones were redone, more than once
    turns = [i for i, name in enumerate(log) if name == "costly"]
    for a, b in zip(turns, turns[1:], strict=False):
        between = log[a + 1 : b]
        assert between.count("cheap") >= 2 and between.count("other") >= 2, log
    assert warmer.rounds == 1  # the feed never let a whole round end


def test_a_costly_answer_does_not_hold_back_the_cheap_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """The warmer's second thread takes the answers that cost LANE_SECONDS or more: while
    one of them is computed, new data still reach the cheap answers."""
    monkeypatch.setattr(cache, "LANE_SECONDS", 0.3)
    monkeypatch.setattr(cache, "WARMED_SLOW_SECONDS", 0.05)
    monkeypatch.setattr(cache, "MAX_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(cache, "POLL_SECONDS", 0.01)
    service = FakeService()
    runs: list[tuple[str, float, float, int]] = []

    def job(store: FakeService, name: str, seconds: float) -> int:
        began, version = time.monotonic(), store.ingests
        time.sleep(seconds)
        runs.append((name, began, time.monotonic(), version))
        return version

    jobs = [(job, ("costly", 1.0), {}), (job, ("cheap", 0.06), {})]
    warmer = cache.Warmer(service, lambda run: jobs).start()
    try:
        deadline = time.monotonic() + 20
        while warmer.rounds == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        del runs[:]
        service.ingests += 1
        warmer.wake()
        time.sleep(0.3)  # the costly answer is being computed at version 1
        service.ingests += 1
        warmer.wake()
        while not any(r[0] == "costly" for r in runs) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        warmer.stop()
    costly = next(r for r in runs if r[0] == "costly")
    assert costly[3] == 1
    # the cheap answer reached version 2 before the costly one was done
    assert any(r[0] == "cheap" and r[3] == 2 and r[2] < costly[2] for r in runs), runs


def test_a_warmer_round_computes_every_answer_the_pages_show(
    tmp_path: Path, events_file: Path
) -> None:
    """The warmer's jobs are every answer the pages without filters show (the Service
    page's staffing and forecast check included): after its round, the first visitor of
    any page computes nothing, whatever the size of the store."""
    from touchpoints.server.dashboard import default_jobs

    application = make_app(tmp_path / "jobs.duckdb", events_file)
    service = application.state.service
    try:
        for fn, args, kwargs in default_jobs(service.read, timezone=TZ):
            cache.cached(service, fn, *args, **kwargs)
        counts = cache.cache_for(service)
        computed = counts.misses
        client = client_for(application)
        touchpoints = [tp.id for tp in service.store.catalog().touchpoints]
        pages = ["/", "/map", "/journeys", "/service", "/feedback", "/attribution", "/catalog"]
        for page in pages + [f"/touchpoints/{tp}" for tp in touchpoints]:
            before = set(counts.entries)
            assert client.get(page).status_code == 200, page
            new = [k[:2] for k in counts.entries if k not in before]
            assert counts.misses == computed, (page, new)
    finally:
        service.close()
