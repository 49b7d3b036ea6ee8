"""The change log on the dashboard: the Changes page (each change with its effects on the
touchpoint's main metrics, in words), the form an admin logs a change with, the markers
every time chart shows at the days changes took effect, and the Service page's forecast
against what then arrived.

Every number comes from the registry's analyses (`changes.list`, `effect`, `forecast`,
`kpis`), through the page cache like every other page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse

from touchpoints.analytics.changes import markers as change_positions
from touchpoints.analytics.scope import Scope
from touchpoints.core import format
from touchpoints.core.errors import TouchpointsError
from touchpoints.server.cache import bump
from touchpoints.server.csrf import csrf_protect
from touchpoints.server.dashboard.drill import events_href
from touchpoints.server.pages import ALL, Page, page_context, render, series

router = APIRouter()

# The metrics a change is judged on, in the order a manager reads them.
MAIN_METRICS = ("abandonment_rate", "service_level", "tme_seconds", "csat", "nps", "conversions")
EFFECT_WINDOW = "28d"
FORECAST_CHECK_DAYS = 14
FORECAST_CHECK_OPTIONS: dict[str, Any] = {
    "horizon": f"{FORECAST_CHECK_DAYS}d",
    "interval_minutes": 1440,
}


# -- effects in words ----------------------------------------------------------------------
def _signed(metric: str, x: float, lang: str) -> str:
    text = format.change(metric, x, lang)
    return f"−{text}" if x < 0 else text


def effect_sentence(page: Page, change: dict[str, Any], result: dict[str, Any]) -> str:
    """ "Since the bot went live on 27 Jul, WhatsApp abandonment fell 4.0 points (2.6 to
    5.7) more than at the other touchpoints" — or that it moved no more than they did."""
    lang, metric = page.lang, result["metric"]
    values = {
        "title": change["title"],
        "date": format.date(change["date"], lang),
        "touchpoint": page.noun(change["touchpoint"]),
        "metric": page.t(f"metric.{metric}"),  # inside a sentence: as written, not capitalised
    }
    effect, low, high = result["effect"], result["low"], result["high"]
    if low > 0 or high < 0:
        size = [abs(low), abs(high)]
        words = page.t(
            "changes.fell" if effect < 0 else "changes.rose",
            amount=format.change(metric, effect, lang),
            low=format.change(metric, min(size), lang),
            high=format.change(metric, max(size), lang),
            **values,
        )
    else:
        words = page.t(
            "changes.no_more",
            amount=_signed(metric, effect, lang),
            low=_signed(metric, low, lang),
            high=_signed(metric, high, lang),
            **values,
        )
    if result["pre_fit_poor"]:
        words += " " + page.t("changes.poor_fit")
    return words


def effects(page: Page, change: dict[str, Any]) -> list[dict[str, str]]:
    """The change's effect on each main metric, or why it cannot be measured."""
    out = []
    if change["touchpoint"] is None:
        return [{"metric": "", "text": page.t("changes.no_touchpoint")}]
    scope = Scope(timezone=page.scope.timezone)
    for metric in MAIN_METRICS:
        try:
            result = page.run(
                "effect", scope, change=change["id"], metric=metric, window=EFFECT_WINDOW
            )
        except TouchpointsError as exc:
            out.append({"metric": page.label(metric), "text": str(exc), "refused": "1"})
            continue
        out.append({"metric": page.label(metric), "text": effect_sentence(page, change, result)})
    return out


def _page(page: Page, status: int = 200, message: dict[str, Any] | None = None) -> HTMLResponse:
    logged = page.run("changes.list", Scope())["rows"]
    return render(
        page,
        "changes.html",
        status=status,
        filters=(),
        changes=[{**c, "effects": effects(page, c)} for c in logged],
        message=message,
        window=EFFECT_WINDOW.removesuffix("d"),
    )


@router.get("/changes", response_class=HTMLResponse)
def changes_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    return _page(page)


@router.post("/changes", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def changes_add(
    date: str = Form(""),
    title: str = Form(""),
    touchpoint: str = Form(""),
    page: Page = Depends(page_context("admin")),
) -> HTMLResponse:
    from touchpoints.ingest.changes import add_change

    service = page.service
    try:
        service.read(add_change, date, title, touchpoint or None)
    except TouchpointsError as exc:
        return _page(page, 400, {"error": True, "text": str(exc)})
    bump(service)  # the list, the effects and every chart's markers change
    return _page(page, message={"error": False, "text": page.t("changes.logged")})


# -- markers on time charts ------------------------------------------------------------------
def change_markers(page: Page, spec: dict[str, Any]) -> None:
    """Add `markers` to a time chart whose spec names each category's first day
    (`dates`, ISO): each logged change marks the category it fell in. Called for every
    spec a page renders (`pages.render`), so every time chart shows them."""
    dates = spec.get("dates")
    if spec.get("kind") != "lines" or not dates:
        return
    logged = page.run("changes.list", Scope())["rows"]
    markers = []
    for index, change in change_positions(logged, dates):
        where = page.names().get(change["touchpoint"], change["touchpoint"] or "")
        day = format.date(change["date"], page.lang)
        label = f"{day} {where}: {change['title']}" if where else f"{day}: {change['title']}"
        markers.append({"index": index, "label": label})
    spec["markers"] = markers


# -- the Service page's forecast check ---------------------------------------------------------
def forecast_check_scopes(last_event: str, channel: str, tz: str) -> tuple[Scope, Scope]:
    """The forecast check's two periods of `channel`'s contacts: the days the forecast
    learns from, and the last FORECAST_CHECK_DAYS local days of data (the latest event's
    day the last one), which it is checked against. The warmer computes the same answers
    (`dashboard.default_jobs`), so the Service page's first visitor waits for none."""
    last = format.local(datetime.fromisoformat(last_event), tz).date()
    cut = last - timedelta(days=FORECAST_CHECK_DAYS)
    before = Scope.build(date_to=cut.isoformat(), channel=channel, timezone=tz)
    after = Scope.build(
        date_from=(cut + timedelta(days=1)).isoformat(),
        date_to=last.isoformat(),
        channel=channel,
        timezone=tz,
    )
    return before, after


def forecast_check(page: Page, channel: str | None) -> dict[str, Any] | None:
    """The daily forecast of the channel's contacts for its last FORECAST_CHECK_DAYS days
    of data, made from the days before them, against what then arrived: the forecast,
    its 80 % band and the actual offered contacts, as a time chart. None without data."""
    if not channel:
        return None
    tz = page.scope.timezone
    seen = page.run("summary", Scope(timezone=tz))["last_event"]
    if not seen:
        return None
    before, after = forecast_check_scopes(seen, channel, tz)
    try:
        ahead = page.run("forecast", before, **FORECAST_CHECK_OPTIONS)
    except TouchpointsError:
        return None
    actual = {r["group"]: r["offered"] for r in page.run("kpis", after, by="day")["rows"]}
    days = [r["start"][:10] for r in ahead["rows"]]
    line = {
        **series(
            page.lang, page.t("changes.forecast"), [r["arrivals"] for r in ahead["rows"]], "offered"
        ),
        "low": [r["low"] for r in ahead["rows"]],
        "high": [r["high"] for r in ahead["rows"]],
    }
    spec = {
        "kind": "lines",
        "x": [format.date(d, page.lang) for d in days],
        "dates": days,
        "series": [
            line,
            series(
                page.lang, page.t("changes.actual"), [actual.get(d, 0) for d in days], "offered"
            ),
        ],
        # A day of what arrived opens its contacts (the check's own scope: the channel and
        # the day, no other filter); the forecast is no count of events.
        "links": [
            [None] * len(days),
            [events_href({}, "offered", channel=channel, **{"from": d, "to": d}) for d in days],
        ],
    }
    rows = [
        {
            "day": d,
            "arrivals": r["arrivals"],
            "low": r["low"],
            "high": r["high"],
            "offered": actual.get(d, 0),
        }
        for d, r in zip(days, ahead["rows"], strict=True)
    ]
    return {
        "spec": spec,
        "rows": rows,
        "model": ahead["model"],
        "backtest": ahead["backtest"],
        "channel": channel,
    }
