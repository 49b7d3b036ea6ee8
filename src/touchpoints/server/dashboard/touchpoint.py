"""One touchpoint's page (`/touchpoints/{id}`): its KPIs against its targets, its phase mix,
what each attribution model credits it with, its promises, insights and comments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse

from touchpoints.core import messages as msg
from touchpoints.server.dashboard.data import COMMENTS, comment_rows, dataset
from touchpoints.server.dashboard.drill import events_href
from touchpoints.server.pages import ANALYSTS, Page, catalog, page_context, render, series

router = APIRouter()


def attribution_rows(page: Page, touchpoint: str) -> list[dict[str, Any]]:
    """Each model's row for this touchpoint (None when it credits it nothing)."""
    result = dataset(page, "attribution").result
    rows = {r["model"]: r for r in result["rows"] if r["touchpoint"] == touchpoint}
    return [
        {"model": m, "row": rows.get(m), "error": result["errors"].get(m)} for m in result["models"]
    ]


@router.get("/touchpoints/{touchpoint_id}", response_class=HTMLResponse)
def touchpoint_page(
    touchpoint_id: str, page: Page = Depends(page_context(*ANALYSTS))
) -> HTMLResponse:
    entry = page.get(catalog).get(touchpoint_id)
    if entry is None:
        raise HTTPException(status_code=404, detail=page.t("unknown_touchpoint", id=touchpoint_id))
    mine = page.scope.replace(touchpoints=(touchpoint_id,))
    total = page.run("kpis", mine)["rows"][0]
    by_phase = page.run("kpis", mine, by="phase")["rows"]
    promise = next(
        (r for r in dataset(page, "moments").result["touchpoints"] if r["touchpoint"] == touchpoint_id),
        None,
    )  # fmt: skip
    findings = dataset(page, "insights").result["findings"]
    phase_spec = {
        "kind": "bar",
        "categories": [msg.capitalized(page.t(f"common.{r['group']}")) for r in by_phase],
        "series": [
            series(page.lang, page.label("events"), [r["events"] for r in by_phase], "events")
        ],
        "links": [
            [events_href(page.params, touchpoint=touchpoint_id, phase=r["group"]) for r in by_phase]
        ],
    }
    return render(
        page,
        "touchpoint.html",
        entry=entry,
        name=entry.label(page.lang),
        total=total,
        by_phase=by_phase,
        phase_spec=phase_spec,
        attribution_rows=attribution_rows(page, touchpoint_id),
        promise=promise,
        insights=[f for f in findings if f.get("touchpoint") == touchpoint_id],
        comments=comment_rows(page.run("feedback.comments", mine, limit=COMMENTS)),
        tp_id=touchpoint_id,
    )
