"""The dashboard in a real browser: every page loads and draws its charts, filters and the
language toggle work, numbers match the analytics, and the Live page follows new events."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from conftest import run
from touchpoints.ingest import ingest_files

USER, PASSWORD = "ana.admin", "browser-test-pw"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "bench" / "screenshots"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


pytestmark = pytest.mark.browser


@dataclass
class Site:
    url: str
    key: str  # an API key with the ingest and read scopes
    db: str
    totals: dict[str, Any]  # kpis() over the whole store, before the server started
    messaging: dict[str, Any]  # kpis() with channel=messaging


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from touchpoints.demo import generate
    from touchpoints.server.auth import create_key
    from touchpoints.server.loadgen import ServerProcess
    from touchpoints.server.users import create_user
    from touchpoints.store import open_store

    tmp = tmp_path_factory.mktemp("browser")
    events = tmp / "events.parquet"
    generate(300, 7, events)
    db = str(tmp / "site.duckdb")
    with open_store(db) as store:
        ingest_files(store, [str(events)])
        create_user(store, USER, PASSWORD, "admin")
        key = create_key(store, ["ingest", "read"], "browser-tests")[1]
        totals = run(store, "kpis")["rows"][0]
        messaging = run(store, "kpis", channel="messaging")["rows"][0]
    server = ServerProcess(db, log=tmp / "server.log").start()
    try:
        yield Site(f"http://127.0.0.1:{server.port}", key, db, totals, messaging)
    finally:
        server.stop()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A logged-in page; any request to a host other than loopback fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    foreign: list[str] = []

    def elsewhere(url: str) -> bool:
        return urlsplit(url).hostname not in LOOPBACK and not url.startswith(("data:", "blob:"))

    def refuse(route: Any) -> None:
        foreign.append(route.request.url)
        route.abort()

    context.route(elsewhere, refuse)
    pg = context.new_page()
    pg.goto(f"{site.url}/login")
    pg.fill("input[name=username]", USER)
    pg.fill("input[name=password]", PASSWORD)
    with pg.expect_navigation():
        pg.click("form[action='/login'] button[type=submit]")
    assert "/login" not in pg.url, "login failed"
    yield pg
    context.close()
    assert foreign == [], f"requests to other hosts: {foreign}"


@pytest.fixture
def shot() -> Any:
    """`shot(page, name)`: with TOUCHPOINTS_SCREENSHOTS=1, a full-page PNG under
    bench/screenshots/ (otherwise nothing)."""

    def take(page: Any, name: str) -> None:
        if os.environ.get("TOUCHPOINTS_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take


PAGES = [
    ("/", "overview"),
    ("/map", "map"),
    ("/journeys", "journeys"),
    ("/touchpoints/whatsapp", "touchpoint-whatsapp"),
    ("/service", "service"),
    ("/feedback", "feedback"),
    ("/attribution", "attribution"),
    ("/live", "live"),
    ("/catalog", "catalog"),
]


def charts_drawn(page: Any) -> int:
    """Wait for every chart container to hold a drawn ECharts svg/canvas of non-zero size."""
    containers = page.locator(".chart-canvas")
    count = containers.count()
    for i in range(count):
        drawn = containers.nth(i).locator("svg, canvas").first
        drawn.wait_for(state="attached", timeout=10_000)
        box = drawn.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, f"chart {i} has no size"
    return count


@pytest.mark.parametrize(("path", "name"), PAGES)
def test_every_page_loads_and_draws(page: Any, site: Any, shot: Any, path: str, name: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(site.url + path)
    assert response is not None and response.status == 200
    assert page.locator("main h1").inner_text().strip()
    drawn = charts_drawn(page)
    if path in ("/", "/journeys", "/service", "/feedback", "/live"):
        assert drawn >= 1, f"{path} drew no chart"
    shot(page, name)
    assert errors == [], f"script errors on {path}: {errors}"


# Numbers in the English style (26.3%, R$1,234.56, 5,410,019.5) or its words (AHT/ASA, sec).
EN_ONLY = r"\d\.\d%|R\$\d|\d,\d{3}\.\d|\b(?:AHT|ASA)\b|\bsec\b"


@pytest.mark.parametrize(("path", "name"), PAGES)
def test_every_page_in_portuguese(page: Any, site: Any, shot: Any, path: str, name: str) -> None:
    """The same pages for a Brazilian reader: drawn, and every number in pt-BR style,
    including what the Live page's script writes from the stream."""
    import re

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.context.add_cookies([{"name": "tp_lang", "value": "pt-BR", "url": site.url}])
    page.emulate_media(reduced_motion="reduce")  # charts drawn at once, whole in the shot
    response = page.goto(site.url + path)
    assert response is not None and response.status == 200
    assert page.evaluate("document.documentElement.lang") == "pt-BR"
    charts_drawn(page)
    if path == "/live":
        expect(page.locator("#live [data-key=tme_seconds]")).not_to_have_text("–", timeout=10_000)
        # The company's local clock (São Paulo), not UTC.
        local = datetime.now(ZoneInfo("America/Sao_Paulo")).strftime("%H:")
        assert page.locator("#live-updated").inner_text().startswith(local)
    text = page.locator("main").inner_text()
    assert not re.search(EN_ONLY, text), (path, re.search(EN_ONLY, text))
    shot(page, f"pt-BR-{name}")
    assert errors == [], f"script errors on {path}: {errors}"


def card_value(page: Any, card: str) -> float | None:
    raw = page.locator(f"#{card} .value").get_attribute("data-value")
    return float(raw) if raw else None


def kpis_over(site: Any, **query: str) -> dict[str, Any]:
    """`touchpoints kpis --json` over the given options, as its /v1 route answers it (the
    same declaration, the same object)."""
    request = urllib.request.Request(
        f"{site.url}/v1/kpis?{urlencode(query)}",
        headers={"Authorization": f"Bearer {site.key}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["rows"][0]


def test_every_overview_card_is_kpis_over_its_caption_period(page: Any, site: Any) -> None:
    """Each card of the overview equals `touchpoints kpis` over the local days the
    caption names (the queue cards over their group's touchpoints), and its trend is the
    change from the previous period of the same kind."""
    for path in ("/", "/?from=2025-06-01&to=2025-06-30", "/?channel=messaging"):
        page.goto(site.url + path)
        period = page.locator("#period")
        days = {
            k: period.get_attribute(f"data-{k}") for k in ("from", "to", "prev-from", "prev-to")
        }
        tz = period.get_attribute("data-timezone")
        assert tz == "America/Sao_Paulo"
        caption = page.locator(".period-caption").inner_text()
        filters = {"channel": "messaging"} if "channel" in path else {}
        cur = kpis_over(site, **{"from": days["from"], "to": days["to"], "timezone": tz}, **filters)
        groups = {"": {}}
        for title in ("remote", "onsite"):
            ids = page.locator(f"[aria-labelledby={title}-title]").get_attribute("data-touchpoints")
            groups[title] = {"touchpoint": ids}
        cards = page.locator("#period .kpi")
        assert cards.count() >= 7, path
        for i in range(cards.count()):
            card = cards.nth(i).get_attribute("id")
            key = cards.nth(i).get_attribute("data-key")
            group = (
                "onsite"
                if card.startswith("kpi-onsite-")
                else (
                    "remote"
                    if key in ("tme_seconds", "service_level", "abandonment_rate", "tma_seconds")
                    else ""
                )
            )
            want = (
                kpis_over(
                    site,
                    **{"from": days["from"], "to": days["to"], "timezone": tz},
                    **filters,
                    **groups[group],
                )
                if group
                else cur
            )
            got = card_value(page, card)
            if want[key] is None:
                assert got is None, (path, card)
            else:
                assert got == pytest.approx(want[key], rel=1e-9), (path, card, caption)
        if path == "/":
            assert "Last 28 days of data" in caption
        elif "from" in path:
            assert (days["prev-from"], days["prev-to"]) == ("2025-05-01", "2025-05-31")
            assert caption.startswith("June 2025 vs May 2025")


def test_language_toggle_is_remembered(page: Any, site: Any) -> None:
    page.goto(site.url + "/service")
    with page.expect_navigation():
        page.click("a[hreflang=pt-BR]")
    assert page.evaluate("document.documentElement.lang") == "pt-BR"
    assert page.url.endswith("/service")
    page.goto(site.url + "/live")
    assert page.evaluate("document.documentElement.lang") == "pt-BR"
    assert "Aguardando agora" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.click("a[hreflang=en]")
    assert "Waiting now" in page.locator("main").inner_text()


def post_events(site: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{site.url}/v1/events",
        data=json.dumps(events).encode(),
        headers={"Authorization": f"Bearer {site.key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_live_page_follows_new_events(page: Any, site: Any, shot: Any) -> None:
    page.goto(site.url + "/live")
    waiting = page.locator("#live [data-key=waiting]")
    expect(waiting).not_to_have_text("–", timeout=10_000)  # the first snapshot arrived
    before = int(waiting.inner_text())
    now = datetime.now(UTC).replace(tzinfo=None).isoformat()
    latencies = []
    for i in range(3):
        sent = time.monotonic()
        answer = post_events(
            site,
            [
                {
                    "customer_id": f"browser-{i}",
                    "touchpoint": "whatsapp",
                    "ts": now,
                    "action": "queued",
                }
            ],
        )
        assert answer["stored"] == 1
        expect(waiting).to_have_text(str(before + i + 1), timeout=5_000)
        latencies.append(time.monotonic() - sent)
    print(f"live update latency (POST -> browser): {[round(x, 3) for x in latencies]} s")
    assert max(latencies) < 2.0
    row = page.locator("#live-table tr[data-touchpoint=whatsapp]")
    assert row.locator("td").first.inner_text() == str(before + 3)
    charts_drawn(page)
    shot(page, "live-after-events")


# Texts of numeric cells and KPI values laid out on more than one line ("3 min" / "30 s").
BROKEN_NUMBERS = """() => [...document.querySelectorAll("main td.num, main .kpi .value")]
  .filter((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const tops = [...range.getClientRects()].map((r) => r.top).sort((a, b) => a - b);
    return tops.length > 1 && tops[tops.length - 1] - tops[0] > 12;
  })
  .map((el) => el.textContent.trim())"""


@pytest.mark.parametrize(("path", "name"), PAGES)
def test_on_a_phone_no_number_is_broken_over_two_lines(
    page: Any, site: Any, shot: Any, path: str, name: str
) -> None:
    """A Brazilian manager on a phone (390×844): the page fits the screen's width (wide
    tables and charts scroll inside it) and every number in a table or a card is whole."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.context.add_cookies([{"name": "tp_lang", "value": "pt-BR", "url": site.url}])
    page.emulate_media(reduced_motion="reduce")
    response = page.goto(site.url + path)
    assert response is not None and response.status == 200
    charts_drawn(page)
    if path == "/live":
        expect(page.locator("#live [data-key=tme_seconds]")).not_to_have_text("–", timeout=10_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    assert page.evaluate(BROKEN_NUMBERS) == [], path
    shot(page, f"phone-pt-BR-{name}")


# Every drawn label of the flow chart: its text and the box the browser renders it in.
SANKEY_LABELS = """() => [...document.querySelectorAll("#sankey svg text")]
  .filter((t) => t.textContent.trim())
  .map((t) => { const r = t.getBoundingClientRect();
    return {text: t.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })"""
SANKEY_EDGES = """() => { const r = document.querySelector("#sankey svg").getBoundingClientRect();
  return [r.left, r.right]; }"""


@pytest.mark.parametrize("width", [1440, 390])
@pytest.mark.parametrize("lang", ["pt-BR", "en"])
def test_sankey_labels_never_touch(page: Any, site: Any, shot: Any, width: int, lang: str) -> None:
    """The journey flow's labels, as Chromium renders them, keep at least 1 px from each
    other (step 4's beside the purchase and end columns included), and none runs past the
    chart's edge, before and after the purchase, on a laptop and on a phone."""
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies([{"name": "tp_lang", "value": lang, "url": site.url}])
    page.emulate_media(reduced_motion="reduce")
    for flow in ("", "?flow=post"):
        page.goto(site.url + "/journeys" + flow)
        page.locator("#sankey[data-drawn=true] svg").wait_for(timeout=10_000)
        labels = page.evaluate(SANKEY_LABELS)
        assert len(labels) >= 5, labels  # the chart drew its labels
        assert any(label["text"].startswith("4. ") for label in labels) or flow
        for i, a in enumerate(labels):
            for b in labels[i + 1 :]:
                apart = (
                    a["right"] + 1 <= b["left"]
                    or b["right"] + 1 <= a["left"]
                    or a["bottom"] + 1 <= b["top"]
                    or b["bottom"] + 1 <= a["top"]
                )
                assert apart, (width, lang, flow, a, b)
        left, right = page.evaluate(SANKEY_EDGES)
        assert all(left <= x["left"] and x["right"] <= right for x in labels), (width, flow)
        # A shortened name keeps its count: "2. Estacionamen… (50)".
        assert all(x["text"].endswith(")") for x in labels if x["text"][0].isdigit())
        shot(page, f"sankey-{lang}-{width}{flow.replace('?flow=', '-')}")
