"""Service and feedback KPIs (SPEC §4) over any grouping of events.

The engine returns counts and sums per group in one pass; the rates are derived here from
those few rows, so `null` (nothing to average) is decided in one place for every engine.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from touchpoints.analytics.base import Filters, PhaseOptions, Scope, lit, scoped_events
from touchpoints.core.errors import UsageError
from touchpoints.core.events import PHASES
from touchpoints.core.time import zone_info

if TYPE_CHECKING:
    from touchpoints.store.base import Store

PERIODS = ("day", "week", "month")
GROUP_KEYS = ("touchpoint", "channel", "kind", "phase", "agent", "segment", *PERIODS)
KPI_KEYS = (
    "events",
    "customers",
    "offered",
    "answered",
    "abandoned",
    "abandonment_rate",
    "tme_seconds",
    "tma_seconds",
    "service_level",
    "fcr",
    "csat",
    "nps",
    "nps_margin",
    "ces",
    "conversions",
    "revenue",
    "promise_kept_rate",
    "data_reuse_rate",
    "emotion",
    "retention",
    "churn",
)


def _share(num: float, den: float) -> float | None:
    return None if not den else num / den


def _mean(total: float | None, n: float) -> float | None:
    return None if not n or total is None else float(total) / n


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def derive(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn one group's counts and sums into SPEC §4 keys."""
    offered = int(raw["offered"] or 0)
    abandoned = int(raw["abandoned"] or 0)
    answered = int(raw["answered"] or 0)
    nps_n = int(raw["nps_n"] or 0)
    promoters = _share(raw["nps_promoters"] or 0, nps_n)
    detractors = _share(raw["nps_detractors"] or 0, nps_n)
    nps = None if promoters is None else 100 * (promoters - (detractors or 0))
    margin = None
    if promoters is not None and detractors is not None:
        variance = promoters + detractors - (promoters - detractors) ** 2
        margin = 100 * 1.96 * math.sqrt(max(variance, 0.0) / nps_n)
    csat_share = _share(raw["csat_good"] or 0, raw["csat_n"] or 0)
    conversions = int(raw["conversions"] or 0)
    kept, broken = int(raw["promise_kept"] or 0), int(raw["promise_broken"] or 0)
    return {
        "events": int(raw["events"]),
        "customers": int(raw["customers"]),
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "abandonment_rate": _round(_share(abandoned, offered)),
        "tme_seconds": _round(_mean(raw["wait_sum"], raw["wait_n"] or 0), 3),
        "tma_seconds": _round(_mean(raw["handle_sum"], raw["handle_n"] or 0), 3),
        "service_level": _round(_share(raw["within"] or 0, offered)),
        "fcr": _round(_share(raw["resolved_true"] or 0, raw["resolved_n"] or 0)),
        "csat": _round(None if csat_share is None else 100 * csat_share, 4),
        "nps": _round(nps, 4),
        "nps_margin": _round(margin, 4),
        "ces": _round(_mean(raw["ces_sum"], raw["ces_n"] or 0), 4),
        "conversions": conversions,
        # A sum, not a mean: no purchases (or purchases without a value) make 0, not null.
        "revenue": _round(float(raw["revenue"] or 0.0), 2),
        "promise_kept_rate": _round(_share(kept, kept + broken)),
        "data_reuse_rate": _round(_share(raw["reused_true"] or 0, raw["reused_n"] or 0)),
        "emotion": _round(_mean(raw["emotion_sum"], raw["emotion_n"] or 0), 4),
        "retention": None,
        "churn": None,
    }


def aggregates(answer_within: float, short_abandon: float) -> str:
    """Counts and sums per group, in portable SQL (CASE, no FILTER), for every engine."""
    offered = f"(abandoned IS NOT NULL AND NOT (abandoned AND coalesce(wait_seconds < {short_abandon}, FALSE)))"
    answered = "(abandoned = FALSE)"
    return f"""
      count(*) AS events,
      count(DISTINCT customer_id) AS customers,
      sum(CASE WHEN {offered} THEN 1 ELSE 0 END) AS offered,
      sum(CASE WHEN {answered} THEN 1 ELSE 0 END) AS answered,
      sum(CASE WHEN {offered} AND abandoned THEN 1 ELSE 0 END) AS abandoned,
      sum(CASE WHEN {answered} THEN wait_seconds END) AS wait_sum,
      count(CASE WHEN {answered} THEN wait_seconds END) AS wait_n,
      sum(CASE WHEN {answered} THEN handle_seconds END) AS handle_sum,
      count(CASE WHEN {answered} THEN handle_seconds END) AS handle_n,
      sum(CASE WHEN {answered} AND wait_seconds <= {answer_within} THEN 1 ELSE 0 END) AS within,
      sum(CASE WHEN resolved THEN 1 ELSE 0 END) AS resolved_true,
      count(resolved) AS resolved_n,
      sum(CASE WHEN csat >= 4 THEN 1 ELSE 0 END) AS csat_good,
      count(csat) AS csat_n,
      sum(CASE WHEN nps >= 9 THEN 1 ELSE 0 END) AS nps_promoters,
      sum(CASE WHEN nps <= 6 THEN 1 ELSE 0 END) AS nps_detractors,
      count(nps) AS nps_n,
      sum(ces) AS ces_sum,
      count(ces) AS ces_n,
      sum(CASE WHEN action = 'purchase' THEN 1 ELSE 0 END) AS conversions,
      sum(CASE WHEN action = 'purchase' THEN value END) AS revenue,
      sum(CASE WHEN promise = 'kept' THEN 1 ELSE 0 END) AS promise_kept,
      sum(CASE WHEN promise = 'broken' THEN 1 ELSE 0 END) AS promise_broken,
      sum(CASE WHEN data_reused THEN 1 ELSE 0 END) AS reused_true,
      count(data_reused) AS reused_n,
      sum(emotion) AS emotion_sum,
      count(emotion) AS emotion_n"""


def _local_ts(tz: str) -> str:
    return "ts" if tz == "UTC" else f"((ts AT TIME ZONE 'UTC') AT TIME ZONE {lit(tz)})"


def _period_label(value: Any, period: str) -> str | None:
    if value is None:
        return None
    day = value.date() if isinstance(value, datetime) else value
    assert isinstance(day, date)
    return day.strftime("%Y-%m") if period == "month" else day.isoformat()


def _retention(store: Store, scope: Scope, period: str, tz: str) -> dict[str, float | None]:
    """Share of period-P buyers who buy again in P+1; null until P+1 is complete in the data."""
    no_time = Scope(
        Filters(**{**scope.filters.__dict__, "date_from": None, "date_to": None}), scope.phase
    )
    local = _local_ts(tz)
    rows = store.query(f"""
      WITH buyers AS (
        SELECT DISTINCT customer_id, date_trunc('{period}', {local}) AS p
        FROM ({scoped_events(no_time)}) s WHERE action = 'purchase'
      ), last_seen AS (SELECT max({local}) AS last_ts FROM events)
      SELECT b.p AS p, count(*) AS buyers, count(n.customer_id) AS retained,
             max(CASE WHEN l.last_ts >= b.p + INTERVAL '2' {period.upper()} THEN 1 ELSE 0 END) AS complete
      FROM buyers b
      CROSS JOIN last_seen l
      LEFT JOIN buyers n ON n.customer_id = b.customer_id AND n.p = b.p + INTERVAL '1' {period.upper()}
      GROUP BY b.p""")
    out: dict[str, float | None] = {}
    for r in rows:
        label = _period_label(r["p"], period)
        if label is not None:
            out[label] = _share(r["retained"], r["buyers"]) if r["complete"] else None
    return out


def kpis(
    store: Store,
    by: str | None = None,
    filters: Filters | None = None,
    phase_options: PhaseOptions | None = None,
    answer_within: float = 20.0,
    short_abandon: float = 0.0,
    timezone: str = "UTC",
) -> dict[str, Any]:
    """SPEC §5 `kpis`: {"rows": [{"group": ..., <every key of §4>}]}.

    `by` is one of GROUP_KEYS or None (one row, group "all"). Periods are cut in `timezone`
    and labelled by their first day (weeks start on Monday; months as YYYY-MM).
    """
    if by is not None and by not in GROUP_KEYS:
        raise UsageError(f"--by {by!r}: use one of {', '.join(GROUP_KEYS)}")
    for option, seconds in (("--answer-within", answer_within), ("--short-abandon", short_abandon)):
        if not math.isfinite(float(seconds)) or seconds < 0:
            raise UsageError(f"{option} {seconds!r}: use a number of seconds >= 0")
    zone_info(timezone)  # an unknown zone is a UsageError, before any SQL
    scope = Scope(filters or Filters(), phase_options or PhaseOptions())
    if by in PERIODS:
        group = f"date_trunc('{by}', {_local_ts(timezone)})"
    elif by is None:
        group = None
    else:
        group = by
    # No grouping: one aggregate row, even over no events (PostgreSQL rejects GROUP BY 'all').
    sql = f"""SELECT {group or "'all'"} AS grp, {aggregates(float(answer_within), float(short_abandon))}
      FROM ({scoped_events(scope, with_phase=by == "phase", with_catalog=by in ("channel", "kind"))}) s{f" GROUP BY {group}" if group else ""}"""
    raw_rows = store.query(sql)
    retention = _retention(store, scope, by, timezone) if by in PERIODS else {}
    rows = []
    for raw in raw_rows:
        grp = _period_label(raw["grp"], by) if by in PERIODS else raw["grp"]
        row = {"group": grp, **derive(raw)}
        if by in PERIODS:
            row["retention"] = _round(retention.get(grp))
            row["churn"] = None if row["retention"] is None else _round(1 - row["retention"])
        rows.append(row)
    rows.sort(key=lambda r: _order(r, by))
    return {"rows": rows}


def _order(row: dict[str, Any], by: str | None) -> tuple[Any, ...]:
    grp = row["group"]
    if by == "phase":
        return (PHASES.index(grp) if grp in PHASES else len(PHASES), str(grp))
    if by in PERIODS:
        return (grp is None, grp or "")
    # Biggest groups first: the table a manager reads top-down.
    return (grp is None, -row["events"], str(grp))
