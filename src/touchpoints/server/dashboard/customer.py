"""A customer's page (`/customers/{id}`, with a search box at `/customers`): the journey
cycles of one customer on a time axis, visible moments and invisible gaps.

Built from two analyses of the registry: `customer.journey` (cycles, steps, phases, gaps:
the very steps the journey analyses count) and `customer.events` (every column of every
event: agent, purchase, promise, emotion, data re-used, and the survey answers that rate a
moment through `ref_event_id`). The id is looked up as the customer gives it, under its
pseudonym when pseudonymisation is on; an unknown id is a "no such customer" page (404).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from touchpoints.core import format
from touchpoints.core import messages as msg
from touchpoints.core.errors import NotFoundError
from touchpoints.core.events import PHASES
from touchpoints.server.dashboard.drill import local
from touchpoints.server.dashboard.timeline import Moment, promise_links, svg
from touchpoints.server.pages import ALL, Page, catalog, page_context, render

router = APIRouter()


def _answers(row: dict[str, Any], lang: str) -> str:
    """A survey answer in a few words: 'NPS 9 · CSAT 4 · "demorou"'."""
    parts = [
        f"{msg.t(lang, 'metric.' + key)} {format.integer(row[key], lang)}"
        for key in ("nps", "csat", "ces")
        if row.get(key) is not None
    ]
    if row.get("comment"):
        parts.append(f"“{row['comment']}”")
    return " · ".join(parts)


def cycles_view(
    page: Page, journey: dict[str, Any], events: dict[str, Any], zone: str
) -> list[dict[str, Any]]:
    """Each cycle with its moments (steps joined to their events' columns and to the
    survey answers that rate them) and its SVG."""
    lang = page.lang
    rows = events["rows"]
    by_id = {r["event_id"]: r for r in rows}
    rating: dict[str, list[str]] = {}
    for r in rows:
        if r.get("ref_event_id") and any(
            r.get(k) is not None for k in ("nps", "csat", "ces", "comment")
        ):
            rating.setdefault(r["ref_event_id"], []).append(_answers(r, lang))
    links = promise_links(rows)
    tps = {tp.id: tp for tp in page.get(catalog).touchpoints}
    labels = {p: msg.capitalized(msg.t(lang, "common." + p)) for p in PHASES}
    labels |= {
        k: msg.t(lang, "web.drill." + k)
        for k in ("promise_made", "promise_kept", "promise_broken", "repeated_data", "invisible")
    }
    out = []
    for cycle in journey["cycles"]:
        gaps = [None, *cycle["gaps"]]
        moments = []
        for step, gap in zip(cycle["steps"], gaps, strict=True):
            row = by_id.get(step["event_id"], {})
            tp = tps.get(step["touchpoint"])
            value = row.get("value") if row.get("action") == "purchase" else None
            moments.append(
                Moment(
                    event_id=step["event_id"],
                    when=local(step["ts"], zone, lang),
                    touchpoint=step["touchpoint"],
                    name=tp.label(lang) if tp else step["touchpoint"],
                    phase=step["phase"],
                    kind=tp.kind if tp else "",
                    channel=format.code("channel", tp.channel, lang) if tp else "",
                    agent=row.get("agent"),
                    value=format.money(value, lang) if row.get("action") == "purchase" else None,
                    promise=row.get("promise"),
                    emotion=row.get("emotion"),
                    repeated_data=row.get("data_reused") is False,
                    answers=rating.get(step["event_id"], []),
                    gap_before=gap["seconds"] if gap else None,
                    gap_label=format.duration(gap["seconds"], lang) if gap else None,
                    promise_from=links.get(step["event_id"]),
                )
            )
        key = "web.drill.cycle_converts" if cycle["converts"] else "web.drill.cycle_open"
        title = msg.t(lang, key, cycle=format.integer(cycle["cycle"], lang))
        whens = {m.event_id: m.when for m in moments}
        for m in moments:
            if m.promise_from:
                made = whens.get(m.promise_from) or local(by_id[m.promise_from]["ts"], zone, lang)
                m.answers = [
                    msg.t(lang, f"web.drill.{m.promise}_from", when=made),
                    *m.answers,
                ]
        out.append({"title": title, "moments": moments, "svg": svg(moments, labels, title)})
    return out


def outside_steps(
    events: dict[str, Any], steps: set[str], zone: str, lang: str
) -> list[dict[str, Any]]:
    """Events that are no journey step (survey answers, queue marks), with what they rate."""
    return [
        {**r, "when": local(r["ts"], zone, lang), "answer": _answers(r, lang)}
        for r in events["rows"]
        if r["event_id"] not in steps
    ]


@router.get("/customers", response_model=None)
def search(page: Page = Depends(page_context(*ALL))) -> Response:
    """The search box: `?id=C000112` opens that customer's page."""
    wanted = page.request.query_params.get("id", "").strip()
    if wanted:
        return RedirectResponse(f"/customers/{quote(wanted, safe='')}", status_code=303)
    return render(page, "customer.html", filters=(), customer_id="", cycles=None, missing=False)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(customer_id: str, page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    zone = page.request.query_params.get("timezone") or page.timezone  # the company's
    scope = page.scope.replace(timezone=zone)
    try:
        journey = page.run("customer.journey", scope, customer_id=customer_id)
        events = page.run("customer.events", scope, customer_id=customer_id)
    except NotFoundError:
        return render(
            page, "customer.html", status=404, filters=(), customer_id=customer_id,
            cycles=None, missing=True,
        )  # fmt: skip
    cycles = cycles_view(page, journey, events, zone)
    steps = {s["event_id"] for c in journey["cycles"] for s in c["steps"]}
    return render(
        page,
        "customer.html",
        filters=(),
        customer_id=customer_id,
        cycles=cycles,
        missing=False,
        zone=zone,
        event_count=len(events["rows"]),
        outside=outside_steps(events, steps, zone, page.lang),
    )
