"""`touchpoints report`: one self-contained document for a period, in HTML or PDF.

The report calls the same analyses as the CLI and the dashboard (kpis, variants, funnel,
gaps, attribution, insights), so its numbers are the ones people see elsewhere. The HTML
has inline CSS and inline SVG charts and no scripts or links to other hosts: it can be
mailed, archived and opened offline. The PDF is WeasyPrint's rendering of that same HTML.

Reports are read on paper, so nothing is left to a browser's locale: words come from the
message catalog (`report.*`, with `metric.*` for columns and `common.*` for phases and
kinds) and every number, share, amount, duration and date from `core.format`, in the
report's language (a Brazilian reads R$ 1.000,50, 25,0% and TME; an English reader
R$1,000.50, 25.0% and ASA).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from touchpoints.analytics import registry
from touchpoints.analytics.changes import markers as change_markers
from touchpoints.analytics.scope import Scope
from touchpoints.core import format
from touchpoints.core import messages as msg
from touchpoints.core.errors import UsageError
from touchpoints.core.time import parse_when, previous_period, zone_info
from touchpoints.reports import svg

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


def period_scopes(date_from: str, date_to: str, timezone: str = "UTC") -> tuple[Scope, Scope]:
    """The period asked for and the one of equal length just before it (for trends)."""
    if not date_from or not date_to:
        raise UsageError("--from and --to are required: the report covers one period")
    current = Scope.build(date_from, date_to, timezone=timezone)
    assert current.date_from is not None and current.date_to is not None
    first = format.local(current.date_from, timezone)
    last = format.local(current.date_to, timezone)
    assert first is not None and last is not None
    before_first, before_last = previous_period(first.date(), last.date())
    previous = current.replace(
        date_from=parse_when(before_first, "--from", tz=timezone),
        date_to=parse_when(before_last, "--to", end=True, tz=timezone),
    )
    return current, previous


def _wall(moment: datetime | None, timezone: str) -> datetime | None:
    """A stored (naive UTC) time as wall time in `timezone`."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(zone_info(timezone)).replace(tzinfo=None)


def run(store: Store, name: str, scope: Scope, **options: Any) -> dict[str, Any]:
    """One analysis of the registry, as the CLI and the dashboard run it."""
    analysis = registry.get(name)
    return analysis.run(store, scope, analysis.options.model_validate(options))


def _comments(store: Store, scope: Scope, limit: int = 6) -> list[dict[str, Any]]:
    """A few comments from both ends of the scale: the best and the worst scored."""
    rated = [
        c
        for c in reversed(run(store, "feedback.comments", scope, limit=None)["comments"])
        if c["nps"] is not None or c["csat"] is not None
    ]  # oldest first, so ties keep the order of time

    def mark(c: dict[str, Any]) -> float:
        return c["nps"] if c["nps"] is not None else (c["csat"] - 1) * 2.5

    low = sorted(rated, key=mark)[: limit // 2]
    high = sorted(rated, key=lambda c: -mark(c))[: limit // 2]
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


def _change(key: str, now: float | None, before: float | None, lang: str, currency: str) -> str:
    """'−22 s', '+2,5 p.p.', '+131': the signed change in `key`'s unit; one too small to
    show in that unit is 'stable' ('estável'), never 'down 0.0 pp'."""
    if now is None or before is None:
        return msg.t(lang, "report.no_comparison")
    delta = now - before
    if format.change(key, delta, lang, currency) == format.change(key, 0, lang, currency):
        return msg.t(lang, "report.stable")
    return ("+" if delta > 0 else "\u2212") + format.change(key, delta, lang, currency)


def words(lang: str) -> dict[str, str]:
    """The report's words for the template: `report.*` as they are, and the column and
    phase labels (`metric.*`, `common.*`) with a capital, as they open headers and rows."""
    labels = {**msg.words(lang, "common"), **msg.words(lang, "metric")}
    return {**{k: msg.capitalized(v) for k, v in labels.items()}, **msg.words(lang, "report")}


def company(timezone: str | None, currency: str | None) -> tuple[str, str]:
    """The time zone and currency asked for, else the company's settings
    (`TOUCHPOINTS_TIMEZONE`, `TOUCHPOINTS_CURRENCY`)."""
    from touchpoints.core.settings import get_settings

    if timezone is None or currency is None:
        settings = get_settings()
        timezone = timezone or settings.timezone
        currency = currency or settings.currency
    return timezone, currency


def report_data(
    store: Store,
    date_from: str,
    date_to: str,
    lang: str = "en",
    timezone: str | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """Everything the template shows, computed once (and testable without rendering).
    Days are cut and times printed in `timezone`, revenue is in `currency`: the company's
    settings when not given."""
    timezone, currency = company(timezone, currency)
    if lang not in msg.LANGS:
        raise UsageError(f"--lang {lang!r}: use en or pt-BR")
    current, previous = period_scopes(date_from, date_to, timezone)
    scope = current
    t = words(lang)
    catalog = store.catalog()
    names = {t.id: t.label(lang) for t in catalog.touchpoints}

    total = run(store, "kpis", current)["rows"][0]
    before = run(store, "kpis", previous)["rows"][0]
    by_phase = run(store, "kpis", current, by="phase")["rows"]
    by_tp = run(store, "kpis", current, by="touchpoint")["rows"]
    by_channel = run(store, "kpis", current, by="channel")["rows"]
    by_week = run(store, "kpis", current, by="week")["rows"]

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
            "label": t[k],
            "value": total[k],
            "previous": before[k],
            "change": _change(k, total[k], before[k], lang, currency),
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

    top_variants = run(store, "journeys.variants", scope, top=8)["variants"]
    phase_funnel = run(store, "journeys.funnel", scope)
    gap_stats = run(store, "journeys.gaps", scope)

    tme_cells: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    for r in run(store, "heatmap", scope)["rows"]:
        if r["offered"]:
            tme_cells[r["weekday"] - 1][r["hour"]] = r["tme_seconds"]

    attribution = {}
    if total["conversions"]:
        for model in ATTRIBUTION_MODELS:
            attribution[model] = {
                r["touchpoint"]: r["share"]
                for r in run(store, "attribution", scope, model=model)["rows"]
            }
    attribution_tps = sorted(
        {tp for shares in attribution.values() for tp in shares},
        key=lambda tp: -max(shares.get(tp, 0) for shares in attribution.values()),
    )

    recommendations = [
        {"text": f["text"][lang]} for f in run(store, "insights", scope, lang=lang)["findings"]
    ]

    def seconds(v: float) -> str:
        return format.duration(v, lang)

    def whole(v: float) -> str:
        return format.integer(v, lang)

    charts = {
        "volume": svg.bar_chart(
            [(names.get(r["group"], r["group"]), r["events"]) for r in by_tp[:12]],
            t["chart_volume"],
            whole,
        ),
        "funnel": svg.bar_chart(
            [(t.get(s["stage"], s["stage"]), s["count"]) for s in phase_funnel["stages"]],
            t["chart_funnel"],
            whole,
        ),
        "channel_tme": svg.bar_chart(
            [
                (format.code("channel", str(r["group"]), lang), r["tme_seconds"])
                for r in by_channel
                if r["offered"]
            ],
            t["chart_channel_tme"],
            seconds,
        ),
        "heatmap": svg.heatmap(
            format.weekdays(lang),
            [f"{h}h" for h in range(24)],
            tme_cells,
            t["chart_heatmap"],
            seconds,
        ),
        "feedback": svg.line_chart(
            [format.date(r["group"], lang) for r in by_week],
            [
                (t["nps"], [r["nps"] for r in by_week]),
                (t["csat"], [r["csat"] for r in by_week]),
            ],
            t["chart_feedback"],
            whole,
            markers=[
                (i, f"{format.date(c['date'], lang)} {c['title']}")
                for i, c in change_markers(
                    run(store, "changes.list", Scope())["rows"],
                    [r["group"] for r in by_week],
                    timedelta(days=7),
                )
            ],
        ),
    }
    return {
        "lang": lang,
        "timezone": timezone,
        "currency": currency,
        "t": t,
        # The period as the reader asked for it: days in the report's time zone (a
        # São Paulo month ends at 03:00 UTC on the 1st, which is not the day to print).
        "period": {
            "from": _wall(current.date_from, timezone),
            "to": _wall(current.date_to, timezone),
            "previous_from": _wall(previous.date_from, timezone),
            "previous_to": _wall(previous.date_to, timezone),
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
    """The report's HTML, with core.format's filters in the report's language."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(format.filters(data["lang"], data["currency"], data["timezone"]))
    return env.get_template("report.html").render(**data)


def build_report(
    store: Store,
    date_from: str,
    date_to: str,
    lang: str = "en",
    fmt: str = "html",
    timezone: str | None = None,
    currency: str | None = None,
) -> bytes:
    """The finished document's bytes (UTF-8 HTML, or a PDF); time zone and currency
    default to the company's settings."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: use html or pdf")
    html = render_html(report_data(store, date_from, date_to, lang, timezone, currency))
    if fmt == "html":
        return html.encode("utf-8")
    import weasyprint

    # No base_url: nothing in the document points anywhere, so nothing may be fetched.
    # PDF/UA: a tagged PDF (headings, tables, reading order) with its language and title,
    # so a screen reader reads the report as the HTML reads.
    return weasyprint.HTML(string=html).write_pdf(pdf_variant="pdf/ua-1")
