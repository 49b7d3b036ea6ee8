"""The overview (`/`): the headline KPIs with their change against the period before, every
catalog target met or missed, and the months side by side."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from touchpoints.analytics.scope import Scope
from touchpoints.core import format
from touchpoints.server.dashboard.drill import events_href, month_bounds
from touchpoints.server.pages import ALL, Page, catalog, page_context, render, series

router = APIRouter()

TREND_DAYS = 28
CARDS = (
    "nps",
    "csat",
    "tma_seconds",
    "tme_seconds",
    "abandonment_rate",
    "service_level",
    "conversions",
    "revenue",
)
LOWER_IS_BETTER = {"tme_seconds", "tma_seconds", "abandonment_rate", "ces"}


def last_event(summary: dict[str, Any]) -> datetime:
    """The time of the store's latest event, from the `summary` analysis: without a period,
    trends compare the last TREND_DAYS days *of data*, which may have ended long ago."""
    seen = summary["last_event"]
    return datetime.fromisoformat(seen) if seen else datetime(2000, 1, 1)


def trailing_windows(scope: Scope, end: datetime) -> tuple[Scope, Scope]:
    """The TREND_DAYS days up to `end` and the TREND_DAYS before them."""
    days = timedelta(days=TREND_DAYS)
    cur = scope.replace(date_from=end - days, date_to=end)
    prev = scope.replace(date_from=end - 2 * days, date_to=end - days - timedelta(microseconds=1))
    return cur, prev


def comparison_windows(page: Page) -> tuple[Scope, Scope, str]:
    """The selected period and the one of equal length just before it; without a period,
    the last TREND_DAYS days of data and the TREND_DAYS before them."""
    f = page.scope
    if f.date_from and f.date_to:
        length = f.date_to - f.date_from
        prev = f.replace(
            date_from=f.date_from - length - timedelta(microseconds=1),
            date_to=f.date_from - timedelta(microseconds=1),
        )
        day = format.date
        label = page.t(
            "previous_period",
            cur=f"{day(f.date_from, page.lang)}–{day(f.date_to, page.lang)}",
            prev=f"{day(prev.date_from, page.lang)}–{day(prev.date_to, page.lang)}",
        )
        return f, prev, label
    cur, prev = trailing_windows(f, f.date_to or last_event(page.run("summary", Scope())))
    return cur, prev, page.t("last_days", n=format.integer(TREND_DAYS, page.lang))


def trend(key: str, cur: float | None, prev: float | None, lang: str) -> dict[str, Any] | None:
    """The change from `prev` to `cur`; one too small to show in `key`'s unit ('0 s',
    '0,0 p.p.') is no change, never 'up 0 s'."""
    if cur is None or prev is None:
        return None
    delta = cur - prev
    if format.change(key, delta, lang) == format.change(key, 0, lang):
        return {"delta": 0, "dir": "flat"}
    return {"delta": delta, "dir": "up" if delta > 0 else "down"}


def targets_table(page: Page) -> list[dict[str, Any]]:
    """Every target of the catalog with the touchpoint's actual value and whether it is met."""
    by_tp = {r["group"]: r for r in page.run("kpis", by="touchpoint")["rows"]}
    rows = []
    for tp in page.get(catalog).touchpoints:
        for key, goal in tp.target.items():
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


@router.get("/", response_class=HTMLResponse)
def overview(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    total = page.run("kpis")["rows"][0]
    cur_scope, prev_scope, trend_label = comparison_windows(page)
    cur = page.run("kpis", cur_scope)["rows"][0]
    prev = page.run("kpis", prev_scope)["rows"][0]
    months = page.run("kpis", by="month")["rows"]
    retained = [m for m in months if m["retention"] is not None]
    last_month = retained[-1] if retained else None
    cards = [
        {
            "key": k,
            "value": total[k],
            "trend": trend(k, cur[k], prev[k], page.lang),
            "better_down": k in LOWER_IS_BETTER,
        }
        for k in CARDS
    ]
    cards.append(
        {
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
    )
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
            [events_href(page.params, metric, **month_bounds(m["group"])) for m in months]
            for metric in (None, "conversions")
        ],
    }
    return render(
        page,
        "overview.html",
        total=total,
        cards=cards,
        trend_label=trend_label,
        targets=targets_table(page),
        months=months,
        monthly=monthly,
    )
