"""The attendant page (`/attendant`), for supervisors too: conversations the 24/7 bot
handled, how many it contained, the hand-offs by reason, CSAT of the bot's conversations
against the people's, and the messages it did not understand — written as YAML lines to
paste into the attendant file as examples."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from touchpoints.server.dashboard.data import dataset
from touchpoints.server.pages import ALL, Page, page_context, render, series

router = APIRouter()

HEADLINE = (
    "conversations",
    "containment_rate",
    "handoff_rate",
    "first_response_seconds",
    "handoff_wait_seconds",
)


@router.get("/attendant", response_class=HTMLResponse)
def attendant_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    kpis = dataset(page, "attendant").result  # type: ignore[union-attr]
    missed = dataset(page, "attendant_missed").result["rows"]  # type: ignore[union-attr]
    reasons = kpis["reasons"]
    reason_names = [page.t(f"attendant.reason_{r['reason']}") for r in reasons]
    reasons_spec = {
        "kind": "bar",
        "categories": reason_names,
        "series": [
            series(page.lang, page.label("handoffs"), [r["count"] for r in reasons], "count")
        ],
    }
    csat_spec = {
        "kind": "bar",
        "categories": [page.t("attendant.who_bot"), page.t("attendant.who_people")],
        "series": [
            series(page.lang, page.label("csat"), [kpis["csat_bot"], kpis["csat_people"]], "csat")
        ],
    }
    # One YAML list item per phrase, quoted as YAML reads it back (JSON strings are YAML).
    paste = "\n".join("- " + json.dumps(r["text"], ensure_ascii=False) for r in missed)
    return render(
        page,
        "attendant.html",
        filters=("from", "to"),
        kpis=kpis,
        headline=HEADLINE,
        reasons=list(zip(reason_names, reasons, strict=True)),
        reasons_spec=reasons_spec,
        csat_spec=csat_spec,
        missed=missed,
        paste=paste,
    )
