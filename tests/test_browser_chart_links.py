"""Chart points open the events behind them, in a real browser: on every dashboard chart
whose points count events (the Overview's months, a touchpoint's phases, the Service
page's hours of the week and its forecast check's days, an agent's weeks on the Team
page), clicking a point lands on an Events page whose total is the point's value; and the
same links are reached from the keyboard, named in the reader's language.

Charts that count something else are not linked and not tested here: people (the
first-heard and funnel charts count customers, the Events page lists events), shares and
means (CSAT, NPS, emotion), attributed conversions (fractions of a purchase) and the
attendant's handoffs (conversations of the attendant, not stored events).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from playwright.sync_api import expect

from conftest import run
from touchpoints.ingest import ingest_files, ingest_records

USER, PASSWORD = "ana.analyst", "browser-chart-links-pw"
SUPERVISOR = "sue.supervisor"

pytestmark = pytest.mark.browser


@dataclass
class Site:
    url: str
    span: dict[str, str]  # a span of local days that cuts the first and last months
    touchpoint: str  # one with events in several phases


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from touchpoints.core import format
    from touchpoints.core.settings import Settings
    from touchpoints.demo import generate
    from touchpoints.server.loadgen import ServerProcess
    from touchpoints.server.users import create_user
    from touchpoints.store import open_store

    tmp = tmp_path_factory.mktemp("browser-chart-links")
    events = tmp / "events.parquet"
    generate(300, 7, events)
    db = str(tmp / "site.duckdb")
    with open_store(db) as store:
        ingest_files(store, [str(events)])
        create_user(store, USER, PASSWORD, "analyst")
        create_user(store, SUPERVISOR, PASSWORD, "supervisor")
        summary = run(store, "summary")
        tz = Settings().timezone
        first = format.local(summary["first_event"], tz).date()  # type: ignore[union-attr]
        last = format.local(summary["last_event"], tz).date()  # type: ignore[union-attr]
        # Mid-month ends: the chart's first and last months are cut by the page's period.
        span = {"from": first.replace(day=15).isoformat(), "to": last.replace(day=10).isoformat()}
        phases = run(store, "kpis", by="phase", touchpoint=["whatsapp"])["rows"]
        assert len([p for p in phases if p["events"]]) > 1
        # Contacts in the last hour for the Live page: three answered in one minute, one
        # abandoned in another.
        minute = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
        recent = [
            {"event_id": f"live-{i}", "customer_id": f"live-c{i}", "touchpoint": "whatsapp",
             "ts": (minute - timedelta(minutes=10, seconds=-5 * i)).isoformat() + "Z",
             "abandoned": False, "wait_seconds": 12}
            for i in range(3)
        ] + [
            {"event_id": "live-gone", "customer_id": "live-c9", "touchpoint": "whatsapp",
             "ts": (minute - timedelta(minutes=6)).isoformat() + "Z", "abandoned": True,
             "wait_seconds": 80},
        ]  # fmt: skip
        assert ingest_records(store, recent, "live").stored == 4
    server = ServerProcess(db, log=tmp / "server.log").start()
    try:
        yield Site(f"http://127.0.0.1:{server.port}", span, "whatsapp")
    finally:
        server.stop()


def signed_in(browser: Any, site: Site, lang: str = "en", user: str = USER) -> Any:
    # Without animation: a point is clicked where it is drawn, not where it is heading.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, reduced_motion="reduce")
    context.add_cookies([{"name": "tp_lang", "value": lang, "url": site.url}])
    page = context.new_page()
    page.goto(f"{site.url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert "/login" not in page.url
    return page


def spec_of(page: Any, chart: str) -> dict[str, Any]:
    source = page.locator(f"#{chart}").get_attribute("data-chart")
    return json.loads(page.locator(f"#{source}").text_content())  # type: ignore[no-any-return]


def value_at(spec: dict[str, Any], series: int, index: int) -> float:
    if spec["kind"] == "heatmap":
        return float(spec["cells"][index][2])
    return float(spec["series"][series]["values"][index])


def biggest(spec: dict[str, Any], series: int) -> int:
    """The linked point with the largest value: a bar tall enough to click."""
    linked = [j for j, href in enumerate(spec["links"][series]) if href]
    return max(linked, key=lambda j: value_at(spec, series, j))


def click_point(page: Any, chart: str, series: int, index: int) -> None:
    """A real mouse click where ECharts drew the point (a bar's top, a line's symbol, a
    heatmap's cell), found with the chart's own coordinate conversion."""
    page.locator(f"#{chart}[data-drawn=true]").scroll_into_view_if_needed()
    x, y = page.evaluate(
        """([id, series, index]) => {
          const el = document.getElementById(id);
          const chart = echarts.getInstanceByDom(el);
          const spec = JSON.parse(document.getElementById(el.dataset.chart).textContent);
          let point;
          if (spec.kind === "heatmap") {
            const cell = spec.cells[index];
            point = chart.convertToPixel({seriesId: "s0"}, [cell[0], cell[1]]);
          } else {
            point = chart.convertToPixel({seriesId: "s" + series},
                                         [index, spec.series[series].values[index]]);
          }
          const box = el.getBoundingClientRect();
          // Into a bar (below its top edge and label); a symbol's or a cell's centre.
          const down = spec.kind === "bar" ? 4 : 0;
          return [box.left + point[0], box.top + point[1] + down];
        }""",
        [chart, series, index],
    )
    with page.expect_navigation():
        page.mouse.click(x, y)


def lands_on_its_count(page: Any, site: Site, value: float) -> dict[str, list[str]]:
    assert urlparse(page.url).path == "/events"
    expect(page.locator("#events-total")).to_have_attribute("data-total", str(int(value)))
    return parse_qs(urlparse(page.url).query)


CHARTS = [
    # (page, chart, series, what the point counts)
    ("/", "monthly", 0, "events"),
    ("/", "monthly", 1, "conversions"),
    ("/touchpoints/whatsapp", "phase-mix", 0, "events"),
    ("/service", "hour-of-week", 0, "offered"),
    ("/service", "forecast-check", 1, "offered"),
    ("/team", "agent-trend", 0, "offered"),
]


@pytest.mark.parametrize(("path", "chart", "series", "metric"), CHARTS)
def test_clicking_a_point_opens_the_events_it_counts(
    browser: Any, site: Site, path: str, chart: str, series: int, metric: str
) -> None:
    page = signed_in(browser, site)
    page.goto(site.url + path + "?" + urlencode(site.span))
    expect(page.locator(f"#{chart}")).to_have_attribute("data-drawn", "true")
    spec = spec_of(page, chart)
    index = biggest(spec, series)
    value = value_at(spec, series, index)
    assert value > 0
    click_point(page, chart, series, index)
    query = lands_on_its_count(page, site, value)
    assert query.get("metric") == (None if metric == "events" else [metric])
    if chart == "monthly":
        # The months at the ends are cut by the page's period, and so are their links.
        first = spec["links"][series][0]
        assert f"from={site.span['from']}" in first
        last = spec["links"][series][-1]
        assert f"to={site.span['to']}" in last
    page.context.close()


def test_the_months_cut_by_the_period_count_what_their_links_list(browser: Any, site: Site) -> None:
    """The first and last months of the Overview's chart hold only the page's days: their
    points and the totals behind their links agree too (not only the clicked one)."""
    page = signed_in(browser, site)
    page.goto(site.url + "/?" + urlencode(site.span))
    spec = spec_of(page, "monthly")
    for index in (0, len(spec["x"]) - 1):
        page.goto(site.url + spec["links"][0][index])
        lands_on_its_count(page, site, value_at(spec, 0, index))
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "pt-BR"])
def test_the_points_are_reached_from_the_keyboard_with_their_names(
    browser: Any, site: Site, lang: str
) -> None:
    page = signed_in(browser, site, lang=lang, user=SUPERVISOR)
    page.goto(site.url + "/service?" + urlencode(site.span))
    expect(page.locator("#hour-of-week")).to_have_attribute("data-drawn", "true")
    spec = spec_of(page, "hour-of-week")
    links = page.locator("#hour-of-week-links")
    summary = links.locator("summary")
    expect(summary).to_have_text(
        "Events behind each point" if lang == "en" else "Eventos de cada ponto"
    )
    expect(links.locator("a")).to_have_count(len(spec["cells"]))
    summary.focus()
    page.keyboard.press("Enter")
    expect(links).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    focused = page.locator("#hour-of-week-links a").first
    expect(focused).to_be_focused()
    cell = spec["cells"][0]
    day, hour = spec["y"][cell[1]], spec["x"][cell[0]]
    # Its accessible name: the weekday and hour in the reader's language, and the count.
    expect(focused).to_have_accessible_name(f"{day} {hour}:00: {cell[3]}")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    query = lands_on_its_count(page, site, cell[2])
    assert query["weekday"] == [str(cell[1] + 1)] and query["hour"] == [str(cell[0])]
    narrowed = page.locator("#narrowed")
    expect(narrowed).to_contain_text(day)
    expect(narrowed).to_contain_text("00 to" if lang == "en" else "h às")
    page.context.close()


def test_a_minute_of_the_live_chart_opens_its_contacts(browser: Any, site: Site) -> None:
    """The Live page draws its chart from the stream; each minute's answered and abandoned
    points open that minute's contacts, by click and from the keyboard list."""
    page = signed_in(browser, site)
    page.goto(site.url + "/live")
    links = page.locator("#live-chart-links")
    expect(links.locator("a")).to_have_count(2)  # the two minutes with contacts
    for series, count in ((0, 3), (1, 1)):
        x, y, index = page.evaluate(
            """([series, count]) => {
              const el = document.getElementById("live-chart");
              const chart = echarts.getInstanceByDom(el);
              const data = chart.getOption().series[series].data;
              const index = data.indexOf(count);
              const point = chart.convertToPixel({seriesIndex: series}, [index, count]);
              el.scrollIntoView();
              const box = el.getBoundingClientRect();
              return [box.left + point[0], box.top + point[1], index];
            }""",
            [series, count],
        )
        assert index >= 0
        with page.expect_navigation():
            page.mouse.click(x, y)
        query = lands_on_its_count(page, site, count)
        assert query["metric"] == [("answered", "abandoned")[series]]
        page.go_back()
        expect(links.locator("a")).to_have_count(2)
    first = links.locator("a").first
    expect(first).to_have_text(re.compile(r"^Answered — \d\d:\d\d: 3$"))
    links.locator("summary").click()
    with page.expect_navigation():
        first.click()
    lands_on_its_count(page, site, 3)
    page.context.close()
