"""The events behind a number (SPEC §5 `touchpoints events`): the drill-down of every KPI.

A manager who reads "abandonment 12 %" asks *which* calls. `events --metric abandoned`
lists exactly the rows `kpis` counted as abandoned under the same filters and the same
service rules (`--answer-within`, `--short-abandon`): the predicates are `kpis.counted()`,
the ones `kpis` sums, so `total` always equals the count the KPI is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field, create_model, field_validator

from touchpoints.analytics.kpis import METRICS, ServiceOptions, counted, service_rules
from touchpoints.analytics.registry import EVENT_SCOPE, Analysis, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import scoped_events
from touchpoints.core.events import COLUMN_NAMES, COLUMNS

if TYPE_CHECKING:
    from touchpoints.store.base import Store

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


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
    offset: int = Field(0, description="Events to skip first: the next page.", ge=0)

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str | None) -> str | None:
        if value is not None and value not in METRICS:
            raise ValueError(f"use one of {', '.join(METRICS)}")
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
    within, service = service_rules(store, options)
    predicate = counted(within)[options.metric] if options.metric else "TRUE"
    relation = f"SELECT * FROM ({scoped_events(scope, with_catalog=False)}) s WHERE {predicate}"
    params = {**scope.params(), **service}
    total = store.query(f"SELECT count(*) AS n FROM ({relation}) r", params)[0]["n"]
    rows = store.query(
        f"""SELECT {", ".join(COLUMN_NAMES)} FROM ({relation}) r
        ORDER BY ts DESC, seq DESC LIMIT $events_limit OFFSET $events_offset""",
        {**params, "events_limit": options.limit, "events_offset": options.offset},
    )
    return {
        "total": int(total),
        "rows": [stored_row(r) for r in rows],
    }


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
