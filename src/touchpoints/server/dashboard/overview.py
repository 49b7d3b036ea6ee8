"""The overview (`/`): the headline KPIs of one period with their change against the
previous period of the same kind, every catalog target met or missed in that period, and
the months side by side.

Every card covers exactly the period its caption names (`Windows`): a chosen calendar
month is compared with the month before, any other chosen span with the span of equal
length just before it, and without a chosen period the last TREND_DAYS days of data with
the TREND_DAYS before them. Days are the company's local days. Waits and service level are
only comparable between remote queues (phone, WhatsApp, chat): the store's on-site queue
has other targets and would drag an overall figure below every channel's, so it has cards
of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from touchpoints.analytics.scope import Scope
from touchpoints.core import format
from touchpoints.core.time import parse_when, previous_period, whole_months
from touchpoints.server.dashboard.drill import month_bounds, period_href
from touchpoints.server.pages import ALL, Page, catalog, page_context, render, series

router = APIRouter()

TREND_DAYS = 28
RESULT_CARDS = ("conversions", "revenue", "nps", "csat")
QUEUE_CARDS = ("tme_seconds", "service_level", "abandonment_rate", "tma_seconds")
LOWER_IS_BETTER = {"tme_seconds", "tma_seconds", "abandonment_rate", "ces"}


@dataclass(frozen=True)
class Windows:
    """The period the overview's cards cover and the one they are compared with, as local
    days (inclusive) and as scopes; `kind` names how they were chosen, for the caption."""

    first: date
    last: date
    prev_first: date
    prev_last: date
    kind: str  # "month", "span" or "trailing"
    cur: Scope
    prev: Scope


def last_event(summary: dict[str, Any]) -> datetime:
    """The time of the store's latest event, from the `summary` analysis: without a period,
    trends compare the last TREND_DAYS days *of data*, which may have ended long ago."""
    seen = summary["last_event"]
    return datetime.fromisoformat(seen) if seen else datetime(2000, 1, 1)


def days_scope(scope: Scope, first: date, last: date) -> Scope:
    """`scope` over the local days `first`..`last` (both whole days, in scope.timezone)."""
    tz = scope.timezone
    return scope.replace(
        date_from=parse_when(first, "--from", tz=tz),
        date_to=parse_when(last, "--to", end=True, tz=tz),
    )


def windows(scope: Scope, first: date | None, last: date | None, newest: date) -> Windows:
    """The current and previous periods for the chosen local days `first`/`last` (either
    may be missing) when the newest event fell on local day `newest`."""
    if first is None and last is None:
        last = newest
        first = last - timedelta(days=TREND_DAYS - 1)
        kind = "trailing"
    else:
        last = last or max(newest, first or newest)
        first = first or last - timedelta(days=TREND_DAYS - 1)
        kind = "month" if whole_months(first, last) == 1 else "span"
    prev_first, prev_last = previous_period(first, last)
    return Windows(
        first,
        last,
        prev_first,
        prev_last,
        kind,
        days_scope(scope, first, last),
        days_scope(scope, prev_first, prev_last),
    )


def page_windows(page: Page) -> Windows:
    """The overview's periods for the page's filters (local days of the company)."""
    newest = format.local(
        last_event(page.run("summary", Scope(timezone=page.timezone))), page.timezone
    )
    assert newest is not None
    pick = page.params if page.filter_error is None else {}
    chosen = [date.fromisoformat(pick[k]) if pick.get(k) else None for k in ("from", "to")]
    return windows(page.scope, chosen[0], chosen[1], newest.date())


def caption(page: Page, w: Windows) -> str:
    """'December 2025 vs November 2025', 'Last 28 days of data (12/4/2025–12/31/2025) vs
    the 28 days before (11/6/2025–12/3/2025)' or the chosen span and the one before it."""
    lang = page.lang

    def span(a: date, b: date) -> str:
        return f"{format.date(a, lang)}–{format.date(b, lang)}"

    if w.kind == "month":
        return page.t(
            "pages.period_month",
            cur=format.month_name(w.first, lang),
            prev=format.month_name(w.prev_first, lang),
        )
    if w.kind == "trailing":
        return page.t(
            "pages.period_trailing",
            n=format.integer(TREND_DAYS, lang),
            cur=span(w.first, w.last),
            prev=span(w.prev_first, w.prev_last),
        )
    return page.t(
        "pages.period_span", cur=span(w.first, w.last), prev=span(w.prev_first, w.prev_last)
    )


def trend(key: str, cur: float | None, prev: float | None, lang: str) -> dict[str, Any] | None:
    """The change from `prev` to `cur`; one too small to show in `key`'s unit ('0 s',
    '0,0 p.p.') is no change, never 'up 0 s'."""
    if cur is None or prev is None:
        return None
    delta = cur - prev
    if format.change(key, delta, lang) == format.change(key, 0, lang):
        return {"delta": 0, "dir": "flat"}
    return {"delta": delta, "dir": "up" if delta > 0 else "down"}


def on_site_channels(page: Page) -> frozenset[str]:
    return frozenset(page.service.settings.on_site_channels)


def queue_groups(page: Page) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The touchpoints (ids) of remote channels and of on-site ones (the store)."""
    onsite = on_site_channels(page)
    touchpoints = [tp for tp in page.get(catalog).touchpoints if tp.is_touchpoint]
    remote = tuple(tp.id for tp in touchpoints if tp.channel not in onsite)
    local = tuple(tp.id for tp in touchpoints if tp.channel in onsite)
    return remote, local


def cards(
    page: Page, keys: tuple[str, ...], cur: dict[str, Any], prev: dict[str, Any], prefix: str = ""
) -> list[dict[str, Any]]:
    return [
        {
            "id": f"kpi-{prefix}{k}",
            "key": k,
            "value": cur[k],
            "trend": trend(k, cur[k], prev[k], page.lang),
            "better_down": k in LOWER_IS_BETTER,
        }
        for k in keys
    ]


def targets_table(page: Page, scope: Scope) -> list[dict[str, Any]]:
    """Every target of the catalog with the touchpoint's actual value over `scope` (the
    cards' period) and whether it is met."""
    by_tp = {r["group"]: r for r in page.run("kpis", scope, by="touchpoint")["rows"]}
    rows = []
    for tp in page.get(catalog).touchpoints:
        for key, goal in tp.target.items():
            if key == "answer_within":
                continue  # the threshold of the service level, not a result to meet
            actual = (by_tp.get(tp.id) or {}).get(key)
            met = None
            if actual is not None:
                met = actual <= goal if key in LOWER_IS_BETTER else actual >= goal
            rows.append(
                {
                    "touchpoint": tp.id,
                    "name": tp.label(page.lang),
                    "key": key,
                    "label": page.t(f"metric.{key}"),
                    "target": goal,
                    "actual": actual,
                    "met": met,
                }
            )
    return rows


def queue_names(page: Page, ids: tuple[str, ...], rows: list[dict[str, Any]]) -> list[str]:
    """The names of the touchpoints among `ids` with a queue (offered contacts) in `rows`."""
    names = page.names()
    offered = {r["group"] for r in rows if r["offered"]}
    return [names[i] for i in ids if i in offered]


@router.get("/", response_class=HTMLResponse)
def overview(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    w = page_windows(page)
    remote, onsite = queue_groups(page)
    cur = page.run("kpis", w.cur)["rows"][0]
    prev = page.run("kpis", w.prev)["rows"][0]
    queues = [
        (scope.replace(touchpoints=ids), ids)
        for ids, scope in ((remote, w.cur), (remote, w.prev), (onsite, w.cur), (onsite, w.prev))
    ]
    remote_cur, remote_prev, site_cur, site_prev = (
        page.run("kpis", scope)["rows"][0] for scope, _ in queues
    )
    by_tp = page.run("kpis", w.cur, by="touchpoint")["rows"]
    months = page.run("kpis", by="month")["rows"]
    retained = [m for m in months if m["retention"] is not None]
    last_month = retained[-1] if retained else None
    retention = {
        "id": "kpi-retention",
        "key": "retention",
        "value": last_month["retention"] if last_month else None,
        "trend": trend(
            "retention",
            last_month["retention"] if last_month else None,
            retained[-2]["retention"] if len(retained) > 1 else None,
            page.lang,
        ),
        "better_down": False,
        "note": page.t("retention_note", month=format.month(last_month["group"], page.lang))
        if last_month
        else None,
    }
    monthly = {
        "kind": "lines",
        "x": [format.month(m["group"], page.lang) for m in months],
        "dates": [m["group"] + "-01" for m in months],  # change markers
        "series": [
            series(page.lang, page.label(k), [m[k] for m in months], k)
            for k in ("events", "conversions")
        ],
        # Each point opens the Events page with that month's events (or purchases).
        "links": [
            [
                period_href(page.params, metric, month["from"], month["to"])
                for month in (month_bounds(m["group"]) for m in months)
            ]
            for metric in (None, "conversions")
        ],
    }
    return render(
        page,
        "overview.html",
        window=w,
        period=caption(page, w),
        empty=not cur["events"],
        results=cards(page, RESULT_CARDS, cur, prev),
        nps_margin=cur["nps_margin"],
        remote_cards=cards(page, QUEUE_CARDS, remote_cur, remote_prev)
        if remote_cur["offered"]
        else [],
        remote_ids=remote,
        remote_names=queue_names(page, remote, by_tp),
        site_cards=cards(page, QUEUE_CARDS[:3], site_cur, site_prev, "onsite-")
        if site_cur["offered"]
        else [],
        site_ids=onsite,
        site_names=queue_names(page, onsite, by_tp),
        retention=retention,
        targets=targets_table(page, w.cur),
        months=months,
        monthly=monthly,
    )
