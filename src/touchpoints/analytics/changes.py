"""The change log and the effect of a change (SPEC §5 `changes list`, `effect`).

`effect` answers "did it work?" without crediting a change with whatever else moved at the
same time. It compares the changed touchpoint's daily metric before and after the change
with the same days at **control** touchpoints — those that have the metric and no logged
change in the window — so a season, a holiday or a campaign that moved every touchpoint
cancels out:

    d_t = metric of the touchpoint on day t − mean metric of the controls on day t
    effect = mean(d_t after) − mean(d_t before)        (difference-in-differences)

The 95 % interval is the OLS one for `d_t ~ 1 + after` (statsmodels), with the Newey-West
(HAC) covariance when the days' differences are autocorrelated. The pre-period fit is
checked: when `d_t` already drifted before the change (a significant slope), the controls
did not move like the touchpoint and the answer says so (`pre_fit_poor`).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.kpis import (
    KPI_KEYS,
    PERIOD_START,
    ServiceOptions,
    aggregates,
    derive,
    service_rules,
)
from touchpoints.analytics.registry import Analysis, NoOptions, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import local_ts
from touchpoints.core.errors import UsageError
from touchpoints.core.time import parse_duration

if TYPE_CHECKING:
    from touchpoints.store.base import Store

# Metrics a change can move: every SPEC §4 key with a daily value of its own.
EFFECT_METRICS = tuple(k for k in KPI_KEYS if k not in ("nps_margin", "retention", "churn"))
MIN_DAYS = 7  # days with the metric on each side of the change
PRE_TREND_ALPHA = 0.05


def has_changes(store: Store) -> bool:
    """A store written before the change log existed (opened read-only) has no table yet."""
    return store.has_table("changes")


def list_changes(store: Store, scope: Scope | None = None, options: Any = None) -> dict[str, Any]:
    """What the team changed, and when: every logged change, newest first."""
    from touchpoints.ingest.changes import change_row

    if not has_changes(store):
        return {"rows": []}
    rows = store.query(
        "SELECT id, change_date, title, touchpoint FROM changes ORDER BY change_date DESC, id DESC"
    )
    return {"rows": [change_row(r) for r in rows]}


def get_change(store: Store, change_id: int) -> dict[str, Any]:
    from touchpoints.ingest.changes import change_row

    rows = (
        store.query(
            "SELECT id, change_date, title, touchpoint FROM changes WHERE id = $id",
            {"id": int(change_id)},
        )
        if has_changes(store)
        else []
    )
    if not rows:
        raise UsageError(f"--change {change_id}: no such change (see `touchpoints changes list`)")
    return change_row(rows[0])


def markers(
    changes: list[dict[str, Any]], starts: list[str], step: timedelta | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Where each change falls on a time axis whose categories begin on `starts` (ISO
    days, ascending) and last `step` (default: the gap between the last two, else a
    day): (index of the category holding the change's day, the change). A change before
    the first category or past the last one's end is left out. The dashboard's charts
    and the report's draw their markers from this."""
    if not starts:
        return []
    days = [date.fromisoformat(str(s)[:10]) for s in starts]
    if step is None:
        step = days[-1] - days[-2] if len(days) > 1 else timedelta(days=1)
    out = []
    for change in changes:
        day = date.fromisoformat(change["date"])
        if days[0] <= day < days[-1] + step:
            out.append((max(i for i, d in enumerate(days) if d <= day), change))
    return out


class ChangeRow(ResultModel):
    id: int
    date: str = Field(description="The day the change took effect (local).")
    title: str
    touchpoint: str | None = Field(description="The touchpoint changed (null: not one).")


class ChangesResult(ResultModel):
    rows: list[ChangeRow]


register(
    Analysis(
        name="changes.list",
        summary="What the team changed, and when (the change log), newest first.",
        run=list_changes,
        options=NoOptions,
        result=ChangesResult,
        scope=(),
        path="/v1/changes",
    )
)


# -- effect --------------------------------------------------------------------------------
class EffectOptions(ServiceOptions):
    change: int = Field(description="The change's id (see `changes list`).")
    metric: str = Field(
        description="The SPEC §4 metric: " + ", ".join(EFFECT_METRICS) + ".",
        json_schema_extra={"enum": list(EFFECT_METRICS)},
    )
    window: str = Field("28d", description="Days before and after the change to compare.")


def daily_metric(
    store: Store, scope: Scope, options: ServiceOptions, metric: str
) -> dict[str, dict[date, float]]:
    """touchpoint -> local day -> the metric's value that day (days without one left out)."""
    within, service = service_rules(store, options)
    day = PERIOD_START["day"].format(ts=local_ts(scope))
    from touchpoints.analytics.sql import scoped_events

    rows = store.query(
        f"""SELECT touchpoint AS tp, {day} AS d, {aggregates(within)}
        FROM ({scoped_events(scope, with_catalog=False)}) s GROUP BY 1, 2""",
        {**scope.params(), **service},
    )
    out: dict[str, dict[date, float]] = {}
    for r in rows:
        value = derive(r)[metric]
        if value is None:
            continue
        d = r["d"].date() if isinstance(r["d"], datetime) else r["d"]
        out.setdefault(r["tp"], {})[d] = float(value)
    return out


def _changed_touchpoints(store: Store, first: date, last: date) -> set[str]:
    rows = store.query(
        "SELECT DISTINCT touchpoint FROM changes WHERE change_date >= $first "
        "AND change_date <= $last AND touchpoint IS NOT NULL",
        {"first": first, "last": last},
    )
    return {r["touchpoint"] for r in rows}


def did(
    treated: dict[date, float], controls: list[dict[date, float]], change_day: date
) -> dict[str, Any]:
    """Difference-in-differences of daily values around `change_day` (days from it count
    as after): the effect, its 95 % interval and the pre-period check."""
    import numpy as np
    import statsmodels.api as sm

    days = sorted(d for d in treated if any(d in c for c in controls))
    gaps, after = [], []
    for d in days:
        values = [c[d] for c in controls if d in c]
        gaps.append(treated[d] - sum(values) / len(values))
        after.append(1.0 if d >= change_day else 0.0)
    y, post = np.array(gaps), np.array(after)
    n_pre, n_post = int((post == 0).sum()), int((post == 1).sum())
    if n_pre < MIN_DAYS or n_post < MIN_DAYS:
        raise UsageError(
            f"too little data: {n_pre} days before and {n_post} after the change have the "
            f"metric at the touchpoint and its controls; at least {MIN_DAYS} on each side are "
            "needed (widen --window or wait for more days)"
        )
    x = sm.add_constant(post)
    # Serial correlation of the daily gaps (a lag-1 autocorrelation clearly above zero)
    # would make the plain interval too narrow: use Newey-West then.
    resid = y - np.where(post == 1, y[post == 1].mean(), y[post == 0].mean())
    r1 = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if len(resid) > 2 else 0.0
    autocorrelated = math.isfinite(r1) and r1 > 2.0 / math.sqrt(len(y))
    if autocorrelated:
        lags = max(1, int(round(len(y) ** 0.25)))
        fit = sm.OLS(y, x).fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
    else:
        fit = sm.OLS(y, x).fit()
    low, high = fit.conf_int(0.05)[1]
    pre_days = np.array([(d - change_day).days for d, p in zip(days, after, strict=True) if p == 0])
    pre_fit = sm.OLS(y[post == 0], sm.add_constant(pre_days.astype(float))).fit()
    pre_trend_p = float(pre_fit.pvalues[1])
    return {
        "effect": float(fit.params[1]),
        "low": float(low),
        "high": float(high),
        "p_value": float(fit.pvalues[1]),
        "pre_trend_p": pre_trend_p,
        "pre_fit_poor": pre_trend_p < PRE_TREND_ALPHA,
        "days_before": n_pre,
        "days_after": n_post,
        "hac": autocorrelated,
    }


def effect(store: Store, scope: Scope, options: EffectOptions) -> dict[str, Any]:
    """A change's effect on a SPEC §4 metric of its touchpoint, with a 95 % interval.

    Difference-in-differences of daily values against control touchpoints — those with the
    metric and no logged change in the window — so what moved every touchpoint is not
    credited to the change. `before`/`after` are the touchpoint's own daily means;
    `effect` is after minus the counterfactual (before plus the controls' change).
    Refuses when no control exists or a side of the window holds fewer than 7 days; says
    when the pre-period fit is poor (the touchpoint and its controls already drifted
    apart before the change).
    """
    if options.metric not in EFFECT_METRICS:
        raise UsageError(f"--metric {options.metric!r}: use one of {', '.join(EFFECT_METRICS)}")
    change = get_change(store, options.change)
    if change["touchpoint"] is None:
        raise UsageError(
            f"change {change['id']} names no touchpoint: its effect has nothing to be measured at"
        )
    window_days = parse_duration(options.window, "--window") / 86400
    if window_days < MIN_DAYS or window_days != int(window_days):
        raise UsageError(f"--window {options.window!r}: use whole days, at least {MIN_DAYS}d")
    days = int(window_days)
    change_day = date.fromisoformat(change["date"])
    first, last = change_day - timedelta(days=days), change_day + timedelta(days=days - 1)
    period = scope.replace(
        date_from=_utc_midnight(first, scope.timezone),
        date_to=_utc_midnight(last + timedelta(days=1), scope.timezone) - timedelta(microseconds=1),
    )
    series = daily_metric(store, period, options, options.metric)
    tp = change["touchpoint"]
    treated = series.get(tp, {})
    before = [v for d, v in treated.items() if d < change_day]
    after = [v for d, v in treated.items() if d >= change_day]
    if len(before) < MIN_DAYS or len(after) < MIN_DAYS:
        raise UsageError(
            f"too little data: {tp} has {options.metric} on {len(before)} days before and "
            f"{len(after)} after {change_day} in the window; at least {MIN_DAYS} on each side"
        )
    changed = _changed_touchpoints(store, first, last)
    controls = sorted(
        t
        for t, values in series.items()
        if t not in changed
        and t != tp
        and sum(d < change_day for d in values) >= MIN_DAYS
        and sum(d >= change_day for d in values) >= MIN_DAYS
    )
    if not controls:
        raise UsageError(
            f"no control touchpoint for {options.metric} around change {change['id']}: every "
            f"other touchpoint with the metric has a change logged between {first} and {last}, "
            f"or fewer than {MIN_DAYS} days of it on a side"
        )
    result = did(treated, [series[c] for c in controls], change_day)
    return {
        "change": change["id"],
        "metric": options.metric,
        "before": sum(before) / len(before),
        "after": sum(after) / len(after),
        "effect": result["effect"],
        "low": result["low"],
        "high": result["high"],
        "controls": controls,
        "method": "difference-in-differences",
        "touchpoint": tp,
        "date": change["date"],
        "title": change["title"],
        "window_days": days,
        "days_before": result["days_before"],
        "days_after": result["days_after"],
        "p_value": result["p_value"],
        "pre_trend_p": result["pre_trend_p"],
        "pre_fit_poor": result["pre_fit_poor"],
    }


def _utc_midnight(day: date, timezone: str) -> datetime:
    from touchpoints.core.time import parse_when

    start = parse_when(day.isoformat(), "--date", tz=timezone)
    assert start is not None
    return start


class EffectResult(ResultModel):
    change: int
    metric: str
    before: float = Field(description="The touchpoint's mean daily metric before the change.")
    after: float = Field(description="Its mean daily metric from the change on.")
    effect: float = Field(description="After minus the counterfactual (difference-in-differences).")
    low: float = Field(description="95 % interval, lower end.")
    high: float = Field(description="95 % interval, upper end.")
    controls: list[str]
    method: str
    touchpoint: str
    date: str
    title: str
    window_days: int
    days_before: int
    days_after: int
    p_value: float
    pre_trend_p: float
    pre_fit_poor: bool


register(
    Analysis(
        name="effect",
        summary="A change's effect on a metric of its touchpoint against untouched touchpoints, with a 95 % interval.",
        run=effect,
        options=EffectOptions,
        result=EffectResult,
        scope=("timezone",),
        table="",
    )
)
