"""The drill-down in a real browser: a KPI card opens the Events page with the KPI's count,
a customer there opens the journey page with its invisible gaps drawn, and the team page
reads in Portuguese; on a laptop (1440 px) and a phone (390 px)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from conftest import free_port, run
from touchpoints.ingest import ingest_files

USER, PASSWORD = "sue.supervisor", "browser-drill-pw"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "bench" / "screenshots"

pytestmark = pytest.mark.browser


@dataclass
class Site:
    url: str
    span: dict[str, str]  # the demo's whole span of local days: from, to
    remote: list[str]  # the touchpoints of the remote queues (not on site)
    totals: dict[str, Any]  # over the span, at the remote queues
    gaps: dict[str, int]  # customer id -> invisible gaps in their journey


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from touchpoints.core import format
    from touchpoints.core.settings import Settings
    from touchpoints.demo import generate
    from touchpoints.server.loadgen import ServerProcess
    from touchpoints.server.users import create_user
    from touchpoints.store import open_store

    tmp = tmp_path_factory.mktemp("browser-drill")
    events = tmp / "events.parquet"
    generate(300, 7, events)
    db = str(tmp / "site.duckdb")
    with open_store(db) as store:
        ingest_files(store, [str(events)])
        create_user(store, USER, PASSWORD, "supervisor")
        # The overview over the demo's whole year: its remote-queue cards count the contacts
        # of every touchpoint whose channel is not on site, between its first and last
        # local day.
        settings = Settings()
        tz = settings.timezone
        summary = run(store, "summary")
        span = {
            "from": format.local(summary["first_event"], tz).date().isoformat(),  # type: ignore[union-attr]
            "to": format.local(summary["last_event"], tz).date().isoformat(),  # type: ignore[union-attr]
        }
        remote = [
            tp.id
            for tp in store.catalog().touchpoints
            if tp.is_touchpoint and tp.channel not in settings.on_site_channels
        ]
        scope = {"date_from": span["from"], "date_to": span["to"], "timezone": tz}
        totals = run(store, "kpis", touchpoint=remote, **scope)["rows"][0]
        abandoned = run(
            store, "events", metric="abandoned", touchpoint=remote, limit=1000, **scope
        )["rows"]
        gaps = {
            r["customer_id"]: sum(
                len(c["gaps"])
                for c in run(store, "customer.journey", customer_id=r["customer_id"])["cycles"]
            )
            for r in abandoned
        }
    server = ServerProcess(db, port=free_port(), log=tmp / "server.log").start()
    try:
        yield Site(f"http://127.0.0.1:{server.port}", span, remote, totals, gaps)
    finally:
        server.stop()


def signed_in(browser: Any, site: Site, width: int, lang: str = "en") -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.add_cookies([{"name": "tp_lang", "value": lang, "url": site.url}])
    page = context.new_page()
    page.goto(f"{site.url}/login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert "/login" not in page.url
    return page


def shot(page: Any, name: str) -> None:
    if os.environ.get("TOUCHPOINTS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1440, 390])
def test_card_to_events_to_customer_journey(browser: Any, site: Site, width: int) -> None:
    page = signed_in(browser, site, width)
    page.goto(site.url + "/?" + urlencode(site.span))
    expect(page.locator("#period")).to_have_attribute("data-from", site.span["from"])
    expect(page.locator("#period")).to_have_attribute("data-to", site.span["to"])
    page.click("#kpi-abandonment_rate a.drill")
    query = {**site.span, "metric": "abandoned", "touchpoint": ",".join(site.remote)}
    expect(page).to_have_url(f"{site.url}/events?{urlencode(query)}")
    total = page.locator("#events-total")
    expect(total).to_have_attribute("data-total", str(site.totals["abandoned"]))
    shot(page, f"drill-events-{width}")
    # A customer whose journey has invisible gaps, from the list on the page.
    links = page.locator("#events tbody td:nth-child(2) a")
    names = links.all_inner_texts()
    customer = next(n for n in names if site.gaps.get(n))
    page.click(f"#events tbody a:text-is('{customer}')")
    expect(page).to_have_url(f"{site.url}/customers/{customer}")
    expect(page.locator("h1")).to_have_text(f"Customer {customer}")
    expect(page.locator("svg.timeline line.gap")).to_have_count(site.gaps[customer])
    assert (page.locator("svg.timeline .gap-label").first.text_content() or "").strip()
    shot(page, f"drill-customer-{width}")
    page.context.close()


@pytest.mark.parametrize("width", [1440, 390])
def test_team_page_in_portuguese(browser: Any, site: Site, width: int) -> None:
    page = signed_in(browser, site, width, lang="pt-BR")
    page.goto(site.url + "/team")
    expect(page.locator("h1")).to_have_text("Equipe")
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    expect(page.get_by_role("heading", name="Indicadores por agente")).to_be_visible()
    expect(page.locator("#team tbody th", has_text="bot")).to_have_count(1)
    page.locator("#team tbody tr").first.locator("a.drill").first.click()
    expect(page.locator("#events-total")).to_be_visible()
    page.goto(site.url + "/team")
    shot(page, f"drill-team-pt-{width}")
    page.goto(site.url + "/customers/ninguem")
    expect(page.locator("#no-such-customer")).to_have_text("Cliente não encontrado: ninguem")
    page.context.close()
