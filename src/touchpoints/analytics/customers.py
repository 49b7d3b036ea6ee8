"""One customer's journey (SPEC §5 `touchpoints customer journey ID`): the story behind a
number, cycle by cycle.

Cycles and phases are cut exactly as every journey analysis cuts them
(`cycles.steps_relation` over `sql.events_relation`, with the scope's `--gap`, `--during`
and `--after`), so the steps shown here are the very steps a DFG edge or a variant counted.
Each cycle also lists its invisible gaps: `gaps[i]` is the time between `steps[i]` and
`steps[i + 1]`, where the company did not see the customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.cycles import steps_relation
from touchpoints.analytics.events import EventRow, stored_row
from touchpoints.analytics.registry import Analysis, Options, ResultModel, register
from touchpoints.analytics.sql import events_relation
from touchpoints.core.errors import NotFoundError
from touchpoints.core.events import COLUMN_NAMES

if TYPE_CHECKING:
    from touchpoints.analytics.scope import Scope
    from touchpoints.store.base import Store


class JourneyOptions(Options):
    customer_id: str = Field(
        description="The customer's id as your systems know it (looked up under its "
        "pseudonym too when TOUCHPOINTS_PSEUDONYMIZE_KEY is set)."
    )


def stored_ids(customer_id: str) -> list[str]:
    """The values this customer may be stored under: the id as given and, with a
    pseudonymisation key configured, `'p:' + sha256(key + ':' + id)`."""
    from touchpoints.core.settings import get_settings
    from touchpoints.ingest.pseudonymize import stored_ids as ids_of

    return ids_of(customer_id, get_settings().pseudonymize_key)  # type: ignore[arg-type]


def _iso(value: datetime) -> str:
    return value.isoformat() + "Z"


def journey(store: Store, scope: Scope, options: JourneyOptions) -> dict[str, Any]:
    """One customer's journey cycles, in order: each cycle's steps (event, time,
    touchpoint, derived phase), whether it converts, and the invisible gap between each
    step and the next. Feedback rows are not steps (SPEC §3).

    The id is the one the customer gives; the answer names it as given, never by its
    pseudonym. An id with no events at all is refused.
    """
    ids = stored_ids(options.customer_id)
    marks = ", ".join(f"$customer_{i}" for i in range(len(ids)))
    params = {**scope.params(), **{f"customer_{i}": v for i, v in enumerate(ids)}}
    # Phases and cycles are windows per customer_id: filtering on it first changes nothing
    # in them and lets the engine read one customer's rows only (before any window runs:
    # an engine need not push a filter below a window).
    mine = f"(SELECT * FROM events WHERE customer_id IN ({marks}))"
    base = events_relation(scope, with_phase=True, with_catalog=False, source=mine)
    rows = store.query(
        f"""SELECT customer_id, cycle_no, cycle_start, cycle_converts,
                   event_id, ts, touchpoint, phase
        FROM ({steps_relation(scope, base)}) s
        ORDER BY cycle_start, customer_id, cycle_no, step""",
        params,
    )
    if not rows:
        known = store.query(
            f"SELECT count(*) AS n FROM events WHERE customer_id IN ({marks})", params
        )[0]["n"]
        if not known:
            raise NotFoundError(f"no customer {options.customer_id!r} in this store")
    cycles: list[dict[str, Any]] = []
    last: tuple[Any, Any] | None = None
    for r in rows:
        if (r["customer_id"], r["cycle_no"]) != last:
            last = (r["customer_id"], r["cycle_no"])
            cycles.append(
                {
                    "cycle": len(cycles) + 1,
                    "converts": bool(r["cycle_converts"]),
                    "steps": [],
                    "gaps": [],
                }
            )
        cycle = cycles[-1]
        if cycle["steps"]:
            before = cycle["steps"][-1]
            cycle["gaps"].append(
                {
                    "from": before["touchpoint"],
                    "to": r["touchpoint"],
                    "seconds": (r["ts"] - before["_ts"]).total_seconds(),
                }
            )
        cycle["steps"].append(
            {
                "event_id": r["event_id"],
                "ts": _iso(r["ts"]),
                "touchpoint": r["touchpoint"],
                "phase": r["phase"],
                "_ts": r["ts"],
            }
        )
    for cycle in cycles:
        for step in cycle["steps"]:
            del step["_ts"]
    return {"customer_id": options.customer_id, "cycles": cycles}


def customer_events(store: Store, scope: Scope, options: JourneyOptions) -> dict[str, Any]:
    """Every event of one customer, oldest first (ties: the first ingested first), with
    every SPEC §2 column: the moments of a journey with what happened at each (agent,
    waits, promises, emotion, data re-used) and the survey answers that rate them
    (`ref_event_id`). The customer page draws its timeline from these rows.

    Looked up like `customer journey` (under the pseudonym too); rows carry the id as
    given, never the pseudonym. An id with no events at all is refused.
    """
    ids = stored_ids(options.customer_id)
    marks = ", ".join(f"$customer_{i}" for i in range(len(ids)))
    rows = store.query(
        f"""SELECT {", ".join(COLUMN_NAMES)} FROM events WHERE customer_id IN ({marks})
        ORDER BY ts, seq""",
        {f"customer_{i}": v for i, v in enumerate(ids)},
    )
    if not rows:
        raise NotFoundError(f"no customer {options.customer_id!r} in this store")
    return {
        "customer_id": options.customer_id,
        "rows": [{**stored_row(r), "customer_id": options.customer_id} for r in rows],
    }


class Step(ResultModel):
    event_id: str
    ts: str = Field(description="When the step began, ISO-8601 UTC.")
    touchpoint: str
    phase: str = Field(description="before, during or after (SPEC §3, derived unless set).")


class Gap(ResultModel):
    from_: str = Field(alias="from", description="Touchpoint of the step before the gap.")
    to: str = Field(description="Touchpoint of the step after the gap.")
    seconds: float = Field(description="Time between the two steps, unseen by the company.")


class Cycle(ResultModel):
    cycle: int = Field(description="1, 2, ... in time order.")
    converts: bool = Field(description="The cycle ends in a purchase.")
    steps: list[Step]
    gaps: list[Gap] = Field(description="gaps[i] lies between steps[i] and steps[i + 1].")


class JourneyResult(ResultModel):
    customer_id: str = Field(description="The id as given (never its pseudonym).")
    cycles: list[Cycle]


register(
    Analysis(
        name="customer.journey",
        summary="One customer's journey: cycles, steps with their phase, and the gaps between.",
        run=journey,
        options=JourneyOptions,
        result=JourneyResult,
        scope=("during", "after", "gap", "timezone"),
        table="cycles.steps",
        arguments=("customer_id",),
        path="/v1/customers/{customer_id}/journey",
    )
)


class CustomerEventsResult(ResultModel):
    customer_id: str = Field(description="The id as given (never its pseudonym).")
    rows: list[EventRow]  # type: ignore[valid-type]


register(
    Analysis(
        name="customer.events",
        summary="Every event of one customer, oldest first, with every column (its moments).",
        run=customer_events,
        options=JourneyOptions,
        result=CustomerEventsResult,
        scope=("timezone",),
        arguments=("customer_id",),
        path="/v1/customers/{customer_id}/events",
    )
)
