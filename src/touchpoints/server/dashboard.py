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
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from touchpoints import i18n
from touchpoints.analytics.base import Filters, PhaseOptions, Scope, scoped_events
from touchpoints.analytics.flows import funnel, gaps, sankey
from touchpoints.analytics.journeys import dfg, variants
from touchpoints.analytics.kpis import aggregates, derive, kpis
from touchpoints.analytics.moments import moments
from touchpoints.analytics.strength import touchpoint_strength
from touchpoints.core.catalog import parse_catalog
from touchpoints.core.errors import TouchpointsError
from touchpoints.core.events import PHASES
from touchpoints.server.cache import Job, Warmer, bump, cached, lookup
from touchpoints.server.users import (
    COOKIE,
    SESSION_SECONDS,
    User,
    authenticate,
    require_role,
    session_secret,
    sign_session,
)


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

WEB = Path(__file__).resolve().parent.parent / "web"
STATIC_DIR = WEB / "static"
LANG_COOKIE = "tp_lang"
FILTER_KEYS = ("from", "to", "phase", "channel", "kind", "segment")
KINDS = ("static", "interactive", "human")
MODELS = ("first", "last", "linear", "position", "time-decay", "markov", "shapley")
# Okabe–Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
SANKEY_DEPTH = 4
TREND_DAYS = 28

ALL = ("admin", "analyst", "supervisor")
ANALYSTS = ("admin", "analyst")


# -- templates -------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(WEB / "templates")),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_num
    env.filters["pct"] = fmt_pct
    env.filters["secs"] = fmt_secs
    env.filters["dur"] = fmt_dur
    env.filters["tojson_safe"] = lambda v: json.dumps(v, ensure_ascii=False).replace("</", "<\\/")
    return env


def fmt_num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or digits == 0:
        return f"{round(float(value)):,}"
    return f"{float(value):,.{digits}f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * float(value):.{digits}f}%"


def fmt_secs(value: Any) -> str:
    return "—" if value is None else f"{float(value):,.0f} s"


def fmt_dur(value: Any) -> str:
    """Gaps span seconds to weeks: show them in the largest unit that stays above 1."""
    if value is None:
        return "—"
    v = float(value)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if v >= size:
            return f"{v / size:,.1f} {unit}"
    return f"{v:,.0f} s"


# -- request context -------------------------------------------------------------------------
@dataclass
class Page:
    """What every page needs: who, in which language, with which filters."""

    request: Request
    user: User
    lang: str
    params: dict[str, str]
    filters: Filters
    filter_error: str | None
    # When the oldest result this page showed was computed (time.time()), for "as of".
    computed_at: float | None = field(default=None)

    @property
    def service(self) -> Any:
        return self.request.app.state.service

    @property
    def scope(self) -> Scope:
        return Scope(self.filters, PhaseOptions())

    def t(self, key: str, **values: object) -> str:
        return i18n.t(self.lang, key, **values)

    def query(self, **extra: str) -> str:
        """The current filters (plus `extra`) as a query string, to keep them across pages."""
        kept = {k: v for k, v in self.params.items() if v} | {k: v for k, v in extra.items() if v}
        return ("?" + urlencode(kept)) if kept else ""

    def get(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        result = cached(self.service, fn, *args, **kwargs)
        entry = lookup(self.service, fn, *args, **kwargs)
        if entry is not None and (self.computed_at is None or entry.computed_at < self.computed_at):
            self.computed_at = entry.computed_at
        return result

    @property
    def as_of(self) -> str | None:
        """ "HH:MM:SS" (UTC) of the oldest result on the page."""
        if self.computed_at is None:
            return None
        return datetime.fromtimestamp(self.computed_at, UTC).strftime("%H:%M:%S")


def language(request: Request) -> str:
    return i18n.normalize(request.cookies.get(LANG_COOKIE)) or i18n.from_accept_language(
        request.headers.get("accept-language")
    )


def filter_params(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip() for k in FILTER_KEYS}


def build_filters(params: dict[str, str]) -> tuple[Filters, str | None]:
    try:
        return (
            Filters.build(
                params["from"] or None,
                params["to"] or None,
                None,
                params["channel"] or None,
                params["kind"] or None,
                params["phase"] or None,
                params["segment"] or None,
            ),
            None,
        )
    except TouchpointsError as exc:
        return Filters(), str(exc)


def page_context(*roles: str) -> Any:
    guard = require_role(*roles)

    def dependency(request: Request, user: User = Depends(guard)) -> Page:
        params = filter_params(request)
        filters, error = build_filters(params)
        return Page(request, user, language(request), params, filters, error)

    return dependency


def render(page: Page, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    catalog = page.get(_catalog)
    html = (
        templates()
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
            kinds=KINDS,
            phases=PHASES,
            segments=page.get(_segments),
            path=page.request.url.path,
            as_of=page.as_of,
            **values,
        )
    )
    return HTMLResponse(html, status_code=status)


def nav(page: Page) -> list[dict[str, Any]]:
    items = [
        ("/", "overview", ALL),
        ("/map", "map", ANALYSTS),
        ("/journeys", "journeys", ANALYSTS),
        ("/service", "service", ALL),
        ("/feedback", "feedback", ALL),
        ("/attribution", "attribution", ANALYSTS),
        ("/live", "live", ALL),
        ("/catalog", "catalog", ALL),
    ]
    here = page.request.url.path
    return [
        {"href": href + page.query(), "label": page.t(key), "current": here == href}
        for href, key, roles in items
        if page.user.can(*roles)
    ]


def default_jobs(run: Any) -> list[Job]:
    """The analyses behind every page without filters, in the order pages are usually
    opened, exactly as the pages ask for them (same arguments, so the same cache keys).
    `run(fn)` reads the store: the overview's trend windows follow the data's last day,
    and every touchpoint of the catalog has a detail page."""
    scope, filters = Scope(Filters(), PhaseOptions()), Filters()
    jobs: list[Job] = [(_catalog, (), {}), (_segments, (), {}), (_data_span, (), {})]
    for by in (None, "month", "touchpoint", "channel", "agent", "week"):
        jobs.append(
            (kpis, (), {"filters": filters} if by is None else {"by": by, "filters": filters})
        )
    hi = run(_data_span)[1] or datetime(2000, 1, 1)
    days = timedelta(days=TREND_DAYS)
    cur = replace(filters, date_from=hi - days, date_to=hi)
    prev = replace(filters, date_from=hi - 2 * days, date_to=hi - days - timedelta(microseconds=1))
    jobs += [(kpis, (), {"filters": cur}), (kpis, (), {"filters": prev})]
    jobs += [
        (touchpoint_strength, (scope,), {}),
        (sankey, (scope, None, SANKEY_DEPTH), {}),
        (funnel, (scope,), {}),
        (moments, (scope,), {}),
        (variants, (scope,), {"top": 10}),
        (gaps, (scope,), {}),
        (hour_of_week, (scope,), {}),
        (comments, (scope,), {}),
        (dfg, (scope,), {}),
        (all_attribution, (scope,), {}),
    ]
    jobs += [(insights_for, (scope, lang), {}) for lang in i18n.LANGS]
    for tp in run(_catalog).touchpoints:
        mine = replace(filters, touchpoints=(tp.id,))
        jobs += [(kpis, (), {"filters": mine}), (kpis, (), {"by": "phase", "filters": mine})]
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


def hour_of_week(store: Any, scope: Scope, answer_within: float = 20.0) -> dict[str, Any]:
    """SPEC §4 KPIs per ISO weekday (1 = Monday) and hour, in UTC: the same aggregates and
    derivation as `kpis`, grouped by two time parts `kpis --by` does not offer."""
    sql = f"""SELECT extract(isodow FROM ts) AS dow, extract(hour FROM ts) AS hr,
      {aggregates(float(answer_within), 0.0)}
      FROM ({scoped_events(scope, with_catalog=False)}) s
      GROUP BY extract(isodow FROM ts), extract(hour FROM ts)"""
    rows = [{"weekday": int(r["dow"]), "hour": int(r["hr"]), **derive(r)} for r in store.query(sql)]
    rows.sort(key=lambda r: (r["weekday"], r["hour"]))
    return {"timezone": "UTC", "rows": rows}


def comments(store: Any, scope: Scope, limit: int = 40) -> dict[str, Any]:
    """The latest free-text comments with the scores given alongside them."""
    sql = f"""SELECT ts, touchpoint, nps, csat, ces, emotion, comment
      FROM ({scoped_events(scope, with_catalog=False)}) s
      WHERE comment IS NOT NULL AND comment <> '' ORDER BY ts DESC, seq DESC LIMIT $limit"""
    rows = []
    for r in store.query(sql, {"limit": int(limit)}):
        rows.append(
            {
                "ts": str(r["ts"])[:16],
                "touchpoint": r["touchpoint"],
                "nps": r["nps"],
                "csat": r["csat"],
                "ces": r["ces"],
                "emotion": r["emotion"],
                "sentiment": sentiment(r),
                "comment": r["comment"],
            }
        )
    return {"rows": rows}


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
    from touchpoints.analytics.attribution import attribution

    models = {}
    for model in MODELS:
        try:
            models[model] = attribution(store, scope, model)
        except TouchpointsError as exc:
            models[model] = {"model": model, "rows": [], "error": str(exc)}
    return {"models": models}


def insights_for(store: Any, scope: Scope, lang: str) -> dict[str, Any]:
    from touchpoints.analytics.insights import insights

    return insights(store, scope, lang)


def staffing_for(store: Any, filters: Filters) -> dict[str, Any]:
    from touchpoints.analytics.staffing import measured_staffing

    return measured_staffing(store, filters)


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
    scope, filters = page.scope, page.filters
    if name == "kpis":
        by = page.request.query_params.get("by") or None
        return page.get(kpis, by=by, filters=filters)
    if name == "strength":
        return page.get(touchpoint_strength, scope)
    if name == "sankey":
        return page.get(sankey, scope, None, SANKEY_DEPTH)
    if name == "variants":
        return page.get(variants, scope, top=10)
    if name == "funnel":
        return page.get(funnel, scope)
    if name == "gaps":
        return page.get(gaps, scope)
    if name == "moments":
        return page.get(moments, scope)
    if name == "emotion":
        return {"rows": page.get(moments, scope)["emotion"]["by_step"]}
    if name == "hour_of_week":
        return page.get(hour_of_week, scope)
    if name == "comments":
        return page.get(comments, scope)
    if name == "first_touch":
        # The survey's "how did you first hear about us?" when customers answered it;
        # otherwise each customer's first touchpoint in the journeys.
        from touchpoints.feedback import first_heard

        heard = page.get(first_heard, scope)
        if heard["answers"]:
            return {"source": "survey", "rows": heard["rows"]}
        starts = page.get(dfg, scope)["starts"]
        return {
            "source": "journeys",
            "rows": [{"touchpoint": k, "customers": v} for k, v in starts.items()],
        }
    if name == "attribution":
        return page.get(all_attribution, scope)
    if name == "insights":
        return page.get(insights_for, scope, page.lang)
    if name == "staffing":
        staff = page.request.query_params.get("staff") or default_staff_channel(page)
        if not staff:
            return None
        return page.get(staffing_for, replace(filters, channels=(staff,)))
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
    rows = page.get(kpis, by="channel", filters=page.filters)["rows"]
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


# -- login -----------------------------------------------------------------------------------
def safe_next(target: str | None) -> str:
    """Only same-site paths: /login?next=https://evil.example must not redirect away."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    lang = language(request)
    html = (
        templates()
        .get_template("login.html")
        .render(t=lambda k, **v: i18n.t(lang, k, **v), lang=lang, next=safe_next(next), error=None)
    )
    return HTMLResponse(html)


def forbidden_page(request: Request, exc: Exception) -> Response:
    """403 for a role that may not see a page: an HTML page in the reader's language for a
    browser, the JSON message for the data endpoints and other clients."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": str(getattr(exc, "detail", exc))}, 403)
    lang = language(request)
    html = (
        templates()
        .get_template("forbidden.html")
        .render(t=lambda k, **v: i18n.t(lang, k, **v), lang=lang)
    )
    return HTMLResponse(html, 403)


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    service = request.app.state.service
    user = service.read(authenticate, username, password)
    if user is None:
        lang = language(request)
        html = (
            templates()
            .get_template("login.html")
            .render(
                t=lambda k, **v: i18n.t(lang, k, **v),
                lang=lang,
                next=safe_next(next),
                error=i18n.t(lang, "bad_login"),
                username=username,
            )
        )
        return HTMLResponse(html, status_code=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        sign_session(session_secret(service), user.username),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/lang/{code}")
def set_language(code: str, request: Request, next: str = "/") -> Response:
    lang = i18n.normalize(code) or "en"
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


# -- pages -----------------------------------------------------------------------------------
def trend(cur: float | None, prev: float | None) -> dict[str, Any] | None:
    if cur is None or prev is None:
        return None
    delta = cur - prev
    return {"delta": delta, "dir": "up" if delta > 0 else "down" if delta < 0 else "flat"}


def comparison_windows(page: Page) -> tuple[Filters, Filters, str]:
    """The selected period and the one of equal length just before it; without a period,
    the last TREND_DAYS days of data and the TREND_DAYS before them."""
    f = page.filters
    if f.date_from and f.date_to:
        length = f.date_to - f.date_from
        prev = replace(
            f, date_from=f.date_from - length - timedelta(microseconds=1), date_to=f.date_from
        )
        prev = replace(prev, date_to=f.date_from - timedelta(microseconds=1))
        label = page.t(
            "previous_period",
            cur=f"{f.date_from:%Y-%m-%d}–{f.date_to:%Y-%m-%d}",
            prev=f"{prev.date_from:%Y-%m-%d}–{prev.date_to:%Y-%m-%d}",
        )
        return f, prev, label
    lo, hi = page.get(_data_span)
    hi = hi or datetime(2000, 1, 1)
    hi = f.date_to or hi
    days = timedelta(days=TREND_DAYS)
    cur = replace(f, date_from=hi - days, date_to=hi)
    prev = replace(f, date_from=hi - 2 * days, date_to=hi - days - timedelta(microseconds=1))
    return cur, prev, page.t("last_days", n=TREND_DAYS)


LOWER_IS_BETTER = {"tme_seconds", "tma_seconds", "abandonment_rate", "ces"}


def targets_table(page: Page) -> list[dict[str, Any]]:
    catalog = page.get(_catalog)
    by_tp = {r["group"]: r for r in page.get(kpis, by="touchpoint", filters=page.filters)["rows"]}
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
                    "target": goal,
                    "actual": actual,
                    "met": met,
                }
            )
    return rows


@router.get("/", response_class=HTMLResponse)
def overview(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    total = page.get(kpis, filters=page.filters)["rows"][0]
    cur_f, prev_f, trend_label = comparison_windows(page)
    cur = page.get(kpis, filters=cur_f)["rows"][0]
    prev = page.get(kpis, filters=prev_f)["rows"][0]
    months = page.get(kpis, by="month", filters=page.filters)["rows"]
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
            "note": page.t("retention_note", month=last_month["group"]) if last_month else None,
        }
    )
    monthly = {
        "kind": "lines",
        "x": [m["group"] for m in months],
        "series": [
            {"name": page.t("events"), "values": [m["events"] for m in months]},
            {"name": page.t("conversions"), "values": [m["conversions"] for m in months]},
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
    rows = page.get(touchpoint_strength, page.scope)["rows"]
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
    flow = page.get(sankey, page.scope, None, SANKEY_DEPTH)
    terminal = {"purchase": page.t("purchase"), "end": page.t("end")}

    def node_label(n: dict[str, Any]) -> str:
        if n["touchpoint"] is None:
            return terminal.get(n["id"], n["id"])
        return f"{n['step']}. {label.get(n['touchpoint'], n['touchpoint'])}"

    node_names = {n["id"]: node_label(n) for n in flow["nodes"]}
    sankey_spec = {
        "kind": "sankey",
        "nodes": [{"name": node_names[n["id"]], "value": n["value"]} for n in flow["nodes"]],
        "links": [
            {
                "source": node_names[li["source"]],
                "target": node_names[li["target"]],
                "value": li["value"],
            }
            for li in flow["links"]
        ],
    }
    fun = page.get(funnel, page.scope)
    funnel_spec = {
        "kind": "bar",
        "categories": [page.t(s["stage"]) for s in fun["stages"]],
        "series": [{"name": page.t("customers"), "values": [s["count"] for s in fun["stages"]]}],
    }
    emo = page.get(moments, page.scope)["emotion"]["by_step"]
    emotion_spec = {
        "kind": "lines",
        "x": [str(e["step"]) for e in emo],
        "series": [{"name": page.t("emotion"), "values": [e["emotion"] for e in emo]}],
        "min": -2,
        "max": 2,
    }
    return render(
        page,
        "journeys.html",
        flow=flow,
        node_names=node_names,
        sankey_spec=sankey_spec,
        variants=page.get(variants, page.scope, top=10),
        fun=fun,
        funnel_spec=funnel_spec,
        gaps=page.get(gaps, page.scope),
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
    mine = replace(page.filters, touchpoints=(touchpoint_id,))
    scope = Scope(mine, PhaseOptions())
    total = page.get(kpis, filters=mine)["rows"][0]
    by_phase = page.get(kpis, by="phase", filters=mine)["rows"]
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
            for r in page.get(moments, page.scope)["touchpoints"]
            if r["touchpoint"] == touchpoint_id
        ),
        None,
    )
    found = page.get(insights_for, page.scope, page.lang)
    tips = None
    if found is not None:
        tips = [f for f in found.get("findings", []) if f.get("touchpoint") == touchpoint_id]
    phase_spec = {
        "kind": "bar",
        "categories": [page.t(r["group"]) for r in by_phase],
        "series": [{"name": page.t("events"), "values": [r["events"] for r in by_phase]}],
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
        comments=page.get(comments, scope)["rows"],
        tp_id=touchpoint_id,
    )


@router.get("/service", response_class=HTMLResponse)
def service_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    channels = [
        r for r in page.get(kpis, by="channel", filters=page.filters)["rows"] if r["offered"]
    ]
    agents = [r for r in page.get(kpis, by="agent", filters=page.filters)["rows"] if r["group"]]
    agents = [r for r in agents if r["offered"]][:30]
    how = page.get(hour_of_week, page.scope)["rows"]
    days = page.t("weekdays").split(",")
    heat = {
        "kind": "heatmap",
        "x": [str(h) for h in range(24)],
        "y": days,
        "cells": [[r["hour"], r["weekday"] - 1, r["offered"]] for r in how if r["offered"]],
    }
    channel_spec = {
        "kind": "bar",
        "categories": [r["group"] for r in channels],
        "series": [
            {"name": page.t("tme"), "values": [r["tme_seconds"] for r in channels]},
            {"name": page.t("tma"), "values": [r["tma_seconds"] for r in channels]},
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
        for w in page.get(kpis, by="week", filters=page.filters)["rows"]
        if w["nps"] is not None or w["csat"] is not None or w["ces"] is not None
    ]
    x = [w["group"] for w in weeks]

    def band(w: dict[str, Any]) -> tuple[float | None, float | None]:
        if w["nps"] is None or w["nps_margin"] is None:
            return None, None
        return w["nps"] - w["nps_margin"], w["nps"] + w["nps_margin"]

    nps_spec = {
        "kind": "lines",
        "x": x,
        "series": [
            {
                "name": "NPS",
                "values": [w["nps"] for w in weeks],
                "low": [band(w)[0] for w in weeks],
                "high": [band(w)[1] for w in weeks],
            }
        ],
    }
    score_spec = {
        "kind": "lines",
        "x": x,
        "series": [{"name": "CSAT", "values": [w["csat"] for w in weeks]}],
    }
    ces_spec = {
        "kind": "lines",
        "x": x,
        "series": [{"name": "CES", "values": [w["ces"] for w in weeks]}],
    }
    notes = page.get(comments, page.scope)["rows"]
    grouped = {
        s: [c for c in notes if c["sentiment"] == s] for s in ("negative", "neutral", "positive")
    }
    first_touch = dataset(page, "first_touch")
    first = first_touch["rows"]
    label = names(page)
    first_spec = {
        "kind": "bar",
        "categories": [label.get(r["touchpoint"], r["touchpoint"]) for r in first],
        "series": [{"name": page.t("customers"), "values": [r["customers"] for r in first]}],
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
                {
                    "name": m,
                    "values": [(row["models"][m] or {}).get("conversions") for row in table],
                }
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
        insights=page.get(insights_for, page.scope, page.lang),
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
