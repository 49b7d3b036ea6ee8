"""`touchpoints report`: one self-contained document for a period, in HTML or PDF.

The report calls the same analyses as the CLI and the dashboard (kpis, variants, funnel,
gaps, attribution, insights), so its numbers are the ones people see elsewhere. The HTML
has inline CSS and inline SVG charts and no scripts or links to other hosts: it can be
mailed, archived and opened offline. The PDF is WeasyPrint's rendering of that same HTML.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from touchpoints.analytics.attribution import attribution as attribute
from touchpoints.analytics.base import Filters, Scope, scoped_events
from touchpoints.analytics.flows import funnel, gaps
from touchpoints.analytics.insights import insights
from touchpoints.analytics.journeys import variants
from touchpoints.analytics.kpis import kpis
from touchpoints.core.errors import UsageError
from touchpoints.reports import svg
from touchpoints.reports.labels import LABELS, fmt_number, fmt_percent, fmt_seconds

if TYPE_CHECKING:
    from touchpoints.store.base import Store

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("html", "pdf")
ATTRIBUTION_MODELS = ("first", "last", "linear", "markov")
PHASES = ("before", "during", "after")
KINDS = ("static", "interactive", "human")
# KPI key -> True when higher is better (decides "meets target" and the trend wording).
TARGETED = {
    "tme_seconds": False,
    "service_level": True,
    "abandonment_rate": False,
    "csat": True,
    "nps": True,
    "tma_seconds": False,
    "fcr": True,
}


def period_filters(date_from: str, date_to: str, timezone: str = "UTC") -> tuple[Filters, Filters]:
    """The period asked for and the one of equal length just before it (for trends)."""
    if not date_from or not date_to:
        raise UsageError("--from and --to are required: the report covers one period")
    current = Filters.build(date_from, date_to, timezone=timezone)
    assert current.date_from is not None and current.date_to is not None
    length = current.date_to - current.date_from + timedelta(microseconds=1)
    previous = replace(
        current,
        date_from=current.date_from - length,
        date_to=current.date_from - timedelta(microseconds=1),
    )
    return current, previous


def _hour_of_week(store: Store, scope: Scope, timezone: str) -> list[dict[str, Any]]:
    local = "ts" if timezone == "UTC" else "((ts AT TIME ZONE 'UTC') AT TIME ZONE $timezone)"
    return store.query(
        f"""
      SELECT extract(isodow FROM {local}) AS dow, extract(hour FROM {local}) AS hour,
        sum(CASE WHEN abandoned IS NOT NULL THEN 1 ELSE 0 END) AS offered,
        avg(CASE WHEN abandoned = FALSE THEN wait_seconds END) AS tme
      FROM ({scoped_events(scope, with_catalog=False)}) s WHERE abandoned IS NOT NULL
      GROUP BY 1, 2""",
        {"timezone": timezone},
    )


def _comments(store: Store, scope: Scope, limit: int = 6) -> list[dict[str, Any]]:
    """A few comments from both ends of the scale: the best and the worst scored."""
    sql = f"""SELECT touchpoint, comment, nps, csat FROM ({scoped_events(scope, with_catalog=False)}) s
      WHERE comment IS NOT NULL AND (nps IS NOT NULL OR csat IS NOT NULL)"""
    half = {"limit": limit // 2}
    low = store.query(f"{sql} ORDER BY coalesce(nps, (csat - 1) * 2.5), ts, seq LIMIT $limit", half)
    high = store.query(
        f"{sql} ORDER BY coalesce(nps, (csat - 1) * 2.5) DESC, ts, seq LIMIT $limit", half
    )
    seen, out = set(), []
    for row in low + high:
        key = (row["touchpoint"], row["comment"])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _meets(key: str, value: float | None, goal: float | None) -> bool | None:
    if value is None or goal is None:
        return None
    return value >= goal if TARGETED[key] else value <= goal


def _change(key: str, now: float | None, before: float | None, lang: str) -> str:
    words = LABELS[lang]
    if now is None or before is None:
        return words["no_comparison"]
    if abs(now - before) < 1e-9:
        return words["unchanged"]
    up = now > before
    if key in ("abandonment_rate", "service_level"):
        delta = f"{fmt_number(abs(now - before) * 100, 1, lang)} {words['pp']}"
    elif key.endswith("seconds"):
        delta = fmt_seconds(abs(now - before), lang)
    else:
        delta = fmt_number(abs(now - before), 1, lang)
    return f"{words['up'] if up else words['down']} {delta}"


def report_data(
    store: Store, date_from: str, date_to: str, lang: str = "en", timezone: str = "UTC"
) -> dict[str, Any]:
    """Everything the template shows, computed once (and testable without rendering)."""
    if lang not in LABELS:
        raise UsageError(f"--lang {lang!r}: use en or pt-BR")
    current, previous = period_filters(date_from, date_to, timezone)
    scope = Scope(current)
    words = LABELS[lang]
    catalog = store.catalog()
    names = {t.id: t.label(lang) for t in catalog.touchpoints}

    total = kpis(store, filters=current, timezone=timezone)["rows"][0]
    before = kpis(store, filters=previous, timezone=timezone)["rows"][0]
    by_phase = kpis(store, by="phase", filters=current)["rows"]
    by_tp = kpis(store, by="touchpoint", filters=current)["rows"]
    by_channel = kpis(store, by="channel", filters=current)["rows"]
    by_week = kpis(store, by="week", filters=current, timezone=timezone)["rows"]

    summary_keys = (
        "customers",
        "conversions",
        "revenue",
        "nps",
        "csat",
        "tme_seconds",
        "abandonment_rate",
        "service_level",
    )
    summary = [
        {
            "key": k,
            "label": words[k],
            "value": total[k],
            "previous": before[k],
            "change": _change(k, total[k], before[k], lang),
        }
        for k in summary_keys
    ]

    target_rows = []
    for row in by_tp:
        entry = catalog.get(row["group"])
        goals = dict(entry.target) if entry else {}
        cells = []
        for key in ("tme_seconds", "service_level", "abandonment_rate", "csat", "nps"):
            cells.append(
                {
                    "key": key,
                    "value": row[key],
                    "target": goals.get(key),
                    "meets": _meets(key, row[key], goals.get(key)),
                }
            )
        target_rows.append(
            {
                "touchpoint": row["group"],
                "name": names.get(row["group"], row["group"]),
                "events": row["events"],
                "tma_seconds": row["tma_seconds"],
                "cells": cells,
            }
        )

    volume = {r["group"]: r["events"] for r in by_tp}
    grid = {
        phase: {
            kind: [
                {"id": t.id, "name": t.label(lang), "events": volume.get(t.id, 0)}
                for t in catalog.touchpoints
                if t.is_touchpoint and t.kind == kind and (phase in t.phase or not t.phase)
            ]
            for kind in KINDS
        }
        for phase in PHASES
    }

    top_variants = variants(store, scope, top=8)["variants"]
    phase_funnel = funnel(store, scope)
    gap_stats = gaps(store, scope)

    how = _hour_of_week(store, scope, timezone)
    tme_cells: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    for r in how:
        tme_cells[int(r["dow"]) - 1][int(r["hour"])] = None if r["tme"] is None else float(r["tme"])

    attribution = {}
    if total["conversions"]:
        for model in ATTRIBUTION_MODELS:
            attribution[model] = {
                r["touchpoint"]: r["share"] for r in attribute(store, scope, model)["rows"]
            }
    attribution_tps = sorted(
        {tp for shares in attribution.values() for tp in shares},
        key=lambda tp: -max(shares.get(tp, 0) for shares in attribution.values()),
    )

    recommendations = [{"text": f["text"][lang]} for f in insights(store, scope, lang)["findings"]]

    def seconds(v: float) -> str:
        return fmt_seconds(v, lang)

    charts = {
        "volume": svg.bar_chart(
            [(names.get(r["group"], r["group"]), r["events"]) for r in by_tp[:12]],
            words["chart_volume"],
            lambda v: fmt_number(v, 0, lang),
        ),
        "funnel": svg.bar_chart(
            [(words.get(s["stage"], s["stage"]), s["count"]) for s in phase_funnel["stages"]],
            words["chart_funnel"],
            lambda v: fmt_number(v, 0, lang),
        ),
        "channel_tme": svg.bar_chart(
            [(str(r["group"]), r["tme_seconds"]) for r in by_channel if r["offered"]],
            words["chart_channel_tme"],
            seconds,
        ),
        "heatmap": svg.heatmap(
            words["weekdays"].split(","),
            [f"{h}h" for h in range(24)],
            tme_cells,
            words["chart_heatmap"],
            seconds,
        ),
        "feedback": svg.line_chart(
            [r["group"] for r in by_week],
            [
                (words["nps"], [r["nps"] for r in by_week]),
                (words["csat"], [r["csat"] for r in by_week]),
            ],
            words["chart_feedback"],
            lambda v: fmt_number(v, 0, lang),
        ),
    }
    return {
        "lang": lang,
        "t": words,
        "period": {
            "from": current.date_from,
            "to": current.date_to,
            "previous_from": previous.date_from,
            "previous_to": previous.date_to,
        },
        "generated": datetime.now(UTC).replace(microsecond=0, tzinfo=None),
        "total": total,
        "previous": before,
        "summary": summary,
        "by_phase": by_phase,
        "targets": target_rows,
        "grid": grid,
        "variants": [{**v, "names": [names.get(s, s) for s in v["path"]]} for v in top_variants],
        "funnel": phase_funnel,
        "gaps": gap_stats,
        "by_channel": by_channel,
        "comments": [
            {**c, "name": names.get(c["touchpoint"], c["touchpoint"])}
            for c in _comments(store, scope)
        ],
        "attribution": attribution,
        "attribution_rows": [
            {"name": names.get(tp, tp), "shares": [attribution[m].get(tp) for m in attribution]}
            for tp in attribution_tps
        ],
        "recommendations": recommendations,
        "charts": charts,
    }


def render_html(data: dict[str, Any]) -> str:
    import jinja2

    lang = data["lang"]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, d=0: "–" if v is None else fmt_number(v, d, lang)
    env.filters["pct"] = lambda v: "–" if v is None else fmt_percent(v, lang)
    env.filters["secs"] = lambda v: "–" if v is None else fmt_seconds(v, lang)
    env.filters["day"] = lambda v: "–" if v is None else v.strftime(LABELS[lang]["date_format"])
    return env.get_template("report.html").render(**data)


def build_report(
    store: Store,
    date_from: str,
    date_to: str,
    lang: str = "en",
    fmt: str = "html",
    timezone: str = "UTC",
) -> bytes:
    """The finished document's bytes (UTF-8 HTML, or a PDF)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: use html or pdf")
    html = render_html(report_data(store, date_from, date_to, lang, timezone))
    if fmt == "html":
        return html.encode("utf-8")
    import weasyprint

    # No base_url: nothing in the document points anywhere, so nothing may be fetched.
    return weasyprint.HTML(string=html).write_pdf()
