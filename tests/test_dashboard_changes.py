"""The Changes page, the change markers on time charts and the Service page's forecast
against what arrived, on the demo data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from test_dashboard import client_for, make_app
from touchpoints import demo
from touchpoints.core import messages as msg
from touchpoints.core.catalog import default_catalog
from touchpoints.server.dashboard.changes import effect_sentence


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("dash_changes")
    events = folder / "events.parquet"
    demo.generate(customers=400, seed=11, out=events)
    application = make_app(folder / "dash.duckdb", events)
    yield application
    application.state.service.close()


def spec_of(html: str, chart_id: str) -> dict[str, Any]:
    m = re.search(
        rf'<script type="application/json" id="{chart_id}-spec">(.*?)</script>', html, re.S
    )
    assert m, chart_id
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def test_an_admin_logs_a_change_and_every_time_chart_marks_it(app: Any) -> None:
    admin = client_for(app)
    empty = admin.get("/changes")
    assert empty.status_code == 200 and "No change logged yet." in empty.text
    form = empty.text[empty.text.index('action="/changes"') :]
    assert 'name="csrf_token"' in form[: form.index("</form>")]  # the form carries its token
    bad = admin.post("/changes", data={"date": "27/07/2025", "title": "bot", "touchpoint": ""})
    assert bad.status_code == 400
    assert "--date &#39;27/07/2025&#39;: use a date like 2026-07-27" in bad.text
    made = admin.post(
        "/changes",
        data={"date": "2025-07-27", "title": "WhatsApp bot answers FAQs", "touchpoint": "whatsapp"},
    )
    assert made.status_code == 200 and "Change logged." in made.text
    article = re.search(r'<article class="change" id="change-1">(.*?)</article>', made.text, re.S)
    assert article and "WhatsApp bot answers FAQs" in article.group(1)
    assert article.group(1).count("<li") == 6  # one line per main metric: an effect or why not
    monthly = spec_of(admin.get("/").text, "monthly")
    july = monthly["dates"].index("2025-07-01")
    assert monthly["markers"] == [
        {"index": july, "label": "7/27/2025 WhatsApp: WhatsApp bot answers FAQs"}
    ]


def test_only_an_admin_logs_changes_but_every_role_reads_them(app: Any) -> None:
    supervisor = client_for(app, "sue")
    assert supervisor.get("/changes").status_code == 200
    refused = supervisor.post(
        "/changes", data={"date": "2025-08-01", "title": "x", "touchpoint": ""}
    )
    assert refused.status_code == 403


def test_the_service_page_shows_the_forecast_against_what_arrived(app: Any) -> None:
    page = client_for(app).get("/service")
    assert page.status_code == 200
    spec = spec_of(page.text, "forecast-check")
    forecast, arrived = spec["series"]
    assert len(spec["x"]) == len(forecast["values"]) == len(arrived["values"]) == 14
    assert all(
        lo <= v <= hi
        for lo, v, hi in zip(forecast["low"], forecast["values"], forecast["high"], strict=True)
    )
    data = client_for(app).get("/data/forecast?format=json")
    assert data.status_code == 200
    assert [r["offered"] for r in data.json()["rows"]] == arrived["values"]


def _page(lang: str) -> Any:
    catalog = default_catalog()
    return SimpleNamespace(
        lang=lang,
        t=lambda key, **v: msg.t(lang, key, **v),
        noun=lambda tp: catalog.get(tp).noun(lang),  # type: ignore[union-attr]
    )


CHANGE = {"id": 1, "date": "2025-07-27", "title": "the bot went live", "touchpoint": "whatsapp"}


def test_an_effect_reads_as_a_sentence_in_both_languages() -> None:
    fell = {
        "metric": "abandonment_rate",
        "effect": -0.04,
        "low": -0.057,
        "high": -0.026,
        "pre_fit_poor": False,
    }
    assert effect_sentence(_page("en"), CHANGE, fell) == (
        "Since “the bot went live” on 7/27/2025, WhatsApp abandonment fell 4.0 pp "
        "(2.6 pp to 5.7 pp) more than at the other touchpoints."
    )
    pt = effect_sentence(_page("pt-BR"), CHANGE, fell)
    assert pt.startswith("Desde “the bot went live” em 27/07/2025, abandono no WhatsApp caiu 4,0 ")
    at_store = effect_sentence(_page("pt-BR"), {**CHANGE, "touchpoint": "store"}, fell)
    assert at_store.startswith(
        "Desde “the bot went live” em 27/07/2025, abandono na Loja física caiu"
    )
    unclear = {
        "metric": "tme_seconds",
        "effect": 3.0,
        "low": -5.0,
        "high": 11.0,
        "pre_fit_poor": True,
    }
    assert effect_sentence(_page("en"), CHANGE, unclear) == (
        "Since “the bot went live” on 7/27/2025, WhatsApp ASA moved no more than at the other "
        "touchpoints: 3 sec (−5 sec to 11 sec). Read with care: before the change, the other "
        "touchpoints did not move like this one."
    )


def test_the_catalog_editor_offers_the_change_form_to_admins_only(app: Any) -> None:
    form = '<form method="post" action="/changes"'
    assert form in client_for(app).get("/catalog").text
    assert form not in client_for(app, "ana").get("/catalog").text
    assert form not in client_for(app, "ana").get("/changes").text
