"""The web dashboard: the pages of SPEC §6 and the `/data/...` sets behind their charts.

Every number comes from an analysis of the registry (`touchpoints.analytics`), run over
the page's scope by name (`page.run("journeys.sankey", depth=4)`): the same objects the
CLI prints with `--json`, through the result cache, so a page is as fast as a dictionary
lookup once its data was computed for the current data version. Pages render on the
server (Jinja2); `static/charts.js` only draws the chart specs embedded in them.

The pages live in one module per area — `overview`, `journeys` (map, journeys,
attribution), `touchpoint`, `service`, `feedback`, `catalog` — and the data sets in
`data`; the frame they share (who reads, in which language, with which filters) is
`touchpoints.server.pages`. This module gathers their routes into one router and keeps the
cache warm with what those pages ask for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

from touchpoints.analytics.scope import Scope
from touchpoints.core import format
from touchpoints.server.cache import Job, Warmer
from touchpoints.server.dashboard import (
    attendant,
    catalog,
    catalog_form,
    changes,
    customer,
    data,
    drill,
    feedback,
    journeys,
    overview,
    service,
    team,
)
from touchpoints.server.dashboard import touchpoint as touchpoint_page
from touchpoints.server.dashboard.changes import FORECAST_CHECK_OPTIONS, forecast_check_scopes
from touchpoints.server.dashboard.data import (
    ANALYSES,
    COMMENTS,
    FLOWS,
    all_attribution,
    busiest_channel,
)
from touchpoints.server.dashboard.overview import last_event, windows
from touchpoints.server.pages import catalog as read_catalog
from touchpoints.server.pages import job


@asynccontextmanager
async def warm_cache(app: FastAPI) -> AsyncIterator[None]:
    """Compute the pages' analyses in the background from server start (and after each
    ingestion), so even the first visit is served from the cache."""
    settings = app.state.service.settings
    jobs = partial(default_jobs, timezone=settings.timezone, on_site=settings.on_site_channels)
    warmer = Warmer(app.state.service, jobs).start()
    try:
        yield
    finally:
        warmer.stop()


router = APIRouter(lifespan=warm_cache)
for area in (
    overview,
    journeys,
    touchpoint_page,
    service,
    feedback,
    attendant,
    changes,
    catalog,
    catalog_form,
    data,
    drill,
    customer,
    team,
):
    router.include_router(area.router)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


def default_jobs(
    run: Callable[..., Any], timezone: str = "UTC", on_site: Any = ("store",)
) -> list[Job]:
    """The analyses behind every page without filters, in the order pages are usually
    opened, exactly as the pages ask for them (same arguments, so the same cache keys:
    scopes in the company's `timezone`). `run(fn, *args)` reads the store: the overview's
    periods follow the data's last day, its queues the catalog's channels (`on_site`
    apart), and every touchpoint of the catalog has a detail page."""
    scope = Scope(timezone=timezone)
    summary = job("summary", scope)
    jobs: list[Job] = [(read_catalog, (), {}), summary, job("changes.list", Scope())]
    for by in (None, "month", "touchpoint", "channel", "agent", "week"):
        jobs.append(job("kpis", scope, by=by))
    seen = run(summary[0], *summary[1])
    newest = format.local(last_event(seen), timezone)
    assert newest is not None
    w = windows(scope, None, None, newest.date())
    queues = [tp for tp in run(read_catalog).touchpoints if tp.is_touchpoint]
    remote = tuple(tp.id for tp in queues if tp.channel not in on_site)
    local = tuple(tp.id for tp in queues if tp.channel in on_site)
    jobs += [job("kpis", w.cur), job("kpis", w.prev), job("kpis", w.cur, by="touchpoint")]
    for ids in (remote, local):
        jobs += [job("kpis", s.replace(touchpoints=ids)) for s in (w.cur, w.prev)]
    jobs += [job(name, scope, **options) for name, options in ANALYSES.values()]
    sankey, options = ANALYSES["sankey"]
    jobs += [job(sankey, scope.replace(phases=phases), **options) for phases in FLOWS.values()]
    jobs += [
        job("feedback.comments", scope, limit=COMMENTS),
        job("feedback.first-heard", scope),
        job("journeys.dfg", scope),
        (all_attribution, (scope,), {}),
    ]
    jobs.append(job("insights", scope, all=True))  # one answer: it carries both languages
    # The Service page: the busiest channel's staffing and its forecast check.
    by_channel = job("kpis", scope, by="channel")
    channel = busiest_channel(run(by_channel[0], *by_channel[1]))
    if channel and seen["last_event"]:
        before, after = forecast_check_scopes(seen["last_event"], channel, timezone)
        jobs += [
            job("staffing", scope.replace(channels=(channel,))),
            job("forecast", before, **FORECAST_CHECK_OPTIONS),
            job("kpis", after, by="day"),
        ]
    for tp in run(read_catalog).touchpoints:
        mine = scope.replace(touchpoints=(tp.id,))
        jobs += [
            job("kpis", mine),
            job("kpis", mine, by="phase"),
            job("feedback.comments", mine, limit=COMMENTS),
        ]
    return jobs
