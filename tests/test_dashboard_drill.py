"""The Events page and a customer's page: every number of the dashboard opens the list it
was counted from (same total), the list pages, sorts and downloads whole, and a customer's
journey is drawn with its invisible gaps; an unknown customer is a 404 page."""

from __future__ import annotations

import csv
import hashlib
import html as htmllib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import run
from test_dashboard import client_for, make_app
from touchpoints import demo
from touchpoints.analytics.events import CONTACT_COLUMNS
from touchpoints.analytics.kpis import METRICS
from touchpoints.core import format
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.ingest import ingest_records
from touchpoints.server.dashboard import drill


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("drillpages")
    events = tmp / "events.parquet"
    demo.generate(customers=200, seed=5, out=events)
    application = make_app(tmp / "drill.duckdb", events)
    yield application
    application.state.service.close()


def total_on(html: str) -> int:
    found = re.search(r'id="events-total" data-total="(\d+)"', html)
    assert found, html[:800]
    return int(found.group(1))


def links(html: str) -> list[str]:
    return [htmllib.unescape(h) for h in re.findall(r'class="drill" href="([^"]+)"', html)]


@pytest.mark.parametrize("channel", [None, "messaging"])
def test_every_overview_card_opens_the_list_its_number_counts(
    app: Any, channel: str | None
) -> None:
    """Each card covers the period its caption names (data-from/data-to) and, in the queue
    groups, the group's touchpoints: its link opens the Events page over exactly that, and
    the list's total is what the card's number counts."""
    client = client_for(app, "sue")
    store = app.state.service.store
    timezone = str(app.state.service.settings.timezone)
    html = client.get(f"/?channel={channel}" if channel else "/").text
    period = re.search(r'<div id="period" data-from="([\d-]+)" data-to="([\d-]+)"', html)
    assert period, html[:800]
    first, last = period.groups()
    groups = dict(re.findall(r'aria-labelledby="(\w+)-title" data-touchpoints="([^"]*)"', html))
    assert groups["remote"] and groups["onsite"]
    cards = re.findall(
        r'<article class="card kpi" id="([\w-]+)" data-key="(\w+)">\s*<h3><a class="drill" '
        r'href="([^"]+)">.*?data-value="([^"]*)"',
        html,
        re.S,
    )
    shown = {card_id for card_id, *_ in cards}
    assert {"kpi-conversions", "kpi-abandonment_rate", "kpi-service_level"} <= shown
    # The store is on site: among messaging channels the on-site group has no cards.
    assert ("kpi-onsite-abandonment_rate" in shown) == (channel is None)
    for card_id, key, href, value in cards:
        if key == "retention":  # a month's share, not a count of this period
            continue
        query = parse_qs(urlsplit(htmllib.unescape(href)).query)
        metric = query["metric"][0]
        assert query.get("channel") == ([channel] if channel else None)
        assert (query["from"], query["to"]) == ([first], [last]), card_id
        group = "onsite" if card_id.startswith("kpi-onsite-") else "remote"
        queue = key in ("tme_seconds", "tma_seconds", "service_level", "abandonment_rate")
        # The remote group's cards pass its touchpoints as one comma-separated list.
        assert query.get("touchpoint") == ([groups[group]] if queue else None), card_id
        scope: dict[str, Any] = {
            "channel": [channel] if channel else None,
            "date_from": first,
            "date_to": last,
            "timezone": timezone,
            "touchpoint": groups[group].split(",") if queue else None,
        }
        total = total_on(client.get(htmllib.unescape(href)).text)
        assert total == run(store, "events", metric=metric, **scope)["total"], card_id
        row = run(store, "kpis", **scope)["rows"][0]
        number = float(value) if value else None
        assert number == (pytest.approx(row[key]) if row[key] is not None else None), card_id
        if key in ("conversions", "revenue"):
            assert total == row["conversions"]
        elif key in ("tme_seconds", "tma_seconds"):
            assert total == row["answered"]  # the mean is over the answered contacts
        elif key == "abandonment_rate":
            assert total == row["abandoned"] and number == pytest.approx(total / row["offered"])
        elif key == "service_level":
            assert number == pytest.approx(total / row["offered"])


@pytest.mark.parametrize("metric", METRICS)
def test_events_page_total_is_the_kpi_count_for_every_metric(app: Any, metric: str) -> None:
    store = app.state.service.store
    html = client_for(app, "sue").get(f"/events?metric={metric}&segment=fleet").text
    expected = run(store, "events", metric=metric, segment=["fleet"], limit=50)
    assert total_on(html) == expected["total"]
    shown = re.findall(r"<td><code>([^<]+)</code></td>", html)
    assert shown == [r["event_id"] for r in expected["rows"]]


def test_service_cells_drill_by_channel_and_agent(app: Any) -> None:
    client = client_for(app, "sue")
    store = app.state.service.store
    hrefs = links(client.get("/service").text)
    by_agent = {r["group"]: r for r in run(store, "kpis", by="agent")["rows"]}
    by_channel = {r["group"]: r for r in run(store, "kpis", by="channel")["rows"]}
    agent_links = [h for h in hrefs if "agent=" in h and "metric=answered" in h]
    channel_links = [h for h in hrefs if "channel=" in h and "metric=offered" in h]
    assert agent_links and channel_links
    for href in agent_links[:3]:
        agent = re.search(r"agent=([^&]+)", href).group(1)  # type: ignore[union-attr]
        name = agent.replace("+", " ")
        assert total_on(client.get(href).text) == by_agent[name]["answered"]
    for href in channel_links:
        channel = re.search(r"channel=([^&]+)", href).group(1)  # type: ignore[union-attr]
        assert total_on(client.get(href).text) == by_channel[channel]["offered"]


def test_chart_points_carry_links_to_their_events(app: Any) -> None:
    html = client_for(app, "ada").get("/").text
    spec = re.search(r'id="monthly-spec">(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]
    assert '"links"' in spec and "metric=conversions" in spec and "from=" in spec
    assert drill.month_bounds("2024-02") == {"from": "2024-02-01", "to": "2024-02-29"}


def test_sorting_paging_and_past_the_end(app: Any) -> None:
    client = client_for(app, "sue")
    store = app.state.service.store
    html = client.get("/events?metric=answered&sort=wait_seconds&page=2").text
    expected = run(store, "events", metric="answered", sort="wait_seconds", limit=50, offset=50)
    assert re.findall(r"<td><code>([^<]+)</code></td>", html) == [
        r["event_id"] for r in expected["rows"]
    ]
    waits = [r["wait_seconds"] for r in expected["rows"]]
    assert waits == sorted(waits)
    assert 'aria-sort="ascending"' in html and 'rel="prev"' in html
    total = expected["total"]
    past = client.get("/events?metric=answered&page=999")
    assert past.status_code == 200 and total_on(past.text) == total
    assert (
        f"No events on page 999: the list holds {format.integer(total, 'en')} events." in past.text
    )
    assert '<table id="events"' not in past.text
    bad = client.get("/events?metric=abandons")
    assert bad.status_code == 400 and "metric 'abandons': use one of offered" in bad.text


def test_csv_downloads_hold_the_whole_list(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from touchpoints.analytics import events as events_module

    monkeypatch.setattr(events_module, "EXPORT_CHUNK", 37)  # several chunks, keyset paged
    client = client_for(app, "sue")
    store = app.state.service.store
    r = client.get("/events.csv?metric=offered")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == list(COLUMN_NAMES)
    assert len(rows) == run(store, "events", metric="offered")["total"]
    assert len({row["event_id"] for row in rows}) == len(rows)
    stamps = [row["ts"] for row in rows]
    assert stamps == sorted(stamps, reverse=True)
    contacts = list(
        csv.DictReader(io.StringIO(client.get("/events/contacts.csv?channel=phone").text))
    )
    assert list(contacts[0]) == list(CONTACT_COLUMNS)
    phone = run(store, "kpis", channel=["phone"])["rows"][0]
    assert len(contacts) == phone["offered"]
    within = sum(row["within_target"] == "True" for row in contacts)
    assert within == pytest.approx(phone["service_level"] * phone["offered"])
    assert {row["channel"] for row in contacts} == {"phone"}


JOURNEY = [
    {"event_id": "k1", "customer_id": "zé", "touchpoint": "ads", "ts": "2026-01-01T10:00:00"},
    {"event_id": "k2", "customer_id": "zé", "touchpoint": "whatsapp", "ts": "2026-01-03T09:30:00",
     "agent": "bot", "promise": "made", "data_reused": False, "emotion": -1},
    {"event_id": "k3", "customer_id": "zé", "touchpoint": "store", "ts": "2026-01-03T12:40:00",
     "action": "purchase", "value": 899.9, "promise": "broken", "agent": "Ana"},
    {"event_id": "k4", "customer_id": "zé", "touchpoint": "nps_survey", "ts": "2026-01-04T09:00:00",
     "action": "feedback", "nps": 3, "comment": "demorou demais", "ref_event_id": "k3"},
]  # fmt: skip


def test_customer_page_draws_moments_gaps_and_what_happened(app: Any) -> None:
    store = app.state.service.read(lambda s: s)
    app.state.service.read(ingest_records, JOURNEY, "journey-page")
    journey = run(store, "customer.journey", customer_id="zé")
    client = client_for(app, "sue")
    r = client.get("/customers/z%C3%A9")
    assert r.status_code == 200
    html = r.text
    assert html.count('<svg class="timeline"') == len(journey["cycles"]) == 1
    drawn = [float(s) for s in re.findall(r'class="gap"[^>]*data-seconds="([\d.]+)"', html)]
    assert drawn == [g["seconds"] for g in journey["cycles"][0]["gaps"]] == [171000.0, 11400.0]
    assert format.duration(171000.0, "en") in html  # the invisible time, labelled
    assert re.findall(r'data-event-id="(k\d)"', html) == ["k1", "k2", "k3"]
    assert "promise-link promise-broken" in html  # k3 broke the promise made at k2
    assert "★ NPS 3 · “demorou demais”" in html  # the answer attached to the moment it rates
    assert "↻ had to repeat data" in html and "◆ R$" in html and "☹ -1" in html
    assert "phase-before" in html and "phase-during" in html


def test_unknown_customer_is_a_404_page_and_search_redirects(app: Any) -> None:
    client = client_for(app, "sue", lang="pt-BR")
    r = client.get("/customers/ninguem")
    assert r.status_code == 404
    assert "Cliente não encontrado: ninguem" in r.text and 'name="id"' in r.text
    r = client.get("/customers?id=C000007")
    assert (r.status_code, r.headers["location"]) == (303, "/customers/C000007")
    assert client.get("/customers").status_code == 200


def test_customer_page_finds_a_pseudonymised_customer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from touchpoints.core.settings import get_settings

    monkeypatch.setenv("TOUCHPOINTS_PSEUDONYMIZE_KEY", "k3y")
    get_settings.cache_clear()
    try:
        hidden = "p:" + hashlib.sha256(b"k3y:ana").hexdigest()
        events = tmp_path / "none.parquet"
        demo.generate(customers=5, seed=1, out=events)
        app = make_app(tmp_path / "p.duckdb", events)
        rows = [{**r, "customer_id": hidden} for r in JOURNEY[:3]]
        app.state.service.read(ingest_records, rows, "pseudonymised")
        html = client_for(app, "sue").get("/customers/ana").text
        assert 'data-event-id="k1"' in html and hidden not in html
        app.state.service.close()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_team_page_for_supervisors_in_portuguese(app: Any) -> None:
    client = client_for(app, "sue", lang="pt-BR")
    store = app.state.service.store
    result = run(store, "agents")
    r = client.get("/team")
    assert r.status_code == 200
    html = r.text
    assert "Indicadores por agente" in html and "Constatações para coaching" in html
    shown = re.findall(r'<th scope="row"><a href="/team\?who=[^"]+">([^<]+)</a></th>', html)
    assert [htmllib.unescape(a) for a in shown] == [row["agent"] for row in result["rows"]]
    assert "bot" in shown  # the bot is one member of the team
    first = result["rows"][0]
    href = f"/events?agent={first['agent']}&metric=offered".replace(" ", "+")
    assert href in links(html)
    assert total_on(client.get(href).text) == first["contacts"]
    assert 'href="/team"' in client.get("/").text  # in the navigation


def test_a_touchpoint_page_shows_the_comments_rating_its_contacts(app: Any) -> None:
    store = app.state.service.store
    rated = [c for c in run(store, "feedback.comments")["comments"] if c["ref_event_id"]]
    assert rated, "the demo rates contacts"
    touchpoint = rated[0]["touchpoint"]
    assert touchpoint != "nps_survey"
    html = client_for(app, "ada").get(f"/touchpoints/{touchpoint}").text
    assert "No comments for these filters." not in html
    assert htmllib.escape(rated[0]["comment"], quote=False) in html


def test_a_live_minute_lands_on_a_period_the_events_page_shows(app: Any) -> None:
    """The Live page links a minute with exact UTC times, which a date input cannot show:
    the Events page names that minute in the company's wall time to the second (heading
    note and filter bar), carries the exact values on in the filter form, and counts the
    answered contacts of that very minute."""
    from datetime import datetime, timedelta

    from touchpoints.server.live import minute_links

    store = app.state.service.store
    zone = str(app.state.service.settings.timezone)
    answered = run(store, "events", metric="answered", limit=1)["rows"][0]
    minute = datetime.fromisoformat(answered["ts"].removesuffix("Z")).replace(
        second=0, microsecond=0
    )
    snap = {"now": (minute + timedelta(minutes=1, seconds=5)).isoformat() + "Z",
            "window_minutes": 2, "series": []}  # fmt: skip
    href = minute_links(snap, None)["answered"][-1]
    query = parse_qs(urlsplit(href).query)
    assert query["from"] == [minute.isoformat() + "Z"]
    assert query["to"] == [(minute + timedelta(seconds=59, microseconds=999_999)).isoformat() + "Z"]
    html = client_for(app, "sue").get(href).text
    expected = run(
        store, "events", metric="answered", date_from=query["from"][0], date_to=query["to"][0]
    )
    assert total_on(html) == expected["total"] >= 1
    start = format.datetime(format.local(minute, zone), "en", seconds=True)
    end = format.datetime(format.local(minute + timedelta(seconds=59), zone), "en", seconds=True)
    period = re.search(r'id="period">(.*?)</p>', html, re.S).group(1)  # type: ignore[union-attr]
    assert f"from {start} to {end} ({zone})" in " ".join(period.split())
    for key, value in (("from", query["from"][0]), ("to", query["to"][0])):
        shown_here = re.search(rf'id="exact-{key}">(.*?)</span>', html, re.S).group(1)  # type: ignore[union-attr]
        assert (start if key == "from" else end) in shown_here
        assert f'<input type="hidden" name="{key}" value="{value}">' in shown_here
        assert f'type="date" name="{key}"' not in html
    # A day is still a date input, and the note is only for moments.
    day = client_for(app, "sue").get(f"/events?from={minute.date().isoformat()}").text
    assert f'type="date" name="from" value="{minute.date().isoformat()}"' in day
    assert 'id="period"' not in day and 'id="exact-from"' not in day
