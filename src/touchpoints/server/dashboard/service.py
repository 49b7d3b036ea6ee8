"""The service page (`/service`), for supervisors too: waits and handle times by channel,
contacts by hour of the week, each agent's numbers, and the Erlang C staffing a channel
needs hour by hour."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from touchpoints.core import format
from touchpoints.server.dashboard.changes import FORECAST_CHECK_DAYS, forecast_check
from touchpoints.server.dashboard.data import dataset, default_staff_channel
from touchpoints.server.dashboard.drill import events_href
from touchpoints.server.pages import ALL, Page, code_word, page_context, render, series

router = APIRouter()

AGENTS_SHOWN = 30


@router.get("/service", response_class=HTMLResponse)
def service_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    channels = [r for r in page.run("kpis", by="channel")["rows"] if r["offered"]]
    agents = [r for r in page.run("kpis", by="agent")["rows"] if r["group"] and r["offered"]]
    how = dataset(page, "hour_of_week").result["rows"]
    days = format.weekdays(page.lang)
    offered = [r for r in how if r["offered"]]
    heat = {
        "kind": "heatmap",
        "x": [str(h) for h in range(24)],
        "y": days,
        "cells": [
            [r["hour"], r["weekday"] - 1, r["offered"], page.fmt("offered", r["offered"])]
            for r in offered
        ],
        # Each cell opens the contacts offered in that hour of that weekday.
        "links": [
            [
                events_href(page.params, "offered", weekday=str(r["weekday"]), hour=str(r["hour"]))
                for r in offered
            ]
        ],
    }
    channel_spec = {
        "kind": "bar",
        "y_name": page.t("axis_seconds"),
        "categories": [code_word(page.lang, "channel", r["group"]) for r in channels],
        "series": [
            series(page.lang, page.label(k), [r[k] for r in channels], k)
            for k in ("tme_seconds", "tma_seconds")
        ],
        "links": [[events_href(page.params, "answered", channel=r["group"]) for r in channels]] * 2,
    }
    staffing = dataset(page, "staffing")
    staff = staffing.result if staffing else None
    staff_grid: dict[int, dict[int, Any]] = {}
    for r in staff["rows"] if staff else []:
        staff_grid.setdefault(r["weekday"], {})[r["hour"]] = r["scheduled_agents"]
    staff_channel = page.request.query_params.get("staff") or default_staff_channel(page)
    check = forecast_check(page, staff_channel)
    return render(
        page,
        "service.html",
        forecast=check,
        forecast_spec=check["spec"] if check else None,
        forecast_days=FORECAST_CHECK_DAYS,
        channels=channels,
        agents=agents[:AGENTS_SHOWN],
        heat=heat,
        how_grid={(r["weekday"], r["hour"]): r["offered"] for r in how},
        days=days,
        channel_spec=channel_spec,
        staff=staff,
        staff_channel=staff_channel,
        staff_grid=staff_grid,
        staffing_available=True,
    )
