"""The data behind each chart and table: what a page draws is what `/data/{name}` serves.

A data set is an analysis of the registry run over the page's scope with the options the
page uses (`sankey` is `journeys.sankey` with `depth=4`), or a small composition of
analyses (every attribution model side by side). Pages read their numbers through
`dataset()`, and each chart's "Download CSV" link asks `/data/{name}` for the same
result: as JSON, exactly the analysis's object at full precision; as CSV, its main table
flattened by `analytics.results` like every other CSV the product writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from touchpoints.analytics import registry
from touchpoints.analytics.attribution import sharing_paths
from touchpoints.analytics.results import table_rows
from touchpoints.analytics.scope import Scope
from touchpoints.core.errors import TouchpointsError, UsageError
from touchpoints.core.format import spreadsheet
from touchpoints.server.pages import ALL, ANALYSTS, NO_STORE, Page, narrow, page_context
from touchpoints.server.users import require_role

router = APIRouter()

MODELS = ("first", "last", "linear", "position", "time-decay", "markov", "shapley")
SANKEY_DEPTH = 4
VARIANTS = 10
COMMENTS = 40

# Data sets that are one analysis as it is: name -> (analysis, options).
ANALYSES: dict[str, tuple[str, dict[str, Any]]] = {
    "strength": ("strength", {}),
    "sankey": ("journeys.sankey", {"depth": SANKEY_DEPTH}),
    "variants": ("journeys.variants", {"top": VARIANTS}),
    "funnel": ("journeys.funnel", {}),
    "gaps": ("journeys.gaps", {}),
    "moments": ("journeys.moments", {}),
    "hour_of_week": ("heatmap", {}),
    "attendant": ("attendant.kpis", {}),
    "attendant_missed": ("attendant.missed", {"limit": 50}),
    "agents": ("agents", {}),
}
# Who may download what: the service pages' data for every role, the rest for analysts.
DATA_ROLES = {
    "kpis": ALL,
    "hour_of_week": ALL,
    "comments": ALL,
    "first_touch": ALL,
    "staffing": ALL,
    "attendant": ALL,
    "attendant_missed": ALL,
    "forecast": ALL,
    "agents": ALL,
}


@dataclass(frozen=True)
class Data:
    """A data set's JSON object and the key of its main table (for the CSV)."""

    result: dict[str, Any]
    table: str = "rows"

    def csv(self, lang: str = "en") -> str:
        """The main table as a spreadsheet in the reader's language (`format.spreadsheet`)."""
        return spreadsheet(table_rows(self.result, self.table), lang)


# The journey flow (Sankey) shows one side of the purchase at a time: after-purchase
# events (the contract, the delivery) open cycles of their own, and mixed with the
# pre-purchase ones their largest entry would be "Contract and warranty".
FLOWS = {"pre": ("before", "during"), "post": ("after",)}


def flow_of(page: Page) -> str:
    """`?flow=post` for the after-purchase flows; the pre-purchase ones by default."""
    return "post" if page.request.query_params.get("flow") == "post" else "pre"


def flow_scope(page: Page) -> Scope:
    """The page's scope narrowed to the flow's phases (a chosen phase filter wins)."""
    if page.scope.phases:
        return page.scope
    return page.scope.replace(phases=FLOWS[flow_of(page)])


def dataset(page: Page, name: str) -> Data | None:
    """Data set `name` over the page's scope; None when it has nothing to show (staffing
    without any service contact)."""
    if name == "sankey":
        analysis, options = ANALYSES[name]
        return Data(page.run(analysis, flow_scope(page), **options), registry.get(analysis).table)
    if name in ANALYSES:
        analysis, options = ANALYSES[name]
        return Data(page.run(analysis, **options), registry.get(analysis).table)
    query = page.request.query_params
    if name == "kpis":
        return Data(page.run("kpis", by=query.get("by") or None))
    if name == "emotion":
        return Data({"rows": page.run("journeys.moments")["emotion"]["by_step"]})
    if name == "comments":
        return Data({"rows": comment_rows(page.run("feedback.comments", limit=COMMENTS))})
    if name == "first_touch":
        return first_touch(page)
    if name == "attribution":
        return Data(page.get(all_attribution, page.scope))
    if name == "insights":
        # Every finding carries its sentence in both languages: one answer (and one cache
        # entry, one warmer job) serves both.
        return Data(page.run("insights", all=True), "findings")
    if name == "staffing":
        channel = query.get("staff") or default_staff_channel(page)
        if not channel:
            return None
        return Data(page.run("staffing", page.scope.replace(channels=(channel,))))
    if name == "forecast":  # the Service page's forecast against what arrived
        from touchpoints.server.dashboard.changes import forecast_check

        check = forecast_check(page, query.get("channel") or default_staff_channel(page))
        return Data({"rows": check["rows"]}) if check else None
    raise HTTPException(status_code=404, detail=f"no data set {name!r}")


def first_touch(page: Page) -> Data:
    """The survey's "how did you first hear about us?" when customers answered it;
    otherwise each customer's first touchpoint in the journeys (`journeys.dfg` starts)."""
    heard = page.run("feedback.first-heard")
    if heard["answers"]:
        return Data({"source": "survey", "rows": heard["rows"]})
    starts = page.run("journeys.dfg")["starts"]
    rows = [{"touchpoint": k, "customers": v} for k, v in starts.items()]
    return Data({"source": "journeys", "rows": rows})


def comment_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """`feedback.comments` as the pages list them, each with the mood of the score given
    alongside it (see `sentiment`)."""
    return [{**c, "sentiment": sentiment(c)} for c in result["comments"]]


def sentiment(r: dict[str, Any]) -> str:
    """From the score given with the comment: NPS 0–6 / CSAT 1–2 / emotion < 0 negative.
    A score is what the customer chose; it sorts comments more surely than their words."""
    if r.get("nps") is not None:
        n = int(r["nps"])
        return "positive" if n >= 9 else "negative" if n <= 6 else "neutral"
    if r.get("csat") is not None:
        c = int(r["csat"])
        return "positive" if c >= 4 else "negative" if c <= 2 else "neutral"
    if r.get("emotion") is not None:
        e = int(r["emotion"])
        return "positive" if e > 0 else "negative" if e < 0 else "neutral"
    return "neutral"


def all_attribution(store: Any, scope: Scope) -> dict[str, Any]:
    """Every attribution model side by side: one row per model and touchpoint, and the
    models that could not run with their reason (one failing model hides no other)."""
    analysis = registry.get("attribution")
    scope = narrow(scope, analysis)
    rows: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    with sharing_paths(store):
        for model in MODELS:
            try:
                result = analysis.run(store, scope, analysis.options(model=model))
            except TouchpointsError as exc:
                errors[model] = str(exc)
                continue
            rows += [{"model": model, **r} for r in result["rows"]]
    return {"models": list(MODELS), "rows": rows, "errors": errors}


def default_staff_channel(page: Page) -> str | None:
    """The channel with the most service contacts: the queue a supervisor plans first."""
    return busiest_channel(page.run("kpis", by="channel"))


def busiest_channel(by_channel: dict[str, Any]) -> str | None:
    """The channel with the most offered contacts in a `kpis --by channel` answer."""
    queued = [r for r in by_channel["rows"] if r["offered"] and r["group"]]
    return max(queued, key=lambda r: r["offered"])["group"] if queued else None


@router.get("/data/{name}")
def data(name: str, request: Request, format: str = "json") -> Response:
    """Data set `name` with the page's filters: `?format=csv` for its main table."""
    roles = DATA_ROLES.get(name, ANALYSTS)
    page = page_context(*roles)(request, require_role(*roles)(request))
    if page.filter_error:
        raise HTTPException(status_code=400, detail=page.filter_error)
    try:
        found = dataset(page, name)
    except UsageError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    if found is None:
        raise HTTPException(status_code=404, detail=f"{name}: not available")
    if format == "csv":
        return Response(
            found.csv(page.lang).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **NO_STORE},
        )
    return JSONResponse(found.result, headers=NO_STORE)
