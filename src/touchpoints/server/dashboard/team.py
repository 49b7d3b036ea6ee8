"""The team page (`/team`, open to supervisors): each agent's scorecard against the rest of
the team on the same touchpoints and hours, the coaching findings in words, one agent's
weekly trend and the themes of the low-rated comments. Everything is the `agents`
analysis of the registry; each number links to the events behind it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from touchpoints.core import format
from touchpoints.server.dashboard.drill import events_href, period_href
from touchpoints.server.pages import ALL, Page, page_context, render, series

router = APIRouter()


def trend_spec(page: Page, weeks: list[dict[str, Any]], who: str) -> dict[str, Any]:
    """One agent's contacts and CSAT per week, each contacts point opening that week's
    contacts (within the page's period: its first and last weeks may be cut)."""

    def week_href(monday: str) -> str:
        sunday = (date.fromisoformat(monday) + timedelta(days=6)).isoformat()
        return period_href(page.params, "offered", monday, sunday, agent=who)

    return {
        "kind": "lines",
        "x": [format.date(w["week"], page.lang) for w in weeks],
        "series": [
            series(page.lang, page.label(k), [w[k] for w in weeks], k) for k in ("contacts", "csat")
        ],
        # CSAT is a share, not a count: its points link nowhere.
        "links": [[week_href(w["week"]) for w in weeks], [None] * len(weeks)],
    }


@router.get("/team", response_class=HTMLResponse)
def team_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    result = page.run("agents")
    rows = result["rows"]
    who = page.request.query_params.get("who") or ""
    known = {r["agent"] for r in rows}
    if who not in known:
        weak = [f["agent"] for f in result["findings"] if f["direction"] == "weakness"]
        who = weak[0] if weak else (rows[0]["agent"] if rows else "")
    mine = [r for r in result["by_touchpoint"] if r["agent"] == who]
    weeks = [w for w in result["weeks"] if w["agent"] == who]
    themes = [t for t in result["themes"] if t["agent"] == who]
    team_themes = [t for t in result["themes"] if t["agent"] is None]
    return render(
        page,
        "team.html",
        filters=("from", "to", "channel", "segment"),
        rows=rows,
        findings=result["findings"],
        who=who,
        mine=mine,
        weeks=weeks,
        trend=trend_spec(page, weeks, who),
        themes=themes,
        team_themes=team_themes,
        agent_href=lambda agent, metric, touchpoint=None: events_href(
            page.params, metric, agent=agent, touchpoint=touchpoint
        ),
    )
