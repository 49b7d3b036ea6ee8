"""The feedback page (`/feedback`), for supervisors too: NPS with its margin, CSAT and CES
week by week, where customers first heard of the company, and their comments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from touchpoints.core import format
from touchpoints.server.dashboard.data import dataset
from touchpoints.server.pages import ALL, Page, page_context, render, series

router = APIRouter()

MOODS = ("negative", "neutral", "positive")
NPS_SCALE = (-100.0, 100.0)


def weekly_specs(page: Page, weeks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """NPS with its 95 % band, CSAT and CES, one point per week with answers."""
    x = [format.date(w["group"], page.lang) for w in weeks]

    def band(w: dict[str, Any]) -> tuple[float | None, float | None]:
        """The 95 % interval, within the scale NPS lives on: a week of three answers has a
        margin of ±100 or more, and an NPS of 180 is no reading a manager can use."""
        if w["nps"] is None or w["nps_margin"] is None:
            return None, None
        low, high = NPS_SCALE
        return max(low, w["nps"] - w["nps_margin"]), min(high, w["nps"] + w["nps_margin"])

    nps = {
        **series(page.lang, page.label("nps"), [w["nps"] for w in weeks], "nps"),
        "low": [band(w)[0] for w in weeks],
        "high": [band(w)[1] for w in weeks],
    }
    specs = {
        "nps_spec": {
            "kind": "lines",
            "x": x,
            "dates": [w["group"] for w in weeks],  # change markers
            "series": [nps],
            "min": NPS_SCALE[0],
            "max": NPS_SCALE[1],
        }
    }
    for name, key in (("score_spec", "csat"), ("ces_spec", "ces")):
        line = series(page.lang, page.label(key), [w[key] for w in weeks], key)
        specs[name] = {
            "kind": "lines",
            "x": x,
            "dates": [w["group"] for w in weeks],
            "series": [line],
        }
    return specs


@router.get("/feedback", response_class=HTMLResponse)
def feedback_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    weeks = [
        w
        for w in page.run("kpis", by="week")["rows"]
        if w["nps"] is not None or w["csat"] is not None or w["ces"] is not None
    ]
    notes = dataset(page, "comments").result["rows"]
    first_touch = dataset(page, "first_touch").result
    first = first_touch["rows"]
    label = page.names()
    first_spec = {
        "kind": "bar",
        "categories": [label.get(r["touchpoint"], r["touchpoint"]) for r in first],
        "series": [
            series(page.lang, page.label("customers"), [r["customers"] for r in first], "customers")
        ],
    }
    return render(
        page,
        "feedback.html",
        weeks=weeks,
        **weekly_specs(page, weeks),
        grouped={mood: [c for c in notes if c["sentiment"] == mood] for mood in MOODS},
        first=first,
        first_spec=first_spec,
        first_title="first_heard_survey" if first_touch["source"] == "survey" else "first_heard",
        label=label,
    )
