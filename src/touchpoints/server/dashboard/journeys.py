"""The analysts' pages about journeys: the map (`/map`: touchpoint strength per phase and
kind, and the service blueprint), the journeys (`/journeys`: flows, paths, funnel, gaps,
emotion) and attribution (`/attribution`: every model side by side)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from touchpoints.core import format
from touchpoints.core import messages as msg
from touchpoints.core.events import PHASES
from touchpoints.server.dashboard import recommendations
from touchpoints.server.dashboard.data import SANKEY_DEPTH, dataset, flow_of
from touchpoints.server.pages import ANALYSTS, KINDS, Page, catalog, page_context, render, series

router = APIRouter()

# A flow node smaller than this share of a step's cycles is drawn without a label: its box
# is thinner than a line of text, and its name would be written over its neighbours'.
SANKEY_LABEL_SHARE = 0.05  # smaller nodes go unlabelled (their labels would overlap)
MIN_ANSWERS = 30  # fewest answers behind a point of the emotion curve


def strength_grid(page: Page) -> dict[str, Any]:
    """Touchpoints in (phase, kind) cells, each with its share of cycles and a shade level
    relative to the strongest (the value is always printed: no colour-only reading)."""
    rows = dataset(page, "strength").result["rows"]
    grid: dict[tuple[str, str], list[dict[str, Any]]] = {}
    top = max((r["share_of_cycles"] or 0 for r in rows), default=0) or 1
    for r in rows:
        if r["kind"] is None or r["phase"] is None:
            continue
        share = r["share_of_cycles"] or 0
        grid.setdefault((r["phase"], r["kind"]), []).append(
            {
                "id": r["touchpoint"],
                "name": r["name"][page.lang] if r["name"] else r["touchpoint"],
                "share": share,
                "reach": r["reach"],
                "level": min(4, int(4 * share / top + 0.5)),
                "unplanned": r["unplanned"],
            }
        )
    return {"cells": grid, "rows": rows}


def blueprint(page: Page) -> dict[str, Any]:
    """Catalog entries in lanes: backstage on top, touchpoints, customer-only at the bottom;
    columns are the planned phases (entries without a plan go to 'any phase')."""
    lanes = []
    for visibility, label in (
        ("company", "backstage"),
        ("both", "frontstage"),
        ("customer", "customer_only"),
    ):
        cols: dict[str, list[dict[str, str]]] = {p: [] for p in (*PHASES, "any")}
        for tp in page.get(catalog).touchpoints:
            if tp.visibility != visibility:
                continue
            for p in tp.phase or ["any"]:
                cols[p].append({"id": tp.id, "name": tp.label(page.lang), "kind": tp.kind})
        lanes.append({"visibility": visibility, "label": page.t(label), "cols": cols})
    return {"lanes": lanes, "has_any": any(lane["cols"]["any"] for lane in lanes)}


@router.get("/map", response_class=HTMLResponse)
def map_page(page: Page = Depends(page_context(*ANALYSTS))) -> HTMLResponse:
    return render(
        page, "map.html", grid=strength_grid(page), blueprint=blueprint(page), kinds_=KINDS
    )


def sankey_spec(page: Page, flow: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The flow chart's spec, and each node's name ('2. WhatsApp', 'Purchase')."""
    label = page.names()
    terminal = {k: msg.capitalized(page.t(k)) for k in ("purchase", "end")}

    def node_label(n: dict[str, Any]) -> str:
        if n["touchpoint"] is None:
            return terminal.get(n["id"], n["id"])
        return f"{n['step']}. {label.get(n['touchpoint'], n['touchpoint'])}"

    names = {n["id"]: node_label(n) for n in flow["nodes"]}
    per_step: dict[Any, float] = {}
    for n in flow["nodes"]:
        per_step[n["step"]] = per_step.get(n["step"], 0) + n["value"]
    smallest = SANKEY_LABEL_SHARE * max(per_step.values(), default=0)
    # Columns are pinned (step k in column k - 1, purchase and end after the last step), so
    # the chart knows how far apart they are and keeps each label within its column.
    last = max((n["step"] for n in flow["nodes"] if n["step"] is not None), default=1)
    terminals = any(n["step"] is None for n in flow["nodes"])
    spec = {
        "kind": "sankey",
        "columns": last + (1 if terminals else 0),
        "nodes": [
            {
                "name": names[n["id"]],
                "depth": n["step"] - 1 if n["step"] is not None else last,
                "value": n["value"],
                "label": format.integer(n["value"], page.lang),
                "small": n["touchpoint"] is not None and n["value"] < smallest,
            }
            for n in flow["nodes"]
        ],
        "links": [
            {"source": names[li["source"]], "target": names[li["target"]], "value": li["value"]}
            for li in flow["links"]
        ],
    }
    return spec, names


@router.get("/journeys", response_class=HTMLResponse)
def journeys_page(page: Page = Depends(page_context(*ANALYSTS))) -> HTMLResponse:
    flow = dataset(page, "sankey").result
    flow_spec, node_names = sankey_spec(page, flow)
    flow_kind = flow_of(page)
    fun = dataset(page, "funnel").result
    funnel_spec = {
        "kind": "bar",
        "categories": [msg.capitalized(page.t(f"common.{s['stage']}")) for s in fun["stages"]],
        "series": [
            series(page.lang, page.label("customers"), [s["count"] for s in fun["stages"]], "count")
        ],
    }
    emo = dataset(page, "emotion").result["rows"]
    # A step's mean of a handful of answers is noise (8, 1 and 1 answers "fall to 0"):
    # such steps stay in the table, with their count, but are not drawn.
    drawn = [e for e in emo if e["answers"] >= MIN_ANSWERS]
    emotion_spec = {
        "kind": "lines",
        "x": [str(e["step"]) for e in drawn],
        "series": [
            series(page.lang, page.label("emotion"), [e["emotion"] for e in drawn], "emotion")
        ],
        "min": -2,
        "max": 2,
    }
    return render(
        page,
        "journeys.html",
        flow=flow,
        node_names=node_names,
        sankey_spec=flow_spec,
        variants=dataset(page, "variants").result,
        fun=fun,
        funnel_spec=funnel_spec,
        gaps=dataset(page, "gaps").result,
        emotion=emo,
        emotion_spec=emotion_spec,
        min_answers=MIN_ANSWERS,
        label=page.names(),
        depth=SANKEY_DEPTH,
        flow_kind=flow_kind,
        phase_chosen=bool(page.scope.phases),
    )


DEFAULT_MODEL = "markov"  # exact removal effects: the one model the page opens on


@router.get("/attribution", response_class=HTMLResponse)
def attribution_page(page: Page = Depends(page_context(*ANALYSTS))) -> HTMLResponse:
    """Opens on one model (exact Markov) with conversions and revenue per touchpoint; the
    other models side by side only behind the comparison switch (`?compare=1`), since
    seven models' bars at once answer no question. Below, what to do first: problems
    merged across phases, the largest first, apart from strengths."""
    compare = page.request.query_params.get("compare") == "1"
    result = dataset(page, "attribution").result
    ran = [m for m in result["models"] if m not in result["errors"]]
    by_touchpoint: dict[str, dict[str, Any]] = {}
    for r in result["rows"]:
        by_touchpoint.setdefault(r["touchpoint"], {})[r["model"]] = r
    label = page.names()
    table = [
        {"touchpoint": tp, "name": label.get(tp, tp), "models": cells}
        for tp, cells in by_touchpoint.items()
    ]
    table.sort(key=lambda row: -((row["models"].get(DEFAULT_MODEL) or {}).get("conversions") or 0))
    shown = ran if compare else [m for m in ran if m == DEFAULT_MODEL]
    spec = {
        "kind": "bar",
        "categories": [row["name"] for row in table],
        "series": [
            series(
                page.lang,
                page.t(f"common.model_{m}"),
                [(row["models"].get(m) or {}).get("conversions") for row in table],
                lambda v: format.number(v, page.lang, 1),
            )
            for m in shown
        ],
    }
    totals = page.run("kpis")["rows"][0]
    per_conversion = totals["revenue"] / totals["conversions"] if totals["conversions"] else None
    owners = {tp.id: tp.owner for tp in page.get(catalog).touchpoints}
    insights = dataset(page, "insights").result
    nouns = {tp.id: tp.noun(page.lang) for tp in page.get(catalog).touchpoints}
    problems, strengths = recommendations.merged(
        insights.get("findings") or [], owners, per_conversion, page.lang, nouns
    )
    return render(
        page,
        "attribution.html",
        result=result,
        table=table,
        spec=spec,
        models=result["models"],
        compare=compare,
        default_model=DEFAULT_MODEL,
        problems=problems,
        strengths=strengths,
        top=recommendations.TOP,
        names=label,
    )
