"""What a store holds: an analyst's first look, and what the dashboard's frame needs.

Before reading any metric, one asks how much data there is, which period it covers, which
touchpoints it has seen and how customers are segmented. `touchpoints summary` answers
that; the dashboard reads the same result for its filter bar (the segments in the data)
and for the windows it compares (the last day of data), so no page writes SQL of its own.

Counts are SPEC §4's: `events` are rows (feedback rows included), `customers` distinct
`customer_id`. Times are the stored UTC times, as ISO 8601 text.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.kpis import rollup_customers, rollup_relation
from touchpoints.analytics.registry import EVENT_SCOPE, Analysis, Options, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import scoped_events

if TYPE_CHECKING:
    from touchpoints.store.base import Store


class SummaryOptions(Options):
    segments: int = Field(
        50, ge=0, le=100_000, description="Segments to list, the most events first."
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _counts(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "events": int(row["events"]),
        "customers": int(row["customers"]),
        "first_event": _iso(row["first_event"]),
        "last_event": _iso(row["last_event"]),
    }


def summary(store: Store, scope: Scope, options: SummaryOptions) -> dict[str, Any]:
    """Events, customers and the period they cover; each touchpoint seen, with its own
    counts and period; the customer segments, the most events first (`--segments` of
    them; `segment_count` says how many there are)."""
    rollup = rollup_relation(store, scope, local_periods=False)
    if rollup is None:
        source = f"FROM ({scoped_events(scope, with_catalog=False)}) e"
        rows = "count(*)"
        customers = {key: "count(DISTINCT customer_id)" for key in (None, "touchpoint", "segment")}
        first, last = "min(ts)", "max(ts)"
    else:
        # The KPI roll-up (`analytics.kpis.rollup_relation`): the same numbers, summed.
        source = f"FROM ({rollup}) e WHERE {scope.where()}"
        rows = "CAST(coalesce(sum(events), 0) AS BIGINT)"
        customers = {key: rollup_customers(scope, key) for key in (None, "touchpoint", "segment")}
        first, last = "min(first_ts)", "max(last_ts)"

    def counts(by: str | None) -> str:
        return (
            f"{rows} AS events, {customers[by]} AS customers, "
            f"{first} AS first_event, {last} AS last_event"
        )

    params = scope.params()
    # Over the whole roll-up unfiltered, customers are a sum of first-row flags, so the
    # store's totals are the sums of its touchpoints' rows and the segment count their
    # number: two passes over the roll-up instead of three.
    summed = rollup is not None and customers[None] == rollup_customers(Scope())
    whole = f", {customers[None]} AS all_customers" if summed else ""
    touchpoints = store.query(
        f"SELECT touchpoint, {counts('touchpoint')}{whole} {source} GROUP BY touchpoint "
        "ORDER BY events DESC, touchpoint",
        params,
    )
    # The top `segments` by rank, not LIMIT: a bound value may stand in a comparison on
    # every engine, while Spark takes no marker after LIMIT.
    segments = store.query(
        "SELECT segment, events, customers, segment_count FROM ("
        f"SELECT segment, {rows} AS events, {customers['segment']} AS customers, "
        f"row_number() OVER (ORDER BY {rows} DESC, segment) AS k, "
        "count(*) OVER () AS segment_count "
        f"FROM (SELECT * {source}) x WHERE segment IS NOT NULL GROUP BY segment) s "
        "WHERE k <= $limit ORDER BY k",
        {**params, "limit": options.segments},
    )
    if summed and options.segments:
        total = {
            "events": sum(int(r["events"]) for r in touchpoints),
            "customers": sum(int(r["all_customers"]) for r in touchpoints),
            "first_event": min((r["first_event"] for r in touchpoints), default=None),
            "last_event": max((r["last_event"] for r in touchpoints), default=None),
            "segment_count": int(segments[0]["segment_count"]) if segments else 0,
        }
    else:
        total = store.query(
            f"SELECT {counts(None)}, count(DISTINCT segment) AS segment_count {source}", params
        )[0]
    return {
        **_counts(total),
        "segment_count": int(total["segment_count"]),
        "touchpoints": [{"touchpoint": r["touchpoint"], **_counts(r)} for r in touchpoints],
        "segments": [
            {"segment": r["segment"], "events": int(r["events"]), "customers": int(r["customers"])}
            for r in segments
        ],
    }


class Seen(ResultModel):
    touchpoint: str
    events: int
    customers: int
    first_event: str
    last_event: str


class Segment(ResultModel):
    segment: str
    events: int
    customers: int


class SummaryResult(ResultModel):
    events: int
    customers: int
    first_event: str | None = Field(description="The earliest event's time (UTC); null if none.")
    last_event: str | None = Field(description="The latest event's time (UTC); null if none.")
    segment_count: int = Field(description="Distinct segments, listed or not.")
    touchpoints: list[Seen]
    segments: list[Segment]


register(
    Analysis(
        name="summary",
        summary="What the store holds: events, customers, period, touchpoints and segments.",
        run=summary,
        options=SummaryOptions,
        result=SummaryResult,
        scope=EVENT_SCOPE,
        table="touchpoints",
    )
)
