"""The events behind a number (SPEC §5 `touchpoints events`): the drill-down of every KPI.

A manager who reads "abandonment 12 %" asks *which* calls. `events --metric abandoned`
lists exactly the rows `kpis` counted as abandoned under the same filters and the same
service rules (`--answer-within`, `--short-abandon`): the predicates are `kpis.counted()`,
the ones `kpis` sums, so `total` always equals the count the KPI is built from.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field, create_model, field_validator

from touchpoints.analytics.kpis import (
    METRICS,
    ServiceOptions,
    counted,
    rollup_relation,
    service_rules,
)
from touchpoints.analytics.registry import EVENT_SCOPE, Analysis, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import hour, iso_weekday, local_ts, scoped_events
from touchpoints.core.events import COLUMN_NAMES, COLUMNS

if TYPE_CHECKING:
    from touchpoints.store.base import Store

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Columns a list may be sorted on (`--sort wait_seconds`, `--sort -ts`); ties newest first.
SORTABLE = (
    "ts",
    "customer_id",
    "touchpoint",
    "agent",
    "wait_seconds",
    "handle_seconds",
    "value",
    "nps",
    "csat",
)
EXPORT_CHUNK = 50_000


class EventsOptions(ServiceOptions):
    metric: str | None = Field(
        None,
        description="Only the events one count is made of: " + ", ".join(METRICS) + ".",
        json_schema_extra={"enum": [*METRICS, None]},
    )
    limit: int = Field(
        DEFAULT_LIMIT,
        description=f"Events to list, newest first (1 to {MAX_LIMIT:,}).",
        json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT},
    )
    # Bounded so the engines' 64-bit OFFSET never overflows (a 400, not a 500).
    offset: int = Field(0, description="Events to skip first: the next page.", ge=0, le=2**62)
    weekday: int | None = Field(
        None,
        description="Only events on this ISO weekday (1 = Monday ... 7 = Sunday) in the time "
        "zone: a column of `heatmap`.",
        ge=1,
        le=7,
    )
    hour: int | None = Field(
        None,
        description="Only events in this hour of the day (0-23) in the time zone: a row of "
        "`heatmap`.",
        ge=0,
        le=23,
    )
    sort: str = Field(
        "-ts",
        description="Column to sort on, '-' first for descending: "
        + ", ".join(SORTABLE)
        + " (default -ts, newest first; ties newest first).",
    )

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str | None) -> str | None:
        if value is not None and value not in METRICS:
            raise ValueError(f"use one of {', '.join(METRICS)}")
        return value

    @field_validator("sort")
    @classmethod
    def _sort(cls, value: str) -> str:
        if value.removeprefix("-") not in SORTABLE:
            raise ValueError(f"sort on one of {', '.join(SORTABLE)} ('-' first: descending)")
        return value

    @field_validator("limit")
    @classmethod
    def _limit(cls, value: int) -> int:
        if not 1 <= value <= MAX_LIMIT:
            raise ValueError(
                f"list 1 to {MAX_LIMIT:,} events at a time; page through more with --offset"
            )
        return value


def _iso(value: Any) -> Any:
    """A stored time (naive UTC) as ISO-8601 with `Z`, as SPEC §2 reads it back in."""
    return value.isoformat() + "Z" if isinstance(value, datetime) else value


def stored_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored event as JSON carries it: times as ISO-8601 UTC."""
    return {k: _iso(v) for k, v in row.items()}


def events(store: Store, scope: Scope, options: EventsOptions) -> dict[str, Any]:
    """The events under the filters, newest first (ties: the latest ingested first).

    With `metric`, only the rows that count (`abandoned`, `within-target`, `detractors`,
    ...), chosen by the very predicates `kpis` sums, so `total` is the KPI's own count.
    Rows carry the SPEC §2 columns as stored (`phase` is the recorded override, if any).
    """
    relation, params = _relation(store, scope, options)
    counts = rollup_counts(store, scope, options, (options.metric,))
    if counts is None:
        total = store.query(f"SELECT count(*) AS n FROM ({relation}) r", params)[0]["n"]
    else:
        total = counts[options.metric]
    order = _order(options.sort)
    page = f"({relation}) r ORDER BY {order} LIMIT $events_limit OFFSET $events_offset"
    if store.engine == "duckdb" and not scope.needs_phase:
        # The page's rows found on their sort keys alone, then read whole by `seq`: DuckDB
        # reads every column of every matching row for a top-N it cannot rewrite so
        # itself (a channel's touchpoints are a semi-join). With a phase filter the rows
        # carry the derived phase: read from the relation as below.
        sql = f"""SELECT {", ".join(COLUMN_NAMES)} FROM events
          WHERE seq IN (SELECT seq FROM {page}) ORDER BY {order}"""
    else:
        sql = f"SELECT {', '.join(COLUMN_NAMES)} FROM {page}"
    rows = store.query(
        sql, {**params, "events_limit": options.limit, "events_offset": options.offset}
    )
    return {
        "total": int(total),
        "rows": [stored_row(r) for r in rows],
    }


# What each metric counts, over the KPI roll-up (`kpi_facts`: store.derived.ROLLUP_SUMS):
# a column, or the rest of its answers (CSAT 1-3 are the answers that are not 4-5).
ROLLUP_COUNTS: dict[str | None, str] = {
    None: "events",
    "offered": "offered",
    "answered": "answered",
    "abandoned": "abandoned",
    "within-target": "within",
    "resolved": "resolved_true",
    "unresolved": "resolved_n - resolved_true",
    "promoters": "nps_promoters",
    "passives": "nps_n - nps_promoters - nps_detractors",
    "detractors": "nps_detractors",
    "satisfied": "csat_good",
    "dissatisfied": "csat_n - csat_good",
    "conversions": "conversions",
    "promises-broken": "promise_broken",
    "data-not-reused": "reused_n - reused_true",
}


def _cell(scope: Scope, options: EventsOptions, params: dict[str, Any]) -> str:
    """` AND ...` for a cell of `heatmap` (the same weekday and hour expressions on the same
    local time), its values added to `params`; empty without one."""
    predicate, local = "", local_ts(scope)
    if options.weekday is not None:
        predicate += f" AND {iso_weekday(local)} = $events_weekday"
        params["events_weekday"] = options.weekday
    if options.hour is not None:
        predicate += f" AND {hour(local)} = $events_hour"
        params["events_hour"] = options.hour
    return predicate


def rollup_counts(
    store: Store, scope: Scope, options: EventsOptions, metrics: tuple[str | None, ...]
) -> dict[str | None, int] | None:
    """Each of `metrics`' totals (None: every event) summed from the KPI roll-up, when it
    answers this question exactly (`kpis.rollup_relation`: whole-hour period, the
    catalog's thresholds, no short abandons left out; an hour of the week only in a zone
    whose offsets are whole hours); None when the events must be counted. The roll-up's
    narrow counts sum several times faster than the predicates run over every event."""
    cell = options.weekday is not None or options.hour is not None
    rollup = rollup_relation(
        store, scope, options.answer_within, options.short_abandon, local_periods=cell
    )
    if rollup is None:
        return None
    params = {**scope.params()}
    predicate = "TRUE" + _cell(scope, options, params)
    sums = ", ".join(
        f"CAST(coalesce(sum({ROLLUP_COUNTS[m]}), 0) AS BIGINT) AS m{i}"
        for i, m in enumerate(metrics)
    )
    row = store.query(
        f"SELECT {sums} FROM ({rollup}) r WHERE {scope.where()} AND {predicate}", params
    )[0]
    return {m: int(row[f"m{i}"]) for i, m in enumerate(metrics)}


def metric_totals(
    store: Store,
    scope: Scope,
    metrics: tuple[str, ...],
    weekday: int | None = None,
    hour: int | None = None,
) -> dict[str, int]:
    """`events --metric M`'s total for each of `metrics` under the scope (default service
    rules; a heatmap cell's `weekday` and `hour` as the list takes them), in one pass over
    the roll-up when it answers, else over the events: the counts a KPI is made of, side
    by side with the list."""
    options = EventsOptions(weekday=weekday, hour=hour)
    counts = rollup_counts(store, scope, options, metrics)
    if counts is not None:
        return {m: counts[m] for m in metrics}
    relation, params = _relation(store, scope, options)
    within, _ = service_rules(store, options)
    predicates = counted(within)
    sums = ", ".join(
        f"sum(CASE WHEN {predicates[m]} THEN 1 ELSE 0 END) AS m{i}" for i, m in enumerate(metrics)
    )
    row = store.query(f"SELECT {sums} FROM ({relation}) s", params)[0]
    return {m: int(row[f"m{i}"] or 0) for i, m in enumerate(metrics)}


def _relation(store: Store, scope: Scope, options: EventsOptions) -> tuple[str, dict[str, Any]]:
    """The rows `metric` counts under the scope (every row without one), and their markers."""
    within, service = service_rules(store, options)
    predicate = counted(within)[options.metric] if options.metric else "TRUE"
    params: dict[str, Any] = {**scope.params(), **service}
    predicate += _cell(scope, options, params)
    # A channel or kind is a set of touchpoints: filtered as such, the rows need no join
    # with the catalog, and the newest-first page is read from the top of the sorted
    # times alone, the other columns only for the rows shown.
    for attr, column, option in (("channels", "channel", "channel"), ("kinds", "kind", "kind")):
        values = getattr(scope, attr)
        if values:
            marks = ", ".join(f"$scope_{option}_{i}" for i in range(len(values)))
            predicate += (
                f" AND touchpoint IN (SELECT id FROM touchpoints WHERE {column} IN ({marks}))"
            )
    rows = scoped_events(scope.replace(channels=(), kinds=()), with_catalog=False)
    relation = f"SELECT * FROM ({rows}) s WHERE {predicate}"
    return relation, params


def _order(sort: str) -> str:
    """ORDER BY for a validated `sort` (a name of SORTABLE, never the user's text)."""
    column = SORTABLE[SORTABLE.index(sort.removeprefix("-"))]
    if column == "ts":
        direction = "DESC" if sort.startswith("-") else "ASC"
        return f"ts {direction}, seq {direction}"
    direction = "DESC" if sort.startswith("-") else "ASC"
    return f"{column} {direction} NULLS LAST, ts DESC, seq DESC"


# The service-contact export: every SPEC §2 column, the catalog's channel and kind, and
# whether the contact was answered within the service-level threshold T.
CONTACT_COLUMNS = (*COLUMN_NAMES, "channel", "kind", "within_target")


def export(
    store: Store, scope: Scope, options: EventsOptions, contacts: bool = False
) -> Iterator[dict[str, Any]]:
    """The whole list `events` pages through, newest first, read in chunks of
    EXPORT_CHUNK rows (keyset paging on time and ingestion order, so the last chunk costs
    what the first does): a CSV download of millions of rows never holds them all.

    `contacts`: one row per service contact (`abandoned` set, SPEC §4) under the filters
    and the metric, with CONTACT_COLUMNS.
    """
    relation, params = _relation(store, scope, options)
    columns = list(COLUMN_NAMES)
    if contacts:
        within, _ = service_rules(store, options)
        relation = f"""SELECT r.*, t.channel AS channel_, t.kind AS kind_,
            coalesce({counted(within)["within-target"]}, FALSE) AS within_target
          FROM ({relation}) r LEFT JOIN touchpoints t ON t.id = r.touchpoint
          WHERE r.abandoned IS NOT NULL"""
        columns += ["channel_ AS channel", "kind_ AS kind", "within_target"]
    last: tuple[Any, Any] | None = None
    while True:
        after = "TRUE" if last is None else "(ts < $last_ts OR (ts = $last_ts AND seq < $last_seq))"
        more = {} if last is None else {"last_ts": last[0], "last_seq": last[1]}
        rows = store.query(
            f"""SELECT {", ".join(columns)}, seq AS seq_ FROM ({relation}) x WHERE {after}
            ORDER BY ts DESC, seq DESC LIMIT $chunk""",
            {**params, **more, "chunk": EXPORT_CHUNK},
        )
        for row in rows:
            yield stored_row({k: v for k, v in row.items() if k != "seq_"})
        if len(rows) < EXPORT_CHUNK:
            return
        last = (rows[-1]["ts"], rows[-1]["seq_"])


# Stored on every row: the required columns, the derived event_id and the default action.
ALWAYS_SET = ("event_id", "customer_id", "touchpoint", "ts", "action")
_TYPES: dict[str, type] = {"text": str, "timestamp": str, "double": float, "int": int, "bool": bool}

EventRow = create_model(
    "EventRow",
    __doc__="One event as SPEC §2 defines it (times as ISO-8601 UTC).",
    **{
        c.name: (
            _TYPES[c.type] if c.name in ALWAYS_SET else _TYPES[c.type] | None,
            Field(description=c.doc),
        )
        for c in COLUMNS
    },
)  # type: ignore[call-overload]


class EventsResult(ResultModel):
    total: int = Field(description="Every event that matches (the KPI's count), all pages.")
    rows: list[EventRow]  # type: ignore[valid-type]


register(
    Analysis(
        name="events",
        summary="The events behind a number: the rows a KPI counts, newest first (drill-down).",
        run=events,
        options=EventsOptions,
        result=EventsResult,
        scope=EVENT_SCOPE,
    )
)
