"""WCAG 2.2 AA in a real browser: axe-core (npm, test-only: `make browser` installs it
with `npm ci`) runs on every dashboard page, in English and Portuguese, on a laptop
(1440 px) and a phone (390 px), and any violation fails the test with its rule and nodes.
The login page and the 403 page a supervisor meets are checked too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from test_browser import PASSWORD, USER, charts_drawn
from touchpoints.ingest import ingest_files

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SUPERVISOR, SUPERVISOR_PASSWORD = "sue.supervisor", "supervisor-test-pw"
PAGES = [
    "/",
    "/map",
    "/journeys",
    "/touchpoints/whatsapp",
    "/touchpoints/signage",
    "/service",
    "/feedback",
    "/attribution",
    "/attribution?compare=1",
    "/live",
    "/catalog",
    "/catalog/touchpoints/new",
    "/catalog/touchpoints/phone",
]
WIDTHS = (1440, 390)
LANGS = ("en", "pt-BR")
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map((v) => ({
    rule: v.id,
    nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.failureSummary),
  }));
}"""


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from touchpoints.demo import generate
    from touchpoints.server.loadgen import ServerProcess
    from touchpoints.server.users import create_user
    from touchpoints.store import open_store

    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make browser` (npm ci) first")
    tmp = tmp_path_factory.mktemp("a11y")
    events = tmp / "events.parquet"
    generate(300, 7, events)
    db = str(tmp / "site.duckdb")
    with open_store(db) as store:
        ingest_files(store, [str(events)])
        create_user(store, USER, PASSWORD, "admin")
        create_user(store, SUPERVISOR, SUPERVISOR_PASSWORD, "supervisor")
    server = ServerProcess(db, log=tmp / "server.log").start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def signed_in(browser: Any, url: str, lang: str, width: int, user: str, password: str) -> Any:
    # axe is injected into the page; the dashboard's CSP (rightly) refuses inline scripts.
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    context.add_cookies([{"name": "tp_lang", "value": lang, "url": url}])
    page = context.new_page()
    page.goto(f"{url}/login")
    violations(page)  # the login form itself
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    return page


def violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(RUN_AXE, TAGS)
    assert found == [], f"{page.url}: {found}"
    return found


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
def test_every_page_has_no_axe_violation(browser: Any, url: str, lang: str, width: int) -> None:
    page = signed_in(browser, url, lang, width, USER, PASSWORD)
    try:
        for path in PAGES:
            response = page.goto(url + path)
            assert response is not None and response.status == 200, path
            assert page.evaluate("document.documentElement.lang") == lang
            charts_drawn(page)
            if path == "/live":
                expect(page.locator("#live [data-key=waiting]")).not_to_have_text(
                    "–", timeout=10_000
                )
            violations(page)
            # Each chart's text alternative is the page's, in the reader's language (not
            # ECharts' English description with "NaN" for missing values).
            names = page.eval_on_selector_all(
                "main .chart-canvas[data-chart]",
                "els => els.map(e => e.getAttribute('aria-label'))",
            )
            start = "Gráfico: " if lang == "pt-BR" else "Chart: "
            assert all(n.startswith(start) and "NaN" not in n for n in names), (path, names)
    finally:
        page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
def test_the_403_page_keeps_the_frame_and_passes_axe(
    browser: Any, url: str, lang: str, width: int
) -> None:
    page = signed_in(browser, url, lang, width, SUPERVISOR, SUPERVISOR_PASSWORD)
    try:
        response = page.goto(url + "/map")
        assert response is not None and response.status == 403
        assert page.locator("form[action='/logout'] button").count() == 1
        assert page.locator("nav a[href^='/service']").count() == 1
        assert page.locator("nav a[href^='/map']").count() == 0
        violations(page)
    finally:
        page.context.close()


def test_on_a_phone_the_first_kpi_is_on_the_first_screen(browser: Any, url: str) -> None:
    """The menu and the filters fold away on a phone: the overview's first card starts
    within the first screen (844 px), and the filters open from their one-line summary."""
    page = signed_in(browser, url, "pt-BR", 390, USER, PASSWORD)
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(url + "/")
        top = page.locator("#period .kpi").first.bounding_box()["y"]
        assert top < 844 * 0.75, top
        assert not page.locator("form.filters select[name=channel]").is_visible()
        page.locator("#filters-summary").click()
        assert page.locator("form.filters select[name=channel]").is_visible()
    finally:
        page.context.close()
