"""The Events page (`/events`): the rows behind any number of the dashboard.

Every KPI card, table cell and chart point links here with its filters and the `metric`
(which part of the KPI: `abandoned`, `within-target`, `detractors`, ...). The list is the
`events` analysis itself, so the total on this page is the count the number was built
from. Sortable by column, paged, and downloadable whole as CSV: the list as it is, or one
row per service contact with every column (channel, kind and "answered within target"
added), for the spreadsheets a help-desk team already keeps.
"""

from __future__ import annotations

import calendar
import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, StreamingResponse

from touchpoints.analytics import registry
from touchpoints.analytics.events import CONTACT_COLUMNS, SORTABLE, export, metric_totals
from touchpoints.analytics.kpis import METRICS
from touchpoints.analytics.scope import Scope
from touchpoints.core import format
from touchpoints.core.errors import UsageError
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.core.time import zone_info
from touchpoints.server.pages import ALL, FILTER_KEYS, Page, page_context, render

router = APIRouter()

PAGE_SIZE = 50
# Query parameters of the Events page beyond the filter bar's.
DRILL_KEYS = ("touchpoint", "agent", "metric", "timezone", "weekday", "hour")
# A cell of the hour-of-week heatmap: ISO weekday and hour of the day, and their bounds.
CELL_KEYS = {"weekday": (1, 7), "hour": (0, 23)}
# The counts a KPI is made of, shown side by side so numerator and denominator are a click
# apart: service level is within-target / offered.
FAMILIES = (
    ("offered", "answered", "abandoned", "within-target"),
    ("resolved", "unresolved"),
    ("promoters", "passives", "detractors"),
    ("satisfied", "dissatisfied"),
    ("conversions",),
    ("promises-broken", "data-not-reused"),
)
# Which list a KPI card opens: the rows its headline number is about.
CARD_METRIC = {
    "nps": "detractors",
    "csat": "dissatisfied",
    "tma_seconds": "answered",
    "tme_seconds": "answered",
    "abandonment_rate": "abandoned",
    "service_level": "within-target",
    "conversions": "conversions",
    "revenue": "conversions",
    "retention": "conversions",
    "offered": "offered",
    "answered": "answered",
    "abandoned": "abandoned",
    "fcr": "unresolved",
    "promise_kept_rate": "promises-broken",
    "data_reuse_rate": "data-not-reused",
}
SHOWN = (
    "ts",
    "customer_id",
    "touchpoint",
    "action",
    "agent",
    "wait_seconds",
    "handle_seconds",
    "abandoned",
    "resolved",
    "nps",
    "csat",
    "value",
    "event_id",
)


def events_href(params: dict[str, str], metric: str | None = None, **narrower: str | None) -> str:
    """The Events page for a number: the page's filters, narrowed (`touchpoint`,
    `agent`, `channel`, a day as `from`/`to`), and the metric. Templates call it as
    `events_href(params, "abandoned", channel=r.group)`."""
    query = {k: v for k, v in params.items() if k in FILTER_KEYS and v}
    query |= {k: v for k, v in narrower.items() if v}
    if metric:
        query["metric"] = metric
    return "/events" + ("?" + urlencode(query) if query else "")


def period_href(
    params: dict[str, str], metric: str | None, first: str, last: str, **narrower: str | None
) -> str:
    """The Events page for a period of a time chart (a month, a week, a day: local days
    `first`..`last`, ISO), within the page's own `from`/`to`: the first and last periods of
    a chart are cut by the page's period, and so are their points' counts."""
    if params.get("from") and params["from"] > first:
        first = params["from"]
    if params.get("to") and params["to"] < last:
        last = params["to"]
    return events_href(params, metric, **{"from": first, "to": last}, **narrower)


def month_bounds(month: str) -> dict[str, str]:
    """`from`/`to` of a calendar month as `kpis --by month` names it ('2025-10')."""
    year, number = (int(x) for x in month.split("-")[:2])
    last = calendar.monthrange(year, number)[1]
    return {"from": f"{month}-01", "to": f"{month}-{last:02d}"}


def drill_params(page: Page) -> dict[str, str]:
    """The Events page's own parameters (the filter bar's are in `page.params`)."""
    query = page.request.query_params
    return {k: query.get(k, "").strip() for k in DRILL_KEYS}


def drill_scope(page: Page, drill: dict[str, str]) -> Scope:
    """The page's filters plus the touchpoint and agent a table cell narrows to."""
    try:
        zone = drill["timezone"] or page.timezone  # the company's, as on every page
        zone_info(zone)
    except UsageError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    return page.scope.replace(
        touchpoints=tuple(v for v in drill["touchpoint"].split(",") if v),
        agents=tuple(v for v in drill["agent"].split(",") if v),
        timezone=zone,
    )


def _options(drill: dict[str, str], **more: Any) -> dict[str, Any]:
    metric = drill["metric"] or None
    if metric is not None and metric not in METRICS:
        raise HTTPException(
            status_code=400, detail=f"metric {metric!r}: use one of {', '.join(METRICS)}"
        )
    cell: dict[str, int] = {}
    for key, (low, high) in CELL_KEYS.items():
        if not drill[key]:
            continue
        if not drill[key].isdigit() or not low <= int(drill[key]) <= high:
            raise HTTPException(
                status_code=400, detail=f"{key} {drill[key]!r}: use a whole number {low}-{high}"
            )
        cell[key] = int(drill[key])
    return {"metric": metric, **cell, **more}


def _query(reader: Page, drill: dict[str, str], **extra: Any) -> str:
    kept = {k: v for k, v in {**reader.params, **drill}.items() if v}
    kept |= {k: str(v) for k, v in extra.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


def local(ts: str, zone: str, lang: str) -> str:
    """An ISO-8601 UTC time as wall time in `zone`, for the reader."""
    moment = datetime.fromisoformat(ts).astimezone(zone_info(zone)).replace(tzinfo=None)
    return format.datetime(moment, lang, seconds=True)


@router.get("/events", response_class=HTMLResponse)
def events_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    drill = drill_params(page)
    scope = drill_scope(page, drill)
    query = page.request.query_params
    sort = query.get("sort") or "-ts"
    if sort.removeprefix("-") not in SORTABLE:
        sort = "-ts"
    try:
        number = max(1, int(query.get("page") or 1))
    except ValueError:
        number = 1
    options = _options(drill, sort=sort, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    result = page.run("events", scope, **options)
    family = next((f for f in FAMILIES if drill["metric"] in f), ())
    cell = {k: options[k] for k in CELL_KEYS if k in options}
    totals = page.get(metric_totals, scope, family, **cell) if family else {}
    siblings = [
        {
            "metric": m,
            "total": totals[m],
            "href": "/events" + _query(page, {**drill, "metric": m}),
            "current": m == drill["metric"],
        }
        for m in family
    ]
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    names = page.names()
    rows = [
        {
            **r,
            "when": local(r["ts"], scope.timezone, page.lang),
            "touchpoint_name": names.get(r["touchpoint"], r["touchpoint"]),
        }
        for r in result["rows"]
    ]
    headers = [
        {
            "key": key,
            "href": "/events" + _query(page, drill, sort=("-" if sort != "-" + key else "") + key)
            if key in SORTABLE
            else None,
            "sort": ("descending" if sort == "-" + key else "ascending" if sort == key else None),
        }
        for key in SHOWN
    ]
    first = (number - 1) * PAGE_SIZE + 1
    return render(
        page,
        "events.html",
        drill=drill,
        metric=drill["metric"] or None,
        metrics=METRICS,
        result=result,
        rows=rows,
        headers=headers,
        siblings=siblings,
        number=number,
        pages=pages,
        first=first,
        last=first + len(rows) - 1,
        prev_href="/events" + _query(page, drill, sort=sort, page=number - 1)
        if number > 1
        else None,
        next_href="/events" + _query(page, drill, sort=sort, page=number + 1)
        if number < pages
        else None,
        csv_href="/events.csv" + _query(page, drill),
        contacts_href="/events/contacts.csv" + _query(page, drill),
        zone=scope.timezone,
        weekday_name=format.weekdays(page.lang)[options["weekday"] - 1]
        if "weekday" in options
        else None,
        hidden={k: v for k, v in {**page.params, **drill}.items() if v and k != "metric"},
    )


def _csv(rows: Iterator[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    """CSV text, a few thousand rows at a time (the list may hold millions)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        writer.writerow(row)
        if i % 2000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class _Locked:
    """The service's store for a long download: each query under the store lock on its
    own, so ingestion goes on between the chunks of a large CSV."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.service.read(lambda store: store.query(sql, params))  # type: ignore[no-any-return]

    def catalog(self) -> Any:
        return self.service.read(lambda store: store.catalog())


def _download(page: Page, contacts: bool) -> StreamingResponse:
    if page.filter_error:
        raise HTTPException(status_code=400, detail=page.filter_error)
    drill = drill_params(page)
    scope = drill_scope(page, drill)
    analysis = registry.get("events")
    try:
        _, options = analysis.parse(_options(drill))
    except UsageError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    rows = export(_Locked(page.service), scope, options, contacts=contacts)  # type: ignore[arg-type]
    name = "contacts" if contacts else "events"
    columns = CONTACT_COLUMNS if contacts else COLUMN_NAMES
    return StreamingResponse(
        _csv(rows, columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/events.csv")
def events_csv(page: Page = Depends(page_context(*ALL))) -> StreamingResponse:
    """The whole list of the Events page (every page of it), newest first."""
    return _download(page, contacts=False)


@router.get("/events/contacts.csv")
def contacts_csv(page: Page = Depends(page_context(*ALL))) -> StreamingResponse:
    """One row per service contact under the page's filters, with every column."""
    return _download(page, contacts=True)
