"""Repeat-purchase cohorts: of the customers who first bought in period P, how many bought
again in P+1, P+2, ...

SPEC §4 defines retention between two consecutive periods; the cohort matrix is the view a
manager reads to see whether customers won in January are still buying in June, and
whether newer cohorts return better than older ones.

- The cohort of a customer is the period (cut in `timezone`) of their first purchase ever:
  `--from` selects cohorts whose first purchase falls on or after it, but never makes an
  older customer look new. `--to` ends the data (cohorts and repeat purchases).
- Cell k (k >= 1) counts the cohort's customers with at least one purchase in period
  cohort + k; `share` = that count / cohort customers. A purchase in the cohort period
  itself is not a return.
- Cells run up to the last period holding any event (capped at `--to`); a cell whose
  period has not ended in the data is marked `complete: false`, so a half-month never
  reads as churn.
- The other filters (touchpoint, channel, kind, phase, segment, agent) select which
  purchase rows count, e.g. `--channel store` gives the cohorts of store buyers.

The engine finds first purchases and distinct (customer, period) returns; Python only
numbers the offsets between a few hundred period labels.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.registry import EVENT_SCOPE, Analysis, Options, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import local_ts, scoped_events
from touchpoints.core.errors import UsageError
from touchpoints.core.time import zone_info

if TYPE_CHECKING:
    from touchpoints.store.base import Store

PERIODS = ("day", "week", "month")


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _index(day: date, period: str) -> int:
    """A period's ordinal, so offsets are differences of integers."""
    if period == "month":
        return day.year * 12 + day.month - 1
    if period == "week":
        return (day.toordinal() - 1) // 7  # ordinal 1 (0001-01-01) is a Monday
    return day.toordinal()


def _start(index: int, period: str) -> date:
    if period == "month":
        return date(index // 12, index % 12 + 1, 1)
    if period == "week":
        return date.fromordinal(index * 7 + 1)
    return date.fromordinal(index)


def _label(day: date, period: str) -> str:
    return day.strftime("%Y-%m") if period == "month" else day.isoformat()


def _to_local(value: datetime, tz: str) -> datetime:
    """A naive UTC time as naive wall time in `tz`."""
    if tz == "UTC":
        return value
    return value.replace(tzinfo=zone_info("UTC")).astimezone(zone_info(tz)).replace(tzinfo=None)


def retention_sql(scope: Scope, period: str) -> str:
    """Cohort sizes (`m` NULL) and returns per (cohort, period), plus the data's last time;
    bind `scope.params()`. `period` is written into the SQL (no engine binds a date_trunc
    unit), so only the three known words get there."""
    if period not in PERIODS:
        raise UsageError(f"--period {period!r}: use day, week or month")
    open_start = scope.replace(date_from=None)
    local = local_ts(scope)
    since = "first_ts >= $scope_from" if scope.date_from else "TRUE"
    return f"""WITH p AS (
      SELECT customer_id, ts, date_trunc('{period}', {local}) AS m
      FROM ({scoped_events(open_start)}) s WHERE action = 'purchase'
    ), firsts AS (
      SELECT customer_id, min(ts) AS first_ts, min(m) AS cohort FROM p GROUP BY customer_id
    ), c AS (
      SELECT customer_id, cohort FROM firsts WHERE {since}
    ), r AS (
      SELECT DISTINCT c.customer_id AS customer_id, c.cohort AS cohort, p.m AS m
      FROM c JOIN p ON p.customer_id = c.customer_id AND p.m > c.cohort
    )
    SELECT 'cohort' AS part, cohort, CAST(NULL AS TIMESTAMP) AS m, count(*) AS customers
    FROM c GROUP BY cohort
    UNION ALL
    SELECT 'return' AS part, cohort, m, count(*) AS customers FROM r GROUP BY cohort, m
    UNION ALL
    SELECT 'last' AS part, CAST(NULL AS TIMESTAMP) AS cohort, max({local}) AS m,
      count(*) AS customers
    FROM events"""


class RetentionOptions(Options):
    period: str = Field("month", description="Cohort period: day, week or month.")
    max_offset: int | None = Field(None, description="Show at most N periods after the first.")


def retention_cohorts(store: Store, scope: Scope, options: RetentionOptions) -> dict[str, Any]:
    """Repeat purchase by cohort: who first bought in a period, and who bought again k
    periods later (share of the cohort; `complete` is false while period k is not over in
    the data). Oldest cohort first; months labelled YYYY-MM, weeks (Monday) and days by
    their first day, in the scope's time zone.
    """
    period, max_offset, timezone = options.period, options.max_offset, scope.timezone
    if period not in PERIODS:
        raise UsageError(f"--period {period!r}: use day, week or month")
    if max_offset is not None and max_offset < 1:
        raise UsageError(f"--max-offset {max_offset!r}: use a whole number >= 1")
    raw = store.query(retention_sql(scope, period), scope.params())
    last: datetime | None = None
    sizes: dict[int, int] = {}
    returns: dict[tuple[int, int], int] = {}
    for r in raw:
        if r["part"] == "last":
            last = r["m"]
        elif r["part"] == "cohort":
            sizes[_index(_day(r["cohort"]), period)] = int(r["customers"])
        else:
            key = (_index(_day(r["cohort"]), period), _index(_day(r["m"]), period))
            returns[key] = int(r["customers"])
    # The data runs to its last event, or to --to when that comes first; a period has
    # ended in the data when an event lies beyond it and --to (if any) covers it whole.
    stop = None
    if scope.date_to is not None:
        stop = _to_local(scope.date_to, timezone)
    seen = last if last is None or stop is None else min(last, stop)
    ended = last if last is None or stop is None else min(last, stop + timedelta(microseconds=1))
    cohorts = []
    for cohort in sorted(sizes):
        size = sizes[cohort]
        horizon = _index(_day(seen), period) if seen is not None else cohort
        cells = []
        for k in range(1, horizon - cohort + 1):
            if max_offset is not None and k > max_offset:
                break
            n = returns.get((cohort, cohort + k), 0)
            ends = datetime.combine(_start(cohort + k + 1, period), datetime.min.time())
            cells.append(
                {
                    "offset": k,
                    "customers": n,
                    "share": n / size,
                    "complete": ended is not None and ended >= ends,
                }
            )
        cohorts.append(
            {"cohort": _label(_start(cohort, period), period), "customers": size, "cells": cells}
        )
    return {"period": period, "cohorts": cohorts}


class Cell(ResultModel):
    offset: int
    customers: int
    share: float
    complete: bool


class Cohort(ResultModel):
    cohort: str
    customers: int
    cells: list[Cell]


class RetentionResult(ResultModel):
    period: str
    cohorts: list[Cohort]


register(
    Analysis(
        name="retention",
        summary="Repeat purchase by cohort: who first bought in a period, and buys again later.",
        run=retention_cohorts,
        options=RetentionOptions,
        result=RetentionResult,
        scope=EVENT_SCOPE,
        table="cohorts",
        explode="cells",
    )
)
