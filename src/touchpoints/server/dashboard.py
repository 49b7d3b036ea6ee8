"""The web dashboard: login, the pages of SPEC §6 and the `/data/...` endpoints behind
their charts.

Every number comes from an analysis function in `touchpoints.analytics` (the same
objects the CLI prints with `--json`), through the result cache, so a page is as fast as
a dictionary lookup once its data was computed for the current data version. Pages render
on the server (Jinja2); `static/charts.js` only draws the chart specs embedded in them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from touchpoints.analytics import registry
from touchpoints.analytics.scope import Scope
from touchpoints.core import format
from touchpoints.core import messages as msg
from touchpoints.core.catalog import parse_catalog
from touchpoints.core.errors import TouchpointsError
from touchpoints.core.events import PHASES
from touchpoints.server.cache import Job, Warmer, bump
from touchpoints.server.pages import (
    ALL,
    ANALYSTS,
    KINDS,
    Page,
    job,
    nav,
    page_context,
    series,
    templates,
)
from touchpoints.server.users import require_role


@asynccontextmanager
async def warm_cache(app: FastAPI) -> AsyncIterator[None]:
    """Compute the pages' analyses in the background from server start (and after each
    ingestion), so even the first visit is served from the cache."""
    warmer = Warmer(app.state.service, default_jobs).start()
    try:
        yield
    finally:
        warmer.stop()


router = APIRouter(lifespan=warm_cache)

MODELS = ("first", "last", "linear", "position", "time-decay", "markov", "shapley")
# Okabe–Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
SANKEY_DEPTH = 4
TREND_DAYS = 28
COMMENTS = 40


def render(page: Page, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """`template` in the frame every page shares (base.html): navigation for the user's
    role, the filter bar (channels from the catalog, segments from the data) and when the
    data shown was computed. Lives here, not in pages.py, because those reads are SQL."""
    catalog = page.get(_catalog)
    html = (
        templates(page.lang)
        .get_template(template)
        .render(
            page=page,
            t=page.t,
            lang=page.lang,
            user=page.user,
            params=page.params,
            filter_error=page.filter_error,
            nav=nav(page),
            channel_options=sorted({tp.channel for tp in catalog.touchpoints if tp.is_touchpoint}),
            tp_names={tp.id: tp.label(page.lang) for tp in catalog.touchpoints},
            kinds=KINDS,
            phases=PHASES,
            segments=page.get(_segments),
            path=page.request.url.path,
            as_of=page.as_of,
            **values,
        )
    )
    return HTMLResponse(html, status_code=status)


def default_jobs(run: Any) -> list[Job]:
    """The analyses behind every page without filters, in the order pages are usually
    opened, exactly as the pages ask for them (same arguments, so the same cache keys).
    `run(fn)` reads the store: the overview's trend windows follow the data's last day,
    and every touchpoint of the catalog has a detail page."""
    scope = Scope()
    jobs: list[Job] = [(_catalog, (), {}), (_segments, (), {}), (_data_span, (), {})]
    for by in (None, "month", "touchpoint", "channel", "agent", "week"):
        jobs.append(job("kpis", scope, by=by))
    hi = run(_data_span)[1] or datetime(2000, 1, 1)
    days = timedelta(days=TREND_DAYS)
    cur = scope.replace(date_from=hi - days, date_to=hi)
    prev = scope.replace(date_from=hi - 2 * days, date_to=hi - days - timedelta(microseconds=1))
    jobs += [job("kpis", cur), job("kpis", prev)]
    jobs += [
        job("strength", scope),
        job("journeys.sankey", scope, depth=SANKEY_DEPTH),
        job("journeys.funnel", scope),
        job("journeys.moments", scope),
        job("journeys.variants", scope, top=10),
        job("journeys.gaps", scope),
        job("heatmap", scope),
        job("feedback.comments", scope, limit=COMMENTS),
        job("journeys.dfg", scope),
        (all_attribution, (scope,), {}),
    ]
    jobs += [job("insights", scope, lang=lang) for lang in msg.LANGS]
    for tp in run(_catalog).touchpoints:
        mine = scope.replace(touchpoints=(tp.id,))
        jobs += [job("kpis", mine), job("kpis", mine, by="phase")]
    return jobs


# -- small reads that are not metrics ------------------------------------------------------
def _catalog(store: Any) -> Any:
    return store.catalog()


def _segments(store: Any) -> list[str]:
    rows = store.query(
        "SELECT DISTINCT segment FROM events WHERE segment IS NOT NULL ORDER BY segment LIMIT 50"
    )
    return [r["segment"] for r in rows]


def _data_span(store: Any) -> tuple[datetime | None, datetime | None]:
    row = store.query("SELECT min(ts) AS lo, max(ts) AS hi FROM events")[0]
    return row["lo"], row["hi"]


def comment_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """`feedback comments` rows as the pages list them: minute precision, and the mood of
    the score given alongside the comment."""
    return [{**c, "ts": str(c["ts"])[:16].replace("T", " "), "sentiment": sentiment(c)}
            for c in result["comments"]]  # fmt: skip


def sentiment(r: dict[str, Any]) -> str:
    """From the score given with the comment: NPS 0–6 / CSAT 1–2 / emotion < 0 negative."""
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
    """Every attribution model side by side (one failing model does not hide the others)."""
    analysis = registry.get("attribution")
    models = {}
    for model in MODELS:
        try:
            models[model] = analysis.run(store, scope, analysis.options(model=model))
        except TouchpointsError as exc:
            models[model] = {"model": model, "rows": [], "error": str(exc)}
    return {"models": models}


# -- CSV -------------------------------------------------------------------------------------
def table_rows(result: Any) -> list[dict[str, Any]]:
    """The list of records inside an analysis result, flattened for a CSV file."""
    if isinstance(result, dict):
        for key in ("rows", "stages", "variants", "links", "pairs", "touchpoints", "edges"):
            if isinstance(result.get(key), list):
                return [_flat(r) for r in result[key]]
        if "models" in result:
            return [
                {"model": m, **_flat(r)} for m, res in result["models"].items() for r in res["rows"]
            ]
        if isinstance(result.get("findings"), list):
            return [_flat(r) for r in result["findings"]]
        return [_flat(result)]
    if isinstance(result, list):
        return [_flat(r) if isinstance(r, dict) else {"value": r} for r in result]
    return [{"value": result}]


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, f"{name}."))
        elif isinstance(v, list):
            out[name] = " > ".join(str(x) for x in v)
        else:
            out[name] = v
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# -- datasets (the data behind each chart, shared by pages and /data) ------------------------
def dataset(page: Page, name: str) -> Any:
    scope = page.scope
    if name == "kpis":
        by = page.request.query_params.get("by") or None
        return page.run("kpis", by=by)
    if name == "strength":
        return page.run("strength")
    if name == "sankey":
        return page.run("journeys.sankey", depth=SANKEY_DEPTH)
    if name == "variants":
        return page.run("journeys.variants", top=10)
    if name == "funnel":
        return page.run("journeys.funnel")
    if name == "gaps":
        return page.run("journeys.gaps")
    if name == "moments":
        return page.run("journeys.moments")
    if name == "emotion":
        return {"rows": page.run("journeys.moments")["emotion"]["by_step"]}
    if name == "hour_of_week":
        return page.run("heatmap")
    if name == "comments":
        return {"rows": comment_rows(page.run("feedback.comments", limit=COMMENTS))}
    if name == "first_touch":
        # The survey's "how did you first hear about us?" when customers answered it;
        # otherwise each customer's first touchpoint in the journeys.
        heard = page.run("feedback.first-heard")
        if heard["answers"]:
            return {"source": "survey", "rows": heard["rows"]}
        starts = page.run("journeys.dfg")["starts"]
        return {
            "source": "journeys",
            "rows": [{"touchpoint": k, "customers": v} for k, v in starts.items()],
        }
    if name == "attribution":
        return page.get(all_attribution, scope)
    if name == "insights":
        return page.run("insights", lang=page.lang)
    if name == "staffing":
        staff = page.request.query_params.get("staff") or default_staff_channel(page)
        if not staff:
            return None
        return page.run("staffing", scope.replace(channels=(staff,)))
    raise HTTPException(status_code=404, detail=f"no data set {name!r}")


DATA_ROLES = {
    "kpis": ALL,
    "hour_of_week": ALL,
    "comments": ALL,
    "first_touch": ALL,
    "staffing": ALL,
}


def default_staff_channel(page: Page) -> str | None:
    """The channel with the most service contacts: the queue a supervisor plans first."""
    rows = page.run("kpis", by="channel")["rows"]
    queued = [r for r in rows if r["offered"] and r["group"]]
    return max(queued, key=lambda r: r["offered"])["group"] if queued else None


@router.get("/data/{name}")
def data(name: str, request: Request, format: str = "json") -> Response:
    roles = DATA_ROLES.get(name, ANALYSTS)
    page = page_context(*roles)(request, require_role(*roles)(request))
    if page.filter_error:
        raise HTTPException(status_code=400, detail=page.filter_error)
    result = dataset(page, name)
    if result is None:
        raise HTTPException(status_code=404, detail=f"{name}: not available")
    if format == "csv":
        return Response(
            to_csv(table_rows(result)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return JSONResponse(result)


# -- pages -----------------------------------------------------------------------------------
def trend(cur: float | None, prev: float | None) -> dict[str, Any] | None:
    if cur is None or prev is None:
        return None
    delta = cur - prev
    return {"delta": delta, "dir": "up" if delta > 0 else "down" if delta < 0 else "flat"}


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
    lo, hi = page.get(_data_span)
    hi = hi or datetime(2000, 1, 1)
    hi = f.date_to or hi
    days = timedelta(days=TREND_DAYS)
    cur = f.replace(date_from=hi - days, date_to=hi)
    prev = f.replace(date_from=hi - 2 * days, date_to=hi - days - timedelta(microseconds=1))
    return cur, prev, page.t("last_days", n=format.integer(TREND_DAYS, page.lang))


LOWER_IS_BETTER = {"tme_seconds", "tma_seconds", "abandonment_rate", "ces"}


def targets_table(page: Page) -> list[dict[str, Any]]:
    catalog = page.get(_catalog)
    by_tp = {r["group"]: r for r in page.run("kpis", by="touchpoint")["rows"]}
    rows = []
    for tp in catalog.touchpoints:
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
    cur_f, prev_f, trend_label = comparison_windows(page)
    cur = page.run("kpis", cur_f)["rows"][0]
    prev = page.run("kpis", prev_f)["rows"][0]
    months = page.run("kpis", by="month")["rows"]
    retained = [m for m in months if m["retention"] is not None]
    last_month = retained[-1] if retained else None
    keys = (
        "nps",
        "csat",
        "tma_seconds",
        "tme_seconds",
        "abandonment_rate",
        "service_level",
        "conversions",
        "revenue",
    )
    cards = [
        {
            "key": k,
            "value": total[k],
            "trend": trend(cur[k], prev[k]),
            "better_down": k in LOWER_IS_BETTER,
        }
        for k in keys
    ]
    cards.append(
        {
            "key": "retention",
            "value": last_month["retention"] if last_month else None,
            "trend": trend(
                last_month["retention"] if last_month else None,
                retained[-2]["retention"] if len(retained) > 1 else None,
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
        "series": [
            series(page.lang, page.label(k), [m[k] for m in months], k)
            for k in ("events", "conversions")
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


def strength_grid(page: Page) -> dict[str, Any]:
    rows = page.run("strength")["rows"]
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
    catalog = page.get(_catalog)
    lanes = []
    for visibility, label in (
        ("company", "backstage"),
        ("both", "frontstage"),
        ("customer", "customer_only"),
    ):
        cols: dict[str, list[dict[str, str]]] = {p: [] for p in (*PHASES, "any")}
        for tp in catalog.touchpoints:
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


def names(page: Page) -> dict[str, str]:
    catalog = page.get(_catalog)
    return {tp.id: tp.label(page.lang) for tp in catalog.touchpoints}


@router.get("/journeys", response_class=HTMLResponse)
def journeys_page(page: Page = Depends(page_context(*ANALYSTS))) -> HTMLResponse:
    label = names(page)
    flow = page.run("journeys.sankey", depth=SANKEY_DEPTH)
    terminal = {"purchase": page.t("purchase"), "end": page.t("end")}

    def node_label(n: dict[str, Any]) -> str:
        if n["touchpoint"] is None:
            return terminal.get(n["id"], n["id"])
        return f"{n['step']}. {label.get(n['touchpoint'], n['touchpoint'])}"

    node_names = {n["id"]: node_label(n) for n in flow["nodes"]}
    sankey_spec = {
        "kind": "sankey",
        "nodes": [
            {
                "name": node_names[n["id"]],
                "value": n["value"],
                "label": format.integer(n["value"], page.lang),
            }
            for n in flow["nodes"]
        ],
        "links": [
            {
                "source": node_names[li["source"]],
                "target": node_names[li["target"]],
                "value": li["value"],
            }
            for li in flow["links"]
        ],
    }
    fun = page.run("journeys.funnel")
    funnel_spec = {
        "kind": "bar",
        "categories": [msg.capitalized(page.t(f"common.{s['stage']}")) for s in fun["stages"]],
        "series": [
            series(page.lang, page.label("customers"), [s["count"] for s in fun["stages"]], "count")
        ],
    }
    emo = page.run("journeys.moments")["emotion"]["by_step"]
    emotion_spec = {
        "kind": "lines",
        "x": [str(e["step"]) for e in emo],
        "series": [
            series(page.lang, page.label("emotion"), [e["emotion"] for e in emo], "emotion")
        ],
        "min": -2,
        "max": 2,
    }
    return render(
        page,
        "journeys.html",
        flow=flow,
        node_names=node_names,
        sankey_spec=sankey_spec,
        variants=page.run("journeys.variants", top=10),
        fun=fun,
        funnel_spec=funnel_spec,
        gaps=page.run("journeys.gaps"),
        emotion=emo,
        emotion_spec=emotion_spec,
        label=label,
        depth=SANKEY_DEPTH,
    )


@router.get("/touchpoints/{touchpoint_id}", response_class=HTMLResponse)
def touchpoint_page(
    touchpoint_id: str, page: Page = Depends(page_context(*ANALYSTS))
) -> HTMLResponse:
    catalog = page.get(_catalog)
    entry = catalog.get(touchpoint_id)
    if entry is None:
        raise HTTPException(status_code=404, detail=page.t("unknown_touchpoint", id=touchpoint_id))
    scope = page.scope.replace(touchpoints=(touchpoint_id,))
    mine = scope
    total = page.run("kpis", mine)["rows"][0]
    by_phase = page.run("kpis", mine, by="phase")["rows"]
    attribution_all = page.get(all_attribution, page.scope)
    attribution_rows = None
    if attribution_all is not None:
        attribution_rows = []
        for model, res in attribution_all["models"].items():
            row = next((r for r in res["rows"] if r.get("touchpoint") == touchpoint_id), None)
            attribution_rows.append({"model": model, "row": row, "error": res.get("error")})
    promise = next(
        (
            r
            for r in page.run("journeys.moments")["touchpoints"]
            if r["touchpoint"] == touchpoint_id
        ),
        None,
    )
    found = page.run("insights", lang=page.lang)
    tips = None
    if found is not None:
        tips = [f for f in found.get("findings", []) if f.get("touchpoint") == touchpoint_id]
    phase_spec = {
        "kind": "bar",
        "categories": [msg.capitalized(page.t(f"common.{r['group']}")) for r in by_phase],
        "series": [
            series(page.lang, page.label("events"), [r["events"] for r in by_phase], "events")
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
        attribution_rows=attribution_rows,
        promise=promise,
        insights=tips,
        comments=comment_rows(page.run("feedback.comments", scope, limit=COMMENTS)),
        tp_id=touchpoint_id,
    )


@router.get("/service", response_class=HTMLResponse)
def service_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    channels = [r for r in page.run("kpis", by="channel")["rows"] if r["offered"]]
    agents = [r for r in page.run("kpis", by="agent")["rows"] if r["group"]]
    agents = [r for r in agents if r["offered"]][:30]
    how = page.run("heatmap")["rows"]
    days = format.weekdays(page.lang)
    heat = {
        "kind": "heatmap",
        "x": [str(h) for h in range(24)],
        "y": days,
        "cells": [
            [r["hour"], r["weekday"] - 1, r["offered"], page.fmt("offered", r["offered"])]
            for r in how
            if r["offered"]
        ],
    }
    channel_spec = {
        "kind": "bar",
        "y_name": page.t("axis_seconds"),
        "categories": [r["group"] for r in channels],
        "series": [
            series(page.lang, page.label(k), [r[k] for r in channels], k)
            for k in ("tme_seconds", "tma_seconds")
        ],
    }
    staff_channel = page.request.query_params.get("staff") or default_staff_channel(page)
    staff = dataset(page, "staffing") if staff_channel else None
    staff_grid: dict[int, dict[int, Any]] = {}
    if staff:
        for r in staff["rows"]:
            staff_grid.setdefault(r["weekday"], {})[r["hour"]] = r["scheduled_agents"]
    return render(
        page,
        "service.html",
        channels=channels,
        agents=agents,
        heat=heat,
        how_grid={(r["weekday"], r["hour"]): r["offered"] for r in how},
        days=days,
        channel_spec=channel_spec,
        staff=staff,
        staff_channel=staff_channel,
        staff_grid=staff_grid,
        staffing_available=True,
    )


@router.get("/feedback", response_class=HTMLResponse)
def feedback_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    weeks = [
        w
        for w in page.run("kpis", by="week")["rows"]
        if w["nps"] is not None or w["csat"] is not None or w["ces"] is not None
    ]
    x = [format.date(w["group"], page.lang) for w in weeks]

    def band(w: dict[str, Any]) -> tuple[float | None, float | None]:
        if w["nps"] is None or w["nps_margin"] is None:
            return None, None
        return w["nps"] - w["nps_margin"], w["nps"] + w["nps_margin"]

    nps_spec = {
        "kind": "lines",
        "x": x,
        "series": [
            {
                **series(page.lang, page.label("nps"), [w["nps"] for w in weeks], "nps"),
                "low": [band(w)[0] for w in weeks],
                "high": [band(w)[1] for w in weeks],
            }
        ],
    }
    score_spec, ces_spec = (
        {
            "kind": "lines",
            "x": x,
            "series": [series(page.lang, page.label(k), [w[k] for w in weeks], k)],
        }
        for k in ("csat", "ces")
    )
    notes = comment_rows(page.run("feedback.comments", limit=COMMENTS))
    grouped = {
        s: [c for c in notes if c["sentiment"] == s] for s in ("negative", "neutral", "positive")
    }
    first_touch = dataset(page, "first_touch")
    first = first_touch["rows"]
    label = names(page)
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
        nps_spec=nps_spec,
        score_spec=score_spec,
        ces_spec=ces_spec,
        grouped=grouped,
        first=first,
        first_spec=first_spec,
        first_title="first_heard_survey" if first_touch["source"] == "survey" else "first_heard",
        label=label,
    )


@router.get("/attribution", response_class=HTMLResponse)
def attribution_page(page: Page = Depends(page_context(*ANALYSTS))) -> HTMLResponse:
    result = page.get(all_attribution, page.scope)
    table: list[dict[str, Any]] = []
    spec = None
    if result is not None:
        tps: list[str] = []
        for res in result["models"].values():
            tps += [r["touchpoint"] for r in res["rows"] if r["touchpoint"] not in tps]
        share = {
            m: {r["touchpoint"]: r for r in res["rows"]} for m, res in result["models"].items()
        }
        label = names(page)
        table = [
            {
                "touchpoint": tp,
                "name": label.get(tp, tp),
                "models": {m: share[m].get(tp) for m in share},
            }
            for tp in tps
        ]
        spec = {
            "kind": "bar",
            "categories": [row["name"] for row in table],
            "series": [
                series(
                    page.lang,
                    m,
                    [(row["models"][m] or {}).get("conversions") for row in table],
                    lambda v: format.number(v, page.lang, 1),
                )
                for m in share
            ],
        }
    return render(
        page,
        "attribution.html",
        result=result,
        table=table,
        spec=spec,
        models=list(result["models"]) if result else [],
        insights=page.run("insights", lang=page.lang),
    )


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    catalog = page.get(_catalog)
    return render(page, "catalog.html", catalog=catalog, yaml_text=catalog.to_yaml(), message=None)


@router.post("/catalog", response_class=HTMLResponse)
def catalog_save(
    yaml_text: str = Form(""),
    page: Page = Depends(page_context("admin")),
) -> HTMLResponse:
    service = page.service
    try:
        catalog = parse_catalog(yaml_text, "catalog form")
        service.read(lambda store: store.set_catalog(catalog))
    except TouchpointsError as exc:
        current = page.get(_catalog)
        return render(
            page,
            "catalog.html",
            status=400,
            catalog=current,
            yaml_text=yaml_text,
            message={"error": True, "text": str(exc)},
        )
    bump(service)
    return render(
        page,
        "catalog.html",
        catalog=catalog,
        yaml_text=catalog.to_yaml(),
        message={"error": False, "text": page.t("saved")},
    )


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)
