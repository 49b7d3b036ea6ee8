"""The canonical interaction event (SPEC §2): one row = one interaction at one touchpoint.

Everything downstream reads the single `events` table whose columns are declared here, so
ingestion, the stores' DDL and the docs agree on one list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["text", "timestamp", "double", "int", "bool"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    doc: str = ""
    # Integer range or the allowed text values, checked at ingestion.
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None


COLUMNS: tuple[Column, ...] = (
    Column("event_id", "text", doc="idempotency key; derived from the row's content when absent"),
    Column("customer_id", "text", required=True, doc="who"),
    Column("touchpoint", "text", required=True, doc="a catalog id whose visibility is both"),
    Column("ts", "timestamp", required=True, doc="when the interaction began (naive = UTC)"),
    Column(
        "action", "text", doc="default interaction; purchase = conversion; feedback = survey answer"
    ),
    Column("value", "double", doc="revenue of a purchase"),
    Column(
        "phase", "text", choices=("before", "during", "after"), doc="overrides the derived phase"
    ),
    Column("agent", "text", doc="employee or bot who served"),
    Column("wait_seconds", "double", low=0, doc="time queued before being answered (TME input)"),
    Column("handle_seconds", "double", low=0, doc="talk + hold + wrap-up (TMA input)"),
    Column("abandoned", "bool", doc="left the queue unanswered; non-null = a service contact"),
    Column("resolved", "bool", doc="the need was solved in this contact"),
    Column("nps", "int", low=0, high=10, doc="would you recommend us, 0-10"),
    Column("csat", "int", low=1, high=5, doc="satisfaction with this interaction, 1-5"),
    Column("ces", "int", low=1, high=7, doc="customer effort, 1-7"),
    Column("comment", "text", doc="free-text feedback"),
    Column(
        "promise",
        "text",
        choices=("made", "kept", "broken"),
        doc="promise made, kept or broken here",
    ),
    Column("emotion", "int", low=-2, high=2, doc="how the customer felt, -2..+2"),
    Column("data_reused", "bool", doc="false = the customer had to repeat known information"),
    Column("segment", "text", doc="customer segment"),
    Column("ref_event_id", "text", doc="for feedback: the interaction being rated"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}

# Columns the store adds: ingestion order (ties in ts) and provenance.
STORE_COLUMNS: tuple[tuple[str, str], ...] = (("seq", "bigint"), ("source", "text"))

ACTION_PURCHASE = "purchase"
ACTION_FEEDBACK = "feedback"
ACTION_DEFAULT = "interaction"
PHASES: tuple[str, ...] = ("before", "during", "after")

# Rows that are not steps of a journey: survey answers, and the `queued` marker a channel
# sends when a contact joins a queue (the live monitor counts it as waiting; the contact's
# own row comes when it ends).
NON_STEP_ACTIONS = ("feedback", "queued")
NON_STEP_SQL = "('feedback', 'queued')"
